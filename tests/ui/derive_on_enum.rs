use autodiff::prelude::*;

#[derive(Differentiable, Clone)]
enum Layer {
    Dense(Matrix<f64>),
}

fn main() {}
