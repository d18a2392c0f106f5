//! B2 and B4 (DESIGN.md): the generated logistic-regression Hessian and tanh-layer Jacobian
//! against the closed forms written by hand on the same runtime, f32 and f64. Run with
//! `cargo bench --bench dense`; compare the ratios within one run.

mod workloads;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use std::hint::black_box;
use workloads::{logistic, tanh_layer};

fn b2(c: &mut Criterion) {
    for n in [100, 500] {
        let i = logistic::Inputs::new(n);
        let mut group = c.benchmark_group(format!("b2_hessian/f64/n={n}"));
        group.bench_function(BenchmarkId::from_parameter("hand"), |b| {
            b.iter(|| logistic::f64_logistic::hessian_by_hand(black_box(&i.x), &i.w, &i.y))
        });
        group.bench_function(BenchmarkId::from_parameter("generated"), |b| {
            b.iter(|| logistic::f64_logistic::loss_hessian(black_box(&i.x), &i.w, &i.y))
        });
        group.finish();
        let (x, w, y) = i.to_f32();
        let mut group = c.benchmark_group(format!("b2_hessian/f32/n={n}"));
        group.bench_function(BenchmarkId::from_parameter("hand"), |b| {
            b.iter(|| logistic::f32_logistic::hessian_by_hand(black_box(&x), &w, &y))
        });
        group.bench_function(BenchmarkId::from_parameter("generated"), |b| {
            b.iter(|| logistic::f32_logistic::loss_hessian(black_box(&x), &w, &y))
        });
        group.finish();
    }
}

fn b4(c: &mut Criterion) {
    for n in [100, 1000] {
        let i = tanh_layer::Inputs::new(n);
        let mut group = c.benchmark_group(format!("b4_jacobian/f64/n={n}"));
        group.bench_function(BenchmarkId::from_parameter("hand"), |b| {
            b.iter(|| tanh_layer::f64_layer::jacobian_by_hand(black_box(&i.w), &i.b, &i.x))
        });
        group.bench_function(BenchmarkId::from_parameter("generated"), |b| {
            b.iter(|| tanh_layer::f64_layer::layer_jacobian(black_box(&i.w), &i.b, &i.x))
        });
        group.finish();
        let (w, bias, x) = i.to_f32();
        let mut group = c.benchmark_group(format!("b4_jacobian/f32/n={n}"));
        group.bench_function(BenchmarkId::from_parameter("hand"), |b| {
            b.iter(|| tanh_layer::f32_layer::jacobian_by_hand(black_box(&w), &bias, &x))
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
    targets = b2, b4
}
criterion_main!(benches);
