use autodiff::prelude::*;

// A tuple result holds scalars, vectors and matrices only.
#[differentiable]
fn both(x: f64) -> (f64, usize) {
    (x, 2)
}

fn main() {}
