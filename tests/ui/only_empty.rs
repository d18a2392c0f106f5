use autodiff::prelude::*;

#[differentiable(wrt(x), only())]
fn product(x: f64, y: f64) -> f64 {
    x * y
}

fn main() {}
