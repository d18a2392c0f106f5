//! Runtime tensor tests against hand-computed numbers and naive reference loops.
// The interpreter and the tensors it runs on are the runtime feature.
#![cfg(feature = "runtime")]

use autodiff_core::kernels::{self, UnaryFn};
use autodiff_core::tensor::Elementwise;
use autodiff_core::{Matrix, Real, ScalarExt, Vector};

fn m64<const C: usize>(rows: &[[f64; C]]) -> Matrix<f64> {
    Matrix::from_rows(rows)
}

fn v64(data: &[f64]) -> Vector<f64> {
    Vector::from_vec(data.to_vec())
}

#[track_caller]
fn assert_close<T: Real>(got: &[T], want: &[f64], tol: f64) {
    assert_eq!(got.len(), want.len(), "lengths differ: {got:?} vs {want:?}");
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        assert!(
            (g.to_f64() - w).abs() <= tol * (1.0 + w.abs()),
            "element {i}: got {g}, want {w}"
        );
    }
}

/// Naive triple loop over element accessors, the reference for every GEMM variant.
fn naive(
    a: impl Fn(usize, usize) -> f64,
    b: impl Fn(usize, usize) -> f64,
    m: usize,
    k: usize,
    n: usize,
) -> Matrix<f64> {
    Matrix::from_fn(m, n, |i, j| (0..k).map(|p| a(i, p) * b(p, j)).sum())
}

/// A deterministic non-trivial test matrix.
fn sample(rows: usize, cols: usize, seed: usize) -> Matrix<f64> {
    Matrix::from_fn(rows, cols, |i, j| {
        ((i * 31 + j * 17 + seed * 7) % 23) as f64 / 7.0 - 1.5
    })
}

// ---------------------------------------------------------------- broadcasting

#[test]
fn broadcast_row_vector_in_both_orders() {
    let a = m64(&[[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]);
    let r = m64(&[[10.0, 20.0, 30.0]]);
    assert_eq!(&a + &r, m64(&[[11.0, 22.0, 33.0], [14.0, 25.0, 36.0]]));
    assert_eq!(&r + &a, m64(&[[11.0, 22.0, 33.0], [14.0, 25.0, 36.0]]));
    assert_eq!(&a - &r, m64(&[[-9.0, -18.0, -27.0], [-6.0, -15.0, -24.0]]));
    assert_eq!(&r - &a, m64(&[[9.0, 18.0, 27.0], [6.0, 15.0, 24.0]]));
    assert_eq!(&r / &a, m64(&[[10.0, 10.0, 10.0], [2.5, 4.0, 5.0]]));
}

#[test]
fn broadcast_column_vector_in_both_orders() {
    let a = m64(&[[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]);
    let c = m64(&[[10.0], [100.0]]);
    assert_eq!(&a * &c, m64(&[[10.0, 20.0, 30.0], [400.0, 500.0, 600.0]]));
    assert_eq!(&c * &a, m64(&[[10.0, 20.0, 30.0], [400.0, 500.0, 600.0]]));
    assert_eq!(&a - &c, m64(&[[-9.0, -8.0, -7.0], [-96.0, -95.0, -94.0]]));
    assert_eq!(&c - &a, m64(&[[9.0, 8.0, 7.0], [96.0, 95.0, 94.0]]));
    assert_eq!(&a / &c, m64(&[[0.1, 0.2, 0.3], [0.04, 0.05, 0.06]]));
}

#[test]
fn broadcast_one_by_one_and_outer_style() {
    let a = m64(&[[1.0, 2.0], [3.0, 4.0]]);
    let s = m64(&[[2.0]]);
    assert_eq!(&a - &s, m64(&[[-1.0, 0.0], [1.0, 2.0]]));
    assert_eq!(&s - &a, m64(&[[1.0, 0.0], [-1.0, -2.0]]));
    // r×1 with 1×c → r×c, in both orders.
    let col = m64(&[[1.0], [2.0], [3.0]]);
    let row = m64(&[[10.0, 20.0]]);
    assert_eq!(
        &col + &row,
        m64(&[[11.0, 21.0], [12.0, 22.0], [13.0, 23.0]])
    );
    assert_eq!(&row - &col, m64(&[[9.0, 19.0], [8.0, 18.0], [7.0, 17.0]]));
    assert_eq!(
        col.clone() * row.clone(),
        m64(&[[10.0, 20.0], [20.0, 40.0], [30.0, 60.0]])
    );
}

/// Every owned/borrowed combination of every operator, against the same hand-computed result.
macro_rules! check_all_combos {
    ($a:expr, $b:expr, $op:tt, $want:expr) => {{
        let (a, b, want) = ($a, $b, $want);
        assert_eq!(&a $op &b, want, "&a {} &b", stringify!($op));
        assert_eq!(a.clone() $op &b, want, "a {} &b", stringify!($op));
        assert_eq!(&a $op b.clone(), want, "&a {} b", stringify!($op));
        assert_eq!(a.clone() $op b.clone(), want, "a {} b", stringify!($op));
    }};
}

#[test]
fn all_operand_combinations_agree_for_matrices() {
    let a = m64(&[[1.0, 2.0], [3.0, 4.0]]);
    let b = m64(&[[4.0, 8.0], [6.0, 16.0]]);
    let row = m64(&[[2.0, 4.0]]);
    check_all_combos!(a.clone(), b.clone(), +, m64(&[[5.0, 10.0], [9.0, 20.0]]));
    check_all_combos!(a.clone(), b.clone(), -, m64(&[[-3.0, -6.0], [-3.0, -12.0]]));
    check_all_combos!(a.clone(), b.clone(), *, m64(&[[4.0, 16.0], [18.0, 64.0]]));
    check_all_combos!(b.clone(), a.clone(), /, m64(&[[4.0, 4.0], [2.0, 4.0]]));
    check_all_combos!(a.clone(), row.clone(), /, m64(&[[0.5, 0.5], [1.5, 1.0]]));
    check_all_combos!(row.clone(), a.clone(), /, m64(&[[2.0, 2.0], [2.0 / 3.0, 1.0]]));
}

#[test]
fn all_operand_combinations_agree_for_vectors() {
    let u = v64(&[1.0, 2.0, 3.0]);
    let v = v64(&[4.0, 5.0, 6.0]);
    check_all_combos!(u.clone(), v.clone(), +, v64(&[5.0, 7.0, 9.0]));
    check_all_combos!(u.clone(), v.clone(), -, v64(&[-3.0, -3.0, -3.0]));
    check_all_combos!(u.clone(), v.clone(), *, v64(&[4.0, 10.0, 18.0]));
    check_all_combos!(v.clone(), u.clone(), /, v64(&[4.0, 2.5, 2.0]));
}

#[test]
fn scalar_on_either_side_f32_and_f64() {
    let m = m64(&[[1.0, 2.0], [4.0, 8.0]]);
    assert_eq!(2.0 * &m, m64(&[[2.0, 4.0], [8.0, 16.0]]));
    assert_eq!(&m * 2.0, m64(&[[2.0, 4.0], [8.0, 16.0]]));
    assert_eq!(8.0 / m.clone(), m64(&[[8.0, 4.0], [2.0, 1.0]]));
    assert_eq!(m.clone() - 1.0, m64(&[[0.0, 1.0], [3.0, 7.0]]));
    assert_eq!(1.0 - &m, m64(&[[0.0, -1.0], [-3.0, -7.0]]));
    assert_eq!(&m + 0.5, m64(&[[1.5, 2.5], [4.5, 8.5]]));

    let mf: Matrix<f32> = Matrix::from_rows(&[[1.0, 2.0], [4.0, 8.0]]);
    assert_eq!(2.0 * &mf, Matrix::from_rows(&[[2.0f32, 4.0], [8.0, 16.0]]));
    assert_eq!(8.0 / &mf, Matrix::from_rows(&[[8.0f32, 4.0], [2.0, 1.0]]));
    assert_eq!(
        3.0 + mf.clone(),
        Matrix::from_rows(&[[4.0f32, 5.0], [7.0, 11.0]])
    );

    let vf = Vector::from_vec(vec![1.0f32, -2.0]);
    assert_eq!((2.0 * &vf).as_slice(), &[2.0, -4.0]);
    assert_eq!((1.0 - vf.clone()).as_slice(), &[0.0, 3.0]);
    assert_eq!((&vf / 2.0).as_slice(), &[0.5, -1.0]);
    assert_eq!((2.0f64 * &v64(&[1.5])).as_slice(), &[3.0]);
}

#[test]
fn unary_minus_and_op_assign() {
    let m = m64(&[[1.0, -2.0]]);
    assert_eq!(-&m, m64(&[[-1.0, 2.0]]));
    assert_eq!(-m.clone(), m64(&[[-1.0, 2.0]]));
    assert_eq!((-v64(&[3.0])).as_slice(), &[-3.0]);

    let mut acc = m64(&[[1.0, 2.0], [3.0, 4.0]]);
    acc += &m64(&[[1.0, 1.0], [1.0, 1.0]]);
    acc += m64(&[[10.0, 20.0]]);
    acc -= &m64(&[[1.0], [2.0]]);
    acc *= 2.0;
    assert_eq!(acc, m64(&[[22.0, 44.0], [24.0, 46.0]]));
    let mut v = v64(&[1.0, 2.0]);
    v += &v64(&[0.5, 0.5]);
    v /= 0.5;
    assert_eq!(v.as_slice(), &[3.0, 5.0]);
}

#[test]
#[should_panic(expected = "autodiff: shape mismatch in `add`: left is 2×3, right is 3×2")]
fn add_shape_mismatch_panics() {
    let _ = Matrix::<f64>::zeros(2, 3) + Matrix::zeros(3, 2);
}

#[test]
#[should_panic(expected = "autodiff: shape mismatch in `mul`: left is 2×3, right is 2×2")]
fn broadcast_needs_a_one_on_the_axis() {
    let _ = &Matrix::<f32>::zeros(2, 3) * &Matrix::zeros(2, 2);
}

#[test]
#[should_panic(
    expected = "autodiff: shape mismatch in `sub`: left is vector of 3, right is vector of 2"
)]
fn vector_length_mismatch_panics() {
    let _ = &Vector::<f64>::zeros(3) - &Vector::zeros(2);
}

#[test]
#[should_panic(expected = "autodiff: shape mismatch in `add_assign`: left is 1×3, right is 2×3")]
fn op_assign_cannot_grow_the_left_side() {
    let mut a = Matrix::<f64>::zeros(1, 3);
    a += &Matrix::zeros(2, 3);
}

// ---------------------------------------------------------------- elementwise and reductions

#[test]
fn elementwise_methods() {
    let x = v64(&[1.0, -4.0, 0.0]);
    assert_eq!(x.abs().as_slice(), &[1.0, 4.0, 0.0]);
    assert_eq!(x.relu().as_slice(), &[1.0, 0.0, 0.0]);
    assert_eq!(x.powi(3).as_slice(), &[1.0, -64.0, 0.0]);
    assert_close(
        x.exp().as_slice(),
        &[std::f64::consts::E, (-4.0f64).exp(), 1.0],
        1e-15,
    );
    assert_close(
        x.sigmoid().as_slice(),
        &[0.731_058_578_630_004_9, 0.017_986_209_962_091_56, 0.5],
        1e-15,
    );
    assert_close(
        x.tanh().as_slice(),
        &[0.761_594_155_955_764_9, -0.999_329_299_739_067, 0.0],
        1e-15,
    );
    assert_close(
        x.sin().as_slice(),
        &[0.841_470_984_807_896_5, 0.756_802_495_307_928_2, 0.0],
        1e-15,
    );
    assert_close(
        x.cos().as_slice(),
        &[0.540_302_305_868_139_8, -0.653_643_620_863_611_9, 1.0],
        1e-15,
    );
    let p = m64(&[[4.0, 1.0], [std::f64::consts::E, 0.25]]);
    assert_close(
        p.sqrt().as_slice(),
        &[2.0, 1.0, 1.648_721_270_700_128_1, 0.5],
        1e-15,
    );
    assert_close(
        p.ln().as_slice(),
        &[4.0f64.ln(), 0.0, 1.0, -4.0f64.ln()],
        1e-15,
    );
}

#[test]
fn sigmoid_is_finite_at_800() {
    let x = Vector::from_vec(vec![800.0f32, -800.0]);
    assert_eq!(x.sigmoid().as_slice(), &[1.0, 0.0]);
    let y = m64(&[[800.0, -800.0]]).sigmoid();
    assert_eq!(y.as_slice(), &[1.0, 0.0]);
    assert_eq!((-800.0f64).sigmoid(), 0.0);
    assert_eq!(3.0f32.relu(), 3.0);
}

#[test]
fn sums_and_means() {
    let m = m64(&[[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]);
    assert_eq!(m.sum(), 21.0);
    assert_eq!(m.mean(), 3.5);
    assert_eq!(m.sum_axis(0), m64(&[[5.0, 7.0, 9.0]]));
    assert_eq!(m.sum_axis(1), m64(&[[6.0], [15.0]]));
    let v = Vector::from_vec((1..=100).map(|i| i as f32).collect());
    assert_eq!(v.sum(), 5050.0);
    assert_eq!(v.mean(), 50.5);
    assert_eq!(v64(&[1.0, 2.0, 3.0]).dot(&v64(&[4.0, -5.0, 6.0])), 12.0);
}

#[test]
fn transpose_copy() {
    let m = m64(&[[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]);
    assert_eq!(m.t(), m64(&[[1.0, 4.0], [2.0, 5.0], [3.0, 6.0]]));
    assert_eq!(m.t().t(), m);
}

// ---------------------------------------------------------------- matrix products

/// Shapes (m, k, n) covering 1×n, n×1, k = 1, non-square, and sizes past the GEMM block sizes.
const SHAPES: [(usize, usize, usize); 9] = [
    (1, 1, 1),
    (1, 5, 7),
    (6, 5, 1),
    (4, 1, 3),
    (2, 3, 4),
    (7, 2, 9),
    (33, 17, 65),
    (1, 64, 1),
    (70, 129, 31),
];

#[test]
fn matmul_matches_naive() {
    for (s, &(m, k, n)) in SHAPES.iter().enumerate() {
        let (a, b) = (sample(m, k, s), sample(k, n, s + 1));
        let want = naive(|i, p| a[(i, p)], |p, j| b[(p, j)], m, k, n);
        assert_close(a.matmul(&b).as_slice(), want.as_slice(), 1e-12);
        let (af, bf) = (to_f32(&a), to_f32(&b));
        assert_close(af.matmul(&bf).as_slice(), want.as_slice(), 1e-4);
    }
}

#[test]
fn transposed_variants_match_naive() {
    for (s, &(m, k, n)) in SHAPES.iter().enumerate() {
        // t_matmul: a is k×m; matmul_t: b is n×k; t_matmul_t: both.
        let (at, bt) = (sample(k, m, s), sample(n, k, s + 2));
        let (a, b) = (sample(m, k, s + 3), sample(k, n, s + 4));
        let want = naive(|i, p| at[(p, i)], |p, j| b[(p, j)], m, k, n);
        assert_close(at.t_matmul(&b).as_slice(), want.as_slice(), 1e-12);
        assert_close(
            to_f32(&at).t_matmul(&to_f32(&b)).as_slice(),
            want.as_slice(),
            1e-4,
        );
        let want = naive(|i, p| a[(i, p)], |p, j| bt[(j, p)], m, k, n);
        assert_close(a.matmul_t(&bt).as_slice(), want.as_slice(), 1e-12);
        assert_close(
            to_f32(&a).matmul_t(&to_f32(&bt)).as_slice(),
            want.as_slice(),
            1e-4,
        );
        let want = naive(|i, p| at[(p, i)], |p, j| bt[(j, p)], m, k, n);
        assert_close(at.t_matmul_t(&bt).as_slice(), want.as_slice(), 1e-12);
        assert_close(
            to_f32(&at).t_matmul_t(&to_f32(&bt)).as_slice(),
            want.as_slice(),
            1e-4,
        );
    }
}

#[test]
fn matrix_vector_products() {
    let a = m64(&[[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]);
    assert_eq!(a.matmul(&v64(&[1.0, 0.0, -1.0])).as_slice(), &[-2.0, -2.0]);
    assert_eq!(a.t_matmul(&v64(&[1.0, 2.0])).as_slice(), &[9.0, 12.0, 15.0]);
    let big = sample(40, 19, 3);
    let x = Vector::from_fn(19, |i| i as f64 - 9.0);
    let want = naive(|i, p| big[(i, p)], |p, _| x[p], 40, 19, 1);
    assert_close(big.matmul(&x).as_slice(), want.as_slice(), 1e-12);
    let y = Vector::from_fn(40, |i| 0.5 * i as f64);
    let want = naive(|i, p| big[(p, i)], |p, _| y[p], 19, 40, 1);
    assert_close(big.t_matmul(&y).as_slice(), want.as_slice(), 1e-12);
    assert_eq!(
        Matrix::<f32>::zeros(3, 0)
            .matmul(&Vector::zeros(0))
            .as_slice(),
        &[0.0; 3]
    );
}

#[test]
fn matmul_accepts_owned_and_borrowed_rhs() {
    let x = m64(&[[1.0, 2.0]]);
    let w = m64(&[[3.0], [4.0]]);
    let w_ref: &Matrix<f64> = &w;
    assert_eq!(x.matmul(w_ref), m64(&[[11.0]]));
    assert_eq!(x.matmul(&w), m64(&[[11.0]]));
    #[allow(clippy::needless_borrow)]
    let through_double_ref = x.matmul(&w_ref);
    assert_eq!(through_double_ref, m64(&[[11.0]]));
}

#[test]
fn outer_product() {
    let u = Vector::from_vec(vec![1.0f32, 2.0]);
    let v = Vector::from_vec(vec![3.0f32, 4.0, 5.0]);
    assert_eq!(
        u.outer(&v),
        Matrix::from_rows(&[[3.0, 4.0, 5.0], [6.0, 8.0, 10.0]])
    );
}

#[test]
fn empty_inner_dimension_gives_zeros() {
    let c = Matrix::<f64>::zeros(3, 0).matmul(&Matrix::zeros(0, 2));
    assert_eq!(c, Matrix::zeros(3, 2));
    assert_eq!(
        Matrix::<f32>::zeros(0, 4).t_matmul(&Matrix::zeros(0, 2)),
        Matrix::zeros(4, 2)
    );
}

#[test]
#[should_panic(expected = "autodiff: shape mismatch in `matmul`: left is 2×3, right is 4×5")]
fn matmul_shape_mismatch_panics() {
    let _ = Matrix::<f64>::zeros(2, 3).matmul(&Matrix::zeros(4, 5));
}

#[test]
#[should_panic(
    expected = "autodiff: shape mismatch in `matmul`: left is 2×3, right is vector of 4"
)]
fn matvec_shape_mismatch_panics() {
    let _ = Matrix::<f32>::zeros(2, 3).matmul(&Vector::zeros(4));
}

#[test]
#[should_panic(expected = "autodiff: shape mismatch in `t_matmul`: left is 2×3, right is 3×2")]
fn t_matmul_shape_mismatch_panics() {
    let _ = Matrix::<f64>::zeros(2, 3).t_matmul(&Matrix::zeros(3, 2));
}

#[test]
#[should_panic(expected = "autodiff: shape mismatch in `matmul_t`: left is 2×3, right is 3×2")]
fn matmul_t_shape_mismatch_panics() {
    let _ = Matrix::<f64>::zeros(2, 3).matmul_t(&Matrix::zeros(3, 2));
}

#[test]
#[should_panic(expected = "autodiff: shape mismatch in `t_matmul_t`: left is 2×3, right is 3×3")]
fn t_matmul_t_shape_mismatch_panics() {
    let _ = Matrix::<f64>::zeros(2, 3).t_matmul_t(&Matrix::zeros(3, 3));
}

fn to_f32(m: &Matrix<f64>) -> Matrix<f32> {
    Matrix::from_vec(
        m.rows(),
        m.cols(),
        m.as_slice().iter().map(|&x| x as f32).collect(),
    )
}

// ---------------------------------------------------------------- softmax

#[test]
fn softmax_rows_by_hand() {
    // softmax([0, ln 3]) = [1/4, 3/4]; softmax of equal entries is uniform.
    let ln3 = 3.0f64.ln();
    let m = m64(&[[0.0, ln3], [5.0, 5.0]]);
    assert_close(m.softmax().as_slice(), &[0.25, 0.75, 0.5, 0.5], 1e-15);
    assert_close(
        m.log_softmax().as_slice(),
        &[
            -(4.0f64.ln()),
            (0.75f64).ln(),
            -(2.0f64.ln()),
            -(2.0f64.ln()),
        ],
        1e-15,
    );
    let v = Vector::from_vec(vec![0.0f32, ln3 as f32]);
    assert_close(v.softmax().as_slice(), &[0.25, 0.75], 1e-6);
}

#[test]
fn softmax_is_stable_at_plus_minus_1e3() {
    let m = Matrix::from_rows(&[[1e3f32, -1e3, 0.0], [1e3, 1e3, 1e3], [-1e3, -1e3, -999.0]]);
    let y = m.softmax();
    let l = m.log_softmax();
    assert!(y
        .as_slice()
        .iter()
        .chain(l.as_slice())
        .all(|x| x.is_finite()));
    for s in y.sum_axis(1).as_slice() {
        assert!((s - 1.0).abs() < 1e-6);
    }
    assert_close(y.row(0).as_slice(), &[1.0, 0.0, 0.0], 1e-6);
    assert_close(l.row(0).as_slice(), &[0.0, -2e3, -1e3], 1e-6);
    assert_close(l.row(1).as_slice(), &[-(3.0f64.ln()); 3], 1e-6);
    let v = Vector::from_vec(vec![1e3f64, -1e3]);
    assert_eq!(v.softmax().as_slice(), &[1.0, 0.0]);
    assert_eq!(v.log_softmax().as_slice(), &[0.0, -2e3]);
}

// ---------------------------------------------------------------- kernels

/// Runs a kernel check for f32 and f64 with the same hand-computed expectation.
macro_rules! for_both_floats {
    (|$T:ident| $body:block) => {{
        {
            type $T = f32;
            $body
        }
        {
            type $T = f64;
            $body
        }
    }};
}

fn vec_of<T: Real>(data: &[f64]) -> Vector<T> {
    Vector::from_vec(data.iter().map(|&x| T::from_f64(x)).collect())
}

#[test]
fn elementwise_kernels_by_hand() {
    for_both_floats!(|F| {
        let tol = if std::mem::size_of::<F>() == 4 {
            1e-6
        } else {
            1e-14
        };
        let dy = vec_of::<F>(&[2.0, 3.0, -1.0]);
        let x = vec_of::<F>(&[1.5, -0.5, 0.0]);
        assert_close(
            kernels::unary_grad(&dy, &x, UnaryFn::Relu).as_slice(),
            &[2.0, 0.0, 0.0],
            0.0,
        );
        assert_close(
            kernels::unary_grad(&dy, &x, UnaryFn::Abs).as_slice(),
            &[2.0, -3.0, 0.0],
            0.0,
        );
        // From the input: σ(0)·σ(0) = 1/4, σ(ln 3)·σ(−ln 3) = 3/4·1/4, and at 40, where σ
        // rounds to 1, still the tiny σ(40)·σ(−40) rather than 0.
        let x3 = vec_of::<F>(&[0.0, 3.0f64.ln(), 40.0]);
        let slopes = kernels::unary_grad(&dy, &x3, UnaryFn::Sigmoid);
        assert_close(&slopes.as_slice()[..2], &[0.5, 0.5625], tol);
        // dy = −1 there: a tiny negative slope, not a rounded-away zero.
        assert!(slopes[2] < 0.0 && slopes[2] > -1e-15);
        let t = vec_of::<F>(&[0.5, -0.5, 1.0]);
        assert_close(
            kernels::unary_grad(&dy, &t, UnaryFn::Tanh).as_slice(),
            &[1.5, 2.25, 0.0],
            tol,
        );
        let y = vec_of::<F>(&[4.0, 0.5, 2.0]);
        assert_close(
            kernels::unary_grad(&dy, &y, UnaryFn::Exp).as_slice(),
            &[8.0, 1.5, -2.0],
            tol,
        );
        assert_close(
            kernels::unary_grad(&dy, &y, UnaryFn::Ln).as_slice(),
            &[0.5, 6.0, -0.5],
            tol,
        );
        assert_close(
            kernels::unary_grad(&dy, &y, UnaryFn::Sqrt).as_slice(),
            &[0.25, 3.0, -0.25],
            tol,
        );
        // d/dx x³ = 3x²: at 4 → 48, at 0.5 → 0.75, at 2 → 12.
        assert_close(
            kernels::powi_grad(&dy, &y, 3).as_slice(),
            &[96.0, 2.25, -12.0],
            tol,
        );
        // d/dx x⁻¹ = −x⁻²: at 4 → −1/16, at 0.5 → −4, at 2 → −1/4.
        assert_close(
            kernels::powi_grad(&dy, &y, -1).as_slice(),
            &[-0.125, -12.0, 0.25],
            tol,
        );
        assert_close(kernels::powi_grad(&dy, &y, 0).as_slice(), &[0.0; 3], 0.0);
        let z = vec_of::<F>(&[0.0, std::f64::consts::FRAC_PI_2, std::f64::consts::PI]);
        assert_close(
            kernels::unary_grad(&dy, &z, UnaryFn::Sin).as_slice(),
            &[2.0, 0.0, 1.0],
            tol,
        );
        assert_close(
            kernels::unary_grad(&dy, &z, UnaryFn::Cos).as_slice(),
            &[0.0, -3.0, 0.0],
            tol,
        );
    });
}

/// The sigmoid pullback's slope against σ(x)·σ(−x) evaluated in f64 from the closed form
/// σ(x) = 1/(1 + e^(−x)): a few ulps everywhere, the same at −x bit for bit, and out where σ
/// rounds to 1 the tiny true slope, not 0.
#[test]
fn sigmoid_slope_matches_the_two_sigmoid_product_everywhere() {
    fn reference(x: f64) -> f64 {
        let s = |t: f64| 1.0 / (1.0 + (-t).exp());
        s(x) * s(-x)
    }
    for_both_floats!(|F| {
        let ulp = F::EPSILON.to_f64();
        // Underflows to 0 past ~104 (f32) and ~745 (f64); stop before the subnormals.
        let far = if std::mem::size_of::<F>() == 4 {
            80.0
        } else {
            700.0
        };
        let points: Vec<f64> = (0..=400)
            .map(|i| -far + 2.0 * far * i as f64 / 400.0)
            .collect();
        let xs = vec_of::<F>(&points);
        let ones = kernels::fill(1.0 as F, &xs);
        let slopes = kernels::unary_grad(&ones, &xs, UnaryFn::Sigmoid);
        let mirrored = kernels::unary_grad(&ones, &-&xs, UnaryFn::Sigmoid);
        for (i, &x) in xs.as_slice().iter().enumerate() {
            let (got, want) = (slopes[i].to_f64(), reference(x.to_f64()));
            assert!(
                (got - want).abs() <= 4.0 * ulp * want,
                "x = {x}: slope {got}, σ(x)σ(−x) = {want}"
            );
            assert_eq!(slopes[i], mirrored[i], "even at x = {x}");
        }
        let big: F = F::from_f64(far);
        assert!(kernels::unary_grad(&(1.0 as F), &big, UnaryFn::Sigmoid) > 0.0);
    });
}

#[test]
fn kernels_on_scalars_and_matrices() {
    for_both_floats!(|F| {
        let (dy, x): (F, F) = (2.0, -3.0);
        assert_eq!(kernels::unary_grad(&dy, &x, UnaryFn::Relu), 0.0);
        assert_eq!(kernels::unary_grad(&dy, &x, UnaryFn::Abs), -2.0);
        assert_eq!(kernels::unary_grad(&dy, &x, UnaryFn::Exp), -6.0);
        assert_eq!(kernels::powi_grad(&dy, &x, 2), -12.0);
        assert_eq!(kernels::fill(7.0, &x), 7.0);
        let dm: Matrix<F> = Matrix::from_rows(&[[1.0, 2.0], [3.0, 4.0]]);
        let xm: Matrix<F> = Matrix::from_rows(&[[1.0, -1.0], [0.0, 2.0]]);
        assert_eq!(
            kernels::unary_grad(&dm, &xm, UnaryFn::Relu),
            Matrix::from_rows(&[[1.0, 0.0], [0.0, 4.0]])
        );
        assert_eq!(
            kernels::fill(0.5, &xm),
            Matrix::from_rows(&[[0.5, 0.5], [0.5, 0.5]])
        );
        assert_eq!(
            kernels::fill(1.0, &vec_of::<F>(&[9.0, 9.0])).as_slice(),
            &[1.0, 1.0]
        );
    });
}

#[test]
fn sum_to_and_broadcast_to_by_hand() {
    for_both_floats!(|F| {
        let dz: Matrix<F> = Matrix::from_rows(&[[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]);
        assert_eq!(kernels::sum_to(&dz, 2, 3), dz);
        assert_eq!(
            kernels::sum_to(&dz, 1, 3),
            Matrix::from_rows(&[[5.0, 7.0, 9.0]])
        );
        assert_eq!(
            kernels::sum_to(&dz, 2, 1),
            Matrix::from_rows(&[[6.0], [15.0]])
        );
        assert_eq!(kernels::sum_to(&dz, 1, 1), Matrix::from_rows(&[[21.0]]));
        let row_like: Matrix<F> = Matrix::zeros(1, 3);
        let reduced = kernels::sum_to_like(&dz, &row_like);
        assert_eq!(*reduced, Matrix::from_rows(&[[5.0, 7.0, 9.0]]));
        let full_like: Matrix<F> = Matrix::zeros(2, 3);
        // Already the operand's shape: a borrow of dz, no copy.
        let same = kernels::sum_to_like(&dz, &full_like);
        assert!(matches!(same, std::borrow::Cow::Borrowed(b) if std::ptr::eq(b, &dz)));

        let row: Matrix<F> = Matrix::from_rows(&[[1.0, 2.0]]);
        assert_eq!(
            kernels::broadcast_to(&row, 2, 2),
            Matrix::from_rows(&[[1.0, 2.0], [1.0, 2.0]])
        );
        let col: Matrix<F> = Matrix::from_rows(&[[1.0], [2.0]]);
        assert_eq!(
            kernels::broadcast_to(&col, 2, 3),
            Matrix::from_rows(&[[1.0, 1.0, 1.0], [2.0, 2.0, 2.0]])
        );
        let one: Matrix<F> = Matrix::from_rows(&[[3.0]]);
        assert_eq!(
            kernels::broadcast_to(&one, 1, 2),
            Matrix::from_rows(&[[3.0, 3.0]])
        );
    });
}

#[test]
#[should_panic(expected = "autodiff: shape mismatch in `sum_to`: left is 2×3, right is 3×1")]
fn sum_to_rejects_unrelated_shapes() {
    kernels::sum_to(&Matrix::<f64>::zeros(2, 3), 3, 1);
}

#[test]
#[should_panic(expected = "autodiff: shape mismatch in `broadcast_to`: left is 2×3, right is 1×3")]
fn broadcast_to_cannot_shrink() {
    kernels::broadcast_to(&Matrix::<f64>::zeros(2, 3), 1, 3);
}

#[test]
fn softmax_kernels_by_hand() {
    for_both_floats!(|F| {
        let tol = if std::mem::size_of::<F>() == 4 {
            1e-6
        } else {
            1e-15
        };
        // y = [1/4, 3/4], dy = [1, 0]: rowsum(dy ⊙ y) = 1/4, dx = y ⊙ (dy − 1/4) = [3/16, −3/16].
        let y = vec_of::<F>(&[0.25, 0.75]);
        let dy = vec_of::<F>(&[1.0, 0.0]);
        assert_close(
            kernels::softmax_grad(&dy, &y).as_slice(),
            &[0.1875, -0.1875],
            tol,
        );
        // log-softmax output l = ln y, dy = [1, 2]: dx = dy − y·3 = [0.25, −0.25].
        let l = vec_of::<F>(&[0.25f64.ln(), 0.75f64.ln()]);
        let dy = vec_of::<F>(&[1.0, 2.0]);
        assert_close(
            kernels::log_softmax_grad(&dy, &l).as_slice(),
            &[0.25, -0.25],
            tol,
        );
        // Matrices work row by row: the second row is uniform with dy = [1, 1] → zero gradient.
        let ym: Matrix<F> = Matrix::from_rows(&[[0.25, 0.75], [0.5, 0.5]]);
        let dym: Matrix<F> = Matrix::from_rows(&[[1.0, 0.0], [1.0, 1.0]]);
        assert_close(
            kernels::softmax_grad(&dym, &ym).as_slice(),
            &[0.1875, -0.1875, 0.0, 0.0],
            tol,
        );
        let lm = ym.ln();
        let dlm: Matrix<F> = Matrix::from_rows(&[[1.0, 2.0], [1.0, -1.0]]);
        assert_close(
            kernels::log_softmax_grad(&dlm, &lm).as_slice(),
            &[0.25, -0.25, 1.0, -1.0],
            tol,
        );
    });
}

#[test]
#[should_panic(expected = "autodiff: shape mismatch in `softmax_grad`: left is 2×2, right is 1×2")]
fn softmax_grad_checks_shapes() {
    kernels::softmax_grad(&Matrix::<f32>::zeros(2, 2), &Matrix::zeros(1, 2));
}

#[test]
#[should_panic(
    expected = "autodiff: shape mismatch in `relu_grad`: left is vector of 2, right is vector of 3"
)]
fn elementwise_kernel_checks_shapes() {
    kernels::unary_grad(&Vector::<f64>::zeros(2), &Vector::zeros(3), UnaryFn::Relu);
}

#[test]
fn elementwise_trait_zip_map3() {
    let a = v64(&[1.0, 2.0]);
    let b = v64(&[3.0, 4.0]);
    let c = v64(&[5.0, 6.0]);
    assert_eq!(
        a.zip_map3(&b, &c, "fma", |x, y, z| x * y + z).as_slice(),
        &[8.0, 14.0]
    );
    assert_eq!(a.numel(), 2);
    assert_eq!(b.sum_all(), 7.0);
}

/// The `_owned` pullback kernel writes into the upstream's buffer: same values, bit for bit, as
/// the allocating one, for every elementwise function, for matrices, vectors and scalars, and
/// the same shape check.
#[test]
fn owned_pullback_kernels_equal_the_allocating_ones() {
    let dy: Matrix<f64> = Matrix::from_vec(2, 3, vec![0.5, -1.25, 2.0, 3.5, -0.75, 1.0]);
    let x: Matrix<f64> = Matrix::from_vec(2, 3, vec![-2.0, 0.0, 0.3, 1.7, 4.0, -0.1]);
    for &f in UnaryFn::ALL {
        let expected = kernels::unary_grad(&dy, &x, f);
        let upstream = dy.clone();
        let buffer = upstream.as_slice().as_ptr();
        let result = kernels::unary_grad_owned(upstream, &x, f);
        assert_eq!(result.as_slice().len(), expected.as_slice().len(), "{f:?}");
        for (got, want) in result.as_slice().iter().zip(expected.as_slice()) {
            assert_eq!(got.to_bits(), want.to_bits(), "{f:?}");
        }
        assert_eq!(
            result.as_slice().as_ptr(),
            buffer,
            "the result reuses dy's buffer"
        );
    }
    let v = Vector::from_vec(vec![1.0f32, -2.0, 3.0]);
    let at = Vector::from_vec(vec![0.5f32, -0.5, 0.0]);
    assert_eq!(
        kernels::unary_grad_owned(v.clone(), &at, UnaryFn::Relu),
        kernels::unary_grad(&v, &at, UnaryFn::Relu)
    );
    assert_eq!(
        kernels::unary_grad_owned(2.0f64, &0.5, UnaryFn::Tanh),
        kernels::unary_grad(&2.0f64, &0.5, UnaryFn::Tanh)
    );
}

#[test]
#[should_panic(expected = "relu_grad")]
fn owned_pullback_kernels_check_shapes() {
    let dy = Matrix::from_vec(1, 2, vec![1.0f64, 2.0]);
    let x = Matrix::from_vec(2, 1, vec![1.0f64, 2.0]);
    kernels::unary_grad_owned(dy, &x, UnaryFn::Relu);
}
