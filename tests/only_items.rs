//! `#[differentiable(only(...))]`: the items named, and the items their code calls, are
//! generated and correct; each is checked against central differences of the original function
//! or a derivation by hand. (That the items not named are absent is `tests/ui/only_*`.)

mod common;

use autodiff::prelude::*;
use common::{assert_close, directional_fd, finite_differences, Val};

const TOL: f64 = 1e-8;

fn close(actual: &[f64], expected: &[f64], what: &str) {
    assert_close(actual, expected, TOL, TOL, what);
}

/// f(x, a) = x·(a·x) + Σ sin(x): ∇ₓ = (a + aᵀ)·x + cos(x), ∇ₐ = x·xᵀ.
#[differentiable(only(grad))]
fn form(x: &Vector<f64>, a: &Matrix<f64>) -> f64 {
    let ax = a.matmul(x);
    x.dot(&ax) + x.sin().sum()
}

fn form_point() -> (Vector<f64>, Matrix<f64>) {
    let x = Vector::from_vec(vec![0.5, -1.0, 2.0]);
    let a = Matrix::from_rows(&[[1.0, 2.0, 0.0], [-3.0, 0.5, 1.0], [0.25, -1.0, 2.0]]);
    (x, a)
}

#[test]
fn only_grad_gives_the_gradient() {
    let (x, a) = form_point();
    let (value, (dx, da)) = form_grad(&x, &a);
    assert_eq!(value, form(&x, &a));
    let params = [Val::V(x.clone()), Val::M(a.clone())];
    let loss = |p: &[Val]| form(p[0].v(), p[1].m());
    close(dx.as_slice(), &finite_differences(&params, 0, &loss), "dx");
    close(da.as_slice(), &finite_differences(&params, 1, &loss), "da");
    // By hand.
    for i in 0..3 {
        let by_hand = (0..3).map(|j| (a[(i, j)] + a[(j, i)]) * x[j]).sum::<f64>() + x[i].cos();
        assert!((dx[i] - by_hand).abs() < 1e-12);
        for j in 0..3 {
            assert_eq!(da[(i, j)], x[i] * x[j]);
        }
    }
}

/// y = tanh(w·x), a vector: reverse and forward mode, with the arguments in any order.
#[differentiable(only(vjp, jvp), crate = "autodiff", wrt(w))]
fn layer(w: &Matrix<f64>, x: &Vector<f64>) -> Vector<f64> {
    let y = w.matmul(x).tanh();
    y
}

fn layer_point() -> (Matrix<f64>, Vector<f64>) {
    let w = Matrix::from_rows(&[[0.5, -0.2, 0.1], [0.3, 0.8, -0.4]]);
    let x = Vector::from_vec(vec![1.0, -1.0, 0.5]);
    (w, x)
}

#[test]
fn only_vjp_and_jvp_give_both_modes() {
    let (w, x) = layer_point();
    let u = Vector::from_vec(vec![2.0, -3.0]);
    let (value, dw) = layer_vjp(&w, &x, &u);
    assert_eq!(value, layer(&w, &x));
    // The gradient of ⟨u, y⟩ with respect to w.
    let params = [Val::M(w.clone()), Val::V(x.clone())];
    let inner = |p: &[Val]| {
        let y = layer(p[0].m(), p[1].v());
        (0..2).map(|i| u[i] * y[i]).sum()
    };
    close(dw.as_slice(), &finite_differences(&params, 0, &inner), "dw");

    let dw_direction = Matrix::from_rows(&[[1.0, 0.0, -1.0], [0.5, 2.0, 0.0]]);
    let (value, dy) = layer_jvp(&w, &x, &dw_direction);
    assert_eq!(value, layer(&w, &x));
    let expected = directional_fd(
        &params,
        &[Val::M(dw_direction), Val::V(Vector::zeros(3))],
        &|p: &[Val]| Val::V(layer(p[0].m(), p[1].v())),
    );
    close(dy.as_slice(), &expected.flat(), "dy");
}

/// z = tanh(w·x + b) with respect to every parameter: `w` has matrix-valued tangents, so the
/// Jacobian takes one pass per direction, through `f_vjp` or `f_jvp`, which come with it.
#[differentiable(only(jacobian))]
fn dense(w: &Matrix<f64>, x: &Vector<f64>, b: &Vector<f64>) -> Vector<f64> {
    let z = (w.matmul(x) + b).tanh();
    z
}

#[test]
fn only_jacobian_brings_the_passes_it_takes() {
    let (w, x) = layer_point();
    let b = Vector::from_vec(vec![0.1, -0.2]);
    let (jw, jx, jb) = dense_jacobian(&w, &x, &b);
    let params = [Val::M(w.clone()), Val::V(x.clone()), Val::V(b.clone())];
    for (k, jacobian) in [jw, jx, jb].iter().enumerate() {
        // Row i is the gradient of output i.
        for i in 0..2 {
            let output = |p: &[Val]| dense(p[0].m(), p[1].v(), p[2].v())[i];
            let row: Vec<f64> = (0..jacobian.cols()).map(|j| jacobian[(i, j)]).collect();
            close(
                &row,
                &finite_differences(&params, k, &output),
                &format!("row {i} of the Jacobian of parameter {k}"),
            );
        }
    }
    // The prerequisites are there, and right.
    let u = Vector::from_vec(vec![1.0, -2.0]);
    let (_, (_, dx, _)) = dense_vjp(&w, &x, &b, &u);
    let inner = |p: &[Val]| {
        let z = dense(p[0].m(), p[1].v(), p[2].v());
        z[0] - 2.0 * z[1]
    };
    close(dx.as_slice(), &finite_differences(&params, 1, &inner), "dx");
    let dx_direction = Vector::from_vec(vec![1.0, 0.5, -1.0]);
    let (_, dz) = dense_jvp(
        &w,
        &x,
        &b,
        &Matrix::zeros(2, 3),
        &dx_direction,
        &Vector::zeros(2),
    );
    let expected = directional_fd(
        &params,
        &[
            Val::M(Matrix::zeros(2, 3)),
            Val::V(dx_direction),
            Val::V(Vector::zeros(2)),
        ],
        &|p: &[Val]| Val::V(dense(p[0].m(), p[1].v(), p[2].v())),
    );
    close(dz.as_slice(), &expected.flat(), "dz");
}

/// A scalar's Jacobian is its gradient as a row, so `f_grad` comes with it.
#[differentiable(only(jacobian))]
fn energy(x: &Vector<f64>) -> f64 {
    let e = x.exp();
    e.dot(x)
}

#[test]
fn only_jacobian_of_a_scalar_brings_the_gradient() {
    let x = Vector::from_vec(vec![0.3, -0.7, 1.1]);
    let j = energy_jacobian(&x);
    assert_eq!(j.shape(), (1, 3));
    // ∂/∂xᵢ Σ xⱼ·e^xⱼ = (1 + xᵢ)·e^xᵢ.
    let by_hand: Vec<f64> = (0..3).map(|i| (1.0 + x[i]) * x[i].exp()).collect();
    close(j.as_slice(), &by_hand, "the Jacobian");
    let (value, gradient) = energy_grad(&x);
    assert_eq!(value, energy(&x));
    close(gradient.as_slice(), &by_hand, "the gradient");
}

/// A callee, called below: a Hessian through it takes one Hessian-vector product per direction.
#[differentiable]
fn cubes(x: &Vector<f64>) -> f64 {
    x.powi(3).sum()
}

/// f(x) = Σ xᵢ³ + x·x: H = diag(6x) + 2I.
#[differentiable(only(hessian))]
fn through_cubes(x: &Vector<f64>) -> f64 {
    cubes(x) + x.dot(x)
}

/// The same without the call: its Hessian is one batched program.
#[differentiable(only(hessian))]
fn inline_cubes(x: &Vector<f64>) -> f64 {
    x.powi(3).sum() + x.dot(x)
}

fn cubes_hessian_by_hand(x: &Vector<f64>) -> Vec<f64> {
    let n = x.len();
    (0..n * n)
        .map(|k| {
            let (i, j) = (k / n, k % n);
            if i == j {
                6.0 * x[i] + 2.0
            } else {
                0.0
            }
        })
        .collect()
}

#[test]
fn only_hessian_brings_the_hvp_it_calls() {
    let x = Vector::from_vec(vec![0.5, -1.5, 2.0]);
    let by_hand = cubes_hessian_by_hand(&x);
    close(
        through_cubes_hessian(&x).as_slice(),
        &by_hand,
        "H through a call",
    );
    close(inline_cubes_hessian(&x).as_slice(), &by_hand, "H inline");
    // f_hvp came with the Hessian that calls it.
    let v = Vector::from_vec(vec![1.0, 2.0, -1.0]);
    let (value, gradient, product) = through_cubes_hvp(&x, &v);
    assert_eq!(value, through_cubes(&x));
    let params = [Val::V(x.clone())];
    let loss = |p: &[Val]| through_cubes(p[0].v());
    close(
        gradient.as_slice(),
        &finite_differences(&params, 0, &loss),
        "the gradient",
    );
    let hv: Vec<f64> = (0..3).map(|i| (6.0 * x[i] + 2.0) * v[i]).collect();
    close(product.as_slice(), &hv, "H·v");
}

/// L(w) = Σ ln(1 + exp(−y ⊙ (X·w))) + ½λ‖w‖² (λ = 0.1).
#[differentiable(wrt(w), only(hvp, derivation))]
fn logistic(x: &Matrix<f64>, w: &Vector<f64>, y: &Vector<f64>) -> f64 {
    let margins = y * &x.matmul(w);
    let loss = -margins.sigmoid().ln().sum() + 0.05 * w.dot(w);
    loss
}

#[test]
fn only_hvp_and_derivation() {
    let x = Matrix::from_rows(&[[1.0, 0.5], [-0.3, 2.0], [0.7, -1.0]]);
    let w = Vector::from_vec(vec![0.2, -0.1]);
    let y = Vector::from_vec(vec![1.0, -1.0, 1.0]);
    let v = Vector::from_vec(vec![1.0, -2.0]);
    let (value, gradient, product) = logistic_hvp(&x, &w, &y, &v);
    // Equal to rounding: generated code computes `ln(σ(m))` as `log_sigmoid(m)`.
    close(&[value], &[logistic(&x, &w, &y)], "the value");
    let params = [Val::M(x.clone()), Val::V(w.clone()), Val::V(y.clone())];
    let loss = |p: &[Val]| logistic(p[0].m(), p[1].v(), p[2].v());
    close(
        gradient.as_slice(),
        &finite_differences(&params, 1, &loss),
        "the gradient",
    );
    // H = Xᵀ·diag(s ⊙ (1 − s))·X + λI, s = σ(y ⊙ X·w).
    let weights: Vec<f64> = (0..3)
        .map(|k| {
            let m = y[k] * (x[(k, 0)] * w[0] + x[(k, 1)] * w[1]);
            let s = 1.0 / (1.0 + (-m).exp());
            s * (1.0 - s)
        })
        .collect();
    let hv: Vec<f64> = (0..2)
        .map(|i| {
            (0..2)
                .map(|j| {
                    let h = (0..3)
                        .map(|k| x[(k, i)] * weights[k] * x[(k, j)])
                        .sum::<f64>()
                        + if i == j { 0.1 } else { 0.0 };
                    h * v[j]
                })
                .sum()
        })
        .collect();
    close(product.as_slice(), &hv, "H·v");
    assert!(logistic_derivation().contains("dw = "));
}

/// `f_gradcheck` calls `f_vjp` and `f_jvp`, which come with it.
#[differentiable(only(gradcheck))]
fn softmax_score(z: &Matrix<f64>, t: &Matrix<f64>) -> f64 {
    let p = z.softmax();
    (p * t).sum()
}

#[test]
fn only_gradcheck_brings_both_modes() {
    let z = Matrix::from_rows(&[[0.5, -1.0, 2.0], [0.1, 0.2, -0.3]]);
    let t = Matrix::from_rows(&[[1.0, 0.0, 2.0], [0.0, -1.0, 1.0]]);
    softmax_score_gradcheck(&z, &t).assert_within(1e-8);
    let (value, (dz, dt)) = softmax_score_vjp(&z, &t, 1.0);
    assert_eq!(value, softmax_score(&z, &t));
    let params = [Val::M(z.clone()), Val::M(t.clone())];
    let loss = |p: &[Val]| softmax_score(p[0].m(), p[1].m());
    close(dz.as_slice(), &finite_differences(&params, 0, &loss), "dz");
    close(dt.as_slice(), &finite_differences(&params, 1, &loss), "dt");
    let direction = Matrix::from_rows(&[[1.0, 2.0, 0.0], [0.0, -1.0, 0.5]]);
    let (_, slope) = softmax_score_jvp(&z, &t, &direction, &Matrix::zeros(2, 3));
    let expected = directional_fd(
        &params,
        &[Val::M(direction), Val::M(Matrix::zeros(2, 3))],
        &|p: &[Val]| Val::S(softmax_score(p[0].m(), p[1].m())),
    );
    close(&[slope], &expected.flat(), "the directional derivative");
}

/// A callee declared with `only(...)` still gives its callers everything: its building blocks
/// do not depend on `only`.
#[differentiable(only(derivation))]
fn squash(v: &Vector<f64>) -> f64 {
    v.tanh().sum()
}

#[differentiable]
fn caller(v: &Vector<f64>) -> f64 {
    squash(v) * 2.0
}

#[test]
fn a_callee_with_only_serves_every_caller_item() {
    let v = Vector::from_vec(vec![0.4, -0.9]);
    let (_, gradient) = caller_grad(&v);
    // 2·(1 − tanh²(v)).
    let by_hand: Vec<f64> = (0..2).map(|i| 2.0 * (1.0 - v[i].tanh().powi(2))).collect();
    close(gradient.as_slice(), &by_hand, "the gradient");
    // −4·tanh(v)·(1 − tanh²(v)) on the diagonal.
    let h = caller_hessian(&v);
    for i in 0..2 {
        let t = v[i].tanh();
        assert!((h[(i, i)] + 4.0 * t * (1.0 - t * t)).abs() < 1e-12);
    }
    caller_gradcheck(&v).assert_within(1e-8);
    assert_eq!(squash_derivation().lines().count(), 1);
}
