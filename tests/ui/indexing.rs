use autodiff::prelude::*;

#[differentiable]
fn first(v: &Vector<f64>) -> f64 {
    v[0] * 2.0
}

fn main() {}
