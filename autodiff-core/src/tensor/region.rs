//! Reading part of a tensor, and adding into that part: `x[i]`, `m[(i, j)]`, `x.slice(a..b)`,
//! `m.slice_rows(a..b)`. The adds are the reads' pullbacks; they update the adjoint in place, so
//! a loop that reads one entry per iteration costs O(1) per read backwards, not a whole tensor.

use std::ops::{Bound, RangeBounds};

use super::matrix::Matrix;
use super::scalar::Real;
use super::shape::out_of_range;
use super::vector::Vector;

#[track_caller]
fn check_entry(i: usize, n: usize) {
    if i >= n {
        out_of_range(format_args!(
            "index {i} is out of range for a vector of length {n}"
        ));
    }
}

#[track_caller]
fn check_range(what: &str, start: usize, end: usize, n: usize, of: &str) {
    if start > end || end > n {
        out_of_range(format_args!(
            "{what} {start}..{end} {} out of range for {of}",
            if what == "rows" { "are" } else { "is" }
        ));
    }
}

/// `x[i]`.
#[track_caller]
pub fn read_entry<T: Real>(x: &Vector<T>, i: &usize) -> T {
    check_entry(*i, x.len());
    x[*i]
}

/// `acc[i] += dy`.
#[track_caller]
pub fn add_to_entry<T: Real>(mut acc: Vector<T>, dy: &T, i: &usize) -> Vector<T> {
    check_entry(*i, acc.len());
    acc.as_mut_slice()[*i] += *dy;
    acc
}

#[track_caller]
fn check_element(i: usize, j: usize, (rows, cols): (usize, usize)) {
    if i >= rows || j >= cols {
        out_of_range(format_args!(
            "index ({i}, {j}) is out of range for a {rows}×{cols} matrix"
        ));
    }
}

/// `m[(i, j)]`.
#[track_caller]
pub fn read_element<T: Real>(m: &Matrix<T>, i: &usize, j: &usize) -> T {
    check_element(*i, *j, m.shape());
    m[(*i, *j)]
}

/// `acc[(i, j)] += dy`.
#[track_caller]
pub fn add_to_element<T: Real>(mut acc: Matrix<T>, dy: &T, i: &usize, j: &usize) -> Matrix<T> {
    check_element(*i, *j, acc.shape());
    acc[(*i, *j)] += *dy;
    acc
}

/// `x[a..b]` as a vector.
#[track_caller]
pub fn read_segment<T: Real>(x: &Vector<T>, a: &usize, b: &usize) -> Vector<T> {
    let n = x.len();
    check_range("range", *a, *b, n, &format!("a vector of length {n}"));
    Vector::from_vec(x.as_slice()[*a..*b].to_vec())
}

/// `acc[a..b] += dy`.
#[track_caller]
pub fn add_to_segment<T: Real>(
    mut acc: Vector<T>,
    dy: &Vector<T>,
    a: &usize,
    b: &usize,
) -> Vector<T> {
    let n = acc.len();
    check_range("range", *a, *b, n, &format!("a vector of length {n}"));
    let (a, b) = (*a, *b);
    if dy.len() != b - a {
        out_of_range(format_args!(
            "a gradient of length {} does not fit the range {a}..{b}",
            dy.len()
        ));
    }
    for (slot, d) in acc.as_mut_slice()[a..b].iter_mut().zip(dy.as_slice()) {
        *slot += *d;
    }
    acc
}

/// Rows `a..b` of `m`, as a matrix.
#[track_caller]
pub fn read_rows<T: Real>(m: &Matrix<T>, a: &usize, b: &usize) -> Matrix<T> {
    let (rows, cols) = m.shape();
    check_range("rows", *a, *b, rows, &format!("a {rows}×{cols} matrix"));
    Matrix::from_vec(*b - *a, cols, m.as_slice()[*a * cols..*b * cols].to_vec())
}

/// Rows `a..b` of `acc` += `dy`.
#[track_caller]
pub fn add_to_rows<T: Real>(mut acc: Matrix<T>, dy: &Matrix<T>, a: &usize, b: &usize) -> Matrix<T> {
    let (rows, cols) = acc.shape();
    check_range("rows", *a, *b, rows, &format!("a {rows}×{cols} matrix"));
    let (a, b) = (*a, *b);
    if dy.shape() != (b - a, cols) {
        let (r, c) = dy.shape();
        out_of_range(format_args!(
            "a {r}×{c} gradient does not fit rows {a}..{b} of a {rows}×{cols} matrix"
        ));
    }
    for (slot, d) in acc.as_mut_slice()[a * cols..b * cols]
        .iter_mut()
        .zip(dy.as_slice())
    {
        *slot += *d;
    }
    acc
}

/// `a..b`, `a..=b`, `..b`, `a..` as start and end within `0..n`.
fn bounds(range: &impl RangeBounds<usize>, n: usize) -> (usize, usize) {
    let start = match range.start_bound() {
        Bound::Included(&a) => a,
        Bound::Excluded(&a) => a + 1,
        Bound::Unbounded => 0,
    };
    let end = match range.end_bound() {
        Bound::Included(&b) => b + 1,
        Bound::Excluded(&b) => b,
        Bound::Unbounded => n,
    };
    (start, end)
}

impl<T: Real> Vector<T> {
    /// The entries in `range`, as a new vector (`x.slice(1..n)`). Panics if it is out of range.
    #[track_caller]
    pub fn slice(&self, range: impl RangeBounds<usize>) -> Vector<T> {
        let (a, b) = bounds(&range, self.len());
        read_segment(self, &a, &b)
    }
}

impl<T: Real> Matrix<T> {
    /// The rows in `range`, as a new matrix (`m.slice_rows(t * b..(t + 1) * b)`). Panics if
    /// it is out of range.
    #[track_caller]
    pub fn slice_rows(&self, range: impl RangeBounds<usize>) -> Matrix<T> {
        let (a, b) = bounds(&range, self.rows());
        read_rows(self, &a, &b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_and_adds_touch_only_their_part() {
        let x = Vector::from_vec(vec![1.0, 2.0, 3.0, 4.0]);
        assert_eq!(read_entry(&x, &2), 3.0);
        assert_eq!(read_segment(&x, &1, &3).as_slice(), &[2.0, 3.0]);
        let acc = add_to_entry(Vector::zeros(4), &5.0, &1);
        assert_eq!(acc.as_slice(), &[0.0, 5.0, 0.0, 0.0]);
        let acc = add_to_segment(acc, &Vector::from_vec(vec![1.0, 1.0]), &1, &3);
        assert_eq!(acc.as_slice(), &[0.0, 6.0, 1.0, 0.0]);

        let m = Matrix::from_vec(3, 2, vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        assert_eq!(read_element(&m, &2, &1), 6.0);
        assert_eq!(read_rows(&m, &1, &3).as_slice(), &[3.0, 4.0, 5.0, 6.0]);
        let acc = add_to_rows(
            Matrix::zeros(3, 2),
            &Matrix::from_vec(1, 2, vec![1.0, 2.0]),
            &2,
            &3,
        );
        let acc = add_to_element(acc, &7.0, &0, &0);
        assert_eq!(acc.as_slice(), &[7.0, 0.0, 0.0, 0.0, 1.0, 2.0]);
    }

    #[test]
    #[should_panic(expected = "index 4 is out of range for a vector of length 4")]
    fn an_entry_past_the_end_panics() {
        read_entry(&Vector::from_vec(vec![1.0f64; 4]), &4);
    }

    #[test]
    #[should_panic(expected = "rows 2..4 are out of range for a 3×2 matrix")]
    fn rows_past_the_end_panic() {
        read_rows(&Matrix::<f64>::zeros(3, 2), &2, &4);
    }
}
