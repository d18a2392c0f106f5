//! B1: a two-layer MLP's mean cross-entropy loss and its gradient with respect to the weights.
//!
//! X (B×784) ~ N(0,1), W1 (784×256) ~ N(0, 2/784), b1 (1×256) ~ N(0, 1e-4),
//! W2 (256×10) ~ N(0, 1/256), b2 (1×10) ~ N(0, 1e-4), one-hot Y (B×10);
//! loss = mean over rows of −sum(Y ⊙ log_softmax(relu(X·W1 + b1)·W2 + b2)).

use autodiff::prelude::*;

use super::SplitMix64;

pub const INPUTS: usize = 784;
pub const HIDDEN: usize = 256;
pub const CLASSES: usize = 10;
pub const SEED: u64 = 0x00B1;

/// The inputs of B1 at batch size `batch`, in f64.
pub struct Inputs {
    pub x: Matrix<f64>,
    pub w1: Matrix<f64>,
    pub b1: Matrix<f64>,
    pub w2: Matrix<f64>,
    pub b2: Matrix<f64>,
    pub y: Matrix<f64>,
}

impl Inputs {
    /// Drawn in this order from one generator seeded with [`SEED`]: X, W1, b1, W2, b2, then one
    /// class per row (`next_u64() % 10`).
    pub fn new(batch: usize) -> Self {
        let mut rng = SplitMix64::new(SEED);
        let x = Matrix::from_vec(batch, INPUTS, rng.normals(batch * INPUTS, 1.0));
        let w1 = Matrix::from_vec(INPUTS, HIDDEN, rng.normals(INPUTS * HIDDEN, 2.0 / 784.0));
        let b1 = Matrix::from_vec(1, HIDDEN, rng.normals(HIDDEN, 1e-4));
        let w2 = Matrix::from_vec(HIDDEN, CLASSES, rng.normals(HIDDEN * CLASSES, 1.0 / 256.0));
        let b2 = Matrix::from_vec(1, CLASSES, rng.normals(CLASSES, 1e-4));
        let mut y = Matrix::zeros(batch, CLASSES);
        for i in 0..batch {
            y[(i, (rng.next_u64() % CLASSES as u64) as usize)] = 1.0;
        }
        Inputs {
            x,
            w1,
            b1,
            w2,
            b2,
            y,
        }
    }

    /// Each row's class: where `y` holds its 1.
    pub fn labels(&self) -> Vec<usize> {
        (0..self.y.rows())
            .map(|i| {
                (0..CLASSES)
                    .find(|&j| self.y[(i, j)] == 1.0)
                    .expect("one-hot")
            })
            .collect()
    }

    /// The same inputs rounded to f32.
    pub fn to_f32(&self) -> [Matrix<f32>; 6] {
        let f = |m: &Matrix<f64>| {
            Matrix::from_vec(
                m.rows(),
                m.cols(),
                m.as_slice().iter().map(|&v| v as f32).collect(),
            )
        };
        [
            f(&self.x),
            f(&self.w1),
            f(&self.b1),
            f(&self.w2),
            f(&self.b2),
            f(&self.y),
        ]
    }
}

/// The B1 loss, its generated gradient, and a careful hand-written backward pass on the same
/// runtime (`mlp_loss_hand`, criterion id `hand`) and on each GEMM kernel crate called directly
/// (`mlp_loss_hand_on`, `hand-mm` and `hand-gemm`), for one float type.
macro_rules! mlp_for {
    ($module:ident, $T:ident) => {
        pub mod $module {
            use super::super::kernels::{Crate, View};
            use autodiff::prelude::*;

            pub type Grads = (Matrix<$T>, Matrix<$T>, Matrix<$T>, Matrix<$T>);

            #[differentiable(wrt(w1, b1, w2, b2))]
            pub fn mlp_loss(
                x: &Matrix<$T>,
                w1: &Matrix<$T>,
                b1: &Matrix<$T>,
                w2: &Matrix<$T>,
                b2: &Matrix<$T>,
                y: &Matrix<$T>,
            ) -> $T {
                let z1 = x.matmul(w1) + b1;
                let h = z1.relu();
                let z2 = h.matmul(w2) + b2;
                let lp = z2.log_softmax();
                let row_loss = -(y * &lp).sum_axis(1);
                let loss = row_loss.mean();
                loss
            }

            /// B1's parameters as one value, biases as vectors (issue 17).
            #[derive(Differentiable, Clone, Debug, PartialEq)]
            pub struct Mlp {
                pub w1: Matrix<$T>,
                pub b1: Vector<$T>,
                pub w2: Matrix<$T>,
                pub b2: Vector<$T>,
            }

            impl Mlp {
                /// The parameters of `w1, b1, w2, b2` (the biases' single rows as vectors).
                pub fn new(
                    w1: &Matrix<$T>,
                    b1: &Matrix<$T>,
                    w2: &Matrix<$T>,
                    b2: &Matrix<$T>,
                ) -> Self {
                    let row = |m: &Matrix<$T>| Vector::from_vec(m.as_slice().to_vec());
                    Mlp {
                        w1: w1.clone(),
                        b1: row(b1),
                        w2: w2.clone(),
                        b2: row(b2),
                    }
                }
            }

            /// B1 as the contract writes it: a parameter struct and integer labels.
            #[differentiable(wrt(p))]
            pub fn mlp_loss_struct(p: &Mlp, x: &Matrix<$T>, labels: &[usize]) -> $T {
                let h = (x.matmul(&p.w1) + &p.b1).relu();
                let lp = (h.matmul(&p.w2) + &p.b2).log_softmax();
                -lp.gather(labels).mean()
            }

            /// The same with the parameters flat: what the struct form must be as fast as.
            #[differentiable(wrt(w1, b1, w2, b2))]
            pub fn mlp_loss_labels(
                x: &Matrix<$T>,
                w1: &Matrix<$T>,
                b1: &Vector<$T>,
                w2: &Matrix<$T>,
                b2: &Vector<$T>,
                labels: &[usize],
            ) -> $T {
                let h = (x.matmul(w1) + b1).relu();
                let lp = (h.matmul(w2) + b2).log_softmax();
                -lp.gather(labels).mean()
            }

            /// The backward pass as one writes it by hand, knowing that each row of `y` sums to
            /// 1 (one-hot), so `dz2 = (softmax(z2) − y) / B`.
            pub fn mlp_loss_hand(
                x: &Matrix<$T>,
                w1: &Matrix<$T>,
                b1: &Matrix<$T>,
                w2: &Matrix<$T>,
                b2: &Matrix<$T>,
                y: &Matrix<$T>,
            ) -> ($T, Grads) {
                let batch = x.rows() as $T;
                let z1 = x.matmul(w1) + b1;
                let h = z1.relu();
                let z2 = h.matmul(w2) + b2;
                let lp = z2.log_softmax();
                let loss = -(y * &lp).sum() / batch;
                let dz2 = (lp.exp() - y) / batch;
                let dw2 = h.t_matmul(&dz2);
                let db2 = dz2.sum_axis(0);
                let dh = dz2.matmul_t(w2);
                let dz1 = autodiff::kernels::unary_grad(&dh, &z1, autodiff::kernels::UnaryFn::Relu);
                let dw1 = x.t_matmul(&dz1);
                let db1 = dz1.sum_axis(0);
                (loss, (dw1, db1, dw2, db2))
            }

            /// [`mlp_loss_hand`] on a GEMM kernel crate, on row-major slices (`b1` and `b2`
            /// the bias rows, `y` one-hot): the biases are written into the outputs and the
            /// layers' products accumulated onto them (β = 1), relu is applied in place, one
            /// pass per row of Z2 forms the log-softmax, the loss, dZ2 = (softmax(Z2) − Y)/B
            /// and db2, one pass over dH applies relu's mask (H > 0 exactly where Z1 > 0) and
            /// sums db1, and every transpose is a strided view. Returns the loss and
            /// [dW1, db1, dW2, db2], row-major.
            pub fn mlp_loss_hand_on(
                kernel: Crate,
                x: &[$T],
                w1: &[$T],
                b1: &[$T],
                w2: &[$T],
                b2: &[$T],
                y: &[$T],
            ) -> ($T, [Vec<$T>; 4]) {
                let (hidden, classes) = (b1.len(), b2.len());
                let inputs = w1.len() / hidden;
                let batch = y.len() / classes;
                let view = View::row_major;
                let x = view(x, batch, inputs);
                let w2 = view(w2, hidden, classes);

                let mut h = b1.repeat(batch);
                kernel.gemm(1.0, x, view(w1, inputs, hidden), 1.0, &mut h);
                for v in &mut h {
                    *v = v.max(0.0);
                }
                let mut dz2 = b2.repeat(batch);
                kernel.gemm(1.0, view(&h, batch, hidden), w2, 1.0, &mut dz2);

                let scale = 1.0 / batch as $T;
                let mut loss = 0.0;
                let mut db2: Vec<$T> = vec![0.0; classes];
                for (z, t) in dz2.chunks_exact_mut(classes).zip(y.chunks_exact(classes)) {
                    let (mut max, mut tz, mut ts) = (<$T>::NEG_INFINITY, 0.0, 0.0);
                    for (&v, &t) in z.iter().zip(t) {
                        max = max.max(v);
                        tz += t * v;
                        ts += t;
                    }
                    let mut sum = 0.0;
                    for v in z.iter_mut() {
                        *v = (*v - max).exp();
                        sum += *v;
                    }
                    // −Σ t·(z − logsumexp z), with the row's Σ t·z and Σ t from above.
                    loss -= tz - (max + sum.ln()) * ts;
                    let inverse = 1.0 / sum;
                    for ((v, &t), d) in z.iter_mut().zip(t).zip(&mut db2) {
                        *v = (*v * inverse - t) * scale;
                        *d += *v;
                    }
                }
                let loss = loss * scale;

                let (h_view, dz2_view) = (view(&h, batch, hidden), view(&dz2, batch, classes));
                let mut dw2 = vec![0.0; hidden * classes];
                kernel.gemm(1.0, h_view.t(), dz2_view, 0.0, &mut dw2);
                let mut dz1 = vec![0.0; batch * hidden];
                kernel.gemm(1.0, dz2_view, w2.t(), 0.0, &mut dz1);
                let mut db1: Vec<$T> = vec![0.0; hidden];
                for (d, a) in dz1.chunks_exact_mut(hidden).zip(h.chunks_exact(hidden)) {
                    for ((g, &a), s) in d.iter_mut().zip(a).zip(&mut db1) {
                        *g = if a > 0.0 { *g } else { 0.0 };
                        *s += *g;
                    }
                }
                let mut dw1 = vec![0.0; inputs * hidden];
                kernel.gemm(1.0, x.t(), view(&dz1, batch, hidden), 0.0, &mut dw1);
                (loss, [dw1, db1, dw2, db2])
            }
        }
    };
}

mlp_for!(f64_mlp, f64);
mlp_for!(f32_mlp, f32);
