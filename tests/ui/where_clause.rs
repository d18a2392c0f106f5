use autodiff::prelude::*;

#[differentiable]
fn square(x: f64) -> f64
where
    f64: Copy,
{
    x * x
}

fn main() {}
