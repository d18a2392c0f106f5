//! A shape mismatch in generated code panics with the op, both shapes, the differentiable
//! function's name and the operation as written in its source.

use autodiff::prelude::*;

mod common;
use common::panic_location;

#[differentiable]
fn layer(x: &Matrix<f64>, w: &Matrix<f64>, b: &Matrix<f64>) -> f64 {
    let z = x.matmul(w) + b;
    z.relu().sum()
}

fn matrix(rows: usize, cols: usize) -> Matrix<f64> {
    Matrix::from_fn(rows, cols, |i, j| (i + j) as f64 * 0.1)
}

#[test]
#[should_panic(
    expected = "shape mismatch in `matmul`: left is 2×3, right is 4×5 (in `layer`, at `x.matmul(w)`)"
)]
fn a_product_names_the_function_and_the_operation() {
    layer_grad(&matrix(2, 3), &matrix(4, 5), &matrix(1, 5));
}

#[test]
#[should_panic(expected = "left is 2×5, right is 1×3 (in `layer`, at `x.matmul(w) + b`)")]
fn a_broadcast_names_the_function_and_the_operation() {
    layer_vjp(&matrix(2, 3), &matrix(3, 5), &matrix(1, 3), 1.0);
}

#[test]
#[should_panic(expected = "(in `layer`, at `x.matmul(w)`)")]
fn forward_mode_names_them_too() {
    layer_jvp(
        &matrix(2, 3),
        &matrix(4, 5),
        &matrix(1, 5),
        &matrix(2, 3),
        &matrix(4, 5),
        &matrix(1, 5),
    );
}

#[differentiable]
fn scale(x: &Matrix<f64>) -> Matrix<f64> {
    x * 2.0
}

#[differentiable]
fn affine(x: &Matrix<f64>, w: &Matrix<f64>, b: &Matrix<f64>) -> Matrix<f64> {
    x.matmul(w) + b
}

#[differentiable]
fn quadratic(w: &Vector<f64>, c: f64) -> f64 {
    c * w.dot(w)
}

/// The message of the panic `f` raises.
fn panic_message(f: impl FnOnce() + std::panic::UnwindSafe) -> String {
    let payload = std::panic::catch_unwind(f).expect_err("a wrong shape panics");
    *payload.downcast::<String>().expect("a formatted message")
}

#[test]
fn an_upstream_of_the_wrong_shape_is_named_on_entry() {
    // Before, this returned a 1×1 "gradient" for a 2×3 `x`.
    let message = panic_message(|| {
        scale_vjp(&matrix(2, 3), &matrix(1, 1));
    });
    assert_eq!(
        message,
        "autodiff: shape mismatch in `scale_vjp`: argument `dout` is 1×1, expected 2×3 (the \
         shape of the result)"
    );
    let message = panic_message(|| {
        affine_vjp(&matrix(2, 3), &matrix(3, 4), &matrix(1, 4), &matrix(1, 4));
    });
    assert!(
        message.contains("`affine_vjp`: argument `dout` is 1×4, expected 2×4"),
        "{message}"
    );
}

#[test]
fn a_tangent_of_the_wrong_shape_is_named_on_entry() {
    // Before, this returned a 7×1 tangent.
    let message = panic_message(|| {
        scale_jvp(&matrix(2, 3), &matrix(7, 1));
    });
    assert_eq!(
        message,
        "autodiff: shape mismatch in `scale_jvp`: argument `dx` is 7×1, expected 2×3 (the shape \
         of `x`)"
    );
    // Before, a 2×4 tangent for the 1×4 `b` broadcast silently.
    let message = panic_message(|| {
        let (x, w, b) = (matrix(2, 3), matrix(3, 4), matrix(1, 4));
        affine_jvp(&x, &w, &b, &matrix(2, 3), &matrix(3, 4), &matrix(2, 4));
    });
    assert!(
        message.contains("`affine_jvp`: argument `db` is 2×4, expected 1×4 (the shape of `b`)"),
        "{message}"
    );
    // A Hessian-vector product's direction too.
    let message = panic_message(|| {
        let w = Vector::from_vec(vec![1.0, 2.0]);
        quadratic_hvp(&w, 3.0, &Vector::from_vec(vec![1.0, 0.0, 0.0]), 0.0);
    });
    assert!(
        message.contains("argument `dw` is vector of 3, expected vector of 2 (the shape of `w`)"),
        "{message}"
    );
}

#[test]
fn arguments_of_the_right_shape_pass_the_checks() {
    let (x, w, b) = (matrix(2, 3), matrix(3, 4), matrix(1, 4));
    let (_, (dx, dw, db)) = affine_vjp(&x, &w, &b, &matrix(2, 4));
    assert_eq!(
        (dx.shape(), dw.shape(), db.shape()),
        ((2, 3), (3, 4), (1, 4))
    );
    let (y, dy) = affine_jvp(&x, &w, &b, &x, &w, &b);
    assert_eq!((y.shape(), dy.shape()), ((2, 4), (2, 4)));
}

#[test]
fn a_panic_in_generated_code_is_reported_where_it_was_called() {
    let line = line!() + 2;
    let location = panic_location(|| {
        layer_grad(&matrix(2, 3), &matrix(4, 5), &matrix(1, 5));
    });
    assert_eq!(location, format!("{}:{line}", file!()));
    let line = line!() + 2;
    let location = panic_location(|| {
        scale_jvp(&matrix(2, 3), &matrix(7, 1));
    });
    assert_eq!(location, format!("{}:{line}", file!()));
}

#[test]
fn outside_generated_code_the_message_has_no_context() {
    let result = std::panic::catch_unwind(|| matrix(2, 3).matmul(&matrix(4, 5)));
    let message = *result
        .expect_err("a mismatch panics")
        .downcast::<String>()
        .expect("a formatted message");
    assert_eq!(
        message,
        "autodiff: shape mismatch in `matmul`: left is 2×3, right is 4×5"
    );
    // And a generated function that returned leaves no context behind.
    let _ = layer_grad(&matrix(2, 3), &matrix(3, 5), &matrix(1, 5));
    let result = std::panic::catch_unwind(|| matrix(2, 3).matmul(&matrix(4, 5)));
    let message = *result
        .expect_err("panics")
        .downcast::<String>()
        .expect("text");
    assert!(!message.contains("(in `"), "{message}");
}

/// B4's layer: its Jacobian with respect to x is one pass over W (`W·x`, tanh′ and the row
/// scaling a block of rows at a time), which checks the shapes as the operations would have.
#[differentiable(wrt(x))]
fn tanh_layer(w: &Matrix<f64>, x: &Vector<f64>, b: &Vector<f64>) -> Vector<f64> {
    (w.matmul(x) + b).tanh()
}

fn vector(len: usize) -> Vector<f64> {
    Vector::from_vec((0..len).map(|k| k as f64 * 0.1).collect())
}

#[test]
fn a_row_scaling_by_a_product_checks_the_product_then_the_loop() {
    let message = panic_message(|| {
        tanh_layer_jacobian(&matrix(3, 2), &vector(4), &vector(3));
    });
    assert_eq!(
        message,
        "autodiff: shape mismatch in `matmul`: left is 3×2, right is vector of 4 (in \
         `tanh_layer`, at `w.matmul(x)`)"
    );
    // Both wrong: the product is named, as computing it first would have.
    let message = panic_message(|| {
        tanh_layer_jacobian(&matrix(3, 2), &vector(4), &vector(5));
    });
    assert!(message.contains("in `matmul`"), "{message}");
    let message = panic_message(|| {
        tanh_layer_jacobian(&matrix(3, 2), &vector(2), &vector(5));
    });
    assert_eq!(
        message,
        "autodiff: shape mismatch in `add`: left is vector of 3, right is vector of 5 (in \
         `tanh_layer`, at `w.matmul(x) + b`)"
    );
}
