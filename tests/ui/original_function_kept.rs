use autodiff::prelude::*;

// On an error the user's function keeps its signature, so `main` can call it without follow-up
// errors; its body is not compiled again (no `unused variable` warning, no second error on
// `floor`).
#[differentiable]
fn rounded(x: f64) -> f64 {
    let unused = x * 3.0;
    x.floor() * 2.0
}

fn main() {
    let y: f64 = rounded(1.5);
    let _ = y;
}
