use autodiff::prelude::*;

#[differentiable]
fn quadratic(a: &Matrix<f64>, v: &Vector<f64>) -> f64 {
    v.t().matmul(&a.matmul(v)).sum()
}

fn main() {}
