//! B6 (DESIGN.md): the gradient of an Elman RNN's loss through a `for` loop, generated, against
//! backpropagation through time written by hand on the GEMM kernel, f32 and f64, T = 100; and
//! at T = 1,000 and 10,000 (f64) the plain loop beside the checkpointed one (`#[checkpoint]`),
//! time and peak heap bytes. Run with `cargo bench --bench rnn`; compare the ratios within one
//! run.

mod workloads;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use peak_alloc::PeakAlloc;
use std::hint::black_box;
use workloads::rnn;

/// The system allocator, tracking the live heap bytes and their peak (relaxed atomics).
#[global_allocator]
static HEAP: PeakAlloc = PeakAlloc;

/// The most heap bytes live at once during `f()` beyond those live before it, in MiB: what
/// the call stores (the inputs and anything cached before it not counted). Measured on a
/// second call, as a training loop makes it.
fn peak_mib<R>(f: impl Fn() -> R) -> f64 {
    drop(black_box(f()));
    let before = HEAP.current_usage();
    HEAP.reset_peak_usage();
    drop(black_box(f()));
    (HEAP.peak_usage() - before) as f64 / (1u64 << 20) as f64
}

/// B6 at T = 1,000 and 10,000 in f64: hand-written BPTT, the plain generated gradient and the
/// checkpointed one, timed; their peak heap bytes written where `benches/run` picks them up.
fn b6_checkpoint(c: &mut Criterion) {
    let mut rows = Vec::new();
    for steps in [1_000, 10_000] {
        let i = rnn::Inputs::new(steps);
        let hand = || rnn::f64_rnn::rnn_loss_hand(&i.h0, &i.w, &i.u, &i.b, &i.xs, steps);
        let plain = || rnn::f64_rnn::rnn_loss_grad(&i.h0, &i.w, &i.u, &i.b, &i.xs, steps);
        let cut =
            || rnn::f64_rnn::rnn_loss_checkpointed_grad(&i.h0, &i.w, &i.u, &i.b, &i.xs, steps);
        rows.push(format!(
            "| {steps} | {:.1} | {:.1} | {:.1} |",
            peak_mib(hand),
            peak_mib(plain),
            peak_mib(cut)
        ));
        let mut group = c.benchmark_group(format!("b6_rnn/f64/T={steps}"));
        group.sample_size(10);
        group.bench_function(BenchmarkId::from_parameter("hand"), |b| b.iter(hand));
        group.bench_function(BenchmarkId::from_parameter("generated"), |b| b.iter(plain));
        group.bench_function(BenchmarkId::from_parameter("checkpointed"), |b| b.iter(cut));
        group.finish();
    }
    let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("b6_memory.md");
    let text = format!(
        "B6 memory: the most heap bytes live at once during one gradient call (f64, batch 32, \
         hidden 128; inputs not counted), measured by `peak_alloc` in `benches/rnn.rs`. The \
         plain loop tapes each step's state once (tanh's result is the next step's state); `#[checkpoint]` stores the state \
         at the start of each of ⌈T/⌊√T⌋⌉ segments plus one segment's worth, at the cost of one \
         more forward pass (its time is in the B6 table at the same T).\n\n\
         | T | hand-written BPTT (MiB) | generated (MiB) | generated, `#[checkpoint]` (MiB) |\n\
         |---|---|---|---|\n{}\n",
        rows.join("\n")
    );
    if let Err(e) = std::fs::write(&path, text) {
        eprintln!("could not write {}: {e}", path.display());
    }
}

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

criterion_group!(benches, b6, b6_checkpoint);
criterion_main!(benches);
