//! Reading parts of tensors inside differentiable functions: `x[i]`, `m[(i, j)]`,
//! `x.slice(a..b)`, `m.slice_rows(a..b)`, with loop indices and integer arithmetic, in every mode
//! against hand derivations and central differences.

use autodiff::prelude::*;

/// Rosenbrock written as its sum: Σᵢ 100·(xᵢ₊₁ − xᵢ²)² + (1 − xᵢ)².
#[differentiable]
fn rosenbrock(x: &Vector<f64>) -> f64 {
    let mut total = 0.0;
    for i in 0..x.len() - 1 {
        let a = x[i + 1] - x[i] * x[i];
        let b = 1.0 - x[i];
        total += 100.0 * a * a + b * b;
    }
    total
}

/// The textbook gradient.
fn rosenbrock_gradient(x: &[f64]) -> Vec<f64> {
    let n = x.len();
    (0..n)
        .map(|i| {
            let mut g = 0.0;
            if i + 1 < n {
                g += -400.0 * x[i] * (x[i + 1] - x[i] * x[i]) - 2.0 * (1.0 - x[i]);
            }
            if i > 0 {
                g += 200.0 * (x[i] - x[i - 1] * x[i - 1]);
            }
            g
        })
        .collect()
}

/// The textbook Hessian (tridiagonal).
fn rosenbrock_hessian_by_hand(x: &[f64]) -> Vec<Vec<f64>> {
    let n = x.len();
    let mut h = vec![vec![0.0; n]; n];
    for i in 0..n {
        if i + 1 < n {
            h[i][i] += 1200.0 * x[i] * x[i] - 400.0 * x[i + 1] + 2.0;
            h[i][i + 1] = -400.0 * x[i];
            h[i + 1][i] = -400.0 * x[i];
        }
        if i > 0 {
            h[i][i] += 200.0;
        }
    }
    h
}

fn point(n: usize) -> Vector<f64> {
    Vector::from_vec((0..n).map(|i| 0.3 + 0.37 * (i as f64).sin()).collect())
}

#[test]
fn loop_form_rosenbrock_has_the_textbook_gradient_and_hessian() {
    for n in [2usize, 3, 7] {
        let x = point(n);
        let (value, grad) = rosenbrock_grad(&x);
        assert_eq!(value, rosenbrock(&x));
        let want = rosenbrock_gradient(x.as_slice());
        for (i, (g, w)) in grad.as_slice().iter().zip(&want).enumerate() {
            assert!(
                (g - w).abs() < 1e-12 * (1.0 + w.abs()),
                "n = {n}, d x[{i}]: {g} vs {w}"
            );
        }
        let hessian = rosenbrock_hessian(&x);
        let want = rosenbrock_hessian_by_hand(x.as_slice());
        for i in 0..n {
            for j in 0..n {
                let (h, w) = (hessian[(i, j)], want[i][j]);
                assert!(
                    (h - w).abs() < 1e-10 * (1.0 + w.abs()),
                    "H[{i}, {j}]: {h} vs {w}"
                );
            }
        }
        // Hessian-vector product along e₀ is the Hessian's first column.
        let mut e0 = Vector::zeros(n);
        e0[0] = 1.0;
        let (_, _, column) = rosenbrock_hvp(&x, &e0);
        for i in 0..n {
            assert!((column[i] - want[i][0]).abs() < 1e-10 * (1.0 + want[i][0].abs()));
        }
    }
}

/// An RNN whose step t reads its own rows of the input: `x.slice_rows(t·b..(t + 1)·b)`.
#[differentiable(wrt(h0, w, u))]
fn rnn_over_inputs(
    h0: &Matrix<f64>,
    w: &Matrix<f64>,
    u: &Matrix<f64>,
    x: &Matrix<f64>,
    steps: usize,
) -> f64 {
    let batch = h0.rows();
    let mut h = h0.clone();
    for t in 0..steps {
        let xt = x.slice_rows(t * batch..(t + 1) * batch);
        h = (h.matmul(w) + xt.matmul(u)).tanh();
    }
    0.5 * (&h * &h).sum()
}

fn grid(rows: usize, cols: usize, phase: f64) -> Matrix<f64> {
    Matrix::from_vec(
        rows,
        cols,
        (0..rows * cols)
            .map(|k| 0.4 * (phase + 0.7 * k as f64).sin())
            .collect(),
    )
}

#[test]
fn per_step_rows_of_the_input_differentiate_against_differences() {
    let (batch, hidden, input, steps) = (2, 3, 2, 4);
    let h0 = grid(batch, hidden, 0.1);
    let w = grid(hidden, hidden, 0.7);
    let u = grid(input, hidden, 1.3);
    let x = grid(batch * steps, input, 2.1);
    let (_, (dh0, dw, du)) = rnn_over_inputs_grad(&h0, &w, &u, &x, steps);
    let eps = 1e-6;
    let check = |which: usize, got: &Matrix<f64>| {
        for k in 0..got.as_slice().len() {
            let moved = |delta: f64| {
                let mut p = [h0.clone(), w.clone(), u.clone()];
                p[which].as_mut_slice()[k] += delta;
                rnn_over_inputs(&p[0], &p[1], &p[2], &x, steps)
            };
            let fd = (moved(eps) - moved(-eps)) / (2.0 * eps);
            let g = got.as_slice()[k];
            assert!((g - fd).abs() < 1e-8, "param {which} [{k}]: {g} vs {fd}");
        }
    };
    check(0, &dh0);
    check(1, &dw);
    check(2, &du);
}

/// Entries, elements and segments, in f32: Σᵢ m[(i, i)]·x[i] + sum(x[1..n]²).
#[differentiable]
fn parts(x: &Vector<f32>, m: &Matrix<f32>) -> f32 {
    let mut total = 0.0;
    for i in 0..x.len() {
        total += m[(i, i)] * x[i];
    }
    let tail = x.slice(1..x.len());
    total + (&tail * &tail).sum()
}

#[test]
fn entries_elements_and_segments_in_f32() {
    let x = Vector::from_vec(vec![0.5f32, -1.0, 2.0]);
    let m = Matrix::from_vec(3, 3, vec![1.0f32, 9.0, 9.0, 9.0, 2.0, 9.0, 9.0, 9.0, 3.0]);
    let (value, (dx, dm)) = parts_grad(&x, &m);
    assert_eq!(value, parts(&x, &m));
    // d/dx_i = m_ii + 2·x_i for i ≥ 1; d/dm_ii = x_i, zero off the diagonal.
    assert_eq!(dx.as_slice(), &[1.0, 2.0 - 2.0, 3.0 + 4.0]);
    for i in 0..3 {
        for j in 0..3 {
            assert_eq!(dm[(i, j)], if i == j { x[i] } else { 0.0 });
        }
    }
    // The Jacobian-vector product along (ẋ, ṁ) is ⟨grad, tangent⟩.
    let tx = Vector::from_vec(vec![1.0f32, 0.5, -1.0]);
    let tm = Matrix::from_vec(3, 3, vec![0.25f32; 9]);
    let (_, tangent) = parts_jvp(&x, &m, &tx, &tm);
    let want: f32 = dx
        .as_slice()
        .iter()
        .zip(tx.as_slice())
        .map(|(a, b)| a * b)
        .sum::<f32>()
        + dm.as_slice()
            .iter()
            .zip(tm.as_slice())
            .map(|(a, b)| a * b)
            .sum::<f32>();
    assert!((tangent - want).abs() < 1e-5, "{tangent} vs {want}");
}

#[differentiable]
fn past_the_end(x: &Vector<f64>, i: usize) -> f64 {
    x[i + 1]
}

#[test]
fn an_index_out_of_range_panics_with_the_function_and_the_expression() {
    let x = Vector::from_vec(vec![1.0, 2.0]);
    assert_eq!(past_the_end(&x, 0), 2.0);
    let message = std::panic::catch_unwind(|| past_the_end_grad(&x, 1))
        .expect_err("x[2] of a vector of 2 panics");
    let text = message
        .downcast_ref::<String>()
        .cloned()
        .unwrap_or_default();
    assert!(
        text.contains("index 2 is out of range for a vector of length 2")
            && text.contains("past_the_end")
            && text.contains("x[i + 1]"),
        "{text}"
    );
}
