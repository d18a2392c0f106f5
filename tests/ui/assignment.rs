use autodiff::prelude::*;

#[differentiable]
fn square(x: f64, v: &Vector<f64>) -> f64 {
    let y = x;
    y = y * x;
    let mut s = x;
    s = v * 2.0;
    x = 1.0;
    s
}

fn main() {}
