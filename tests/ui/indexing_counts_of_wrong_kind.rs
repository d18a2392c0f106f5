use autodiff::prelude::*;

// `len()` is a vector's, `rows()` and `cols()` a matrix's; an index is one `usize`.
#[differentiable]
fn counted(s: f64, v: &Vector<f64>, m: &Matrix<f64>, labels: &[usize]) -> f64 {
    let a = v.rows() as f64 + v.cols() as f64;
    let b = m.len() as f64;
    let c = s.len() as f64;
    let d = v[labels] + v[labels[0.5]];
    a + b + c + d
}

fn main() {}
