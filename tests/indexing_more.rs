//! The second release's indexing, joins, reductions and vector broadcasting inside
//! differentiable functions (issue 16): `m.row(i)`, `m.col(j)`, `m.slice_cols(a..b)`,
//! `m.gather(labels)`, `labels[i]`, `Vector::from_vec(vec![..])`, `u.concat(&v)`,
//! `a.vstack(&b)`, `a.hstack(&b)`, `max()`, `min()`, `mean_axis`, and `Matrix ± * / Vector`.
//!
//! Every mode appears (`f_grad`, `f_vjp`, `f_jvp`, `f_jacobian`, `f_hessian`, `f_hvp`), in f32
//! and f64. References: hand derivations (softmax − one-hot over N for a cross-entropy, column
//! sums for a bias, the unit vector at the first extreme entry for `max`), and central
//! differences of the original function for the rest.
//!
//! Tolerances. f64 against central differences with step 1e-5: the truncation error is
//! h²·f‴/6 ≈ 1e-10 and the rounding error ε·|f|/h ≈ 1e-11 for these O(1) functions, so 1e-7
//! relative to the largest entry leaves a margin of 100; a wrong rule is off by O(1). f64
//! against a hand derivation: 1e-12 (a few roundings of O(1) terms). f32 against the f64
//! result of the same function: 1e-4 (ε₃₂ ≈ 1.2e-7 times chains of a dozen operations and sums
//! of up to a dozen terms, with margin).

use autodiff::prelude::*;

/// `|a − e| ≤ tol · max(1, max |e|)` for every entry.
#[track_caller]
fn assert_close(actual: &[f64], expected: &[f64], tol: f64, what: &str) {
    assert_eq!(actual.len(), expected.len(), "{what}: sizes differ");
    let scale = expected.iter().fold(1.0f64, |m, x| m.max(x.abs()));
    for (i, (a, e)) in actual.iter().zip(expected).enumerate() {
        assert!(
            (a - e).abs() <= tol * scale,
            "{what}: entry {i}: {a:.12e} vs {e:.12e} (tol {:.1e})",
            tol * scale
        );
    }
}

/// The central difference of `f` at `x` along every coordinate in turn.
fn differences(f: &dyn Fn(&[f64]) -> f64, x: &[f64]) -> Vec<f64> {
    let h = 1e-5;
    (0..x.len())
        .map(|i| {
            let at = |d: f64| {
                let mut y = x.to_vec();
                y[i] += d;
                f(&y)
            };
            (at(h) - at(-h)) / (2.0 * h)
        })
        .collect()
}

/// The central difference of `f` at `x` along `v`.
fn directional(f: &dyn Fn(&[f64]) -> Vec<f64>, x: &[f64], v: &[f64]) -> Vec<f64> {
    let h = 1e-5;
    let at = |t: f64| {
        let y: Vec<f64> = x.iter().zip(v).map(|(a, b)| a + t * b).collect();
        f(&y)
    };
    let (p, m) = (at(h), at(-h));
    p.iter().zip(&m).map(|(a, b)| (a - b) / (2.0 * h)).collect()
}

fn matrix(rows: usize, cols: usize, phase: f64) -> Matrix<f64> {
    Matrix::from_fn(rows, cols, |i, j| {
        0.8 * (phase + 1.3 * i as f64 + 0.7 * j as f64 + 0.2 * (i * j) as f64).sin()
    })
}

fn vector(n: usize, phase: f64) -> Vector<f64> {
    Vector::from_fn(n, |i| 0.9 * (phase + 1.1 * i as f64).cos())
}

fn widen(x: &[f32]) -> Vec<f64> {
    x.iter().map(|&v| f64::from(v)).collect()
}

fn narrow_m(m: &Matrix<f64>) -> Matrix<f32> {
    Matrix::from_vec(
        m.rows(),
        m.cols(),
        m.as_slice().iter().map(|&v| v as f32).collect(),
    )
}

fn narrow_v(v: &Vector<f64>) -> Vector<f32> {
    Vector::from_vec(v.as_slice().iter().map(|&x| x as f32).collect())
}

fn m_of(rows: usize, cols: usize, data: &[f64]) -> Matrix<f64> {
    Matrix::from_vec(rows, cols, data.to_vec())
}

/// The message of the panic `f` raises.
fn panic_message(f: impl FnOnce() + std::panic::UnwindSafe) -> String {
    let payload = std::panic::catch_unwind(f).expect_err("panics");
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default()
}

macro_rules! functions {
    ($T:ty) => {
        /// Softmax cross-entropy with integer labels: −(1/N)·Σᵣ log_softmax(Z)[r, labels[r]].
        #[differentiable(wrt(z))]
        pub fn cross_entropy(z: &Matrix<$T>, labels: &[usize]) -> $T {
            let lp = z.log_softmax();
            -lp.gather(labels).mean()
        }

        /// A layer with a vector bias and a vector scale, broadcast over the rows.
        #[differentiable(wrt(w, b, g))]
        pub fn layer(x: &Matrix<$T>, w: &Matrix<$T>, b: &Vector<$T>, g: &Vector<$T>) -> Matrix<$T> {
            (x.matmul(w) + b).tanh() * g
        }

        /// A vector on either side of every operator.
        #[differentiable]
        pub fn either_side(x: &Matrix<$T>, b: &Vector<$T>) -> Matrix<$T> {
            (b - x) * (x / b) + b / (x * x + 1.0)
        }

        /// Rows, columns, column slices and the joins.
        #[differentiable]
        pub fn parts(m: &Matrix<$T>, u: &Vector<$T>, s: $T) -> $T {
            let r = m.row(1);
            let c = m.col(2);
            let w = m.slice_cols(1..3);
            let v = Vector::from_vec(vec![s, s * s, r[0] * u[1]]);
            let joined = r.concat(&c).concat(&v).concat(u);
            let stacked = w
                .vstack(&m.slice_rows(0..1).slice_cols(0..2))
                .hstack(&w.vstack(&w.slice_rows(1..2)));
            joined.tanh().sum() + (stacked.sin() * &stacked).sum() * s
        }

        /// The largest and smallest entries.
        #[differentiable]
        pub fn extremes(x: &Vector<$T>, m: &Matrix<$T>) -> $T {
            x.max() - 2.0 * x.min() + m.max() * m.min()
        }

        /// Means along each axis.
        #[differentiable]
        pub fn means(m: &Matrix<$T>) -> $T {
            (m.mean_axis(0) * m.mean_axis(0)).sum() + m.mean_axis(1).sum()
        }

        /// `labels[i]` in a loop: Σᵣ z[(r, labels[r])]·wᵣ.
        #[differentiable(wrt(z, w))]
        pub fn picked(z: &Matrix<$T>, w: &Vector<$T>, labels: &[usize]) -> $T {
            let mut total = 0.0;
            for r in 0..z.rows() {
                total += z[(r, labels[r])] * w[r];
            }
            total
        }
    };
}

mod f64s {
    use autodiff::prelude::*;
    functions!(f64);

    /// A scalar function of a vector whose Hessian the batched program computes: the reads
    /// of a segment, an entry and the extreme entry of a vector.
    #[differentiable]
    pub fn rosenbrock_slices(x: &Vector<f64>) -> f64 {
        let n = x.len();
        let head = x.slice(0..n - 1);
        let tail = x.slice(1..n);
        let a = &tail - &head * &head;
        let b = 1.0 - &head;
        100.0 * (&a * &a).sum() + (&b * &b).sum() + x.max() * x[0]
    }

    /// Vectors of scalars joined and read back.
    #[differentiable]
    pub fn joined(x: &Vector<f64>, s: f64) -> Vector<f64> {
        let v = Vector::from_vec(vec![s * x[0], x[2], s]);
        v.concat(x).tanh() * s
    }

    /// Labels written out in the body.
    #[differentiable]
    pub fn literal_labels(z: &Matrix<f64>) -> f64 {
        z.gather(&[2, 0]).sum()
    }

    #[differentiable]
    pub fn shift(x: &Matrix<f64>, b: &Vector<f64>) -> Matrix<f64> {
        x + b
    }

    #[differentiable]
    pub fn rows_of(m: &Matrix<f64>, i: usize) -> f64 {
        m.row(i).sum()
    }

    #[differentiable]
    pub fn stacked(a: &Matrix<f64>, b: &Matrix<f64>) -> f64 {
        a.vstack(b).sum()
    }

    /// An RNN whose bias is a vector: `h = tanh(h·W + x_t·U + b)`, the step's inputs read as
    /// rows, the loss reading the last state's first column and row.
    #[differentiable(wrt(w, u, b))]
    pub fn rnn(
        h0: &Matrix<f64>,
        w: &Matrix<f64>,
        u: &Matrix<f64>,
        b: &Vector<f64>,
        x: &Matrix<f64>,
        steps: usize,
    ) -> f64 {
        let batch = h0.rows();
        let mut h = h0.clone();
        for t in 0..steps {
            let xt = x.slice_rows(t * batch..(t + 1) * batch);
            let mut z = h.matmul(w) + xt.matmul(u);
            z += b;
            h = z.tanh();
        }
        h.col(0).sum() + h.row(batch - 1).max() + 0.5 * (&h * &h).sum()
    }
}

mod f32s {
    use autodiff::prelude::*;
    functions!(f32);
}

/// The softmax of each row of `z`.
fn softmax_rows(z: &Matrix<f64>) -> Vec<Vec<f64>> {
    (0..z.rows())
        .map(|r| {
            let row = z.row_slice(r);
            let top = row.iter().fold(f64::NEG_INFINITY, |m, &x| m.max(x));
            let e: Vec<f64> = row.iter().map(|x| (x - top).exp()).collect();
            let total: f64 = e.iter().sum();
            e.iter().map(|x| x / total).collect()
        })
        .collect()
}

#[test]
fn cross_entropy_with_integer_labels_has_gradient_softmax_minus_one_hot_over_n() {
    let z = matrix(4, 5, 0.3);
    let labels = [3usize, 0, 4, 0];
    let (value, grad) = f64s::cross_entropy_grad(&z, &labels);
    assert_eq!(value, f64s::cross_entropy(&z, &labels));
    let p = softmax_rows(&z);
    let n = z.rows() as f64;
    let want_value = -labels
        .iter()
        .enumerate()
        .map(|(r, &l)| p[r][l].ln())
        .sum::<f64>()
        / n;
    assert!(
        (value - want_value).abs() < 1e-12,
        "{value} vs {want_value}"
    );
    let want: Vec<f64> = (0..z.rows())
        .flat_map(|r| {
            let p = &p;
            (0..z.cols()).map(move |c| (p[r][c] - if labels[r] == c { 1.0 } else { 0.0 }) / n)
        })
        .collect();
    assert_close(grad.as_slice(), &want, 1e-12, "d cross-entropy / dz");

    // f32: the same gradient to f32 rounding.
    let (_, grad32) = f32s::cross_entropy_grad(&narrow_m(&z), &labels);
    assert_close(
        &widen(grad32.as_slice()),
        &want,
        1e-5,
        "f32 d cross-entropy / dz",
    );

    // The Hessian over z against differences of the hand gradient, and f_hvp along a direction.
    let grad_at = |flat: &[f64]| -> Vec<f64> {
        let zz = m_of(4, 5, flat);
        f64s::cross_entropy_grad(&zz, &labels).1.into_vec()
    };
    let hessian = f64s::cross_entropy_hessian(&z, &labels);
    assert_eq!(hessian.shape(), (20, 20));
    let flat = z.as_slice().to_vec();
    for k in 0..20 {
        let mut e = vec![0.0; 20];
        e[k] = 1.0;
        let column = directional(&grad_at, &flat, &e);
        let got: Vec<f64> = (0..20).map(|i| hessian[(i, k)]).collect();
        assert_close(&got, &column, 1e-7, &format!("Hessian column {k}"));
    }
    let direction = matrix(4, 5, 2.0);
    let (_, _, hv) = f64s::cross_entropy_hvp(&z, &labels, &direction);
    let want = directional(&grad_at, &flat, direction.as_slice());
    assert_close(hv.as_slice(), &want, 1e-7, "f_hvp");
    let (_, _, hv32) = f32s::cross_entropy_hvp(&narrow_m(&z), &labels, &narrow_m(&direction));
    assert_close(&widen(hv32.as_slice()), &want, 1e-4, "f32 f_hvp");
}

#[test]
fn a_label_out_of_range_panics_with_the_function_and_the_expression() {
    let z = matrix(2, 3, 0.1);
    let text = panic_message(|| {
        f64s::cross_entropy_grad(&z, &[0, 3]);
    });
    assert!(
        text.contains("label 3 (of row 1) is out of range for a 2×3 matrix")
            && text.contains("cross_entropy")
            && text.contains("lp.gather(labels)"),
        "{text}"
    );
    let text = panic_message(|| {
        f64s::cross_entropy(&z, &[0]);
    });
    assert!(
        text.contains("1 labels for a 2×3 matrix: `gather` takes one label per row"),
        "{text}"
    );
}

#[test]
fn a_vector_bias_has_the_column_sums_as_its_gradient() {
    let x = matrix(3, 4, 0.2);
    let b = vector(4, 0.5);
    let upstream = matrix(3, 4, 1.7);
    let (y, (dx, db)) = f64s::shift_vjp(&x, &b, &upstream);
    assert_eq!(y, f64s::shift(&x, &b));
    assert_eq!(y, &x + &b);
    assert_eq!(dx, upstream);
    let sums: Vec<f64> = (0..4)
        .map(|c| (0..3).map(|r| upstream[(r, c)]).sum())
        .collect();
    assert_close(
        db.as_slice(),
        &sums,
        1e-15,
        "db = column sums of the upstream",
    );
    // The Jacobian with respect to b: ∂y[r, c]/∂b[k] = [c = k].
    let (jx, jb) = f64s::shift_jacobian(&x, &b);
    assert_eq!(jx, Matrix::identity(12));
    assert_eq!(jb.shape(), (12, 4));
    for i in 0..12 {
        for k in 0..4 {
            assert_eq!(jb[(i, k)], if i % 4 == k { 1.0 } else { 0.0 });
        }
    }
    // A vector of the wrong length is a shape error naming the function and the expression.
    let text = panic_message(|| {
        f64s::shift_vjp(&x, &vector(3, 0.0), &upstream);
    });
    assert!(
        text.contains("shape mismatch in `add`: left is 3×4, right is vector of 3")
            && text.contains("shift")
            && text.contains("x + b"),
        "{text}"
    );
}

#[test]
fn a_layer_with_a_vector_bias_and_scale_against_differences_and_by_hand() {
    let x = matrix(3, 2, 0.4);
    let w = matrix(2, 4, 1.1);
    let b = vector(4, 0.9);
    let g = vector(4, 2.3);
    let upstream = matrix(3, 4, 0.6);
    let (y, (dw, db, dg)) = f64s::layer_vjp(&x, &w, &b, &g, &upstream);
    assert_eq!(y, f64s::layer(&x, &w, &b, &g));
    // By hand: t = tanh(x·w + b); y = t ⊙ g; dg = Σᵣ u ⊙ t; db = Σᵣ u ⊙ g ⊙ (1 − t²).
    let t = (x.matmul(&w) + &b).tanh();
    let (mut want_db, mut want_dg) = (vec![0.0; 4], vec![0.0; 4]);
    for r in 0..3 {
        for c in 0..4 {
            let (u, tt) = (upstream[(r, c)], t[(r, c)]);
            want_dg[c] += u * tt;
            want_db[c] += u * g[c] * (1.0 - tt * tt);
        }
    }
    assert_close(db.as_slice(), &want_db, 1e-12, "db by hand");
    assert_close(dg.as_slice(), &want_dg, 1e-12, "dg by hand");
    let loss = |ww: &Matrix<f64>, bb: &Vector<f64>, gg: &Vector<f64>| {
        let y = f64s::layer(&x, ww, bb, gg);
        y.as_slice()
            .iter()
            .zip(upstream.as_slice())
            .map(|(a, b)| a * b)
            .sum::<f64>()
    };
    let fd_w = differences(&|f: &[f64]| loss(&m_of(2, 4, f), &b, &g), w.as_slice());
    assert_close(dw.as_slice(), &fd_w, 1e-7, "dw vs differences");

    // jvp against differences, and the dot-product test against the vjp.
    let (tw, tb, tg) = (matrix(2, 4, 3.0), vector(4, 1.0), vector(4, 2.0));
    let (_, ty) = f64s::layer_jvp(&x, &w, &b, &g, &tw, &tb, &tg);
    let flat: Vec<f64> = [w.as_slice(), b.as_slice(), g.as_slice()].concat();
    let dir: Vec<f64> = [tw.as_slice(), tb.as_slice(), tg.as_slice()].concat();
    let of = |f: &[f64]| -> Vec<f64> {
        f64s::layer(
            &x,
            &m_of(2, 4, &f[..8]),
            &Vector::from_vec(f[8..12].to_vec()),
            &Vector::from_vec(f[12..].to_vec()),
        )
        .into_vec()
    };
    assert_close(ty.as_slice(), &directional(&of, &flat, &dir), 1e-7, "jvp");
    let forward: f64 = ty
        .as_slice()
        .iter()
        .zip(upstream.as_slice())
        .map(|(a, b)| a * b)
        .sum();
    let grads: Vec<f64> = [dw.as_slice(), db.as_slice(), dg.as_slice()].concat();
    let reverse: f64 = grads.iter().zip(&dir).map(|(a, b)| a * b).sum();
    assert!((forward - reverse).abs() < 1e-12, "{forward} vs {reverse}");

    // f32 against the f64 pullback.
    let (_, (dw32, db32, dg32)) = f32s::layer_vjp(
        &narrow_m(&x),
        &narrow_m(&w),
        &narrow_v(&b),
        &narrow_v(&g),
        &narrow_m(&upstream),
    );
    assert_close(&widen(dw32.as_slice()), dw.as_slice(), 1e-4, "f32 dw");
    assert_close(&widen(db32.as_slice()), db.as_slice(), 1e-4, "f32 db");
    assert_close(&widen(dg32.as_slice()), dg.as_slice(), 1e-4, "f32 dg");
}

#[test]
fn a_vector_on_either_side_of_every_operator_against_differences() {
    let x = matrix(3, 4, 0.7);
    let b = Vector::from_vec(vec![1.5, -1.2, 0.8, 2.0]);
    let upstream = matrix(3, 4, 0.1);
    let (y, (dx, db)) = f64s::either_side_vjp(&x, &b, &upstream);
    assert_eq!(y, f64s::either_side(&x, &b));
    let loss = |xx: &Matrix<f64>, bb: &Vector<f64>| {
        f64s::either_side(xx, bb)
            .as_slice()
            .iter()
            .zip(upstream.as_slice())
            .map(|(a, b)| a * b)
            .sum::<f64>()
    };
    let fd_x = differences(&|f: &[f64]| loss(&m_of(3, 4, f), &b), x.as_slice());
    let fd_b = differences(
        &|f: &[f64]| loss(&x, &Vector::from_vec(f.to_vec())),
        b.as_slice(),
    );
    assert_close(dx.as_slice(), &fd_x, 1e-7, "dx");
    assert_close(db.as_slice(), &fd_b, 1e-7, "db");
    // The Jacobian's blocks are the pullbacks of the unit upstreams.
    let (jx, jb) = f64s::either_side_jacobian(&x, &b);
    for i in 0..12 {
        let mut u = Matrix::zeros(3, 4);
        u.as_mut_slice()[i] = 1.0;
        let (_, (gx, gb)) = f64s::either_side_vjp(&x, &b, &u);
        let row = |j: &Matrix<f64>| j.row(i).into_vec();
        assert_close(&row(&jx), gx.as_slice(), 1e-12, "Jacobian row (x)");
        assert_close(&row(&jb), gb.as_slice(), 1e-12, "Jacobian row (b)");
    }
    let (_, (dx32, db32)) =
        f32s::either_side_vjp(&narrow_m(&x), &narrow_v(&b), &narrow_m(&upstream));
    assert_close(&widen(dx32.as_slice()), dx.as_slice(), 1e-4, "f32 dx");
    assert_close(&widen(db32.as_slice()), db.as_slice(), 1e-4, "f32 db");
}

#[test]
fn rows_columns_column_slices_and_joins_against_differences() {
    let m = matrix(3, 4, 0.5);
    let u = vector(3, 1.4);
    let s = 0.7;
    let (value, (dm, du, ds)) = f64s::parts_grad(&m, &u, s);
    assert_eq!(value, f64s::parts(&m, &u, s));
    let fd_m = differences(
        &|f: &[f64]| f64s::parts(&m_of(3, 4, f), &u, s),
        m.as_slice(),
    );
    let fd_u = differences(
        &|f: &[f64]| f64s::parts(&m, &Vector::from_vec(f.to_vec()), s),
        u.as_slice(),
    );
    let fd_s = differences(&|f: &[f64]| f64s::parts(&m, &u, f[0]), &[s]);
    assert_close(dm.as_slice(), &fd_m, 1e-7, "dm");
    assert_close(du.as_slice(), &fd_u, 1e-7, "du");
    assert_close(&[ds], &fd_s, 1e-7, "ds");

    // jvp and the Hessian (over m, u and s together) against differences of the gradient.
    let flat: Vec<f64> = [m.as_slice(), u.as_slice(), &[s]].concat();
    let grad_at = |f: &[f64]| -> Vec<f64> {
        let (_, (a, b, c)) = f64s::parts_grad(
            &m_of(3, 4, &f[..12]),
            &Vector::from_vec(f[12..15].to_vec()),
            f[15],
        );
        [a.as_slice(), b.as_slice(), &[c]].concat()
    };
    let (tm, tu, ts) = (matrix(3, 4, 2.5), vector(3, 0.3), -0.4);
    let (_, tangent) = f64s::parts_jvp(&m, &u, s, &tm, &tu, ts);
    let dir: Vec<f64> = [tm.as_slice(), tu.as_slice(), &[ts]].concat();
    let want: f64 = grad_at(&flat).iter().zip(&dir).map(|(a, b)| a * b).sum();
    assert!(
        (tangent - want).abs() < 1e-12 * want.abs().max(1.0),
        "{tangent} vs {want}"
    );
    let hessian = f64s::parts_hessian(&m, &u, s);
    assert_eq!(hessian.shape(), (16, 16));
    let hv: Vec<f64> = (0..16)
        .map(|i| (0..16).map(|j| hessian[(i, j)] * dir[j]).sum())
        .collect();
    assert_close(&hv, &directional(&grad_at, &flat, &dir), 1e-7, "H·v");

    // f32 against f64.
    let (_, (dm32, du32, ds32)) = f32s::parts_grad(&narrow_m(&m), &narrow_v(&u), s as f32);
    assert_close(&widen(dm32.as_slice()), dm.as_slice(), 1e-4, "f32 dm");
    assert_close(&widen(du32.as_slice()), du.as_slice(), 1e-4, "f32 du");
    assert_close(&[f64::from(ds32)], &[ds], 1e-4, "f32 ds");
}

#[test]
fn vectors_of_scalars_and_concatenations_in_every_mode() {
    let x = vector(4, 0.2);
    let s = 1.3;
    let upstream = vector(7, 0.8);
    let (y, (dx, ds)) = f64s::joined_vjp(&x, s, &upstream);
    assert_eq!(y, f64s::joined(&x, s));
    assert_eq!(y.len(), 7);
    let loss = |xx: &Vector<f64>, ss: f64| f64s::joined(xx, ss).dot(&upstream);
    let fd_x = differences(
        &|f: &[f64]| loss(&Vector::from_vec(f.to_vec()), s),
        x.as_slice(),
    );
    let fd_s = differences(&|f: &[f64]| loss(&x, f[0]), &[s]);
    assert_close(dx.as_slice(), &fd_x, 1e-7, "dx");
    assert_close(&[ds], &fd_s, 1e-7, "ds");
    let (jx, js) = f64s::joined_jacobian(&x, s);
    assert_eq!((jx.shape(), js.shape()), ((7, 4), (7, 1)));
    let of = |f: &[f64]| f64s::joined(&Vector::from_vec(f[..4].to_vec()), f[4]).into_vec();
    let flat: Vec<f64> = [x.as_slice(), &[s]].concat();
    for k in 0..5 {
        let mut e = vec![0.0; 5];
        e[k] = 1.0;
        let column = directional(&of, &flat, &e);
        let got: Vec<f64> = (0..7)
            .map(|i| if k < 4 { jx[(i, k)] } else { js[(i, 0)] })
            .collect();
        assert_close(&got, &column, 1e-7, &format!("Jacobian column {k}"));
    }
    let (_, ty) = f64s::joined_jvp(&x, s, &vector(4, 3.0), 0.5);
    let dir: Vec<f64> = [vector(4, 3.0).as_slice(), &[0.5]].concat();
    assert_close(ty.as_slice(), &directional(&of, &flat, &dir), 1e-7, "jvp");
}

#[test]
fn max_and_min_send_the_gradient_to_the_first_extreme_entry() {
    // Ties: 3 at positions 1 and 3, −2 at positions 2 and 4; in the matrix 5 at (0, 1) and
    // (1, 0), −1 at (1, 1) alone.
    let x = Vector::from_vec(vec![1.0, 3.0, -2.0, 3.0, -2.0]);
    let m = Matrix::from_rows(&[[1.0, 5.0], [5.0, -1.0]]);
    let (value, (dx, dm)) = f64s::extremes_grad(&x, &m);
    assert_eq!(value, 3.0 + 4.0 - 5.0);
    assert_eq!(value, f64s::extremes(&x, &m));
    assert_eq!(dx.as_slice(), &[0.0, 1.0, -2.0, 0.0, 0.0]);
    assert_eq!(dm.as_slice(), &[0.0, -1.0, 0.0, 5.0]);
    let (_, (dx32, dm32)) = f32s::extremes_grad(&narrow_v(&x), &narrow_m(&m));
    assert_eq!(dx32.as_slice(), &[0.0, 1.0, -2.0, 0.0, 0.0]);
    assert_eq!(dm32.as_slice(), &[0.0, -1.0, 0.0, 5.0]);
    // Along a direction: the tangent reads the same entries.
    let (tx, tm) = (vector(5, 0.4), matrix(2, 2, 0.9));
    let (_, tangent) = f64s::extremes_jvp(&x, &m, &tx, &tm);
    let want = tx[1] - 2.0 * tx[2] - tm[(0, 1)] + 5.0 * tm[(1, 1)];
    assert!((tangent - want).abs() < 1e-12, "{tangent} vs {want}");
    // Away from ties, against differences, with the Hessian (zero: the function is linear
    // around a point without ties, but for the product of the matrix's extremes).
    let x = vector(5, 0.3);
    let m = matrix(2, 2, 1.9);
    let (_, (dx, dm)) = f64s::extremes_grad(&x, &m);
    let flat: Vec<f64> = [x.as_slice(), m.as_slice()].concat();
    let of = |f: &[f64]| f64s::extremes(&Vector::from_vec(f[..5].to_vec()), &m_of(2, 2, &f[5..]));
    let fd = differences(&of, &flat);
    assert_close(
        &[dx.as_slice(), dm.as_slice()].concat(),
        &fd,
        1e-7,
        "d extremes",
    );
    let hessian = f64s::extremes_hessian(&x, &m);
    let (i, j) = (m.as_slice().iter().position(|&v| v == m.max()).unwrap(), 0);
    let k = m.as_slice().iter().position(|&v| v == m.min()).unwrap();
    for a in 0..9 {
        for b in 0..9 {
            let cross = (a == 5 + i && b == 5 + k) || (a == 5 + k && b == 5 + i);
            assert_eq!(
                hessian[(a, b)],
                if cross { 1.0 } else { 0.0 },
                "H[{a}, {b}]"
            );
        }
    }
    let _ = j;
}

#[test]
fn mean_axis_is_sum_axis_over_the_count() {
    let m = matrix(3, 4, 0.6);
    let (value, grad) = f64s::means_grad(&m);
    assert_eq!(value, f64s::means(&m));
    // d/dm[r, c] = 2·colmean[c]/rows + 1/cols.
    let colmean: Vec<f64> = (0..4)
        .map(|c| (0..3).map(|r| m[(r, c)]).sum::<f64>() / 3.0)
        .collect();
    let want: Vec<f64> = (0..12).map(|k| 2.0 * colmean[k % 4] / 3.0 + 0.25).collect();
    assert_close(grad.as_slice(), &want, 1e-12, "d means / dm");
    let (_, grad32) = f32s::means_grad(&narrow_m(&m));
    assert_close(&widen(grad32.as_slice()), &want, 1e-5, "f32 d means / dm");
    // The Hessian: 2/rows² between entries of the same column.
    let hessian = f64s::means_hessian(&m);
    for a in 0..12 {
        for b in 0..12 {
            let want = if a % 4 == b % 4 { 2.0 / 9.0 } else { 0.0 };
            assert!((hessian[(a, b)] - want).abs() < 1e-14, "H[{a}, {b}]");
        }
    }
}

#[test]
fn labels_read_one_at_a_time_in_a_loop() {
    let z = matrix(3, 4, 0.2);
    let w = vector(3, 0.1);
    let labels = [1usize, 3, 1];
    let (value, (dz, dw)) = f64s::picked_grad(&z, &w, &labels);
    assert_eq!(value, f64s::picked(&z, &w, &labels));
    for r in 0..3 {
        for c in 0..4 {
            let want = if labels[r] == c { w[r] } else { 0.0 };
            assert_eq!(dz[(r, c)], want);
        }
        assert_eq!(dw[r], z[(r, labels[r])]);
    }
    let (_, (dz32, _)) = f32s::picked_grad(&narrow_m(&z), &narrow_v(&w), &labels);
    assert_close(&widen(dz32.as_slice()), dz.as_slice(), 1e-6, "f32 dz");
    // A label past the list panics with the function and the expression.
    let text = panic_message(|| {
        f64s::picked_grad(&z, &w, &[1, 2]);
    });
    assert!(
        text.contains("index 2 is out of range for 2 labels")
            && text.contains("picked")
            && text.contains("labels[r]"),
        "{text}"
    );
    // Labels written out in the body.
    let (_, g) = f64s::literal_labels_grad(&matrix(2, 3, 0.0));
    assert_eq!(g.as_slice(), &[0.0, 0.0, 1.0, 1.0, 0.0, 0.0]);
}

#[test]
fn slices_of_a_vector_have_the_textbook_rosenbrock_hessian() {
    let x = Vector::from_vec(vec![0.3, -0.5, 0.9, 0.1]);
    let n = x.len();
    let (_, grad) = f64s::rosenbrock_slices_grad(&x);
    let top = (0..n).fold(0, |b, i| if x[i] > x[b] { i } else { b });
    let mut want = vec![0.0; n];
    for i in 0..n - 1 {
        want[i] += -400.0 * x[i] * (x[i + 1] - x[i] * x[i]) - 2.0 * (1.0 - x[i]);
        want[i + 1] += 200.0 * (x[i + 1] - x[i] * x[i]);
    }
    want[top] += x[0];
    want[0] += x.max();
    assert_close(grad.as_slice(), &want, 1e-12, "gradient");
    let hessian = f64s::rosenbrock_slices_hessian(&x);
    let mut h = vec![vec![0.0; n]; n];
    for i in 0..n - 1 {
        h[i][i] += 1200.0 * x[i] * x[i] - 400.0 * x[i + 1] + 2.0;
        h[i][i + 1] -= 400.0 * x[i];
        h[i + 1][i] -= 400.0 * x[i];
        h[i + 1][i + 1] += 200.0;
    }
    h[top][0] += 1.0;
    h[0][top] += 1.0;
    for i in 0..n {
        for j in 0..n {
            assert!(
                (hessian[(i, j)] - h[i][j]).abs() < 1e-10 * (1.0 + h[i][j].abs()),
                "H[{i}, {j}]: {} vs {}",
                hessian[(i, j)],
                h[i][j]
            );
        }
    }
    let direction = vector(n, 0.5);
    let (_, _, hv) = f64s::rosenbrock_slices_hvp(&x, &direction);
    for i in 0..n {
        let want: f64 = (0..n).map(|j| h[i][j] * direction[j]).sum();
        assert!((hv[i] - want).abs() < 1e-10 * (1.0 + want.abs()));
    }
}

#[test]
fn out_of_range_parts_panic_with_the_function_and_the_expression() {
    let m = matrix(2, 3, 0.0);
    let text = panic_message(|| {
        f64s::rows_of_grad(&m, 2);
    });
    assert!(
        text.contains("row 2 is out of range for a 2×3 matrix")
            && text.contains("rows_of")
            && text.contains("m.row(i)"),
        "{text}"
    );
    let text = panic_message(|| {
        f64s::stacked_grad(&m, &matrix(2, 2, 0.0));
    });
    assert!(
        text.contains("shape mismatch in `vstack`: left is 2×3, right is 2×2")
            && text.contains("stacked")
            && text.contains("a.vstack(b)"),
        "{text}"
    );
}

#[test]
fn the_runtime_methods_mean_what_the_derivatives_assume() {
    let m = Matrix::from_rows(&[[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]);
    assert_eq!(m.row(1).as_slice(), &[4.0, 5.0, 6.0]);
    assert_eq!(m.col(2).as_slice(), &[3.0, 6.0]);
    assert_eq!(
        m.slice_cols(1..3),
        Matrix::from_rows(&[[2.0, 3.0], [5.0, 6.0]])
    );
    assert_eq!(m.gather(&[2, 0]).as_slice(), &[3.0, 4.0]);
    assert_eq!(
        m.vstack(&m.slice_rows(0..1)),
        Matrix::from_rows(&[[1.0, 2.0, 3.0], [4.0, 5.0, 6.0], [1.0, 2.0, 3.0]])
    );
    assert_eq!(
        m.hstack(&m.slice_cols(0..1)),
        Matrix::from_rows(&[[1.0, 2.0, 3.0, 1.0], [4.0, 5.0, 6.0, 4.0]])
    );
    let u = Vector::from_vec(vec![1.0, 2.0]);
    assert_eq!(u.concat(&u).as_slice(), &[1.0, 2.0, 1.0, 2.0]);
    assert_eq!((m.max(), m.min()), (6.0, 1.0));
    assert_eq!(m.mean_axis(0), Matrix::from_rows(&[[2.5, 3.5, 4.5]]));
    assert_eq!(m.mean_axis(1), Matrix::from_rows(&[[2.0], [5.0]]));
    let b = Vector::from_vec(vec![10.0, 20.0, 30.0]);
    assert_eq!(
        &m + &b,
        Matrix::from_rows(&[[11.0, 22.0, 33.0], [14.0, 25.0, 36.0]])
    );
    assert_eq!(
        &b - &m,
        Matrix::from_rows(&[[9.0, 18.0, 27.0], [6.0, 15.0, 24.0]])
    );
}

#[test]
fn a_vector_bias_through_a_loop_against_differences() {
    let (batch, hidden, input, steps) = (2, 3, 2, 4);
    let h0 = matrix(batch, hidden, 0.1);
    let w = matrix(hidden, hidden, 0.7);
    let u = matrix(input, hidden, 1.3);
    let b = vector(hidden, 0.4);
    let x = matrix(batch * steps, input, 2.1);
    let (value, (dw, du, db)) = f64s::rnn_grad(&h0, &w, &u, &b, &x, steps);
    assert_eq!(value, f64s::rnn(&h0, &w, &u, &b, &x, steps));
    let fd_w = differences(
        &|f: &[f64]| f64s::rnn(&h0, &m_of(hidden, hidden, f), &u, &b, &x, steps),
        w.as_slice(),
    );
    let fd_u = differences(
        &|f: &[f64]| f64s::rnn(&h0, &w, &m_of(input, hidden, f), &b, &x, steps),
        u.as_slice(),
    );
    let fd_b = differences(
        &|f: &[f64]| f64s::rnn(&h0, &w, &u, &Vector::from_vec(f.to_vec()), &x, steps),
        b.as_slice(),
    );
    assert_close(dw.as_slice(), &fd_w, 1e-7, "dw");
    assert_close(du.as_slice(), &fd_u, 1e-7, "du");
    assert_close(db.as_slice(), &fd_b, 1e-7, "db");
}
