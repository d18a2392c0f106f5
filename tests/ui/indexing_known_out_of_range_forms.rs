use autodiff::prelude::*;

// Lengths known when the macro runs are checked through `..=`, index arithmetic, joins and
// reversed ranges too.
#[differentiable]
fn tail(a: f64, b: f64) -> f64 {
    let w = Vector::from_vec(vec![a, b]);
    let p = w.slice(0..=2).sum();
    let q = w[1 + 1];
    let r = w.concat(&w)[4];
    let s = w.slice(2..1).sum();
    p + q + r + s
}

fn main() {}
