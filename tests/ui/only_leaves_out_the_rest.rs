use autodiff::prelude::*;

// Items not named in `only(...)` (and not called by one that is) are not generated.
#[differentiable(only(grad))]
fn quadratic(x: &Vector<f64>) -> f64 {
    x.dot(x)
}

fn main() {
    let x = Vector::from_vec(vec![1.0, 2.0]);
    let _ = quadratic_grad(&x);
    let _ = quadratic_hessian(&x);
}
