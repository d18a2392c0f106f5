//! B3 (DESIGN.md): the gradient of Rosenbrock's function written with slices, generated,
//! against the fused loops a person writes by hand (two ways: the value as one running sum,
//! `hand`, or in 8 lanes, `hand-lanes`; the report takes the faster), f32 and f64, n = 10,
//! 1,000 and 100,000; beside them the loop form reading `x[i]` (reverse mode through a loop)
//! and `num-dual`, the Rust forward-mode peer (one dual number carrying all n partials: O(n²),
//! so measured up to n = 1,000). Run with `cargo bench --bench rosenbrock`; compare the ratios
//! within one run.

mod workloads;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use nalgebra::DVector;
use num_dual::{gradient, DualNum};
use std::hint::black_box;
use workloads::rosenbrock;

/// Rosenbrock's function over any dual number type, as num-dual's users write it (dynamically
/// sized dual numbers are not `Copy`: each operation clones).
fn rosenbrock_dual<D: DualNum<F>, F: num_dual::DualNumFloat>(x: &[D]) -> D {
    x.windows(2).fold(D::zero(), |total, pair| {
        let d = pair[1].clone() - pair[0].clone() * pair[0].clone();
        let e = D::one() - pair[0].clone();
        total + d.clone() * d * F::from(100.0).unwrap() + e.clone() * e
    })
}

fn b3(c: &mut Criterion) {
    for n in [10, 1_000, 100_000] {
        let i = rosenbrock::Inputs::new(n);
        let x = &i.x;
        let mut group = c.benchmark_group(format!("b3_rosenbrock/f64/n={n}"));
        group.bench_function(BenchmarkId::from_parameter("hand"), |b| {
            b.iter(|| rosenbrock::f64_rosenbrock::gradient_by_hand(black_box(x)))
        });
        group.bench_function(BenchmarkId::from_parameter("hand-lanes"), |b| {
            b.iter(|| rosenbrock::f64_rosenbrock::gradient_by_hand_lanes(black_box(x)))
        });
        group.bench_function(BenchmarkId::from_parameter("generated"), |b| {
            b.iter(|| rosenbrock::f64_rosenbrock::rosenbrock_grad(black_box(x)))
        });
        group.bench_function(BenchmarkId::from_parameter("generated-loop"), |b| {
            b.iter(|| rosenbrock::f64_rosenbrock::rosenbrock_loop_grad(black_box(x)))
        });
        if n <= 1_000 {
            let v = DVector::from_column_slice(x.as_slice());
            group.bench_function(BenchmarkId::from_parameter("num-dual"), |b| {
                b.iter(|| {
                    gradient(
                        |v: DVector<_>| rosenbrock_dual::<_, f64>(v.as_slice()),
                        black_box(v.clone()),
                    )
                })
            });
        }
        group.finish();

        let x = i.to_f32();
        let mut group = c.benchmark_group(format!("b3_rosenbrock/f32/n={n}"));
        group.bench_function(BenchmarkId::from_parameter("hand"), |b| {
            b.iter(|| rosenbrock::f32_rosenbrock::gradient_by_hand(black_box(&x)))
        });
        group.bench_function(BenchmarkId::from_parameter("hand-lanes"), |b| {
            b.iter(|| rosenbrock::f32_rosenbrock::gradient_by_hand_lanes(black_box(&x)))
        });
        group.bench_function(BenchmarkId::from_parameter("generated"), |b| {
            b.iter(|| rosenbrock::f32_rosenbrock::rosenbrock_grad(black_box(&x)))
        });
        group.bench_function(BenchmarkId::from_parameter("generated-loop"), |b| {
            b.iter(|| rosenbrock::f32_rosenbrock::rosenbrock_loop_grad(black_box(&x)))
        });
        if n <= 1_000 {
            let v = DVector::from_column_slice(x.as_slice());
            group.bench_function(BenchmarkId::from_parameter("num-dual"), |b| {
                b.iter(|| {
                    gradient(
                        |v: DVector<_>| rosenbrock_dual::<_, f32>(v.as_slice()),
                        black_box(v.clone()),
                    )
                })
            });
        }
        group.finish();
    }
}

criterion_group!(benches, b3);
criterion_main!(benches);
