use autodiff::prelude::*;

#[differentiable]
fn total(m: Matrix<f64>) -> f64 {
    let mut n = m;
    (&mut n).sum()
}

fn main() {}
