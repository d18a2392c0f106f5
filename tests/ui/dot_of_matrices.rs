use autodiff::prelude::*;

#[differentiable]
fn inner(a: &Matrix<f64>, b: &Matrix<f64>) -> f64 {
    a.dot(b)
}

fn main() {}
