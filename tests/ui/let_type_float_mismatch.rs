use autodiff::prelude::*;

#[differentiable]
fn square(x: f64) -> f64 {
    let y: f32 = x * x;
    x
}

fn main() {}
