use autodiff::prelude::*;

// `maximum`/`minimum` are elementwise on tensors and `max`/`min` compare scalars; `powf` takes
// a scalar exponent and `clamp` scalar bounds.
#[differentiable]
fn misused(x: f64, v: &Vector<f64>, m: &Matrix<f64>) -> f64 {
    let a = x.maximum(1.0) + v.max(x).sum() + m.minimum(v).sum();
    let b = v.powf(v).sum() + m.clamp(x, v).sum() + x.clamp(0.0);
    a + b
}

fn main() {}
