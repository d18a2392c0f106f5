//! B6: an Elman RNN through a loop, H_{t+1} = tanh(H_t·W + X_t·U + b), loss ½‖H_T‖², the
//! gradient with respect to H_0, W, U and b.
//!
//! Batch 32, hidden 128, input 64; H_0 ~ N(0, 1/128), W ~ N(0, 1/128), U ~ N(0, 1/64),
//! b ~ 0.1·N(0, 1) (a 1×128 row, broadcast over the batch), X_t ~ N(0, 1) (the T steps' inputs
//! stacked into one (T·32)×64 matrix, step t its rows 32t..32(t+1)).

use autodiff::Matrix;

use super::SplitMix64;

pub const SEED: u64 = 0x00B6;
pub const BATCH: usize = 32;
pub const HIDDEN: usize = 128;
pub const INPUT: usize = 64;

/// The inputs of B6 over `steps` steps, in f64.
pub struct Inputs {
    pub h0: Matrix<f64>,
    pub w: Matrix<f64>,
    pub u: Matrix<f64>,
    pub b: Matrix<f64>,
    pub xs: Matrix<f64>,
    pub steps: usize,
}

impl Inputs {
    /// Drawn in this order from one generator seeded with [`SEED`]: H_0, W, U, b, then X_0,
    /// X_1, ... (each row-major).
    pub fn new(steps: usize) -> Self {
        let mut rng = SplitMix64::new(SEED);
        let h0 = Matrix::from_vec(
            BATCH,
            HIDDEN,
            rng.normals(BATCH * HIDDEN, 1.0 / HIDDEN as f64),
        );
        let w = Matrix::from_vec(
            HIDDEN,
            HIDDEN,
            rng.normals(HIDDEN * HIDDEN, 1.0 / HIDDEN as f64),
        );
        let u = Matrix::from_vec(
            INPUT,
            HIDDEN,
            rng.normals(INPUT * HIDDEN, 1.0 / INPUT as f64),
        );
        let b = Matrix::from_vec(1, HIDDEN, rng.normals(HIDDEN, 0.01));
        let xs = Matrix::from_vec(
            steps * BATCH,
            INPUT,
            rng.normals(steps * BATCH * INPUT, 1.0),
        );
        Inputs {
            h0,
            w,
            u,
            b,
            xs,
            steps,
        }
    }

    /// The same inputs rounded to f32: H_0, W, U, b, X.
    pub fn to_f32(&self) -> [Matrix<f32>; 5] {
        let f = |m: &Matrix<f64>| {
            Matrix::from_vec(
                m.rows(),
                m.cols(),
                m.as_slice().iter().map(|&e| e as f32).collect(),
            )
        };
        [f(&self.h0), f(&self.w), f(&self.u), f(&self.b), f(&self.xs)]
    }
}

/// The B6 loss through a `for` loop, its generated gradient, and backpropagation through time
/// written by hand, for one float type.
macro_rules! rnn_for {
    ($module:ident, $T:ident) => {
        pub mod $module {
            use autodiff::gemm::{gemm, MatRef};
            use autodiff::prelude::*;

            fn view(data: &[$T], rows: usize, cols: usize) -> MatRef<'_, $T> {
                MatRef::row_major(data, rows, cols)
            }

            pub type Grads = (Matrix<$T>, Matrix<$T>, Matrix<$T>, Matrix<$T>);

            #[differentiable(wrt(h0, w, u, b))]
            pub fn rnn_loss(
                h0: &Matrix<$T>,
                w: &Matrix<$T>,
                u: &Matrix<$T>,
                b: &Matrix<$T>,
                xs: &Matrix<$T>,
                steps: usize,
            ) -> $T {
                let batch = h0.rows();
                let mut h = h0.clone();
                for t in 0..steps {
                    let xt = xs.slice_rows(t * batch..(t + 1) * batch);
                    h = (h.matmul(w) + xt.matmul(u) + b).tanh();
                }
                0.5 * (&h * &h).sum()
            }

            /// [`rnn_loss`] with its loop checkpointed every ⌊√T⌋ steps: the backward pass
            /// stores the hidden state at each segment's start and reruns a segment before
            /// pulling it back.
            #[differentiable(wrt(h0, w, u, b))]
            pub fn rnn_loss_checkpointed(
                h0: &Matrix<$T>,
                w: &Matrix<$T>,
                u: &Matrix<$T>,
                b: &Matrix<$T>,
                xs: &Matrix<$T>,
                steps: usize,
            ) -> $T {
                let batch = h0.rows();
                let mut h = h0.clone();
                #[checkpoint]
                for t in 0..steps {
                    let xt = xs.slice_rows(t * batch..(t + 1) * batch);
                    h = (h.matmul(w) + xt.matmul(u) + b).tanh();
                }
                0.5 * (&h * &h).sum()
            }

            /// BPTT as a careful person writes it: every H_t kept in one buffer, the GEMM
            /// kernel called on strided views (X_t read in place, W and the activations
            /// transposed by flags), products accumulated into the gradients by the kernel
            /// (β = 1), tanh vectorized (the runtime's, as generated code has it), and the tanh
            /// derivative formed from the stored H_{t+1}.
            pub fn rnn_loss_hand(
                h0: &Matrix<$T>,
                w: &Matrix<$T>,
                u: &Matrix<$T>,
                b: &Matrix<$T>,
                xs: &Matrix<$T>,
                steps: usize,
            ) -> ($T, Grads) {
                let (batch, hidden) = h0.shape();
                let input = u.rows();
                let n = batch * hidden;
                let x_at = |t: usize| &xs.as_slice()[t * batch * input..(t + 1) * batch * input];

                let mut hs: Vec<$T> = vec![0.0; (steps + 1) * n];
                hs[..n].copy_from_slice(h0.as_slice());
                for t in 0..steps {
                    let (done, rest) = hs.split_at_mut((t + 1) * n);
                    let (h, z) = (&done[t * n..], &mut rest[..n]);
                    gemm(
                        1.0,
                        view(h, batch, hidden),
                        view(w.as_slice(), hidden, hidden),
                        0.0,
                        z,
                    );
                    gemm(
                        1.0,
                        view(x_at(t), batch, input),
                        view(u.as_slice(), input, hidden),
                        1.0,
                        z,
                    );
                    for row in z.chunks_exact_mut(hidden) {
                        for (v, &bias) in row.iter_mut().zip(b.as_slice()) {
                            *v += bias;
                        }
                    }
                    autodiff::kernels::tanh_in_place(z);
                }
                let last = &hs[steps * n..];
                let loss = 0.5 * last.iter().map(|v| v * v).sum::<$T>();

                let mut dh = last.to_vec();
                let mut dz: Vec<$T> = vec![0.0; n];
                let mut dw: Vec<$T> = vec![0.0; hidden * hidden];
                let mut du: Vec<$T> = vec![0.0; input * hidden];
                let mut db: Vec<$T> = vec![0.0; hidden];
                for t in (0..steps).rev() {
                    let (h, next) = (&hs[t * n..(t + 1) * n], &hs[(t + 1) * n..(t + 2) * n]);
                    for ((d, &g), &y) in dz.iter_mut().zip(&dh).zip(next) {
                        *d = g * (1.0 - y * y);
                    }
                    for row in dz.chunks_exact(hidden) {
                        for (s, &v) in db.iter_mut().zip(row) {
                            *s += v;
                        }
                    }
                    gemm(
                        1.0,
                        view(h, batch, hidden).t(),
                        view(&dz, batch, hidden),
                        1.0,
                        &mut dw,
                    );
                    gemm(
                        1.0,
                        view(x_at(t), batch, input).t(),
                        view(&dz, batch, hidden),
                        1.0,
                        &mut du,
                    );
                    gemm(
                        1.0,
                        view(&dz, batch, hidden),
                        view(w.as_slice(), hidden, hidden).t(),
                        0.0,
                        &mut dh,
                    );
                }
                (
                    loss,
                    (
                        Matrix::from_vec(batch, hidden, dh),
                        Matrix::from_vec(hidden, hidden, dw),
                        Matrix::from_vec(input, hidden, du),
                        Matrix::from_vec(1, hidden, db),
                    ),
                )
            }
        }
    };
}

rnn_for!(f64_rnn, f64);
rnn_for!(f32_rnn, f32);
