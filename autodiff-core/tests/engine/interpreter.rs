//! Section 6: the interpreter's meaning of each op against numbers worked by hand.

use autodiff_core::symbolic::rules::arith::{BinOp, Binary, Literal, Neg};
use autodiff_core::symbolic::rules::elementwise::{Powi, PowiGrad, Unary, UnaryFn, UnaryGrad};
use autodiff_core::symbolic::rules::linalg::{Dot, MatMul, Outer, Transpose};
use autodiff_core::symbolic::rules::reduce::{BroadcastTo, Fill, Mean, Numel, Sum, SumAxis, SumTo};
use autodiff_core::symbolic::rules::softmax::{LogSoftmax, LogSoftmaxGrad, Softmax, SoftmaxGrad};
use autodiff_core::symbolic::{eval, simplify, Kind, Op, Program, Value, ValueId};

use crate::common::fd::rel_error;
use crate::support::{bin, lit, mat, push, shape_of, vect, SCALE_FLOOR_F64};

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
        rel_error(&got.to_vec(), &want.to_vec(), SCALE_FLOOR_F64) < tol,
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
