//! B4: the n×n Jacobian of f(x) = tanh(W·x + b) with respect to x.
//!
//! W ~ N(0,1)/√n, b ~ 0.1·N(0,1), x ~ N(0,1).
//!
//! The Jacobian by hand: on our runtime (`jacobian_by_hand`, criterion id `hand`); with W·x on
//! each GEMM kernel crate called directly (`jacobian_by_hand_on`, `hand-mm` and `hand-gemm`);
//! and as one fused pass over W with no kernel at all (`jacobian_by_hand_fused`, `hand-fused`).

use autodiff::{Matrix, Vector};

use super::SplitMix64;

pub const SEED: u64 = 0x00B4;

/// The inputs of B4 at size `n`, in f64.
pub struct Inputs {
    pub w: Matrix<f64>,
    pub b: Vector<f64>,
    pub x: Vector<f64>,
}

impl Inputs {
    /// Drawn in this order from one generator seeded with [`SEED`]: W, b, x.
    pub fn new(n: usize) -> Self {
        let mut rng = SplitMix64::new(SEED);
        let w = Matrix::from_vec(n, n, rng.normals(n * n, 1.0 / n as f64));
        let b = Vector::from_vec(rng.normals(n, 0.01));
        let x = Vector::from_vec(rng.normals(n, 1.0));
        Inputs { w, b, x }
    }

    /// The same inputs rounded to f32.
    pub fn to_f32(&self) -> (Matrix<f32>, Vector<f32>, Vector<f32>) {
        let v =
            |v: &Vector<f64>| Vector::from_vec(v.as_slice().iter().map(|&e| e as f32).collect());
        let w = Matrix::from_vec(
            self.w.rows(),
            self.w.cols(),
            self.w.as_slice().iter().map(|&e| e as f32).collect(),
        );
        (w, v(&self.b), v(&self.x))
    }
}

macro_rules! layer_for {
    ($module:ident, $T:ident) => {
        pub mod $module {
            use super::super::kernels::{dot, Crate, View};
            use autodiff::prelude::*;

            #[differentiable(wrt(x))]
            pub fn layer(w: &Matrix<$T>, b: &Vector<$T>, x: &Vector<$T>) -> Vector<$T> {
                let y = (w.matmul(x) + b).tanh();
                y
            }

            /// The closed form by hand: diag(1 − y²)·W, as a row scaling of W.
            pub fn jacobian_by_hand(w: &Matrix<$T>, b: &Vector<$T>, x: &Vector<$T>) -> Matrix<$T> {
                let y = (w.matmul(x) + b).tanh();
                let slope = 1.0 - &(&y * &y);
                w * &autodiff::kernels::as_column(&slope)
            }

            /// tanh′(z) = 1 − tanh²(z) = sech²(z) = 4e/(1 + e)² with e = exp(−2|z|): one `exp`
            /// and no `tanh` (libm's `tanh` costs more than its `exp`: B4 f64 n=100 took 8.1 µs
            /// fused with `1 − tanh²`, 6.0 µs with this), and no cancellation near |tanh| = 1.
            fn tanh_slope(z: $T) -> $T {
                let e = (-2.0 * z.abs()).exp();
                4.0 * e / ((1.0 + e) * (1.0 + e))
            }

            /// The same on a GEMM kernel crate, on slices (`w` row-major, one row per entry of
            /// `b`): z = W·x + b by the crate (a product with one column, accumulated onto b),
            /// then one pass over the rows of W, row i of the Jacobian tanh′(zᵢ)·Wᵢ. Row-major.
            pub fn jacobian_by_hand_on(kernel: Crate, w: &[$T], b: &[$T], x: &[$T]) -> Vec<$T> {
                let (rows, cols) = (b.len(), x.len());
                let mut z = b.to_vec();
                let (wv, xv) = (View::row_major(w, rows, cols), View::row_major(x, cols, 1));
                kernel.gemm(1.0, wv, xv, 1.0, &mut z);
                let mut jacobian = Vec::with_capacity(rows * cols);
                for (row, &zi) in w.chunks_exact(cols).zip(&z) {
                    let slope = tanh_slope(zi);
                    jacobian.extend(row.iter().map(|&v| slope * v));
                }
                jacobian
            }

            /// The same with no kernel: one pass over the rows of W, each row's dot product
            /// with x (in 8 lanes), its tanh′, and the scaled row while the row is in L1: W is
            /// read once, not once by the product and again by the scaling. Row-major.
            pub fn jacobian_by_hand_fused(w: &[$T], b: &[$T], x: &[$T]) -> Vec<$T> {
                let (rows, cols) = (b.len(), x.len());
                assert_eq!(w.len(), rows * cols);
                let mut jacobian = Vec::with_capacity(rows * cols);
                for (row, &bi) in w.chunks_exact(cols).zip(b) {
                    let slope = tanh_slope(dot(row, x) + bi);
                    jacobian.extend(row.iter().map(|&v| slope * v));
                }
                jacobian
            }
        }
    };
}

layer_for!(f64_layer, f64);
layer_for!(f32_layer, f32);
