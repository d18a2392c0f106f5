//! Section 8: integer values (`usize` constants, literals, extents, arithmetic, `as f64`) and
//! named constants.

use autodiff_core::symbolic::rules::arith::{BinOp, Binary};
use autodiff_core::symbolic::rules::integer::{
    Extent, IndexArith, IndexLiteral, IntOp, NamedConstant, ToFloat,
};
use autodiff_core::symbolic::rules::reduce::Sum;
use autodiff_core::symbolic::{
    derive_forward, derive_reverse, eval, print, Kind, Program, Role, Value,
};
use autodiff_core::{Matrix, Vector};

/// `f(x, m; n) = sum(x) · (len(x)·n + rows(m) mod 4) / cols(m) · π`, with `n` a constant.
fn program() -> Program {
    let mut p = Program::new();
    let x = p.param("x", Kind::Vector);
    let m = p.param("m", Kind::Matrix);
    let n = p.constant("n", Kind::Index);
    let len = p.push(Extent::Len.into(), &[x]).unwrap();
    let rows = p.push(Extent::Rows.into(), &[m]).unwrap();
    let cols = p.push(Extent::Cols.into(), &[m]).unwrap();
    let four = p.push(IndexLiteral(4).into(), &[]).unwrap();
    let ln = p.push(IndexArith(IntOp::Mul).into(), &[len, n]).unwrap();
    let r4 = p
        .push(IndexArith(IntOp::Rem).into(), &[rows, four])
        .unwrap();
    let k = p.push(IndexArith(IntOp::Add).into(), &[ln, r4]).unwrap();
    let kf = p.push(ToFloat.into(), &[k]).unwrap();
    let cf = p.push(ToFloat.into(), &[cols]).unwrap();
    let pi = NamedConstant {
        path: "PI".into(),
        standard: true,
        kind: Kind::Scalar,
    };
    let pi = p.push(pi.into(), &[]).unwrap();
    let s = p.push(Sum.into(), &[x]).unwrap();
    let a = p.push(Binary(BinOp::Mul).into(), &[s, kf]).unwrap();
    let b = p.push(Binary(BinOp::Div).into(), &[a, cf]).unwrap();
    let y = p.push(Binary(BinOp::Mul).into(), &[b, pi]).unwrap();
    p.name_value(y, "y");
    p.outputs = vec![y];
    p
}

fn inputs() -> Vec<Value<f64>> {
    vec![
        Value::Vector(Vector::from_vec(vec![1.0, 2.0, -0.5])),
        Value::Matrix(Matrix::zeros(6, 4)),
        Value::Index(5),
    ]
}

#[test]
fn integers_compute_as_usize_and_convert_once() {
    let out = eval(&program(), &inputs());
    // (3·5 + 6 mod 4) / 4 · π · 2.5 = 17/4 · π · 2.5
    let want = 2.5 * 17.0 / 4.0 * std::f64::consts::PI;
    assert!((out[0].as_scalar() - want).abs() < 1e-14, "{:?}", out[0]);
}

#[test]
fn integers_have_no_derivative() {
    let p = program();
    let reverse = derive_reverse(&p, &[0, 1]).unwrap();
    let out = eval(&reverse.vjp.program, &{
        let mut i = inputs();
        i.insert(2, Value::Scalar(1.0));
        i
    });
    let factor = 17.0 / 4.0 * std::f64::consts::PI;
    // dx = factor·𝟏; m is read only for its shape, so dm = 0.
    assert_eq!(out[1].to_vec(), vec![factor; 3]);
    assert!(out[2].to_vec().iter().all(|&v| v == 0.0));
    // Nothing of the integer part has an adjoint.
    for inst in &reverse.vjp.program.insts {
        if inst.role == Role::Adjoint {
            assert_ne!(inst.kind, Kind::Index, "{:?}", inst.op);
        }
    }
    let forward = derive_forward(&p, &[0, 1]).unwrap();
    for inst in &forward.jvp.program.insts {
        if inst.role == Role::Tangent {
            assert_ne!(inst.kind, Kind::Index, "{:?}", inst.op);
        }
    }
    assert!(
        reverse.derivation.contains("len(x)·n") && reverse.derivation.contains("π"),
        "{}",
        reverse.derivation
    );
}

#[test]
fn float_math_refuses_integers() {
    let mut p = Program::new();
    let x = p.param("x", Kind::Scalar);
    let n = p.constant("n", Kind::Index);
    let before = p.clone();
    let err = p.push(Binary(BinOp::Mul).into(), &[x, n]).unwrap_err();
    assert!(err.message.contains("as f64"), "{}", err.message);
    assert_eq!(p, before);
    let err = p.push(IndexArith(IntOp::Add).into(), &[x, n]).unwrap_err();
    assert!(err.message.contains("integers"), "{}", err.message);
    let err = p.push(Extent::Rows.into(), &[x]).unwrap_err();
    assert!(err.message.contains("a matrix"), "{}", err.message);
}

#[test]
fn a_constant_prints_by_its_name() {
    let mut p = Program::new();
    let x = p.param("x", Kind::Scalar);
    let rate = NamedConstant {
        path: "config::RATE".into(),
        standard: false,
        kind: Kind::Scalar,
    };
    let rate = p.push(rate.into(), &[]).unwrap();
    let y = p.push(Binary(BinOp::Mul).into(), &[rate, x]).unwrap();
    p.outputs = vec![y];
    assert_eq!(print::print_value(&p, y), "config::RATE·x");
}
