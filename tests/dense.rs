//! `f_jacobian` and `f_hessian` against closed forms worked out by hand, against finite
//! differences of the `f64` twin's gradient, and against the generated `f_vjp`/`f_jvp`, in `f32`
//! and `f64` (every function and test is written once in [`dense_tests!`]).
//!
//! The functions cover both ways the dense matrices are computed: the batched path (all
//! directions at once) for vector programs, and one `f_vjp`/`f_jvp`/`f_hvp` per direction where
//! a matrix parameter or intermediate is involved.
//!
//! Tolerances (see `common/mod.rs`):
//! - a closed form is evaluated in `f64` from the test's inputs (widened exactly), so the only
//!   error is the generated code's own rounding: `|actual − expected| ≤ Tol::dense × (|expected|
//!   + largest entry)`, `1e-12` in `f64` and `4e-6` (~34 ε₃₂) in `f32`; the same bound holds
//!   between `f_jacobian` and the Jacobian assembled from `f_vjp` rows or `f_jvp` columns.
//!   Where an entry is a cancellation of larger terms (`1 − tanh²` and `s(1 − s)` near
//!   saturation, `2s − s² sin(sx)`), the scale is at least the size of those terms
//!   ([`assert_dense_at`]): in `f32`, `1 − y²` at y ≈ 0.9997 is only good to ~1e-4 relative;
//! - a finite-difference reference (5-point central differences of the `f64` twin's gradient,
//!   step `1e-3`) is compared with `Tol::rel` and `Tol::abs × scale` as in the op table.

mod common;

use autodiff::prelude::*;
use common::{Dir, Flat, Rng, TestFloat, Tol, Val, U};

/// A generated matrix (of either float type) widened to `f64`.
fn wide(m: &impl Flat) -> Matrix<f64> {
    m.widen().m().clone()
}

/// A generated vector (of either float type) widened to `f64`.
fn wide_v(v: &impl Flat) -> Vector<f64> {
    v.widen().v().clone()
}

/// Asserts that `actual` is a matrix of `expected`'s shape equal to it up to the generated
/// code's rounding (`Tol::dense`, see the module documentation).
#[track_caller]
fn assert_dense(actual: &impl Flat, expected: &Matrix<f64>, tol: Tol, what: &str) {
    assert_dense_at(actual, expected, 0.0, tol, what);
}

/// [`assert_dense`] where the entries are computed from terms of size up to `magnitude` that may
/// cancel (see `common::assert_same_to_rounding_at`).
#[track_caller]
fn assert_dense_at(
    actual: &impl Flat,
    expected: &Matrix<f64>,
    magnitude: f64,
    tol: Tol,
    what: &str,
) {
    let actual = actual.widen();
    let shape = match &actual {
        Val::M(m) => m.shape(),
        other => panic!("{what}: a {} instead of a matrix", other.describe()),
    };
    assert_eq!(
        shape,
        expected.shape(),
        "{what}: shape {shape:?}, expected {:?}",
        expected.shape()
    );
    common::assert_same_to_rounding_at(
        &actual.flat(),
        expected.as_slice(),
        expected.cols(),
        magnitude,
        tol,
        what,
    );
}

/// The largest absolute entry of a (widened) value, 0 if empty.
fn largest(x: &impl Flat) -> f64 {
    x.flat().iter().fold(0.0f64, |m, v| m.max(v.abs()))
}

/// Asserts that `actual` agrees with the finite-difference reference `fd` (same shape) to
/// `Tol::rel` and `Tol::abs × scale`, scale the largest reference entry (at least 1).
#[track_caller]
fn assert_fd(actual: &Matrix<f64>, fd: &Matrix<f64>, tol: Tol, what: &str) {
    assert_eq!(actual.shape(), fd.shape(), "{what}: shapes differ");
    let scale = fd.as_slice().iter().fold(1.0f64, |m, v| m.max(v.abs()));
    common::assert_close_in(
        actual.as_slice(),
        fd.as_slice(),
        tol.rel,
        tol.abs * scale,
        what,
        fd.cols().max(1),
    );
}

/// Asserts that every entry of the generated matrix `m` is exactly zero and that it is
/// `rows × cols`.
#[track_caller]
fn assert_zero_block(m: &impl Flat, rows: usize, cols: usize, what: &str) {
    let m = wide(m);
    assert_eq!(m.shape(), (rows, cols), "{what}: shape");
    if let Some(i) = m.as_slice().iter().position(|&x| x != 0.0) {
        panic!(
            "{what}: entry ({}, {}) is {:e}, expected an exact zero",
            i / cols,
            i % cols,
            m.as_slice()[i]
        );
    }
}

/// The `m × n` matrix whose column `j` is `column(j)`.
fn by_columns(m: usize, n: usize, mut column: impl FnMut(usize) -> Vec<f64>) -> Matrix<f64> {
    let mut out = Matrix::zeros(m, n);
    for j in 0..n {
        let col = column(j);
        assert_eq!(col.len(), m, "column {j} has the wrong length");
        for (i, x) in col.into_iter().enumerate() {
            out[(i, j)] = x;
        }
    }
    out
}

/// The `m × n` matrix whose row `i` is `row(i)`.
fn by_rows(m: usize, n: usize, mut row: impl FnMut(usize) -> Vec<f64>) -> Matrix<f64> {
    let mut out = Matrix::zeros(m, n);
    for i in 0..m {
        let r = row(i);
        assert_eq!(r.len(), n, "row {i} has the wrong length");
        for (j, x) in r.into_iter().enumerate() {
            out[(i, j)] = x;
        }
    }
    out
}

/// The rows `r0..r0 + rows` and columns `c0..c0 + cols` of `m`.
fn block(m: &Matrix<f64>, r0: usize, c0: usize, rows: usize, cols: usize) -> Matrix<f64> {
    Matrix::from_fn(rows, cols, |i, j| m[(r0 + i, c0 + j)])
}

/// The Hessian by 5-point central differences of `grad` (the `f64` twin's gradient over
/// `params`, flattened and concatenated), one unit direction per column.
fn hessian_fd(params: &[Val], grad: &dyn Fn(&[Val]) -> Vec<f64>) -> Matrix<f64> {
    let n: usize = params.iter().map(common::numel).sum();
    let mut columns = Vec::with_capacity(n);
    for (k, p) in params.iter().enumerate() {
        for j in 0..common::numel(p) {
            let tangents: Vec<Val> = params
                .iter()
                .enumerate()
                .map(|(m, q)| {
                    let mut d = vec![0.0; common::numel(q)];
                    if m == k {
                        d[j] = 1.0;
                    }
                    q.rebuild(&d)
                })
                .collect();
            let column = common::directional_fd(params, &tangents, &|vals: &[Val]| {
                Val::V(Vector::from_vec(grad(vals)))
            });
            columns.push(column.flat());
        }
    }
    by_columns(n, n, |j| columns[j].clone())
}

/// Checks a Hessian `h` (widened) over the named parameters of the given sizes, block by block
/// (`∂²f/∂p∂q`, so the block layout and order show in a failure), against the finite-difference
/// reference `fd`, and that it is symmetric to rounding (entries computed from terms up to
/// `magnitude`, see [`assert_dense_at`]).
#[track_caller]
fn assert_hessian_blocks_fd(
    h: &Matrix<f64>,
    fd: &Matrix<f64>,
    sizes: &[(&str, usize)],
    magnitude: f64,
    tol: Tol,
    what: &str,
) {
    let n: usize = sizes.iter().map(|(_, s)| s).sum();
    assert_eq!(h.shape(), (n, n), "{what}: shape");
    assert_dense_at(h, &h.t(), magnitude, tol, &format!("{what}: H vs Hᵀ"));
    let mut r0 = 0;
    for (p, rows) in sizes {
        let mut c0 = 0;
        for (q, cols) in sizes {
            assert_fd(
                &block(h, r0, c0, *rows, *cols),
                &block(fd, r0, c0, *rows, *cols),
                tol,
                &format!(
                    "{what}: block ∂²f/∂{p}∂{q} (rows {r0}.., columns {c0}..) vs finite \
                     differences"
                ),
            );
            c0 += cols;
        }
        r0 += rows;
    }
}

/// `diag(d)·m`.
fn scale_rows(d: &[f64], m: &Matrix<f64>) -> Matrix<f64> {
    Matrix::from_fn(m.rows(), m.cols(), |i, j| d[i] * m[(i, j)])
}

fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

/// `s = softmax(x)` in `f64`.
fn softmax(x: &[f64]) -> Vec<f64> {
    let max = x.iter().fold(f64::NEG_INFINITY, |m, &v| m.max(v));
    let e: Vec<f64> = x.iter().map(|v| (v - max).exp()).collect();
    let total: f64 = e.iter().sum();
    e.iter().map(|v| v / total).collect()
}

macro_rules! dense_tests {
    ($module:ident, $T:ident) => {
        pub mod $module {
            use super::*;
            use crate::f64_dense as twin;

            const TOL: Tol = <$T as TestFloat>::TOL;

            // ─────────── Hessians against closed forms ───────────

            /// `xᵀ·A·x`: H = A + Aᵀ.
            #[differentiable(wrt(x))]
            pub fn quadratic_form(x: &Vector<$T>, a: &Matrix<$T>) -> $T {
                x.dot(&a.matmul(x))
            }

            /// `‖A·x − b‖²`: H = 2·AᵀA.
            #[differentiable(wrt(x))]
            pub fn least_squares(a: &Matrix<$T>, x: &Vector<$T>, b: &Vector<$T>) -> $T {
                let r = a.matmul(x) - b;
                r.dot(&r)
            }

            /// `Σ ln(1 + exp(−y ⊙ X·w)) + 0.05·‖w‖²` (as `−ln σ`): H = Xᵀ·diag(s ⊙ (1 − s))·X
            /// + 0.1·I with s = σ(y ⊙ X·w), for labels y = ±1.
            #[differentiable(wrt(w))]
            pub fn logistic(x: &Matrix<$T>, w: &Vector<$T>, y: &Vector<$T>) -> $T {
                let margins = y * &x.matmul(w);
                -margins.sigmoid().ln().sum() + 0.05 * w.dot(w)
            }

            #[test]
            fn hessian_of_a_quadratic_form_is_a_plus_a_transpose() {
                let mut rng = Rng::new(line!().into());
                for n in [1, 2, 5] {
                    let x = rng.vector::<$T>(n, U);
                    let a = rng.matrix::<$T>(n, n, U);
                    let h = quadratic_form_hessian(&x, &a);
                    let a = wide(&a);
                    let expected = Matrix::from_fn(n, n, |i, j| a[(i, j)] + a[(j, i)]);
                    assert_dense(&h, &expected, TOL, &format!("H of xᵀAx, n = {n}"));
                }
            }

            #[test]
            fn hessian_of_least_squares_is_twice_a_transpose_a() {
                let mut rng = Rng::new(line!().into());
                // Tall, square, wide (rank-deficient AᵀA) and a single row.
                for (m, n) in [(5, 3), (3, 3), (2, 4), (1, 3)] {
                    let a = rng.matrix::<$T>(m, n, U);
                    let x = rng.vector::<$T>(n, U);
                    let b = rng.vector::<$T>(m, U);
                    let h = least_squares_hessian(&a, &x, &b);
                    let a = wide(&a);
                    let expected = Matrix::from_fn(n, n, |i, j| {
                        2.0 * (0..m).map(|k| a[(k, i)] * a[(k, j)]).sum::<f64>()
                    });
                    assert_dense(&h, &expected, TOL, &format!("H of ‖Ax − b‖², A {m}×{n}"));
                }
            }

            #[test]
            fn hessian_of_logistic_regression() {
                let mut rng = Rng::new(line!().into());
                for (m, n) in [(6, 3), (1, 2), (4, 1), (10, 4)] {
                    let x = rng.matrix::<$T>(m, n, U);
                    let w = rng.vector::<$T>(n, common::Dist::Uniform(-0.5, 0.5));
                    let y = Vector::from_vec(
                        (0..m)
                            .map(|k| if k % 3 == 1 { -1.0 } else { 1.0 })
                            .collect::<Vec<$T>>(),
                    );
                    let h = logistic_hessian(&x, &w, &y);
                    let (x, w, y) = (wide(&x), wide_v(&w), wide_v(&y));
                    let weights: Vec<f64> = (0..m)
                        .map(|k| {
                            let margin = y[k] * (0..n).map(|j| x[(k, j)] * w[j]).sum::<f64>();
                            let s = sigmoid(margin);
                            s * (1.0 - s)
                        })
                        .collect();
                    let expected = Matrix::from_fn(n, n, |i, j| {
                        (0..m)
                            .map(|k| x[(k, i)] * weights[k] * x[(k, j)])
                            .sum::<f64>()
                            + if i == j { 0.1 } else { 0.0 }
                    });
                    // s ⊙ (1 − s) rounds at ε·s near s = 1: terms up to Σₖ xₖᵢ².
                    let magnitude = (0..n)
                        .map(|i| (0..m).map(|k| x[(k, i)] * x[(k, i)]).sum::<f64>())
                        .fold(0.1f64, f64::max);
                    let what = format!("H of logistic regression, X {m}×{n}");
                    assert_dense_at(&h, &expected, magnitude, TOL, &what);
                }
            }

            // ─────────── Hessians over several parameters: the block layout ───────────

            /// `s·xᵀx + Σ sin(s·x)`, wrt a vector then a scalar.
            #[differentiable]
            pub fn vector_and_scalar(x: &Vector<$T>, s: $T) -> $T {
                s * x.dot(x) + (x * s).sin().sum()
            }

            /// The same with the scalar first: the layout follows the signature.
            #[differentiable]
            pub fn scalar_and_vector(s: $T, x: &Vector<$T>) -> $T {
                s * x.dot(x) + (x * s).sin().sum()
            }

            /// `vᵀ·M·v + Σ tanh(M·v)`, wrt a matrix then a vector (the per-direction path).
            #[differentiable]
            pub fn matrix_and_vector(m: &Matrix<$T>, v: &Vector<$T>) -> $T {
                let z = m.matmul(v);
                v.dot(&z) + z.tanh().sum()
            }

            /// The same restricted to `wrt(v, m)` with a constant between them: still in
            /// signature order (m first).
            #[differentiable(wrt(v, m))]
            pub fn matrix_constant_vector(m: &Matrix<$T>, c: &Vector<$T>, v: &Vector<$T>) -> $T {
                let z = m.matmul(v);
                v.dot(&z) + z.tanh().sum() + c.dot(v)
            }

            /// The closed-form Hessian of `s·xᵀx + Σ sin(s·x)` over `(x, s)`:
            /// `∂²/∂xᵢ∂xⱼ = δᵢⱼ(2s − s² sin(s xᵢ))`, `∂²/∂xᵢ∂s = 2xᵢ + cos(s xᵢ) − s xᵢ sin(s xᵢ)`,
            /// `∂²/∂s² = −Σ xᵢ² sin(s xᵢ)`.
            fn vector_and_scalar_closed_form(x: &Vector<f64>, s: f64) -> Matrix<f64> {
                let n = x.len();
                Matrix::from_fn(n + 1, n + 1, |i, j| match (i < n, j < n) {
                    (true, true) if i == j => 2.0 * s - s * s * (s * x[i]).sin(),
                    (true, true) => 0.0,
                    (true, false) | (false, true) => {
                        let k = i.min(j);
                        2.0 * x[k] + (s * x[k]).cos() - s * x[k] * (s * x[k]).sin()
                    }
                    (false, false) => -(0..n).map(|k| x[k] * x[k] * (s * x[k]).sin()).sum::<f64>(),
                })
            }

            /// The closed-form Hessian of `vᵀMv + Σ tanh(Mv)` over `(M, v)`, `M` n×n flattened
            /// row-major; with z = Mv, g = 1 − tanh²z, g' = −2 tanh(z)·g:
            /// `∂²/∂Mᵢⱼ∂Mₖₗ = δᵢₖ g'ᵢ vⱼ vₗ`,
            /// `∂²/∂Mᵢⱼ∂vₖ = δᵢₖ vⱼ + δⱼₖ vᵢ + g'ᵢ Mᵢₖ vⱼ + δⱼₖ gᵢ`,
            /// `∂²/∂vₖ∂vₗ = Mₖₗ + Mₗₖ + Σᵢ g'ᵢ Mᵢₖ Mᵢₗ`.
            fn matrix_and_vector_closed_form(m: &Matrix<f64>, v: &Vector<f64>) -> Matrix<f64> {
                let n = v.len();
                let z: Vec<f64> = (0..n)
                    .map(|i| (0..n).map(|j| m[(i, j)] * v[j]).sum())
                    .collect();
                let g: Vec<f64> = z.iter().map(|z| 1.0 - z.tanh() * z.tanh()).collect();
                let g1: Vec<f64> = z.iter().zip(&g).map(|(z, g)| -2.0 * z.tanh() * g).collect();
                let delta = |a: usize, b: usize| if a == b { 1.0 } else { 0.0 };
                let mv = |i: usize, j: usize, k: usize| {
                    delta(i, k) * v[j]
                        + delta(j, k) * v[i]
                        + g1[i] * m[(i, k)] * v[j]
                        + delta(j, k) * g[i]
                };
                let nn = n * n;
                Matrix::from_fn(nn + n, nn + n, |r, c| match (r < nn, c < nn) {
                    (true, true) => {
                        let (i, j, k, l) = (r / n, r % n, c / n, c % n);
                        delta(i, k) * g1[i] * v[j] * v[l]
                    }
                    (true, false) => mv(r / n, r % n, c - nn),
                    (false, true) => mv(c / n, c % n, r - nn),
                    (false, false) => {
                        let (k, l) = (r - nn, c - nn);
                        m[(k, l)]
                            + m[(l, k)]
                            + (0..n).map(|i| g1[i] * m[(i, k)] * m[(i, l)]).sum::<f64>()
                    }
                })
            }

            #[test]
            fn hessian_of_a_vector_and_a_scalar() {
                let mut rng = Rng::new(line!().into());
                for n in [1, 3, 4] {
                    let x = rng.vector::<$T>(n, U);
                    let s: $T = rng.scalar(U);
                    let h = wide(&vector_and_scalar_hessian(&x, s));
                    let (xw, sw) = (wide_v(&x), f64::from(s));
                    let expected = vector_and_scalar_closed_form(&xw, sw);
                    let (lx, ls) = (largest(&xw), sw.abs());
                    let magnitude = (2.0 * ls + ls * ls)
                        .max(2.0 * lx + 1.0 + lx * ls)
                        .max(n as f64 * lx * lx);
                    assert_dense_at(
                        &h,
                        &expected,
                        magnitude,
                        TOL,
                        &format!("H over (x, s), n = {n}"),
                    );
                    let params = [Val::V(xw.clone()), Val::S(sw)];
                    let fd = hessian_fd(&params, &|p: &[Val]| {
                        let (_, (dx, ds)) = twin::vector_and_scalar_grad(p[0].v(), p[1].s());
                        let mut g = dx.as_slice().to_vec();
                        g.push(ds);
                        g
                    });
                    let what = format!("H over (x, s), n = {n}");
                    assert_hessian_blocks_fd(&h, &fd, &[("x", n), ("s", 1)], magnitude, TOL, &what);

                    // Scalar first: the same matrix with the last row and column moved to the
                    // front.
                    let h = scalar_and_vector_hessian(s, &x);
                    let order = |i: usize| if i == 0 { n } else { i - 1 };
                    let expected =
                        Matrix::from_fn(n + 1, n + 1, |i, j| expected[(order(i), order(j))]);
                    assert_dense_at(
                        &h,
                        &expected,
                        magnitude,
                        TOL,
                        &format!("H over (s, x), n = {n}"),
                    );
                }
            }

            #[test]
            fn hessian_of_a_matrix_and_a_vector() {
                let mut rng = Rng::new(line!().into());
                for n in [1, 2, 3] {
                    let m = rng.matrix::<$T>(n, n, U);
                    let v = rng.vector::<$T>(n, U);
                    let c = rng.vector::<$T>(n, U);
                    let h = wide(&matrix_and_vector_hessian(&m, &v));
                    let (mw, vw) = (wide(&m), wide_v(&v));
                    let expected = matrix_and_vector_closed_form(&mw, &vw);
                    // 1 − tanh² rounds at ε·1: terms up to the closed form's with g, g' ≤ 2.
                    let (lm, lv) = (largest(&mw), largest(&vw));
                    let magnitude = (2.0 * lv * lv)
                        .max(2.0 * lv + 2.0 * lm * lv + 2.0)
                        .max(2.0 * lm + 2.0 * n as f64 * lm * lm);
                    let what = format!("H over (m, v), m {n}×{n}");
                    assert_dense_at(&h, &expected, magnitude, TOL, &what);
                    let params = [Val::M(mw.clone()), Val::V(vw.clone())];
                    let fd = hessian_fd(&params, &|p: &[Val]| {
                        let (_, (dm, dv)) = twin::matrix_and_vector_grad(p[0].m(), p[1].v());
                        dm.as_slice().iter().chain(dv.as_slice()).copied().collect()
                    });
                    assert_hessian_blocks_fd(
                        &h,
                        &fd,
                        &[("m", n * n), ("v", n)],
                        magnitude,
                        TOL,
                        &what,
                    );

                    // wrt(v, m) with a constant in between: the same matrix (the constant's
                    // linear term has no second derivative).
                    let h = matrix_constant_vector_hessian(&m, &c, &v);
                    let what = format!("H over wrt(v, m) with a constant between, m {n}×{n}");
                    assert_dense_at(&h, &expected, magnitude, TOL, &what);
                }
            }

            // ─────────── Jacobians against closed forms ───────────

            /// A tanh layer, differentiated with respect to its input only (batched path).
            #[differentiable(wrt(x))]
            pub fn layer_x(w: &Matrix<$T>, x: &Vector<$T>, b: &Vector<$T>) -> Vector<$T> {
                (w.matmul(x) + b).tanh()
            }

            /// The same with respect to the weights (a matrix: per-direction path).
            #[differentiable(wrt(w))]
            pub fn layer_w(w: &Matrix<$T>, x: &Vector<$T>, b: &Vector<$T>) -> Vector<$T> {
                (w.matmul(x) + b).tanh()
            }

            /// The same with respect to everything: a tuple in signature order.
            #[differentiable]
            pub fn layer(w: &Matrix<$T>, x: &Vector<$T>, b: &Vector<$T>) -> Vector<$T> {
                (w.matmul(x) + b).tanh()
            }

            /// The Jacobian of `f` wrt a parameter, assembled column by column from `jvp(e_j)`
            /// (the directional derivative along the j-th unit direction), widened.
            fn jvp_jacobian<R: Flat>(
                outputs: usize,
                inputs: usize,
                mut jvp: impl FnMut(usize) -> R,
            ) -> Matrix<f64> {
                by_columns(outputs, inputs, |j| jvp(j).flat())
            }

            /// The closed forms of the tanh layer y = tanh(W·x + b), W m×n, in f64:
            /// `∂y/∂x = diag(1 − y²)·W`, `∂yᵢ/∂Wₖₗ = δᵢₖ (1 − yᵢ²) xₗ`, `∂y/∂b = diag(1 − y²)`.
            fn layer_closed_forms(
                w: &Matrix<f64>,
                x: &Vector<f64>,
                b: &Vector<f64>,
            ) -> (Matrix<f64>, Matrix<f64>, Matrix<f64>) {
                let (m, n) = w.shape();
                let g: Vec<f64> = (0..m)
                    .map(|i| {
                        let y = ((0..n).map(|j| w[(i, j)] * x[j]).sum::<f64>() + b[i]).tanh();
                        1.0 - y * y
                    })
                    .collect();
                let jw = Matrix::from_fn(
                    m,
                    m * n,
                    |i, c| if c / n == i { g[i] * x[c % n] } else { 0.0 },
                );
                (jw, scale_rows(&g, w), scale_rows(&g, &Matrix::identity(m)))
            }

            #[test]
            fn jacobian_of_a_tanh_layer() {
                let mut rng = Rng::new(line!().into());
                for (m, n) in [(3, 3), (2, 4), (4, 2), (1, 1), (1, 3)] {
                    let w = rng.matrix::<$T>(m, n, U);
                    let x = rng.vector::<$T>(n, U);
                    let b = rng.vector::<$T>(m, U);
                    let (jw, jx, jb) = layer_closed_forms(&wide(&w), &wide_v(&x), &wide_v(&b));
                    let shape = format!("W {m}×{n}");
                    // 1 − y² rounds at ε·1 near saturation: the terms are up to |W| and |x|.
                    let (lw, lx) = (largest(&w), largest(&x));

                    let j = layer_x_jacobian(&w, &x, &b);
                    assert_dense_at(
                        &j,
                        &jx,
                        lw,
                        TOL,
                        &format!("∂y/∂x = diag(1 − y²)·W, {shape}"),
                    );
                    let by_jvp = jvp_jacobian(m, n, |k| {
                        layer_x_jvp(&w, &x, &b, &common::unit_like(&x, k)).1
                    });
                    assert_dense_at(
                        &j,
                        &by_jvp,
                        lw,
                        TOL,
                        &format!("∂y/∂x vs f_jvp columns, {shape}"),
                    );

                    let j = layer_w_jacobian(&w, &x, &b);
                    assert_dense_at(
                        &j,
                        &jw,
                        lx,
                        TOL,
                        &format!("∂y/∂W ({m} × {}), {shape}", m * n),
                    );
                    let by_jvp = jvp_jacobian(m, m * n, |k| {
                        layer_w_jvp(&w, &x, &b, &common::unit_like(&w, k)).1
                    });
                    assert_dense_at(
                        &j,
                        &by_jvp,
                        lx,
                        TOL,
                        &format!("∂y/∂W vs f_jvp columns, {shape}"),
                    );
                    let y = layer(&w, &x, &b);
                    let by_vjp = by_rows(m, m * n, |i| {
                        layer_w_vjp(&w, &x, &b, &common::unit_like(&y, i))
                            .1
                            .widen()
                            .flat()
                    });
                    assert_dense_at(
                        &j,
                        &by_vjp,
                        lx,
                        TOL,
                        &format!("∂y/∂W vs f_vjp rows, {shape}"),
                    );

                    let (j_w, j_x, j_b) = layer_jacobian(&w, &x, &b);
                    assert_dense_at(&j_w, &jw, lx, TOL, &format!("(∂y/∂W, ·, ·), {shape}"));
                    assert_dense_at(&j_x, &jx, lw, TOL, &format!("(·, ∂y/∂x, ·), {shape}"));
                    assert_dense_at(
                        &j_b,
                        &jb,
                        1.0,
                        TOL,
                        &format!("(·, ·, ∂y/∂b = diag(1 − y²)), {shape}"),
                    );
                }
            }

            /// Past the size the runtime keeps in cache (256 KiB), ∂y/∂x runs a block of rows
            /// of W at a time (its product, the loop on the scales, the scaled rows): blocks of
            /// several rows (200 columns), of one row (1500), and a last block cut short (401
            /// rows); a tall W of 7 columns, its blocks many rows in lanes and a tail. (Sizes
            /// past 256 KiB in f32 too.)
            #[test]
            fn jacobian_of_a_tanh_layer_larger_than_the_cache() {
                let mut rng = Rng::new(line!().into());
                for (m, n) in [(401, 200), (45, 1500), (12001, 7)] {
                    let w = rng.matrix::<$T>(m, n, U);
                    let x = rng.vector::<$T>(n, U);
                    let b = rng.vector::<$T>(m, U);
                    let (wide_w, wide_x, wide_b) = (wide(&w), wide_v(&x), wide_v(&b));
                    let slopes: Vec<f64> = (0..m)
                        .map(|i| {
                            let z = (0..n).map(|j| wide_w[(i, j)] * wide_x[j]).sum::<f64>();
                            1.0 - (z + wide_b[i]).tanh().powi(2)
                        })
                        .collect();
                    let expected = scale_rows(&slopes, &wide_w);
                    // 1 − y² rounds with its row's product, n terms of up to |W|·|x|; the
                    // entry is that times |W|.
                    let magnitude = largest(&w) * largest(&w) * largest(&x) * n as f64;
                    let what = format!("∂y/∂x = diag(1 − y²)·W, W {m}×{n}");
                    assert_dense_at(
                        &layer_x_jacobian(&w, &x, &b),
                        &expected,
                        magnitude,
                        TOL,
                        &what,
                    );
                }
            }

            /// `x·xᵀ` of a row: more outputs than inputs (one `f_jvp` per input direction).
            #[differentiable]
            pub fn outer(x: &Matrix<$T>) -> Matrix<$T> {
                x.t().matmul(x)
            }

            #[test]
            fn jacobian_with_more_outputs_than_inputs() {
                let mut rng = Rng::new(line!().into());
                for n in [1, 2, 4] {
                    let x = rng.matrix::<$T>(1, n, U);
                    let j = outer_jacobian(&x);
                    // y = xᵀx (n×n), ∂yᵢⱼ/∂xₖ = δᵢₖ xⱼ + xᵢ δⱼₖ.
                    let xw = wide(&x);
                    let expected = Matrix::from_fn(n * n, n, |r, k| {
                        let (i, j) = (r / n, r % n);
                        (if i == k { xw[(0, j)] } else { 0.0 })
                            + (if j == k { xw[(0, i)] } else { 0.0 })
                    });
                    assert_dense(&j, &expected, TOL, &format!("∂(xᵀx)/∂x, x 1×{n}"));
                }
            }

            #[differentiable]
            pub fn softmax_v(x: &Vector<$T>) -> Vector<$T> {
                x.softmax()
            }

            #[differentiable]
            pub fn log_softmax_v(x: &Vector<$T>) -> Vector<$T> {
                x.log_softmax()
            }

            /// Row by row: a block-diagonal Jacobian (per-direction path).
            #[differentiable]
            pub fn softmax_rows(x: &Matrix<$T>) -> Matrix<$T> {
                x.softmax()
            }

            #[test]
            fn jacobians_of_softmax_and_log_softmax() {
                let mut rng = Rng::new(line!().into());
                for n in [1, 2, 5] {
                    let x = rng.vector::<$T>(n, U);
                    let s = softmax(wide_v(&x).as_slice());
                    // diag(s) − s·sᵀ
                    let expected = Matrix::from_fn(n, n, |i, j| {
                        (if i == j { s[i] } else { 0.0 }) - s[i] * s[j]
                    });
                    assert_dense_at(
                        &softmax_v_jacobian(&x),
                        &expected,
                        1.0,
                        TOL,
                        &format!("∂softmax, n = {n}"),
                    );
                    // I − 𝟏·sᵀ
                    let expected =
                        Matrix::from_fn(n, n, |i, j| (if i == j { 1.0 } else { 0.0 }) - s[j]);
                    assert_dense_at(
                        &log_softmax_v_jacobian(&x),
                        &expected,
                        1.0,
                        TOL,
                        &format!("∂log_softmax, n = {n}"),
                    );
                }
                for (r, c) in [(2, 3), (1, 4), (3, 1)] {
                    let x = rng.matrix::<$T>(r, c, U);
                    let xw = wide(&x);
                    let s: Vec<Vec<f64>> = (0..r)
                        .map(|i| softmax(&xw.as_slice()[i * c..(i + 1) * c]))
                        .collect();
                    let expected = Matrix::from_fn(r * c, r * c, |p, q| {
                        let ((i, a), (k, b)) = ((p / c, p % c), (q / c, q % c));
                        if i != k {
                            0.0
                        } else {
                            (if a == b { s[i][a] } else { 0.0 }) - s[i][a] * s[i][b]
                        }
                    });
                    assert_dense_at(
                        &softmax_rows_jacobian(&x),
                        &expected,
                        1.0,
                        TOL,
                        &format!("∂softmax of the rows of a {r}×{c} matrix"),
                    );
                }
            }

            // ─────────── scalar results, independent parameters, owned parameters ───────────

            #[differentiable]
            pub fn scalar_result(m: &Matrix<$T>, v: &Vector<$T>, s: $T) -> $T {
                (m.matmul(v) * s).sigmoid().sum() + v.dot(v) * s
            }

            #[test]
            fn jacobian_of_a_scalar_result_is_the_gradient_as_a_row() {
                let mut rng = Rng::new(line!().into());
                for (r, c) in [(2, 3), (1, 1), (3, 2)] {
                    let m = rng.matrix::<$T>(r, c, U);
                    let v = rng.vector::<$T>(c, U);
                    let s: $T = rng.scalar(U);
                    let (jm, jv, js) = scalar_result_jacobian(&m, &v, s);
                    let (_, (dm, dv, ds)) = scalar_result_grad(&m, &v, s);
                    let row = |g: Vec<f64>| Matrix::from_vec(1, g.len(), g);
                    assert_dense(
                        &jm,
                        &row(dm.widen().flat()),
                        TOL,
                        &format!("∂f/∂m (1 × {}) vs f_grad", r * c),
                    );
                    assert_dense(
                        &jv,
                        &row(dv.widen().flat()),
                        TOL,
                        &format!("∂f/∂v (1 × {c}) vs f_grad"),
                    );
                    assert_dense(
                        &js,
                        &row(vec![f64::from(ds)]),
                        TOL,
                        "∂f/∂s (1 × 1) vs f_grad",
                    );
                }
            }

            /// Vector result independent of `_m` and `_s` (batched path).
            #[differentiable]
            pub fn independent_v(x: &Vector<$T>, _m: &Matrix<$T>, _s: $T) -> Vector<$T> {
                x.exp() * 2.0
            }

            /// Matrix result independent of `_b` (per-direction path).
            #[differentiable]
            pub fn independent_m(a: &Matrix<$T>, _b: &Matrix<$T>) -> Matrix<$T> {
                a.tanh()
            }

            /// Scalar result independent of `_y` and `_m`: zero Hessian blocks.
            #[differentiable]
            pub fn independent_s(x: &Vector<$T>, _y: &Vector<$T>, _m: &Matrix<$T>) -> $T {
                x.powi(3).sum()
            }

            #[test]
            fn independent_parameters_give_zero_blocks() {
                let mut rng = Rng::new(line!().into());
                for (n, r, c) in [(3, 2, 3), (1, 1, 1), (2, 4, 1)] {
                    let x = rng.vector::<$T>(n, U);
                    let m = rng.matrix::<$T>(r, c, U);
                    let s: $T = rng.scalar(U);
                    let (jx, jm, js) = independent_v_jacobian(&x, &m, s);
                    let ex: Vec<f64> = wide_v(&x)
                        .as_slice()
                        .iter()
                        .map(|v| 2.0 * v.exp())
                        .collect();
                    assert_dense(
                        &jx,
                        &scale_rows(&ex, &Matrix::identity(n)),
                        TOL,
                        "∂(2eˣ)/∂x",
                    );
                    assert_zero_block(&jm, n, r * c, "∂(2eˣ)/∂m");
                    assert_zero_block(&js, n, 1, "∂(2eˣ)/∂s");

                    let a = rng.matrix::<$T>(c, r, U);
                    let (_, jb) = independent_m_jacobian(&a, &m);
                    assert_zero_block(&jb, r * c, r * c, "∂tanh(a)/∂b");

                    let y = rng.vector::<$T>(n + 1, U);
                    let h = wide(&independent_s_hessian(&x, &y, &m));
                    let size = n + (n + 1) + r * c;
                    assert_eq!(h.shape(), (size, size), "H of Σx³ over (x, y, m)");
                    // H = diag(6x) ⊕ 0
                    let xw = wide_v(&x);
                    let expected = Matrix::from_fn(size, size, |i, j| {
                        if i == j && i < n {
                            6.0 * xw[i]
                        } else {
                            0.0
                        }
                    });
                    assert_dense(&h, &expected, TOL, "H of Σx³ over (x, y, m)");
                    assert_zero_block(&block(&h, 0, n, n, size - n), n, size - n, "∂²f/∂x∂(y, m)");
                    assert_zero_block(
                        &block(&h, n, 0, size - n, size),
                        size - n,
                        size,
                        "∂²f/∂(y, m)∂·",
                    );
                }
            }

            /// `a·s + s`: ∂/∂a = s·I, ∂/∂s = a + 𝟏 (an n×1 block).
            #[differentiable]
            pub fn vector_times_scalar_plus_scalar(a: &Vector<$T>, s: $T) -> Vector<$T> {
                a * s + s
            }

            /// The same differentiated with respect to the scalar alone.
            #[differentiable(wrt(s))]
            pub fn vector_times_scalar_plus_scalar_wrt_s(a: &Vector<$T>, s: $T) -> Vector<$T> {
                a * s + s
            }

            // Regression: the scalar's n×1 block once took `+ s` for a square's diagonal.
            #[test]
            fn jacobian_of_a_vector_and_a_scalar() {
                let mut rng = Rng::new(line!().into());
                for n in [1, 3] {
                    let a = rng.vector::<$T>(n, U);
                    let s: $T = rng.scalar(U);
                    let (ja, js) = vector_times_scalar_plus_scalar_jacobian(&a, s);
                    let sw = f64::from(s);
                    let expected = Matrix::from_fn(n, n, |i, j| if i == j { sw } else { 0.0 });
                    assert_dense(&ja, &expected, TOL, &format!("∂(a·s + s)/∂a, n = {n}"));
                    let aw = wide_v(&a);
                    let expected = Matrix::from_fn(n, 1, |i, _| aw[i] + 1.0);
                    assert_dense(&js, &expected, TOL, &format!("∂(a·s + s)/∂s, n = {n}"));
                }
            }

            #[test]
            fn jacobian_with_respect_to_a_lone_scalar() {
                let mut rng = Rng::new(line!().into());
                for n in [1, 3] {
                    let a = rng.vector::<$T>(n, U);
                    let s: $T = rng.scalar(U);
                    let js = vector_times_scalar_plus_scalar_wrt_s_jacobian(&a, s);
                    let aw = wide_v(&a);
                    let expected = Matrix::from_fn(n, 1, |i, _| aw[i] + 1.0);
                    assert_dense(
                        &js,
                        &expected,
                        TOL,
                        &format!("∂(a·s + s)/∂s alone, n = {n}"),
                    );
                }
            }

            /// An owned matrix and a constant `usize`.
            #[differentiable]
            pub fn owned(m: Matrix<$T>, _k: usize, v: &Vector<$T>) -> Vector<$T> {
                m.matmul(v).tanh()
            }

            /// `Σ M·Mᵀ = Σₖ (Σᵢ Mᵢₖ)²` with an owned matrix and a constant: H[(i,k),(j,l)] = 2δₖₗ.
            #[differentiable]
            pub fn owned_scalar(_k: usize, m: Matrix<$T>) -> $T {
                m.matmul(&m.t()).sum()
            }

            #[test]
            fn owned_matrix_and_constant_parameters() {
                let mut rng = Rng::new(line!().into());
                for (r, c) in [(2, 3), (1, 1), (3, 2)] {
                    let m = rng.matrix::<$T>(r, c, U);
                    let v = rng.vector::<$T>(c, U);
                    let k = 7usize;
                    let (jm, jv) = owned_jacobian(m.clone(), k, &v);
                    // The layer's closed forms with b = 0.
                    let (em, ev, _) = layer_closed_forms(&wide(&m), &wide_v(&v), &Vector::zeros(r));
                    assert_dense_at(
                        &jm,
                        &em,
                        largest(&v),
                        TOL,
                        &format!("∂tanh(M·v)/∂M, M {r}×{c}"),
                    );
                    assert_dense_at(
                        &jv,
                        &ev,
                        largest(&m),
                        TOL,
                        &format!("∂tanh(M·v)/∂v, M {r}×{c}"),
                    );
                    let by_jvp = jvp_jacobian(r, r * c, |j| {
                        let dir = Dir::Unit("m", j);
                        owned_jvp(
                            m.clone(),
                            k,
                            &v,
                            &common::direction(&m, "m", &dir),
                            &common::direction(&v, "v", &dir),
                        )
                        .1
                    });
                    assert_dense_at(
                        &jm,
                        &by_jvp,
                        largest(&v),
                        TOL,
                        &format!("∂tanh(M·v)/∂M vs f_jvp columns, M {r}×{c}"),
                    );

                    let h = owned_scalar_hessian(k, m.clone());
                    let expected =
                        Matrix::from_fn(
                            r * c,
                            r * c,
                            |p, q| if p % c == q % c { 2.0 } else { 0.0 },
                        );
                    assert_dense(&h, &expected, TOL, &format!("H of Σ M·Mᵀ, M {r}×{c}"));
                }
            }
        }
    };
}

dense_tests!(f32_dense, f32);
dense_tests!(f64_dense, f64);
