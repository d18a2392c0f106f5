//! The gradients generated for the fifty functions of the compile-time benchmark
//! (`benches/expansion-time/fifty_functions.rs`) run and return their functions' values.

#[path = "../benches/expansion-time/fifty_functions.rs"]
mod fifty_functions;

use autodiff::Matrix;
use fifty_functions::*;

type Function = fn(&Matrix<f64>, &Matrix<f64>, &Matrix<f64>) -> f64;
type Gradient = fn(&Matrix<f64>, &Matrix<f64>, &Matrix<f64>) -> (f64, (Matrix<f64>, Matrix<f64>));

/// Every generated gradient returns its function's value and gradients of the right shapes.
#[test]
fn fifty_gradients_run() {
    let x = Matrix::from_fn(4, 3, |i, j| 0.1 * (i as f64) - 0.2 * (j as f64) + 0.05);
    let w = Matrix::from_fn(3, 2, |i, j| 0.3 * (i as f64) - 0.1 * (j as f64) + 0.2);
    let b = Matrix::from_fn(1, 2, |_, j| 0.1 * (j as f64) + 0.1);
    let all: [(Function, Gradient); 50] = [
        (f0, f0_grad),
        (f1, f1_grad),
        (f2, f2_grad),
        (f3, f3_grad),
        (f4, f4_grad),
        (f5, f5_grad),
        (f6, f6_grad),
        (f7, f7_grad),
        (f8, f8_grad),
        (f9, f9_grad),
        (f10, f10_grad),
        (f11, f11_grad),
        (f12, f12_grad),
        (f13, f13_grad),
        (f14, f14_grad),
        (f15, f15_grad),
        (f16, f16_grad),
        (f17, f17_grad),
        (f18, f18_grad),
        (f19, f19_grad),
        (f20, f20_grad),
        (f21, f21_grad),
        (f22, f22_grad),
        (f23, f23_grad),
        (f24, f24_grad),
        (f25, f25_grad),
        (f26, f26_grad),
        (f27, f27_grad),
        (f28, f28_grad),
        (f29, f29_grad),
        (f30, f30_grad),
        (f31, f31_grad),
        (f32, f32_grad),
        (f33, f33_grad),
        (f34, f34_grad),
        (f35, f35_grad),
        (f36, f36_grad),
        (f37, f37_grad),
        (f38, f38_grad),
        (f39, f39_grad),
        (f40, f40_grad),
        (f41, f41_grad),
        (f42, f42_grad),
        (f43, f43_grad),
        (f44, f44_grad),
        (f45, f45_grad),
        (f46, f46_grad),
        (f47, f47_grad),
        (f48, f48_grad),
        (f49, f49_grad),
    ];
    for (i, (f, grad)) in all.iter().enumerate() {
        let (value, (dw, db)) = grad(&x, &w, &b);
        assert_eq!(value, f(&x, &w, &b), "f{i}");
        assert_eq!((dw.shape(), db.shape()), ((3, 2), (1, 2)), "f{i}");
        assert!(
            value.is_finite() && dw.as_slice().iter().all(|v| v.is_finite()),
            "f{i}"
        );
    }
}
