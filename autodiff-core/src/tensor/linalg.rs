//! The linear algebra that needs no factorization: `trace`, `diagonal`, `diag`, `norm`, and the
//! kernel of their pullbacks that writes a diagonal into a matrix of zeros. (`inverse`, `det`,
//! `logdet` and `solve` are in [`lu`](super::lu).)

use super::elementwise::dot_slice;
use super::kernels::Shaped;
use super::lu::square;
use super::matrix::Matrix;
use super::scalar::Real;
use super::shape::{shape_mismatch, Shape};
use super::vector::Vector;

/// ‖x‖ = √Σxᵢ². When the sum of squares overflows or underflows although the norm would not
/// (elements beyond about 1e154 or below 1e-154 in f64), the elements are scaled by the largest
/// first, as BLAS's `nrm2` does.
fn norm_of<T: Real>(x: &[T]) -> T {
    let squares = dot_slice(x, x);
    if squares.is_finite() && squares >= T::min_positive_value() {
        return squares.sqrt();
    }
    let largest = x.iter().fold(T::zero(), |m, v| m.max(v.abs()));
    if largest == T::zero() || !largest.is_finite() {
        // 0, ∞ or NaN: the scaling has nothing to add.
        return squares.sqrt().max(largest);
    }
    let scaled: T = x.iter().map(|&v| (v / largest) * (v / largest)).sum();
    largest * scaled.sqrt()
}

impl<T: Real> Vector<T> {
    /// The Euclidean norm ‖x‖ = √(xᵀ·x).
    pub fn norm(&self) -> T {
        norm_of(self.as_slice())
    }

    /// The n×n matrix with this vector on its diagonal and zeros elsewhere.
    pub fn diag(&self) -> Matrix<T> {
        let n = self.len();
        let mut out = Matrix::zeros(n, n);
        for (i, &v) in self.as_slice().iter().enumerate() {
            out[(i, i)] = v;
        }
        out
    }
}

impl<T: Real> Matrix<T> {
    /// The Frobenius norm ‖M‖ = √Σ mᵢⱼ².
    pub fn norm(&self) -> T {
        norm_of(self.as_slice())
    }

    /// The sum of the diagonal. Panics if the matrix is not square.
    #[track_caller]
    pub fn trace(&self) -> T {
        let n = square("trace", self);
        (0..n).map(|i| self[(i, i)]).sum()
    }

    /// The main diagonal, `min(rows, cols)` entries, as a vector.
    pub fn diagonal(&self) -> Vector<T> {
        let (rows, cols) = self.shape();
        Vector::from_vec((0..rows.min(cols)).map(|i| self[(i, i)]).collect())
    }
}

/// What [`on_diagonal`] writes along a diagonal: a scalar (every entry: `s·I`) or a vector (one
/// entry each).
pub trait DiagonalEntries<T: Real> {
    /// Writes the entries on the main diagonal of `out`, which holds zeros.
    #[track_caller]
    fn write_diagonal(&self, out: &mut Matrix<T>);
}

impl<T: Real> DiagonalEntries<T> for T {
    fn write_diagonal(&self, out: &mut Matrix<T>) {
        let (rows, cols) = out.shape();
        for i in 0..rows.min(cols) {
            out[(i, i)] = *self;
        }
    }
}

impl<T: Real> DiagonalEntries<T> for Vector<T> {
    #[track_caller]
    fn write_diagonal(&self, out: &mut Matrix<T>) {
        let (rows, cols) = out.shape();
        if self.len() != rows.min(cols) {
            shape_mismatch("diagonal", Shape::Matrix(rows, cols), self.layout());
        }
        for (i, &v) in self.as_slice().iter().enumerate() {
            out[(i, i)] = v;
        }
    }
}

/// A matrix of `like`'s shape with `d` on its main diagonal and zeros elsewhere: `d·I` for a
/// scalar (the pullback of `trace`), `diag(d)` for a vector (that of `diagonal`).
#[track_caller]
pub fn on_diagonal<T: Real, D: DiagonalEntries<T>>(d: &D, like: &impl Shaped) -> Matrix<T> {
    let (rows, cols) = like.dims();
    let mut out = Matrix::zeros(rows, cols);
    d.write_diagonal(&mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn norms_are_euclidean_and_frobenius() {
        assert_eq!(Vector::from_vec(vec![3.0, 4.0]).norm(), 5.0);
        assert_eq!(Matrix::from_rows(&[[1.0f32, 2.0], [2.0, 4.0]]).norm(), 5.0);
        assert_eq!(Vector::<f64>::zeros(3).norm(), 0.0);
        // Squares that overflow, and squares that underflow.
        let close = |x: f64, want: f64| (x / want - 1.0).abs() < 1e-15;
        assert!(close(Vector::from_vec(vec![3e200, 4e200]).norm(), 5e200));
        assert!(close(Vector::from_vec(vec![3e-200, 4e-200]).norm(), 5e-200));
        assert!((Vector::from_vec(vec![3e30f32, 4e30]).norm() / 5e30 - 1.0).abs() < 1e-6);
        assert_eq!(
            Vector::from_vec(vec![1.0, f64::INFINITY]).norm(),
            f64::INFINITY
        );
        assert!(Vector::from_vec(vec![1.0, f64::NAN]).norm().is_nan());
    }

    #[test]
    fn diagonals_go_both_ways() {
        let m = Matrix::from_rows(&[[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]);
        assert_eq!(m.diagonal().as_slice(), &[1.0, 5.0]);
        let d = Vector::from_vec(vec![1.0, 2.0]).diag();
        assert_eq!(d.as_slice(), &[1.0, 0.0, 0.0, 2.0]);
        assert_eq!(Matrix::from_rows(&[[1.0, 2.0], [3.0, 4.0]]).trace(), 5.0);
        assert_eq!(
            on_diagonal(&2.0, &m).as_slice(),
            &[2.0, 0.0, 0.0, 0.0, 2.0, 0.0]
        );
        assert_eq!(
            on_diagonal(&Vector::from_vec(vec![7.0, 8.0]), &m).as_slice(),
            &[7.0, 0.0, 0.0, 0.0, 8.0, 0.0]
        );
    }

    #[test]
    #[should_panic(expected = "`trace` takes a square matrix, found 2×3")]
    fn the_trace_of_a_rectangular_matrix_panics() {
        Matrix::<f64>::zeros(2, 3).trace();
    }
}
