//! Differentiable functions that call each other.
//!
//! A procedural macro sees only the item it is on, so a caller cannot read its callee's
//! signature. The callee therefore leaves it behind: beside its other items, `#[differentiable]`
//! on `f` emits a hidden `macro_rules!` that knows `f`'s parameter kinds and result kind, and the
//! building blocks `__autodiff_f_vjp` and `__autodiff_f_jvp` (every differentiable parameter, a
//! fixed convention). When a caller's body calls a function it has no signature for, its
//! expansion is a call of that function's macro with the caller's attribute, item and what it
//! knows so far; the macro hands all of it, plus its signature, to `__differentiable_with!`,
//! which expands the caller again.
//!
//! The macro has the function's own name, `f`, in the macro namespace (functions live in the
//! value namespace, so the two do not clash), and it is an item of the function's module, made
//! so by a `use` of it out of a hidden module. So wherever the path `f` or `layers::f` reaches
//! the function (a `use layers::f;` imports both), `f!` or `layers::f!` reaches its macro; and
//! as an item rather than a `macro_rules!` in textual scope, it is found from anywhere in the
//! module, before its definition too. The building blocks are reached by the same path, beside
//! the function. (Another crate cannot reach the macro: `macro_rules!` leave their crate only
//! through `#[macro_export]`, at the crate's root.)

use crate::structs::StructInfo;
use autodiff_core::symbolic::rules::call;
use autodiff_core::symbolic::Kind;
use proc_macro2::{Ident, Span, TokenStream};
use quote::{format_ident, quote};
use syn::ext::IdentExt;
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
    /// The kinds of its results: one, or a tuple's.
    pub results: Vec<Kind>,
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
    /// `"f" [value(vector, ref) constant] -> [scalar] second` (a tuple: `-> [vector vector]`)
    pub fn to_tokens(&self) -> TokenStream {
        let name = syn::LitStr::new(&self.name, Span::call_site());
        let params = self.params.iter().map(|p| match p {
            SigParam::Value { kind, by_ref } => {
                let kind = kind_word(*kind);
                let passing = if *by_ref { quote!(ref) } else { quote!(owned) };
                quote!(value(#kind, #passing))
            }
            SigParam::Constant => quote!(constant),
        });
        let results = self.results.iter().map(|&k| kind_word(k));
        let order = if self.second_order {
            quote!(second)
        } else {
            quote!(first)
        };
        quote!(#name [#(#params)*] -> [#(#results)*] #order)
    }
}

impl Parse for CalleeSig {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        // The path the caller wrote (`layers::dense`), segments without `r#`.
        let name: syn::LitStr = input.parse()?;
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
        let kinds;
        bracketed!(kinds in input);
        let mut results = Vec::new();
        while !kinds.is_empty() {
            results.push(parse_kind(&kinds.parse()?)?);
        }
        let order: Ident = input.parse()?;
        Ok(CalleeSig {
            name: name.value(),
            params,
            results,
            second_order: order == "second",
        })
    }
}

/// The state a handshake carries: the caller's attribute arguments, the signatures known so
/// far, and the caller's item.
pub struct Handshake {
    pub attr: TokenStream,
    pub known: Vec<CalleeSig>,
    /// The fields of the parameter structs known so far (see [`structs`](crate::structs)).
    pub structs: Vec<StructInfo>,
    pub item: TokenStream,
}

impl Handshake {
    fn to_tokens(&self) -> TokenStream {
        let (attr, item) = (&self.attr, &self.item);
        let known = self.known.iter().map(CalleeSig::to_tokens);
        let structs = self.structs.iter().map(StructInfo::to_tokens);
        quote!(attr [#attr] known [#(#known;)*] structs [#(#structs;)*] item #item)
    }
}

impl Parse for Handshake {
    /// `callee <sig> ; asked "path" attr [..] known [<sig>; ..] item <tokens>`: the first
    /// part is the callee macro's own signature, added to the known ones under the path the
    /// caller asked by.
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let mut known = Vec::new();
        let mut structs = Vec::new();
        if input.peek(syn::Ident) && input.fork().parse::<Ident>()? == "structure" {
            input.parse::<Ident>()?;
            let mut info = input.parse::<StructInfo>()?;
            input.parse::<Token![;]>()?;
            let word: Ident = input.parse()?;
            if word != "asked" {
                return Err(syn::Error::new(word.span(), "expected `asked`"));
            }
            info.name = input.parse::<syn::LitStr>()?.value();
            structs.push(info);
        }
        if input.peek(syn::Ident) && input.fork().parse::<Ident>()? == "callee" {
            input.parse::<Ident>()?;
            let mut sig = input.parse::<CalleeSig>()?;
            input.parse::<Token![;]>()?;
            let word: Ident = input.parse()?;
            if word != "asked" {
                return Err(syn::Error::new(word.span(), "expected `asked`"));
            }
            sig.name = input.parse::<syn::LitStr>()?.value();
            known.push(sig);
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
        if word != "structs" {
            return Err(syn::Error::new(word.span(), "expected `structs`"));
        }
        let list;
        bracketed!(list in input);
        while !list.is_empty() {
            let info: StructInfo = list.parse()?;
            list.parse::<Token![;]>()?;
            if !structs.iter().any(|s| s.name == info.name) {
                structs.push(info);
            }
        }
        let word: Ident = input.parse()?;
        if word != "item" {
            return Err(syn::Error::new(word.span(), "expected `item`"));
        }
        let item: TokenStream = input.parse()?;
        Ok(Handshake {
            attr,
            known,
            structs,
            item,
        })
    }
}

/// Whether `path` can name a callee: segments without generic arguments, not from the root of
/// another crate (`::other::f`: its macro cannot be reached).
pub fn is_callee_path(path: &syn::Path) -> bool {
    path.leading_colon.is_none()
        && path
            .segments
            .iter()
            .all(|s| matches!(s.arguments, syn::PathArguments::None))
}

/// The name a call knows its callee by: the path as written, segments without `r#`.
pub fn callee_name(path: &syn::Path) -> String {
    let segments: Vec<String> = path
        .segments
        .iter()
        .map(|s| s.ident.unraw().to_string())
        .collect();
    segments.join("::")
}

/// The expansion that asks `callee`'s macro for its signature and expands the caller again.
/// The macro's path is spanned on the call, so a callee that is not differentiable is reported
/// there.
/// The expansion that asks the struct at `path` for its fields (the macro its derive left) and
/// expands the caller again.
pub fn ask_fields(path: &syn::Path, asked: &str, state: &Handshake) -> TokenStream {
    let asked = syn::LitStr::new(asked, Span::call_site());
    let state = state.to_tokens();
    quote!(#path! { asked #asked #state })
}

pub fn ask(callee: &syn::Path, state: &Handshake) -> TokenStream {
    let asked = syn::LitStr::new(&callee_name(callee), Span::call_site());
    let state = state.to_tokens();
    let mut path = callee.clone();
    if let Some(last) = path.segments.last_mut() {
        last.ident = macro_name(&last.ident);
    }
    quote!(#path! { asked #asked #state })
}

/// Names a function may have that its signature macro may not take: the built-in attributes
/// (`#[inline]` would become ambiguous in the function's module) and the standard macros (a
/// function `vec` would hide `vec!` there). Such a function's macro is
/// `__autodiff_callee_{f}`: reached by path, but not brought by a `use` of the function.
const RESERVED_MACRO_NAMES: &[&str] = &[
    // Built-in attributes.
    "allow",
    "automatically_derived",
    "cfg",
    "cfg_attr",
    "cold",
    "collapse_debuginfo",
    "crate_name",
    "crate_type",
    "debugger_visualizer",
    "deny",
    "deprecated",
    "derive",
    "diagnostic",
    "doc",
    "expect",
    "export_name",
    "feature",
    "forbid",
    "global_allocator",
    "ignore",
    "inline",
    "instruction_set",
    "link",
    "link_name",
    "link_ordinal",
    "link_section",
    "macro_export",
    "macro_use",
    "must_use",
    "naked",
    "no_builtins",
    "no_implicit_prelude",
    "no_link",
    "no_main",
    "no_mangle",
    "no_std",
    "non_exhaustive",
    "panic_handler",
    "path",
    "proc_macro",
    "proc_macro_attribute",
    "proc_macro_derive",
    "recursion_limit",
    "repr",
    "should_panic",
    "stable",
    "target_feature",
    "test",
    "test_case",
    "bench",
    "track_caller",
    "type_length_limit",
    "unstable",
    "used",
    "warn",
    "windows_subsystem",
    "coverage",
    "const_stable",
    "rustc_const_stable",
    "rustc_const_unstable",
    "register_tool",
    // Standard macros.
    "assert",
    "assert_eq",
    "assert_ne",
    "column",
    "compile_error",
    "concat",
    "dbg",
    "debug_assert",
    "debug_assert_eq",
    "debug_assert_ne",
    "env",
    "eprint",
    "eprintln",
    "file",
    "format",
    "format_args",
    "include",
    "include_bytes",
    "include_str",
    "line",
    "matches",
    "module_path",
    "option_env",
    "panic",
    "print",
    "println",
    "stringify",
    "thread_local",
    "todo",
    "unimplemented",
    "unreachable",
    "vec",
    "write",
    "writeln",
    "try",
    "asm",
    "global_asm",
    "is_x86_feature_detected",
];

/// The name of `f`'s signature macro: `f`, unless that is reserved (see
/// [`RESERVED_MACRO_NAMES`]).
fn macro_name(function: &Ident) -> Ident {
    let name = function.unraw().to_string();
    if RESERVED_MACRO_NAMES.contains(&name.as_str()) {
        Ident::new(&format!("__autodiff_callee_{name}"), function.span())
    } else {
        function.clone()
    }
}

/// The hidden module that holds `f`'s signature macro.
fn signature_module(name: &str) -> Ident {
    let name = name.strip_prefix("r#").unwrap_or(name);
    format_ident!("__autodiff_signature_of_{}", name)
}

/// `f`'s signature macro, named `f` (see the module's documentation), which passes `f`'s
/// signature on to a caller: defined in a hidden module and used from it into `f`'s module, as
/// visible as `f` is (at most the crate: a `macro_rules!` leaves it only through
/// `#[macro_export]`).
pub fn signature_macro(sig: &CalleeSig, function: &Ident, vis: &syn::Visibility) -> TokenStream {
    let sig = sig.to_tokens();
    handshake_macro(
        &signature_module(&function.unraw().to_string()),
        &macro_name(function),
        vis,
        quote!(callee #sig),
    )
}

/// A hidden macro named `name` that answers a handshake with `reply` (`callee <sig>`,
/// `structure <fields>`) and passes the caller's state on to `__differentiable_with!`: defined
/// in the hidden module `module` and used from it into the item's module, as visible as the
/// item (`vis`) but at most the crate (a `macro_rules!` leaves it only through
/// `#[macro_export]`). The `use` is what lets a path or a `use` that reaches the item reach
/// the macro, from anywhere in the crate.
pub fn handshake_macro(
    module: &Ident,
    name: &Ident,
    vis: &syn::Visibility,
    reply: TokenStream,
) -> TokenStream {
    let vis = match vis {
        syn::Visibility::Inherited => quote!(),
        syn::Visibility::Restricted(r) if r.path.is_ident("self") => quote!(),
        // `pub(super)` and `pub(in path)` name a module from the item's, one level up here.
        syn::Visibility::Restricted(_) | syn::Visibility::Public(_) => quote!(pub(crate)),
    };
    quote! {
        #[doc(hidden)]
        #[allow(non_snake_case)]
        mod #module {
            #[doc(hidden)]
            #[allow(unused_macros)]
            macro_rules! __autodiff_handshake {
                ($($state:tt)*) => {
                    ::autodiff::__differentiable_with! { #reply ; $($state)* }
                };
            }
            // (Renamed here: `use f32;` would import the module `std::f32` too.)
            #[allow(unused_imports)]
            pub(crate) use __autodiff_handshake as #name;
        }
        #[doc(hidden)]
        #[allow(unused_imports)]
        #vis use #module::#name;
    }
}

/// The building blocks' names: pullback, pushforward, pushforward of the pullback. They are
/// associated functions of a hidden, empty `enum f {}` beside `f` (types live in a third
/// namespace), so the path that reaches `f` reaches them too: `layers::dense::vjp`, or
/// `dense::vjp` after `use layers::dense;`.
pub fn block_names() -> (Ident, Ident, Ident) {
    (
        format_ident!("vjp"),
        format_ident!("jvp"),
        format_ident!("vjp_jvp"),
    )
}

/// The hidden `enum f {}` whose associated functions are `f`'s building blocks `blocks`
/// (named as [`call::blocks_holder`] says).
pub fn blocks_holder(function: &Ident, vis: &syn::Visibility, blocks: TokenStream) -> TokenStream {
    let unraw = function.unraw().to_string();
    let holder = call::blocks_holder(&unraw);
    let name = if holder == unraw {
        function.clone()
    } else {
        Ident::new(&holder, function.span())
    };
    quote! {
        #[doc(hidden)]
        #[allow(non_camel_case_types, dead_code)]
        #vis enum #name {}
        #[allow(dead_code)]
        impl #name {
            #blocks
        }
    }
}
