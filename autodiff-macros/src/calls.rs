//! Differentiable functions that call each other.
//!
//! A procedural macro sees only the item it is on, so a caller cannot read its callee's
//! signature. The callee therefore leaves it behind: beside its other items, `#[differentiable]`
//! on `f` emits a hidden `macro_rules! __autodiff_callee_f` that knows `f`'s parameter kinds and
//! result kind, and the building blocks `__autodiff_f_vjp` and `__autodiff_f_jvp` (every
//! differentiable parameter, a fixed convention). When a caller's body calls a function it has
//! no signature for, its expansion is a call of that function's callee macro with the caller's
//! attribute, item and what it knows so far; the callee macro hands all of it, plus its
//! signature, to `__differentiable_with!`, which expands the caller again. So the callee must be
//! a `#[differentiable]` function (or one with `#[derivative(of = ..)]`) defined earlier in the
//! same module: `macro_rules!` are visible from their definition on.

use autodiff_core::symbolic::Kind;
use proc_macro2::{Ident, Span, TokenStream};
use quote::{format_ident, quote};
use syn::parse::{Parse, ParseStream};
use syn::{bracketed, Token};

/// A callee parameter as the signature declares it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SigParam {
    Value { kind: Kind, by_ref: bool },
    Constant,
}

/// What a caller knows of a callee.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CalleeSig {
    pub name: String,
    pub params: Vec<SigParam>,
    pub result: Kind,
    /// Whether the callee has the second-order block (`#[derivative]` callees do not).
    pub second_order: bool,
}

fn kind_word(kind: Kind) -> Ident {
    Ident::new(
        match kind {
            Kind::Scalar => "scalar",
            Kind::Vector => "vector",
            Kind::Matrix => "matrix",
            Kind::Index => "index",
            Kind::Bool => "bool",
            Kind::Indices => "indices",
            // Never a parameter or a result of a function.
            Kind::Tuple => "tuple",
            Kind::Tape => "tape",
        },
        Span::call_site(),
    )
}

fn parse_kind(ident: &Ident) -> syn::Result<Kind> {
    match ident.to_string().as_str() {
        "scalar" => Ok(Kind::Scalar),
        "index" => Ok(Kind::Index),
        "vector" => Ok(Kind::Vector),
        "matrix" => Ok(Kind::Matrix),
        _ => Err(syn::Error::new(
            ident.span(),
            "expected scalar, vector or matrix",
        )),
    }
}

impl CalleeSig {
    /// `f [value(vector, ref) constant] -> scalar`
    pub fn to_tokens(&self) -> TokenStream {
        let name = Ident::new(&self.name, Span::call_site());
        let params = self.params.iter().map(|p| match p {
            SigParam::Value { kind, by_ref } => {
                let kind = kind_word(*kind);
                let passing = if *by_ref { quote!(ref) } else { quote!(owned) };
                quote!(value(#kind, #passing))
            }
            SigParam::Constant => quote!(constant),
        });
        let result = kind_word(self.result);
        let order = if self.second_order {
            quote!(second)
        } else {
            quote!(first)
        };
        quote!(#name [#(#params)*] -> #result #order)
    }
}

impl Parse for CalleeSig {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        // Any identifier: a callee declared `fn r#match` travels as `match`.
        let name: Ident = input.call(syn::ext::IdentExt::parse_any)?;
        let content;
        bracketed!(content in input);
        let mut params = Vec::new();
        while !content.is_empty() {
            let word: Ident = content.call(syn::ext::IdentExt::parse_any)?;
            if word == "constant" {
                params.push(SigParam::Constant);
                continue;
            }
            let inner;
            syn::parenthesized!(inner in content);
            let kind = parse_kind(&inner.parse()?)?;
            inner.parse::<Token![,]>()?;
            let passing: Ident = inner.call(syn::ext::IdentExt::parse_any)?;
            params.push(SigParam::Value {
                kind,
                by_ref: passing == "ref",
            });
        }
        input.parse::<Token![->]>()?;
        let result = parse_kind(&input.parse()?)?;
        let order: Ident = input.parse()?;
        Ok(CalleeSig {
            name: name.to_string(),
            params,
            result,
            second_order: order == "second",
        })
    }
}

/// The state a handshake carries: the caller's attribute arguments, the signatures known so
/// far, and the caller's item.
pub struct Handshake {
    pub attr: TokenStream,
    pub known: Vec<CalleeSig>,
    pub item: TokenStream,
}

impl Handshake {
    fn to_tokens(&self) -> TokenStream {
        let (attr, item) = (&self.attr, &self.item);
        let known = self.known.iter().map(CalleeSig::to_tokens);
        quote!(attr [#attr] known [#(#known;)*] item #item)
    }
}

impl Parse for Handshake {
    /// `callee <sig> ; attr [..] known [<sig>; ..] item <tokens>`: the first part is the
    /// callee macro's own signature, added to the known ones.
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let mut known = Vec::new();
        if input.peek(syn::Ident) && input.fork().parse::<Ident>()? == "callee" {
            input.parse::<Ident>()?;
            known.push(input.parse::<CalleeSig>()?);
            input.parse::<Token![;]>()?;
        }
        let word: Ident = input.parse()?;
        if word != "attr" {
            return Err(syn::Error::new(word.span(), "expected `attr`"));
        }
        let attr;
        bracketed!(attr in input);
        let attr: TokenStream = attr.parse()?;
        let word: Ident = input.parse()?;
        if word != "known" {
            return Err(syn::Error::new(word.span(), "expected `known`"));
        }
        let list;
        bracketed!(list in input);
        while !list.is_empty() {
            let sig: CalleeSig = list.parse()?;
            list.parse::<Token![;]>()?;
            if !known.iter().any(|k| k.name == sig.name) {
                known.push(sig);
            }
        }
        let word: Ident = input.parse()?;
        if word != "item" {
            return Err(syn::Error::new(word.span(), "expected `item`"));
        }
        let item: TokenStream = input.parse()?;
        Ok(Handshake { attr, known, item })
    }
}

/// The callee macro's name for the function `name`.
pub fn callee_macro(name: &str, span: Span) -> Ident {
    let name = name.strip_prefix("r#").unwrap_or(name);
    Ident::new(&format!("__autodiff_callee_{name}"), span)
}

/// The expansion that asks `callee`'s macro for its signature and expands the caller again.
/// The macro's name is spanned on the call, so a callee that is not differentiable (or is
/// defined later) is reported there.
pub fn ask(callee: &Ident, state: &Handshake) -> TokenStream {
    let callee_macro = callee_macro(&callee.to_string(), callee.span());
    let state = state.to_tokens();
    quote!(#callee_macro! { #state })
}

/// `macro_rules! __autodiff_callee_f`, which passes `f`'s signature on to a caller.
pub fn signature_macro(sig: &CalleeSig) -> TokenStream {
    let name = callee_macro(&sig.name, Span::call_site());
    let sig = sig.to_tokens();
    quote! {
        #[doc(hidden)]
        #[allow(unused_macros)]
        macro_rules! #name {
            ($($state:tt)*) => {
                ::autodiff::__differentiable_with! { callee #sig ; $($state)* }
            };
        }
    }
}

/// The building blocks' names for `name`: pullback, pushforward, pushforward of the pullback.
pub fn block_names(name: &Ident) -> (Ident, Ident, Ident) {
    (
        format_ident!("__autodiff_{}_vjp", name),
        format_ident!("__autodiff_{}_jvp", name),
        format_ident!("__autodiff_{}_vjp_jvp", name),
    )
}
