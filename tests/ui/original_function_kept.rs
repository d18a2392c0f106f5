use autodiff::prelude::*;

// On an error the user's function is still emitted as written: rustc compiles it (hence the
// `unused variable` warning from its body) and `main` can call it without follow-up errors.
#[differentiable]
fn rounded(x: f64) -> f64 {
    let unused = x * 3.0;
    x.floor() * 2.0
}

fn main() {
    let y: f64 = rounded(1.5);
    let _ = y;
}
