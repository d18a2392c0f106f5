use autodiff::prelude::*;

#[differentiable]
fn square(x: f64) -> f64 {
    let mut y = x;
    y = y * x;
    y
}

fn main() {}
