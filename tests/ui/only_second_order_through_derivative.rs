use autodiff::prelude::*;

fn softplus(x: f64) -> f64 {
    if x > 30.0 {
        x
    } else {
        x.exp().ln_1p()
    }
}

// A hand-written pullback gives first derivatives only.
#[derivative(of = softplus)]
fn softplus_vjp(x: f64, dy: f64) -> (f64, f64) {
    (softplus(x), dy * x.sigmoid())
}

#[differentiable(only(grad, hessian))]
fn loss(w: &Vector<f64>, x: &Vector<f64>) -> f64 {
    softplus(w.dot(x)) + 0.5 * w.dot(w)
}

fn main() {}
