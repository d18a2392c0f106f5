use autodiff::prelude::*;

#[differentiable(crate = ad)]
fn square(x: f64) -> f64 {
    x * x
}

fn main() {}
