//! [`Matrix`]: a dense, row-major, dynamically shaped matrix.

use std::ops::{Index, IndexMut};

use super::buffer::{self, Buffer};
use super::elementwise::{
    impl_dense_common, map_slice, map_slice_here, sum_slice, zip3_slice, zip_in_place,
    zip_slice_here, Elementwise,
};
use super::gemm::MatRef;
use super::scalar::Real;
use super::shape::{shape_mismatch, Shape};

/// A dense `rows × cols` matrix stored row-major in one buffer.
#[derive(Clone, Debug, PartialEq)]
pub struct Matrix<T> {
    rows: usize,
    cols: usize,
    data: Buffer<T>,
}

impl<T> Matrix<T> {
    /// A matrix from its row-major elements; panics unless `data.len() == rows * cols`.
    #[track_caller]
    pub fn from_vec(rows: usize, cols: usize, data: Vec<T>) -> Self {
        check_len(rows, cols, data.len());
        Matrix {
            rows,
            cols,
            data: Buffer::plain(data),
        }
    }

    /// `(rows, cols)`.
    pub fn shape(&self) -> (usize, usize) {
        (self.rows, self.cols)
    }

    /// Number of rows.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Number of columns.
    pub fn cols(&self) -> usize {
        self.cols
    }

    /// Number of elements, `rows * cols`.
    pub fn len(&self) -> usize {
        self.data.len()
    }

    /// Number of elements, `rows * cols` (same as [`len`](Self::len)).
    pub fn numel(&self) -> usize {
        self.data.len()
    }

    /// Whether the matrix has no elements.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// The elements, row-major.
    pub fn as_slice(&self) -> &[T] {
        &self.data
    }

    /// The elements, row-major, mutably.
    pub fn as_mut_slice(&mut self) -> &mut [T] {
        &mut self.data
    }

    /// The row-major buffer, without copying.
    pub fn into_vec(self) -> Vec<T> {
        self.data.into_vec()
    }

    /// Row `i` as a slice, without copying; panics if `i >= rows`. (`m.row(i)` is the same
    /// row as a new [`Vector`](super::vector::Vector), as differentiable functions read it.)
    #[track_caller]
    pub fn row_slice(&self, i: usize) -> &[T] {
        assert!(
            i < self.rows,
            "autodiff: row {i} out of bounds for a {}×{} matrix",
            self.rows,
            self.cols
        );
        &self.data[i * self.cols..(i + 1) * self.cols]
    }

    /// A strided view for [`gemm`](super::gemm::gemm); `.t()` on it transposes without copying.
    pub fn view(&self) -> MatRef<'_, T> {
        MatRef::row_major(&self.data, self.rows, self.cols)
    }

    /// The shape for error messages.
    pub(crate) fn layout(&self) -> Shape {
        Shape::Matrix(self.rows, self.cols)
    }
}

impl<T: Real> Matrix<T> {
    /// A matrix of runtime-allocated elements (see [`from_vec`](Self::from_vec)), whose buffer
    /// goes back to the thread's [cache](super::buffer) when dropped.
    #[track_caller]
    pub(crate) fn from_buffer(rows: usize, cols: usize, data: Vec<T>) -> Self {
        check_len(rows, cols, data.len());
        Matrix {
            rows,
            cols,
            data: Buffer::cached(data),
        }
    }

    /// A matrix of the same shape holding `data`.
    fn with_data(&self, data: Vec<T>) -> Self {
        Self::from_buffer(self.rows, self.cols, data)
    }

    /// A `rows × cols` matrix of zeros.
    #[track_caller]
    pub fn zeros(rows: usize, cols: usize) -> Self {
        Self::filled("Matrix::zeros", rows, cols, T::zero())
    }

    /// A `rows × cols` matrix with every element `value`.
    #[track_caller]
    pub fn from_elem(rows: usize, cols: usize, value: T) -> Self {
        Self::filled("Matrix::from_elem", rows, cols, value)
    }

    /// The `n × n` identity matrix.
    #[track_caller]
    pub fn identity(n: usize) -> Self {
        Self::generated("Matrix::identity", n, n, |i, j| {
            if i == j {
                T::one()
            } else {
                T::zero()
            }
        })
    }

    /// A matrix whose element `(i, j)` is `f(i, j)`.
    #[track_caller]
    pub fn from_fn(rows: usize, cols: usize, f: impl FnMut(usize, usize) -> T) -> Self {
        Self::generated("Matrix::from_fn", rows, cols, f)
    }

    /// A matrix from an array of rows, e.g. `Matrix::from_rows(&[[1.0, 2.0], [3.0, 4.0]])`.
    #[track_caller]
    pub fn from_rows<const C: usize>(rows: &[[T; C]]) -> Self {
        let len = element_count("Matrix::from_rows", rows.len(), C);
        let elements = rows.iter().flatten().copied();
        Self::from_buffer(rows.len(), C, buffer::collect(len, elements))
    }

    /// [`from_elem`](Self::from_elem) for `constructor`, which the overflow panic names.
    #[track_caller]
    fn filled(constructor: &str, rows: usize, cols: usize, value: T) -> Self {
        let len = element_count(constructor, rows, cols);
        Self::from_buffer(rows, cols, buffer::filled(len, value))
    }

    /// [`from_fn`](Self::from_fn) for `constructor`, which the overflow panic names.
    #[track_caller]
    fn generated(
        constructor: &str,
        rows: usize,
        cols: usize,
        mut f: impl FnMut(usize, usize) -> T,
    ) -> Self {
        let len = element_count(constructor, rows, cols);
        let elements = (0..rows)
            .flat_map(|i| (0..cols).map(move |j| (i, j)))
            .map(|(i, j)| f(i, j));
        Self::from_buffer(rows, cols, buffer::collect(len, elements))
    }

    /// The transpose, as a new matrix (blocked copy). Products with a transpose should use
    /// [`t_matmul`](Self::t_matmul) and friends instead, which copy nothing.
    pub fn t(&self) -> Self {
        // 32×32 blocks of 4×4 tiles, each tile moved through a register-sized array; the ragged
        // edges by plain loops. About 2.5× a plain blocked loop at 1024×1024 (f64, measured).
        const BLOCK: usize = 32;
        const TILE: usize = 4;
        let (r, c) = self.shape();
        let (r4, c4) = (r / TILE * TILE, c / TILE * TILE);
        let src = &self.data;
        let mut out = buffer::filled(r * c, T::zero());
        for i0 in (0..r4).step_by(BLOCK) {
            for j0 in (0..c4).step_by(BLOCK) {
                for i in (i0..(i0 + BLOCK).min(r4)).step_by(TILE) {
                    for j in (j0..(j0 + BLOCK).min(c4)).step_by(TILE) {
                        let mut tile = [[T::zero(); TILE]; TILE];
                        for (a, src_row) in src[i * c + j..].chunks(c).take(TILE).enumerate() {
                            for (b, &x) in src_row[..TILE].iter().enumerate() {
                                tile[b][a] = x;
                            }
                        }
                        for (b, tile_row) in tile.iter().enumerate() {
                            out[(j + b) * r + i..][..TILE].copy_from_slice(tile_row);
                        }
                    }
                }
            }
        }
        for i in 0..r {
            for j in if i < r4 { c4 } else { 0 }..c {
                out[j * r + i] = src[i * c + j];
            }
        }
        Self::from_buffer(c, r, out)
    }
}

impl_dense_common!(Matrix);

/// `rows × cols`, checked before anything is allocated: an overflowing count panics naming the
/// constructor and both dimensions (unchecked, it wrapped to a wrong size in release builds).
#[track_caller]
pub(crate) fn element_count(constructor: &str, rows: usize, cols: usize) -> usize {
    match rows.checked_mul(cols) {
        Some(len) => len,
        None => too_many_elements(constructor, rows, cols),
    }
}

#[cold]
#[inline(never)]
#[track_caller]
fn too_many_elements(constructor: &str, rows: usize, cols: usize) -> ! {
    panic!("autodiff: `{constructor}` of {rows} × {cols} elements: the count overflows usize")
}

#[track_caller]
fn check_len(rows: usize, cols: usize, len: usize) {
    if rows.checked_mul(cols) != Some(len) {
        panic!(
            "autodiff: `Matrix::from_vec` needs rows × cols = {rows} × {cols} elements, got {len}"
        );
    }
}

impl<T> Index<(usize, usize)> for Matrix<T> {
    type Output = T;
    #[track_caller]
    fn index(&self, (i, j): (usize, usize)) -> &T {
        if i >= self.rows || j >= self.cols {
            index_out_of_bounds(i, j, self.rows, self.cols);
        }
        &self.data[i * self.cols + j]
    }
}

impl<T> IndexMut<(usize, usize)> for Matrix<T> {
    #[track_caller]
    fn index_mut(&mut self, (i, j): (usize, usize)) -> &mut T {
        if i >= self.rows || j >= self.cols {
            index_out_of_bounds(i, j, self.rows, self.cols);
        }
        &mut self.data[i * self.cols + j]
    }
}

#[cold]
#[inline(never)]
#[track_caller]
fn index_out_of_bounds(i: usize, j: usize, rows: usize, cols: usize) -> ! {
    panic!("autodiff: index ({i}, {j}) out of bounds for a {rows}×{cols} matrix")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constructors_agree() {
        let m = Matrix::from_rows(&[[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]);
        assert_eq!(
            m,
            Matrix::from_vec(2, 3, vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
        );
        assert_eq!(m, Matrix::from_fn(2, 3, |i, j| (3 * i + j + 1) as f64));
        assert_eq!(m.shape(), (2, 3));
        assert_eq!(m[(1, 0)], 4.0);
        assert_eq!(m.row_slice(1), &[4.0, 5.0, 6.0]);
        assert_eq!(m.row(1).as_slice(), &[4.0, 5.0, 6.0]);
        assert_eq!(Matrix::<f32>::identity(2).as_slice(), &[1.0, 0.0, 0.0, 1.0]);
        assert_eq!(Matrix::<f32>::zeros(2, 2).into_vec(), vec![0.0; 4]);
    }

    #[test]
    fn blocked_transpose() {
        for (r, c) in [(37, 70), (64, 64), (3, 5), (1, 9), (9, 1), (4, 4)] {
            let m = Matrix::from_fn(r, c, |i, j| (i * 1000 + j) as f64);
            let t = m.t();
            assert_eq!(t.shape(), (c, r));
            assert!((0..r).all(|i| (0..c).all(|j| t[(j, i)] == m[(i, j)])));
        }
        assert_eq!(Matrix::<f64>::zeros(0, 3).t().shape(), (3, 0));
    }

    #[test]
    #[should_panic(expected = "`Matrix::from_vec` needs rows × cols = 2 × 3 elements, got 5")]
    fn from_vec_checks_length() {
        Matrix::from_vec(2, 3, vec![0.0f64; 5]);
    }

    // 2³² × 2³² wraps to 0 in a release build: the count must be checked, not computed.
    const HUGE: usize = 1 << 32;

    #[test]
    #[should_panic(
        expected = "autodiff: `Matrix::zeros` of 4294967296 × 4294967296 elements: the count overflows usize"
    )]
    fn zeros_rejects_a_shape_whose_element_count_overflows() {
        Matrix::<f64>::zeros(HUGE, HUGE);
    }

    #[test]
    #[should_panic(
        expected = "autodiff: `Matrix::from_elem` of 4294967296 × 4294967297 elements: the count overflows usize"
    )]
    fn from_elem_rejects_a_shape_whose_element_count_overflows() {
        Matrix::from_elem(HUGE, HUGE + 1, 1.0f32);
    }

    #[test]
    #[should_panic(
        expected = "autodiff: `Matrix::identity` of 4294967296 × 4294967296 elements: the count overflows usize"
    )]
    fn identity_rejects_a_size_whose_element_count_overflows() {
        Matrix::<f64>::identity(HUGE);
    }

    #[test]
    #[should_panic(
        expected = "autodiff: `Matrix::from_fn` of 3 × 6148914691236517206 elements: the count overflows usize"
    )]
    fn from_fn_rejects_a_shape_whose_element_count_overflows() {
        Matrix::from_fn(3, usize::MAX / 3 + 1, |_, _| 0.0f64);
    }

    #[test]
    #[should_panic(expected = "index (2, 0) out of bounds for a 2×3 matrix")]
    fn index_checks_bounds() {
        let _ = Matrix::<f64>::zeros(2, 3)[(2, 0)];
    }
}
