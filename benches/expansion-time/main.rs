//! The compile-time benchmark of `#[differentiable]`: `benches/expansion-time/run` rebuilds this
//! target and reads the time of its macro expansion from rustc (`-Ztime-passes`).

mod fifty_functions;

/// Nothing to run: the benchmark is the compilation.
fn main() {}
