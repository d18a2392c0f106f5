// `#[checkpoint]` takes nothing or `every = K` with an integer literal K ≥ 1, once per loop.
use autodiff::prelude::*;

#[differentiable]
fn zero_segments(x: f64, n: usize) -> f64 {
    let mut y = x;
    #[checkpoint(every = 0)]
    for _ in 0..n {
        y = y.sin();
    }
    y
}

#[differentiable]
fn unknown_argument(x: f64, n: usize) -> f64 {
    let mut y = x;
    #[checkpoint(stride = 4)]
    for _ in 0..n {
        y = y.sin();
    }
    y
}

#[differentiable]
fn not_a_literal(x: f64, n: usize) -> f64 {
    let mut y = x;
    #[checkpoint(every = n)]
    for _ in 0..n {
        y = y.sin();
    }
    y
}

#[differentiable]
fn name_value(x: f64, n: usize) -> f64 {
    let mut y = x;
    #[checkpoint = 4]
    for _ in 0..n {
        y = y.sin();
    }
    y
}

#[differentiable]
fn twice(x: f64, n: usize) -> f64 {
    let mut y = x;
    #[checkpoint]
    #[checkpoint(every = 2)]
    for _ in 0..n {
        y = y.sin();
    }
    y
}

fn main() {}
