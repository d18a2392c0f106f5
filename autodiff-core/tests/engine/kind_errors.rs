//! Section 4: kind errors are errors, not panics, with lowercase messages.

use std::panic::{catch_unwind, AssertUnwindSafe};

use autodiff_core::symbolic::rules::arith::{BinOp, Binary, Literal, Neg};
use autodiff_core::symbolic::rules::elementwise::{Unary, UnaryFn};
use autodiff_core::symbolic::rules::linalg::{Dot, MatMul, Transpose};
use autodiff_core::symbolic::rules::reduce::{Mean, Sum, SumAxis};
use autodiff_core::symbolic::rules::softmax::{LogSoftmax, Softmax};
use autodiff_core::symbolic::{Kind, Op, Program, ValueId};

use crate::support::starts_lowercase;

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
fn elementwise_of_a_vector_and_a_matrix_applies_the_vector_to_every_row() {
    // The second release broadcasts a vector over a matrix's rows, on either side (NumPy's
    // rule for a 1-D operand): a matrix. A list of indices takes no part in float math.
    for op in [BinOp::Add, BinOp::Sub, BinOp::Mul, BinOp::Div] {
        for kinds in [[Kind::Vector, Kind::Matrix], [Kind::Matrix, Kind::Vector]] {
            let mut p = Program::new();
            let (a, b) = (p.param("a", kinds[0]), p.param("b", kinds[1]));
            let v = p.push(Binary(op).into(), &[a, b]).expect("accepted");
            assert_eq!(p.kind(v), Kind::Matrix);
        }
        let m = kind_error(Binary(op), &[Kind::Matrix, Kind::Indices]);
        assert!(m.contains("list of indices"), "{m}");
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
