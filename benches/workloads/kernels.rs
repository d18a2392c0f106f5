//! The GEMM kernel crates called directly, for the hand-written references of B1, B2 and B4
//! that do not go through our runtime: `matrixmultiply` on its own threads, and the `gemm`
//! crate on rayon's pool. Operands are row-major slices; a transpose is a view with its strides
//! swapped, never a copy.
//!
//! The only `unsafe` of the benches is here, in [`Crate::gemm`]: the wrappers check their
//! operands first, so what they export is safe to call.

/// A kernel crate's GEMM: C ← α·A·B + β·C.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Crate {
    /// `matrixmultiply::{s,d}gemm` with its `threading` feature: as many threads as physical
    /// cores (`MATMUL_NUM_THREADS` overrides), fewer on small products by its own rule.
    MatrixMultiply,
    /// `gemm::gemm` with `Parallelism::Rayon(0)`: every thread of rayon's global pool, above the
    /// crate's own size threshold.
    Gemm,
}

impl Crate {
    /// Both crates, each with the criterion id of the references written on it.
    pub const ALL: [(Crate, &'static str); 2] = [
        (Crate::MatrixMultiply, "hand-mm"),
        (Crate::Gemm, "hand-gemm"),
    ];

    /// C ← α·A·B + β·C, C row-major `a.rows() × b.cols()`. With β = 0, C is only written, so
    /// whatever it held (NaN included) does not leak in.
    ///
    /// # Panics
    ///
    /// If the inner dimensions differ or `c` is not `a.rows() × b.cols()` long.
    pub fn gemm<T: Element>(self, alpha: T, a: View<'_, T>, b: View<'_, T>, beta: T, c: &mut [T]) {
        let (m, k, n) = (a.rows, a.cols, b.cols);
        assert_eq!(
            k, b.rows,
            "inner dimensions differ: {m}×{k} by {}×{n}",
            b.rows
        );
        assert_eq!(c.len(), m * n, "the output is not {m}×{n}");
        if m == 0 || n == 0 {
            return;
        }
        let (rsa, csa) = (a.rs as isize, a.cs as isize);
        let (rsb, csb) = (b.rs as isize, b.cs as isize);
        let c_ptr = c.as_mut_ptr();
        // SAFETY: a `View` is a row-major slice or its transpose (see `View::row_major`), so
        // every (i, j) with i < rows, j < cols lies at i·rs + j·cs inside its slice, and the
        // strides fit in `isize` (the offsets are below the slice's length). The asserts above
        // give A m×k, B k×n and C m·n elements long, written row-major (row stride n, column
        // stride 1: no two elements alias). `c` is a unique borrow, so it overlaps neither `a`
        // nor `b`. Both crates read C only when β is non-zero (matrixmultiply documents that
        // C need not be initialized when β = 0; `gemm` reads it only with `read_dst`), and
        // `c` is initialized anyway, being a `&mut [T]`. Neither keeps a pointer past the call.
        unsafe {
            match self {
                Crate::MatrixMultiply => T::matrixmultiply(
                    m,
                    k,
                    n,
                    alpha,
                    a.data.as_ptr(),
                    rsa,
                    csa,
                    b.data.as_ptr(),
                    rsb,
                    csb,
                    beta,
                    c_ptr,
                    n as isize,
                    1,
                ),
                // The `gemm` crate computes dst ← α_dst·dst + β_prod·lhs·rhs and takes the
                // column stride before the row stride.
                Crate::Gemm => gemm::gemm(
                    m,
                    n,
                    k,
                    c_ptr,
                    1,
                    n as isize,
                    beta != T::ZERO,
                    a.data.as_ptr(),
                    csa,
                    rsa,
                    b.data.as_ptr(),
                    csb,
                    rsb,
                    beta,
                    alpha,
                    false,
                    false,
                    false,
                    gemm::Parallelism::Rayon(0),
                ),
            }
        }
    }
}

/// f32 or f64: the element types both crates multiply.
pub trait Element: Copy + PartialEq + 'static {
    const ZERO: Self;

    /// `matrixmultiply::sgemm` or `dgemm`, same arguments.
    ///
    /// # Safety
    ///
    /// As for `matrixmultiply::dgemm`: A (m×k), B (k×n) and C (m×n) lie in their allocations at
    /// the strides given, C's elements do not alias, and C is initialized unless β is zero.
    #[allow(clippy::too_many_arguments)]
    unsafe fn matrixmultiply(
        m: usize,
        k: usize,
        n: usize,
        alpha: Self,
        a: *const Self,
        rsa: isize,
        csa: isize,
        b: *const Self,
        rsb: isize,
        csb: isize,
        beta: Self,
        c: *mut Self,
        rsc: isize,
        csc: isize,
    );
}

macro_rules! element {
    ($t:ty, $gemm:ident) => {
        impl Element for $t {
            const ZERO: Self = 0.0;

            unsafe fn matrixmultiply(
                m: usize,
                k: usize,
                n: usize,
                alpha: Self,
                a: *const Self,
                rsa: isize,
                csa: isize,
                b: *const Self,
                rsb: isize,
                csb: isize,
                beta: Self,
                c: *mut Self,
                rsc: isize,
                csc: isize,
            ) {
                // SAFETY: the caller's promise, which is `$gemm`'s contract.
                unsafe {
                    matrixmultiply::$gemm(
                        m, k, n, alpha, a, rsa, csa, b, rsb, csb, beta, c, rsc, csc,
                    )
                }
            }
        }
    };
}

element!(f32, sgemm);
element!(f64, dgemm);

/// A read-only matrix over a slice: a row-major `rows × cols` block, or its transpose.
#[derive(Debug, Clone, Copy)]
pub struct View<'a, T> {
    data: &'a [T],
    rows: usize,
    cols: usize,
    rs: usize,
    cs: usize,
}

impl<'a, T> View<'a, T> {
    /// `data` as a row-major `rows × cols` matrix.
    ///
    /// # Panics
    ///
    /// If `data` does not hold exactly `rows · cols` elements.
    pub fn row_major(data: &'a [T], rows: usize, cols: usize) -> Self {
        assert_eq!(data.len(), rows * cols, "the slice is not {rows}×{cols}");
        View {
            data,
            rows,
            cols,
            rs: cols,
            cs: 1,
        }
    }

    /// The transpose, by swapping the strides (no copy).
    pub fn t(self) -> Self {
        View {
            rows: self.cols,
            cols: self.rows,
            rs: self.cs,
            cs: self.rs,
            ..self
        }
    }
}

/// Σ a_i·b_i, summed in 8 lanes so that the compiler vectorizes it (one running sum would fix
/// the order of the adds); the lanes are added pairwise at the end.
pub fn dot<T>(a: &[T], b: &[T]) -> T
where
    T: Copy + Default + std::ops::Add<Output = T> + std::ops::Mul<Output = T>,
{
    assert_eq!(a.len(), b.len());
    let mut lanes = [T::default(); 8];
    let (a_chunks, b_chunks) = (a.chunks_exact(8), b.chunks_exact(8));
    let (a_rest, b_rest) = (a_chunks.remainder(), b_chunks.remainder());
    for (p, q) in a_chunks.zip(b_chunks) {
        for ((s, &p), &q) in lanes.iter_mut().zip(p).zip(q) {
            *s = *s + p * q;
        }
    }
    for ((s, &p), &q) in lanes.iter_mut().zip(a_rest).zip(b_rest) {
        *s = *s + p * q;
    }
    let quads = [
        lanes[0] + lanes[4],
        lanes[1] + lanes[5],
        lanes[2] + lanes[6],
        lanes[3] + lanes[7],
    ];
    (quads[0] + quads[2]) + (quads[1] + quads[3])
}
