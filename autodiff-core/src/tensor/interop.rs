//! Conversions between [`Matrix`]/[`Vector`] and the tensors of `ndarray` (feature `ndarray`)
//! and `nalgebra` (feature `nalgebra`), so that data held in those types goes through
//! generated functions with one conversion at each end.
//!
//! Which conversions copy:
//! - `ndarray`: `Matrix` and `Array2` are both row-major, so `Array2::from(matrix)` and
//!   `Matrix::from(array)` move the buffer without copying (an `Array2` that is not in standard
//!   layout, a transposed view's owner say, is copied into row-major order);
//!   [`Matrix::as_ndarray`] borrows a matrix as an `ArrayView2` without copying; `Vector` and `Array1`
//!   likewise. From views (`ArrayView2`, `ArrayView1`) the data is copied.
//! - `nalgebra`: `DMatrix` is column-major, so `Matrix` ↔ `DMatrix` copies (a transpose of the
//!   layout, one pass); `Vector` ↔ `DVector` moves the buffer without copying.

#[cfg(feature = "ndarray")]
mod with_ndarray {
    use ndarray::{Array1, Array2, ArrayView1, ArrayView2};

    use crate::tensor::{Matrix, Vector};

    impl<T> From<Matrix<T>> for Array2<T> {
        /// Moves the buffer (both are row-major): no copy.
        fn from(m: Matrix<T>) -> Self {
            let shape = m.shape();
            Array2::from_shape_vec(shape, m.into_vec())
                .expect("a matrix's buffer has rows × cols elements")
        }
    }

    impl<T: Clone> From<Array2<T>> for Matrix<T> {
        /// Moves the buffer when the array is in standard (row-major) layout; copies otherwise.
        fn from(a: Array2<T>) -> Self {
            let (rows, cols) = a.dim();
            if a.is_standard_layout() {
                let (data, offset) = a.into_raw_vec_and_offset();
                if offset.unwrap_or(0) == 0 && data.len() == rows * cols {
                    return Matrix::from_vec(rows, cols, data);
                }
                return Matrix::from_vec(
                    rows,
                    cols,
                    data[offset.unwrap_or(0)..][..rows * cols].to_vec(),
                );
            }
            Matrix::from_vec(rows, cols, a.iter().cloned().collect())
        }
    }

    impl<T: Clone> From<ArrayView2<'_, T>> for Matrix<T> {
        /// Copies, in row-major order whatever the view's strides.
        fn from(a: ArrayView2<'_, T>) -> Self {
            let (rows, cols) = a.dim();
            Matrix::from_vec(rows, cols, a.iter().cloned().collect())
        }
    }

    impl<T> Matrix<T> {
        /// The matrix as an `ndarray` view, without copying.
        pub fn as_ndarray(&self) -> ArrayView2<'_, T> {
            ArrayView2::from_shape(self.shape(), self.as_slice())
                .expect("a matrix's buffer has rows × cols elements")
        }
    }

    impl<T> From<Vector<T>> for Array1<T> {
        /// Moves the buffer: no copy.
        fn from(v: Vector<T>) -> Self {
            Array1::from_vec(v.into_vec())
        }
    }

    impl<T: Clone> From<Array1<T>> for Vector<T> {
        /// Moves the buffer when the array is contiguous; copies otherwise.
        fn from(a: Array1<T>) -> Self {
            if a.is_standard_layout() {
                let n = a.len();
                let (data, offset) = a.into_raw_vec_and_offset();
                let start = offset.unwrap_or(0);
                if start == 0 && data.len() == n {
                    return Vector::from_vec(data);
                }
                return Vector::from_vec(data[start..start + n].to_vec());
            }
            Vector::from_vec(a.iter().cloned().collect())
        }
    }

    impl<T: Clone> From<ArrayView1<'_, T>> for Vector<T> {
        /// Copies.
        fn from(a: ArrayView1<'_, T>) -> Self {
            Vector::from_vec(a.iter().cloned().collect())
        }
    }

    impl<T> Vector<T> {
        /// The vector as an `ndarray` view, without copying.
        pub fn as_ndarray(&self) -> ArrayView1<'_, T> {
            ArrayView1::from(self.as_slice())
        }
    }
}

#[cfg(feature = "nalgebra")]
mod with_nalgebra {
    use nalgebra::{DMatrix, DVector, Scalar};

    use crate::tensor::{Matrix, Vector};

    impl<T: Scalar> From<Matrix<T>> for DMatrix<T> {
        /// Copies (nalgebra is column-major).
        fn from(m: Matrix<T>) -> Self {
            DMatrix::from_row_slice(m.rows(), m.cols(), m.as_slice())
        }
    }

    impl<T: Scalar> From<&Matrix<T>> for DMatrix<T> {
        /// Copies (nalgebra is column-major).
        fn from(m: &Matrix<T>) -> Self {
            DMatrix::from_row_slice(m.rows(), m.cols(), m.as_slice())
        }
    }

    impl<T: Scalar> From<DMatrix<T>> for Matrix<T> {
        /// Copies into row-major order.
        fn from(m: DMatrix<T>) -> Self {
            Matrix::from(&m)
        }
    }

    impl<T: Scalar> From<&DMatrix<T>> for Matrix<T> {
        /// Copies into row-major order.
        fn from(m: &DMatrix<T>) -> Self {
            let (rows, cols) = m.shape();
            let data = (0..rows)
                .flat_map(|i| (0..cols).map(move |j| (i, j)))
                .map(|(i, j)| m[(i, j)].clone())
                .collect();
            Matrix::from_vec(rows, cols, data)
        }
    }

    impl<T: Scalar> From<Vector<T>> for DVector<T> {
        /// Moves the buffer: no copy.
        fn from(v: Vector<T>) -> Self {
            DVector::from_vec(v.into_vec())
        }
    }

    impl<T: Scalar> From<DVector<T>> for Vector<T> {
        /// Moves the buffer: no copy.
        fn from(v: DVector<T>) -> Self {
            let data: Vec<T> = v.data.into();
            Vector::from_vec(data)
        }
    }
}

#[cfg(test)]
mod tests {
    #[cfg(feature = "ndarray")]
    #[test]
    fn ndarray_round_trips_move_row_major_buffers() {
        use crate::tensor::{Matrix, Vector};
        use ndarray::{array, Array1, Array2};
        let m = Matrix::from_rows(&[[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]);
        let pointer = m.as_slice().as_ptr();
        let copy = m.clone();
        let copy_pointer = copy.as_slice().as_ptr();
        let a: Array2<f64> = copy.into();
        assert_eq!(a.as_ptr(), copy_pointer, "moved, not copied");
        assert_eq!(a, array![[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]);
        let back = Matrix::from(a);
        assert_eq!(
            back.as_slice().as_ptr(),
            copy_pointer,
            "moved back, not copied"
        );
        assert_eq!(back, m);
        // A transposed (column-major) array is copied into row-major order.
        let t = Matrix::from(array![[1.0, 4.0], [2.0, 5.0], [3.0, 6.0]].reversed_axes());
        assert_eq!(t, m);
        assert_eq!(m.as_ndarray()[(1, 2)], 6.0);
        assert_eq!(m.as_ndarray().as_ptr(), pointer);
        let from_view = Matrix::from(a_view_of(&m));
        assert_eq!(from_view, m);
        let v = Vector::from_vec(vec![1.0f32, -2.0]);
        let b: Array1<f32> = v.clone().into();
        assert_eq!(Vector::from(b), v);
        assert_eq!(Vector::from(v.as_ndarray()), v);
        // A strided slice is copied.
        let strided = array![0.0, 1.0, 2.0, 3.0];
        let every_other = strided.slice(ndarray::s![..;2]);
        assert_eq!(Vector::from(every_other).as_slice(), &[0.0, 2.0]);

        fn a_view_of(m: &Matrix<f64>) -> ndarray::ArrayView2<'_, f64> {
            m.as_ndarray()
        }
    }

    #[cfg(feature = "nalgebra")]
    #[test]
    fn nalgebra_matrices_are_copied_across_layouts_and_vectors_moved() {
        use crate::tensor::{Matrix, Vector};
        use nalgebra::{DMatrix, DVector};
        let m = Matrix::from_rows(&[[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]);
        let d: DMatrix<f64> = m.clone().into();
        assert_eq!(
            d,
            DMatrix::from_row_slice(2, 3, &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
        );
        assert_eq!(d[(1, 0)], 4.0);
        assert_eq!(Matrix::from(d), m);
        let v = Vector::from_vec(vec![1.0, -2.0, 0.5]);
        let pointer = v.as_slice().as_ptr();
        let dv: DVector<f64> = v.into();
        assert_eq!(dv.as_slice().as_ptr(), pointer);
        assert_eq!(Vector::from(dv).as_slice(), &[1.0, -2.0, 0.5]);
    }
}
