//! `f_gradcheck` near kinks (issue 18): a correct gradient at a point close to ReLU's kink
//! passes at the documented tolerances, f64 and f32; a wrong one still fails; the report says
//! where a kink is, and for a scalar result its generated entries are the gradient itself.

use autodiff::prelude::*;

#[differentiable]
fn relu_sum(x: &Vector<f64>) -> f64 {
    x.relu().sum()
}

#[differentiable]
fn relu_sum_f32(x: &Vector<f32>) -> f32 {
    x.relu().sum()
}

/// softplus with a pullback planted wrong: 0.9·σ(x) instead of σ(x).
fn soft(x: f64) -> f64 {
    x.softplus()
}

#[derivative(of = soft)]
fn soft_vjp(x: f64, dy: f64) -> (f64, f64) {
    (soft(x), dy * 0.9 * x.sigmoid())
}

#[differentiable]
fn uses_soft(x: f64) -> f64 {
    soft(x) * 2.0
}

/// abs at its kink: the derivative is one side's.
#[differentiable]
fn abs_sum(x: &Vector<f64>) -> f64 {
    x.abs().sum()
}

#[test]
fn near_a_relu_kink_a_correct_gradient_passes() {
    let report = relu_sum_gradcheck(&Vector::from_vec(vec![1e-4, 0.5]));
    report.assert_within(1e-6);
    // Generated entries are the gradient [1, 1], not the gradient times a probe.
    let x = &report.comparisons[0];
    assert_eq!(x.worst_values.0, 1.0, "{report}");
    relu_sum_f32_gradcheck(&Vector::from_vec(vec![0.05f32, 0.5])).assert_within(1e-2);
    // Random points, including negative entries, in both floats.
    for k in 0..20 {
        let v: Vec<f64> = (0..5)
            .map(|i| (((k * 5 + i) as f64) * 0.618_033_988_75).fract() * 2.0 - 1.0)
            .collect();
        relu_sum_gradcheck(&Vector::from_vec(v.clone())).assert_within(1e-6);
        let v32: Vec<f32> = v.iter().map(|&x| x as f32).collect();
        relu_sum_f32_gradcheck(&Vector::from_vec(v32)).assert_within(1e-2);
    }
}

#[test]
fn at_a_kink_the_report_says_so_and_one_side_passes() {
    let report = abs_sum_gradcheck(&Vector::from_vec(vec![0.0, -0.7]));
    report.assert_within(1e-6);
    let text = report.to_string();
    assert!(text.contains("near a kink at entry 0"), "{text}");
    assert!(!text.contains("entry 1"), "{text}");
}

#[test]
fn a_wrong_pullback_still_fails() {
    let report = uses_soft_gradcheck(0.3);
    assert!(!report.within(1e-2), "{report}");
    let wrong = std::panic::catch_unwind(|| report.assert_within(1e-6));
    assert!(wrong.is_err());
}
