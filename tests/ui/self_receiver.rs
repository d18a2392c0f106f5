use autodiff::prelude::*;

struct Model {
    scale: f64,
}

impl Model {
    #[differentiable]
    fn loss(&self, x: f64) -> f64 {
        x * x
    }
}

fn main() {}
