//! `autodiff` under the name `ad`: `#[differentiable(crate = "ad")]` and
//! `#[derivative(of = f, crate = "ad")]` make every generated path start at `::ad`.

use ad::prelude::*;

/// ln(1 + eˣ), with its pullback by hand.
pub fn softplus(x: f64) -> f64 {
    if x > 30.0 {
        x
    } else {
        x.exp().ln_1p()
    }
}

#[derivative(of = softplus, crate = "ad")]
pub fn softplus_vjp(x: f64, dy: f64) -> (f64, f64) {
    (softplus(x), dy * x.sigmoid())
}

#[differentiable(crate = "ad")]
pub fn layer(w: &Matrix<f64>, x: &Vector<f64>) -> f64 {
    let y = w.matmul(x).tanh();
    y.sum()
}

#[differentiable(wrt(w), crate = "ad")]
pub fn loss(w: &Vector<f64>, x: &Vector<f64>) -> f64 {
    softplus(w.dot(x)) + 0.5 * w.dot(w)
}

#[differentiable(only(jacobian), crate = "ad", wrt(x))]
pub fn scaled(w: &Matrix<f64>, x: &Vector<f64>) -> Vector<f64> {
    let y = w.matmul(x) * 2.0;
    y
}
