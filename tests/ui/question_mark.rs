use autodiff::prelude::*;

#[differentiable]
fn root(x: f64) -> f64 {
    let y = Some(x.sqrt())?;
    y
}

fn main() {}
