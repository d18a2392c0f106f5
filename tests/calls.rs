//! Differentiable functions that call each other, and user-supplied derivatives: the composed
//! derivatives equal those of the same computation written inline, and agree with finite
//! differences; f32 and f64.

use autodiff::prelude::*;

// The functions, each written once generic over its float (issue 17) and tested at both:
// generic functions calling generic functions.

#[differentiable]
fn squared_norm<T: Float>(v: &Vector<T>) -> T {
    v.dot(v)
}

// The callee differentiates only w itself; callers still get x's gradient through
// its building blocks, which cover every differentiable parameter.
#[differentiable(wrt(w))]
fn layer<T: Float>(w: &Matrix<T>, x: &Vector<T>) -> Vector<T> {
    let y = w.matmul(x).tanh();
    y
}

// A constant parameter, passed through by the caller.
#[differentiable]
fn scaled_sum<T: Float>(m: &Matrix<T>, _rows: usize) -> T {
    m.sum() * 0.5
}

#[differentiable]
fn composed<T: Float>(w: &Matrix<T>, x: &Vector<T>, m: &Matrix<T>, n: usize) -> T {
    let h = layer(w, x);
    let s = squared_norm(&h) + 3.0 * squared_norm(x);
    s * scaled_sum(m, n)
}

#[differentiable]
fn inline<T: Float>(w: &Matrix<T>, x: &Vector<T>, m: &Matrix<T>, _n: usize) -> T {
    let h = w.matmul(x).tanh();
    let s = h.dot(&h) + 3.0 * x.dot(x);
    s * (m.sum() * 0.5)
}

// Two levels: a caller of a caller.
#[differentiable]
fn twice<T: Float>(w: &Matrix<T>, x: &Vector<T>, m: &Matrix<T>, n: usize) -> T {
    composed(w, x, m, n) * composed(w, x, m, n)
}

// A tensor-valued composition, checked through the vjp and jvp.
#[differentiable]
fn stacked<T: Float>(w: &Matrix<T>, x: &Vector<T>) -> Vector<T> {
    let y = layer(w, &layer(w, x));
    y
}

macro_rules! call_tests {
    ($module:ident, $T:ident, $tol:expr) => {
        mod $module {
            use super::*;

            fn inputs() -> (Matrix<$T>, Vector<$T>, Matrix<$T>) {
                let w = Matrix::from_fn(3, 3, |i, j| ((i * 3 + j) as $T * 0.7).sin() * 0.5);
                let x = Vector::from_vec(vec![0.3, -0.4, 0.2]);
                let m = Matrix::from_fn(2, 2, |i, j| (i + 2 * j) as $T * 0.1 + 0.2);
                (w, x, m)
            }

            fn close(a: &[$T], b: &[$T], what: &str) {
                assert_eq!(a.len(), b.len(), "{what}: lengths");
                let scale = b.iter().fold(1.0 as $T, |s, v| s.max(v.abs()));
                for (i, (p, q)) in a.iter().zip(b).enumerate() {
                    assert!((p - q).abs() <= $tol * scale, "{what}[{i}]: {p} vs {q}");
                }
            }

            #[test]
            fn composed_gradient_equals_the_inline_one() {
                let (w, x, m) = inputs();
                let (value, (dw, dx, dm)) = composed_grad(&w, &x, &m, 2);
                let (inline_value, (iw, ix, im)) = inline_grad(&w, &x, &m, 2);
                close(&[value], &[inline_value], "value");
                assert_eq!(value, composed(&w, &x, &m, 2));
                close(dw.as_slice(), iw.as_slice(), "dw");
                close(dx.as_slice(), ix.as_slice(), "dx");
                close(dm.as_slice(), im.as_slice(), "dm");
                // And it is not trivially zero.
                assert!(dx.as_slice().iter().any(|v| v.abs() > 1e-3));
            }

            #[test]
            fn composed_forward_mode_equals_the_inline_one() {
                let (w, x, m) = inputs();
                let tw = Matrix::from_fn(3, 3, |i, j| (i as $T - j as $T) * 0.1);
                let tx = Vector::from_vec(vec![1.0, -0.5, 0.25]);
                let tm = Matrix::from_fn(2, 2, |i, j| (i * j) as $T + 0.5);
                let (_, composed_t) = composed_jvp(&w, &x, &m, 2, &tw, &tx, &tm);
                let (_, inline_t) = inline_jvp(&w, &x, &m, 2, &tw, &tx, &tm);
                close(&[composed_t], &[inline_t], "jvp");
            }

            #[test]
            fn a_caller_of_a_caller_agrees_with_finite_differences() {
                let (w, x, m) = inputs();
                let (_, (_, dx, _)) = twice_grad(&w, &x, &m, 2);
                // f64 central differences of the same function.
                let h = 1e-3 as $T;
                for i in 0..3 {
                    let mut plus = x.clone();
                    plus[i] += h;
                    let mut minus = x.clone();
                    minus[i] -= h;
                    let fd = (twice(&w, &plus, &m, 2) - twice(&w, &minus, &m, 2)) / (2.0 * h);
                    let tolerance = if std::mem::size_of::<$T>() == 4 {
                        2e-2
                    } else {
                        1e-5
                    };
                    assert!(
                        (dx[i] - fd).abs() <= tolerance * fd.abs().max(1.0),
                        "dx[{i}]: {} vs {fd}",
                        dx[i]
                    );
                }
            }

            #[test]
            fn tensor_valued_composition_passes_the_dot_product_test() {
                let (w, x, _) = inputs();
                let u = Vector::from_vec(vec![0.5, -1.0, 2.0]);
                let tx = Vector::from_vec(vec![0.1, 0.2, -0.3]);
                let tw = Matrix::from_fn(3, 3, |i, j| (i + j) as $T * 0.05);
                let (y, (dw, dx)) = stacked_vjp(&w, &x, &u);
                let (y2, ty) = stacked_jvp(&w, &x, &tw, &tx);
                assert_eq!(y, y2);
                let left: $T = ty
                    .as_slice()
                    .iter()
                    .zip(u.as_slice())
                    .map(|(a, b)| a * b)
                    .sum();
                let right: $T = tw
                    .as_slice()
                    .iter()
                    .zip(dw.as_slice())
                    .map(|(a, b)| a * b)
                    .sum::<$T>()
                    + tx.as_slice()
                        .iter()
                        .zip(dx.as_slice())
                        .map(|(a, b)| a * b)
                        .sum::<$T>();
                close(&[left], &[right], "⟨Jv, u⟩ = ⟨v, Jᵀu⟩");
                // The Jacobian (one jvp per direction through the calls) matches the jvp.
                let (_, jx) = stacked_jacobian(&w, &x);
                for i in 0..3 {
                    let row: $T = (0..3).map(|j| jx[(i, j)] * tx[j]).sum();
                    let only_x = stacked_jvp(&w, &x, &Matrix::zeros(3, 3), &tx).1;
                    close(&[row], &[only_x[i]], "jacobian row");
                }
            }

            #[test]
            fn hessians_through_calls_equal_the_inline_ones() {
                let (w, x, m) = inputs();
                let composed_h = composed_hessian(&w, &x, &m, 2);
                let inline_h = inline_hessian(&w, &x, &m, 2);
                assert_eq!(composed_h.shape(), (9 + 3 + 4, 9 + 3 + 4));
                close(composed_h.as_slice(), inline_h.as_slice(), "hessian");
                // And through two levels of calls, against the Hessian-vector product.
                let v = (
                    Matrix::from_fn(3, 3, |i, j| (i + 2 * j) as $T * 0.1),
                    Vector::from_vec(vec![0.5, -0.5, 1.0]),
                    Matrix::from_fn(2, 2, |i, j| (i * j) as $T - 0.5),
                );
                let (_, _, (hw, hx, hm)) = twice_hvp(&w, &x, &m, 2, &v.0, &v.1, &v.2);
                let h = twice_hessian(&w, &x, &m, 2);
                let flat: Vec<$T> =
                    v.0.as_slice()
                        .iter()
                        .chain(v.1.as_slice())
                        .chain(v.2.as_slice())
                        .copied()
                        .collect();
                let product: Vec<$T> = (0..16)
                    .map(|i| (0..16).map(|j| h[(i, j)] * flat[j]).sum())
                    .collect();
                let hvp: Vec<$T> = hw
                    .as_slice()
                    .iter()
                    .chain(hx.as_slice())
                    .chain(hm.as_slice())
                    .copied()
                    .collect();
                close(&hvp, &product, "H·v");
            }

            #[test]
            fn the_derivation_names_the_callees_pullbacks() {
                let text = composed_derivation();
                assert!(text.contains("layer_vjp("), "{text}");
                assert!(text.contains("squared_norm_vjp("), "{text}");
            }
        }
    };
}

call_tests!(f64_calls, f64, 1e-12);
call_tests!(f32_calls, f32, 1e-5);

/// ln(1 + eˣ) with a branch the engine cannot see into.
fn softplus(x: f64) -> f64 {
    if x > 30.0 {
        x
    } else {
        x.exp().ln_1p()
    }
}

/// Its derivative written by hand: σ(x), stable for any x.
#[derivative(of = softplus)]
fn softplus_vjp(x: f64, dy: f64) -> (f64, f64) {
    (softplus(x), dy * x.sigmoid())
}

#[differentiable]
fn stable(w: &Vector<f64>, x: &Vector<f64>) -> f64 {
    let z = w.dot(x);
    softplus(z) * 2.0
}

/// Overflows as written: ln(2 + eᶻ) is no spelling the engine recognises (ln(1 + eᶻ) it
/// differentiates as softplus, tests/textbook_spellings.rs).
#[differentiable]
fn naive(w: &Vector<f64>, x: &Vector<f64>) -> f64 {
    let z = w.dot(x);
    (z.exp() + 2.0).ln() * 2.0
}

/// A user pullback for a vector function of a matrix and a vector.
fn affine(a: &Matrix<f64>, v: &Vector<f64>) -> Vector<f64> {
    a.matmul(v)
}

#[derivative(of = affine)]
fn affine_vjp(
    a: &Matrix<f64>,
    v: &Vector<f64>,
    dy: &Vector<f64>,
) -> (Vector<f64>, (Matrix<f64>, Vector<f64>)) {
    (affine(a, v), (dy.outer(v), a.t_matmul(dy)))
}

#[differentiable]
fn through_affine(a: &Matrix<f64>, v: &Vector<f64>) -> f64 {
    let y = affine(a, v);
    y.dot(&y)
}

#[test]
fn a_user_derivative_stays_finite_where_the_naive_one_overflows() {
    let w = Vector::from_vec(vec![400.0, 400.0]);
    let x = Vector::from_vec(vec![1.0, 1.0]);
    // z = 800: eᶻ overflows, so ln(2 + eᶻ) differentiated naively is ∞/∞.
    let (_, (naive_dw, _)) = naive_grad(&w, &x);
    assert!(naive_dw[0].is_nan());
    let (value, (dw, dx)) = stable_grad(&w, &x);
    assert_eq!(value, 1600.0);
    // d/dw 2·softplus(w·x) = 2·σ(800)·x = 2x; d/dx = 2w.
    assert_eq!(dw.as_slice(), &[2.0, 2.0]);
    assert_eq!(dx.as_slice(), &[800.0, 800.0]);
    // Forward mode through the user's pullback: 2·σ(z)·(x·dw + w·dx).
    let (_, t) = stable_jvp(&w, &x, &x, &x);
    assert_eq!(t, 2.0 * (2.0 + 800.0));
}

#[test]
fn a_user_derivative_for_a_tensor_function_is_used() {
    let a = Matrix::from_rows(&[[1.0, 2.0], [0.5, -1.0], [0.0, 3.0]]);
    let v = Vector::from_vec(vec![0.2, -0.4]);
    let (value, (da, dv)) = through_affine_grad(&a, &v);
    let y = a.matmul(&v);
    assert_eq!(value, y.dot(&y));
    // By hand: f = ‖A·v‖², df/dA = 2·y·vᵀ, df/dv = 2·Aᵀ·y.
    let two_y = &y * 2.0;
    assert_eq!(da, two_y.outer(&v));
    assert_eq!(dv, a.t_matmul(&two_y));
    // Forward mode through the pullback matches the gradient: ⟨∇, t⟩.
    let (ta, tv) = (
        Matrix::from_fn(3, 2, |i, j| (i + j) as f64 * 0.1),
        Vector::from_vec(vec![1.0, 2.0]),
    );
    let (_, t) = through_affine_jvp(&a, &v, &ta, &tv);
    let expected: f64 = da
        .as_slice()
        .iter()
        .zip(ta.as_slice())
        .map(|(p, q)| p * q)
        .sum::<f64>()
        + dv.as_slice()
            .iter()
            .zip(tv.as_slice())
            .map(|(p, q)| p * q)
            .sum::<f64>();
    assert!((t - expected).abs() < 1e-12, "{t} vs {expected}");
}

/// A vector function of one parameter through a user pullback. Both modes batched in one
/// program would need second derivatives of `affine`, which a `#[derivative]` does not have:
/// the Jacobian takes one pass per direction instead. (This used to be an internal error.)
#[differentiable(wrt(v))]
fn squashed_affine(a: &Matrix<f64>, v: &Vector<f64>) -> Vector<f64> {
    let y = affine(a, v).tanh();
    y
}

#[test]
fn a_jacobian_through_a_user_derivative_takes_one_pass_per_direction() {
    // Three outputs of two inputs (forward mode), and two of three (reverse mode).
    let tall = Matrix::from_rows(&[[1.0, 2.0], [0.5, -1.0], [0.0, 3.0]]);
    let wide = Matrix::from_rows(&[[1.0, 2.0, -0.5], [0.5, -1.0, 0.25]]);
    for (a, v) in [
        (tall, Vector::from_vec(vec![0.2, -0.4])),
        (wide, Vector::from_vec(vec![0.2, -0.4, 0.1])),
    ] {
        let j = squashed_affine_jacobian(&a, &v);
        let y = squashed_affine(&a, &v);
        assert_eq!(j.shape(), (a.rows(), a.cols()));
        // diag(1 − y²)·a
        for i in 0..a.rows() {
            for k in 0..a.cols() {
                let want = (1.0 - y[i] * y[i]) * a[(i, k)];
                assert!((j[(i, k)] - want).abs() < 1e-12, "({i}, {k})");
            }
        }
        squashed_affine_gradcheck(&a, &v).assert_within(1e-6);
    }
}

// ─────────── calls across modules ───────────
//
// A callee anywhere in the crate: by path (`layers::dense`, `crate::…`, `self::…`, `super::…`),
// through `use`, and defined later in the file than its caller.

/// Defined after `model`, whose functions call into it.
mod layers {
    use autodiff::prelude::*;

    #[differentiable]
    pub fn dense(w: &Matrix<f64>, x: &Vector<f64>) -> Vector<f64> {
        w.matmul(x).tanh()
    }

    pub mod deeper {
        use autodiff::prelude::*;

        /// Calls a private function of its parent, defined below it.
        #[differentiable]
        pub(crate) fn energy(v: &Vector<f64>, scale: f64) -> f64 {
            v.dot(v) * scale + super::offset(v)
        }
    }

    #[differentiable]
    fn offset(v: &Vector<f64>) -> f64 {
        v.sum() * 0.1
    }
}

mod model {
    use crate::layers::deeper;
    use crate::layers::dense;
    use autodiff::prelude::*;

    /// Through `use` (`dense`, `deeper::…`), and `later`, defined below.
    #[differentiable]
    pub fn by_use(w: &Matrix<f64>, x: &Vector<f64>, s: f64) -> f64 {
        deeper::energy(&dense(w, x), s) + later(x)
    }

    /// The same by full paths.
    #[differentiable]
    pub fn by_path(w: &Matrix<f64>, x: &Vector<f64>, s: f64) -> f64 {
        crate::layers::deeper::energy(&crate::layers::dense(w, x), s) + self::later(x)
    }

    /// The same written out.
    #[differentiable]
    pub fn inline(w: &Matrix<f64>, x: &Vector<f64>, s: f64) -> f64 {
        let h = w.matmul(x).tanh();
        h.dot(&h) * s + h.sum() * 0.1 + x.powi(3).sum() * 0.5
    }

    #[differentiable]
    fn later(x: &Vector<f64>) -> f64 {
        x.powi(3).sum() * 0.5
    }
}

#[test]
fn calls_by_path_through_use_and_to_later_functions_compose() {
    let w = Matrix::from_fn(3, 2, |i, j| ((2 * i + j) as f64 * 0.9).cos() * 0.6);
    let x = Vector::from_vec(vec![0.4, -0.7]);
    let s = 0.8;
    let (want, (ww, wx, ws)) = model::inline_grad(&w, &x, s);
    let close = |a: &[f64], b: &[f64], what: &str| {
        for (p, q) in a.iter().zip(b) {
            assert!(
                (p - q).abs() <= 1e-12 * q.abs().max(1.0),
                "{what}: {p} vs {q}"
            );
        }
    };
    for (what, (value, (dw, dx, ds))) in [
        ("by use", model::by_use_grad(&w, &x, s)),
        ("by path", model::by_path_grad(&w, &x, s)),
    ] {
        close(&[value], &[want], what);
        close(dw.as_slice(), ww.as_slice(), what);
        close(dx.as_slice(), wx.as_slice(), what);
        close(&[ds], &[ws], what);
    }
    let (tw, tx) = (Matrix::from_fn(3, 2, |i, j| (i as f64 - j as f64) * 0.2), {
        Vector::from_vec(vec![1.0, -0.5])
    });
    let (_, by_use) = model::by_use_jvp(&w, &x, s, &tw, &tx, 0.3);
    let (_, inline) = model::inline_jvp(&w, &x, s, &tw, &tx, 0.3);
    close(&[by_use], &[inline], "jvp");
    let (by_path, inline) = (
        model::by_path_hessian(&w, &x, s),
        model::inline_hessian(&w, &x, s),
    );
    assert_eq!(by_path.shape(), (6 + 2 + 1, 6 + 2 + 1));
    close(by_path.as_slice(), inline.as_slice(), "hessian");
    model::by_use_gradcheck(&w, &x, s).assert_within(1e-6);
    let derivation = model::by_path_derivation();
    assert!(
        derivation.contains("crate::layers::dense_vjp("),
        "{derivation}"
    );
}

/// Callees whose names its hidden items cannot take as they are: a built-in attribute's
/// (`inline`: its signature macro is `__autodiff_callee_inline`) and a primitive type's (`f64`:
/// its building blocks hang on `__autodiff_blocks_f64`, as a type `f64` would hide the float).
mod awkward_names {
    use autodiff::prelude::*;

    #[differentiable]
    pub fn inline(x: f64) -> f64 {
        x * x * x
    }

    #[differentiable]
    pub fn f64(x: f64) -> f64 {
        x.sin()
    }

    #[differentiable]
    pub fn both(x: f64) -> f64 {
        inline(x) + self::f64(x) * 2.0
    }
}

#[test]
fn callees_named_like_attributes_and_primitive_types_are_called() {
    let x = 0.7f64;
    let (value, dx) = awkward_names::both_grad(x);
    assert_eq!(value, awkward_names::both(x));
    assert!((dx - (3.0 * x * x + 2.0 * x.cos())).abs() <= 1e-14);
    let h = awkward_names::both_hessian(x);
    assert!((h[(0, 0)] - (6.0 * x - 2.0 * x.sin())).abs() <= 1e-13);
}
