use autodiff::prelude::*;

#[differentiable]
fn square(x: f64) -> f64 {
    x.exp();
    x * x
}

fn main() {}
