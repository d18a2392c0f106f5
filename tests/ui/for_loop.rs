use autodiff::prelude::*;

#[differentiable]
fn cube(x: f64) -> f64 {
    let mut y = x;
    for _ in 0..2 {
        y = y * x;
    }
    y
}

fn main() {}
