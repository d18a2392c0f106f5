use autodiff::prelude::*;

#[differentiable]
fn scaled(x: f64, n: usize) -> f64 {
    let k = x as usize;
    let m = n as i32;
    x * (n as f32)
}

fn main() {}
