//! B5 (DESIGN.md): GEMM throughput of the runtime, C = A·B and C = A·Bᵀ (Bᵀ passed as strides,
//! no copy), square n = 256, 512, 1024, f32 and f64. Criterion reports time per product; the
//! GFLOP/s figure is 2n³ / time (criterion's elements/s with one element per FLOP).
//!
//! The `gemm_shapes` groups time the same kernel on the products the workloads run (B1's layers
//! and their transposes, B2's Xᵀ·X), which are thinner than B5's squares. Run with
//! `cargo bench --bench gemm`.

mod workloads;

use autodiff::gemm::{gemm, MatRef};
use autodiff::{Matrix, Real};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use std::hint::black_box;
use workloads::SplitMix64;

/// A deterministic `rows × cols` matrix of N(0, 1) draws.
fn normal_matrix<T: Real>(rng: &mut SplitMix64, rows: usize, cols: usize) -> Matrix<T> {
    let data = rng.normals(rows * cols, 1.0);
    Matrix::from_vec(rows, cols, data.into_iter().map(T::from_f64).collect())
}

/// One product into a preallocated output, so only the kernel is timed.
fn product_into<T: Real>(a: MatRef<'_, T>, b: MatRef<'_, T>, c: &mut [T]) {
    gemm(T::one(), a, b, T::zero(), c);
}

fn b5_for<T: Real>(c: &mut Criterion, precision: &str) {
    for n in [256, 512, 1024] {
        let mut rng = SplitMix64::new(0x00B5);
        let a = normal_matrix::<T>(&mut rng, n, n);
        let b = normal_matrix::<T>(&mut rng, n, n);
        let mut group = c.benchmark_group(format!("b5_gemm/n={n}"));
        // One "element" per floating-point operation: criterion's elements/s is FLOP/s.
        group.throughput(Throughput::Elements(2 * (n as u64).pow(3)));
        group.bench_function(BenchmarkId::new(precision, "A·B"), |bench| {
            bench.iter(|| black_box(&a).matmul(&b))
        });
        group.bench_function(BenchmarkId::new(precision, "A·Bᵀ"), |bench| {
            bench.iter(|| black_box(&a).matmul_t(&b))
        });
        group.finish();
    }
}

/// The products the workloads run, as (label, m, k, n, A transposed, B transposed).
const WORKLOAD_SHAPES: [(&str, usize, usize, usize, bool, bool); 9] = [
    ("B1 X·W1, B=64", 64, 784, 256, false, false),
    ("B1 Xᵀ·dZ1, B=64", 784, 64, 256, true, false),
    ("B1 X·W1, B=1024", 1024, 784, 256, false, false),
    ("B1 Xᵀ·dZ1, B=1024", 784, 1024, 256, true, false),
    ("B1 H·W2, B=1024", 1024, 256, 10, false, false),
    ("B1 dZ2·W2ᵀ, B=1024", 1024, 10, 256, false, true),
    ("B1 Hᵀ·dZ2, B=1024", 256, 1024, 10, true, false),
    ("B2 Xᵀ·X, n=100", 100, 1000, 100, true, false),
    ("B2 Xᵀ·X, n=500", 500, 1000, 500, true, false),
];

fn shapes_for<T: Real>(c: &mut Criterion, precision: &str) {
    for (label, m, k, n, a_transposed, b_transposed) in WORKLOAD_SHAPES {
        let mut rng = SplitMix64::new(0x00B5);
        // Stored as the operand's transpose when the product reads it transposed.
        let a = if a_transposed {
            normal_matrix::<T>(&mut rng, k, m)
        } else {
            normal_matrix::<T>(&mut rng, m, k)
        };
        let b = if b_transposed {
            normal_matrix::<T>(&mut rng, n, k)
        } else {
            normal_matrix::<T>(&mut rng, k, n)
        };
        let av = if a_transposed { a.view().t() } else { a.view() };
        let bv = if b_transposed { b.view().t() } else { b.view() };
        let mut out = vec![T::zero(); m * n];
        let mut group = c.benchmark_group("gemm_shapes");
        group.throughput(Throughput::Elements(2 * (m * k * n) as u64));
        group.bench_function(BenchmarkId::new(precision, label), |bench| {
            bench.iter(|| product_into(black_box(av), bv, &mut out))
        });
        group.finish();
    }
}

fn b5(c: &mut Criterion) {
    b5_for::<f64>(c, "f64");
    b5_for::<f32>(c, "f32");
}

fn shapes(c: &mut Criterion) {
    shapes_for::<f64>(c, "f64");
    shapes_for::<f32>(c, "f32");
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(20)
        .warm_up_time(std::time::Duration::from_secs(1))
        .measurement_time(std::time::Duration::from_secs(2));
    targets = b5, shapes
}
criterion_main!(benches);
