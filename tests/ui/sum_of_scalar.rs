use autodiff::prelude::*;

#[differentiable]
fn total(x: f64) -> f64 {
    x.sum()
}

fn main() {}
