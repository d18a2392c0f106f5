//! argmin's math traits for [`Vector`] and [`Matrix`], f32 and f64: what its gradient-based
//! solvers ask of a parameter (vector arithmetic, dot products, norms), of a gradient (the
//! same), and of a Hessian or an inverse-Hessian estimate (products with vectors and matrices,
//! transposes, the identity, an inverse). Elementwise operations are by entry; `dot` of two
//! vectors is the inner product, or the outer product where argmin asks for a matrix (BFGS).
//!
//! These run once or a few times per solver iteration, beside a gradient evaluation, so they
//! are plain loops over the buffers; products go through GEMM, the inverse through LU.

use argmin::core::Error;
use argmin_math::{
    ArgminAdd, ArgminConj, ArgminDiv, ArgminDot, ArgminEye, ArgminInv, ArgminL1Norm, ArgminL2Norm,
    ArgminMinMax, ArgminMul, ArgminSignum, ArgminSub, ArgminTranspose, ArgminZeroLike,
};

use crate::tensor::{Matrix, Real, Vector};

/// `f(aᵢ, bᵢ)` entry by entry. Panics if the lengths differ (argmin's traits have no error
/// path; every solver passes vectors of the problem's one length).
#[track_caller]
fn zip_with<T: Real>(a: &[T], b: &[T], op: &str, f: impl Fn(T, T) -> T) -> Vec<T> {
    assert!(
        a.len() == b.len(),
        "autodiff: argmin's `{op}` of {} and {} entries",
        a.len(),
        b.len()
    );
    a.iter().zip(b).map(|(&x, &y)| f(x, y)).collect()
}

fn map<T: Real>(a: &[T], f: impl Fn(T) -> T) -> Vec<T> {
    a.iter().map(|&x| f(x)).collect()
}

fn vector<T>(data: Vec<T>) -> Vector<T> {
    Vector::from_vec(data)
}

fn matrix_like<T>(shape: &Matrix<T>, data: Vec<T>) -> Matrix<T> {
    Matrix::from_vec(shape.rows(), shape.cols(), data)
}

macro_rules! argmin_math_for {
    ($t:ty) => {
        // ---- Vector ⊕ Vector, Vector ⊕ scalar: by entry.
        impl ArgminAdd<Vector<$t>, Vector<$t>> for Vector<$t> {
            fn add(&self, other: &Vector<$t>) -> Vector<$t> {
                vector(zip_with(
                    self.as_slice(),
                    other.as_slice(),
                    "add",
                    |a, b| a + b,
                ))
            }
        }
        impl ArgminAdd<$t, Vector<$t>> for Vector<$t> {
            fn add(&self, other: &$t) -> Vector<$t> {
                vector(map(self.as_slice(), |a| a + *other))
            }
        }
        impl ArgminSub<Vector<$t>, Vector<$t>> for Vector<$t> {
            fn sub(&self, other: &Vector<$t>) -> Vector<$t> {
                vector(zip_with(
                    self.as_slice(),
                    other.as_slice(),
                    "sub",
                    |a, b| a - b,
                ))
            }
        }
        impl ArgminSub<$t, Vector<$t>> for Vector<$t> {
            fn sub(&self, other: &$t) -> Vector<$t> {
                vector(map(self.as_slice(), |a| a - *other))
            }
        }
        impl ArgminMul<Vector<$t>, Vector<$t>> for Vector<$t> {
            fn mul(&self, other: &Vector<$t>) -> Vector<$t> {
                vector(zip_with(
                    self.as_slice(),
                    other.as_slice(),
                    "mul",
                    |a, b| a * b,
                ))
            }
        }
        impl ArgminMul<$t, Vector<$t>> for Vector<$t> {
            fn mul(&self, other: &$t) -> Vector<$t> {
                vector(map(self.as_slice(), |a| a * *other))
            }
        }
        // scalar·vector: with the two above, argmin's own `scaled_add`/`scaled_sub`
        // (self ± factor·vec) follow.
        impl ArgminMul<Vector<$t>, Vector<$t>> for $t {
            fn mul(&self, other: &Vector<$t>) -> Vector<$t> {
                vector(map(other.as_slice(), |b| *self * b))
            }
        }
        impl ArgminDiv<Vector<$t>, Vector<$t>> for Vector<$t> {
            fn div(&self, other: &Vector<$t>) -> Vector<$t> {
                vector(zip_with(
                    self.as_slice(),
                    other.as_slice(),
                    "div",
                    |a, b| a / b,
                ))
            }
        }
        impl ArgminDiv<$t, Vector<$t>> for Vector<$t> {
            fn div(&self, other: &$t) -> Vector<$t> {
                vector(map(self.as_slice(), |a| a / *other))
            }
        }
        // ---- Products: inner (a scalar) and outer (a matrix, BFGS's update).
        impl ArgminDot<Vector<$t>, $t> for Vector<$t> {
            fn dot(&self, other: &Vector<$t>) -> $t {
                zip_with(self.as_slice(), other.as_slice(), "dot", |a, b| a * b)
                    .into_iter()
                    .sum()
            }
        }
        impl ArgminDot<Vector<$t>, Matrix<$t>> for Vector<$t> {
            fn dot(&self, other: &Vector<$t>) -> Matrix<$t> {
                self.outer(other)
            }
        }

        // ---- Norms and entrywise functions.
        impl ArgminL1Norm<$t> for Vector<$t> {
            fn l1_norm(&self) -> $t {
                self.as_slice().iter().map(|a| a.abs()).sum()
            }
        }
        impl ArgminL2Norm<$t> for Vector<$t> {
            fn l2_norm(&self) -> $t {
                // Scaled by the largest entry, so that squares neither overflow nor underflow.
                let largest = self
                    .as_slice()
                    .iter()
                    .fold(0.0 as $t, |m, a| m.max(a.abs()));
                if largest == 0.0 || !largest.is_finite() {
                    return largest;
                }
                let sum: $t = self.as_slice().iter().map(|a| (a / largest).powi(2)).sum();
                largest * sum.sqrt()
            }
        }
        impl ArgminSignum for Vector<$t> {
            fn signum(self) -> Vector<$t> {
                vector(map(self.as_slice(), <$t>::signum))
            }
        }
        impl ArgminMinMax for Vector<$t> {
            fn min(x: &Vector<$t>, y: &Vector<$t>) -> Vector<$t> {
                vector(zip_with(x.as_slice(), y.as_slice(), "min", <$t>::min))
            }
            fn max(x: &Vector<$t>, y: &Vector<$t>) -> Vector<$t> {
                vector(zip_with(x.as_slice(), y.as_slice(), "max", <$t>::max))
            }
        }
        impl ArgminZeroLike for Vector<$t> {
            fn zero_like(&self) -> Vector<$t> {
                Vector::zeros(self.len())
            }
        }
        impl ArgminConj for Vector<$t> {
            /// Real entries: the vector itself.
            fn conj(&self) -> Vector<$t> {
                self.clone()
            }
        }

        // ---- Matrices: Hessians and inverse-Hessian estimates.
        impl ArgminDot<Vector<$t>, Vector<$t>> for Matrix<$t> {
            fn dot(&self, other: &Vector<$t>) -> Vector<$t> {
                self.matmul(other)
            }
        }
        impl ArgminDot<Matrix<$t>, Matrix<$t>> for Matrix<$t> {
            fn dot(&self, other: &Matrix<$t>) -> Matrix<$t> {
                self.matmul(other)
            }
        }
        impl ArgminAdd<Matrix<$t>, Matrix<$t>> for Matrix<$t> {
            fn add(&self, other: &Matrix<$t>) -> Matrix<$t> {
                assert_same_shape(self, other, "add");
                matrix_like(
                    self,
                    zip_with(self.as_slice(), other.as_slice(), "add", |a, b| a + b),
                )
            }
        }
        impl ArgminSub<Matrix<$t>, Matrix<$t>> for Matrix<$t> {
            fn sub(&self, other: &Matrix<$t>) -> Matrix<$t> {
                assert_same_shape(self, other, "sub");
                matrix_like(
                    self,
                    zip_with(self.as_slice(), other.as_slice(), "sub", |a, b| a - b),
                )
            }
        }
        impl ArgminMul<$t, Matrix<$t>> for Matrix<$t> {
            fn mul(&self, other: &$t) -> Matrix<$t> {
                matrix_like(self, map(self.as_slice(), |a| a * *other))
            }
        }
        impl ArgminTranspose<Matrix<$t>> for Matrix<$t> {
            fn t(self) -> Matrix<$t> {
                Matrix::t(&self)
            }
        }
        impl ArgminEye for Matrix<$t> {
            fn eye(n: usize) -> Matrix<$t> {
                Matrix::identity(n)
            }
            /// The identity of `self`'s row count (argmin asks it of square matrices).
            fn eye_like(&self) -> Matrix<$t> {
                Matrix::identity(self.rows())
            }
        }
        impl ArgminZeroLike for Matrix<$t> {
            fn zero_like(&self) -> Matrix<$t> {
                Matrix::zeros(self.rows(), self.cols())
            }
        }
        impl ArgminInv<Matrix<$t>> for Matrix<$t> {
            /// By LU with partial pivoting; a matrix that is not square, or is singular to
            /// working precision (an indefinite Newton step's usual failure), is argmin's error.
            fn inv(&self) -> Result<Matrix<$t>, Error> {
                self.try_inverse().ok_or_else(|| {
                    let (rows, cols) = self.shape();
                    Error::msg(format!(
                        "autodiff: the {rows}×{cols} matrix has no inverse (not square, or \
                         singular to working precision)"
                    ))
                })
            }
        }
    };
}

#[track_caller]
fn assert_same_shape<T>(a: &Matrix<T>, b: &Matrix<T>, op: &str) {
    assert!(
        a.shape() == b.shape(),
        "autodiff: argmin's `{op}` of a {}×{} and a {}×{} matrix",
        a.rows(),
        a.cols(),
        b.rows(),
        b.cols()
    );
}

argmin_math_for!(f32);
argmin_math_for!(f64);

#[cfg(test)]
mod tests {
    use argmin_math::{ArgminScaledAdd, ArgminScaledSub, ArgminWeightedDot};

    use super::*;

    fn v(data: &[f64]) -> Vector<f64> {
        Vector::from_vec(data.to_vec())
    }

    #[test]
    fn vector_arithmetic_is_by_entry() {
        let (a, b) = (v(&[1.0, -2.0, 3.0]), v(&[0.5, 4.0, -1.0]));
        assert_eq!(
            ArgminAdd::<Vector<f64>, _>::add(&a, &b),
            v(&[1.5, 2.0, 2.0])
        );
        assert_eq!(ArgminAdd::<f64, _>::add(&a, &1.0), v(&[2.0, -1.0, 4.0]));
        assert_eq!(
            ArgminSub::<Vector<f64>, _>::sub(&a, &b),
            v(&[0.5, -6.0, 4.0])
        );
        assert_eq!(ArgminSub::<f64, _>::sub(&a, &1.0), v(&[0.0, -3.0, 2.0]));
        assert_eq!(
            ArgminMul::<Vector<f64>, _>::mul(&a, &b),
            v(&[0.5, -8.0, -3.0])
        );
        assert_eq!(ArgminMul::<f64, _>::mul(&a, &2.0), v(&[2.0, -4.0, 6.0]));
        assert_eq!(
            ArgminMul::<Vector<f64>, Vector<f64>>::mul(&2.0, &a),
            v(&[2.0, -4.0, 6.0])
        );
        assert_eq!(
            ArgminDiv::<Vector<f64>, _>::div(&a, &b),
            v(&[2.0, -0.5, -3.0])
        );
        assert_eq!(ArgminDiv::<f64, _>::div(&a, &2.0), v(&[0.5, -1.0, 1.5]));
        assert_eq!(a.scaled_add(&2.0, &b), v(&[2.0, 6.0, 1.0]));
        assert_eq!(a.scaled_sub(&2.0, &b), v(&[0.0, -10.0, 5.0]));
        assert_eq!(
            <Vector<f64> as ArgminMinMax>::min(&a, &b),
            v(&[0.5, -2.0, -1.0])
        );
        assert_eq!(
            <Vector<f64> as ArgminMinMax>::max(&a, &b),
            v(&[1.0, 4.0, 3.0])
        );
        assert_eq!(a.clone().signum(), v(&[1.0, -1.0, 1.0]));
        assert_eq!(a.zero_like(), v(&[0.0; 3]));
        assert_eq!(a.conj(), a);
    }

    #[test]
    fn products_and_norms() {
        let (a, b) = (v(&[1.0, -2.0, 3.0]), v(&[0.5, 4.0, -1.0]));
        assert_eq!(ArgminDot::<Vector<f64>, f64>::dot(&a, &b), 0.5 - 8.0 - 3.0);
        let outer: Matrix<f64> = ArgminDot::<Vector<f64>, Matrix<f64>>::dot(&a, &b);
        assert_eq!(outer[(1, 0)], -1.0);
        assert_eq!(outer[(2, 1)], 12.0);
        assert_eq!(ArgminL1Norm::<f64>::l1_norm(&a), 6.0);
        assert_eq!(ArgminL2Norm::<f64>::l2_norm(&v(&[3.0, -4.0])), 5.0);
        // No overflow for entries whose squares would.
        let huge = ArgminL2Norm::<f64>::l2_norm(&v(&[3e200, 4e200]));
        assert!((huge / 5e200 - 1.0).abs() < 1e-15, "{huge}");
        assert_eq!(ArgminL2Norm::<f64>::l2_norm(&v(&[0.0, 0.0])), 0.0);
        let w = Matrix::from_rows(&[[2.0, 0.0, 0.0], [0.0, 1.0, 0.0], [1.0, 0.0, 1.0]]);
        // argmin's own ArgminWeightedDot, from the products above: aᵀ·w·b = a·(w·b) = [1, −2, 3]·[1, 4, −0.5] = 1 − 8 − 1.5.
        assert_eq!(
            ArgminWeightedDot::<_, f64, _>::weighted_dot(&a, &w, &b),
            -8.5
        );
    }

    #[test]
    fn matrix_operations() {
        let m = Matrix::from_rows(&[[2.0, 1.0], [1.0, 3.0]]);
        let x = v(&[1.0, -1.0]);
        assert_eq!(
            ArgminDot::<Vector<f64>, Vector<f64>>::dot(&m, &x),
            v(&[1.0, -2.0])
        );
        let mm: Matrix<f64> = ArgminDot::<Matrix<f64>, Matrix<f64>>::dot(&m, &m);
        assert_eq!(mm, Matrix::from_rows(&[[5.0, 5.0], [5.0, 10.0]]));
        assert_eq!(
            ArgminAdd::add(&m, &m),
            Matrix::from_rows(&[[4.0, 2.0], [2.0, 6.0]])
        );
        assert_eq!(ArgminSub::sub(&m, &m), Matrix::zeros(2, 2));
        assert_eq!(
            ArgminMul::mul(&m, &0.5),
            Matrix::from_rows(&[[1.0, 0.5], [0.5, 1.5]])
        );
        let r = Matrix::from_rows(&[[1.0, 2.0, 3.0]]);
        assert_eq!(ArgminTranspose::<Matrix<f64>>::t(r).shape(), (3, 1));
        assert_eq!(<Matrix<f64> as ArgminEye>::eye(2), Matrix::identity(2));
        assert_eq!(m.eye_like(), Matrix::identity(2));
        assert_eq!(m.zero_like(), Matrix::zeros(2, 2));
        let inverse = m.inv().unwrap();
        assert_eq!(inverse, m.inverse());
        let singular = Matrix::from_rows(&[[1.0, 2.0], [2.0, 4.0]]);
        let message = singular.inv().unwrap_err().to_string();
        assert!(
            message.contains("the 2×2 matrix has no inverse"),
            "{message}"
        );
    }

    #[test]
    #[should_panic(expected = "argmin's `add` of 2 and 3 entries")]
    fn vectors_of_different_lengths_panic_with_their_lengths() {
        let _ = ArgminAdd::<Vector<f64>, Vector<f64>>::add(&v(&[1.0, 2.0]), &v(&[1.0; 3]));
    }

    #[test]
    fn f32_too() {
        let a = Vector::from_vec(vec![3.0f32, 4.0]);
        assert_eq!(ArgminL2Norm::<f32>::l2_norm(&a), 5.0);
        assert_eq!(a.scaled_add(&0.5, &a).as_slice(), &[4.5, 6.0]);
    }
}
