use autodiff::prelude::*;

#[differentiable]
fn activations(m: &Matrix<f64>) -> f64 {
    m.relu()
}

fn main() {}
