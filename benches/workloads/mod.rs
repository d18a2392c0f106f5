//! The benchmark workloads of DESIGN.md, shared by the benches and the tests that check them.
//!
//! Inputs come from a documented generator (SplitMix64 + Box–Muller), simple enough to rewrite
//! in any language, so every implementation of a workload sees the same numbers.
#![allow(dead_code)]

pub mod kernels;
pub mod logdet;
pub mod logistic;
pub mod mlp;
pub mod rnn;
pub mod rosenbrock;
pub mod tanh_layer;

/// SplitMix64: a 64-bit generator that is easy to reproduce exactly elsewhere.
pub struct SplitMix64(u64);

impl SplitMix64 {
    pub fn new(seed: u64) -> Self {
        SplitMix64(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1) with 53 random bits.
    pub fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Standard normal by Box–Muller (one draw per pair of uniforms, the cosine branch).
    pub fn normal(&mut self) -> f64 {
        let u1 = 1.0 - self.uniform(); // in (0, 1]: ln is finite
        let u2 = self.uniform();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }

    /// `n` draws from N(0, variance).
    pub fn normals(&mut self, n: usize, variance: f64) -> Vec<f64> {
        let sd = variance.sqrt();
        (0..n).map(|_| sd * self.normal()).collect()
    }
}

/// The largest elementwise |a − b| relative to the largest |b| (to compare a generated result
/// with a hand-written one).
pub fn relative_error<T: Into<f64> + Copy>(
    a: &autodiff::Matrix<T>,
    b: &autodiff::Matrix<T>,
) -> f64 {
    assert_eq!(a.shape(), b.shape());
    let scale = b
        .as_slice()
        .iter()
        .map(|&v| v.into().abs())
        .fold(0.0, f64::max);
    let diff = a
        .as_slice()
        .iter()
        .zip(b.as_slice())
        .map(|(&p, &q)| (p.into() - q.into()).abs())
        .fold(0.0, f64::max);
    diff / scale
}
