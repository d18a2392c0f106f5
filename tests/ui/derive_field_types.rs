use autodiff::prelude::*;

// Fields the syntax tells cannot be parameters, and `#[no_derivative]` with an argument.
#[derive(Differentiable, Clone)]
struct Params<'a> {
    w: Matrix<f64>,
    labels: Vec<usize>,
    shape: (usize, usize),
    borrowed: &'a Vector<f64>,
    steps: usize,
    #[no_derivative(always)]
    scale: f64,
}

fn main() {}
