use autodiff::prelude::*;

#[differentiable]
fn shifted(v: &Vector<f64>, m: &Matrix<f64>) -> f64 {
    (v + m).sum()
}

fn main() {}
