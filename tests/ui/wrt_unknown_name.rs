use autodiff::prelude::*;

#[differentiable(wrt(w, bias))]
fn affine(x: &Matrix<f64>, w: &Matrix<f64>, b: &Matrix<f64>) -> f64 {
    (x.matmul(w) + b).sum()
}

fn main() {}
