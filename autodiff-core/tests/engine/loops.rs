//! Section 9: loops. A recurrent update run by a `Loop` (its body a program of its own),
//! differentiated in reverse, forward and forward-over-reverse mode, each checked against
//! central differences of the interpreted primal program.

use autodiff_core::symbolic::rules::arith::{BinOp, Binary, Literal};
use autodiff_core::symbolic::rules::control::{push_checkpointed, Loop, Project, Segments};
use autodiff_core::symbolic::rules::elementwise::{Unary, UnaryFn};
use autodiff_core::symbolic::rules::integer::{IndexLiteral, ToFloat};
use autodiff_core::symbolic::rules::linalg::MatMul;
use autodiff_core::symbolic::rules::reduce::Sum;
use autodiff_core::symbolic::{
    derive_forward, derive_hvp, derive_reverse, eval, Kind, Op, Program, Value, ValueId,
};
use autodiff_core::{Matrix, Vector};

fn push(p: &mut Program, op: impl Into<Op>, args: &[ValueId]) -> ValueId {
    p.push(op.into(), args).expect("well-kinded")
}

/// `h ← tanh(w·h + (0.1·i)·x); s ← s + sum(h)·a` for `i in 0..n`, then `sum(h ⊙ h) + s`:
/// two carried values (a vector and a scalar), three captured ones (a matrix, a vector and a
/// scalar), the index read as a float.
fn recurrent() -> Program {
    recurrent_cut(None)
}

/// [`recurrent`], its loop checkpointed in `segments` if given.
fn recurrent_cut(segments: Option<Segments>) -> Program {
    let mut body = Program::new();
    let i = body.param("i", Kind::Index);
    let h = body.param("h", Kind::Vector);
    let s = body.param("s", Kind::Scalar);
    let w = body.param("w", Kind::Matrix);
    let x = body.param("x", Kind::Vector);
    let a = body.param("a", Kind::Scalar);
    let fi = push(&mut body, ToFloat, &[i]);
    let tenth = push(&mut body, Literal::new(0.1), &[]);
    let scale = push(&mut body, Binary(BinOp::Mul), &[tenth, fi]);
    let wh = push(&mut body, MatMul::PLAIN, &[w, h]);
    let drive = push(&mut body, Binary(BinOp::Mul), &[scale, x]);
    let z = push(&mut body, Binary(BinOp::Add), &[wh, drive]);
    let h2 = push(&mut body, Unary(UnaryFn::Tanh), &[z]);
    body.name_value(h2, "h");
    let total = push(&mut body, Sum, &[h2]);
    let weighted = push(&mut body, Binary(BinOp::Mul), &[total, a]);
    let s2 = push(&mut body, Binary(BinOp::Add), &[s, weighted]);
    body.outputs = vec![h2, s2];

    let mut p = Program::new();
    let h0 = p.param("h0", Kind::Vector);
    let w = p.param("w", Kind::Matrix);
    let x = p.param("x", Kind::Vector);
    let a = p.param("a", Kind::Scalar);
    let n = p.constant("n", Kind::Index);
    let zero = push(&mut p, IndexLiteral(0), &[]);
    let s0 = push(&mut p, Literal::new(0.0), &[]);
    let operands = [zero, n, h0, s0, w, x, a];
    let run = match segments {
        None => push(&mut p, Loop::new(body, 2), &operands),
        Some(segments) => push_checkpointed(&mut p, body, 2, &operands, segments).unwrap(),
    };
    let h = push(
        &mut p,
        Project {
            index: 0,
            kind: Kind::Vector,
        },
        &[run],
    );
    let s = push(
        &mut p,
        Project {
            index: 1,
            kind: Kind::Scalar,
        },
        &[run],
    );
    let hh = push(&mut p, Binary(BinOp::Mul), &[h, h]);
    let sq = push(&mut p, Sum, &[hh]);
    let y = push(&mut p, Binary(BinOp::Add), &[sq, s]);
    p.name_value(y, "y");
    p.outputs = vec![y];
    p
}

fn point() -> Vec<Value<f64>> {
    vec![
        Value::Vector(Vector::from_vec(vec![0.3, -0.2, 0.5])),
        Value::Matrix(Matrix::from_vec(
            3,
            3,
            vec![0.4, -0.3, 0.2, 0.1, 0.5, -0.4, -0.2, 0.3, 0.6],
        )),
        Value::Vector(Vector::from_vec(vec![1.0, -0.5, 0.25])),
        Value::Scalar(0.7),
    ]
}

const STEPS: usize = 4;

/// The primal by hand, in plain Rust.
fn by_hand(h0: &[f64], w: &[f64], x: &[f64], a: f64, n: usize) -> f64 {
    let mut h = h0.to_vec();
    let mut s = 0.0;
    for i in 0..n {
        let next: Vec<f64> = (0..3)
            .map(|r| {
                let wh: f64 = (0..3).map(|c| w[r * 3 + c] * h[c]).sum();
                (wh + 0.1 * i as f64 * x[r]).tanh()
            })
            .collect();
        h = next;
        s += h.iter().sum::<f64>() * a;
    }
    h.iter().map(|v| v * v).sum::<f64>() + s
}

fn with_constant(mut inputs: Vec<Value<f64>>) -> Vec<Value<f64>> {
    inputs.push(Value::Index(STEPS));
    inputs
}

/// The value at the point with coordinate `k` of parameter `p` moved by `delta`.
fn moved(p: usize, k: usize, delta: f64) -> Vec<Value<f64>> {
    let mut inputs = point();
    let mut data = inputs[p].to_vec();
    data[k] += delta;
    inputs[p] = inputs[p].with_data(data);
    inputs
}

fn primal_at(inputs: Vec<Value<f64>>) -> f64 {
    eval(&recurrent(), &with_constant(inputs))[0].as_scalar()
}

fn central(p: usize, k: usize) -> f64 {
    let h = 1e-6;
    (primal_at(moved(p, k, h)) - primal_at(moved(p, k, -h))) / (2.0 * h)
}

#[test]
fn a_loop_runs_its_body_once_per_index() {
    let inputs = point();
    let got = primal_at(inputs.clone());
    let want = by_hand(
        &inputs[0].to_vec(),
        &inputs[1].to_vec(),
        &inputs[2].to_vec(),
        inputs[3].as_scalar(),
        STEPS,
    );
    assert!((got - want).abs() < 1e-14, "{got} vs {want}");
    // No iterations: the initial values.
    let mut none = point();
    none.push(Value::Index(0));
    let h0 = point()[0].to_vec();
    let want0: f64 = h0.iter().map(|v| v * v).sum();
    assert_eq!(eval(&recurrent(), &none)[0].as_scalar(), want0);
}

#[test]
fn reverse_mode_through_a_loop_matches_differences() {
    let products = derive_reverse(&recurrent(), &[0, 1, 2, 3]).expect("derivable");
    let grad = products.grad.expect("a scalar result");
    let out = eval(&grad, &with_constant(point()));
    assert!((out[0].as_scalar() - primal_at(point())).abs() < 1e-15);
    for p in 0..4 {
        let got = out[1 + p].to_vec();
        for (k, g) in got.iter().enumerate() {
            let fd = central(p, k);
            assert!((g - fd).abs() < 1e-7, "d param {p} [{k}]: {g} vs {fd}");
        }
    }
    // The vector-Jacobian product at upstream 2 is twice the gradient.
    let mut inputs = point();
    inputs.push(Value::Scalar(2.0));
    let vjp = eval(&products.vjp.program, &with_constant(inputs));
    for p in 0..4 {
        let twice: Vec<f64> = out[1 + p].to_vec().iter().map(|g| 2.0 * g).collect();
        assert_eq!(vjp[1 + p].to_vec(), twice);
    }
}

/// The loops of a program, and of their bodies, outermost first.
fn loops(program: &Program) -> Vec<Loop> {
    let mut found = Vec::new();
    for inst in &program.insts {
        if let Op::Loop(l) = &inst.op {
            found.push(l.clone());
            found.extend(loops(&l.body));
        }
    }
    found
}

#[test]
fn the_backward_loop_reads_stored_values_instead_of_recomputing_them() {
    let grad = derive_reverse(&recurrent(), &[0, 1, 2, 3])
        .expect("derivable")
        .grad
        .expect("a scalar result");
    let all = loops(&grad);
    let [forward, backward] = &all[..] else {
        panic!("a forward and a backward loop, found {}", all.len());
    };
    assert!(!forward.reversed && backward.reversed);
    // The forward loop stacks what the backward one reads: one tape per stored value.
    assert_eq!(forward.stacked, backward.sliced);
    assert!(forward.stacked >= 1);
    // The backward body does no primal work again: no tanh, and the only product is the
    // pullback's wᵀ·dz (the forward w·h is not recomputed).
    let ops: Vec<&Op> = backward.body.insts.iter().map(|i| &i.op).collect();
    assert!(!ops.iter().any(|op| matches!(op, Op::Unary(_))), "{ops:?}");
    let products = ops.iter().filter(|op| matches!(op, Op::MatMul(_))).count();
    assert_eq!(products, 1, "{ops:?}");
}

#[test]
fn forward_mode_through_a_loop_matches_differences() {
    let jvp = derive_forward(&recurrent(), &[0, 1, 2, 3]).expect("derivable");
    let directions = vec![
        Value::Vector(Vector::from_vec(vec![0.5, 1.0, -1.0])),
        Value::Matrix(Matrix::from_vec(
            3,
            3,
            (0..9).map(|i| 0.1 * i as f64 - 0.4).collect(),
        )),
        Value::Vector(Vector::from_vec(vec![-0.3, 0.2, 0.9])),
        Value::Scalar(0.6),
    ];
    let mut inputs = point();
    inputs.extend(directions.iter().cloned());
    let out = eval(&jvp.jvp.program, &with_constant(inputs));
    let along = |t: f64| {
        let moved: Vec<Value<f64>> = point()
            .iter()
            .zip(&directions)
            .map(|(v, d)| {
                let data = v
                    .to_vec()
                    .iter()
                    .zip(d.to_vec())
                    .map(|(a, b)| a + t * b)
                    .collect();
                v.with_data(data)
            })
            .collect();
        primal_at(moved)
    };
    let h = 1e-6;
    let fd = (along(h) - along(-h)) / (2.0 * h);
    let got = out[1].as_scalar();
    assert!((got - fd).abs() < 1e-7, "{got} vs {fd}");
}

#[test]
fn second_derivatives_through_a_loop_match_differences_of_the_gradient() {
    let primal = recurrent();
    let hvp = derive_hvp(&primal, &[0, 1, 2, 3]).expect("derivable");
    let grad = derive_reverse(&primal, &[0, 1, 2, 3])
        .unwrap()
        .grad
        .unwrap();
    let gradient_at = |inputs: Vec<Value<f64>>| -> Vec<f64> {
        eval(&grad, &with_constant(inputs))[1..]
            .iter()
            .flat_map(Value::to_vec)
            .collect()
    };
    // Along the first coordinate of w.
    let mut inputs = point();
    let directions = vec![
        Value::Vector(Vector::zeros(3)),
        Value::Matrix(Matrix::from_vec(3, 3, {
            let mut d = vec![0.0; 9];
            d[0] = 1.0;
            d
        })),
        Value::Vector(Vector::zeros(3)),
        Value::Scalar(0.0),
    ];
    inputs.extend(directions);
    let out = eval(&hvp.program, &with_constant(inputs));
    let got: Vec<f64> = out[5..].iter().flat_map(Value::to_vec).collect();
    let h = 1e-6;
    let plus = gradient_at(moved(1, 0, h));
    let minus = gradient_at(moved(1, 0, -h));
    assert_eq!(got.len(), plus.len());
    for (k, g) in got.iter().enumerate() {
        let fd = (plus[k] - minus[k]) / (2.0 * h);
        assert!((g - fd).abs() < 1e-6, "H·e[{k}]: {g} vs {fd}");
    }
}

#[test]
fn a_reversed_loop_prints_as_a_block() {
    let products = derive_reverse(&recurrent(), &[0, 1, 2, 3]).expect("derivable");
    let text = &products.derivation;
    let lines: Vec<&str> = text.lines().collect();
    // The backward loop as one block, the primal loop not at all.
    assert_eq!(lines[0], "for i = n − 1 down to 0:", "{text}");
    assert_eq!(
        lines.iter().filter(|l| l.starts_with("for ")).count(),
        1,
        "{text}"
    );
    // Inside: the carried adjoint's update and the captured weights' accumulation.
    assert!(lines.contains(&"    dh = dh_3"), "{text}");
    assert!(lines.contains(&"    dw = dw + dw_2"), "{text}");
    assert!(lines.contains(&"dh0 = dh"), "{text}");
    // Every other line is an equation.
    assert!(lines[1..].iter().all(|l| l.contains(" = ")), "{text}");
}

/// Checkpointing changes what reverse mode stores, not what it computes: at every segment
/// length (one iteration, a length that does not divide the count, one longer than the loop,
/// ⌊√n⌋) and every count (none, one, several), the value, gradient and Hessian-vector product
/// are the plain loop's up to rounding.
#[test]
fn a_checkpointed_loop_has_the_plain_loops_derivatives() {
    let plain = recurrent();
    let grad = derive_reverse(&plain, &[0, 1, 2, 3]).unwrap().grad.unwrap();
    let hvp = derive_hvp(&plain, &[0, 1, 2, 3]).unwrap().program;
    let direction = [
        Value::Vector(Vector::from_vec(vec![0.2, -0.1, 0.4])),
        Value::Matrix(Matrix::from_vec(
            3,
            3,
            (0..9).map(|i| 0.05 * i as f64 - 0.2).collect(),
        )),
        Value::Vector(Vector::from_vec(vec![0.3, 0.0, -0.6])),
        Value::Scalar(-0.4),
    ];
    let at = |steps: usize, with_direction: bool| {
        let mut inputs = point();
        if with_direction {
            inputs.extend(direction.iter().cloned());
        }
        inputs.push(Value::Index(steps));
        inputs
    };
    let flat =
        |values: Vec<Value<f64>>| -> Vec<f64> { values.iter().flat_map(Value::to_vec).collect() };
    for segments in [
        Segments::Every(1),
        Segments::Every(3),
        Segments::Every(20),
        Segments::Sqrt,
    ] {
        let cut = recurrent_cut(Some(segments));
        let cut_grad = derive_reverse(&cut, &[0, 1, 2, 3]).unwrap().grad.unwrap();
        let cut_hvp = derive_hvp(&cut, &[0, 1, 2, 3]).unwrap().program;
        for steps in [0, 1, 4, 10] {
            let what = format!("{segments:?}, {steps} steps");
            let primal = (
                eval(&plain, &at(steps, false)),
                eval(&cut, &at(steps, false)),
            );
            assert_eq!(flat(primal.0), flat(primal.1), "{what}: value");
            for (want, got) in [
                (
                    flat(eval(&grad, &at(steps, false))),
                    flat(eval(&cut_grad, &at(steps, false))),
                ),
                (
                    flat(eval(&hvp, &at(steps, true))),
                    flat(eval(&cut_hvp, &at(steps, true))),
                ),
            ] {
                assert_eq!(want.len(), got.len(), "{what}");
                for (w, g) in want.iter().zip(&got) {
                    assert!(
                        (w - g).abs() <= 1e-13 * (1.0 + w.abs()),
                        "{what}: {g} vs {w}"
                    );
                }
            }
        }
    }
}

/// What a checkpointed loop stores: the forward pass over segments stacks only the values
/// carried into each (no tanh result, no per-iteration tape), and the backward pass over
/// segments reruns each one (a taped forward loop) before pulling it back (a reversed loop).
#[test]
fn a_checkpointed_loop_stores_segment_starts_and_reruns_segments() {
    let grad = derive_reverse(&recurrent_cut(Some(Segments::Sqrt)), &[0, 1, 2, 3])
        .unwrap()
        .grad
        .unwrap();
    let outer: Vec<&Loop> = grad
        .insts
        .iter()
        .filter_map(|inst| match &inst.op {
            Op::Loop(l) => Some(l),
            _ => None,
        })
        .collect();
    let [forward, backward] = outer[..] else {
        panic!(
            "a forward and a backward loop over segments, found {}",
            outer.len()
        );
    };
    assert!(!forward.reversed && backward.reversed);
    // The two carried values (h, s) at each segment's start, nothing else.
    assert_eq!((forward.stacked, backward.sliced), (2, 2));
    let inner_forward = loops(&forward.body);
    assert_eq!(inner_forward.len(), 1);
    assert_eq!(
        inner_forward[0].stacked, 0,
        "the forward pass stores nothing per iteration"
    );
    let inner_backward: Vec<Loop> = loops(&backward.body);
    assert_eq!(inner_backward.len(), 2, "a segment rerun, then pulled back");
    assert!(!inner_backward[0].reversed && inner_backward[0].stacked >= 1);
    assert!(inner_backward[1].reversed && inner_backward[1].sliced == inner_backward[0].stacked);
}
