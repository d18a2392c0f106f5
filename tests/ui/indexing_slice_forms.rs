use autodiff::prelude::*;

// A slice is a range of integers with both bounds, `a..b` or `a..=b`: no step, no open ends.
#[differentiable]
fn parts(x: &Vector<f64>, m: &Matrix<f64>, n: usize) -> f64 {
    let a = x.slice((0..4).step_by(2)).sum();
    let b = x.slice(..).sum();
    let c = x.slice(..3).sum();
    let d = m.slice_rows(0.0..1.0).sum();
    let e = x.slice(0..n, 2).sum();
    a + b + c + d + e
}

fn main() {}
