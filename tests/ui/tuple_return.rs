use autodiff::prelude::*;

#[differentiable]
fn both(x: f64) -> (f64, f64) {
    (x, x * x)
}

fn main() {}
