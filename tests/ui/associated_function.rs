use autodiff::prelude::*;

struct Model;

impl Model {
    #[differentiable]
    fn make(x: f64) -> Self {
        Model
    }
}

fn main() {}
