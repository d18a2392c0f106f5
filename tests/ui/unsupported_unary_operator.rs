use autodiff::prelude::*;

#[differentiable]
fn square(x: f64, y: &f64) -> f64 {
    x * *y
}

fn main() {}
