use autodiff::prelude::*;

// Indices are integers known before the function runs; ranges are taken with `slice`.
#[differentiable]
fn parts(v: &Vector<f64>, m: &Matrix<f64>, x: f64) -> f64 {
    let a = v[x];
    let b = v[0..2].sum();
    let c = m[0];
    let d = v.slice(1).sum();
    let e = m.slice_rows(1..).sum();
    a + b + c + d + e
}

fn main() {}
