use autodiff::prelude::*;

fn softplus(x: f64) -> f64 {
    x.exp().ln_1p()
}

#[derivative]
fn softplus_vjp(x: f64, dy: f64) -> (f64, f64) {
    (softplus(x), dy * x.sigmoid())
}

fn main() {}
