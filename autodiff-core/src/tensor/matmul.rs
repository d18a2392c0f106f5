//! Matrix products. Every transposed variant hands the transpose to GEMM as swapped strides
//! ([`MatRef::t`]); nothing is copied. Matrix·vector products are direct loops (contiguous dot
//! products or axpys), which beat a GEMM call with `n = 1`.

use super::buffer;
use super::elementwise::{axpy, dot_slice};
use super::gemm::{self, MatRef};
use super::matrix::Matrix;
use super::scalar::Real;
use super::shape::shape_mismatch;
use super::vector::Vector;

/// A right operand of [`Matrix::matmul`] and [`Matrix::t_matmul`]: a `Matrix` or a `Vector`.
pub trait MatMulRhs<T: Real> {
    /// The product's type: `Matrix` for a matrix, `Vector` for a vector.
    type Output;
    /// `lhs · self`.
    #[track_caller]
    fn left_matmul(&self, lhs: &Matrix<T>) -> Self::Output;
    /// `lhsᵀ · self`.
    #[track_caller]
    fn left_t_matmul(&self, lhs: &Matrix<T>) -> Self::Output;
}

impl<T: Real, R: MatMulRhs<T> + ?Sized> MatMulRhs<T> for &R {
    type Output = R::Output;
    #[track_caller]
    fn left_matmul(&self, lhs: &Matrix<T>) -> Self::Output {
        (**self).left_matmul(lhs)
    }
    #[track_caller]
    fn left_t_matmul(&self, lhs: &Matrix<T>) -> Self::Output {
        (**self).left_t_matmul(lhs)
    }
}

/// `a · b` for strided views, as a new `a.rows() × b.cols()` matrix.
fn product<T: Real>(a: MatRef<'_, T>, b: MatRef<'_, T>) -> Matrix<T> {
    Matrix::from_buffer(a.rows(), b.cols(), gemm::product(T::one(), a, b))
}

impl<T: Real> MatMulRhs<T> for Matrix<T> {
    type Output = Matrix<T>;
    #[track_caller]
    fn left_matmul(&self, lhs: &Matrix<T>) -> Matrix<T> {
        if lhs.cols() != self.rows() {
            shape_mismatch("matmul", lhs.layout(), self.layout());
        }
        product(lhs.view(), self.view())
    }
    #[track_caller]
    fn left_t_matmul(&self, lhs: &Matrix<T>) -> Matrix<T> {
        if lhs.rows() != self.rows() {
            shape_mismatch("t_matmul", lhs.layout(), self.layout());
        }
        product(lhs.view().t(), self.view())
    }
}

impl<T: Real> MatMulRhs<T> for Vector<T> {
    type Output = Vector<T>;
    #[track_caller]
    fn left_matmul(&self, lhs: &Matrix<T>) -> Vector<T> {
        if lhs.cols() != self.len() {
            shape_mismatch("matmul", lhs.layout(), self.layout());
        }
        if lhs.cols() == 0 {
            return Vector::zeros(lhs.rows());
        }
        let x = self.as_slice();
        let rows = lhs.as_slice().chunks_exact(lhs.cols());
        Vector::from_buffer(buffer::collect(
            lhs.rows(),
            rows.map(|row| dot_slice(row, x)),
        ))
    }
    #[track_caller]
    fn left_t_matmul(&self, lhs: &Matrix<T>) -> Vector<T> {
        if lhs.rows() != self.len() {
            shape_mismatch("t_matmul", lhs.layout(), self.layout());
        }
        let mut out = Vector::zeros(lhs.cols());
        if lhs.cols() > 0 {
            for (row, &v) in lhs.as_slice().chunks_exact(lhs.cols()).zip(self.as_slice()) {
                axpy(v, row, out.as_mut_slice());
            }
        }
        out
    }
}

impl<T: Real> Matrix<T> {
    /// The product `self · rhs` (GEMM for a matrix `rhs`; a `Vector` `rhs` gives a `Vector`).
    #[track_caller]
    pub fn matmul<R: MatMulRhs<T> + ?Sized>(&self, rhs: &R) -> R::Output {
        rhs.left_matmul(self)
    }

    /// The product `selfᵀ · rhs`, without copying the transpose.
    #[track_caller]
    pub fn t_matmul<R: MatMulRhs<T> + ?Sized>(&self, rhs: &R) -> R::Output {
        rhs.left_t_matmul(self)
    }

    /// The product `self · rhsᵀ`, without copying the transpose.
    #[track_caller]
    pub fn matmul_t(&self, rhs: &Matrix<T>) -> Matrix<T> {
        if self.cols() != rhs.cols() {
            shape_mismatch("matmul_t", self.layout(), rhs.layout());
        }
        product(self.view(), rhs.view().t())
    }

    /// The product `selfᵀ · rhsᵀ`, without copying either transpose.
    #[track_caller]
    pub fn t_matmul_t(&self, rhs: &Matrix<T>) -> Matrix<T> {
        if self.rows() != rhs.cols() {
            shape_mismatch("t_matmul_t", self.layout(), rhs.layout());
        }
        product(self.view().t(), rhs.view().t())
    }
}

/// `acc + op(a)·op(b)` (`op` the transpose where `ta`/`tb` say), written into `acc`'s buffer by
/// the GEMM kernel (β = 1) when `acc` has the product's shape: generated code sums a gradient
/// over a loop's iterations this way (dW += Hᵀ·dZ) without allocating each product and adding
/// it in a second pass. Otherwise `acc + product`, broadcasting as `+` does.
#[track_caller]
pub fn matmul_acc<T: Real>(
    mut acc: Matrix<T>,
    a: &Matrix<T>,
    b: &Matrix<T>,
    ta: bool,
    tb: bool,
) -> Matrix<T> {
    let (av, bv) = (
        if ta { a.view().t() } else { a.view() },
        if tb { b.view().t() } else { b.view() },
    );
    if av.cols() != bv.rows() {
        let name = match (ta, tb) {
            (false, false) => "matmul",
            (true, false) => "t_matmul",
            (false, true) => "matmul_t",
            (true, true) => "t_matmul_t",
        };
        shape_mismatch(name, a.layout(), b.layout());
    }
    if acc.shape() == (av.rows(), bv.cols()) {
        gemm::gemm(T::one(), av, bv, T::one(), acc.as_mut_slice());
        acc
    } else {
        acc + product(av, bv)
    }
}
