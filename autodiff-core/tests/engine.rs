//! Engine tests without the macro: IR programs are built by hand and run through the interpreter
//! `symbolic::eval`.
//!
//! 1. The reverse program against central five-point finite differences: one table row per op
//!    and kind combination (with broadcasting on either side and each operand active or not),
//!    composite programs, and 2000 random well-shaped programs; in f64, and with the derived
//!    program run in f32.
//! 2. The simplifier never changes a value (returned values bit for bit, derived values to
//!    1e-12), adds no tensor work and is idempotent; each rewrite fires, and does not fire where
//!    it would be wrong.
//! 3. The structure of derived programs (matmul pullbacks, the B1 MLP, activity analysis, zero
//!    gradients) and their derivation text.
//! 4. Kind errors are errors, not panics, with lowercase messages.
//! 5. The printer.
//! 6. The interpreter's meaning of each op against numbers worked by hand.
//! 7. Forward mode: on every table row and random program, the tangent program's `J·v` against
//!    five-point differences of the primal along `v` (f64, and the tangent program run in f32)
//!    and against reverse mode by the dot-product test `⟨J·v, u⟩ = ⟨v, Jᵀ·u⟩`; its value is the
//!    primal's bit for bit, simplifying it changes nothing, and it computes no tangent of an
//!    inactive value. Every derived program (adjoints and tangents of the same rows) is
//!    differentiated forward again and checked the same way, which covers the derivative
//!    kernels' forward rules (forward-over-reverse Hessian-vector products). Then the structure
//!    of forward programs (`dy = dx·w + x·dw`, the B1 MLP's three tangent GEMMs, bias
//!    expansion, zero tangents) and malformed requests.
//!
//! Table tests run every row and report every failing row at once (with the program's listing),
//! like JAX's `check_vjp` tables.
// The interpreter and the tensors it runs on are the runtime feature.
#![cfg(feature = "runtime")]

use std::panic::{catch_unwind, AssertUnwindSafe};

use autodiff_core::symbolic::rules::arith::{BinOp, Binary, Literal, Neg, ParamRef};
use autodiff_core::symbolic::rules::elementwise::{
    Domain as FnDomain, Powi, PowiGrad, Unary, UnaryFn, UnaryGrad,
};
use autodiff_core::symbolic::rules::linalg::{Dot, MatMul, Outer, Transpose};
use autodiff_core::symbolic::rules::reduce::{
    BroadcastTo, Expand, Fill, Mean, Numel, Sum, SumAxis, SumTo,
};
use autodiff_core::symbolic::rules::softmax::{
    LogSoftmax, LogSoftmaxGrad, LogSoftmaxJvp, Softmax, SoftmaxGrad,
};
use autodiff_core::symbolic::rules::structure::AsColumn;
use autodiff_core::symbolic::simplify::eliminate_dead_code;
use autodiff_core::symbolic::{
    derive_forward, derive_hvp, derive_reverse, eval, forward, print, reverse, simplify, Forward,
    Inst, Kind, Op, Precision, Program, Role, Seed, Value, ValueId,
};
use autodiff_core::{Matrix, Real, Vector};

// ═════════════════════════════════════════════════════════════════════════════════════════════
// Tolerances
// ═════════════════════════════════════════════════════════════════════════════════════════════

/// Step of the central five-point stencil `(−f(x+2h) + 8f(x+h) − 8f(x−h) + f(x−2h)) / 12h`.
/// Its truncation error is `h⁴·f⁽⁵⁾/30` and its rounding error about `1.5·ε₆₄·|f|/h ≈
/// 3e-13·|f|`. On the tables the reference agrees with the reverse program to ≤ 1e-8 relative
/// (the worst rows are `1/x³`-like, whose fifth derivative is large at |x| = 0.25). Each
/// gradient is also differenced with `h/4`, and a row passes if either stencil agrees: that
/// rescues random programs with huge higher derivatives (`sin` of a degree-12 polynomial), while
/// a wrong rule disagrees with both.
const FD_STEP: f64 = 1e-3;

/// f64 reverse vs f64 finite differences, relative to the largest gradient entry (see the
/// floors below for gradients that are zero). Measured: ≤ 1e-8 on the tables and ≤ 3e-8 on the
/// random programs, so 1e-6 leaves a margin of 30; a wrong rule is off by O(1). Forward mode
/// (`J·v` against a directional stencil, see `check_forward_with`) measured ≤ 7e-12 on the
/// tables, ≤ 1.4e-8 on the random programs and ≤ 1.1e-8 on the derived programs.
const TOL_F64: f64 = 1e-6;

/// f32 reverse vs f64 finite differences, relative to the largest gradient entry. The derived
/// program is run entirely in f32 (inputs rounded to f32), so every entry carries the f32
/// rounding of its forward and backward chain: unit roundoff 2⁻²⁴ ≈ 6e-8, grown by chains of
/// about ten ops and sums of up to 24 terms (GEMMs, row sums, `mean`), with mild cancellation
/// (`1 − y²`, `dy − exp(y)·Σdy`). Measured: ≤ 2.2e-6 on the tables, ≤ 1.1e-5 on the random
/// programs; 1e-4 leaves a margin of 10 and is still four orders of magnitude below the O(1)
/// error of a wrong rule. The forward program run in f32 carries the same roundings along the
/// same chains (its tangent ops mirror the pullbacks: GEMMs, row sums, fused kernels), and
/// measured ≤ 4.8e-7 on the tables, ≤ 6.2e-6 on the random programs and ≤ 1.2e-5 on the derived
/// programs (second derivatives, one more chain of roundings).
const TOL_F32: f64 = 1e-4;

/// Simplified vs unsimplified programs in f64. Rewrites are exact algebra (flags instead of
/// transposes, `1·x → x`, CSE, DCE) or reorder one short sum (`Σ(u⊙v) → uᵀ·v`), so results agree
/// to a few ulps.
const TOL_SIMPLIFY: f64 = 1e-12;

/// Inputs are redrawn until every `relu`/`abs` input is at least this far from the kink: a
/// stencil moves one input element by at most `2h = 2e-3`, and in these programs that moves a
/// kink input by at most `2h` times a coefficient below 2, so the function stays smooth on the
/// stencil.
const KINK_MARGIN: f64 = 0.02;

/// Gradients smaller than `SCALE_FLOOR_F64·max(1, |⟨u, f(x)⟩|)` count as zero when scaling f64
/// errors. The finite-difference reference itself carries a rounding error of about
/// `3e-13·|⟨u, f⟩|`, so a zero gradient (a parameter that is not used, or the shift invariance
/// of softmax) can only be checked to that level: here absolute errors below
/// `TOL_F64·SCALE_FLOOR_F64·max(1, |⟨u, f⟩|) = 1e-11·max(1, |⟨u, f⟩|)` count as agreement.
const SCALE_FLOOR_F64: f64 = 1e-5;

/// The same for f32: absolute errors below `1e-6·max(1, |⟨u, f⟩|)` count as agreement. A
/// gradient entry that is a sum of O(|f|) terms cancelling to (nearly) zero comes out of f32
/// arithmetic as rounding noise of those terms, measured up to 1.5e-7 (a few ulps of 1) in the
/// random programs; a gradient below 1e-2 cannot be checked to TOL_F32 relative in f32. A wrong
/// rule still shows, as an error of the size of the terms.
const SCALE_FLOOR_F32: f64 = 1e-2;

// ═════════════════════════════════════════════════════════════════════════════════════════════
// Random inputs
// ═════════════════════════════════════════════════════════════════════════════════════════════

/// SplitMix64: small, deterministic, good enough for test inputs.
struct Rng(u64);

impl Rng {
    fn seeded(name: &str) -> Self {
        // FNV-1a of the case name, so each row has its own reproducible inputs.
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in name.bytes() {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        Rng(h)
    }

    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `[lo, hi)`.
    fn uniform(&mut self, lo: f64, hi: f64) -> f64 {
        let unit = (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
        lo + (hi - lo) * unit
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
}

/// The concrete shape of a parameter (the IR only knows kinds).
#[derive(Clone, Copy, Debug, PartialEq)]
enum Shape {
    S,
    V(usize),
    M(usize, usize),
}

impl Shape {
    fn kind(self) -> Kind {
        match self {
            Shape::S => Kind::Scalar,
            Shape::V(_) => Kind::Vector,
            Shape::M(..) => Kind::Matrix,
        }
    }

    fn numel(self) -> usize {
        match self {
            Shape::S => 1,
            Shape::V(n) => n,
            Shape::M(r, c) => r * c,
        }
    }
}

/// Where a parameter's elements are drawn from.
#[derive(Clone, Copy, Debug)]
enum Domain {
    /// U(−1, 1).
    Any,
    /// ±U(0.25, 1.25): away from the kinks of `relu`/`abs` and safe to divide by.
    AwayFromZero,
    /// ±1.
    Sign,
    /// One 1 per row (per vector), zeros elsewhere: labels.
    OneHot,
    /// Where an elementwise function's table row says it is smooth.
    Of(UnaryFn),
}

fn shape_of<T: Real>(v: &Value<T>) -> Shape {
    match v {
        Value::Scalar(_) => Shape::S,
        Value::Vector(x) => Shape::V(x.len()),
        Value::Matrix(m) => Shape::M(m.rows(), m.cols()),
    }
}

fn value_from(shape: Shape, data: Vec<f64>) -> Value<f64> {
    match shape {
        Shape::S => Value::Scalar(data[0]),
        Shape::V(_) => Value::Vector(Vector::from_vec(data)),
        Shape::M(r, c) => Value::Matrix(Matrix::from_vec(r, c, data)),
    }
}

fn random_value(rng: &mut Rng, shape: Shape, domain: Domain) -> Value<f64> {
    let n = shape.numel();
    let data = match domain {
        Domain::Any => (0..n).map(|_| rng.uniform(-1.0, 1.0)).collect(),
        Domain::AwayFromZero => (0..n)
            .map(|_| {
                let sign = if rng.below(2) == 0 { -1.0 } else { 1.0 };
                sign * rng.uniform(0.25, 1.25)
            })
            .collect(),
        Domain::Of(f) => (0..n)
            .map(|_| match f.domain() {
                FnDomain::Uniform(lo, hi) => rng.uniform(lo, hi),
                FnDomain::AwayFromZero(lo, hi) => {
                    let sign = if rng.below(2) == 0 { -1.0 } else { 1.0 };
                    sign * rng.uniform(lo, hi)
                }
            })
            .collect(),
        Domain::Sign => (0..n)
            .map(|_| if rng.below(2) == 0 { -1.0 } else { 1.0 })
            .collect(),
        Domain::OneHot => {
            let width = match shape {
                Shape::M(_, c) => c,
                _ => n,
            };
            let mut data = vec![0.0; n];
            for row in data.chunks_mut(width.max(1)) {
                let k = rng.below(row.len());
                row[k] = 1.0;
            }
            data
        }
    };
    value_from(shape, data)
}

/// A random value with the shape of `like` (for upstream gradients).
fn random_like(rng: &mut Rng, like: &Value<f64>) -> Value<f64> {
    random_value(rng, shape_of(like), Domain::Any)
}

/// The same value in another float type.
fn convert<A: Real, B: Real>(v: &Value<A>) -> Value<B> {
    let data = |s: &[A]| {
        s.iter()
            .map(|&x| B::from_f64(Real::to_f64(x)))
            .collect::<Vec<B>>()
    };
    match v {
        Value::Scalar(s) => Value::Scalar(B::from_f64(Real::to_f64(*s))),
        Value::Vector(x) => Value::Vector(Vector::from_vec(data(x.as_slice()))),
        Value::Matrix(m) => Value::Matrix(Matrix::from_vec(m.rows(), m.cols(), data(m.as_slice()))),
    }
}

fn to_f64<T: Real>(v: &Value<T>) -> Vec<f64> {
    v.to_vec().into_iter().map(Real::to_f64).collect()
}

/// ⟨u, y⟩ over all elements.
fn inner(u: &Value<f64>, y: &Value<f64>) -> f64 {
    assert_eq!(
        shape_of(u),
        shape_of(y),
        "inner product of different shapes"
    );
    u.to_vec().iter().zip(y.to_vec()).map(|(a, b)| a * b).sum()
}

/// `max |got − want| / max(‖want‖∞, floor)`; infinite if anything is not finite.
fn rel_error_floor(got: &[f64], want: &[f64], floor: f64) -> f64 {
    if got.len() != want.len() || got.iter().chain(want).any(|g| !g.is_finite()) {
        return f64::INFINITY;
    }
    let scale = want.iter().fold(floor, |m, w| m.max(w.abs()));
    let err = got
        .iter()
        .zip(want)
        .fold(0.0f64, |m, (g, w)| m.max((g - w).abs()));
    err / scale
}

/// [`rel_error_floor`] for f64 results.
fn rel_error(got: &[f64], want: &[f64]) -> f64 {
    rel_error_floor(got, want, SCALE_FLOOR_F64)
}

fn exceeds(err: f64, tol: f64) -> bool {
    err.is_nan() || err > tol
}

// ═════════════════════════════════════════════════════════════════════════════════════════════
// Building programs
// ═════════════════════════════════════════════════════════════════════════════════════════════

/// Appends `op(args)`, which must be well kinded.
#[track_caller]
fn push(p: &mut Program, op: impl Into<Op>, args: &[ValueId]) -> ValueId {
    let op = op.into();
    match p.push(op.clone(), args) {
        Ok(v) => v,
        Err(e) => panic!("test program is ill kinded: {op:?} on {args:?}: {e}"),
    }
}

/// Appends `op(args)` and names the result.
#[track_caller]
fn named(p: &mut Program, name: &str, op: impl Into<Op>, args: &[ValueId]) -> ValueId {
    let v = push(p, op, args);
    p.name_value(v, name);
    v
}

fn lit(p: &mut Program, value: f64) -> ValueId {
    push(p, Literal::new(value), &[])
}

fn bin(p: &mut Program, op: BinOp, a: ValueId, b: ValueId) -> ValueId {
    push(p, Binary(op), &[a, b])
}

fn un(p: &mut Program, f: UnaryFn, a: ValueId) -> ValueId {
    push(p, Unary(f), &[a])
}

/// One row of a table: a one-output program, the shapes and domains of its parameters and the
/// parameters to differentiate with respect to.
struct Case {
    name: String,
    program: Program,
    shapes: Vec<Shape>,
    domains: Vec<Domain>,
    wrt: Vec<usize>,
}

impl Case {
    fn new(
        name: impl Into<String>,
        params: &[(&str, Shape, Domain)],
        wrt: &[usize],
        body: impl FnOnce(&mut Program, &[ValueId]) -> ValueId,
    ) -> Case {
        let mut program = Program::new();
        let ids: Vec<ValueId> = params
            .iter()
            .map(|&(name, shape, _)| program.param(name, shape.kind()))
            .collect();
        let out = body(&mut program, &ids);
        program.outputs = vec![out];
        Case::from_program(name, program, params, wrt)
    }

    fn from_program(
        name: impl Into<String>,
        program: Program,
        params: &[(&str, Shape, Domain)],
        wrt: &[usize],
    ) -> Case {
        assert_eq!(program.params.len(), params.len());
        for (p, &(name, shape, _)) in program.params.iter().zip(params) {
            assert_eq!((p.name.as_str(), p.kind), (name, shape.kind()));
        }
        Case {
            name: name.into(),
            program,
            shapes: params.iter().map(|p| p.1).collect(),
            domains: params.iter().map(|p| p.2).collect(),
            wrt: wrt.to_vec(),
        }
    }

    /// Random inputs, redrawn until every `relu`/`abs` input is clear of its kink.
    fn draw_inputs(&self, rng: &mut Rng) -> Vec<Value<f64>> {
        for _ in 0..200 {
            let inputs: Vec<Value<f64>> = self
                .shapes
                .iter()
                .zip(&self.domains)
                .map(|(&s, &d)| random_value(rng, s, d))
                .collect();
            if kink_margin(&self.program, &inputs) >= KINK_MARGIN {
                return inputs;
            }
        }
        panic!("could not draw inputs clear of the relu/abs kinks");
    }
}

/// Every element of every `relu`/`abs` input of `p` at `inputs` (of the primal ops and of their
/// pullback kernels), flattened.
fn kink_inputs(p: &Program, inputs: &[Value<f64>]) -> Vec<f64> {
    let kinked: Vec<ValueId> = p
        .insts
        .iter()
        .filter(|i| {
            matches!(
                i.op,
                Op::Unary(Unary(UnaryFn::Relu | UnaryFn::Abs))
                    | Op::UnaryGrad(UnaryGrad(UnaryFn::Relu | UnaryFn::Abs))
            )
        })
        .map(|i| *i.args.last().unwrap())
        .collect();
    if kinked.is_empty() {
        return Vec::new();
    }
    let mut probe = p.clone();
    probe.outputs = kinked;
    eval(&probe, inputs)
        .iter()
        .flat_map(|v| v.to_vec())
        .collect()
}

/// The smallest |input| of any `relu` or `abs` of `p` at `inputs`.
fn kink_margin(p: &Program, inputs: &[Value<f64>]) -> f64 {
    kink_inputs(p, inputs)
        .iter()
        .fold(f64::INFINITY, |m, x| m.min(x.abs()))
}

/// The gradient of `x ↦ ⟨upstream, p(x)⟩` with respect to parameter `param`, by central
/// five-point differences, one element at a time.
fn fd_gradient(
    p: &Program,
    inputs: &[Value<f64>],
    upstream: &Value<f64>,
    param: usize,
    h: f64,
) -> Vec<f64> {
    let base = inputs[param].to_vec();
    (0..base.len())
        .map(|i| {
            let at = |delta: f64| {
                let mut data = base.clone();
                data[i] += delta;
                let mut xs = inputs.to_vec();
                xs[param] = inputs[param].with_data(data);
                inner(upstream, &eval(p, &xs)[0])
            };
            (-at(2.0 * h) + 8.0 * at(h) - 8.0 * at(-h) + at(-2.0 * h)) / (12.0 * h)
        })
        .collect()
}

/// Runs `check` on every case, catching panics, and fails with the list of failing rows.
fn run_table(cases: &[Case], check: fn(&Case) -> Result<(), String>) {
    assert!(!cases.is_empty());
    let failures: Vec<String> = cases
        .iter()
        .filter_map(|case| {
            let failure = match catch_unwind(AssertUnwindSafe(|| check(case))) {
                Ok(Ok(())) => return None,
                Ok(Err(e)) => e,
                Err(payload) => {
                    let msg = payload
                        .downcast_ref::<String>()
                        .cloned()
                        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
                        .unwrap_or_default();
                    format!("panicked: {msg}")
                }
            };
            // Derived programs (forward over reverse) have lines of every role.
            let listing = [Role::Primal, Role::Adjoint, Role::Tangent]
                .map(|role| print::print_lines(&case.program, role, &[]))
                .into_iter()
                .filter(|l| !l.is_empty())
                .collect::<Vec<_>>()
                .join("\n");
            Some(format!(
                "[{}] wrt {:?}: {failure}\n  program:\n    {}",
                case.name,
                case.wrt,
                listing.replace('\n', "\n    ")
            ))
        })
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

// ═════════════════════════════════════════════════════════════════════════════════════════════
// The tables
// ═════════════════════════════════════════════════════════════════════════════════════════════

const SHAPES: [Shape; 3] = [Shape::S, Shape::V(5), Shape::M(3, 4)];

/// Every `UnaryFn`, `powi` for several exponents, and `−x`, on each kind.
fn elementwise_cases() -> Vec<Case> {
    let mut cases = Vec::new();
    for &f in UnaryFn::ALL {
        let domain = Domain::Of(f);
        for shape in SHAPES {
            cases.push(Case::new(
                format!("{f:?}({shape:?})"),
                &[("x", shape, domain)],
                &[0],
                |p, x| un(p, f, x[0]),
            ));
        }
    }
    for n in [-3, -2, -1, 0, 1, 2, 3, 4] {
        for shape in SHAPES {
            cases.push(Case::new(
                format!("powi({shape:?}, {n})"),
                &[("x", shape, Domain::AwayFromZero)],
                &[0],
                |p, x| push(p, Powi(n), &[x[0]]),
            ));
        }
    }
    for shape in SHAPES {
        cases.push(Case::new(
            format!("neg({shape:?})"),
            &[("x", shape, Domain::Any)],
            &[0],
            |p, x| push(p, Neg, &[x[0]]),
        ));
    }
    cases
}

/// `+ − ⊙ /` on every accepted kind combination, with 1×c rows, r×1 columns and a 1×1 matrix
/// broadcast on either side, differentiated with respect to both operands and to each alone.
fn binary_cases() -> Vec<Case> {
    use Shape::*;
    let combos = [
        (S, S),
        (S, V(4)),
        (V(4), S),
        (V(4), V(4)),
        (S, M(3, 4)),
        (M(3, 4), S),
        (M(3, 4), M(3, 4)),
        (M(3, 4), M(1, 4)),
        (M(1, 4), M(3, 4)),
        (M(3, 4), M(3, 1)),
        (M(3, 1), M(3, 4)),
        (M(1, 4), M(3, 1)),
        (M(3, 1), M(1, 4)),
        (M(3, 4), M(1, 1)),
        (M(1, 1), M(3, 4)),
    ];
    let mut cases = Vec::new();
    for op in [BinOp::Add, BinOp::Sub, BinOp::Mul, BinOp::Div] {
        let domain = if op == BinOp::Div {
            Domain::AwayFromZero
        } else {
            Domain::Any
        };
        for (sa, sb) in combos {
            for wrt in [&[0, 1][..], &[0], &[1]] {
                cases.push(Case::new(
                    format!("{op:?}({sa:?}, {sb:?}) wrt {wrt:?}"),
                    &[("a", sa, domain), ("b", sb, domain)],
                    wrt,
                    |p, x| bin(p, op, x[0], x[1]),
                ));
            }
            // The same value on both sides: two contributions to one adjoint.
            if sa == sb {
                cases.push(Case::new(
                    format!("{op:?}(a, a) with a: {sa:?}"),
                    &[("a", sa, domain)],
                    &[0],
                    |p, x| bin(p, op, x[0], x[0]),
                ));
            }
        }
    }
    cases
}

/// Matrix products with every flag combination, matrix·vector, outer, transpose and dot.
fn linalg_cases() -> Vec<Case> {
    use Shape::*;
    let mut cases = Vec::new();
    for ta in [false, true] {
        for tb in [false, true] {
            // op(A) is 3×4 and op(B) is 4×2 whatever the flags.
            let sa = if ta { M(4, 3) } else { M(3, 4) };
            let sb = if tb { M(2, 4) } else { M(4, 2) };
            for wrt in [&[0, 1][..], &[0], &[1]] {
                cases.push(Case::new(
                    format!("matmul(ta={ta}, tb={tb}) wrt {wrt:?}"),
                    &[("a", sa, Domain::Any), ("b", sb, Domain::Any)],
                    wrt,
                    |p, x| push(p, MatMul { ta, tb }, &[x[0], x[1]]),
                ));
            }
        }
        // Matrix·vector: op(A) is 3×4.
        let sa = if ta { M(4, 3) } else { M(3, 4) };
        for wrt in [&[0, 1][..], &[0], &[1]] {
            cases.push(Case::new(
                format!("matvec(ta={ta}) wrt {wrt:?}"),
                &[("a", sa, Domain::Any), ("v", V(4), Domain::Any)],
                wrt,
                |p, x| push(p, MatMul { ta, tb: false }, &[x[0], x[1]]),
            ));
        }
    }
    cases.push(Case::new(
        "matmul(a, a)",
        &[("a", M(3, 3), Domain::Any)],
        &[0],
        |p, x| push(p, MatMul::PLAIN, &[x[0], x[0]]),
    ));
    cases.push(Case::new(
        "matmul(aᵀ, a) by flag",
        &[("a", M(3, 4), Domain::Any)],
        &[0],
        |p, x| {
            push(
                p,
                MatMul {
                    ta: true,
                    tb: false,
                },
                &[x[0], x[0]],
            )
        },
    ));
    cases.push(Case::new(
        "outer(u, v)",
        &[("u", V(3), Domain::Any), ("v", V(4), Domain::Any)],
        &[0, 1],
        |p, x| push(p, Outer, &[x[0], x[1]]),
    ));
    cases.push(Case::new(
        "outer(u, u)",
        &[("u", V(3), Domain::Any)],
        &[0],
        |p, x| push(p, Outer, &[x[0], x[0]]),
    ));
    cases.push(Case::new(
        "transpose",
        &[("a", M(3, 4), Domain::Any)],
        &[0],
        |p, x| push(p, Transpose, &[x[0]]),
    ));
    for wrt in [&[0, 1][..], &[0], &[1]] {
        cases.push(Case::new(
            format!("dot wrt {wrt:?}"),
            &[("u", V(5), Domain::Any), ("v", V(5), Domain::Any)],
            wrt,
            |p, x| push(p, Dot, &[x[0], x[1]]),
        ));
    }
    cases.push(Case::new(
        "dot(u, u)",
        &[("u", V(5), Domain::Any)],
        &[0],
        |p, x| push(p, Dot, &[x[0], x[0]]),
    ));
    cases
}

/// `sum`, `mean`, `sum_axis` and the softmaxes.
fn reduction_cases() -> Vec<Case> {
    use Shape::*;
    let mut cases = Vec::new();
    for shape in [V(5), M(3, 4), M(1, 4), M(3, 1)] {
        cases.push(Case::new(
            format!("sum({shape:?})"),
            &[("x", shape, Domain::Any)],
            &[0],
            |p, x| push(p, Sum, &[x[0]]),
        ));
        cases.push(Case::new(
            format!("mean({shape:?})"),
            &[("x", shape, Domain::Any)],
            &[0],
            |p, x| push(p, Mean, &[x[0]]),
        ));
    }
    for shape in [M(3, 4), M(1, 4), M(3, 1)] {
        for axis in [0, 1] {
            cases.push(Case::new(
                format!("sum_axis({shape:?}, {axis})"),
                &[("x", shape, Domain::Any)],
                &[0],
                |p, x| push(p, SumAxis(axis), &[x[0]]),
            ));
        }
    }
    for shape in [V(5), M(3, 5), M(1, 5)] {
        cases.push(Case::new(
            format!("softmax({shape:?})"),
            &[("x", shape, Domain::Any)],
            &[0],
            |p, x| push(p, Softmax, &[x[0]]),
        ));
        cases.push(Case::new(
            format!("log_softmax({shape:?})"),
            &[("x", shape, Domain::Any)],
            &[0],
            |p, x| push(p, LogSoftmax, &[x[0]]),
        ));
    }
    cases
}

/// B1: `loss = mean(−sum_axis(y ⊙ log_softmax(relu(x·w1 + b1)·w2 + b2), 1))`.
fn mlp_program() -> Program {
    let mut p = Program::new();
    let x = p.param("x", Kind::Matrix);
    let w1 = p.param("w1", Kind::Matrix);
    let b1 = p.param("b1", Kind::Matrix);
    let w2 = p.param("w2", Kind::Matrix);
    let b2 = p.param("b2", Kind::Matrix);
    let y = p.param("y", Kind::Matrix);
    let xw1 = push(&mut p, MatMul::PLAIN, &[x, w1]);
    let z1 = named(&mut p, "z1", Binary(BinOp::Add), &[xw1, b1]);
    let h = named(&mut p, "h", Unary(UnaryFn::Relu), &[z1]);
    let hw2 = push(&mut p, MatMul::PLAIN, &[h, w2]);
    let z2 = named(&mut p, "z2", Binary(BinOp::Add), &[hw2, b2]);
    let lp = named(&mut p, "lp", LogSoftmax, &[z2]);
    let ylp = push(&mut p, Binary(BinOp::Mul), &[y, lp]);
    let rows = push(&mut p, SumAxis(1), &[ylp]);
    let row_loss = named(&mut p, "row_loss", Neg, &[rows]);
    let loss = named(&mut p, "loss", Mean, &[row_loss]);
    p.outputs = vec![loss];
    p
}

const MLP_PARAMS: [(&str, Shape, Domain); 6] = [
    ("x", Shape::M(4, 5), Domain::Any),
    ("w1", Shape::M(5, 6), Domain::Any),
    ("b1", Shape::M(1, 6), Domain::Any),
    ("w2", Shape::M(6, 3), Domain::Any),
    ("b2", Shape::M(1, 3), Domain::Any),
    ("y", Shape::M(4, 3), Domain::OneHot),
];

/// Programs that combine ops: reuse, broadcasting chains, transposes, nested reductions.
fn composite_cases() -> Vec<Case> {
    use Shape::*;
    let mut cases = vec![
        Case::from_program(
            "B1 MLP wrt w1, b1, w2, b2",
            mlp_program(),
            &MLP_PARAMS,
            &[1, 2, 3, 4],
        ),
        Case::from_program(
            "B1 MLP wrt everything (x and y active too)",
            mlp_program(),
            &MLP_PARAMS,
            &[0, 1, 2, 3, 4, 5],
        ),
    ];
    // A value used several times: x four times, t three times, s twice.
    cases.push(Case::new(
        "reuse: s = sum(t ⊙ x − exp(t) / x), t = tanh(x); s·s + tᵀ·x",
        &[("x", V(5), Domain::AwayFromZero)],
        &[0],
        |p, v| {
            let x = v[0];
            let t = un(p, UnaryFn::Tanh, x);
            let tx = bin(p, BinOp::Mul, t, x);
            let et = un(p, UnaryFn::Exp, t);
            let q = bin(p, BinOp::Div, et, x);
            let d = bin(p, BinOp::Sub, tx, q);
            let s = push(p, Sum, &[d]);
            let ss = bin(p, BinOp::Mul, s, s);
            let tdx = push(p, Dot, &[t, x]);
            bin(p, BinOp::Add, ss, tdx)
        },
    ));
    for shape in [V(5), M(3, 4)] {
        cases.push(Case::new(
            format!("x ⊙ x ({shape:?})"),
            &[("x", shape, Domain::Any)],
            &[0],
            |p, v| bin(p, BinOp::Mul, v[0], v[0]),
        ));
    }
    cases.push(Case::new(
        "(A·B)ᵀ·C",
        &[
            ("a", M(3, 4), Domain::Any),
            ("b", M(4, 2), Domain::Any),
            ("c", M(3, 5), Domain::Any),
        ],
        &[0, 1, 2],
        |p, v| {
            let ab = push(p, MatMul::PLAIN, &[v[0], v[1]]);
            let t = push(p, Transpose, &[ab]);
            push(p, MatMul::PLAIN, &[t, v[2]])
        },
    ));
    cases.push(Case::new(
        "nested reductions: sum(sum_axis(sum_axis(X ⊙ X, 1), 0))·mean(sum_axis(exp(X), 0)) + mean(sum_axis(X ⊙ X, 1))",
        &[("x", M(3, 4), Domain::Any)],
        &[0],
        |p, v| {
            let xx = bin(p, BinOp::Mul, v[0], v[0]);
            let r = push(p, SumAxis(1), &[xx]);
            let c = push(p, SumAxis(0), &[r]);
            let sc = push(p, Sum, &[c]);
            let e = un(p, UnaryFn::Exp, v[0]);
            let cols = push(p, SumAxis(0), &[e]);
            let m = push(p, Mean, &[cols]);
            let prod = bin(p, BinOp::Mul, sc, m);
            let mr = push(p, Mean, &[r]);
            bin(p, BinOp::Add, prod, mr)
        },
    ));
    cases.push(Case::new(
        "scalars and tensors: sum(s·X) + s·s + mean(X·v)·s",
        &[
            ("s", S, Domain::Any),
            ("x", M(3, 4), Domain::Any),
            ("v", V(4), Domain::Any),
        ],
        &[0, 1, 2],
        |p, a| {
            let sx = bin(p, BinOp::Mul, a[0], a[1]);
            let s1 = push(p, Sum, &[sx]);
            let ss = bin(p, BinOp::Mul, a[0], a[0]);
            let xv = push(p, MatMul::PLAIN, &[a[1], a[2]]);
            let m = push(p, Mean, &[xv]);
            let ms = bin(p, BinOp::Mul, m, a[0]);
            let t = bin(p, BinOp::Add, s1, ss);
            bin(p, BinOp::Add, t, ms)
        },
    ));
    cases.push(Case::new(
        "broadcast chain: (X − r) / (c ⊙ c + 1)",
        &[
            ("x", M(3, 4), Domain::Any),
            ("r", M(1, 4), Domain::Any),
            ("c", M(3, 1), Domain::Any),
        ],
        &[0, 1, 2],
        |p, a| {
            let num = bin(p, BinOp::Sub, a[0], a[1]);
            let cc = bin(p, BinOp::Mul, a[2], a[2]);
            let one = lit(p, 1.0);
            let den = bin(p, BinOp::Add, cc, one);
            bin(p, BinOp::Div, num, den)
        },
    ));
    cases.push(Case::new(
        "sum(softmax(Z) ⊙ W)",
        &[("z", M(3, 4), Domain::Any), ("w", M(3, 4), Domain::Any)],
        &[0, 1],
        |p, a| {
            let s = push(p, Softmax, &[a[0]]);
            let sw = bin(p, BinOp::Mul, s, a[1]);
            push(p, Sum, &[sw])
        },
    ));
    cases.push(Case::new(
        "B4 layer: tanh(W·x + b)",
        &[
            ("w", M(4, 4), Domain::Any),
            ("x", V(4), Domain::Any),
            ("b", V(4), Domain::Any),
        ],
        &[0, 1, 2],
        |p, a| {
            let wx = push(p, MatMul::PLAIN, &[a[0], a[1]]);
            let z = bin(p, BinOp::Add, wx, a[2]);
            un(p, UnaryFn::Tanh, z)
        },
    ));
    cases.push(Case::new(
        "B2 logistic loss: sum(ln(1 + exp(−y ⊙ (X·w)))) + 0.5·λ·wᵀ·w",
        &[
            ("x", M(6, 3), Domain::Any),
            ("y", V(6), Domain::Sign),
            ("w", V(3), Domain::Any),
        ],
        &[2],
        |p, a| {
            let xw = push(p, MatMul::PLAIN, &[a[0], a[2]]);
            let ny = push(p, Neg, &[a[1]]);
            let m = bin(p, BinOp::Mul, ny, xw);
            let e = un(p, UnaryFn::Exp, m);
            let one = lit(p, 1.0);
            let l1 = bin(p, BinOp::Add, one, e);
            let l = un(p, UnaryFn::Ln, l1);
            let data = push(p, Sum, &[l]);
            let half = lit(p, 0.5);
            let lambda = lit(p, 0.1);
            let hl = bin(p, BinOp::Mul, half, lambda);
            let ww = push(p, Dot, &[a[2], a[2]]);
            let reg = bin(p, BinOp::Mul, hl, ww);
            bin(p, BinOp::Add, data, reg)
        },
    ));
    cases.push(Case::new(
        "explicit transposes: ((Xᵀ)ᵀ ⊙ X) + Xᵀᵀ·(Xᵀ·X)",
        &[("x", M(3, 3), Domain::Any)],
        &[0],
        |p, a| {
            let t = push(p, Transpose, &[a[0]]);
            let tt = push(p, Transpose, &[t]);
            let e = bin(p, BinOp::Mul, tt, a[0]);
            let txx = push(p, MatMul::PLAIN, &[t, a[0]]);
            let g = push(p, MatMul::PLAIN, &[tt, txx]);
            bin(p, BinOp::Add, e, g)
        },
    ));
    cases.push(Case::new(
        "literals: 1·x + 0 − (−(2·x)) / 1 + x·(−1)",
        &[("x", M(2, 3), Domain::Any)],
        &[0],
        |p, a| {
            let one = lit(p, 1.0);
            let zero = lit(p, 0.0);
            let two = lit(p, 2.0);
            let m1 = lit(p, -1.0);
            let ox = bin(p, BinOp::Mul, one, a[0]);
            let oz = bin(p, BinOp::Add, ox, zero);
            let tx = bin(p, BinOp::Mul, two, a[0]);
            let ntx = push(p, Neg, &[tx]);
            let q = bin(p, BinOp::Div, ntx, one);
            let s = bin(p, BinOp::Sub, oz, q);
            let xm = bin(p, BinOp::Mul, a[0], m1);
            bin(p, BinOp::Add, s, xm)
        },
    ));
    cases.push(Case::new(
        "unused parameters: sum(x ⊙ x) wrt x, z, q",
        &[
            ("x", V(4), Domain::Any),
            ("z", M(2, 3), Domain::Any),
            ("q", S, Domain::Any),
        ],
        &[0, 1, 2],
        |p, a| {
            let xx = bin(p, BinOp::Mul, a[0], a[0]);
            push(p, Sum, &[xx])
        },
    ));
    cases.push(Case::new(
        "identity: f(x) = x",
        &[("x", M(2, 3), Domain::Any)],
        &[0],
        |_, a| a[0],
    ));
    cases.push(Case::new(
        "inactive output: f(x, y) = tanh(y) wrt x",
        &[("x", V(3), Domain::Any), ("y", V(3), Domain::Any)],
        &[0],
        |p, a| un(p, UnaryFn::Tanh, a[1]),
    ));
    cases.push(Case::new(
        "softmax cross-entropy on a vector: −yᵀ·ln(softmax(z)) + sum(sigmoid(z)·abs(z))",
        &[
            ("z", V(5), Domain::AwayFromZero),
            ("y", V(5), Domain::OneHot),
        ],
        &[0],
        |p, a| {
            let s = push(p, Softmax, &[a[0]]);
            let l = un(p, UnaryFn::Ln, s);
            let d = push(p, Dot, &[a[1], l]);
            let nd = push(p, Neg, &[d]);
            let sg = un(p, UnaryFn::Sigmoid, a[0]);
            let ab = un(p, UnaryFn::Abs, a[0]);
            let sa = bin(p, BinOp::Mul, sg, ab);
            let ss = push(p, Sum, &[sa]);
            bin(p, BinOp::Add, nd, ss)
        },
    ));
    cases.push(Case::new(
        "tanh(t(A)·v) with an explicit transpose",
        &[("a", M(4, 3), Domain::Any), ("v", V(4), Domain::Any)],
        &[0, 1],
        |p, x| {
            let t = push(p, Transpose, &[x[0]]);
            let y = push(p, MatMul::PLAIN, &[t, x[1]]);
            un(p, UnaryFn::Tanh, y)
        },
    ));
    cases.push(Case::new(
        "t(A)·t(A)",
        &[("a", M(3, 3), Domain::Any)],
        &[0],
        |p, x| {
            let t = push(p, Transpose, &[x[0]]);
            push(p, MatMul::PLAIN, &[t, t])
        },
    ));
    cases.push(Case::new(
        "shared product: t(A·B) ⊙ (A·B) + (A·B)",
        &[("a", M(3, 3), Domain::Any), ("b", M(3, 3), Domain::Any)],
        &[0, 1],
        |p, x| {
            let ab = push(p, MatMul::PLAIN, &[x[0], x[1]]);
            let t = push(p, Transpose, &[ab]);
            let m = bin(p, BinOp::Mul, t, ab);
            bin(p, BinOp::Add, m, ab)
        },
    ));
    cases.push(Case::new(
        "t(u·vᵀ)·w (outer product transposed)",
        &[
            ("u", V(3), Domain::Any),
            ("v", V(4), Domain::Any),
            ("w", V(3), Domain::Any),
        ],
        &[0, 1, 2],
        |p, x| {
            let o = push(p, Outer, &[x[0], x[1]]);
            let t = push(p, Transpose, &[o]);
            push(p, MatMul::PLAIN, &[t, x[2]])
        },
    ));
    cases.push(Case::new(
        "repeated scalar factors: 2·(3·(s·(x + x)))",
        &[("s", S, Domain::Any), ("x", M(2, 3), Domain::Any)],
        &[0, 1],
        |p, a| {
            let xx = bin(p, BinOp::Add, a[1], a[1]);
            let sx = bin(p, BinOp::Mul, a[0], xx);
            let three = lit(p, 3.0);
            let t = bin(p, BinOp::Mul, three, sx);
            let two = lit(p, 2.0);
            bin(p, BinOp::Mul, two, t)
        },
    ));
    cases
}

// ── random programs ──────────────────────────────────────────────────────────────────────────

/// Parameters of the random programs. Every dimension is 1 or 3, so any two matrices broadcast
/// and every vector has length 3.
const RANDOM_PARAMS: [(&str, Shape, Domain); 7] = [
    ("s", Shape::S, Domain::Any),
    ("u", Shape::V(3), Domain::Any),
    ("v", Shape::V(3), Domain::Any),
    ("a", Shape::M(3, 3), Domain::Any),
    ("b", Shape::M(3, 3), Domain::Any),
    ("r", Shape::M(1, 3), Domain::Any),
    ("c", Shape::M(3, 1), Domain::Any),
];

/// Builds a random well-shaped program, tracking the concrete shape of every value.
struct Generator {
    rng: Rng,
    p: Program,
    pool: Vec<(ValueId, Shape)>,
}

fn dims(s: Shape) -> (usize, usize) {
    match s {
        Shape::M(r, c) => (r, c),
        _ => unreachable!("dims of a non-matrix"),
    }
}

impl Generator {
    /// A value satisfying `pred`, half the time among the three most recent (for depth).
    fn pick(&mut self, pred: impl Fn(Shape) -> bool) -> Option<(ValueId, Shape)> {
        let candidates: Vec<(ValueId, Shape)> = self
            .pool
            .iter()
            .copied()
            .filter(|&(_, s)| pred(s))
            .collect();
        let n = candidates.len();
        if n == 0 {
            return None;
        }
        let i = if self.rng.below(2) == 0 {
            n - 1 - self.rng.below(n.min(3))
        } else {
            self.rng.below(n)
        };
        Some(candidates[i])
    }

    fn push(&mut self, op: impl Into<Op>, args: &[ValueId]) -> ValueId {
        push(&mut self.p, op, args)
    }

    /// `x ⊙ x + 1 ≥ 1`: a safe argument for `ln`, `sqrt`, negative powers and division.
    fn positive(&mut self, x: ValueId) -> ValueId {
        let xx = self.push(Binary(BinOp::Mul), &[x, x]);
        let one = lit(&mut self.p, 1.0);
        self.push(Binary(BinOp::Add), &[xx, one])
    }

    /// `x + 0.29`: moves the kink of `relu`/`abs` off the common exact zeros (of `relu`
    /// outputs, say); inputs are still redrawn when an element lands near it.
    fn shifted(&mut self, x: ValueId) -> ValueId {
        let c = lit(&mut self.p, 0.29);
        self.push(Binary(BinOp::Add), &[x, c])
    }

    fn step(&mut self) -> Option<(ValueId, Shape)> {
        let any = |_: Shape| true;
        let is_m = |s: Shape| matches!(s, Shape::M(..));
        let is_v = |s: Shape| matches!(s, Shape::V(_));
        let is_t = |s: Shape| s != Shape::S;
        Some(match self.rng.below(12) {
            0 | 1 => {
                let f = UnaryFn::ALL[self.rng.below(UnaryFn::ALL.len())];
                let (x, sx) = self.pick(any)?;
                let arg = match f {
                    UnaryFn::Ln | UnaryFn::Sqrt | UnaryFn::Ln1p | UnaryFn::Recip => {
                        self.positive(x)
                    }
                    UnaryFn::Relu | UnaryFn::Abs => self.shifted(x),
                    UnaryFn::Exp
                    | UnaryFn::ExpM1
                    | UnaryFn::Sinh
                    | UnaryFn::Cosh
                    | UnaryFn::Tan => {
                        // Keep exponentials bounded, and tan off its poles: f(tanh(x)).
                        self.push(Unary(UnaryFn::Tanh), &[x])
                    }
                    _ => x,
                };
                (self.push(Unary(f), &[arg]), sx)
            }
            2 => {
                let n = [-2, -1, 2, 3][self.rng.below(4)];
                let (x, sx) = self.pick(any)?;
                let arg = if n < 0 { self.positive(x) } else { x };
                (self.push(Powi(n), &[arg]), sx)
            }
            3 => {
                let (x, sx) = self.pick(any)?;
                (self.push(Neg, &[x]), sx)
            }
            4..=6 => {
                let op = [BinOp::Add, BinOp::Sub, BinOp::Mul, BinOp::Div][self.rng.below(4)];
                let (a, sa) = self.pick(any)?;
                let (b, sb) = self.pick(|s| {
                    s == Shape::S
                        || sa == Shape::S
                        || (is_v(s) && is_v(sa))
                        || (is_m(s) && is_m(sa))
                })?;
                let (mut a, mut b, mut sa, mut sb) = (a, b, sa, sb);
                if self.rng.below(2) == 0 {
                    std::mem::swap(&mut a, &mut b);
                    std::mem::swap(&mut sa, &mut sb);
                }
                if op == BinOp::Div {
                    b = self.positive(b);
                }
                let shape = match (sa, sb) {
                    (Shape::S, s) | (s, Shape::S) => s,
                    (Shape::M(r1, c1), Shape::M(r2, c2)) => Shape::M(r1.max(r2), c1.max(c2)),
                    (s, _) => s,
                };
                (self.push(Binary(op), &[a, b]), shape)
            }
            7 => {
                let (a, sa) = self.pick(is_m)?;
                let ta = self.rng.below(2) == 0;
                let (ra, ca) = dims(sa);
                let (m, k) = if ta { (ca, ra) } else { (ra, ca) };
                if self.rng.below(3) == 0 && (m, k) == (3, 3) {
                    let (v, _) = self.pick(is_v)?;
                    (self.push(MatMul { ta, tb: false }, &[a, v]), Shape::V(3))
                } else {
                    let tb = self.rng.below(2) == 0;
                    let (b, sb) = self.pick(|s| {
                        is_m(s) && {
                            let (rb, cb) = dims(s);
                            (if tb { cb } else { rb }) == k
                        }
                    })?;
                    let (rb, cb) = dims(sb);
                    let n = if tb { rb } else { cb };
                    (self.push(MatMul { ta, tb }, &[a, b]), Shape::M(m, n))
                }
            }
            8 => match self.rng.below(3) {
                0 => {
                    let (a, sa) = self.pick(is_m)?;
                    let (r, c) = dims(sa);
                    (self.push(Transpose, &[a]), Shape::M(c, r))
                }
                1 => {
                    let (u, _) = self.pick(is_v)?;
                    let (v, _) = self.pick(is_v)?;
                    (self.push(Outer, &[u, v]), Shape::M(3, 3))
                }
                _ => {
                    let (u, _) = self.pick(is_v)?;
                    let (v, _) = self.pick(is_v)?;
                    (self.push(Dot, &[u, v]), Shape::S)
                }
            },
            9 => {
                let (x, _) = self.pick(is_t)?;
                if self.rng.below(2) == 0 {
                    (self.push(Sum, &[x]), Shape::S)
                } else {
                    (self.push(Mean, &[x]), Shape::S)
                }
            }
            10 => {
                let (x, sx) = self.pick(is_m)?;
                let (r, c) = dims(sx);
                if self.rng.below(2) == 0 {
                    (self.push(SumAxis(0), &[x]), Shape::M(1, c))
                } else {
                    (self.push(SumAxis(1), &[x]), Shape::M(r, 1))
                }
            }
            _ => {
                let (x, sx) = self.pick(is_t)?;
                if self.rng.below(2) == 0 {
                    (self.push(Softmax, &[x]), sx)
                } else {
                    (self.push(LogSoftmax, &[x]), sx)
                }
            }
        })
    }
}

/// Random program number `seed`: 3 to 12 random ops over [`RANDOM_PARAMS`], returning the last,
/// differentiated with respect to a random non-empty subset of the parameters.
fn random_case(seed: u64) -> Case {
    let mut g = Generator {
        rng: Rng(seed.wrapping_mul(0x2545_f491_4f6c_dd1d) ^ 0x5eed),
        p: Program::new(),
        pool: Vec::new(),
    };
    for &(name, shape, _) in &RANDOM_PARAMS {
        let v = g.p.param(name, shape.kind());
        g.pool.push((v, shape));
    }
    let steps = 3 + g.rng.below(10);
    let mut made = 0;
    while made < steps {
        if let Some((v, shape)) = g.step() {
            made += 1;
            g.p.name_value(v, &format!("v{made}"));
            g.pool.push((v, shape));
        }
    }
    let out = g.pool.last().unwrap().0;
    g.p.outputs = vec![out];
    let mut wrt: Vec<usize> = (0..RANDOM_PARAMS.len())
        .filter(|_| g.rng.below(2) == 0)
        .collect();
    if wrt.is_empty() {
        wrt.push(g.rng.below(RANDOM_PARAMS.len()));
    }
    Case::from_program(format!("random #{seed}"), g.p, &RANDOM_PARAMS, &wrt)
}

/// 2000 programs take a few seconds in a debug build. 40 000 were run once while writing these
/// tests: the only failure was #17339 (`sin` of a degree-12 polynomial), whose finite
/// differences had not converged at either step; with h = 1e-5 they agree with the reverse
/// program to 1e-9.
const RANDOM_PROGRAMS: u64 = 2000;

fn random_cases() -> Vec<Case> {
    (0..RANDOM_PROGRAMS).map(random_case).collect()
}

// ═════════════════════════════════════════════════════════════════════════════════════════════
// 1. Reverse vs finite differences
// ═════════════════════════════════════════════════════════════════════════════════════════════

/// `reverse(p, wrt, Upstream)` at random inputs and a random upstream `u` gives, for each wrt
/// parameter, the gradient of ⟨u, p(x)⟩: checked against finite differences in f64, and with
/// the derived program run in f32.
fn check_reverse(case: &Case) -> Result<(), String> {
    let mut rng = Rng::seeded(&case.name);
    let inputs = case.draw_inputs(&mut rng);
    let value = eval(&case.program, &inputs).remove(0);
    let upstream = random_like(&mut rng, &value);
    let rev = reverse(&case.program, &case.wrt, Seed::Upstream)
        .map_err(|e| format!("reverse failed: {e}"))?;
    let program = &rev.program;
    if program.params.len() != inputs.len() + 1 || program.outputs.len() != 1 + case.wrt.len() {
        return Err(format!(
            "derived program has {} parameters and {} outputs, expected {} and {}",
            program.params.len(),
            program.outputs.len(),
            inputs.len() + 1,
            1 + case.wrt.len()
        ));
    }
    let mut rev_inputs = inputs.clone();
    rev_inputs.push(upstream.clone());
    let outs = eval(program, &rev_inputs);
    let inputs32: Vec<Value<f32>> = rev_inputs.iter().map(convert).collect();
    let outs32 = eval(program, &inputs32);

    // See `SCALE_FLOOR_F64`: the size of the function sets the noise level of the references.
    let size = inner(&upstream, &value).abs().max(1.0);
    let mut errors = Vec::new();
    if outs[0] != value {
        errors.push("the derived program's first output is not the primal value".to_string());
    }
    for (k, &param) in case.wrt.iter().enumerate() {
        // Two stencils: a row fails only if it disagrees with both. The finer one rescues rows
        // whose higher derivatives are large (random programs); a wrong rule fails both.
        let fds = [FD_STEP, FD_STEP / 4.0]
            .map(|h| fd_gradient(&case.program, &inputs, &upstream, param, h));
        let name = &case.program.params[param].name;
        let runs = [
            (
                "f64",
                shape_of(&outs[1 + k]),
                to_f64(&outs[1 + k]),
                TOL_F64,
                SCALE_FLOOR_F64 * size,
            ),
            (
                "f32",
                shape_of(&outs32[1 + k]),
                to_f64(&outs32[1 + k]),
                TOL_F32,
                SCALE_FLOOR_F32 * size,
            ),
        ];
        for (precision, shape, grad, tol, floor) in runs {
            if shape != case.shapes[param] {
                errors.push(format!(
                    "d{name} ({precision}) has shape {shape:?}, the parameter {:?}",
                    case.shapes[param]
                ));
                continue;
            }
            let err =
                rel_error_floor(&grad, &fds[0], floor).min(rel_error_floor(&grad, &fds[1], floor));
            if exceeds(err, tol) {
                errors.push(format!(
                    "d{name} ({precision}): relative error {err:.2e} > {tol:.0e}\n    \
                     reverse:            {grad:?}\n    finite differences: {:?}",
                    fds[0]
                ));
            }
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors.join("\n  "))
    }
}

#[test]
fn reverse_matches_finite_differences_elementwise() {
    run_table(&elementwise_cases(), check_reverse);
}

#[test]
fn reverse_matches_finite_differences_binary_with_broadcasting() {
    run_table(&binary_cases(), check_reverse);
}

#[test]
fn reverse_matches_finite_differences_linalg() {
    run_table(&linalg_cases(), check_reverse);
}

#[test]
fn reverse_matches_finite_differences_reductions_and_softmax() {
    run_table(&reduction_cases(), check_reverse);
}

#[test]
fn reverse_matches_finite_differences_composites() {
    run_table(&composite_cases(), check_reverse);
}

#[test]
fn reverse_matches_finite_differences_random_programs() {
    run_table(&random_cases(), check_reverse);
}

#[test]
fn every_unary_function_is_in_the_table() {
    let names: Vec<String> = elementwise_cases().into_iter().map(|c| c.name).collect();
    for f in UnaryFn::ALL {
        assert!(
            names.iter().any(|n| n.starts_with(&format!("{f:?}("))),
            "{f:?} has no row"
        );
    }
}

#[test]
fn finite_differences_are_accurate_on_a_known_gradient() {
    // d/dx ⟨u, x³⟩ = 3x²⊙u, in closed form: validates the reference itself.
    let case = Case::new("cube", &[("x", Shape::V(3), Domain::Any)], &[0], |p, x| {
        push(p, Powi(3), &[x[0]])
    });
    let x = Value::Vector(Vector::from_vec(vec![0.3, -0.7, 1.1]));
    let u = Value::Vector(Vector::from_vec(vec![1.0, 2.0, -0.5]));
    let fd = fd_gradient(&case.program, std::slice::from_ref(&x), &u, 0, FD_STEP);
    let exact: Vec<f64> = x
        .to_vec()
        .iter()
        .zip(u.to_vec())
        .map(|(x, u)| 3.0 * x * x * u)
        .collect();
    assert!(rel_error(&fd, &exact) < 1e-10, "{fd:?} vs {exact:?}");
}

// ═════════════════════════════════════════════════════════════════════════════════════════════
// 2. The simplifier never changes a value
// ═════════════════════════════════════════════════════════════════════════════════════════════

/// `simplify(p)` computes the same outputs as `p`, keeps the signature, adds no tensor work,
/// and is a fixed point of `simplify`.
///
/// The first `exact` outputs are values the function returns: the simplifier computes them as
/// the original does (only derived values may be reassociated), so they must agree bit for bit.
fn compare_simplified(
    label: &str,
    p: &Program,
    inputs: &[Value<f64>],
    exact: usize,
) -> Vec<String> {
    let mut errors = Vec::new();
    let s = simplify(p);
    if s.params != p.params {
        errors.push(format!("{label}: simplify changed the parameters"));
    }
    if s.outputs.len() != p.outputs.len() {
        errors.push(format!("{label}: simplify changed the number of outputs"));
        return errors;
    }
    // Rewrites may add scalar work (a literal `2` for `x + x = 2·x`, a scalar product when
    // gathering factors), never tensor work.
    let tensor_work = |q: &Program| {
        q.insts
            .iter()
            .filter(|i| i.kind.is_tensor() && !matches!(i.op, Op::Param(_)))
            .count()
    };
    if tensor_work(&s) > tensor_work(p) {
        errors.push(format!(
            "{label}: simplify grew the tensor instructions from {} to {}",
            tensor_work(p),
            tensor_work(&s)
        ));
    }
    let before = eval(p, inputs);
    let after = eval(&s, inputs);
    for (i, (b, a)) in before.iter().zip(&after).enumerate() {
        if shape_of(a) != shape_of(b) {
            errors.push(format!(
                "{label}: output {i} has shape {:?} after simplify, {:?} before",
                shape_of(a),
                shape_of(b)
            ));
            continue;
        }
        let err = rel_error(&a.to_vec(), &b.to_vec());
        if i < exact && a != b {
            errors.push(format!(
                "{label}: returned value {i} is not bit-for-bit the original's (relative change \
                 {err:.2e})\n    before: {:?}\n    after:  {:?}",
                b.to_vec(),
                a.to_vec()
            ));
        } else if exceeds(err, TOL_SIMPLIFY) {
            errors.push(format!(
                "{label}: output {i} changed by {err:.2e} (relative)\n    before: {:?}\n    after:  {:?}",
                b.to_vec(),
                a.to_vec()
            ));
        }
    }
    let twice = simplify(&s);
    if twice != s {
        errors.push(format!(
            "{label}: simplify is not idempotent ({} instructions, then {})",
            s.insts.len(),
            twice.insts.len()
        ));
    }
    errors
}

fn check_simplify(case: &Case) -> Result<(), String> {
    let mut rng = Rng::seeded(&case.name);
    let inputs = case.draw_inputs(&mut rng);
    let value = eval(&case.program, &inputs).remove(0);
    let upstream = random_like(&mut rng, &value);
    let mut errors = compare_simplified("primal", &case.program, &inputs, 1);

    let rev = reverse(&case.program, &case.wrt, Seed::Upstream)
        .map_err(|e| format!("reverse failed: {e}"))?;
    let mut rev_inputs = inputs.clone();
    rev_inputs.push(upstream);
    errors.extend(compare_simplified("reverse", &rev.program, &rev_inputs, 1));

    if value.kind() == Kind::Scalar {
        let grad = reverse(&case.program, &case.wrt, Seed::One)
            .map_err(|e| format!("reverse with seed 1 failed: {e}"))?;
        errors.extend(compare_simplified("gradient", &grad.program, &inputs, 1));
    }

    // In f32, with literal arithmetic folded in f32: the returned value is still exact.
    let mut p32 = case.program.clone();
    p32.precision = Precision::F32;
    let inputs32: Vec<Value<f32>> = inputs.iter().map(convert).collect();
    let (before, after) = (eval(&p32, &inputs32), eval(&simplify(&p32), &inputs32));
    if before != after {
        errors.push(format!(
            "f32: the returned value is not bit-for-bit the original's\n    before: {before:?}\n    \
             after:  {after:?}"
        ));
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors.join("\n  "))
    }
}

#[test]
fn simplify_preserves_values_elementwise() {
    run_table(&elementwise_cases(), check_simplify);
}

#[test]
fn simplify_preserves_values_binary_with_broadcasting() {
    run_table(&binary_cases(), check_simplify);
}

#[test]
fn simplify_preserves_values_linalg() {
    run_table(&linalg_cases(), check_simplify);
}

#[test]
fn simplify_preserves_values_reductions_and_softmax() {
    run_table(&reduction_cases(), check_simplify);
}

#[test]
fn simplify_preserves_values_composites() {
    run_table(&composite_cases(), check_simplify);
}

#[test]
fn simplify_preserves_values_random_programs() {
    run_table(&random_cases(), check_simplify);
}

/// `derive_reverse`'s gradient program (seed 1) equals its vector-Jacobian product at upstream 1.
fn check_grad_matches_vjp(case: &Case) -> Result<(), String> {
    let mut rng = Rng::seeded(&case.name);
    let inputs = case.draw_inputs(&mut rng);
    let products = derive_reverse(&case.program, &case.wrt).map_err(|e| e.to_string())?;
    let Some(grad) = &products.grad else {
        return if eval(&case.program, &inputs)[0].kind() == Kind::Scalar {
            Err("no gradient program for a scalar result".into())
        } else {
            Ok(())
        };
    };
    let g = eval(grad, &inputs);
    let mut vjp_inputs = inputs.clone();
    vjp_inputs.push(Value::Scalar(1.0));
    let v = eval(&products.vjp.program, &vjp_inputs);
    if g.len() != v.len() {
        return Err(format!("{} outputs vs {}", g.len(), v.len()));
    }
    for (i, (a, b)) in g.iter().zip(&v).enumerate() {
        let err = rel_error(&a.to_vec(), &b.to_vec());
        if shape_of(a) != shape_of(b) || exceeds(err, TOL_SIMPLIFY) {
            return Err(format!("output {i}: {a:?} vs {b:?}"));
        }
    }
    Ok(())
}

#[test]
fn gradient_program_equals_vjp_at_unit_upstream() {
    let mut cases = reduction_cases();
    cases.extend(composite_cases());
    cases.extend(
        linalg_cases()
            .into_iter()
            .filter(|c| c.name.starts_with("dot")),
    );
    run_table(&cases, check_grad_matches_vjp);
}

// ── targeted rewrites ────────────────────────────────────────────────────────────────────────

fn count(p: &Program, pred: impl Fn(&Op) -> bool) -> usize {
    p.insts.iter().filter(|i| pred(&i.op)).count()
}

fn is_transpose(op: &Op) -> bool {
    matches!(op, Op::Transpose(_))
}

fn is_matmul(op: &Op) -> bool {
    matches!(op, Op::MatMul(_))
}

/// The value that reads parameter `i`.
fn param_value(p: &Program, i: usize) -> ValueId {
    let index = p
        .insts
        .iter()
        .position(|inst| matches!(inst.op, Op::Param(ParamRef(j)) if j == i))
        .expect("parameter instruction");
    ValueId(index as u32)
}

fn output_inst(p: &Program) -> &Inst {
    p.inst(p.outputs[0])
}

#[test]
fn negated_row_scaling_negates_the_vector_and_merges() {
    // −(−(M ⊙ a) ⊙ b) is M ⊙ (a ⊙ b) up to signs on vectors: one pass over M, bit for bit the
    // same values (negation is exact, and only the vector products are regrouped).
    let mut p = Program::new();
    let m = p.param("m", Kind::Matrix);
    let a = p.param("a", Kind::Vector);
    let b = p.param("b", Kind::Vector);
    let ca = push(&mut p, AsColumn, &[a]);
    let scaled = push(&mut p, Binary(BinOp::Mul), &[m, ca]);
    let minus = push(&mut p, Neg, &[scaled]);
    let cb = push(&mut p, AsColumn, &[b]);
    let rescaled = push(&mut p, Binary(BinOp::Mul), &[minus, cb]);
    let out = push(&mut p, Neg, &[rescaled]);
    p.outputs = vec![out];
    as_derived(&mut p);
    let s = simplify(&p);
    let matrix_passes = s
        .insts
        .iter()
        .filter(|i| i.kind == Kind::Matrix && matches!(i.op, Op::Binary(_) | Op::Neg(_)))
        .count();
    assert_eq!(matrix_passes, 1, "{s:#?}");
    let inputs = vec![
        Value::Matrix(Matrix::from_vec(
            2,
            3,
            vec![1.5, -2.0, 0.25, 3.0, -0.5, 4.0],
        )),
        Value::Vector(Vector::from_vec(vec![0.5, -3.0])),
        Value::Vector(Vector::from_vec(vec![-2.0, 0.75])),
    ];
    assert_eq!(eval(&s, &inputs), eval(&p, &inputs));
}

#[test]
fn double_transpose_is_removed() {
    let mut p = Program::new();
    let a = p.param("a", Kind::Matrix);
    let t = push(&mut p, Transpose, &[a]);
    let tt = push(&mut p, Transpose, &[t]);
    p.outputs = vec![tt];
    let s = simplify(&p);
    assert_eq!(s.outputs, vec![param_value(&s, 0)]);
    assert_eq!(count(&s, is_transpose), 0, "{s:#?}");
    assert_eq!(s.insts.len(), 1);
}

/// Marks every instruction as a derived (adjoint) value, where rewrites that round differently
/// are allowed.
fn as_derived(p: &mut Program) {
    for inst in &mut p.insts {
        if !matches!(inst.op, Op::Param(_)) {
            inst.role = Role::Adjoint;
        }
    }
}

#[test]
fn transposes_of_returned_values_stay_as_written() {
    // A GEMM kernel sums in another order for other strides, so in the function's own value a
    // transpose is not folded into GEMM flags: the value stays bit for bit the original's.
    let mut p = Program::new();
    let a = p.param("a", Kind::Matrix);
    let b = p.param("b", Kind::Matrix);
    let t = push(&mut p, Transpose, &[a]);
    let m = push(&mut p, MatMul::PLAIN, &[t, b]);
    p.outputs = vec![m];
    let s = simplify(&p);
    assert_eq!(count(&s, is_transpose), 1, "{s:#?}");
}

#[test]
fn transposed_left_operand_becomes_a_flag() {
    let mut p = Program::new();
    let a = p.param("a", Kind::Matrix);
    let b = p.param("b", Kind::Matrix);
    let t = push(&mut p, Transpose, &[a]);
    let m = push(&mut p, MatMul::PLAIN, &[t, b]);
    p.outputs = vec![m];
    as_derived(&mut p);
    let s = simplify(&p);
    assert_eq!(count(&s, is_transpose), 0, "{s:#?}");
    let out = output_inst(&s);
    assert_eq!(
        out.op,
        Op::MatMul(MatMul {
            ta: true,
            tb: false
        })
    );
    assert_eq!(out.args, vec![param_value(&s, 0), param_value(&s, 1)]);
}

#[test]
fn transposed_right_operand_becomes_a_flag() {
    let mut p = Program::new();
    let a = p.param("a", Kind::Matrix);
    let b = p.param("b", Kind::Matrix);
    let t = push(&mut p, Transpose, &[b]);
    let m = push(
        &mut p,
        MatMul {
            ta: true,
            tb: false,
        },
        &[a, t],
    );
    p.outputs = vec![m];
    as_derived(&mut p);
    let s = simplify(&p);
    assert_eq!(count(&s, is_transpose), 0, "{s:#?}");
    let out = output_inst(&s);
    assert_eq!(out.op, Op::MatMul(MatMul { ta: true, tb: true }));
    assert_eq!(out.args, vec![param_value(&s, 0), param_value(&s, 1)]);
}

#[test]
fn transpose_of_a_single_use_product_becomes_a_flagged_product() {
    let mut p = Program::new();
    let a = p.param("a", Kind::Matrix);
    let b = p.param("b", Kind::Matrix);
    let m = push(&mut p, MatMul::PLAIN, &[a, b]);
    let t = push(&mut p, Transpose, &[m]);
    p.outputs = vec![t];
    as_derived(&mut p);
    let s = simplify(&p);
    assert_eq!(count(&s, is_transpose), 0, "{s:#?}");
    assert_eq!(count(&s, is_matmul), 1, "{s:#?}");
    // (a·b)ᵀ = bᵀ·aᵀ
    let out = output_inst(&s);
    assert_eq!(out.op, Op::MatMul(MatMul { ta: true, tb: true }));
    assert_eq!(out.args, vec![param_value(&s, 1), param_value(&s, 0)]);
}

#[test]
fn transpose_of_a_shared_product_does_not_run_the_gemm_twice() {
    let mut p = Program::new();
    let a = p.param("a", Kind::Matrix);
    let b = p.param("b", Kind::Matrix);
    let m = push(&mut p, MatMul::PLAIN, &[a, b]);
    let t = push(&mut p, Transpose, &[m]);
    p.outputs = vec![t, m];
    let s = simplify(&p);
    assert_eq!(count(&s, is_matmul), 1, "{s:#?}");
    assert_eq!(count(&s, is_transpose), 1, "{s:#?}");
}

#[test]
fn transpose_of_an_outer_product_swaps_it() {
    let mut p = Program::new();
    let u = p.param("u", Kind::Vector);
    let v = p.param("v", Kind::Vector);
    let o = push(&mut p, Outer, &[u, v]);
    let t = push(&mut p, Transpose, &[o]);
    p.outputs = vec![t];
    as_derived(&mut p);
    let s = simplify(&p);
    assert_eq!(count(&s, is_transpose), 0, "{s:#?}");
    let out = output_inst(&s);
    assert_eq!(out.op, Op::Outer(Outer));
    assert_eq!(out.args, vec![param_value(&s, 1), param_value(&s, 0)]);
}

/// `op(lhs, rhs)` with `x` a matrix parameter, simplified; returns the simplified program.
fn simplify_with_literal(op: BinOp, literal: f64, literal_first: bool) -> Program {
    let mut p = Program::new();
    let x = p.param("x", Kind::Matrix);
    let c = lit(&mut p, literal);
    let y = if literal_first {
        bin(&mut p, op, c, x)
    } else {
        bin(&mut p, op, x, c)
    };
    p.outputs = vec![y];
    simplify(&p)
}

#[test]
fn multiplying_by_one_and_adding_zero_are_removed() {
    for (op, c, first, what) in [
        (BinOp::Mul, 1.0, true, "1·x"),
        (BinOp::Mul, 1.0, false, "x·1"),
        (BinOp::Div, 1.0, false, "x / 1"),
        (BinOp::Add, 0.0, false, "x + 0"),
        (BinOp::Add, 0.0, true, "0 + x"),
        (BinOp::Sub, 0.0, false, "x − 0"),
    ] {
        let s = simplify_with_literal(op, c, first);
        assert_eq!(s.outputs, vec![param_value(&s, 0)], "{what}: {s:#?}");
        assert_eq!(s.insts.len(), 1, "{what}: the literal is dead: {s:#?}");
    }
}

#[test]
fn multiplying_by_minus_one_is_a_negation() {
    for first in [true, false] {
        let s = simplify_with_literal(BinOp::Mul, -1.0, first);
        let out = output_inst(&s);
        assert_eq!(out.op, Op::Neg(Neg), "{s:#?}");
        assert_eq!(out.args, vec![param_value(&s, 0)]);
    }
}

#[test]
fn double_negation_is_removed() {
    let mut p = Program::new();
    let x = p.param("x", Kind::Vector);
    let n = push(&mut p, Neg, &[x]);
    let nn = push(&mut p, Neg, &[n]);
    p.outputs = vec![nn];
    let s = simplify(&p);
    assert_eq!(s.outputs, vec![param_value(&s, 0)], "{s:#?}");
    assert_eq!(s.insts.len(), 1);
}

#[test]
fn adding_a_negation_is_a_subtraction() {
    let mut p = Program::new();
    let a = p.param("a", Kind::Vector);
    let b = p.param("b", Kind::Vector);
    let n = push(&mut p, Neg, &[b]);
    let y = bin(&mut p, BinOp::Add, a, n);
    let n2 = push(&mut p, Neg, &[b]);
    let z = bin(&mut p, BinOp::Sub, y, n2);
    p.outputs = vec![z];
    let s = simplify(&p);
    assert_eq!(count(&s, |op| matches!(op, Op::Neg(_))), 0, "{s:#?}");
    let out = output_inst(&s);
    assert_eq!(out.op, Op::Binary(Binary(BinOp::Add)));
    let inner = s.inst(out.args[0]);
    assert_eq!(inner.op, Op::Binary(Binary(BinOp::Sub)));
}

#[test]
fn literals_are_folded() {
    let mut p = Program::new();
    let x = p.param("x", Kind::Vector);
    let two = lit(&mut p, 2.0);
    let three = lit(&mut p, 3.0);
    let six = bin(&mut p, BinOp::Mul, two, three);
    let neg = push(&mut p, Neg, &[six]);
    let y = bin(&mut p, BinOp::Mul, neg, x);
    p.outputs = vec![y];
    let s = simplify(&p);
    let out = output_inst(&s);
    assert_eq!(out.op, Op::Binary(Binary(BinOp::Mul)));
    assert_eq!(s.inst(out.args[0]).op.literal(), Some(-6.0), "{s:#?}");
    assert_eq!(s.insts.len(), 3);
}

/// Appends `op(args)` as part of a derived program (the role rewrites that may round
/// differently are limited to).
#[track_caller]
fn adj(p: &mut Program, op: impl Into<Op>, args: &[ValueId]) -> ValueId {
    p.push_with_role(op.into(), args, Role::Adjoint)
        .expect("well kinded")
}

/// `Σ(u ⊙ v)` over vector parameters, its instructions in `role`.
fn sum_of_product(role: Role) -> Program {
    let mut p = Program::new();
    let u = p.param("u", Kind::Vector);
    let v = p.param("v", Kind::Vector);
    let m = p
        .push_with_role(Binary(BinOp::Mul).into(), &[u, v], role)
        .unwrap();
    let s = p.push_with_role(Sum.into(), &[m], role).unwrap();
    p.outputs = vec![s];
    p
}

#[test]
fn sum_of_a_vector_product_becomes_a_dot() {
    let q = simplify(&sum_of_product(Role::Adjoint));
    let out = output_inst(&q);
    assert_eq!(out.op, Op::Dot(Dot), "{q:#?}");
    assert_eq!(out.args, vec![param_value(&q, 0), param_value(&q, 1)]);
    assert_eq!(count(&q, |op| matches!(op, Op::Sum(_) | Op::Binary(_))), 0);
}

#[test]
fn sum_of_a_vector_product_stays_in_a_returned_value() {
    // A dot product sums in another order: the value a function returns is computed as written.
    let q = simplify(&sum_of_product(Role::Primal));
    assert_eq!(output_inst(&q).op, Op::Sum(Sum), "{q:#?}");
    assert_eq!(count(&q, |op| matches!(op, Op::Dot(_))), 0);
}

#[test]
fn sum_of_a_matrix_product_stays_a_sum() {
    let mut p = Program::new();
    let u = p.param("u", Kind::Matrix);
    let v = p.param("v", Kind::Matrix);
    let m = bin(&mut p, BinOp::Mul, u, v);
    let s = push(&mut p, Sum, &[m]);
    p.outputs = vec![s];
    let q = simplify(&p);
    assert_eq!(output_inst(&q).op, Op::Sum(Sum));
    assert_eq!(count(&q, |op| matches!(op, Op::Dot(_))), 0);
}

#[test]
fn cse_merges_identical_instructions() {
    let mut p = Program::new();
    let x = p.param("x", Kind::Matrix);
    let w = p.param("w", Kind::Matrix);
    let t1 = un(&mut p, UnaryFn::Tanh, x);
    let t2 = un(&mut p, UnaryFn::Tanh, x);
    let m1 = push(&mut p, MatMul::PLAIN, &[t1, w]);
    let m2 = push(&mut p, MatMul::PLAIN, &[t2, w]);
    p.outputs = vec![m1, m2];
    let s = simplify(&p);
    assert_eq!(count(&s, |op| matches!(op, Op::Unary(_))), 1, "{s:#?}");
    assert_eq!(count(&s, is_matmul), 1, "{s:#?}");
    assert_eq!(s.outputs[0], s.outputs[1]);
}

#[test]
fn a_value_added_to_itself_is_doubled() {
    let mut p = Program::new();
    let x = p.param("x", Kind::Matrix);
    let t = un(&mut p, UnaryFn::Tanh, x);
    let y = bin(&mut p, BinOp::Add, t, t);
    p.outputs = vec![y];
    let s = simplify(&p);
    let out = output_inst(&s);
    assert_eq!(out.op, Op::Binary(Binary(BinOp::Mul)), "{s:#?}");
    assert_eq!(s.inst(out.args[0]).op.literal(), Some(2.0));
    assert_eq!(s.inst(out.args[1]).op, Op::Unary(Unary(UnaryFn::Tanh)));
}

/// `3·(x·2)` with its instructions in `role`.
fn three_times_x_times_two(role: Role) -> Program {
    let mut p = Program::new();
    let x = p.param("x", Kind::Matrix);
    let mut push_role = |op: Op, args: &[ValueId]| p.push_with_role(op, args, role).unwrap();
    let two = push_role(Literal::new(2.0).into(), &[]);
    let three = push_role(Literal::new(3.0).into(), &[]);
    let x2 = push_role(Binary(BinOp::Mul).into(), &[x, two]);
    let y = push_role(Binary(BinOp::Mul).into(), &[three, x2]);
    p.outputs = vec![y];
    p
}

#[test]
fn scalar_factors_are_gathered_and_folded_in_derived_values() {
    // 3·(x·2) → 6·x: the literal moves first, then meets the other one.
    let s = simplify(&three_times_x_times_two(Role::Adjoint));
    let out = output_inst(&s);
    assert_eq!(out.op, Op::Binary(Binary(BinOp::Mul)), "{s:#?}");
    assert_eq!(s.inst(out.args[0]).op.literal(), Some(6.0), "{s:#?}");
    assert_eq!(out.args[1], param_value(&s, 0));
    assert_eq!(count(&s, |op| matches!(op, Op::Binary(_))), 1, "{s:#?}");

    // s·(t·X) → (s·t)·X: one tensor product instead of two.
    let mut p = Program::new();
    let sp = p.param("s", Kind::Scalar);
    let tp = p.param("t", Kind::Scalar);
    let x = p.param("x", Kind::Matrix);
    let tx = adj(&mut p, Binary(BinOp::Mul), &[tp, x]);
    let y = adj(&mut p, Binary(BinOp::Mul), &[sp, tx]);
    p.outputs = vec![y];
    let s = simplify(&p);
    let tensor_products = s
        .insts
        .iter()
        .filter(|i| i.op == Op::Binary(Binary(BinOp::Mul)) && i.kind == Kind::Matrix)
        .count();
    assert_eq!(tensor_products, 1, "{s:#?}");
    let inputs = [
        Value::Scalar(2.0),
        Value::Scalar(-3.0),
        mat(&[[1.0, 2.0], [3.0, 4.0]]),
    ];
    assert_eq!(
        eval(&s, &inputs),
        vec![mat(&[[-6.0, -12.0], [-18.0, -24.0]])]
    );
}

#[test]
fn scalar_factors_are_not_reassociated_in_a_returned_value() {
    // (3·2)·x may round differently from 3·(2·x): the returned value keeps both products.
    let s = simplify(&three_times_x_times_two(Role::Primal));
    let products = count(&s, |op| *op == Op::Binary(Binary(BinOp::Mul)));
    assert_eq!(products, 2, "{s:#?}");
}

#[test]
fn literal_arithmetic_is_folded_in_the_program_precision() {
    // 1e8 + 1 is 100000001 in f64 and 1e8 in f32.
    for (precision, folded) in [(Precision::F64, 100_000_001.0), (Precision::F32, 1e8)] {
        let mut p = Program::new();
        p.precision = precision;
        let x = p.param("x", Kind::Scalar);
        let big = lit(&mut p, 1e8);
        let one = lit(&mut p, 1.0);
        let c = bin(&mut p, BinOp::Add, big, one);
        let y = bin(&mut p, BinOp::Mul, c, x);
        p.outputs = vec![y];
        let s = simplify(&p);
        let out = output_inst(&s);
        assert_eq!(s.inst(out.args[0]).op.literal(), Some(folded), "{s:#?}");
        if precision == Precision::F32 {
            let x = [Value::Scalar(3.0f32)];
            assert_eq!(eval(&s, &x), eval(&p, &x));
        } else {
            let x = [Value::Scalar(3.0f64)];
            assert_eq!(eval(&s, &x), eval(&p, &x));
        }
    }
}

#[test]
fn a_filled_scalar_multiplies_as_the_scalar_only_when_shapes_agree() {
    // (s·𝟏 shaped like x) ⊙ tanh(x) = s·tanh(x): no fill is built.
    let mut p = Program::new();
    let sp = p.param("s", Kind::Scalar);
    let x = p.param("x", Kind::Matrix);
    let r = p.param("r", Kind::Matrix);
    let ones = push(&mut p, Fill, &[sp, x]);
    let t = un(&mut p, UnaryFn::Tanh, x);
    let y = bin(&mut p, BinOp::Mul, ones, t);
    // (s·𝟏 shaped like x) ⊙ r with r a broadcast row: the result has x's shape, not r's, so the
    // rule must not fire.
    let z = bin(&mut p, BinOp::Mul, ones, r);
    p.outputs = vec![y, z];
    let s = simplify(&p);
    let out_y = s.inst(s.outputs[0]);
    assert_eq!(out_y.op, Op::Binary(Binary(BinOp::Mul)));
    assert_eq!(out_y.args[0], param_value(&s, 0), "{s:#?}");
    let inputs = [
        Value::Scalar(2.0),
        mat(&[[0.0, 0.0], [0.0, 0.0]]),
        mat(&[[1.0, -1.0]]),
    ];
    assert_eq!(
        eval(&s, &inputs),
        vec![
            mat(&[[0.0, 0.0], [0.0, 0.0]]),
            mat(&[[2.0, -2.0], [2.0, -2.0]])
        ]
    );
}

#[test]
fn cse_distinguishes_flags_and_literals() {
    let mut p = Program::new();
    let a = p.param("a", Kind::Matrix);
    let m1 = push(
        &mut p,
        MatMul {
            ta: true,
            tb: false,
        },
        &[a, a],
    );
    let m2 = push(
        &mut p,
        MatMul {
            ta: false,
            tb: true,
        },
        &[a, a],
    );
    let two = lit(&mut p, 2.0);
    let three = lit(&mut p, 3.0);
    let s1 = bin(&mut p, BinOp::Mul, two, a);
    let s2 = bin(&mut p, BinOp::Mul, three, a);
    let y1 = push(&mut p, Sum, &[m1]);
    let y2 = push(&mut p, Sum, &[m2]);
    let y3 = push(&mut p, Sum, &[s1]);
    let y4 = push(&mut p, Sum, &[s2]);
    p.outputs = vec![y1, y2, y3, y4];
    let s = simplify(&p);
    assert_eq!(count(&s, is_matmul), 2, "{s:#?}");
    assert_eq!(count(&s, |op| op.literal().is_some()), 2, "{s:#?}");
}

#[test]
fn dce_drops_unused_instructions_but_keeps_parameters() {
    let mut p = Program::new();
    let x = p.param("x", Kind::Vector);
    let _unused = p.param("unused", Kind::Matrix);
    let e = un(&mut p, UnaryFn::Exp, x);
    let _dead = bin(&mut p, BinOp::Mul, e, e);
    let t = un(&mut p, UnaryFn::Tanh, x);
    p.outputs = vec![t];
    let s = simplify(&p);
    assert_eq!(s.params, p.params);
    assert_eq!(count(&s, |op| matches!(op, Op::Param(_))), 2);
    assert_eq!(s.insts.len(), 3, "{s:#?}");
    assert_eq!(count(&s, |op| matches!(op, Op::Binary(_))), 0);
    assert_eq!(output_inst(&s).op, Op::Unary(Unary(UnaryFn::Tanh)));
}

#[test]
fn fill_of_a_scalar_shape_is_the_scalar() {
    let mut p = Program::new();
    let s = p.param("s", Kind::Scalar);
    let q = p.param("q", Kind::Scalar);
    let f = push(&mut p, Fill, &[s, q]);
    p.outputs = vec![f];
    let r = simplify(&p);
    assert_eq!(r.outputs, vec![param_value(&r, 0)]);
}

// ═════════════════════════════════════════════════════════════════════════════════════════════
// 3. Derived program structure
// ═════════════════════════════════════════════════════════════════════════════════════════════

fn sorted_lines(text: &str) -> Vec<&str> {
    let mut lines: Vec<&str> = text.lines().collect();
    lines.sort_unstable();
    lines
}

#[test]
fn derivation_of_a_matrix_product() {
    let mut p = Program::new();
    let x = p.param("x", Kind::Matrix);
    let w = p.param("w", Kind::Matrix);
    let y = named(&mut p, "y", MatMul::PLAIN, &[x, w]);
    p.outputs = vec![y];
    let products = derive_reverse(&p, &[0, 1]).unwrap();
    assert_eq!(
        sorted_lines(&products.derivation),
        sorted_lines("dx = dy·wᵀ\ndw = xᵀ·dy"),
        "{}",
        products.derivation
    );
    assert_eq!(products.vjp.upstream, "dy");
    assert!(products.grad.is_none(), "a matrix result has no gradient");
    let prog = &products.vjp.program;
    assert_eq!(count(prog, is_transpose), 0);
    let adjoint_products: Vec<&Inst> = prog
        .insts
        .iter()
        .filter(|i| is_matmul(&i.op) && i.role == Role::Adjoint)
        .collect();
    assert_eq!(adjoint_products.len(), 2, "{prog:#?}");
}

#[test]
fn derivation_of_a_matrix_vector_product() {
    let mut p = Program::new();
    let a = p.param("a", Kind::Matrix);
    let x = p.param("x", Kind::Vector);
    let y = named(&mut p, "y", MatMul::PLAIN, &[a, x]);
    p.outputs = vec![y];
    let products = derive_reverse(&p, &[0, 1]).unwrap();
    assert_eq!(
        sorted_lines(&products.derivation),
        sorted_lines("da = dy·xᵀ\ndx = aᵀ·dy"),
        "{}",
        products.derivation
    );
}

#[test]
fn derivation_of_tanh_reuses_the_forward_result() {
    let mut p = Program::new();
    let x = p.param("x", Kind::Vector);
    let y = named(&mut p, "y", Unary(UnaryFn::Tanh), &[x]);
    p.outputs = vec![y];
    let products = derive_reverse(&p, &[0]).unwrap();
    assert_eq!(products.derivation, "dx = dy ⊙ (1 − y²)");
    // No tanh is recomputed in the derived program.
    let tanhs = count(&products.vjp.program, |op| {
        *op == Op::Unary(Unary(UnaryFn::Tanh))
    });
    assert_eq!(tanhs, 1);
}

#[test]
fn derivation_of_powers_writes_the_minus_sign() {
    let derive = |n: i32| {
        let mut p = Program::new();
        let x = p.param("x", Kind::Vector);
        let y = named(&mut p, "y", Powi(n), &[x]);
        p.outputs = vec![y];
        derive_reverse(&p, &[0]).unwrap().derivation
    };
    assert_eq!(derive(3), "dx = dy ⊙ (3·x²)");
    assert_eq!(derive(2), "dx = dy ⊙ (2·x)");
    // The notation writes minus as "−" (U+2212) everywhere: `−dy`, `a − b`, literals `−2`,
    // exponents `x⁻³`; the factor of a negative power too.
    assert_eq!(derive(-2), "dx = dy ⊙ (−2·x⁻³)");
}

/// `(x, first derivative, second derivative)` of a power at `x`.
type PowiPoint = (f64, f64, f64);

/// `x.powi(n)` for `n` at the ends of `i32`: its derivative `n·x^(n−1)` and second derivative
/// `n·(n−1)·x^(n−2)` at x = 2, ½, 1 and −1, worked by hand. `x^(n−1)` under- or overflows at 2
/// and ½, leaving a zero or an infinity whose sign is n's (and n·(n−1)'s, positive, for the
/// second derivative); at −1 the sign is (−1)^(n−1). `n − 1` and `n − 2` are outside `i32`
/// for `i32::MIN`, which once overflowed: a panic in debug builds, and in release
/// `x^(i32::MAX)` in place of `x^(i32::MIN − 1)` (−∞ where the derivative at 2 is −0).
fn powi_extremes() -> [(i32, [PowiPoint; 4]); 2] {
    let (min, max) = (f64::from(i32::MIN), f64::from(i32::MAX));
    let inf = f64::INFINITY;
    [
        (
            i32::MIN,
            [
                (2.0, -0.0, 0.0),
                (0.5, -inf, inf),
                (1.0, min, min * (min - 1.0)),
                (-1.0, -min, min * (min - 1.0)),
            ],
        ),
        (
            i32::MAX,
            [
                (2.0, inf, inf),
                (0.5, 0.0, 0.0),
                (1.0, max, max * (max - 1.0)),
                (-1.0, max, -max * (max - 1.0)),
            ],
        ),
    ]
}

/// `got` is `want` rounded to `T`, with the same sign even when both are zero.
#[track_caller]
fn assert_same_float<T: Real>(got: &Value<T>, want: f64, what: &str) {
    let Value::Scalar(got) = *got else {
        panic!("{what}: not a scalar: {got:?}");
    };
    let want = T::from_f64(want);
    assert!(
        got == want && got.is_sign_negative() == want.is_sign_negative(),
        "{what}: got {got:?}, want {want:?}"
    );
}

fn check_powi_extremes<T: Real>() {
    for (n, points) in powi_extremes() {
        let mut p = Program::new();
        let x = p.param("x", Kind::Scalar);
        let y = named(&mut p, "y", Powi(n), &[x]);
        p.outputs = vec![y];
        let reverse = derive_reverse(&p, &[0]).unwrap();
        let grad = reverse
            .grad
            .expect("a scalar result has a gradient program");
        let jvp = derive_forward(&p, &[0]).unwrap().jvp.program;
        let hvp = derive_hvp(&p, &[0]).unwrap().program;
        for (x, slope, curvature) in points {
            let at = Value::Scalar(T::from_f64(x));
            let one = Value::Scalar(T::one());
            let what = |mode: &str| format!("{mode} of x^{n} at {x}");
            assert_same_float(
                &eval(&grad, std::slice::from_ref(&at))[1],
                slope,
                &what("gradient"),
            );
            let tangent = eval(&jvp, &[at.clone(), one.clone()]);
            assert_same_float(&tangent[1], slope, &what("jvp"));
            let second = eval(&hvp, &[at, one]);
            assert_same_float(&second[1], slope, &what("hvp's gradient"));
            assert_same_float(&second[2], curvature, &what("hvp"));
        }
    }
}

#[test]
fn powers_at_the_ends_of_i32_differentiate_in_every_mode() {
    check_powi_extremes::<f64>();
    check_powi_extremes::<f32>();
}

#[test]
fn derivations_of_powers_at_the_ends_of_i32() {
    let derive = |n: i32| {
        let mut p = Program::new();
        let x = p.param("x", Kind::Scalar);
        let y = named(&mut p, "y", Powi(n), &[x]);
        p.outputs = vec![y];
        derive_reverse(&p, &[0]).unwrap().derivation
    };
    assert_eq!(derive(i32::MIN), "dx = dy·(−2147483648·x^-2147483649)");
    assert_eq!(derive(i32::MAX), "dx = dy·(2147483647·x^2147483646)");
}

#[test]
fn derivation_of_log_softmax() {
    let mut p = Program::new();
    let z = p.param("z", Kind::Matrix);
    let lp = named(&mut p, "lp", LogSoftmax, &[z]);
    p.outputs = vec![lp];
    let products = derive_reverse(&p, &[0]).unwrap();
    assert_eq!(products.derivation, "dz = dlp − exp(lp) ⊙ sum_axis(dlp, 1)");
}

#[test]
fn derivation_of_a_sum_names_the_alias() {
    // y = a + b: both adjoints are the upstream itself.
    let mut p = Program::new();
    let a = p.param("a", Kind::Vector);
    let b = p.param("b", Kind::Vector);
    let y = named(&mut p, "y", Binary(BinOp::Add), &[a, b]);
    p.outputs = vec![y];
    let products = derive_reverse(&p, &[0, 1]).unwrap();
    assert_eq!(
        sorted_lines(&products.derivation),
        sorted_lines("da = dy\ndb = dy")
    );
}

#[test]
fn mlp_gradient_program_has_the_shape_of_a_hand_written_backward_pass() {
    let p = mlp_program();
    let products = derive_reverse(&p, &[1, 2, 3, 4]).unwrap();
    let grad = products
        .grad
        .as_ref()
        .expect("a scalar loss has a gradient program");
    // The unsimplified program too: dead-code elimination would hide a dx or dy computed by
    // mistake, so activity analysis only shows before it.
    let raw = reverse(&p, &[1, 2, 3, 4], Seed::Upstream).unwrap().program;
    for (label, prog) in [
        ("grad", grad),
        ("vjp", &products.vjp.program),
        ("unsimplified vjp", &raw),
    ] {
        let ctx = format!("{label}:\n{prog:#?}");
        assert_eq!(prog.outputs.len(), 5, "{ctx}");
        let [x, w1, w2] = [0, 1, 3].map(|i| param_value(prog, i));
        let h = ValueId(
            prog.insts
                .iter()
                .position(|i| i.op == Op::Unary(Unary(UnaryFn::Relu)))
                .expect("relu") as u32,
        );
        let lp = ValueId(
            prog.insts
                .iter()
                .position(|i| i.op == Op::LogSoftmax(LogSoftmax))
                .expect("log_softmax") as u32,
        );

        // Every transpose is a GEMM flag.
        assert_eq!(count(prog, is_transpose), 0, "{ctx}");

        // Two forward GEMMs, computed once: x·w1 and h·w2.
        let gemms: Vec<(MatMul, &[ValueId], Role)> = prog
            .insts
            .iter()
            .filter_map(|i| match i.op {
                Op::MatMul(m) => Some((m, i.args.as_slice(), i.role)),
                _ => None,
            })
            .collect();
        let forward: Vec<_> = gemms.iter().filter(|g| g.2 == Role::Primal).collect();
        let backward: Vec<_> = gemms.iter().filter(|g| g.2 == Role::Adjoint).collect();
        assert_eq!(forward.len(), 2, "{ctx}");
        assert!(forward
            .iter()
            .any(|g| g.0 == MatMul::PLAIN && g.1 == [x, w1]));
        assert!(forward
            .iter()
            .any(|g| g.0 == MatMul::PLAIN && g.1 == [h, w2]));

        // Exactly three backward GEMMs: dW1 = xᵀ·dz1, dW2 = hᵀ·dz2, dh = dz2·w2ᵀ.
        assert_eq!(backward.len(), 3, "{ctx}");
        let t_left = MatMul {
            ta: true,
            tb: false,
        };
        let t_right = MatMul {
            ta: false,
            tb: true,
        };
        assert!(
            backward.iter().any(|g| g.0 == t_left && g.1[0] == x),
            "dW1 = xᵀ·dz1: {ctx}"
        );
        assert!(
            backward.iter().any(|g| g.0 == t_left && g.1[0] == h),
            "dW2 = hᵀ·dz2: {ctx}"
        );
        assert!(
            backward.iter().any(|g| g.0 == t_right && g.1[1] == w2),
            "dh = dz2·w2ᵀ: {ctx}"
        );

        // Activity analysis: no adjoint for the data x or the labels y. dx would be a GEMM
        // with w1 (dz1·w1ᵀ); dy would be an elementwise product with lp.
        assert!(
            !backward.iter().any(|g| g.1.contains(&w1)),
            "dx is computed: {ctx}"
        );
        for inst in prog.insts.iter().filter(|i| i.role == Role::Adjoint) {
            assert!(
                !(matches!(inst.op, Op::Binary(Binary(BinOp::Mul))) && inst.args.contains(&lp)),
                "dy is computed: {ctx}"
            );
            assert!(
                !matches!(inst.name.as_deref(), Some("dx" | "dy")),
                "an adjoint named {:?}: {ctx}",
                inst.name
            );
        }
        // The forward part is not recomputed.
        assert_eq!(count(prog, |op| *op == Op::LogSoftmax(LogSoftmax)), 1);
        assert_eq!(count(prog, |op| *op == Op::Unary(Unary(UnaryFn::Relu))), 1);
    }
}

#[test]
fn unused_parameter_gets_a_zero_gradient_of_its_shape() {
    let mut p = Program::new();
    let x = p.param("x", Kind::Vector);
    let _z = p.param("z", Kind::Matrix);
    let _q = p.param("q", Kind::Scalar);
    let _u = p.param("u", Kind::Vector);
    let xx = bin(&mut p, BinOp::Mul, x, x);
    let s = named(&mut p, "s", Sum, &[xx]);
    p.outputs = vec![s];
    let products = derive_reverse(&p, &[0, 1, 2, 3]).unwrap();
    let inputs = vec![
        Value::Vector(Vector::from_vec(vec![1.0, 2.0])),
        Value::Matrix(Matrix::from_rows(&[[5.0, 6.0, 7.0], [8.0, 9.0, 10.0]])),
        Value::Scalar(4.0),
        Value::Vector(Vector::from_vec(vec![3.0, 3.0, 3.0])),
    ];
    let grad = products.grad.as_ref().unwrap();
    let out = eval(grad, &inputs);
    assert_eq!(out[0], Value::Scalar(5.0));
    assert_eq!(out[1], Value::Vector(Vector::from_vec(vec![2.0, 4.0])));
    assert_eq!(out[2], Value::Matrix(Matrix::zeros(2, 3)));
    assert_eq!(out[3], Value::Scalar(0.0));
    assert_eq!(out[4], Value::Vector(Vector::zeros(3)));
    // The zero is a fill shaped like the parameter, not a computed product.
    let dz = grad.inst(grad.outputs[2]);
    assert_eq!(dz.op, Op::Fill(Fill));
    assert_eq!(grad.inst(dz.args[0]).op.literal(), Some(0.0));
    assert_eq!(dz.args[1], param_value(grad, 1));
    assert_eq!(grad.inst(grad.outputs[3]).op.literal(), Some(0.0));
}

#[test]
fn reverse_reports_malformed_requests_as_errors() {
    let mut p = Program::new();
    let x = p.param("x", Kind::Vector);
    let t = un(&mut p, UnaryFn::Tanh, x);
    p.outputs = vec![t];
    // A parameter that does not exist.
    assert!(reverse(&p, &[3], Seed::Upstream).is_err());
    // A gradient of a vector result.
    let err = reverse(&p, &[0], Seed::One).unwrap_err();
    assert!(starts_lowercase(&err.message), "{}", err.message);
    // Two outputs.
    let mut two = p.clone();
    two.outputs = vec![t, x];
    assert!(reverse(&two, &[0], Seed::Upstream).is_err());
    // Derivative kernels are not differentiated again.
    let mut q = Program::new();
    let dy = q.param("dy", Kind::Vector);
    let x = q.param("x", Kind::Vector);
    let g = push(&mut q, UnaryGrad(UnaryFn::Tanh), &[dy, x]);
    q.outputs = vec![g];
    let err = reverse(&q, &[1], Seed::Upstream).unwrap_err();
    assert!(
        err.message.contains("reverse-over-reverse"),
        "{}",
        err.message
    );
}

// ═════════════════════════════════════════════════════════════════════════════════════════════
// 4. Kind errors
// ═════════════════════════════════════════════════════════════════════════════════════════════

fn starts_lowercase(message: &str) -> bool {
    message
        .chars()
        .find(|c| c.is_alphabetic())
        .is_some_and(char::is_lowercase)
}

/// Pushes `op` on parameters of the given kinds, expects a `KindError`, and checks that the
/// program was left unchanged. Returns the message.
#[track_caller]
fn kind_error(op: impl Into<Op>, kinds: &[Kind]) -> String {
    let mut p = Program::new();
    let args: Vec<ValueId> = kinds
        .iter()
        .enumerate()
        .map(|(i, &k)| p.param(&format!("p{i}"), k))
        .collect();
    let before = p.clone();
    let op = op.into();
    let result = catch_unwind(AssertUnwindSafe(|| p.push(op.clone(), &args)));
    let err = match result {
        Ok(Ok(v)) => panic!("{op:?} on {kinds:?} was accepted as {:?}", p.kind(v)),
        Ok(Err(e)) => e,
        Err(_) => panic!("{op:?} on {kinds:?} panicked instead of returning a KindError"),
    };
    assert_eq!(p, before, "a rejected instruction was appended");
    assert!(
        starts_lowercase(&err.message),
        "not lowercase: {}",
        err.message
    );
    assert_eq!(err.to_string(), err.message);
    err.message
}

#[test]
fn elementwise_of_a_vector_and_a_matrix_is_a_kind_error() {
    for op in [BinOp::Add, BinOp::Sub, BinOp::Mul, BinOp::Div] {
        let m = kind_error(Binary(op), &[Kind::Vector, Kind::Matrix]);
        assert!(m.contains("a vector") && m.contains("a matrix"), "{m}");
        let m = kind_error(Binary(op), &[Kind::Matrix, Kind::Vector]);
        assert!(m.contains("a matrix") && m.contains("a vector"), "{m}");
    }
}

#[test]
fn matmul_of_a_vector_by_a_matrix_is_a_kind_error() {
    let m = kind_error(MatMul::PLAIN, &[Kind::Vector, Kind::Matrix]);
    assert!(m.contains("a vector times a matrix"), "{m}");
    kind_error(MatMul::PLAIN, &[Kind::Vector, Kind::Vector]);
    kind_error(MatMul::PLAIN, &[Kind::Scalar, Kind::Matrix]);
    kind_error(
        MatMul {
            ta: false,
            tb: true,
        },
        &[Kind::Matrix, Kind::Vector],
    );
}

#[test]
fn transpose_of_a_vector_is_a_kind_error() {
    let m = kind_error(Transpose, &[Kind::Vector]);
    assert!(m.contains("a vector"), "{m}");
    kind_error(Transpose, &[Kind::Scalar]);
}

#[test]
fn dot_of_matrices_is_a_kind_error() {
    let m = kind_error(Dot, &[Kind::Matrix, Kind::Matrix]);
    assert!(m.contains("matmul"), "says what to use instead: {m}");
    kind_error(Dot, &[Kind::Vector, Kind::Scalar]);
}

#[test]
fn sum_axis_of_a_vector_is_a_kind_error() {
    let m = kind_error(SumAxis(0), &[Kind::Vector]);
    assert!(m.contains("sum()"), "says what to use instead: {m}");
    kind_error(SumAxis(1), &[Kind::Scalar]);
}

#[test]
fn softmax_of_a_scalar_is_a_kind_error() {
    let m = kind_error(Softmax, &[Kind::Scalar]);
    assert!(m.contains("a scalar"), "{m}");
    kind_error(LogSoftmax, &[Kind::Scalar]);
}

#[test]
fn reductions_of_a_scalar_are_kind_errors() {
    kind_error(Sum, &[Kind::Scalar]);
    kind_error(Mean, &[Kind::Scalar]);
}

#[test]
fn wrong_operand_counts_are_kind_errors() {
    let m = kind_error(Binary(BinOp::Add), &[Kind::Scalar]);
    assert!(m.contains("2 operands"), "{m}");
    kind_error(Unary(UnaryFn::Exp), &[Kind::Vector, Kind::Vector]);
    kind_error(Neg, &[]);
    kind_error(Literal::new(1.0), &[Kind::Scalar]);
    kind_error(MatMul::PLAIN, &[Kind::Matrix]);
}

// ═════════════════════════════════════════════════════════════════════════════════════════════
// 5. Printer
// ═════════════════════════════════════════════════════════════════════════════════════════════

/// Builds a program over parameters `a`, `b`, `c` of `kind` and prints the value `body` returns.
fn printed(kind: Kind, body: impl FnOnce(&mut Program, [ValueId; 3]) -> ValueId) -> String {
    let mut p = Program::new();
    let a = p.param("a", kind);
    let b = p.param("b", kind);
    let c = p.param("c", kind);
    let v = body(&mut p, [a, b, c]);
    print::print_value(&p, v)
}

#[test]
fn printer_parenthesizes_by_precedence() {
    use BinOp::*;
    let s = Kind::Scalar;
    assert_eq!(
        printed(s, |p, [a, b, c]| {
            let bc = bin(p, Sub, b, c);
            bin(p, Sub, a, bc)
        }),
        "a − (b − c)"
    );
    assert_eq!(
        printed(s, |p, [a, b, c]| {
            let ab = bin(p, Sub, a, b);
            bin(p, Sub, ab, c)
        }),
        "a − b − c"
    );
    assert_eq!(
        printed(s, |p, [a, b, c]| {
            let ab = bin(p, Add, a, b);
            bin(p, Mul, ab, c)
        }),
        "(a + b)·c"
    );
    assert_eq!(
        printed(s, |p, [a, b, c]| {
            let bc = bin(p, Mul, b, c);
            bin(p, Add, a, bc)
        }),
        "a + b·c"
    );
    assert_eq!(
        printed(s, |p, [a, b, c]| {
            let bc = bin(p, Mul, b, c);
            bin(p, Div, a, bc)
        }),
        "a / (b·c)"
    );
    assert_eq!(
        printed(s, |p, [a, b, c]| {
            let ab = bin(p, Mul, a, b);
            bin(p, Div, ab, c)
        }),
        "a·b / c"
    );
    assert_eq!(
        printed(s, |p, [a, b, _]| {
            let ab = bin(p, Sub, a, b);
            push(p, Neg, &[ab])
        }),
        "−(a − b)"
    );
    assert_eq!(
        printed(Kind::Matrix, |p, [a, b, c]| {
            let ab = bin(p, Add, a, b);
            bin(p, Mul, ab, c)
        }),
        "(a + b) ⊙ c"
    );
    assert_eq!(
        printed(Kind::Vector, |p, [a, b, _]| {
            let ab = bin(p, Add, a, b);
            un(p, UnaryFn::Tanh, ab)
        }),
        "tanh(a + b)"
    );
}

#[test]
fn printer_writes_transposes_and_products() {
    let m = Kind::Matrix;
    assert_eq!(printed(m, |p, [a, _, _]| push(p, Transpose, &[a])), "aᵀ");
    assert_eq!(
        printed(m, |p, [a, b, _]| push(
            p,
            MatMul {
                ta: true,
                tb: false
            },
            &[a, b]
        )),
        "aᵀ·b"
    );
    assert_eq!(
        printed(m, |p, [a, b, _]| push(
            p,
            MatMul {
                ta: false,
                tb: true
            },
            &[a, b]
        )),
        "a·bᵀ"
    );
    assert_eq!(
        printed(m, |p, [a, b, _]| {
            let ab = push(p, MatMul::PLAIN, &[a, b]);
            push(p, Transpose, &[ab])
        }),
        "(a·b)ᵀ"
    );
    assert_eq!(
        printed(m, |p, [a, b, c]| {
            let ab = bin(p, BinOp::Add, a, b);
            push(
                p,
                MatMul {
                    ta: true,
                    tb: false,
                },
                &[ab, c],
            )
        }),
        "(a + b)ᵀ·c"
    );
    assert_eq!(
        printed(Kind::Vector, |p, [a, b, _]| push(p, Dot, &[a, b])),
        "aᵀ·b"
    );
    assert_eq!(
        printed(m, |p, [a, _, _]| {
            let two = lit(p, 2.0);
            bin(p, BinOp::Mul, two, a)
        }),
        "2·a"
    );
    assert_eq!(
        printed(m, |p, [a, _, _]| {
            let half = lit(p, 0.5);
            bin(p, BinOp::Mul, half, a)
        }),
        "0.5·a"
    );
    assert_eq!(
        printed(m, |p, [a, _, _]| push(p, SumAxis(1), &[a])),
        "sum_axis(a, 1)"
    );
}

#[test]
fn printer_writes_powers_as_superscripts() {
    let v = Kind::Vector;
    assert_eq!(printed(v, |p, [a, _, _]| push(p, Powi(2), &[a])), "a²");
    assert_eq!(printed(v, |p, [a, _, _]| push(p, Powi(3), &[a])), "a³");
    assert_eq!(printed(v, |p, [a, _, _]| push(p, Powi(-1), &[a])), "a⁻¹");
    assert_eq!(printed(v, |p, [a, _, _]| push(p, Powi(12), &[a])), "a^12");
    assert_eq!(
        printed(v, |p, [a, b, _]| {
            let ab = bin(p, BinOp::Add, a, b);
            push(p, Powi(2), &[ab])
        }),
        "(a + b)²"
    );
    assert_eq!(
        printed(v, |p, [a, _, _]| {
            let n = push(p, Neg, &[a]);
            push(p, Powi(2), &[n])
        }),
        "(−a)²"
    );
}

#[test]
fn printer_lines_give_named_values_their_own_line() {
    let mut p = Program::new();
    let x = p.param("x", Kind::Matrix);
    let w = p.param("w", Kind::Matrix);
    let z = named(&mut p, "z", MatMul::PLAIN, &[x, w]);
    let h = named(&mut p, "h", Unary(UnaryFn::Relu), &[z]);
    let t = push(&mut p, Transpose, &[h]);
    let s = named(&mut p, "s", Sum, &[t]);
    p.outputs = vec![s];
    // The unnamed transpose is used once: inline.
    assert_eq!(
        print::print_lines(&p, Role::Primal, &[]),
        "z = x·w\nh = relu(z)\ns = sum(hᵀ)"
    );
}

#[test]
fn printer_literal_formatting() {
    assert_eq!(print::literal(2.0), "2");
    assert_eq!(print::literal(0.5), "0.5");
    assert_eq!(print::literal(-3.0), "-3");
    // Documented: "Formats a literal the way a reader writes it: `2`, `0.5`, `1e-8`."
    assert_eq!(print::literal(1e-8), "1e-8");
}

// ═════════════════════════════════════════════════════════════════════════════════════════════
// 6. Interpreter meaning, against numbers worked by hand
// ═════════════════════════════════════════════════════════════════════════════════════════════

fn mat<const C: usize>(rows: &[[f64; C]]) -> Value<f64> {
    Value::Matrix(Matrix::from_rows(rows))
}

fn vect(data: &[f64]) -> Value<f64> {
    Value::Vector(Vector::from_vec(data.to_vec()))
}

/// Evaluates `op` on the given operand values (as parameters).
fn apply(op: impl Into<Op>, args: &[Value<f64>]) -> Value<f64> {
    let mut p = Program::new();
    let ids: Vec<ValueId> = args
        .iter()
        .enumerate()
        .map(|(i, a)| p.param(&format!("p{i}"), a.kind()))
        .collect();
    let out = push(&mut p, op, &ids);
    p.outputs = vec![out];
    eval(&p, args).remove(0)
}

/// Agreement to a few ulps (for results that go through `exp`/`ln`).
#[track_caller]
fn assert_close(got: &Value<f64>, want: &Value<f64>, tol: f64) {
    assert_eq!(shape_of(got), shape_of(want), "{got:?} vs {want:?}");
    assert!(
        rel_error(&got.to_vec(), &want.to_vec()) < tol,
        "{got:?} vs {want:?}"
    );
}

#[test]
fn matmul_means_the_product_with_flags() {
    let a = mat(&[[1.0, 2.0], [3.0, 4.0]]);
    let b = mat(&[[5.0, 6.0], [7.0, 8.0]]);
    let ab = [a.clone(), b.clone()];
    assert_eq!(
        apply(MatMul::PLAIN, &ab),
        mat(&[[19.0, 22.0], [43.0, 50.0]])
    );
    assert_eq!(
        apply(
            MatMul {
                ta: true,
                tb: false
            },
            &ab
        ),
        mat(&[[26.0, 30.0], [38.0, 44.0]])
    );
    assert_eq!(
        apply(
            MatMul {
                ta: false,
                tb: true
            },
            &ab
        ),
        mat(&[[17.0, 23.0], [39.0, 53.0]])
    );
    assert_eq!(
        apply(MatMul { ta: true, tb: true }, &ab),
        mat(&[[23.0, 31.0], [34.0, 46.0]])
    );
    // Non-square: [[1, 2, 3]]ᵀ (3×1) times [[1, 2]] (1×2).
    assert_eq!(
        apply(
            MatMul {
                ta: true,
                tb: false
            },
            &[mat(&[[1.0, 2.0, 3.0]]), mat(&[[1.0, 2.0]])]
        ),
        mat(&[[1.0, 2.0], [2.0, 4.0], [3.0, 6.0]])
    );
    let v = vect(&[1.0, -1.0]);
    assert_eq!(
        apply(MatMul::PLAIN, &[a.clone(), v.clone()]),
        vect(&[-1.0, -1.0])
    );
    assert_eq!(
        apply(
            MatMul {
                ta: true,
                tb: false
            },
            &[a.clone(), v]
        ),
        vect(&[-2.0, -2.0])
    );
    assert_eq!(apply(Transpose, &[a]), mat(&[[1.0, 3.0], [2.0, 4.0]]));
}

#[test]
fn vector_products_mean_dot_and_outer() {
    let u = vect(&[1.0, 2.0, 3.0]);
    let v = vect(&[4.0, 5.0, 6.0]);
    assert_eq!(apply(Dot, &[u.clone(), v]), Value::Scalar(32.0));
    assert_eq!(
        apply(Outer, &[u, vect(&[1.0, -2.0])]),
        mat(&[[1.0, -2.0], [2.0, -4.0], [3.0, -6.0]])
    );
}

#[test]
fn arithmetic_broadcasts_rows_columns_and_scalars() {
    let a = mat(&[[1.0, 2.0], [3.0, 4.0]]);
    assert_eq!(
        apply(Binary(BinOp::Add), &[a.clone(), mat(&[[10.0, 20.0]])]),
        mat(&[[11.0, 22.0], [13.0, 24.0]])
    );
    assert_eq!(
        apply(Binary(BinOp::Sub), &[mat(&[[10.0], [20.0]]), a.clone()]),
        mat(&[[9.0, 8.0], [17.0, 16.0]])
    );
    assert_eq!(
        apply(
            Binary(BinOp::Mul),
            &[mat(&[[2.0], [3.0]]), mat(&[[1.0, 10.0]])]
        ),
        mat(&[[2.0, 20.0], [3.0, 30.0]])
    );
    assert_eq!(
        apply(Binary(BinOp::Div), &[a.clone(), mat(&[[2.0]])]),
        mat(&[[0.5, 1.0], [1.5, 2.0]])
    );
    // Scalar on the left keeps its place: 1 − v and 1 / v.
    let v = vect(&[2.0, 4.0]);
    assert_eq!(
        apply(Binary(BinOp::Sub), &[Value::Scalar(1.0), v.clone()]),
        vect(&[-1.0, -3.0])
    );
    assert_eq!(
        apply(Binary(BinOp::Div), &[Value::Scalar(1.0), v.clone()]),
        vect(&[0.5, 0.25])
    );
    assert_eq!(
        apply(Binary(BinOp::Div), &[v.clone(), Value::Scalar(4.0)]),
        vect(&[0.5, 1.0])
    );
    assert_eq!(apply(Neg, &[v]), vect(&[-2.0, -4.0]));
    assert_eq!(
        apply(
            Binary(BinOp::Mul),
            &[Value::Scalar(3.0), Value::Scalar(-2.0)]
        ),
        Value::Scalar(-6.0)
    );
}

#[test]
fn reductions_mean_what_they_say() {
    let x = mat(&[[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]);
    assert_eq!(apply(Sum, std::slice::from_ref(&x)), Value::Scalar(21.0));
    assert_eq!(apply(Mean, std::slice::from_ref(&x)), Value::Scalar(3.5));
    assert_eq!(
        apply(SumAxis(0), std::slice::from_ref(&x)),
        mat(&[[5.0, 7.0, 9.0]])
    );
    assert_eq!(
        apply(SumAxis(1), std::slice::from_ref(&x)),
        mat(&[[6.0], [15.0]])
    );
    assert_eq!(apply(Numel, std::slice::from_ref(&x)), Value::Scalar(6.0));
    assert_eq!(apply(Mean, &[vect(&[1.0, 2.0, 6.0])]), Value::Scalar(3.0));
    assert_eq!(
        apply(Fill, &[Value::Scalar(7.0), vect(&[0.0, 0.0])]),
        vect(&[7.0, 7.0])
    );
    assert_eq!(
        apply(SumTo, &[x.clone(), mat(&[[0.0, 0.0, 0.0]])]),
        mat(&[[5.0, 7.0, 9.0]])
    );
    assert_eq!(
        apply(SumTo, &[x.clone(), mat(&[[0.0], [0.0]])]),
        mat(&[[6.0], [15.0]])
    );
    assert_eq!(apply(SumTo, &[x.clone(), mat(&[[0.0]])]), mat(&[[21.0]]));
    assert_eq!(apply(SumTo, &[x.clone(), x.clone()]), x.clone());
    assert_eq!(
        apply(BroadcastTo(0), &[mat(&[[1.0, 2.0, 3.0]]), x.clone()]),
        mat(&[[1.0, 2.0, 3.0], [1.0, 2.0, 3.0]])
    );
    assert_eq!(
        apply(BroadcastTo(1), &[mat(&[[1.0], [2.0]]), x]),
        mat(&[[1.0, 1.0, 1.0], [2.0, 2.0, 2.0]])
    );
}

#[test]
fn softmaxes_mean_normalized_exponentials() {
    // softmax([0, ln 3]) = [1/4, 3/4]; each matrix row on its own.
    let l3 = 3.0f64.ln();
    assert_close(
        &apply(Softmax, &[vect(&[0.0, l3])]),
        &vect(&[0.25, 0.75]),
        1e-14,
    );
    assert_close(
        &apply(Softmax, &[mat(&[[0.0, l3], [l3, 0.0]])]),
        &mat(&[[0.25, 0.75], [0.75, 0.25]]),
        1e-14,
    );
    // Shifting a row does not change it: softmax([1000, 1000 + ln 3]) is finite. (1000 + ln 3
    // is rounded to an ulp of 1000, ~1e-13, hence the looser tolerance.)
    assert_close(
        &apply(Softmax, &[mat(&[[1000.0, 1000.0 + l3]])]),
        &mat(&[[0.25, 0.75]]),
        1e-12,
    );
    assert_close(
        &apply(LogSoftmax, &[vect(&[0.0, l3])]),
        &vect(&[0.25f64.ln(), 0.75f64.ln()]),
        1e-14,
    );
    // Pullbacks: y ⊙ (dy − Σdy⊙y) with y = [1/4, 3/4], dy = [1, 0]: Σ = 1/4,
    // [1/4·3/4, 3/4·(−1/4)] = [3/16, −3/16].
    assert_close(
        &apply(SoftmaxGrad, &[vect(&[1.0, 0.0]), vect(&[0.25, 0.75])]),
        &vect(&[0.1875, -0.1875]),
        1e-14,
    );
    // dy − exp(y)·Σdy with exp(y) = [1/4, 3/4], dy = [1, 2]: [1 − 3/4, 2 − 9/4].
    assert_close(
        &apply(
            LogSoftmaxGrad,
            &[vect(&[1.0, 2.0]), vect(&[0.25f64.ln(), 0.75f64.ln()])],
        ),
        &vect(&[0.25, -0.25]),
        1e-14,
    );
}

#[test]
fn elementwise_functions_and_their_pullbacks_by_hand() {
    let x = vect(&[-2.0, 0.0, 3.0]);
    assert_eq!(
        apply(Unary(UnaryFn::Relu), std::slice::from_ref(&x)),
        vect(&[0.0, 0.0, 3.0])
    );
    assert_eq!(
        apply(Unary(UnaryFn::Abs), std::slice::from_ref(&x)),
        vect(&[2.0, 0.0, 3.0])
    );
    assert_eq!(
        apply(Unary(UnaryFn::Sigmoid), &[Value::Scalar(0.0)]),
        Value::Scalar(0.5)
    );
    assert_eq!(
        apply(Unary(UnaryFn::Sqrt), &[vect(&[4.0, 9.0])]),
        vect(&[2.0, 3.0])
    );
    assert_eq!(apply(Powi(3), &[vect(&[2.0, -1.0])]), vect(&[8.0, -1.0]));
    assert_eq!(apply(Powi(-2), &[vect(&[2.0, 0.5])]), vect(&[0.25, 4.0]));
    assert_eq!(apply(Powi(0), &[vect(&[5.0])]), vect(&[1.0]));
    // Pullbacks, operands (dy, x or y).
    let dy = vect(&[1.0, 1.0, 1.0]);
    assert_eq!(
        apply(UnaryGrad(UnaryFn::Relu), &[dy.clone(), x.clone()]),
        vect(&[0.0, 0.0, 1.0])
    );
    assert_eq!(
        apply(UnaryGrad(UnaryFn::Abs), &[dy.clone(), x.clone()]),
        vect(&[-1.0, 0.0, 1.0])
    );
    // tanh from its output y = 0.5: 2·(1 − 0.25) = 1.5.
    assert_eq!(
        apply(
            UnaryGrad(UnaryFn::Tanh),
            &[Value::Scalar(2.0), Value::Scalar(0.5)]
        ),
        Value::Scalar(1.5)
    );
    // sigmoid from its input x = ln 3: σ(x)·σ(−x) = 3/4·1/4 = 3/16.
    assert_eq!(
        apply(
            UnaryGrad(UnaryFn::Sigmoid),
            &[Value::Scalar(1.0), Value::Scalar(3.0f64.ln())]
        ),
        Value::Scalar(0.1875)
    );
    // sqrt from its output y = 2: 1 / 4.
    assert_eq!(
        apply(
            UnaryGrad(UnaryFn::Sqrt),
            &[Value::Scalar(1.0), Value::Scalar(2.0)]
        ),
        Value::Scalar(0.25)
    );
    // ln from its input x = 4: 2 / 4.
    assert_eq!(
        apply(
            UnaryGrad(UnaryFn::Ln),
            &[Value::Scalar(2.0), Value::Scalar(4.0)]
        ),
        Value::Scalar(0.5)
    );
    // exp from its output y = 3: 2·3.
    assert_eq!(
        apply(
            UnaryGrad(UnaryFn::Exp),
            &[Value::Scalar(2.0), Value::Scalar(3.0)]
        ),
        Value::Scalar(6.0)
    );
    // sin, cos at 0: cos 0 = 1, −sin 0 = 0.
    assert_eq!(
        apply(
            UnaryGrad(UnaryFn::Sin),
            &[Value::Scalar(2.0), Value::Scalar(0.0)]
        ),
        Value::Scalar(2.0)
    );
    assert_eq!(
        apply(
            UnaryGrad(UnaryFn::Cos),
            &[Value::Scalar(2.0), Value::Scalar(0.0)]
        ),
        Value::Scalar(0.0)
    );
    // x³ at 2: 3·4 = 12, times dy = 0.5.
    assert_eq!(
        apply(PowiGrad(3), &[Value::Scalar(0.5), Value::Scalar(2.0)]),
        Value::Scalar(6.0)
    );
}

#[test]
fn literals_evaluate_in_either_float_type() {
    let mut p = Program::new();
    let x = p.param("x", Kind::Scalar);
    let c = lit(&mut p, 0.25);
    let y = bin(&mut p, BinOp::Mul, c, x);
    p.outputs = vec![y];
    assert_eq!(eval(&p, &[Value::Scalar(8.0f64)]), vec![Value::Scalar(2.0)]);
    assert_eq!(
        eval(&p, &[Value::Scalar(8.0f32)]),
        vec![Value::Scalar(2.0f32)]
    );
    // Literals are compared by value, and the two zeros differ (`x / -0.0` is −∞).
    assert_ne!(Literal::new(-0.0), Literal::new(0.0));
    assert!(Literal::new(-0.0).value().is_sign_negative());
    assert_eq!(Literal::new(1.5).value(), 1.5);
    let mut p = Program::new();
    let x = p.param("x", Kind::Scalar);
    let zero = lit(&mut p, 0.0);
    let minus_zero = push(&mut p, Neg, &[zero]);
    let y = bin(&mut p, BinOp::Div, x, minus_zero);
    p.outputs = vec![y];
    let simplified = simplify(&p);
    assert_eq!(
        eval(&simplified, &[Value::Scalar(1.0f64)]),
        vec![Value::Scalar(f64::NEG_INFINITY)]
    );
}

// ═════════════════════════════════════════════════════════════════════════════════════════════
// 7. Forward mode
// ═════════════════════════════════════════════════════════════════════════════════════════════

/// The dot-product test `⟨J·v, u⟩ = ⟨v, Jᵀ·u⟩` in f64, relative to the size of the terms summed
/// on either side (`Σ|J·v|⊙|u|`, `Σ|v|⊙|Jᵀ·u|`), floored at 1. Both sides are exact up to
/// rounding: the two programs evaluate the same partial derivatives in another order. Measured:
/// ≤ 3e-16 on the tables and the random programs, so 1e-12 leaves a margin of 3000; a wrong rule
/// is off by O(1). The floor is for results whose directional derivative is zero (the shift
/// invariance of softmax, outputs that do not depend on the chosen wrt): directions and upstream
/// gradients are O(1), so both sides are rounding noise of O(1) terms, measured ≤ 2.2e-16 in
/// absolute value, and a relative error of noise against noise means nothing.
const TOL_DOT: f64 = 1e-12;

/// The primal's inputs with each wrt parameter moved by `t` along its direction.
fn along(inputs: &[Value<f64>], wrt: &[usize], tangents: &[Value<f64>], t: f64) -> Vec<Value<f64>> {
    let mut moved = inputs.to_vec();
    for (&p, v) in wrt.iter().zip(tangents) {
        let data = inputs[p]
            .to_vec()
            .iter()
            .zip(v.to_vec())
            .map(|(x, d)| x + t * d)
            .collect();
        moved[p] = inputs[p].with_data(data);
    }
    moved
}

/// The directional derivative of `p` at `inputs` along `tangents` (one per wrt parameter), by
/// the central five-point stencil of step `h`, for every output element at once.
fn fd_directional(
    p: &Program,
    inputs: &[Value<f64>],
    wrt: &[usize],
    tangents: &[Value<f64>],
    h: f64,
) -> Vec<f64> {
    let at = |t: f64| eval(p, &along(inputs, wrt, tangents, t)).remove(0).to_vec();
    let (f2, f1, b1, b2) = (at(2.0 * h), at(h), at(-h), at(-2.0 * h));
    (0..f1.len())
        .map(|i| (-f2[i] + 8.0 * f1[i] - 8.0 * b1[i] + b2[i]) / (12.0 * h))
        .collect()
}

/// The two stencil steps, as in the reverse checks.
const FD_STEPS: [f64; 2] = [FD_STEP, FD_STEP / 4.0];

/// Random inputs clear of the kinks and one random direction per wrt parameter (U(−1, 1), of
/// the parameter's shape). A directional stencil moves every active input at once, so a kink
/// input may move by more than in the reverse checks (`x·dw1 + db1` sums six terms in the MLP);
/// instead of bounding that, the pair is redrawn until no `relu`/`abs` input changes sign at any
/// point of either stencil.
fn draw_point_and_direction(case: &Case, rng: &mut Rng) -> (Vec<Value<f64>>, Vec<Value<f64>>) {
    for _ in 0..200 {
        let inputs = case.draw_inputs(rng);
        let tangents: Vec<Value<f64>> = case
            .wrt
            .iter()
            .map(|&p| random_value(rng, case.shapes[p], Domain::Any))
            .collect();
        let signs = |t: f64| -> Vec<bool> {
            kink_inputs(&case.program, &along(&inputs, &case.wrt, &tangents, t))
                .iter()
                .map(|&x| x > 0.0)
                .collect()
        };
        let here = signs(0.0);
        let steady = here.is_empty()
            || FD_STEPS
                .iter()
                .flat_map(|&h| [-2.0 * h, -h, h, 2.0 * h])
                .all(|t| signs(t) == here);
        if steady {
            return (inputs, tangents);
        }
    }
    panic!("could not draw a direction along which the relu/abs inputs keep their signs");
}

/// The signature of `forward(primal, wrt)`: the primal parameters unchanged, then one tangent
/// per wrt parameter of its kind, named `d` + its name (made fresh), in the tangent role;
/// outputs `[value, tangent]`; the primal instructions untouched, in front.
fn forward_signature_errors(primal: &Program, wrt: &[usize], fwd: &Forward) -> Vec<String> {
    let mut errors = Vec::new();
    let p = &fwd.program;
    let n = primal.params.len();
    if p.params.len() != n + wrt.len() || fwd.tangent_names.len() != wrt.len() {
        errors.push(format!(
            "{} parameters and {} tangent names for {n} primal parameters and {} wrt",
            p.params.len(),
            fwd.tangent_names.len(),
            wrt.len()
        ));
        return errors;
    }
    if p.params[..n] != primal.params[..] {
        errors.push("the primal parameters changed".into());
    }
    if p.outputs.len() != 2 || p.outputs[0] != primal.outputs[0] {
        errors.push(format!(
            "outputs {:?}, expected [{:?}, tangent]",
            p.outputs, primal.outputs
        ));
    }
    if p.insts.len() < primal.insts.len() || p.insts[..primal.insts.len()] != primal.insts[..] {
        errors.push("the primal instructions are not kept unchanged in front".into());
    }
    for (k, &i) in wrt.iter().enumerate() {
        let (param, tangent) = (&primal.params[i], &p.params[n + k]);
        let fresh = !primal.params.iter().any(|q| q.name == tangent.name)
            && !primal.reserved_names.contains(&tangent.name)
            && !p.params[n..n + k].iter().any(|q| q.name == tangent.name);
        if tangent.kind != param.kind
            || tangent.name != fwd.tangent_names[k]
            || !tangent.name.starts_with(&format!("d{}", param.name))
            || !fresh
        {
            errors.push(format!(
                "tangent parameter {k} is {:?} (named {:?}) for parameter {param:?}",
                tangent, fwd.tangent_names[k]
            ));
        }
        if p.inst(param_value(p, n + k)).role != Role::Tangent {
            errors.push(format!("tangent parameter {k} is not in the tangent role"));
        }
    }
    errors
}

/// Activity: no tangent of a value that does not depend on the wrt parameters is computed.
/// Every instruction `forward` appends is in the tangent role, and each one that reads
/// anything reads a tangent or an active value (one that depends on a wrt parameter, such as
/// the curvature factor `−2·tanh(x)` of a second-order rule): none reads only inactive values.
/// The exception is the zero tangent of a result that depends on no wrt parameter (`0` filled
/// to its shape), which such a result must have.
fn tangent_activity_errors(primal: &Program, wrt: &[usize], p: &Program) -> Vec<String> {
    let mut errors = Vec::new();
    let [out, tangent] = p.outputs[..] else {
        return vec!["not two outputs".into()];
    };
    let names = p.value_names();
    // Whether each value depends on a wrt parameter or a tangent parameter. (The primal may be
    // a derived program with tangent or adjoint instructions of its own: only what `forward`
    // appended is checked.)
    let n = primal.params.len();
    let mut active = vec![false; p.insts.len()];
    for (i, inst) in p.insts.iter().enumerate() {
        active[i] = match inst.op {
            Op::Param(ParamRef(q)) => q >= n || wrt.contains(&q),
            _ => inst.args.iter().any(|a| active[a.index()]),
        };
    }
    let is_zero = |v: ValueId| p.inst(v).op.literal() == Some(0.0);
    let zero_fill = |v: ValueId| {
        is_zero(v)
            || matches!(
                (&p.inst(v).op, p.inst(v).args.as_slice()),
                (Op::Fill(_), &[z, like]) if is_zero(z) && like == out
            )
    };
    // The zero tangent of the result. An inactive result must have it; an active one may too,
    // when its tangent is symbolically zero (`x⁰`).
    let mut exempt = None;
    if zero_fill(tangent) {
        exempt = Some(tangent);
    } else if !active[out.index()] {
        errors.push(format!(
            "the result does not depend on the wrt parameters, its tangent is `{}`, not a zero \
             fill",
            print::print_value(p, tangent)
        ));
    }
    for (i, inst) in p.insts.iter().enumerate().skip(primal.insts.len()) {
        let v = ValueId(i as u32);
        if inst.role != Role::Tangent {
            errors.push(format!(
                "appended instruction `{}` is not a tangent",
                names[i]
            ));
        }
        if !inst.args.is_empty() && !active[i] && exempt != Some(v) {
            errors.push(format!(
                "tangent instruction `{} = {}` reads only inactive values",
                names[i],
                print::print_value(p, v)
            ));
        }
    }
    errors
}

/// `forward(p, wrt)` at random inputs `x` and a random direction `v`:
/// - its signature (see [`forward_signature_errors`]) and activity
///   ([`tangent_activity_errors`]);
/// - its first output is `p(x)` bit for bit, in f64 and in f32;
/// - its second output `J·v` has the result's shape and agrees with five-point differences of
///   `p` along `v`, in f64 (TOL_F64) and with the forward program run in f32 (TOL_F32), scaled
///   as in the reverse checks with `‖p(x)‖∞` as the size of the function;
/// - `J·v` is exactly zero along a zero direction;
/// - with `dot`: `⟨J·v, u⟩ = ⟨v, Jᵀ·u⟩` for a random `u`, `Jᵀ·u` from the reverse program;
/// - simplifying it keeps the value bit for bit and the tangent to 1e-12, and
///   `derive_forward` returns exactly that simplified program.
fn check_forward_with(case: &Case, dot: bool) -> Result<(), String> {
    let fwd = forward(&case.program, &case.wrt).map_err(|e| format!("forward failed: {e}"))?;
    let mut errors = forward_program_errors(case, &fwd, dot);
    match derive_forward(&case.program, &case.wrt) {
        Ok(products) => {
            if products.jvp.program != simplify(&fwd.program)
                || products.jvp.tangent_names != fwd.tangent_names
            {
                errors.push("derive_forward is not the simplified forward program".into());
            }
        }
        Err(e) => errors.push(format!("derive_forward failed: {e}")),
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors.join("\n  "))
    }
}

/// The checks of [`check_forward_with`] on a given forward program of `case`.
fn forward_program_errors(case: &Case, fwd: &Forward, dot: bool) -> Vec<String> {
    let mut rng = Rng::seeded(&format!("forward {}", case.name));
    let (inputs, tangents) = draw_point_and_direction(case, &mut rng);
    let value = eval(&case.program, &inputs).remove(0);
    let mut errors = forward_signature_errors(&case.program, &case.wrt, fwd);
    if !errors.is_empty() {
        return errors;
    }
    errors.extend(tangent_activity_errors(
        &case.program,
        &case.wrt,
        &fwd.program,
    ));

    let fwd_inputs: Vec<Value<f64>> = inputs.iter().chain(&tangents).cloned().collect();
    let outs = eval(&fwd.program, &fwd_inputs);
    let fwd_inputs32: Vec<Value<f32>> = fwd_inputs.iter().map(convert).collect();
    let outs32 = eval(&fwd.program, &fwd_inputs32);
    let value32 = eval(&case.program, &fwd_inputs32[..inputs.len()]).remove(0);
    if outs[0] != value {
        errors.push("the forward program's first output is not the primal value".into());
    }
    if outs32[0] != value32 {
        errors.push("in f32, the forward program's first output is not the primal value".into());
    }

    // The floors of the reverse checks, with `max(1, ‖f(x)‖∞)` as the size of the function: the
    // directional stencil's rounding error is about `3e-13·|f|` in each output element.
    let size = value.to_vec().iter().fold(1.0f64, |m, y| m.max(y.abs()));
    let fds = FD_STEPS.map(|h| fd_directional(&case.program, &inputs, &case.wrt, &tangents, h));
    let runs = [
        (
            "f64",
            shape_of(&outs[1]),
            to_f64(&outs[1]),
            TOL_F64,
            SCALE_FLOOR_F64,
        ),
        (
            "f32",
            shape_of(&outs32[1]),
            to_f64(&outs32[1]),
            TOL_F32,
            SCALE_FLOOR_F32,
        ),
    ];
    for (precision, shape, got, tol, floor) in runs {
        if shape != shape_of(&value) {
            errors.push(format!(
                "the tangent ({precision}) has shape {shape:?}, the result {:?}",
                shape_of(&value)
            ));
            continue;
        }
        let err = rel_error_floor(&got, &fds[0], floor * size).min(rel_error_floor(
            &got,
            &fds[1],
            floor * size,
        ));
        if exceeds(err, tol) {
            errors.push(format!(
                "J·v ({precision}): relative error {err:.2e} > {tol:.0e}\n    \
                 forward:            {got:?}\n    finite differences: {:?}",
                fds[0]
            ));
        }
    }

    // Linear in the direction: zero along zero.
    let mut zero_inputs = inputs.clone();
    zero_inputs.extend(tangents.iter().map(|t| t.map(|_| 0.0)));
    let at_zero = eval(&fwd.program, &zero_inputs).remove(1);
    if at_zero.to_vec().iter().any(|&x| x != 0.0) {
        errors.push(format!("J·0 is not zero: {:?}", at_zero.to_vec()));
    }

    if dot {
        let upstream = random_like(&mut rng, &value);
        let rev = match reverse(&case.program, &case.wrt, Seed::Upstream) {
            Ok(rev) => rev,
            Err(e) => {
                errors.push(format!("reverse failed: {e}"));
                return errors;
            }
        };
        let mut rev_inputs = inputs.clone();
        rev_inputs.push(upstream.clone());
        let adjoints = eval(&rev.program, &rev_inputs);
        let jv = outs[1].to_vec();
        let u = upstream.to_vec();
        let lhs: f64 = jv.iter().zip(&u).map(|(a, b)| a * b).sum();
        let lhs_size: f64 = jv.iter().zip(&u).map(|(a, b)| (a * b).abs()).sum();
        let (mut rhs, mut rhs_size) = (0.0, 0.0);
        for (v, g) in tangents.iter().zip(&adjoints[1..]) {
            for (a, b) in v.to_vec().iter().zip(g.to_vec()) {
                rhs += a * b;
                rhs_size += (a * b).abs();
            }
        }
        let scale = lhs_size.max(rhs_size).max(1.0);
        let err = if lhs == rhs {
            0.0
        } else {
            (lhs - rhs).abs() / scale
        };
        if exceeds(err, TOL_DOT) {
            errors.push(format!(
                "dot-product test: ⟨J·v, u⟩ = {lhs:e}, ⟨v, Jᵀ·u⟩ = {rhs:e}, relative \
                 error {err:.2e} > {TOL_DOT:.0e}"
            ));
        }
    }

    // The returned value must come out bit for bit only when it is the original function's
    // own (primal) value: a derived program's returned adjoint may be reassociated, or get its
    // transposes folded into GEMM flags, which rounds differently.
    let returns_primal = case.program.inst(case.program.outputs[0]).role == Role::Primal;
    errors.extend(compare_simplified(
        "forward",
        &fwd.program,
        &fwd_inputs,
        usize::from(returns_primal),
    ));
    errors
}

fn check_forward(case: &Case) -> Result<(), String> {
    check_forward_with(case, true)
}

#[test]
fn forward_matches_finite_differences_and_reverse_elementwise() {
    run_table(&elementwise_cases(), check_forward);
}

#[test]
fn forward_matches_finite_differences_and_reverse_binary_with_broadcasting() {
    run_table(&binary_cases(), check_forward);
}

#[test]
fn forward_matches_finite_differences_and_reverse_linalg() {
    run_table(&linalg_cases(), check_forward);
}

#[test]
fn forward_matches_finite_differences_and_reverse_reductions_and_softmax() {
    run_table(&reduction_cases(), check_forward);
}

#[test]
fn forward_matches_finite_differences_and_reverse_composites() {
    run_table(&composite_cases(), check_forward);
}

#[test]
fn forward_matches_finite_differences_and_reverse_random_programs() {
    run_table(&random_cases(), check_forward);
}

#[test]
fn directional_finite_differences_are_accurate_on_a_known_derivative() {
    // d/dt ⟨(x + t·v)³⟩ at t = 0 is 3x²⊙v, in closed form: validates the reference itself.
    let case = Case::new("cube", &[("x", Shape::V(3), Domain::Any)], &[0], |p, x| {
        push(p, Powi(3), &[x[0]])
    });
    let x = Value::Vector(Vector::from_vec(vec![0.3, -0.7, 1.1]));
    let v = Value::Vector(Vector::from_vec(vec![1.0, 2.0, -0.5]));
    let exact: Vec<f64> = x
        .to_vec()
        .iter()
        .zip(v.to_vec())
        .map(|(x, v)| 3.0 * x * x * v)
        .collect();
    for h in FD_STEPS {
        let fd = fd_directional(
            &case.program,
            std::slice::from_ref(&x),
            &[0],
            std::slice::from_ref(&v),
            h,
        );
        assert!(rel_error(&fd, &exact) < 1e-10, "{fd:?} vs {exact:?}");
    }
}

#[test]
fn forward_checks_catch_a_wrong_rule() {
    // The B1 MLP's forward program with one tangent sign flipped (`dz2 = dh·w2 − h·dw2 + db2`):
    // both the finite differences and the dot-product test must notice, in f64 and f32.
    let case = &composite_cases()[0];
    assert_eq!(case.name, "B1 MLP wrt w1, b1, w2, b2");
    let mut fwd = forward(&case.program, &case.wrt).unwrap();
    assert!(forward_program_errors(case, &fwd, true).is_empty());
    let dw2 = param_value(&fwd.program, 8);
    let h_dw2 = position(&fwd.program, |i| is_matmul(&i.op) && i.args[1] == dw2);
    let sum = fwd
        .program
        .insts
        .iter_mut()
        .find(|i| i.op == Op::Binary(Binary(BinOp::Add)) && i.args.contains(&h_dw2))
        .expect("dh·w2 + h·dw2");
    sum.op = Binary(BinOp::Sub).into();
    let errors = forward_program_errors(case, &fwd, true).join("\n");
    for expected in ["J·v (f64)", "J·v (f32)", "dot-product test"] {
        assert!(
            errors.contains(expected),
            "{expected} not reported:\n{errors}"
        );
    }
}

/// Programs the engine derives, differentiated again in forward mode with respect to all their
/// parameters (primal, upstream or tangent): each adjoint of a reverse program
/// (forward-over-reverse: Hessian-vector products for a scalar result) and the tangent of a
/// forward program (forward-over-forward), dead code removed, from every table row and a
/// quarter of the random programs. This exercises the forward rules of the derivative kernels,
/// which only derived programs contain. (No dot-product test: kernels have no reverse rule.)
fn derived_cases() -> Vec<Case> {
    let mut sources = elementwise_cases();
    sources.extend(binary_cases());
    sources.extend(linalg_cases());
    sources.extend(reduction_cases());
    sources.extend(composite_cases());
    sources.extend((0..RANDOM_PROGRAMS / 4).map(random_case));
    let mut cases = Vec::new();
    for case in &sources {
        let mut rng = Rng::seeded(&case.name);
        let inputs = case.draw_inputs(&mut rng);
        let out_shape = shape_of(&eval(&case.program, &inputs)[0]);
        let rev = reverse(&case.program, &case.wrt, Seed::Upstream)
            .unwrap()
            .program;
        let fwd = forward(&case.program, &case.wrt).unwrap().program;
        let mut derived: Vec<(String, Program, Vec<Shape>)> = Vec::new();
        for (k, &p) in case.wrt.iter().enumerate() {
            let mut adjoint = rev.clone();
            adjoint.outputs = vec![rev.outputs[1 + k]];
            derived.push((
                format!("{} → d{}", case.name, case.program.params[p].name),
                adjoint,
                vec![out_shape],
            ));
        }
        let mut tangent = fwd.clone();
        tangent.outputs = vec![fwd.outputs[1]];
        derived.push((
            format!("{} → J·v", case.name),
            tangent,
            case.wrt.iter().map(|&p| case.shapes[p]).collect(),
        ));
        for (name, program, extra) in derived {
            let program = eliminate_dead_code(&program);
            let mut shapes = case.shapes.clone();
            shapes.extend(&extra);
            let mut domains = case.domains.clone();
            domains.extend(extra.iter().map(|_| Domain::Any));
            cases.push(Case {
                name,
                wrt: (0..program.params.len()).collect(),
                program,
                shapes,
                domains,
            });
        }
    }
    cases
}

#[test]
fn forward_of_derived_programs() {
    let cases = derived_cases();
    // Every derivative kernel is differentiated somewhere in the table.
    let mut kernels: Vec<Op> = vec![
        Fill.into(),
        SumTo.into(),
        BroadcastTo(0).into(),
        BroadcastTo(1).into(),
        Expand.into(),
        Numel.into(),
        SoftmaxGrad.into(),
        LogSoftmaxGrad.into(),
        LogSoftmaxJvp.into(),
    ];
    kernels.extend(UnaryFn::ALL.iter().map(|&f| Op::from(UnaryGrad(f))));
    kernels.extend([-3, -2, -1, 1, 2, 3, 4].map(|n| Op::from(PowiGrad(n))));
    for kernel in kernels {
        assert!(
            cases
                .iter()
                .any(|c| c.program.insts.iter().any(|i| i.op == kernel)),
            "no derived program contains {kernel:?}"
        );
    }
    run_table(&cases, |case| check_forward_with(case, false));
}

// ── forward structure ────────────────────────────────────────────────────────────────────────

#[test]
fn forward_derivation_of_a_matrix_product() {
    let mut p = Program::new();
    let x = p.param("x", Kind::Matrix);
    let w = p.param("w", Kind::Matrix);
    let y = named(&mut p, "y", MatMul::PLAIN, &[x, w]);
    p.outputs = vec![y];
    let both = derive_forward(&p, &[0, 1]).unwrap();
    assert_eq!(both.derivation, "dy = dx·w + x·dw");
    assert_eq!(both.jvp.tangent_names, ["dx", "dw"]);
    let only_w = derive_forward(&p, &[1]).unwrap();
    assert_eq!(only_w.derivation, "dy = x·dw");
    assert_eq!(only_w.jvp.tangent_names, ["dw"]);
    // Parameters: x, w, then dw; dx is not a parameter and nothing is computed for it.
    let prog = &only_w.jvp.program;
    assert_eq!(prog.params.len(), 3);
    let tangent_products: Vec<&Inst> = prog
        .insts
        .iter()
        .filter(|i| is_matmul(&i.op) && i.role == Role::Tangent)
        .collect();
    assert_eq!(tangent_products.len(), 1, "{prog:#?}");
    assert_eq!(tangent_products[0].args, [x, param_value(prog, 2)]);
    assert_eq!(derive_forward(&p, &[0]).unwrap().derivation, "dy = dx·w");
}

#[test]
fn forward_derivation_of_elementwise_functions_and_softmaxes() {
    let derive = |op: Op, kind: Kind| {
        let mut p = Program::new();
        let x = p.param("x", kind);
        let y = named(&mut p, "y", op, &[x]);
        p.outputs = vec![y];
        derive_forward(&p, &[0]).unwrap().derivation
    };
    // f'(x) ⊙ dx with the pullback's fused kernel (a diagonal Jacobian is symmetric), reading
    // the forward result where the reverse rule does.
    assert_eq!(
        derive(Unary(UnaryFn::Tanh).into(), Kind::Vector),
        "dy = dx ⊙ (1 − y²)"
    );
    assert_eq!(derive(Powi(3).into(), Kind::Vector), "dy = dx ⊙ (3·x²)");
    assert_eq!(
        derive(LogSoftmax.into(), Kind::Matrix),
        "dy = dx − sum_axis(exp(y) ⊙ dx, 1)"
    );
    assert_eq!(
        derive(Softmax.into(), Kind::Vector),
        "dy = y ⊙ (dx − sum(dx ⊙ y))"
    );
}

/// The tangent GEMMs (role and operands) of a forward program.
fn gemms(prog: &Program, role: Role) -> Vec<(MatMul, Vec<ValueId>)> {
    prog.insts
        .iter()
        .filter(|i| i.role == role)
        .filter_map(|i| match i.op {
            Op::MatMul(m) => Some((m, i.args.clone())),
            _ => None,
        })
        .collect()
}

fn position(prog: &Program, pred: impl Fn(&Inst) -> bool) -> ValueId {
    ValueId(
        prog.insts
            .iter()
            .position(pred)
            .expect("instruction not found") as u32,
    )
}

#[test]
fn mlp_forward_program_has_the_shape_of_a_hand_written_tangent_pass() {
    let p = mlp_program();
    let wrt = [1, 2, 3, 4];
    let products = derive_forward(&p, &wrt).unwrap();
    // Both tangents enter every bias add, so nothing is expanded.
    assert!(
        !products.derivation.contains("expand("),
        "{}",
        products.derivation
    );
    assert_eq!(
        products.derivation,
        "dz1 = x·dw1 + db1\n\
         dh = dz1 ⊙ [z1 > 0]\n\
         dz2 = dh·w2 + h·dw2 + db2\n\
         dlp = dz2 − sum_axis(exp(lp) ⊙ dz2, 1)\n\
         drow_loss = −sum_axis(y ⊙ dlp, 1)\n\
         dloss = mean(drow_loss)"
    );
    assert_eq!(products.jvp.tangent_names, ["dw1", "db1", "dw2", "db2"]);
    // The unsimplified program too: dead-code elimination would hide a tangent computed by
    // mistake.
    let raw = forward(&p, &wrt).unwrap().program;
    for (label, prog) in [("jvp", &products.jvp.program), ("unsimplified", &raw)] {
        let ctx = format!("{label}:\n{prog:#?}");
        assert_eq!(prog.params.len(), 10, "{ctx}");
        let [x, w1, w2] = [0, 1, 3].map(|i| param_value(prog, i));
        let [dw1, dw2] = [6, 8].map(|i| param_value(prog, i));
        let h = position(prog, |i| i.op == Op::Unary(Unary(UnaryFn::Relu)));
        let dh = position(prog, |i| i.op == Op::UnaryGrad(UnaryGrad(UnaryFn::Relu)));
        assert_eq!(prog.inst(dh).role, Role::Tangent, "{ctx}");

        // Two forward GEMMs, x·w1 and h·w2, and exactly three tangent GEMMs:
        // x·dw1, dh·w2, h·dw2.
        let mut primal = gemms(prog, Role::Primal);
        primal.sort_by_key(|g| g.1.clone());
        assert_eq!(
            primal,
            [(MatMul::PLAIN, vec![x, w1]), (MatMul::PLAIN, vec![h, w2])],
            "{ctx}"
        );
        let tangent = gemms(prog, Role::Tangent);
        assert_eq!(tangent.len(), 3, "{ctx}");
        for args in [vec![x, dw1], vec![dh, w2], vec![h, dw2]] {
            assert!(
                tangent.contains(&(MatMul::PLAIN, args.clone())),
                "no tangent GEMM {args:?}: {ctx}"
            );
        }
        assert_eq!(count(prog, |op| matches!(op, Op::Expand(_))), 0, "{ctx}");
        assert_eq!(count(prog, is_transpose), 0, "{ctx}");
        // The forward part is not recomputed, and log_softmax is pushed forward by its kernel.
        assert_eq!(count(prog, |op| *op == Op::LogSoftmax(LogSoftmax)), 1);
        assert_eq!(count(prog, |op| *op == Op::Unary(Unary(UnaryFn::Relu))), 1);
        assert_eq!(count(prog, |op| *op == Op::LogSoftmaxJvp(LogSoftmaxJvp)), 1);
        // Activity: no tangent of the data x or the labels y.
        assert!(
            tangent_activity_errors(&p, &wrt, prog).is_empty(),
            "{:?}",
            tangent_activity_errors(&p, &wrt, prog)
        );
        for inst in prog.insts.iter().filter(|i| i.role == Role::Tangent) {
            assert!(
                !matches!(inst.name.as_deref(), Some("dx" | "dy")),
                "a tangent named {:?}: {ctx}",
                inst.name
            );
        }
    }
}

#[test]
fn mlp_forward_with_only_a_bias_expands_its_tangent() {
    let p = mlp_program();
    let products = derive_forward(&p, &[2]).unwrap();
    // db1 enters z1 = x·w1 + b1 alone, and must be broadcast to z1's shape.
    assert!(
        products.derivation.contains("dz1 = expand(db1, z1)"),
        "{}",
        products.derivation
    );
    let prog = &products.jvp.program;
    let db1 = param_value(prog, 6);
    let z1 = position(prog, |i| i.name.as_deref() == Some("z1"));
    assert!(
        prog.insts
            .iter()
            .any(|i| matches!(i.op, Op::Expand(_)) && i.args == [db1, z1]),
        "{prog:#?}"
    );
    // Only dh·w2 is a tangent GEMM: x·dw1 and h·dw2 have no direction.
    let w2 = param_value(prog, 3);
    let tangent = gemms(prog, Role::Tangent);
    assert_eq!(tangent.len(), 1, "{prog:#?}");
    assert_eq!(tangent[0].1[1], w2);
}

#[test]
fn inactive_result_gets_a_zero_tangent_of_its_shape() {
    let mut p = Program::new();
    let _x = p.param("x", Kind::Vector);
    let y = p.param("y", Kind::Matrix);
    let _s = p.param("s", Kind::Scalar);
    let t = named(&mut p, "t", Unary(UnaryFn::Tanh), &[y]);
    let total = named(&mut p, "total", Sum, &[t]);
    let inputs = [
        Value::Vector(Vector::from_vec(vec![1.0, 2.0])),
        Value::Matrix(Matrix::from_rows(&[[0.5, 0.6, 0.7], [0.8, 0.9, 1.0]])),
        Value::Scalar(4.0),
    ];
    let directions = [
        Value::Vector(Vector::from_vec(vec![1.0, -1.0])),
        Value::Scalar(2.0),
    ];
    let run = |prog: &Program| {
        let mut all = inputs.to_vec();
        all.extend(directions.iter().cloned());
        eval(prog, &all)
    };
    for (out, zero) in [
        (t, Value::Matrix(Matrix::zeros(2, 3))),
        (total, Value::Scalar(0.0)),
        (y, Value::Matrix(Matrix::zeros(2, 3))),
    ] {
        let mut q = p.clone();
        q.outputs = vec![out];
        let raw = forward(&q, &[0, 2]).unwrap().program;
        let simplified = derive_forward(&q, &[0, 2]).unwrap().jvp.program;
        for prog in [&raw, &simplified] {
            let outs = run(prog);
            assert_eq!(outs[0], eval(&q, &inputs)[0]);
            assert_eq!(outs[1], zero, "{prog:#?}");
            // A fill of the literal 0 (just the literal for a scalar), not a computation.
            let tangent = prog.inst(prog.outputs[1]);
            match tangent.op {
                Op::Fill(_) => {
                    assert_eq!(prog.inst(tangent.args[0]).op.literal(), Some(0.0));
                    assert_eq!(tangent.args[1], prog.outputs[0]);
                }
                _ => assert_eq!(tangent.op.literal(), Some(0.0), "{prog:#?}"),
            }
            // Nothing else is computed for the tangent.
            let tangent_work = prog
                .insts
                .iter()
                .filter(|i| i.role == Role::Tangent && !matches!(i.op, Op::Param(_)))
                .count();
            assert!(tangent_work <= 2, "{prog:#?}");
        }
    }
}

#[test]
fn tangent_parameter_names_are_fresh() {
    let mut p = Program::new();
    let x = p.param("x", Kind::Vector);
    let dx = p.param("dx", Kind::Vector);
    let y = named(&mut p, "y", Binary(BinOp::Mul), &[x, dx]);
    p.outputs = vec![y];
    p.reserved_names = vec!["dx_".into()];
    let fwd = forward(&p, &[0, 1]).unwrap();
    assert_eq!(fwd.tangent_names, ["dx__", "ddx"]);
    assert!(forward_signature_errors(&p, &[0, 1], &fwd).is_empty());
}

/// `f` may return an error but must not panic.
#[track_caller]
fn no_panic<T>(what: &str, f: impl FnOnce() -> T) -> T {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|_| panic!("{what} panicked"))
}

#[test]
fn forward_reports_malformed_requests_as_errors() {
    let mut p = Program::new();
    let x = p.param("x", Kind::Vector);
    let t = named(&mut p, "t", Unary(UnaryFn::Tanh), &[x]);
    p.outputs = vec![t];
    let mut none = p.clone();
    none.outputs = vec![];
    for (what, program, wrt) in [
        ("no output", &none, &[0][..]),
        ("a wrt index out of range", &p, &[1]),
        ("a wrt index far out of range", &p, &[usize::MAX]),
        ("one good and one bad wrt index", &p, &[0, 7]),
    ] {
        let err = no_panic(what, || forward(program, wrt))
            .err()
            .unwrap_or_else(|| panic!("forward accepts {what}"));
        assert!(starts_lowercase(&err.message), "{what}: {}", err.message);
    }
    for (what, program, wrt) in [
        ("no output", &none, &[0][..]),
        ("a wrt index out of range", &p, &[1]),
        ("one good and one bad wrt index", &p, &[0, 7]),
    ] {
        let result = no_panic(what, || derive_forward(program, wrt));
        let err = result
            .err()
            .unwrap_or_else(|| panic!("derive_forward accepts {what}"));
        assert!(starts_lowercase(&err.message), "{what}: {}", err.message);
    }
    // An empty wrt is a valid request: the tangent is zero.
    let products = derive_forward(&p, &[]).unwrap();
    assert!(products.jvp.tangent_names.is_empty());
}

#[test]
fn derive_forward_rejects_two_outputs() {
    // `derive_forward` builds `f_jvp`, whose outputs are the value and its tangent, and prints
    // the tangent of the one result: a program with two results is a malformed request.
    let mut p = Program::new();
    let x = p.param("x", Kind::Vector);
    let t = named(&mut p, "t", Unary(UnaryFn::Tanh), &[x]);
    p.outputs = vec![t, x];
    match no_panic("derive_forward", || derive_forward(&p, &[0])) {
        Err(err) => assert!(starts_lowercase(&err.message), "{}", err.message),
        Ok(products) => panic!(
            "derive_forward accepts two outputs: outputs {:?}, derivation\n{}",
            products.jvp.program.outputs, products.derivation
        ),
    }
}

#[test]
fn forward_of_several_outputs_gives_each_its_tangent() {
    // `forward` itself takes any number of outputs (forward-over-reverse differentiates the
    // value and every gradient at once): outputs, then their tangents in the same order.
    let mut p = Program::new();
    let x = p.param("x", Kind::Vector);
    let w = p.param("w", Kind::Matrix);
    let c = p.param("c", Kind::Scalar);
    let wx = push(&mut p, MatMul::PLAIN, &[w, x]);
    let a = named(&mut p, "a", Unary(UnaryFn::Tanh), &[wx]);
    let ax = push(&mut p, Binary(BinOp::Mul), &[a, x]);
    let b = named(&mut p, "b", Sum, &[ax]);
    let cc = named(&mut p, "cc", Binary(BinOp::Mul), &[c, c]);
    let outputs = [a, b, cc, x];
    p.outputs = outputs.to_vec();
    let inputs = [
        Value::Vector(Vector::from_vec(vec![0.3, -0.4])),
        Value::Matrix(Matrix::from_rows(&[[0.5, -0.6], [0.7, 0.8]])),
        Value::Scalar(1.5),
    ];
    let directions = [
        Value::Vector(Vector::from_vec(vec![1.0, -0.5])),
        Value::Matrix(Matrix::from_rows(&[[0.2, 0.1], [-0.3, 0.4]])),
    ];
    let all: Vec<Value<f64>> = inputs.iter().chain(&directions).cloned().collect();
    let fwd = forward(&p, &[0, 1]).unwrap();
    assert_eq!(fwd.program.outputs.len(), 8);
    assert_eq!(&fwd.program.outputs[..4], &outputs);
    let together = eval(&fwd.program, &all);
    for (k, &out) in outputs.iter().enumerate() {
        let mut q = p.clone();
        q.outputs = vec![out];
        let alone = eval(&forward(&q, &[0, 1]).unwrap().program, &all);
        assert_eq!(together[k], alone[0], "output {k}");
        assert_eq!(together[4 + k], alone[1], "tangent of output {k}");
    }
    // cc does not depend on x or w; x is its own direction.
    assert_eq!(together[6], Value::Scalar(0.0));
    assert_eq!(together[7], directions[0]);
}
