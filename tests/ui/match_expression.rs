use autodiff::prelude::*;

#[differentiable]
fn pick(x: f64, first: bool) -> f64 {
    match first {
        true => x,
        false => -x,
    }
}

fn main() {}
