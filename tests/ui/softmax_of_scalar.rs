use autodiff::prelude::*;

#[differentiable]
fn normalized(x: f64) -> f64 {
    x.softmax()
}

fn main() {}
