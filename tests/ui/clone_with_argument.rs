use autodiff::prelude::*;

#[differentiable]
fn copy(m: &Matrix<f64>) -> f64 {
    m.clone(m).sum()
}

fn main() {}
