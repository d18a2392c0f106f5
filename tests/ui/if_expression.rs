use autodiff::prelude::*;

#[differentiable]
fn magnitude(x: f64) -> f64 {
    let y = if x > 0.0 { x } else { -x };
    y
}

fn main() {}
