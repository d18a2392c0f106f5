use autodiff::prelude::*;

// Mistakes in the attribute, the signature and the body of one function are all reported.
#[differentiable(wrt(z))]
unsafe fn loss(w: &mut Matrix<f64>, v: Vector<f32>, x: f64) -> (f64, f64) {
    let a = w.sum().floor();
    (a, x)
}

fn main() {}
