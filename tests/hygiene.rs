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
