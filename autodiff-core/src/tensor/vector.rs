//! [`Vector`]: a dense column vector.

use std::ops::{Index, IndexMut};

use super::buffer::{self, Buffer};
use super::elementwise::{
    dot_slice, impl_dense_common, map_slice, map_slice_here, sum_slice, zip3_slice, zip_in_place,
    zip_slice_here, Elementwise,
};
use super::matrix::{element_count, Matrix};
use super::scalar::Real;
use super::shape::{shape_mismatch, Shape};

/// A dense column vector.
#[derive(Clone, Debug, PartialEq)]
pub struct Vector<T> {
    data: Buffer<T>,
}

impl<T> Vector<T> {
    /// A vector holding `data`.
    pub fn from_vec(data: Vec<T>) -> Self {
        Vector {
            data: Buffer::plain(data),
        }
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.data.len()
    }

    /// Whether the vector has no entries.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// Number of entries (same as [`len`](Self::len)).
    pub fn numel(&self) -> usize {
        self.data.len()
    }

    /// The entries.
    pub fn as_slice(&self) -> &[T] {
        &self.data
    }

    /// The entries, mutably.
    pub fn as_mut_slice(&mut self) -> &mut [T] {
        &mut self.data
    }

    /// The buffer, without copying.
    pub fn into_vec(self) -> Vec<T> {
        self.data.into_vec()
    }

    /// The shape for error messages.
    pub(crate) fn layout(&self) -> Shape {
        Shape::Vector(self.data.len())
    }
}

impl<T: Real> Vector<T> {
    /// A vector of runtime-allocated entries, whose buffer goes back to the thread's
    /// [cache](super::buffer) when dropped.
    pub(crate) fn from_buffer(data: Vec<T>) -> Self {
        Vector {
            data: Buffer::cached(data),
        }
    }

    /// A vector holding `data` (the shape is the length).
    fn with_data(&self, data: Vec<T>) -> Self {
        Self::from_buffer(data)
    }

    /// A vector of `n` zeros.
    pub fn zeros(n: usize) -> Self {
        Self::from_elem(n, T::zero())
    }

    /// A vector of `n` entries equal to `value`.
    pub fn from_elem(n: usize, value: T) -> Self {
        Self::from_buffer(buffer::filled(n, value))
    }

    /// A vector whose entry `i` is `f(i)`.
    pub fn from_fn(n: usize, f: impl FnMut(usize) -> T) -> Self {
        Self::from_buffer(buffer::collect(n, (0..n).map(f)))
    }

    /// The dot product `uᵀ·v`; panics if the lengths differ.
    #[track_caller]
    pub fn dot(&self, other: &Vector<T>) -> T {
        if self.len() != other.len() {
            shape_mismatch("dot", self.layout(), other.layout());
        }
        dot_slice(&self.data, &other.data)
    }

    /// The outer product `u·vᵀ`, a `len(u) × len(v)` matrix.
    #[track_caller]
    pub fn outer(&self, other: &Vector<T>) -> Matrix<T> {
        let len = element_count("Vector::outer", self.len(), other.len());
        let mut data = buffer::alloc(len);
        for &u in self.data.iter() {
            data.extend(other.data.iter().map(|&v| u * v));
        }
        Matrix::from_buffer(self.len(), other.len(), data)
    }
}

impl_dense_common!(Vector);

impl<T> From<Vec<T>> for Vector<T> {
    fn from(data: Vec<T>) -> Self {
        Self::from_vec(data)
    }
}

impl<T> Index<usize> for Vector<T> {
    type Output = T;
    #[track_caller]
    fn index(&self, i: usize) -> &T {
        &self.data[i]
    }
}

impl<T> IndexMut<usize> for Vector<T> {
    #[track_caller]
    fn index_mut(&mut self, i: usize) -> &mut T {
        &mut self.data[i]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dot_and_outer() {
        let u = Vector::from_vec(vec![1.0, 2.0, 3.0]);
        let v = Vector::from(vec![4.0, 5.0]);
        assert_eq!(u.dot(&u), 14.0);
        assert_eq!(
            u.outer(&v),
            Matrix::from_rows(&[[4.0, 5.0], [8.0, 10.0], [12.0, 15.0]])
        );
        assert_eq!(
            Vector::from_fn(3, |i| i as f32 + 1.0).as_slice(),
            &[1.0, 2.0, 3.0]
        );
    }

    #[test]
    #[should_panic(
        expected = "autodiff: shape mismatch in `dot`: left is vector of 3, right is vector of 2"
    )]
    fn dot_checks_lengths() {
        Vector::<f64>::zeros(3).dot(&Vector::zeros(2));
    }
}
