//! Axis reductions of a [`Matrix`], the largest and smallest entry of a tensor, and the
//! column sums of a matrix as a vector (whole-tensor `sum`/`mean` live with the elementwise
//! methods).

use super::buffer;
use super::elementwise::{sum_slice, zip_in_place, Elementwise};
use super::kernels::Shaped;
use super::matrix::Matrix;
use super::scalar::Real;
use super::shape::{out_of_range, shape_mismatch, Shape};
use super::threads::{self, MIN_PARALLEL_BYTES};
use super::vector::Vector;

impl<T: Real> Matrix<T> {
    /// Sums along `axis`: `0` gives the `1×c` column sums, `1` the `r×1` row sums.
    /// Panics for any other axis.
    #[track_caller]
    pub fn sum_axis(&self, axis: usize) -> Matrix<T> {
        let (rows, cols) = self.shape();
        match axis {
            0 => Matrix::from_buffer(1, cols, column_sums_of(self.as_slice(), rows, cols)),
            1 => {
                let out = if cols == 0 {
                    buffer::filled(rows, T::zero())
                } else {
                    buffer::collect(rows, self.as_slice().chunks_exact(cols).map(sum_slice))
                };
                Matrix::from_buffer(rows, 1, out)
            }
            _ => bad_axis("sum_axis", axis),
        }
    }

    /// Means along `axis`: `0` gives the `1×c` column means, `1` the `r×1` row means (NaN
    /// where the axis is empty). Panics for any other axis.
    #[track_caller]
    pub fn mean_axis(&self, axis: usize) -> Matrix<T> {
        let n = match axis {
            0 => self.rows(),
            1 => self.cols(),
            _ => bad_axis("mean_axis", axis),
        };
        let n = T::from_f64(n as f64);
        let mut sums = self.sum_axis(axis);
        sums.as_mut_slice().iter_mut().for_each(|s| *s /= n);
        sums
    }
}

/// The column sums of the row-major `rows×cols` `data`. A matrix of at least
/// [`MIN_PARALLEL_BYTES`] is summed as two halves of its rows, at once when there are two threads,
/// then the second half's sums are added to the first's: the cut depends on the shape alone, so
/// the sums round the same way with any number of threads. (Cut by columns instead, each sum in
/// row order, they ran slower: 85 → 130 µs in B1, each thread reading every row.)
fn column_sums_of<T: Real>(data: &[T], rows: usize, cols: usize) -> Vec<T> {
    let mut sums = buffer::filled(cols, T::zero());
    if cols == 0 {
        return sums;
    }
    let add_rows = |sums: &mut [T], rows: &[T]| {
        for row in rows.chunks_exact(cols) {
            sums.iter_mut().zip(row).for_each(|(s, &x)| *s += x);
        }
    };
    if std::mem::size_of_val(data) < MIN_PARALLEL_BYTES || rows < 2 {
        add_rows(&mut sums, data);
        return sums;
    }
    let (top, bottom) = data.split_at(rows / 2 * cols);
    let mut bottom_sums = buffer::filled(cols, T::zero());
    threads::join(
        || add_rows(&mut sums, top),
        || add_rows(&mut bottom_sums, bottom),
    );
    zip_in_place(&mut sums, &bottom_sums, |s, x| s + x);
    sums
}

/// The position (row-major) of the first largest entry of `data` (`max`), or of the first
/// smallest (`!max`); `None` when it is empty. A NaN counts as the extreme: the first NaN is
/// chosen, as NumPy's `argmax` does, so that the extreme value is NaN as soon as one entry is.
pub(crate) fn arg_extreme<T: Real>(data: &[T], max: bool) -> Option<usize> {
    let mut best: Option<(usize, T)> = None;
    for (i, &x) in data.iter().enumerate() {
        let better = match best {
            None => true,
            Some((_, y)) => {
                let beyond = if max { x > y } else { x < y };
                beyond || (x.is_nan() && !y.is_nan())
            }
        };
        if better {
            best = Some((i, x));
        }
    }
    best.map(|(i, _)| i)
}

/// [`arg_extreme`], panicking for an empty tensor.
#[track_caller]
fn extreme_position<T: Real>(data: &[T], max: bool, what: impl FnOnce() -> String) -> usize {
    match arg_extreme(data, max) {
        Some(i) => i,
        None => out_of_range(format_args!(
            "`{}()` of an empty {} has no entry",
            if max { "max" } else { "min" },
            what()
        )),
    }
}

/// "vector", "0×3 matrix".
fn described(layout: Shape) -> String {
    match layout {
        Shape::Vector(_) => "vector".to_string(),
        Shape::Matrix(r, c) => format!("{r}×{c} matrix"),
    }
}

/// The position (row-major) of the first largest entry of `x` (see `arg_extreme`): where
/// the derivative of `x.max()` goes.
#[track_caller]
pub fn arg_max<T: Real, E: Elementwise<T> + Extremes<T>>(x: &E) -> usize {
    extreme_position(x.as_flat(), true, || x.described())
}

/// The position (row-major) of the first smallest entry of `x`: where the derivative of
/// `x.min()` goes.
#[track_caller]
pub fn arg_min<T: Real, E: Elementwise<T> + Extremes<T>>(x: &E) -> usize {
    extreme_position(x.as_flat(), false, || x.described())
}

/// The tensors that have a largest and a smallest entry: vectors and matrices.
pub trait Extremes<T> {
    /// Its kind and shape, for the message about an empty one.
    #[doc(hidden)]
    fn described(&self) -> String;
}

macro_rules! extremes {
    ($($Ty:ident),*) => {$(
        impl<T: Real> Extremes<T> for $Ty<T> {
            fn described(&self) -> String {
                described(self.layout())
            }
        }

        impl<T: Real> $Ty<T> {
            /// The largest entry: the first one that no other exceeds, NaN if any entry is NaN
            /// (as NumPy's `max`). Its derivative is 1 at that entry (the first of tied ones)
            /// and 0 elsewhere. Panics when empty.
            #[track_caller]
            pub fn max(&self) -> T {
                self.as_slice()[extreme_position(self.as_slice(), true, || described(self.layout()))]
            }

            /// The smallest entry, as [`max`](Self::max): the first of tied ones, NaN if any
            /// entry is NaN. Panics when empty.
            #[track_caller]
            pub fn min(&self) -> T {
                self.as_slice()[extreme_position(self.as_slice(), false, || described(self.layout()))]
            }
        }
    )*};
}

extremes!(Vector, Matrix);

/// The column sums of `m` as a vector (`mᵀ·𝟏`): the gradient of a vector broadcast over the
/// rows of a matrix.
pub fn column_sums<T: Real>(m: &Matrix<T>) -> Vector<T> {
    Vector::from_buffer(m.sum_axis(0).into_vec())
}

/// `v` repeated as every row of a matrix of `like`'s number of rows (`𝟏·vᵀ`); panics unless
/// `like` has `v.len()` columns.
#[track_caller]
pub fn repeat_rows<T: Real>(v: &Vector<T>, like: &impl Shaped) -> Matrix<T> {
    let (rows, cols) = like.dims();
    if cols != v.len() {
        shape_mismatch("repeat_rows", Shape::Matrix(rows, cols), v.layout());
    }
    let mut out = buffer::alloc(rows * cols);
    for _ in 0..rows {
        out.extend_from_slice(v.as_slice());
    }
    Matrix::from_buffer(rows, cols, out)
}

#[cold]
#[inline(never)]
#[track_caller]
fn bad_axis(method: &str, axis: usize) -> ! {
    panic!(
        "autodiff: `{method}` takes axis 0 (along the columns) or 1 (along the rows), got {axis}"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_along_each_axis() {
        let m = Matrix::from_rows(&[[1.0f64, 2.0, 3.0], [4.0, 5.0, 6.0]]);
        assert_eq!(m.sum_axis(0), Matrix::from_rows(&[[5.0, 7.0, 9.0]]));
        assert_eq!(m.sum_axis(1), Matrix::from_rows(&[[6.0], [15.0]]));
        assert_eq!(m.sum(), 21.0);
        assert_eq!(m.mean(), 3.5);
        assert_eq!(Matrix::<f32>::zeros(2, 0).sum_axis(1), Matrix::zeros(2, 1));
        assert_eq!(m.mean_axis(0), Matrix::from_rows(&[[2.5, 3.5, 4.5]]));
        assert_eq!(m.mean_axis(1), Matrix::from_rows(&[[2.0], [5.0]]));
        assert_eq!(column_sums(&m).as_slice(), &[5.0, 7.0, 9.0]);
        let v = Vector::from_vec(vec![1.0, 2.0, 3.0]);
        assert_eq!(
            repeat_rows(&v, &m),
            Matrix::from_rows(&[[1.0, 2.0, 3.0]; 2])
        );
    }

    /// A matrix past `MIN_PARALLEL_BYTES` is summed as two halves of its rows: the same sums,
    /// to the bit, by hand and with one thread as with two.
    fn large_column_sums_round_the_same_with_any_thread_count<T: Real>() {
        let (rows, cols) = (1023, 257);
        let value = |k: usize| T::from_f64(((k * 7919) % 1000) as f64 / 37.0 - 13.0);
        let m = Matrix::from_vec(rows, cols, (0..rows * cols).map(value).collect());
        assert!(std::mem::size_of_val(m.as_slice()) >= MIN_PARALLEL_BYTES);
        let sums = m.sum_axis(0);
        let in_order =
            |range: std::ops::Range<usize>, j| range.fold(T::zero(), |s, i| s + m[(i, j)]);
        for j in 0..cols {
            let by_hand = in_order(0..rows / 2, j) + in_order(rows / 2..rows, j);
            assert_eq!(sums[(0, j)], by_hand, "column {j}");
        }
        let one_thread = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .unwrap();
        assert_eq!(one_thread.install(|| m.sum_axis(0)), sums);
        assert_eq!(column_sums(&m).as_slice(), sums.as_slice());
    }

    #[test]
    fn large_column_sums_round_the_same_with_any_thread_count_f32_f64() {
        large_column_sums_round_the_same_with_any_thread_count::<f32>();
        large_column_sums_round_the_same_with_any_thread_count::<f64>();
    }

    #[test]
    fn extremes_are_the_first_of_ties_and_nan_wins() {
        let v = Vector::from_vec(vec![1.0f64, 3.0, -2.0, 3.0, -2.0]);
        assert_eq!((v.max(), v.min()), (3.0, -2.0));
        assert_eq!((arg_max(&v), arg_min(&v)), (1, 2));
        let m = Matrix::from_rows(&[[1.0f32, 5.0], [5.0, -1.0]]);
        assert_eq!(
            (m.max(), m.min(), arg_max(&m), arg_min(&m)),
            (5.0, -1.0, 1, 3)
        );
        let nan = Vector::from_vec(vec![1.0, f64::NAN, 7.0, f64::NAN]);
        assert!(nan.max().is_nan() && nan.min().is_nan());
        assert_eq!((arg_max(&nan), arg_min(&nan)), (1, 1));
    }

    #[test]
    #[should_panic(expected = "`max()` of an empty vector has no entry")]
    fn the_max_of_nothing_panics() {
        Vector::<f64>::zeros(0).max();
    }

    #[test]
    #[should_panic(
        expected = "`sum_axis` takes axis 0 (along the columns) or 1 (along the rows), got 2"
    )]
    fn rejects_other_axes() {
        Matrix::<f64>::zeros(2, 2).sum_axis(2);
    }
}
