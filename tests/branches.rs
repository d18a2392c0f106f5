//! Branches: `if`/`else` on comparisons of differentiable scalars, on integers and on `bool`
//! parameters, as expressions and as statements assigning `let mut` bindings, inside loops;
//! the derivative is that of the side taken, in every mode.

use autodiff::prelude::*;

#[differentiable]
fn smooth_abs(x: f64) -> f64 {
    if x > 0.0 {
        x * x
    } else {
        -x.sin()
    }
}

#[test]
fn the_derivative_is_the_side_taken() {
    for x in [1.5, 0.3, -0.2, -2.0] {
        let (value, d) = smooth_abs_grad(x);
        assert_eq!(value, smooth_abs(x));
        let want = if x > 0.0 { 2.0 * x } else { -x.cos() };
        assert_eq!(d, want, "x = {x}");
        let (_, t) = smooth_abs_jvp(x, 1.0);
        assert_eq!(t, want);
        let h = smooth_abs_hessian(x);
        let want2 = if x > 0.0 { 2.0 } else { x.sin() };
        assert!((h[(0, 0)] - want2).abs() < 1e-15, "x = {x}: {}", h[(0, 0)]);
    }
}

/// A statement `if` assigning a mutable binding, a `bool` parameter, an integer condition
/// inside a loop: a Huber-like accumulation.
#[differentiable(wrt(x, w))]
fn piecewise(x: &Vector<f64>, w: f64, clip: bool, n: usize) -> f64 {
    let mut total = 0.0;
    for i in 0..n {
        let r = x.dot(x) * w - 1.0;
        if i % 2 == 0 {
            total += r * r;
        } else if clip && r > 0.5 {
            total += r;
        } else {
            total -= r * 0.25;
        }
    }
    let mut bonus = w;
    if !clip {
        bonus = w * w;
    }
    total + bonus
}

#[test]
fn statement_branches_in_loops_match_differences() {
    let x = Vector::from_vec(vec![0.6, -0.9]);
    for (w, clip, n) in [
        (1.3, true, 5usize),
        (1.3, false, 4),
        (0.2, true, 3),
        (0.9, false, 0),
    ] {
        let (value, (dx, dw)) = piecewise_grad(&x, w, clip, n);
        assert_eq!(value, piecewise(&x, w, clip, n));
        let f = |x0: f64, x1: f64, w: f64| piecewise(&Vector::from_vec(vec![x0, x1]), w, clip, n);
        let e = 1e-6;
        let fd = [
            (f(x[0] + e, x[1], w) - f(x[0] - e, x[1], w)) / (2.0 * e),
            (f(x[0], x[1] + e, w) - f(x[0], x[1] - e, w)) / (2.0 * e),
            (f(x[0], x[1], w + e) - f(x[0], x[1], w - e)) / (2.0 * e),
        ];
        let got = [dx[0], dx[1], dw];
        for k in 0..3 {
            assert!(
                (got[k] - fd[k]).abs() < 1e-7,
                "w {w} clip {clip} n {n}: [{k}] {} vs {}",
                got[k],
                fd[k]
            );
        }
        let hessian = piecewise_hessian(&x, w, clip, n);
        for a in 0..3 {
            for b in 0..a {
                assert!((hessian[(a, b)] - hessian[(b, a)]).abs() < 1e-10);
            }
        }
    }
}

#[test]
fn a_branch_prints_both_sides() {
    let text = smooth_abs_derivation();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "if x > 0:", "{text}");
    assert!(lines.contains(&"else:"), "{text}");
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("    dx = ") && l.contains("cos(x)")),
        "{text}"
    );
}

/// A loop that carries an integer (a count) and a condition (a toggle) beside a float, and
/// branches on a comparison of a value computed in the body: integers and conditions have no
/// derivative and are carried through the backward and tangent loops as they are.
#[differentiable]
fn counted(a: f64, b: f64, steps: usize) -> f64 {
    let mut s = a;
    let mut count = 0;
    let mut flip = false;
    for k in 1..=steps {
        let level = a * k as f64;
        if level > 1.0 {
            s *= b;
            count += 1;
        } else {
            s *= 1.0 + b;
        }
        flip = !flip;
        if flip {
            s += 0.1 * b;
        }
    }
    s * count as f64
}

#[test]
fn integers_and_conditions_carried_through_a_loop() {
    let (a, b, steps) = (0.4, 0.7, 5);
    let e = 1e-6;
    let fd = |f: &dyn Fn(f64, f64) -> f64| {
        let da = (f(a + e, b) - f(a - e, b)) / (2.0 * e);
        let db = (f(a, b + e) - f(a, b - e)) / (2.0 * e);
        (da, db)
    };
    let (value, (da, db)) = counted_grad(a, b, steps);
    assert_eq!(value, counted(a, b, steps));
    let (fa, fb) = fd(&|a, b| counted(a, b, steps));
    assert!(
        (da - fa).abs() < 1e-7 && (db - fb).abs() < 1e-7,
        "{da} {fa} {db} {fb}"
    );
    let (_, tangent) = counted_jvp(a, b, steps, 0.5, -2.0);
    assert!((tangent - (0.5 * fa - 2.0 * fb)).abs() < 1e-7);
    // The Hessian's columns are differences of the gradient.
    let h = counted_hessian(a, b, steps);
    let (ha, hb) = fd(&|a, b| counted_grad(a, b, steps).1 .0);
    let (ha2, hb2) = fd(&|a, b| counted_grad(a, b, steps).1 .1);
    for (got, want) in [
        (h[(0, 0)], ha),
        (h[(0, 1)], hb),
        (h[(1, 0)], ha2),
        (h[(1, 1)], hb2),
    ] {
        assert!((got - want).abs() < 1e-6, "{h:?}");
    }
}

/// A vector read only by a loop's conditions: it gets a zero gradient (the derivative of the
/// side taken does not depend on it), in every mode.
#[differentiable]
fn steered(a: f64, x: &Vector<f64>) -> f64 {
    let mut s = a;
    for k in 0..x.len() {
        s = if x[k] > 0.0 { s * 0.5 } else { s * 2.0 };
    }
    s * a
}

#[test]
fn a_vector_read_only_by_conditions_has_a_zero_gradient() {
    let x = Vector::from_vec(vec![0.3, -0.2, 0.5]);
    let a = 0.7;
    let (value, (da, dx)) = steered_grad(a, &x);
    assert_eq!(value, steered(a, &x));
    // s = a·0.5·2·0.5 = a/2, so f = a²/2 and df/da = a.
    assert!((da - a).abs() < 1e-15, "{da}");
    assert_eq!(dx.as_slice(), &[0.0, 0.0, 0.0]);
    let h = steered_hessian(a, &x);
    assert!((h[(0, 0)] - 1.0).abs() < 1e-15, "{h:?}");
    assert!(
        (1..4).all(|j| h[(0, j)] == 0.0 && h[(j, 0)] == 0.0),
        "{h:?}"
    );
}
