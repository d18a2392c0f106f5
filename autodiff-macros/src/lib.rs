//! The `#[differentiable]` attribute of `autodiff`.
//!
//! A thin front end over the engine in `autodiff_core::symbolic`: it parses the function with
//! `syn` ([`signature`], [`attr`]), lowers its body into the engine's IR ([`lower`]), asks the
//! engine for the derived programs, and prints them back as Rust ([`emit`]). Errors are
//! collected ([`errors`]) and reported together, spanned on the offending tokens, with the user's
//! function still emitted so that one mistake does not cascade ([`expand`]).
#![deny(unsafe_code)]

use proc_macro::TokenStream;

mod attr;
mod dense;
mod emit;
mod errors;
mod expand;
mod lower;
mod signature;

/// Generates, beside the function it is placed on, `f_grad` (for a scalar result), `f_vjp` and
/// `f_derivation`. See the `autodiff` crate documentation for the supported language.
#[proc_macro_attribute]
pub fn differentiable(attr: TokenStream, item: TokenStream) -> TokenStream {
    expand::expand(attr.into(), item.into()).into()
}

#[cfg(test)]
mod tests;
