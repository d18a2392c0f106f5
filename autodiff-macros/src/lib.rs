//! The `#[differentiable]` attribute of `autodiff`.
//!
//! A thin front end over the engine in `autodiff_core::symbolic`: it parses the function with
//! `syn` (`signature`, `attr`), lowers its body into the engine's IR (`lower`), asks the
//! engine for its plan (every derived program, and what to generate from them), and prints it
//! back as Rust, one function per item (`expand`, `dense`, `blocks`, over `emit`).
//! Errors are collected (`errors`) and reported together, spanned on the offending tokens,
//! with the user's function still emitted so that one mistake does not cascade (`expand`).
#![deny(unsafe_code)]

use proc_macro::TokenStream;

mod attr;
mod blocks;
mod calls;
mod custom;
mod dense;
mod depth;
mod derive;
mod emit;
mod errors;
mod expand;
mod generic;
mod items;
mod lower;
mod methods;
mod nesting;
mod signature;
mod structs;
mod trace;

/// Generates, beside the function `f` it is placed on, `f_vjp`, `f_jvp`, `f_jacobian`,
/// `f_gradcheck`, `f_derivation`, `f_trace_vjp` and, for a scalar result, `f_grad`, `f_hvp`,
/// `f_hessian` and `f_trace`.
///
/// Arguments, in any order:
/// - `wrt(a, b)`: the parameters to differentiate with respect to (default: every
///   differentiable parameter).
/// - `only(grad, vjp)`: generate only the items named, among `grad`, `vjp`, `jvp`, `hvp`,
///   `jacobian`, `hessian`, `gradcheck`, `derivation` and `trace` (default: all of them). The
///   second-order items and the check are the largest: a function that needs only gradients
///   compiles in about half the time with `only(grad)` (measured item by item in the
///   `autodiff` crate documentation, "Only the items you need"). The items a named item calls
///   are generated with it: `jacobian` calls `grad` for a scalar result, and `vjp` and `jvp`
///   where it takes one pass per direction; `hessian` calls `hvp` where it takes one per
///   direction; `gradcheck` calls `vjp` and `jvp`. Name every item you call yourself. Each
///   named item must exist for the function: `grad`, `hvp` and `hessian` need a scalar result,
///   and the last two second derivatives of every function the gradient calls. The hidden
///   building blocks that other differentiable functions use when they call `f` are generated
///   whatever `only` says.
/// - `crate = "ad"`: the name of a renamed `autodiff` dependency.
///
/// See the `autodiff` crate documentation for the supported language.
#[proc_macro_attribute]
pub fn differentiable(attr: TokenStream, item: TokenStream) -> TokenStream {
    depth::on_large_stack(|| expand::expand(attr.into(), item.into())).into()
}

/// `#[derive(Differentiable)]` on a struct of parameters (scalars, vectors, matrices, other
/// `Differentiable` structs; `#[no_derivative]` fields are constants of any `Clone` type):
/// implements `autodiff::Differentiable` field by field, in declaration order.
#[proc_macro_derive(Differentiable, attributes(no_derivative))]
pub fn derive_differentiable(input: TokenStream) -> TokenStream {
    derive::expand(input.into()).into()
}

/// A user-written pullback for the function `f`: `#[derivative(of = f)]` on
/// `fn f_vjp(p1, ..., pn, dy) -> (value, gradient)`. Differentiable functions that call `f`
/// (defined after this) use it instead of looking inside `f`. See the `autodiff` crate docs.
#[proc_macro_attribute]
pub fn derivative(attr: TokenStream, item: TokenStream) -> TokenStream {
    depth::on_large_stack(|| custom::expand(attr.into(), item.into())).into()
}

/// The second step of a call between differentiable functions: a callee's signature macro
/// hands the caller back here with the callee's signature (see the `calls` module). Not for
/// direct use.
#[doc(hidden)]
#[proc_macro]
pub fn __differentiable_with(input: TokenStream) -> TokenStream {
    depth::on_large_stack(|| expand::expand_handshake(input.into())).into()
}

#[cfg(test)]
mod tests;
