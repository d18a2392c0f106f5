//! B6 (DESIGN.md): the gradient of an Elman RNN's loss through a `for` loop, generated, against
//! backpropagation through time written by hand on the GEMM kernel, f32 and f64, T = 100.
//! Run with `cargo bench --bench rnn`; compare the ratios within one run.

mod workloads;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use std::hint::black_box;
use workloads::rnn;

fn b6(c: &mut Criterion) {
    let steps = 100;
    let i = rnn::Inputs::new(steps);
    let mut group = c.benchmark_group(format!("b6_rnn/f64/T={steps}"));
    group.bench_function(BenchmarkId::from_parameter("hand"), |b| {
        b.iter(|| rnn::f64_rnn::rnn_loss_hand(black_box(&i.h0), &i.w, &i.u, &i.b, &i.xs, steps))
    });
    group.bench_function(BenchmarkId::from_parameter("generated"), |b| {
        b.iter(|| rnn::f64_rnn::rnn_loss_grad(black_box(&i.h0), &i.w, &i.u, &i.b, &i.xs, steps))
    });
    group.finish();
    let [h0, w, u, bias, xs] = i.to_f32();
    let mut group = c.benchmark_group(format!("b6_rnn/f32/T={steps}"));
    group.bench_function(BenchmarkId::from_parameter("hand"), |b| {
        b.iter(|| rnn::f32_rnn::rnn_loss_hand(black_box(&h0), &w, &u, &bias, &xs, steps))
    });
    group.bench_function(BenchmarkId::from_parameter("generated"), |b| {
        b.iter(|| rnn::f32_rnn::rnn_loss_grad(black_box(&h0), &w, &u, &bias, &xs, steps))
    });
    group.finish();
}

criterion_group!(benches, b6);
criterion_main!(benches);
