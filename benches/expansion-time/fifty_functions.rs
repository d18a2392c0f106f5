//! Fifty `#[differentiable]` functions, the input of the compile-time benchmark: the bench
//! target `expansion-time` is this module and a `main` that does nothing, and
//! `benches/expansion-time/run` times the macro's expansion when it compiles them.
//! `tests/fifty_functions.rs` includes this file too, to check that each generated gradient
//! returns its function's value.
// The benchmark calls nothing (it is compiled, not run), and some functions ignore `b`.
#![allow(clippy::all, dead_code, unused_variables)]

use autodiff::prelude::*;

#[differentiable(wrt(w, b))]
pub fn f0(x: &Matrix<f64>, w: &Matrix<f64>, b: &Matrix<f64>) -> f64 {
    let out = {
        let h = x.matmul(w).tanh();
        h.sum()
    };
    out * 1e+00
}

#[differentiable(wrt(w, b))]
pub fn f1(x: &Matrix<f64>, w: &Matrix<f64>, b: &Matrix<f64>) -> f64 {
    let out = {
        let z = x.matmul(w) + b;
        z.relu().mean()
    };
    out * 1e+00
}

#[differentiable(wrt(w, b))]
pub fn f2(x: &Matrix<f64>, w: &Matrix<f64>, b: &Matrix<f64>) -> f64 {
    let out = {
        let z = x.matmul(w);
        (&z * &z).sum() * 0.5
    };
    out * 1e+00
}

#[differentiable(wrt(w, b))]
pub fn f3(x: &Matrix<f64>, w: &Matrix<f64>, b: &Matrix<f64>) -> f64 {
    let out = {
        let p = x.matmul(w).log_softmax();
        -(p.sum_axis(1)).mean()
    };
    out * 1e+00
}

#[differentiable(wrt(w, b))]
pub fn f4(x: &Matrix<f64>, w: &Matrix<f64>, b: &Matrix<f64>) -> f64 {
    let out = {
        let s = x.matmul(w).sigmoid();
        (s - 0.5).powi(2).sum()
    };
    out * 1e+00
}

#[differentiable(wrt(w, b))]
pub fn f5(x: &Matrix<f64>, w: &Matrix<f64>, b: &Matrix<f64>) -> f64 {
    let out = {
        let e = (x.matmul(w) - b).exp();
        e.mean().ln()
    };
    out * 1e+00
}

#[differentiable(wrt(w, b))]
pub fn f6(x: &Matrix<f64>, w: &Matrix<f64>, b: &Matrix<f64>) -> f64 {
    let out = {
        let z = x.t().matmul(&x.matmul(w));
        z.abs().sum()
    };
    out * 1e+00
}

#[differentiable(wrt(w, b))]
pub fn f7(x: &Matrix<f64>, w: &Matrix<f64>, b: &Matrix<f64>) -> f64 {
    let out = {
        let z = (x.matmul(w) + b).softmax();
        z.sum_axis(0).sin().sum()
    };
    out * 1e+00
}

#[differentiable(wrt(w, b))]
pub fn f8(x: &Matrix<f64>, w: &Matrix<f64>, b: &Matrix<f64>) -> f64 {
    let out = {
        let z = x.matmul(w).cos() * x.matmul(w).sin();
        z.sum()
    };
    out * 1e+00
}

#[differentiable(wrt(w, b))]
pub fn f9(x: &Matrix<f64>, w: &Matrix<f64>, b: &Matrix<f64>) -> f64 {
    let out = {
        let q = x.matmul(w);
        let r = q.t().matmul(&q);
        r.sum() / 4.0
    };
    out * 1e+00
}

#[differentiable(wrt(w, b))]
pub fn f10(x: &Matrix<f64>, w: &Matrix<f64>, b: &Matrix<f64>) -> f64 {
    let out = {
        let h = x.matmul(w).tanh();
        h.sum()
    };
    out * 2e+00
}

#[differentiable(wrt(w, b))]
pub fn f11(x: &Matrix<f64>, w: &Matrix<f64>, b: &Matrix<f64>) -> f64 {
    let out = {
        let z = x.matmul(w) + b;
        z.relu().mean()
    };
    out * 2e+00
}

#[differentiable(wrt(w, b))]
pub fn f12(x: &Matrix<f64>, w: &Matrix<f64>, b: &Matrix<f64>) -> f64 {
    let out = {
        let z = x.matmul(w);
        (&z * &z).sum() * 0.5
    };
    out * 2e+00
}

#[differentiable(wrt(w, b))]
pub fn f13(x: &Matrix<f64>, w: &Matrix<f64>, b: &Matrix<f64>) -> f64 {
    let out = {
        let p = x.matmul(w).log_softmax();
        -(p.sum_axis(1)).mean()
    };
    out * 2e+00
}

#[differentiable(wrt(w, b))]
pub fn f14(x: &Matrix<f64>, w: &Matrix<f64>, b: &Matrix<f64>) -> f64 {
    let out = {
        let s = x.matmul(w).sigmoid();
        (s - 0.5).powi(2).sum()
    };
    out * 2e+00
}

#[differentiable(wrt(w, b))]
pub fn f15(x: &Matrix<f64>, w: &Matrix<f64>, b: &Matrix<f64>) -> f64 {
    let out = {
        let e = (x.matmul(w) - b).exp();
        e.mean().ln()
    };
    out * 2e+00
}

#[differentiable(wrt(w, b))]
pub fn f16(x: &Matrix<f64>, w: &Matrix<f64>, b: &Matrix<f64>) -> f64 {
    let out = {
        let z = x.t().matmul(&x.matmul(w));
        z.abs().sum()
    };
    out * 2e+00
}

#[differentiable(wrt(w, b))]
pub fn f17(x: &Matrix<f64>, w: &Matrix<f64>, b: &Matrix<f64>) -> f64 {
    let out = {
        let z = (x.matmul(w) + b).softmax();
        z.sum_axis(0).sin().sum()
    };
    out * 2e+00
}

#[differentiable(wrt(w, b))]
pub fn f18(x: &Matrix<f64>, w: &Matrix<f64>, b: &Matrix<f64>) -> f64 {
    let out = {
        let z = x.matmul(w).cos() * x.matmul(w).sin();
        z.sum()
    };
    out * 2e+00
}

#[differentiable(wrt(w, b))]
pub fn f19(x: &Matrix<f64>, w: &Matrix<f64>, b: &Matrix<f64>) -> f64 {
    let out = {
        let q = x.matmul(w);
        let r = q.t().matmul(&q);
        r.sum() / 4.0
    };
    out * 2e+00
}

#[differentiable(wrt(w, b))]
pub fn f20(x: &Matrix<f64>, w: &Matrix<f64>, b: &Matrix<f64>) -> f64 {
    let out = {
        let h = x.matmul(w).tanh();
        h.sum()
    };
    out * 2e+00
}

#[differentiable(wrt(w, b))]
pub fn f21(x: &Matrix<f64>, w: &Matrix<f64>, b: &Matrix<f64>) -> f64 {
    let out = {
        let z = x.matmul(w) + b;
        z.relu().mean()
    };
    out * 2e+00
}

#[differentiable(wrt(w, b))]
pub fn f22(x: &Matrix<f64>, w: &Matrix<f64>, b: &Matrix<f64>) -> f64 {
    let out = {
        let z = x.matmul(w);
        (&z * &z).sum() * 0.5
    };
    out * 2e+00
}

#[differentiable(wrt(w, b))]
pub fn f23(x: &Matrix<f64>, w: &Matrix<f64>, b: &Matrix<f64>) -> f64 {
    let out = {
        let p = x.matmul(w).log_softmax();
        -(p.sum_axis(1)).mean()
    };
    out * 2e+00
}

#[differentiable(wrt(w, b))]
pub fn f24(x: &Matrix<f64>, w: &Matrix<f64>, b: &Matrix<f64>) -> f64 {
    let out = {
        let s = x.matmul(w).sigmoid();
        (s - 0.5).powi(2).sum()
    };
    out * 2e+00
}

#[differentiable(wrt(w, b))]
pub fn f25(x: &Matrix<f64>, w: &Matrix<f64>, b: &Matrix<f64>) -> f64 {
    let out = {
        let e = (x.matmul(w) - b).exp();
        e.mean().ln()
    };
    out * 2e+00
}

#[differentiable(wrt(w, b))]
pub fn f26(x: &Matrix<f64>, w: &Matrix<f64>, b: &Matrix<f64>) -> f64 {
    let out = {
        let z = x.t().matmul(&x.matmul(w));
        z.abs().sum()
    };
    out * 2e+00
}

#[differentiable(wrt(w, b))]
pub fn f27(x: &Matrix<f64>, w: &Matrix<f64>, b: &Matrix<f64>) -> f64 {
    let out = {
        let z = (x.matmul(w) + b).softmax();
        z.sum_axis(0).sin().sum()
    };
    out * 2e+00
}

#[differentiable(wrt(w, b))]
pub fn f28(x: &Matrix<f64>, w: &Matrix<f64>, b: &Matrix<f64>) -> f64 {
    let out = {
        let z = x.matmul(w).cos() * x.matmul(w).sin();
        z.sum()
    };
    out * 2e+00
}

#[differentiable(wrt(w, b))]
pub fn f29(x: &Matrix<f64>, w: &Matrix<f64>, b: &Matrix<f64>) -> f64 {
    let out = {
        let q = x.matmul(w);
        let r = q.t().matmul(&q);
        r.sum() / 4.0
    };
    out * 2e+00
}

#[differentiable(wrt(w, b))]
pub fn f30(x: &Matrix<f64>, w: &Matrix<f64>, b: &Matrix<f64>) -> f64 {
    let out = {
        let h = x.matmul(w).tanh();
        h.sum()
    };
    out * 2e+00
}

#[differentiable(wrt(w, b))]
pub fn f31(x: &Matrix<f64>, w: &Matrix<f64>, b: &Matrix<f64>) -> f64 {
    let out = {
        let z = x.matmul(w) + b;
        z.relu().mean()
    };
    out * 2e+00
}

#[differentiable(wrt(w, b))]
pub fn f32(x: &Matrix<f64>, w: &Matrix<f64>, b: &Matrix<f64>) -> f64 {
    let out = {
        let z = x.matmul(w);
        (&z * &z).sum() * 0.5
    };
    out * 2e+00
}

#[differentiable(wrt(w, b))]
pub fn f33(x: &Matrix<f64>, w: &Matrix<f64>, b: &Matrix<f64>) -> f64 {
    let out = {
        let p = x.matmul(w).log_softmax();
        -(p.sum_axis(1)).mean()
    };
    out * 2e+00
}

#[differentiable(wrt(w, b))]
pub fn f34(x: &Matrix<f64>, w: &Matrix<f64>, b: &Matrix<f64>) -> f64 {
    let out = {
        let s = x.matmul(w).sigmoid();
        (s - 0.5).powi(2).sum()
    };
    out * 2e+00
}

#[differentiable(wrt(w, b))]
pub fn f35(x: &Matrix<f64>, w: &Matrix<f64>, b: &Matrix<f64>) -> f64 {
    let out = {
        let e = (x.matmul(w) - b).exp();
        e.mean().ln()
    };
    out * 2e+00
}

#[differentiable(wrt(w, b))]
pub fn f36(x: &Matrix<f64>, w: &Matrix<f64>, b: &Matrix<f64>) -> f64 {
    let out = {
        let z = x.t().matmul(&x.matmul(w));
        z.abs().sum()
    };
    out * 2e+00
}

#[differentiable(wrt(w, b))]
pub fn f37(x: &Matrix<f64>, w: &Matrix<f64>, b: &Matrix<f64>) -> f64 {
    let out = {
        let z = (x.matmul(w) + b).softmax();
        z.sum_axis(0).sin().sum()
    };
    out * 2e+00
}

#[differentiable(wrt(w, b))]
pub fn f38(x: &Matrix<f64>, w: &Matrix<f64>, b: &Matrix<f64>) -> f64 {
    let out = {
        let z = x.matmul(w).cos() * x.matmul(w).sin();
        z.sum()
    };
    out * 2e+00
}

#[differentiable(wrt(w, b))]
pub fn f39(x: &Matrix<f64>, w: &Matrix<f64>, b: &Matrix<f64>) -> f64 {
    let out = {
        let q = x.matmul(w);
        let r = q.t().matmul(&q);
        r.sum() / 4.0
    };
    out * 2e+00
}

#[differentiable(wrt(w, b))]
pub fn f40(x: &Matrix<f64>, w: &Matrix<f64>, b: &Matrix<f64>) -> f64 {
    let out = {
        let h = x.matmul(w).tanh();
        h.sum()
    };
    out * 3e+00
}

#[differentiable(wrt(w, b))]
pub fn f41(x: &Matrix<f64>, w: &Matrix<f64>, b: &Matrix<f64>) -> f64 {
    let out = {
        let z = x.matmul(w) + b;
        z.relu().mean()
    };
    out * 3e+00
}

#[differentiable(wrt(w, b))]
pub fn f42(x: &Matrix<f64>, w: &Matrix<f64>, b: &Matrix<f64>) -> f64 {
    let out = {
        let z = x.matmul(w);
        (&z * &z).sum() * 0.5
    };
    out * 3e+00
}

#[differentiable(wrt(w, b))]
pub fn f43(x: &Matrix<f64>, w: &Matrix<f64>, b: &Matrix<f64>) -> f64 {
    let out = {
        let p = x.matmul(w).log_softmax();
        -(p.sum_axis(1)).mean()
    };
    out * 3e+00
}

#[differentiable(wrt(w, b))]
pub fn f44(x: &Matrix<f64>, w: &Matrix<f64>, b: &Matrix<f64>) -> f64 {
    let out = {
        let s = x.matmul(w).sigmoid();
        (s - 0.5).powi(2).sum()
    };
    out * 3e+00
}

#[differentiable(wrt(w, b))]
pub fn f45(x: &Matrix<f64>, w: &Matrix<f64>, b: &Matrix<f64>) -> f64 {
    let out = {
        let e = (x.matmul(w) - b).exp();
        e.mean().ln()
    };
    out * 3e+00
}

#[differentiable(wrt(w, b))]
pub fn f46(x: &Matrix<f64>, w: &Matrix<f64>, b: &Matrix<f64>) -> f64 {
    let out = {
        let z = x.t().matmul(&x.matmul(w));
        z.abs().sum()
    };
    out * 3e+00
}

#[differentiable(wrt(w, b))]
pub fn f47(x: &Matrix<f64>, w: &Matrix<f64>, b: &Matrix<f64>) -> f64 {
    let out = {
        let z = (x.matmul(w) + b).softmax();
        z.sum_axis(0).sin().sum()
    };
    out * 3e+00
}

#[differentiable(wrt(w, b))]
pub fn f48(x: &Matrix<f64>, w: &Matrix<f64>, b: &Matrix<f64>) -> f64 {
    let out = {
        let z = x.matmul(w).cos() * x.matmul(w).sin();
        z.sum()
    };
    out * 3e+00
}

#[differentiable(wrt(w, b))]
pub fn f49(x: &Matrix<f64>, w: &Matrix<f64>, b: &Matrix<f64>) -> f64 {
    let out = {
        let q = x.matmul(w);
        let r = q.t().matmul(&q);
        r.sum() / 4.0
    };
    out * 3e+00
}
