use autodiff::prelude::*;

#[differentiable]
fn shifted(x: f64) -> f64 {
    x + offset
}

fn main() {}
