//! Textbook spellings of stable functions (issue 20): `ln(1 + exp(u))`, `1/(1 + exp(−u))`,
//! `exp(u)/(1 + exp(u))`, `ln(1 − σ(u))`, `exp(u)/Σexp(u)` (also shifted by the maximum) and
//! `u − ln Σexp(u)`, `ln Σexp(u)` are differentiated as softplus, σ, log σ, softmax, log-softmax
//! and a log-sum-exp shifted by the maximum: the same
//! derivatives as the named functions at ordinary inputs (checked against hand derivations and
//! central differences), and finite, correct values and derivatives where the spelled-out
//! formula overflows or cancels. f32 and f64.

use autodiff::prelude::*;

macro_rules! spelling_tests {
    ($module:ident, $T:ident, tol: $tol:expr, big: $big:expr) => {
        mod $module {
            use super::*;

            const TOL: $T = $tol;
            /// Far enough out that exp(big) overflows.
            const BIG: $T = $big;

            fn close(a: $T, b: $T) -> bool {
                (a - b).abs() <= TOL * (1.0 + b.abs())
            }

            fn all_close(a: &Vector<$T>, b: &[$T]) -> bool {
                a.len() == b.len() && a.as_slice().iter().zip(b).all(|(&x, &y)| close(x, y))
            }

            fn sigmoid(x: $T) -> $T {
                if x >= 0.0 {
                    1.0 / (1.0 + (-x).exp())
                } else {
                    x.exp() / (1.0 + x.exp())
                }
            }

            fn softplus(x: $T) -> $T {
                x.max(0.0) + (-x.abs()).exp().ln_1p()
            }

            #[differentiable]
            fn softplus_spelled(x: &Vector<$T>) -> $T {
                (1.0 + x.exp()).ln().sum()
            }

            #[differentiable]
            fn sigmoid_spelled(x: &Vector<$T>) -> $T {
                (1.0 / (1.0 + (-x).exp())).sum()
            }

            #[differentiable]
            fn sigmoid_as_a_ratio(x: &Vector<$T>) -> $T {
                let e = x.exp();
                (&e / (&e + 1.0)).sum()
            }

            #[differentiable]
            fn log_one_minus_sigmoid(x: &Vector<$T>) -> $T {
                (1.0 - x.sigmoid()).ln().sum()
            }

            #[differentiable(wrt(x))]
            fn softmax_spelled(x: &Vector<$T>, c: &Vector<$T>) -> $T {
                let e = x.exp();
                let p = &e / e.sum();
                p.dot(c)
            }

            #[differentiable(wrt(x))]
            fn softmax_shifted(x: &Vector<$T>, c: &Vector<$T>) -> $T {
                let e = (x - x.max()).exp();
                let p = &e / e.sum();
                p.dot(c)
            }

            #[differentiable(wrt(x))]
            fn log_softmax_spelled(x: &Vector<$T>, c: &Vector<$T>) -> $T {
                let lp = x - x.exp().sum().ln();
                lp.dot(c)
            }

            #[differentiable]
            fn log_sum_exp_spelled(x: &Vector<$T>) -> $T {
                x.exp().sum().ln()
            }

            #[differentiable]
            fn log_sum_exp_of_a_matrix(m: &Matrix<$T>) -> $T {
                m.exp().sum().ln()
            }

            /// log-softmax through a log-sum-exp a careful hand writes stably.
            #[differentiable(wrt(x))]
            fn log_softmax_stably_spelled(x: &Vector<$T>, c: &Vector<$T>) -> $T {
                let m = x.max();
                let lse = m + (x - m).exp().sum().ln();
                (x - lse).dot(c)
            }

            #[differentiable(wrt(x))]
            fn softmax_named(x: &Vector<$T>, c: &Vector<$T>) -> $T {
                x.softmax().dot(c)
            }

            #[differentiable(wrt(x))]
            fn log_softmax_named(x: &Vector<$T>, c: &Vector<$T>) -> $T {
                x.log_softmax().dot(c)
            }

            fn v(data: &[$T]) -> Vector<$T> {
                Vector::from_vec(data.to_vec())
            }

            #[test]
            fn softplus_and_sigmoid_spellings_are_stable() {
                let x = v(&[BIG, -BIG, 0.5, -1.5]);
                // d/dx Σ softplus(x) = σ(x), by hand.
                let (value, grad) = softplus_spelled_grad(&x);
                let want: $T = x.as_slice().iter().map(|&t| softplus(t)).sum();
                assert!(close(value, want), "{value} vs {want}");
                let sig: Vec<$T> = x.as_slice().iter().map(|&t| sigmoid(t)).collect();
                assert!(all_close(&grad, &sig), "{grad:?}");
                // d/dx Σ σ(x) = σ(x)·σ(−x).
                let slope: Vec<$T> = x
                    .as_slice()
                    .iter()
                    .map(|&t| sigmoid(t) * sigmoid(-t))
                    .collect();
                for (value, grad) in [sigmoid_spelled_grad(&x), sigmoid_as_a_ratio_grad(&x)] {
                    let want: $T = sig.iter().sum();
                    assert!(close(value, want), "{value} vs {want}");
                    assert!(all_close(&grad, &slope), "{grad:?}");
                }
                // ln(1 − σ(x)) = log σ(−x): −x where 1 − σ(x) would cancel to 0; derivative −σ(x).
                let (value, grad) = log_one_minus_sigmoid_grad(&x);
                let want: $T = x.as_slice().iter().map(|&t| -softplus(t)).sum();
                assert!(close(value, want), "{value} vs {want}");
                let minus_sig: Vec<$T> = sig.iter().map(|s| -s).collect();
                assert!(all_close(&grad, &minus_sig), "{grad:?}");
                // The Hessians are diagonal and finite: σ(x)σ(−x) for softplus.
                let h = softplus_spelled_hessian(&x);
                for i in 0..4 {
                    assert!(close(h[(i, i)], slope[i]), "{h:?}");
                }
            }

            #[test]
            fn softmax_spellings_are_stable_and_match_the_named_ones() {
                let c = v(&[1.0, -2.0, 0.5]);
                for x in [v(&[0.3, -1.2, 2.0]), v(&[BIG, 0.0, -BIG])] {
                    let named = softmax_named_grad(&x, &c);
                    for (value, grad) in
                        [softmax_spelled_grad(&x, &c), softmax_shifted_grad(&x, &c)]
                    {
                        assert!(value.is_finite() && close(value, named.0), "{value}");
                        assert!(
                            all_close(&grad, named.1.as_slice()),
                            "{grad:?} vs {:?}",
                            named.1
                        );
                    }
                    let named = log_softmax_named_grad(&x, &c);
                    let (value, grad) = log_softmax_spelled_grad(&x, &c);
                    assert!(
                        value.is_finite() && close(value, named.0),
                        "{value} vs {}",
                        named.0
                    );
                    assert!(all_close(&grad, named.1.as_slice()), "{grad:?}");
                }
                // At the far inputs, softmax is (1, 0, 0): the generated value is c₀. The
                // function itself is the user's code as written, so it overflows there.
                let far = v(&[BIG, 0.0, -BIG]);
                assert!(close(softmax_spelled_grad(&far, &c).0, 1.0));
                assert!(softmax_spelled(&far, &c).is_nan());
            }

            /// ln Σeˣ by hand, shifted by the maximum: finite at any input.
            fn log_sum_exp(x: &[$T]) -> $T {
                let m = x.iter().copied().fold(<$T>::NEG_INFINITY, <$T>::max);
                m + x.iter().map(|&t| (t - m).exp()).sum::<$T>().ln()
            }

            #[test]
            fn log_sum_exp_spellings_are_stable() {
                let c = v(&[1.0, -2.0, 0.5]);
                for x in [
                    v(&[0.3, -1.2, 2.0]),
                    v(&[BIG, 0.0, -BIG]),
                    v(&[BIG, BIG, 1.0]),
                ] {
                    // d/dx ln Σeˣ = softmax(x), by hand.
                    let (value, grad) = log_sum_exp_spelled_grad(&x);
                    let want = log_sum_exp(x.as_slice());
                    assert!(value.is_finite() && close(value, want), "{value} vs {want}");
                    let softmax: Vec<$T> = x.as_slice().iter().map(|&t| (t - want).exp()).collect();
                    assert!(all_close(&grad, &softmax), "{grad:?} vs {softmax:?}");
                    // Its Hessian diag(p) − p·pᵀ, finite.
                    let h = log_sum_exp_spelled_hessian(&x);
                    for i in 0..3 {
                        for j in 0..3 {
                            let d = if i == j { softmax[i] } else { 0.0 };
                            let want = d - softmax[i] * softmax[j];
                            assert!((h[(i, j)] - want).abs() <= TOL, "{h:?}");
                        }
                    }
                    // Over all of a matrix's entries.
                    let m = Matrix::from_vec(1, 3, x.as_slice().to_vec());
                    let (value, grad) = log_sum_exp_of_a_matrix_grad(&m);
                    assert!(close(value, want), "{value} vs {want}");
                    assert!(all_close(
                        &Vector::from_vec(grad.as_slice().to_vec()),
                        &softmax
                    ));
                    // The stable spelling inside a log-softmax is the log-softmax.
                    let named = log_softmax_named_grad(&x, &c);
                    let (value, grad) = log_softmax_stably_spelled_grad(&x, &c);
                    assert!(close(value, named.0), "{value} vs {}", named.0);
                    assert!(all_close(&grad, named.1.as_slice()), "{grad:?}");
                }
                // The function itself is the user's code: it overflows where its gradient
                // function's value does not.
                assert!(log_sum_exp_spelled(&v(&[BIG, 0.0])).is_infinite());
            }

            #[test]
            fn the_spellings_pass_gradcheck_at_ordinary_inputs() {
                let x = v(&[0.3, -1.2, 2.0]);
                let c = v(&[1.0, -2.0, 0.5]);
                let tol = if TOL > 1e-9 { 1e-2 } else { 1e-6 };
                softplus_spelled_gradcheck(&x).assert_within(tol);
                sigmoid_spelled_gradcheck(&x).assert_within(tol);
                sigmoid_as_a_ratio_gradcheck(&x).assert_within(tol);
                log_one_minus_sigmoid_gradcheck(&x).assert_within(tol);
                softmax_spelled_gradcheck(&x, &c).assert_within(tol);
                softmax_shifted_gradcheck(&x, &c).assert_within(tol);
                log_softmax_spelled_gradcheck(&x, &c).assert_within(tol);
                log_sum_exp_spelled_gradcheck(&x).assert_within(tol);
                log_softmax_stably_spelled_gradcheck(&x, &c).assert_within(tol);
            }

            #[test]
            fn derivations_read_as_the_stable_functions() {
                // σ, not exp(x)/(1 + exp(x)); softmax's own pullback, not the quotient rule.
                let softplus = softplus_spelled_derivation();
                assert!(
                    softplus.contains("sigmoid(x)") && !softplus.contains("exp"),
                    "{softplus}"
                );
                let softmax = softmax_spelled_derivation();
                assert!(
                    softmax.ends_with("dx = p ⊙ (dp − sum(dp ⊙ p))"),
                    "{softmax}"
                );
            }
        }
    };
}

spelling_tests!(f64_spellings, f64, tol: 1e-12, big: 800.0);
spelling_tests!(f32_spellings, f32, tol: 1e-5, big: 100.0);

/// B2 as its definition reads, Σ ln(1 + exp(−y ⊙ X·w)) + ½λ‖w‖², and as the benchmark writes it
/// stably: the same value, gradient and Hessian, bit for bit, also where margins fall below
/// −709 and the spelled-out value overflows.
mod logistic {
    use super::*;

    #[differentiable(wrt(w))]
    fn literal(x: &Matrix<f64>, w: &Vector<f64>, y: &Vector<f64>) -> f64 {
        (1.0 + (-(y * x.matmul(w))).exp()).ln().sum() + 0.05 * w.dot(w)
    }

    #[differentiable(wrt(w))]
    fn stable(x: &Matrix<f64>, w: &Vector<f64>, y: &Vector<f64>) -> f64 {
        -(y * x.matmul(w)).sigmoid().ln().sum() + 0.05 * w.dot(w)
    }

    #[test]
    fn the_literal_spelling_is_the_stable_one() {
        let x = Matrix::from_rows(&[[1.0, 0.5, -0.2], [-0.3, 2.0, 0.4], [0.7, -1.0, 1.5]]);
        let y = Vector::from_vec(vec![1.0, -1.0, 1.0]);
        for scale in [0.1, 1000.0] {
            let w = Vector::from_vec(vec![0.4 * scale, -0.3 * scale, -0.8 * scale]);
            let (value, grad) = literal_grad(&x, &w, &y);
            assert!(value.is_finite(), "{value}");
            assert_eq!((value, grad.clone()), stable_grad(&x, &w, &y));
            assert_eq!(literal_hessian(&x, &w, &y), stable_hessian(&x, &w, &y));
        }
        literal_gradcheck(&x, &Vector::from_vec(vec![0.4, -0.3, -0.8]), &y).assert_within(1e-6);
    }
}
