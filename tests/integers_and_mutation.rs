//! The second release's straight-line additions: integer constants (`usize` parameters,
//! `len()`, `rows()`, `cols()`, integer arithmetic, `as f64`), named constants
//! (`std::f64::consts`, `const` items) and mutable bindings (`let mut`, `=`, `+= -= *= /=`),
//! each checked against its hand derivative and central differences of the function itself,
//! in every mode that applies, in f64 and f32.

use autodiff::prelude::*;

const RATE: f64 = 0.75;
const STEPS: usize = 3;
const RATE32: f32 = 0.75;

mod config {
    pub const GAIN: f64 = 1.5;
}

/// The central difference of `f` at `x` along coordinate `i`.
fn central(f: &dyn Fn(&[f64]) -> f64, x: &[f64], i: usize) -> f64 {
    let h = 1e-5 * x[i].abs().max(1.0);
    let mut plus = x.to_vec();
    let mut minus = x.to_vec();
    plus[i] += h;
    minus[i] -= h;
    (f(&plus) - f(&minus)) / (2.0 * h)
}

#[track_caller]
fn assert_close(got: &[f64], want: &[f64], tol: f64, what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: lengths differ");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            (g - w).abs() <= tol * (1.0 + w.abs()),
            "{what}: entry {i}: got {g:e}, want {w:e}"
        );
    }
}

#[differentiable]
fn mean_by_len(x: &Vector<f64>) -> f64 {
    x.sum() / x.len() as f64
}

#[test]
fn length_as_a_float_divides() {
    let x = Vector::from_vec(vec![1.0, -2.0, 4.0, 0.5]);
    let (value, grad) = mean_by_len_grad(&x);
    assert_eq!(value, mean_by_len(&x));
    assert_eq!(value, 0.875);
    // d mean / dx_i = 1/n.
    assert_eq!(grad.as_slice(), &[0.25; 4]);
}

#[differentiable]
fn scaled_norm(x: &Vector<f64>, n: usize) -> f64 {
    let k = (n * 2 + 1 - n % 2) as f64;
    k * x.dot(x)
}

#[test]
fn usize_parameters_and_integer_arithmetic() {
    let x = Vector::from_vec(vec![0.5, -1.5, 2.0]);
    for n in [0usize, 1, 4, 7] {
        let k = (n * 2 + 1 - n % 2) as f64;
        let (value, grad) = scaled_norm_grad(&x, n);
        assert_eq!(value, scaled_norm(&x, n));
        let want: Vec<f64> = x.as_slice().iter().map(|v| 2.0 * k * v).collect();
        assert_close(grad.as_slice(), &want, 1e-15, &format!("n = {n}"));
        // The Hessian is 2k·I.
        let hessian = scaled_norm_hessian(&x, n);
        for i in 0..3 {
            for j in 0..3 {
                let want = if i == j { 2.0 * k } else { 0.0 };
                assert_eq!(hessian[(i, j)], want, "n = {n}: H[{i},{j}]");
            }
        }
    }
}

#[differentiable]
fn mean_square(m: &Matrix<f64>) -> f64 {
    (m * m).sum() / (m.rows() * m.cols()) as f64
}

#[test]
fn rows_and_columns_count() {
    let m = Matrix::from_vec(2, 3, vec![1.0, 2.0, -3.0, 0.5, 0.0, 4.0]);
    let (value, grad) = mean_square_grad(&m);
    assert_eq!(value, mean_square(&m));
    let want: Vec<f64> = m.as_slice().iter().map(|v| 2.0 * v / 6.0).collect();
    assert_close(grad.as_slice(), &want, 1e-15, "d mean_square");
    // Forward mode along a direction agrees with the gradient.
    let t = Matrix::from_vec(2, 3, vec![0.1, -0.2, 0.3, 0.4, 0.5, -0.6]);
    let (_, directional) = mean_square_jvp(&m, &t);
    let dot: f64 = want.iter().zip(t.as_slice()).map(|(a, b)| a * b).sum();
    assert!((directional - dot).abs() < 1e-14);
}

#[differentiable]
fn circle_area(r: f64) -> f64 {
    std::f64::consts::PI * r * r
}

#[differentiable]
fn circle_area32(r: f32) -> f32 {
    core::f32::consts::PI * r.powi(2)
}

#[differentiable]
fn with_user_constants(x: f64) -> f64 {
    RATE * x * (STEPS as f64) + config::GAIN * x.sin() + (STEPS * 2) as f64
}

#[test]
fn named_constants_take_the_float_type() {
    let (area, d) = circle_area_grad(2.0);
    assert_eq!(area, circle_area(2.0));
    assert_eq!(d, 4.0 * std::f64::consts::PI);
    let (area, d) = circle_area32_grad(2.0);
    assert_eq!(area, circle_area32(2.0));
    assert!((d - 4.0 * std::f32::consts::PI).abs() < 1e-5);
    let x = 0.7;
    let (value, d) = with_user_constants_grad(x);
    assert_eq!(value, with_user_constants(x));
    assert!((d - (RATE * 3.0 + config::GAIN * x.cos())).abs() < 1e-15);
    assert!(with_user_constants_derivation().contains("RATE"));
}

#[differentiable]
fn accumulate(x: &Vector<f64>) -> f64 {
    let mut s = x.sum();
    s += x.dot(x);
    s *= 2.0;
    s -= 1.0;
    s = (s - 0.5) / 3.0;
    {
        // An assignment in an inner block changes the outer binding.
        s /= 2.0;
    }
    s
}

#[test]
fn compound_assignments_accumulate() {
    let x = Vector::from_vec(vec![0.3, -1.2, 2.5]);
    let (value, grad) = accumulate_grad(&x);
    assert_eq!(value, accumulate(&x));
    // s = (2(Σx + x·x) − 1.5) / 6, so ds/dx_i = (1 + 2x_i) / 3.
    let want: Vec<f64> = x.as_slice().iter().map(|v| (1.0 + 2.0 * v) / 3.0).collect();
    assert_close(grad.as_slice(), &want, 1e-15, "d accumulate");
}

#[differentiable]
fn rebind_tensor(x: &Matrix<f64>, w: &Matrix<f64>) -> Matrix<f64> {
    let mut h = x.clone();
    h = h.matmul(w).tanh();
    h += x;
    h *= 0.5;
    h
}

#[test]
fn mutable_tensors_in_every_mode() {
    let x = Matrix::from_vec(2, 2, vec![0.2, -0.4, 0.6, 0.1]);
    let w = Matrix::from_vec(2, 2, vec![0.5, -0.3, 0.8, 0.2]);
    let flat = |x: &[f64], w: &[f64]| {
        rebind_tensor(
            &Matrix::from_vec(2, 2, x.to_vec()),
            &Matrix::from_vec(2, 2, w.to_vec()),
        )
    };
    let (xs, ws) = (x.as_slice().to_vec(), w.as_slice().to_vec());
    let (jx, jw) = rebind_tensor_jacobian(&x, &w);
    for out in 0..4 {
        let f_x = |v: &[f64]| flat(v, &ws).as_slice()[out];
        let f_w = |v: &[f64]| flat(&xs, v).as_slice()[out];
        for j in 0..4 {
            assert!((jx[(out, j)] - central(&f_x, &xs, j)).abs() < 1e-8);
            assert!((jw[(out, j)] - central(&f_w, &ws, j)).abs() < 1e-8);
        }
    }
    let dy = Matrix::from_vec(2, 2, vec![1.0, -2.0, 0.5, 3.0]);
    let (value, (dx, dw)) = rebind_tensor_vjp(&x, &w, &dy);
    assert_eq!(value, rebind_tensor(&x, &w));
    for j in 0..4 {
        let col_x: f64 = (0..4).map(|o| dy.as_slice()[o] * jx[(o, j)]).sum();
        let col_w: f64 = (0..4).map(|o| dy.as_slice()[o] * jw[(o, j)]).sum();
        assert!((dx.as_slice()[j] - col_x).abs() < 1e-14);
        assert!((dw.as_slice()[j] - col_w).abs() < 1e-14);
    }
    let derivation = rebind_tensor_derivation();
    assert!(derivation.contains("dh"), "{derivation}");
}

#[differentiable]
fn mutable_f32(x: &Vector<f32>, n: usize) -> f32 {
    let mut s = x.dot(x) * RATE32;
    s += (x.len() * n) as f32;
    s
}

#[test]
fn mutation_and_integers_in_f32() {
    let x = Vector::from_vec(vec![1.0f32, -0.5, 2.0]);
    let (value, grad) = mutable_f32_grad(&x, 2);
    assert_eq!(value, mutable_f32(&x, 2));
    assert_eq!(value, 5.25 * 0.75 + 6.0);
    let want: Vec<f32> = x.as_slice().iter().map(|v| 2.0 * 0.75 * v).collect();
    assert_eq!(grad.as_slice(), &want[..]);
}

#[test]
fn finite_differences_agree_through_mutation() {
    let x = [0.3, -1.2, 2.5];
    let f = |v: &[f64]| accumulate(&Vector::from_vec(v.to_vec()));
    let (_, grad) = accumulate_grad(&Vector::from_vec(x.to_vec()));
    let fd: Vec<f64> = (0..3).map(|i| central(&f, &x, i)).collect();
    assert_close(
        grad.as_slice(),
        &fd,
        1e-8,
        "accumulate vs finite differences",
    );
}
