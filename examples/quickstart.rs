//! The worked examples of the lecture notes, computed by generated code and printed next to the
//! results worked by hand: the ReLU pullback, `Y = X·W` with `dX = dY·Wᵀ` and `dW = Xᵀ·dY`, and a
//! scalar loss with its gradient. The first two also print their trace: each derivation line
//! with its numbers, upstream × local = downstream, as the notes work them.
//!
//! Run with `cargo run --example quickstart`.

use autodiff::prelude::*;

/// ReLU: an elementwise function, so its pullback is an elementwise product.
#[differentiable]
fn relu(x: &Vector<f64>) -> Vector<f64> {
    let y = x.relu();
    y
}

/// The linear layer of the notes.
#[differentiable]
fn linear(x: &Matrix<f64>, w: &Matrix<f64>) -> Matrix<f64> {
    let y = x.matmul(w);
    y
}

/// A scalar loss: squared error of a linear model with a bias.
#[differentiable(wrt(w, b))]
fn squared_error(x: &Matrix<f64>, w: &Matrix<f64>, b: &Matrix<f64>, t: &Matrix<f64>) -> f64 {
    let y = x.matmul(w) + b;
    let r = y - t;
    let loss = 0.5 * (&r * &r).sum();
    loss
}

fn show(label: &str, generated: &[f64], by_hand: &[f64]) {
    let same = generated == by_hand;
    println!("  {label:<4} generated {generated:?}");
    println!(
        "       by hand   {by_hand:?}   {}",
        if same { "✓ equal" } else { "✗ DIFFERENT" }
    );
    assert!(same, "{label}: generated and hand results differ");
}

fn main() {
    println!("1. ReLU, upstream × local = downstream");
    let x = Vector::from_vec(vec![1.0, -2.0, 3.0, -1.0]);
    let upstream = Vector::from_vec(vec![4.0, -1.0, 5.0, 9.0]);
    let (y, dx) = relu_vjp(&x, &upstream);
    show("y", y.as_slice(), &[1.0, 0.0, 3.0, 0.0]);
    // The local gradient is 1 where x > 0 and 0 elsewhere: [4·1, −1·0, 5·1, 9·0].
    show("dx", dx.as_slice(), &[4.0, 0.0, 5.0, 0.0]);
    println!("  derivation:\n{}", indent(relu_derivation()));
    println!(
        "  trace:\n{}\n",
        indent(&relu_trace_vjp(&x, &upstream).to_string())
    );

    println!("2. Y = X·W: dX = dY·Wᵀ, dW = Xᵀ·dY");
    let x = Matrix::from_rows(&[[2.0, 1.0, -3.0], [-3.0, 4.0, 2.0]]);
    let w = Matrix::from_rows(&[
        [3.0, 2.0, 1.0, -1.0],
        [2.0, 1.0, 3.0, 2.0],
        [3.0, 2.0, 1.0, -2.0],
    ]);
    let dy = Matrix::from_rows(&[[2.0, 3.0, -3.0, 9.0], [-8.0, 1.0, 4.0, 6.0]]);
    let (y, (dx, dw)) = linear_vjp(&x, &w, &dy);
    // y[0][0] = 2·3 + 1·2 + (−3)·3 = −1, and so on.
    show(
        "y",
        y.as_slice(),
        &[-1.0, -1.0, 2.0, 6.0, 5.0, 2.0, 11.0, 7.0],
    );
    // dx[0][0] = dy row 0 · w row 0 = 2·3 + 3·2 + (−3)·1 + 9·(−1) = 0: x11 only meets w's first row.
    show("dx", dx.as_slice(), &[0.0, 16.0, -9.0, -24.0, 9.0, -30.0]);
    // dw[0][0] = x column 0 · dy column 0 = 2·2 + (−3)·(−8) = 28.
    show(
        "dw",
        dw.as_slice(),
        &[
            28.0, 3.0, -18.0, 0.0, -30.0, 7.0, 13.0, 33.0, -22.0, -7.0, 17.0, -15.0,
        ],
    );
    println!("  derivation:\n{}", indent(linear_derivation()));
    println!(
        "  trace:\n{}\n",
        indent(&linear_trace_vjp(&x, &w, &dy).to_string())
    );

    println!("3. A scalar loss and its gradient");
    let x = Matrix::from_rows(&[[1.0, 2.0], [3.0, 4.0]]);
    let w = Matrix::from_rows(&[[0.5], [-1.0]]);
    let b = Matrix::from_rows(&[[0.25]]);
    let t = Matrix::from_rows(&[[1.0], [0.0]]);
    let (loss, (dw, db)) = squared_error_grad(&x, &w, &b, &t);
    // y = [0.5 − 2 + 0.25, 1.5 − 4 + 0.25] = [−1.25, −2.25]; r = y − t = [−2.25, −2.25];
    // loss = ½(2.25² + 2.25²) = 5.0625; dw = Xᵀ·r = [−9, −13.5]; db = Σ r = −4.5.
    show("loss", &[loss], &[5.0625]);
    show("dw", dw.as_slice(), &[-9.0, -13.5]);
    show("db", db.as_slice(), &[-4.5]);
    println!("  derivation:\n{}", indent(squared_error_derivation()));

    println!("\n4. Checking the generated derivatives against finite differences");
    let report = squared_error_gradcheck(&x, &w, &b, &t);
    print!("{}", indent(&report.to_string()));
    println!();
    report.assert_within(1e-6);

    println!("\n5. Checking a hand derivation: dX = dY·Wᵀ, dW = Xᵀ·dY written by hand");
    let x = Matrix::from_rows(&[[2.0, 1.0, -3.0], [-3.0, 4.0, 2.0]]);
    let w = Matrix::from_rows(&[
        [3.0, 2.0, 1.0, -1.0],
        [2.0, 1.0, 3.0, 2.0],
        [3.0, 2.0, 1.0, -2.0],
    ]);
    let report = linear_check_hand(&x, &w, linear_by_hand);
    print!("{}", indent(&report.to_string()));
    println!();
    report.assert_within(1e-12);
    println!("   and a wrong one, dW = X·dYᵀ (with a square W, where it computes):");
    let square_w = w.slice_cols(0..3);
    let report = linear_check_hand(&x, &square_w, linear_wrong_dw);
    print!("{}", indent(&report.to_string()));
    println!();
    assert_eq!(report.failing(1e-6), ["dw"]);
}

/// The notes' derivation, by hand: dX = dY·Wᵀ, dW = Xᵀ·dY.
fn linear_by_hand(
    x: &Matrix<f64>,
    w: &Matrix<f64>,
    dy: &Matrix<f64>,
) -> (Matrix<f64>, (Matrix<f64>, Matrix<f64>)) {
    (x.matmul(w), (dy.matmul(&w.t()), x.t().matmul(dy)))
}

/// A classic slip: dW = X·dYᵀ.
fn linear_wrong_dw(
    x: &Matrix<f64>,
    w: &Matrix<f64>,
    dy: &Matrix<f64>,
) -> (Matrix<f64>, (Matrix<f64>, Matrix<f64>)) {
    (x.matmul(w), (dy.matmul(&w.t()), x.matmul(&dy.t())))
}

fn indent(text: &str) -> String {
    text.lines()
        .map(|l| format!("    {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}
