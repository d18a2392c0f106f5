use autodiff::prelude::*;

#[differentiable(only(grad, vjp, grad))]
fn square(x: f64) -> f64 {
    x * x
}

fn main() {}
