use autodiff::prelude::*;

#[derive(Differentiable, Clone)]
struct Scale {
    k: f64,
}

#[differentiable]
impl Scale {
    // A differentiable method reads its struct; it does not change it.
    #[differentiable]
    fn bump(&mut self, x: f64) -> f64 {
        self.k * x
    }
}

#[derive(Differentiable, Clone)]
struct Wrapper<T: Float> {
    k: T,
}

// Generic `impl` blocks are not supported yet.
#[differentiable]
impl<T: Float> Wrapper<T> {
    #[differentiable]
    fn value(&self, x: T) -> T {
        self.k * x
    }
}

trait Energy {
    fn energy(&self, x: f64) -> f64;
}

// A trait's `impl` is not an inherent one.
#[differentiable]
impl Energy for Scale {
    #[differentiable]
    fn energy(&self, x: f64) -> f64 {
        self.k * x * x
    }
}

fn main() {}
