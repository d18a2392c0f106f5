use autodiff::prelude::*;

// With an error in the body the derived functions are not generated; calls to them must not add
// a wall of follow-up errors (rustc itself drops "cannot find" errors after a failed attribute).
#[differentiable]
fn rounded(x: f64) -> f64 {
    x.floor() * 2.0
}

fn main() {
    let _ = rounded_grad(1.5);
    let _ = rounded_vjp(1.5, 1.0);
    let _ = rounded_derivation();
}
