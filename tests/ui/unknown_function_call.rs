use autodiff::prelude::*;

fn helper(x: f64) -> f64 {
    x * x
}

#[differentiable]
fn square(x: f64) -> f64 {
    helper(x) + 1.0
}

fn main() {}
