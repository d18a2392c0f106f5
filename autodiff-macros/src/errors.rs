//! Error collection: every check records its error and goes on, and all of them are reported
//! together at the end (serde_derive's `Ctxt`), merged with `syn::Error::combine`.

use proc_macro2::Span;
use quote::ToTokens;
use std::fmt::Display;

/// The errors found so far.
#[derive(Default)]
pub struct Errors {
    combined: Option<syn::Error>,
    count: usize,
}

impl Errors {
    /// Records an error spanned on `tokens`.
    pub fn spanned(&mut self, tokens: impl ToTokens, message: impl Display) {
        self.push(syn::Error::new_spanned(tokens, message));
    }

    /// Records an error at `span`.
    pub fn at(&mut self, span: Span, message: impl Display) {
        self.push(syn::Error::new(span, message));
    }

    /// Records an error.
    pub fn push(&mut self, error: syn::Error) {
        self.count += 1;
        match &mut self.combined {
            Some(all) => all.combine(error),
            None => self.combined = Some(error),
        }
    }

    /// How many errors were recorded.
    pub fn count(&self) -> usize {
        self.count
    }

    /// True when nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.combined.is_none()
    }

    /// All errors as one, if there were any.
    pub fn finish(self) -> Result<(), syn::Error> {
        match self.combined {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}
