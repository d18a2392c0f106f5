use autodiff::prelude::*;

#[derive(Clone)]
struct Plain {
    w: Matrix<f64>,
}

// Its fields come from the derive: without it, rustc finds no macro `Plain`.
#[differentiable]
fn loss(p: &Plain, x: &Vector<f64>) -> f64 {
    p.w.matmul(x).sum()
}

fn main() {}
