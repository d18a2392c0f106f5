use autodiff::prelude::*;

#[differentiable]
fn rounded(x: f64) -> f64 {
    x.floor() * 2.0
}

fn main() {}
