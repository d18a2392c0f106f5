use autodiff::prelude::*;

#[differentiable]
fn norm2((x, y): (f64, f64)) -> f64 {
    x * x + y * y
}

fn main() {}
