//! Functions returning tuples (issue 17): an LSTM cell `-> (h, c)` against a hand-written
//! backward pass, every mode through it, and callers that take its results apart
//! (`let (h, c) = lstm_cell(..)`), in f64 and f32.

use autodiff::prelude::*;

/// The textbook LSTM cell: gates from one product each of the input and the state, then
/// `c' = f ⊙ c + i ⊙ g` and `h' = o ⊙ tanh(c')`.
#[differentiable]
fn lstm_cell(
    x: &Vector<f64>,
    h: &Vector<f64>,
    c: &Vector<f64>,
    w: &Matrix<f64>,
    u: &Matrix<f64>,
    b: &Vector<f64>,
) -> (Vector<f64>, Vector<f64>) {
    let n = h.len();
    let z = w.matmul(x) + u.matmul(h) + b;
    let i = z.slice(0..n).sigmoid();
    let f = z.slice(n..2 * n).sigmoid();
    let o = z.slice(2 * n..3 * n).sigmoid();
    let g = z.slice(3 * n..4 * n).tanh();
    let c_next = &f * c + &i * &g;
    let h_next = &o * c_next.tanh();
    (h_next, c_next)
}

/// Three steps of the cell, taking its results apart, and a loss of the last state.
#[differentiable(wrt(w, u, b))]
fn rnn_loss(
    xs: &Matrix<f64>,
    h0: &Vector<f64>,
    c0: &Vector<f64>,
    w: &Matrix<f64>,
    u: &Matrix<f64>,
    b: &Vector<f64>,
) -> f64 {
    let mut h = h0.clone();
    let mut c = c0.clone();
    for t in 0..xs.rows() {
        let (h_next, c_next) = lstm_cell(&xs.row(t), &h, &c, w, u, b);
        h = h_next;
        c = c_next;
    }
    h.sum() + 0.5 * c.dot(&c)
}

/// A tuple of a scalar, a matrix and a vector; the scalar is also read by the others.
#[differentiable]
fn mixed(a: f64, m: &Matrix<f64>, v: &Vector<f64>) -> (f64, Matrix<f64>, Vector<f64>) {
    let s = a * m.sum();
    (s, m * a, v.exp() * s)
}

/// A caller reading one result with `.1` and discarding the other with `_`.
#[differentiable]
fn uses_parts(a: f64, m: &Matrix<f64>, v: &Vector<f64>) -> f64 {
    let (s, _, e) = mixed(a, m, v);
    s * e.sum() + mixed(a, m, v).1.sum()
}

/// The same function written inline.
#[differentiable]
fn uses_parts_inline(a: f64, m: &Matrix<f64>, v: &Vector<f64>) -> f64 {
    let s = a * m.sum();
    let e = v.exp() * s;
    s * e.sum() + (m * a).sum()
}

/// An f32 cell with a scalar part.
#[differentiable]
fn gated_f32(x: &Vector<f32>, k: f32) -> (Vector<f32>, f32) {
    let y = (x * k).tanh();
    let energy = y.dot(&y);
    (y, energy)
}

fn sigmoid(v: f64) -> f64 {
    1.0 / (1.0 + (-v).exp())
}

struct Cell {
    x: Vector<f64>,
    h: Vector<f64>,
    c: Vector<f64>,
    w: Matrix<f64>,
    u: Matrix<f64>,
    b: Vector<f64>,
}

fn pseudo(i: usize, salt: usize) -> f64 {
    ((i * 7 + salt * 31 + 5) as f64 * 0.618_033_988_75).fract() - 0.5
}

fn cell(n: usize, d: usize) -> Cell {
    let v = |len: usize, salt| Vector::from_vec((0..len).map(|i| pseudo(i, salt)).collect());
    let m = |r: usize, k: usize, salt| {
        Matrix::from_vec(r, k, (0..r * k).map(|i| pseudo(i, salt) * 0.8).collect())
    };
    Cell {
        x: v(d, 1),
        h: v(n, 2),
        c: v(n, 3),
        w: m(4 * n, d, 4),
        u: m(4 * n, n, 5),
        b: v(4 * n, 6),
    }
}

type CellGradients = (
    Vector<f64>,
    Vector<f64>,
    Vector<f64>,
    Matrix<f64>,
    Matrix<f64>,
    Vector<f64>,
);

/// The backward pass of the cell as one writes it by hand, entry by entry.
fn hand_backward(p: &Cell, dh_next: &Vector<f64>, dc_next: &Vector<f64>) -> CellGradients {
    let (n, d) = (p.h.len(), p.x.len());
    let mut z = vec![0.0; 4 * n];
    for (r, zr) in z.iter_mut().enumerate() {
        *zr = p.b[r]
            + (0..d).map(|k| p.w[(r, k)] * p.x[k]).sum::<f64>()
            + (0..n).map(|k| p.u[(r, k)] * p.h[k]).sum::<f64>();
    }
    let mut dz = vec![0.0; 4 * n];
    let mut dc = vec![0.0; n];
    for j in 0..n {
        let (i, f, o, g) = (
            sigmoid(z[j]),
            sigmoid(z[n + j]),
            sigmoid(z[2 * n + j]),
            z[3 * n + j].tanh(),
        );
        let c_next = f * p.c[j] + i * g;
        let tc = c_next.tanh();
        let d_o = dh_next[j] * tc;
        let dct = dc_next[j] + dh_next[j] * o * (1.0 - tc * tc);
        dc[j] = dct * f;
        dz[j] = dct * g * i * (1.0 - i);
        dz[n + j] = dct * p.c[j] * f * (1.0 - f);
        dz[2 * n + j] = d_o * o * (1.0 - o);
        dz[3 * n + j] = dct * i * (1.0 - g * g);
    }
    let dx = (0..d)
        .map(|k| (0..4 * n).map(|r| p.w[(r, k)] * dz[r]).sum())
        .collect();
    let dh = (0..n)
        .map(|k| (0..4 * n).map(|r| p.u[(r, k)] * dz[r]).sum())
        .collect();
    let dw = (0..4 * n * d).map(|e| dz[e / d] * p.x[e % d]).collect();
    let du = (0..4 * n * n).map(|e| dz[e / n] * p.h[e % n]).collect();
    (
        Vector::from_vec(dx),
        Vector::from_vec(dh),
        Vector::from_vec(dc),
        Matrix::from_vec(4 * n, d, dw),
        Matrix::from_vec(4 * n, n, du),
        Vector::from_vec(dz),
    )
}

fn assert_close(actual: &[f64], expected: &[f64], tol: f64, what: &str) {
    assert_eq!(actual.len(), expected.len(), "{what}: lengths");
    for (k, (a, e)) in actual.iter().zip(expected).enumerate() {
        assert!(
            (a - e).abs() <= tol * (1.0 + e.abs()),
            "{what}[{k}]: {a} vs {e}"
        );
    }
}

#[test]
fn the_lstm_cells_pullback_is_the_hand_written_backward_pass() {
    let p = cell(3, 2);
    let dh = Vector::from_vec(vec![0.3, -1.2, 0.7]);
    let dc = Vector::from_vec(vec![-0.4, 0.9, 0.25]);
    let ((h_next, c_next), (dx, dh_prev, dc_prev, dw, du, db)) =
        lstm_cell_vjp(&p.x, &p.h, &p.c, &p.w, &p.u, &p.b, (&dh, &dc));
    let (value_h, value_c) = lstm_cell(&p.x, &p.h, &p.c, &p.w, &p.u, &p.b);
    assert_eq!(h_next, value_h);
    assert_eq!(c_next, value_c);
    let hand = hand_backward(&p, &dh, &dc);
    assert_close(dx.as_slice(), hand.0.as_slice(), 1e-12, "dx");
    assert_close(dh_prev.as_slice(), hand.1.as_slice(), 1e-12, "dh");
    assert_close(dc_prev.as_slice(), hand.2.as_slice(), 1e-12, "dc");
    assert_close(dw.as_slice(), hand.3.as_slice(), 1e-12, "dw");
    assert_close(du.as_slice(), hand.4.as_slice(), 1e-12, "du");
    assert_close(db.as_slice(), hand.5.as_slice(), 1e-12, "db");
    // An upstream on one result only pulls back that result's part.
    let zero = Vector::zeros(3);
    let (_, (_, _, dc_only, ..)) = lstm_cell_vjp(&p.x, &p.h, &p.c, &p.w, &p.u, &p.b, (&zero, &dc));
    let hand_c = hand_backward(&p, &zero, &dc);
    assert_close(
        dc_only.as_slice(),
        hand_c.2.as_slice(),
        1e-12,
        "dc from dc alone",
    );
}

#[test]
fn the_derivation_names_each_results_upstream() {
    let derivation = lstm_cell_derivation();
    for needed in ["dh_next", "dc_next", "dz", "dw"] {
        assert!(
            derivation.contains(needed),
            "`{needed}` missing from\n{derivation}"
        );
    }
}

#[test]
fn forward_mode_gives_the_tuple_of_tangents() {
    let p = cell(2, 3);
    let t = cell(2, 3);
    let ((h_next, c_next), (dh_next, dc_next)) = lstm_cell_jvp(
        &p.x, &p.h, &p.c, &p.w, &p.u, &p.b, &t.x, &t.h, &t.c, &t.w, &t.u, &t.b,
    );
    assert_eq!(
        (h_next.clone(), c_next.clone()),
        lstm_cell(&p.x, &p.h, &p.c, &p.w, &p.u, &p.b)
    );
    // Central differences of the cell along the same direction.
    let eps = 1e-6;
    let at = |s: f64| {
        let m = |a: &Vector<f64>, b: &Vector<f64>| a + &(b * s);
        let mm = |a: &Matrix<f64>, b: &Matrix<f64>| a + &(b * s);
        lstm_cell(
            &m(&p.x, &t.x),
            &m(&p.h, &t.h),
            &m(&p.c, &t.c),
            &mm(&p.w, &t.w),
            &mm(&p.u, &t.u),
            &m(&p.b, &t.b),
        )
    };
    let ((hp, cp), (hm, cm)) = (at(eps), at(-eps));
    let fd_h: Vec<f64> = (0..2).map(|j| (hp[j] - hm[j]) / (2.0 * eps)).collect();
    let fd_c: Vec<f64> = (0..2).map(|j| (cp[j] - cm[j]) / (2.0 * eps)).collect();
    assert_close(dh_next.as_slice(), &fd_h, 1e-7, "dh'");
    assert_close(dc_next.as_slice(), &fd_c, 1e-7, "dc'");
}

#[test]
fn the_jacobian_stacks_the_results_rows_in_order() {
    let p = cell(2, 3);
    let (jx, _, _, _, _, jb) = lstm_cell_jacobian(&p.x, &p.h, &p.c, &p.w, &p.u, &p.b);
    assert_eq!(jx.shape(), (4, 3));
    assert_eq!(jb.shape(), (4, 8));
    // Row r is the pullback of the r-th unit upstream: h' rows first, then c'.
    for r in 0..4 {
        let mut dh = Vector::zeros(2);
        let mut dc = Vector::zeros(2);
        if r < 2 {
            dh[r] = 1.0;
        } else {
            dc[r - 2] = 1.0;
        }
        let (_, (dx, _, _, _, _, db)) =
            lstm_cell_vjp(&p.x, &p.h, &p.c, &p.w, &p.u, &p.b, (&dh, &dc));
        assert_close(
            jx.row(r).as_slice(),
            dx.as_slice(),
            1e-12,
            "Jacobian row of x",
        );
        assert_close(
            jb.row(r).as_slice(),
            db.as_slice(),
            1e-12,
            "Jacobian row of b",
        );
    }
}

#[test]
fn gradcheck_passes_through_a_tuple_result() {
    let p = cell(3, 2);
    lstm_cell_gradcheck(&p.x, &p.h, &p.c, &p.w, &p.u, &p.b).assert_within(1e-6);
    let m = Matrix::from_vec(2, 2, vec![0.5, -0.3, 0.2, 0.9]);
    let v = Vector::from_vec(vec![0.1, -0.4, 0.6]);
    mixed_gradcheck(0.7, &m, &v).assert_within(1e-6);
}

#[test]
fn a_recurrent_loss_through_the_cell_is_backpropagation_through_time() {
    let p = cell(3, 2);
    let xs = Matrix::from_vec(4, 2, (0..8).map(|i| pseudo(i, 9)).collect());
    let (loss, (dw, du, db)) = rnn_loss_grad(&xs, &p.h, &p.c, &p.w, &p.u, &p.b);
    // By hand: the cell forward, then its generated pullback backwards through time.
    let mut states = vec![(p.h.clone(), p.c.clone())];
    for t in 0..4 {
        let (h, c) = &states[t];
        states.push(lstm_cell(&xs.row(t), h, c, &p.w, &p.u, &p.b));
    }
    let (h_last, c_last) = &states[4];
    assert!((loss - (h_last.sum() + 0.5 * c_last.dot(c_last))).abs() < 1e-12);
    let mut dh = Vector::from_vec(vec![1.0; 3]);
    let mut dc = c_last.clone();
    let (mut gw, mut gu, mut gb) = (
        Matrix::zeros(12, 2),
        Matrix::zeros(12, 3),
        Vector::zeros(12),
    );
    for t in (0..4).rev() {
        let (h, c) = &states[t];
        let (_, (_, dh_prev, dc_prev, dw_t, du_t, db_t)) =
            lstm_cell_vjp(&xs.row(t), h, c, &p.w, &p.u, &p.b, (&dh, &dc));
        gw = &gw + &dw_t;
        gu = &gu + &du_t;
        gb = &gb + &db_t;
        dh = dh_prev;
        dc = dc_prev;
    }
    assert_close(dw.as_slice(), gw.as_slice(), 1e-12, "dw");
    assert_close(du.as_slice(), gu.as_slice(), 1e-12, "du");
    assert_close(db.as_slice(), gb.as_slice(), 1e-12, "db");
    rnn_loss_gradcheck(&xs, &p.h, &p.c, &p.w, &p.u, &p.b).assert_within(1e-6);
    // Second order through the cell's calls: the Hessian is symmetric and matches the
    // gradient's differences along one direction.
    let hessian = rnn_loss_hessian(&xs, &p.h, &p.c, &p.w, &p.u, &p.b);
    let k = 24 + 36 + 12;
    assert_eq!(hessian.shape(), (k, k));
    for i in 0..k {
        for j in 0..i {
            assert!((hessian[(i, j)] - hessian[(j, i)]).abs() < 1e-9);
        }
    }
    let eps = 1e-6;
    let mut bp = p.b.clone();
    bp[5] += eps;
    let mut bm = p.b.clone();
    bm[5] -= eps;
    let (_, (_, _, gbp)) = rnn_loss_grad(&xs, &p.h, &p.c, &p.w, &p.u, &bp);
    let (_, (_, _, gbm)) = rnn_loss_grad(&xs, &p.h, &p.c, &p.w, &p.u, &bm);
    for j in 0..12 {
        let fd = (gbp[j] - gbm[j]) / (2.0 * eps);
        assert!((hessian[(24 + 36 + j, 24 + 36 + 5)] - fd).abs() < 1e-6);
    }
}

#[test]
fn callers_reading_parts_equal_the_inline_function() {
    let m = Matrix::from_vec(2, 2, vec![0.5, -0.3, 0.2, 0.9]);
    let v = Vector::from_vec(vec![0.1, -0.4, 0.6]);
    let (value, (da, dm, dv)) = uses_parts_grad(0.7, &m, &v);
    let (value_i, (da_i, dm_i, dv_i)) = uses_parts_inline_grad(0.7, &m, &v);
    assert!((value - value_i).abs() < 1e-12);
    assert!((da - da_i).abs() < 1e-12);
    assert_close(dm.as_slice(), dm_i.as_slice(), 1e-12, "dm");
    assert_close(dv.as_slice(), dv_i.as_slice(), 1e-12, "dv");
    let h = uses_parts_hessian(0.7, &m, &v);
    let h_i = uses_parts_inline_hessian(0.7, &m, &v);
    assert_close(h.as_slice(), h_i.as_slice(), 1e-10, "Hessian");
    let t = (
        0.3,
        Matrix::from_vec(2, 2, vec![1.0, 0.5, -0.5, 0.2]),
        Vector::from_vec(vec![0.2, 0.1, -0.3]),
    );
    let (_, dt) = uses_parts_jvp(0.7, &m, &v, t.0, &t.1, &t.2);
    let (_, dt_i) = uses_parts_inline_jvp(0.7, &m, &v, t.0, &t.1, &t.2);
    assert!((dt - dt_i).abs() < 1e-12);
}

#[test]
fn f32_tuples_work_too() {
    let x = Vector::from_vec(vec![0.2f32, -0.5, 0.9]);
    let dy = Vector::from_vec(vec![1.0f32, 0.5, -2.0]);
    let ((y, energy), (dx, dk)) = gated_f32_vjp(&x, 1.5, (&dy, 0.75));
    assert_eq!((y.clone(), energy), gated_f32(&x, 1.5));
    // y = tanh(kx), e = y·y: dpre = (dy + 2·de·y) ⊙ (1 − y²); dx = k·dpre, dk = x·dpre.
    let pre: Vec<f32> = (0..3)
        .map(|j| (dy[j] + 2.0 * 0.75 * y[j]) * (1.0 - y[j] * y[j]))
        .collect();
    for j in 0..3 {
        assert!((dx[j] - 1.5 * pre[j]).abs() < 1e-5);
    }
    let dk_hand: f32 = (0..3).map(|j| x[j] * pre[j]).sum();
    assert!((dk - dk_hand).abs() < 1e-5);
    gated_f32_gradcheck(&x, 1.5).assert_within(1e-2);
}

/// A tuple result of a function generic over its float.
#[differentiable]
fn squashed<T: Float>(x: &Vector<T>, k: T) -> (Vector<T>, T) {
    let y = (x * k).tanh();
    let energy = y.dot(&y);
    (y, energy)
}

#[test]
fn a_generic_function_returns_tuples_in_both_floats() {
    let x = Vector::from_vec(vec![0.2f32, -0.5, 0.9]);
    let dy = Vector::from_vec(vec![1.0f32, 0.5, -2.0]);
    assert_eq!(
        squashed_vjp(&x, 1.5f32, (&dy, 0.75)),
        gated_f32_vjp(&x, 1.5, (&dy, 0.75))
    );
    let x64: Vector<f64> = Vector::from_vec(vec![0.2, -0.5, 0.9]);
    let ((y, energy), (dy_t, de_t)): ((Vector<f64>, f64), (Vector<f64>, f64)) =
        squashed_jvp(&x64, 1.5, &x64, 0.5);
    assert!((energy - y.dot(&y)).abs() < 1e-15);
    // de = 2·y·dy along the same direction.
    assert!((de_t - 2.0 * y.dot(&dy_t)).abs() < 1e-12);
    squashed_gradcheck(&x64, 1.5).assert_within(1e-6);
}

#[derive(Differentiable, Clone, Debug, PartialEq)]
struct Affine {
    w: Matrix<f64>,
    b: Vector<f64>,
}

/// A parameter struct and a tuple result.
#[differentiable(wrt(p))]
fn affine_parts(p: &Affine, x: &Vector<f64>) -> (Vector<f64>, f64) {
    let y = p.w.matmul(x) + &p.b;
    (y.tanh(), y.sum())
}

#[test]
fn a_struct_parameter_with_a_tuple_result() {
    let p = Affine {
        w: Matrix::from_vec(2, 2, vec![0.5, -0.2, 0.3, 0.8]),
        b: Vector::from_vec(vec![0.1, -0.3]),
    };
    let x = Vector::from_vec(vec![0.4, -0.7]);
    let dy = Vector::from_vec(vec![1.0, -0.5]);
    let ((t, s), g) = affine_parts_vjp(&p, &x, (&dy, 2.0));
    // dpre = dy ⊙ (1 − t²) + 2; dw = dpre·xᵀ, db = dpre.
    let dpre: Vec<f64> = (0..2).map(|j| dy[j] * (1.0 - t[j] * t[j]) + 2.0).collect();
    assert!((s - (p.w.matmul(&x) + &p.b).sum()).abs() < 1e-15);
    assert_close(g.b.as_slice(), &dpre, 1e-12, "db");
    let dw: Vec<f64> = (0..4).map(|e| dpre[e / 2] * x[e % 2]).collect();
    assert_close(g.w.as_slice(), &dw, 1e-12, "dw");
    let jacobian = affine_parts_jacobian(&p, &x);
    assert_eq!(jacobian.shape(), (3, 6));
    affine_parts_gradcheck(&p, &x).assert_within(1e-6);
}

/// A tuple written out and taken apart at once (formerly rejected).
#[differentiable]
fn sum_of_squares(x: f64, y: f64) -> f64 {
    let (a, b) = (x * x, y * y);
    a + b
}

#[test]
fn a_tuple_taken_apart_where_it_is_made() {
    assert_eq!(sum_of_squares_grad(3.0, -2.0), (13.0, (6.0, -4.0)));
}
