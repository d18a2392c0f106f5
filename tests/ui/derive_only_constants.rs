use autodiff::prelude::*;

#[derive(Differentiable, Clone)]
struct Settings {
    #[no_derivative]
    rate: f64,
}

fn main() {}
