use autodiff::prelude::*;

// The elementwise functions take no argument (they apply to their receiver): each misuse is
// reported on its own arguments, in one compile.
#[differentiable]
fn misused(x: &Vector<f64>, s: f64) -> f64 {
    let a = x.ln_1p(s).sum() + x.exp_m1(2.0).sum() + x.recip(x).sum();
    let b = x.tan(s).sum() + x.atan(s, s).sum() + x.sinh(1.0).sum() + x.cosh(s).sum();
    let c = x.softplus(0.0).sum() + s.log_sigmoid(s);
    a + b + c
}

fn main() {}
