//! B2, B4 and B6 (DESIGN.md): the generated Hessian, Jacobian and RNN gradient equal the closed
//! forms and the backward pass written by hand (B2 and B4 on our runtime and on each GEMM kernel
//! crate called directly).

#[path = "../benches/workloads/mod.rs"]
mod workloads;

use autodiff::Matrix;
use workloads::kernels::Crate;
use workloads::relative_error;
use workloads::{logdet, logistic, rnn, rosenbrock, tanh_layer};

/// A hand-written reference's row-major result as the `rows × cols` matrix to compare.
fn square<T>(data: Vec<T>, n: usize) -> Matrix<T> {
    Matrix::from_vec(n, n, data)
}

#[test]
fn logistic_hessian_equals_the_closed_form() {
    // n = 10 and 100 leave a rest after the 8-lane dot products; 1000 rows go to both crates'
    // threads.
    for n in [10, 100] {
        let i = logistic::Inputs::new(n);
        let generated = logistic::f64_logistic::loss_hessian(&i.x, &i.w, &i.y);
        let by_hand = logistic::f64_logistic::hessian_by_hand(&i.x, &i.w, &i.y);
        let e = relative_error(&generated, &by_hand);
        assert!(e < 1e-12, "n = {n}: relative error {e:e}");
        for (kernel, id) in Crate::ALL {
            let (x, w, y) = (i.x.as_slice(), i.w.as_slice(), i.y.as_slice());
            let on_crate = logistic::f64_logistic::hessian_by_hand_on(kernel, x, w, y);
            let e = relative_error(&generated, &square(on_crate, n));
            assert!(e < 1e-12, "{id}, n = {n}: relative error {e:e}");
        }
        let (x, w, y) = i.to_f32();
        let generated = logistic::f32_logistic::loss_hessian(&x, &w, &y);
        let by_hand = logistic::f32_logistic::hessian_by_hand(&x, &w, &y);
        let e = relative_error(&generated, &by_hand);
        assert!(e < 1e-4, "f32, n = {n}: relative error {e:e}");
        for (kernel, id) in Crate::ALL {
            let (x, w, y) = (x.as_slice(), w.as_slice(), y.as_slice());
            let on_crate = logistic::f32_logistic::hessian_by_hand_on(kernel, x, w, y);
            let e = relative_error(&generated, &square(on_crate, n));
            assert!(e < 1e-4, "{id}, f32, n = {n}: relative error {e:e}");
        }
    }
}

/// B2 as DESIGN.md spells it, ln(1 + exp(−m)), has the stable form's Hessian.
#[test]
fn logistic_hessian_of_the_literal_spelling_equals_the_closed_form() {
    for n in [10, 100] {
        let i = logistic::Inputs::new(n);
        let literal = logistic::f64_logistic::loss_literal_hessian(&i.x, &i.w, &i.y);
        let stable = logistic::f64_logistic::loss_hessian(&i.x, &i.w, &i.y);
        let e = relative_error(&literal, &stable);
        assert!(e < 1e-12, "n = {n}: relative error {e:e}");
        let on_crate = logistic::f64_logistic::hessian_by_hand_on(
            Crate::Gemm,
            i.x.as_slice(),
            i.w.as_slice(),
            i.y.as_slice(),
        );
        let e = relative_error(&literal, &square(on_crate, n));
        assert!(e < 1e-12, "n = {n}: relative error {e:e}");
        let (x, w, y) = i.to_f32();
        let literal = logistic::f32_logistic::loss_literal_hessian(&x, &w, &y);
        let by_hand = logistic::f32_logistic::hessian_by_hand(&x, &w, &y);
        let e = relative_error(&literal, &by_hand);
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
        let (w, b, x) = (i.w.as_slice(), i.b.as_slice(), i.x.as_slice());
        let mut others = vec![(
            "hand-fused",
            tanh_layer::f64_layer::jacobian_by_hand_fused(w, b, x),
        )];
        for (kernel, id) in Crate::ALL {
            others.push((
                id,
                tanh_layer::f64_layer::jacobian_by_hand_on(kernel, w, b, x),
            ));
        }
        for (id, other) in others {
            let e = relative_error(&generated, &square(other, n));
            assert!(e < 1e-14, "{id}, n = {n}: relative error {e:e}");
        }
        let (w, b, x) = i.to_f32();
        let generated = tanh_layer::f32_layer::layer_jacobian(&w, &b, &x);
        let by_hand = tanh_layer::f32_layer::jacobian_by_hand(&w, &b, &x);
        let e = relative_error(&generated, &by_hand);
        assert!(e < 1e-6, "f32, n = {n}: relative error {e:e}");
        let (w, b, x) = (w.as_slice(), b.as_slice(), x.as_slice());
        let mut others = vec![(
            "hand-fused",
            tanh_layer::f32_layer::jacobian_by_hand_fused(w, b, x),
        )];
        for (kernel, id) in Crate::ALL {
            others.push((
                id,
                tanh_layer::f32_layer::jacobian_by_hand_on(kernel, w, b, x),
            ));
        }
        for (id, other) in others {
            let e = relative_error(&generated, &square(other, n));
            assert!(e < 1e-6, "{id}, f32, n = {n}: relative error {e:e}");
        }
    }
}

#[test]
fn rnn_gradient_equals_backpropagation_through_time_by_hand() {
    // Relative to the largest entry; exactly equal where the hand result is all zeros (T = 0).
    fn agree<T: Into<f64> + Copy + PartialEq + std::fmt::Debug>(
        what: &str,
        got: &autodiff::Matrix<T>,
        want: &autodiff::Matrix<T>,
        tol: f64,
    ) {
        if want.as_slice().iter().all(|&v| v.into() == 0.0) {
            assert_eq!(got.as_slice(), want.as_slice(), "{what}");
        } else {
            let e = relative_error(got, want);
            assert!(e < tol, "{what}: relative error {e:e}");
        }
    }
    for steps in [0, 1, 7] {
        let i = rnn::Inputs::new(steps);
        let (value, (dh0, dw, du, db)) =
            rnn::f64_rnn::rnn_loss_grad(&i.h0, &i.w, &i.u, &i.b, &i.xs, steps);
        let (hand_value, (hdh0, hdw, hdu, hdb)) =
            rnn::f64_rnn::rnn_loss_hand(&i.h0, &i.w, &i.u, &i.b, &i.xs, steps);
        assert!((value - hand_value).abs() < 1e-12 * hand_value.abs().max(1.0));
        for (what, got, want) in [
            ("dh0", &dh0, &hdh0),
            ("dw", &dw, &hdw),
            ("du", &du, &hdu),
            ("db", &db, &hdb),
        ] {
            agree(&format!("T = {steps}, {what}"), got, want, 1e-12);
        }
        // Checkpointed (√T segments: T = 7 cuts into 3, the last short), the same gradient.
        let (value, (dh0, dw, du, db)) =
            rnn::f64_rnn::rnn_loss_checkpointed_grad(&i.h0, &i.w, &i.u, &i.b, &i.xs, steps);
        assert!((value - hand_value).abs() < 1e-12 * hand_value.abs().max(1.0));
        for (what, got, want) in [
            ("dh0", &dh0, &hdh0),
            ("dw", &dw, &hdw),
            ("du", &du, &hdu),
            ("db", &db, &hdb),
        ] {
            agree(
                &format!("checkpointed, T = {steps}, {what}"),
                got,
                want,
                1e-12,
            );
        }
        let [h0, w, u, b, xs] = i.to_f32();
        let (_, (dh0, dw, du, db)) = rnn::f32_rnn::rnn_loss_grad(&h0, &w, &u, &b, &xs, steps);
        let (_, (hdh0, hdw, hdu, hdb)) = rnn::f32_rnn::rnn_loss_hand(&h0, &w, &u, &b, &xs, steps);
        for (what, got, want) in [
            ("dh0", &dh0, &hdh0),
            ("dw", &dw, &hdw),
            ("du", &du, &hdu),
            ("db", &db, &hdb),
        ] {
            agree(&format!("f32, T = {steps}, {what}"), got, want, 1e-4);
        }
    }
}

#[test]
fn rosenbrock_gradients_equal_the_fused_loops_by_hand() {
    // (Lengths with no whole chunk of a fused loop, one exactly, one and a rest, and many.)
    for n in [2, 9, 10, 17, 1_000] {
        let i = rosenbrock::Inputs::new(n);
        let (want_value, want) = rosenbrock::f64_rosenbrock::gradient_by_hand(&i.x);
        let (lanes_value, lanes) = rosenbrock::f64_rosenbrock::gradient_by_hand_lanes(&i.x);
        assert!((lanes_value - want_value).abs() <= 1e-12 * want_value.abs().max(1.0));
        assert_eq!(
            lanes.as_slice(),
            want.as_slice(),
            "n = {n}: the same products"
        );
        let scale = want.as_slice().iter().fold(1.0f64, |m, g| m.max(g.abs()));
        for (what, (value, got)) in [
            ("slices", rosenbrock::f64_rosenbrock::rosenbrock_grad(&i.x)),
            (
                "loop",
                rosenbrock::f64_rosenbrock::rosenbrock_loop_grad(&i.x),
            ),
        ] {
            assert!(
                (value - want_value).abs() <= 1e-12 * want_value.abs().max(1.0),
                "n = {n}, {what}"
            );
            for (g, w) in got.as_slice().iter().zip(want.as_slice()) {
                assert!(
                    (g - w).abs() <= 1e-12 * scale,
                    "n = {n}, {what}: {g} vs {w}"
                );
            }
        }
        let x = i.to_f32();
        let (_, want) = rosenbrock::f32_rosenbrock::gradient_by_hand(&x);
        let scale = want.as_slice().iter().fold(1.0f32, |m, g| m.max(g.abs()));
        for (what, (_, got)) in [
            (
                "f32 slices",
                rosenbrock::f32_rosenbrock::rosenbrock_grad(&x),
            ),
            (
                "f32 loop",
                rosenbrock::f32_rosenbrock::rosenbrock_loop_grad(&x),
            ),
        ] {
            for (g, w) in got.as_slice().iter().zip(want.as_slice()) {
                assert!((g - w).abs() <= 1e-5 * scale, "n = {n}, {what}: {g} vs {w}");
            }
        }
    }
}

#[test]
fn logdet_gradient_equals_the_closed_form_by_hand() {
    for n in [3, 20, 200] {
        let i = logdet::Inputs::new(n);
        let (value, got) = logdet::f64_logdet::b7_grad(&i.x, &i.a);
        let (want_value, want) = logdet::f64_logdet::gradient_by_hand(&i.x, &i.a);
        assert!(
            (value - want_value).abs() < 1e-10 * want_value.abs().max(1.0),
            "n = {n}"
        );
        let e = relative_error(&got, &want);
        assert!(e < 1e-10, "n = {n}: relative error {e:e}");
        let (x, a) = i.to_f32();
        let (_, got) = logdet::f32_logdet::b7_grad(&x, &a);
        let (_, want) = logdet::f32_logdet::gradient_by_hand(&x, &a);
        let e = relative_error(&got, &want);
        assert!(e < 1e-3, "f32, n = {n}: relative error {e:e}");
    }
}
