use autodiff::prelude::*;

// A callee must be defined before its caller: its signature macro is visible from there on.
#[differentiable]
fn caller(x: f64) -> f64 {
    later(x) * 2.0
}

#[differentiable]
fn later(x: f64) -> f64 {
    x * x
}

fn main() {}
