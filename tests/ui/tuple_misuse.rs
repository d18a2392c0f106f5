use autodiff::prelude::*;

#[differentiable]
fn pair(x: &Vector<f64>) -> (Vector<f64>, f64) {
    let y = x.tanh();
    (y.clone(), y.sum())
}

// The pattern names three parts of a pair.
#[differentiable]
fn too_many(x: &Vector<f64>) -> f64 {
    let (a, b, c) = pair(x);
    a.sum() + b + c
}

// A tuple result is taken apart, not used as a value.
#[differentiable]
fn as_a_value(x: &Vector<f64>) -> f64 {
    pair(x) * 2.0
}

// The body's tuple does not match the declared one.
#[differentiable]
fn mismatched(x: &Vector<f64>) -> (f64, f64) {
    (x.sum(), x.clone())
}

fn main() {}
