//! `#[differentiable]` on methods and associated functions (issue 17): `&self` of a
//! `Differentiable` struct is a differentiable parameter, the items are methods
//! (`p.loss_grad(..)`), and every mode equals the same function written free.

use autodiff::prelude::*;

#[derive(Differentiable, Clone, Debug, PartialEq)]
struct Mlp {
    w1: Matrix<f64>,
    b1: Vector<f64>,
    w2: Matrix<f64>,
    b2: Vector<f64>,
}

#[differentiable]
impl Mlp {
    /// An ordinary associated function beside the differentiable ones: left as written.
    fn with_scale(scale: f64) -> Self {
        let entry = |i: usize, salt: usize| ((i * 7 + salt * 31 + 5) as f64 * 0.618).fract() - 0.5;
        Mlp {
            w1: Matrix::from_vec(2, 3, (0..6).map(|i| scale * entry(i, 1)).collect()),
            b1: Vector::from_vec((0..3).map(|i| scale * entry(i, 2)).collect()),
            w2: Matrix::from_vec(3, 2, (0..6).map(|i| scale * entry(i, 3)).collect()),
            b2: Vector::from_vec((0..2).map(|i| scale * entry(i, 4)).collect()),
        }
    }

    /// The contract's MLP loss, as a method.
    #[differentiable(wrt(self))]
    fn loss(&self, x: &Matrix<f64>, labels: &[usize]) -> f64 {
        let h = (x.matmul(&self.w1) + &self.b1).tanh();
        let lp = (h.matmul(&self.w2) + &self.b2).log_softmax();
        -lp.gather(labels).mean()
    }

    /// `self` and another parameter, both differentiated.
    #[differentiable]
    fn energy(&self, x: &Vector<f64>) -> f64 {
        let h = self.w1.matmul(x).tanh() + &self.b1;
        h.dot(&h) + self.b2.sum() * x.sum() + self.w2.sum()
    }

    /// An associated function (no `self`): its items are associated functions.
    #[differentiable]
    fn smooth_abs(x: &Vector<f64>, k: f64) -> f64 {
        (x * k).cosh().ln().sum() / k
    }

    /// A method with a tuple result, calling a free differentiable function.
    #[differentiable(wrt(self))]
    fn hidden_and_norm(&self, x: &Vector<f64>) -> (Vector<f64>, f64) {
        let h = self.w1.matmul(x).tanh();
        let n = squared(&h);
        (h, n)
    }
}

#[differentiable]
fn squared(v: &Vector<f64>) -> f64 {
    v.dot(v)
}

/// The same loss with the struct as an ordinary parameter.
#[differentiable(wrt(p))]
fn free_loss(p: &Mlp, x: &Matrix<f64>, labels: &[usize]) -> f64 {
    let h = (x.matmul(&p.w1) + &p.b1).tanh();
    let lp = (h.matmul(&p.w2) + &p.b2).log_softmax();
    -lp.gather(labels).mean()
}

#[differentiable]
fn free_energy(p: &Mlp, x: &Vector<f64>) -> f64 {
    let h = p.w1.matmul(x).tanh() + &p.b1;
    h.dot(&h) + p.b2.sum() * x.sum() + p.w2.sum()
}

#[derive(Differentiable, Clone, Debug, PartialEq)]
struct Quadratic {
    a: Matrix<f64>,
    c: f64,
}

impl Quadratic {
    /// No attribute on the `impl`: the receiver names its type.
    #[differentiable]
    fn value(self: &Quadratic, x: &Vector<f64>) -> f64 {
        x.dot(&self.a.matmul(x)) * 0.5 + self.c
    }
}

fn data() -> (Matrix<f64>, Vec<usize>) {
    let x = Matrix::from_vec(3, 3, vec![0.3, -1.2, 0.8, 1.1, 0.4, -0.6, -0.7, 0.9, 0.2]);
    (x.slice_cols(0..2), vec![1, 0, 1])
}

#[test]
fn a_method_gives_the_free_functions_gradient_as_a_struct() {
    let p = Mlp::with_scale(1.0);
    let (x, labels) = data();
    let (value, g) = p.loss_grad(&x, &labels);
    let (free_value, free_g) = free_loss_grad(&p, &x, &labels);
    assert_eq!(value, free_value);
    assert_eq!(g, free_g);
    assert_eq!(value, p.loss(&x, &labels));
    p.loss_gradcheck(&x, &labels).assert_within(1e-6);
    // One SGD step through the method lowers the loss.
    let mut q = p.clone();
    q.axpy(-0.1, &g);
    assert!(q.loss(&x, &labels) < value);
}

#[test]
fn every_mode_is_a_method() {
    let p = Mlp::with_scale(0.8);
    let t = Mlp::with_scale(-0.3);
    let (x, labels) = data();
    let (_, vjp) = p.loss_vjp(&x, &labels, 2.0);
    let (_, grad) = p.loss_grad(&x, &labels);
    assert_eq!(
        vjp.to_flat(),
        grad.to_flat().iter().map(|g| 2.0 * g).collect::<Vec<_>>()
    );
    let (_, tangent) = p.loss_jvp(&x, &labels, &t);
    assert!((tangent - grad.dot(&t)).abs() < 1e-12);
    let hessian = p.loss_hessian(&x, &labels);
    assert_eq!(hessian, free_loss_hessian(&p, &x, &labels));
    let (_, _, hv) = p.loss_hvp(&x, &labels, &t);
    let (_, _, free_hv) = free_loss_hvp(&p, &x, &labels, &t);
    assert_eq!(hv, free_hv);
    let jacobian = p.loss_jacobian(&x, &labels);
    assert_eq!(jacobian.as_slice(), grad.to_flat().as_slice());
    // The derivation reads `self.w1`, as the method is written.
    let derivation = Mlp::loss_derivation();
    assert!(derivation.contains("dself.w1 = xᵀ·"), "{derivation}");
    assert!(!derivation.contains("this"), "{derivation}");
}

#[test]
fn self_and_other_parameters_together() {
    // w1 is 3×3 here, so that `w1·x + b1` has b1's length.
    let p = Mlp {
        w1: Matrix::from_vec(3, 3, (0..9).map(|i| (i as f64 * 0.37).sin()).collect()),
        ..Mlp::with_scale(0.5)
    };
    let x = Vector::from_vec(vec![0.4, -0.9, 0.3]);
    let (value, (dp, dx)) = p.energy_grad(&x);
    let (free_value, (free_dp, free_dx)) = free_energy_grad(&p, &x);
    assert_eq!((value, dp, dx), (free_value, free_dp, free_dx));
    p.energy_gradcheck(&x).assert_within(1e-6);
}

#[test]
fn associated_functions_and_typed_receivers() {
    let x = Vector::from_vec(vec![0.5, -1.5, 2.0]);
    let (value, (dx, dk)) = Mlp::smooth_abs_grad(&x, 3.0);
    assert!((value - Mlp::smooth_abs(&x, 3.0)).abs() < 1e-15);
    for j in 0..3 {
        assert!((dx[j] - (3.0 * x[j]).tanh()).abs() < 1e-12);
    }
    let by_hand: f64 = (0..3)
        .map(|j| x[j] * (3.0 * x[j]).tanh() / 3.0 - (3.0 * x[j]).cosh().ln() / 9.0)
        .sum();
    assert!((dk - by_hand).abs() < 1e-12);

    let q = Quadratic {
        a: Matrix::from_vec(2, 2, vec![2.0, 1.0, 1.0, 3.0]),
        c: 4.0,
    };
    let x = Vector::from_vec(vec![1.0, -2.0]);
    let (value, (dq, dx)) = q.value_grad(&x);
    assert_eq!(value, 0.5 * (2.0 - 4.0 + 12.0) + 4.0);
    // d/dA ½xᵀAx = ½xxᵀ, d/dx = ½(A + Aᵀ)x, d/dc = 1.
    assert_eq!(dq.a.as_slice(), &[0.5, -1.0, -1.0, 2.0]);
    assert_eq!(dq.c, 1.0);
    assert_eq!(dx.as_slice(), &[0.0, -5.0]);
}

#[test]
fn a_method_with_a_tuple_result_and_a_call() {
    let p = Mlp::with_scale(0.7);
    let w1 = Matrix::from_vec(2, 2, vec![0.3, -0.4, 0.8, 0.1]);
    let p = Mlp { w1, ..p };
    let x = Vector::from_vec(vec![1.0, -0.5]);
    let dh = Vector::from_vec(vec![0.2, -1.0]);
    let ((h, n), g) = p.hidden_and_norm_vjp(&x, (&dh, 0.5));
    assert!((n - h.dot(&h)).abs() < 1e-15);
    // dpre = (dh + 2·0.5·h) ⊙ (1 − h²); dw1 = dpre·xᵀ; the other fields get nothing.
    let dpre: Vec<f64> = (0..2)
        .map(|j| (dh[j] + h[j]) * (1.0 - h[j] * h[j]))
        .collect();
    let dw1: Vec<f64> = (0..4).map(|e| dpre[e / 2] * x[e % 2]).collect();
    for (a, b) in g.w1.as_slice().iter().zip(&dw1) {
        assert!((a - b).abs() < 1e-12);
    }
    assert_eq!(g.b1, Vector::zeros(3));
    p.hidden_and_norm_gradcheck(&x).assert_within(1e-6);
}
