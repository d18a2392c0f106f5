use autodiff::prelude::*;

#[differentiable]
fn square(x: f64) -> f64 {
    let _a = [x, x];
    x * x
}

fn main() {}
