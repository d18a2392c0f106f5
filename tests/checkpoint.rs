//! Checkpointed loops: `#[checkpoint]` and `#[checkpoint(every = K)]` on a `for` loop change
//! what reverse mode stores (the carried values at each segment's start) and not what it
//! computes, in every mode; the original function runs as written.

use autodiff::prelude::*;

/// An Elman RNN reading step `t`'s rows of `xs`, plain.
#[differentiable(wrt(h0, w, u, b))]
fn rnn(
    h0: &Matrix<f64>,
    w: &Matrix<f64>,
    u: &Matrix<f64>,
    b: &Matrix<f64>,
    xs: &Matrix<f64>,
    steps: usize,
) -> f64 {
    let n = h0.rows();
    let mut h = h0.clone();
    for t in 0..steps {
        h = (h.matmul(w) + xs.slice_rows(t * n..(t + 1) * n).matmul(u) + b).tanh();
    }
    0.5 * (&h * &h).sum()
}

/// The same, checkpointed every ⌊√steps⌋ iterations.
#[differentiable(wrt(h0, w, u, b))]
fn rnn_sqrt(
    h0: &Matrix<f64>,
    w: &Matrix<f64>,
    u: &Matrix<f64>,
    b: &Matrix<f64>,
    xs: &Matrix<f64>,
    steps: usize,
) -> f64 {
    let n = h0.rows();
    let mut h = h0.clone();
    #[checkpoint]
    for t in 0..steps {
        h = (h.matmul(w) + xs.slice_rows(t * n..(t + 1) * n).matmul(u) + b).tanh();
    }
    0.5 * (&h * &h).sum()
}

/// The same, checkpointed every 3 iterations, with a second carried value and a branch.
#[differentiable(wrt(h0, w, u, b))]
fn rnn_every_3(
    h0: &Matrix<f64>,
    w: &Matrix<f64>,
    u: &Matrix<f64>,
    b: &Matrix<f64>,
    xs: &Matrix<f64>,
    steps: usize,
) -> f64 {
    let n = h0.rows();
    let mut h = h0.clone();
    let mut penalty = 0.0;
    #[checkpoint(every = 3)]
    for t in 0..steps {
        h = (h.matmul(w) + xs.slice_rows(t * n..(t + 1) * n).matmul(u) + b).tanh();
        if t % 2 == 0 {
            penalty += 0.1 * h.sum();
        }
    }
    0.5 * (&h * &h).sum() + penalty
}

/// [`rnn_every_3`] without the checkpoint, for reference.
#[differentiable(wrt(h0, w, u, b))]
fn rnn_penalty(
    h0: &Matrix<f64>,
    w: &Matrix<f64>,
    u: &Matrix<f64>,
    b: &Matrix<f64>,
    xs: &Matrix<f64>,
    steps: usize,
) -> f64 {
    let n = h0.rows();
    let mut h = h0.clone();
    let mut penalty = 0.0;
    for t in 0..steps {
        h = (h.matmul(w) + xs.slice_rows(t * n..(t + 1) * n).matmul(u) + b).tanh();
        if t % 2 == 0 {
            penalty += 0.1 * h.sum();
        }
    }
    0.5 * (&h * &h).sum() + penalty
}

fn matrix(rows: usize, cols: usize, seed: f64) -> Matrix<f64> {
    Matrix::from_vec(
        rows,
        cols,
        (0..rows * cols)
            .map(|k| ((k as f64 + 1.0) * seed).sin() * 0.5)
            .collect(),
    )
}

const STEPS: [usize; 6] = [0, 1, 2, 3, 7, 16];

fn inputs(steps: usize) -> [Matrix<f64>; 5] {
    [
        matrix(2, 3, 0.7),
        matrix(3, 3, 1.3),
        matrix(4, 3, 2.1),
        matrix(1, 3, 0.4),
        matrix(2 * steps.max(1), 4, 0.9),
    ]
}

fn assert_close(got: &[f64], want: &[f64], what: &str) {
    assert_eq!(got.len(), want.len(), "{what}");
    for (g, w) in got.iter().zip(want) {
        assert!(
            (g - w).abs() <= 1e-13 * (1.0 + w.abs()),
            "{what}: {g} vs {w}"
        );
    }
}

fn flat(ms: &[&Matrix<f64>]) -> Vec<f64> {
    ms.iter().flat_map(|m| m.as_slice().to_vec()).collect()
}

#[test]
fn checkpointed_loops_have_the_plain_gradient() {
    for steps in STEPS {
        let [h0, w, u, b, xs] = inputs(steps);
        let (v, (a, c, d, e)) = rnn_grad(&h0, &w, &u, &b, &xs, steps);
        let want = flat(&[&a, &c, &d, &e]);
        let (vs, (a, c, d, e)) = rnn_sqrt_grad(&h0, &w, &u, &b, &xs, steps);
        assert_eq!(vs, v, "the value is computed as before");
        assert_eq!(
            vs,
            rnn_sqrt(&h0, &w, &u, &b, &xs, steps),
            "the original runs as written"
        );
        assert_close(
            &flat(&[&a, &c, &d, &e]),
            &want,
            &format!("√ segments, {steps} steps"),
        );

        let (v, (a, c, d, e)) = rnn_penalty_grad(&h0, &w, &u, &b, &xs, steps);
        let want = flat(&[&a, &c, &d, &e]);
        let (v3, (a, c, d, e)) = rnn_every_3_grad(&h0, &w, &u, &b, &xs, steps);
        assert_eq!(v3, v);
        assert_close(
            &flat(&[&a, &c, &d, &e]),
            &want,
            &format!("every 3, {steps} steps"),
        );
    }
}

#[test]
fn checkpointed_loops_in_forward_mode_and_second_order() {
    for steps in [0, 4, 9] {
        let [h0, w, u, b, xs] = inputs(steps);
        let hessian = rnn_penalty_hessian(&h0, &w, &u, &b, &xs, steps);
        let cut = rnn_every_3_hessian(&h0, &w, &u, &b, &xs, steps);
        assert_close(
            cut.as_slice(),
            hessian.as_slice(),
            &format!("Hessian, {steps} steps"),
        );
        let (dh, dw, du, db) = (
            matrix(2, 3, 3.1),
            matrix(3, 3, 0.2),
            matrix(4, 3, 1.7),
            matrix(1, 3, 2.9),
        );
        let (v, t) = rnn_jvp(&h0, &w, &u, &b, &xs, steps, &dh, &dw, &du, &db);
        let (vs, ts) = rnn_sqrt_jvp(&h0, &w, &u, &b, &xs, steps, &dh, &dw, &du, &db);
        assert_eq!(
            (v, t),
            (vs, ts),
            "forward mode has nothing to store: the same program"
        );
        let (_, _, (a, c, d, e)) = rnn_hvp(&h0, &w, &u, &b, &xs, steps, &dh, &dw, &du, &db);
        let want = flat(&[&a, &c, &d, &e]);
        let (_, _, (a, c, d, e)) = rnn_sqrt_hvp(&h0, &w, &u, &b, &xs, steps, &dh, &dw, &du, &db);
        assert_close(
            &flat(&[&a, &c, &d, &e]),
            &want,
            &format!("hvp, {steps} steps"),
        );
    }
}

#[test]
fn a_checkpointed_loop_prints_segments() {
    let text = rnn_sqrt_derivation();
    println!("{text}");
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        lines[0].starts_with("for segment = ") && lines[0].ends_with(" down to 0:"),
        "{text}"
    );
    assert!(
        lines.iter().any(|l| l.starts_with("    for t = ")
            && l.ends_with("down to start + segment·segment_length:"))
            || lines.iter().any(|l| l.starts_with("    for t = ")),
        "{text}"
    );
    assert!(lines.contains(&"dh0 = dh"), "{text}");
}
