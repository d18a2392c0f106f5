use autodiff::prelude::*;

#[differentiable]
fn circle_area(r: f64) -> f64 {
    let a = std::f32::consts::PI * r;
    let b = std::f64::consts::NOT_A_CONSTANT * r;
    a + b + core::mem::size_of
}

fn main() {}
