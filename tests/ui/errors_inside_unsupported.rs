use autodiff::prelude::*;

// The parts of a construct the macro rejects are checked too: every mistake in one compile.
#[differentiable]
fn average(x: &Matrix<f64>) -> f64 {
    let n = x.rows() as f64;
    x.sum() / n
}

#[differentiable]
fn cube(x: f64) -> f64 {
    let mut y = x;
    for _ in 0..2 {
        y = y.floor() * x;
        let z = y.round();
    }
    y
}

fn main() {}
