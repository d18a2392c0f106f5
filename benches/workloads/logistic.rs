//! B2: the full Hessian of a regularized logistic-regression loss with respect to the weights.
//!
//! X (1000×n) ~ N(0,1)/√n, y ∈ {−1, 1}, w ~ 0.1·N(0,1), λ = 0.1;
//! L(w) = Σ ln(1 + exp(−y ⊙ (X·w))) + ½·λ·‖w‖², written stably as −Σ ln σ(y ⊙ X·w).

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
            use autodiff::prelude::*;

            #[differentiable(wrt(w))]
            pub fn loss(x: &Matrix<$T>, w: &Vector<$T>, y: &Vector<$T>) -> $T {
                let margins = y * &x.matmul(w);
                let loss = -margins.sigmoid().ln().sum() + 0.05 * w.dot(w);
                loss
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
        }
    };
}

logistic_for!(f64_logistic, f64);
logistic_for!(f32_logistic, f32);
