use autodiff::prelude::*;

#[differentiable]
fn total(x: &'static Matrix<f64>) -> f64 {
    x.sum()
}

fn main() {}
