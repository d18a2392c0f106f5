//! Hessians over many scalar parameters (issue 14): all the scalars' directions go through the
//! gradient in one program (or, where that program has no batched form, one loop of
//! Hessian-vector products), so the generated code grows with the function, not with the square
//! of its parameter count. Checked against Hessians worked out by hand and against central
//! differences of the generated gradient, in f32 and f64, with scalars alone, scalars mixed with
//! tensors in any order, and scalars whose Hessian goes through a callee.

use autodiff::prelude::*;

/// `g(u) = u + sin(u)` of `u = a·b`: the term every pair of neighbours contributes.
fn term_derivatives(a: f64, b: f64) -> (f64, f64) {
    let u = a * b;
    (1.0 + u.cos(), -u.sin())
}

/// The hand Hessian of `Σᵢ g(xᵢ·xᵢ₊₁)`: ∂²/∂a² = g''·b², ∂²/∂b² = g''·a², ∂²/∂a∂b = g' + g''·a·b.
fn banded_hessian(x: &[f64]) -> Vec<Vec<f64>> {
    let n = x.len();
    let mut h = vec![vec![0.0; n]; n];
    for i in 0..n - 1 {
        let (a, b) = (x[i], x[i + 1]);
        let (g1, g2) = term_derivatives(a, b);
        h[i][i] += g2 * b * b;
        h[i + 1][i + 1] += g2 * a * a;
        h[i][i + 1] += g1 + g2 * a * b;
        h[i + 1][i] += g1 + g2 * a * b;
    }
    h
}

/// Central differences of `gradient` (a flat gradient at a flat point): the Hessian by columns.
fn differenced(point: &[f64], gradient: &dyn Fn(&[f64]) -> Vec<f64>) -> Vec<Vec<f64>> {
    let n = point.len();
    let step = 1e-5;
    let mut h = vec![vec![0.0; n]; n];
    for j in 0..n {
        let (mut up, mut down) = (point.to_vec(), point.to_vec());
        up[j] += step;
        down[j] -= step;
        let (gu, gd) = (gradient(&up), gradient(&down));
        for i in 0..n {
            h[i][j] = (gu[i] - gd[i]) / (2.0 * step);
        }
    }
    h
}

#[track_caller]
fn assert_matrix(actual: &[Vec<f64>], expected: &[Vec<f64>], tolerance: f64, what: &str) {
    assert_eq!(actual.len(), expected.len(), "{what}: size");
    let scale = expected
        .iter()
        .flatten()
        .fold(1.0f64, |m, &v| m.max(v.abs()));
    for (i, (a, e)) in actual.iter().zip(expected).enumerate() {
        for (j, (a, e)) in a.iter().zip(e).enumerate() {
            assert!(
                (a - e).abs() <= tolerance * scale,
                "{what}: entry ({i}, {j}) is {a}, expected {e}"
            );
        }
    }
}

fn rows<T: Copy + Into<f64>>(m: &Matrix<T>) -> Vec<Vec<f64>> {
    (0..m.rows())
        .map(|i| (0..m.cols()).map(|j| m[(i, j)].into()).collect())
        .collect()
}

macro_rules! many_parameter_tests {
    ($module:ident, $T:ident, $tolerance:expr) => {
        mod $module {
            use super::*;

            /// Twelve scalars, each in two terms: a banded Hessian.
            #[differentiable]
            #[allow(clippy::too_many_arguments)]
            pub fn banded(
                x0: $T,
                x1: $T,
                x2: $T,
                x3: $T,
                x4: $T,
                x5: $T,
                x6: $T,
                x7: $T,
                x8: $T,
                x9: $T,
                x10: $T,
                x11: $T,
            ) -> $T {
                let p0 = x0 * x1;
                let p1 = x1 * x2;
                let p2 = x2 * x3;
                let p3 = x3 * x4;
                let p4 = x4 * x5;
                let p5 = x5 * x6;
                let p6 = x6 * x7;
                let p7 = x7 * x8;
                let p8 = x8 * x9;
                let p9 = x9 * x10;
                let p10 = x10 * x11;
                p0 + p0.sin()
                    + p1
                    + p1.sin()
                    + p2
                    + p2.sin()
                    + p3
                    + p3.sin()
                    + p4
                    + p4.sin()
                    + p5
                    + p5.sin()
                    + p6
                    + p6.sin()
                    + p7
                    + p7.sin()
                    + p8
                    + p8.sin()
                    + p9
                    + p9.sin()
                    + p10
                    + p10.sin()
            }

            fn banded_at(x: &[$T]) -> Matrix<$T> {
                banded_hessian(
                    x[0], x[1], x[2], x[3], x[4], x[5], x[6], x[7], x[8], x[9], x[10], x[11],
                )
            }

            fn banded_gradient_at(x: &[$T]) -> Vec<f64> {
                let (_, g) = banded_grad(
                    x[0], x[1], x[2], x[3], x[4], x[5], x[6], x[7], x[8], x[9], x[10], x[11],
                );
                vec![
                    g.0.into(),
                    g.1.into(),
                    g.2.into(),
                    g.3.into(),
                    g.4.into(),
                    g.5.into(),
                    g.6.into(),
                    g.7.into(),
                    g.8.into(),
                    g.9.into(),
                    g.10.into(),
                    g.11.into(),
                ]
            }

            #[test]
            fn a_banded_hessian_over_twelve_scalars_is_the_hand_one() {
                let x: Vec<$T> = (0..12).map(|i| 0.3 + 0.11 * i as $T).collect();
                let wide: Vec<f64> = x.iter().map(|&v| v.into()).collect();
                let h = rows(&banded_at(&x));
                assert_matrix(&h, &super::banded_hessian(&wide), $tolerance, "banded");
            }

            /// Scalars between tensors, in signature order: `a, v, b, m, c`.
            #[differentiable]
            pub fn mixed(a: $T, v: &Vector<$T>, b: $T, m: &Matrix<$T>, c: $T) -> $T {
                let s = v.dot(v);
                let h = m.matmul(v).tanh();
                a * b * s + c * h.sum() + (a * c).exp() + b * b * c
            }

            // The f64 twin's is the reference of both twins.
            #[allow(dead_code)]
            pub fn mixed_flat_gradient(x: &[f64]) -> Vec<f64> {
                let t = |v: f64| v as $T;
                let v = Vector::from_vec(x[1..4].iter().map(|&e| t(e)).collect());
                let m = Matrix::from_vec(2, 3, x[5..11].iter().map(|&e| t(e)).collect());
                let (_, (ga, gv, gb, gm, gc)) = mixed_grad(t(x[0]), &v, t(x[4]), &m, t(x[11]));
                let mut g = vec![ga.into()];
                g.extend(gv.as_slice().iter().map(|&e| -> f64 { e.into() }));
                g.push(gb.into());
                g.extend(gm.as_slice().iter().map(|&e| -> f64 { e.into() }));
                g.push(gc.into());
                g
            }

            #[test]
            fn scalars_among_tensors_take_their_own_columns() {
                let point: Vec<f64> = vec![
                    0.4, // a
                    0.2, -0.5, 0.7,  // v
                    -0.3, // b
                    0.1, 0.6, -0.2, 0.3, -0.4, 0.5, // m
                    0.8, // c
                ];
                let t = |v: f64| v as $T;
                let v = Vector::from_vec(point[1..4].iter().map(|&e| t(e)).collect());
                let m = Matrix::from_vec(2, 3, point[5..11].iter().map(|&e| t(e)).collect());
                let h = rows(&mixed_hessian(
                    t(point[0]),
                    &v,
                    t(point[4]),
                    &m,
                    t(point[11]),
                ));
                // The reference for both twins: differences of the f64 gradient.
                let reference = differenced(&point, &super::f64_tests::mixed_flat_gradient);
                assert_matrix(&h, &reference, f64::max($tolerance, 1e-8), "mixed");
                // The scalar-scalar entries by hand: ∂²/∂a∂b = s, ∂²/∂a∂c = (1 + ac)·e^{ac},
                // ∂²/∂b∂c = 2b, ∂²/∂b² = 2c, ∂²/∂c² = a²·e^{ac}.
                let (a, b, c) = (point[0], point[4], point[11]);
                let s: f64 = point[1..4].iter().map(|e| e * e).sum();
                let e = (a * c).exp();
                let (ia, ib, ic) = (0, 4, 11);
                let hand = [
                    (ia, ib, s),
                    (ia, ic, (1.0 + a * c) * e),
                    (ib, ic, 2.0 * b),
                    (ib, ib, 2.0 * c),
                    (ic, ic, a * a * e),
                    (ia, ia, c * c * e),
                ];
                for (i, j, expected) in hand {
                    for (r, k) in [(i, j), (j, i)] {
                        assert!(
                            (h[r][k] - expected).abs() <= $tolerance * expected.abs().max(1.0),
                            "∂²/∂{r}∂{k} = {}, by hand {expected}",
                            h[r][k]
                        );
                    }
                }
            }

            /// Scalars around a vector: the scalars' columns come from one batched program
            /// (with a matrix parameter, as in `mixed`, its gradient's tangents would be
            /// matrices per direction, and the scalars take the loop instead).
            #[differentiable]
            pub fn around_a_vector(a: $T, v: &Vector<$T>, b: $T, c: $T) -> $T {
                let h = (v * a).tanh();
                a * b * v.dot(v) + h.sum() * c + b.exp() * a
            }

            // The f64 twin's is the reference of both twins.
            #[allow(dead_code)]
            pub fn around_a_vector_flat_gradient(x: &[f64]) -> Vec<f64> {
                let t = |v: f64| v as $T;
                let v = Vector::from_vec(x[1..4].iter().map(|&e| t(e)).collect());
                let (_, (ga, gv, gb, gc)) = around_a_vector_grad(t(x[0]), &v, t(x[4]), t(x[5]));
                let mut g = vec![ga.into()];
                g.extend(gv.as_slice().iter().map(|&e| -> f64 { e.into() }));
                g.push(gb.into());
                g.push(gc.into());
                g
            }

            #[test]
            fn scalars_around_a_vector_are_one_batched_program() {
                let point = [0.4, 0.2, -0.5, 0.7, -0.3, 0.8];
                let t = |v: f64| v as $T;
                let v = Vector::from_vec(point[1..4].iter().map(|&e| t(e)).collect());
                let h = rows(&around_a_vector_hessian(
                    t(point[0]),
                    &v,
                    t(point[4]),
                    t(point[5]),
                ));
                let reference =
                    differenced(&point, &super::f64_tests::around_a_vector_flat_gradient);
                assert_matrix(
                    &h,
                    &reference,
                    f64::max($tolerance, 1e-8),
                    "around a vector",
                );
                // By hand: ∂²/∂a∂b = v·v + e^b, ∂²/∂b² = a·e^b, ∂²/∂b∂c = 0,
                // ∂²/∂a∂c = Σ vᵢ(1 − tanh²(a·vᵢ)).
                let (a, b) = (point[0], point[4]);
                let vs = &point[1..4];
                let (ia, ib, ic) = (0, 4, 5);
                let hand = [
                    (ia, ib, vs.iter().map(|e| e * e).sum::<f64>() + b.exp()),
                    (ib, ib, a * b.exp()),
                    (ib, ic, 0.0),
                    (
                        ia,
                        ic,
                        vs.iter().map(|e| e * (1.0 - (a * e).tanh().powi(2))).sum(),
                    ),
                ];
                for (i, j, expected) in hand {
                    for (r, k) in [(i, j), (j, i)] {
                        assert!(
                            (h[r][k] - expected).abs() <= $tolerance * expected.abs().max(1.0),
                            "∂²/∂{r}∂{k} = {}, by hand {expected}",
                            h[r][k]
                        );
                    }
                }
            }

            #[differentiable]
            pub fn inner(u: $T, w: $T) -> $T {
                (u * w).sin()
            }

            /// Through a callee: its second-order block has no batched form, so the scalars'
            /// columns come from one loop of Hessian-vector products.
            #[differentiable]
            pub fn outer(a: $T, b: $T, c: $T) -> $T {
                inner(a, b) * c + a * c
            }

            #[test]
            fn scalars_through_a_callee_are_one_loop_of_products() {
                let (a, b, c) = (0.7 as $T, -0.4 as $T, 1.3 as $T);
                let h = rows(&outer_hessian(a, b, c));
                let (a, b, c) = (a as f64, b as f64, c as f64);
                let u = a * b;
                // f = c·sin(ab) + ac.
                let hand = vec![
                    vec![
                        -c * b * b * u.sin(),
                        c * (u.cos() - u * u.sin()),
                        b * u.cos() + 1.0,
                    ],
                    vec![
                        c * (u.cos() - u * u.sin()),
                        -c * a * a * u.sin(),
                        a * u.cos(),
                    ],
                    vec![b * u.cos() + 1.0, a * u.cos(), 0.0],
                ];
                assert_matrix(&h, &hand, $tolerance, "outer");
            }

            #[test]
            fn gradcheck_compares_every_scalar_in_signature_order() {
                let t = |v: f64| v as $T;
                let v = Vector::from_vec(vec![t(0.2), t(-0.5), t(0.7)]);
                let report = around_a_vector_gradcheck(t(0.4), &v, t(-0.3), t(0.8));
                let names: Vec<&str> = report.comparisons.iter().map(|c| c.name.as_str()).collect();
                assert_eq!(names, ["a", "v", "b", "c", "directional"]);
                report.assert_within(if $tolerance > 1e-9 { 1e-2 } else { 1e-6 });
                let x: Vec<$T> = (0..12).map(|i| 0.3 + 0.11 * i as $T).collect();
                let report = banded_gradcheck(
                    x[0], x[1], x[2], x[3], x[4], x[5], x[6], x[7], x[8], x[9], x[10], x[11],
                );
                assert_eq!(report.comparisons.len(), 13);
                report.assert_within(if $tolerance > 1e-9 { 1e-2 } else { 1e-6 });
            }

            #[test]
            fn the_banded_hessian_agrees_with_differences_of_the_gradient() {
                let x: Vec<$T> = (0..12).map(|i| -0.5 + 0.09 * i as $T).collect();
                let h = rows(&banded_at(&x));
                let wide: Vec<f64> = x.iter().map(|&v| v.into()).collect();
                let reference = differenced(&wide, &|p: &[f64]| {
                    banded_gradient_at(&p.iter().map(|&v| v as $T).collect::<Vec<_>>())
                });
                // f32 differences of an f32 gradient at step 1e-5 are noise-limited.
                assert_matrix(
                    &h,
                    &reference,
                    if $tolerance > 1e-9 { 2e-2 } else { 1e-7 },
                    "fd",
                );
            }
        }
    };
}

many_parameter_tests!(f64_tests, f64, 1e-12);
many_parameter_tests!(f32_tests, f32, 2e-5);
