use autodiff::prelude::*;

// `mean_axis` takes the literal axis `0` or `1`.
#[differentiable]
fn means(m: &Matrix<f64>, n: usize) -> f64 {
    let a = m.mean_axis(n).sum();
    let b = m.mean_axis(-1).sum();
    let c = m.mean_axis(0.0).sum();
    let d = m.mean_axis().sum();
    a + b + c + d
}

fn main() {}
