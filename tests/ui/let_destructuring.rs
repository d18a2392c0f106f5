use autodiff::prelude::*;

#[differentiable]
fn sum_of_squares(x: f64, y: f64) -> f64 {
    let (a, (b, c)) = (x * x, (y * y, x));
    a + b + c
}

fn main() {}
