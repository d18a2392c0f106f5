use autodiff::prelude::*;

fn helper(w: &Matrix<f64>) -> Matrix<f64> {
    w.exp()
}

// Every mistake in the body is reported, not just the first, and a binding whose value had an
// error (`a`, `c`, ...) is used later without any follow-up error.
#[differentiable]
fn loss(w: &Matrix<f64>, v: &Vector<f64>, n: i32, k: usize) -> f64 {
    let a = w.sum().floor();
    let b = v[w.sum()];
    let c = w.sum_axis(2);
    let d = v.sum().powi(n);
    let e = k as f64;
    let f = helper(w);
    println!("{a}");
    a + b + c.sum() + d + e + f.sum() + missing
}

fn main() {}
