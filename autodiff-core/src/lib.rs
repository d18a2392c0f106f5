//! Runtime tensors and the symbolic differentiation engine of `autodiff`.
//!
//! The engine ([`symbolic`]) is always here; the runtime (tensors, kernels, GEMM, gradcheck and
//! the engine's interpreter) is the default feature `runtime`. The `#[differentiable]` macro
//! depends on the engine alone.
//!
//! - [`tensor`]: `Matrix`, `Vector`, their operators and methods, the GEMM kernel and the fused
//!   derivative kernels that generated code calls. Plain numerics; knows nothing of differentiation.
//! - [`gradcheck`]: generated derivatives against finite differences, for users' tests.
//! - [`symbolic`]: the SSA IR, the rule table (one entry per op), the reverse transformation, the
//!   simplifier, the printer and an interpreter. The `#[differentiable]` macro is a thin front end
//!   over this module.
#![deny(unsafe_code)]

#[cfg(feature = "runtime")]
pub mod float;
pub mod functions;
#[cfg(feature = "runtime")]
pub mod gradcheck;
#[cfg(feature = "argmin")]
pub mod optim;
#[cfg(feature = "runtime")]
pub mod parameters;
pub mod symbolic;
#[cfg(feature = "runtime")]
pub mod tensor;
#[cfg(feature = "runtime")]
pub mod trace;

#[cfg(feature = "runtime")]
pub use float::Float;
#[cfg(feature = "runtime")]
pub use parameters::Differentiable;
#[cfg(feature = "runtime")]
#[doc(hidden)]
pub use tensor::kernels;
#[cfg(feature = "runtime")]
pub use tensor::{buffer, gemm, Matrix, Real, ScalarExt, Vector};
#[cfg(feature = "runtime")]
pub use trace::Trace;
