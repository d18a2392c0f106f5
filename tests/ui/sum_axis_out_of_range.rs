use autodiff::prelude::*;

#[differentiable]
fn column_sums(m: &Matrix<f64>) -> Matrix<f64> {
    m.sum_axis(2)
}

fn main() {}
