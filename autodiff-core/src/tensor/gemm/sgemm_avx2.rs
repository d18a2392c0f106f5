//! Our own f32 GEMM for x86-64 with AVX2 and FMA, for large products: a 6×16 micro-kernel over
//! packed panels (the BLIS layout), deep passes over k, and both operands packed once per pass
//! by all threads together.
//!
//! Why: on AVX2 machines the `gemm` crate's f32 path ran 3–4% behind OpenBLAS per core on 1024²
//! squares. Its micro-kernel is as fast as this one; what differs is the blocking. The crate
//! passes over k in steps of 512 and re-reads C after each step; here a step is up to 1024 deep
//! (C is read and written once for k ≤ 1024), which measured 2–4% faster on one core. And here B
//! is packed once, half by each thread, where each thread of a two-way cut packed its own.
//! Measured against the crate with our two-way cut (interleaved, 2 threads, medians): 1024³
//! +2–4%, 2048³ +7%, 768³ +1%; but 512³ −5%, 256³ −12% and the workloads' thin products
//! (k or n ≤ 256) −5 to −50%. Hence [`suits`]: every side at least [`MIN_SIDE`]. On AVX-512
//! machines the crate's AVX-512 kernels are far faster, so they keep it.

use std::arch::x86_64::*;
use std::cell::RefCell;
use std::thread::LocalKey;

use super::{GemmCall, MatRef};

/// Rows of a C tile: A values broadcast per step.
const MR: usize = 6;
/// Columns of a C tile: two 8-lane vectors of B per step.
const NR: usize = 16;
/// Deepest pass over k. 1024 measured best on 1024² and 2048² (256 and 512 were 2–4% slower).
const KC: usize = 1024;
/// Rows of A packed per block: 72×1024 f32 is 288 KiB, inside a 512 KiB L2.
const MC: usize = 72;
/// Columns of B packed per pass: 1024×1024 f32 is 4 MiB, inside L3.
const NC: usize = 1024;
/// Smallest m, k and n this kernel takes (see the module doc).
const MIN_SIDE: usize = 768;

/// Whether this kernel should compute the f32 product `m×k · k×n` on this CPU.
pub(super) fn suits(m: usize, k: usize, n: usize) -> bool {
    m >= MIN_SIDE
        && k >= MIN_SIDE
        && n >= MIN_SIDE
        && is_x86_feature_detected!("avx2")
        && is_x86_feature_detected!("fma")
        && !is_x86_feature_detected!("avx512f")
}

/// 64-byte aligned storage for packed panels (B's are read with aligned loads).
#[derive(Clone, Copy)]
#[repr(C, align(64))]
struct Line([f32; 16]);

thread_local! {
    /// This thread's packed A block, kept between calls.
    static A_PACK: RefCell<Vec<Line>> = const { RefCell::new(Vec::new()) };
    /// The packed B panel of the calls this thread leads, kept between calls.
    static B_PACK: RefCell<Vec<Line>> = const { RefCell::new(Vec::new()) };
}

/// Runs `f` on a buffer of at least `floats` f32 (plus slack for the packers' 8-wide stores past
/// a 6-wide panel): this thread's `key` buffer, or a fresh one if that is in use (rayon can run
/// another product on this thread while it waits inside one).
fn with_pack<R>(
    key: &'static LocalKey<RefCell<Vec<Line>>>,
    floats: usize,
    f: impl FnOnce(*mut f32) -> R,
) -> R {
    let lines = (floats + NR).div_ceil(NR);
    let grow = |buf: &mut Vec<Line>| {
        if buf.len() < lines {
            *buf = vec![Line([0.0; 16]); lines];
        }
        buf.as_mut_ptr().cast::<f32>()
    };
    key.with(|cell| match cell.try_borrow_mut() {
        Ok(mut buf) => f(grow(&mut buf)),
        Err(_) => f(grow(&mut Vec::new())),
    })
}

/// An operand as a raw strided pointer: element (i, j) at `ptr + i·rs + j·cs`.
#[derive(Clone, Copy)]
struct Strided {
    ptr: *const f32,
    rs: usize,
    cs: usize,
}

impl Strided {
    fn of(m: MatRef<'_, f32>) -> Self {
        Strided {
            ptr: m.data.as_ptr(),
            rs: m.row_stride,
            cs: m.col_stride,
        }
    }

    /// The view starting at element (i, j).
    ///
    /// # Safety
    /// (i, j) must be an element of the view.
    unsafe fn from(self, i: usize, j: usize) -> Self {
        // SAFETY: (i, j) is in the view (the caller's promise), so the offset stays inside the
        // slice `MatRef::new` checked.
        let ptr = unsafe { self.ptr.add(i * self.rs + j * self.cs) };
        Strided { ptr, ..self }
    }

    /// The same elements, transposed.
    fn t(self) -> Self {
        Strided {
            rs: self.cs,
            cs: self.rs,
            ..self
        }
    }
}

/// Pointers handed to the threads of one product.
#[derive(Clone, Copy)]
struct Shared<T>(T);
// SAFETY: every `Shared` pointer lives inside one `sgemm` call, which joins its threads before
// returning. Threads read A and B (shared borrows), each packs a disjoint range of B's panels,
// and each writes a disjoint range of C's rows (see `sgemm`).
unsafe impl<T> Send for Shared<T> {}
// SAFETY: as for `Send`.
unsafe impl<T> Sync for Shared<T> {}

/// Runs `f(i)` for `i` in `first..first + parts`, in parallel on rayon's pool (through
/// [`super::join`], which keeps the caller's shape-error context out of other jobs).
fn for_parts(parts: usize, first: usize, f: &(impl Fn(usize) + Sync)) {
    if parts <= 1 {
        return f(first);
    }
    let half = parts / 2;
    super::join(
        || for_parts(half, first, f),
        || for_parts(parts - half, first + half, f),
    );
}

/// `o[q][i] = r[i][q]` for an 8×8 block.
#[inline]
#[target_feature(enable = "avx2,fma")]
fn transpose8(r: [__m256; 8]) -> [__m256; 8] {
    let t0 = _mm256_unpacklo_ps(r[0], r[1]);
    let t1 = _mm256_unpackhi_ps(r[0], r[1]);
    let t2 = _mm256_unpacklo_ps(r[2], r[3]);
    let t3 = _mm256_unpackhi_ps(r[2], r[3]);
    let t4 = _mm256_unpacklo_ps(r[4], r[5]);
    let t5 = _mm256_unpackhi_ps(r[4], r[5]);
    let t6 = _mm256_unpacklo_ps(r[6], r[7]);
    let t7 = _mm256_unpackhi_ps(r[6], r[7]);
    let u0 = _mm256_shuffle_ps::<0x44>(t0, t2);
    let u1 = _mm256_shuffle_ps::<0xEE>(t0, t2);
    let u2 = _mm256_shuffle_ps::<0x44>(t1, t3);
    let u3 = _mm256_shuffle_ps::<0xEE>(t1, t3);
    let u4 = _mm256_shuffle_ps::<0x44>(t4, t6);
    let u5 = _mm256_shuffle_ps::<0xEE>(t4, t6);
    let u6 = _mm256_shuffle_ps::<0x44>(t5, t7);
    let u7 = _mm256_shuffle_ps::<0xEE>(t5, t7);
    [
        _mm256_permute2f128_ps::<0x20>(u0, u4),
        _mm256_permute2f128_ps::<0x20>(u1, u5),
        _mm256_permute2f128_ps::<0x20>(u2, u6),
        _mm256_permute2f128_ps::<0x20>(u3, u7),
        _mm256_permute2f128_ps::<0x31>(u0, u4),
        _mm256_permute2f128_ps::<0x31>(u1, u5),
        _mm256_permute2f128_ps::<0x31>(u2, u6),
        _mm256_permute2f128_ps::<0x31>(u3, u7),
    ]
}

/// Packs the `rows × depth` block `src` into `width`-wide panels: panel `g` holds, for each
/// `p`, elements `(g·width .. g·width + width, p)`, zeros past `rows`. A's rows pack with
/// `width = MR`; B's columns with `width = NR` and `src = Bᵀ`.
///
/// # Safety
/// `src` must address `rows × depth` readable elements; `out` must have room for
/// `rows.next_multiple_of(width)·depth + 2` floats, 4-byte aligned.
#[target_feature(enable = "avx2,fma")]
unsafe fn pack(src: Strided, rows: usize, depth: usize, width: usize, out: *mut f32) {
    for g in (0..rows).step_by(width) {
        let h = width.min(rows - g);
        // SAFETY (whole loop body): element (g, 0) exists as g < rows; every read below is of an
        // element (g + r, p) with r < h and p < depth, and every write falls inside panel g's
        // `depth·width` floats of `out`, or at most 2 floats past them (the slack, or the next
        // panel's start, which is written after).
        unsafe {
            let panel = src.from(g, 0);
            let o = out.add(g * depth);
            let at = |r: usize, p: usize| panel.ptr.add(r * panel.rs + p * panel.cs);
            if h == width && panel.cs == 1 {
                // Each row runs along p: transpose 8×8 blocks (8 rows at a time, zero rows
                // past `width`).
                let mut p = 0;
                while p + 8 <= depth {
                    for r0 in (0..width).step_by(8) {
                        let mut block = [_mm256_setzero_ps(); 8];
                        for (r, v) in block.iter_mut().enumerate().take(width - r0) {
                            *v = _mm256_loadu_ps(at(r0 + r, p));
                        }
                        for (q, v) in transpose8(block).iter().enumerate() {
                            // With width 6 the last 2 lanes spill into slot p + q + 1, which the
                            // next store (or the next panel, or the slack) takes over.
                            _mm256_storeu_ps(o.add((p + q) * width + r0), *v);
                        }
                    }
                    p += 8;
                }
                for p in p..depth {
                    for r in 0..width {
                        *o.add(p * width + r) = *at(r, p);
                    }
                }
            } else if h == width && panel.rs == 1 {
                // The panel's rows lie side by side at each p: a plain copy.
                for p in 0..depth {
                    std::ptr::copy_nonoverlapping(at(0, p), o.add(p * width), width);
                }
            } else {
                for p in 0..depth {
                    for r in 0..width {
                        *o.add(p * width + r) = if r < h { *at(r, p) } else { 0.0 };
                    }
                }
            }
        }
    }
}

/// One 6×16 tile: `c ← alpha·(A panel · B panel) + beta·c`, over `kc` steps; `c` is not read
/// unless `read_c`.
///
/// # Safety
/// `a` holds `kc·MR` floats, `b` holds `kc·NR` floats and is 32-byte aligned; `c` addresses a
/// writable 6×16 block with row stride `ldc`, initialized if `read_c`.
#[allow(clippy::too_many_arguments)] // the BLIS micro-kernel signature
#[target_feature(enable = "avx2,fma")]
unsafe fn kernel(
    kc: usize,
    a: *const f32,
    b: *const f32,
    c: *mut f32,
    ldc: usize,
    alpha: f32,
    beta: f32,
    read_c: bool,
) {
    // SAFETY (whole body): the reads stay within the panels' `kc` steps and the C accesses
    // within the 6×16 block, as the caller promises.
    unsafe {
        // C's rows are needed only after the loop: start fetching them now.
        for r in 0..MR {
            _mm_prefetch::<_MM_HINT_T0>(c.add(r * ldc).cast());
            _mm_prefetch::<_MM_HINT_T0>(c.add(r * ldc + NR - 1).cast());
        }
        let mut acc = [[_mm256_setzero_ps(); 2]; MR];
        let (mut a, mut b) = (a, b);
        for _ in 0..kc {
            let b0 = _mm256_load_ps(b);
            let b1 = _mm256_load_ps(b.add(8));
            for (r, acc_r) in acc.iter_mut().enumerate() {
                let ar = _mm256_broadcast_ss(&*a.add(r));
                acc_r[0] = _mm256_fmadd_ps(ar, b0, acc_r[0]);
                acc_r[1] = _mm256_fmadd_ps(ar, b1, acc_r[1]);
            }
            a = a.add(MR);
            b = b.add(NR);
        }
        let (alpha, beta) = (_mm256_set1_ps(alpha), _mm256_set1_ps(beta));
        for (r, acc_r) in acc.iter().enumerate() {
            for (half, v) in acc_r.iter().enumerate() {
                let dst = c.add(r * ldc + half * 8);
                let mut x = _mm256_mul_ps(alpha, *v);
                if read_c {
                    x = _mm256_fmadd_ps(beta, _mm256_loadu_ps(dst), x);
                }
                _mm256_storeu_ps(dst, x);
            }
        }
    }
}

/// `c ← alpha·a·b + beta·c` on up to `parts` threads, `c` row-major `m × n`; `c` is only written
/// when `beta` is zero (it may be uninitialized then). Callers check [`suits`] first.
pub(super) fn sgemm(call: GemmCall<'_, f32>, parts: usize) {
    // `GemmCall` checked a.cols == b.rows, c.len() == m·n, m, k, n > 0, and that `c` is
    // initialized unless `beta` is zero (the only case in which it is read).
    let (alpha, a, b, beta, c) = call.into_parts();
    let (m, k, n) = (a.rows, a.cols, b.cols);
    assert!(
        is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma"),
        "autodiff: sgemm_avx2 needs AVX2 and FMA"
    );
    let parts = parts.clamp(1, m.div_ceil(MR));
    // Equal passes over k: 1300 runs as 2×650, not 1024 + 276.
    let kc_max = k.div_ceil(k.div_ceil(KC));
    let nc_max = NC.min(n);
    let (a, b) = (Strided::of(a), Strided::of(b));
    let c = Shared(c.as_mut_ptr().cast::<f32>());
    with_pack(&B_PACK, nc_max.next_multiple_of(NR) * kc_max, |b_pack| {
        let b_pack = Shared(b_pack);
        for jc in (0..n).step_by(nc_max) {
            let nc = nc_max.min(n - jc);
            let panels = nc.div_ceil(NR);
            for pc in (0..k).step_by(kc_max) {
                let kc = kc_max.min(k - pc);
                // After the first pass C holds the partial sum: add to it.
                let (beta, read_c) = if pc == 0 {
                    (beta, beta != 0.0)
                } else {
                    (1.0, true)
                };
                // B's columns jc.. jc + nc as NR-wide panels, a share of the panels per thread.
                let b_shared = Shared(b);
                for_parts(parts, 0, &|part| {
                    let (b, b_pack) = (b_shared, b_pack);
                    let (p0, p1) = (panels * part / parts, panels * (part + 1) / parts);
                    if p0 == p1 {
                        return;
                    }
                    let (j0, j1) = (p0 * NR, (p1 * NR).min(nc));
                    // SAFETY: (pc, jc + j0) is an element of B (pc < k, jc + j0 < n), and the
                    // block read is kc × (j1 − j0) elements of B. Panels p0..p1 start at
                    // `j0·kc` in the buffer, sized for all `panels` panels plus the slack; no
                    // other thread writes them. The CPU has AVX2 and FMA (asserted above).
                    unsafe {
                        pack(
                            b.0.from(pc, jc + j0).t(),
                            j1 - j0,
                            kc,
                            NR,
                            b_pack.0.add(j0 * kc),
                        );
                    }
                });
                // C's rows in MR multiples, a share per thread; each packs its own A rows.
                let tiles = m.div_ceil(MR);
                let a_shared = Shared(a);
                for_parts(parts, 0, &|part| {
                    let (a, b_pack, c) = (a_shared, b_pack, c);
                    let (i0, i1) = (
                        tiles * part / parts * MR,
                        (tiles * (part + 1) / parts * MR).min(m),
                    );
                    with_pack(&A_PACK, MC * kc_max, |a_pack| {
                        let mut edge = [0f32; MR * NR];
                        for ic in (i0..i1).step_by(MC) {
                            let mc = MC.min(i1 - ic);
                            // SAFETY: (ic, pc) is an element of A and the block is mc × kc
                            // elements of it; the buffer holds MC·kc_max floats plus slack.
                            unsafe { pack(a.0.from(ic, pc), mc, kc, MR, a_pack) };
                            for jr in (0..nc).step_by(NR) {
                                let w = NR.min(nc - jr);
                                // SAFETY: panel jr / NR lies inside the packed B panel, at a
                                // multiple of NR·kc floats from the 64-byte aligned start.
                                let bp = unsafe { b_pack.0.add(jr * kc) };
                                for ir in (0..mc).step_by(MR) {
                                    let h = MR.min(mc - ir);
                                    // SAFETY: the A panel ir / MR lies inside the packed block,
                                    // and (ic + ir, jc + jr) is an element of the m × n output.
                                    // This thread alone writes rows i0..i1 of C.
                                    unsafe {
                                        let ap = a_pack.add(ir * kc);
                                        let cp = c.0.add((ic + ir) * n + jc + jr);
                                        if h == MR && w == NR {
                                            kernel(kc, ap, bp, cp, n, alpha, beta, read_c);
                                        } else {
                                            // A tile over C's edge: compute it whole into
                                            // `edge`, then write the part inside C.
                                            let tile = edge.as_mut_ptr();
                                            kernel(kc, ap, bp, tile, NR, alpha, 0.0, false);
                                            for r in 0..h {
                                                for q in 0..w {
                                                    let d = cp.add(r * n + q);
                                                    let v = edge[r * NR + q];
                                                    *d = if read_c { v + beta * *d } else { v };
                                                }
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    });
                });
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::super::tests::{exact_operands, reference, view};
    use super::*;

    #[test]
    fn matches_the_definition_on_edges_transposes_and_thread_counts() {
        if !(is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma")) {
            eprintln!("skipped: this CPU lacks AVX2 or FMA");
            return;
        }
        // Edge tiles in both directions, k not a multiple of 8, several passes over k
        // (k > KC), several passes over n (n > NC), and tiny products. Small integer values
        // keep every sum exact in f32, so the comparison is exact.
        for (m, k, n) in [
            (1, 1, 1),
            (7, 9, 17),
            (13, 1100, 35),
            (37, 20, 1100),
            (150, 64, 48),
        ] {
            let (a_data, b_data) = exact_operands::<f32>(m, k, n);
            let c_start: Vec<f32> = (0..m * n).map(|i| (i % 3) as f32).collect();
            for (a_t, b_t) in [(false, false), (true, false), (false, true), (true, true)] {
                let (a, b) = (view(&a_data, m, k, a_t), view(&b_data, k, n, b_t));
                for (alpha, beta, parts) in [(1.0, 0.0, 1), (2.0, -1.0, 2), (1.0, 0.0, 3)] {
                    // Exact in f32 too: every value is a small integer.
                    let expected: Vec<f32> = reference(alpha, a, b, beta, &c_start)
                        .into_iter()
                        .map(|v| v as f32)
                        .collect();
                    // NaN where C must not be read (beta zero), so a read would show.
                    let mut got: Vec<f32> = c_start
                        .iter()
                        .map(|&v| if beta == 0.0 { f32::NAN } else { v })
                        .collect();
                    let call = GemmCall::update(alpha as f32, a, b, beta as f32, &mut got);
                    sgemm(call, parts);
                    assert_eq!(
                        got, expected,
                        "{m}×{k}·{k}×{n}, a_t {a_t}, b_t {b_t}, alpha {alpha}, beta {beta}, {parts} parts"
                    );
                }
            }
        }
    }

    #[test]
    fn suits_only_large_products() {
        assert!(!suits(512, 1024, 1024));
        assert!(!suits(1024, 512, 1024));
        assert!(!suits(1024, 1024, 256));
        let avx2_only = is_x86_feature_detected!("avx2")
            && is_x86_feature_detected!("fma")
            && !is_x86_feature_detected!("avx512f");
        assert_eq!(suits(768, 768, 768), avx2_only);
    }
}
