//! B4: the n×n Jacobian of f(x) = tanh(W·x + b) with respect to x.
//!
//! W ~ N(0,1)/√n, b ~ 0.1·N(0,1), x ~ N(0,1).

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
        }
    };
}

layer_for!(f64_layer, f64);
layer_for!(f32_layer, f32);
