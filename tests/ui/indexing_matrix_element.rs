use autodiff::prelude::*;

// A matrix's element is `m[(i, j)]`, both indices `usize`; a scalar has no entries.
#[differentiable]
fn elements(m: &Matrix<f64>, i: usize, s: f64) -> f64 {
    let a = m[(0, -1)];
    let b = m[(s, 1)];
    let c = m[i][0];
    let d = s[0];
    a + b + c + d
}

fn main() {}
