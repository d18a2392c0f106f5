use autodiff::prelude::*;

#[differentiable]
fn gram(m: &Matrix<f64>) -> Matrix<f64> {
    m.matmul()
}

fn main() {}
