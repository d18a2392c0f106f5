use autodiff::prelude::*;

#[differentiable]
fn clipped(x: f64) -> f64 {
    let mut y = x;
    if y > 1.0 {
        y = 1.0;
    }
    y
}

fn main() {}
