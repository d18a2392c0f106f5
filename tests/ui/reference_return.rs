use autodiff::prelude::*;

#[differentiable]
fn identity(m: &Matrix<f64>) -> &Matrix<f64> {
    m
}

fn main() {}
