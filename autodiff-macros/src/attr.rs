//! The attribute's arguments: nothing, or `wrt(a, b, ...)`.

use proc_macro2::{Ident, TokenStream};
use syn::parse::Parser;

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
        let mut names = Vec::new();
        meta.parse_nested_meta(|inner| match inner.path.get_ident() {
            Some(ident) => {
                names.push(ident.clone());
                Ok(())
            }
            None => Err(inner.error("`wrt(...)` takes parameter names, such as `wrt(w, b)`")),
        })?;
        wrt = Some(names);
        Ok(())
    });
    parser.parse2(attr)?;
    Ok(wrt)
}
