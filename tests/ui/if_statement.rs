use autodiff::prelude::*;

#[differentiable]
fn clipped(x: f64, v: &Vector<f64>) -> f64 {
    let mut y = x;
    if y > 1.0 {
        y = v * 2.0;
    }
    let mut z = x;
    if x {
        z = 1.0;
    }
    y + z
}

fn main() {}
