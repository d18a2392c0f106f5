use autodiff::prelude::*;

// A field of a struct without the derive.
#[derive(Clone)]
struct Layer {
    w: Matrix<f64>,
}

#[derive(Differentiable, Clone)]
struct Net {
    first: Layer,
    bias: Vector<f64>,
}

fn main() {}
