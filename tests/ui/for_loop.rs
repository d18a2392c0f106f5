use autodiff::prelude::*;

#[differentiable]
fn misuses(x: f64, v: &Vector<f64>, n: usize) -> f64 {
    let mut y = x;
    for _ in 0..n {
        y = v * 2.0;
    }
    let mut y = x;
    for i in 0..x {
        y = y * x;
    }
    'outer: for _ in 0..n {
        y = y * 2.0;
        break;
    }
    for k in v {
        y = y + 1.0;
    }
    for _ in 1.. {
        continue;
    }
    let z = for _ in 0..n {};
    for _ in 0..n {
        let w = x.floor();
    }
    y
}

fn main() {}
