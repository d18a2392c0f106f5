//! Runtime tensors: [`Matrix`] and [`Vector`], their operators and methods, the strided GEMM
//! kernel and the fused derivative kernels ([`kernels`]) that generated code calls.
//!
//! Plain numerics with no knowledge of differentiation. Shape errors panic with a message naming
//! the operation and both shapes, e.g. ``autodiff: shape mismatch in `matmul`: left is 2×3, right
//! is 4×5``.

mod arith;
pub mod buffer;
mod elementwise;
pub(crate) mod fast_math;
mod fused;
pub mod gemm;
mod interop;
#[doc(hidden)]
pub mod kernels;
mod linalg;
mod lu;
mod matmul;
mod matrix;
mod reduce;
mod region;
pub mod results;
mod scalar;
mod shape;
mod softmax;
mod threads;
mod vector;

pub use elementwise::{Elementwise, Pointwise};
pub use linalg::DiagonalEntries;
pub use lu::SolveRhs;
pub use matmul::MatMulRhs;
pub use matrix::Matrix;
pub use results::Results;
pub use scalar::{Real, ScalarExt};
pub use softmax::RowWise;
pub use vector::Vector;
