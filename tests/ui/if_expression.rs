use autodiff::prelude::*;

#[differentiable]
fn magnitude(x: f64, v: &Vector<f64>) -> f64 {
    let a = if x > 0.0 { x };
    let b = if x > 0.0 { x } else { v * 2.0 };
    let c = if v { x } else { -x };
    x
}

fn main() {}
