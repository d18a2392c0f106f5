#![doc = include_str!("../README.md")]
#![deny(unsafe_code)]

// Generated code names `::autodiff::...`; this lets the crate's own tests use the macro too.
extern crate self as autodiff;

#[doc(hidden)]
pub use autodiff_core::__elementwise_functions;
#[doc(hidden)]
pub use autodiff_core::float;
#[doc(hidden)]
pub use autodiff_core::kernels;
pub use autodiff_core::{
    buffer, gemm, gradcheck, symbolic, trace, Differentiable, Float, Matrix, Real, ScalarExt,
    Trace, Vector,
};
#[doc(hidden)]
pub use autodiff_macros::__differentiable_with;
pub use autodiff_macros::derivative;
/// What `only(...)` saves, measured item by item: [Only the items you
/// need](crate#only-the-items-you-need).
///
pub use autodiff_macros::differentiable;
/// The derive of [`Differentiable`](trait@Differentiable) (the trait and the derive share the
/// name, as serde's do).
pub use autodiff_macros::Differentiable;

/// `ndarray`, at the version whose `Array2`/`Array1` convert to and from `Matrix`/`Vector`.
#[cfg(feature = "ndarray")]
pub use ndarray;

/// `nalgebra`, at the version whose `DMatrix`/`DVector` convert to and from `Matrix`/`Vector`.
#[cfg(feature = "nalgebra")]
pub use nalgebra;

/// `argmin`, at the version whose solvers [`optim::Objective`] and `Vector`/`Matrix` work with.
#[cfg(feature = "argmin")]
pub use argmin;

/// Generated derivatives as an argmin problem: [`Objective`](optim::Objective) (feature
/// `argmin`; README, "Solving with argmin").
#[cfg(feature = "argmin")]
pub use autodiff_core::optim;

/// `use autodiff::prelude::*;` brings the tensor types, the attributes, the scalar methods and
/// `Differentiable` (the derive and the trait).
pub mod prelude {
    pub use crate::{derivative, differentiable, Differentiable, Float, Matrix, ScalarExt, Vector};
}
