use autodiff::prelude::*;

// The linear algebra takes matrices (and `diag` a vector), with the arguments it names.
#[differentiable]
fn misused(s: f64, v: &Vector<f64>, m: &Matrix<f64>) -> f64 {
    let a = s.det() + s.inverse() + s.trace() + s.logdet();
    let b = s.diag().sum() + s.diagonal().sum();
    let c = s.solve(v).sum() + m.solve().sum() + m.solve(&m, &m).sum();
    let d = m.inverse(1.0).sum();
    a + b + c + d
}

fn main() {}
