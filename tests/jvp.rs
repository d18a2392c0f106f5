//! `f_jvp` beyond the op table (`tests/ops.rs` checks every op of the table through it): whole
//! Jacobians built column by column from Jacobian-vector products along the unit vectors and
//! compared with the hand derivative, tangent parameters whose names collide with the user's,
//! and zero tangents for results that do not depend on the wrt parameters.

mod common;

use autodiff::prelude::*;
use common::{assert_close_in, Rng, AWAY, U};

/// The unit vector `e_j` of length `n`.
fn unit(n: usize, j: usize) -> Vector<f64> {
    let mut e = Vector::zeros(n);
    e[j] = 1.0;
    e
}

/// The `m×n` Jacobian whose column `j` is `column(j)` (a vector of length `m`).
fn by_columns(m: usize, n: usize, column: impl Fn(usize) -> Vector<f64>) -> Matrix<f64> {
    let mut jac = Matrix::zeros(m, n);
    for j in 0..n {
        let col = column(j);
        assert_eq!(col.len(), m, "column {j} has the wrong length");
        for i in 0..m {
            jac[(i, j)] = col[i];
        }
    }
    jac
}

/// The `m×n` Jacobian whose row `i` is `row(i)` (a vector of length `n`).
fn by_rows(m: usize, n: usize, row: impl Fn(usize) -> Vector<f64>) -> Matrix<f64> {
    let mut jac = Matrix::zeros(m, n);
    for i in 0..m {
        let r = row(i);
        assert_eq!(r.len(), n, "row {i} has the wrong length");
        for j in 0..n {
            jac[(i, j)] = r[j];
        }
    }
    jac
}

// ───────────────────────────── Jacobians through jvp ─────────────────────────────

/// A vector → vector function with a diagonal Jacobian: `∂f_i/∂x_j = (6·x_j + cos x_j)·[i = j]`.
#[differentiable]
fn elementwise(x: &Vector<f64>) -> Vector<f64> {
    x.powi(2) * 3.0 + x.sin()
}

#[test]
fn diagonal_jacobian_column_by_column() {
    let mut rng = Rng::new(1);
    for n in [1, 2, 5] {
        let x = rng.vector::<f64>(n, U);
        for j in 0..n {
            let (value, column) = elementwise_jvp(&x, &unit(n, j));
            assert_eq!(value, elementwise(&x), "f_jvp's value vs f's");
            for i in 0..n {
                if i == j {
                    let expected = 6.0 * x[j] + x[j].cos();
                    assert_close_in(
                        &[column[i]],
                        &[expected],
                        1e-14,
                        1e-15,
                        &format!("∂f_{j}/∂x_{j} at n = {n}"),
                        1,
                    );
                } else {
                    // Exactly zero: the tangent of every other element is zero.
                    assert_eq!(column[i], 0.0, "∂f_{i}/∂x_{j} at n = {n}");
                }
            }
        }
        // A tangent that is not a unit vector: J·v = (6x + cos x) ⊙ v.
        let v = rng.vector::<f64>(n, U);
        let (_, jv) = elementwise_jvp(&x, &v);
        let expected: Vec<f64> = (0..n).map(|i| (6.0 * x[i] + x[i].cos()) * v[i]).collect();
        assert_close_in(jv.as_slice(), &expected, 1e-14, 1e-15, "J·v", 1);
    }
}

/// `tanh(W·x)` with respect to `x` only: `J = diag(1 − tanh²(W·x))·W`.
#[differentiable(wrt(x))]
fn layer(w: &Matrix<f64>, x: &Vector<f64>) -> Vector<f64> {
    w.matmul(x).tanh()
}

/// The closed form `J_ij = (1 − tanh²(Σ_k W_ik·x_k))·W_ij`, by hand.
fn layer_jacobian_by_hand(w: &Matrix<f64>, x: &Vector<f64>) -> Matrix<f64> {
    let (m, n) = w.shape();
    let mut jac = Matrix::zeros(m, n);
    for i in 0..m {
        let z: f64 = (0..n).map(|k| w[(i, k)] * x[k]).sum();
        let slope = 1.0 - z.tanh() * z.tanh();
        for j in 0..n {
            jac[(i, j)] = slope * w[(i, j)];
        }
    }
    jac
}

#[test]
fn layer_jacobian_column_by_column() {
    let mut rng = Rng::new(2);
    for (m, n) in [(3, 4), (4, 3), (1, 5), (5, 1), (1, 1), (3, 3)] {
        for _ in 0..3 {
            let w = rng.matrix::<f64>(m, n, U);
            let x = rng.vector::<f64>(n, common::Dist::Uniform(-1.0, 1.0));
            let jac = by_columns(m, n, |j| {
                let (value, column) = layer_jvp(&w, &x, &unit(n, j));
                assert_eq!(value, layer(&w, &x), "f_jvp's value vs f's");
                column
            });
            let expected = layer_jacobian_by_hand(&w, &x);
            let what =
                format!("Jacobian of tanh(W·x) ({m}×{n}) from f_jvp vs diag(1 − tanh²(W·x))·W");
            assert_close_in(jac.as_slice(), expected.as_slice(), 1e-13, 1e-14, &what, n);
            // The same Jacobian row by row from f_vjp along the unit vectors of the result.
            let rows = by_rows(m, n, |i| layer_vjp(&w, &x, &unit(m, i)).1);
            let what = format!("Jacobian of tanh(W·x) ({m}×{n}) from f_vjp vs from f_jvp");
            assert_close_in(rows.as_slice(), jac.as_slice(), 1e-14, 1e-15, &what, n);
        }
    }
}

// ───────────────────────────── tangent names ─────────────────────────────
//
// The tangent of `x` would be `dx`; when the user already has a parameter of that name, the
// generated tangent parameter is renamed. The tangents are positional, so the calls below do
// not depend on the new name.

/// A constant scalar named `dx` (outside the wrt set).
#[differentiable(wrt(x))]
fn constant_scalar_dx(x: &Vector<f64>, dx: f64) -> Vector<f64> {
    x.exp() * dx
}

/// A constant of another type named `dx`.
#[differentiable]
#[allow(unused_variables)]
fn constant_usize_dx(x: f64, dx: usize) -> f64 {
    x.powi(3)
}

/// A constant tensor named `dx`.
#[differentiable(wrt(x))]
fn constant_tensor_dx(x: &Matrix<f64>, dx: &Matrix<f64>) -> f64 {
    (x * dx).sum()
}

/// `dx` and `ddx` both differentiable: the tangents of `x`, `dx` and `ddx` collide with the
/// parameters and with each other.
#[differentiable]
fn chain_of_names(x: f64, dx: f64, ddx: f64) -> f64 {
    x * dx + dx * ddx * ddx
}

/// A constant named like the tangent of the returned variable (`dy`) and a `let` named like the
/// tangent of a parameter (`dx`).
#[differentiable(wrt(x))]
fn names_in_the_body(x: &Vector<f64>, dy: &Vector<f64>) -> Vector<f64> {
    let dx = x * 2.0;
    let y = dx.sin() * dy;
    y
}

#[test]
fn a_constant_named_dx_does_not_clash_with_the_tangent() {
    let mut rng = Rng::new(3);
    for n in [1, 4] {
        let x = rng.vector::<f64>(n, U);
        let v = rng.vector::<f64>(n, U);
        let dx: f64 = rng.scalar(AWAY);
        let (value, tangent) = constant_scalar_dx_jvp(&x, dx, &v);
        assert_eq!(value, constant_scalar_dx(&x, dx));
        let expected: Vec<f64> = (0..n).map(|i| x[i].exp() * dx * v[i]).collect();
        assert_close_in(
            tangent.as_slice(),
            &expected,
            1e-14,
            1e-15,
            "exp(x)·dx along v",
            1,
        );
    }

    let (value, tangent) = constant_usize_dx_jvp(1.5, 7, 0.25);
    assert_eq!(value, constant_usize_dx(1.5, 7));
    assert_close_in(
        &[tangent],
        &[3.0 * 1.5 * 1.5 * 0.25],
        1e-15,
        0.0,
        "3x²·v",
        1,
    );

    let x = rng.matrix::<f64>(2, 3, U);
    let dx = rng.matrix::<f64>(2, 3, U);
    let v = rng.matrix::<f64>(2, 3, U);
    let (value, tangent) = constant_tensor_dx_jvp(&x, &dx, &v);
    assert_eq!(value, constant_tensor_dx(&x, &dx));
    let expected: f64 = (0..6).map(|i| dx.as_slice()[i] * v.as_slice()[i]).sum();
    assert_close_in(&[tangent], &[expected], 1e-14, 1e-15, "Σ dx ⊙ v", 1);
}

#[test]
fn tangents_of_parameters_named_like_tangents() {
    let (x, dx, ddx) = (1.5, -0.75, 2.0);
    let (tx, tdx, tddx) = (0.5, 3.0, -1.25);
    let (value, tangent) = chain_of_names_jvp(x, dx, ddx, tx, tdx, tddx);
    assert_eq!(value, chain_of_names(x, dx, ddx));
    // d(x·dx + dx·ddx²) = tx·dx + x·tdx + tdx·ddx² + 2·dx·ddx·tddx
    let expected = tx * dx + x * tdx + tdx * ddx * ddx + 2.0 * dx * ddx * tddx;
    assert_close_in(&[tangent], &[expected], 1e-15, 1e-15, "chain_of_names", 1);
    // One tangent at a time picks one partial derivative.
    assert_eq!(chain_of_names_jvp(x, dx, ddx, 1.0, 0.0, 0.0).1, dx);
    assert_eq!(
        chain_of_names_jvp(x, dx, ddx, 0.0, 1.0, 0.0).1,
        x + ddx * ddx
    );
    assert_eq!(
        chain_of_names_jvp(x, dx, ddx, 0.0, 0.0, 1.0).1,
        2.0 * dx * ddx
    );

    let mut rng = Rng::new(4);
    let x = rng.vector::<f64>(3, U);
    let dy = rng.vector::<f64>(3, U);
    let v = rng.vector::<f64>(3, U);
    let (value, tangent) = names_in_the_body_jvp(&x, &dy, &v);
    assert_eq!(value, names_in_the_body(&x, &dy));
    let expected: Vec<f64> = (0..3)
        .map(|i| (2.0 * x[i]).cos() * 2.0 * v[i] * dy[i])
        .collect();
    assert_close_in(
        tangent.as_slice(),
        &expected,
        1e-14,
        1e-15,
        "names_in_the_body",
        1,
    );
}

// ───────────────────────────── zero tangents ─────────────────────────────

/// The result does not depend on the (only) wrt parameter `_y`.
#[differentiable(wrt(_y))]
fn independent_matrix(x: &Matrix<f64>, _y: &Matrix<f64>) -> Matrix<f64> {
    x.exp() * 2.0
}

#[differentiable(wrt(_s))]
fn independent_vector(x: &Vector<f64>, _s: f64) -> Vector<f64> {
    x.tanh()
}

#[differentiable]
fn independent_scalar(_x: &Vector<f64>) -> f64 {
    2.5
}

#[differentiable(wrt(_y))]
fn independent_f32(x: &Matrix<f32>, _y: &Vector<f32>) -> f32 {
    x.sum()
}

/// `y` is used, but cancels: `(x + y) − y`.
#[differentiable(wrt(y))]
fn cancelling(x: &Matrix<f64>, y: &Matrix<f64>) -> Matrix<f64> {
    (x + y) - y
}

#[test]
fn results_independent_of_the_wrt_set_have_zero_tangents() {
    let mut rng = Rng::new(5);
    for (r, c) in [(2, 3), (1, 1), (4, 1)] {
        let x = rng.matrix::<f64>(r, c, U);
        let y = rng.matrix::<f64>(r, c, U);
        let ty = rng.matrix::<f64>(r, c, U);
        let (value, tangent) = independent_matrix_jvp(&x, &y, &ty);
        assert_eq!(value, independent_matrix(&x, &y));
        assert_eq!(tangent, Matrix::zeros(r, c));

        let (value, tangent) = cancelling_jvp(&x, &y, &ty);
        assert_eq!(value, cancelling(&x, &y));
        assert_eq!(tangent, Matrix::zeros(r, c));

        let x32 = rng.matrix::<f32>(r, c, U);
        let y32 = rng.vector::<f32>(c, U);
        let ty32 = rng.vector::<f32>(c, U);
        assert_eq!(
            independent_f32_jvp(&x32, &y32, &ty32),
            (independent_f32(&x32, &y32), 0.0)
        );
    }
    for n in [1, 3] {
        let x = rng.vector::<f64>(n, U);
        let (value, tangent) = independent_vector_jvp(&x, 0.5, -2.0);
        assert_eq!(value, independent_vector(&x, 0.5));
        assert_eq!(tangent, Vector::zeros(n));

        let tx = rng.vector::<f64>(n, U);
        assert_eq!(independent_scalar_jvp(&x, &tx), (2.5, 0.0));
    }
}
