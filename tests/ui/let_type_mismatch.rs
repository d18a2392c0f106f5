use autodiff::prelude::*;

#[differentiable]
fn total(m: &Matrix<f64>) -> f64 {
    let s: Matrix<f64> = m.sum();
    s.sum()
}

fn main() {}
