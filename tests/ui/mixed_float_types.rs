use autodiff::prelude::*;

#[differentiable]
fn mix(x: f64, y: f32) -> f64 {
    x * 2.0
}

fn main() {}
