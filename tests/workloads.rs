//! B2 and B4 (DESIGN.md): the generated Hessian and Jacobian equal the closed forms written by
//! hand on the same runtime.

#[path = "../benches/workloads/mod.rs"]
mod workloads;

use workloads::relative_error;
use workloads::{logistic, tanh_layer};

#[test]
fn logistic_hessian_equals_the_closed_form() {
    for n in [10, 100] {
        let i = logistic::Inputs::new(n);
        let generated = logistic::f64_logistic::loss_hessian(&i.x, &i.w, &i.y);
        let by_hand = logistic::f64_logistic::hessian_by_hand(&i.x, &i.w, &i.y);
        let e = relative_error(&generated, &by_hand);
        assert!(e < 1e-12, "n = {n}: relative error {e:e}");
        let (x, w, y) = i.to_f32();
        let generated = logistic::f32_logistic::loss_hessian(&x, &w, &y);
        let by_hand = logistic::f32_logistic::hessian_by_hand(&x, &w, &y);
        let e = relative_error(&generated, &by_hand);
        assert!(e < 1e-4, "f32, n = {n}: relative error {e:e}");
    }
}

#[test]
fn tanh_layer_jacobian_equals_the_closed_form() {
    for n in [10, 100] {
        let i = tanh_layer::Inputs::new(n);
        let generated = tanh_layer::f64_layer::layer_jacobian(&i.w, &i.b, &i.x);
        let by_hand = tanh_layer::f64_layer::jacobian_by_hand(&i.w, &i.b, &i.x);
        let e = relative_error(&generated, &by_hand);
        assert!(e < 1e-14, "n = {n}: relative error {e:e}");
        let (w, b, x) = i.to_f32();
        let generated = tanh_layer::f32_layer::layer_jacobian(&w, &b, &x);
        let by_hand = tanh_layer::f32_layer::jacobian_by_hand(&w, &b, &x);
        let e = relative_error(&generated, &by_hand);
        assert!(e < 1e-6, "f32, n = {n}: relative error {e:e}");
    }
}
