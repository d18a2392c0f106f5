use autodiff::prelude::*;

#[differentiable]
fn square(x: f64) -> f64 {
    let mut y = x;
    y %= x;
    let z = (y += x);
    y
}

fn main() {}
