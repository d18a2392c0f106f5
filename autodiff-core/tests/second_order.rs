//! Second derivatives through the interpreter: Hessian-vector products (forward mode over the
//! gradient program) against closed forms worked by hand and against finite differences of the
//! gradient.
// The interpreter and the tensors it runs on are the runtime feature.
#![cfg(feature = "runtime")]

mod common;

use std::convert::Infallible;

use autodiff_core::symbolic::rules::arith::{BinOp, Binary, Literal};
use autodiff_core::symbolic::rules::elementwise::{Domain as FnDomain, Powi, Unary, UnaryFn};
use autodiff_core::symbolic::rules::linalg::{Dot, MatMul};
use autodiff_core::symbolic::rules::reduce::{Mean, Sum, SumAxis};
use autodiff_core::symbolic::rules::softmax::{LogSoftmax, Softmax};
use autodiff_core::symbolic::{derive_hvp, eval, reverse, Kind, Op, Program, Seed, Value, ValueId};
use autodiff_core::{Matrix, Vector};
use common::fd::{along, fd_check, stencil};
use common::rng::Rng;

fn push(p: &mut Program, op: impl Into<Op>, args: &[ValueId]) -> ValueId {
    p.push(op.into(), args).expect("well-kinded")
}

/// The full Hessian of a one-parameter program with a vector parameter (index `wrt`), one
/// Hessian-vector product per basis direction.
fn hessian(program: &Program, inputs: &[Value<f64>], wrt: usize) -> Matrix<f64> {
    let hvp = derive_hvp(program, &[wrt]).expect("an HVP program");
    let n = inputs[wrt].numel();
    let mut h = Matrix::zeros(n, n);
    for j in 0..n {
        let mut e = vec![0.0; n];
        e[j] = 1.0;
        let mut all = inputs.to_vec();
        all.push(inputs[wrt].with_data(e));
        let outputs = eval(&hvp.program, &all);
        // Outputs: value, gradient, Hessian·e_j.
        for (i, v) in outputs[2].to_vec().into_iter().enumerate() {
            h[(i, j)] = v;
        }
    }
    h
}

fn assert_matrix_close(actual: &Matrix<f64>, expected: &Matrix<f64>, tol: f64, what: &str) {
    assert_eq!(actual.shape(), expected.shape(), "{what}: shape");
    let scale = expected
        .as_slice()
        .iter()
        .fold(1.0f64, |m, v| m.max(v.abs()));
    for (k, (a, e)) in actual
        .as_slice()
        .iter()
        .zip(expected.as_slice())
        .enumerate()
    {
        assert!(
            (a - e).abs() <= tol * scale,
            "{what}: entry {k}: {a} vs {e} (tolerance {tol} × {scale})"
        );
    }
}

#[test]
fn hessian_of_a_quadratic_form_is_a_plus_a_transpose() {
    // f(x) = xᵀ·A·x, so H = A + Aᵀ whatever x.
    let mut p = Program::new();
    let a = p.param("a", Kind::Matrix);
    let x = p.param("x", Kind::Vector);
    let ax = push(&mut p, MatMul::PLAIN, &[a, x]);
    let f = push(&mut p, Dot, &[x, ax]);
    p.outputs = vec![f];
    let mut rng = Rng(7);
    let am = rng.matrix(4, 4, -1.0, 1.0);
    let inputs = [
        Value::Matrix(am.clone()),
        Value::Vector(rng.vector(4, -1.0, 1.0)),
    ];
    let h = hessian(&p, &inputs, 1);
    let expected = Matrix::from_fn(4, 4, |i, j| am[(i, j)] + am[(j, i)]);
    assert_matrix_close(&h, &expected, 1e-14, "xᵀAx");
    // Symmetric, as every Hessian.
    assert_matrix_close(&h, &h.t(), 0.0, "symmetry");
}

#[test]
fn hessian_of_a_least_squares_loss_is_twice_a_transpose_a() {
    // f(x) = ‖A·x − b‖², so H = 2·AᵀA.
    let mut p = Program::new();
    let a = p.param("a", Kind::Matrix);
    let x = p.param("x", Kind::Vector);
    let b = p.param("b", Kind::Vector);
    let ax = push(&mut p, MatMul::PLAIN, &[a, x]);
    let r = push(&mut p, Binary(BinOp::Sub), &[ax, b]);
    let f = push(&mut p, Dot, &[r, r]);
    p.outputs = vec![f];
    let mut rng = Rng(11);
    let am = rng.matrix(5, 3, -1.0, 1.0);
    let inputs = [
        Value::Matrix(am.clone()),
        Value::Vector(rng.vector(3, -1.0, 1.0)),
        Value::Vector(rng.vector(5, -1.0, 1.0)),
    ];
    let h = hessian(&p, &inputs, 1);
    let expected = Matrix::from_fn(3, 3, |i, j| {
        2.0 * (0..5).map(|k| am[(k, i)] * am[(k, j)]).sum::<f64>()
    });
    assert_matrix_close(&h, &expected, 1e-14, "‖Ax − b‖²");
}

#[test]
fn logistic_regression_hessian_has_its_closed_form() {
    // L(w) = Σ ln(1 + exp(−y ⊙ (X·w))) + ½λ‖w‖², written with the language's ops:
    // ln(1 + e^(−m)) = −ln(sigmoid(m)).  H = Xᵀ·diag(s ⊙ (1 − s))·X + λI with s = sigmoid(y ⊙ X·w).
    let mut p = Program::new();
    let xm = p.param("x", Kind::Matrix);
    let w = p.param("w", Kind::Vector);
    let y = p.param("y", Kind::Vector);
    let xw = push(&mut p, MatMul::PLAIN, &[xm, w]);
    let m = push(&mut p, Binary(BinOp::Mul), &[y, xw]);
    let s = push(&mut p, Unary(UnaryFn::Sigmoid), &[m]);
    let ls = push(&mut p, Unary(UnaryFn::Ln), &[s]);
    let total = push(&mut p, Sum, &[ls]);
    let data_loss = push(
        &mut p,
        Op::Neg(autodiff_core::symbolic::rules::arith::Neg),
        &[total],
    );
    let ww = push(&mut p, Dot, &[w, w]);
    let half_lambda = push(&mut p, Literal::new(0.05), &[]);
    let reg = push(&mut p, Binary(BinOp::Mul), &[half_lambda, ww]);
    let loss = push(&mut p, Binary(BinOp::Add), &[data_loss, reg]);
    p.outputs = vec![loss];
    let mut rng = Rng(23);
    let (rows, n) = (12, 4);
    let x = rng.matrix(rows, n, -1.0, 1.0);
    let labels = Vector::from_vec(
        (0..rows)
            .map(|i| if i % 3 == 0 { -1.0 } else { 1.0 })
            .collect(),
    );
    let w0 = rng.vector(n, -0.5, 0.5);
    let inputs = [
        Value::Matrix(x.clone()),
        Value::Vector(w0.clone()),
        Value::Vector(labels.clone()),
    ];
    let h = hessian(&p, &inputs, 1);
    let weights: Vec<f64> = (0..rows)
        .map(|k| {
            let margin = labels[k] * (0..n).map(|j| x[(k, j)] * w0[j]).sum::<f64>();
            let s = 1.0 / (1.0 + (-margin).exp());
            s * (1.0 - s)
        })
        .collect();
    let expected = Matrix::from_fn(n, n, |i, j| {
        let data: f64 = (0..rows).map(|k| x[(k, i)] * weights[k] * x[(k, j)]).sum();
        data + if i == j { 0.1 } else { 0.0 }
    });
    assert_matrix_close(&h, &expected, 1e-13, "logistic regression");
}

/// The Hessian-vector product equals the central difference of the gradient along the
/// direction, for programs exercising every second-order rule.
#[test]
fn hessian_vector_products_match_differences_of_the_gradient() {
    let mut cases: Vec<(String, Program)> = Vec::new();
    for &f in UnaryFn::ALL {
        // Σ f(x ⊙ x + x): the inner product keeps the second derivative away from trivial.
        let mut p = Program::new();
        let x = p.param("x", Kind::Vector);
        let sq = push(&mut p, Binary(BinOp::Mul), &[x, x]);
        let mut inner = push(&mut p, Binary(BinOp::Add), &[sq, x]);
        // x ∈ [0.2, 0.9] puts x⊙x + x in [0.24, 1.71]: scaled into the row's domain where that
        // ends sooner (tan, before its pole at π/2).
        if let FnDomain::Uniform(_, hi) = f.domain() {
            if hi < 1.71 {
                let c = push(&mut p, Literal::new(hi / 1.71), &[]);
                inner = push(&mut p, Binary(BinOp::Mul), &[c, inner]);
            }
        }
        let y = push(&mut p, Unary(f), &[inner]);
        let s = push(&mut p, Sum, &[y]);
        p.outputs = vec![s];
        cases.push((format!("sum({}(x⊙x + x))", f.method()), p));
    }
    for n in [-2, 3, 4] {
        let mut p = Program::new();
        let x = p.param("x", Kind::Vector);
        let y = push(&mut p, Powi(n), &[x]);
        let s = push(&mut p, Mean, &[y]);
        p.outputs = vec![s];
        cases.push((format!("mean(x^{n})"), p));
    }
    {
        // Σ softmax(x) ⊙ c and cross-entropy of log_softmax on matrix rows.
        let mut p = Program::new();
        let x = p.param("x", Kind::Vector);
        let c = p.param("c", Kind::Vector);
        let sm = push(&mut p, Softmax, &[x]);
        let s = push(&mut p, Dot, &[sm, c]);
        p.outputs = vec![s];
        cases.push(("softmax(x)ᵀ·c".into(), p));
    }
    {
        let mut p = Program::new();
        let x = p.param("x", Kind::Vector);
        let c = p.param("c", Kind::Vector);
        let x2 = push(&mut p, Binary(BinOp::Mul), &[x, x]);
        let ls = push(&mut p, LogSoftmax, &[x2]);
        let s = push(&mut p, Dot, &[ls, c]);
        p.outputs = vec![s];
        cases.push(("log_softmax(x⊙x)ᵀ·c".into(), p));
    }
    {
        // A matrix parameter: row-wise log-softmax and a column reduction.
        let mut p = Program::new();
        let w = p.param("w", Kind::Matrix);
        let z = push(&mut p, Unary(UnaryFn::Tanh), &[w]);
        let ls = push(&mut p, LogSoftmax, &[z]);
        let cols = push(&mut p, SumAxis(0), &[ls]);
        let sq = push(&mut p, Powi(2), &[cols]);
        let s = push(&mut p, Sum, &[sq]);
        p.outputs = vec![s];
        cases.push(("Σ(sum_axis(log_softmax(tanh w), 0)²)".into(), p));
    }
    let mut rng = Rng(99);
    for (name, p) in cases {
        let inputs: Vec<Value<f64>> = p
            .params
            .iter()
            .map(|param| match param.kind {
                Kind::Vector => Value::Vector(rng.vector(5, 0.2, 0.9)),
                Kind::Matrix => Value::Matrix(rng.matrix(3, 4, -0.9, 0.9)),
                Kind::Scalar => Value::Scalar(rng.uniform(0.2, 0.9)),
                other => panic!("no {other} parameters here"),
            })
            .collect();
        let direction = rng.like(&inputs[0]);
        let hvp = derive_hvp(&p, &[0]).unwrap_or_else(|e| panic!("{name}: {e}"));
        let mut all = inputs.clone();
        all.push(direction.clone());
        let hv = eval(&hvp.program, &all)[2].to_vec();

        let gradient = reverse(&p, &[0], Seed::One).expect("a gradient program");
        let dir = [direction];
        let grad_at = |t: f64| {
            let moved = along(&inputs, &[0], &dir, t);
            Ok::<_, Infallible>(eval(&gradient.program, &moved)[1].to_vec())
        };
        // One step, h = 1e-3, to 1e-7 relative to the largest entry (at least 1).
        let Ok(fd) = fd_check(&hv, 1.0, 1e-7, 1, |h| stencil(h, grad_at));
        assert!(
            fd.agrees(),
            "{name}: relative error {:.2e} (by step: {})\n  HVP:                         \
             {hv:?}\n  differences of the gradient: {:?}",
            fd.error,
            fd.table(),
            fd.reference
        );
    }
}
