//! Numerics (issue 4): finite values and derivatives for valid extreme inputs, and the NaN/Inf
//! conventions, in `f32` and `f64`.
//!
//! Generated functions are not generic, so everything is written once inside
//! [`numerics_tests!`], which stamps out `f32_numerics` and `f64_numerics` with the extreme inputs
//! of each type (where `f32` overflows or underflows much sooner). Expected values are worked by
//! hand (softmax rows of `1`, `½`, `0`, derivatives `0` or `±1`) or computed in the test with a
//! stable reference formula in `f64`, never with the code under test.
//!
//! Every check covers the value and the derivatives that make sense for the function: `f_grad`
//! (and `f_vjp` with a scaled upstream), `f_jvp`, and for scalar results `f_hessian` and `f_hvp`.
//!
//! - Valid extreme inputs: cross-entropy `-(y ⊙ log_softmax(z)).sum()` and `softmax` with logits
//!   ±1e3 and ±1e4 (rows spread as `[1e3, −1e3, 0]`), `sigmoid` at ±800 / ±100, log-sigmoid far
//!   out on the negative side, `exp` just below overflow, `tanh` at ±1e3, `ln` at tiny positive
//!   `x`: finite and correct.
//! - Kinks and poles: `relu` and `abs` at exactly 0 have derivative 0 (the subgradient
//!   convention); `sqrt` at 0 has value 0 and derivative `+∞` (`1/(2·0)`), not NaN.
//! - NaN/Inf: pinned for representative cases (see `nan_and_inf` in each module).
//! - Three cases a naive rule gets wrong are pinned at the careful answer: the pullback of
//!   `ln(σ(x))` far on the negative side (d ⊙ σ(−x), not (d / σ(x)) ⊙ σ'(x), which overflows),
//!   its Hessian (f'' applied to the product, never 1/a²), and σ' from the input (σ(x)·σ(−x),
//!   not s·(1 − s), which rounds to 0 once σ(x) rounds to 1).

use autodiff::prelude::*;

macro_rules! numerics_tests {
    (
        $module:ident, $T:ident,
        // Relative tolerance for results that are rounded, not exact.
        tol: $tol:expr,
        // Magnitudes at which `sigmoid` saturates (its derivative is 0 or underflows).
        sigmoid_big: $sig_big:expr,
        // The largest integer `x` with `exp(x)` finite.
        exp_max: $exp_max:expr,
        // A tiny positive `x` for `ln` (with `1/x` finite), and one with `1/x²` finite too.
        ln_tiny: $ln_tiny:expr,
        ln_tiny_hessian: $ln_tiny_h:expr,
        // Log-sigmoid: a large negative `x` where `σ(x)` is normal, one where `σ(x)` is
        // subnormal (the value is finite, `1/σ(x)` overflows), and one where `1/σ(x)²` overflows.
        log_sigmoid_x: $ls_x:expr,
        log_sigmoid_subnormal_x: $ls_sub:expr,
        log_sigmoid_hessian_x: $ls_hess:expr,
        // An `x > 0` where `σ(x)` rounds to 1 but `σ'(x) = σ(x)·σ(−x)` is far from underflow.
        sigmoid_rounds_to_one: $sig_one:expr,
        // Where `softplus`, `log_sigmoid` and a spelled-out `ln(σ(x))` must stay finite.
        stable_big: $stable_big:expr,
    ) => {
        mod $module {
            use super::*;

            const TOL: $T = $tol;
            const NAN: $T = $T::NAN;
            const INF: $T = $T::INFINITY;

            // ───────────────────────── functions under test ─────────────────────────

            #[differentiable(wrt(z))]
            fn cross_entropy(z: &Vector<$T>, y: &Vector<$T>) -> $T {
                -(y * &z.log_softmax()).sum()
            }

            #[differentiable(wrt(z))]
            fn cross_entropy_rows(z: &Matrix<$T>, y: &Matrix<$T>) -> $T {
                -(y * &z.log_softmax()).sum()
            }

            #[differentiable]
            fn softmax_of(z: &Vector<$T>) -> Vector<$T> {
                z.softmax()
            }

            #[differentiable]
            fn softmax_rows(z: &Matrix<$T>) -> Matrix<$T> {
                z.softmax()
            }

            #[differentiable]
            fn sigmoid_of(x: $T) -> $T {
                x.sigmoid()
            }

            #[differentiable]
            fn sigmoid_sum(x: &Vector<$T>) -> $T {
                x.sigmoid().sum()
            }

            #[differentiable]
            fn log_sigmoid(x: $T) -> $T {
                x.sigmoid().ln()
            }

            #[differentiable]
            fn softplus_of(x: $T) -> $T {
                x.softplus()
            }

            #[differentiable]
            fn log_sigmoid_of(x: $T) -> $T {
                x.log_sigmoid()
            }

            #[differentiable]
            fn log_sigmoid_spelled_out(x: &Vector<$T>) -> $T {
                x.sigmoid().ln().sum()
            }

            #[differentiable]
            fn exp_of(x: $T) -> $T {
                x.exp()
            }

            #[differentiable]
            fn tanh_of(x: $T) -> $T {
                x.tanh()
            }

            #[differentiable]
            fn tanh_map(x: &Vector<$T>) -> Vector<$T> {
                x.tanh()
            }

            #[differentiable]
            fn ln_of(x: $T) -> $T {
                x.ln()
            }

            #[differentiable]
            fn sqrt_of(x: $T) -> $T {
                x.sqrt()
            }

            #[differentiable]
            fn norm(x: &Vector<$T>) -> $T {
                x.dot(x).sqrt()
            }

            #[differentiable]
            fn relu_of(x: $T) -> $T {
                x.relu()
            }

            #[differentiable]
            fn abs_of(x: $T) -> $T {
                x.abs()
            }

            #[differentiable]
            fn relu_plus_abs(x: &Vector<$T>) -> $T {
                x.relu().sum() + x.abs().sum()
            }

            #[differentiable]
            fn product(a: $T, b: $T) -> $T {
                a * b
            }

            #[differentiable]
            fn power_of_i32_min(x: $T) -> $T {
                x.powi(-2147483648)
            }

            #[differentiable]
            fn power_of_i32_max(x: $T) -> $T {
                x.powi(2147483647)
            }

            // ───────────────────────── helpers ─────────────────────────

            /// `actual` is finite and within `rel` of `expected` (relative; `expected` may be 0
            /// only if `actual` is exactly 0).
            #[track_caller]
            fn close(actual: $T, expected: $T, rel: $T, what: &str) {
                assert!(
                    actual.is_finite(),
                    "{what}: got {actual}, expected the finite {expected}"
                );
                assert!(
                    actual == expected || (actual - expected).abs() <= rel * expected.abs(),
                    "{what}: got {actual}, expected {expected} (relative tolerance {rel})"
                );
            }

            /// `actual` is finite and within `abs` of `expected`.
            #[track_caller]
            fn near(actual: $T, expected: $T, abs: $T, what: &str) {
                assert!(
                    actual.is_finite() && (actual - expected).abs() <= abs,
                    "{what}: got {actual}, expected {expected} ± {abs}"
                );
            }

            /// Equal as floats, with NaN equal to NaN and `+0 = −0` (for pinning behaviour).
            #[track_caller]
            fn same(actual: $T, expected: $T, what: &str) {
                assert!(
                    actual == expected || (actual.is_nan() && expected.is_nan()),
                    "{what}: got {actual}, expected {expected}"
                );
            }

            #[track_caller]
            fn all_finite(values: &[$T], what: &str) {
                assert!(
                    values.iter().all(|v| v.is_finite()),
                    "{what}: not all finite: {values:?}"
                );
            }

            fn vector(values: &[$T]) -> Vector<$T> {
                Vector::from_vec(values.to_vec())
            }

            /// The stable softmax of a row, computed in `f64` and rounded once.
            fn reference_softmax(z: &[$T]) -> Vec<$T> {
                let max = z
                    .iter()
                    .fold(f64::NEG_INFINITY, |m, &v| m.max(f64::from(v)));
                let e: Vec<f64> = z.iter().map(|&v| (f64::from(v) - max).exp()).collect();
                let s: f64 = e.iter().sum();
                e.iter().map(|&v| (v / s) as $T).collect()
            }

            /// The stable log-softmax of a row, computed in `f64` and rounded once.
            fn reference_log_softmax(z: &[$T]) -> Vec<f64> {
                let max = z
                    .iter()
                    .fold(f64::NEG_INFINITY, |m, &v| m.max(f64::from(v)));
                let s: f64 = z.iter().map(|&v| (f64::from(v) - max).exp()).sum();
                z.iter().map(|&v| (f64::from(v) - max) - s.ln()).collect()
            }

            /// `σ(x)` in `f64`, stable on both sides.
            fn reference_sigmoid(x: f64) -> f64 {
                if x >= 0.0 {
                    1.0 / (1.0 + (-x).exp())
                } else {
                    x.exp() / (1.0 + x.exp())
                }
            }

            // ─────────────── cross-entropy and softmax at extreme logits ───────────────

            /// Checks value, gradient, vjp, jvp, Hessian and hvp of the cross-entropy at `z`
            /// against the stable reference: loss `−Σ yᵢ·lpᵢ`, gradient `Σy·p − y`, Hessian
            /// `Σy·(diag(p) − p·pᵀ)`. With `exact`, the gradient must be exactly `p − y`.
            #[track_caller]
            fn check_cross_entropy(z: &[$T], y: &[$T], exact: bool) {
                let (zv, yv) = (vector(z), vector(y));
                let n = z.len();
                let p = reference_softmax(z);
                let lp = reference_log_softmax(z);
                let total: $T = y.iter().sum();
                let loss = -y
                    .iter()
                    .zip(&lp)
                    .map(|(&yi, &l)| f64::from(yi) * l)
                    .sum::<f64>() as $T;
                let grad: Vec<$T> = (0..n).map(|i| total * p[i] - y[i]).collect();
                let what = format!("cross-entropy at z = {z:?}, y = {y:?}");

                let (value, g) = cross_entropy_grad(&zv, &yv);
                assert_eq!(value, cross_entropy(&zv, &yv), "{what}: value");
                close(value, loss, TOL, &format!("{what}: value"));
                all_finite(g.as_slice(), &format!("{what}: gradient"));
                for i in 0..n {
                    if exact {
                        assert_eq!(g[i], grad[i], "{what}: gradient[{i}] = p − y exactly");
                    } else {
                        near(g[i], grad[i], TOL, &format!("{what}: gradient[{i}]"));
                    }
                }

                let (value2, g2) = cross_entropy_vjp(&zv, &yv, 2.0);
                assert_eq!(value2, value, "{what}: vjp value");
                for i in 0..n {
                    assert_eq!(g2[i], 2.0 * g[i], "{what}: vjp with upstream 2, [{i}]");
                }

                let t: Vec<$T> = (0..n).map(|i| [1.0, -2.0, 0.5, 3.0][i % 4]).collect();
                let tv = vector(&t);
                let (value_f, slope) = cross_entropy_jvp(&zv, &yv, &tv);
                assert_eq!(value_f, value, "{what}: jvp value");
                let expected_slope: $T = (0..n).map(|i| grad[i] * t[i]).sum();
                near(slope, expected_slope, 4.0 * TOL, &format!("{what}: jvp"));

                let h = cross_entropy_hessian(&zv, &yv);
                assert_eq!(h.shape(), (n, n), "{what}: Hessian shape");
                all_finite(h.as_slice(), &format!("{what}: Hessian"));
                for i in 0..n {
                    for j in 0..n {
                        let diag = if i == j { p[i] } else { 0.0 };
                        let expected = total * (diag - p[i] * p[j]);
                        near(h[(i, j)], expected, TOL, &format!("{what}: H[{i}][{j}]"));
                    }
                }
                let (value_h, g_h, hv) = cross_entropy_hvp(&zv, &yv, &tv);
                assert_eq!(value_h, value, "{what}: hvp value");
                assert_eq!(g_h, g, "{what}: hvp gradient");
                for i in 0..n {
                    let expected: $T = (0..n).map(|j| h[(i, j)] * t[j]).sum();
                    near(hv[i], expected, 8.0 * TOL, &format!("{what}: (H·v)[{i}]"));
                }
            }

            #[test]
            fn cross_entropy_with_logits_of_a_thousand_is_finite_and_exact() {
                // A row spread over 2000: softmax [1, 0, 0] exactly (e⁻¹⁰⁰⁰ underflows),
                // log-softmax [0, −2000, −1000], so the loss is 2000 and the gradient p − y is
                // [1, −1, 0], all exactly representable.
                check_cross_entropy(&[1e3, -1e3, 0.0], &[0.0, 1.0, 0.0], true);
                check_cross_entropy(&[1e3, -1e3, 0.0], &[0.0, 0.0, 1.0], true);
                // The confident right answer: loss 0, gradient 0.
                check_cross_entropy(&[1e3, -1e3, 0.0], &[1.0, 0.0, 0.0], true);
                // Two tied maxima: p = [0, ½, ½], loss 2000 + ln 2, gradient [−1, ½, ½].
                check_cross_entropy(&[-1e3, 1e3, 1e3], &[1.0, 0.0, 0.0], true);
                // All equal and very negative: p = ⅓ each, loss ln 3.
                check_cross_entropy(&[-1e3, -1e3, -1e3], &[0.0, 0.0, 1.0], false);
                // Soft labels, and labels that do not sum to 1 (gradient Σy·p − y).
                check_cross_entropy(&[1e3, 0.0, -1e3], &[0.25, 0.25, 0.5], true);
                check_cross_entropy(&[1e3, 1e3, -1e3], &[0.5, 1.0, 0.5], true);
            }

            #[test]
            fn cross_entropy_with_logits_of_ten_thousand_is_finite_and_exact() {
                check_cross_entropy(&[1e4, -1e4, 0.0], &[0.0, 1.0, 0.0], true);
                check_cross_entropy(&[-1e4, 1e4, 1e4], &[1.0, 0.0, 0.0], true);
                check_cross_entropy(&[1e4, -1e3, -1e4], &[0.0, 0.5, 0.5], true);
            }

            #[test]
            fn cross_entropy_is_shift_invariant_at_large_offsets() {
                // z = c + [1, 0, −1] has the softmax of [1, 0, −1] for every c; the integers
                // c ± 1 are exact in both types for |c| ≤ 1e4.
                for c in [1e3, -1e3, 1e4, -1e4] {
                    let z = [c + 1.0, c, c - 1.0];
                    check_cross_entropy(&z, &[0.2, 0.3, 0.5], false);
                    let (v_shifted, g_shifted) =
                        cross_entropy_grad(&vector(&z), &vector(&[0.2, 0.3, 0.5]));
                    let (v0, g0) =
                        cross_entropy_grad(&vector(&[1.0, 0.0, -1.0]), &vector(&[0.2, 0.3, 0.5]));
                    close(v_shifted, v0, TOL, &format!("shifted by {c}: loss"));
                    for i in 0..3 {
                        near(
                            g_shifted[i],
                            g0[i],
                            TOL,
                            &format!("shifted by {c}: gradient"),
                        );
                    }
                }
            }

            #[test]
            fn cross_entropy_of_matrix_rows_at_extreme_logits() {
                // Row 0: p = [1, 0, 0], label 1 → loss 2000, gradient [1, −1, 0].
                // Row 1: p = [0, ½, ½], label 0 → loss 2000 + ln 2, gradient [−1, ½, ½].
                let z = Matrix::from_rows(&[[1e3, -1e3, 0.0], [-1e3, 1e3, 1e3]]);
                let y = Matrix::from_rows(&[[0.0, 1.0, 0.0], [1.0, 0.0, 0.0]]);
                let (value, g) = cross_entropy_rows_grad(&z, &y);
                let expected = (4000.0 + std::f64::consts::LN_2) as $T;
                close(value, expected, TOL, "row cross-entropy");
                assert_eq!(g.as_slice(), &[1.0, -1.0, 0.0, -1.0, 0.5, 0.5]);
                let t = Matrix::from_rows(&[[1.0, 2.0, 3.0], [4.0, 2.0, -2.0]]);
                let (_, slope) = cross_entropy_rows_jvp(&z, &y, &t);
                // 1 − 2 + 0 − 4 + 1 − 1.
                assert_eq!(slope, -5.0);
                // Row 0's Hessian block is 0; row 1's is diag(p) − ppᵀ on its last two entries.
                let h = cross_entropy_rows_hessian(&z, &y);
                assert_eq!(h.shape(), (6, 6));
                for i in 0..6 {
                    for j in 0..6 {
                        let expected = match (i, j) {
                            (4, 4) | (5, 5) => 0.25,
                            (4, 5) | (5, 4) => -0.25,
                            _ => 0.0,
                        };
                        near(
                            h[(i, j)],
                            expected,
                            TOL,
                            &format!("row cross-entropy H[{i}][{j}]"),
                        );
                    }
                }
            }

            #[test]
            fn softmax_at_extreme_logits_is_exact_with_its_derivatives() {
                for c in [1e3, 1e4] {
                    // [c, c, −c]: p = [½, ½, 0]; Jacobian diag(p) − ppᵀ.
                    let z = vector(&[c, c, -c]);
                    let u = vector(&[1.0, 2.0, 3.0]);
                    let (p, g) = softmax_of_vjp(&z, &u);
                    assert_eq!(p.as_slice(), &[0.5, 0.5, 0.0], "softmax at {c}");
                    // p ⊙ (u − p·u) with p·u = 3/2.
                    assert_eq!(g.as_slice(), &[-0.25, 0.25, 0.0], "softmax vjp at {c}");
                    let (p_f, dp) = softmax_of_jvp(&z, &u);
                    assert_eq!(p_f, p);
                    assert_eq!(dp.as_slice(), &[-0.25, 0.25, 0.0], "softmax jvp at {c}");
                    let j = softmax_of_jacobian(&z);
                    assert_eq!(
                        j.as_slice(),
                        &[0.25, -0.25, 0.0, -0.25, 0.25, 0.0, 0.0, 0.0, 0.0],
                        "softmax Jacobian at {c}"
                    );

                    // [c, −c, 0]: p = [1, 0, 0], whose Jacobian is exactly 0.
                    let z = vector(&[c, -c, 0.0]);
                    let (p, g) = softmax_of_vjp(&z, &u);
                    assert_eq!(p.as_slice(), &[1.0, 0.0, 0.0]);
                    assert_eq!(g.as_slice(), &[0.0, 0.0, 0.0]);
                    let (_, dp) = softmax_of_jvp(&z, &u);
                    assert_eq!(dp.as_slice(), &[0.0, 0.0, 0.0]);
                    assert!(softmax_of_jacobian(&z).as_slice().iter().all(|&v| v == 0.0));

                    // Row by row.
                    let z = Matrix::from_rows(&[[c, c, -c], [-c, 0.0, c]]);
                    let u = Matrix::from_rows(&[[1.0, 2.0, 3.0], [1.0, 2.0, 3.0]]);
                    let (p, g) = softmax_rows_vjp(&z, &u);
                    assert_eq!(p.as_slice(), &[0.5, 0.5, 0.0, 0.0, 0.0, 1.0]);
                    assert_eq!(g.as_slice(), &[-0.25, 0.25, 0.0, 0.0, 0.0, 0.0]);
                    let (_, dp) = softmax_rows_jvp(&z, &u);
                    assert_eq!(dp.as_slice(), &[-0.25, 0.25, 0.0, 0.0, 0.0, 0.0]);
                }
            }

            #[test]
            fn softmax_of_a_large_shifted_row_matches_the_reference() {
                for c in [1e3, -1e3, 1e4, -1e4] {
                    let raw = [c + 2.0, c, c - 3.0, c + 0.5];
                    let z = vector(&raw);
                    let u = vector(&[0.5, -1.0, 2.0, 1.0]);
                    let p_ref = reference_softmax(&[2.0, 0.0, -3.0, 0.5]);
                    let pu: $T = (0..4).map(|i| p_ref[i] * u[i]).sum();
                    let (p, g) = softmax_of_vjp(&z, &u);
                    let (_, dp) = softmax_of_jvp(&z, &u);
                    for i in 0..4 {
                        close(p[i], p_ref[i], TOL, &format!("softmax at {c}: [{i}]"));
                        let expected = p_ref[i] * (u[i] - pu);
                        near(g[i], expected, TOL, &format!("softmax vjp at {c}: [{i}]"));
                        near(dp[i], expected, TOL, &format!("softmax jvp at {c}: [{i}]"));
                    }
                }
            }

            // ───────────────────────── sigmoid ─────────────────────────

            #[test]
            fn sigmoid_saturates_with_a_finite_derivative() {
                for x in $sig_big {
                    // σ(x) = 1 exactly, σ'(x) = σ(x)·σ(−x) = σ(−x) = e^(−x), tiny (subnormal in
                    // f32 at ±100, 0 in f64 at ±800), the same on both sides.
                    let small = reference_sigmoid(-f64::from(x)) as $T;
                    let (value, g) = sigmoid_of_grad(x);
                    assert_eq!(value, 1.0, "sigmoid at {x}");
                    near(g, small, <$T>::MIN_POSITIVE, &format!("sigmoid' at {x}"));
                    let (value, g) = sigmoid_of_grad(-x);
                    assert!(value.is_finite() && g.is_finite(), "sigmoid at −{x}");
                    near(
                        value,
                        small,
                        <$T>::MIN_POSITIVE,
                        &format!("sigmoid at −{x}"),
                    );
                    near(g, small, <$T>::MIN_POSITIVE, &format!("sigmoid' at −{x}"));
                    assert!(g >= 0.0, "sigmoid' at −{x} is {g}");
                    for x in [x, -x] {
                        let (value_f, slope) = sigmoid_of_jvp(x, 1.0);
                        assert_eq!(value_f, sigmoid_of(x));
                        near(
                            slope,
                            0.0,
                            <$T>::MIN_POSITIVE,
                            &format!("sigmoid jvp at {x}"),
                        );
                        let h = sigmoid_of_hessian(x);
                        near(
                            h[(0, 0)],
                            0.0,
                            <$T>::MIN_POSITIVE,
                            &format!("sigmoid'' at {x}"),
                        );
                        let (_, _, hv) = sigmoid_of_hvp(x, 1.0);
                        near(hv, 0.0, <$T>::MIN_POSITIVE, &format!("sigmoid hvp at {x}"));
                    }
                    // The tensor kernel: [x, −x, 0] → gradient [σ(−x), σ(−x), ¼], both tiny.
                    let (value, g) = sigmoid_sum_grad(&vector(&[x, -x, 0.0]));
                    close(value, 1.5, TOL, "Σσ");
                    all_finite(g.as_slice(), "∇Σσ");
                    assert_eq!(g[2], 0.25);
                    near(g[0], small, <$T>::MIN_POSITIVE, "∇Σσ at x");
                    near(g[1], small, <$T>::MIN_POSITIVE, "∇Σσ at −x");
                }
            }

            #[test]
            fn log_sigmoid_far_on_the_negative_side_is_finite() {
                // ln σ(x) = x − ln(1 + eˣ) ≈ x, and (ln σ)'(x) = 1 − σ(x) = σ(−x) ≈ 1, for
                // x where σ(x) is a normal number.
                for x in [$ls_x, -30.0, -10.0] {
                    let xf = f64::from(x);
                    let expected = (xf - xf.exp().ln_1p()) as $T;
                    let slope = reference_sigmoid(-xf) as $T;
                    let (value, g) = log_sigmoid_grad(x);
                    close(value, expected, TOL, &format!("ln σ({x})"));
                    close(g, slope, TOL, &format!("(ln σ)'({x})"));
                    let (value_f, dv) = log_sigmoid_jvp(x, 0.5);
                    assert_eq!(value_f, value);
                    close(dv, 0.5 * slope, TOL, &format!("ln σ jvp at {x}"));
                }
                // The other side: ln σ(x) ≈ −e^(−x) rounds to 0, and so does its derivative.
                let x = -$ls_x;
                let (value, g) = log_sigmoid_grad(x);
                near(value, 0.0, <$T>::EPSILON, &format!("ln σ({x})"));
                near(g, 0.0, <$T>::EPSILON, &format!("(ln σ)'({x})"));
            }

            /// `softplus(x) = ln(1 + eˣ)` and `ln σ(x) = −softplus(−x)` in `f64` from the
            /// stable form, `max(x, 0) + ln(1 + e^(−|x|))`.
            fn reference_softplus(x: f64) -> f64 {
                x.max(0.0) + (-x.abs()).exp().ln_1p()
            }

            #[test]
            fn softplus_and_log_sigmoid_are_finite_everywhere() {
                let big: $T = $stable_big;
                for x in [-big, -30.0, -1.0, 0.0, 1.0, 30.0, big] {
                    let xf = f64::from(x);
                    // softplus: value ln(1 + eˣ), derivative σ(x), second derivative σ(x)σ(−x).
                    let (value, slope) = softplus_of_grad(x);
                    let curvature = reference_sigmoid(xf) * reference_sigmoid(-xf);
                    close(
                        value,
                        reference_softplus(xf) as $T,
                        TOL,
                        &format!("softplus({x})"),
                    );
                    close(
                        slope,
                        reference_sigmoid(xf) as $T,
                        TOL,
                        &format!("softplus'({x})"),
                    );
                    let (_, tangent) = softplus_of_jvp(x, 0.5);
                    close(tangent, 0.5 * slope, TOL, &format!("softplus jvp at {x}"));
                    let h = softplus_of_hessian(x)[(0, 0)];
                    near(
                        h,
                        curvature as $T,
                        <$T>::EPSILON,
                        &format!("softplus''({x})"),
                    );
                    // ln σ: value −softplus(−x), derivative σ(−x), second derivative −σ(x)σ(−x).
                    let (value, slope) = log_sigmoid_of_grad(x);
                    let expected = -reference_softplus(-xf) as $T;
                    close(value, expected, TOL, &format!("log_sigmoid({x})"));
                    close(
                        slope,
                        reference_sigmoid(-xf) as $T,
                        TOL,
                        &format!("log_sigmoid'({x})"),
                    );
                    let h = log_sigmoid_of_hessian(x)[(0, 0)];
                    near(
                        h,
                        -curvature as $T,
                        <$T>::EPSILON,
                        &format!("log_sigmoid''({x})"),
                    );
                    // Spelled out as ln(σ(x)): the same stable value and derivative (the value
                    // was −∞ where σ(x) underflows).
                    let v = vector(&[x]);
                    let (spelled, g) = log_sigmoid_spelled_out_grad(&v);
                    close(spelled, expected, TOL, &format!("ln(σ({x}))"));
                    close(g[0], slope, TOL, &format!("ln(σ)'({x})"));
                }
                // Far out the values are exactly the asymptotes.
                same(softplus_of(big), big, "softplus(big)");
                same(log_sigmoid_of(-big), -big, "log_sigmoid(−big)");
                same(
                    log_sigmoid_spelled_out_grad(&vector(&[-big])).0,
                    -big,
                    "ln(σ(−big))",
                );
            }

            #[test]
            fn log_sigmoid_gradient_where_sigmoid_is_subnormal() {
                // σ(x) is subnormal but not 0, so ln σ(x) ≈ x is finite and correct; the
                // derivative 1 − σ(x) ≈ 1, but the chain rule computes ln_grad = 1/σ(x) = +∞
                // first, then ∞·σ(x)·(1 − σ(x)) = +∞.
                let x = $ls_sub;
                let (value, g) = log_sigmoid_grad(x);
                close(value, x, 1e-3, &format!("ln σ({x})"));
                close(g, 1.0, TOL, &format!("(ln σ)'({x})"));
                let (_, dv) = log_sigmoid_jvp(x, 1.0);
                close(dv, 1.0, TOL, &format!("ln σ jvp at {x}"));
            }

            #[test]
            fn log_sigmoid_hessian_far_on_the_negative_side() {
                // (ln σ)''(x) = −σ(x)·σ(−x) ≈ −eˣ: tiny and representable. The
                // forward-over-reverse program forms the second derivative of `ln` at σ(x) as
                // −1/σ(x)², which overflows to −∞ once σ(x) < √(1/MAX) (x < −354.9 in f64,
                // x < −44.4 in f32), so H·v is −∞ too.
                let x = $ls_hess;
                let xf = f64::from(x);
                let expected = -(reference_sigmoid(xf) * reference_sigmoid(-xf));
                let h = log_sigmoid_hessian(x);
                near(
                    h[(0, 0)],
                    expected as $T,
                    <$T>::EPSILON,
                    &format!("(ln σ)''({x})"),
                );
                let (_, _, hv) = log_sigmoid_hvp(x, 1.0);
                near(
                    hv,
                    expected as $T,
                    <$T>::EPSILON,
                    &format!("ln σ hvp at {x}"),
                );
            }

            #[test]
            fn sigmoid_derivative_where_sigmoid_rounds_to_one() {
                // σ'(x) = σ(x)·σ(−x) ≈ e^(−x) is a normal number, but 1 − σ(x) = 0 exactly once
                // σ(x) rounds to 1, so the kernel returns 0 (a relative error of 100%); σ'(−x)
                // is computed correctly.
                let x = $sig_one;
                let expected =
                    (reference_sigmoid(f64::from(x)) * reference_sigmoid(-f64::from(x))) as $T;
                assert!(expected > <$T>::MIN_POSITIVE);
                let (_, g_neg) = sigmoid_of_grad(-x);
                close(g_neg, expected, 1e-4, &format!("σ'(−{x})"));
                let (_, g) = sigmoid_of_grad(x);
                close(g, expected, 1e-4, &format!("σ'({x})"));
            }

            // ───────────────────────── exp, tanh, ln ─────────────────────────

            #[test]
            fn exp_just_below_overflow_is_finite_with_its_derivatives() {
                let x: $T = $exp_max;
                let expected = f64::from(x).exp() as $T;
                assert!(expected.is_finite());
                let (value, g) = exp_of_grad(x);
                close(value, expected, TOL, &format!("exp({x})"));
                close(g, expected, TOL, &format!("exp'({x})"));
                assert_eq!(g, value);
                let (_, g_half) = exp_of_vjp(x, 0.5);
                close(g_half, 0.5 * expected, TOL, "exp vjp with upstream ½");
                let (value_f, slope) = exp_of_jvp(x, -1.0);
                assert_eq!(value_f, value);
                assert_eq!(slope, -value);
                let h = exp_of_hessian(x);
                close(h[(0, 0)], expected, TOL, &format!("exp''({x})"));
                let (_, _, hv) = exp_of_hvp(x, 0.25);
                close(hv, 0.25 * expected, TOL, &format!("exp hvp at {x}"));
                // One more step overflows, as the true value does.
                assert_eq!(exp_of_grad(x + 1.0), (INF, INF));
            }

            #[test]
            fn tanh_at_plus_minus_a_thousand() {
                for x in [1e3, -1e3] {
                    let (value, g) = tanh_of_grad(x);
                    assert_eq!((value, g), (x.signum(), 0.0), "tanh at {x}");
                    assert_eq!(tanh_of_jvp(x, 1.0), (x.signum(), 0.0));
                    assert_eq!(tanh_of_hessian(x)[(0, 0)], 0.0, "tanh'' at {x}");
                    assert_eq!(tanh_of_hvp(x, 1.0), (x.signum(), 0.0, 0.0));
                }
                let x = vector(&[1e3, -1e3, 0.0]);
                let (y, g) = tanh_map_vjp(&x, &vector(&[1.0, 1.0, 1.0]));
                assert_eq!(y.as_slice(), &[1.0, -1.0, 0.0]);
                assert_eq!(g.as_slice(), &[0.0, 0.0, 1.0]);
                let j = tanh_map_jacobian(&x);
                assert_eq!(j.as_slice(), &[0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0]);
            }

            #[test]
            fn ln_at_a_tiny_positive_x() {
                let x: $T = $ln_tiny;
                let (value, g) = ln_of_grad(x);
                close(value, f64::from(x).ln() as $T, TOL, &format!("ln({x})"));
                close(g, (1.0 / f64::from(x)) as $T, TOL, &format!("ln'({x})"));
                let (_, slope) = ln_of_jvp(x, x);
                close(slope, 1.0, TOL, &format!("ln jvp at {x} along {x}"));
                // −1/x² is beyond the range here: −∞ is the correctly rounded value.
                assert_eq!(ln_of_hessian(x)[(0, 0)], -INF);
                // Where −1/x² is in range it is finite and right.
                let x: $T = $ln_tiny_h;
                let expected = (-1.0 / (f64::from(x) * f64::from(x))) as $T;
                close(
                    ln_of_hessian(x)[(0, 0)],
                    expected,
                    TOL,
                    &format!("ln''({x})"),
                );
                let (_, g, hv) = ln_of_hvp(x, 1.0);
                close(g, (1.0 / f64::from(x)) as $T, TOL, &format!("ln'({x})"));
                close(hv, expected, TOL, &format!("ln hvp at {x}"));
            }

            // ───────────────────────── kinks and poles ─────────────────────────

            #[test]
            fn powers_at_the_ends_of_i32_have_exact_derivatives() {
                // n·x^(n−1) and n·(n−1)·x^(n−2), worked by hand: at 2 and ½, x^(n−1) under- or
                // overflows to a zero or an infinity with n's sign (n·(n−1) > 0 for the second
                // derivative); at ±1 it is exact, with the sign (−1)^(n−1). n − 1 and n − 2 are
                // outside i32 for i32::MIN: the macro once panicked on them, and a release
                // build gave −∞ at 2 where the derivative is −0.
                let (min, max) = (-2147483648.0f64, 2147483647.0f64);
                let min_cases = [
                    (2.0, -0.0, 0.0),
                    (0.5, -f64::INFINITY, f64::INFINITY),
                    (1.0, min, min * (min - 1.0)),
                    (-1.0, -min, min * (min - 1.0)),
                ];
                let max_cases = [
                    (2.0, f64::INFINITY, f64::INFINITY),
                    (0.5, 0.0, 0.0),
                    (1.0, max, max * (max - 1.0)),
                    (-1.0, max, -max * (max - 1.0)),
                ];
                type Derivatives = (fn($T) -> ($T, $T), fn($T, $T) -> ($T, $T, $T));
                let functions: [(&str, Derivatives, [(f64, f64, f64); 4]); 2] = [
                    (
                        "x^i32::MIN",
                        (power_of_i32_min_grad, power_of_i32_min_hvp),
                        min_cases,
                    ),
                    (
                        "x^i32::MAX",
                        (power_of_i32_max_grad, power_of_i32_max_hvp),
                        max_cases,
                    ),
                ];
                for (name, (grad, hvp), cases) in functions {
                    for (x, slope, curvature) in cases {
                        let (slope, curvature) = (slope as $T, curvature as $T);
                        let x = x as $T;
                        let exact = |got: $T, want: $T, what: &str| {
                            assert!(
                                got == want && got.is_sign_negative() == want.is_sign_negative(),
                                "{what} of {name} at {x}: got {got:?}, want {want:?}"
                            );
                        };
                        exact(grad(x).1, slope, "gradient");
                        let (_, g, h) = hvp(x, 1.0);
                        exact(g, slope, "hvp's gradient");
                        exact(h, curvature, "hvp");
                    }
                }
            }

            #[test]
            fn sqrt_at_zero_has_value_zero_and_an_infinite_derivative() {
                // √x at 0: value 0, derivative 1/(2·√0) = 1/0 = +∞ (not NaN); forward mode
                // gives +∞ along a positive tangent and NaN (0/0) along a zero tangent.
                assert_eq!(sqrt_of_grad(0.0), (0.0, INF));
                assert_eq!(sqrt_of_grad(-0.0).1, -INF, "√−0 = −0, so 1/(2·−0) = −∞");
                assert_eq!(sqrt_of_jvp(0.0, 1.0), (0.0, INF));
                assert_eq!(sqrt_of_jvp(0.0, -1.0), (0.0, -INF));
                let (value, slope) = sqrt_of_jvp(0.0, 0.0);
                assert_eq!(value, 0.0);
                assert!(slope.is_nan(), "0/0 along a zero tangent: {slope}");
                // The second derivative −¼·x^(−3/2) is −∞ too.
                let h = sqrt_of_hessian(0.0);
                same(h[(0, 0)], -INF, "sqrt'' at 0");
                // Just above 0 everything is finite: √x = 1e-150 (f64) or 1e-15 (f32).
                let x: $T = $ln_tiny_h * $ln_tiny_h;
                let (value, g) = sqrt_of_grad(x);
                close(value, $ln_tiny_h, 1e-5, "√ of a tiny x");
                close(g, 0.5 / $ln_tiny_h, 1e-5, "√' of a tiny x");
                // A Euclidean norm at the origin: ‖x‖ = 0 and its gradient is
                // (1/(2·0))·2x = ∞·0 = NaN in every entry.
                let (value, g) = norm_grad(&vector(&[0.0, 0.0]));
                assert_eq!(value, 0.0);
                assert!(g.as_slice().iter().all(|v| v.is_nan()), "∇‖x‖ at 0: {g:?}");
            }

            #[test]
            fn relu_and_abs_at_zero_have_derivative_zero() {
                for x in [0.0, -0.0] {
                    assert_eq!(relu_of_grad(x), (0.0, 0.0), "relu at {x}");
                    assert_eq!(relu_of_jvp(x, 1.0), (0.0, 0.0), "relu jvp at {x}");
                    assert_eq!(relu_of_hessian(x)[(0, 0)], 0.0);
                    assert_eq!(relu_of_hvp(x, 1.0), (0.0, 0.0, 0.0));
                    assert_eq!(abs_of_grad(x), (0.0, 0.0), "abs at {x}");
                    assert_eq!(abs_of_jvp(x, 1.0), (0.0, 0.0), "abs jvp at {x}");
                    assert_eq!(abs_of_hessian(x)[(0, 0)], 0.0);
                    assert_eq!(abs_of_hvp(x, 1.0), (0.0, 0.0, 0.0));
                }
                // Tensors: relu' + abs' = [0, 0, 1 + 1, 0 − 1].
                let (value, g) = relu_plus_abs_grad(&vector(&[0.0, -0.0, 1.0, -1.0]));
                assert_eq!(value, 3.0);
                assert_eq!(g.as_slice(), &[0.0, 0.0, 2.0, -1.0]);
            }

            // ───────────────────────── NaN and Inf ─────────────────────────

            #[test]
            fn nan_and_inf() {
                // NaN in, NaN out: value and derivatives.
                for (what, (v, g)) in [
                    ("exp", exp_of_grad(NAN)),
                    ("ln", ln_of_grad(NAN)),
                    ("sqrt", sqrt_of_grad(NAN)),
                    ("tanh", tanh_of_grad(NAN)),
                    ("sigmoid", sigmoid_of_grad(NAN)),
                ] {
                    assert!(v.is_nan() && g.is_nan(), "{what}(NaN) = ({v}, {g})");
                }
                let (v, dv) = exp_of_jvp(NAN, 1.0);
                assert!(v.is_nan() && dv.is_nan());
                assert!(exp_of_hessian(NAN)[(0, 0)].is_nan());
                // ...except through the kinks, whose comparisons are false for NaN: relu(NaN) is
                // 0 with derivative 0 (NaN is dropped), |NaN| is NaN with derivative 0.
                assert_eq!(relu_of_grad(NAN), (0.0, 0.0));
                let (v, g) = abs_of_grad(NAN);
                assert!(v.is_nan());
                assert_eq!(g, 0.0);
                // A NaN in a softmax row makes the whole row NaN, gradient too.
                let (p, g) = softmax_of_vjp(&vector(&[NAN, 0.0, 1.0]), &vector(&[1.0, 0.0, 0.0]));
                assert!(p.as_slice().iter().chain(g.as_slice()).all(|v| v.is_nan()));

                // Infinite inputs follow the limits of the function and its derivative.
                assert_eq!(exp_of_grad(INF), (INF, INF));
                assert_eq!(exp_of_grad(-INF), (0.0, 0.0));
                assert_eq!(sigmoid_of_grad(INF), (1.0, 0.0));
                assert_eq!(sigmoid_of_grad(-INF), (0.0, 0.0));
                assert_eq!(tanh_of_grad(INF), (1.0, 0.0));
                assert_eq!(tanh_of_grad(-INF), (-1.0, 0.0));
                assert_eq!(ln_of_grad(INF), (INF, 0.0));
                assert_eq!(ln_of_grad(0.0), (-INF, INF));
                assert_eq!(sqrt_of_grad(INF), (INF, 0.0));
                assert_eq!(relu_of_grad(INF), (INF, 1.0));
                assert_eq!(relu_of_grad(-INF), (0.0, 0.0));
                assert_eq!(abs_of_grad(-INF), (INF, -1.0));

                // Outside the domain: the value is NaN but the derivative formula does not
                // look at the domain, so ln'(−1) = 1/(−1) = −1 is finite; √ reads its NaN
                // output, so its derivative is NaN.
                let (v, g) = ln_of_grad(-1.0);
                assert!(v.is_nan());
                assert_eq!(g, -1.0);
                let (v, g) = sqrt_of_grad(-1.0);
                assert!(v.is_nan() && g.is_nan());

                // 0·∞ in the product rule: the value is NaN, and each partial derivative is
                // the other factor (∂/∂a = b = ∞, ∂/∂b = a = 0), so it is not NaN.
                let (v, (da, db)) = product_grad(0.0, INF);
                assert!(v.is_nan());
                assert_eq!((da, db), (INF, 0.0));
                let (v, dv) = product_jvp(0.0, INF, 1.0, 1.0);
                assert!(v.is_nan());
                same(dv, INF, "d(a·b) = b·da + a·db = ∞ + 0");
                let (_, dv) = product_jvp(0.0, INF, 1.0, 0.0);
                same(dv, INF, "b·da + a·0");
                let (_, dv) = product_jvp(0.0, INF, 0.0, 1.0);
                assert!(dv.is_nan(), "b·0 = ∞·0 = NaN along a zero tangent: {dv}");

                // Softmax with +∞ logit: ∞ − ∞ = NaN, the whole row is NaN.
                let p = softmax_of(&vector(&[INF, 0.0, 0.0]));
                assert!(p.as_slice().iter().all(|v| v.is_nan()), "{p:?}");
                // With a −∞ logit (a mask): that entry is 0, the rest is the softmax of the
                // others, derivatives finite.
                let z = vector(&[-INF, 0.0, 0.0]);
                let (p, g) = softmax_of_vjp(&z, &vector(&[3.0, 1.0, 2.0]));
                assert_eq!(p.as_slice(), &[0.0, 0.5, 0.5]);
                assert_eq!(g.as_slice(), &[0.0, -0.25, 0.25]);
                // Cross-entropy with a masked logit: log-softmax is −∞ there, so y·lp is
                // 0·(−∞) = NaN and the loss is NaN, yet the gradient p − y stays finite.
                let (v, g) = cross_entropy_grad(&z, &vector(&[0.0, 1.0, 0.0]));
                assert!(v.is_nan(), "loss {v}");
                assert_eq!(g.as_slice(), &[0.0, -0.5, 0.5]);
            }
        }
    };
}

numerics_tests!(
    f64_numerics, f64,
    tol: 1e-12,
    sigmoid_big: [800.0, 1e4],
    exp_max: 709.0,
    ln_tiny: 1e-300,
    ln_tiny_hessian: 1e-150,
    log_sigmoid_x: -700.0,
    log_sigmoid_subnormal_x: -720.0,
    log_sigmoid_hessian_x: -400.0,
    sigmoid_rounds_to_one: 40.0,
    stable_big: 800.0,
);

numerics_tests!(
    f32_numerics, f32,
    tol: 2e-6,
    sigmoid_big: [100.0, 800.0],
    exp_max: 88.0,
    ln_tiny: 1e-30,
    ln_tiny_hessian: 1e-15,
    log_sigmoid_x: -80.0,
    log_sigmoid_subnormal_x: -95.0,
    log_sigmoid_hessian_x: -50.0,
    sigmoid_rounds_to_one: 20.0,
    stable_big: 80.0,
);

/// Logits beyond ±1e4, only representable with room to spare in `f64`.
mod f64_only {
    use super::*;

    #[differentiable(wrt(z))]
    fn cross_entropy(z: &Vector<f64>, y: &Vector<f64>) -> f64 {
        -(y * &z.log_softmax()).sum()
    }

    #[test]
    fn cross_entropy_with_logits_of_1e300() {
        // Differences of 2e300 are still finite: p = [1, 0, 0] exactly, loss 2e300.
        let z = Vector::from_vec(vec![1e300, -1e300, 0.0]);
        let (value, g) = cross_entropy_grad(&z, &Vector::from_vec(vec![0.0, 1.0, 0.0]));
        assert_eq!(value, 2e300);
        assert_eq!(g.as_slice(), &[1.0, -1.0, 0.0]);
        let h = cross_entropy_hessian(&z, &Vector::from_vec(vec![0.0, 1.0, 0.0]));
        assert!(h.as_slice().iter().all(|&v| v == 0.0), "{h:?}");
    }
}
