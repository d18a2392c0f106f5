use autodiff::prelude::*;

#[differentiable]
fn total(m: &mut Matrix<f64>) -> f64 {
    m.sum()
}

fn main() {}
