//! Section 10: loop fusion. On every table row and random program, fusing the simplified
//! primal, reverse and gradient programs changes no value, bit for bit (a fused loop computes
//! each element with the same operations and sums in the same order as the tensor ops it
//! replaces); then the loops fusion makes, and where it must not fuse.

use autodiff_core::symbolic::rules::arith::{BinOp, Binary, Literal};
use autodiff_core::symbolic::rules::elementwise::{Unary, UnaryFn, UnaryGrad};
use autodiff_core::symbolic::rules::index::{AddTo, Read, Region};
use autodiff_core::symbolic::rules::integer::{Extent, IndexArith, IndexLiteral, IntOp};
use autodiff_core::symbolic::rules::linalg::MatMul;
use autodiff_core::symbolic::rules::reduce::{Fill, Sum};
use autodiff_core::symbolic::rules::structure::AsColumn;
use autodiff_core::symbolic::{eval, fuse, reverse, simplify, Kind, Op, Program, Seed, Value};
use autodiff_core::{Matrix, Vector};

use crate::common::rng::Rng;
use crate::support::{push, run_table, Case};
use crate::tables::{
    binary_cases, composite_cases, elementwise_cases, linalg_cases, random_cases, reduction_cases,
};

fn fused_loops(p: &Program) -> usize {
    p.insts
        .iter()
        .filter(|i| matches!(i.op, Op::Fused(_)))
        .count()
}

/// `fuse(p)` computes `p`'s outputs bit for bit, with its parameters.
fn compare_fused(label: &str, p: &Program, inputs: &[Value<f64>]) -> Vec<String> {
    let f = fuse(p);
    let mut errors = Vec::new();
    if f.params != p.params || f.outputs.len() != p.outputs.len() {
        errors.push(format!("{label}: fusion changed the signature"));
        return errors;
    }
    let (before, after) = (eval(p, inputs), eval(&f, inputs));
    if before != after {
        errors.push(format!(
            "{label}: fused values differ\n    before: {before:?}\n    after:  {after:?}"
        ));
    }
    errors
}

fn check_fuse(case: &Case) -> Result<(), String> {
    let mut rng = Rng::seeded(&case.name);
    let inputs = case.draw_inputs(&mut rng);
    let value = eval(&case.program, &inputs).remove(0);
    let upstream = rng.like(&value);
    let mut errors = compare_fused("primal", &simplify(&case.program), &inputs);
    let rev = reverse(&case.program, &case.wrt, Seed::Upstream)
        .map_err(|e| format!("reverse failed: {e}"))?;
    let mut rev_inputs = inputs.clone();
    rev_inputs.push(upstream);
    errors.extend(compare_fused(
        "reverse",
        &simplify(&rev.program),
        &rev_inputs,
    ));
    if value.kind() == Kind::Scalar {
        let grad = reverse(&case.program, &case.wrt, Seed::One)
            .map_err(|e| format!("reverse with seed 1 failed: {e}"))?;
        errors.extend(compare_fused("gradient", &simplify(&grad.program), &inputs));
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors.join("\n  "))
    }
}

#[test]
fn fusion_preserves_values_on_every_table() {
    for cases in [
        elementwise_cases(),
        binary_cases(),
        linalg_cases(),
        reduction_cases(),
        composite_cases(),
    ] {
        run_table(&cases, check_fuse);
    }
}

#[test]
fn fusion_preserves_values_on_random_programs() {
    run_table(random_cases(), check_fuse);
}

/// Rosenbrock with slices, as B3 writes it.
fn rosenbrock() -> Program {
    let mut p = Program::new();
    let x = p.param("x", Kind::Vector);
    let n = push(&mut p, Extent::Len, &[x]);
    let (zero, one) = (
        push(&mut p, IndexLiteral(0), &[]),
        push(&mut p, IndexLiteral(1), &[]),
    );
    let m = push(&mut p, IndexArith(IntOp::Sub), &[n, one]);
    let head = push(&mut p, Read(Region::Segment), &[x, zero, m]);
    let tail = push(&mut p, Read(Region::Segment), &[x, one, n]);
    let square = push(&mut p, Binary(BinOp::Mul), &[head, head]);
    let d = push(&mut p, Binary(BinOp::Sub), &[tail, square]);
    let one_f = push(&mut p, Literal::new(1.0), &[]);
    let e = push(&mut p, Binary(BinOp::Sub), &[one_f, head]);
    let dd = push(&mut p, Binary(BinOp::Mul), &[d, d]);
    let ee = push(&mut p, Binary(BinOp::Mul), &[e, e]);
    let (sd, se) = (push(&mut p, Sum, &[dd]), push(&mut p, Sum, &[ee]));
    let hundred = push(&mut p, Literal::new(100.0), &[]);
    let scaled = push(&mut p, Binary(BinOp::Mul), &[hundred, sd]);
    let total = push(&mut p, Binary(BinOp::Add), &[scaled, se]);
    p.outputs.push(total);
    p
}

#[test]
fn rosenbrocks_gradient_is_two_passes_with_nothing_stored_between() {
    let grad = simplify(&reverse(&rosenbrock(), &[0], Seed::One).unwrap().program);
    let fused = fuse(&grad);
    // The value's sums and the add into x[1..n] in one pass; the add into x[0..n−1], which reads
    // what the first wrote, in a second (each computing what it needs from x).
    assert_eq!(fused_loops(&fused), 2, "{fused:#?}");
    let left = |op: fn(&Op) -> bool| fused.insts.iter().filter(|i| op(&i.op)).count();
    assert_eq!(left(|o| matches!(o, Op::Sum(_))), 0, "sums left unfused");
    assert_eq!(left(|o| matches!(o, Op::AddTo(_))), 0, "adds left unfused");
    assert_eq!(left(|o| matches!(o, Op::Read(_))), 0, "segments copied");
    let tensors = fused
        .insts
        .iter()
        .filter(|i| i.kind.is_tensor() && !matches!(i.op, Op::Param(_) | Op::Project(_)))
        .count();
    assert_eq!(
        tensors, 1,
        "only the zeros the gradient starts from: {fused:#?}"
    );
    for n in [1, 2, 9, 17, 100] {
        let x = Vector::from_vec((0..n).map(|k| (k as f64 * 0.37).sin()).collect());
        let inputs = [Value::Vector(x)];
        assert_eq!(eval(&grad, &inputs), eval(&fused, &inputs), "n = {n}");
    }
}

#[test]
fn what_depends_on_its_own_sum_stays_unfused() {
    // x − mean-like: x − sum(x ⊙ x), whose loop would read its own sum.
    let mut p = Program::new();
    let x = p.param("x", Kind::Vector);
    let sq = push(&mut p, Binary(BinOp::Mul), &[x, x]);
    let total = push(&mut p, Sum, &[sq]);
    let centred = push(&mut p, Binary(BinOp::Sub), &[x, total]);
    let exp = push(&mut p, Unary(UnaryFn::Exp), &[centred]);
    p.outputs.push(exp);
    // One loop would read its own sum: the group stays as tensor operations. (Two loops, one
    // before the sum and one after, would be better; not done yet.)
    assert_eq!(fuse(&p), p);
}

#[test]
fn a_row_that_broadcasts_is_not_fused_with_the_matrix() {
    let mut p = Program::new();
    let m = p.param("m", Kind::Matrix);
    let row = p.param("row", Kind::Matrix);
    let shifted = push(&mut p, Binary(BinOp::Add), &[m, row]);
    let t = push(&mut p, Unary(UnaryFn::Tanh), &[shifted]);
    let s = push(&mut p, Sum, &[t]);
    p.outputs.push(s);
    let fused = fuse(&p);
    // `m + row` may broadcast: it stays a tensor op; `tanh` and the sum fuse.
    assert_eq!(fused_loops(&fused), 1);
    assert!(fused
        .insts
        .iter()
        .any(|i| matches!(i.op, Op::Binary(_)) && i.kind.is_tensor()));
    let inputs = [
        Value::Matrix(Matrix::from_vec(2, 3, vec![0.1, 0.2, 0.3, 0.4, 0.5, 0.6])),
        Value::Matrix(Matrix::from_vec(1, 3, vec![1.0, -1.0, 0.5])),
    ];
    assert_eq!(eval(&p, &inputs), eval(&fused, &inputs));
}

#[test]
fn one_operation_alone_is_left_to_the_runtime() {
    let mut p = Program::new();
    let x = p.param("x", Kind::Vector);
    let t = push(&mut p, Unary(UnaryFn::Tanh), &[x]);
    p.outputs.push(t);
    assert_eq!(fuse(&p), p);
    // And a vector only the fused loop read is not copied: the zeros it adds into stay.
    let mut q = Program::new();
    let x = q.param("x", Kind::Vector);
    let zero = push(&mut q, Literal::new(0.0), &[]);
    let zeros = push(&mut q, Fill, &[zero, x]);
    let (a, b) = (
        push(&mut q, IndexLiteral(0), &[]),
        push(&mut q, IndexLiteral(2), &[]),
    );
    let part = push(&mut q, Read(Region::Segment), &[x, a, b]);
    let sq = push(&mut q, Binary(BinOp::Mul), &[part, part]);
    let added = push(&mut q, AddTo(Region::Segment), &[zeros, sq, a, b]);
    q.outputs.push(added);
    let fused = fuse(&q);
    assert_eq!(fused_loops(&fused), 1);
    assert!(!fused.insts.iter().any(|i| matches!(i.op, Op::Read(_))));
    let x = Value::Vector(Vector::from_vec(vec![3.0, -2.0, 7.0]));
    assert_eq!(
        eval(&fused, &[x]),
        vec![Value::Vector(Vector::from_vec(vec![9.0, 4.0, 0.0]))]
    );
}

/// The batched Jacobian of y = tanh(W·x + b) with respect to x, as the planner writes it:
/// diag(1·𝟏 ⊙ tanh′) as a column scaling the rows of W (on the left of `⊙` when `column_first`),
/// and W·x also returned when `product_returned`.
fn tanh_layer_jacobian(column_first: bool, product_returned: bool) -> Program {
    let mut p = Program::new();
    let w = p.param("w", Kind::Matrix);
    let x = p.param("x", Kind::Vector);
    let b = p.param("b", Kind::Vector);
    let product = push(
        &mut p,
        MatMul {
            ta: false,
            tb: false,
        },
        &[w, x],
    );
    let z = push(&mut p, Binary(BinOp::Add), &[product, b]);
    let y = push(&mut p, Unary(UnaryFn::Tanh), &[z]);
    let one = push(&mut p, Literal::new(1.0), &[]);
    let ones = push(&mut p, Fill, &[one, y]);
    let slope = push(&mut p, UnaryGrad(UnaryFn::Tanh), &[ones, y]);
    let column = push(&mut p, AsColumn, &[slope]);
    let operands = if column_first {
        [column, w]
    } else {
        [w, column]
    };
    let jacobian = push(&mut p, Binary(BinOp::Mul), &operands);
    p.outputs.push(jacobian);
    if product_returned {
        p.outputs.push(product);
    }
    p
}

fn layer_inputs(rows: usize, cols: usize) -> Vec<Value<f64>> {
    let mut rng = Rng::seeded(&format!("layer {rows}×{cols}"));
    vec![
        Value::Matrix(rng.matrix(rows, cols, -1.0, 1.0)),
        Value::Vector(rng.vector(cols, -1.0, 1.0)),
        Value::Vector(rng.vector(rows, -0.1, 0.1)),
    ]
}

#[test]
fn a_row_scaling_by_a_loop_on_the_product_reads_the_matrix_once() {
    for column_first in [false, true] {
        let p = tanh_layer_jacobian(column_first, false);
        let fused = fuse(&p);
        // W·x, the loop from it to the scales (the seed 1·𝟏 inside it), the column and the
        // scaling: one instruction.
        let ops: Vec<&Op> = fused
            .insts
            .iter()
            .map(|i| &i.op)
            .filter(|op| !matches!(op, Op::Param(_) | Op::Const(_)))
            .collect();
        assert!(
            matches!(ops[..], [Op::ScaledRows(_)]),
            "column first: {column_first}: {fused:#?}"
        );
        for (rows, cols) in [(1, 1), (3, 4), (100, 100), (301, 200)] {
            let inputs = layer_inputs(rows, cols);
            assert_eq!(eval(&p, &inputs), eval(&fused, &inputs), "{rows}×{cols}");
        }
    }
}

#[test]
fn a_product_used_again_is_computed_once_and_the_scaling_stays() {
    let p = tanh_layer_jacobian(false, true);
    let fused = fuse(&p);
    assert!(!fused
        .insts
        .iter()
        .any(|i| matches!(i.op, Op::ScaledRows(_))));
    assert_eq!(fused_loops(&fused), 1, "the loop to the scales still forms");
    let inputs = layer_inputs(5, 3);
    assert_eq!(eval(&p, &inputs), eval(&fused, &inputs));
}
