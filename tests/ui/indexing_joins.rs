use autodiff::prelude::*;

// `concat` joins vectors, `vstack` and `hstack` matrices, `Vector::from_vec` scalars.
#[differentiable]
fn joined(u: &Vector<f64>, m: &Matrix<f64>, s: f64) -> f64 {
    let a = u.concat(m).sum();
    let b = m.vstack(u).sum();
    let c = m.hstack(&s).sum();
    let d = Vector::from_vec(vec![s, u]).sum();
    let e = Vector::from_vec(u.as_slice().to_vec()).sum();
    a + b + c + d + e
}

fn main() {}
