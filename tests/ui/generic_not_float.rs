use autodiff::prelude::*;

// Generic over its float is `<T: Float>` alone.
#[differentiable]
fn two_params<T: Float, U: Float>(x: &Vector<T>, y: &Vector<U>) -> T {
    x.sum()
}

#[differentiable]
fn other_bound<T: Copy>(x: &Vector<f64>, t: T) -> f64 {
    x.sum()
}

#[differentiable]
fn with_where<T>(x: &Vector<T>) -> T
where
    T: Float,
{
    x.sum()
}

fn main() {}
