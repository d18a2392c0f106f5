//! B3: the gradient of Rosenbrock's function,
//! f(x) = Σ_{i<n−1} 100·(x_{i+1} − x_i²)² + (1 − x_i)², x ~ U(−1, 1), n = 10, 1,000, 100,000;
//! written with slices (`x.slice(1..n)`, `x.slice(0..n - 1)`), and in a loop form reading `x[i]`
//! (for the cost of reverse mode through a loop).

use autodiff::Vector;

use super::SplitMix64;

pub const SEED: u64 = 0x00B3;

/// The inputs of B3 at size `n`, in f64.
pub struct Inputs {
    pub x: Vector<f64>,
}

impl Inputs {
    /// x drawn from one generator seeded with [`SEED`]: entry k is 2·u_k − 1.
    pub fn new(n: usize) -> Self {
        let mut rng = SplitMix64::new(SEED);
        Inputs {
            x: Vector::from_vec((0..n).map(|_| 2.0 * rng.uniform() - 1.0).collect()),
        }
    }

    /// The same inputs rounded to f32.
    pub fn to_f32(&self) -> Vector<f32> {
        Vector::from_vec(self.x.as_slice().iter().map(|&e| e as f32).collect())
    }
}

macro_rules! rosenbrock_for {
    ($module:ident, $T:ident) => {
        pub mod $module {
            use autodiff::prelude::*;

            /// With slices, as the definition reads.
            #[differentiable]
            pub fn rosenbrock(x: &Vector<$T>) -> $T {
                let n = x.len();
                let head = x.slice(0..n - 1);
                let d = x.slice(1..n) - &head * &head;
                let e = 1.0 - &head;
                100.0 * (&d * &d).sum() + (&e * &e).sum()
            }

            /// A loop over the entries.
            #[differentiable]
            pub fn rosenbrock_loop(x: &Vector<$T>) -> $T {
                let mut total = 0.0;
                for i in 0..x.len() - 1 {
                    let d = x[i + 1] - x[i] * x[i];
                    let e = 1.0 - x[i];
                    total += 100.0 * d * d + e * e;
                }
                total
            }

            /// The value and gradient as a careful person writes them: two passes over the
            /// pairs (x_i, x_{i+1}) that the compiler vectorizes, the first writing
            /// ∂/∂x_i = −400·d_i·x_i − 2·e_i and summing the value, the second adding
            /// ∂/∂x_{i+1} += 200·d_i.
            pub fn gradient_by_hand(x: &Vector<$T>) -> ($T, Vector<$T>) {
                let x = x.as_slice();
                let n = x.len();
                let mut g: Vec<$T> = vec![0.0; n];
                if n < 2 {
                    return (0.0, Vector::from_vec(g));
                }
                let (head, tail) = (&x[..n - 1], &x[1..]);
                let mut value = 0.0;
                for ((gi, &a), &b) in g[..n - 1].iter_mut().zip(head).zip(tail) {
                    let (d, e) = (b - a * a, 1.0 - a);
                    value += 100.0 * d * d + e * e;
                    *gi = -400.0 * d * a - 2.0 * e;
                }
                for ((gi, &a), &b) in g[1..].iter_mut().zip(head).zip(tail) {
                    *gi += 200.0 * (b - a * a);
                }
                (value, Vector::from_vec(g))
            }

            /// The same two passes with the value summed in 8 lanes: one running sum is a
            /// chain of dependent adds the compiler may not reorder, so that pass cannot
            /// vectorize. Faster at n = 1,000 and 100,000, slower at n = 10 (measured on an AMD
            /// EPYC); the benches time both and the report holds the generated code to the
            /// faster.
            pub fn gradient_by_hand_lanes(x: &Vector<$T>) -> ($T, Vector<$T>) {
                let x = x.as_slice();
                let n = x.len();
                let mut g: Vec<$T> = vec![0.0; n];
                if n < 2 {
                    return (0.0, Vector::from_vec(g));
                }
                let (head, tail) = (&x[..n - 1], &x[1..]);
                let whole = (n - 1) / 8 * 8;
                let mut lanes: [$T; 8] = [0.0; 8];
                let chunks = g[..whole]
                    .chunks_exact_mut(8)
                    .zip(head.chunks_exact(8))
                    .zip(tail.chunks_exact(8));
                for ((g, a), b) in chunks {
                    for l in 0..8 {
                        let (d, e) = (b[l] - a[l] * a[l], 1.0 - a[l]);
                        lanes[l] += 100.0 * d * d + e * e;
                        g[l] = -400.0 * d * a[l] - 2.0 * e;
                    }
                }
                let mut rest = 0.0;
                let last = g[whole..n - 1]
                    .iter_mut()
                    .zip(&head[whole..])
                    .zip(&tail[whole..]);
                for ((gi, &a), &b) in last {
                    let (d, e) = (b - a * a, 1.0 - a);
                    rest += 100.0 * d * d + e * e;
                    *gi = -400.0 * d * a - 2.0 * e;
                }
                for ((gi, &a), &b) in g[1..].iter_mut().zip(head).zip(tail) {
                    *gi += 200.0 * (b - a * a);
                }
                (lanes.iter().sum::<$T>() + rest, Vector::from_vec(g))
            }
        }
    };
}

rosenbrock_for!(f64_rosenbrock, f64);
rosenbrock_for!(f32_rosenbrock, f32);
