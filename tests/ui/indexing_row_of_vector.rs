use autodiff::prelude::*;

// Rows and columns are a matrix's; their indices are integers.
#[differentiable]
fn parts(v: &Vector<f64>, m: &Matrix<f64>) -> f64 {
    let a = v.row(0).sum();
    let b = v.col(1).sum();
    let c = v.slice_cols(0..1).sum();
    let d = m.row(1.0).sum();
    a + b + c + d
}

fn main() {}
