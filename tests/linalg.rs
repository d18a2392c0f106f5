//! Linear algebra through `#[differentiable]`: `trace`, `inverse`, `det`, `logdet`, `solve`,
//! `norm`, `diag` and `diagonal`, checked against the Matrix Cookbook's closed forms in f32 and
//! f64, in every mode (gradients and pullbacks, tangents, Jacobians, Hessians), and the panic of
//! a singular matrix.
//!
//! The closed forms are evaluated in f64 with the runtime's own `inverse` (checked against
//! X·X⁻¹ = I first), independently of any rule. Tolerances: f64 to 1e-10 relative to the
//! largest entry (the inputs are well conditioned, cond(X) < 10, and the generated code and the
//! closed form differ only in rounding order); f32 to 2e-5 (about 100 ε₃₂: a few GEMMs and one
//! LU, each rounding at ε₃₂ times their size). A wrong rule (a sign, a missing transpose, a
//! factor) is off by O(1).

use autodiff::prelude::*;

/// `|a − b| ≤ tol · max(1, max |b|)` for every entry.
#[track_caller]
fn assert_close(actual: &[f64], expected: &[f64], tol: f64, what: &str) {
    assert_eq!(actual.len(), expected.len(), "{what}: sizes differ");
    let scale = expected.iter().fold(1.0f64, |m, x| m.max(x.abs()));
    for (i, (a, e)) in actual.iter().zip(expected).enumerate() {
        assert!(
            (a - e).abs() <= tol * scale,
            "{what}: entry {i}: {a:.12e} vs {e:.12e} (tol {:.1e})",
            tol * scale
        );
    }
}

/// The f64 closed forms, on f64 matrices.
mod closed {
    use autodiff::prelude::*;

    pub fn product(a: &Matrix<f64>, b: &Matrix<f64>) -> Matrix<f64> {
        a.matmul(b)
    }

    /// X⁻ᵀ.
    pub fn inverse_t(x: &Matrix<f64>) -> Matrix<f64> {
        x.inverse().t()
    }

    /// The n²×n² Hessian of ln |det X| over X row-major: ∂²/∂Xᵢⱼ∂Xₖₗ = −(X⁻¹)ⱼₖ(X⁻¹)ₗᵢ.
    pub fn logdet_hessian(x: &Matrix<f64>) -> Vec<f64> {
        let n = x.rows();
        let y = x.inverse();
        let mut h = vec![0.0; n * n * n * n];
        for i in 0..n {
            for j in 0..n {
                for k in 0..n {
                    for l in 0..n {
                        h[(i * n + j) * n * n + k * n + l] = -y[(j, k)] * y[(l, i)];
                    }
                }
            }
        }
        h
    }

    /// The n²×n² Jacobian of X⁻¹ over X, both row-major: ∂(X⁻¹)ᵢⱼ/∂Xₖₗ = −(X⁻¹)ᵢₖ(X⁻¹)ₗⱼ.
    pub fn inverse_jacobian(x: &Matrix<f64>) -> Vec<f64> {
        let n = x.rows();
        let y = x.inverse();
        let mut j = vec![0.0; n * n * n * n];
        for a in 0..n {
            for b in 0..n {
                for k in 0..n {
                    for l in 0..n {
                        j[(a * n + b) * n * n + k * n + l] = -y[(a, k)] * y[(l, b)];
                    }
                }
            }
        }
        j
    }
}

/// A well-conditioned, non-symmetric n×n matrix (diagonally dominant), so a missing transpose
/// shows.
fn well_conditioned(n: usize, seed: f64) -> Matrix<f64> {
    Matrix::from_fn(n, n, |i, j| {
        let off = ((i * 7 + j * 3) as f64 * 0.61 + seed).sin() * 0.8;
        if i == j {
            3.0 + off
        } else {
            off
        }
    })
}

fn pattern_matrix(rows: usize, cols: usize, seed: f64) -> Matrix<f64> {
    Matrix::from_fn(rows, cols, |i, j| {
        ((i * 5 + j * 11) as f64 * 0.37 + seed).cos()
    })
}

fn pattern_vector(n: usize, seed: f64) -> Vector<f64> {
    Vector::from_fn(n, |i| ((i * 13) as f64 * 0.29 + seed).sin() + 0.3)
}

#[test]
fn the_closed_forms_use_a_correct_inverse() {
    let x = well_conditioned(4, 0.2);
    let identity = closed::product(&x, &x.inverse());
    assert_close(
        identity.as_slice(),
        Matrix::<f64>::identity(4).as_slice(),
        1e-14,
        "X·X⁻¹",
    );
}

macro_rules! linalg_tests {
    ($module:ident, $T:ident, $tol:expr) => {
        mod $module {
            use super::*;

            const TOL: f64 = $tol;

            fn narrow_m(m: &Matrix<f64>) -> Matrix<$T> {
                Matrix::from_vec(
                    m.rows(),
                    m.cols(),
                    m.as_slice().iter().map(|&x| x as $T).collect(),
                )
            }

            fn narrow_v(v: &Vector<f64>) -> Vector<$T> {
                Vector::from_vec(v.as_slice().iter().map(|&x| x as $T).collect())
            }

            fn widen_m(m: &Matrix<$T>) -> Matrix<f64> {
                Matrix::from_vec(
                    m.rows(),
                    m.cols(),
                    m.as_slice().iter().map(|&x| x as f64).collect(),
                )
            }

            fn widen(x: &[$T]) -> Vec<f64> {
                x.iter().map(|&x| x as f64).collect()
            }

            /// The point the test runs at, and the same point in f64 (exact: it is narrowed
            /// first).
            fn matrix_at(n: usize, seed: f64) -> (Matrix<$T>, Matrix<f64>) {
                let x = narrow_m(&well_conditioned(n, seed));
                let wide = widen_m(&x);
                (x, wide)
            }

            #[differentiable]
            pub fn logdet(x: &Matrix<$T>) -> $T {
                x.logdet()
            }

            #[differentiable]
            pub fn det(x: &Matrix<$T>) -> $T {
                x.det()
            }

            #[differentiable(wrt(x))]
            fn trace_of_a_inverse(a: &Matrix<$T>, x: &Matrix<$T>) -> $T {
                a.matmul(&x.inverse()).trace()
            }

            #[differentiable(wrt(x))]
            fn bilinear_inverse(a: &Vector<$T>, x: &Matrix<$T>, b: &Vector<$T>) -> $T {
                a.dot(&x.inverse().matmul(b))
            }

            /// B7: logdet(X) + tr(A·X⁻¹).
            #[differentiable(wrt(x))]
            pub fn b7(a: &Matrix<$T>, x: &Matrix<$T>) -> $T {
                x.logdet() + a.matmul(&x.inverse()).trace()
            }

            #[differentiable]
            pub fn solve_vector(a: &Matrix<$T>, b: &Vector<$T>) -> Vector<$T> {
                a.solve(b)
            }

            #[differentiable]
            fn solve_matrix(a: &Matrix<$T>, b: &Matrix<$T>) -> Matrix<$T> {
                a.solve(b)
            }

            #[differentiable(wrt(b))]
            fn solve_rhs(a: &Matrix<$T>, b: &Vector<$T>) -> Vector<$T> {
                a.solve(b)
            }

            #[differentiable]
            fn inverse(x: &Matrix<$T>) -> Matrix<$T> {
                x.inverse()
            }

            #[differentiable]
            pub fn norms(v: &Vector<$T>, m: &Matrix<$T>) -> $T {
                v.norm() + m.norm()
            }

            /// tr(diag(v)·M) + diagonal(M)ᵀ·diagonal(M): dv = diagonal(M),
            /// dM = diag(v) + 2·diag(diagonal(M)).
            #[differentiable]
            pub fn diagonals(v: &Vector<$T>, m: &Matrix<$T>) -> $T {
                let d = m.diagonal();
                v.diag().matmul(m).trace() + d.dot(&d)
            }

            /// wᵀ·diagonal(M) of a rectangular M: dM has w on its diagonal, zeros elsewhere.
            #[differentiable(wrt(m))]
            fn rectangular_diagonal(m: &Matrix<$T>, w: &Vector<$T>) -> $T {
                m.diagonal().dot(w)
            }

            #[test]
            fn d_logdet_is_the_inverse_transpose() {
                let (x, wide) = matrix_at(4, 0.1);
                let (value, g) = logdet_grad(&x);
                assert_eq!(value, logdet(&x));
                let expected = closed::inverse_t(&wide);
                assert_close(&widen(g.as_slice()), expected.as_slice(), TOL, "d logdet");
                // A negative determinant: ln |det| has the same gradient.
                let flipped = &x * (-1.0 as $T);
                let (_, g_flipped) = logdet_grad(&flipped);
                let expected = closed::inverse_t(&widen_m(&flipped));
                assert_close(&widen(g_flipped.as_slice()), expected.as_slice(), TOL, "d logdet(−X)");
            }

            #[test]
            fn d_det_is_det_times_the_inverse_transpose() {
                let (x, wide) = matrix_at(3, 0.7);
                let (value, g) = det_grad(&x);
                assert_eq!(value, det(&x));
                let expected = &closed::inverse_t(&wide) * wide.det();
                assert_close(&widen(g.as_slice()), expected.as_slice(), TOL, "d det");
            }

            #[test]
            fn d_trace_of_a_inverse_is_minus_x_inv_t_a_t_x_inv_t() {
                let (x, wide) = matrix_at(4, 0.3);
                let a64 = pattern_matrix(4, 4, 0.5);
                let a = narrow_m(&a64);
                let a64 = widen_m(&a);
                let (value, g) = trace_of_a_inverse_grad(&a, &x);
                assert_eq!(value, trace_of_a_inverse(&a, &x));
                let xit = closed::inverse_t(&wide);
                let expected = &closed::product(&closed::product(&xit, &a64.t()), &xit) * -1.0;
                assert_close(&widen(g.as_slice()), expected.as_slice(), TOL, "d tr(A·X⁻¹)");
            }

            #[test]
            fn d_bilinear_form_of_the_inverse_is_minus_x_inv_t_a_b_t_x_inv_t() {
                let (x, wide) = matrix_at(3, 0.9);
                let (a, b) = (narrow_v(&pattern_vector(3, 0.1)), narrow_v(&pattern_vector(3, 1.7)));
                let (value, g) = bilinear_inverse_grad(&a, &x, &b);
                assert_eq!(value, bilinear_inverse(&a, &x, &b));
                let a64 = Vector::from_vec(widen(a.as_slice()));
                let b64 = Vector::from_vec(widen(b.as_slice()));
                let xit = closed::inverse_t(&wide);
                let expected =
                    &closed::product(&closed::product(&xit, &a64.outer(&b64)), &xit) * -1.0;
                assert_close(&widen(g.as_slice()), expected.as_slice(), TOL, "d aᵀ·X⁻¹·b");
            }

            #[test]
            fn b7_gradient_is_x_inv_t_minus_x_inv_t_a_t_x_inv_t() {
                let (x, wide) = matrix_at(5, 0.4);
                let a = narrow_m(&pattern_matrix(5, 5, 0.8));
                let a64 = widen_m(&a);
                let (_, g) = b7_grad(&a, &x);
                let xit = closed::inverse_t(&wide);
                let expected = &xit - &closed::product(&closed::product(&xit, &a64.t()), &xit);
                assert_close(&widen(g.as_slice()), expected.as_slice(), TOL, "d B7");
            }

            #[test]
            fn solve_pulls_back_to_both_arguments() {
                // x = A⁻¹·b: db = A⁻ᵀ·u, dA = −db·xᵀ.
                let (a, wide) = matrix_at(4, 0.6);
                let b = narrow_v(&pattern_vector(4, 0.2));
                let u = narrow_v(&pattern_vector(4, 2.3));
                let (value, (da, db)) = solve_vector_vjp(&a, &b, &u);
                assert_eq!(value, solve_vector(&a, &b));
                let u64 = Vector::from_vec(widen(u.as_slice()));
                let b64 = Vector::from_vec(widen(b.as_slice()));
                let x64 = wide.solve(&b64);
                let expected_db = wide.inverse().t_matmul(&u64);
                let expected_da = &expected_db.outer(&x64) * -1.0;
                assert_close(&widen(db.as_slice()), expected_db.as_slice(), TOL, "db (vector)");
                assert_close(&widen(da.as_slice()), expected_da.as_slice(), TOL, "dA (vector)");

                // The same with a matrix right-hand side: db = A⁻ᵀ·U, dA = −db·Xᵀ.
                let bm = narrow_m(&pattern_matrix(4, 2, 0.4));
                let um = narrow_m(&pattern_matrix(4, 2, 1.1));
                let (value, (da, db)) = solve_matrix_vjp(&a, &bm, &um);
                assert_eq!(value, solve_matrix(&a, &bm));
                let x64 = wide.solve(&widen_m(&bm));
                let expected_db = wide.inverse().t_matmul(&widen_m(&um));
                let expected_da = &expected_db.matmul_t(&x64) * -1.0;
                assert_close(&widen(db.as_slice()), expected_db.as_slice(), TOL, "db (matrix)");
                assert_close(&widen(da.as_slice()), expected_da.as_slice(), TOL, "dA (matrix)");
            }

            #[test]
            fn solve_pushes_forward_both_tangents() {
                // dx = A⁻¹·(db − dA·x), and the dot-product test against the pullback.
                let (a, wide) = matrix_at(3, 1.3);
                let b = narrow_v(&pattern_vector(3, 0.5));
                let da = narrow_m(&pattern_matrix(3, 3, 2.0));
                let db = narrow_v(&pattern_vector(3, 0.9));
                let (value, dx) = solve_vector_jvp(&a, &b, &da, &db);
                assert_eq!(value, solve_vector(&a, &b));
                let x64 = wide.solve(&Vector::from_vec(widen(b.as_slice())));
                let rhs = &Vector::from_vec(widen(db.as_slice())) - &widen_m(&da).matmul(&x64);
                let expected = wide.solve(&rhs);
                assert_close(&widen(dx.as_slice()), expected.as_slice(), TOL, "dx");
                let u = narrow_v(&pattern_vector(3, 1.9));
                let (_, (ga, gb)) = solve_vector_vjp(&a, &b, &u);
                let forward: f64 = widen(dx.as_slice()).iter().zip(widen(u.as_slice())).map(|(p, q)| p * q).sum();
                let reverse: f64 = widen(ga.as_slice()).iter().zip(widen(da.as_slice())).map(|(p, q)| p * q).sum::<f64>()
                    + widen(gb.as_slice()).iter().zip(widen(db.as_slice())).map(|(p, q)| p * q).sum::<f64>();
                assert!((forward - reverse).abs() <= TOL * forward.abs().max(1.0), "{forward} vs {reverse}");
            }

            #[test]
            fn norms_pull_back_to_the_normalized_arguments() {
                let v = narrow_v(&pattern_vector(5, 0.3));
                let m = narrow_m(&pattern_matrix(2, 3, 0.6));
                let (value, (dv, dm)) = norms_grad(&v, &m);
                assert_eq!(value, norms(&v, &m));
                let v64 = Vector::from_vec(widen(v.as_slice()));
                let m64 = widen_m(&m);
                let expected_dv = &v64 * (1.0 / v64.norm());
                let expected_dm = &m64 * (1.0 / m64.norm());
                assert_close(&widen(dv.as_slice()), expected_dv.as_slice(), TOL, "d‖v‖");
                assert_close(&widen(dm.as_slice()), expected_dm.as_slice(), TOL, "d‖M‖");
                // Forward: d‖v‖ = vᵀ·dv/‖v‖.
                let tv = narrow_v(&pattern_vector(5, 1.0));
                let tm = narrow_m(&pattern_matrix(2, 3, 1.4));
                let (_, tangent) = norms_jvp(&v, &m, &tv, &tm);
                let expected = v64.dot(&Vector::from_vec(widen(tv.as_slice()))) / v64.norm()
                    + m64.as_slice().iter().zip(widen(tm.as_slice())).map(|(p, q)| p * q).sum::<f64>() / m64.norm();
                assert_close(&[tangent as f64], &[expected], TOL, "d‖·‖ forward");
            }

            #[test]
            fn norm_hessians_are_projections_over_the_norm() {
                // ∂²‖x‖/∂x² = (I − x̂·x̂ᵀ)/‖x‖, for v and for M flattened; no cross terms.
                let v = narrow_v(&pattern_vector(3, 0.3));
                let m = narrow_m(&pattern_matrix(2, 2, 0.6));
                let hessian = norms_hessian(&v, &m);
                let n = 3 + 4;
                assert_eq!(hessian.shape(), (n, n));
                let mut expected = vec![0.0; n * n];
                for (offset, x) in [(0, widen(v.as_slice())), (3, widen(m.as_slice()))] {
                    let norm = x.iter().map(|e| e * e).sum::<f64>().sqrt();
                    for i in 0..x.len() {
                        for j in 0..x.len() {
                            let identity = if i == j { 1.0 } else { 0.0 };
                            expected[(offset + i) * n + offset + j] =
                                (identity - x[i] * x[j] / (norm * norm)) / norm;
                        }
                    }
                }
                assert_close(&widen(hessian.as_slice()), &expected, TOL, "norm Hessian");
            }

            #[test]
            fn diag_diagonal_and_trace_pull_back_to_diagonals() {
                let v = narrow_v(&pattern_vector(3, 0.7));
                let m = narrow_m(&pattern_matrix(3, 3, 0.2));
                let (value, (dv, dm)) = diagonals_grad(&v, &m);
                assert_eq!(value, diagonals(&v, &m));
                let m64 = widen_m(&m);
                let d64 = m64.diagonal();
                assert_close(&widen(dv.as_slice()), d64.as_slice(), TOL, "dv");
                let v64 = Vector::from_vec(widen(v.as_slice()));
                let expected_dm = &v64.diag() + &(&d64 * 2.0).diag();
                assert_close(&widen(dm.as_slice()), expected_dm.as_slice(), TOL, "dM");
                // Forward: d = tr(diag(dv)·M + diag(v)·dM) + 2·diagonal(M)ᵀ·diagonal(dM).
                let tv = narrow_v(&pattern_vector(3, 2.1));
                let tm = narrow_m(&pattern_matrix(3, 3, 1.7));
                let (_, tangent) = diagonals_jvp(&v, &m, &tv, &tm);
                let (tv64, tm64) = (Vector::from_vec(widen(tv.as_slice())), widen_m(&tm));
                let expected = tv64.dot(&d64) + v64.dot(&tm64.diagonal()) + 2.0 * d64.dot(&tm64.diagonal());
                assert_close(&[tangent as f64], &[expected], TOL, "forward");

                // A rectangular matrix's diagonal pulls back into its own shape.
                let r = narrow_m(&pattern_matrix(2, 4, 0.9));
                let w = narrow_v(&pattern_vector(2, 0.4));
                let (_, dr) = rectangular_diagonal_grad(&r, &w);
                let w64 = widen(w.as_slice());
                let expected = [w64[0], 0.0, 0.0, 0.0, 0.0, w64[1], 0.0, 0.0];
                assert_close(&widen(dr.as_slice()), &expected, TOL, "dM (2×4)");
            }

            #[test]
            fn logdet_jvp_and_hessian_match_differences_of_the_gradient() {
                let (x, wide) = matrix_at(3, 0.5);
                let n = 3;
                let direction = narrow_m(&pattern_matrix(n, n, 0.3));
                let v = widen(direction.as_slice());
                // f_jvp: tr(X⁻¹·V).
                let (value, tangent) = logdet_jvp(&x, &direction);
                assert_eq!(value, logdet(&x));
                let expected = closed::product(&wide.inverse(), &widen_m(&direction)).trace();
                assert_close(&[tangent as f64], &[expected], TOL, "logdet jvp");

                // The f64 gradient's central difference along V.
                let gradient_at = |t: f64| -> Vec<f64> {
                    let moved = Matrix::from_fn(n, n, |i, j| wide[(i, j)] + t * v[i * n + j]);
                    f64_linalg::logdet_grad(&moved).1.as_slice().to_vec()
                };
                let h = 1e-3;
                let (p2, p1, m1, m2) = (gradient_at(2.0 * h), gradient_at(h), gradient_at(-h), gradient_at(-2.0 * h));
                let fd: Vec<f64> = (0..n * n)
                    .map(|i| (-p2[i] + 8.0 * p1[i] - 8.0 * m1[i] + m2[i]) / (12.0 * h))
                    .collect();

                let hessian = logdet_hessian(&x);
                assert_eq!(hessian.shape(), (n * n, n * n));
                let h_wide = widen(hessian.as_slice());
                assert_close(&h_wide, &closed::logdet_hessian(&wide), TOL, "logdet Hessian");
                let h_v: Vec<f64> = (0..n * n)
                    .map(|i| (0..n * n).map(|j| h_wide[i * n * n + j] * v[j]).sum())
                    .collect();
                assert_close(&h_v, &fd, TOL.max(1e-8), "H·v vs differences of the gradient");
                let (_, gradient, hv) = logdet_hvp(&x, &direction);
                assert_eq!(gradient, logdet_grad(&x).1);
                assert_close(&widen(hv.as_slice()), &fd, TOL.max(1e-8), "f_hvp vs differences");
            }

            #[test]
            fn jacobians_of_solve_and_inverse_have_their_closed_forms() {
                // Batched (a vector parameter): ∂(A⁻¹·b)/∂b = A⁻¹.
                let (a, wide) = matrix_at(4, 0.8);
                let b = narrow_v(&pattern_vector(4, 0.6));
                let j = solve_rhs_jacobian(&a, &b);
                assert_close(&widen(j.as_slice()), wide.inverse().as_slice(), TOL, "∂x/∂b");
                // Direction by direction (a matrix parameter): ∂(X⁻¹)ᵢⱼ/∂Xₖₗ = −(X⁻¹)ᵢₖ(X⁻¹)ₗⱼ.
                let j = inverse_jacobian(&a);
                assert_eq!(j.shape(), (16, 16));
                assert_close(&widen(j.as_slice()), &closed::inverse_jacobian(&wide), TOL, "∂X⁻¹/∂X");
                let (ja, jb) = solve_vector_jacobian(&a, &b);
                assert_eq!((ja.shape(), jb.shape()), ((4, 16), (4, 4)));
                assert_close(&widen(jb.as_slice()), wide.inverse().as_slice(), TOL, "∂x/∂b of both");
            }

            #[test]
            #[should_panic(
                expected = "singular matrix in `inverse`: the 2×2 matrix has a zero pivot (to working precision) (in `trace_of_a_inverse`, at `x.inverse()`)"
            )]
            fn a_singular_matrix_names_the_function_and_the_operation() {
                let a = Matrix::from_rows(&[[1.0 as $T, 0.0], [0.0, 1.0]]);
                let singular = Matrix::from_rows(&[[1.0 as $T, 2.0], [2.0, 4.0]]);
                trace_of_a_inverse_grad(&a, &singular);
            }

            #[test]
            #[should_panic(expected = "singular matrix in `logdet`")]
            fn a_singular_logdet_panics_in_forward_mode_too() {
                let zeros = Matrix::<$T>::zeros(3, 3);
                logdet_jvp(&zeros, &zeros);
            }
        }
    };
}

linalg_tests!(f64_linalg, f64, 1e-10);
linalg_tests!(f32_linalg, f32, 2e-5);

#[test]
fn derivations_read_like_the_textbook() {
    // The pullbacks as the Matrix Cookbook writes them: X⁻ᵀ for ln |det X|, det(X)·X⁻ᵀ for
    // det X; for X⁻¹ in tr(A·X⁻¹), −X⁻ᵀ·Aᵀ·X⁻ᵀ read as (A·X⁻¹)ᵀ·X⁻ᵀ, reusing the value's product; a transposed solve.
    assert_eq!(f64_linalg::logdet_derivation(), "dx = dout·x⁻¹ᵀ");
    assert_eq!(f64_linalg::det_derivation(), "dx = dout·det(x)·x⁻¹ᵀ");
    assert_eq!(
        f64_linalg::b7_derivation(),
        "dx = −(dout·((a·x⁻¹)ᵀ·x⁻¹ᵀ)) + dout·x⁻¹ᵀ"
    );
    assert_eq!(
        f64_linalg::solve_vector_derivation(),
        "db = solve(aᵀ, dout)\nda = −db·solve(a, b)ᵀ"
    );
    assert_eq!(
        f64_linalg::norms_derivation(),
        "dm = m·(dout / ‖m‖)\ndv = v·(dout / ‖v‖)"
    );
}
