//! B5 (DESIGN.md): GEMM throughput of the runtime, C = A·B and C = A·Bᵀ (Bᵀ passed as strides,
//! no copy), square n = 256, 512, 1024, f32 and f64. Criterion reports time per product; the
//! GFLOP/s figure is 2n³ / time (criterion's throughput line shows elements; see the comment
//! at `throughput`). Run with `cargo bench --bench gemm`.

mod workloads;

use autodiff::Matrix;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use std::hint::black_box;
use workloads::SplitMix64;

/// Deterministic square inputs.
fn inputs(n: usize) -> (Matrix<f64>, Matrix<f64>) {
    let mut rng = SplitMix64::new(0x00B5);
    let a = Matrix::from_vec(n, n, rng.normals(n * n, 1.0));
    let b = Matrix::from_vec(n, n, rng.normals(n * n, 1.0));
    (a, b)
}

fn to_f32(m: &Matrix<f64>) -> Matrix<f32> {
    Matrix::from_vec(
        m.rows(),
        m.cols(),
        m.as_slice().iter().map(|&v| v as f32).collect(),
    )
}

fn b5(c: &mut Criterion) {
    for n in [256, 512, 1024] {
        let (a, b) = inputs(n);
        let (a32, b32) = (to_f32(&a), to_f32(&b));
        let mut group = c.benchmark_group(format!("b5_gemm/n={n}"));
        // One "element" per floating-point operation: criterion's elements/s is FLOP/s.
        group.throughput(Throughput::Elements(2 * (n as u64).pow(3)));
        group.bench_function(BenchmarkId::new("f64", "A·B"), |bench| {
            bench.iter(|| black_box(&a).matmul(&b))
        });
        group.bench_function(BenchmarkId::new("f64", "A·Bᵀ"), |bench| {
            bench.iter(|| black_box(&a).matmul_t(&b))
        });
        group.bench_function(BenchmarkId::new("f32", "A·B"), |bench| {
            bench.iter(|| black_box(&a32).matmul(&b32))
        });
        group.bench_function(BenchmarkId::new("f32", "A·Bᵀ"), |bench| {
            bench.iter(|| black_box(&a32).matmul_t(&b32))
        });
        group.finish();
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(20)
        .warm_up_time(std::time::Duration::from_secs(1))
        .measurement_time(std::time::Duration::from_secs(3));
    targets = b5
}
criterion_main!(benches);
