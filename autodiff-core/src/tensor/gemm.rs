//! Strided GEMM: `C ← α·A·B + β·C` where `A` and `B` are [`MatRef`] views whose row and column
//! strides are arbitrary, so a transpose is a stride swap, never a copy.
//!
//! The kernel is the `gemm` crate's (faer's): AVX2+FMA or AVX-512 micro-kernels picked by
//! run-time CPU detection. It was chosen by measurement against `matrixmultiply` on B5's squares
//! and on the workloads' own products (`cargo bench --bench gemm`; docs/BENCHMARKS.md): with the
//! threading below it was as fast or faster on every shape tried, from 2×2 to 1024³, thin
//! (k = 10, n = 10) and transposed, in f32 and f64. Threading is ours: `run_in_blocks` cuts the
//! output in one block per core. (Our own f32 kernel for AVX2 machines, `sgemm_avx2`, was
//! removed in issue 20: 2–7% faster than the crate on f32 squares of 1024 and more on an AMD
//! Zen 3, 0–8% slower on an Intel Xeon running the same AVX2 code, and on none of the
//! workloads' products.)
//!
//! This module is the only one with `unsafe`: the call into the `gemm` crate and the `Send` of
//! the output blocks that threads write.
#![allow(unsafe_code)]

use std::mem::MaybeUninit;

use super::buffer;
use super::scalar::Real;
use super::threads;

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
    let (m, k, n) = dims(&a, &b, c);
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        if beta == T::zero() {
            c.fill(T::zero());
        } else {
            c.iter_mut().for_each(|x| *x *= beta);
        }
        return;
    }
    T::gemm_kernel(GemmCall::update(alpha, a, b, beta, c));
}

/// `alpha·a·b` as a new row-major `a.rows() × b.cols()` buffer (from the thread's
/// [cache](super::buffer)), written once by the kernel instead of zero-filled first.
/// Panics if `a.cols() != b.rows()`.
#[track_caller]
pub(crate) fn product<T: Real>(alpha: T, a: MatRef<'_, T>, b: MatRef<'_, T>) -> Vec<T> {
    assert_eq!(a.cols, b.rows, "autodiff: gemm inner dimensions differ");
    let len = a.rows * b.cols;
    let mut out = buffer::alloc(len);
    if len == 0 || a.cols == 0 {
        out.resize(len, T::zero());
        return out;
    }
    T::gemm_kernel(GemmCall::overwrite(
        alpha,
        a,
        b,
        &mut out.spare_capacity_mut()[..len],
    ));
    // SAFETY: `overwrite` makes a call with `beta` zero and every dimension non-zero, on which
    // the kernel writes each of the `len` elements of the output (`strided_gemm!`: `read_dst`
    // false, `dst ← beta_prod·lhs·rhs` over the whole `m × n` block, cut into blocks that tile
    // it exactly). Those kernels are the only ones: `Real` is sealed, so `T` is `f32` or `f64` with the
    // `gemm_kernel` of `scalar.rs`. And `len <= capacity`.
    unsafe { out.set_len(len) };
    out
}

pub(crate) use checked::GemmCall;

/// [`GemmCall`] in a module of its own, so that nothing can build one but its two constructors,
/// which check what the kernels rely on.
mod checked {
    use std::mem::MaybeUninit;

    use super::MatRef;

    /// The operands of one kernel call, `c ← alpha·a·b + beta·c`, checked: `a.cols == b.rows`,
    /// every dimension non-zero, `c` row-major `a.rows × b.cols`, and `c` initialized unless
    /// `beta` is zero. Public only in name (the module is private): it is the argument of
    /// `Real`'s sealed `gemm_kernel`, which other crates thus cannot call.
    pub struct GemmCall<'a, T> {
        alpha: T,
        a: MatRef<'a, T>,
        b: MatRef<'a, T>,
        beta: T,
        c: &'a mut [MaybeUninit<T>],
    }

    impl<'a, T: Copy> GemmCall<'a, T> {
        /// `c ← alpha·a·b + beta·c` on an initialized `c`.
        #[track_caller]
        pub(crate) fn update(
            alpha: T,
            a: MatRef<'a, T>,
            b: MatRef<'a, T>,
            beta: T,
            c: &'a mut [T],
        ) -> Self {
            // SAFETY: `MaybeUninit<T>` has `T`'s layout, and the only code that writes through
            // this view is the kernels, which store initialized `T` values only, so `c` stays
            // initialized for its owner.
            let c = unsafe { &mut *(c as *mut [T] as *mut [MaybeUninit<T>]) };
            Self::checked(alpha, a, b, beta, c)
        }

        /// `c ← alpha·a·b` on a `c` that may be uninitialized: `beta` is zero, so the kernel
        /// only writes it.
        #[track_caller]
        pub(crate) fn overwrite(
            alpha: T,
            a: MatRef<'a, T>,
            b: MatRef<'a, T>,
            c: &'a mut [MaybeUninit<T>],
        ) -> Self
        where
            T: num_traits::Zero,
        {
            Self::checked(alpha, a, b, T::zero(), c)
        }

        #[track_caller]
        fn checked(
            alpha: T,
            a: MatRef<'a, T>,
            b: MatRef<'a, T>,
            beta: T,
            c: &'a mut [MaybeUninit<T>],
        ) -> Self {
            let (m, k, n) = (a.rows(), a.cols(), b.cols());
            assert!(
                k == b.rows() && m > 0 && k > 0 && n > 0 && m.checked_mul(n) == Some(c.len()),
                "autodiff: gemm kernel operands do not fit: {m}×{k} · {}×{n} into {} elements",
                b.rows(),
                c.len()
            );
            GemmCall {
                alpha,
                a,
                b,
                beta,
                c,
            }
        }

        /// `(alpha, a, b, beta, c)`, for the kernel.
        pub(crate) fn into_parts(self) -> Parts<'a, T> {
            (self.alpha, self.a, self.b, self.beta, self.c)
        }
    }

    /// A [`GemmCall`] taken apart: `(alpha, a, b, beta, c)`.
    pub(crate) type Parts<'a, T> = (T, MatRef<'a, T>, MatRef<'a, T>, T, &'a mut [MaybeUninit<T>]);
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

/// A block of the output that one kernel call writes: `rows × cols` elements from `ptr`, with
/// row stride `row_stride` and column stride 1.
#[derive(Clone, Copy)]
struct OutBlock<T> {
    ptr: *mut T,
    rows: usize,
    cols: usize,
    row_stride: usize,
}

// SAFETY: an `OutBlock` only comes from `OutBlock::whole` on a uniquely borrowed buffer, which
// outlives every use (all of them finish inside the call that holds the borrow), and the blocks
// that reach different threads come from `split_rows`/`split_cols`, which never overlap. So no
// element is written from two threads, and none is read while another thread writes it.
unsafe impl<T: Send> Send for OutBlock<T> {}

impl<T> OutBlock<T> {
    /// The whole row-major `rows × cols` buffer `c` (which may be uninitialized).
    fn whole(c: &mut [MaybeUninit<T>], rows: usize, cols: usize) -> Self {
        debug_assert_eq!(c.len(), rows * cols);
        OutBlock {
            ptr: c.as_mut_ptr().cast(),
            rows,
            cols,
            row_stride: cols,
        }
    }

    /// Rows `..at` and `at..`.
    fn split_rows(self, at: usize) -> (Self, Self) {
        let rest = OutBlock {
            ptr: self.ptr.wrapping_add(at * self.row_stride),
            rows: self.rows - at,
            ..self
        };
        (OutBlock { rows: at, ..self }, rest)
    }

    /// Columns `..at` and `at..`.
    fn split_cols(self, at: usize) -> (Self, Self) {
        let rest = OutBlock {
            ptr: self.ptr.wrapping_add(at),
            cols: self.cols - at,
            ..self
        };
        (OutBlock { cols: at, ..self }, rest)
    }
}

impl<'a, T> MatRef<'a, T> {
    /// Rows `..at` and `at..` (`0 < at < rows`).
    fn split_rows(self, at: usize) -> (Self, Self) {
        let rest = MatRef {
            data: &self.data[at * self.row_stride..],
            rows: self.rows - at,
            ..self
        };
        (MatRef { rows: at, ..self }, rest)
    }

    /// Columns `..at` and `at..` (`0 < at < cols`).
    fn split_cols(self, at: usize) -> (Self, Self) {
        let rest = MatRef {
            data: &self.data[at * self.col_stride..],
            cols: self.cols - at,
            ..self
        };
        (MatRef { cols: at, ..self }, rest)
    }
}

/// Work (multiply-adds) below which a product stays on one thread: about 20 µs on one core, so
/// waking a second thread would cost more than it saves.
const MIN_WORK_PER_THREAD: usize = 1 << 20;

/// Blocks are cut at multiples of this, so every thread's block is a whole number of
/// micro-kernel tiles (AVX-512 f32 tiles are 16 wide).
const SPLIT_ALIGN: usize = 16;

/// How many blocks to cut an `m×k · k×n` product into: one per rayon thread, fewer when the
/// product is small.
fn parts_for(m: usize, k: usize, n: usize) -> usize {
    let work = m.saturating_mul(k).saturating_mul(n);
    rayon::current_num_threads()
        .min(work / MIN_WORK_PER_THREAD)
        .max(1)
}

/// Whether blocks of the `m×n` output `a·b` are cut between columns (else between rows).
///
/// The `gemm` crate packs B's columns in every call but reads A in place when A's rows run along
/// k; a transposed A is packed too. Cutting columns leaves each thread half of B to pack, cutting
/// rows half of A. So columns when the output is wide, and also when it is about square and A is
/// read in place: on 512² and 1024² squares that measured 2–4% faster than rows (f32 A·Bᵀ most).
/// Rows when A is packed or the output is over twice as tall as wide: B1's and B2's products
/// (Xᵀ·dZ1, dZ2·W2ᵀ, Xᵀ·X) measured 5–35% slower cut by columns.
fn cut_columns<T>(a: &MatRef<'_, T>, n: usize) -> bool {
    let m = a.rows;
    n > m || (a.col_stride == 1 && 2 * n >= m)
}

/// Runs `leaf` on `parts` disjoint blocks of `out = a·b`, in parallel (the caller and the
/// runtime's helper threads: [`threads::join`]), cut as [`cut_columns`] says.
///
/// The `gemm` crate's own threading measured 5–40% slower than this on the workloads' products
/// (B1's X·W1 at B = 64 most of all) with 2 threads; each block here runs its serial kernel.
fn run_in_blocks<T: Copy + Sync + Send>(
    parts: usize,
    a: MatRef<'_, T>,
    b: MatRef<'_, T>,
    out: OutBlock<T>,
    leaf: &(impl Fn(MatRef<'_, T>, MatRef<'_, T>, OutBlock<T>) + Sync),
) {
    let by_columns = cut_columns(&a, b.cols);
    let side = if by_columns { b.cols } else { a.rows };
    let first = parts / 2;
    let at = (side * first / parts.max(1)).next_multiple_of(SPLIT_ALIGN);
    if parts < 2 || at == 0 || at >= side {
        return leaf(a, b, out);
    }
    let ((a0, a1), (b0, b1), (out0, out1)) = if by_columns {
        ((a, a), b.split_cols(at), out.split_cols(at))
    } else {
        (a.split_rows(at), (b, b), out.split_rows(at))
    };
    threads::join(
        move || run_in_blocks(first, a0, b0, out0, leaf),
        move || run_in_blocks(parts - first, a1, b1, out1, leaf),
    );
}

macro_rules! strided_gemm {
    ($($name:ident: $t:ty;)*) => {$(
        /// Strided GEMM for this element type, on operands [`GemmCall`] checked.
        /// When `beta` is zero `c` may be uninitialized: it is only written, every element.
        pub(crate) fn $name(call: GemmCall<'_, $t>) {
            let (alpha, a, b, beta, c) = call.into_parts();
            let (m, k, n) = (a.rows, a.cols, b.cols);
            let leaf = |a: MatRef<'_, $t>, b: MatRef<'_, $t>, out: OutBlock<$t>| {
                debug_assert!(out.rows == a.rows && out.cols == b.cols && a.cols == b.rows);
                // SAFETY: `MatRef::new` checked that every element (i, j) with i < rows,
                // j < cols of `a` and `b` lies inside their slices and that the strides fit in
                // `isize`; `split_rows`/`split_cols` keep that true of the blocks. `GemmCall`
                // checked `a.cols == b.rows`, `c.len() == m * n` and that `c` is initialized
                // unless `beta` is zero; `out` is the whole of `c` or one of the disjoint
                // blocks `run_in_blocks` cut from it, `out.rows × out.cols` with row stride `n`
                // and column stride 1, so every write stays in `c` and no other thread touches
                // it. `c` is a unique borrow, so it aliases neither `a` nor `b`. The `gemm`
                // crate takes the column stride before the row stride and computes
                // dst ← alpha_dst·dst + beta_prod·lhs·rhs; it reads `c` only when `read_dst`
                // (beta non-zero, so `c` is initialized); otherwise NaN or uninitialized memory
                // there cannot leak in, and it writes every element of the block. No
                // conjugation applies to real types.
                unsafe {
                    ::gemm::gemm(
                        out.rows,
                        out.cols,
                        a.cols,
                        out.ptr,
                        1,
                        out.row_stride as isize,
                        beta != 0.0,
                        a.data.as_ptr(),
                        a.col_stride as isize,
                        a.row_stride as isize,
                        b.data.as_ptr(),
                        b.col_stride as isize,
                        b.row_stride as isize,
                        beta,
                        alpha,
                        false,
                        false,
                        false,
                        ::gemm::Parallelism::None,
                    )
                }
            };
            run_in_blocks(parts_for(m, k, n), a, b, OutBlock::whole(c, m, n), &leaf);
        }
    )*};
}

strided_gemm! {
    sgemm: f32;
    dgemm: f64;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tensor::Matrix;

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

    /// A (`m×k`) and B (`k×n`) filled with small integers in a fixed pattern, so that every
    /// product and sum is exact in f32 and f64.
    fn exact_operands<T: Real>(m: usize, k: usize, n: usize) -> (Vec<T>, Vec<T>) {
        let a = (0..m * k).map(|i| T::from_f64(((i * 7 + 3) % 11) as f64 - 5.0));
        let b = (0..k * n).map(|i| T::from_f64(((i * 5 + 1) % 13) as f64 - 6.0));
        (a.collect(), b.collect())
    }

    /// `data` as a `rows × cols` view, stored transposed when `transposed`.
    fn view<T>(data: &[T], rows: usize, cols: usize, transposed: bool) -> MatRef<'_, T> {
        if transposed {
            MatRef::row_major(data, cols, rows).t()
        } else {
            MatRef::row_major(data, rows, cols)
        }
    }

    /// `alpha·a·b + beta·c` by the definition, in f64.
    fn reference<T: Real>(
        alpha: f64,
        a: MatRef<'_, T>,
        b: MatRef<'_, T>,
        beta: f64,
        c: &[T],
    ) -> Vec<f64> {
        let at = |m: &MatRef<'_, T>, i: usize, j: usize| {
            m.data[i * m.row_stride + j * m.col_stride].to_f64()
        };
        let (m, k, n) = (a.rows, a.cols, b.cols);
        let mut out = vec![0.0; m * n];
        for i in 0..m {
            for j in 0..n {
                let dot: f64 = (0..k).map(|p| at(&a, i, p) * at(&b, p, j)).sum();
                let old = if beta == 0.0 {
                    0.0
                } else {
                    beta * c[i * n + j].to_f64()
                };
                out[i * n + j] = alpha * dot + old;
            }
        }
        out
    }

    #[test]
    fn gemm_matches_the_definition_on_strided_operands() {
        // Square, thin and single-element outputs, and every transpose combination;
        // values are small integers so every product is exact in f64 and f32.
        let shapes = [
            (3, 5, 4),
            (17, 130, 9),
            (64, 7, 33),
            (1, 200, 1),
            (40, 129, 2),
        ];
        for (m, k, n) in shapes {
            let (a_data, b_data) = exact_operands::<f64>(m, k, n);
            let a32: Vec<f32> = a_data.iter().map(|&v| v as f32).collect();
            let b32: Vec<f32> = b_data.iter().map(|&v| v as f32).collect();
            let c_start: Vec<f64> = (0..m * n).map(|i| (i % 3) as f64).collect();
            for (a_t, b_t) in [(false, false), (true, false), (false, true), (true, true)] {
                let (a, b) = (view(&a_data, m, k, a_t), view(&b_data, k, n, b_t));
                for (alpha, beta) in [(1.0, 0.0), (2.0, -1.0)] {
                    let expected = reference(alpha, a, b, beta, &c_start);
                    let mut c = c_start.clone();
                    if beta == 0.0 {
                        c.fill(f64::NAN); // never read when beta is zero
                    }
                    gemm(alpha, a, b, beta, &mut c);
                    assert_eq!(c, expected, "{m}×{k}·{k}×{n} a_t={a_t} b_t={b_t}");

                    let (a_f, b_f) = (view(&a32, m, k, a_t), view(&b32, k, n, b_t));
                    let mut c32: Vec<f32> = c_start.iter().map(|&v| v as f32).collect();
                    gemm(alpha as f32, a_f, b_f, beta as f32, &mut c32);
                    let expected32: Vec<f32> = expected.iter().map(|&v| v as f32).collect();
                    assert_eq!(c32, expected32, "f32 {m}×{k}·{k}×{n}");
                }
            }
        }
    }

    #[test]
    fn blocks_tile_the_output_exactly_once() {
        use std::sync::Mutex;
        let (m, k, n) = (70, 3, 200);
        let a_data = vec![0.0f64; m * k];
        let b_data = vec![0.0f64; k * n];
        let mut c = vec![MaybeUninit::<f64>::uninit(); m * n];
        let base = c.as_mut_ptr() as usize;
        for parts in [1, 2, 3, 5] {
            let (a, b) = (
                MatRef::row_major(&a_data, m, k),
                MatRef::row_major(&b_data, k, n),
            );
            let seen = Mutex::new(vec![0u8; m * n]);
            let leaf = |a: MatRef<'_, f64>, b: MatRef<'_, f64>, out: OutBlock<f64>| {
                assert_eq!((out.rows, out.cols), (a.rows, b.cols));
                let start = (out.ptr as usize - base) / std::mem::size_of::<f64>();
                let mut seen = seen.lock().unwrap();
                for i in 0..out.rows {
                    for j in 0..out.cols {
                        seen[start + i * out.row_stride + j] += 1;
                    }
                }
            };
            run_in_blocks(parts, a, b, OutBlock::whole(&mut c, m, n), &leaf);
            assert!(
                seen.into_inner().unwrap().iter().all(|&count| count == 1),
                "parts = {parts}"
            );
        }
    }

    #[test]
    fn tall_outputs_and_packed_a_are_cut_by_rows_others_by_columns() {
        let data = vec![0.0f32; 1024 * 1024];
        let a = |m, k| MatRef::row_major(&data[..m * k], m, k);
        let a_t = |m, k| MatRef::row_major(&data[..m * k], k, m).t();
        assert!(cut_columns(&a(1024, 1024), 1024), "square, A read in place");
        assert!(cut_columns(&a(64, 784), 256), "wide");
        assert!(cut_columns(&a_t(784, 64), 1000), "wide, even with A packed");
        assert!(
            !cut_columns(&a(1024, 784), 256),
            "over twice as tall as wide"
        );
        assert!(
            !cut_columns(&a_t(784, 1024), 256),
            "A packed (transposed), tall"
        );
        assert!(
            !cut_columns(&a_t(500, 1000), 500),
            "A packed, square (B2's Xᵀ·X)"
        );
    }

    #[test]
    fn products_large_enough_to_run_in_blocks_are_exact() {
        // Above MIN_WORK_PER_THREAD, cut by rows (tall), by columns (wide, and square with a
        // row-major A), and by rows again for a square with a transposed A.
        for (m, k, n) in [(200, 130, 100), (40, 130, 500), (150, 130, 150)] {
            let (a, b) = exact_operands::<f64>(m, k, n);
            for a_transposed in [false, true] {
                let av = if a_transposed {
                    MatRef::row_major(&a, k, m).t()
                } else {
                    MatRef::row_major(&a, m, k)
                };
                let bv = MatRef::row_major(&b, k, n);
                let expected = reference(1.0, av, bv, 0.0, &[]);
                let mut c = vec![f64::NAN; m * n];
                gemm(1.0, av, bv, 0.0, &mut c);
                assert_eq!(c, expected, "{m}×{k}·{k}×{n}, A transposed: {a_transposed}");
            }
        }
    }

    #[test]
    fn product_writes_every_element_of_a_reused_buffer() {
        // The output comes from the buffer cache uninitialized; seed the cache with NaN so an
        // element the kernel skipped would show.
        for (m, k, n, transposed) in [
            (200, 130, 100, false),
            (40, 130, 500, true),
            (97, 3, 101, true),
        ] {
            let (a, b) = exact_operands::<f64>(m, k, n);
            let av = MatRef::row_major(&a, m, k);
            let bv = if transposed {
                MatRef::row_major(&b, n, k).t()
            } else {
                MatRef::row_major(&b, k, n)
            };
            let expected = reference(1.0, av, bv, 0.0, &[]);
            let stale = Matrix::from_elem(m, n, f64::NAN);
            let stale_address = stale.as_slice().as_ptr();
            drop(stale);
            let c = product(1.0, av, bv);
            assert_eq!(
                c.as_ptr(),
                stale_address,
                "{m}×{k}·{k}×{n} reuses the cached buffer"
            );
            assert_eq!(c, expected, "{m}×{k}·{k}×{n}");
        }
    }

    #[test]
    #[should_panic(expected = "does not fit")]
    fn out_of_bounds_view_is_rejected() {
        MatRef::new(&[1.0f64; 5], 2, 3, 3, 1);
    }
}
