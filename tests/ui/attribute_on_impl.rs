use autodiff::prelude::*;

struct Layer;

#[differentiable]
impl Layer {
    fn forward(x: f64) -> f64 {
        x * x
    }
}

fn main() {}
