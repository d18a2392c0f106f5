//! The five functions of docs/DERIVATIONS.md (issue 18): their derivations read as a textbook
//! writes them (checked line by line where the rules that make them so apply), and the programs
//! behind those derivations are still right: each gradient against finite differences.

use autodiff::prelude::*;

#[differentiable(wrt(x, gamma, beta))]
fn batch_norm(x: &Matrix<f64>, gamma: &Vector<f64>, beta: &Vector<f64>) -> Matrix<f64> {
    let mu = x.mean_axis(0);
    let xc = x - &mu;
    let var = (&xc * &xc).mean_axis(0);
    let xhat = xc / (var + 1e-5).sqrt();
    let y = xhat * gamma + beta;
    y
}

#[differentiable(wrt(w, b))]
fn softmax_loss(x: &Matrix<f64>, w: &Matrix<f64>, b: &Vector<f64>, labels: &[usize]) -> f64 {
    let scores = x.matmul(w) + b;
    let lp = scores.log_softmax();
    -lp.gather(labels).mean()
}

#[differentiable]
fn attention(q: &Matrix<f64>, k: &Matrix<f64>, v: &Matrix<f64>) -> Matrix<f64> {
    let scores = q.matmul(&k.t()) / (q.cols() as f64).sqrt();
    let p = scores.softmax();
    let out = p.matmul(v);
    out
}

#[differentiable(wrt(h0, w, u, b))]
fn rnn(
    h0: &Matrix<f64>,
    w: &Matrix<f64>,
    u: &Matrix<f64>,
    b: &Vector<f64>,
    x: &Matrix<f64>,
    steps: usize,
) -> f64 {
    let batch = h0.rows();
    let mut h = h0.clone();
    for t in 0..steps {
        let xt = x.slice_rows(t * batch..(t + 1) * batch);
        h = (h.matmul(w) + xt.matmul(u) + b).tanh();
    }
    0.5 * (&h * &h).sum()
}

fn matrix(rows: usize, cols: usize, seed: f64) -> Matrix<f64> {
    Matrix::from_fn(rows, cols, |i, j| {
        ((i * cols + j) as f64 * 0.73 + seed).sin()
    })
}

fn vector(n: usize, seed: f64) -> Vector<f64> {
    Vector::from_vec(
        (0..n)
            .map(|i| (i as f64 * 1.3 + seed).cos() * 0.5)
            .collect(),
    )
}

#[test]
fn batch_norm_reads_like_the_paper_and_is_right() {
    let lines: Vec<&str> = batch_norm_derivation().lines().collect();
    // x − μ has x's shape: no sum_to back to x; sums down to a row are sum_axis(·, 0); the two
    // uses of xc in xc ⊙ xc meet as 2·(…); no temporary's number.
    assert!(
        lines.contains(&"dx = dxc + 𝟏·(dmu / rows(x))"),
        "{lines:#?}"
    );
    assert!(lines.contains(&"dmu = sum_axis(−dxc, 0)"), "{lines:#?}");
    assert!(
        lines.iter().any(|l| l.starts_with("dvar = sum_axis(")),
        "{lines:#?}"
    );
    assert!(lines.iter().any(|l| l.contains("2·(")), "{lines:#?}");
    assert!(lines.iter().all(|l| !l.starts_with('t')), "{lines:#?}");
    let (x, gamma, beta) = (matrix(5, 3, 0.2), vector(3, 0.4), vector(3, 1.1));
    batch_norm_gradcheck(&x, &gamma, &beta).assert_within(1e-6);
}

#[test]
fn the_softmax_loss_pulls_back_a_scaled_one_hot() {
    assert!(
        softmax_loss_derivation().starts_with("dlp = (−dout / rows(lp))·onehot(labels)\n"),
        "{}",
        softmax_loss_derivation()
    );
    let (x, w, b) = (matrix(4, 3, 0.1), matrix(3, 5, 0.7), vector(5, 0.3));
    softmax_loss_gradcheck(&x, &w, &b, &[4, 0, 2, 2]).assert_within(1e-6);
    // And its Hessian (the count of rows is a constant to forward mode too).
    let hessian = softmax_loss_hessian(&x, &w, &b, &[4, 0, 2, 2]);
    assert_eq!(hessian.shape(), (20, 20));
}

#[test]
fn attention_is_right() {
    let (q, k, v) = (matrix(3, 4, 0.5), matrix(3, 4, 1.5), matrix(3, 2, 2.5));
    attention_gradcheck(&q, &k, &v).assert_within(1e-6);
}

#[test]
fn the_rnn_names_its_pre_activation_once() {
    let derivation = rnn_derivation();
    let lines: Vec<&str> = derivation.lines().collect();
    assert_eq!(lines[1].trim(), "dz = dh ⊙ (1 − h_2²)", "{derivation}");
    assert_eq!(derivation.matches("(1 − h_2²)").count(), 1, "{derivation}");
    // No temporary numbers: the kept products are spelled hw and xtu.
    let temporary =
        |w: &str| w.len() > 1 && w.starts_with('t') && w[1..].chars().all(|c| c.is_ascii_digit());
    let words = derivation.split(|c: char| !c.is_alphanumeric() && c != '_');
    assert!(
        !words.clone().any(|w| !w.is_empty() && temporary(w)),
        "{derivation}"
    );
    let (h0, w, u, b) = (
        matrix(2, 3, 0.3),
        matrix(3, 3, 0.9),
        matrix(2, 3, 1.7),
        vector(3, 0.2),
    );
    let x = matrix(8, 2, 0.6);
    let report = rnn_gradcheck(&h0, &w, &u, &b, &x, 4);
    report.assert_within(1e-6);
}
