//! Loops: `for i in a..b` over `let mut` state, in every mode, against hand derivations and
//! central differences of the function itself.

use autodiff::prelude::*;

#[differentiable]
fn power_sum(x: f64, n: usize) -> f64 {
    let mut acc = 0.0;
    let mut p = 1.0;
    for _ in 0..n {
        p *= x;
        acc += p;
    }
    acc
}

#[test]
fn a_scalar_loop_differentiates() {
    let x = 0.7;
    for n in [0usize, 1, 2, 5] {
        let (value, d) = power_sum_grad(x, n);
        assert_eq!(value, power_sum(x, n));
        // d/dx Σ_{k=1..n} x^k = Σ k x^(k−1)
        let want: f64 = (1..=n).map(|k| k as f64 * x.powi(k as i32 - 1)).sum();
        assert!((d - want).abs() < 1e-14, "n = {n}: {d} vs {want}");
    }
}

/// An Elman RNN over `steps`: `h ← tanh(h·w + x·u + b)`, loss ½‖h‖².
#[differentiable(wrt(h0, w, u, b))]
fn rnn(
    h0: &Matrix<f64>,
    w: &Matrix<f64>,
    u: &Matrix<f64>,
    b: &Matrix<f64>,
    x: &Matrix<f64>,
    steps: usize,
) -> f64 {
    let mut h = h0.clone();
    for _t in 0..steps {
        h = (h.matmul(w) + x.matmul(u) + b).tanh();
    }
    0.5 * (&h * &h).sum()
}

/// Backpropagation through time by hand.
fn rnn_by_hand(
    h0: &Matrix<f64>,
    w: &Matrix<f64>,
    u: &Matrix<f64>,
    b: &Matrix<f64>,
    x: &Matrix<f64>,
    steps: usize,
) -> (Matrix<f64>, Matrix<f64>, Matrix<f64>, Matrix<f64>) {
    let mut hs = vec![h0.clone()];
    for _ in 0..steps {
        let h = hs.last().unwrap();
        hs.push((h.matmul(w) + x.matmul(u) + b).tanh());
    }
    let mut dh = hs.last().unwrap().clone();
    let (mut dw, mut du, mut db) = (
        Matrix::zeros(w.rows(), w.cols()),
        Matrix::zeros(u.rows(), u.cols()),
        Matrix::zeros(1, b.cols()),
    );
    for t in (0..steps).rev() {
        let h_next = &hs[t + 1];
        let dz = &dh * &(1.0 - h_next * h_next);
        dw += hs[t].t().matmul(&dz);
        du += x.t().matmul(&dz);
        db += dz.sum_axis(0);
        dh = dz.matmul(&w.t());
    }
    (dh, dw, du, db)
}

fn matrix(rows: usize, cols: usize, seed: f64) -> Matrix<f64> {
    Matrix::from_vec(
        rows,
        cols,
        (0..rows * cols)
            .map(|k| ((k as f64 + 1.0) * seed).sin() * 0.5)
            .collect(),
    )
}

#[test]
fn an_rnn_matches_hand_written_bptt() {
    let (h0, w, u, b, x) = (
        matrix(2, 3, 0.7),
        matrix(3, 3, 1.3),
        matrix(4, 3, 2.1),
        matrix(1, 3, 0.4),
        matrix(2, 4, 0.9),
    );
    for steps in [0usize, 1, 3, 6] {
        let (value, (dh0, dw, du, db)) = rnn_grad(&h0, &w, &u, &b, &x, steps);
        assert_eq!(value, rnn(&h0, &w, &u, &b, &x, steps));
        let (eh0, ew, eu, eb) = rnn_by_hand(&h0, &w, &u, &b, &x, steps);
        for (got, want, what) in [
            (&dh0, &eh0, "dh0"),
            (&dw, &ew, "dw"),
            (&du, &eu, "du"),
            (&db, &eb, "db"),
        ] {
            assert_eq!(got.shape(), want.shape(), "{what}");
            for (g, e) in got.as_slice().iter().zip(want.as_slice()) {
                assert!((g - e).abs() < 1e-13, "steps {steps}: {what}: {g} vs {e}");
            }
        }
    }
}

#[test]
fn an_rnn_in_forward_mode_and_second_order() {
    let (h0, w, u, b, x) = (
        matrix(2, 3, 0.7),
        matrix(3, 3, 1.3),
        matrix(4, 3, 2.1),
        matrix(1, 3, 0.4),
        matrix(2, 4, 0.9),
    );
    let steps = 3;
    let (dh0, dw, du, db) = (
        matrix(2, 3, 3.1),
        matrix(3, 3, 0.2),
        matrix(4, 3, 1.7),
        matrix(1, 3, 2.9),
    );
    let (_, directional) = rnn_jvp(&h0, &w, &u, &b, &x, steps, &dh0, &dw, &du, &db);
    let along = |t: f64| {
        rnn(
            &(&h0 + &(&dh0 * t)),
            &(&w + &(&dw * t)),
            &(&u + &(&du * t)),
            &(&b + &(&db * t)),
            &x,
            steps,
        )
    };
    let h = 1e-6;
    let fd = (along(h) - along(-h)) / (2.0 * h);
    assert!((directional - fd).abs() < 1e-8, "{directional} vs {fd}");
    // The Hessian is symmetric and its product with a direction is the derivative of the
    // gradient along it.
    let hessian = rnn_hessian(&h0, &w, &u, &b, &x, steps);
    let n = hessian.rows();
    assert_eq!(n, 6 + 9 + 12 + 3);
    for i in 0..n {
        for j in 0..i {
            assert!(
                (hessian[(i, j)] - hessian[(j, i)]).abs() < 1e-10,
                "H[{i},{j}]"
            );
        }
    }
    let flat = |g: &(Matrix<f64>, Matrix<f64>, Matrix<f64>, Matrix<f64>)| -> Vec<f64> {
        [&g.0, &g.1, &g.2, &g.3]
            .iter()
            .flat_map(|m| m.as_slice().to_vec())
            .collect()
    };
    let grad_at = |t: f64| {
        let (_, g) = rnn_grad(
            &(&h0 + &(&dh0 * t)),
            &(&w + &(&dw * t)),
            &(&u + &(&du * t)),
            &(&b + &(&db * t)),
            &x,
            steps,
        );
        flat(&g)
    };
    let direction = flat(&(dh0.clone(), dw.clone(), du.clone(), db.clone()));
    let (plus, minus) = (grad_at(h), grad_at(-h));
    for i in 0..n {
        let hv: f64 = (0..n).map(|j| hessian[(i, j)] * direction[j]).sum();
        let fd = (plus[i] - minus[i]) / (2.0 * h);
        assert!((hv - fd).abs() < 1e-6, "(H·v)[{i}]: {hv} vs {fd}");
    }
}

/// Explicit Euler for dy/dt = −k·y over `n` steps of `dt`: y_n = y0·(1 − k·dt)ⁿ.
#[differentiable]
fn euler(y0: f64, k: f64, dt: f64, n: usize) -> f64 {
    let mut y = y0;
    for _ in 0..n {
        y = y - dt * k * y;
    }
    y
}

#[test]
fn euler_integration_has_the_closed_form_sensitivity() {
    let (y0, k, dt, n) = (2.0, 0.8, 0.05, 40usize);
    let (value, (dy0, dk, ddt)) = euler_grad(y0, k, dt, n);
    let r = 1.0 - k * dt;
    let nf = n as f64;
    assert!((value - y0 * r.powi(n as i32)).abs() < 1e-14);
    assert!((dy0 - r.powi(n as i32)).abs() < 1e-14);
    // d/dk y0·rⁿ = y0·n·rⁿ⁻¹·(−dt), d/ddt = y0·n·rⁿ⁻¹·(−k)
    assert!(
        (dk - y0 * nf * r.powi(n as i32 - 1) * -dt).abs() < 1e-13,
        "{dk}"
    );
    assert!(
        (ddt - y0 * nf * r.powi(n as i32 - 1) * -k).abs() < 1e-13,
        "{ddt}"
    );
}

/// Nested loops, the index read as a float, a vector result, f32.
#[differentiable]
fn nested(x: &Vector<f32>, n: usize) -> Vector<f32> {
    let mut v = x.clone();
    for i in 0..n {
        for j in 1..=2 {
            v = &v * 0.5 + (v.sin() * (i * j) as f32) * 0.1;
        }
    }
    v
}

#[test]
fn nested_loops_in_f32_have_the_jacobian_of_differences() {
    let x = Vector::from_vec(vec![0.3f32, -0.7, 1.1]);
    let n = 3;
    let jac = nested_jacobian(&x, n);
    assert_eq!(jac.shape(), (3, 3));
    let base: Vec<f64> = x.as_slice().iter().map(|&v| v as f64).collect();
    for j in 0..3 {
        let at = |d: f64| {
            let mut moved = base.clone();
            moved[j] += d;
            nested(
                &Vector::from_vec(moved.iter().map(|&v| v as f32).collect()),
                n,
            )
        };
        let h = 1e-2;
        let (plus, minus) = (at(h), at(-h));
        for i in 0..3 {
            let fd = (plus[i] as f64 - minus[i] as f64) / (2.0 * h);
            assert!(
                (jac[(i, j)] as f64 - fd).abs() < 2e-3,
                "J[{i},{j}]: {} vs {fd}",
                jac[(i, j)]
            );
        }
    }
    let dy = Vector::from_vec(vec![1.0f32, -2.0, 0.5]);
    let (value, dx) = nested_vjp(&x, n, &dy);
    assert_eq!(value, nested(&x, n));
    for j in 0..3 {
        let want: f32 = (0..3).map(|i| dy[i] * jac[(i, j)]).sum();
        assert!((dx[j] - want).abs() < 1e-5);
    }
}

#[test]
fn the_derivation_reads_as_backpropagation_through_time() {
    let text = rnn_derivation();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "for _t = steps − 1 down to 0:", "{text}");
    // The hidden state's adjoint is carried backwards; the weights' adjoints accumulate.
    assert!(lines.contains(&"    dh = dh_2"), "{text}");
    assert!(lines.contains(&"    dw = dw + dw_2"), "{text}");
    assert!(lines.contains(&"    du = du + du_2"), "{text}");
    assert!(lines.contains(&"dh0 = dh"), "{text}");
}

// Cases the corpus and the property tests found (each failed to compile or to derive).

/// A value carried beside another whose product the gradient accumulates: the fused GEMM must
/// not read an operand the code has already moved.
#[allow(clippy::eq_op)] // `h / h` as the corpus drew it
#[differentiable]
fn carried_beside_a_product(w: &Matrix<f64>) -> f64 {
    let mut h = w.exp();
    let mut g = (&h / &h).matmul(w);
    for _ in 0..2 {
        h = h.sin();
        g = g.sin();
    }
    h.sum() + 0.5 * g.sum()
}

/// Nested loops in second order: an inner loop's tape that does not depend on the parameters.
#[differentiable]
fn nested_second_order(s: f64, v: &Vector<f64>) -> f64 {
    let mut a = s;
    for _ in 0..2 {
        let mut t = v.clone();
        for _ in 0..2 {
            t = &t * 0.5 + v;
        }
        a *= t.mean();
    }
    a
}

/// A loop and a branch that assign nothing outside them change nothing.
#[differentiable]
fn idle_loop(x: f64, n: usize, flag: bool) -> f64 {
    let h = x.sin();
    for _ in 0..n {
        let _e = h * 2.0;
    }
    if flag {
        let _e = h * 3.0;
    }
    h
}

/// A branch side that reads a value it also reassigns, in second order.
#[differentiable]
fn reassigned_in_a_branch(a: &Matrix<f64>, s: f64) -> f64 {
    let mut e = a.clone();
    if s <= 1.0 {
        e = e.tan();
    } else {
        e += a * &e;
    }
    e.sum() * s
}

#[test]
fn cases_found_by_the_generators_derive_and_agree_with_differences() {
    let h = 1e-6;
    let w = matrix(2, 2, 0.3);
    let (_, dw) = carried_beside_a_product_grad(&w);
    for k in 0..4 {
        let moved = |d: f64| {
            let mut m = w.clone();
            m.as_mut_slice()[k] += d;
            carried_beside_a_product(&m)
        };
        let fd = (moved(h) - moved(-h)) / (2.0 * h);
        assert!(
            (dw.as_slice()[k] - fd).abs() < 1e-7,
            "dw[{k}]: {} vs {fd}",
            dw.as_slice()[k]
        );
    }

    let (s, v) = (0.8, Vector::from_vec(vec![0.4, -0.3, 0.9]));
    let hessian = nested_second_order_hessian(s, &v);
    let grad_at = |s: f64, v: &Vector<f64>| {
        let (_, (ds, dv)) = nested_second_order_grad(s, v);
        let mut g = vec![ds];
        g.extend_from_slice(dv.as_slice());
        g
    };
    for j in 0..4 {
        let moved = |d: f64| {
            let mut v = v.clone();
            let mut s = s;
            if j == 0 {
                s += d;
            } else {
                v.as_mut_slice()[j - 1] += d;
            }
            grad_at(s, &v)
        };
        let (plus, minus) = (moved(h), moved(-h));
        for i in 0..4 {
            let fd = (plus[i] - minus[i]) / (2.0 * h);
            assert!(
                (hessian[(i, j)] - fd).abs() < 1e-6,
                "H[{i}, {j}]: {} vs {fd}",
                hessian[(i, j)]
            );
        }
    }

    for (n, flag) in [(0, false), (3, true)] {
        let (value, dx) = idle_loop_grad(0.7, n, flag);
        assert_eq!((value, dx), (0.7f64.sin(), 0.7f64.cos()));
    }

    let a = matrix(2, 2, 0.4);
    for s in [0.5, 1.5] {
        let da = matrix(2, 2, 1.1);
        let (_, _, (hvp_a, hvp_s)) = reassigned_in_a_branch_hvp(&a, s, &da, 0.3);
        let grad_along = |t: f64| {
            let (_, (ga, gs)) = reassigned_in_a_branch_grad(&(&a + &(&da * t)), s + 0.3 * t);
            (ga, gs)
        };
        let ((pa, ps), (ma, ms)) = (grad_along(h), grad_along(-h));
        assert!((hvp_s - (ps - ms) / (2.0 * h)).abs() < 1e-6, "s = {s}");
        for k in 0..4 {
            let fd = (pa.as_slice()[k] - ma.as_slice()[k]) / (2.0 * h);
            assert!((hvp_a.as_slice()[k] - fd).abs() < 1e-6, "s = {s}, [{k}]");
        }
    }
}
