//! The building blocks a caller's derivatives use of this function (see [`calls`](crate::calls)):
//! `f::vjp`, `f::jvp` and, where the engine's plan has it, `f::vjp_jvp`, over every
//! differentiable parameter, and the signature macro that
//! passes `f`'s signature on. Where a public item computes exactly what a block does (every
//! differentiable parameter differentiated), the block calls it rather than repeating its
//! body: a long function's programs are then compiled once, not twice.

use autodiff_core::symbolic::{CalleeBlocks, Forward};
use proc_macro2::{Ident, TokenStream};
use quote::{format_ident, quote};
use syn::ext::IdentExt;

use crate::calls::{block_names, blocks_holder, signature_macro, CalleeSig, SigParam};
use crate::emit::{self, hygienic, local_ident, FreshNames, ParamBinding};
use crate::items::{generated_item_attributes, Function};

/// What a caller of `f` uses: the building blocks `f::vjp`, `f::jvp` and, where the plan has
/// it, `f::vjp_jvp`, over every differentiable parameter (the
/// gradient always a tuple), and the signature macro. `shared` says which public items exist to
/// be called instead.
pub fn items(f: &Function, blocks: &CalleeBlocks, shared: Shared) -> TokenStream {
    let (vis, name) = (f.vis(), f.name());
    let (vjp_name, jvp_name, _) = block_names();
    let allow = generated_item_attributes();
    let (params, result_ty, prelude) = (f.params(), f.result_ty(), f.prelude());
    let gradient_types: Vec<TokenStream> =
        f.ir_params.iter().map(|&i| f.gradient_ty_of(i)).collect();

    let upstreams: Vec<Ident> = blocks
        .pullback
        .upstreams
        .iter()
        .map(|u| local_ident(u))
        .collect();
    let (upstream_params, vjp_bindings) = f.upstream_params(&upstreams, &f.primal_bindings(), None);
    let k = upstreams.len();
    let names = &blocks.pushforward.tangent_names;
    let mut locals = FreshNames::new(
        f.sig
            .params
            .iter()
            .map(|p| p.ident.unraw().to_string())
            .chain(names.iter().cloned())
            .chain(blocks.pullback.upstreams.iter().cloned()),
    );
    let vjp_body = if shared.vjp {
        let public = format_ident!("{}_vjp", name);
        let args = call_args(f);
        let upstream = f.pack(upstreams.iter().map(|u| quote!(#u)).collect());
        let call = quote!(#public(#(#args,)* #upstream));
        match f.ir_params.len() {
            // The public item returns a lone gradient bare; a block always returns a tuple.
            1 => {
                let (value, gradient) = (
                    locals.fresh("value".into()),
                    locals.fresh("gradient".into()),
                );
                quote!(let (#value, #gradient) = #call; (#value, (#gradient,)))
            }
            _ => call,
        }
    } else {
        let (stmts, outputs) = emit::body(&blocks.pullback.program, &vjp_bindings, &f.frame);
        let (value, gradients) = (f.pack(outputs[..k].to_vec()), &outputs[k..]);
        quote!(#prelude #(#stmts)* (#value, (#(#gradients,)*)))
    };

    let (tangent_params, jvp_bindings) =
        f.direction_params(f.ir_params, names, &f.primal_bindings(), None);
    let jvp_body = if shared.jvp {
        let public = format_ident!("{}_jvp", name);
        let (args, tangents) = (call_args(f), names.iter().map(|n| local_ident(n)));
        quote!(#public(#(#args,)* #(#tangents),*))
    } else {
        let (jvp_stmts, jvp_outputs) =
            emit::body(&blocks.pushforward.program, &jvp_bindings, &f.frame);
        let (jvp_value, jvp_tangent) = (
            f.pack(jvp_outputs[..k].to_vec()),
            f.pack(jvp_outputs[k..].to_vec()),
        );
        quote!(#prelude #(#jvp_stmts)* (#jvp_value, #jvp_tangent))
    };

    let second_order = blocks
        .second_order
        .as_ref()
        .ok()
        .map(|second| second_order_block(f, second, &upstream_params, &vjp_bindings));
    let signature = CalleeSig {
        name: name.unraw().to_string(),
        params: f
            .sig
            .params
            .iter()
            .map(|p| match p.tensor {
                Some(t) => SigParam::Value {
                    kind: t.kind,
                    by_ref: t.by_ref,
                },
                None => SigParam::Constant,
            })
            .collect(),
        results: f.results.clone(),
        second_order: second_order.is_some(),
    };
    let signature_macro = signature_macro(&signature, name, vis);
    let blocks = blocks_holder(
        name,
        vis,
        quote! {
            #allow
            #vis fn #vjp_name(#(#params,)* #(#upstream_params),*) -> (#result_ty, (#(#gradient_types,)*)) {
                #vjp_body
            }
            #second_order
            #allow
            #vis fn #jvp_name(#(#params,)* #(#tangent_params),*) -> (#result_ty, #result_ty) {
                #jvp_body
            }
        },
    );
    quote! {
        #blocks
        #signature_macro
    }
}

/// The public items a building block may call instead of repeating its body.
#[derive(Clone, Copy)]
pub struct Shared {
    /// `f_vjp` exists and pulls back to every differentiable parameter.
    pub vjp: bool,
    /// `f_jvp` exists and takes a tangent for every differentiable parameter.
    pub jvp: bool,
}

/// Every parameter of `f`, passed on as it is (by value or by reference, as declared).
pub fn call_args(f: &Function) -> Vec<Ident> {
    f.sig.params.iter().map(|p| hygienic(&p.ident)).collect()
}

/// `f::vjp_jvp(args.., upstreams.., t₀, t₁, .., t_upstreams..) -> (value, (g..), (ġ..))`:
/// what a caller's Hessian needs of this function. `upstream_params` and `pullback_bindings`
/// are the pullback's (one upstream gradient per result).
fn second_order_block(
    f: &Function,
    second: &Forward,
    upstream_params: &[TokenStream],
    pullback_bindings: &[ParamBinding],
) -> TokenStream {
    let vis = f.vis();
    let (_, _, vjp_jvp_name) = block_names();
    let (params, result_ty, prelude) = (f.params(), f.result_ty(), f.prelude());
    let gradient_types: Vec<TokenStream> =
        f.ir_params.iter().map(|&i| f.gradient_ty_of(i)).collect();
    let allow = generated_item_attributes();
    let mut bindings = pullback_bindings.to_vec();
    let mut tangents = Vec::new();
    let (result_tys, n) = (f.result_tys(), f.ir_params.len());
    // A tangent for each parameter, then one for each upstream gradient.
    for (i, name) in second.tangent_names.iter().enumerate() {
        let ident = local_ident(name);
        let (ty, is_tensor) = match f.ir_params.get(i) {
            Some(&p) => (
                f.gradient_ty_of(p),
                f.sig.params[p].tensor.is_some_and(|t| t.kind.is_tensor()),
            ),
            None => (result_tys[i - n].clone(), f.results[i - n].is_tensor()),
        };
        tangents.push(if is_tensor {
            quote!(#ident: &#ty)
        } else {
            quote!(#ident: #ty)
        });
        bindings.push(ParamBinding {
            ident,
            by_ref: is_tensor,
            check: None,
        });
    }
    let (stmts, outputs) = emit::body(&second.program, &bindings, &f.frame);
    let k = f.results.len();
    let value = f.pack(outputs[..k].to_vec());
    let gradients = &outputs[k..k + n];
    let tangent_outputs = &outputs[k + n..];
    quote! {
        #allow
        #vis fn #vjp_jvp_name(#(#params,)* #(#upstream_params,)* #(#tangents),*)
            -> (#result_ty, (#(#gradient_types,)*), (#(#gradient_types,)*))
        {
            #prelude
            #(#stmts)*
            (#value, (#(#gradients,)*), (#(#tangent_outputs,)*))
        }
    }
}
