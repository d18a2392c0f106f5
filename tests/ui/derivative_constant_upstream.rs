use autodiff::prelude::*;

fn scaled(x: f64, n: usize) -> f64 {
    x * n as f64
}

// The last parameter is the upstream gradient, not a constant.
#[derivative(of = scaled)]
fn scaled_vjp(x: f64, n: usize) -> (f64, f64) {
    (scaled(x, n), n as f64)
}

fn main() {}
