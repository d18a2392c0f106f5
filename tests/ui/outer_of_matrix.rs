use autodiff::prelude::*;

// `u.outer(&v)` takes two vectors.
#[differentiable]
fn misused(s: f64, v: &Vector<f64>, m: &Matrix<f64>) -> f64 {
    let a = v.outer(m).sum() + m.outer(v).sum() + s.outer(v).sum();
    let b = v.outer().sum() + v.outer(v, v).sum();
    a + b
}

fn main() {}
