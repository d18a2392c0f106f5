//! What the sections share: tolerances, random inputs, building and inspecting programs, the
//! table rows and the table runner.

use std::panic::{catch_unwind, AssertUnwindSafe};

use autodiff_core::symbolic::rules::arith::{BinOp, Binary, Literal, ParamRef};
use autodiff_core::symbolic::rules::elementwise::{Domain as FnDomain, Unary, UnaryFn, UnaryGrad};
use autodiff_core::symbolic::{eval, print, Inst, Kind, Op, Program, Role, Value, ValueId};
use autodiff_core::{Matrix, Real, Vector};

use crate::common::rng::Rng;

// ═════════════════════════════════════════════════════════════════════════════════════════════
// Tolerances
// ═════════════════════════════════════════════════════════════════════════════════════════════

/// How many stencil steps a derivative is checked against ([`common::fd::fd_check`]):
/// `FD_STEP` = 1e-3 and `FD_STEP/4`; a row passes if either agrees. The stencil's truncation
/// error is `h⁴·f⁽⁵⁾/30` and its rounding error about `1.5·ε₆₄·|f|/h ≈ 3e-13·|f|`. On the
/// tables the reference agrees with the reverse program to ≤ 1e-8 relative (the worst rows are
/// `1/x³`-like, whose fifth derivative is large at |x| = 0.25). The finer step rescues random
/// programs with huge higher derivatives (steep compositions such as `((x⊙x + 0.5)⁻²)³`), while
/// a wrong rule disagrees with both.
pub(crate) const FD_REFINEMENTS: usize = 2;

/// f64 reverse vs f64 finite differences, relative to the largest gradient entry (see the
/// floors below for gradients that are zero). Measured: ≤ 1e-8 on the tables and ≤ 3.1e-8 on
/// the random programs, so 1e-6 leaves a margin of 30; a wrong rule is off by O(1). (Over
/// 20,000 random programs, run once, the worst was 6.2e-7, a steep composition that needed the
/// finer step.) Forward mode (`J·v` against a directional stencil, see `check_forward_with`)
/// measured ≤ 7e-12 on the tables, ≤ 1.8e-8 on the random programs and ≤ 6.4e-8 on the derived
/// programs.
pub(crate) const TOL_F64: f64 = 1e-6;

/// f32 reverse vs f64 finite differences, relative to the largest gradient entry. The derived
/// program is run entirely in f32 (inputs rounded to f32), so every entry carries the f32
/// rounding of its forward and backward chain: unit roundoff 2⁻²⁴ ≈ 6e-8, grown by chains of
/// about ten ops and sums of up to 24 terms (GEMMs, row sums, `mean`), with mild cancellation
/// (`1 − y²`, `dy − exp(y)·Σdy`). Measured: ≤ 2.2e-6 on the tables and ≤ 1e-5 on the random
/// programs but one, `random #1825` at 5.1e-5: `tanh` of a value near 5.5, whose `1 − y²`
/// cancels in f32 (over 20,000 random programs, run once, the worst was another saturated
/// `tanh`, at 8.3e-5). 1e-4 is still four orders of magnitude below the O(1) error of a wrong
/// rule. The forward program run in f32 carries the same roundings along the same chains (its
/// tangent ops mirror the pullbacks: GEMMs, row sums, fused kernels), and measured ≤ 4.8e-7 on
/// the tables, ≤ 1e-5 on the random programs but `random #1825` (5.3e-5) and ≤ 8.5e-6 on the
/// derived programs (second derivatives, one more chain of roundings).
pub(crate) const TOL_F32: f64 = 1e-4;

/// Simplified vs unsimplified programs in f64. Rewrites are exact algebra (flags instead of
/// transposes, `1·x → x`, CSE, DCE) or reorder one short sum (`Σ(u⊙v) → uᵀ·v`), so results agree
/// to a few ulps.
pub(crate) const TOL_SIMPLIFY: f64 = 1e-12;

/// Inputs are redrawn until every `relu`/`abs` input is at least this far from the kink: a
/// stencil moves one input element by at most `2h = 2e-3`, and in these programs that moves a
/// kink input by at most `2h` times a coefficient below 2 in the tables, so the function stays
/// smooth on the stencil. Random programs can scale an input more, and nothing checks that
/// their stencils stay clear: a row whose stencil crossed a kink would fail, and none does.
pub(crate) const KINK_MARGIN: f64 = 0.02;

/// Gradients smaller than `SCALE_FLOOR_F64·max(1, |⟨u, f(x)⟩|)` count as zero when scaling f64
/// errors. The finite-difference reference itself carries a rounding error of about
/// `3e-13·|⟨u, f⟩|`, so a zero gradient (a parameter that is not used, or the shift invariance
/// of softmax) can only be checked to that level: here absolute errors below
/// `TOL_F64·SCALE_FLOOR_F64·max(1, |⟨u, f⟩|) = 1e-11·max(1, |⟨u, f⟩|)` count as agreement.
pub(crate) const SCALE_FLOOR_F64: f64 = 1e-5;

/// The same for f32: absolute errors below `1e-6·max(1, |⟨u, f⟩|)` count as agreement. A
/// gradient entry that is a sum of O(|f|) terms cancelling to (nearly) zero comes out of f32
/// arithmetic as rounding noise of those terms, measured up to 5.1e-7 in the random programs
/// (the saturated `tanh` of `random #1825`, a few ulps of 1 elsewhere); a gradient below 1e-2
/// cannot be checked to TOL_F32 relative in f32. A wrong rule still shows, as an error of the
/// size of the terms.
pub(crate) const SCALE_FLOOR_F32: f64 = 1e-2;

// ═════════════════════════════════════════════════════════════════════════════════════════════
// Random inputs
// ═════════════════════════════════════════════════════════════════════════════════════════════

/// The concrete shape of a parameter (the IR only knows kinds).
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Shape {
    S,
    V(usize),
    M(usize, usize),
}

impl Shape {
    pub(crate) fn kind(self) -> Kind {
        match self {
            Shape::S => Kind::Scalar,
            Shape::V(_) => Kind::Vector,
            Shape::M(..) => Kind::Matrix,
        }
    }

    pub(crate) fn numel(self) -> usize {
        match self {
            Shape::S => 1,
            Shape::V(n) => n,
            Shape::M(r, c) => r * c,
        }
    }
}

/// Where a parameter's elements are drawn from.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Domain {
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

pub(crate) fn shape_of<T: Real>(v: &Value<T>) -> Shape {
    match v {
        Value::Scalar(_) => Shape::S,
        Value::Vector(x) => Shape::V(x.len()),
        Value::Matrix(m) => Shape::M(m.rows(), m.cols()),
        other => panic!("{} has no shape", other.kind().article()),
    }
}

pub(crate) fn value_from(shape: Shape, data: Vec<f64>) -> Value<f64> {
    match shape {
        Shape::S => Value::Scalar(data[0]),
        Shape::V(_) => Value::Vector(Vector::from_vec(data)),
        Shape::M(r, c) => Value::Matrix(Matrix::from_vec(r, c, data)),
    }
}

pub(crate) fn random_value(rng: &mut Rng, shape: Shape, domain: Domain) -> Value<f64> {
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

/// The same value in another float type.
pub(crate) fn convert<A: Real, B: Real>(v: &Value<A>) -> Value<B> {
    let data = |s: &[A]| {
        s.iter()
            .map(|&x| B::from_f64(Real::to_f64(x)))
            .collect::<Vec<B>>()
    };
    match v {
        Value::Scalar(s) => Value::Scalar(B::from_f64(Real::to_f64(*s))),
        Value::Vector(x) => Value::Vector(Vector::from_vec(data(x.as_slice()))),
        Value::Matrix(m) => Value::Matrix(Matrix::from_vec(m.rows(), m.cols(), data(m.as_slice()))),
        other => panic!("{} is not converted", other.kind().article()),
    }
}

pub(crate) fn to_f64<T: Real>(v: &Value<T>) -> Vec<f64> {
    v.to_vec().into_iter().map(Real::to_f64).collect()
}

pub(crate) fn exceeds(err: f64, tol: f64) -> bool {
    err.is_nan() || err > tol
}

// ═════════════════════════════════════════════════════════════════════════════════════════════
// Building programs
// ═════════════════════════════════════════════════════════════════════════════════════════════

/// Appends `op(args)`, which must be well kinded.
#[track_caller]
pub(crate) fn push(p: &mut Program, op: impl Into<Op>, args: &[ValueId]) -> ValueId {
    let op = op.into();
    match p.push(op.clone(), args) {
        Ok(v) => v,
        Err(e) => panic!("test program is ill kinded: {op:?} on {args:?}: {e}"),
    }
}

/// Appends `op(args)` and names the result.
#[track_caller]
pub(crate) fn named(p: &mut Program, name: &str, op: impl Into<Op>, args: &[ValueId]) -> ValueId {
    let v = push(p, op, args);
    p.name_value(v, name);
    v
}

pub(crate) fn lit(p: &mut Program, value: f64) -> ValueId {
    push(p, Literal::new(value), &[])
}

pub(crate) fn bin(p: &mut Program, op: BinOp, a: ValueId, b: ValueId) -> ValueId {
    push(p, Binary(op), &[a, b])
}

pub(crate) fn un(p: &mut Program, f: UnaryFn, a: ValueId) -> ValueId {
    push(p, Unary(f), &[a])
}

// ═════════════════════════════════════════════════════════════════════════════════════════════
// Table rows
// ═════════════════════════════════════════════════════════════════════════════════════════════

/// One row of a table: a one-output program, the shapes and domains of its parameters and the
/// parameters to differentiate with respect to.
pub(crate) struct Case {
    pub(crate) name: String,
    pub(crate) program: Program,
    pub(crate) shapes: Vec<Shape>,
    pub(crate) domains: Vec<Domain>,
    pub(crate) wrt: Vec<usize>,
}

impl Case {
    pub(crate) fn new(
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

    pub(crate) fn from_program(
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

    /// Random inputs, redrawn until every kink input is clear of its kink (see
    /// [`kink_inputs`]).
    pub(crate) fn draw_inputs(&self, rng: &mut Rng) -> Vec<Value<f64>> {
        self.try_draw_inputs(rng)
            .expect("could not draw inputs clear of the kinks")
    }

    /// [`draw_inputs`](Self::draw_inputs), or `None` if 200 draws all land near a kink (a
    /// random program such as `maximum(x, x)` is at its kink everywhere).
    pub(crate) fn try_draw_inputs(&self, rng: &mut Rng) -> Option<Vec<Value<f64>>> {
        (0..200).find_map(|_| {
            let inputs: Vec<Value<f64>> = self
                .shapes
                .iter()
                .zip(&self.domains)
                .map(|(&s, &d)| random_value(rng, s, d))
                .collect();
            (kink_margin(&self.program, &inputs) >= KINK_MARGIN).then_some(inputs)
        })
    }
}

/// Every element of every value of `p` at `inputs` whose sign switches a derivative, flattened:
/// the inputs of `relu`/`abs` (of the primal ops and of their pullback kernels), `a − b` of a
/// `maximum(a, b)` or a mask `[a ≥ b]`, `x − lo` and `x − hi` of a `clamp`.
pub(crate) fn kink_inputs(p: &Program, inputs: &[Value<f64>]) -> Vec<f64> {
    let mut probe = p.clone();
    let mut kinked = Vec::new();
    for inst in &p.insts {
        let gaps: &[(usize, usize)] = match inst.op {
            Op::Unary(Unary(UnaryFn::Relu | UnaryFn::Abs))
            | Op::UnaryGrad(UnaryGrad(UnaryFn::Relu | UnaryFn::Abs)) => {
                kinked.push(*inst.args.last().unwrap());
                &[]
            }
            Op::Extremum(_) | Op::Mask(_) => &[(0, 1)],
            Op::Clamp(_) => &[(0, 1), (0, 2)],
            _ => &[],
        };
        for &(i, j) in gaps {
            let gap = probe
                .push(Binary(BinOp::Sub).into(), &[inst.args[i], inst.args[j]])
                .expect("a gap of operands of one kind");
            kinked.push(gap);
        }
    }
    if kinked.is_empty() {
        return Vec::new();
    }
    probe.outputs = kinked;
    eval(&probe, inputs)
        .iter()
        .flat_map(|v| v.to_vec())
        .collect()
}

/// The smallest |kink input| of `p` at `inputs` (see [`kink_inputs`]).
pub(crate) fn kink_margin(p: &Program, inputs: &[Value<f64>]) -> f64 {
    kink_inputs(p, inputs)
        .iter()
        .fold(f64::INFINITY, |m, x| m.min(x.abs()))
}

/// Runs `check` on every case, catching panics, and fails with the list of failing rows.
pub(crate) fn run_table(cases: &[Case], check: fn(&Case) -> Result<(), String>) {
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
// Inspecting programs and messages
// ═════════════════════════════════════════════════════════════════════════════════════════════

/// How many instructions of `p` have an op satisfying `pred`.
pub(crate) fn count(p: &Program, pred: impl Fn(&Op) -> bool) -> usize {
    p.insts.iter().filter(|i| pred(&i.op)).count()
}

pub(crate) fn is_transpose(op: &Op) -> bool {
    matches!(op, Op::Transpose(_))
}

pub(crate) fn is_matmul(op: &Op) -> bool {
    matches!(op, Op::MatMul(_))
}

/// The value that reads parameter `i`.
pub(crate) fn param_value(p: &Program, i: usize) -> ValueId {
    let index = p
        .insts
        .iter()
        .position(|inst| matches!(inst.op, Op::Param(ParamRef(j)) if j == i))
        .expect("parameter instruction");
    ValueId(index as u32)
}

/// The instruction of the first output.
pub(crate) fn output_inst(p: &Program) -> &Inst {
    p.inst(p.outputs[0])
}

/// The value of the first instruction satisfying `pred`.
pub(crate) fn position(prog: &Program, pred: impl Fn(&Inst) -> bool) -> ValueId {
    ValueId(
        prog.insts
            .iter()
            .position(pred)
            .expect("instruction not found") as u32,
    )
}

/// Error messages start lowercase (after any punctuation or code).
pub(crate) fn starts_lowercase(message: &str) -> bool {
    message
        .chars()
        .find(|c| c.is_alphabetic())
        .is_some_and(char::is_lowercase)
}

/// A matrix value written row by row.
pub(crate) fn mat<const C: usize>(rows: &[[f64; C]]) -> Value<f64> {
    Value::Matrix(Matrix::from_rows(rows))
}

/// A vector value.
pub(crate) fn vect(data: &[f64]) -> Value<f64> {
    Value::Vector(Vector::from_vec(data.to_vec()))
}
