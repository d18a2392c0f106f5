use autodiff::prelude::*;

#[differentiable]
fn positive_part(x: f64, v: &Vector<f64>, w: &Vector<f64>) -> f64 {
    let p = v > w;
    let q = (x > 0.0) * x;
    x
}

fn main() {}
