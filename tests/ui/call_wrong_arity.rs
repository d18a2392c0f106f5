use autodiff::prelude::*;

#[differentiable]
fn scale(x: f64, s: f64) -> f64 {
    x * s
}

#[differentiable]
fn caller(x: f64) -> f64 {
    scale(x) + 1.0
}

fn main() {}
