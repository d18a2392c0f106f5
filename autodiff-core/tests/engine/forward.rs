//! Section 7, forward mode: the tangent program against finite differences and reverse mode, on
//! the table rows, the random programs and the derived programs; then the structure of forward
//! programs and malformed requests.

use std::convert::Infallible;
use std::panic::{catch_unwind, AssertUnwindSafe};

use autodiff_core::symbolic::rules::arith::{BinOp, Binary, ParamRef};
use autodiff_core::symbolic::rules::elementwise::{Powi, PowiGrad, Unary, UnaryFn, UnaryGrad};
use autodiff_core::symbolic::rules::linalg::MatMul;
use autodiff_core::symbolic::rules::reduce::{BroadcastTo, Expand, Fill, Numel, Sum, SumTo};
use autodiff_core::symbolic::rules::softmax::{
    LogSoftmax, LogSoftmaxGrad, LogSoftmaxJvp, Softmax, SoftmaxGrad,
};
use autodiff_core::symbolic::simplify::eliminate_dead_code;
use autodiff_core::symbolic::{
    derive_forward, eval, forward, print, reverse, simplify, Forward, Inst, Kind, Op, Program,
    Role, Seed, Value, ValueId,
};
use autodiff_core::{Matrix, Vector};

use crate::common::fd::{along, fd_check, fd_steps, rel_error, stencil};
use crate::common::rng::Rng;
use crate::simplify::compare_simplified;
use crate::support::{
    convert, count, exceeds, is_matmul, is_transpose, kink_inputs, named, param_value, position,
    push, random_value, run_table, shape_of, starts_lowercase, to_f64, Case, Domain, Shape,
    FD_REFINEMENTS, SCALE_FLOOR_F32, SCALE_FLOOR_F64, TOL_F32, TOL_F64,
};
use crate::tables::{
    binary_cases, composite_cases, elementwise_cases, linalg_cases, mlp_program, random_cases,
    reduction_cases, RANDOM_PROGRAMS,
};

/// The dot-product test `⟨J·v, u⟩ = ⟨v, Jᵀ·u⟩` in f64, relative to the size of the terms summed
/// on either side (`Σ|J·v|⊙|u|`, `Σ|v|⊙|Jᵀ·u|`), floored at 1. Both sides are exact up to
/// rounding: the two programs evaluate the same partial derivatives in another order. Measured:
/// ≤ 3e-16 on the tables and ≤ 3.8e-16 on the random programs, so 1e-12 leaves a margin of
/// 2500; a wrong rule is off by O(1). The floor is for results whose directional derivative is zero (the shift
/// invariance of softmax, outputs that do not depend on the chosen wrt): directions and upstream
/// gradients are O(1), so both sides are rounding noise of O(1) terms, measured ≤ 2.2e-16 in
/// absolute value, and a relative error of noise against noise means nothing.
const TOL_DOT: f64 = 1e-12;

/// The directional derivative of `p` at `inputs` along `tangents` (one per wrt parameter), by
/// the central five-point stencil of step `h`, for every output element at once.
fn fd_directional(
    p: &Program,
    inputs: &[Value<f64>],
    wrt: &[usize],
    tangents: &[Value<f64>],
    h: f64,
) -> Vec<f64> {
    let Ok(derivative) = stencil(h, |t| {
        Ok::<_, Infallible>(eval(p, &along(inputs, wrt, tangents, t)).remove(0).to_vec())
    });
    derivative
}

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
            || fd_steps(FD_REFINEMENTS)
                .flat_map(|h| [-2.0 * h, -h, h, 2.0 * h])
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
/// The exceptions: the zero tangent of a result that depends on no wrt parameter (`0` filled to
/// its shape), which such a result must have; and a factor of primal values alone that a rule
/// needs (`p·x^(p−1)` for `powf`), appended in the primal role, which must not read a tangent.
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
    // Whether each value depends on a tangent parameter.
    let mut tangent_dependent = vec![false; p.insts.len()];
    for (i, inst) in p.insts.iter().enumerate() {
        tangent_dependent[i] = match inst.op {
            Op::Param(ParamRef(q)) => q >= n,
            _ => inst.args.iter().any(|a| tangent_dependent[a.index()]),
        };
    }
    for (i, inst) in p.insts.iter().enumerate().skip(primal.insts.len()) {
        let v = ValueId(i as u32);
        if inst.role == Role::Primal {
            if tangent_dependent[i] {
                errors.push(format!(
                    "appended primal factor `{}` reads a tangent",
                    names[i]
                ));
            }
            continue;
        }
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
    let reference = |h| {
        Ok::<_, Infallible>(fd_directional(
            &case.program,
            &inputs,
            &case.wrt,
            &tangents,
            h,
        ))
    };
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
        // See `FD_REFINEMENTS`: a row fails only if it disagrees with every stencil.
        let Ok(fd) = fd_check(&got, floor * size, tol, FD_REFINEMENTS, reference);
        if exceeds(fd.error, tol) {
            errors.push(format!(
                "J·v ({precision}): relative error {:.2e} > {tol:.0e} (by step: {})\n    \
                 forward:            {got:?}\n    finite differences: {:?}",
                fd.error,
                fd.table(),
                fd.reference
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
        let upstream = rng.like(&value);
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
    run_table(random_cases(), check_forward);
}

#[test]
fn directional_finite_differences_are_accurate_on_a_known_derivative() {
    // d/dt (x + t·v)³ at t = 0 is 3x²⊙v, in closed form: validates the reference itself.
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
    for h in fd_steps(FD_REFINEMENTS) {
        let fd = fd_directional(
            &case.program,
            std::slice::from_ref(&x),
            &[0],
            std::slice::from_ref(&v),
            h,
        );
        assert!(
            rel_error(&fd, &exact, SCALE_FLOOR_F64) < 1e-10,
            "{fd:?} vs {exact:?}"
        );
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
    let mut cases = Vec::new();
    for case in sources
        .iter()
        .chain(&random_cases()[..RANDOM_PROGRAMS as usize / 4])
    {
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

/// The GEMMs of `prog` in `role`, with their flags and operands.
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
fn derive_forward_gives_each_of_two_outputs_its_tangent() {
    // A tuple result: the values, then one tangent per result, each named as its upstream
    // gradient is in reverse mode.
    let mut p = Program::new();
    let x = p.param("x", Kind::Vector);
    let t = named(&mut p, "t", Unary(UnaryFn::Tanh), &[x]);
    p.outputs = vec![t, x];
    let products = no_panic("derive_forward", || derive_forward(&p, &[0])).unwrap();
    assert_eq!(products.jvp.program.outputs.len(), 4);
    assert!(
        products.derivation.contains("dt = "),
        "{}",
        products.derivation
    );
    // The second result is the parameter itself: its tangent is the direction.
    let program = &products.jvp.program;
    let direction = program.outputs[3];
    assert!(
        matches!(program.inst(direction).op, Op::Param(_)),
        "{program:#?}"
    );
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
