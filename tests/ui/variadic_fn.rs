use autodiff::prelude::*;

#[differentiable]
unsafe extern "C" fn total(x: f64, args: ...) -> f64 {
    x * x
}

fn main() {}
