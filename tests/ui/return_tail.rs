use autodiff::prelude::*;

#[differentiable]
fn square(x: f64) -> f64 {
    return x * x
}

fn main() {}
