use autodiff::prelude::*;

#[differentiable]
fn square(x: f64) -> f64 {
    let sq = |a: f64| a * a;
    sq(x)
}

fn main() {}
