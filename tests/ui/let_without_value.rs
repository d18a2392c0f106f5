use autodiff::prelude::*;

#[differentiable]
fn square(x: f64) -> f64 {
    let y;
    y = x * x;
    y
}

fn main() {}
