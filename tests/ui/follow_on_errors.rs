use autodiff::prelude::*;

// One mistake, one message: rustc does not report again what the macro reported (before, a
// `no method named matmul` and a ten-line list of `Add` impls followed these).
#[differentiable]
fn scalar_times_matrix(x: f64, w: &Matrix<f64>) -> f64 {
    x.matmul(w).sum()
}

#[differentiable]
fn vector_plus_integer(v: &Vector<f64>, n: usize) -> f64 {
    (v + n).sum()
}

fn main() {
    let _ = scalar_times_matrix(1.0, &Matrix::zeros(1, 1));
}
