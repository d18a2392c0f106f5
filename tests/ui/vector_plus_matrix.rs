use autodiff::prelude::*;

// A vector plus a matrix applies the vector to every row: the result is a matrix.
#[differentiable]
fn shifted(v: &Vector<f64>, m: &Matrix<f64>) -> Vector<f64> {
    v + m
}

fn main() {}
