//! B1 (DESIGN.md): MLP loss value + gradient, generated (`mlp_loss_grad`) against a careful
//! hand-written backward pass, on the same runtime (`hand`) and on each GEMM kernel crate called
//! directly with plain slices (`hand-mm`: matrixmultiply, `hand-gemm`: the `gemm` crate; the
//! report divides by the fastest), and the forward pass alone; f32 and f64, B = 64 and 1024.
//! Run with `cargo bench --bench mlp`; compare the ratios within one run. The hand-written
//! passes run first in each group (the first benchmark of a group tends to pay for the machine
//! settling, so this order does not favour the generated code).

mod workloads;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use stats_alloc::{Region, StatsAlloc, INSTRUMENTED_SYSTEM};
use std::alloc::System;
use std::hint::black_box;
use workloads::kernels::Crate;
use workloads::mlp::{f32_mlp, f64_mlp, Inputs};

/// The system allocator, counting allocations (a few relaxed atomic adds each: the same small
/// cost for the generated and the hand-written pass). `stats_alloc` keeps the `unsafe` of a
/// global allocator out of this crate.
#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// The allocations one call of `f` makes, as a table cell: all of them with the runtime's buffer
/// cache empty, then in parentheses those that still reach the allocator when `f` runs in a loop
/// (the cache holding the previous call's buffers). One call first warms up the GEMM threads.
fn allocations<R>(f: impl Fn() -> R) -> String {
    black_box(f());
    let count = || {
        let region = Region::new(GLOBAL);
        black_box(f());
        region.change().allocations
    };
    autodiff::buffer::clear_thread_cache();
    let cold = count();
    let in_a_loop = count();
    format!("{cold} ({in_a_loop})")
}

/// Writes the allocation counts where `benches/run` picks them up for docs/BENCHMARKS.md.
fn write_allocation_notes(rows: &[String]) {
    let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("b1_allocations.md");
    let table = format!(
        "Heap allocations per B1 call, counted with `stats_alloc` in `benches/mlp.rs`, the GEMM \
         kernels' own packing buffers included. The first number is every allocation the call \
         makes (the runtime's buffer cache empty); in parentheses, those that still reach the \
         allocator when the call runs in a loop, its large buffers coming back from the cache:\n\n\
         | case | generated value+grad | hand-written value+grad | forward alone |\n\
         |---|---|---|---|\n{}\n",
        rows.join("\n")
    );
    if let Err(e) = std::fs::write(&path, table) {
        eprintln!("could not write {}: {e}", path.display());
    }
}

fn b1(c: &mut Criterion) {
    let mut allocation_rows = Vec::new();
    for batch in [64, 1024] {
        let i = Inputs::new(batch);
        let [x, w1, b1, w2, b2, y] = i.to_f32();
        // Allocations per call, generated / hand / forward, f64 then f32.
        let counts = [
            allocations(|| f64_mlp::mlp_loss_grad(&i.x, &i.w1, &i.b1, &i.w2, &i.b2, &i.y)),
            allocations(|| f64_mlp::mlp_loss_hand(&i.x, &i.w1, &i.b1, &i.w2, &i.b2, &i.y)),
            allocations(|| f64_mlp::mlp_loss(&i.x, &i.w1, &i.b1, &i.w2, &i.b2, &i.y)),
            allocations(|| f32_mlp::mlp_loss_grad(&x, &w1, &b1, &w2, &b2, &y)),
            allocations(|| f32_mlp::mlp_loss_hand(&x, &w1, &b1, &w2, &b2, &y)),
            allocations(|| f32_mlp::mlp_loss(&x, &w1, &b1, &w2, &b2, &y)),
        ];
        for (precision, c) in [("f64", &counts[..3]), ("f32", &counts[3..])] {
            let row = format!("| {precision} B={batch} | {} | {} | {} |", c[0], c[1], c[2]);
            println!("b1_mlp allocations per call {row}");
            allocation_rows.push(row);
        }
        let mut group = c.benchmark_group(format!("b1_mlp/f64/B={batch}"));
        group.bench_function(BenchmarkId::from_parameter("hand"), |b| {
            b.iter(|| f64_mlp::mlp_loss_hand(black_box(&i.x), &i.w1, &i.b1, &i.w2, &i.b2, &i.y))
        });
        let s = [&i.x, &i.w1, &i.b1, &i.w2, &i.b2, &i.y].map(|m| m.as_slice());
        for (kernel, id) in Crate::ALL {
            group.bench_function(BenchmarkId::from_parameter(id), |b| {
                b.iter(|| {
                    f64_mlp::mlp_loss_hand_on(kernel, black_box(s[0]), s[1], s[2], s[3], s[4], s[5])
                })
            });
        }
        group.bench_function(BenchmarkId::from_parameter("generated"), |b| {
            b.iter(|| f64_mlp::mlp_loss_grad(black_box(&i.x), &i.w1, &i.b1, &i.w2, &i.b2, &i.y))
        });
        group.bench_function(BenchmarkId::from_parameter("forward"), |b| {
            b.iter(|| f64_mlp::mlp_loss(black_box(&i.x), &i.w1, &i.b1, &i.w2, &i.b2, &i.y))
        });
        group.finish();

        let mut group = c.benchmark_group(format!("b1_mlp/f32/B={batch}"));
        group.bench_function(BenchmarkId::from_parameter("hand"), |b| {
            b.iter(|| f32_mlp::mlp_loss_hand(black_box(&x), &w1, &b1, &w2, &b2, &y))
        });
        let s = [&x, &w1, &b1, &w2, &b2, &y].map(|m| m.as_slice());
        for (kernel, id) in Crate::ALL {
            group.bench_function(BenchmarkId::from_parameter(id), |b| {
                b.iter(|| {
                    f32_mlp::mlp_loss_hand_on(kernel, black_box(s[0]), s[1], s[2], s[3], s[4], s[5])
                })
            });
        }
        group.bench_function(BenchmarkId::from_parameter("generated"), |b| {
            b.iter(|| f32_mlp::mlp_loss_grad(black_box(&x), &w1, &b1, &w2, &b2, &y))
        });
        group.bench_function(BenchmarkId::from_parameter("forward"), |b| {
            b.iter(|| f32_mlp::mlp_loss(black_box(&x), &w1, &b1, &w2, &b2, &y))
        });
        group.finish();
    }
    write_allocation_notes(&allocation_rows);
    b1_struct(c);
}

/// B1 with an `Mlp` parameter struct and integer labels against the same loss with the
/// parameters flat (issue 17: the struct costs nothing).
fn b1_struct(c: &mut Criterion) {
    for batch in [64, 1024] {
        let i = Inputs::new(batch);
        let labels = i.labels();
        let p = f64_mlp::Mlp::new(&i.w1, &i.b1, &i.w2, &i.b2);
        let mut group = c.benchmark_group(format!("b1_struct/f64/B={batch}"));
        group.bench_function(BenchmarkId::from_parameter("flat"), |b| {
            b.iter(|| {
                f64_mlp::mlp_loss_labels_grad(black_box(&i.x), &p.w1, &p.b1, &p.w2, &p.b2, &labels)
            })
        });
        group.bench_function(BenchmarkId::from_parameter("struct"), |b| {
            b.iter(|| f64_mlp::mlp_loss_struct_grad(black_box(&p), &i.x, &labels))
        });
        group.finish();
        let [x, w1, b1, w2, b2, _] = i.to_f32();
        let p = f32_mlp::Mlp::new(&w1, &b1, &w2, &b2);
        let mut group = c.benchmark_group(format!("b1_struct/f32/B={batch}"));
        group.bench_function(BenchmarkId::from_parameter("flat"), |b| {
            b.iter(|| {
                f32_mlp::mlp_loss_labels_grad(black_box(&x), &p.w1, &p.b1, &p.w2, &p.b2, &labels)
            })
        });
        group.bench_function(BenchmarkId::from_parameter("struct"), |b| {
            b.iter(|| f32_mlp::mlp_loss_struct_grad(black_box(&p), &x, &labels))
        });
        group.finish();
    }
}

// Long warm-up and measurement: on a shared 2-core machine the 2-thread GEMM makes single
// samples noisy.
criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(50)
        .warm_up_time(std::time::Duration::from_secs(2))
        .measurement_time(std::time::Duration::from_secs(5));
    targets = b1
}
criterion_main!(benches);
