use autodiff::prelude::*;

#[differentiable]
fn total(m: &Matrix<i32>) -> f64 {
    m.as_slice().len() as f64
}

fn main() {}
