//! Reading part of a tensor, and adding into that part: `x[i]`, `m[(i, j)]`, `x.slice(a..b)`,
//! `m.row(i)`, `m.col(j)`, `m.slice_rows(a..b)`, `m.slice_cols(a..b)`, `m.gather(labels)`. The
//! adds are the reads' pullbacks; they update the adjoint in place, so a loop that reads one
//! entry per iteration costs O(1) per read backwards, not a whole tensor. Then the joins, whose
//! pullbacks are reads: `Vector::from_vec(vec![..])` of scalars, `u.concat(&v)`, `a.vstack(&b)`,
//! `a.hstack(&b)`.

use std::ops::{Bound, RangeBounds};

use super::buffer;
use super::matrix::Matrix;
use super::scalar::Real;
use super::shape::{at, out_of_range, shape_mismatch};
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
fn check_range(what: &str, start: usize, end: usize, n: usize, of: impl FnOnce() -> String) {
    // (`of` is formatted only for the message: a read of a part runs this on every call.)
    if start > end || end > n {
        let of = of();
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

/// `x[a..b]` as a slice: what a fused loop reads of `x.slice(a..b)` (checked as
/// [`read_segment`] checks).
#[inline]
#[track_caller]
pub fn segment_of<'a, T: Real>(
    x: &'a Vector<T>,
    a: &usize,
    b: &usize,
    source: &'static str,
) -> &'a [T] {
    let (a, b, n) = (*a, *b, x.len());
    if a > b || b > n {
        segment_out_of_range(a, b, n, None, source);
    }
    &x.as_slice()[a..b]
}

/// `acc[a..b]`, to add `len` values into: what a fused loop writes of an
/// [`add_to_segment`] (checked as that checks).
#[inline]
#[track_caller]
pub fn segment_of_mut<'a, T: Real>(
    acc: &'a mut Vector<T>,
    a: &usize,
    b: &usize,
    len: usize,
    source: &'static str,
) -> &'a mut [T] {
    let (a, b, n) = (*a, *b, acc.len());
    if a > b || b > n || len != b - a {
        segment_out_of_range(a, b, n, Some(len), source);
    }
    &mut acc.as_mut_slice()[a..b]
}

/// The panic of [`segment_of`] and [`segment_of_mut`], out of line: they run on every call of
/// a fused loop, and their checks are all that should be inlined there.
#[cold]
#[inline(never)]
#[track_caller]
fn segment_out_of_range(
    a: usize,
    b: usize,
    n: usize,
    len: Option<usize>,
    source: &'static str,
) -> ! {
    // (The expression is recorded only for the message.)
    if !source.is_empty() {
        at(source);
    }
    check_range("range", a, b, n, || format!("a vector of length {n}"));
    let len = len.expect("a write's length, when the range itself is in bounds");
    out_of_range(format_args!(
        "a gradient of length {len} does not fit the range {a}..{b}"
    ))
}

/// `x[a..b]` as a vector.
#[track_caller]
pub fn read_segment<T: Real>(x: &Vector<T>, a: &usize, b: &usize) -> Vector<T> {
    let n = x.len();
    check_range("range", *a, *b, n, || format!("a vector of length {n}"));
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
    check_range("range", *a, *b, n, || format!("a vector of length {n}"));
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
    check_range("rows", *a, *b, rows, || format!("a {rows}×{cols} matrix"));
    Matrix::from_vec(*b - *a, cols, m.as_slice()[*a * cols..*b * cols].to_vec())
}

/// Rows `a..b` of `acc` += `dy`.
#[track_caller]
pub fn add_to_rows<T: Real>(mut acc: Matrix<T>, dy: &Matrix<T>, a: &usize, b: &usize) -> Matrix<T> {
    let (rows, cols) = acc.shape();
    check_range("rows", *a, *b, rows, || format!("a {rows}×{cols} matrix"));
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

#[track_caller]
fn check_row(what: &str, i: usize, (rows, cols): (usize, usize)) {
    let n = if what == "row" { rows } else { cols };
    if i >= n {
        out_of_range(format_args!(
            "{what} {i} is out of range for a {rows}×{cols} matrix"
        ));
    }
}

/// Row `i` of `m`, as a vector.
#[track_caller]
pub fn read_row<T: Real>(m: &Matrix<T>, i: &usize) -> Vector<T> {
    check_row("row", *i, m.shape());
    let cols = m.cols();
    Vector::from_buffer(copied(&m.as_slice()[*i * cols..(*i + 1) * cols]))
}

/// Row `i` of `acc` += `dy`.
#[track_caller]
pub fn add_to_row<T: Real>(mut acc: Matrix<T>, dy: &Vector<T>, i: &usize) -> Matrix<T> {
    let (rows, cols) = acc.shape();
    check_row("row", *i, (rows, cols));
    if dy.len() != cols {
        out_of_range(format_args!(
            "a gradient of length {} does not fit a row of a {rows}×{cols} matrix",
            dy.len()
        ));
    }
    let i = *i;
    zip_add(
        &mut acc.as_mut_slice()[i * cols..(i + 1) * cols],
        dy.as_slice(),
    );
    acc
}

/// Column `j` of `m`, as a vector.
#[track_caller]
pub fn read_col<T: Real>(m: &Matrix<T>, j: &usize) -> Vector<T> {
    check_row("column", *j, m.shape());
    let (rows, cols) = m.shape();
    let data = m.as_slice();
    Vector::from_buffer(buffer::collect(
        rows,
        (0..rows).map(|r| data[r * cols + *j]),
    ))
}

/// Column `j` of `acc` += `dy`.
#[track_caller]
pub fn add_to_col<T: Real>(mut acc: Matrix<T>, dy: &Vector<T>, j: &usize) -> Matrix<T> {
    let (rows, cols) = acc.shape();
    check_row("column", *j, (rows, cols));
    if dy.len() != rows {
        out_of_range(format_args!(
            "a gradient of length {} does not fit a column of a {rows}×{cols} matrix",
            dy.len()
        ));
    }
    let data = acc.as_mut_slice();
    for (r, d) in dy.as_slice().iter().enumerate() {
        data[r * cols + *j] += *d;
    }
    acc
}

/// Columns `a..b` of `m`, as a matrix.
#[track_caller]
pub fn read_cols<T: Real>(m: &Matrix<T>, a: &usize, b: &usize) -> Matrix<T> {
    let (rows, cols) = m.shape();
    check_range("columns", *a, *b, cols, || {
        format!("a {rows}×{cols} matrix")
    });
    let (a, b) = (*a, *b);
    let mut out = buffer::alloc(rows * (b - a));
    if cols > 0 {
        for row in m.as_slice().chunks_exact(cols) {
            out.extend_from_slice(&row[a..b]);
        }
    }
    Matrix::from_buffer(rows, b - a, out)
}

/// Columns `a..b` of `acc` += `dy`.
#[track_caller]
pub fn add_to_cols<T: Real>(mut acc: Matrix<T>, dy: &Matrix<T>, a: &usize, b: &usize) -> Matrix<T> {
    let (rows, cols) = acc.shape();
    check_range("columns", *a, *b, cols, || {
        format!("a {rows}×{cols} matrix")
    });
    let (a, b) = (*a, *b);
    if dy.shape() != (rows, b - a) {
        let (r, c) = dy.shape();
        out_of_range(format_args!(
            "a {r}×{c} gradient does not fit columns {a}..{b} of a {rows}×{cols} matrix"
        ));
    }
    if b > a {
        for (slot, d) in acc
            .as_mut_slice()
            .chunks_exact_mut(cols)
            .zip(dy.as_slice().chunks_exact(b - a))
        {
            zip_add(&mut slot[a..b], d);
        }
    }
    acc
}

/// Checks that `labels` has one entry per row of a `rows × cols` matrix, each a column.
#[track_caller]
fn check_labels(labels: &[usize], (rows, cols): (usize, usize)) {
    if labels.len() != rows {
        out_of_range(format_args!(
            "{} labels for a {rows}×{cols} matrix: `gather` takes one label per row",
            labels.len()
        ));
    }
    if let Some((r, &label)) = labels.iter().enumerate().find(|(_, &l)| l >= cols) {
        out_of_range(format_args!(
            "label {label} (of row {r}) is out of range for a {rows}×{cols} matrix"
        ));
    }
}

/// `m.gather(labels)`: the vector of `m[(r, labels[r])]`, one entry per row.
#[track_caller]
pub fn gather<T: Real>(m: &Matrix<T>, labels: &[usize]) -> Vector<T> {
    check_labels(labels, m.shape());
    let (rows, cols) = m.shape();
    let data = m.as_slice();
    Vector::from_buffer(buffer::collect(
        rows,
        labels.iter().enumerate().map(|(r, &l)| data[r * cols + l]),
    ))
}

/// `acc[(r, labels[r])] += dy[r]` for every row `r`: the pullback of [`gather`].
#[track_caller]
pub fn scatter_add<T: Real>(mut acc: Matrix<T>, dy: &Vector<T>, labels: &[usize]) -> Matrix<T> {
    let (rows, cols) = acc.shape();
    check_labels(labels, (rows, cols));
    if dy.len() != rows {
        out_of_range(format_args!(
            "a gradient of length {} does not fit the {rows} labels of a {rows}×{cols} matrix",
            dy.len()
        ));
    }
    let data = acc.as_mut_slice();
    for (r, (&l, d)) in labels.iter().zip(dy.as_slice()).enumerate() {
        data[r * cols + l] += *d;
    }
    acc
}

/// `labels[i]`, an integer.
#[track_caller]
pub fn label_at(labels: &[usize], i: &usize) -> usize {
    match labels.get(*i) {
        Some(&label) => label,
        None => out_of_range(format_args!(
            "index {i} is out of range for {} labels",
            labels.len()
        )),
    }
}

/// A runtime buffer holding a copy of `data`.
fn copied<T: Real>(data: &[T]) -> Vec<T> {
    let mut out = buffer::alloc(data.len());
    out.extend_from_slice(data);
    out
}

fn zip_add<T: Real>(slots: &mut [T], d: &[T]) {
    for (slot, d) in slots.iter_mut().zip(d) {
        *slot += *d;
    }
}

// ───────────────────────────── joins ─────────────────────────────

/// `Vector::from_vec(vec![s₁, s₂, ...])` of scalars.
pub fn vector_of<T: Real>(entries: &[T]) -> Vector<T> {
    Vector::from_buffer(copied(entries))
}

/// `u` followed by `v`.
pub fn concat<T: Real>(u: &Vector<T>, v: &Vector<T>) -> Vector<T> {
    let mut out = buffer::alloc(u.len() + v.len());
    out.extend_from_slice(u.as_slice());
    out.extend_from_slice(v.as_slice());
    Vector::from_buffer(out)
}

/// The rows of `a` above those of `b`; panics unless they have as many columns.
#[track_caller]
pub fn vstack<T: Real>(a: &Matrix<T>, b: &Matrix<T>) -> Matrix<T> {
    if a.cols() != b.cols() {
        shape_mismatch("vstack", a.layout(), b.layout());
    }
    let mut out = buffer::alloc(a.len() + b.len());
    out.extend_from_slice(a.as_slice());
    out.extend_from_slice(b.as_slice());
    Matrix::from_buffer(a.rows() + b.rows(), a.cols(), out)
}

/// The columns of `a` left of those of `b`; panics unless they have as many rows.
#[track_caller]
pub fn hstack<T: Real>(a: &Matrix<T>, b: &Matrix<T>) -> Matrix<T> {
    if a.rows() != b.rows() {
        shape_mismatch("hstack", a.layout(), b.layout());
    }
    let (rows, ca, cb) = (a.rows(), a.cols(), b.cols());
    let mut out = buffer::alloc(a.len() + b.len());
    for r in 0..rows {
        out.extend_from_slice(&a.as_slice()[r * ca..(r + 1) * ca]);
        out.extend_from_slice(&b.as_slice()[r * cb..(r + 1) * cb]);
    }
    Matrix::from_buffer(rows, ca + cb, out)
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

    /// This vector's entries followed by `other`'s, as a new vector.
    pub fn concat(&self, other: &Vector<T>) -> Vector<T> {
        concat(self, other)
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

    /// The columns in `range`, as a new matrix (`m.slice_cols(0..h)`). Panics if it is out of
    /// range.
    #[track_caller]
    pub fn slice_cols(&self, range: impl RangeBounds<usize>) -> Matrix<T> {
        let (a, b) = bounds(&range, self.cols());
        read_cols(self, &a, &b)
    }

    /// Row `i`, as a new vector. Panics if `i >= rows`. ([`row_slice`](Self::row_slice)
    /// borrows it instead.)
    #[track_caller]
    pub fn row(&self, i: usize) -> Vector<T> {
        read_row(self, &i)
    }

    /// Column `j`, as a new vector. Panics if `j >= cols`.
    #[track_caller]
    pub fn col(&self, j: usize) -> Vector<T> {
        read_col(self, &j)
    }

    /// The vector of `self[(r, labels[r])]`, one entry per row: each row's entry at its label
    /// (the log-probability of the true class in a cross-entropy). Panics unless there is one
    /// label per row, each less than the number of columns.
    #[track_caller]
    pub fn gather(&self, labels: &[usize]) -> Vector<T> {
        gather(self, labels)
    }

    /// This matrix's rows above `other`'s, as a new matrix. Panics unless both have as many
    /// columns.
    #[track_caller]
    pub fn vstack(&self, other: &Matrix<T>) -> Matrix<T> {
        vstack(self, other)
    }

    /// This matrix's columns left of `other`'s, as a new matrix. Panics unless both have as
    /// many rows.
    #[track_caller]
    pub fn hstack(&self, other: &Matrix<T>) -> Matrix<T> {
        hstack(self, other)
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
