use autodiff::prelude::*;

#[differentiable]
enum Activation {
    Relu,
    Tanh,
}

fn main() {}
