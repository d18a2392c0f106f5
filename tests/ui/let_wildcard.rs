use autodiff::prelude::*;

#[differentiable]
fn square(x: f64) -> f64 {
    let _ = x.exp();
    x * x
}

fn main() {}
