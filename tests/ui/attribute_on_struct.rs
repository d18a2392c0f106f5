use autodiff::prelude::*;

#[differentiable]
struct Layer {
    w: Matrix<f64>,
    b: Matrix<f64>,
}

fn main() {}
