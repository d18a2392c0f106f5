use autodiff::prelude::*;

// The linear algebra of square matrices takes matrices; `solve` a matrix and a vector or a
// matrix; `norm` a tensor; `diag` makes a matrix of a vector and `diagonal` reads a matrix's.
#[differentiable]
fn misused(v: &Vector<f64>, m: &Matrix<f64>, s: f64) -> f64 {
    let a = v.det() + v.logdet() + v.trace() + v.inverse().sum();
    let b = m.solve(&s).sum() + v.solve(v).sum() + s.norm();
    let c = m.diag().sum() + v.diagonal().sum();
    a + b + c
}

fn main() {}
