//! Functions generic over their float: `fn f<T: Float>(x: &Vector<T>) -> T`.
//!
//! The engine differentiates one float type at a time, so the function is compiled twice, `T`
//! replaced by `f64` and by `f32` (`__autodiff_f64_f`, `__autodiff_f32_f`), each with all its
//! items; then each item the user calls, `f_grad<T: Float>` and so on, is generic and calls the
//! instantiation of its `T` (`autodiff::float`: a comparison of type ids, folded away, and
//! casts that do nothing). Float literals are `T`'s, as they are in the instantiations.

use proc_macro2::{Ident, Span, TokenStream, TokenTree};
use quote::{format_ident, quote, ToTokens};
use syn::{FnArg, GenericParam, ItemFn, Pat, ReturnType, Type, TypeParamBound};

/// `T` when the function's generics are exactly `<T: Float>` (`autodiff::Float` too).
pub fn float_param(item: &ItemFn) -> Option<Ident> {
    let generics = &item.sig.generics;
    if generics.where_clause.is_some() || generics.params.len() != 1 {
        return None;
    }
    let GenericParam::Type(t) = generics.params.first()? else {
        return None;
    };
    let [TypeParamBound::Trait(bound)] = t.bounds.iter().collect::<Vec<_>>()[..] else {
        return None;
    };
    let last = bound.path.segments.last()?;
    (last.ident == "Float" && t.default.is_none()).then(|| t.ident.clone())
}

/// `tokens` with each identifier `names[k]` replaced by `values[k]` (a type parameter by its
/// argument: `T` by `f64` here, a struct's `T` by a parameter's type argument in
/// [`structs`](crate::structs)). A one-identifier value keeps the replaced identifier's span,
/// for messages.
pub fn replace_idents(tokens: TokenStream, names: &[Ident], values: &[TokenStream]) -> TokenStream {
    tokens
        .into_iter()
        .flat_map(|t| -> Vec<TokenTree> {
            match t {
                TokenTree::Ident(i) => match names.iter().position(|n| *n == i) {
                    Some(k) => values[k]
                        .clone()
                        .into_iter()
                        .map(|mut v| {
                            if let TokenTree::Ident(to) = &mut v {
                                to.set_span(i.span());
                            }
                            v
                        })
                        .collect(),
                    None => vec![TokenTree::Ident(i)],
                },
                TokenTree::Group(g) => {
                    let mut group = proc_macro2::Group::new(
                        g.delimiter(),
                        replace_idents(g.stream(), names, values),
                    );
                    group.set_span(g.span());
                    vec![TokenTree::Group(group)]
                }
                other => vec![other],
            }
        })
        .collect()
}

/// `tokens` with the identifier `from` replaced by `to`.
fn replace(tokens: TokenStream, from: &Ident, to: &Ident) -> TokenStream {
    replace_idents(tokens, std::slice::from_ref(from), &[to.to_token_stream()])
}

/// The name of the instantiation for `float`.
pub fn instance_name(name: &Ident, float: &str) -> Ident {
    format_ident!("__autodiff_{}_{}", float, name)
}

/// The function with `T` replaced by `float`, not generic, named for the float.
pub fn instantiate(item: &ItemFn, t: &Ident, float: &str) -> syn::Result<ItemFn> {
    let float_ident = Ident::new(float, Span::call_site());
    let mut plain = item.clone();
    plain.sig.generics = syn::Generics::default();
    let tokens = replace(plain.to_token_stream(), t, &float_ident);
    let mut instance: ItemFn = syn::parse2(tokens)?;
    syn::visit_mut::VisitMut::visit_block_mut(&mut CalleeInstances(float), &mut instance.block);
    instance.sig.ident = instance_name(&item.sig.ident, float);
    // As visible as the function, so that callers in other modules reach the instantiation's
    // building blocks (hidden from the documentation: the generic items are the interface).
    instance.vis = item.vis.clone();
    instance.attrs.retain(|a| a.path().is_ident("allow"));
    Ok(instance)
}

/// The calls of a generic function's body made calls of its callees' instantiations for the
/// same float: a callee that takes the caller's `Vector<T>` is generic over `T` too (so
/// `layers::dense(..)` becomes `layers::__autodiff_f64_dense(..)`, whose signature macro the
/// callee's own instantiation leaves). Associated functions of types (`Vector::from_vec`) are
/// not callees.
struct CalleeInstances<'a>(&'a str);

impl syn::visit_mut::VisitMut for CalleeInstances<'_> {
    fn visit_expr_call_mut(&mut self, call: &mut syn::ExprCall) {
        if let syn::Expr::Path(path) = &mut *call.func {
            let of_a_type = path.path.segments.iter().any(|s| {
                s.ident
                    .to_string()
                    .trim_start_matches("r#")
                    .starts_with(|c: char| c.is_ascii_uppercase())
            });
            if path.qself.is_none() && crate::calls::is_callee_path(&path.path) && !of_a_type {
                if let Some(last) = path.path.segments.last_mut() {
                    last.ident = instance_name(&last.ident, self.0);
                }
            }
        }
        syn::visit_mut::visit_expr_call_mut(self, call);
    }
}

/// `tokens` with the instantiations' names in string literals (derivations, the function named
/// in run-time errors) written as the user's: `__autodiff_f64_dense` as `dense`.
pub fn user_names_in_strings(tokens: TokenStream) -> TokenStream {
    tokens
        .into_iter()
        .map(|t| match t {
            TokenTree::Literal(l) => match syn::parse_str::<syn::LitStr>(&l.to_string()) {
                Ok(s) if s.value().contains("__autodiff_f") => {
                    let text = s
                        .value()
                        .replace("__autodiff_f64_", "")
                        .replace("__autodiff_f32_", "");
                    let mut literal = proc_macro2::Literal::string(&text);
                    literal.set_span(l.span());
                    TokenTree::Literal(literal)
                }
                _ => TokenTree::Literal(l),
            },
            TokenTree::Group(g) => {
                let mut group =
                    proc_macro2::Group::new(g.delimiter(), user_names_in_strings(g.stream()));
                group.set_span(g.span());
                TokenTree::Group(group)
            }
            other => other,
        })
        .collect()
}

/// The user's function as it is compiled: float literals without a suffix as `T`'s
/// (`<T as autodiff::Real>::from_f64(2.0)`), which a generic function cannot write otherwise.
pub fn with_typed_literals(item: &ItemFn, t: &Ident) -> ItemFn {
    struct Literals<'a>(&'a Ident);
    impl syn::visit_mut::VisitMut for Literals<'_> {
        fn visit_expr_mut(&mut self, expr: &mut syn::Expr) {
            if let syn::Expr::Lit(syn::ExprLit {
                lit: syn::Lit::Float(f),
                ..
            }) = expr
            {
                if f.suffix().is_empty() {
                    let t = self.0;
                    *expr = syn::parse_quote!(<#t as ::autodiff::Real>::from_f64(#f));
                    return;
                }
            }
            syn::visit_mut::visit_expr_mut(self, expr);
        }
    }
    let mut item = item.clone();
    syn::visit_mut::VisitMut::visit_block_mut(&mut Literals(t), &mut item.block);
    item
}

/// Whether `ty` names `t`.
fn mentions(ty: &TokenStream, t: &Ident) -> bool {
    ty.clone().into_iter().any(|token| match token {
        TokenTree::Ident(i) => i == *t,
        TokenTree::Group(g) => mentions(&g.stream(), t),
        _ => false,
    })
}

/// `value` (of type `ty` with `T` for the float) as the instantiation's type: a reference
/// through `cast_ref`, a value through `cast`, a tuple part by part.
fn cast_argument(value: TokenStream, ty: &Type) -> TokenStream {
    match ty {
        Type::Tuple(t) => {
            let parts = t.elems.iter().enumerate().map(|(i, elem)| {
                let i = syn::Index::from(i);
                cast_argument(quote!(#value.#i), elem)
            });
            quote!((#(#parts),*))
        }
        Type::Paren(p) => cast_argument(value, &p.elem),
        Type::Reference(_) => quote!(::autodiff::float::cast_ref(#value)),
        _ => quote!(::autodiff::float::cast(#value)),
    }
}

/// The items the user calls: for each public item of the `f64` instantiation (`expansion`), a
/// function of the user's name, generic in `T` where its signature has the float, calling the
/// instantiation of its `T`.
pub fn wrappers(item: &ItemFn, t: &Ident, expansion: &TokenStream) -> TokenStream {
    let Ok(file) = syn::parse2::<syn::File>(expansion.clone()) else {
        return TokenStream::new();
    };
    let name = &item.sig.ident;
    let vis = &item.vis;
    let f64_ident = Ident::new("f64", Span::call_site());
    let prefix = format!("{}_", instance_name(name, "f64"));
    let mut out = TokenStream::new();
    for generated in &file.items {
        let syn::Item::Fn(f) = generated else {
            continue;
        };
        let Some(suffix) = f
            .sig
            .ident
            .to_string()
            .strip_prefix(&prefix)
            .map(str::to_owned)
        else {
            continue;
        };
        const ITEMS: &[&str] = &[
            "grad",
            "vjp",
            "jvp",
            "hvp",
            "jacobian",
            "hessian",
            "gradcheck",
            "derivation",
            "trace",
            "trace_vjp",
        ];
        if !ITEMS.contains(&suffix.as_str()) {
            continue;
        }
        let item_name = format_ident!("{}_{}", name, suffix);
        let (f64_item, f32_item) = (
            format_ident!("{}_{}", instance_name(name, "f64"), suffix),
            format_ident!("{}_{}", instance_name(name, "f32"), suffix),
        );
        // The signature with `f64` as `T`.
        let mut params = Vec::new();
        let mut args = Vec::new();
        let mut generic = false;
        for input in &f.sig.inputs {
            let FnArg::Typed(typed) = input else { continue };
            // A tuple of upstream gradients is destructured in the item's signature: the
            // wrapper takes it whole.
            let ident = match &*typed.pat {
                Pat::Ident(p) => p.ident.clone(),
                Pat::Tuple(_) => Ident::new("__upstream", Span::mixed_site()),
                _ => continue,
            };
            let ty = replace(typed.ty.to_token_stream(), &f64_ident, t);
            params.push(quote!(#ident: #ty));
            if mentions(&ty, t) {
                generic = true;
                args.push(cast_argument(quote!(#ident), &typed.ty));
            } else {
                args.push(quote!(#ident));
            }
        }
        let output = match &f.sig.output {
            ReturnType::Default => quote!(),
            ReturnType::Type(arrow, ty) => {
                let ty = replace(ty.to_token_stream(), &f64_ident, t);
                generic |= mentions(&ty, t);
                quote!(#arrow #ty)
            }
        };
        let doc = format!(
            "The `{suffix}` item of [`{name}`], for `{t}` = `f32` or `f64` (see `{name}`'s \
             `f64` form for its derivation)."
        );
        out.extend(if generic {
            quote! {
                #[doc = #doc]
                #[allow(clippy::all)]
                #[track_caller]
                #vis fn #item_name<#t: ::autodiff::Float>(#(#params),*) #output {
                    if ::autodiff::float::is_f64::<#t>() {
                        ::autodiff::float::cast(#f64_item(#(#args),*))
                    } else {
                        ::autodiff::float::cast(#f32_item(#(#args),*))
                    }
                }
            }
        } else {
            quote! {
                #[doc = #doc]
                #[allow(clippy::all)]
                #vis fn #item_name(#(#params),*) #output {
                    #f64_item(#(#args),*)
                }
            }
        });
    }
    out
}
