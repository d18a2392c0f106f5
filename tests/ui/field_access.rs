use autodiff::prelude::*;

#[differentiable]
fn first(pair: (f64, f64), x: f64) -> f64 {
    x * pair.0
}

fn main() {}
