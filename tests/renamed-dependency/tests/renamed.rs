use ad::{Matrix, Vector};
use autodiff_renamed_dependency::{
    layer_grad, layer_gradcheck, layer_hessian, loss_grad, scaled_jacobian,
};

#[test]
fn every_generated_item_works_under_the_renamed_crate() {
    let w = Matrix::from_rows(&[[0.5, -0.2], [0.1, 0.3]]);
    let x = Vector::from_vec(vec![1.0, 2.0]);
    let (value, (dw, dx)) = layer_grad(&w, &x);
    // y = tanh(w·x) = tanh([0.1, 0.7]); dw = (1 − y²)·xᵀ, dx = wᵀ·(1 − y²).
    let slopes = [1.0 - 0.1f64.tanh().powi(2), 1.0 - 0.7f64.tanh().powi(2)];
    assert!((value - (0.1f64.tanh() + 0.7f64.tanh())).abs() < 1e-15);
    for i in 0..2 {
        for j in 0..2 {
            assert!((dw[(i, j)] - slopes[i] * x[j]).abs() < 1e-15);
        }
        assert!((dx[i] - (w[(0, i)] * slopes[0] + w[(1, i)] * slopes[1])).abs() < 1e-15);
    }
    layer_gradcheck(&w, &x).assert_within(1e-8);
    assert_eq!(layer_hessian(&w, &x).shape(), (6, 6));

    // Through a call of a function with a hand-written pullback: σ(w·x)·x + w.
    let w = Vector::from_vec(vec![0.5, -1.0]);
    let x = Vector::from_vec(vec![2.0, 1.0]);
    let (_, dw) = loss_grad(&w, &x);
    let s = 1.0 / (1.0 + (-(0.0f64)).exp());
    assert_eq!(dw.as_slice(), &[s * 2.0 + 0.5, s - 1.0]);
}

#[test]
fn only_works_under_the_renamed_crate() {
    // y = 2·w·x: the Jacobian with respect to x is 2·w.
    let w = Matrix::from_rows(&[[0.5, -0.2], [0.1, 0.3], [1.0, 2.0]]);
    let x = Vector::from_vec(vec![1.0, 2.0]);
    let j = scaled_jacobian(&w, &x);
    assert_eq!(j.shape(), (3, 2));
    for i in 0..3 {
        for k in 0..2 {
            assert_eq!(j[(i, k)], 2.0 * w[(i, k)]);
        }
    }
}
