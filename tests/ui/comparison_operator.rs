use autodiff::prelude::*;

#[differentiable]
fn positive_part(x: f64) -> f64 {
    let p = x > 0.0;
    x
}

fn main() {}
