use autodiff::prelude::*;

#[differentiable(only(grad, gradient))]
fn square(x: f64) -> f64 {
    x * x
}

fn main() {}
