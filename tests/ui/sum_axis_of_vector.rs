use autodiff::prelude::*;

#[differentiable]
fn total(v: &Vector<f64>) -> f64 {
    v.sum_axis(0).sum()
}

fn main() {}
