use autodiff::prelude::*;

#[differentiable]
fn mixed(x: &Vector<f64>, n: usize) -> f64 {
    let a = x.sum() * 2;
    let b = x.sum() / x.len();
    let c = n.exp();
    let d = x.sum() % 2.0;
    a + b + c + d
}

fn main() {}
