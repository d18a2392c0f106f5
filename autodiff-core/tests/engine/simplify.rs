//! Section 2: the simplifier never changes a value (returned values bit for bit, derived values
//! to 1e-12), adds no tensor work and is idempotent; each rewrite fires, and does not fire where
//! it would be wrong.

use autodiff_core::symbolic::rules::arith::{BinOp, Binary, Literal, Neg};
use autodiff_core::symbolic::rules::elementwise::{Unary, UnaryFn};
use autodiff_core::symbolic::rules::linalg::{Dot, MatMul, Outer, Transpose};
use autodiff_core::symbolic::rules::reduce::{Fill, Sum};
use autodiff_core::symbolic::rules::structure::AsColumn;
use autodiff_core::symbolic::{
    derive_reverse, eval, reverse, simplify, stable_spellings, Kind, Op, Precision, Program, Role,
    Seed, Value, ValueId,
};
use autodiff_core::{Matrix, Vector};

use crate::common::fd::rel_error;
use crate::common::rng::Rng;
use crate::support::{
    bin, convert, count, exceeds, is_matmul, is_transpose, lit, mat, output_inst, param_value,
    push, run_table, shape_of, un, Case, SCALE_FLOOR_F64, TOL_SIMPLIFY,
};
use crate::tables::{
    binary_cases, composite_cases, elementwise_cases, linalg_cases, random_cases, reduction_cases,
};

/// `simplify(p)` computes the same outputs as `p`, keeps the signature, adds no tensor work,
/// and is a fixed point of `simplify`.
///
/// The first `exact` outputs are values the function returns: the simplifier computes them as
/// the original does (only derived values may be reassociated), so they must agree bit for bit.
pub(crate) fn compare_simplified(
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
        let err = rel_error(&a.to_vec(), &b.to_vec(), SCALE_FLOOR_F64);
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
    let upstream = rng.like(&value);
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
    run_table(random_cases(), check_simplify);
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
        let err = rel_error(&a.to_vec(), &b.to_vec(), SCALE_FLOOR_F64);
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

/// `X·tr(X)`: the pullback of `tr(X)` (`⟨dY, X⟩·I`, an `OnDiagonal` shaped like X) meets the
/// other adjoint of X, and `M + c·I` becomes an in-place add to M's diagonal. Its `I` is X's
/// own n×n shape (not the n²×n² identity that seeds n² directions), and the rewritten program
/// is differentiated again for Hessians: dX = tr(X)·dY + ⟨dY, X⟩·I, by hand.
#[test]
fn trace_pullback_added_to_another_adjoint_is_an_add_to_the_diagonal() {
    use autodiff_core::symbolic::forward;
    use autodiff_core::symbolic::rules::linear_algebra::Trace;
    let mut p = Program::new();
    let x = p.param("x", Kind::Matrix);
    let t = push(&mut p, Trace, &[x]);
    let y = push(&mut p, Binary(BinOp::Mul), &[x, t]);
    p.outputs = vec![y];
    let rev = simplify(&reverse(&p, &[0], Seed::Upstream).expect("derives").program);
    assert_eq!(
        count(&rev, |op| matches!(op, Op::AddToDiagonal(_))),
        1,
        "{rev:#?}"
    );
    let xs = [0.5, -0.3, 0.2, 0.9];
    let dys = [1.0, -2.0, 0.25, 3.0];
    let outs = eval(
        &rev,
        &[
            Value::Matrix(Matrix::from_vec(2, 2, xs.to_vec())),
            Value::Matrix(Matrix::from_vec(2, 2, dys.to_vec())),
        ],
    );
    let trace = xs[0] + xs[3];
    let inner: f64 = xs.iter().zip(&dys).map(|(x, d)| x * d).sum();
    let by_hand: Vec<f64> = (0..4)
        .map(|k| trace * dys[k] + if k == 0 || k == 3 { inner } else { 0.0 })
        .collect();
    assert_eq!(outs[1].to_vec(), by_hand);
    // Forward mode over the rewritten pullback (a Hessian-vector product's inner step):
    // d(dX)[ẋ] = tr(ẋ)·dY + ⟨dY, ẋ⟩·I.
    let tangent = forward(&rev, &[0]).expect("add_to_diagonal has a forward rule");
    let xdot = [0.1, 0.4, -0.7, 0.2];
    let mut inputs = vec![
        Value::Matrix(Matrix::from_vec(2, 2, xs.to_vec())),
        Value::Matrix(Matrix::from_vec(2, 2, dys.to_vec())),
    ];
    inputs.push(Value::Matrix(Matrix::from_vec(2, 2, xdot.to_vec())));
    let touts = eval(&tangent.program, &inputs);
    let dtrace = xdot[0] + xdot[3];
    let dinner: f64 = xdot.iter().zip(&dys).map(|(x, d)| x * d).sum();
    let want: Vec<f64> = (0..4)
        .map(|k| dtrace * dys[k] + if k == 0 || k == 3 { dinner } else { 0.0 })
        .collect();
    let got = touts.last().expect("tangent outputs").to_vec();
    assert!(rel_error(&got, &want, 1.0) < 1e-15, "{got:?} vs {want:?}");
}

// ───────────────────────── textbook spellings (issue 20) ─────────────────────────

/// Every table program: `stable_spellings` leaves it as it is unless it spells a stable
/// function, and where it does (B2's `Σ ln(1 + exp(−y ⊙ X·w))`, some random programs)
/// computes the same values.
#[test]
fn stable_spellings_leave_other_programs_alone_and_keep_values() {
    let mut rewritten = Vec::new();
    let tables = [
        elementwise_cases(),
        binary_cases(),
        linalg_cases(),
        reduction_cases(),
        composite_cases(),
    ];
    for case in tables.iter().flatten().chain(random_cases()) {
        let s = stable_spellings(&case.program);
        if s == case.program {
            continue;
        }
        rewritten.push(case.name.clone());
        let inputs = case.draw_inputs(&mut Rng::seeded(&case.name));
        let (before, after) = (eval(&case.program, &inputs), eval(&s, &inputs));
        let flat = |v: &[Value<f64>]| -> Vec<f64> { v.iter().flat_map(Value::to_vec).collect() };
        let error = rel_error(&flat(&after), &flat(&before), SCALE_FLOOR_F64);
        assert!(error < 1e-13, "{}: values differ by {error:e}", case.name);
    }
    // Of the named cases, only B2 spells one (random programs do now and then: Σ(−v), say).
    rewritten.retain(|name| !name.starts_with("random"));
    assert_eq!(
        rewritten,
        vec!["B2 logistic loss: sum(ln(1 + exp(−y ⊙ (X·w)))) + 0.5·λ·wᵀ·w".to_string()]
    );
}

/// `f(x)` of one parameter of `kind`, built by `body`; its spelling-free form.
fn spelled(kind: Kind, body: impl FnOnce(&mut Program, ValueId) -> ValueId) -> (Program, Program) {
    let mut p = Program::new();
    let x = p.param("x", kind);
    let out = body(&mut p, x);
    p.outputs = vec![out];
    let s = stable_spellings(&p);
    (p, s)
}

/// The ops of `p` besides its parameters, in order.
fn ops(p: &Program) -> Vec<Op> {
    p.insts
        .iter()
        .filter(|i| !matches!(i.op, Op::Param(_)))
        .map(|i| i.op.clone())
        .collect()
}

#[test]
fn each_spelling_becomes_its_stable_function() {
    use autodiff_core::symbolic::rules::reduce::ExtremeEntry;
    use autodiff_core::symbolic::rules::softmax::{LogSoftmax, Softmax};
    let sig = |f| Op::from(Unary(f));
    // ln(1 + eˣ) = softplus(x)
    let (_, s) = spelled(Kind::Vector, |p, x| {
        let e = un(p, UnaryFn::Exp, x);
        let one = lit(p, 1.0);
        let a = bin(p, BinOp::Add, e, one);
        un(p, UnaryFn::Ln, a)
    });
    assert_eq!(ops(&s), vec![sig(UnaryFn::Softplus)]);
    // ln(1 + e⁻ˣ) = −ln σ(x)
    let (_, s) = spelled(Kind::Vector, |p, x| {
        let n = push(p, Neg, &[x]);
        let e = un(p, UnaryFn::Exp, n);
        let one = lit(p, 1.0);
        let a = bin(p, BinOp::Add, one, e);
        un(p, UnaryFn::Ln, a)
    });
    assert_eq!(
        ops(&s),
        vec![sig(UnaryFn::Sigmoid), sig(UnaryFn::Ln), Neg.into()]
    );
    // 1/(1 + e⁻ˣ) = σ(x); eˣ/(1 + eˣ) = σ(x)
    let (_, s) = spelled(Kind::Matrix, |p, x| {
        let n = push(p, Neg, &[x]);
        let e = un(p, UnaryFn::Exp, n);
        let one = lit(p, 1.0);
        let a = bin(p, BinOp::Add, one, e);
        let one = lit(p, 1.0);
        bin(p, BinOp::Div, one, a)
    });
    assert_eq!(ops(&s), vec![sig(UnaryFn::Sigmoid)]);
    let (_, s) = spelled(Kind::Scalar, |p, x| {
        let e = un(p, UnaryFn::Exp, x);
        let one = lit(p, 1.0);
        let a = bin(p, BinOp::Add, e, one);
        bin(p, BinOp::Div, e, a)
    });
    assert_eq!(ops(&s), vec![sig(UnaryFn::Sigmoid)]);
    // ln(1 − σ(x)) = ln σ(−x)
    let (_, s) = spelled(Kind::Vector, |p, x| {
        let sx = un(p, UnaryFn::Sigmoid, x);
        let one = lit(p, 1.0);
        let a = bin(p, BinOp::Sub, one, sx);
        un(p, UnaryFn::Ln, a)
    });
    assert_eq!(
        ops(&s),
        vec![Neg.into(), sig(UnaryFn::Sigmoid), sig(UnaryFn::Ln)]
    );
    // eˣ/Σeˣ and e^(x − max x)/Σe^(x − max x) = softmax(x); x − ln Σeˣ = log_softmax(x)
    let (_, s) = spelled(Kind::Vector, |p, x| {
        let e = un(p, UnaryFn::Exp, x);
        let total = push(p, Sum, &[e]);
        bin(p, BinOp::Div, e, total)
    });
    assert_eq!(ops(&s), vec![Softmax.into()]);
    let (_, s) = spelled(Kind::Vector, |p, x| {
        let m = push(p, ExtremeEntry { max: true }, &[x]);
        let shifted = bin(p, BinOp::Sub, x, m);
        let e = un(p, UnaryFn::Exp, shifted);
        let total = push(p, Sum, &[e]);
        bin(p, BinOp::Div, e, total)
    });
    assert_eq!(ops(&s), vec![Softmax.into()]);
    let (_, s) = spelled(Kind::Vector, |p, x| {
        let e = un(p, UnaryFn::Exp, x);
        let total = push(p, Sum, &[e]);
        let log = un(p, UnaryFn::Ln, total);
        bin(p, BinOp::Sub, x, log)
    });
    assert_eq!(ops(&s), vec![LogSoftmax.into()]);
    // ln Σeˣ = max(x) + ln Σe^(x − max x), of a vector or all of a matrix's entries; and
    // x − (max(x) + ln Σe^(x − max x)), the stable spelling of log-softmax, = log_softmax(x).
    for kind in [Kind::Vector, Kind::Matrix] {
        let (_, s) = spelled(kind, |p, x| {
            let e = un(p, UnaryFn::Exp, x);
            let total = push(p, Sum, &[e]);
            un(p, UnaryFn::Ln, total)
        });
        let max = ExtremeEntry { max: true }.into();
        let (sub, add) = (Binary(BinOp::Sub).into(), Binary(BinOp::Add).into());
        let stable = vec![
            max,
            sub,
            sig(UnaryFn::Exp),
            Sum.into(),
            sig(UnaryFn::Ln),
            add,
        ];
        assert_eq!(ops(&s), stable, "{kind:?}");
    }
    let (_, s) = spelled(Kind::Vector, |p, x| {
        let m = push(p, ExtremeEntry { max: true }, &[x]);
        let shifted = bin(p, BinOp::Sub, x, m);
        let e = un(p, UnaryFn::Exp, shifted);
        let total = push(p, Sum, &[e]);
        let log = un(p, UnaryFn::Ln, total);
        let lse = bin(p, BinOp::Add, log, m);
        bin(p, BinOp::Sub, x, lse)
    });
    assert_eq!(ops(&s), vec![LogSoftmax.into()]);
    // Σ(−v) = −Σv
    let (_, s) = spelled(Kind::Vector, |p, x| {
        let e = un(p, UnaryFn::Exp, x);
        let one = lit(p, 1.0);
        let a = bin(p, BinOp::Add, e, one);
        let l = un(p, UnaryFn::Ln, a);
        let n = push(p, Neg, &[l]);
        push(p, Sum, &[n])
    });
    assert_eq!(
        ops(&s),
        vec![sig(UnaryFn::Softplus), Sum.into(), Neg.into()]
    );
}

#[test]
fn near_misses_are_left_as_written() {
    // ln(2 + eˣ), 2/(1 + e⁻ˣ), eˣ/Σeʸ and a matrix's eˣ/Σeˣ (not a row softmax): not the
    // functions, so not rewritten.
    let (p, s) = spelled(Kind::Vector, |p, x| {
        let e = un(p, UnaryFn::Exp, x);
        let two = lit(p, 2.0);
        let a = bin(p, BinOp::Add, two, e);
        un(p, UnaryFn::Ln, a)
    });
    assert_eq!(s, p);
    let (p, s) = spelled(Kind::Vector, |p, x| {
        let n = push(p, Neg, &[x]);
        let e = un(p, UnaryFn::Exp, n);
        let one = lit(p, 1.0);
        let a = bin(p, BinOp::Add, one, e);
        let two = lit(p, 2.0);
        bin(p, BinOp::Div, two, a)
    });
    assert_eq!(s, p);
    let (p, s) = spelled(Kind::Vector, |p, x| {
        let e = un(p, UnaryFn::Exp, x);
        let other = un(p, UnaryFn::Exp, e);
        let total = push(p, Sum, &[other]);
        bin(p, BinOp::Div, e, total)
    });
    assert_eq!(s, p);
    let (p, s) = spelled(Kind::Matrix, |p, x| {
        let e = un(p, UnaryFn::Exp, x);
        let total = push(p, Sum, &[e]);
        bin(p, BinOp::Div, e, total)
    });
    assert_eq!(s, p);
    // ln Σe^(x − max x) is stable as written (and is the ln Σeˣ rule's own result).
    let (p, s) = spelled(Kind::Vector, |p, x| {
        let m = push(
            p,
            autodiff_core::symbolic::rules::reduce::ExtremeEntry { max: true },
            &[x],
        );
        let shifted = bin(p, BinOp::Sub, x, m);
        let e = un(p, UnaryFn::Exp, shifted);
        let total = push(p, Sum, &[e]);
        un(p, UnaryFn::Ln, total)
    });
    assert_eq!(s, p);
}

#[test]
fn the_stable_forms_are_finite_where_the_spellings_overflow() {
    // ln(1 + e⁸⁰⁰) is ∞ as written, 800 as softplus; 1/(1 + e⁸⁰⁰) and its pullback stay finite.
    let (p, s) = spelled(Kind::Vector, |p, x| {
        let e = un(p, UnaryFn::Exp, x);
        let one = lit(p, 1.0);
        let a = bin(p, BinOp::Add, one, e);
        un(p, UnaryFn::Ln, a)
    });
    let x: Vec<Value<f64>> = vec![Value::Vector(Vector::from_vec(vec![800.0, -800.0, 0.0]))];
    assert!(eval(&p, &x)[0].to_vec()[0].is_infinite());
    let stable = eval(&s, &x).remove(0).to_vec();
    assert_eq!(stable[0], 800.0);
    assert_eq!(stable[2], 2f64.ln());
    let vjp = derive_reverse(&s, &[0]).expect("derives").vjp.program;
    let mut inputs = x.clone();
    inputs.push(Value::Vector(Vector::from_vec(vec![1.0; 3])));
    let grad = eval(&vjp, &inputs).remove(1);
    assert_eq!(grad.to_vec(), vec![1.0, 0.0, 0.5], "σ(x)");
    // ln Σe^(800, −800, 0) is ∞ as written, 800 shifted by the maximum; its gradient is
    // softmax, (1, 0, 0) to rounding.
    let (p, s) = spelled(Kind::Vector, |p, x| {
        let e = un(p, UnaryFn::Exp, x);
        let total = push(p, Sum, &[e]);
        un(p, UnaryFn::Ln, total)
    });
    assert!(eval(&p, &x)[0].as_scalar().is_infinite());
    assert_eq!(eval(&s, &x)[0].as_scalar(), 800.0);
    let vjp = derive_reverse(&s, &[0]).expect("derives").vjp.program;
    let mut inputs = x.clone();
    inputs.push(Value::Scalar(1.0));
    let grad = eval(&vjp, &inputs).remove(1).to_vec();
    assert_eq!(grad, vec![1.0, 0.0, (-800f64).exp()], "softmax(x)");
}
