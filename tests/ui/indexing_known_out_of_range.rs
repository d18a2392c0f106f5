use autodiff::prelude::*;

// Indices the macro can check are checked when it compiles: a vector written out has a known
// length, and no index is negative.
#[differentiable]
fn tail(x: &Vector<f64>, a: f64, b: f64) -> f64 {
    let w = Vector::from_vec(vec![a, b]);
    let p = w[2];
    let q = w.slice(1..3).sum();
    let r = x[-1];
    let s = x.slice(0..-1).sum();
    p + q + r + s
}

fn main() {}
