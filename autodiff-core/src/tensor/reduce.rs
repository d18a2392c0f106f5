//! Axis reductions of a [`Matrix`] (whole-tensor `sum`/`mean` live with the elementwise methods).

use super::buffer;
use super::elementwise::{sum_slice, zip_in_place};
use super::matrix::Matrix;
use super::scalar::Real;

impl<T: Real> Matrix<T> {
    /// Sums along `axis`: `0` gives the `1×c` column sums, `1` the `r×1` row sums.
    /// Panics for any other axis.
    #[track_caller]
    pub fn sum_axis(&self, axis: usize) -> Matrix<T> {
        let (rows, cols) = self.shape();
        match axis {
            0 => {
                let mut out = buffer::filled(cols, T::zero());
                if cols > 0 {
                    for row in self.as_slice().chunks_exact(cols) {
                        zip_in_place(&mut out, row, |s, x| s + x);
                    }
                }
                Matrix::from_buffer(1, cols, out)
            }
            1 => {
                let out = if cols == 0 {
                    buffer::filled(rows, T::zero())
                } else {
                    buffer::collect(rows, self.as_slice().chunks_exact(cols).map(sum_slice))
                };
                Matrix::from_buffer(rows, 1, out)
            }
            _ => bad_axis(axis),
        }
    }
}

#[cold]
#[inline(never)]
#[track_caller]
fn bad_axis(axis: usize) -> ! {
    panic!("autodiff: `sum_axis` takes axis 0 (column sums) or 1 (row sums), got {axis}")
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
    }

    #[test]
    #[should_panic(expected = "`sum_axis` takes axis 0 (column sums) or 1 (row sums), got 2")]
    fn rejects_other_axes() {
        Matrix::<f64>::zeros(2, 2).sum_axis(2);
    }
}
