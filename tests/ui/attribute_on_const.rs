use autodiff::prelude::*;

#[differentiable]
const SCALE: f64 = 2.0;

fn main() {}
