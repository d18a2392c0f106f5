//! Parameters named like the locals of generated code (`t`, `value`, `gradient`, `out`,
//! `seed`, `hessian`, `t1`, `dx`, ...) do not capture or shadow anything: every generated item
//! compiles and computes what it should.
#![allow(unused_variables)]

use autodiff::prelude::*;

#[differentiable]
fn named_like_locals(
    value: &Vector<f64>,
    gradient: &Vector<f64>,
    t: f64,
    out: &Matrix<f64>,
    t1: usize,
) -> f64 {
    let seed = value.dot(gradient) * t;
    let hessian = out.sum() * seed;
    hessian
}

#[differentiable]
fn named_like_adjoints(x: &Vector<f64>, dx: &Vector<f64>, direction: usize) -> Vector<f64> {
    let upstream = x * dx;
    upstream
}

#[test]
fn every_item_works_with_parameters_named_like_generated_locals() {
    let value = Vector::from_vec(vec![1.0, 2.0]);
    let gradient = Vector::from_vec(vec![0.5, -1.0]);
    let out = Matrix::from_rows(&[[1.0, 2.0], [3.0, 4.0]]);
    let t = 1.5;
    // f = ⟨v, g⟩·t·Σout = (0.5 − 2)·1.5·10 = −22.5
    let (f, (dv, dg, dt, dout)) = named_like_locals_grad(&value, &gradient, t, &out, 7);
    assert_eq!(f, -22.5);
    assert_eq!(dv.as_slice(), &[0.5 * 15.0, -15.0]); // g·t·Σout
    assert_eq!(dg.as_slice(), &[15.0, 30.0]); // v·t·Σout
    assert_eq!(dt, -15.0); // ⟨v, g⟩·Σout
    assert_eq!(dout.as_slice(), &[-2.25; 4]); // ⟨v, g⟩·t
    named_like_locals_gradcheck(&value, &gradient, t, &out, 7).assert_within(1e-8);
    let h = named_like_locals_hessian(&value, &gradient, t, &out, 7);
    assert_eq!(h.shape(), (9, 9));
    assert!((0..9).all(|i| (0..9).all(|j| (h[(i, j)] - h[(j, i)]).abs() < 1e-12)));
    let j = named_like_locals_jacobian(&value, &gradient, t, &out, 7);
    assert_eq!(j.2[(0, 0)], dt);

    let x = Vector::from_vec(vec![2.0, 3.0]);
    let dx = Vector::from_vec(vec![-1.0, 4.0]);
    let (jx, jdx) = named_like_adjoints_jacobian(&x, &dx, 0);
    assert_eq!(jx[(1, 1)], 4.0);
    assert_eq!(jdx[(0, 0)], 2.0);
    named_like_adjoints_gradcheck(&x, &dx, 0).assert_within(1e-8);
}

/// User names that end like the helpers generated code makes for a value (`{v}_view` for a
/// borrowed reduction, `{v}_dims` for a kept shape): before they were hygienic, the macro's own
/// `db_view` (the view of `b`'s adjoint) replaced the user's, and `dw` came out 1×2, not 2×2.
#[differentiable]
fn shadows_helpers(x: &Matrix<f64>, w: &Matrix<f64>, b: &Matrix<f64>) -> f64 {
    let db_view = x * 2.0;
    let q = db_view.matmul(w);
    let z = q + b;
    let z_dims = z.relu();
    let dz_view = z_dims.sum_axis(0);
    let s = dz_view.sum() + z.mean();
    s
}

#[test]
fn user_names_like_generated_helpers_do_not_collide() {
    let x = Matrix::from_rows(&[[1.0, 2.0]]);
    let w = Matrix::from_rows(&[[1.0, -3.0], [0.5, 1.0]]);
    let b = Matrix::from_rows(&[[0.25]]);
    let (s, (dx, dw, db)) = shadows_helpers_grad(&x, &w, &b);
    // z = 2x·w + b = [4.25, -1.75]; s = Σ relu(z) + mean(z) = 4.25 + 1.25.
    assert_eq!(s, 5.5);
    // dz = [z > 0] + 1/2 = [1.5, 0.5]; dw = (2x)ᵀ·dz, dx = 2·dz·wᵀ, db = Σ dz.
    assert_eq!(dw.shape(), (2, 2));
    assert_eq!(dw.as_slice(), &[3.0, 1.0, 6.0, 2.0]);
    assert_eq!(dx.as_slice(), &[2.0 * (1.5 - 1.5), 2.0 * (0.75 + 0.5)]);
    assert_eq!(db.as_slice(), &[2.0]);
    shadows_helpers_gradcheck(&x, &w, &b).assert_within(1e-8);
}

/// Parameters named like the generated items of their own function: the generated code calls
/// `named_like_items_grad` and `named_like_items_vjp` while these are in scope.
#[differentiable]
fn named_like_items(
    x: &Vector<f64>,
    named_like_items_grad: f64,
    named_like_items_vjp: &Vector<f64>,
    named_like_items_jvp: usize,
) -> f64 {
    let y = x.dot(named_like_items_vjp) * named_like_items_grad;
    y
}

#[test]
fn parameters_named_like_generated_items_do_not_shadow_them() {
    let x = Vector::from_vec(vec![1.0, 2.0]);
    let v = Vector::from_vec(vec![3.0, -1.0]);
    let (y, (dx, dc, dv)) = named_like_items_grad(&x, 2.0, &v, 0);
    assert_eq!(y, 2.0);
    assert_eq!(dx.as_slice(), &[6.0, -2.0]);
    assert_eq!(dc, 1.0);
    assert_eq!(dv.as_slice(), &[2.0, 4.0]);
    named_like_items_gradcheck(&x, 2.0, &v, 0).assert_within(1e-8);
    let (jx, _, _) = named_like_items_jacobian(&x, 2.0, &v, 0);
    assert_eq!(jx.as_slice(), &[6.0, -2.0]);
    assert_eq!(named_like_items_hessian(&x, 2.0, &v, 0).shape(), (5, 5));
}

/// A callee declared with a raw identifier.
#[differentiable]
fn r#match(x: f64) -> f64 {
    x * x
}

#[differentiable]
fn calls_a_raw_identifier(x: f64) -> f64 {
    r#match(x) + 1.0
}

#[test]
fn a_callee_with_a_raw_identifier_can_be_called() {
    assert_eq!(calls_a_raw_identifier_grad(3.0), (10.0, 6.0));
    assert_eq!(match_grad(3.0), (9.0, 6.0));
    assert_eq!(calls_a_raw_identifier_hessian(3.0)[(0, 0)], 2.0);
}
