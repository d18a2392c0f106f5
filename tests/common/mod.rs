//! Helpers shared by the integration tests: a deterministic pseudo-random generator, values seen
//! as flat `f64` parameters, central finite differences and a tolerance-aware comparison.
//!
//! # How gradients are checked
//!
//! Every differentiable function under test has an `f64` twin (the same source stamped out for
//! `f64`). The reference gradient is always a 5-point central difference of the `f64` twin,
//! evaluated at the test's inputs widened to `f64` (widening `f32 → f64` is exact, so the twin
//! sees exactly the point the `f32` code saw). With `h = 1e-3·max(1, |x|)` the stencil's
//! truncation error is `O(h⁴) ≈ 1e-12` and its rounding error `O(ε₆₄/h) ≈ 1e-13` (relative to the
//! function's magnitude), so the reference is good to ~10 digits for both float types.
//!
//! - `f64`: relative tolerance `1e-7`, absolute `1e-8 × scale` (scale = the largest reference
//!   entry of that parameter, at least 1). That is ~1000× the reference's own error.
//! - `f32`: the generated code itself rounds at `ε₃₂ ≈ 1.2e-7` per operation, and a gradient
//!   entry is a sum of a few dozen products of terms up to ~`scale`, so its error is around
//!   `1e-6 × scale` (the largest seen over the whole op table is `1.2e-6`). Relative `5e-5` and
//!   absolute `5e-6 × scale` leave a margin of ~40×, while a wrong rule (sign, factor,
//!   transpose, missing broadcast sum) is off by O(1) and even a stray factor `1.0001` in a
//!   broadcast sum is caught in `f64`. Differencing the `f32` function itself would need
//!   `h ≈ 1e-2` and a ~2e-2 tolerance; the `f64` twin is far tighter and more trustworthy.
//!
//! # How directional derivatives (`f_jvp`) are checked
//!
//! Each wrt parameter gets a tangent of its own shape with entries uniform in `[−1, 1)`, drawn
//! by [`tangent_for`] from a seed that hashes the parameter's name and values (so it can be
//! drawn again, identically, wherever it is needed). Then
//!
//! - the value `f_jvp` returns must equal `f`'s exactly;
//! - the directional derivative must agree, element by element, with the 5-point central
//!   difference of the `f64` twin along the tangents ([`directional_fd`], step `h = 1e-3`; the
//!   test inputs are `O(1)`, so this is the same stencil as above), with the tolerances above and
//!   `scale` = the largest reference entry (at least 1);
//! - the dot-product test between forward and reverse mode ([`check_dot`]):
//!   `⟨jvp(v), u⟩ = ⟨v, vjp(u)⟩` (summed over all wrt parameters) for the test's random upstream
//!   `u`. Both sides are exact identities of the two generated programs up to their own rounding,
//!   so the bound is `Tol::dot × S` with `S` the sum of the absolute values of all the products on
//!   both sides: `1e-12` in `f64` (~4500 ε₆₄) and `4e-6` in `f32` (~34 ε₃₂). The largest
//!   `|diff| / S` seen over the whole op table is `2.8e-16` in `f64` and `1.8e-7` in `f32`, and the
//!   largest directional-derivative error is under 3% of its tolerance; a wrong rule in either
//!   mode (sign, factor, transpose, missing broadcast sum) is off by O(1), and a factor `1.0001`
//!   on either side fails every `f64` entry of the table.
//!
//! # How Jacobians (`f_jacobian`) and Hessians (`f_hessian`, `f_hvp`) are checked
//!
//! [`check_jacobian`]: every block is exactly numel(result) × numel(p); row `i` must equal the
//! gradient `f_vjp` returns for the `i`-th unit upstream, column `j` the directional derivative
//! `f_jvp` returns along the `j`-th unit direction ([`Dir::Unit`]). Both sides are generated
//! programs in the float type under test that differ only in the order of their roundings
//! (the batched Jacobian is a different program from `f_vjp`/`f_jvp`), so the bound is
//! `Tol::dense × (|expected| + scale)`, scale = the block's largest entry or the inputs' largest
//! magnitude (at least 1), whichever is larger (an entry whose terms cancel rounds at their size,
//! which the inputs' is): `1e-12` in `f64`
//! (~4500 ε₆₄) and `4e-6` in `f32` (~34 ε₃₂). The largest ratio seen over the op table is
//! `1.9e-15` in `f64` and `6.6e-7` in `f32` (in the f32 MLP Hessian's symmetry); a wrong block
//! (transposed, a missing broadcast sum, rows and columns swapped) is off by O(1), and a factor
//! `1 + 1e-10` on one entry of a block fails every `f64` entry.
//!
//! [`check_hessian`] (scalar results): the matrix is exactly n × n and symmetric to
//! `Tol::dense`; `H·v` (in `f64` from its entries) equals `f_hvp`'s product along the random
//! tangents `v` of the `f_jvp` check to `Tol::dense × (Σⱼ |Hᵢⱼ vⱼ| + max|H|·max|v|)` (largest
//! ratio seen: `6.3e-16` in `f64`, `1.6e-7` in `f32`); and both agree with the 5-point central
//! difference of the `f64` twin's `f_grad` along `v` with the gradient tolerances above
//! (largest error seen: 0.1% of the tolerance in `f64`, 8% in `f32`; a factor `1 + 1e-5` on the
//! Hessian fails every `f64` entry whose Hessian is not zero).
#![allow(dead_code)]

use autodiff::prelude::*;
use autodiff::Real;

// ───────────────────────────── random inputs ─────────────────────────────

/// How to draw each element.
#[derive(Clone, Copy, Debug)]
pub enum Dist {
    /// Uniform in `[lo, hi)`.
    Uniform(f64, f64),
    /// Magnitude uniform in `[lo, hi)` with a random sign: keeps inputs away from the kinks of
    /// `relu`/`abs` and the pole of `x⁻ⁿ` and `1/x`.
    AwayFromZero(f64, f64),
    /// Uniform in one of the intervals, picked uniformly: stays off the thresholds between them
    /// (the bounds of `clamp`).
    Bands(&'static [(f64, f64)]),
}

/// `Uniform(-2, 2)`, the default range.
pub const U: Dist = Dist::Uniform(-2.0, 2.0);
/// Positive inputs for `ln`, `sqrt`.
pub const POS: Dist = Dist::Uniform(0.5, 3.0);
/// `AwayFromZero(0.5, 1.5)`: safe denominators, moderate products.
pub const AWAY: Dist = Dist::AwayFromZero(0.5, 1.5);

/// xorshift64* (Vigna): tiny, deterministic, good enough for test inputs.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        // Any seed (including 0) gives a non-zero state.
        Rng((seed ^ 0x2545_F491_4F6C_DD1D).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `[0, 1)` with 53 random bits.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    pub fn sample(&mut self, dist: Dist) -> f64 {
        match dist {
            Dist::Uniform(lo, hi) => lo + (hi - lo) * self.unit(),
            Dist::AwayFromZero(lo, hi) => {
                let m = lo + (hi - lo) * self.unit();
                if self.next_u64() & 1 == 0 {
                    m
                } else {
                    -m
                }
            }
            Dist::Bands(bands) => {
                let (lo, hi) = bands[(self.next_u64() % bands.len() as u64) as usize];
                lo + (hi - lo) * self.unit()
            }
        }
    }

    pub fn scalar<T: Real>(&mut self, dist: Dist) -> T {
        T::from_f64(self.sample(dist))
    }

    pub fn vector<T: Real>(&mut self, n: usize, dist: Dist) -> Vector<T> {
        Vector::from_vec((0..n).map(|_| self.scalar(dist)).collect())
    }

    pub fn matrix<T: Real>(&mut self, rows: usize, cols: usize, dist: Dist) -> Matrix<T> {
        Matrix::from_vec(
            rows,
            cols,
            (0..rows * cols).map(|_| self.scalar(dist)).collect(),
        )
    }
}

/// Scalars, vectors and matrices of either float type: a random value of the same kind and shape.
pub trait RandomLike: Sized {
    fn random_like(&self, rng: &mut Rng, dist: Dist) -> Self;
}

impl RandomLike for f32 {
    fn random_like(&self, rng: &mut Rng, dist: Dist) -> f32 {
        rng.scalar(dist)
    }
}

impl RandomLike for f64 {
    fn random_like(&self, rng: &mut Rng, dist: Dist) -> f64 {
        rng.scalar(dist)
    }
}

impl<T: Real> RandomLike for Vector<T> {
    fn random_like(&self, rng: &mut Rng, dist: Dist) -> Vector<T> {
        rng.vector(self.len(), dist)
    }
}

impl<T: Real> RandomLike for Matrix<T> {
    fn random_like(&self, rng: &mut Rng, dist: Dist) -> Matrix<T> {
        rng.matrix(self.rows(), self.cols(), dist)
    }
}

/// The tangent (uniform in `[−1, 1)`, of `x`'s kind and shape) that the checks use for the
/// parameter `name` at the value `x`: a pure function of both, so every caller that asks for it
/// gets the same one.
pub fn tangent_for<X: RandomLike + Flat>(x: &X, name: &str) -> X {
    // FNV-1a over the name and the bits of the (widened) value.
    let mut hash: u64 = 0xCBF2_9CE4_8422_2325;
    let bytes = name
        .bytes()
        .chain(x.flat().into_iter().flat_map(|v| v.to_bits().to_le_bytes()));
    for byte in bytes {
        hash = (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01B3);
    }
    x.random_like(&mut Rng::new(hash), Dist::Uniform(-1.0, 1.0))
}

// ───────────────────────────── values as flat f64 parameters ─────────────────────────────

/// A value widened to `f64`, remembering its kind and shape.
#[derive(Clone, Debug, PartialEq)]
pub enum Val {
    S(f64),
    V(Vector<f64>),
    M(Matrix<f64>),
}

impl Val {
    pub fn s(&self) -> f64 {
        match self {
            Val::S(s) => *s,
            other => panic!("expected a scalar, found {}", other.describe()),
        }
    }

    pub fn v(&self) -> &Vector<f64> {
        match self {
            Val::V(v) => v,
            other => panic!("expected a vector, found {}", other.describe()),
        }
    }

    pub fn m(&self) -> &Matrix<f64> {
        match self {
            Val::M(m) => m,
            other => panic!("expected a matrix, found {}", other.describe()),
        }
    }

    /// The elements, row-major.
    pub fn flat(&self) -> Vec<f64> {
        match self {
            Val::S(s) => vec![*s],
            Val::V(v) => v.as_slice().to_vec(),
            Val::M(m) => m.as_slice().to_vec(),
        }
    }

    /// A value of this kind and shape holding `data`.
    pub fn rebuild(&self, data: &[f64]) -> Val {
        assert_eq!(data.len(), self.flat().len(), "rebuild: wrong length");
        match self {
            Val::S(_) => Val::S(data[0]),
            Val::V(_) => Val::V(Vector::from_vec(data.to_vec())),
            Val::M(m) => Val::M(Matrix::from_vec(m.rows(), m.cols(), data.to_vec())),
        }
    }

    /// "scalar", "vector of 3", "2×3 matrix".
    pub fn describe(&self) -> String {
        match self {
            Val::S(_) => "scalar".to_string(),
            Val::V(v) => format!("vector of {}", v.len()),
            Val::M(m) => format!("{}×{} matrix", m.rows(), m.cols()),
        }
    }

    /// Number of columns for element positions in messages (1 for scalars and vectors).
    fn cols(&self) -> usize {
        match self {
            Val::M(m) => m.cols().max(1),
            _ => 1,
        }
    }
}

/// Scalars, vectors and matrices of either float type, widened to `f64` exactly.
pub trait Flat {
    fn widen(&self) -> Val;
    fn flat(&self) -> Vec<f64> {
        self.widen().flat()
    }
}

macro_rules! impl_flat {
    ($($t:ty),*) => {$(
        impl Flat for $t {
            fn widen(&self) -> Val {
                Val::S(f64::from(*self))
            }
        }
        impl Flat for Vector<$t> {
            fn widen(&self) -> Val {
                Val::V(Vector::from_vec(self.as_slice().iter().map(|&x| f64::from(x)).collect()))
            }
        }
        impl Flat for Matrix<$t> {
            fn widen(&self) -> Val {
                Val::M(Matrix::from_vec(
                    self.rows(),
                    self.cols(),
                    self.as_slice().iter().map(|&x| f64::from(x)).collect(),
                ))
            }
        }
    )*};
}
impl_flat!(f32, f64);

impl Flat for Val {
    fn widen(&self) -> Val {
        self.clone()
    }
}

/// A gradient as returned by `f_grad`/`f_vjp`: bare for one parameter, else a tuple.
pub trait Grads {
    fn vals(&self) -> Vec<Val>;
}

macro_rules! impl_grads_bare {
    ($($t:ty),*) => {$(
        impl Grads for $t {
            fn vals(&self) -> Vec<Val> {
                vec![self.widen()]
            }
        }
    )*};
}
impl_grads_bare!(f32, f64, Vector<f32>, Vector<f64>, Matrix<f32>, Matrix<f64>);

impl<A: Flat, B: Flat> Grads for (A, B) {
    fn vals(&self) -> Vec<Val> {
        vec![self.0.widen(), self.1.widen()]
    }
}

impl<A: Flat, B: Flat, C: Flat> Grads for (A, B, C) {
    fn vals(&self) -> Vec<Val> {
        vec![self.0.widen(), self.1.widen(), self.2.widen()]
    }
}

impl<A: Flat, B: Flat, C: Flat, D: Flat> Grads for (A, B, C, D) {
    fn vals(&self) -> Vec<Val> {
        vec![
            self.0.widen(),
            self.1.widen(),
            self.2.widen(),
            self.3.widen(),
        ]
    }
}

/// `Σ aᵢ·bᵢ` in `f64` over the flattened values: the scalar `sum(u ⊙ f(x))` whose gradient is
/// the vector-Jacobian product with upstream `u`.
#[track_caller]
pub fn dotf(a: &impl Flat, b: &impl Flat) -> f64 {
    let (a, b) = (a.widen(), b.widen());
    assert_eq!(
        a.flat().len(),
        b.flat().len(),
        "upstream ({}) and result ({}) differ in size",
        a.describe(),
        b.describe()
    );
    a.flat().iter().zip(b.flat()).map(|(x, y)| x * y).sum()
}

// ───────────────────────────── tolerances and comparisons ─────────────────────────────

/// Tolerances for comparing a computed gradient with the finite-difference reference.
#[derive(Clone, Copy, Debug)]
pub struct Tol {
    pub rel: f64,
    /// Multiplied by the largest reference entry of the parameter (at least 1).
    pub abs: f64,
    /// Machine epsilon of the float type under test.
    pub eps: f64,
    /// Relative tolerance of the dot-product test `⟨jvp(v), u⟩ = ⟨v, vjp(u)⟩`, relative to the
    /// sum of the absolute values of the products on both sides.
    pub dot: f64,
    /// Relative tolerance between two generated programs that compute the same derivative
    /// entries in different orders (`f_jacobian` against `f_vjp`/`f_jvp`, `f_hessian` against
    /// its transpose and `f_hvp`): see `common::check_jacobian` and `common::check_hessian`.
    pub dense: f64,
}

/// The float types under test and their tolerances (see the module documentation).
pub trait TestFloat: Real {
    const TOL: Tol;
}

impl TestFloat for f64 {
    const TOL: Tol = Tol {
        rel: 1e-7,
        abs: 1e-8,
        eps: f64::EPSILON,
        dot: 1e-12,
        dense: 1e-12,
    };
}

impl TestFloat for f32 {
    const TOL: Tol = Tol {
        rel: 5e-5,
        abs: 5e-6,
        eps: f32::EPSILON as f64,
        dot: 4e-6,
        dense: 4e-6,
    };
}

/// Asserts `|actual − expected| ≤ abs_tol + rel_tol·|expected|` element by element, naming
/// `what` (the parameter), the element index and both values on failure.
#[track_caller]
pub fn assert_close(actual: &[f64], expected: &[f64], rel_tol: f64, abs_tol: f64, what: &str) {
    assert_close_in(actual, expected, rel_tol, abs_tol, what, 1);
}

/// [`assert_close`] for a matrix with `cols` columns: positions are printed as `(row, col)`.
#[track_caller]
pub fn assert_close_in(
    actual: &[f64],
    expected: &[f64],
    rel_tol: f64,
    abs_tol: f64,
    what: &str,
    cols: usize,
) {
    assert_eq!(
        actual.len(),
        expected.len(),
        "{what}: {} elements computed, {} expected",
        actual.len(),
        expected.len()
    );
    for (i, (&a, &e)) in actual.iter().zip(expected).enumerate() {
        let tol = abs_tol + rel_tol * e.abs();
        let ok = (a - e).abs() <= tol;
        assert!(
            ok,
            "{what}: element {i}{}: actual {a:.12e}, expected {e:.12e} (|diff| {:.3e} > tol {tol:.3e})",
            if cols > 1 {
                format!(" = ({}, {})", i / cols, i % cols)
            } else {
                String::new()
            },
            (a - e).abs(),
        );
    }
}

/// Asserts that a generated function returned exactly the original function's value (same
/// shape, equal elements), naming the first differing element and how many differ.
#[track_caller]
pub fn assert_same_value(actual: &impl Flat, expected: &impl Flat, what: &str) {
    let (a, e) = (actual.widen(), expected.widen());
    assert_eq!(a.describe(), e.describe(), "{what}: shapes differ");
    let (af, ef) = (a.flat(), e.flat());
    let differing: Vec<usize> = (0..af.len()).filter(|&i| af[i] != ef[i]).collect();
    if let Some(&i) = differing.first() {
        panic!(
            "{what}: {} of {} elements differ; first at element {i}: {:e} (generated) vs {:e} \
             (original), relative difference {:.1e}",
            differing.len(),
            af.len(),
            af[i],
            ef[i],
            ((af[i] - ef[i]) / ef[i]).abs(),
        );
    }
}

/// The 5-point central difference `(−f(x+2h) + 8f(x+h) − 8f(x−h) + f(x−2h)) / 12h` of `loss`
/// with respect to every element of parameter `k` of `params`.
pub fn finite_differences(params: &[Val], k: usize, loss: &dyn Fn(&[Val]) -> f64) -> Vec<f64> {
    let x = params[k].flat();
    (0..x.len())
        .map(|i| {
            let h = 1e-3 * x[i].abs().max(1.0);
            let at = |delta: f64| {
                let mut xi = x.clone();
                xi[i] += delta;
                let mut p = params.to_vec();
                p[k] = params[k].rebuild(&xi);
                loss(&p)
            };
            (-at(2.0 * h) + 8.0 * at(h) - 8.0 * at(-h) + at(-2.0 * h)) / (12.0 * h)
        })
        .collect()
}

/// Checks computed gradients `got` (one per entry of `params`, in order) against central
/// differences of `loss`, which receives the parameters (as `f64` values) in the same order.
#[track_caller]
pub fn check_grads(
    function: &str,
    got: &[Val],
    params: &[(&str, Val)],
    tol: Tol,
    loss: impl Fn(&[Val]) -> f64,
) {
    assert_eq!(
        got.len(),
        params.len(),
        "`{function}`: {} gradients returned for {} parameters",
        got.len(),
        params.len()
    );
    let values: Vec<Val> = params.iter().map(|(_, v)| v.clone()).collect();
    for (k, ((name, p), g)) in params.iter().zip(got).enumerate() {
        assert_eq!(
            g.describe(),
            p.describe(),
            "`{function}`: the gradient of `{name}` has the wrong shape"
        );
        let fd = finite_differences(&values, k, &loss);
        let scale = fd.iter().fold(1.0f64, |m, v| m.max(v.abs()));
        assert_close_in(
            &g.flat(),
            &fd,
            tol.rel,
            tol.abs * scale,
            &format!(
                "`{function}`: d{name} ({}) vs finite differences",
                p.describe()
            ),
            p.cols(),
        );
    }
}

/// Checks `scaled = factor × base` gradient by gradient, to a few ulps (scaling by a power of
/// two commutes with rounding, so this is exact in practice).
#[track_caller]
pub fn assert_scaled(factor: f64, base: &[Val], scaled: &[Val], tol: Tol, what: &str) {
    assert_eq!(base.len(), scaled.len(), "{what}: gradient counts differ");
    for (k, (b, s)) in base.iter().zip(scaled).enumerate() {
        assert_eq!(
            b.describe(),
            s.describe(),
            "{what}: gradient {k} shapes differ"
        );
        let expected: Vec<f64> = b.flat().iter().map(|x| factor * x).collect();
        assert_close_in(
            &s.flat(),
            &expected,
            4.0 * tol.eps,
            0.0,
            &format!("{what}: gradient {k} with upstream {factor} vs {factor} × f_grad"),
            b.cols(),
        );
    }
}

/// The 5-point central difference of `f` along `tangents` (one per entry of `params`, same
/// shapes): `(−f(x+2hv) + 8f(x+hv) − 8f(x−hv) + f(x−2hv)) / 12h` with `h = 1e-3`, of
/// `f(params)`'s kind and shape.
pub fn directional_fd(params: &[Val], tangents: &[Val], f: &dyn Fn(&[Val]) -> Val) -> Val {
    assert_eq!(params.len(), tangents.len(), "one tangent per parameter");
    let h = 1e-3;
    let at = |t: f64| {
        let moved: Vec<Val> = params
            .iter()
            .zip(tangents)
            .map(|(x, v)| {
                assert_eq!(x.describe(), v.describe(), "a tangent of the wrong shape");
                let data: Vec<f64> = x
                    .flat()
                    .iter()
                    .zip(v.flat())
                    .map(|(a, b)| a + t * b)
                    .collect();
                x.rebuild(&data)
            })
            .collect();
        f(&moved).flat()
    };
    let (p2, p1, m1, m2) = (at(2.0 * h), at(h), at(-h), at(-2.0 * h));
    let fd: Vec<f64> = (0..p1.len())
        .map(|i| (-p2[i] + 8.0 * p1[i] - 8.0 * m1[i] + m2[i]) / (12.0 * h))
        .collect();
    f(params).rebuild(&fd)
}

/// Checks the directional derivative `jvp` that `f_jvp` returned for the tangents `tangents`
/// (one per entry of `params`, the wrt parameters in signature order) against
/// [`directional_fd`] of `f`, the `f64` twin on those parameters.
#[track_caller]
pub fn check_jvp(
    function: &str,
    jvp: &Val,
    params: &[(&str, Val)],
    tangents: &[Val],
    tol: Tol,
    f: &dyn Fn(&[Val]) -> Val,
) {
    assert_eq!(
        tangents.len(),
        params.len(),
        "`{function}`: {} tangents for {} wrt parameters",
        tangents.len(),
        params.len()
    );
    let values: Vec<Val> = params.iter().map(|(_, v)| v.clone()).collect();
    let fd = directional_fd(&values, tangents, f);
    assert_eq!(
        jvp.describe(),
        fd.describe(),
        "`{function}`: f_jvp's tangent and f's value differ in shape"
    );
    let fd = fd.flat();
    let scale = fd.iter().fold(1.0f64, |m, v| m.max(v.abs()));
    let names: Vec<&str> = params.iter().map(|(n, _)| *n).collect();
    assert_close_in(
        &jvp.flat(),
        &fd,
        tol.rel,
        tol.abs * scale,
        &format!(
            "`{function}`: f_jvp along d{} ({}) vs finite differences",
            names.join(", d"),
            jvp.describe()
        ),
        jvp.cols(),
    );
}

/// The dot-product test between forward and reverse mode: `⟨jvp, upstream⟩ = Σₖ ⟨tangentₖ,
/// vjpₖ⟩`, where `jvp` is `f_jvp` along `tangents` and `vjp` is `f_vjp` with `upstream` (both
/// over the same wrt parameters in the same order), to `tol.dot` relative to the sum of the
/// absolute values of all the products.
#[track_caller]
pub fn check_dot(
    function: &str,
    jvp: &Val,
    upstream: &Val,
    tangents: &[Val],
    vjp: &[Val],
    tol: Tol,
) {
    assert_eq!(
        jvp.describe(),
        upstream.describe(),
        "`{function}`: f_jvp's tangent and the upstream differ in shape"
    );
    assert_eq!(
        tangents.len(),
        vjp.len(),
        "`{function}`: {} tangents, {} gradients",
        tangents.len(),
        vjp.len()
    );
    let products = |a: &Val, b: &Val| -> Vec<f64> {
        assert_eq!(a.describe(), b.describe(), "`{function}`: shapes differ");
        a.flat().iter().zip(b.flat()).map(|(x, y)| x * y).collect()
    };
    let forward = products(jvp, upstream);
    let reverse: Vec<f64> = tangents
        .iter()
        .zip(vjp)
        .flat_map(|(v, g)| products(v, g))
        .collect();
    let (lhs, rhs): (f64, f64) = (forward.iter().sum(), reverse.iter().sum());
    let magnitude: f64 = forward.iter().chain(&reverse).map(|p| p.abs()).sum();
    let bound = tol.dot * magnitude;
    assert!(
        (lhs - rhs).abs() <= bound,
        "`{function}`: dot-product test: ⟨jvp(v), u⟩ = {lhs:.15e} but ⟨v, vjp(u)⟩ = {rhs:.15e} \
         (|diff| {:.3e} > {bound:.3e} = {} × Σ|products| {magnitude:.3e})",
        (lhs - rhs).abs(),
        tol.dot,
    );
}

// ───────────────────────────── directions, Jacobians and Hessians ─────────────────────────────

/// Scalars, vectors and matrices of either float type: a value of the same kind and shape
/// holding given (`f64`) elements, such as a unit vector or zeros.
pub trait Shaped: Flat + RandomLike {
    /// A value of `self`'s kind and shape holding `data` (row-major), narrowed to its float type.
    fn with_elements(&self, data: &[f64]) -> Self;
}

impl<T: Real> Shaped for Vector<T>
where
    Vector<T>: Flat,
{
    fn with_elements(&self, data: &[f64]) -> Vector<T> {
        assert_eq!(data.len(), self.len(), "with_elements: wrong length");
        Vector::from_vec(data.iter().map(|&x| T::from_f64(x)).collect())
    }
}

impl<T: Real> Shaped for Matrix<T>
where
    Matrix<T>: Flat,
{
    fn with_elements(&self, data: &[f64]) -> Matrix<T> {
        assert_eq!(
            data.len(),
            self.rows() * self.cols(),
            "with_elements: wrong length"
        );
        Matrix::from_vec(
            self.rows(),
            self.cols(),
            data.iter().map(|&x| T::from_f64(x)).collect(),
        )
    }
}

impl Shaped for f32 {
    fn with_elements(&self, data: &[f64]) -> f32 {
        assert_eq!(data.len(), 1, "with_elements: wrong length");
        data[0] as f32
    }
}

impl Shaped for f64 {
    fn with_elements(&self, data: &[f64]) -> f64 {
        assert_eq!(data.len(), 1, "with_elements: wrong length");
        data[0]
    }
}

/// The number of elements of a scalar (1), vector or matrix.
pub fn numel(x: &impl Flat) -> usize {
    x.flat().len()
}

/// The `i`-th unit value (row-major) of `x`'s kind and shape.
pub fn unit_like<X: Shaped>(x: &X, i: usize) -> X {
    let mut data = vec![0.0; numel(x)];
    data[i] = 1.0;
    x.with_elements(&data)
}

/// Which tangents (for `f_jvp`) or directions (for `f_hvp`) the checks pass.
#[derive(Clone, Copy, Debug)]
pub enum Dir<'a> {
    /// [`tangent_for`] for every wrt parameter.
    Random,
    /// The `j`-th unit direction (row-major) for the parameter named so, zero for the others.
    Unit(&'a str, usize),
}

/// The tangent of the wrt parameter `name` (at the value `x`) for the directions `dir`.
pub fn direction<X: Shaped>(x: &X, name: &str, dir: &Dir) -> X {
    match *dir {
        Dir::Random => tangent_for(x, name),
        Dir::Unit(which, j) if which == name => unit_like(x, j),
        Dir::Unit(..) => x.with_elements(&vec![0.0; numel(x)]),
    }
}

/// The largest absolute value of `data`, 0 if empty.
fn max_abs(data: &[f64]) -> f64 {
    data.iter().fold(0.0f64, |m, v| m.max(v.abs()))
}

/// Asserts that a dense derivative matrix is a `rows × cols` matrix and returns its elements.
#[track_caller]
fn dense_elements(m: &Val, rows: usize, cols: usize, what: &str) -> Vec<f64> {
    match m {
        Val::M(m) => assert_eq!(
            m.shape(),
            (rows, cols),
            "{what}: shape {:?}, expected {rows}×{cols}",
            m.shape()
        ),
        other => panic!(
            "{what}: a {} instead of a {rows}×{cols} matrix",
            other.describe()
        ),
    }
    m.flat()
}

/// Asserts `|actual − expected| ≤ tol.dense × (|expected| + scale)` element by element, `scale`
/// being the largest entry of the whole matrix: both sides are computed in the float type under
/// test by programs that differ only in the order of their roundings (or one side is a closed
/// form evaluated in `f64`).
#[track_caller]
pub fn assert_same_to_rounding(
    actual: &[f64],
    expected: &[f64],
    cols: usize,
    tol: Tol,
    what: &str,
) {
    assert_same_to_rounding_at(actual, expected, cols, 0.0, tol, what);
}

/// [`assert_same_to_rounding`] with `scale` at least `magnitude`: the size of the terms the
/// entries are computed from, where they cancel (`1 − tanh²` near saturation rounds at
/// `ε × 1`, not `ε × (1 − tanh²)`).
#[track_caller]
pub fn assert_same_to_rounding_at(
    actual: &[f64],
    expected: &[f64],
    cols: usize,
    magnitude: f64,
    tol: Tol,
    what: &str,
) {
    let scale = max_abs(actual).max(max_abs(expected)).max(magnitude);
    assert_eq!(actual.len(), expected.len(), "{what}: sizes differ");
    for (i, (&a, &e)) in actual.iter().zip(expected).enumerate() {
        let bound = tol.dense * (e.abs() + scale);
        assert!(
            (a - e).abs() <= bound,
            "{what}: entry ({}, {}): {a:.15e} vs {e:.15e} (|diff| {:.3e} > {bound:.3e} = {} × \
             (|expected| + scale {scale:.3e}))",
            i / cols.max(1),
            i % cols.max(1),
            (a - e).abs(),
            tol.dense,
        );
    }
}

/// Checks `f_jacobian`'s blocks `jacobian` (one per wrt parameter of `params`, in order)
/// against reverse and forward mode:
///
/// - block `k` is exactly a numel(result) × numel(pₖ) matrix;
/// - its row `i` is `rows[i][k]`, the `k`-th gradient that `f_vjp` returns for the `i`-th unit
///   upstream;
/// - its column `j` is `columns[k][j]`, the directional derivative that `f_jvp` returns along
///   the `j`-th unit direction of `pₖ` (zero tangents for the other wrt parameters);
///
/// both to `tol.dense` (see [`assert_same_to_rounding`]).
#[track_caller]
pub fn check_jacobian(
    function: &str,
    jacobian: &[Val],
    result: &Val,
    params: &[(&str, Val)],
    rows: &[Vec<Val>],
    columns: &[Vec<Val>],
    tol: Tol,
) {
    assert_eq!(
        jacobian.len(),
        params.len(),
        "`{function}`: {} Jacobian blocks for {} wrt parameters",
        jacobian.len(),
        params.len()
    );
    let outputs = numel(result);
    assert_eq!(rows.len(), outputs, "`{function}`: one vjp per output");
    // Entries that are small because their terms cancel round at the size of those terms: the
    // inputs' (at least 1).
    let magnitude = params
        .iter()
        .flat_map(|(_, p)| p.flat())
        .fold(1.0f64, |m, x| m.max(x.abs()));
    for (k, ((name, p), block)) in params.iter().zip(jacobian).enumerate() {
        let inputs = numel(p);
        let what = format!(
            "`{function}`: f_jacobian's block for `{name}` ({} result, {} parameter)",
            result.describe(),
            p.describe()
        );
        let got = dense_elements(block, outputs, inputs, &what);
        let by_rows: Vec<f64> = rows
            .iter()
            .enumerate()
            .flat_map(|(i, grads)| {
                assert_eq!(
                    grads[k].describe(),
                    p.describe(),
                    "`{function}`: d{name} of the vjp with unit upstream {i}"
                );
                grads[k].flat()
            })
            .collect();
        assert_same_to_rounding_at(
            &got,
            &by_rows,
            inputs,
            magnitude,
            tol,
            &format!("{what} vs f_vjp with unit upstreams (rows)"),
        );
        assert_eq!(columns[k].len(), inputs, "`{function}`: one jvp per input");
        let mut by_columns = vec![0.0; outputs * inputs];
        for (j, column) in columns[k].iter().enumerate() {
            assert_eq!(
                column.describe(),
                result.describe(),
                "`{function}`: f_jvp along unit d{name} {j}"
            );
            for (i, x) in column.flat().into_iter().enumerate() {
                by_columns[i * inputs + j] = x;
            }
        }
        assert_same_to_rounding_at(
            &got,
            &by_columns,
            inputs,
            magnitude,
            tol,
            &format!("{what} vs f_jvp along unit directions (columns)"),
        );
    }
}

/// Checks `f_hessian`'s matrix `hessian` of a scalar function over the wrt parameters `params`
/// (flattened and concatenated in order):
///
/// - it is exactly n × n, n the total number of wrt elements, and symmetric to `tol.dense`;
/// - `H·v` (computed here in `f64` from `hessian`'s entries, `v` = `directions` flattened and
///   concatenated) equals `product`, the Hessian-vector product `f_hvp` returned along
///   `directions`, to `tol.dense × (Σⱼ |Hᵢⱼ vⱼ| + maxᵢⱼ |Hᵢⱼ| · maxⱼ |vⱼ|)` (the second term
///   covers an entry of `H·v` that is small because `f_hvp`'s own terms cancel);
/// - both `product` and `H·v` agree with the 5-point central difference of `grad` (the `f64`
///   twin's gradient, flattened and concatenated) along `directions`, with `tol.rel` and
///   `tol.abs × scale` as for the directional derivatives of `f_jvp`.
#[track_caller]
pub fn check_hessian(
    function: &str,
    hessian: &Val,
    params: &[(&str, Val)],
    directions: &[Val],
    product: &[Val],
    tol: Tol,
    grad: &dyn Fn(&[Val]) -> Vec<f64>,
) {
    let n: usize = params.iter().map(|(_, p)| numel(p)).sum();
    let names: Vec<&str> = params.iter().map(|(n, _)| *n).collect();
    let what = format!("`{function}`: f_hessian over ({})", names.join(", "));
    let h = dense_elements(hessian, n, n, &what);
    let transposed: Vec<f64> = (0..n * n).map(|e| h[(e % n) * n + e / n]).collect();
    assert_same_to_rounding(&h, &transposed, n, tol, &format!("{what}: H vs Hᵀ"));

    assert_eq!(
        directions.len(),
        params.len(),
        "one direction per parameter"
    );
    assert_eq!(
        product.len(),
        params.len(),
        "one product block per parameter"
    );
    for ((name, p), (v, hv)) in params.iter().zip(directions.iter().zip(product)) {
        assert_eq!(v.describe(), p.describe(), "direction for `{name}`");
        assert_eq!(hv.describe(), p.describe(), "f_hvp's product for `{name}`");
    }
    let v: Vec<f64> = directions.iter().flat_map(Val::flat).collect();
    let hv: Vec<f64> = product.iter().flat_map(Val::flat).collect();
    let mut h_v = vec![0.0; n];
    for i in 0..n {
        let terms: Vec<f64> = (0..n).map(|j| h[i * n + j] * v[j]).collect();
        let expected: f64 = terms.iter().sum();
        h_v[i] = expected;
        let magnitude: f64 = terms.iter().map(|t| t.abs()).sum::<f64>() + max_abs(&h) * max_abs(&v);
        let bound = tol.dense * magnitude;
        assert!(
            (hv[i] - expected).abs() <= bound,
            "{what}: (H·v)[{i}] = {expected:.15e} but f_hvp gives {:.15e} (|diff| {:.3e} > \
             {bound:.3e})",
            hv[i],
            (hv[i] - expected).abs(),
        );
    }

    let values: Vec<Val> = params.iter().map(|(_, v)| v.clone()).collect();
    let fd = directional_fd(&values, directions, &|vals: &[Val]| {
        Val::V(Vector::from_vec(grad(vals)))
    })
    .flat();
    let scale = fd.iter().fold(1.0f64, |m, v| m.max(v.abs()));
    for (product, by) in [(&hv, "f_hvp"), (&h_v, "f_hessian · v")] {
        assert_close(
            product,
            &fd,
            tol.rel,
            tol.abs * scale,
            &format!(
                "{what}: {by} along random directions v vs finite differences of the gradient"
            ),
        );
    }
}

/// Where the panic that `f` raises is reported, as `file:line`.
pub fn panic_location(f: impl FnOnce() + std::panic::UnwindSafe) -> String {
    use std::cell::RefCell;
    thread_local! {
        static LOCATION: RefCell<Option<String>> = const { RefCell::new(None) };
    }
    // One hook for the whole binary, recording the location on the panicking thread (tests run
    // on several threads at once).
    static HOOK: std::sync::Once = std::sync::Once::new();
    HOOK.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let location = info
                .location()
                .map(|l| format!("{}:{}", l.file(), l.line()));
            LOCATION.with(|cell| *cell.borrow_mut() = location);
            default(info);
        }));
    });
    std::panic::catch_unwind(f).expect_err("panics");
    LOCATION
        .with(|cell| cell.borrow_mut().take())
        .expect("the hook saw the panic")
}
