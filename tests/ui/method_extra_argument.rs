use autodiff::prelude::*;

#[differentiable]
fn grow(x: f64) -> f64 {
    x.exp(1.0)
}

fn main() {}
