use autodiff::prelude::*;

#[differentiable(only(grad), wrt(x), only(vjp))]
fn product(x: f64, y: f64) -> f64 {
    x * y
}

fn main() {}
