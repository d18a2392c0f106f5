use autodiff::prelude::*;

#[differentiable]
fn inner(u: &Vector<f64>, v: &Vector<f64>) -> f64 {
    u.matmul(v).sum()
}

fn main() {}
