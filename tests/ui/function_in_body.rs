use autodiff::prelude::*;

#[differentiable]
fn square(x: f64) -> f64 {
    fn helper(a: f64) -> f64 {
        a * a
    }
    helper(x)
}

fn main() {}
