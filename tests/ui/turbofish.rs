use autodiff::prelude::*;

#[differentiable]
fn total(m: &Matrix<f64>) -> f64 {
    m.matmul::<Matrix<f64>>(m).sum()
}

fn main() {}
