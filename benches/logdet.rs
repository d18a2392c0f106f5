//! B7 (DESIGN.md): the gradient of ln |det X| + tr(A·X⁻¹) for a 200×200 symmetric positive
//! definite X, generated, against the closed form written by hand with the same factorization
//! crate (faer) and the GEMM kernel, f32 and f64. Run with `cargo bench --bench logdet`; compare
//! the ratios within one run.

mod workloads;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use std::hint::black_box;
use workloads::logdet;

fn b7(c: &mut Criterion) {
    let n = 200;
    let i = logdet::Inputs::new(n);
    let mut group = c.benchmark_group(format!("b7_logdet/f64/n={n}"));
    group.bench_function(BenchmarkId::from_parameter("hand"), |b| {
        b.iter(|| logdet::f64_logdet::gradient_by_hand(black_box(&i.x), &i.a))
    });
    group.bench_function(BenchmarkId::from_parameter("generated"), |b| {
        b.iter(|| logdet::f64_logdet::b7_grad(black_box(&i.x), &i.a))
    });
    group.finish();
    let (x, a) = i.to_f32();
    let mut group = c.benchmark_group(format!("b7_logdet/f32/n={n}"));
    group.bench_function(BenchmarkId::from_parameter("hand"), |b| {
        b.iter(|| logdet::f32_logdet::gradient_by_hand(black_box(&x), &a))
    });
    group.bench_function(BenchmarkId::from_parameter("generated"), |b| {
        b.iter(|| logdet::f32_logdet::b7_grad(black_box(&x), &a))
    });
    group.finish();
}

criterion_group!(benches, b7);
criterion_main!(benches);
