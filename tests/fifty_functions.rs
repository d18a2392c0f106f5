//! Fifty differentiable functions in one file: the compile-time cost of the macro is measured on
//! it (`cargo build --tests` of this file; see the issue notes), and each generated gradient is
//! checked to return the function's value.
#![allow(clippy::all, unused_variables)]

use autodiff::prelude::*;

#[differentiable(wrt(w, b))]
fn f0(x: &Matrix<f64>, w: &Matrix<f64>, b: &Matrix<f64>) -> f64 {
    let out = {
        let h = x.matmul(w).tanh();
        h.sum()
    };
    out * 1e+00
}

#[differentiable(wrt(w, b))]
fn f1(x: &Matrix<f64>, w: &Matrix<f64>, b: &Matrix<f64>) -> f64 {
    let out = {
        let z = x.matmul(w) + b;
        z.relu().mean()
    };
    out * 1e+00
}

#[differentiable(wrt(w, b))]
fn f2(x: &Matrix<f64>, w: &Matrix<f64>, b: &Matrix<f64>) -> f64 {
    let out = {
        let z = x.matmul(w);
        (&z * &z).sum() * 0.5
    };
    out * 1e+00
}

#[differentiable(wrt(w, b))]
fn f3(x: &Matrix<f64>, w: &Matrix<f64>, b: &Matrix<f64>) -> f64 {
    let out = {
        let p = x.matmul(w).log_softmax();
        -(p.sum_axis(1)).mean()
    };
    out * 1e+00
}

#[differentiable(wrt(w, b))]
fn f4(x: &Matrix<f64>, w: &Matrix<f64>, b: &Matrix<f64>) -> f64 {
    let out = {
        let s = x.matmul(w).sigmoid();
        (s - 0.5).powi(2).sum()
    };
    out * 1e+00
}

#[differentiable(wrt(w, b))]
fn f5(x: &Matrix<f64>, w: &Matrix<f64>, b: &Matrix<f64>) -> f64 {
    let out = {
        let e = (x.matmul(w) - b).exp();
        e.mean().ln()
    };
    out * 1e+00
}

#[differentiable(wrt(w, b))]
fn f6(x: &Matrix<f64>, w: &Matrix<f64>, b: &Matrix<f64>) -> f64 {
    let out = {
        let z = x.t().matmul(&x.matmul(w));
        z.abs().sum()
    };
    out * 1e+00
}

#[differentiable(wrt(w, b))]
fn f7(x: &Matrix<f64>, w: &Matrix<f64>, b: &Matrix<f64>) -> f64 {
    let out = {
        let z = (x.matmul(w) + b).softmax();
        z.sum_axis(0).sin().sum()
    };
    out * 1e+00
}

#[differentiable(wrt(w, b))]
fn f8(x: &Matrix<f64>, w: &Matrix<f64>, b: &Matrix<f64>) -> f64 {
    let out = {
        let z = x.matmul(w).cos() * x.matmul(w).sin();
        z.sum()
    };
    out * 1e+00
}

#[differentiable(wrt(w, b))]
fn f9(x: &Matrix<f64>, w: &Matrix<f64>, b: &Matrix<f64>) -> f64 {
    let out = {
        let q = x.matmul(w);
        let r = q.t().matmul(&q);
        r.sum() / 4.0
    };
    out * 1e+00
}

#[differentiable(wrt(w, b))]
fn f10(x: &Matrix<f64>, w: &Matrix<f64>, b: &Matrix<f64>) -> f64 {
    let out = {
        let h = x.matmul(w).tanh();
        h.sum()
    };
    out * 2e+00
}

#[differentiable(wrt(w, b))]
fn f11(x: &Matrix<f64>, w: &Matrix<f64>, b: &Matrix<f64>) -> f64 {
    let out = {
        let z = x.matmul(w) + b;
        z.relu().mean()
    };
    out * 2e+00
}

#[differentiable(wrt(w, b))]
fn f12(x: &Matrix<f64>, w: &Matrix<f64>, b: &Matrix<f64>) -> f64 {
    let out = {
        let z = x.matmul(w);
        (&z * &z).sum() * 0.5
    };
    out * 2e+00
}

#[differentiable(wrt(w, b))]
fn f13(x: &Matrix<f64>, w: &Matrix<f64>, b: &Matrix<f64>) -> f64 {
    let out = {
        let p = x.matmul(w).log_softmax();
        -(p.sum_axis(1)).mean()
    };
    out * 2e+00
}

#[differentiable(wrt(w, b))]
fn f14(x: &Matrix<f64>, w: &Matrix<f64>, b: &Matrix<f64>) -> f64 {
    let out = {
        let s = x.matmul(w).sigmoid();
        (s - 0.5).powi(2).sum()
    };
    out * 2e+00
}

#[differentiable(wrt(w, b))]
fn f15(x: &Matrix<f64>, w: &Matrix<f64>, b: &Matrix<f64>) -> f64 {
    let out = {
        let e = (x.matmul(w) - b).exp();
        e.mean().ln()
    };
    out * 2e+00
}

#[differentiable(wrt(w, b))]
fn f16(x: &Matrix<f64>, w: &Matrix<f64>, b: &Matrix<f64>) -> f64 {
    let out = {
        let z = x.t().matmul(&x.matmul(w));
        z.abs().sum()
    };
    out * 2e+00
}

#[differentiable(wrt(w, b))]
fn f17(x: &Matrix<f64>, w: &Matrix<f64>, b: &Matrix<f64>) -> f64 {
    let out = {
        let z = (x.matmul(w) + b).softmax();
        z.sum_axis(0).sin().sum()
    };
    out * 2e+00
}

#[differentiable(wrt(w, b))]
fn f18(x: &Matrix<f64>, w: &Matrix<f64>, b: &Matrix<f64>) -> f64 {
    let out = {
        let z = x.matmul(w).cos() * x.matmul(w).sin();
        z.sum()
    };
    out * 2e+00
}

#[differentiable(wrt(w, b))]
fn f19(x: &Matrix<f64>, w: &Matrix<f64>, b: &Matrix<f64>) -> f64 {
    let out = {
        let q = x.matmul(w);
        let r = q.t().matmul(&q);
        r.sum() / 4.0
    };
    out * 2e+00
}

#[differentiable(wrt(w, b))]
fn f20(x: &Matrix<f64>, w: &Matrix<f64>, b: &Matrix<f64>) -> f64 {
    let out = {
        let h = x.matmul(w).tanh();
        h.sum()
    };
    out * 2e+00
}

#[differentiable(wrt(w, b))]
fn f21(x: &Matrix<f64>, w: &Matrix<f64>, b: &Matrix<f64>) -> f64 {
    let out = {
        let z = x.matmul(w) + b;
        z.relu().mean()
    };
    out * 2e+00
}

#[differentiable(wrt(w, b))]
fn f22(x: &Matrix<f64>, w: &Matrix<f64>, b: &Matrix<f64>) -> f64 {
    let out = {
        let z = x.matmul(w);
        (&z * &z).sum() * 0.5
    };
    out * 2e+00
}

#[differentiable(wrt(w, b))]
fn f23(x: &Matrix<f64>, w: &Matrix<f64>, b: &Matrix<f64>) -> f64 {
    let out = {
        let p = x.matmul(w).log_softmax();
        -(p.sum_axis(1)).mean()
    };
    out * 2e+00
}

#[differentiable(wrt(w, b))]
fn f24(x: &Matrix<f64>, w: &Matrix<f64>, b: &Matrix<f64>) -> f64 {
    let out = {
        let s = x.matmul(w).sigmoid();
        (s - 0.5).powi(2).sum()
    };
    out * 2e+00
}

#[differentiable(wrt(w, b))]
fn f25(x: &Matrix<f64>, w: &Matrix<f64>, b: &Matrix<f64>) -> f64 {
    let out = {
        let e = (x.matmul(w) - b).exp();
        e.mean().ln()
    };
    out * 2e+00
}

#[differentiable(wrt(w, b))]
fn f26(x: &Matrix<f64>, w: &Matrix<f64>, b: &Matrix<f64>) -> f64 {
    let out = {
        let z = x.t().matmul(&x.matmul(w));
        z.abs().sum()
    };
    out * 2e+00
}

#[differentiable(wrt(w, b))]
fn f27(x: &Matrix<f64>, w: &Matrix<f64>, b: &Matrix<f64>) -> f64 {
    let out = {
        let z = (x.matmul(w) + b).softmax();
        z.sum_axis(0).sin().sum()
    };
    out * 2e+00
}

#[differentiable(wrt(w, b))]
fn f28(x: &Matrix<f64>, w: &Matrix<f64>, b: &Matrix<f64>) -> f64 {
    let out = {
        let z = x.matmul(w).cos() * x.matmul(w).sin();
        z.sum()
    };
    out * 2e+00
}

#[differentiable(wrt(w, b))]
fn f29(x: &Matrix<f64>, w: &Matrix<f64>, b: &Matrix<f64>) -> f64 {
    let out = {
        let q = x.matmul(w);
        let r = q.t().matmul(&q);
        r.sum() / 4.0
    };
    out * 2e+00
}

#[differentiable(wrt(w, b))]
fn f30(x: &Matrix<f64>, w: &Matrix<f64>, b: &Matrix<f64>) -> f64 {
    let out = {
        let h = x.matmul(w).tanh();
        h.sum()
    };
    out * 2e+00
}

#[differentiable(wrt(w, b))]
fn f31(x: &Matrix<f64>, w: &Matrix<f64>, b: &Matrix<f64>) -> f64 {
    let out = {
        let z = x.matmul(w) + b;
        z.relu().mean()
    };
    out * 2e+00
}

#[differentiable(wrt(w, b))]
fn f32(x: &Matrix<f64>, w: &Matrix<f64>, b: &Matrix<f64>) -> f64 {
    let out = {
        let z = x.matmul(w);
        (&z * &z).sum() * 0.5
    };
    out * 2e+00
}

#[differentiable(wrt(w, b))]
fn f33(x: &Matrix<f64>, w: &Matrix<f64>, b: &Matrix<f64>) -> f64 {
    let out = {
        let p = x.matmul(w).log_softmax();
        -(p.sum_axis(1)).mean()
    };
    out * 2e+00
}

#[differentiable(wrt(w, b))]
fn f34(x: &Matrix<f64>, w: &Matrix<f64>, b: &Matrix<f64>) -> f64 {
    let out = {
        let s = x.matmul(w).sigmoid();
        (s - 0.5).powi(2).sum()
    };
    out * 2e+00
}

#[differentiable(wrt(w, b))]
fn f35(x: &Matrix<f64>, w: &Matrix<f64>, b: &Matrix<f64>) -> f64 {
    let out = {
        let e = (x.matmul(w) - b).exp();
        e.mean().ln()
    };
    out * 2e+00
}

#[differentiable(wrt(w, b))]
fn f36(x: &Matrix<f64>, w: &Matrix<f64>, b: &Matrix<f64>) -> f64 {
    let out = {
        let z = x.t().matmul(&x.matmul(w));
        z.abs().sum()
    };
    out * 2e+00
}

#[differentiable(wrt(w, b))]
fn f37(x: &Matrix<f64>, w: &Matrix<f64>, b: &Matrix<f64>) -> f64 {
    let out = {
        let z = (x.matmul(w) + b).softmax();
        z.sum_axis(0).sin().sum()
    };
    out * 2e+00
}

#[differentiable(wrt(w, b))]
fn f38(x: &Matrix<f64>, w: &Matrix<f64>, b: &Matrix<f64>) -> f64 {
    let out = {
        let z = x.matmul(w).cos() * x.matmul(w).sin();
        z.sum()
    };
    out * 2e+00
}

#[differentiable(wrt(w, b))]
fn f39(x: &Matrix<f64>, w: &Matrix<f64>, b: &Matrix<f64>) -> f64 {
    let out = {
        let q = x.matmul(w);
        let r = q.t().matmul(&q);
        r.sum() / 4.0
    };
    out * 2e+00
}

#[differentiable(wrt(w, b))]
fn f40(x: &Matrix<f64>, w: &Matrix<f64>, b: &Matrix<f64>) -> f64 {
    let out = {
        let h = x.matmul(w).tanh();
        h.sum()
    };
    out * 3e+00
}

#[differentiable(wrt(w, b))]
fn f41(x: &Matrix<f64>, w: &Matrix<f64>, b: &Matrix<f64>) -> f64 {
    let out = {
        let z = x.matmul(w) + b;
        z.relu().mean()
    };
    out * 3e+00
}

#[differentiable(wrt(w, b))]
fn f42(x: &Matrix<f64>, w: &Matrix<f64>, b: &Matrix<f64>) -> f64 {
    let out = {
        let z = x.matmul(w);
        (&z * &z).sum() * 0.5
    };
    out * 3e+00
}

#[differentiable(wrt(w, b))]
fn f43(x: &Matrix<f64>, w: &Matrix<f64>, b: &Matrix<f64>) -> f64 {
    let out = {
        let p = x.matmul(w).log_softmax();
        -(p.sum_axis(1)).mean()
    };
    out * 3e+00
}

#[differentiable(wrt(w, b))]
fn f44(x: &Matrix<f64>, w: &Matrix<f64>, b: &Matrix<f64>) -> f64 {
    let out = {
        let s = x.matmul(w).sigmoid();
        (s - 0.5).powi(2).sum()
    };
    out * 3e+00
}

#[differentiable(wrt(w, b))]
fn f45(x: &Matrix<f64>, w: &Matrix<f64>, b: &Matrix<f64>) -> f64 {
    let out = {
        let e = (x.matmul(w) - b).exp();
        e.mean().ln()
    };
    out * 3e+00
}

#[differentiable(wrt(w, b))]
fn f46(x: &Matrix<f64>, w: &Matrix<f64>, b: &Matrix<f64>) -> f64 {
    let out = {
        let z = x.t().matmul(&x.matmul(w));
        z.abs().sum()
    };
    out * 3e+00
}

#[differentiable(wrt(w, b))]
fn f47(x: &Matrix<f64>, w: &Matrix<f64>, b: &Matrix<f64>) -> f64 {
    let out = {
        let z = (x.matmul(w) + b).softmax();
        z.sum_axis(0).sin().sum()
    };
    out * 3e+00
}

#[differentiable(wrt(w, b))]
fn f48(x: &Matrix<f64>, w: &Matrix<f64>, b: &Matrix<f64>) -> f64 {
    let out = {
        let z = x.matmul(w).cos() * x.matmul(w).sin();
        z.sum()
    };
    out * 3e+00
}

#[differentiable(wrt(w, b))]
fn f49(x: &Matrix<f64>, w: &Matrix<f64>, b: &Matrix<f64>) -> f64 {
    let out = {
        let q = x.matmul(w);
        let r = q.t().matmul(&q);
        r.sum() / 4.0
    };
    out * 3e+00
}

/// Every generated gradient returns its function's value and gradients of the right shapes.
#[test]
fn fifty_gradients_run() {
    let x = Matrix::from_fn(4, 3, |i, j| 0.1 * (i as f64) - 0.2 * (j as f64) + 0.05);
    let w = Matrix::from_fn(3, 2, |i, j| 0.3 * (i as f64) - 0.1 * (j as f64) + 0.2);
    let b = Matrix::from_fn(1, 2, |_, j| 0.1 * (j as f64) + 0.1);
    let all: [(
        fn(&Matrix<f64>, &Matrix<f64>, &Matrix<f64>) -> f64,
        fn(&Matrix<f64>, &Matrix<f64>, &Matrix<f64>) -> (f64, (Matrix<f64>, Matrix<f64>)),
    ); 50] = [
        (f0, f0_grad),
        (f1, f1_grad),
        (f2, f2_grad),
        (f3, f3_grad),
        (f4, f4_grad),
        (f5, f5_grad),
        (f6, f6_grad),
        (f7, f7_grad),
        (f8, f8_grad),
        (f9, f9_grad),
        (f10, f10_grad),
        (f11, f11_grad),
        (f12, f12_grad),
        (f13, f13_grad),
        (f14, f14_grad),
        (f15, f15_grad),
        (f16, f16_grad),
        (f17, f17_grad),
        (f18, f18_grad),
        (f19, f19_grad),
        (f20, f20_grad),
        (f21, f21_grad),
        (f22, f22_grad),
        (f23, f23_grad),
        (f24, f24_grad),
        (f25, f25_grad),
        (f26, f26_grad),
        (f27, f27_grad),
        (f28, f28_grad),
        (f29, f29_grad),
        (f30, f30_grad),
        (f31, f31_grad),
        (f32, f32_grad),
        (f33, f33_grad),
        (f34, f34_grad),
        (f35, f35_grad),
        (f36, f36_grad),
        (f37, f37_grad),
        (f38, f38_grad),
        (f39, f39_grad),
        (f40, f40_grad),
        (f41, f41_grad),
        (f42, f42_grad),
        (f43, f43_grad),
        (f44, f44_grad),
        (f45, f45_grad),
        (f46, f46_grad),
        (f47, f47_grad),
        (f48, f48_grad),
        (f49, f49_grad),
    ];
    for (i, (f, grad)) in all.iter().enumerate() {
        let (value, (dw, db)) = grad(&x, &w, &b);
        assert_eq!(value, f(&x, &w, &b), "f{i}");
        assert_eq!((dw.shape(), db.shape()), ((3, 2), (1, 2)), "f{i}");
        assert!(
            value.is_finite() && dw.as_slice().iter().all(|v| v.is_finite()),
            "f{i}"
        );
    }
}
