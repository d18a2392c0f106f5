use autodiff::prelude::*;

// `gather` picks one entry of each row of a matrix, with one label per row.
#[differentiable]
fn picked(v: &Vector<f64>, m: &Matrix<f64>, labels: &[usize]) -> f64 {
    let a = v.gather(labels).sum();
    let b = m.gather(labels, 0).sum();
    a + b
}

fn main() {}
