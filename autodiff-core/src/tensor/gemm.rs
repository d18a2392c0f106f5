//! Strided GEMM over `matrixmultiply`: `C ← α·A·B + β·C` where `A` and `B` are [`MatRef`] views
//! whose row and column strides are arbitrary, so a transpose is a stride swap, never a copy.
//!
//! This is the only module with `unsafe`: the two calls into `matrixmultiply::{sgemm, dgemm}`.
#![allow(unsafe_code)]

use super::scalar::Real;

/// A read-only strided view of a `rows × cols` matrix: element `(i, j)` is
/// `data[i * row_stride + j * col_stride]`. Construction checks that every element is in bounds.
#[derive(Clone, Copy, Debug)]
pub struct MatRef<'a, T> {
    data: &'a [T],
    rows: usize,
    cols: usize,
    row_stride: usize,
    col_stride: usize,
}

impl<'a, T> MatRef<'a, T> {
    /// A strided view; panics unless every element `(i, j)` lies inside `data`.
    #[track_caller]
    pub fn new(
        data: &'a [T],
        rows: usize,
        cols: usize,
        row_stride: usize,
        col_stride: usize,
    ) -> Self {
        let fits = isize::try_from(row_stride).is_ok()
            && isize::try_from(col_stride).is_ok()
            && (rows == 0
                || cols == 0
                || (rows - 1)
                    .checked_mul(row_stride)
                    .zip((cols - 1).checked_mul(col_stride))
                    .and_then(|(a, b)| a.checked_add(b))
                    .is_some_and(|last| last < data.len()));
        assert!(
            fits,
            "autodiff: strided view {rows}×{cols} with strides ({row_stride}, {col_stride}) \
             does not fit in a buffer of {}",
            data.len()
        );
        MatRef {
            data,
            rows,
            cols,
            row_stride,
            col_stride,
        }
    }

    /// A view of a row-major `rows × cols` buffer.
    #[track_caller]
    pub fn row_major(data: &'a [T], rows: usize, cols: usize) -> Self {
        Self::new(data, rows, cols, cols, 1)
    }

    /// The transposed view (strides swapped; no data moves).
    #[must_use]
    pub fn t(self) -> Self {
        MatRef {
            rows: self.cols,
            cols: self.rows,
            row_stride: self.col_stride,
            col_stride: self.row_stride,
            ..self
        }
    }

    /// Number of rows of the view.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Number of columns of the view.
    pub fn cols(&self) -> usize {
        self.cols
    }
}

/// `c ← alpha·a·b + beta·c` with `c` a row-major `a.rows() × b.cols()` buffer.
///
/// When `beta` is zero, `c` is only written (its old contents, even NaN, are ignored). An inner
/// dimension of zero gives `beta·c`. Panics if `a.cols() != b.rows()` or `c` has the wrong length.
#[track_caller]
pub fn gemm<T: Real>(alpha: T, a: MatRef<'_, T>, b: MatRef<'_, T>, beta: T, c: &mut [T]) {
    T::gemm_kernel(alpha, a, b, beta, c);
}

/// Checks the operands of a GEMM and returns `(m, k, n)`.
#[track_caller]
fn dims<T>(a: &MatRef<'_, T>, b: &MatRef<'_, T>, c: &[T]) -> (usize, usize, usize) {
    assert_eq!(a.cols, b.rows, "autodiff: gemm inner dimensions differ");
    assert_eq!(
        c.len(),
        a.rows * b.cols,
        "autodiff: gemm output has the wrong length"
    );
    (a.rows, a.cols, b.cols)
}

macro_rules! strided_gemm {
    ($($name:ident: $t:ty => $kernel:path;)*) => {$(
        /// Strided GEMM for this element type; see [`gemm`].
        #[track_caller]
        pub(crate) fn $name(alpha: $t, a: MatRef<'_, $t>, b: MatRef<'_, $t>, beta: $t, c: &mut [$t]) {
            let (m, k, n) = dims(&a, &b, c);
            if m == 0 || n == 0 {
                return;
            }
            if k == 0 {
                if beta == 0.0 {
                    c.fill(0.0);
                } else {
                    c.iter_mut().for_each(|x| *x *= beta);
                }
                return;
            }
            // SAFETY: `MatRef::new` checked that every element (i, j) with i < rows, j < cols of
            // `a` and `b` lies inside their slices and that the strides fit in `isize`; `dims`
            // checked `a.cols == b.rows == k` and `c.len() == m * n`, so with row stride `n` and
            // column stride 1 every write to `c` is in bounds. `c` is a unique borrow, so it does
            // not alias `a` or `b`. m, k, n > 0 here, and `m*n`, `n` fit in isize since `c` is a
            // live slice.
            unsafe {
                $kernel(
                    m,
                    k,
                    n,
                    alpha,
                    a.data.as_ptr(),
                    a.row_stride as isize,
                    a.col_stride as isize,
                    b.data.as_ptr(),
                    b.row_stride as isize,
                    b.col_stride as isize,
                    beta,
                    c.as_mut_ptr(),
                    n as isize,
                    1,
                );
            }
        }
    )*};
}

strided_gemm! {
    sgemm: f32 => matrixmultiply::sgemm;
    dgemm: f64 => matrixmultiply::dgemm;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gemm_with_transposed_views() {
        // a = [[1, 2, 3], [4, 5, 6]] (2×3); aᵀ·a is 3×3.
        let a = [1.0f64, 2.0, 3.0, 4.0, 5.0, 6.0];
        let av = MatRef::row_major(&a, 2, 3);
        let mut c = [f64::NAN; 9];
        gemm(1.0, av.t(), av, 0.0, &mut c);
        assert_eq!(c, [17.0, 22.0, 27.0, 22.0, 29.0, 36.0, 27.0, 36.0, 45.0]);
        let mut d = [1.0f32; 4];
        let af: Vec<f32> = a.iter().map(|&x| x as f32).collect();
        let afv = MatRef::row_major(&af, 2, 3);
        gemm(2.0, afv, afv.t(), 1.0, &mut d);
        assert_eq!(d, [29.0, 65.0, 65.0, 155.0]);
    }

    #[test]
    fn gemm_with_empty_inner_dimension_scales_c() {
        let empty: [f64; 0] = [];
        let mut c = [f64::NAN; 6];
        gemm(
            1.0,
            MatRef::row_major(&empty, 2, 0),
            MatRef::row_major(&empty, 0, 3),
            0.0,
            &mut c,
        );
        assert_eq!(c, [0.0; 6]);
        let mut c = [1.0f32; 6];
        gemm(
            1.0,
            MatRef::row_major(&[], 2, 0),
            MatRef::row_major(&[], 0, 3),
            3.0,
            &mut c,
        );
        assert_eq!(c, [3.0; 6]);
    }

    #[test]
    #[should_panic(expected = "does not fit")]
    fn out_of_bounds_view_is_rejected() {
        MatRef::new(&[1.0f64; 5], 2, 3, 3, 1);
    }
}
