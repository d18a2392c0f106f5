use autodiff::prelude::*;

#[differentiable]
fn double(x: f64) -> f64 {
    let name = "x";
    x * 2.0
}

fn main() {}
