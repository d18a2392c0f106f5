//! The attribute's arguments: nothing, `wrt(a, b, ...)`, `only(grad, vjp, ...)` and
//! `crate = "path"`, in any order; and the rewrite that `crate = "path"` asks for.

use autodiff_core::symbolic::{Item, Items};
use proc_macro2::{Ident, Spacing, TokenStream, TokenTree};
use quote::ToTokens;
use syn::meta::ParseNestedMeta;
use syn::parse::Parser;
use syn::punctuated::Punctuated;
use syn::Token;

use crate::errors::Errors;

/// The arguments of `#[differentiable(...)]`.
#[derive(Default)]
pub struct Args {
    /// The parameters named in `wrt(...)`, or `None` for all of them.
    pub wrt: Option<Vec<Ident>>,
    /// The items named in `only(...)`, each with its name as written (for errors), or `None`
    /// for all of them.
    pub only: Option<Vec<(Item, Ident)>>,
    /// `crate = "ad"`: the path of the `autodiff` crate where it is renamed.
    pub krate: Option<syn::Path>,
    /// Set by the expansion itself, never by users: the function is a method (or an associated
    /// function) of this type, written as a free function (see [`methods`](crate::methods)).
    pub method_of: Option<crate::methods::MethodOf>,
}

impl Args {
    /// The items asked for: those of `only(...)`, else every one.
    pub fn wanted(&self) -> Items {
        match &self.only {
            Some(only) => only.iter().map(|&(item, _)| item).collect(),
            None => Items::ALL,
        }
    }
}

/// Parses the arguments of `#[differentiable(...)]`.
pub fn parse_args(attr: TokenStream) -> syn::Result<Args> {
    let mut args = Args::default();
    let parser = syn::meta::parser(|meta| {
        if meta.path.is_ident("crate") {
            return parse_crate(&meta, &mut args.krate);
        }
        if meta.path.is_ident("only") {
            return parse_only(&meta, &mut args.only);
        }
        if meta.path.is_ident(crate::methods::METHOD_OF) {
            let content;
            syn::parenthesized!(content in meta.input);
            args.method_of = Some(content.parse()?);
            return Ok(());
        }
        if !meta.path.is_ident("wrt") {
            return Err(meta.error(
                "unknown argument; `#[differentiable]` takes no arguments, `wrt(a, b, ...)` \
                 naming the parameters to differentiate with respect to, `only(grad, ...)` \
                 naming the items to generate, or `crate = \"name\"` for a renamed \
                 `autodiff` dependency",
            ));
        }
        if args.wrt.is_some() {
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
        args.wrt = Some(names.into_iter().collect());
        Ok(())
    });
    parser.parse2(attr)?;
    Ok(args)
}

/// `only(grad, vjp)`, once: the items to generate, each named once. Every unknown or repeated
/// name is reported, not just the first.
fn parse_only(
    meta: &ParseNestedMeta<'_>,
    only: &mut Option<Vec<(Item, Ident)>>,
) -> syn::Result<()> {
    let valid = Item::ALL.map(Item::name).join(", ");
    if only.is_some() {
        return Err(meta.error("`only(...)` is given twice; name every item in one list"));
    }
    if !meta.input.peek(syn::token::Paren) {
        return Err(meta.error(format!(
            "write `only(grad, vjp)`: `only` takes a parenthesized list of the items to \
             generate, among {valid}"
        )));
    }
    let content;
    syn::parenthesized!(content in meta.input);
    let names = Punctuated::<Ident, Token![,]>::parse_terminated(&content).map_err(|e| {
        syn::Error::new(
            e.span(),
            format!(
                "`only(...)` takes item names separated by commas, such as `only(grad, vjp)`, \
                 among {valid}"
            ),
        )
    })?;
    if names.is_empty() {
        return Err(meta.error(format!(
            "`only()` names no item; list the items to generate, among {valid}, or drop \
             `only` to generate all of them"
        )));
    }
    let mut items: Vec<(Item, Ident)> = Vec::new();
    let mut errors = Errors::default();
    for name in names {
        match Item::from_name(&name.to_string()) {
            None => errors.spanned(
                &name,
                format!("unknown item `{name}`; `only(...)` takes {valid}"),
            ),
            Some(item) if items.iter().any(|&(seen, _)| seen == item) => errors.spanned(
                &name,
                format!("`{name}` is named twice in `only`; name each item once"),
            ),
            Some(item) => items.push((item, name)),
        }
    }
    errors.finish()?;
    *only = Some(items);
    Ok(())
}

/// `crate = "ad"` (as serde's `#[serde(crate = "...")]`), once.
pub fn parse_crate(meta: &ParseNestedMeta<'_>, krate: &mut Option<syn::Path>) -> syn::Result<()> {
    if krate.is_some() {
        return Err(meta.error("`crate = ...` is given twice"));
    }
    let message = "write `crate = \"name\"` with the name your Cargo.toml gives `autodiff` \
                   (for `ad = { package = \"autodiff\", ... }`, `crate = \"ad\"`)";
    let literal: syn::LitStr = meta
        .value()
        .and_then(|value| value.parse())
        .map_err(|e| syn::Error::new(e.span(), message))?;
    let path = literal
        .parse::<syn::Path>()
        .map_err(|_| syn::Error::new(literal.span(), message))?;
    *krate = Some(path);
    Ok(())
}

/// Generated code names the runtime as `::autodiff::...`. Where the dependency is renamed
/// (`crate = "ad"`), every such path starts at `krate` instead: `::ad::...` for a crate name, or
/// the path as written (`crate::reexports::autodiff`).
pub fn with_crate_path(tokens: TokenStream, krate: Option<&syn::Path>) -> TokenStream {
    let Some(krate) = krate else {
        return tokens;
    };
    let replacement = if krate.leading_colon.is_none() && krate.segments.len() == 1 {
        let name = &krate.segments[0];
        quote::quote!(::#name)
    } else {
        krate.to_token_stream()
    };
    rewrite(tokens, &replacement)
}

fn rewrite(tokens: TokenStream, replacement: &TokenStream) -> TokenStream {
    let tokens: Vec<TokenTree> = tokens.into_iter().collect();
    let mut out = Vec::with_capacity(tokens.len());
    let mut i = 0;
    while i < tokens.len() {
        if starts_runtime_path(&tokens, i) {
            out.extend(replacement.clone());
            i += 3;
            continue;
        }
        out.push(match &tokens[i] {
            TokenTree::Group(group) => {
                let mut inner = proc_macro2::Group::new(
                    group.delimiter(),
                    rewrite(group.stream(), replacement),
                );
                inner.set_span(group.span());
                TokenTree::Group(inner)
            }
            other => other.clone(),
        });
        i += 1;
    }
    out.into_iter().collect()
}

/// Rust's keywords, except those that are path segments themselves (`crate`, `self`, `super`,
/// `Self`).
const KEYWORDS_BEFORE_A_PATH: &[&str] = &[
    "as", "async", "await", "break", "const", "continue", "dyn", "else", "enum", "extern", "fn",
    "for", "if", "impl", "in", "let", "loop", "match", "mod", "move", "mut", "pub", "ref",
    "return", "static", "struct", "trait", "type", "unsafe", "use", "where", "while", "yield",
];

/// Whether `tokens[i..]` is `::autodiff` at the start of a path (not `module::autodiff`).
fn starts_runtime_path(tokens: &[TokenTree], i: usize) -> bool {
    let is_colon = |t: Option<&TokenTree>, spacing: Spacing| matches!(t, Some(TokenTree::Punct(p)) if p.as_char() == ':' && p.spacing() == spacing);
    // After a keyword a path starts (`use ::autodiff`, `if ::autodiff::...`); after a name
    // (`crate`, `module`) it continues.
    let leading = match i.checked_sub(1).map(|j| &tokens[j]) {
        Some(TokenTree::Ident(previous)) => {
            KEYWORDS_BEFORE_A_PATH.contains(&&*previous.to_string())
        }
        _ => true,
    };
    leading
        && is_colon(tokens.get(i), Spacing::Joint)
        && is_colon(tokens.get(i + 1), Spacing::Alone)
        && matches!(tokens.get(i + 2), Some(TokenTree::Ident(name)) if name == "autodiff")
}

#[cfg(test)]
mod tests {
    use super::*;
    use quote::quote;

    fn rewritten(tokens: TokenStream, krate: &str) -> String {
        let path: syn::Path = syn::parse_str(krate).expect("a path");
        with_crate_path(tokens, Some(&path)).to_string()
    }

    #[test]
    fn runtime_paths_start_at_the_renamed_crate() {
        let tokens = quote! {
            use ::autodiff::ScalarExt as _;
            let m: ::autodiff::Matrix<f64> = <::autodiff::Matrix<f64>>::zeros(1, 1);
            ::autodiff::kernels::at("x");
        };
        let expected = quote! {
            use ::ad::ScalarExt as _;
            let m: ::ad::Matrix<f64> = <::ad::Matrix<f64>>::zeros(1, 1);
            ::ad::kernels::at("x");
        };
        assert_eq!(rewritten(tokens.clone(), "ad"), expected.to_string());
        let expected = quote! {
            use crate::deps::autodiff::ScalarExt as _;
            let m: crate::deps::autodiff::Matrix<f64> =
                <crate::deps::autodiff::Matrix<f64>>::zeros(1, 1);
            crate::deps::autodiff::kernels::at("x");
        };
        assert_eq!(
            rewritten(tokens, "crate::deps::autodiff"),
            expected.to_string()
        );
    }

    #[test]
    fn a_path_after_any_keyword_starts_at_the_renamed_crate() {
        // The Jacobian that picks its mode at run time opens with `if ::autodiff::...`.
        let tokens = quote!(if ::autodiff::kernels::f() {
            return ::autodiff::kernels::g();
        });
        let expected = quote!(if ::ad::kernels::f() {
            return ::ad::kernels::g();
        });
        assert_eq!(rewritten(tokens, "ad"), expected.to_string());
    }

    #[test]
    fn other_paths_named_autodiff_are_left_alone() {
        let tokens = quote!(let m: crate::autodiff::Matrix<f64> = autodiff::f(::autodiff_x::y););
        assert_eq!(rewritten(tokens.clone(), "ad"), tokens.to_string());
    }

    #[test]
    fn without_a_crate_argument_nothing_changes() {
        let tokens = quote!(::autodiff::kernels::at("x"));
        assert_eq!(
            with_crate_path(tokens.clone(), None).to_string(),
            tokens.to_string()
        );
    }
}
