//! The attribute's arguments: nothing, or `wrt(a, b, ...)`.

use proc_macro2::{Ident, TokenStream};
use syn::parse::Parser;
use syn::punctuated::Punctuated;
use syn::Token;

/// The parameters named in `wrt(...)`, or `None` when the attribute has no arguments.
pub fn parse_wrt(attr: TokenStream) -> syn::Result<Option<Vec<Ident>>> {
    let mut wrt: Option<Vec<Ident>> = None;
    let parser = syn::meta::parser(|meta| {
        if !meta.path.is_ident("wrt") {
            return Err(meta.error(
                "unknown argument; `#[differentiable]` takes no arguments, or `wrt(a, b, ...)` \
                 naming the parameters to differentiate with respect to",
            ));
        }
        if wrt.is_some() {
            return Err(meta.error("`wrt(...)` is given twice; name every parameter in one list"));
        }
        if !meta.input.peek(syn::token::Paren) {
            return Err(meta
                .error("write `wrt(a, b)`: `wrt` takes a parenthesized list of parameter names"));
        }
        let content;
        syn::parenthesized!(content in meta.input);
        let names = Punctuated::<Ident, Token![,]>::parse_terminated(&content).map_err(|e| {
            syn::Error::new(
                e.span(),
                "`wrt(...)` takes parameter names separated by commas, such as `wrt(w, b)`",
            )
        })?;
        if names.is_empty() {
            return Err(meta.error(
                "`wrt()` names no parameter; list the parameters to differentiate with \
                 respect to, or drop `wrt` to use all of them",
            ));
        }
        wrt = Some(names.into_iter().collect());
        Ok(())
    });
    parser.parse2(attr)?;
    Ok(wrt)
}
