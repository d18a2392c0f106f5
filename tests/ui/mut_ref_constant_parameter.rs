use autodiff::prelude::*;

#[differentiable]
fn total(m: &Matrix<f64>, count: &mut usize) -> f64 {
    m.sum()
}

fn main() {}
