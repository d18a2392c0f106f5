//! Functions generic over their float (issue 17): `fn f<T: Float>`, its items generic too,
//! each equal to the same function written out in f32 and in f64.

use autodiff::prelude::*;

#[differentiable]
fn energy<T: Float>(w: &Matrix<T>, x: &Vector<T>, scale: T) -> T {
    let h = w.matmul(x).tanh();
    h.dot(&h) * scale + (x * 2.0).sin().sum()
}

#[differentiable]
fn energy_f64(w: &Matrix<f64>, x: &Vector<f64>, scale: f64) -> f64 {
    let h = w.matmul(x).tanh();
    h.dot(&h) * scale + (x * 2.0).sin().sum()
}

#[differentiable]
fn energy_f32(w: &Matrix<f32>, x: &Vector<f32>, scale: f32) -> f32 {
    let h = w.matmul(x).tanh();
    h.dot(&h) * scale + (x * 2.0).sin().sum()
}

/// A tensor result, generic.
#[differentiable(wrt(x))]
fn layer<T: autodiff::Float>(w: &Matrix<T>, x: &Vector<T>) -> Vector<T> {
    w.matmul(x).sigmoid()
}

#[test]
fn each_float_gets_its_own_derivatives() {
    let w = Matrix::from_fn(3, 2, |i, j| ((i * 2 + j) as f64 * 0.7).sin());
    let x = Vector::from_vec(vec![0.3, -0.8]);
    let (value, (dw, dx, ds)) = energy_grad(&w, &x, 0.5);
    let (want, (ww, wx, ws)) = energy_f64_grad(&w, &x, 0.5);
    assert_eq!(value, want);
    assert_eq!((dw, dx, ds), (ww, wx, ws));
    assert_eq!(energy(&w, &x, 0.5), value);
    assert_eq!(energy_hessian(&w, &x, 0.5), energy_f64_hessian(&w, &x, 0.5));
    energy_gradcheck(&w, &x, 0.5).assert_within(1e-6);

    let w32 = Matrix::from_fn(3, 2, |i, j| ((i * 2 + j) as f32 * 0.7).sin());
    let x32 = Vector::from_vec(vec![0.3f32, -0.8]);
    let (value, (dw, dx, ds)) = energy_grad(&w32, &x32, 0.5f32);
    let (want, (ww, wx, ws)) = energy_f32_grad(&w32, &x32, 0.5);
    assert_eq!(value, want);
    assert_eq!((dw, dx, ds), (ww, wx, ws));
    let (_, tangent) = energy_jvp(&w32, &x32, 0.5, &w32, &x32, 1.0);
    let (_, want) = energy_f32_jvp(&w32, &x32, 0.5, &w32, &x32, 1.0);
    assert_eq!(tangent, want);
    energy_gradcheck(&w32, &x32, 0.5f32).assert_within(1e-2);
    assert_eq!(energy_derivation(), energy_f64_derivation());
}

#[test]
fn generic_tensor_results_pull_back_in_both_floats() {
    let w = Matrix::from_rows(&[[1.0f32, -2.0], [0.5, 0.25]]);
    let x = Vector::from_vec(vec![0.1f32, 0.2]);
    let u = Vector::from_vec(vec![1.0f32, 1.0]);
    let (y, dx) = layer_vjp(&w, &x, &u);
    assert_eq!(y, layer(&w, &x));
    // dx = Wᵀ·(σ'(W·x) ⊙ u)
    let z: Vec<f32> = (0..2)
        .map(|i| w[(i, 0)] * x[0] + w[(i, 1)] * x[1])
        .collect();
    let s: Vec<f32> = z.iter().map(|z| 1.0 / (1.0 + (-z).exp())).collect();
    for j in 0..2 {
        let want: f32 = (0..2).map(|i| w[(i, j)] * s[i] * (1.0 - s[i])).sum();
        assert!((dx[j] - want).abs() <= 1e-6, "{} vs {want}", dx[j]);
    }
    let w64 = Matrix::from_rows(&[[1.0f64, -2.0], [0.5, 0.25]]);
    let jacobian = layer_jacobian(&w64, &Vector::from_vec(vec![0.1, 0.2]));
    assert_eq!(jacobian.shape(), (2, 2));
}

mod layers {
    use autodiff::prelude::*;

    #[differentiable]
    pub fn dense<T: Float>(w: &Matrix<T>, x: &Vector<T>) -> Vector<T> {
        w.matmul(x).tanh()
    }
}

/// A generic call by path, the callee generic too (its instantiation for the caller's float).
#[differentiable]
fn two_layers<T: Float>(w: &Matrix<T>, x: &Vector<T>) -> T {
    let h = layers::dense(w, x);
    layers::dense(w, &h).sum()
}

#[derive(Differentiable, Clone, Debug, PartialEq)]
struct Affine<T: Float> {
    a: Matrix<T>,
    b: Vector<T>,
}

/// A generic function of a generic parameter struct.
#[differentiable(wrt(p))]
fn affine_energy<T: Float>(p: &Affine<T>, x: &Vector<T>) -> T {
    let y = p.a.matmul(x) + &p.b;
    y.dot(&y) * 0.5
}

#[test]
fn generic_functions_call_generic_functions_by_path() {
    let w: Matrix<f64> = Matrix::from_vec(2, 2, vec![0.5, -0.3, 0.8, 0.1]);
    let x: Vector<f64> = Vector::from_vec(vec![1.0, -2.0]);
    let (value, (dw, dx)) = two_layers_grad(&w, &x);
    // By hand: h = tanh(Wx), y = tanh(Wh); d(Σy)/dpre2 = 1 − y², dh = Wᵀ(1 − y²), dpre1 = dh ⊙ (1 − h²).
    let h = w.matmul(&x).tanh();
    let y = w.matmul(&h).tanh();
    assert!((value - y.sum()).abs() < 1e-15);
    let d2 = Vector::from_vec(vec![1.0 - y[0] * y[0], 1.0 - y[1] * y[1]]);
    let dh = w.t().matmul(&d2);
    let d1 = Vector::from_vec(vec![
        dh[0] * (1.0 - h[0] * h[0]),
        dh[1] * (1.0 - h[1] * h[1]),
    ]);
    let dx_hand = w.t().matmul(&d1);
    for j in 0..2 {
        assert!((dx[j] - dx_hand[j]).abs() < 1e-12);
    }
    let dw_hand = d1.outer(&x) + d2.outer(&h);
    for (a, b) in dw.as_slice().iter().zip(dw_hand.as_slice()) {
        assert!((a - b).abs() < 1e-12);
    }
    // The same at f32, and the derivation names the callee as written.
    let w32 = Matrix::from_vec(2, 2, vec![0.5f32, -0.3, 0.8, 0.1]);
    let x32 = Vector::from_vec(vec![1.0f32, -2.0]);
    let (value32, _) = two_layers_grad(&w32, &x32);
    assert!((value32 as f64 - value).abs() < 1e-5);
    let derivation = two_layers_derivation();
    assert!(derivation.contains("layers::dense_vjp("), "{derivation}");
    assert!(!derivation.contains("__autodiff"), "{derivation}");
}

#[test]
fn a_generic_struct_in_a_generic_function() {
    let p = Affine {
        a: Matrix::from_vec(2, 2, vec![1.0, 2.0, 3.0, 4.0]),
        b: Vector::from_vec(vec![0.5, -0.5]),
    };
    let x = Vector::from_vec(vec![1.0, -1.0]);
    let (value, g): (f64, Affine<f64>) = affine_energy_grad(&p, &x);
    // y = Ax + b = [-0.5, -1.5]; E = ½|y|²; dA = y·xᵀ, db = y.
    assert_eq!(value, 0.5 * (0.25 + 2.25));
    assert_eq!(g.b.as_slice(), &[-0.5, -1.5]);
    assert_eq!(g.a.as_slice(), &[-0.5, 0.5, -1.5, 1.5]);
    let p32 = Affine {
        a: Matrix::from_vec(2, 2, vec![1.0f32, 2.0, 3.0, 4.0]),
        b: Vector::from_vec(vec![0.5f32, -0.5]),
    };
    let (value32, g32) = affine_energy_grad(&p32, &Vector::from_vec(vec![1.0f32, -1.0]));
    assert_eq!(value32, 1.25);
    assert_eq!(g32.a.as_slice(), &[-0.5f32, 0.5, -1.5, 1.5]);
    affine_energy_gradcheck(&p, &x).assert_within(1e-6);
}
