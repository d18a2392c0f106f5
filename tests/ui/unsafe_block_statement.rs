use autodiff::prelude::*;

#[differentiable]
fn square(x: f64) -> f64 {
    unsafe {
        std::hint::black_box(x);
    }
    x * x
}

fn main() {}
