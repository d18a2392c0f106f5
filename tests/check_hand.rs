//! `f_check_hand`: a hand-written pullback of `f_vjp`'s signature against the generated one,
//! at the given point and nearby ones with random upstreams. The notes' `Y = X·W` with
//! `dX = dY·Wᵀ`, `dW = Xᵀ·dY` passes; the classic mistakes fail, naming the gradient that is
//! wrong.

use autodiff::prelude::*;

#[differentiable]
fn linear(x: &Matrix<f64>, w: &Matrix<f64>) -> Matrix<f64> {
    let y = x.matmul(w);
    y
}

type LinearVjp = (Matrix<f64>, (Matrix<f64>, Matrix<f64>));

/// The notes' derivation: dX = dY·Wᵀ, dW = Xᵀ·dY.
fn by_the_notes(x: &Matrix<f64>, w: &Matrix<f64>, dy: &Matrix<f64>) -> LinearVjp {
    (x.matmul(w), (dy.matmul(&w.t()), x.t().matmul(dy)))
}

/// dW with the transposes in the wrong places: X·dYᵀ. Only square shapes let it run.
fn wrong_dw(x: &Matrix<f64>, w: &Matrix<f64>, dy: &Matrix<f64>) -> LinearVjp {
    (x.matmul(w), (dy.matmul(&w.t()), x.matmul(&dy.t())))
}

/// dW transposed: dYᵀ·X, of Wᵀ's shape.
fn transposed_dw(x: &Matrix<f64>, w: &Matrix<f64>, dy: &Matrix<f64>) -> LinearVjp {
    (x.matmul(w), (dy.matmul(&w.t()), dy.t().matmul(x)))
}

fn notes_example() -> (Matrix<f64>, Matrix<f64>) {
    let x = Matrix::from_rows(&[[2.0, 1.0, -3.0], [-3.0, 4.0, 2.0]]);
    let w = Matrix::from_rows(&[
        [3.0, 2.0, 1.0, -1.0],
        [2.0, 1.0, 3.0, 2.0],
        [3.0, 2.0, 1.0, -2.0],
    ]);
    (x, w)
}

#[test]
fn the_notes_derivation_passes() {
    let (x, w) = notes_example();
    let report = linear_check_hand(&x, &w, by_the_notes);
    report.assert_within(1e-12);
    let names: Vec<&str> = report.comparisons.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["value", "dx", "dw"]);
    assert!(report.to_string().contains("against the hand derivation"));
}

#[test]
fn a_wrong_dw_fails_naming_dw() {
    // Square shapes, where X·dYᵀ computes (and is wrong).
    let x = Matrix::from_rows(&[[2.0, 1.0, -3.0], [-3.0, 4.0, 2.0], [1.0, 0.5, -1.0]]);
    let w = Matrix::from_rows(&[[3.0, 2.0, 1.0], [2.0, 1.0, 3.0], [3.0, 2.0, 1.0]]);
    let report = linear_check_hand(&x, &w, wrong_dw);
    assert!(!report.within(1e-3), "{report}");
    assert_eq!(report.failing(1e-3), ["dw"], "{report}");
    let message = std::panic::catch_unwind(|| report.assert_within(1e-10))
        .expect_err("assert_within fails")
        .downcast::<String>()
        .unwrap();
    assert!(
        message.starts_with("hand derivation check failed at dw"),
        "{message}"
    );
}

#[test]
fn a_transposed_gradient_is_reported_by_shape() {
    let (x, w) = notes_example();
    let report = linear_check_hand(&x, &w, transposed_dw);
    assert_eq!(report.failing(1e-3), ["dw"], "{report}");
    let text = report.to_string();
    assert!(
        text.contains(
            "dw           the hand derivation's is a 4×3 matrix, the generated one a 3×4 matrix"
        ),
        "{text}"
    );
}

#[test]
fn a_hand_derivation_that_panics_is_reported() {
    // With the notes' shapes (2×3 and 3×4), X·dYᵀ multiplies 2×3 by 4×2: a shape panic.
    let (x, w) = notes_example();
    let report = linear_check_hand(&x, &w, wrong_dw);
    assert!(!report.within(1.0), "{report}");
    let text = report.to_string();
    assert!(text.contains("the hand derivation panicked"), "{text}");
    assert!(text.contains("matmul"), "{text}");
}

/// A loss with a scalar and a constant parameter, in f32: a missing factor 2 in one gradient
/// is found, at every trial point.
#[differentiable(wrt(w, b))]
fn ridge(x: &Matrix<f32>, w: &Vector<f32>, b: f32, lam: f32) -> f32 {
    let r = x.matmul(w) + b;
    r.dot(&r) + lam * w.dot(w)
}

fn ridge_by_hand(
    x: &Matrix<f32>,
    w: &Vector<f32>,
    b: f32,
    lam: f32,
    dout: f32,
) -> (f32, (Vector<f32>, f32)) {
    let r = x.matmul(w) + b;
    let value = r.dot(&r) + lam * w.dot(w);
    let dw = (x.t().matmul(&r) * 2.0 + w * (2.0 * lam)) * dout;
    let db = 2.0 * r.sum() * dout;
    (value, (dw, db))
}

fn ridge_missing_two(
    x: &Matrix<f32>,
    w: &Vector<f32>,
    b: f32,
    lam: f32,
    dout: f32,
) -> (f32, (Vector<f32>, f32)) {
    let (value, (dw, _)) = ridge_by_hand(x, w, b, lam, dout);
    let r = x.matmul(w) + b;
    (value, (dw, r.sum() * dout))
}

#[test]
fn scalars_and_f32_are_checked_too() {
    let x = Matrix::from_rows(&[[1.0f32, 0.5], [-0.3, 2.0], [0.7, -1.0]]);
    let w = Vector::from_vec(vec![0.2f32, -0.1]);
    ridge_check_hand(&x, &w, 0.3, 0.1, ridge_by_hand).assert_within(1e-5);
    let wrong = ridge_check_hand(&x, &w, 0.3, 0.1, ridge_missing_two);
    assert_eq!(wrong.failing(1e-3), ["db"], "{wrong}");
}

/// Parameter structs: the hand derivation takes and returns the struct; the report names its
/// fields as written (`dp.w`), and a method's as `dself.w`. `f_gradcheck` names them too.
#[derive(Differentiable, Clone, Debug, PartialEq)]
struct Layer {
    w: Matrix<f64>,
    b: Vector<f64>,
    #[no_derivative]
    name: String,
}

#[differentiable(wrt(p))]
fn layer_loss(p: &Layer, x: &Matrix<f64>) -> f64 {
    let z = x.matmul(&p.w) + &p.b;
    z.tanh().sum()
}

#[differentiable]
impl Layer {
    #[differentiable(wrt(self))]
    fn score(&self, x: &Matrix<f64>) -> f64 {
        let z = x.matmul(&self.w) + &self.b;
        z.tanh().sum()
    }
}

/// dz = dout·(1 − tanh²(z)), dW = xᵀ·dz, db = column sums of dz; `flip_b` negates db.
fn layer_by_hand(p: &Layer, x: &Matrix<f64>, dout: f64, flip_b: bool) -> (f64, Layer) {
    let a = (x.matmul(&p.w) + &p.b).tanh();
    let dz = (1.0 - &a * &a) * dout;
    let sign = if flip_b { -1.0 } else { 1.0 };
    let db: Vec<f64> = (0..dz.cols())
        .map(|j| sign * (0..dz.rows()).map(|i| dz[(i, j)]).sum::<f64>())
        .collect();
    let gradient = Layer {
        w: x.t().matmul(&dz),
        b: Vector::from_vec(db),
        name: p.name.clone(),
    };
    (a.sum(), gradient)
}

#[test]
fn structs_and_methods_are_checked_field_by_field() {
    let p = Layer {
        w: Matrix::from_rows(&[[0.1, 0.2], [0.3, -0.1]]),
        b: Vector::from_vec(vec![0.0, 0.5]),
        name: "layer".to_string(),
    };
    let x = Matrix::from_rows(&[[1.0, 2.0], [0.5, -1.0]]);
    let right = |p: &Layer, x: &Matrix<f64>, d: f64| layer_by_hand(p, x, d, false);
    let wrong = |p: &Layer, x: &Matrix<f64>, d: f64| layer_by_hand(p, x, d, true);
    let report = layer_loss_check_hand(&p, &x, right);
    report.assert_within(1e-12);
    assert_eq!(report.function, "layer_loss");
    let names: Vec<&str> = report.comparisons.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["value", "dp.w", "dp.b"]);
    assert_eq!(layer_loss_check_hand(&p, &x, wrong).failing(1e-6), ["dp.b"]);
    assert_eq!(p.score_check_hand(&x, wrong).failing(1e-6), ["dself.b"]);
    p.score_check_hand(&x, right).assert_within(1e-12);
    let numeric = layer_loss_gradcheck(&p, &x);
    let names: Vec<&str> = numeric
        .comparisons
        .iter()
        .map(|c| c.name.as_str())
        .collect();
    assert_eq!(names, ["p.w", "p.b", "directional"], "{numeric}");
}
