use autodiff::prelude::*;

#[differentiable]
fn square<T: Real>(x: T) -> T {
    x * x
}

fn main() {}
