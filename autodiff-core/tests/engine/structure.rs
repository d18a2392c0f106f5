//! Section 3: the structure of derived programs (matmul pullbacks, the B1 MLP, activity
//! analysis, zero gradients) and their derivation text.

use autodiff_core::symbolic::rules::arith::{BinOp, Binary};
use autodiff_core::symbolic::rules::elementwise::{Powi, Unary, UnaryFn, UnaryGrad};
use autodiff_core::symbolic::rules::linalg::MatMul;
use autodiff_core::symbolic::rules::reduce::{Fill, Sum};
use autodiff_core::symbolic::rules::softmax::LogSoftmax;
use autodiff_core::symbolic::{
    derive_forward, derive_hvp, derive_reverse, eval, reverse, Inst, Kind, Op, Program, Role, Seed,
    Value, ValueId,
};
use autodiff_core::{Matrix, Real, Vector};

use crate::support::{
    bin, count, is_matmul, is_transpose, named, param_value, push, starts_lowercase, un,
};
use crate::tables::mlp_program;

fn sorted_lines(text: &str) -> Vec<&str> {
    let mut lines: Vec<&str> = text.lines().collect();
    lines.sort_unstable();
    lines
}

#[test]
fn derivation_of_a_matrix_product() {
    let mut p = Program::new();
    let x = p.param("x", Kind::Matrix);
    let w = p.param("w", Kind::Matrix);
    let y = named(&mut p, "y", MatMul::PLAIN, &[x, w]);
    p.outputs = vec![y];
    let products = derive_reverse(&p, &[0, 1]).unwrap();
    assert_eq!(
        sorted_lines(&products.derivation),
        sorted_lines("dx = dy·wᵀ\ndw = xᵀ·dy"),
        "{}",
        products.derivation
    );
    assert_eq!(products.vjp.upstreams, ["dy"]);
    assert!(products.grad.is_none(), "a matrix result has no gradient");
    let prog = &products.vjp.program;
    assert_eq!(count(prog, is_transpose), 0);
    let adjoint_products: Vec<&Inst> = prog
        .insts
        .iter()
        .filter(|i| is_matmul(&i.op) && i.role == Role::Adjoint)
        .collect();
    assert_eq!(adjoint_products.len(), 2, "{prog:#?}");
}

#[test]
fn derivation_of_a_matrix_vector_product() {
    let mut p = Program::new();
    let a = p.param("a", Kind::Matrix);
    let x = p.param("x", Kind::Vector);
    let y = named(&mut p, "y", MatMul::PLAIN, &[a, x]);
    p.outputs = vec![y];
    let products = derive_reverse(&p, &[0, 1]).unwrap();
    assert_eq!(
        sorted_lines(&products.derivation),
        sorted_lines("da = dy·xᵀ\ndx = aᵀ·dy"),
        "{}",
        products.derivation
    );
}

#[test]
fn derivation_of_tanh_reuses_the_forward_result() {
    let mut p = Program::new();
    let x = p.param("x", Kind::Vector);
    let y = named(&mut p, "y", Unary(UnaryFn::Tanh), &[x]);
    p.outputs = vec![y];
    let products = derive_reverse(&p, &[0]).unwrap();
    assert_eq!(products.derivation, "dx = dy ⊙ (1 − y²)");
    // No tanh is recomputed in the derived program.
    let tanhs = count(&products.vjp.program, |op| {
        *op == Op::Unary(Unary(UnaryFn::Tanh))
    });
    assert_eq!(tanhs, 1);
}

#[test]
fn derivation_of_powers_writes_the_minus_sign() {
    let derive = |n: i32| {
        let mut p = Program::new();
        let x = p.param("x", Kind::Vector);
        let y = named(&mut p, "y", Powi(n), &[x]);
        p.outputs = vec![y];
        derive_reverse(&p, &[0]).unwrap().derivation
    };
    assert_eq!(derive(3), "dx = dy ⊙ (3·x²)");
    assert_eq!(derive(2), "dx = dy ⊙ (2·x)");
    // The notation writes minus as "−" (U+2212) everywhere: `−dy`, `a − b`, literals `−2`,
    // exponents `x⁻³`; the factor of a negative power too.
    assert_eq!(derive(-2), "dx = dy ⊙ (−2·x⁻³)");
}

/// `(x, first derivative, second derivative)` of a power at `x`.
type PowiPoint = (f64, f64, f64);

/// `x.powi(n)` for `n` at the ends of `i32`: its derivative `n·x^(n−1)` and second derivative
/// `n·(n−1)·x^(n−2)` at x = 2, ½, 1 and −1, worked by hand. `x^(n−1)` under- or overflows at 2
/// and ½, leaving a zero or an infinity whose sign is n's (and n·(n−1)'s, positive, for the
/// second derivative); at −1 the sign is (−1)^(n−1). `n − 1` and `n − 2` are outside `i32`
/// for `i32::MIN`, which once overflowed: a panic in debug builds, and in release
/// `x^(i32::MAX)` in place of `x^(i32::MIN − 1)` (−∞ where the derivative at 2 is −0).
fn powi_extremes() -> [(i32, [PowiPoint; 4]); 2] {
    let (min, max) = (f64::from(i32::MIN), f64::from(i32::MAX));
    let inf = f64::INFINITY;
    [
        (
            i32::MIN,
            [
                (2.0, -0.0, 0.0),
                (0.5, -inf, inf),
                (1.0, min, min * (min - 1.0)),
                (-1.0, -min, min * (min - 1.0)),
            ],
        ),
        (
            i32::MAX,
            [
                (2.0, inf, inf),
                (0.5, 0.0, 0.0),
                (1.0, max, max * (max - 1.0)),
                (-1.0, max, -max * (max - 1.0)),
            ],
        ),
    ]
}

/// `got` is `want` rounded to `T`, with the same sign even when both are zero.
#[track_caller]
fn assert_same_float<T: Real>(got: &Value<T>, want: f64, what: &str) {
    let Value::Scalar(got) = *got else {
        panic!("{what}: not a scalar: {got:?}");
    };
    let want = T::from_f64(want);
    assert!(
        got == want && got.is_sign_negative() == want.is_sign_negative(),
        "{what}: got {got:?}, want {want:?}"
    );
}

fn check_powi_extremes<T: Real>() {
    for (n, points) in powi_extremes() {
        let mut p = Program::new();
        let x = p.param("x", Kind::Scalar);
        let y = named(&mut p, "y", Powi(n), &[x]);
        p.outputs = vec![y];
        let reverse = derive_reverse(&p, &[0]).unwrap();
        let grad = reverse
            .grad
            .expect("a scalar result has a gradient program");
        let jvp = derive_forward(&p, &[0]).unwrap().jvp.program;
        let hvp = derive_hvp(&p, &[0]).unwrap().program;
        for (x, slope, curvature) in points {
            let at = Value::Scalar(T::from_f64(x));
            let one = Value::Scalar(T::one());
            let what = |mode: &str| format!("{mode} of x^{n} at {x}");
            assert_same_float(
                &eval(&grad, std::slice::from_ref(&at))[1],
                slope,
                &what("gradient"),
            );
            let tangent = eval(&jvp, &[at.clone(), one.clone()]);
            assert_same_float(&tangent[1], slope, &what("jvp"));
            let second = eval(&hvp, &[at, one]);
            assert_same_float(&second[1], slope, &what("hvp's gradient"));
            assert_same_float(&second[2], curvature, &what("hvp"));
        }
    }
}

#[test]
fn powers_at_the_ends_of_i32_differentiate_in_every_mode() {
    check_powi_extremes::<f64>();
    check_powi_extremes::<f32>();
}

#[test]
fn derivations_of_powers_at_the_ends_of_i32() {
    let derive = |n: i32| {
        let mut p = Program::new();
        let x = p.param("x", Kind::Scalar);
        let y = named(&mut p, "y", Powi(n), &[x]);
        p.outputs = vec![y];
        derive_reverse(&p, &[0]).unwrap().derivation
    };
    assert_eq!(derive(i32::MIN), "dx = dy·(−2147483648·x^-2147483649)");
    assert_eq!(derive(i32::MAX), "dx = dy·(2147483647·x^2147483646)");
}

#[test]
fn derivation_of_log_softmax() {
    let mut p = Program::new();
    let z = p.param("z", Kind::Matrix);
    let lp = named(&mut p, "lp", LogSoftmax, &[z]);
    p.outputs = vec![lp];
    let products = derive_reverse(&p, &[0]).unwrap();
    assert_eq!(products.derivation, "dz = dlp − exp(lp) ⊙ sum_axis(dlp, 1)");
}

#[test]
fn derivation_of_a_sum_names_the_alias() {
    // y = a + b: both adjoints are the upstream itself.
    let mut p = Program::new();
    let a = p.param("a", Kind::Vector);
    let b = p.param("b", Kind::Vector);
    let y = named(&mut p, "y", Binary(BinOp::Add), &[a, b]);
    p.outputs = vec![y];
    let products = derive_reverse(&p, &[0, 1]).unwrap();
    assert_eq!(
        sorted_lines(&products.derivation),
        sorted_lines("da = dy\ndb = dy")
    );
}

#[test]
fn mlp_gradient_program_has_the_shape_of_a_hand_written_backward_pass() {
    let p = mlp_program();
    let products = derive_reverse(&p, &[1, 2, 3, 4]).unwrap();
    let grad = products
        .grad
        .as_ref()
        .expect("a scalar loss has a gradient program");
    // The unsimplified program too: dead-code elimination would hide a dx or dy computed by
    // mistake, so activity analysis only shows before it.
    let raw = reverse(&p, &[1, 2, 3, 4], Seed::Upstream).unwrap().program;
    for (label, prog) in [
        ("grad", grad),
        ("vjp", &products.vjp.program),
        ("unsimplified vjp", &raw),
    ] {
        let ctx = format!("{label}:\n{prog:#?}");
        assert_eq!(prog.outputs.len(), 5, "{ctx}");
        let [x, w1, w2] = [0, 1, 3].map(|i| param_value(prog, i));
        let h = ValueId(
            prog.insts
                .iter()
                .position(|i| i.op == Op::Unary(Unary(UnaryFn::Relu)))
                .expect("relu") as u32,
        );
        let lp = ValueId(
            prog.insts
                .iter()
                .position(|i| i.op == Op::LogSoftmax(LogSoftmax))
                .expect("log_softmax") as u32,
        );

        // Every transpose is a GEMM flag.
        assert_eq!(count(prog, is_transpose), 0, "{ctx}");

        // Two forward GEMMs, computed once: x·w1 and h·w2.
        let gemms: Vec<(MatMul, &[ValueId], Role)> = prog
            .insts
            .iter()
            .filter_map(|i| match i.op {
                Op::MatMul(m) => Some((m, i.args.as_slice(), i.role)),
                _ => None,
            })
            .collect();
        let forward: Vec<_> = gemms.iter().filter(|g| g.2 == Role::Primal).collect();
        let backward: Vec<_> = gemms.iter().filter(|g| g.2 == Role::Adjoint).collect();
        assert_eq!(forward.len(), 2, "{ctx}");
        assert!(forward
            .iter()
            .any(|g| g.0 == MatMul::PLAIN && g.1 == [x, w1]));
        assert!(forward
            .iter()
            .any(|g| g.0 == MatMul::PLAIN && g.1 == [h, w2]));

        // Exactly three backward GEMMs: dW1 = xᵀ·dz1, dW2 = hᵀ·dz2, dh = dz2·w2ᵀ.
        assert_eq!(backward.len(), 3, "{ctx}");
        let t_left = MatMul {
            ta: true,
            tb: false,
        };
        let t_right = MatMul {
            ta: false,
            tb: true,
        };
        assert!(
            backward.iter().any(|g| g.0 == t_left && g.1[0] == x),
            "dW1 = xᵀ·dz1: {ctx}"
        );
        assert!(
            backward.iter().any(|g| g.0 == t_left && g.1[0] == h),
            "dW2 = hᵀ·dz2: {ctx}"
        );
        assert!(
            backward.iter().any(|g| g.0 == t_right && g.1[1] == w2),
            "dh = dz2·w2ᵀ: {ctx}"
        );

        // Activity analysis: no adjoint for the data x or the labels y. dx would be a GEMM
        // with w1 (dz1·w1ᵀ); dy would be an elementwise product with lp.
        assert!(
            !backward.iter().any(|g| g.1.contains(&w1)),
            "dx is computed: {ctx}"
        );
        for inst in prog.insts.iter().filter(|i| i.role == Role::Adjoint) {
            assert!(
                !(matches!(inst.op, Op::Binary(Binary(BinOp::Mul))) && inst.args.contains(&lp)),
                "dy is computed: {ctx}"
            );
            assert!(
                !matches!(inst.name.as_deref(), Some("dx" | "dy")),
                "an adjoint named {:?}: {ctx}",
                inst.name
            );
        }
        // The forward part is not recomputed.
        assert_eq!(count(prog, |op| *op == Op::LogSoftmax(LogSoftmax)), 1);
        assert_eq!(count(prog, |op| *op == Op::Unary(Unary(UnaryFn::Relu))), 1);
    }
}

#[test]
fn unused_parameter_gets_a_zero_gradient_of_its_shape() {
    let mut p = Program::new();
    let x = p.param("x", Kind::Vector);
    let _z = p.param("z", Kind::Matrix);
    let _q = p.param("q", Kind::Scalar);
    let _u = p.param("u", Kind::Vector);
    let xx = bin(&mut p, BinOp::Mul, x, x);
    let s = named(&mut p, "s", Sum, &[xx]);
    p.outputs = vec![s];
    let products = derive_reverse(&p, &[0, 1, 2, 3]).unwrap();
    let inputs = vec![
        Value::Vector(Vector::from_vec(vec![1.0, 2.0])),
        Value::Matrix(Matrix::from_rows(&[[5.0, 6.0, 7.0], [8.0, 9.0, 10.0]])),
        Value::Scalar(4.0),
        Value::Vector(Vector::from_vec(vec![3.0, 3.0, 3.0])),
    ];
    let grad = products.grad.as_ref().unwrap();
    let out = eval(grad, &inputs);
    assert_eq!(out[0], Value::Scalar(5.0));
    assert_eq!(out[1], Value::Vector(Vector::from_vec(vec![2.0, 4.0])));
    assert_eq!(out[2], Value::Matrix(Matrix::zeros(2, 3)));
    assert_eq!(out[3], Value::Scalar(0.0));
    assert_eq!(out[4], Value::Vector(Vector::zeros(3)));
    // The zero is a fill shaped like the parameter, not a computed product.
    let dz = grad.inst(grad.outputs[2]);
    assert_eq!(dz.op, Op::Fill(Fill));
    assert_eq!(grad.inst(dz.args[0]).op.literal(), Some(0.0));
    assert_eq!(dz.args[1], param_value(grad, 1));
    assert_eq!(grad.inst(grad.outputs[3]).op.literal(), Some(0.0));
}

#[test]
fn reverse_reports_malformed_requests_as_errors() {
    let mut p = Program::new();
    let x = p.param("x", Kind::Vector);
    let t = un(&mut p, UnaryFn::Tanh, x);
    p.outputs = vec![t];
    // A parameter that does not exist.
    assert!(reverse(&p, &[3], Seed::Upstream).is_err());
    // A gradient of a vector result.
    let err = reverse(&p, &[0], Seed::One).unwrap_err();
    assert!(starts_lowercase(&err.message), "{}", err.message);
    // No output; a gradient of two (a tuple has no gradient).
    let mut none = p.clone();
    none.outputs.clear();
    assert!(reverse(&none, &[0], Seed::Upstream).is_err());
    let mut two = p.clone();
    let s = push(&mut two, Sum, &[t]);
    two.outputs = vec![s, s];
    let err = reverse(&two, &[0], Seed::One).unwrap_err();
    assert!(starts_lowercase(&err.message), "{}", err.message);
    // Derivative kernels are not differentiated again.
    let mut q = Program::new();
    let dy = q.param("dy", Kind::Vector);
    let x = q.param("x", Kind::Vector);
    let g = push(&mut q, UnaryGrad(UnaryFn::Tanh), &[dy, x]);
    q.outputs = vec![g];
    let err = reverse(&q, &[1], Seed::Upstream).unwrap_err();
    assert!(
        err.message.contains("reverse-over-reverse"),
        "{}",
        err.message
    );
}

/// A program with two results (a tuple): one upstream gradient per result, named after each,
/// the pullback their sum; forward mode gives one tangent per result.
#[test]
fn two_results_pull_back_their_upstreams_together() {
    let mut p = Program::new();
    let x = p.param("x", Kind::Scalar);
    let square = named(&mut p, "square", Binary(BinOp::Mul), &[x, x]);
    let wave = named(&mut p, "wave", Unary(UnaryFn::Sin), &[x]);
    p.outputs = vec![square, wave];
    let products = derive_reverse(&p, &[0]).unwrap();
    assert_eq!(products.vjp.upstreams, ["dsquare", "dwave"]);
    assert!(products.grad.is_none(), "a tuple has no gradient");
    let at = 0.7f64;
    let (u0, u1) = (1.5, -2.0);
    let out = eval(
        &products.vjp.program,
        &[Value::Scalar(at), Value::Scalar(u0), Value::Scalar(u1)],
    );
    assert_eq!(out.len(), 3, "two values, one adjoint");
    let Value::Scalar(dx) = out[2] else {
        panic!("a scalar adjoint")
    };
    assert!((dx - (2.0 * at * u0 + at.cos() * u1)).abs() < 1e-15);
    let forward = derive_forward(&p, &[0]).unwrap();
    let tangents = eval(
        &forward.jvp.program,
        &[Value::Scalar(at), Value::Scalar(1.0)],
    );
    let [Value::Scalar(d_square), Value::Scalar(d_wave)] = [&tangents[2], &tangents[3]] else {
        panic!("scalar tangents")
    };
    assert!((d_square - 2.0 * at).abs() < 1e-15 && (d_wave - at.cos()).abs() < 1e-15);
    assert!(forward.derivation.contains("dsquare") && forward.derivation.contains("dwave"));
}
