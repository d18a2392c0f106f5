use autodiff::prelude::*;

fn softplus(x: f64) -> f64 {
    x.exp().ln_1p()
}

// A pullback returns (value, gradient).
#[derivative(of = softplus)]
fn softplus_vjp(x: f64, dy: f64) -> f64 {
    dy * x.sigmoid()
}

fn main() {}
