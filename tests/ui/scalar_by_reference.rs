use autodiff::prelude::*;

// A scalar parameter is taken by value; `&f64` is neither differentiable nor a silent constant.
#[differentiable]
fn scale(x: &Matrix<f64>, s: &f64) -> f64 {
    x.sum()
}

fn main() {}
