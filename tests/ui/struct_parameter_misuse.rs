use autodiff::prelude::*;

#[derive(Differentiable, Clone)]
struct Layer {
    w: Matrix<f64>,
    #[no_derivative]
    scale: f64,
}

#[derive(Differentiable, Clone)]
struct Net {
    first: Layer,
    bias: Vector<f64>,
}

// A constant field read in the body.
#[differentiable]
fn reads_a_constant(p: &Layer, x: &Vector<f64>) -> f64 {
    p.w.matmul(x).sum() * p.scale
}

// A field the struct does not have.
#[differentiable]
fn reads_a_missing_field(p: &Layer, x: &Vector<f64>) -> f64 {
    p.v.matmul(x).sum()
}

// A nested struct read whole, and the parameter itself passed on.
#[differentiable]
fn nested(p: &Net, x: &Vector<f64>) -> f64 {
    let layer = p.first.clone();
    p.bias.dot(x) + layer.w.sum()
}

#[differentiable]
fn passes_itself(p: &Net, x: &Vector<f64>) -> f64 {
    p.bias.dot(x) + nested(p, x)
}

fn main() {}
