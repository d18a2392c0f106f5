//! Fused pullback kernels called by generated code. Each is one pass that allocates only its
//! output, and is generic over [`Elementwise`], so it serves scalars, vectors and matrices.
//! Tensor arguments are passed by reference, scalars too (`relu_grad(&dy, &x)`).
//!
//! This is the ABI of generated code, not an API: it changes with the macro (hidden from the
//! docs).

use std::borrow::Cow;

use super::buffer;
use super::elementwise::{Elementwise, Pointwise};
pub use super::fused::{
    elements, elements_mut, fused, fused_simd, lanes, product_rows, rows_scaled_by_product,
    same_length, zeros, Elements, Lanes, LANES,
};
pub use super::linalg::on_diagonal;
pub use super::lu::solve_transposed;
pub use super::matmul::matmul_acc;
use super::matrix::Matrix;
pub use super::reduce::{arg_max, arg_min, column_sums, repeat_rows, Extremes};
pub use super::region::{
    add_to_col, add_to_cols, add_to_element, add_to_entry, add_to_row, add_to_rows, add_to_segment,
    concat, gather, hstack, label_at, read_col, read_cols, read_element, read_entry, read_row,
    read_rows, read_segment, scatter_add, segment_of, segment_of_mut, vector_of, vstack,
};
use super::results::{self, Results};
use super::scalar::Real;
pub use super::shape::{at, enter, ContextGuard};
use super::shape::{broadcast, shape_mismatch, Shape};
use super::softmax::{self, RowWise};
use super::vector::Vector;

pub use crate::symbolic::rules::elementwise::UnaryFn;

/// The runtime's pullback kernels for the table in [`crate::functions`].
macro_rules! unary_pullbacks {
    ([] $(
        $(#[$doc:meta])*
        $variant:ident $method:ident $place:ident {
            value: |$x:ident| $value:expr;
            pullback: $reads:ident |$d:ident, $a:ident| $pullback:expr;
            $($rest:tt)*
        }
    )*) => {
        /// The pullback of an elementwise function, `dy ⊙ f'(a)`, `a` being its input or its
        /// output as `f.uses()` says: one pass, allocating only the result. The match is outside
        /// the loop, so each function's loop is its own.
        #[track_caller]
        pub fn unary_grad<T: Real, E: Elementwise<T>>(dy: &E, a: &E, f: UnaryFn) -> E {
            match f {
                $(UnaryFn::$variant => {
                    dy.zip_map(a, concat!(stringify!($method), "_grad"), |$d, $a| $pullback)
                })*
            }
        }

        /// [`unary_grad`] in place: the result takes `dy`'s buffer (generated code calls it
        /// when `dy` dies there).
        #[track_caller]
        pub fn unary_grad_owned<T: Real, E: Elementwise<T>>(dy: E, a: &E, f: UnaryFn) -> E {
            match f {
                $(UnaryFn::$variant => {
                    dy.zip_map_in_place(a, concat!(stringify!($method), "_grad"), |$d, $a| {
                        $pullback
                    })
                })*
            }
        }
    };
}

crate::__elementwise_functions!(unary_pullbacks);

/// The value of an elementwise function of the table at one element, as the tensor methods
/// compute it (`Vector::tanh` is `fast_math::tanh`, which `f64::tanh` is not): what a fused
/// loop computes in place of the tensor method.
macro_rules! unary_values {
    ([] $(
        $(#[$doc:meta])*
        $variant:ident $method:ident $place:ident {
            value: |$x:ident| $value:expr;
            $($rest:tt)*
        }
    )*) => {
        /// `f(x)` as the tensor method computes it elementwise.
        #[inline(always)]
        pub fn unary<T: Real>(input: T, f: UnaryFn) -> T {
            match f {
                $(UnaryFn::$variant => (|$x: T| $value)(input),)*
            }
        }
    };
}

crate::__elementwise_functions!(unary_values);

/// `[a ≥ b]` elementwise as 0/1 (`b` of `a`'s shape, or a scalar; NaN compares false): the
/// mask of `maximum`'s derivative.
#[track_caller]
pub fn ge_mask<T: Real, A: Elementwise<T>, B: Pointwise<T, A>>(a: &A, b: &B) -> A {
    b.apply_to(
        a,
        "ge_mask",
        |x, y| if x >= y { T::one() } else { T::zero() },
    )
}

/// `[a ≤ b]` elementwise as 0/1, as [`ge_mask`].
#[track_caller]
pub fn le_mask<T: Real, A: Elementwise<T>, B: Pointwise<T, A>>(a: &A, b: &B) -> A {
    b.apply_to(
        a,
        "le_mask",
        |x, y| if x <= y { T::one() } else { T::zero() },
    )
}

/// Pullback of `powi(n)`: `dy·n·x^(n−1)` (zero for `n = 0`).
///
/// `n` is an `i64` because derivatives of derivatives lower it: the second derivative of
/// `powi(i32::MIN)` needs `x^(i32::MIN − 2)`. Any `i64` is taken; `n − 1` is formed in `i128`.
#[track_caller]
pub fn powi_grad<T: Real, E: Elementwise<T>>(dy: &E, x: &E, n: i64) -> E {
    if n == 0 {
        return dy.fill_like(T::zero());
    }
    let nf = T::from_f64(n as f64);
    let below = i128::from(n) - 1;
    dy.zip_map(x, "powi_grad", |d, x| {
        d * nf * super::scalar::powi_wide(x, below)
    })
}

/// A value of `like`'s shape with every element `value` (for a scalar `like`, `value` itself).
pub fn fill<T: Real, E: Elementwise<T>>(value: T, like: &E) -> E {
    like.fill_like(value)
}

/// [`fill`] with the value by reference, as generated code passes every kernel argument.
pub fn fill_like<T: Real, E: Elementwise<T>>(value: &T, like: &E) -> E {
    like.fill_like(*value)
}

/// Reduces a broadcast result `dz` to an operand's `rows × cols` shape: equal shape copies,
/// `1×c` sums columns, `r×1` sums rows, `1×1` sums everything.
#[track_caller]
pub fn sum_to<T: Real>(dz: &Matrix<T>, rows: usize, cols: usize) -> Matrix<T> {
    let (r, c) = dz.shape();
    match (rows, cols) {
        _ if (r, c) == (rows, cols) => dz.clone(),
        (1, _) if cols == c => dz.sum_axis(0),
        (_, 1) if rows == r => dz.sum_axis(1),
        (1, 1) => Matrix::from_buffer(1, 1, vec![dz.sum()]),
        _ => shape_mismatch("sum_to", dz.layout(), Shape::Matrix(rows, cols)),
    }
}

/// [`sum_to`] the shape of `like`, borrowing `dz` instead of copying it when it already has that
/// shape (the common case: the operand that was not broadcast).
#[track_caller]
pub fn sum_to_like<'a, T: Real>(dz: &'a Matrix<T>, like: &impl Shaped) -> Cow<'a, Matrix<T>> {
    let (rows, cols) = like.dims();
    if dz.shape() == (rows, cols) {
        Cow::Borrowed(dz)
    } else {
        Cow::Owned(sum_to(dz, rows, cols))
    }
}

/// The number of elements of `x`, as a float (the `n` of a mean).
pub fn numel<T: Real>(x: &impl Shaped) -> T {
    let (rows, cols) = x.dims();
    T::from_f64((rows * cols) as f64)
}

/// Anything with a shape, seen as `rows × cols` (a vector of n is n×1, a scalar 1×1). Kernels
/// that only read an operand's shape take this, so generated code can keep the [`Dims`] of a
/// value instead of the value itself and free (or reuse) its buffer early.
pub trait Shaped {
    /// `(rows, cols)`.
    fn dims(&self) -> (usize, usize);
}

/// `tanh` of every element of `x`, in place, vectorized for this CPU (what `Matrix::tanh`
/// computes): for hand-written code that wants the runtime's `tanh` on its own buffers (the
/// benches' references).
pub fn tanh_in_place<T: Real>(x: &mut [T]) {
    super::elementwise::map_in_place(x, super::fast_math::tanh);
}

/// The shape of a value, kept by generated code in place of the value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Dims(pub usize, pub usize);

/// The [`Dims`] of `x`.
pub fn dims(x: &impl Shaped) -> Dims {
    let (rows, cols) = x.dims();
    Dims(rows, cols)
}

impl Shaped for Dims {
    fn dims(&self) -> (usize, usize) {
        (self.0, self.1)
    }
}

/// The extents a program reads of a value it kept only the shape of (a join's pullback reads
/// where its operands meet), spelled as on the value.
impl Dims {
    /// A vector's length (its shape is `len`×1).
    pub fn len(&self) -> usize {
        self.0
    }
    /// Whether a vector is empty.
    pub fn is_empty(&self) -> bool {
        self.0 == 0
    }
    /// A matrix's rows.
    pub fn rows(&self) -> usize {
        self.0
    }
    /// A matrix's columns.
    pub fn cols(&self) -> usize {
        self.1
    }
}

impl<T: Real> Shaped for Matrix<T> {
    fn dims(&self) -> (usize, usize) {
        self.shape()
    }
}

impl<T: Real> Shaped for Vector<T> {
    fn dims(&self) -> (usize, usize) {
        (self.len(), 1)
    }
}

impl Shaped for f32 {
    fn dims(&self) -> (usize, usize) {
        (1, 1)
    }
}

impl Shaped for f64 {
    fn dims(&self) -> (usize, usize) {
        (1, 1)
    }
}

/// Expands a `1×c`, `r×1` or `1×1` matrix to `rows × cols` (the pullback of `sum_axis`).
#[track_caller]
pub fn broadcast_to<T: Real>(v: &Matrix<T>, rows: usize, cols: usize) -> Matrix<T> {
    let (r, c) = v.shape();
    if broadcast("broadcast_to", (r, c), (rows, cols)) != (rows, cols) {
        shape_mismatch("broadcast_to", v.layout(), Shape::Matrix(rows, cols));
    }
    let mut out = buffer::alloc(rows * cols);
    for i in 0..rows {
        let row = v.row_slice(if r == 1 { 0 } else { i });
        if c == cols {
            out.extend_from_slice(row);
        } else {
            out.extend(std::iter::repeat_n(row[0], cols));
        }
    }
    Matrix::from_buffer(rows, cols, out)
}

/// `v` broadcast to the shape of `like` (NumPy rules), borrowing `v` when it already has that
/// shape: the tangent of an operand that may have been broadcast.
#[track_caller]
pub fn expand_like<'a, T: Real>(v: &'a Matrix<T>, like: &impl Shaped) -> Cow<'a, Matrix<T>> {
    let (rows, cols) = like.dims();
    if v.shape() == (rows, cols) {
        Cow::Borrowed(v)
    } else {
        Cow::Owned(broadcast_to(v, rows, cols))
    }
}

/// [`broadcast_to`] the shape of `like`.
#[track_caller]
pub fn broadcast_like<T: Real>(v: &Matrix<T>, like: &impl Shaped) -> Matrix<T> {
    let (rows, cols) = like.dims();
    broadcast_to(v, rows, cols)
}

/// The Jacobian of a scalar function as a 1×n row: its gradient `g`, flattened row-major.
pub fn jacobian_row<T: Real, E: Elementwise<T>>(g: &E) -> Matrix<T> {
    Matrix::from_buffer(1, g.numel(), copy(g.as_flat()))
}

/// `x`'s elements in a runtime buffer.
fn copy<T: Real>(x: &[T]) -> Vec<T> {
    buffer::collect(x.len(), x.iter().copied())
}

/// The `i`-th unit value shaped like `like`: 1 at entry `i` (row-major; a tuple's parts in
/// turn), 0 elsewhere.
#[track_caller]
pub fn basis<T: Real, R: Results<T>>(like: &R, i: usize) -> R {
    let mut data = vec![T::zero(); like.entry_count()];
    data[i] = T::one();
    results::from_entries(like, data)
}

/// Zeros shaped like `like`.
pub fn zeros_like<T: Real, E: Elementwise<T>>(like: &E) -> E {
    like.fill_like(T::zero())
}

/// `x` as an n×1 column (a scalar as 1×1): the coefficients that scale a batch's rows.
pub fn as_column<T: Real, E: Elementwise<T>>(x: &E) -> Matrix<T> {
    Matrix::from_buffer(x.numel(), 1, copy(x.as_flat()))
}

/// The n×n identity for a value of n elements: the seed of all n directions at once.
pub fn identity_like<T: Real>(like: &impl Shaped) -> Matrix<T> {
    let (rows, cols) = like.dims();
    Matrix::identity(rows * cols)
}

/// A view that no longer borrows what it views (a copy if it did): generated code moves a view
/// out of a block whose values it may borrow (see the macro's `nesting` module).
pub fn detach<'a, M: Clone>(view: Cow<'_, M>) -> Cow<'a, M> {
    Cow::Owned(view.into_owned())
}

/// Row `index` of the `width`×`width` identity as a 1×`width` matrix: the seed of one of
/// `width` scalars pushed through together. `_like` only fixes the element type.
pub fn unit_row<T: Real>(_like: &T, index: usize, width: usize) -> Matrix<T> {
    let mut row = Matrix::zeros(1, width);
    row[(0, index)] = T::one();
    row
}

/// The n×n diagonal matrix of an n×1 (or 1×n) matrix.
pub fn diag<T: Real>(column: &Matrix<T>) -> Matrix<T> {
    let values = column.as_slice();
    let n = values.len();
    let mut out = Matrix::zeros(n, n);
    for (i, &v) in values.iter().enumerate() {
        out[(i, i)] = v;
    }
    out
}

/// `m + c·I`, with `I` the n×n identity for a value `like` of n elements: in place when `m` is
/// n×n (the common case, a Hessian's `λI`), else as the broadcasting `+` (`m` 1×1, say).
#[track_caller]
pub fn add_to_diagonal<T: Real>(mut m: Matrix<T>, c: &T, like: &impl Shaped) -> Matrix<T> {
    let (rows, cols) = like.dims();
    let n = rows * cols;
    if m.shape() == (n, n) {
        for i in 0..n {
            m[(i, i)] += *c;
        }
        m
    } else {
        let mut scaled = Matrix::identity(n);
        scaled.as_mut_slice().iter_mut().for_each(|v| *v *= *c);
        m + scaled
    }
}

/// `m + c·I` with `I` of `like`'s shape (the pullback of `trace` added to another adjoint of
/// its matrix): in place when `m` has that shape, else as the broadcasting `+`.
#[track_caller]
pub fn add_to_diagonal_shaped_like<T: Real>(
    mut m: Matrix<T>,
    c: &T,
    like: &impl Shaped,
) -> Matrix<T> {
    let (rows, cols) = like.dims();
    if m.shape() == (rows, cols) {
        for i in 0..rows.min(cols) {
            m[(i, i)] += *c;
        }
        m
    } else {
        m + on_diagonal(c, like)
    }
}

/// The number of rows of `x`, as a float.
pub fn row_count<T: Real>(x: &impl Shaped) -> T {
    T::from_f64(x.dims().0 as f64)
}

/// `Σ aᵢ·bᵢ` over the elements of two values of the same shape.
#[track_caller]
pub fn dot_flat<T: Real, E: Elementwise<T>>(a: &E, b: &E) -> T {
    assert_eq!(
        a.numel(),
        b.numel(),
        "autodiff: `dot_flat` of values of different sizes"
    );
    a.as_flat()
        .iter()
        .zip(b.as_flat())
        .map(|(&x, &y)| x * y)
        .sum()
}

/// A value shaped like `like` holding `data` (row-major).
#[track_caller]
pub fn with_flat_like<T: Real, E: Elementwise<T>>(like: &E, data: Vec<T>) -> E {
    like.with_flat(data)
}

/// A tensor argument of a generated function whose shape another value fixes: an upstream
/// gradient has the result's shape, a tangent its parameter's.
pub trait ArgumentShape: Shaped {
    /// The shape as messages print it (`2×3`, `vector of 3`).
    #[doc(hidden)]
    fn shape_text(&self) -> String;
}

impl<T: Real> ArgumentShape for Matrix<T> {
    fn shape_text(&self) -> String {
        self.layout().to_string()
    }
}

impl<T: Real> ArgumentShape for Vector<T> {
    fn shape_text(&self) -> String {
        self.layout().to_string()
    }
}

/// Checks, on entry to the generated `function`, that its `argument` has the shape of
/// `expected` (`what`: "the result", "`x`"); panics naming both shapes otherwise. Without it a
/// wrong upstream or tangent would broadcast silently into a gradient of the wrong shape.
#[track_caller]
#[inline]
pub fn check_argument<X: ArgumentShape>(
    function: &'static str,
    argument: &'static str,
    given: &X,
    expected: &X,
    what: &'static str,
) {
    if given.dims() != expected.dims() {
        argument_mismatch(
            function,
            argument,
            &given.shape_text(),
            &expected.shape_text(),
            what,
        );
    }
}

#[cold]
#[inline(never)]
#[track_caller]
fn argument_mismatch(function: &str, argument: &str, given: &str, expected: &str, what: &str) -> ! {
    panic!(
        "autodiff: shape mismatch in `{function}`: argument `{argument}` is {given}, expected \
         {expected} (the shape of {what})"
    )
}

/// The number of entries of `x` (1 for a scalar; a tuple's summed).
pub fn element_count<T: Real, R: Results<T>>(x: &R) -> usize {
    x.entry_count()
}

/// Writes the elements of `e` (row-major) into row `i` of `m`.
#[track_caller]
pub fn set_row<T: Real, E: Elementwise<T>>(m: &mut Matrix<T>, i: usize, e: &E) {
    let cols = m.cols();
    assert_eq!(
        e.numel(),
        cols,
        "autodiff: `set_row` of a {cols}-column matrix"
    );
    m.as_mut_slice()[i * cols..(i + 1) * cols].copy_from_slice(e.as_flat());
}

/// Writes the entries of `e` (row-major; a tuple's parts in turn) into column `j` of `m`.
#[track_caller]
pub fn set_column<T: Real, R: Results<T>>(m: &mut Matrix<T>, j: usize, e: &R) {
    let (rows, cols) = m.shape();
    assert_eq!(
        e.entry_count(),
        rows,
        "autodiff: `set_column` of a {rows}-row matrix"
    );
    for (i, &v) in results::entries(e).iter().enumerate() {
        m.as_mut_slice()[i * cols + j] = v;
    }
}

/// Writes column `j` of `block` into column `columns[j]` of `m`, from row `row` down (the
/// columns of a batch over several scalars, which need not be adjacent in `m`).
#[track_caller]
pub fn set_columns<T: Real>(m: &mut Matrix<T>, row: usize, columns: &[usize], block: &Matrix<T>) {
    let (rows, cols) = block.shape();
    assert!(
        cols == columns.len() && row + rows <= m.rows() && columns.iter().all(|&c| c < m.cols()),
        "autodiff: a {rows}×{cols} block into {} columns from row {row} does not fit a {}×{} matrix",
        columns.len(),
        m.rows(),
        m.cols()
    );
    for i in 0..rows {
        for (j, &column) in columns.iter().enumerate() {
            m[(row + i, column)] = block[(i, j)];
        }
    }
}

/// Writes `block` into `m` with its top-left corner at (`row`, `col`).
#[track_caller]
pub fn set_block<T: Real>(m: &mut Matrix<T>, row: usize, col: usize, block: &Matrix<T>) {
    let (rows, cols) = block.shape();
    assert!(
        row + rows <= m.rows() && col + cols <= m.cols(),
        "autodiff: a {rows}×{cols} block at ({row}, {col}) does not fit a {}×{} matrix",
        m.rows(),
        m.cols()
    );
    for i in 0..rows {
        for j in 0..cols {
            m[(row + i, col + j)] = block[(i, j)];
        }
    }
}

/// Writes the elements of `e` (row-major) into column `j` of `m`, from row `row` down.
#[track_caller]
pub fn set_column_from<T: Real, E: Elementwise<T>>(m: &mut Matrix<T>, j: usize, row: usize, e: &E) {
    let (rows, cols) = m.shape();
    assert!(
        row + e.numel() <= rows,
        "autodiff: `set_column_from` past the last row"
    );
    for (i, &v) in e.as_flat().iter().enumerate() {
        m.as_mut_slice()[(row + i) * cols + j] = v;
    }
}

/// Pullback of `softmax` from its output `y`: `y ⊙ (dy − rowsum(dy ⊙ y))`, per row.
#[track_caller]
pub fn softmax_grad<T: Real, X: RowWise<T>>(dy: &X, y: &X) -> X {
    softmax::softmax_grad(dy, y)
}

/// Pushforward of `log_softmax` from its output `y`: `dx − rowsum(exp(y) ⊙ dx)`, per row. (The
/// pushforward of `softmax` is [`softmax_grad`] itself: its Jacobian is symmetric.)
#[track_caller]
pub fn log_softmax_jvp<T: Real, X: RowWise<T>>(dx: &X, y: &X) -> X {
    softmax::log_softmax_jvp(dx, y)
}

/// Pullback of `log_softmax` from its output `y`: `dy − exp(y) ⊙ rowsum(dy)`, per row.
#[track_caller]
pub fn log_softmax_grad<T: Real, X: RowWise<T>>(dy: &X, y: &X) -> X {
    softmax::log_softmax_grad(dy, y)
}
