use autodiff::prelude::*;

// `gather` takes labels of type `&[usize]`, one per row; they are constants, not math.
#[differentiable]
fn picked(z: &Matrix<f64>, n: usize, weights: &[f64], labels: &[usize]) -> f64 {
    let a = z.gather(n).sum();
    let b = z.gather(weights).sum();
    let c = z.sum() * labels;
    a + b + c
}

fn main() {}
