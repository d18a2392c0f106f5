//! Generated functions on data held in `ndarray` and `nalgebra` types, with one conversion at
//! each end (features `ndarray` and `nalgebra`; `cargo test --all-features`).
#![cfg(all(feature = "ndarray", feature = "nalgebra"))]

use autodiff::prelude::*;

#[differentiable(wrt(w, b))]
fn ridge(x: &Matrix<f64>, w: &Vector<f64>, b: f64, y: &Vector<f64>) -> f64 {
    let r = x.matmul(w) + b - y;
    0.5 * r.dot(&r) + 0.05 * w.dot(w)
}

#[test]
fn an_ndarray_problem_goes_through_the_generated_gradient() {
    use autodiff::ndarray::{array, Array1};
    let x = array![[1.0, 0.5], [-0.3, 2.0], [0.7, -1.0]];
    let y = array![1.0, -1.0, 0.5];
    let w = array![0.2, -0.1];
    let (xm, ym, wv) = (
        Matrix::from(x.clone()),
        Vector::from(y.clone()),
        Vector::from(w.clone()),
    );
    let (_, (dw, db)) = ridge_grad(&xm, &wv, 0.3, &ym);
    let dw: Array1<f64> = dw.into();
    // By hand, in ndarray: r = x·w + b − y, dw = xᵀ·r + 0.1·w, db = Σ r.
    let r = x.dot(&w) + 0.3 - &y;
    let expected = x.t().dot(&r) + &w * 0.1;
    assert!(
        (&dw - &expected).iter().all(|e| e.abs() < 1e-14),
        "{dw} vs {expected}"
    );
    assert!((db - r.sum()).abs() < 1e-14);
}

#[test]
fn a_nalgebra_problem_goes_through_the_generated_gradient() {
    use autodiff::nalgebra::{DMatrix, DVector};
    let x = DMatrix::from_row_slice(3, 2, &[1.0, 0.5, -0.3, 2.0, 0.7, -1.0]);
    let y = DVector::from_vec(vec![1.0, -1.0, 0.5]);
    let w = DVector::from_vec(vec![0.2, -0.1]);
    let (_, (dw, db)) = ridge_grad(
        &Matrix::from(&x),
        &Vector::from(w.clone()),
        0.3,
        &Vector::from(y.clone()),
    );
    let dw: DVector<f64> = dw.into();
    let r = &x * &w + DVector::from_element(3, 0.3) - &y;
    let expected = x.transpose() * &r + &w * 0.1;
    assert!((&dw - &expected).abs().max() < 1e-14, "{dw} vs {expected}");
    assert!((db - r.sum()).abs() < 1e-14);
}
