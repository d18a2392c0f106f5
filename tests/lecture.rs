//! The worked examples of the lecture notes (`backprop-lecture-notes.md`), checked against
//! numbers worked out by hand. Every expected number is a literal below, with its arithmetic in
//! a comment; none is computed by this crate.
//!
//! The notes' vector→vector example, f(x) = [x0²·x1, 5·x0 + sin x1], is written without
//! indexing (which the language does not have yet): the components are picked out with the
//! constant unit vectors e0, e1 and put back the same way.

mod common;

use autodiff::prelude::*;
use common::assert_close_in;

/// Small integers: every product and sum below is exact in `f64`, but compare with a tiny
/// tolerance anyway so that a failure prints positions and values.
const EXACT: f64 = 1e-12;

#[track_caller]
fn assert_matrix(actual: &Matrix<f64>, expected: &[&[f64]], what: &str) {
    let rows = expected.len();
    let cols = expected[0].len();
    assert_eq!(actual.shape(), (rows, cols), "{what}: shape");
    let flat: Vec<f64> = expected.iter().flat_map(|r| r.iter().copied()).collect();
    assert_close_in(actual.as_slice(), &flat, 0.0, EXACT, what, cols);
}

// ───────────────────────────── (a) ReLU: upstream × local = downstream ─────────────────────────────

#[differentiable]
fn relu(x: &Vector<f64>) -> Vector<f64> {
    x.relu()
}

#[test]
fn relu_pulls_back_where_the_input_is_positive() {
    let x = Vector::from_vec(vec![1.0, -2.0, 3.0, -1.0]);
    let upstream = Vector::from_vec(vec![4.0, -1.0, 5.0, 9.0]);
    let (y, dx) = relu_vjp(&x, &upstream);
    // relu([1, −2, 3, −1]) = [max(1,0), max(−2,0), max(3,0), max(−1,0)] = [1, 0, 3, 0]
    assert_eq!(y.as_slice(), &[1.0, 0.0, 3.0, 0.0]);
    assert_eq!(y, relu(&x), "the value is the original function's");
    // Local gradient [x > 0] = [1, 0, 1, 0]; downstream = upstream ⊙ local
    // = [4·1, −1·0, 5·1, 9·0] = [4, 0, 5, 0]
    assert_eq!(dx.as_slice(), &[4.0, 0.0, 5.0, 0.0]);
}

// ───────────────────────────── (b) Y = X·W: dX = dY·Wᵀ, dW = Xᵀ·dY ─────────────────────────────

/// The contract's example, verbatim.
#[differentiable]
fn linear(x: &Matrix<f64>, w: &Matrix<f64>) -> Matrix<f64> {
    let y = x.matmul(w);
    y
}

fn lecture_x() -> Matrix<f64> {
    Matrix::from_vec(2, 3, vec![2.0, 1.0, -3.0, -3.0, 4.0, 2.0])
}

/// The notes' `w`, row by row.
const W: [[f64; 4]; 3] = [
    [3.0, 2.0, 1.0, -1.0],
    [2.0, 1.0, 3.0, 2.0],
    [3.0, 2.0, 1.0, -2.0],
];

fn lecture_w() -> Matrix<f64> {
    Matrix::from_vec(3, 4, W.iter().flatten().copied().collect())
}

#[test]
fn linear_layer_by_hand() {
    let x = lecture_x();
    let w = lecture_w();
    let dy = Matrix::from_vec(
        2,
        4,
        vec![
            2.0, 3.0, -3.0, 9.0, //
            -8.0, 1.0, 4.0, 6.0,
        ],
    );
    let (y, (dx, dw)) = linear_vjp(&x, &w, &dy);

    // y = x·w, y[i][j] = Σₖ x[i][k]·w[k][j]:
    // y[0] = [2·3 + 1·2 + (−3)·3, 2·2 + 1·1 + (−3)·2, 2·1 + 1·3 + (−3)·1, 2·(−1) + 1·2 + (−3)·(−2)]
    //      = [6 + 2 − 9, 4 + 1 − 6, 2 + 3 − 3, −2 + 2 + 6] = [−1, −1, 2, 6]
    // y[1] = [(−3)·3 + 4·2 + 2·3, (−3)·2 + 4·1 + 2·2, (−3)·1 + 4·3 + 2·1, (−3)·(−1) + 4·2 + 2·(−2)]
    //      = [−9 + 8 + 6, −6 + 4 + 4, −3 + 12 + 2, 3 + 8 − 4] = [5, 2, 11, 7]
    assert_matrix(&y, &[&[-1.0, -1.0, 2.0, 6.0], &[5.0, 2.0, 11.0, 7.0]], "y");
    assert_eq!(y, linear(&x, &w), "the value is the original function's");

    // dx = dy·wᵀ, dx[i][k] = Σⱼ dy[i][j]·w[k][j] (row i of dy against row k of w):
    // dx[0][0] = 2·3 + 3·2 + (−3)·1 + 9·(−1) = 6 + 6 − 3 − 9 = 0
    // dx[0][1] = 2·2 + 3·1 + (−3)·3 + 9·2    = 4 + 3 − 9 + 18 = 16
    // dx[0][2] = 2·3 + 3·2 + (−3)·1 + 9·(−2) = 6 + 6 − 3 − 18 = −9
    // dx[1][0] = (−8)·3 + 1·2 + 4·1 + 6·(−1) = −24 + 2 + 4 − 6 = −24
    // dx[1][1] = (−8)·2 + 1·1 + 4·3 + 6·2    = −16 + 1 + 12 + 12 = 9
    // dx[1][2] = (−8)·3 + 1·2 + 4·1 + 6·(−2) = −24 + 2 + 4 − 12 = −30
    assert_matrix(&dx, &[&[0.0, 16.0, -9.0], &[-24.0, 9.0, -30.0]], "dx");

    // dw = xᵀ·dy, dw[k][j] = Σᵢ x[i][k]·dy[i][j] (column k of x against column j of dy);
    // the columns of x are [2, −3], [1, 4], [−3, 2]:
    // dw[0] = [2·2 + (−3)·(−8), 2·3 + (−3)·1, 2·(−3) + (−3)·4, 2·9 + (−3)·6]
    //       = [4 + 24, 6 − 3, −6 − 12, 18 − 18]   = [28, 3, −18, 0]
    // dw[1] = [1·2 + 4·(−8), 1·3 + 4·1, 1·(−3) + 4·4, 1·9 + 4·6]
    //       = [2 − 32, 3 + 4, −3 + 16, 9 + 24]    = [−30, 7, 13, 33]
    // dw[2] = [(−3)·2 + 2·(−8), (−3)·3 + 2·1, (−3)·(−3) + 2·4, (−3)·9 + 2·6]
    //       = [−6 − 16, −9 + 2, 9 + 8, −27 + 12]  = [−22, −7, 17, −15]
    assert_matrix(
        &dw,
        &[
            &[28.0, 3.0, -18.0, 0.0],
            &[-30.0, 7.0, 13.0, 33.0],
            &[-22.0, -7.0, 17.0, -15.0],
        ],
        "dw",
    );
}

#[test]
fn linear_derivation_is_the_two_lecture_equations() {
    let text = linear_derivation();
    let mut lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    lines.sort_unstable();
    let mut expected = vec!["dx = dy·wᵀ", "dw = xᵀ·dy"];
    expected.sort_unstable();
    assert_eq!(lines, expected, "linear_derivation() was:\n{text}");
}

// ───────────────────────────── (c) the notes' x11 observation ─────────────────────────────

#[test]
fn x11_collects_row_one_of_w() {
    // y[0][j] = x[0][0]·w[0][j] + x[0][1]·w[1][j] + x[0][2]·w[2][j], so ∂y[0][j]/∂x[0][0] = w[0][j],
    // and no y[1][j] depends on x[0][0]. An upstream that is 1 at y[0][j] and 0 elsewhere
    // therefore pulls back to w[0][j] at x[0][0]: w's first row, [3, 2, 1, −1].
    let x = lecture_x();
    let w = lecture_w();
    let first_row_of_w = [3.0, 2.0, 1.0, -1.0];
    for (j, &expected) in first_row_of_w.iter().enumerate() {
        let mut dy = Matrix::zeros(2, 4);
        dy[(0, j)] = 1.0;
        let (_, (dx, _)) = linear_vjp(&x, &w, &dy);
        assert_eq!(
            dx[(0, 0)],
            expected,
            "dx[0][0] for the upstream 1 at y[0][{j}]"
        );
        // The whole pullback: dx[0][k] = w[k][j] (column j of w), and row 1 of dx is 0.
        let column_j = [W[0][j], W[1][j], W[2][j]];
        assert_matrix(
            &dx,
            &[&column_j, &[0.0, 0.0, 0.0]],
            &format!("dx for the upstream 1 at y[0][{j}]"),
        );
    }
    // With the upstream 1 on all of y's first row, x[0][0] collects the whole row:
    // 3 + 2 + 1 + (−1) = 5.
    let dy = Matrix::from_vec(2, 4, vec![1.0, 1.0, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0]);
    let (_, (dx, _)) = linear_vjp(&x, &w, &dy);
    assert_eq!(dx[(0, 0)], 5.0);
}

/// f(x) = [x0²·x1, 5·x0 + sin x1]: row i of the Jacobian holds the partials of output i,
/// column j those with respect to input j.
#[differentiable(wrt(x))]
fn notes_vector_function(x: &Vector<f64>, e0: &Vector<f64>, e1: &Vector<f64>) -> Vector<f64> {
    let x0 = x.dot(e0);
    let x1 = x.dot(e1);
    let f = e0 * (x0 * x0 * x1) + e1 * (5.0 * x0 + x1.sin());
    f
}

#[test]
fn the_notes_jacobian_of_a_vector_function() {
    let e0 = Vector::from_vec(vec![1.0, 0.0]);
    let e1 = Vector::from_vec(vec![0.0, 1.0]);
    let x = Vector::from_vec(vec![2.0, 3.0]);
    let j = notes_vector_function_jacobian(&x, &e0, &e1);
    assert_eq!(j.shape(), (2, 2));
    // [[2·x0·x1, x0²], [5, cos x1]] at x = (2, 3): [[2·2·3, 2²], [5, cos 3]].
    // cos 3 = −0.98999249660044545727... (worked from the series, to 16 digits).
    let expected = [12.0, 4.0, 5.0, -0.989_992_496_600_445_5];
    for (k, e) in expected.iter().enumerate() {
        assert!(
            (j.as_slice()[k] - e).abs() < 1e-14,
            "J[{k}] = {} vs {e}",
            j.as_slice()[k]
        );
    }
    // The same rows from the vector-Jacobian product and columns from the Jacobian-vector one.
    let (_, row1) = notes_vector_function_vjp(&x, &e0, &e1, &e1);
    assert!((row1[0] - 5.0).abs() < 1e-14 && (row1[1] + 0.989_992_496_600_445_5).abs() < 1e-14);
    let (_, column0) = notes_vector_function_jvp(&x, &e0, &e1, &e0);
    assert!((column0[0] - 12.0).abs() < 1e-14 && (column0[1] - 5.0).abs() < 1e-14);
}
