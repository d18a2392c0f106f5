use autodiff::prelude::*;

#[differentiable]
fn square(x: f64) -> f64 {
    let y = {
        let z = x * x;
    };
    x
}

fn main() {}
