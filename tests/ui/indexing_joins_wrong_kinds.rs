use autodiff::prelude::*;

// `concat` joins vectors, `vstack`/`hstack` matrices, `Vector::from_vec` scalars written out.
#[differentiable]
fn joined(v: &Vector<f64>, m: &Matrix<f64>, s: f64) -> f64 {
    let a = m.concat(&m).sum();
    let b = v.vstack(v).sum();
    let c = v.hstack(&m).sum();
    let d = Vector::from_vec(vec![s; 3]).sum();
    let e = Vector::from_vec(vec![s, 1]).sum();
    a + b + c + d + e
}

fn main() {}
