use autodiff::prelude::*;

#[differentiable]
fn sum_of_squares(x: f64, y: f64) -> f64 {
    let (a, b) = (x * x, y * y);
    a + b
}

fn main() {}
