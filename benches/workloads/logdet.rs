//! B7: f(X) = ln |det X| + tr(A·X⁻¹) for a 200×200 symmetric positive definite X, the gradient
//! X⁻ᵀ − X⁻ᵀ·Aᵀ·X⁻ᵀ with respect to X.
//!
//! X = MᵀM/n + I with M ~ N(0, 1), A ~ N(0, 1).

use autodiff::Matrix;

use super::SplitMix64;

pub const SEED: u64 = 0x00B7;

/// The inputs of B7 at size `n`, in f64.
pub struct Inputs {
    pub x: Matrix<f64>,
    pub a: Matrix<f64>,
}

impl Inputs {
    /// Drawn in this order from one generator seeded with [`SEED`]: M, then A (row-major).
    pub fn new(n: usize) -> Self {
        let mut rng = SplitMix64::new(SEED);
        let m = Matrix::from_vec(n, n, rng.normals(n * n, 1.0));
        let a = Matrix::from_vec(n, n, rng.normals(n * n, 1.0));
        let mut x = m.t().matmul(&m) * (1.0 / n as f64);
        for i in 0..n {
            x[(i, i)] += 1.0;
        }
        Inputs { x, a }
    }

    /// The same inputs rounded to f32: X, A.
    pub fn to_f32(&self) -> (Matrix<f32>, Matrix<f32>) {
        let f = |m: &Matrix<f64>| {
            Matrix::from_vec(
                m.rows(),
                m.cols(),
                m.as_slice().iter().map(|&e| e as f32).collect(),
            )
        };
        (f(&self.x), f(&self.a))
    }
}

macro_rules! logdet_for {
    ($module:ident, $T:ident) => {
        pub mod $module {
            use autodiff::gemm::{gemm, MatRef};
            use autodiff::prelude::*;
            use faer::linalg::solvers::DenseSolveCore;

            #[differentiable(wrt(x))]
            pub fn b7(x: &Matrix<$T>, a: &Matrix<$T>) -> $T {
                x.logdet() + a.matmul(&x.inverse()).trace()
            }

            /// The closed form as a careful person writes it with the same factorization crate
            /// (faer) and the GEMM kernel: one LU of X, its inverse Y, the value from the
            /// pivots and Σ A ⊙ Yᵀ (no product needed), the gradient Yᵀ − (Y·A·Y)ᵀ from two
            /// products.
            pub fn gradient_by_hand(x: &Matrix<$T>, a: &Matrix<$T>) -> ($T, Matrix<$T>) {
                let n = x.rows();
                let lu = faer::MatRef::from_row_major_slice(x.as_slice(), n, n).partial_piv_lu();
                let logdet: $T = (0..n).map(|i| lu.U()[(i, i)].abs().ln()).sum();
                let inverse = lu.inverse();
                // Y row-major, so the products run on the same kernel as generated code's.
                let mut y: Vec<$T> = Vec::with_capacity(n * n);
                for i in 0..n {
                    y.extend((0..n).map(|j| inverse[(i, j)]));
                }
                let a = a.as_slice();
                let mut trace: $T = 0.0;
                for i in 0..n {
                    for j in 0..n {
                        trace += a[i * n + j] * y[j * n + i];
                    }
                }
                fn view(m: &[$T], n: usize) -> MatRef<'_, $T> {
                    MatRef::row_major(m, n, n)
                }
                let mut ya: Vec<$T> = vec![0.0; n * n];
                gemm(1.0, view(&y, n), view(a, n), 0.0, &mut ya);
                // G = Yᵀ − (Y·A·Y)ᵀ = Yᵀ − Yᵀ·(Y·A)ᵀ: start from Yᵀ and let the kernel subtract.
                let mut g: Vec<$T> = vec![0.0; n * n];
                for i in 0..n {
                    for j in 0..n {
                        g[i * n + j] = y[j * n + i];
                    }
                }
                gemm(-1.0, view(&y, n).t(), view(&ya, n).t(), 1.0, &mut g);
                (logdet + trace, Matrix::from_vec(n, n, g))
            }
        }
    };
}

logdet_for!(f64_logdet, f64);
logdet_for!(f32_logdet, f32);
