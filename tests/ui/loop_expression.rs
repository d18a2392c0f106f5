use autodiff::prelude::*;

#[differentiable]
fn first(x: f64) -> f64 {
    let y = loop {
        break x * x;
    };
    y
}

fn main() {}
