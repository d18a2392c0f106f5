use autodiff::prelude::*;

// f_grad, f_hvp and f_hessian differentiate a scalar result; a vector has none.
#[differentiable(only(vjp, grad, jacobian, hessian))]
fn layer(w: &Matrix<f64>, x: &Vector<f64>) -> Vector<f64> {
    let y = w.matmul(x).tanh();
    y
}

fn main() {}
