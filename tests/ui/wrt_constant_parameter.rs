use autodiff::prelude::*;

#[differentiable(wrt(x, n))]
fn scaled(x: f64, n: usize) -> f64 {
    x * x
}

fn main() {}
