use autodiff::prelude::*;

#[differentiable]
fn square(x: f64) -> f64 {
    let y = x * x else { return 0.0 };
    y
}

fn main() {}
