//! `f_hvp` through the macro: Hessian-vector products against closed forms worked by hand, in
//! f32 and f64.

use autodiff::prelude::*;

macro_rules! hvp_tests {
    ($module:ident, $T:ident, $tol:expr) => {
        mod $module {
            use super::*;

            /// L(w) = Σ ln(1 + exp(−y ⊙ (X·w))) + ½λ‖w‖², with ln(1 + e^(−m)) = −ln σ(m).
            #[differentiable(wrt(w))]
            fn logistic(x: &Matrix<$T>, w: &Vector<$T>, y: &Vector<$T>) -> $T {
                let margins = y * &x.matmul(w);
                let loss = -margins.sigmoid().ln().sum() + 0.05 * w.dot(w);
                loss
            }

            #[differentiable]
            fn quadratic(x: &Vector<$T>) -> $T {
                let a = x.powi(3).sum();
                a * 0.5 + x.dot(x)
            }

            fn data() -> (Matrix<$T>, Vector<$T>, Vector<$T>) {
                let x = Matrix::from_fn(6, 3, |i, j| ((i * 3 + j) as $T * 0.37).sin());
                let w = Vector::from_vec(vec![0.3, -0.2, 0.5]);
                let y = Vector::from_vec(vec![1.0, -1.0, 1.0, 1.0, -1.0, 1.0]);
                (x, w, y)
            }

            #[test]
            fn logistic_hessian_columns_match_the_closed_form() {
                let (x, w, y) = data();
                // H = Xᵀ·diag(s ⊙ (1 − s))·X + λI, s = σ(y ⊙ X·w), λ = 0.1.
                let weights: Vec<$T> = (0..6)
                    .map(|k| {
                        let m = y[k] * (0..3).map(|j| x[(k, j)] * w[j]).sum::<$T>();
                        let s = 1.0 / (1.0 + (-m).exp());
                        s * (1.0 - s)
                    })
                    .collect();
                for j in 0..3 {
                    let mut e = Vector::zeros(3);
                    e[j] = 1.0;
                    let (value, gradient, column) = logistic_hvp(&x, &w, &y, &e);
                    assert_eq!(value, logistic(&x, &w, &y));
                    assert_eq!(gradient, logistic_grad(&x, &w, &y).1);
                    for i in 0..3 {
                        let expected: $T = (0..6)
                            .map(|k| x[(k, i)] * weights[k] * x[(k, j)])
                            .sum::<$T>()
                            + if i == j { 0.1 } else { 0.0 };
                        assert!(
                            (column[i] - expected).abs() <= $tol * expected.abs().max(1.0),
                            "H[{i}][{j}]: {} vs {expected}",
                            column[i]
                        );
                    }
                }
            }

            #[test]
            fn hessian_of_a_cubic_is_diagonal() {
                // f = ½Σx³ + xᵀx: H = diag(3x) + 2I, so H·v = 3x ⊙ v + 2v.
                let x = Vector::from_vec(vec![0.5, -1.0, 2.0]);
                let v = Vector::from_vec(vec![1.0, 2.0, -1.0]);
                let (_, _, hv) = quadratic_hvp(&x, &v);
                let expected = [3.0 * 0.5 * 1.0 + 2.0, -6.0 + 4.0, -6.0 - 2.0];
                for i in 0..3 {
                    assert!(
                        (hv[i] - expected[i]).abs() <= $tol,
                        "{i}: {} vs {}",
                        hv[i],
                        expected[i]
                    );
                }
            }
        }
    };
}

hvp_tests!(f64_hvp, f64, 1e-12);
hvp_tests!(f32_hvp, f32, 2e-5);
