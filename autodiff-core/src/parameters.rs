//! Parameters as one value: what `#[derive(Differentiable)]` gives a struct of scalars, vectors,
//! matrices and other such structs, and what the floats and tensors themselves have, so that a
//! struct's methods are its fields' in turn. An optimiser loop is then a few lines over the whole
//! model (`p.axpy(-rate, &grad)`), and `to_flat`/`from_flat` hand it to solvers that want one
//! flat vector: fields in declaration order, each row-major, the order `f_hessian` and
//! `f_jacobian` use for a struct's entries.

use crate::tensor::{Matrix, Real, Vector};

/// A value made of differentiable parameters: a float, a `Vector`, a `Matrix`, or a struct of
/// them with `#[derive(Differentiable)]` (whose `#[no_derivative]` fields are constants: copied
/// as they are, never counted, added or flattened).
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not Differentiable",
    label = "not a scalar, a vector, a matrix or a Differentiable struct",
    note = "put #[derive(Differentiable)] on the struct, or mark the field #[no_derivative] \
            to keep it constant"
)]
pub trait Differentiable: Clone {
    /// The element type, `f32` or `f64`.
    type Element: Real;

    /// A value of the same shape with every parameter zero (constants as they are).
    fn zeros_like(&self) -> Self;

    /// `self += a·other`, parameter by parameter (constants untouched). Panics if a tensor's
    /// shape differs.
    fn axpy(&mut self, a: Self::Element, other: &Self);

    /// `Σ selfᵢ·otherᵢ` over the parameters. Panics if a tensor's shape differs.
    fn dot(&self, other: &Self) -> Self::Element;

    /// How many scalar parameters the value holds.
    fn num_params(&self) -> usize;

    /// Appends the parameters to `out`: fields in declaration order, each row-major.
    fn extend_flat(&self, out: &mut Vec<Self::Element>);

    /// A value shaped like `self` whose parameters are the first [`num_params`] entries of
    /// `flat`, which it moves past (constants copied from `self`). Panics if `flat` is short.
    ///
    /// [`num_params`]: Differentiable::num_params
    fn take_flat(&self, flat: &mut &[Self::Element]) -> Self;

    /// The parameters as one vector, in the order of [`extend_flat`].
    ///
    /// [`extend_flat`]: Differentiable::extend_flat
    fn to_flat(&self) -> Vec<Self::Element> {
        let mut out = Vec::with_capacity(self.num_params());
        self.extend_flat(&mut out);
        out
    }

    /// A value shaped like `self` with the parameters of `flat` (as [`to_flat`] orders them).
    /// Panics unless `flat` holds exactly [`num_params`] entries.
    ///
    /// [`to_flat`]: Differentiable::to_flat
    /// [`num_params`]: Differentiable::num_params
    // (It takes `self` for the shapes and constants, which `from_*` names usually do not: the
    // contract's name, the way an optimiser reads it.)
    #[allow(clippy::wrong_self_convention)]
    #[track_caller]
    fn from_flat(&self, flat: &[Self::Element]) -> Self {
        let expected = self.num_params();
        assert!(
            flat.len() == expected,
            "autodiff: from_flat needs {expected} values for this value's parameters, found {}",
            flat.len()
        );
        let mut rest = flat;
        self.take_flat(&mut rest)
    }
}

/// The first `n` entries of `flat`, which moves past them.
#[track_caller]
fn take<'a, T>(flat: &mut &'a [T], n: usize) -> &'a [T] {
    assert!(
        flat.len() >= n,
        "autodiff: from_flat ran out of values: {n} needed, {} left",
        flat.len()
    );
    let (head, rest) = flat.split_at(n);
    *flat = rest;
    head
}

macro_rules! float_parameter {
    ($t:ty) => {
        impl Differentiable for $t {
            type Element = $t;
            fn zeros_like(&self) -> Self {
                0.0
            }
            fn axpy(&mut self, a: $t, other: &Self) {
                *self += a * other;
            }
            fn dot(&self, other: &Self) -> $t {
                self * other
            }
            fn num_params(&self) -> usize {
                1
            }
            fn extend_flat(&self, out: &mut Vec<$t>) {
                out.push(*self);
            }
            #[track_caller]
            fn take_flat(&self, flat: &mut &[$t]) -> Self {
                take(flat, 1)[0]
            }
        }
    };
}

float_parameter!(f32);
float_parameter!(f64);

/// `Σ aᵢ·bᵢ` of two tensors' elements, which must be as many.
#[track_caller]
fn dot_elements<T: Real>(what: &str, a: &[T], b: &[T]) -> T {
    assert!(
        a.len() == b.len(),
        "autodiff: {what} of parameters of {} and {} elements",
        a.len(),
        b.len()
    );
    a.iter().zip(b).map(|(&x, &y)| x * y).sum()
}

/// `a += s·b` over two tensors' elements, which must be as many.
#[track_caller]
fn axpy_elements<T: Real>(a: &mut [T], s: T, b: &[T]) {
    assert!(
        a.len() == b.len(),
        "autodiff: axpy of parameters of {} and {} elements",
        a.len(),
        b.len()
    );
    for (x, &y) in a.iter_mut().zip(b) {
        *x += s * y;
    }
}

impl<T: Real> Differentiable for Vector<T> {
    type Element = T;
    fn zeros_like(&self) -> Self {
        Vector::zeros(self.len())
    }
    #[track_caller]
    fn axpy(&mut self, a: T, other: &Self) {
        axpy_elements(self.as_mut_slice(), a, other.as_slice());
    }
    #[track_caller]
    fn dot(&self, other: &Self) -> T {
        dot_elements("dot", self.as_slice(), other.as_slice())
    }
    fn num_params(&self) -> usize {
        self.len()
    }
    fn extend_flat(&self, out: &mut Vec<T>) {
        out.extend_from_slice(self.as_slice());
    }
    #[track_caller]
    fn take_flat(&self, flat: &mut &[T]) -> Self {
        Vector::from_vec(take(flat, self.len()).to_vec())
    }
}

impl<T: Real> Differentiable for Matrix<T> {
    type Element = T;
    fn zeros_like(&self) -> Self {
        Matrix::zeros(self.rows(), self.cols())
    }
    #[track_caller]
    fn axpy(&mut self, a: T, other: &Self) {
        assert!(
            self.shape() == other.shape(),
            "autodiff: axpy of a {}×{} and a {}×{} matrix",
            self.rows(),
            self.cols(),
            other.rows(),
            other.cols()
        );
        axpy_elements(self.as_mut_slice(), a, other.as_slice());
    }
    #[track_caller]
    fn dot(&self, other: &Self) -> T {
        assert!(
            self.shape() == other.shape(),
            "autodiff: dot of a {}×{} and a {}×{} matrix",
            self.rows(),
            self.cols(),
            other.rows(),
            other.cols()
        );
        dot_elements("dot", self.as_slice(), other.as_slice())
    }
    fn num_params(&self) -> usize {
        self.rows() * self.cols()
    }
    fn extend_flat(&self, out: &mut Vec<T>) {
        out.extend_from_slice(self.as_slice());
    }
    #[track_caller]
    fn take_flat(&self, flat: &mut &[T]) -> Self {
        let (rows, cols) = self.shape();
        Matrix::from_vec(rows, cols, take(flat, rows * cols).to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tensors_flatten_row_major_and_come_back() {
        let m = Matrix::from_rows(&[[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]);
        assert_eq!(m.to_flat(), vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        assert_eq!(m.num_params(), 6);
        let back = m.from_flat(&[6.0, 5.0, 4.0, 3.0, 2.0, 1.0]);
        assert_eq!(back.shape(), (2, 3));
        assert_eq!(back[(1, 0)], 3.0);
        let v = Vector::from_vec(vec![1.0f32, -2.0]);
        assert_eq!(v.from_flat(&v.to_flat()), v);
        assert_eq!(2.5f64.to_flat(), vec![2.5]);
    }

    #[test]
    fn axpy_and_dot_go_element_by_element() {
        let mut a = Vector::from_vec(vec![1.0, 2.0]);
        let b = Vector::from_vec(vec![10.0, -10.0]);
        a.axpy(0.5, &b);
        assert_eq!(a.as_slice(), &[6.0, -3.0]);
        assert_eq!(Differentiable::dot(&a, &b), 90.0);
        let m = Matrix::from_rows(&[[1.0, 2.0], [3.0, 4.0]]);
        assert_eq!(Differentiable::dot(&m, &m), 30.0);
        assert_eq!(m.zeros_like().to_flat(), vec![0.0; 4]);
        let mut s = 1.0f64;
        s.axpy(2.0, &3.0);
        assert_eq!(s, 7.0);
    }

    #[test]
    #[should_panic(expected = "from_flat needs 4 values for this value's parameters, found 3")]
    fn from_flat_of_the_wrong_length_panics() {
        Matrix::<f64>::zeros(2, 2).from_flat(&[1.0, 2.0, 3.0]);
    }

    #[test]
    #[should_panic(expected = "axpy of a 2×2 and a 1×4 matrix")]
    fn axpy_of_other_shapes_panics() {
        Matrix::<f64>::zeros(2, 2).axpy(1.0, &Matrix::zeros(1, 4));
    }
}
