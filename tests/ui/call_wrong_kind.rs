use autodiff::prelude::*;

#[differentiable]
fn norm2(v: &Vector<f64>) -> f64 {
    v.dot(v)
}

// `norm2` takes a vector; a matrix argument is reported on the argument.
#[differentiable]
fn caller(m: &Matrix<f64>) -> f64 {
    norm2(m) * 2.0
}

fn main() {}
