//! B2: the full Hessian of a regularized logistic-regression loss with respect to the weights.
//!
//! X (1000×n) ~ N(0,1)/√n, y ∈ {−1, 1}, w ~ 0.1·N(0,1), λ = 0.1;
//! L(w) = Σ ln(1 + exp(−y ⊙ (X·w))) + ½·λ·‖w‖², written stably as −Σ ln σ(y ⊙ X·w) (`loss`)
//! and as DESIGN.md spells it (`loss_literal`, benched as `b2_literal_hessian`).
//!
//! The Hessian by hand three ways: on our runtime (`hessian_by_hand`, criterion id `hand`), and
//! on each GEMM kernel crate called directly (`hessian_by_hand_on`, `hand-mm` and `hand-gemm`).

use autodiff::{Matrix, Vector};

use super::SplitMix64;

pub const ROWS: usize = 1000;
pub const SEED: u64 = 0x00B2;

/// The inputs of B2 for `n` features, in f64.
pub struct Inputs {
    pub x: Matrix<f64>,
    pub w: Vector<f64>,
    pub y: Vector<f64>,
}

impl Inputs {
    /// Drawn in this order from one generator seeded with [`SEED`]: X, then y (`next_u64()` even:
    /// 1, odd: −1), then w.
    pub fn new(n: usize) -> Self {
        let mut rng = SplitMix64::new(SEED);
        let x = Matrix::from_vec(ROWS, n, rng.normals(ROWS * n, 1.0 / n as f64));
        let y = Vector::from_vec(
            (0..ROWS)
                .map(|_| if rng.next_u64() % 2 == 0 { 1.0 } else { -1.0 })
                .collect(),
        );
        let w = Vector::from_vec(rng.normals(n, 0.01));
        Inputs { x, w, y }
    }

    /// The same inputs rounded to f32.
    pub fn to_f32(&self) -> (Matrix<f32>, Vector<f32>, Vector<f32>) {
        let m = |m: &Matrix<f64>| {
            Matrix::from_vec(
                m.rows(),
                m.cols(),
                m.as_slice().iter().map(|&v| v as f32).collect(),
            )
        };
        let v =
            |v: &Vector<f64>| Vector::from_vec(v.as_slice().iter().map(|&e| e as f32).collect());
        (m(&self.x), v(&self.w), v(&self.y))
    }
}

macro_rules! logistic_for {
    ($module:ident, $T:ident) => {
        pub mod $module {
            use super::super::kernels::{dot, Crate, View};
            use autodiff::prelude::*;

            #[differentiable(wrt(w))]
            pub fn loss(x: &Matrix<$T>, w: &Vector<$T>, y: &Vector<$T>) -> $T {
                let margins = y * &x.matmul(w);
                let loss = -margins.sigmoid().ln().sum() + 0.05 * w.dot(w);
                loss
            }

            /// The same function as DESIGN.md and issue 20 write it: ln(1 + exp(−m)) where
            /// [`loss`] has −ln σ(m) (equal, and with the same λ, so the Hessians are equal; this
            /// form overflows for margins below about −709 in f64, −88 in f32).
            #[differentiable(wrt(w))]
            pub fn loss_literal(x: &Matrix<$T>, w: &Vector<$T>, y: &Vector<$T>) -> $T {
                (1.0 + (-(y * &x.matmul(w))).exp()).ln().sum() + 0.05 * w.dot(w)
            }

            /// The closed form by hand: Xᵀ·diag(s ⊙ (1 − s))·X + λI, s = σ(y ⊙ X·w) (y² = 1).
            pub fn hessian_by_hand(x: &Matrix<$T>, w: &Vector<$T>, y: &Vector<$T>) -> Matrix<$T> {
                let s = (y * &x.matmul(w)).sigmoid();
                let weights = &s * &(1.0 - &s);
                let scaled = x * &autodiff::kernels::as_column(&weights);
                let mut h = x.t_matmul(&scaled);
                for i in 0..h.rows() {
                    h[(i, i)] += 0.1;
                }
                h
            }

            /// The same closed form on a GEMM kernel crate, as a person writes it on slices
            /// (`x` row-major, one row per entry of `y`): one pass over the rows of X forms
            /// each margin mᵢ = yᵢ·xᵢ·w, its weight dᵢ = sᵢ(1 − sᵢ) with sᵢ = σ(mᵢ), and the
            /// weighted row dᵢ·xᵢ; then one product Xᵀ·(D·X), Xᵀ as strides, accumulated
            /// (β = 1) onto λI. Row-major n×n.
            pub fn hessian_by_hand_on(kernel: Crate, x: &[$T], w: &[$T], y: &[$T]) -> Vec<$T> {
                let (rows, n) = (y.len(), w.len());
                let xt = View::row_major(x, rows, n).t();
                let mut weighted = Vec::with_capacity(rows * n);
                for (row, &yi) in x.chunks_exact(n).zip(y) {
                    let s = 1.0 / (1.0 + (-(yi * dot(row, w))).exp());
                    let d = s * (1.0 - s);
                    weighted.extend(row.iter().map(|&v| d * v));
                }
                let mut h = vec![0.0; n * n];
                for i in 0..n {
                    h[i * n + i] = 0.1;
                }
                let weighted = View::row_major(&weighted, rows, n);
                kernel.gemm(1.0, xt, weighted, 1.0, &mut h);
                h
            }
        }
    };
}

logistic_for!(f64_logistic, f64);
logistic_for!(f32_logistic, f32);
