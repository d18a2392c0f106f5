//! B2 and B4 (DESIGN.md): the generated logistic-regression Hessian and tanh-layer Jacobian
//! against the closed forms written by hand, f32 and f64: on our runtime (`hand`), on each GEMM
//! kernel crate called directly with plain slices (`hand-mm`: matrixmultiply, `hand-gemm`: the
//! `gemm` crate), and for B4 also as one fused pass with no kernel (`hand-fused`). The report
//! divides by the fastest of them. B2 is timed again as DESIGN.md spells it
//! (`b2_literal_hessian`, generated only: its references are B2's). Run with
//! `cargo bench --bench dense`; compare the ratios within one run.

mod workloads;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use std::hint::black_box;
use workloads::kernels::Crate;
use workloads::{logistic, tanh_layer};

fn b2(c: &mut Criterion) {
    for n in [100, 500] {
        let i = logistic::Inputs::new(n);
        let (xs, ws, ys) = (i.x.as_slice(), i.w.as_slice(), i.y.as_slice());
        let mut group = c.benchmark_group(format!("b2_hessian/f64/n={n}"));
        group.bench_function(BenchmarkId::from_parameter("hand"), |b| {
            b.iter(|| logistic::f64_logistic::hessian_by_hand(black_box(&i.x), &i.w, &i.y))
        });
        for (kernel, id) in Crate::ALL {
            group.bench_function(BenchmarkId::from_parameter(id), |b| {
                b.iter(|| logistic::f64_logistic::hessian_by_hand_on(kernel, black_box(xs), ws, ys))
            });
        }
        group.bench_function(BenchmarkId::from_parameter("generated"), |b| {
            b.iter(|| logistic::f64_logistic::loss_hessian(black_box(&i.x), &i.w, &i.y))
        });
        group.finish();
        let (x, w, y) = i.to_f32();
        let (xs, ws, ys) = (x.as_slice(), w.as_slice(), y.as_slice());
        let mut group = c.benchmark_group(format!("b2_hessian/f32/n={n}"));
        group.bench_function(BenchmarkId::from_parameter("hand"), |b| {
            b.iter(|| logistic::f32_logistic::hessian_by_hand(black_box(&x), &w, &y))
        });
        for (kernel, id) in Crate::ALL {
            group.bench_function(BenchmarkId::from_parameter(id), |b| {
                b.iter(|| logistic::f32_logistic::hessian_by_hand_on(kernel, black_box(xs), ws, ys))
            });
        }
        group.bench_function(BenchmarkId::from_parameter("generated"), |b| {
            b.iter(|| logistic::f32_logistic::loss_hessian(black_box(&x), &w, &y))
        });
        group.finish();
    }
}

/// B2 spelled ln(1 + exp(−y ⊙ X·w)): the same Hessian; the report divides by B2's references.
fn b2_literal(c: &mut Criterion) {
    for n in [100, 500] {
        let i = logistic::Inputs::new(n);
        let mut group = c.benchmark_group(format!("b2_literal_hessian/f64/n={n}"));
        group.bench_function(BenchmarkId::from_parameter("generated"), |b| {
            b.iter(|| logistic::f64_logistic::loss_literal_hessian(black_box(&i.x), &i.w, &i.y))
        });
        group.finish();
        let (x, w, y) = i.to_f32();
        let mut group = c.benchmark_group(format!("b2_literal_hessian/f32/n={n}"));
        group.bench_function(BenchmarkId::from_parameter("generated"), |b| {
            b.iter(|| logistic::f32_logistic::loss_literal_hessian(black_box(&x), &w, &y))
        });
        group.finish();
    }
}

fn b4(c: &mut Criterion) {
    for n in [100, 1000] {
        let i = tanh_layer::Inputs::new(n);
        let (ws, bs, xs) = (i.w.as_slice(), i.b.as_slice(), i.x.as_slice());
        let mut group = c.benchmark_group(format!("b4_jacobian/f64/n={n}"));
        group.bench_function(BenchmarkId::from_parameter("hand"), |b| {
            b.iter(|| tanh_layer::f64_layer::jacobian_by_hand(black_box(&i.w), &i.b, &i.x))
        });
        for (kernel, id) in Crate::ALL {
            group.bench_function(BenchmarkId::from_parameter(id), |b| {
                b.iter(|| tanh_layer::f64_layer::jacobian_by_hand_on(kernel, black_box(ws), bs, xs))
            });
        }
        group.bench_function(BenchmarkId::from_parameter("hand-fused"), |b| {
            b.iter(|| tanh_layer::f64_layer::jacobian_by_hand_fused(black_box(ws), bs, xs))
        });
        group.bench_function(BenchmarkId::from_parameter("generated"), |b| {
            b.iter(|| tanh_layer::f64_layer::layer_jacobian(black_box(&i.w), &i.b, &i.x))
        });
        group.finish();
        let (w, bias, x) = i.to_f32();
        let (ws, bs, xs) = (w.as_slice(), bias.as_slice(), x.as_slice());
        let mut group = c.benchmark_group(format!("b4_jacobian/f32/n={n}"));
        group.bench_function(BenchmarkId::from_parameter("hand"), |b| {
            b.iter(|| tanh_layer::f32_layer::jacobian_by_hand(black_box(&w), &bias, &x))
        });
        for (kernel, id) in Crate::ALL {
            group.bench_function(BenchmarkId::from_parameter(id), |b| {
                b.iter(|| tanh_layer::f32_layer::jacobian_by_hand_on(kernel, black_box(ws), bs, xs))
            });
        }
        group.bench_function(BenchmarkId::from_parameter("hand-fused"), |b| {
            b.iter(|| tanh_layer::f32_layer::jacobian_by_hand_fused(black_box(ws), bs, xs))
        });
        group.bench_function(BenchmarkId::from_parameter("generated"), |b| {
            b.iter(|| tanh_layer::f32_layer::layer_jacobian(black_box(&w), &bias, &x))
        });
        group.finish();
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(30)
        .warm_up_time(std::time::Duration::from_secs(1))
        .measurement_time(std::time::Duration::from_secs(3));
    targets = b2, b2_literal, b4
}
criterion_main!(benches);
