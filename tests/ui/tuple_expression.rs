use autodiff::prelude::*;

#[differentiable]
fn square(x: f64) -> f64 {
    let _pair = (x, x * x);
    x * x
}

fn main() {}
