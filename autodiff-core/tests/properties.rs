//! Property tests of the symbolic engine (proptest), on the random programs of
//! [`common::programs`]: typed expression trees over the whole op set of the user language,
//! with loops (`Loop`, 0 to 3 iterations, one or two carried values, nested two deep, bodies
//! reading their index) in about a third of them and branches (`Branch` on a comparison of
//! differentiable scalars or on a loop index) in about half, and the second release's ops
//! (parts of tensors and joins, `gather`, vectors broadcast over rows, `mean_axis`,
//! `max()`/`min()`, `norm`, `trace`, `det`, `logdet`, `inverse`, `solve`, `diag`, `diagonal`)
//! in most, converted to IR programs, and shrunk on the tree to a minimal failing program.
//!
//! Inputs are kept in safe domains by construction (see [`common::programs`]: the matrices of
//! `det`, `logdet`, `inverse` and `solve` are diagonally dominant) and by redrawing: every
//! intermediate value (of every iteration, of the side a branch takes) must be finite and at
//! most [`MAGNITUDE`] in size, every `relu`/`abs` input, every branch's `a − b` and every
//! `norm` at least [`KINK_MARGIN`] from its kink, every `max()`/`min()` at least as far from
//! the runner-up entry, and no stencil point may move one across its kink or change the entry
//! a `max()` takes (such cases are rejected, not failed). They are read from the case's probe
//! program (the computation unrolled, see `Built::probe`), whose value must be the program's,
//! bit for bit.
//!
//! Every op of the second release was seen to fail these properties once its rule was broken
//! (a sign flipped or a transpose dropped in its pullback, in a throwaway copy of the engine),
//! each shrunk to a program of that op alone, e.g. `gather[c×c, seed 1](mcc0)`,
//! `max(m1c0)`, `logdet[negated](mcc0, vc0)`.
//!
//! The properties (case counts in `CASES_*`, together 7,000 per run):
//! 1. reverse: `derive_reverse(..).vjp` at a random upstream `u` equals the five-point central
//!    difference of `⟨u, f(x)⟩`, element by element, for every wrt parameter;
//! 2. forward: `derive_forward` equals the directional five-point difference, and the
//!    dot-product test `⟨J·v, u⟩ = ⟨v, Jᵀ·u⟩` holds to 1e-12;
//! 3. Jacobian: `derive_jacobian`, when it returns programs, equals the matrix built column by
//!    column from forward mode;
//! 4. Hessian: `derive_hvp` equals differences of the gradient along the direction, and
//!    `derive_hessian`, when it returns programs, is symmetric and equals the HVP columns (to
//!    1e-10);
//! 5. simplifier: `simplify` keeps the primal outputs bit for bit and the derived programs'
//!    outputs to 1e-12 (returned values bit for bit), and is idempotent.
//!
//! A failure reports the shrunk case: the sizes, the tree and the program's listing. Set
//! `PROPTEST_CASES` to run more cases per property (e.g. for a soak run) and `PROPTEST_RNG_SEED`
//! to replay a run.
// The interpreter and the tensors it runs on are the runtime feature.
#![cfg(feature = "runtime")]

mod common;

use std::cell::Cell;

use autodiff_core::symbolic::{
    derive_forward, derive_hessian, derive_hvp, derive_jacobian, derive_reverse, eval, forward,
    print, reverse, simplify, Kind, Program, Role, Seed, Value,
};
use common::fd::{along, inner, rel_error, stencil, stencil_gradient, sup, unit, FdCheck, FD_STEP};
use common::programs::{
    broadcasts_a_vector, cases, children, largest_intermediate, without_dead_code, Built, Case,
    Expr, ANY_ROOT, MAGNITUDE, MAX_DEPTH, SCALAR_ROOT, VECTOR_OR_SCALAR_ROOT,
};
use common::rng::Rng;
use proptest::strategy::{Strategy, ValueTree};
use proptest::test_runner::{Config, TestCaseError, TestRunner};

// ═════════════════════════════════════════════════════════════════════════════════════════════
// Tolerances and limits
// ═════════════════════════════════════════════════════════════════════════════════════════════

/// How many stencil steps are tried ([`common::fd::fd_steps`]: `FD_STEP` = 1e-3, then 4, 16
/// and 64 times smaller) while the stencil disagrees with the derivative. At `h = 1e-3` the
/// stencil's truncation and rounding errors (the condition κ bounded by [`MAGNITUDE`]) are far
/// below [`TOL_FD`] for all but a few programs (measured over 150,000 cases of each property:
/// 58 reverse, 32 forward and 35 Hessian checks out of 450,000 exceeded it, all steep
/// compositions, all of which agreed at a smaller step). At the smallest step the rounding
/// error is still ≤ 2e-11·κ·|f|.
const FD_REFINEMENTS: usize = 4;

/// Derived program vs five-point differences, relative to the largest entry of the reference
/// (floored, see [`FD_FLOOR`]). With inputs in (−1, 1), intermediate values bounded by
/// [`MAGNITUDE`] and the refinements, the stencil errors stay below ~1e-7 relative (worst
/// accepted error over 150,000 cases of each property: 9.96e-7 reverse, 9.39e-7 forward,
/// 9.62e-7 Hessian-vector products, most cases ≤ 1e-8), while a wrong rule is off by O(1)
/// relative; 1e-6 separates the two by orders of magnitude either way.
const TOL_FD: f64 = 1e-6;

/// The reference of a derivative that is zero (an unused parameter, the shift invariance of
/// softmax) is pure rounding noise, about `3.3e-13·κ·size` with `size` the magnitude of the
/// differenced function; errors are therefore measured against `max(‖ref‖∞, FD_FLOOR·size)`,
/// i.e. absolute errors below `TOL_FD·FD_FLOOR·size = 1e-11·size` count as agreement.
const FD_FLOOR: f64 = 1e-5;

/// Two evaluations of the same exact quantity that differ only in rounding: the dot-product
/// test, Jacobian columns by batched vs per-direction forward mode, and simplified vs
/// unsimplified derived programs. Each side is a sum of products of O(size) terms with
/// rounding ≈ n·ε per term (n ≤ ~50 ops along a chain), so errors are ≲ 1e-14 relative to the
/// size of the terms (measured worst over 150,000 cases of each property: 3.4e-14 dot-product
/// test, 1.9e-14 Jacobians, 6.2e-16 simplifier); 1e-12 leaves a margin of 30 or more, and an
/// O(1) bug cannot hide below it. Errors are relative to `max(‖ref‖∞, 1)` (the terms are O(1):
/// inputs and directions are in (−1, 1), intermediate values bounded), or for the dot-product
/// test to the sum of the absolute values of the terms.
const TOL_EXACT: f64 = 1e-12;

/// The same for second derivatives: the batched Hessian's blocks against HVP columns, and
/// against each other's transposes (symmetry). Second-order chains have about twice the ops
/// and multiply more of the bounded-by-[`MAGNITUDE`] intermediate values, so the rounding
/// differences are larger: measured worst 3.7e-13 over 200,000 cases. 1e-10 leaves a margin of
/// 270 and is still ten orders of magnitude below an O(1) error.
const TOL_SECOND: f64 = 1e-10;

/// Inputs are redrawn until every `relu`/`abs` input is at least this far from 0; in addition
/// a case is rejected if any stencil point moves such an input across 0.
const KINK_MARGIN: f64 = 0.02;

/// Cases per property: 7,000 together, about 3 ms each in a debug build without loops (the
/// target ran in 10–20 s on two cores, measured 9.5 s and 17.8 s of test time); loops and
/// branches make it about 1.5 times that (measured 44 s of CPU time against 28 s, 22 s of test
/// time on two cores), and the second release's ops another quarter (measured 54 s of CPU time
/// against 43 s, 60 s of test time against 54 s; drawing their trees with `common::programs`'
/// `Pick` rather than proptest's `Union` took a third off). Run with `--nocapture` to see the worst errors, the number of cases
/// rejected (inputs not drawable within the limits, a stencil crossing a kink or a branch, the
/// engine bug above: about 10% with loops and branches), and how many programs have no batched
/// Jacobian or Hessian.
const CASES_REVERSE: u32 = 1500;
const CASES_FORWARD: u32 = 1500;
const CASES_JACOBIAN: u32 = 1000;
const CASES_HESSIAN: u32 = 1000;
const CASES_SIMPLIFY: u32 = 1000;

// ═════════════════════════════════════════════════════════════════════════════════════════════
// Inputs
// ═════════════════════════════════════════════════════════════════════════════════════════════

/// The program with loops unrolled and branches' sides masked (see `Built::probe`): the
/// result, then every intermediate value, then every value whose sign switches a derivative,
/// then `x − max(x)` (`min(x) − x`) of every `max()` (`min()`) taken.
struct Probe {
    program: Program,
    watched: usize,
    /// The result, the kink inputs and the extremes only, for the stencils.
    signs: Program,
    kinks: usize,
}

/// Where the derivatives switch at a point: the signs of the kink inputs, then for each
/// `max()`/`min()` the position of its extreme entry (one-hot; all false on a side of a branch
/// not taken).
type Signs = Vec<bool>;

impl Probe {
    fn new(built: &Built) -> Probe {
        let mut signs = built.probe.clone();
        signs.outputs.drain(1..1 + built.watched);
        Probe {
            program: built.probe.clone(),
            watched: built.watched,
            signs: without_dead_code(&signs),
            kinks: built.kinks,
        }
    }

    /// The result, every intermediate value, and how close the point is to a kink: the
    /// smallest |kink input| and the smallest gap between an extreme entry and the runner-up.
    fn all(&self, inputs: &[Value<f64>]) -> (Value<f64>, Vec<f64>, f64, Signs) {
        let mut outs = eval(&self.program, inputs);
        let flat = |vs: &[Value<f64>]| vs.iter().flat_map(|v| v.to_vec()).collect::<Vec<f64>>();
        let values = flat(&outs[1..1 + self.watched]);
        let (margin, signs) = self.signs_of(&outs[1 + self.watched..]);
        (outs.swap_remove(0), values, margin, signs)
    }

    /// The result and where the derivatives switch.
    fn eval(&self, inputs: &[Value<f64>]) -> (Value<f64>, Signs) {
        let mut outs = eval(&self.signs, inputs);
        let (_, signs) = self.signs_of(&outs[1..]);
        (outs.swap_remove(0), signs)
    }

    /// The margin and signs of the kink inputs and extremes `outs`.
    fn signs_of(&self, outs: &[Value<f64>]) -> (f64, Signs) {
        let (mut margin, mut nan) = (f64::INFINITY, false);
        let mut signs = Vec::new();
        for x in outs[..self.kinks].iter().flat_map(|v| v.to_vec()) {
            margin = margin.min(x.abs());
            nan |= x.is_nan();
            signs.push(x > 0.0);
        }
        for below in &outs[self.kinks..] {
            let below = below.to_vec();
            // Ones: a side of a branch not taken.
            let taken = below.iter().all(|&x| x <= 0.0);
            let at = below.iter().position(|&x| x == 0.0).filter(|_| taken);
            if let Some(at) = at {
                for (j, &x) in below.iter().enumerate() {
                    if j != at {
                        margin = margin.min(-x);
                    }
                }
            }
            nan |= below.iter().any(|x| x.is_nan());
            signs.extend((0..below.len()).map(|j| Some(j) == at));
        }
        (if nan { f64::NAN } else { margin }, signs)
    }
}

/// A stencil point moved a value across a kink (a `relu` input, `a − b` of a `maximum`, ...):
/// the case is rejected.
fn crossed() -> TestCaseError {
    TestCaseError::reject("a stencil point crosses a kink")
}

/// Everything a property needs at one point.
struct Point {
    built: Built,
    probe: Probe,
    inputs: Vec<Value<f64>>,
    value: Value<f64>,
    signs: Signs,
    rng: Rng,
}

/// Draws inputs in U(−1, 1) until every intermediate value (of every iteration of a loop, of the
/// side a branch takes) is finite and at most [`MAGNITUDE`], and every kink input (a branch's
/// `a − b` among them) is [`KINK_MARGIN`] clear; rejects the case if 20 draws fail. Fails if the
/// program's value is not that of its unrolled form, the probe.
fn point(case: &Case) -> Result<Point, TestCaseError> {
    let built = case.build();
    let probe = Probe::new(&built);
    let mut rng = Rng(case.seed);
    for _ in 0..20 {
        let inputs: Vec<Value<f64>> = built
            .kinds
            .iter()
            .zip(&built.shapes)
            .map(|(&k, &s)| rng.value(k, s))
            .collect();
        let (value, values, margin, signs) = probe.all(&inputs);
        let bounded = values.iter().all(|x| x.is_finite() && x.abs() <= MAGNITUDE);
        // (A NaN margin is not clear.)
        let clear = margin >= KINK_MARGIN;
        if bounded && clear {
            let primal = eval(&built.program, &inputs).remove(0);
            if primal != value {
                return Err(fail(format!(
                    "the program's value {:?} is not its unrolled form's {:?}",
                    primal.to_vec(),
                    value.to_vec()
                )));
            }
            return Ok(Point {
                built,
                probe,
                inputs,
                value,
                signs,
                rng,
            });
        }
    }
    Err(TestCaseError::reject(
        "no inputs with bounded intermediate values clear of the kinks",
    ))
}

// ═════════════════════════════════════════════════════════════════════════════════════════════
// Finite differences
// ═════════════════════════════════════════════════════════════════════════════════════════════

/// Compares a derivative against the stencils of [`common::fd::fd_check`] at up to
/// [`FD_REFINEMENTS`] steps, to [`TOL_FD`]. When no step agrees, the case fails only if the
/// reference itself is trustworthy ([`FdCheck::references_converge`]); otherwise the stencils
/// are rounding noise and the case is rejected as undecidable.
fn fd_check(
    got: &[f64],
    floor: f64,
    fd: impl FnMut(f64) -> Result<Vec<f64>, TestCaseError>,
) -> Result<FdCheck, TestCaseError> {
    let check = common::fd::fd_check(got, floor, TOL_FD, FD_REFINEMENTS, fd)?;
    if check.agrees() || check.references_converge() {
        Ok(check)
    } else {
        Err(TestCaseError::reject(
            "the finite differences do not converge (rounding noise)",
        ))
    }
}

/// Worst errors seen, for the report printed with `--nocapture`.
#[derive(Default)]
struct Stats {
    worst: Cell<f64>,
    worst_exact: Cell<f64>,
    checked: Cell<usize>,
    /// Cases without a scalar or vector parameter (no batched form to check).
    skipped: Cell<usize>,
    /// Cases where `derive_jacobian`/`derive_hessian` returned `None`.
    unbatched: Cell<usize>,
    rejected: Cell<usize>,
    /// Checks that needed a step smaller than `FD_STEP`.
    refined: Cell<usize>,
}

impl Stats {
    /// Records the error at the first step (the accepted one may be at a smaller step).
    fn fd(&self, check: &FdCheck) {
        self.worst.set(self.worst.get().max(check.steps[0].2));
        if check.steps.len() > 1 {
            self.refined.set(self.refined.get() + 1);
        }
    }
    fn exact(&self, e: f64) {
        self.worst_exact.set(self.worst_exact.get().max(e));
    }
}

fn fail(msg: impl Into<String>) -> TestCaseError {
    TestCaseError::fail(msg.into())
}

/// Fails the case unless `cond` holds (so `error <= TOL` fails on NaN).
macro_rules! check {
    ($cond:expr, $($fmt:tt)*) => {
        let holds: bool = $cond;
        if !holds {
            return Err(fail(format!($($fmt)*)));
        }
    };
}

/// Runs `test` on `n` cases of `strategy` (or `PROPTEST_CASES`), panicking with the shrunk case
/// on failure; returns the statistics.
fn run(
    name: &str,
    n: u32,
    strategy: impl Strategy<Value = Case>,
    test: impl Fn(&Case, &Stats) -> Result<(), TestCaseError>,
) -> Stats {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(n);
    let config = Config {
        cases,
        // Regression files would be written next to this file; the failure message carries
        // everything needed to reproduce a case instead.
        failure_persistence: None,
        max_global_rejects: cases * 2,
        // Cases take milliseconds: let shrinking go on until the program is minimal.
        max_shrink_iters: 50_000,
        ..Config::default()
    };
    let stats = Stats::default();
    let mut runner = TestRunner::new(config);
    let result = runner.run(&strategy, |case| {
        let r = test(&case, &stats);
        if let Err(TestCaseError::Reject(_)) = &r {
            stats.rejected.set(stats.rejected.get() + 1);
        }
        r
    });
    if let Err(e) = result {
        panic!("{name}: {e}");
    }
    eprintln!(
        "{name}: {cases} cases, {} checked, {} without a scalar or vector parameter, {} without \
         a batched form, {} rejected; worst FD error at h = \
         {FD_STEP:.0e}: {:.2e} ({} checks needed a smaller step); worst exact error {:.2e}",
        stats.checked.get(),
        stats.skipped.get(),
        stats.unbatched.get(),
        stats.rejected.get(),
        stats.worst.get(),
        stats.refined.get(),
        stats.worst_exact.get()
    );
    stats
}

// ═════════════════════════════════════════════════════════════════════════════════════════════
// 1. Reverse mode
// ═════════════════════════════════════════════════════════════════════════════════════════════

fn check_reverse(case: &Case, stats: &Stats) -> Result<(), TestCaseError> {
    let mut pt = point(case)?;
    let primal = &pt.built.program;
    let wrt = case.wrt(&pt.built, |_| true);
    let upstream = pt.rng.like(&pt.value);
    let products =
        derive_reverse(primal, &wrt).map_err(|e| fail(format!("derive_reverse: {e}")))?;
    // Every value of the derived program prints under a name of its own, also where the
    // program's own names look like derived ones (see `Builder::let_name`).
    let names = products.vjp.program.value_names();
    let distinct: std::collections::HashSet<&String> = names.iter().collect();
    check!(
        distinct.len() == names.len(),
        "two values of the vjp program share a name: {names:?}"
    );
    let mut rev_inputs = pt.inputs.clone();
    rev_inputs.push(upstream.clone());
    let outs = eval(&products.vjp.program, &rev_inputs);
    check!(
        outs.len() == 1 + wrt.len(),
        "the vjp program has {} outputs for {} wrt",
        outs.len(),
        wrt.len()
    );
    check!(
        outs[0] == pt.value,
        "the vjp program's value is not the primal's"
    );
    // The size of ⟨u, f⟩ sets the rounding noise of the stencil (see FD_FLOOR).
    let size = upstream
        .to_vec()
        .iter()
        .zip(pt.value.to_vec())
        .map(|(u, y)| (u * y).abs())
        .sum::<f64>()
        .max(1.0);
    for (k, &p) in wrt.iter().enumerate() {
        let got = outs[1 + k].to_vec();
        check!(
            outs[1 + k].kind() == pt.built.kinds[p] && got.len() == pt.inputs[p].numel(),
            "the adjoint of {} has the wrong shape",
            primal.params[p].name
        );
        let fd = fd_check(&got, FD_FLOOR * size, |h| {
            stencil_gradient(h, &pt.inputs, p, |moved| {
                let (y, signs) = pt.probe.eval(moved);
                if signs != pt.signs {
                    return Err(crossed());
                }
                Ok(inner(&upstream, &y))
            })
        })?;
        stats.fd(&fd);
        check!(
            fd.error <= TOL_FD,
            "d{}: relative error {:.2e} > {TOL_FD:.0e} (by step: {})\n  reverse:            \
             {got:?}\n  finite differences: {:?}",
            primal.params[p].name,
            fd.error,
            fd.table(),
            fd.reference
        );
    }
    // The gradient program is the vjp at upstream 1.
    if let Some(grad) = &products.grad {
        let mut ones = pt.inputs.clone();
        ones.push(Value::Scalar(1.0));
        let at_one = eval(&products.vjp.program, &ones);
        let g = eval(grad, &pt.inputs);
        for k in 0..wrt.len() {
            let e = rel_error(&g[1 + k].to_vec(), &at_one[1 + k].to_vec(), 1.0);
            stats.exact(e);
            check!(
                e <= TOL_EXACT,
                "the gradient program differs from the vjp at upstream 1 by {e:.2e}"
            );
        }
    }
    stats.checked.set(stats.checked.get() + 1);
    Ok(())
}

#[test]
fn reverse_mode_matches_finite_differences() {
    run("reverse", CASES_REVERSE, cases(ANY_ROOT), check_reverse);
}

// ═════════════════════════════════════════════════════════════════════════════════════════════
// 2. Forward mode
// ═════════════════════════════════════════════════════════════════════════════════════════════

fn check_forward(case: &Case, stats: &Stats) -> Result<(), TestCaseError> {
    let mut pt = point(case)?;
    let primal = &pt.built.program;
    let wrt = case.wrt(&pt.built, |_| true);
    let dirs: Vec<Value<f64>> = wrt
        .iter()
        .map(|&p| pt.rng.value(pt.built.kinds[p], pt.built.shapes[p]))
        .collect();
    let products =
        derive_forward(primal, &wrt).map_err(|e| fail(format!("derive_forward: {e}")))?;
    let fwd_inputs: Vec<Value<f64>> = pt.inputs.iter().chain(&dirs).cloned().collect();
    let outs = eval(&products.jvp.program, &fwd_inputs);
    check!(
        outs.len() == 2,
        "the jvp program has {} outputs",
        outs.len()
    );
    check!(
        outs[0] == pt.value,
        "the jvp program's value is not the primal's"
    );
    check!(
        outs[1].kind() == pt.value.kind() && outs[1].numel() == pt.value.numel(),
        "the tangent's shape is not the result's"
    );
    let jv = outs[1].to_vec();
    let size = sup(&pt.value.to_vec()).max(1.0);
    let fd = fd_check(&jv, FD_FLOOR * size, |h| {
        stencil(h, |t| {
            let (y, signs) = pt.probe.eval(&along(&pt.inputs, &wrt, &dirs, t));
            if signs != pt.signs {
                return Err(crossed());
            }
            Ok(y.to_vec())
        })
    })?;
    stats.fd(&fd);
    check!(
        fd.error <= TOL_FD,
        "J·v: relative error {:.2e} > {TOL_FD:.0e} (by step: {})\n  forward:            \
         {jv:?}\n  finite differences: {:?}",
        fd.error,
        fd.table(),
        fd.reference
    );

    // The dot-product test against reverse mode.
    let upstream = pt.rng.like(&pt.value);
    let rev = derive_reverse(primal, &wrt).map_err(|e| fail(format!("derive_reverse: {e}")))?;
    let mut rev_inputs = pt.inputs.clone();
    rev_inputs.push(upstream.clone());
    let adjoints = eval(&rev.vjp.program, &rev_inputs);
    let u = upstream.to_vec();
    let lhs: f64 = jv.iter().zip(&u).map(|(a, b)| a * b).sum();
    let lhs_size: f64 = jv.iter().zip(&u).map(|(a, b)| (a * b).abs()).sum();
    let (mut rhs, mut rhs_size) = (0.0, 0.0);
    for (v, g) in dirs.iter().zip(&adjoints[1..]) {
        for (a, b) in v.to_vec().iter().zip(g.to_vec()) {
            rhs += a * b;
            rhs_size += (a * b).abs();
        }
    }
    let err = (lhs - rhs).abs() / f64::max(lhs_size.max(rhs_size), 1.0);
    stats.exact(err);
    check!(
        err <= TOL_EXACT,
        "dot-product test: ⟨J·v, u⟩ = {lhs:e}, ⟨v, Jᵀ·u⟩ = {rhs:e}, relative error {err:.2e} > \
         {TOL_EXACT:.0e}"
    );
    stats.checked.set(stats.checked.get() + 1);
    Ok(())
}

#[test]
fn forward_mode_matches_finite_differences_and_reverse_mode() {
    run("forward", CASES_FORWARD, cases(ANY_ROOT), check_forward);
}

// ═════════════════════════════════════════════════════════════════════════════════════════════
// 3. Jacobians
// ═════════════════════════════════════════════════════════════════════════════════════════════

/// Checks a numel(R)×numel(p) matrix output, row-major.
fn as_block(v: &Value<f64>, rows: usize, cols: usize) -> Result<Vec<f64>, TestCaseError> {
    let ok = match v {
        Value::Matrix(m) => m.rows() == rows && m.cols() == cols,
        _ => v.numel() == rows * cols && (rows == 1 || cols == 1),
    };
    check!(
        ok,
        "a block is {:?} with {} elements, expected {rows}×{cols}",
        v.kind(),
        v.numel()
    );
    Ok(v.to_vec())
}

fn check_jacobian(case: &Case, stats: &Stats) -> Result<(), TestCaseError> {
    let pt = point(case)?;
    let primal = &pt.built.program;
    // Batched forms exist only for scalar and vector seeds.
    let wrt = case.wrt(&pt.built, |k| k != Kind::Matrix);
    if wrt.is_empty() {
        stats.skipped.set(stats.skipped.get() + 1);
        return Ok(());
    }
    let programs =
        derive_jacobian(primal, &wrt).map_err(|e| fail(format!("derive_jacobian: {e}")))?;
    let Some(programs) = programs else {
        stats.unbatched.set(stats.unbatched.get() + 1);
        return Ok(());
    };
    check!(
        programs.len() == wrt.len(),
        "{} Jacobian programs for {} wrt",
        programs.len(),
        wrt.len()
    );
    let m = pt.value.numel();
    for (k, &p) in wrt.iter().enumerate() {
        let outs = eval(&programs[k], &pt.inputs);
        check!(
            outs.len() == 1,
            "a Jacobian program has {} outputs",
            outs.len()
        );
        let n = pt.inputs[p].numel();
        let jac = as_block(&outs[0], m, n)?;
        let fwd = derive_forward(primal, &[p]).map_err(|e| fail(format!("derive_forward: {e}")))?;
        let mut by_columns = vec![0.0; m * n];
        for j in 0..n {
            let mut inputs = pt.inputs.clone();
            inputs.push(unit(&pt.inputs[p], j));
            let column = eval(&fwd.jvp.program, &inputs).remove(1).to_vec();
            for (i, x) in column.into_iter().enumerate() {
                by_columns[i * n + j] = x;
            }
        }
        let err = rel_error(&jac, &by_columns, 1.0);
        stats.exact(err);
        check!(
            err <= TOL_EXACT,
            "∂f/∂{}: the batched Jacobian differs from forward mode by {err:.2e}\n  batched:    \
             {jac:?}\n  by columns: {by_columns:?}",
            primal.params[p].name
        );
    }
    stats.checked.set(stats.checked.get() + 1);
    Ok(())
}

#[test]
fn jacobian_equals_forward_mode_column_by_column() {
    let stats = run(
        "jacobian",
        CASES_JACOBIAN,
        cases(VECTOR_OR_SCALAR_ROOT),
        check_jacobian,
    );
    // Not vacuous: about half the programs have a batched Jacobian (measured 56% over 30,000).
    assert!(
        stats.checked.get() * 4 >= stats.unbatched.get() + stats.skipped.get(),
        "only {} of {} cases had a batched Jacobian",
        stats.checked.get(),
        stats.checked.get() + stats.unbatched.get() + stats.skipped.get()
    );
}

// ═════════════════════════════════════════════════════════════════════════════════════════════
// 4. Hessians
// ═════════════════════════════════════════════════════════════════════════════════════════════

fn check_hessian(case: &Case, stats: &Stats) -> Result<(), TestCaseError> {
    let mut pt = point(case)?;
    let primal = &pt.built.program;
    let wrt = case.wrt(&pt.built, |_| true);
    let dirs: Vec<Value<f64>> = wrt
        .iter()
        .map(|&p| pt.rng.value(pt.built.kinds[p], pt.built.shapes[p]))
        .collect();
    let hvp = derive_hvp(primal, &wrt).map_err(|e| fail(format!("derive_hvp: {e}")))?;
    let grad = derive_reverse(primal, &wrt)
        .map_err(|e| fail(format!("derive_reverse: {e}")))?
        .grad
        .ok_or_else(|| fail("no gradient program for a scalar result"))?;
    let k = wrt.len();
    let hvp_inputs: Vec<Value<f64>> = pt.inputs.iter().chain(&dirs).cloned().collect();
    let outs = eval(&hvp.program, &hvp_inputs);
    check!(
        outs.len() == 1 + 2 * k,
        "the hvp program has {} outputs for {k} wrt",
        outs.len()
    );
    check!(
        outs[0] == pt.value,
        "the hvp program's value is not the primal's"
    );
    let hv: Vec<f64> = outs[1 + k..].iter().flat_map(|v| v.to_vec()).collect();
    let g0: Vec<f64> = eval(&grad, &pt.inputs)[1..]
        .iter()
        .flat_map(|v| v.to_vec())
        .collect();
    // The differenced function is the gradient: its size sets the stencil's noise. The
    // program's own rounding is set by its largest intermediate value: second derivatives
    // multiply first-order factors (bounded by MAGNITUDE only in the primal), and where they
    // cancel (tanh'' near saturation) the result is rounding noise of that size. A wrong rule
    // is off by O(1) of the terms it combines, far above this floor.
    let program_noise = largest_intermediate(&hvp.program, &hvp_inputs);
    let size = sup(&g0).max(1.0).max(1e-2 * program_noise);
    let fd = fd_check(&hv, FD_FLOOR * size, |h| {
        stencil(h, |t| {
            let moved = along(&pt.inputs, &wrt, &dirs, t);
            if pt.probe.eval(&moved).1 != pt.signs {
                return Err(crossed());
            }
            Ok(eval(&grad, &moved)[1..]
                .iter()
                .flat_map(|v| v.to_vec())
                .collect())
        })
    })?;
    stats.fd(&fd);
    check!(
        fd.error <= TOL_FD,
        "H·v: relative error {:.2e} > {TOL_FD:.0e} (by step: {})\n  hvp:                \
         {hv:?}\n  finite differences: {:?}",
        fd.error,
        fd.table(),
        fd.reference
    );

    // The dense Hessian over the scalar and vector parameters.
    let wrt = case.wrt(&pt.built, |k| k != Kind::Matrix);
    if wrt.is_empty() {
        stats.checked.set(stats.checked.get() + 1);
        return Ok(());
    }
    let groups = derive_hessian(primal, &wrt).map_err(|e| fail(format!("derive_hessian: {e}")))?;
    if groups.iter().any(|g| g.batched.is_none()) {
        stats.unbatched.set(stats.unbatched.get() + 1);
        return Ok(());
    }
    let numel: Vec<usize> = wrt.iter().map(|&p| pt.inputs[p].numel()).collect();
    // blocks[q][p] = ∂²f/∂p∂q, numel(p) × numel(q), cut out of the groups' blocks (a group's
    // block has the columns of its directions side by side; a missing block is zero).
    let mut blocks = vec![vec![Vec::new(); wrt.len()]; wrt.len()];
    let mut covered = vec![false; wrt.len()];
    for group in &groups {
        let batched = group.batched.as_ref().expect("checked above");
        let outs = eval(&batched.program, &pt.inputs);
        let width: usize = group.directions.iter().map(|&d| numel[d]).sum();
        for (pk, output) in batched.blocks.iter().enumerate() {
            let block = match output {
                Some(o) => as_block(&outs[*o], numel[pk], width)?,
                None => vec![0.0; numel[pk] * width],
            };
            let mut first = 0;
            for &qk in &group.directions {
                blocks[qk][pk] = (0..numel[pk] * numel[qk])
                    .map(|idx| block[(idx / numel[qk]) * width + first + idx % numel[qk]])
                    .collect();
                first += numel[qk];
            }
        }
        for &qk in &group.directions {
            check!(!covered[qk], "direction {qk} is in two groups");
            covered[qk] = true;
        }
    }
    check!(
        covered.iter().all(|&c| c),
        "the Hessian groups miss a direction: {:?}",
        groups.iter().map(|g| &g.directions).collect::<Vec<_>>()
    );
    let hvp = derive_hvp(primal, &wrt).map_err(|e| fail(format!("derive_hvp: {e}")))?;
    let kk = wrt.len();
    let mut worst = 0.0f64;
    for (qk, &q) in wrt.iter().enumerate() {
        for j in 0..numel[qk] {
            let mut inputs = pt.inputs.clone();
            for (rk, &r) in wrt.iter().enumerate() {
                inputs.push(if rk == qk {
                    unit(&pt.inputs[q], j)
                } else {
                    pt.inputs[r].map(|_| 0.0)
                });
            }
            let outs = eval(&hvp.program, &inputs);
            for pk in 0..kk {
                let column = outs[1 + kk + pk].to_vec();
                let from_block: Vec<f64> = (0..numel[pk])
                    .map(|i| blocks[qk][pk][i * numel[qk] + j])
                    .collect();
                let e = rel_error(&from_block, &column, 1.0);
                worst = worst.max(e);
                check!(
                    e <= TOL_SECOND,
                    "∂²f/∂{}∂{}: column {j} differs from the HVP by {e:.2e}\n  hessian: \
                     {from_block:?}\n  hvp:     {column:?}",
                    primal.params[wrt[pk]].name,
                    primal.params[q].name
                );
            }
        }
    }
    // Symmetry: ∂²f/∂p∂q = (∂²f/∂q∂p)ᵀ.
    for qk in 0..kk {
        for pk in 0..kk {
            let a = &blocks[qk][pk];
            let b = &blocks[pk][qk];
            let bt: Vec<f64> = (0..numel[pk] * numel[qk])
                .map(|idx| {
                    let (i, j) = (idx / numel[qk], idx % numel[qk]);
                    b[j * numel[pk] + i]
                })
                .collect();
            let e = rel_error(a, &bt, 1.0);
            worst = worst.max(e);
            check!(
                e <= TOL_SECOND,
                "the Hessian is not symmetric: block ({}, {}) vs the transpose of ({}, {}): \
                 {e:.2e}\n  {a:?}\n  {bt:?}",
                primal.params[wrt[pk]].name,
                primal.params[wrt[qk]].name,
                primal.params[wrt[qk]].name,
                primal.params[wrt[pk]].name
            );
        }
    }
    stats.exact(worst);
    stats.checked.set(stats.checked.get() + 1);
    Ok(())
}

#[test]
fn hessian_vector_products_and_hessians_match() {
    let stats = run("hessian", CASES_HESSIAN, cases(SCALAR_ROOT), check_hessian);
    // Not vacuous: about half the programs have a batched Hessian (measured 46% over 30,000).
    assert!(
        stats.checked.get() * 4 >= stats.unbatched.get(),
        "only {} of {} cases had a batched Hessian",
        stats.checked.get(),
        stats.checked.get() + stats.unbatched.get()
    );
}

// ═════════════════════════════════════════════════════════════════════════════════════════════
// 5. The simplifier
// ═════════════════════════════════════════════════════════════════════════════════════════════

/// `simplify(p)` computes `p`'s outputs: the first `exact` bit for bit, the others to
/// [`TOL_EXACT`]; keeps the signature; and is a fixed point of itself.
fn check_simplified(
    label: &str,
    p: &Program,
    inputs: &[Value<f64>],
    exact: usize,
    stats: &Stats,
) -> Result<(), TestCaseError> {
    let s = simplify(p);
    check!(
        s.params == p.params,
        "{label}: simplify changed the parameters"
    );
    check!(
        s.outputs.len() == p.outputs.len(),
        "{label}: simplify changed the number of outputs"
    );
    let before = eval(p, inputs);
    let after = eval(&s, inputs);
    for (i, (b, a)) in before.iter().zip(&after).enumerate() {
        check!(
            a.kind() == b.kind() && a.numel() == b.numel(),
            "{label}: output {i} changed shape"
        );
        if i < exact {
            check!(
                a == b,
                "{label}: output {i} is not bit for bit the original's\n  before: {:?}\n  \
                 after:  {:?}",
                b.to_vec(),
                a.to_vec()
            );
        } else {
            let e = rel_error(&a.to_vec(), &b.to_vec(), 1.0);
            stats.exact(e);
            check!(
                e <= TOL_EXACT,
                "{label}: output {i} changed by {e:.2e}\n  before: {:?}\n  after:  {:?}",
                b.to_vec(),
                a.to_vec()
            );
        }
    }
    check!(
        simplify(&s) == s,
        "{label}: simplify is not idempotent\n  once:\n{}",
        print::print_lines(&s, Role::Primal, &[])
    );
    Ok(())
}

fn check_simplify(case: &Case, stats: &Stats) -> Result<(), TestCaseError> {
    let mut pt = point(case)?;
    let primal = &pt.built.program;
    let wrt = case.wrt(&pt.built, |_| true);
    check_simplified("primal", primal, &pt.inputs, 1, stats)?;

    let upstream = pt.rng.like(&pt.value);
    let rev = reverse(primal, &wrt, Seed::Upstream).map_err(|e| fail(format!("reverse: {e}")))?;
    let mut rev_inputs = pt.inputs.clone();
    rev_inputs.push(upstream);
    check_simplified("reverse", &rev.program, &rev_inputs, 1, stats)?;

    let dirs: Vec<Value<f64>> = wrt
        .iter()
        .map(|&p| pt.rng.value(pt.built.kinds[p], pt.built.shapes[p]))
        .collect();
    let fwd = forward(primal, &wrt).map_err(|e| fail(format!("forward: {e}")))?;
    let fwd_inputs: Vec<Value<f64>> = pt.inputs.iter().chain(&dirs).cloned().collect();
    check_simplified("forward", &fwd.program, &fwd_inputs, 1, stats)?;

    if pt.value.kind() == Kind::Scalar {
        let grad = reverse(primal, &wrt, Seed::One).map_err(|e| fail(format!("reverse: {e}")))?;
        check_simplified("gradient", &grad.program, &pt.inputs, 1, stats)?;
        // Forward over the (simplified) gradient: the unsimplified Hessian-vector product.
        let over = forward(&simplify(&grad.program), &wrt)
            .map_err(|e| fail(format!("forward over reverse: {e}")))?;
        check_simplified("forward over reverse", &over.program, &fwd_inputs, 1, stats)?;
    }
    stats.checked.set(stats.checked.get() + 1);
    Ok(())
}

#[test]
fn simplify_never_changes_a_value() {
    run("simplify", CASES_SIMPLIFY, cases(ANY_ROOT), check_simplify);
}

// ═════════════════════════════════════════════════════════════════════════════════════════════
// The generator itself
// ═════════════════════════════════════════════════════════════════════════════════════════════

fn op_name(e: &Expr) -> &'static str {
    match e {
        Expr::Param(..) => "param",
        Expr::Lit(_) => "literal",
        Expr::Var(_) => "var",
        Expr::Let(..) => "let",
        Expr::Neg(_) => "neg",
        Expr::Unary(..) => "unary",
        Expr::Powi(..) => "powi",
        Expr::Binary(..) => "binary",
        Expr::MatMul(..) => "matmul",
        Expr::MatVec(..) => "matvec",
        Expr::Transpose(_) => "transpose",
        Expr::Outer(..) => "outer",
        Expr::Dot(..) => "dot",
        Expr::Sum(_) => "sum",
        Expr::Mean(_) => "mean",
        Expr::SumAxis(..) => "sum_axis",
        Expr::Softmax(_) => "softmax",
        Expr::LogSoftmax(_) => "log_softmax",
        Expr::Extremum(..) => "extremum",
        Expr::Powf(..) => "powf",
        Expr::Clamp(..) => "clamp",
        Expr::Index(_) => "index",
        Expr::Entry(..) => "entry",
        Expr::Loop(..) => "loop",
        Expr::Loop2(..) => "loop2",
        Expr::If(..) => "if",
        Expr::IfIndex(..) => "if_index",
        _ => e.label().0,
    }
}

/// The loops (`"loop"`) and branches (`"if"`) of `e`, each with the number of loops around it.
fn control_kinds(e: &Expr, depth: usize, out: &mut Vec<(&'static str, usize)>) {
    let (kind, inner) = match e {
        Expr::Loop(..) | Expr::Loop2(..) => (Some("loop"), depth + 1),
        Expr::If(..) | Expr::IfIndex(..) => (Some("if"), depth),
        _ => (None, depth),
    };
    if let Some(k) = kind {
        out.push((k, depth));
    }
    for (k, (c, _)) in children(e).into_iter().enumerate() {
        // A loop's initial values are outside it.
        let inside =
            matches!(e, Expr::Loop(..)) && k == 1 || matches!(e, Expr::Loop2(..)) && k >= 2;
        control_kinds(c, if inside { inner } else { depth }, out);
    }
}

/// The nodes of the second release's ops, by [`op_name`].
const SECOND_RELEASE: &[&str] = &[
    "pick",
    "row",
    "col",
    "part",
    "part_cols",
    "concat_window",
    "vstack_window",
    "hstack_window",
    "pack_window",
    "gather",
    "mean_axis",
    "max",
    "min",
    "trace",
    "det",
    "logdet",
    "inverse",
    "solve",
    "norm",
    "diag",
    "diagonal",
];

/// Every op of the language appears, trees reach depth 8, and `let`-bound values are used
/// more than once: counted over 300 generated trees.
#[test]
fn the_generator_covers_the_op_set() {
    fn visit(
        e: &Expr,
        depth: u32,
        seen: &mut Vec<String>,
        max_depth: &mut u32,
        vars: &mut [usize; 16],
    ) {
        *max_depth = (*max_depth).max(depth);
        let mut note = |s: String| {
            if !seen.contains(&s) {
                seen.push(s);
            }
        };
        match e {
            Expr::Var(i) => vars[(*i).min(15)] += 1,
            Expr::Unary(f, _) => note(f.method().to_string()),
            Expr::Binary(op, ..) => note(op.token().to_string()),
            Expr::Extremum(e, ..) => note(format!("{e:?}")),
            _ => note(op_name(e).to_string()),
        }
        let children: Vec<&Expr> = children(e).into_iter().map(|(c, _)| c).collect();
        for c in children {
            visit(c, depth + 1, seen, max_depth, vars);
        }
    }
    let mut runner = TestRunner::deterministic();
    let strategy = cases(ANY_ROOT);
    let mut seen = Vec::new();
    let mut max_depth = 0;
    let mut shared = 0;
    let (mut depths, mut total_nodes, mut lets) = ([0usize; 12], 0, 0);
    // Trees with a loop, with loops nested, with a branch, with a branch in a loop.
    let (mut looped, mut nested, mut branched, mut branch_in_loop) = (0, 0, 0, 0);
    // Trees with an op of the second release.
    let mut second = 0;
    for _ in 0..300 {
        let case = strategy.new_tree(&mut runner).unwrap().current();
        let mut kinds = Vec::new();
        control_kinds(&case.tree, 0, &mut kinds);
        looped += kinds.iter().any(|&(k, _)| k == "loop") as usize;
        nested += kinds.iter().any(|&(k, d)| k == "loop" && d >= 1) as usize;
        branched += kinds.iter().any(|&(k, _)| k == "if") as usize;
        branch_in_loop += kinds.iter().any(|&(k, d)| k == "if" && d >= 1) as usize;
        let mut vars = [0usize; 16];
        let mut d = 0;
        let mut ops = Vec::new();
        visit(&case.tree, 0, &mut ops, &mut d, &mut vars);
        second += usize::from(ops.iter().any(|op| SECOND_RELEASE.contains(&op.as_str())));
        for op in ops {
            if !seen.contains(&op) {
                seen.push(op);
            }
        }
        if broadcasts_a_vector(&case.tree) && !seen.iter().any(|s| s == "broadcast a vector") {
            seen.push("broadcast a vector".to_string());
        }
        max_depth = max_depth.max(d);
        depths[d as usize] += 1;
        let dbg = format!("{:?}", case.tree);
        total_nodes += dbg.matches('(').count();
        lets += dbg.matches("let").count();
        if vars.iter().any(|&n| n >= 2) {
            shared += 1;
        }
        // Every tree converts to a well-kinded program.
        let _ = case.build();
    }
    seen.sort();
    for op in [
        "+",
        "-",
        "*",
        "/",
        "exp",
        "ln",
        "sqrt",
        "tanh",
        "sigmoid",
        "relu",
        "abs",
        "sin",
        "cos",
        "Maximum",
        "Minimum",
        "Max",
        "Min",
        "powf",
        "clamp",
        "powi",
        "neg",
        "matmul",
        "matvec",
        "transpose",
        "outer",
        "dot",
        "sum",
        "mean",
        "sum_axis",
        "softmax",
        "log_softmax",
        "let",
        "loop",
        "loop2",
        "if",
        "if_index",
        "index",
        "entry",
        "broadcast a vector",
    ]
    .iter()
    .chain(SECOND_RELEASE)
    {
        assert!(
            seen.iter().any(|s| s == *op),
            "{op} never generated; seen {seen:?}"
        );
    }
    eprintln!("max depth {max_depth}, shared {shared}, nodes {total_nodes}, lets {lets}, depth hist {depths:?}");
    eprintln!(
        "of 300 trees: {looped} with a loop, {nested} with nested loops, {branched} with a \
         branch, {branch_in_loop} with a branch in a loop, {second} with an op of the second \
         release"
    );
    assert!(
        second >= 150,
        "only {second} of 300 trees have an op of the second release"
    );
    assert_eq!(max_depth, MAX_DEPTH);
    // A good share of the programs have loops and branches, some nested.
    assert!(
        looped >= 75 && branched >= 90,
        "{looped} loops, {branched} branches"
    );
    assert!(
        nested >= 10 && branch_in_loop >= 15,
        "{nested} nested, {branch_in_loop} in loops"
    );
    assert!(
        shared >= 30,
        "only {shared} of 300 trees use a let-bound value twice"
    );
}
