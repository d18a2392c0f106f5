use autodiff::prelude::*;

#[differentiable]
fn scale<const N: usize>(x: f64) -> f64 {
    x * 2.0
}

fn main() {}
