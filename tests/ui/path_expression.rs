use autodiff::prelude::*;

#[differentiable]
fn circle_area(r: f64) -> f64 {
    std::f64::consts::PI * r * r
}

fn main() {}
