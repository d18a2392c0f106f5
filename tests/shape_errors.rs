//! A shape mismatch in generated code panics with the op, both shapes, the differentiable
//! function's name and the operation as written in its source.

use autodiff::prelude::*;

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
        &matrix(3, 5),
        &matrix(1, 5),
        &matrix(2, 3),
        &matrix(3, 4),
        &matrix(1, 5),
    );
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
