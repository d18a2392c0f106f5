//! Runtime tensors and the symbolic differentiation engine of `autodiff`.
//!
//! - [`tensor`]: `Matrix`, `Vector`, their operators and methods, the GEMM kernel and the fused
//!   derivative kernels that generated code calls. Plain numerics; knows nothing of differentiation.
//! - [`gradcheck`]: generated derivatives against finite differences, for users' tests.
//! - [`symbolic`]: the SSA IR, the rule table (one entry per op), the reverse transformation, the
//!   simplifier, the printer and an interpreter. The `#[differentiable]` macro is a thin front end
//!   over this module.
#![deny(unsafe_code)]

pub mod gradcheck;
pub mod symbolic;
pub mod tensor;

pub use tensor::{buffer, gemm, kernels, Matrix, Real, ScalarExt, Vector};
