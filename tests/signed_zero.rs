//! Literals keep their sign, zero included: the generated code computes what the function does.
//! (Before, `-0.0` was emitted as `0f64`, so `f_grad` gave `+∞` where `f` gave `−∞`.)

use autodiff::prelude::*;

#[differentiable]
fn over_minus_zero(x: f64) -> f64 {
    x / -0.0
}

#[differentiable]
fn over_minus_zero_f32(x: &Vector<f32>) -> f32 {
    (x / -0.0).sum()
}

#[test]
fn division_by_minus_zero_matches_the_function() {
    assert_eq!(over_minus_zero(1.0), f64::NEG_INFINITY);
    let (value, gradient) = over_minus_zero_grad(1.0);
    assert_eq!(value, f64::NEG_INFINITY);
    assert_eq!(gradient, f64::NEG_INFINITY); // d(x / −0)/dx = 1/−0
    assert_eq!(
        over_minus_zero_jvp(1.0, 1.0),
        (f64::NEG_INFINITY, f64::NEG_INFINITY)
    );
    assert!(over_minus_zero_derivation().contains("−0"));

    let x = Vector::from_vec(vec![1.0f32, -2.0]);
    // [1, −2] / −0 = [−∞, +∞], whose sum is NaN.
    assert!(over_minus_zero_f32(&x).is_nan());
    let (value, gradient) = over_minus_zero_f32_grad(&x);
    assert!(value.is_nan());
    assert_eq!(gradient.as_slice(), &[f32::NEG_INFINITY; 2]);
}
