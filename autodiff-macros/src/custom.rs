//! `#[derivative(of = f)]`: a user-written pullback for a function the engine should not (or
//! cannot) differentiate itself, in the style of JAX's `custom_vjp` and Swift's
//! `@derivative(of:)`.
//!
//! The attribute goes on a function `f_vjp(p1, ..., pn, dy) -> (value, gradient)` taking `f`'s
//! parameters and the upstream gradient (a scalar by value, a tensor by reference) and returning
//! `f`'s value and the gradient with respect to each of `f`'s differentiable parameters (bare
//! for one, a tuple in signature order for several). It then provides what a differentiable
//! caller of `f` needs (see [`calls`](crate::calls)): the building blocks and `f`'s signature.
//! Forward mode through `f` is derived from the pullback (one pullback per output element).

use proc_macro2::{Ident, Span, TokenStream};

use crate::emit::{hygienic, FreshNames};
use quote::{quote, quote_spanned};
use syn::ext::IdentExt;
use syn::{FnArg, ItemFn, Pat, ReturnType, Type};

use crate::calls::{self, CalleeSig, SigParam};
use crate::errors::Errors;
use crate::signature::classify;

/// `of = f`, and `crate = "ad"` for a renamed `autodiff` dependency.
fn parse_of(attr: TokenStream) -> syn::Result<(Ident, Option<syn::Path>)> {
    let (mut of, mut krate) = (None, None);
    let parser = syn::meta::parser(|meta| {
        if meta.path.is_ident("of") {
            let ident: Ident = meta.value()?.parse()?;
            of = Some(ident);
            Ok(())
        } else if meta.path.is_ident("crate") {
            crate::attr::parse_crate(&meta, &mut krate)
        } else {
            Err(meta.error(
                "unknown argument; write `#[derivative(of = f)]` naming the function this is \
                 the pullback of (and `crate = \"name\"` for a renamed `autodiff` dependency)",
            ))
        }
    });
    syn::parse::Parser::parse2(parser, attr)?;
    let of = of.ok_or_else(|| {
        syn::Error::new(
            proc_macro2::Span::call_site(),
            "name the function this is the pullback of: `#[derivative(of = f)]`",
        )
    })?;
    Ok((of, krate))
}

/// Expands `#[derivative(attr)] item`. Never panics: problems are compile errors, with the
/// user's function kept.
pub fn expand(attr: TokenStream, item: TokenStream) -> TokenStream {
    let fallback = |error: syn::Error| {
        let error = error.to_compile_error();
        quote!(#item #error)
    };
    let (of, krate) = match parse_of(attr) {
        Ok(parsed) => parsed,
        Err(e) => return fallback(e),
    };
    let item_fn = match syn::parse2::<ItemFn>(item.clone()) {
        Ok(f) => f,
        Err(e) => {
            return fallback(syn::Error::new(
                e.span(),
                "#[derivative(of = f)] goes on a function: the pullback of `f`",
            ))
        }
    };
    match generate(&of, &item_fn) {
        Ok(generated) => {
            let generated = crate::attr::with_crate_path(generated, krate.as_ref());
            quote!(#item_fn #generated)
        }
        Err(e) => fallback(e),
    }
}

/// A parameter of the pullback: name, type, and its kind if differentiable.
struct PullbackParam {
    ident: Ident,
    ty: Type,
    sig: SigParam,
}

fn generate(of: &Ident, item: &ItemFn) -> syn::Result<TokenStream> {
    let mut errors = Errors::default();
    let mut params = Vec::new();
    for arg in &item.sig.inputs {
        match arg {
            FnArg::Typed(t) => match (&*t.pat, classify(&t.ty)) {
                (Pat::Ident(p), Ok(tensor)) => params.push(PullbackParam {
                    ident: p.ident.clone(),
                    ty: (*t.ty).clone(),
                    sig: match tensor {
                        Some(t) => SigParam::Value {
                            kind: t.kind,
                            by_ref: t.by_ref,
                        },
                        None => SigParam::Constant,
                    },
                }),
                (Pat::Ident(_), Err(e)) => errors.push(e),
                (other, _) => errors.spanned(other, "name the parameter (`x: f64`)"),
            },
            FnArg::Receiver(r) => {
                errors.spanned(r, "a pullback is a free function, without `self`")
            }
        }
    }
    errors.finish()?;
    let Some(upstream) = params.pop() else {
        return Err(syn::Error::new_spanned(
            &item.sig,
            "a pullback takes the function's parameters and then the upstream gradient `dy`",
        ));
    };
    let result = match upstream.sig {
        SigParam::Value { kind, .. } => kind,
        SigParam::Constant => {
            return Err(syn::Error::new_spanned(
                &upstream.ty,
                "the last parameter is the upstream gradient: `f64` (or `f32`) for a scalar \
                 result, `&Vector<T>` or `&Matrix<T>` for a tensor one",
            ))
        }
    };
    let value_ty = match &item.sig.output {
        ReturnType::Type(_, ty) => match &**ty {
            Type::Tuple(t) if t.elems.len() == 2 => t.elems[0].clone(),
            other => {
                return Err(syn::Error::new_spanned(
                    other,
                    "a pullback returns `(value, gradient)`: the function's value and its \
                     gradient (a tuple of one gradient per differentiable parameter when there \
                     are several)",
                ))
            }
        },
        ReturnType::Default => {
            return Err(syn::Error::new_spanned(
                &item.sig.ident,
                "a pullback returns `(value, gradient)`",
            ))
        }
    };
    let differentiable: Vec<&PullbackParam> = params
        .iter()
        .filter(|p| matches!(p.sig, SigParam::Value { .. }))
        .collect();
    if differentiable.is_empty() {
        return Err(syn::Error::new_spanned(
            &item.sig.ident,
            "nothing to differentiate: the function has no f32/f64, Vector or Matrix parameter",
        ));
    }

    let user_vjp = &item.sig.ident;
    let vis = &item.vis;
    let (vjp_name, jvp_name, _) = calls::block_names();
    let param_decls: Vec<TokenStream> = params
        .iter()
        .map(|p| {
            let (ident, ty) = (hygienic(&p.ident), &p.ty);
            quote!(#ident: #ty)
        })
        .collect();
    let moved: Vec<Ident> = params.iter().map(|p| hygienic(&p.ident)).collect();
    let cloned: Vec<TokenStream> = params
        .iter()
        .map(|p| {
            let ident = hygienic(&p.ident);
            quote!(::core::clone::Clone::clone(&#ident))
        })
        .collect();
    let (up_ident, up_ty) = (hygienic(&upstream.ident), &upstream.ty);
    let k = differentiable.len();
    let gradient_types = differentiable.iter().map(|p| {
        let ty = crate::items::owned(&p.ty);
        quote!(#ty)
    });
    // Every name bound here is mixed-site, like the parameters, and kept apart from them.
    let mut fresh = FreshNames::new(params.iter().map(|p| p.ident.unraw().to_string()));
    // `d` + the parameter's name (`dx_2` if a parameter is called `dx` already).
    let tangents: Vec<Ident> = differentiable
        .iter()
        .map(|p| fresh.fresh(format!("d{}", p.ident.unraw())))
        .collect();
    let [value, gradient, tangent, seed, i] =
        ["value", "gradient", "tangent", "seed", "i"].map(|base| fresh.fresh(base.to_string()));
    let parts: Vec<TokenStream> = if k == 1 {
        vec![quote_spanned!(Span::mixed_site()=> #gradient)]
    } else {
        (0..k)
            .map(|n| {
                let n = syn::Index::from(n);
                quote_spanned!(Span::mixed_site()=> #gradient.#n)
            })
            .collect()
    };
    // Tangents for the jvp: one per differentiable parameter, tensors by reference.
    let tensor: Vec<bool> = differentiable
        .iter()
        .map(|p| matches!(p.sig, SigParam::Value { kind, .. } if kind.is_tensor()))
        .collect();
    let tangent_decls =
        differentiable
            .iter()
            .zip(&tangents)
            .zip(&tensor)
            .map(|((p, t), &is_tensor)| {
                let ty = crate::items::owned(&p.ty);
                if is_tensor {
                    quote!(#t: &#ty)
                } else {
                    quote!(#t: #ty)
                }
            });
    let tangent_refs: Vec<TokenStream> = tangents
        .iter()
        .zip(&tensor)
        .map(|(t, &is_tensor)| if is_tensor { quote!(#t) } else { quote!(&#t) })
        .collect();
    let kernels = quote!(::autodiff::kernels);
    let seed_arg = if result.is_tensor() {
        quote_spanned!(Span::mixed_site()=> &#seed)
    } else {
        quote_spanned!(Span::mixed_site()=> #seed)
    };
    let signature = CalleeSig {
        name: of.unraw().to_string(),
        params: params.iter().map(|p| p.sig.clone()).collect(),
        results: vec![result],
        second_order: false,
    };
    let signature_macro = calls::signature_macro(&signature, of, vis);
    let allow = quote! {
        #[allow(unused_variables, dead_code, clippy::all)]
        #[track_caller]
    };
    let blocks = quote_spanned! {Span::mixed_site()=>
        #allow
        #vis fn #vjp_name(#(#param_decls,)* #up_ident: #up_ty) -> (#value_ty, (#(#gradient_types,)*)) {
            let (#value, #gradient) = #user_vjp(#(#moved,)* #up_ident);
            (#value, (#(#parts,)*))
        }
        /// Forward mode through the user's pullback: entry i of J·t is ⟨row i of J, t⟩, one
        /// pullback per element of the value.
        #allow
        #vis fn #jvp_name(#(#param_decls,)* #(#tangent_decls),*) -> (#value_ty, #value_ty) {
            let #value = #of(#(#cloned),*);
            let mut #tangent = ::std::vec::Vec::with_capacity(#kernels::element_count(&#value));
            for #i in 0..#kernels::element_count(&#value) {
                let #seed = #kernels::basis(&#value, #i);
                let (_, #gradient) = #user_vjp(#(#cloned,)* #seed_arg);
                #tangent.push(#(#kernels::dot_flat(&#parts, #tangent_refs))+*);
            }
            let #tangent = #kernels::with_flat_like(&#value, #tangent);
            (#value, #tangent)
        }
    };
    let blocks = calls::blocks_holder(of, vis, blocks);
    Ok(quote! {
        #blocks
        #signature_macro
    })
}
