use autodiff::prelude::*;

#[differentiable]
fn total(m: &Matrix<f64>) -> f64 {
    let e: &Matrix<f64> = &m.exp();
    e.sum()
}

fn main() {}
