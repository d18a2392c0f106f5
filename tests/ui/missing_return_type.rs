use autodiff::prelude::*;

#[differentiable]
fn square(x: f64) {
    let _y = x * x;
}

fn main() {}
