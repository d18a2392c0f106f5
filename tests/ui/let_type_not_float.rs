use autodiff::prelude::*;

#[differentiable]
fn square(x: f64) -> f64 {
    let y: i64 = x * x;
    x
}

fn main() {}
