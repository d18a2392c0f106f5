//! `inverse`, `det`, `logdet` and `solve` (and the transposed solve of `solve`'s pullback),
//! from faer's LU factorization with partial pivoting.
//!
//! A row-major matrix read column-major is its transpose, so each operation factors Aᵀ, in
//! place in a copy of A's elements, and the solves trade places: A·x = b is the transposed solve
//! with the factors of Aᵀ and Aᵀ·x = b the plain one, while faer's inverse of Aᵀ, written
//! column-major, is A⁻¹ row-major. Nothing is transposed or copied besides that one copy.
//!
//! A matrix is singular (to working precision) when a pivot is at most ε times the largest: the
//! pivots' ratio bounds the condition number from below, and past 1/ε a solve has no correct
//! digit left. Then `inverse`, `logdet` and `solve` panic, naming the operation and, in
//! generated code, the function and the expression as written, as shape errors do. `det` does
//! not: a singular matrix's determinant is 0, a value like any other (its gradient, which needs
//! the inverse, does panic).

use std::any::{Any, TypeId};

use faer::dyn_stack::{MemBuffer, MemStack};
use faer::linalg::lu::partial_pivoting::{factor, inverse, solve};
use faer::perm::PermRef;
use faer::traits::RealField;
use faer::{MatMut, MatRef, Par};

use super::buffer;
use super::matrix::Matrix;
use super::scalar::Real;
use super::shape::{shape_mismatch, unfit_matrix};
use super::vector::Vector;

/// Runs `$body` with each `$v` (a `&mut Vec<T>`) rebound as a slice of the float type that `$T`
/// is. Why: faer is generic over its own field trait, which `Real` (sealed to `f32` and `f64`,
/// both faer fields) does not imply, as faer is no part of this crate's API; `Any` picks the
/// concrete type safely and compiles to nothing.
macro_rules! as_faer_field {
    (<$T:ty> $($v:ident),* => $body:expr) => {{
        if TypeId::of::<$T>() == TypeId::of::<f64>() {
            $(let $v = elements_of::<f64>($v);)*
            $body
        } else {
            $(let $v = elements_of::<f32>($v);)*
            $body
        }
    }};
}

/// The elements of `v`, a `Vec<F>`.
fn elements_of<F: 'static>(v: &mut dyn Any) -> &mut [F] {
    v.downcast_mut::<Vec<F>>().expect("`Real` is f32 or f64")
}

/// The LU factors of Aᵀ (P·Aᵀ = L·U), in faer's layout: L (unit lower) and U in one
/// column-major n×n buffer, and the row permutation both ways.
struct Lu<T> {
    n: usize,
    factors: Vec<T>,
    perm: Vec<usize>,
    perm_inv: Vec<usize>,
    /// The row swaps made: det(P) = (−1)^swaps.
    swaps: usize,
}

impl<T: Real> Lu<T> {
    /// Factors `a`, which `op` needs square.
    #[track_caller]
    fn new(op: &str, a: &Matrix<T>) -> Self {
        let n = square(op, a);
        let mut factors = buffer::collect(n * n, a.as_slice().iter().copied());
        let (mut perm, mut perm_inv) = (vec![0; n], vec![0; n]);
        let swaps = {
            let factors = &mut factors;
            as_faer_field!(<T> factors => factor_in_place(factors, n, &mut perm, &mut perm_inv))
        };
        Lu {
            n,
            factors,
            perm,
            perm_inv,
            swaps,
        }
    }

    /// The diagonal of U.
    fn pivots(&self) -> impl Iterator<Item = T> + '_ {
        (0..self.n).map(|i| self.factors[i * self.n + i])
    }

    /// Itself, or a panic naming `op` if the matrix is singular to working precision. (NaNs
    /// compare false: a matrix of NaNs gives NaNs, like any other operation.)
    #[track_caller]
    fn nonsingular(self, op: &str) -> Self {
        if self.is_singular() {
            let n = self.n;
            unfit_matrix(format_args!(
                "singular matrix in `{op}`: the {n}×{n} matrix has a zero pivot (to working \
                 precision)"
            ));
        }
        self
    }

    /// Whether a pivot is at most ε times the largest (NaNs compare false).
    fn is_singular(&self) -> bool {
        let largest = self.pivots().fold(T::zero(), |m, p| m.max(p.abs()));
        let tiny = T::epsilon() * largest;
        largest.is_finite() && self.pivots().any(|p| p.abs() <= tiny)
    }

    /// det(A) = det(Aᵀ) = det(P)·Π uᵢᵢ.
    fn det(&self) -> T {
        let product = self.pivots().fold(T::one(), |d, p| d * p);
        if self.swaps % 2 == 0 {
            product
        } else {
            -product
        }
    }

    /// ln |det(A)| = Σ ln |uᵢᵢ|: a sum of logarithms, which neither overflows nor underflows
    /// where the product would.
    fn logdet(&self) -> T {
        self.pivots().map(|p| p.abs().ln()).sum()
    }

    /// A⁻¹·B, or A⁻ᵀ·B if `transposed`, in the buffer of B's n×k elements (row-major).
    fn solve(&mut self, mut rhs: Vec<T>, k: usize, transposed: bool) -> Vec<T> {
        let (n, factors) = (self.n, &mut self.factors);
        let (perm, perm_inv) = (&self.perm, &self.perm_inv);
        {
            let rhs = &mut rhs;
            // The factors are Aᵀ's: A's own solve is their transposed one.
            as_faer_field!(<T> factors, rhs => {
                solve_with(factors, n, perm, perm_inv, rhs, k, !transposed)
            });
        }
        rhs
    }

    /// A⁻¹, row-major.
    fn inverse(&mut self) -> Vec<T> {
        let (n, factors) = (self.n, &mut self.factors);
        let (perm, perm_inv) = (&self.perm, &self.perm_inv);
        let mut out = buffer::filled(n * n, T::zero());
        {
            let out = &mut out;
            as_faer_field!(<T> factors, out => invert(factors, n, perm, perm_inv, out));
        }
        out
    }
}

/// The order of `a`, or a panic naming `op` if it is not square.
#[track_caller]
pub(crate) fn square<T>(op: &str, a: &Matrix<T>) -> usize {
    let (rows, cols) = a.shape();
    if rows != cols {
        unfit_matrix(format_args!(
            "`{op}` takes a square matrix, found {rows}×{cols}"
        ));
    }
    rows
}

// ── faer ─────────────────────────────────────────────────────────────────────────────────────
// On the calling thread (`Par::Seq`): faer's `rayon` feature is off, and the GEMM module keeps
// the threading decisions of this crate.

/// LU with partial pivoting of the column-major n×n `a`, in place; the number of row swaps.
fn factor_in_place<F: RealField>(
    a: &mut [F],
    n: usize,
    perm: &mut [usize],
    perm_inv: &mut [usize],
) -> usize {
    let params = Default::default();
    let scratch = factor::lu_in_place_scratch::<usize, F>(n, n, Par::Seq, params);
    let (info, _) = factor::lu_in_place(
        MatMut::from_column_major_slice_mut(a, n, n),
        perm,
        perm_inv,
        Par::Seq,
        MemStack::new(&mut MemBuffer::new(scratch)),
        params,
    );
    info.transposition_count
}

/// M⁻¹·B (or M⁻ᵀ·B if `transposed`) in place, M the factored matrix and B n×k row-major.
fn solve_with<F: RealField>(
    factors: &[F],
    n: usize,
    perm: &[usize],
    perm_inv: &[usize],
    rhs: &mut [F],
    k: usize,
    transposed: bool,
) {
    let lu = MatRef::from_column_major_slice(factors, n, n);
    let perm = PermRef::new_checked(perm, perm_inv, n);
    let rhs = MatMut::from_row_major_slice_mut(rhs, n, k);
    let scratch = if transposed {
        solve::solve_transpose_in_place_scratch::<usize, F>(n, k, Par::Seq)
    } else {
        solve::solve_in_place_scratch::<usize, F>(n, k, Par::Seq)
    };
    let mut memory = MemBuffer::new(scratch);
    let stack = MemStack::new(&mut memory);
    if transposed {
        solve::solve_transpose_in_place(lu, lu, perm, rhs, Par::Seq, stack);
    } else {
        solve::solve_in_place(lu, lu, perm, rhs, Par::Seq, stack);
    }
}

/// M⁻¹ into `out`, column-major, M the factored matrix.
fn invert<F: RealField>(
    factors: &[F],
    n: usize,
    perm: &[usize],
    perm_inv: &[usize],
    out: &mut [F],
) {
    let lu = MatRef::from_column_major_slice(factors, n, n);
    let perm = PermRef::new_checked(perm, perm_inv, n);
    let scratch = inverse::inverse_scratch::<usize, F>(n, Par::Seq);
    inverse::inverse(
        MatMut::from_column_major_slice_mut(out, n, n),
        lu,
        lu,
        perm,
        Par::Seq,
        MemStack::new(&mut MemBuffer::new(scratch)),
    );
}

// ── the operations ───────────────────────────────────────────────────────────────────────────

/// A right-hand side of [`Matrix::solve`]: a `Vector`, or a `Matrix` whose columns are solved
/// for at once.
pub trait SolveRhs<T: Real> {
    /// The solution's type: the right-hand side's.
    type Output;
    /// `lhs⁻¹·self`, or `lhs⁻ᵀ·self` if `transposed`, named `op` in panics.
    #[track_caller]
    fn left_solve(&self, lhs: &Matrix<T>, transposed: bool, op: &str) -> Self::Output;
}

impl<T: Real, R: SolveRhs<T> + ?Sized> SolveRhs<T> for &R {
    type Output = R::Output;
    #[track_caller]
    fn left_solve(&self, lhs: &Matrix<T>, transposed: bool, op: &str) -> R::Output {
        (**self).left_solve(lhs, transposed, op)
    }
}

/// The elements of A⁻¹·B (or A⁻ᵀ·B), B's being `b` of `k` columns.
#[track_caller]
fn solve_elements<T: Real>(a: &Matrix<T>, b: &[T], k: usize, transposed: bool, op: &str) -> Vec<T> {
    let mut lu = Lu::new(op, a).nonsingular(op);
    lu.solve(buffer::collect(b.len(), b.iter().copied()), k, transposed)
}

impl<T: Real> SolveRhs<T> for Vector<T> {
    type Output = Vector<T>;
    #[track_caller]
    fn left_solve(&self, lhs: &Matrix<T>, transposed: bool, op: &str) -> Vector<T> {
        if square(op, lhs) != self.len() {
            shape_mismatch(op, lhs.layout(), self.layout());
        }
        Vector::from_buffer(solve_elements(lhs, self.as_slice(), 1, transposed, op))
    }
}

impl<T: Real> SolveRhs<T> for Matrix<T> {
    type Output = Matrix<T>;
    #[track_caller]
    fn left_solve(&self, lhs: &Matrix<T>, transposed: bool, op: &str) -> Matrix<T> {
        if square(op, lhs) != self.rows() {
            shape_mismatch(op, lhs.layout(), self.layout());
        }
        let x = solve_elements(lhs, self.as_slice(), self.cols(), transposed, op);
        Matrix::from_buffer(self.rows(), self.cols(), x)
    }
}

impl<T: Real> Matrix<T> {
    /// The inverse, by LU with partial pivoting. Panics if the matrix is not square, or is
    /// singular to working precision (a pivot at most ε times the largest). Where the inverse
    /// only multiplies something, [`solve`](Self::solve) is cheaper and more accurate.
    #[track_caller]
    pub fn inverse(&self) -> Matrix<T> {
        let mut lu = Lu::new("inverse", self).nonsingular("inverse");
        let n = lu.n;
        Matrix::from_buffer(n, n, lu.inverse())
    }

    /// The inverse, or `None` if the matrix is not square or is singular to working precision
    /// (where [`inverse`](Self::inverse) panics): for callers that recover, such as a solver
    /// that reports a singular Hessian as an error.
    pub fn try_inverse(&self) -> Option<Matrix<T>> {
        if self.rows() != self.cols() {
            return None;
        }
        let mut lu = Lu::new("inverse", self);
        if lu.is_singular() {
            return None;
        }
        let n = lu.n;
        Some(Matrix::from_buffer(n, n, lu.inverse()))
    }

    /// The determinant, by LU with partial pivoting (0, or nearly, for a singular matrix).
    /// Panics if the matrix is not square.
    #[track_caller]
    pub fn det(&self) -> T {
        Lu::new("det", self).det()
    }

    /// ln |det(self)|, summed from the LU factors' pivots, so it stays finite where the
    /// determinant itself would overflow or underflow. Panics if the matrix is not square, or
    /// is singular to working precision.
    #[track_caller]
    pub fn logdet(&self) -> T {
        Lu::new("logdet", self).nonsingular("logdet").logdet()
    }

    /// `self⁻¹·b` for a `Vector` or a `Matrix` `b`, by LU with partial pivoting, without
    /// forming the inverse. Panics if `self` is not square, if `b` has not as many rows, or if
    /// `self` is singular to working precision.
    #[track_caller]
    pub fn solve<R: SolveRhs<T> + ?Sized>(&self, b: &R) -> R::Output {
        b.left_solve(self, false, "solve")
    }
}

/// `a⁻ᵀ·b` (`solve`'s pullback), by LU with partial pivoting.
#[track_caller]
pub fn solve_transposed<T: Real, R: SolveRhs<T> + ?Sized>(a: &Matrix<T>, b: &R) -> R::Output {
    b.left_solve(a, true, "solve")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: &[f64], b: &[f64], tol: f64) -> bool {
        a.len() == b.len() && a.iter().zip(b).all(|(x, y)| (x - y).abs() <= tol)
    }

    fn sample() -> Matrix<f64> {
        // Needs a row swap: the first pivot is not the largest entry of its column.
        Matrix::from_rows(&[[1.0, 2.0, 0.5], [4.0, -1.0, 2.0], [0.5, 3.0, -2.0]])
    }

    #[test]
    fn inverse_times_the_matrix_is_the_identity() {
        let a = sample();
        let product = a.matmul(&a.inverse());
        assert!(close(
            product.as_slice(),
            Matrix::<f64>::identity(3).as_slice(),
            1e-14
        ));
        let a32 = Matrix::from_rows(&[[2.0f32, 1.0], [1.0, 3.0]]);
        let inverse = a32.inverse();
        assert_eq!(inverse.as_slice(), &[0.6, -0.2, -0.2, 0.4]);
    }

    #[test]
    fn try_inverse_is_the_inverse_or_none() {
        let a = sample();
        assert_eq!(a.try_inverse(), Some(a.inverse()));
        assert_eq!(
            Matrix::from_rows(&[[1.0, 2.0], [2.0, 4.0]]).try_inverse(),
            None
        );
        assert_eq!(Matrix::<f64>::zeros(2, 3).try_inverse(), None);
    }

    #[test]
    fn det_and_logdet_follow_the_pivots_and_the_swaps() {
        let a = sample();
        // By cofactors: 1·(2 − 6) − 2·(−8 − 1) + 0.5·(12 + 0.5) = 20.25.
        assert!((a.det() - 20.25).abs() < 1e-13);
        assert!((a.logdet() - 20.25f64.ln()).abs() < 1e-14);
        // One row swap: the sign flips, |det| does not.
        let swapped = Matrix::from_rows(&[[0.0, 1.0], [1.0, 0.0]]);
        assert_eq!(swapped.det(), -1.0);
        assert_eq!(swapped.logdet(), 0.0);
        assert_eq!(Matrix::<f64>::zeros(0, 0).det(), 1.0);
        // A singular matrix's determinant is 0, not a panic.
        assert_eq!(Matrix::from_rows(&[[1.0, 2.0], [2.0, 4.0]]).det(), 0.0);
    }

    #[test]
    fn solves_match_products_with_the_inverse() {
        let a = sample();
        let b = Vector::from_vec(vec![1.0, -2.0, 0.5]);
        let x = a.solve(&b);
        assert!(close(a.matmul(&x).as_slice(), b.as_slice(), 1e-14));
        let t = solve_transposed(&a, &b);
        assert!(close(a.t_matmul(&t).as_slice(), b.as_slice(), 1e-14));
        let m = Matrix::from_rows(&[[1.0, 0.0], [2.0, -1.0], [0.0, 3.0]]);
        let xm = a.solve(&m);
        assert!(close(a.matmul(&xm).as_slice(), m.as_slice(), 1e-14));
        let tm = solve_transposed(&a, &m);
        assert!(close(a.t_matmul(&tm).as_slice(), m.as_slice(), 1e-14));
    }

    #[test]
    #[should_panic(expected = "singular matrix in `inverse`: the 3×3 matrix has a zero pivot")]
    fn a_numerically_singular_matrix_panics() {
        // Rank 2 exactly; its LU's last pivot is rounding noise, not an exact zero.
        Matrix::from_rows(&[[1.0, 2.0, 3.0], [4.0, 5.0, 6.0], [7.0, 8.0, 9.0]]).inverse();
    }

    #[test]
    #[should_panic(expected = "singular matrix in `solve`")]
    fn a_singular_solve_panics() {
        Matrix::<f32>::zeros(2, 2).solve(&Vector::from_vec(vec![1.0, 1.0]));
    }

    #[test]
    #[should_panic(expected = "`logdet` takes a square matrix, found 2×3")]
    fn a_rectangular_matrix_panics() {
        Matrix::<f64>::zeros(2, 3).logdet();
    }

    #[test]
    #[should_panic(expected = "shape mismatch in `solve`: left is 3×3, right is vector of 2")]
    fn a_right_hand_side_of_the_wrong_length_panics() {
        sample().solve(&Vector::from_vec(vec![1.0, 2.0]));
    }
}
