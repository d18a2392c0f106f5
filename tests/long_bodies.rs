//! Functions long enough that every derived body is cut into blocks (`nesting` in the macro:
//! nested `fn` items, each taking what it reads and handing on what later code reads), checked
//! in every mode against central differences of the function itself, in f64 and f32. The
//! bodies mix what crosses a block boundary: owned and borrowed tensor parameters, a scalar
//! parameter, a broadcast bias (its gradient a reduced view), kept shapes.

use autodiff::prelude::*;
use autodiff::Real;

mod common;
use common::panic_location;

/// A recurrent layer applied once per `$step` token (forty times), over an owned weight, a
/// borrowed input and bias row, and a scalar gain.
macro_rules! long_layer {
    ($name:ident, $float:ident, $($step:ident)*) => {
        #[differentiable]
        fn $name(x: &Matrix<$float>, w: Matrix<$float>, b: &Matrix<$float>, gain: $float) -> $float {
            let h = x.matmul(&w);
            $(
                let $step = (h.matmul(&w) * gain + b).tanh();
                let h = &$step * &(h - x).sigmoid() + 0.25;
            )*
            (h * 0.5).sum()
        }
    };
}

long_layer!(
    layer64, f64, s0 s1 s2 s3 s4 s5 s6 s7 s8 s9 s10 s11 s12 s13 s14 s15 s16 s17 s18 s19 s20 s21
    s22 s23 s24 s25 s26 s27 s28 s29 s30 s31 s32 s33 s34 s35 s36 s37 s38 s39
);
long_layer!(
    layer32, f32, s0 s1 s2 s3 s4 s5 s6 s7 s8 s9 s10 s11 s12 s13 s14 s15 s16 s17 s18 s19 s20 s21
    s22 s23 s24 s25 s26 s27 s28 s29 s30 s31 s32 s33 s34 s35 s36 s37 s38 s39
);

/// The point: small weights so that forty steps neither saturate nor vanish.
fn point() -> (Matrix<f64>, Matrix<f64>, Matrix<f64>, f64) {
    let x = Matrix::from_fn(3, 2, |i, j| 0.3 * (i as f64 + 1.0) - 0.2 * j as f64);
    let w = Matrix::from_fn(
        2,
        2,
        |i, j| if i == j { 0.4 } else { -0.15 * (i + 1) as f64 },
    );
    let b = Matrix::from_fn(1, 2, |_, j| 0.1 - 0.2 * j as f64);
    (x, w, b, 0.9)
}

/// Every coordinate of the point, flattened, and the point rebuilt from them.
fn flatten(x: &Matrix<f64>, w: &Matrix<f64>, b: &Matrix<f64>, gain: f64) -> Vec<f64> {
    let mut all = x.as_slice().to_vec();
    all.extend_from_slice(w.as_slice());
    all.extend_from_slice(b.as_slice());
    all.push(gain);
    all
}

fn rebuild(all: &[f64]) -> (Matrix<f64>, Matrix<f64>, Matrix<f64>, f64) {
    (
        Matrix::from_vec(3, 2, all[..6].to_vec()),
        Matrix::from_vec(2, 2, all[6..10].to_vec()),
        Matrix::from_vec(1, 2, all[10..12].to_vec()),
        all[12],
    )
}

fn f_at(all: &[f64]) -> f64 {
    let (x, w, b, gain) = rebuild(all);
    layer64(&x, w, &b, gain)
}

fn gradient_at(all: &[f64]) -> Vec<f64> {
    let (x, w, b, gain) = rebuild(all);
    let (_, (dx, dw, db, dgain)) = layer64_grad(&x, w, &b, gain);
    flatten(&dx, &dw, &db, dgain)
}

/// The central difference of `f` along coordinate `k`.
fn central(all: &[f64], k: usize) -> f64 {
    let h = 1e-5;
    let (mut plus, mut minus) = (all.to_vec(), all.to_vec());
    plus[k] += h;
    minus[k] -= h;
    (f_at(&plus) - f_at(&minus)) / (2.0 * h)
}

fn close(actual: f64, expected: f64, tolerance: f64, what: &str) {
    let error = (actual - expected).abs() / expected.abs().max(1.0);
    assert!(error <= tolerance, "{what}: {actual} vs {expected}");
}

#[test]
fn the_gradient_matches_central_differences() {
    let (x, w, b, gain) = point();
    let all = flatten(&x, &w, &b, gain);
    let (value, _) = layer64_grad(&x, w.clone(), &b, gain);
    assert_eq!(value, layer64(&x, w.clone(), &b, gain));
    let gradient = gradient_at(&all);
    for (k, &g) in gradient.iter().enumerate() {
        close(g, central(&all, k), 1e-6, &format!("∂f/∂θ{k}"));
    }
    // The vector-Jacobian product at upstream 2 is twice the gradient.
    let (_, (dx, dw, db, dgain)) = layer64_vjp(&x, w.clone(), &b, gain, 2.0);
    for (v, g) in flatten(&dx, &dw, &db, dgain).iter().zip(&gradient) {
        close(*v, 2.0 * g, 1e-12, "vjp at upstream 2");
    }
    layer64_gradcheck(&x, w, &b, gain).assert_within(1e-6);
}

#[test]
fn tangents_and_hessian_products_match_differences_of_the_gradient() {
    let (x, w, b, gain) = point();
    let all = flatten(&x, &w, &b, gain);
    let gradient = gradient_at(&all);
    // A direction touching every parameter.
    let direction: Vec<f64> = (0..all.len()).map(|k| 0.5 - 0.07 * k as f64).collect();
    let (tx, tw, tb, tgain) = rebuild(&direction);
    let (_, tangent) = layer64_jvp(&x, w.clone(), &b, gain, &tx, &tw, &tb, tgain);
    let expected: f64 = gradient.iter().zip(&direction).map(|(g, d)| g * d).sum();
    close(tangent, expected, 1e-10, "jvp = ∇f·v");
    // H·v against the difference of gradients along v.
    let (_, _, (hx, hw, hb, hgain)) = layer64_hvp(&x, w.clone(), &b, gain, &tx, &tw, &tb, tgain);
    let hv = flatten(&hx, &hw, &hb, hgain);
    let h = 1e-5;
    let along = |t: f64| -> Vec<f64> {
        let moved: Vec<f64> = all.iter().zip(&direction).map(|(a, d)| a + t * d).collect();
        gradient_at(&moved)
    };
    let (plus, minus) = (along(h), along(-h));
    for k in 0..all.len() {
        close(
            hv[k],
            (plus[k] - minus[k]) / (2.0 * h),
            1e-6,
            &format!("(H·v){k}"),
        );
    }
    // The Hessian: symmetric, and its columns are Hessian-vector products.
    let hessian = layer64_hessian(&x, w, &b, gain);
    assert_eq!(hessian.shape(), (13, 13));
    for i in 0..13 {
        for j in 0..13 {
            close(hessian[(i, j)], hessian[(j, i)], 1e-10, "symmetry");
        }
        let column: f64 = (0..13).map(|j| hessian[(i, j)] * direction[j]).sum();
        close(column, hv[i], 1e-10, "H·v from the Hessian");
    }
}

/// `m` with every entry converted.
fn convert<A: Real, B: Real>(m: &Matrix<A>, f: impl Fn(A) -> B) -> Matrix<B> {
    Matrix::from_vec(
        m.rows(),
        m.cols(),
        m.as_slice().iter().map(|&v| f(v)).collect(),
    )
}

#[test]
fn f32_agrees_with_f64() {
    let (x, w, b, gain) = point();
    let narrow = |m: &Matrix<f64>| convert(m, |v| v as f32);
    let (x32, w32, b32) = (narrow(&x), narrow(&w), narrow(&b));
    let (value, (dx, dw, db, dgain)) = layer32_grad(&x32, w32.clone(), &b32, gain as f32);
    let (value64, (dx64, dw64, db64, dgain64)) = layer64_grad(&x, w, &b, gain);
    close(value as f64, value64, 1e-5, "value");
    let (all32, all64) = (
        flatten(
            &convert(&dx, f64::from),
            &convert(&dw, f64::from),
            &convert(&db, f64::from),
            dgain as f64,
        ),
        flatten(&dx64, &dw64, &db64, dgain64),
    );
    for (a, e) in all32.iter().zip(&all64) {
        close(*a, *e, 1e-4, "f32 gradient");
    }
    let hessian = layer32_hessian(&x32, w32, &b32, gain as f32);
    assert!(hessian.as_slice().iter().all(|v| v.is_finite()));
}

#[test]
fn a_shape_error_inside_a_block_is_reported_where_the_function_was_called() {
    let (_, w, b, gain) = point();
    // x with three columns: the first product, inside the first block, fails.
    let line = line!() + 2;
    let location = panic_location(|| {
        layer64_grad(&Matrix::zeros(3, 3), w, &b, gain);
    });
    assert_eq!(location, format!("{}:{line}", file!()));
}
