use autodiff::prelude::*;

#[differentiable]
fn power(x: f64) -> f64 {
    x.powi(2.0)
}

fn main() {}
