use autodiff::prelude::*;

// `max()` and `min()` reduce tensors; `mean_axis` takes a matrix and the axis 0 or 1.
#[differentiable]
fn reduced(s: f64, v: &Vector<f64>, m: &Matrix<f64>) -> f64 {
    let a = s.max();
    let b = m.mean_axis(2).sum();
    let c = v.mean_axis(0).sum();
    let d = v.max(m);
    a + b + c + d
}

fn main() {}
