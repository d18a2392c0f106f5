use autodiff::prelude::*;

async fn half(x: f64) -> f64 {
    x * 0.5
}

#[differentiable]
async fn square(x: f64) -> f64 {
    let y = half(x).await;
    y * y
}

fn main() {}
