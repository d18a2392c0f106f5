//! The random numbers of the engine tests.

use autodiff_core::symbolic::{Kind, Value};
use autodiff_core::{Matrix, Vector};

/// SplitMix64: small, deterministic, good enough for test inputs.
pub struct Rng(pub u64);

impl Rng {
    /// A generator seeded by the FNV-1a hash of `name`, so that each table row has its own
    /// reproducible inputs.
    pub fn seeded(name: &str) -> Self {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in name.bytes() {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        Rng(h)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `[lo, hi)`.
    pub fn uniform(&mut self, lo: f64, hi: f64) -> f64 {
        let unit = (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
        lo + (hi - lo) * unit
    }

    /// Uniform in `0..n`.
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    /// `n` numbers uniform in `[lo, hi)`.
    pub fn uniform_vec(&mut self, n: usize, lo: f64, hi: f64) -> Vec<f64> {
        (0..n).map(|_| self.uniform(lo, hi)).collect()
    }

    pub fn vector(&mut self, n: usize, lo: f64, hi: f64) -> Vector<f64> {
        Vector::from_vec(self.uniform_vec(n, lo, hi))
    }

    pub fn matrix(&mut self, rows: usize, cols: usize, lo: f64, hi: f64) -> Matrix<f64> {
        Matrix::from_vec(rows, cols, self.uniform_vec(rows * cols, lo, hi))
    }

    /// A value of `kind` with elements uniform in `[−1, 1)`: `rows × cols` for a matrix,
    /// `rows` long for a vector.
    pub fn value(&mut self, kind: Kind, (rows, cols): (usize, usize)) -> Value<f64> {
        match kind {
            Kind::Scalar => Value::Scalar(self.uniform(-1.0, 1.0)),
            Kind::Vector => Value::Vector(self.vector(rows, -1.0, 1.0)),
            Kind::Matrix => Value::Matrix(self.matrix(rows, cols, -1.0, 1.0)),
            other => panic!("no random {other}"),
        }
    }

    /// A value of the shape of `like` with elements uniform in `[−1, 1)`: an upstream gradient
    /// or a direction.
    pub fn like(&mut self, like: &Value<f64>) -> Value<f64> {
        like.with_data(self.uniform_vec(like.numel(), -1.0, 1.0))
    }
}
