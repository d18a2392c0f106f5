//! Strided GEMM: `C ← α·A·B + β·C` where `A` and `B` are [`MatRef`] views whose row and column
//! strides are arbitrary, so a transpose is a stride swap, never a copy.
//!
//! Two kernels sit behind one entry point, picked per product by [`Kernel::for_product`]: the
//! `gemm` crate in general, `matrixmultiply` when the inner dimension is short.
//!
//! This is the only module with `unsafe`: the calls into `matrixmultiply` and the `gemm` crate.
#![allow(unsafe_code)]

use super::scalar::Real;

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

/// A GEMM implementation the runtime can call. [`gemm`] picks one per call with
/// [`Kernel::for_product`]; [`gemm_with`] forces one (the B5 bench compares them).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kernel {
    /// The `gemm` crate (faer's kernels): AVX2+FMA or AVX-512 micro-kernels picked by run-time CPU
    /// detection, threaded on rayon's pool above a size threshold.
    Gemm,
    /// `matrixmultiply`, threaded: less set-up per call, so it wins when the inner dimension is
    /// short.
    MatrixMultiply,
}

impl Kernel {
    /// Every kernel, for benches and tests that compare them.
    pub const ALL: [Kernel; 2] = [Kernel::Gemm, Kernel::MatrixMultiply];

    /// The kernel [`gemm`] uses for an `m×k · k×n` product.
    ///
    /// Chosen by measurement (`cargo bench --bench gemm`, 2-core AVX2 machine, f32 and f64, with
    /// and without transposed strides; docs/BENCHMARKS.md): the `gemm` crate is 15–40% faster on
    /// every product with a long inner dimension, square or thin (n = 10 included).
    /// `matrixmultiply` is ahead, and steadier under load, when the inner dimension is short
    /// (`Xᵀ·dZ` over a batch of 64: 784×64·64×256), where packing and threading set-up dominate.
    pub fn for_product(_m: usize, k: usize, _n: usize) -> Kernel {
        if k < Self::SHORT_INNER {
            Kernel::MatrixMultiply
        } else {
            Kernel::Gemm
        }
    }

    /// An inner dimension below this counts as short.
    pub const SHORT_INNER: usize = 128;

    /// The kernel's name as the benches print it.
    pub fn name(self) -> &'static str {
        match self {
            Kernel::Gemm => "gemm",
            Kernel::MatrixMultiply => "matrixmultiply",
        }
    }
}

/// `c ← alpha·a·b + beta·c` with `c` a row-major `a.rows() × b.cols()` buffer, on the kernel
/// [`Kernel::for_product`] picks.
///
/// When `beta` is zero, `c` is only written (its old contents, even NaN, are ignored). An inner
/// dimension of zero gives `beta·c`. Panics if `a.cols() != b.rows()` or `c` has the wrong length.
#[track_caller]
pub fn gemm<T: Real>(alpha: T, a: MatRef<'_, T>, b: MatRef<'_, T>, beta: T, c: &mut [T]) {
    let kernel = Kernel::for_product(a.rows, a.cols, b.cols);
    gemm_with(kernel, alpha, a, b, beta, c);
}

/// [`gemm`] on the given kernel.
#[track_caller]
pub fn gemm_with<T: Real>(
    kernel: Kernel,
    alpha: T,
    a: MatRef<'_, T>,
    b: MatRef<'_, T>,
    beta: T,
    c: &mut [T],
) {
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
    T::gemm_kernel(kernel, alpha, a, b, beta, c);
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

/// The `gemm` crate's threading: rayon's pool (one thread per core) for products large enough
/// that splitting pays; the crate itself stays serial below its own threshold.
fn parallelism() -> ::gemm::Parallelism {
    ::gemm::Parallelism::Rayon(0)
}

macro_rules! strided_gemm {
    ($($name:ident: $t:ty => $matrixmultiply:path;)*) => {$(
        /// Strided GEMM for this element type on `kernel`, once [`gemm_with`] has checked the
        /// operands and handled the empty cases.
        pub(crate) fn $name(
            kernel: Kernel,
            alpha: $t,
            a: MatRef<'_, $t>,
            b: MatRef<'_, $t>,
            beta: $t,
            c: &mut [$t],
        ) {
            let (m, k, n) = (a.rows, a.cols, b.cols);
            debug_assert!(m > 0 && k > 0 && n > 0 && c.len() == m * n);
            match kernel {
                // SAFETY: `MatRef::new` checked that every element (i, j) with i < rows,
                // j < cols of `a` and `b` lies inside their slices and that the strides fit in
                // `isize`; `dims` (via `gemm_with`) checked `a.cols == b.rows == k` and
                // `c.len() == m * n`, so with row stride `n` and column stride 1 every write to
                // `c` is in bounds. `c` is a unique borrow, so it does not alias `a` or `b`.
                // m, k, n > 0 here, and `m*n`, `n` fit in isize since `c` is a live slice.
                Kernel::MatrixMultiply => unsafe {
                    $matrixmultiply(
                        m,
                        k,
                        n,
                        alpha,
                        a.data.as_ptr(),
                        a.row_stride as isize,
                        a.col_stride as isize,
                        b.data.as_ptr(),
                        b.row_stride as isize,
                        b.col_stride as isize,
                        beta,
                        c.as_mut_ptr(),
                        n as isize,
                        1,
                    )
                },
                // SAFETY: the same bounds as above (the `gemm` crate takes column stride before
                // row stride, and computes dst ← alpha_dst·dst + beta_prod·lhs·rhs; with
                // `read_dst` false it never reads `c`, so NaN there cannot leak in). No
                // conjugation applies to real types.
                Kernel::Gemm => unsafe {
                    ::gemm::gemm(
                        m,
                        n,
                        k,
                        c.as_mut_ptr(),
                        1,
                        n as isize,
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
                        parallelism(),
                    )
                },
            }
        }
    )*};
}

strided_gemm! {
    sgemm: f32 => matrixmultiply::sgemm;
    dgemm: f64 => matrixmultiply::dgemm;
}

#[cfg(test)]
mod tests {
    use super::*;

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

    /// `alpha·a·b + beta·c` by the definition, in f64.
    fn reference(
        alpha: f64,
        a: MatRef<'_, f64>,
        b: MatRef<'_, f64>,
        beta: f64,
        c: &[f64],
    ) -> Vec<f64> {
        let at =
            |m: &MatRef<'_, f64>, i: usize, j: usize| m.data[i * m.row_stride + j * m.col_stride];
        let (m, k, n) = (a.rows, a.cols, b.cols);
        let mut out = vec![0.0; m * n];
        for i in 0..m {
            for j in 0..n {
                let dot: f64 = (0..k).map(|p| at(&a, i, p) * at(&b, p, j)).sum();
                let old = if beta == 0.0 {
                    0.0
                } else {
                    beta * c[i * n + j]
                };
                out[i * n + j] = alpha * dot + old;
            }
        }
        out
    }

    #[test]
    fn every_kernel_matches_the_definition_on_strided_operands() {
        // Shapes on both sides of `SHORT_INNER`, thin outputs, and every transpose combination;
        // values are small integers so every product is exact in f64 and f32.
        let shapes = [
            (3, 5, 4),
            (17, 130, 9),
            (64, 7, 33),
            (1, 200, 1),
            (40, 129, 2),
        ];
        for (m, k, n) in shapes {
            let a_data: Vec<f64> = (0..m * k)
                .map(|i| ((i * 7 + 3) % 11) as f64 - 5.0)
                .collect();
            let b_data: Vec<f64> = (0..k * n)
                .map(|i| ((i * 5 + 1) % 13) as f64 - 6.0)
                .collect();
            let c_start: Vec<f64> = (0..m * n).map(|i| (i % 3) as f64).collect();
            for (a_t, b_t) in [(false, false), (true, false), (false, true), (true, true)] {
                let a = if a_t {
                    MatRef::row_major(&a_data, k, m).t()
                } else {
                    MatRef::row_major(&a_data, m, k)
                };
                let b = if b_t {
                    MatRef::row_major(&b_data, n, k).t()
                } else {
                    MatRef::row_major(&b_data, k, n)
                };
                for (alpha, beta) in [(1.0, 0.0), (2.0, -1.0)] {
                    let expected = reference(alpha, a, b, beta, &c_start);
                    for kernel in Kernel::ALL {
                        let mut c = c_start.clone();
                        if beta == 0.0 {
                            c.fill(f64::NAN); // never read when beta is zero
                        }
                        gemm_with(kernel, alpha, a, b, beta, &mut c);
                        assert_eq!(
                            c, expected,
                            "{kernel:?} {m}×{k}·{k}×{n} a_t={a_t} b_t={b_t}"
                        );

                        let a32: Vec<f32> = a_data.iter().map(|&v| v as f32).collect();
                        let b32: Vec<f32> = b_data.iter().map(|&v| v as f32).collect();
                        let a_f = if a_t {
                            MatRef::row_major(&a32, k, m).t()
                        } else {
                            MatRef::row_major(&a32, m, k)
                        };
                        let b_f = if b_t {
                            MatRef::row_major(&b32, n, k).t()
                        } else {
                            MatRef::row_major(&b32, k, n)
                        };
                        let mut c32: Vec<f32> = c_start.iter().map(|&v| v as f32).collect();
                        gemm_with(kernel, alpha as f32, a_f, b_f, beta as f32, &mut c32);
                        let expected32: Vec<f32> = expected.iter().map(|&v| v as f32).collect();
                        assert_eq!(c32, expected32, "f32 {kernel:?} {m}×{k}·{k}×{n}");
                    }
                }
            }
        }
    }

    #[test]
    fn the_choice_follows_the_inner_dimension() {
        assert_eq!(Kernel::for_product(784, 64, 256), Kernel::MatrixMultiply);
        assert_eq!(Kernel::for_product(1024, 1024, 1024), Kernel::Gemm);
        assert_eq!(Kernel::for_product(1024, 256, 10), Kernel::Gemm);
    }

    #[test]
    #[should_panic(expected = "does not fit")]
    fn out_of_bounds_view_is_rejected() {
        MatRef::new(&[1.0f64; 5], 2, 3, 3, 1);
    }
}
