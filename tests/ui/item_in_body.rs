use autodiff::prelude::*;

#[differentiable]
fn square(x: f64) -> f64 {
    const TWO: f64 = 2.0;
    x * x
}

fn main() {}
