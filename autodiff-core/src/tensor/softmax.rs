//! Numerically stable `softmax` and `log_softmax` (a `Vector` as a whole, a `Matrix` row by row)
//! and their pullbacks, written once over the [`RowWise`] trait.

use super::buffer;
use super::elementwise::{sum_slice, Elementwise};
use super::matrix::Matrix;
use super::scalar::Real;
use super::shape::shape_mismatch;
use super::vector::Vector;

/// A tensor processed row by row: each row of a `Matrix`, or a whole `Vector` as one row.
pub trait RowWise<T: Real>: Elementwise<T> {
    /// Length of one row (a vector's length for a `Vector`).
    fn row_len(&self) -> usize;
    /// All elements, row after row.
    fn elements(&self) -> &[T];
    /// A tensor of this shape holding `data`.
    fn same_shape(&self, data: Vec<T>) -> Self;
    /// Panics naming `op` unless `other` has this shape.
    #[track_caller]
    fn check_same_shape(&self, op: &str, other: &Self);
}

impl<T: Real> RowWise<T> for Vector<T> {
    fn row_len(&self) -> usize {
        self.len()
    }
    fn elements(&self) -> &[T] {
        self.as_slice()
    }
    fn same_shape(&self, data: Vec<T>) -> Self {
        Vector::from_buffer(data)
    }
    #[track_caller]
    fn check_same_shape(&self, op: &str, other: &Self) {
        if self.len() != other.len() {
            shape_mismatch(op, self.layout(), other.layout());
        }
    }
}

impl<T: Real> RowWise<T> for Matrix<T> {
    fn row_len(&self) -> usize {
        self.cols()
    }
    fn elements(&self) -> &[T] {
        self.as_slice()
    }
    fn same_shape(&self, data: Vec<T>) -> Self {
        Matrix::from_buffer(self.rows(), self.cols(), data)
    }
    #[track_caller]
    fn check_same_shape(&self, op: &str, other: &Self) {
        if self.shape() != other.shape() {
            shape_mismatch(op, self.layout(), other.layout());
        }
    }
}

/// Builds a tensor of `x`'s shape row by row: `row_fn(out, row)` appends one output row.
fn by_rows<T: Real, X: RowWise<T>>(x: &X, mut row_fn: impl FnMut(&mut Vec<T>, &[T])) -> X {
    let width = x.row_len();
    let mut out = buffer::alloc(x.elements().len());
    if width > 0 {
        x.elements()
            .chunks_exact(width)
            .for_each(|row| row_fn(&mut out, row));
    }
    x.same_shape(out)
}

/// Builds a tensor of `a`'s shape from corresponding rows of `a` and `b`.
#[track_caller]
fn by_row_pairs<T: Real, X: RowWise<T>>(
    op: &str,
    a: &X,
    b: &X,
    mut row_fn: impl FnMut(&mut Vec<T>, &[T], &[T]),
) -> X {
    a.check_same_shape(op, b);
    let width = a.row_len();
    let mut out = buffer::alloc(a.elements().len());
    if width > 0 {
        let rows = a
            .elements()
            .chunks_exact(width)
            .zip(b.elements().chunks_exact(width));
        rows.for_each(|(ra, rb)| row_fn(&mut out, ra, rb));
    }
    a.same_shape(out)
}

/// The largest element of a non-empty row.
fn row_max<T: Real>(row: &[T]) -> T {
    row.iter().copied().fold(T::neg_infinity(), T::max)
}

/// `exp(x − max) / Σ exp(x − max)` per row.
pub(crate) fn softmax<T: Real, X: RowWise<T>>(x: &X) -> X {
    by_rows(x, |out, row| {
        let max = row_max(row);
        let start = out.len();
        out.extend(row.iter().map(|&v| (v - max).exp()));
        let inv = sum_slice(&out[start..]).recip();
        out[start..].iter_mut().for_each(|e| *e *= inv);
    })
}

/// `x − max − ln Σ exp(x − max)` per row.
pub(crate) fn log_softmax<T: Real, X: RowWise<T>>(x: &X) -> X {
    by_rows(x, |out, row| {
        let max = row_max(row);
        let sum: T = row.iter().map(|&v| (v - max).exp()).sum();
        // `(v − max) − ln Σ` rather than `v − (max + ln Σ)`: exact where `v` is the max, even
        // when `|max|` is large (in f32 `1000 + ln 3` would lose five digits).
        let log_sum = sum.ln();
        out.extend(row.iter().map(|&v| (v - max) - log_sum));
    })
}

/// Pullback of `softmax`: `y ⊙ (dy − rowsum(dy ⊙ y))`, `y` the softmax output.
#[track_caller]
pub(crate) fn softmax_grad<T: Real, X: RowWise<T>>(dy: &X, y: &X) -> X {
    by_row_pairs("softmax_grad", dy, y, |out, dy, y| {
        let s: T = dy.iter().zip(y).map(|(&d, &p)| d * p).sum();
        out.extend(dy.iter().zip(y).map(|(&d, &p)| p * (d - s)));
    })
}

/// Pullback of `log_softmax`: `dy − exp(y) ⊙ rowsum(dy)`, `y` the log-softmax output.
#[track_caller]
pub(crate) fn log_softmax_grad<T: Real, X: RowWise<T>>(dy: &X, y: &X) -> X {
    by_row_pairs("log_softmax_grad", dy, y, |out, dy, y| {
        let s = sum_slice(dy);
        out.extend(dy.iter().zip(y).map(|(&d, &l)| d - l.exp() * s));
    })
}

/// Pushforward of `log_softmax`: `dx − rowsum(exp(y) ⊙ dx)`, `y` the log-softmax output.
#[track_caller]
pub(crate) fn log_softmax_jvp<T: Real, X: RowWise<T>>(dx: &X, y: &X) -> X {
    by_row_pairs("log_softmax_jvp", dx, y, |out, dx, y| {
        let s: T = dx.iter().zip(y).map(|(&d, &l)| l.exp() * d).sum();
        out.extend(dx.iter().map(|&d| d - s));
    })
}

macro_rules! impl_softmax_methods {
    ($($Ty:ident: $what:literal;)*) => {$(
        impl<T: Real> $Ty<T> {
            #[doc = concat!("Numerically stable softmax of ", $what, ".")]
            pub fn softmax(&self) -> Self {
                softmax(self)
            }
            #[doc = concat!("Numerically stable log-softmax (log-sum-exp) of ", $what, ".")]
            pub fn log_softmax(&self) -> Self {
                log_softmax(self)
            }
        }
    )*};
}

impl_softmax_methods! {
    Vector: "the whole vector";
    Matrix: "each row";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn softmax_of_a_small_vector() {
        // softmax([0, ln 3]) = [1/4, 3/4].
        let y = Vector::from_vec(vec![0.0f64, 3.0f64.ln()]).softmax();
        assert!((y[0] - 0.25).abs() < 1e-15 && (y[1] - 0.75).abs() < 1e-15);
        let l = Vector::from_vec(vec![0.0f64, 3.0f64.ln()]).log_softmax();
        assert!((l[0] - 0.25f64.ln()).abs() < 1e-15 && (l[1] - 0.75f64.ln()).abs() < 1e-15);
    }

    #[test]
    fn empty_inputs_are_fine() {
        assert_eq!(Matrix::<f32>::zeros(3, 0).softmax().shape(), (3, 0));
        assert!(Vector::<f64>::zeros(0).log_softmax().is_empty());
    }
}
