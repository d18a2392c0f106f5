//! B1 (the MLP of DESIGN.md): the generated gradient equals a careful hand-written backward pass
//! (on our runtime and on each GEMM kernel crate called directly) to 1e-12 relative in f64, and
//! agrees in f32 to f32 rounding.

#[path = "../benches/workloads/mod.rs"]
mod workloads;

use autodiff::Matrix;
use workloads::kernels::Crate;
use workloads::mlp::{f32_mlp, f64_mlp, Inputs, CLASSES, HIDDEN, INPUTS};
use workloads::relative_error;

/// The kernel-crate pass's row-major gradients as the matrices the generated code returns.
fn as_matrices<T>(grads: [Vec<T>; 4]) -> (Matrix<T>, Matrix<T>, Matrix<T>, Matrix<T>) {
    let [dw1, db1, dw2, db2] = grads;
    (
        Matrix::from_vec(INPUTS, HIDDEN, dw1),
        Matrix::from_vec(1, HIDDEN, db1),
        Matrix::from_vec(HIDDEN, CLASSES, dw2),
        Matrix::from_vec(1, CLASSES, db2),
    )
}

/// Each generated weight gradient is within `tolerance` (relative) of the hand-written one.
fn assert_grads_close<T: Into<f64> + Copy>(
    generated: &(Matrix<T>, Matrix<T>, Matrix<T>, Matrix<T>),
    hand: &(Matrix<T>, Matrix<T>, Matrix<T>, Matrix<T>),
    tolerance: f64,
    context: &str,
) {
    let (g, h) = (generated, hand);
    for (name, a, b) in [
        ("w1", &g.0, &h.0),
        ("b1", &g.1, &h.1),
        ("w2", &g.2, &h.2),
        ("b2", &g.3, &h.3),
    ] {
        let e = relative_error(a, b);
        assert!(e < tolerance, "d{name} ({context}): relative error {e:e}");
    }
}

#[test]
fn generated_gradient_equals_hand_written_f64() {
    for batch in [1, 64, 257] {
        let i = Inputs::new(batch);
        let (loss, grads) = f64_mlp::mlp_loss_grad(&i.x, &i.w1, &i.b1, &i.w2, &i.b2, &i.y);
        let (hand_loss, hand) = f64_mlp::mlp_loss_hand(&i.x, &i.w1, &i.b1, &i.w2, &i.b2, &i.y);
        assert!(
            ((loss - hand_loss) / hand_loss).abs() < 1e-12,
            "{loss} vs {hand_loss}"
        );
        assert_eq!(
            loss,
            f64_mlp::mlp_loss(&i.x, &i.w1, &i.b1, &i.w2, &i.b2, &i.y)
        );
        assert_grads_close(&grads, &hand, 1e-12, &format!("f64, B = {batch}"));
        for (kernel, id) in Crate::ALL {
            let (x, w1, b1) = (i.x.as_slice(), i.w1.as_slice(), i.b1.as_slice());
            let (w2, b2, y) = (i.w2.as_slice(), i.b2.as_slice(), i.y.as_slice());
            let (crate_loss, on_crate) = f64_mlp::mlp_loss_hand_on(kernel, x, w1, b1, w2, b2, y);
            assert!(
                ((loss - crate_loss) / loss).abs() < 1e-12,
                "{id}: {loss} vs {crate_loss}"
            );
            let on_crate = as_matrices(on_crate);
            assert_grads_close(&grads, &on_crate, 1e-12, &format!("{id}, f64, B = {batch}"));
        }
        // A wrong pass would not be close: the gradient is far from zero.
        assert!(grads.0.as_slice().iter().any(|v| v.abs() > 1e-6));
    }
}

#[test]
fn generated_gradient_equals_hand_written_f32() {
    let i = Inputs::new(64);
    let [x, w1, b1, w2, b2, y] = i.to_f32();
    let (loss, grads) = f32_mlp::mlp_loss_grad(&x, &w1, &b1, &w2, &b2, &y);
    let (hand_loss, hand) = f32_mlp::mlp_loss_hand(&x, &w1, &b1, &w2, &b2, &y);
    assert!(((loss - hand_loss) / hand_loss).abs() < 1e-5);
    assert_grads_close(&grads, &hand, 1e-4, "f32, B = 64");
    for (kernel, id) in Crate::ALL {
        let (x, w1, b1) = (x.as_slice(), w1.as_slice(), b1.as_slice());
        let (w2, b2, y) = (w2.as_slice(), b2.as_slice(), y.as_slice());
        let (crate_loss, on_crate) = f32_mlp::mlp_loss_hand_on(kernel, x, w1, b1, w2, b2, y);
        assert!(((loss - crate_loss) / loss).abs() < 1e-5, "{id}");
        let on_crate = as_matrices(on_crate);
        assert_grads_close(&grads, &on_crate, 1e-4, &format!("{id}, f32, B = 64"));
    }
}

/// The README shows B1's derivation; it must be what the macro prints.
#[test]
fn readme_shows_the_printed_derivation() {
    let readme = include_str!("../README.md");
    let printed = f64_mlp::mlp_loss_derivation();
    let block = format!("```text\n{printed}\n```");
    assert!(
        readme.contains(&block),
        "README's MLP derivation is out of date; it should read:\n{printed}"
    );
    // And it has the hand derivation's shape: the weight gradients as products with the
    // transposed inputs, the relu pullback as an indicator.
    for line in ["dw2 = hᵀ·", "dz1 = dh ⊙ [z1 > 0]", "dw1 = xᵀ·", "dh = "] {
        assert!(printed.contains(line), "missing {line:?} in\n{printed}");
    }
}

/// B1 written with an `Mlp` struct and integer labels: the struct's gradient is the flat form's,
/// bit for bit (the same program), and the one-hot form's to rounding.
#[test]
fn the_struct_form_equals_the_flat_and_the_one_hot_forms() {
    let i = Inputs::new(64);
    let labels = i.labels();
    let p = f64_mlp::Mlp::new(&i.w1, &i.b1, &i.w2, &i.b2);
    let (value, grad) = f64_mlp::mlp_loss_struct_grad(&p, &i.x, &labels);
    let (flat_value, (w1, b1, w2, b2)) =
        f64_mlp::mlp_loss_labels_grad(&i.x, &p.w1, &p.b1, &p.w2, &p.b2, &labels);
    assert_eq!(value, flat_value);
    assert_eq!(
        (&grad.w1, &grad.b1, &grad.w2, &grad.b2),
        (&w1, &b1, &w2, &b2)
    );
    let (one_hot_value, (dw1, db1, _, _)) =
        f64_mlp::mlp_loss_grad(&i.x, &i.w1, &i.b1, &i.w2, &i.b2, &i.y);
    assert!((value - one_hot_value).abs() <= 1e-12 * value.abs());
    for (a, b) in grad.w1.as_slice().iter().zip(dw1.as_slice()) {
        assert!((a - b).abs() <= 1e-12, "{a} vs {b}");
    }
    for (a, b) in grad.b1.as_slice().iter().zip(db1.as_slice()) {
        assert!((a - b).abs() <= 1e-12, "{a} vs {b}");
    }
}
