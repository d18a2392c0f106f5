//! The runtime side of fused elementwise loops (see [`crate::symbolic::fuse`]): generated code
//! computes a chain of elementwise operations, the sums of its values and their adds into parts
//! of a tensor in one pass over the elements, with no tensor for the values in between.
//!
//! Why: Rosenbrock's gradient written with slices (B3) was fifteen passes over its vectors, each
//! allocating, where a person writes two; 2.3× the hand-written time at n = 100,000 and 10× at
//! n = 10.

use super::buffer;
use super::elementwise::dot_slice;
use super::gemm::{gemm, MatRef};
use super::matrix::Matrix;
use super::scalar::Real;
use super::shape::{at, shape_mismatch, Shape};
use super::vector::Vector;

/// How many elements the body of a fused loop computes at once: each of its operations is one
/// operation on arrays of this many lanes, which the compiler turns into vector instructions.
pub const LANES: usize = 8;

/// The elements a fused loop's body works on at once, one per lane: `LANES` of them in whole
/// chunks, one in the elements after those.
pub type Lanes<T, const N: usize = LANES> = [T; N];

/// `[f(0), f(1), .., f(N − 1)]`: one operation of a fused loop's body, on every lane.
#[inline(always)]
pub fn lanes<T: Real, const N: usize>(mut f: impl FnMut(usize) -> T) -> Lanes<T, N> {
    let mut out = [T::zero(); N];
    for (lane, value) in out.iter_mut().enumerate() {
        *value = f(lane);
    }
    out
}

/// [`fused`] compiled for the instruction set this CPU has (AVX2 or AVX-512, found at run time
/// by `pulp`), as the runtime's own maps are: generated code calls it for a body
/// that computes `tanh`, `exp` and the like, which the user's crate, built for baseline x86-64
/// (SSE2), ran two lanes at a time (B4 f32 n = 100: the loop on tanh′ took 27% of the call and
/// made it 1.06× the hand-written time; 0.91× with this). A body of adds and products stays on
/// [`fused`]: bound by memory, it gained nothing (B3 at n = 100,000 went 5% slower with AVX2 and
/// 37% with AVX-512 in f64), and the dispatch costs a few ns on a short loop.
#[inline(always)]
#[track_caller]
pub fn fused_simd<T: Real, const R: usize, const W: usize, const S: usize>(
    reads: [&[T]; R],
    writes: [&mut [T]; W],
    adds: [bool; W],
    body: impl FnMut([Lanes<T>; R]) -> ([Lanes<T>; W], [Lanes<T>; S]),
    element: impl FnMut([Lanes<T, 1>; R]) -> ([Lanes<T, 1>; W], [Lanes<T, 1>; S]),
) -> [T; S] {
    pulp::Arch::new().dispatch(
        #[inline(always)]
        || fused(reads, writes, adds, body, element),
    )
}

/// Runs `body` on the elements of `reads` (all of one length) `LANES` positions at a time, and
/// `element` (the same body on one lane) on the positions after the last whole chunk; writes or
/// adds (`adds[w]`) their first results into `writes[w]` at those positions, and returns the
/// sums of their other results over all positions.
///
/// The sums add exactly as `sum_slice` does (an accumulator per lane over the whole chunks, a
/// running sum of the rest, then the accumulators and the rest), so a fused `(d ⊙ d).sum()`
/// equals the unfused one bit for bit.
#[inline(always)]
#[track_caller]
pub fn fused<T: Real, const R: usize, const W: usize, const S: usize>(
    reads: [&[T]; R],
    mut writes: [&mut [T]; W],
    adds: [bool; W],
    mut body: impl FnMut([Lanes<T>; R]) -> ([Lanes<T>; W], [Lanes<T>; S]),
    mut element: impl FnMut([Lanes<T, 1>; R]) -> ([Lanes<T, 1>; W], [Lanes<T, 1>; S]),
) -> [T; S] {
    let len = reads.first().map_or(0, |r| r.len());
    // Generated code checks the lengths first, with the user's operation in the message; this
    // only tells the compiler.
    assert!(
        reads.iter().all(|r| r.len() == len) && writes.iter().all(|w| w.len() == len),
        "autodiff: a fused loop's operands differ in length"
    );
    let mut accumulators = [[T::zero(); LANES]; S];
    let whole = len / LANES * LANES;
    let mut start = 0;
    while start < whole {
        let mut chunk = [[T::zero(); LANES]; R];
        for (entries, read) in chunk.iter_mut().zip(&reads) {
            entries.copy_from_slice(&read[start..start + LANES]);
        }
        let (values, summed) = body(chunk);
        for ((write, values), &add) in writes.iter_mut().zip(&values).zip(&adds) {
            let place = &mut write[start..start + LANES];
            if add {
                place.iter_mut().zip(values).for_each(|(p, &v)| *p += v);
            } else {
                place.copy_from_slice(values);
            }
        }
        for (sum, summed) in accumulators.iter_mut().zip(&summed) {
            sum.iter_mut().zip(summed).for_each(|(s, &v)| *s += v);
        }
        start += LANES;
    }
    // The rest one element at a time, summed as `Iterator::sum` adds, from its starting value.
    let mut rest = [std::iter::empty::<T>().sum::<T>(); S];
    for k in whole..len {
        let mut entries = [[T::zero(); 1]; R];
        for (entry, read) in entries.iter_mut().zip(&reads) {
            entry[0] = read[k];
        }
        let (values, summed) = element(entries);
        for ((write, [value]), &add) in writes.iter_mut().zip(values).zip(&adds) {
            if add {
                write[k] += value;
            } else {
                write[k] = value;
            }
        }
        for (sum, [value]) in rest.iter_mut().zip(summed) {
            *sum += value;
        }
    }
    let mut sums = [T::zero(); S];
    for ((sum, lanes), rest) in sums.iter_mut().zip(&accumulators).zip(rest) {
        *sum = lanes.iter().copied().sum::<T>() + rest;
    }
    sums
}

/// The elements of a vector or a matrix, row-major: what a fused loop reads.
pub trait Elements<T> {
    /// The elements.
    fn elements(&self) -> &[T];
    /// The elements, to write.
    fn elements_mut(&mut self) -> &mut [T];
}

impl<T> Elements<T> for Vector<T> {
    fn elements(&self) -> &[T] {
        self.as_slice()
    }
    fn elements_mut(&mut self) -> &mut [T] {
        self.as_mut_slice()
    }
}

impl<T> Elements<T> for Matrix<T> {
    fn elements(&self) -> &[T] {
        self.as_slice()
    }
    fn elements_mut(&mut self) -> &mut [T] {
        self.as_mut_slice()
    }
}

/// The elements of `x`.
#[inline]
pub fn elements<T, E: Elements<T>>(x: &E) -> &[T] {
    x.elements()
}

/// The elements of `x`, to write.
#[inline]
pub fn elements_mut<T, E: Elements<T>>(x: &mut E) -> &mut [T] {
    x.elements_mut()
}

/// Panics as `a − b` of vectors of these lengths does, naming `op` and the user's expression
/// `source`, unless they are equal. (The expression is recorded only then: this runs on every
/// call.)
#[inline]
#[track_caller]
pub fn same_length(op: &str, left: usize, right: usize, source: &'static str) {
    if left != right {
        if !source.is_empty() {
            at(source);
        }
        shape_mismatch(op, Shape::Vector(left), Shape::Vector(right));
    }
}

/// A vector of `len` zeros (a fused loop's result, written element by element).
#[inline]
pub fn zeros<T: Real>(len: usize) -> Vector<T> {
    Vector::from_buffer(buffer::filled(len, T::zero()))
}

/// The length of `W·x`, once the product is checked to be defined (else the panic of `matmul`):
/// generated code checks a fused loop's reads against it before the loop.
#[inline]
#[track_caller]
pub fn product_rows<T: Real>(w: &Matrix<T>, x: &Vector<T>) -> usize {
    if w.cols() != x.len() {
        shape_mismatch("matmul", w.layout(), x.layout());
    }
    w.rows()
}

/// Up to this size `W` stays in cache between its two reads: the product is one call of the
/// GEMM kernel, the loop on the scales one pass over all of them.
const IN_CACHE_BYTES: usize = 256 << 10;

/// Bytes of `W` one block of [`rows_scaled_by_product`] covers when `W` is larger: the block is
/// read twice (its product with `x`, then its scaling), the second time from L1 rather than
/// from memory. (B4 f64 n = 1000, one row of 8 KB a block: as fast as the hand-fused
/// row-at-a-time loop; blocks of 16 and 32 KB were 3–8% slower.)
const ROW_BLOCK_BYTES: usize = 8 << 10;

/// `diag(s)·W` with `s = scales(W·x)` (`scales(rows, z, s)` writes `s` from `z = W[rows]·x`;
/// generated code passes a fused loop), reading `W` from memory once.
///
/// Why: a tanh layer's Jacobian diag(1 − y²)·W computed as written reads `W` twice (`W·x`, then
/// the row scaling), 1.5× the memory traffic of one pass once `W` outgrows the cache (B4, n =
/// 1000: 8 MB, 1.46× the hand-fused time). A `W` larger than 256 KiB goes a block of
/// rows at a time: the block's entries of `W·x` (rows' dot products, as `W·x` computes them),
/// their scales and the scaled rows, while the block is in L1. A smaller one has its product
/// from the GEMM kernel, whose matrix·vector product beat rows' dot products there (B4 f32
/// n = 100: 1.04–1.07× the best hand-written time, from 1.14×).
#[track_caller]
pub fn rows_scaled_by_product<T: Real>(
    w: &Matrix<T>,
    x: &Vector<T>,
    mut scales: impl FnMut(core::ops::Range<usize>, &[T], &mut [T]),
) -> Matrix<T> {
    let (rows, cols) = (product_rows(w, x), w.cols());
    let row_bytes = cols * std::mem::size_of::<T>();
    let mut out = buffer::alloc::<T>(rows * cols);
    if rows * row_bytes <= IN_CACHE_BYTES {
        // One allocation for both (B4 f32 n = 100 is a 2 µs call).
        let mut scratch = vec![T::zero(); 2 * rows];
        let (z, s) = scratch.split_at_mut(rows);
        let column = MatRef::new(x.as_slice(), cols, 1, 1, 1);
        gemm(T::one(), w.view(), column, T::zero(), z);
        scales(0..rows, z, s);
        push_scaled_rows(&mut out, w.as_slice(), cols, s);
        return Matrix::from_buffer(rows, cols, out);
    }
    let block = (ROW_BLOCK_BYTES / row_bytes).clamp(1, rows);
    let (mut z, mut s) = (vec![T::zero(); block], vec![T::zero(); block]);
    let x = x.as_slice();
    for (first, w_rows) in w.as_slice().chunks(block * cols).enumerate() {
        let (start, count) = (first * block, w_rows.len() / cols);
        for (zi, row) in z.iter_mut().zip(w_rows.chunks_exact(cols)) {
            *zi = dot_slice(row, x);
        }
        scales(start..start + count, &z[..count], &mut s[..count]);
        push_scaled_rows(&mut out, w_rows, cols, &s[..count]);
    }
    Matrix::from_buffer(rows, cols, out)
}

/// Appends the rows of `w_rows` (`cols` wide), each times its entry of `s`.
#[inline]
fn push_scaled_rows<T: Real>(out: &mut Vec<T>, w_rows: &[T], cols: usize, s: &[T]) {
    if cols > 0 {
        for (row, &si) in w_rows.chunks_exact(cols).zip(s) {
            out.extend(row.iter().map(|&v| v * si));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tensor::elementwise::sum_slice;

    /// `fused` with one body, written once and typed twice (on `LANES` lanes and on one), as
    /// generated code writes it.
    macro_rules! fused {
        ($reads:expr, $writes:expr, $adds:expr, $body:expr) => {
            fused($reads, $writes, $adds, $body, $body)
        };
    }

    #[test]
    fn fused_sums_have_the_bits_of_the_tensor_sums() {
        for len in [0, 1, 7, 8, 9, 17, 1000] {
            let x: Vec<f64> = (0..len)
                .map(|k| ((k * 7919) % 1000) as f64 / 37.0 - 13.0)
                .collect();
            let squares: Vec<f64> = x.iter().map(|v| v * v).collect();
            let [plain, squared] = fused!([&x], [], [], |[v]| ([], [v, lanes(|l| v[l] * v[l])]));
            assert_eq!(plain.to_bits(), sum_slice(&x).to_bits(), "len {len}");
            assert_eq!(
                squared.to_bits(),
                sum_slice(&squares).to_bits(),
                "len {len}"
            );
        }
        let [negative_zero] = fused!([&[-0.0f32]], [], [], |[v]| ([], [v]));
        assert_eq!(negative_zero.to_bits(), sum_slice(&[-0.0f32]).to_bits());
    }

    #[test]
    fn writes_store_or_add_at_every_position() {
        for len in [0, 3, 8, 19] {
            let x: Vec<f32> = (0..len).map(|k| k as f32).collect();
            let (mut stored, mut added) = (vec![-1.0f32; len], vec![0.5f32; len]);
            let [] = fused!([&x], [&mut stored, &mut added], [false, true], |[v]| {
                ([lanes(|l| 2.0 * v[l]), v], [])
            });
            for k in 0..len {
                assert_eq!(stored[k], 2.0 * k as f32, "stored, len {len}");
                assert_eq!(added[k], 0.5 + k as f32, "added, len {len}");
            }
        }
    }

    /// Compiled for the CPU's widest vectors, a loop on `tanh` (and its sum) gives what the
    /// baseline build and the tensor method give, to the bit, in f32 and f64.
    fn fused_simd_has_the_bits_of_fused<T: Real>() {
        let tanh = crate::tensor::fast_math::tanh::<T>;
        for len in [0, 5, 8, 100, 1001] {
            let x: Vec<T> = (0..len)
                .map(|k| T::from_f64(((k * 7919) % 1000) as f64 / 97.0 - 5.0))
                .collect();
            let (mut wide, mut baseline) = (vec![T::zero(); len], vec![T::zero(); len]);
            let [wide_sum] = fused_simd(
                [&x],
                [&mut wide],
                [false],
                |[v]| {
                    let y = lanes(|l| tanh(v[l]));
                    ([y], [y])
                },
                |[v]| {
                    let y = lanes(|l| tanh(v[l]));
                    ([y], [y])
                },
            );
            let [baseline_sum] = fused!([&x], [&mut baseline], [false], |[v]| {
                let y = lanes(|l| tanh(v[l]));
                ([y], [y])
            });
            assert_eq!(wide, baseline, "len {len}");
            assert_eq!(wide, Vector::from_vec(x).tanh().as_slice(), "len {len}");
            assert_eq!(wide_sum.to_f64(), baseline_sum.to_f64(), "len {len}");
        }
    }

    #[test]
    fn fused_simd_has_the_bits_of_fused_f32_f64() {
        fused_simd_has_the_bits_of_fused::<f32>();
        fused_simd_has_the_bits_of_fused::<f64>();
    }

    /// `W` (`rows × cols`) with entries in [−1, 1), `x` of `cols`: deterministic.
    fn layer_inputs(rows: usize, cols: usize) -> (Matrix<f64>, Vector<f64>) {
        let w = Matrix::from_fn(rows, cols, |i, j| {
            ((i * 31 + j * 17) % 23) as f64 / 11.5 - 1.0
        });
        let x = Vector::from_vec((0..cols).map(|j| (j as f64 * 0.7).sin()).collect());
        (w, x)
    }

    #[test]
    fn rows_scaled_by_a_product_are_the_product_and_the_scaling_apart() {
        // In cache (the GEMM kernel's product) and in blocks of rows (dot products), with
        // blocks of one row (1500 columns), several (200) and a last block cut short.
        for (rows, cols) in [
            (0, 3),
            (4, 0),
            (1, 1),
            (5, 3),
            (100, 100),
            (301, 200),
            (40, 1500),
        ] {
            let (w, x) = layer_inputs(rows, cols);
            let mut covered = Vec::new();
            let got = rows_scaled_by_product(&w, &x, |range, z, s| {
                assert_eq!((z.len(), s.len()), (range.len(), range.len()));
                for (k, (zi, si)) in z.iter().zip(s.iter_mut()).enumerate() {
                    *si = 1.0 - zi.tanh().powi(2) + (range.start + k) as f64;
                }
                covered.extend(range);
            });
            assert_eq!(
                covered,
                (0..rows).collect::<Vec<_>>(),
                "{rows}×{cols}: rows in order"
            );
            let z = w.matmul(&x);
            let scales: Vec<f64> = (0..rows)
                .map(|i| 1.0 - z[i].tanh().powi(2) + i as f64)
                .collect();
            let expected = &w * &crate::kernels::as_column(&Vector::from_vec(scales));
            assert_eq!(got.shape(), (rows, cols));
            for (g, e) in got.as_slice().iter().zip(expected.as_slice()) {
                // The GEMM kernel's product adds in its own order: rounding apart.
                assert!(
                    (g - e).abs() <= 1e-12 * (1.0 + e.abs()),
                    "{rows}×{cols}: {g} vs {e}"
                );
            }
            if rows * cols * 8 > IN_CACHE_BYTES {
                assert_eq!(got, expected, "{rows}×{cols}: in blocks, bit for bit");
            }
        }
    }

    #[test]
    #[should_panic(expected = "shape mismatch in `matmul`: left is 3×2, right is vector of 4")]
    fn a_product_that_is_not_defined_panics_as_matmul() {
        let (w, _) = layer_inputs(3, 2);
        let x = Vector::from_vec(vec![1.0; 4]);
        rows_scaled_by_product(&w, &x, |_, _, _| unreachable!("no scales before the check"));
    }

    #[test]
    #[should_panic(expected = "a fused loop's operands differ in length")]
    fn operands_of_different_lengths_are_refused() {
        let _: [f64; 0] = fused!([&[1.0, 2.0], &[1.0]], [], [], |[_, _]| ([], []));
    }

    #[test]
    #[should_panic(expected = "shape mismatch in `sub`: left is vector of 3, right is vector of 2")]
    fn lengths_that_differ_panic_as_the_operation_does() {
        same_length("sub", 3, 2, "a - b");
    }
}
