//! The expansion: parse, validate, lower, differentiate, emit. Works on `proc_macro2` tokens so
//! it can be called (and tested) outside a compiler.

use autodiff_core::symbolic::{
    derive_forward, derive_hessian, derive_hvp, derive_jacobian, derive_jacobian_either,
    derive_reverse, print, Kind, Role,
};
use proc_macro2::{Ident, Span, TokenStream};
use quote::{format_ident, quote, ToTokens};
use syn::{Item, ItemFn, ReturnType, Type};

use crate::attr;
use crate::calls::{self, CalleeSig, Handshake, SigParam};
use crate::dense::{gradcheck_item, hessian_item, jacobian_item, DenseBody};
use crate::emit::{self, hygienic, local_ident, ArgumentCheck, Expected, FreshNames, ParamBinding};
use crate::errors::Errors;
use crate::lower::{self, Lowered};
use crate::signature::{self, Signature};
use autodiff_core::symbolic::Op;
use syn::ext::IdentExt;

/// Expands `#[differentiable(attr)] item`. Never panics: every problem becomes a compile error,
/// emitted together with the user's function as written.
pub fn expand(attr: TokenStream, item: TokenStream) -> TokenStream {
    expand_knowing(attr, item, Vec::new())
}

/// The caller's expansion again, now with its callees' signatures (see [`calls`]).
pub fn expand_handshake(input: TokenStream) -> TokenStream {
    match syn::parse2::<Handshake>(input) {
        Ok(state) => expand_knowing(state.attr, state.item, state.known),
        Err(e) => e.to_compile_error(),
    }
}

/// [`expand`] with the signatures of some callees known.
fn expand_knowing(attr: TokenStream, item: TokenStream, known: Vec<CalleeSig>) -> TokenStream {
    let attr_tokens = attr.clone();
    let item_fn = match syn::parse2::<Item>(item.clone()) {
        Ok(Item::Fn(f)) => f,
        Ok(Item::Verbatim(tokens)) if syn::parse2::<syn::TraitItemFn>(tokens.clone()).is_ok() => {
            let error = syn::Error::new_spanned(
                tokens,
                "#[differentiable] needs a function with a body; trait method declarations \
                 are not supported",
            );
            return fallback(item, error);
        }
        Ok(other) => {
            let error = syn::Error::new_spanned(
                item_kind_tokens(&other),
                "#[differentiable] goes on a function (`fn`), such as \
                 `fn loss(w: &Matrix<f64>) -> f64 { ... }`",
            );
            return fallback(item, error);
        }
        Err(e) => return fallback(item, e),
    };
    let mut errors = Errors::default();
    let args = attr::parse_args(attr).unwrap_or_else(|e| {
        errors.push(e);
        attr::Args::default()
    });
    // Every stage runs, even after errors, so that one compile reports every mistake.
    let sig = signature::check(&item_fn, &mut errors);
    let wrt = resolve_wrt(args.wrt.as_deref(), &sig, &mut errors);
    let lowering = lower::lower(&item_fn, &sig, &mut errors, &known);
    if let (Some(callee), true) = (lowering.unknown.first(), errors.is_empty()) {
        // Ask the first unknown callee's macro for its signature; it expands us again.
        let state = Handshake {
            attr: attr_tokens,
            known,
            item,
        };
        return calls::ask(callee, &state);
    }
    let (Some(lowered), Some(wrt), true) = (lowering.lowered, wrt, errors.is_empty()) else {
        let error = errors.finish().err().unwrap_or_else(|| {
            syn::Error::new(Span::call_site(), "internal error in #[differentiable]")
        });
        return fallback_fn(&item_fn, error);
    };
    match generate(&item_fn, &sig, &lowered, &wrt) {
        // `let y = ...; y` is the style that names the upstream gradient `dy` in derivations,
        // so clippy's `let_and_return` is silenced on the user's function, and so is
        // `dead_code`: a function used only through its derivatives is used. Nothing else
        // about the function changes.
        Ok(generated) => {
            let generated = attr::with_crate_path(generated, args.krate.as_ref());
            quote!(#[allow(clippy::let_and_return, dead_code)] #item_fn #generated)
        }
        Err(error) => fallback_fn(&item_fn, error),
    }
}

/// The user's item unchanged, with the errors.
fn fallback(item: TokenStream, error: syn::Error) -> TokenStream {
    let error = error.to_compile_error();
    quote!(#item #error)
}

/// The user's function with the errors: its signature as written, so that callers still find
/// it, and a body that type-checks whatever it returns, so that rustc does not report again
/// what the macro reported (`no method named matmul` after the macro's own message on it).
fn fallback_fn(item: &ItemFn, error: syn::Error) -> TokenStream {
    let error = error.to_compile_error();
    let (attrs, vis, sig) = (&item.attrs, &item.vis, &item.sig);
    quote! {
        #(#attrs)*
        #[allow(unused_variables, dead_code, unreachable_code, clippy::all)]
        #vis #sig {
            // Never runs: the crate does not compile. (No message: this may be a `const fn`.)
            loop {}
        }
        #error
    }
}

/// The tokens that identify an item for an error: its keyword and name where it has them.
fn item_kind_tokens(item: &Item) -> TokenStream {
    match item {
        Item::Struct(s) => {
            let (keyword, name) = (&s.struct_token, &s.ident);
            quote!(#keyword #name)
        }
        Item::Enum(e) => {
            let (keyword, name) = (&e.enum_token, &e.ident);
            quote!(#keyword #name)
        }
        Item::Union(u) => {
            let (keyword, name) = (&u.union_token, &u.ident);
            quote!(#keyword #name)
        }
        Item::Trait(t) => {
            let (keyword, name) = (&t.trait_token, &t.ident);
            quote!(#keyword #name)
        }
        Item::Const(c) => {
            let (keyword, name) = (&c.const_token, &c.ident);
            quote!(#keyword #name)
        }
        Item::Static(st) => {
            let (keyword, name) = (&st.static_token, &st.ident);
            quote!(#keyword #name)
        }
        Item::Type(t) => {
            let (keyword, name) = (&t.type_token, &t.ident);
            quote!(#keyword #name)
        }
        Item::Mod(m) => {
            let (keyword, name) = (&m.mod_token, &m.ident);
            quote!(#keyword #name)
        }
        Item::Impl(i) => {
            let (keyword, self_ty) = (&i.impl_token, &i.self_ty);
            quote!(#keyword #self_ty)
        }
        other => other.to_token_stream(),
    }
}

/// The wrt set as indices into the user's parameters, in signature order.
fn resolve_wrt(
    names: Option<&[Ident]>,
    sig: &Signature,
    errors: &mut Errors,
) -> Option<Vec<usize>> {
    let Some(names) = names else {
        return Some(
            (0..sig.params.len())
                .filter(|&i| sig.params[i].tensor.is_some())
                .collect(),
        );
    };
    let mut chosen = Vec::new();
    let mut ok = true;
    for name in names {
        match sig.params.iter().position(|p| p.ident == *name) {
            None => {
                let candidates: Vec<String> = sig
                    .params
                    .iter()
                    .filter(|p| p.tensor.is_some())
                    .map(|p| format!("`{}`", p.ident))
                    .collect();
                errors.spanned(
                    name,
                    format!(
                        "`{name}` is not a parameter of this function; `wrt` takes \
                         differentiable parameters: {}",
                        candidates.join(", ")
                    ),
                );
                ok = false;
            }
            // Its type was rejected already.
            Some(i) if sig.params[i].poisoned => ok = false,
            Some(i) if sig.params[i].tensor.is_none() => {
                let ty = &sig.params[i].ty;
                errors.spanned(
                    name,
                    format!(
                        "`{name}` has type `{}`, which cannot be differentiated; `wrt` takes \
                         parameters of type f32/f64, Vector<T> or Matrix<T>",
                        signature::type_text(ty)
                    ),
                );
                ok = false;
            }
            Some(i) if chosen.contains(&i) => {
                errors.spanned(
                    name,
                    format!("`{name}` is named twice in `wrt`; name each parameter once"),
                );
                ok = false;
            }
            Some(i) => chosen.push(i),
        }
    }
    chosen.sort_unstable();
    ok.then_some(chosen)
}

/// A type with its outer reference removed: the owned type of a gradient.
pub(crate) fn owned(ty: &Type) -> &Type {
    match ty {
        Type::Reference(r) => &r.elem,
        Type::Paren(p) => owned(&p.elem),
        other => other,
    }
}

/// Text as `///` doc lines.
pub(crate) fn doc_lines(text: &str) -> TokenStream {
    text.lines().map(|line| quote!(#[doc = #line])).collect()
}

/// `G`: the bare gradient type for one wrt parameter, else a tuple in signature order.
pub(crate) fn bare_or_tuple(items: Vec<TokenStream>) -> TokenStream {
    if items.len() == 1 {
        items.into_iter().next().expect("one item")
    } else {
        quote!((#(#items),*))
    }
}

/// What a caller of this function uses: `__autodiff_f_vjp` and `__autodiff_f_jvp` over every
/// differentiable parameter (the gradient always a tuple), and the signature macro.
#[allow(clippy::too_many_arguments)]
fn callee_items(
    item: &ItemFn,
    sig: &Signature,
    lowered: &Lowered,
    products: &autodiff_core::symbolic::ReverseProducts,
    forward: &autodiff_core::symbolic::ForwardProducts,
    ir_wrt: &[usize],
    float: crate::signature::Float,
) -> Result<TokenStream, autodiff_core::symbolic::KindError> {
    let all: Vec<usize> = (0..lowered.ir_params.len()).collect();
    let frame = frame(sig, float);
    let (reverse_all, forward_all);
    let (reverse_all, forward_all) = if ir_wrt == all.as_slice() {
        (products, forward)
    } else {
        reverse_all = derive_reverse(&lowered.program, &all)?;
        forward_all = derive_forward(&lowered.program, &all)?;
        (&reverse_all, &forward_all)
    };
    let (vis, name) = (&item.vis, &item.sig.ident);
    let prelude = prelude(name, sig);
    let (vjp_name, jvp_name, vjp_jvp_name) = calls::block_names(name);
    let result_ty = match &item.sig.output {
        ReturnType::Type(_, ty) => quote!(#ty),
        ReturnType::Default => quote!(()),
    };
    let params: Vec<TokenStream> = sig
        .params
        .iter()
        .map(|p| {
            let (ident, ty) = (hygienic(&p.ident), &p.ty);
            quote!(#ident: #ty)
        })
        .collect();
    let bindings: Vec<ParamBinding> = lowered
        .ir_params
        .iter()
        .map(|&i| ParamBinding {
            ident: hygienic(&sig.params[i].ident),
            by_ref: sig.params[i].tensor.is_some_and(|t| t.by_ref),
            check: None,
        })
        .collect();
    let gradient_types: Vec<TokenStream> = lowered
        .ir_params
        .iter()
        .map(|&i| {
            let ty = owned(&sig.params[i].ty);
            quote!(#ty)
        })
        .collect();
    let result = lowered.program.kind(lowered.program.outputs[0]);
    let upstream = local_ident(&reverse_all.vjp.upstream);
    let upstream_ty = if result.is_tensor() {
        quote!(&#result_ty)
    } else {
        quote!(#result_ty)
    };
    let mut vjp_bindings = bindings.to_vec();
    vjp_bindings.push(ParamBinding {
        ident: upstream.clone(),
        by_ref: result.is_tensor(),
        check: None,
    });
    let (stmts, outputs) = emit::body(&reverse_all.vjp.program, &vjp_bindings, &frame);
    let (value, gradients) = (&outputs[0], &outputs[1..]);
    let (tangent_params, jvp_bindings) = direction_params(
        sig,
        &lowered.ir_params,
        &forward_all.jvp.tangent_names,
        &bindings,
        None,
    );
    let (jvp_stmts, jvp_outputs) = emit::body(&forward_all.jvp.program, &jvp_bindings, &frame);
    let (jvp_value, jvp_tangent) = (&jvp_outputs[0], &jvp_outputs[1]);
    // Forward mode over the pullback, along every parameter and the upstream gradient: what a
    // caller's Hessian needs of this function. A callee with only a user-supplied pullback has
    // none, and then this function has none either.
    let second_block = (|| -> Option<TokenStream> {
        let n = lowered.ir_params.len();
        let mut with_upstream: Vec<usize> = (0..n).collect();
        with_upstream.push(n);
        let mut second =
            autodiff_core::symbolic::forward(&reverse_all.vjp.program, &with_upstream).ok()?;
        let outputs = second.program.outputs.clone();
        let k = n + 1; // value and n gradients
        second.program.outputs = outputs[..k]
            .iter()
            .chain(&outputs[k + 1..])
            .copied()
            .collect();
        second.program = autodiff_core::symbolic::simplify(&second.program);
        let mut second_bindings = vjp_bindings.to_vec();
        let mut second_tangents = Vec::new();
        for (i, name) in second.tangent_names.iter().enumerate() {
            let ident = local_ident(name);
            let (ty, is_tensor) = match lowered.ir_params.get(i) {
                Some(&p) => (
                    {
                        let ty = owned(&sig.params[p].ty);
                        quote!(#ty)
                    },
                    sig.params[p].tensor.is_some_and(|t| t.kind.is_tensor()),
                ),
                None => (result_ty.clone(), result.is_tensor()),
            };
            second_tangents.push(if is_tensor {
                quote!(#ident: &#ty)
            } else {
                quote!(#ident: #ty)
            });
            second_bindings.push(ParamBinding {
                ident,
                by_ref: is_tensor,
                check: None,
            });
        }
        let (second_stmts, second_outputs) = emit::body(&second.program, &second_bindings, &frame);
        let second_value = &second_outputs[0];
        let second_gradients = &second_outputs[1..=n];
        let second_tangent_outputs = &second_outputs[n + 1..];
        let gradient_types = &gradient_types;
        Some(quote! {
            #[doc(hidden)]
            #[allow(unused_variables, unused_parens, dead_code, clippy::all)]
            #[track_caller]
            #vis fn #vjp_jvp_name(#(#params,)* #upstream: #upstream_ty, #(#second_tangents),*)
                -> (#result_ty, (#(#gradient_types,)*), (#(#gradient_types,)*))
            {
                #prelude
                #(#second_stmts)*
                (#second_value, (#(#second_gradients,)*), (#(#second_tangent_outputs,)*))
            }
        })
    })();
    let signature = CalleeSig {
        name: name.unraw().to_string(),
        params: sig
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
        result,
        second_order: second_block.is_some(),
    };
    let signature_macro = calls::signature_macro(&signature);
    let allow = quote! {
        #[allow(unused_variables, unused_parens, dead_code, clippy::all)]
        #[track_caller]
    };
    Ok(quote! {
        #[doc(hidden)]
        #allow
        #vis fn #vjp_name(#(#params,)* #upstream: #upstream_ty) -> (#result_ty, (#(#gradient_types,)*)) {
            #prelude
            #(#stmts)*
            (#value, (#(#gradients,)*))
        }
        #second_block
        #[doc(hidden)]
        #allow
        #vis fn #jvp_name(#(#params,)* #(#tangent_params),*) -> (#result_ty, #result_ty) {
            #prelude
            #(#jvp_stmts)*
            (#jvp_value, #jvp_tangent)
        }
        #signature_macro
    })
}

/// The emitted bodies' shared context.
fn frame(sig: &Signature, float: crate::signature::Float) -> emit::Frame {
    emit::Frame {
        float,
        constants: sig
            .params
            .iter()
            .filter(|p| p.tensor.is_none())
            .map(|p| p.ident.clone())
            .collect(),
    }
}

/// What every generated body starts with: the scalar methods in scope, and the context that
/// run-time shape errors report (the user's function and, updated as the body runs, the
/// operation as written in its source). The guard's name is hygienic (mixed site).
pub(crate) fn prelude(name: &Ident, sig: &Signature) -> TokenStream {
    let function = name.unraw().to_string();
    // Apart from the parameters, which are mixed-site too.
    let guard = FreshNames::new(sig.params.iter().map(|p| p.ident.unraw().to_string()))
        .fresh("_context".to_string());
    quote::quote_spanned! {Span::mixed_site()=>
        use ::autodiff::ScalarExt as _;
        let #guard = ::autodiff::kernels::enter(#function);
    }
}

/// `` `a`, `b` `` for a doc comment.
fn backticked(names: &[String]) -> String {
    names
        .iter()
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The direction parameters of `f_jvp` and `f_hvp`, one per wrt parameter (a scalar by value, a
/// tensor by reference to its owned type), and the bindings of a derived program whose
/// parameters are the primal ones followed by those directions. With `checked_in`, the
/// function of that name checks each tensor direction's shape against its parameter's on entry.
fn direction_params(
    sig: &Signature,
    wrt: &[usize],
    names: &[String],
    primal: &[ParamBinding],
    checked_in: Option<&Ident>,
) -> (Vec<TokenStream>, Vec<ParamBinding>) {
    let mut bindings = primal.to_vec();
    let mut params = Vec::new();
    for (&i, name) in wrt.iter().zip(names) {
        let ident = local_ident(name);
        let param = &sig.params[i];
        let ty = owned(&param.ty);
        let is_tensor = param.tensor.is_some_and(|t| t.kind.is_tensor());
        params.push(if is_tensor {
            quote!(#ident: &#ty)
        } else {
            quote!(#ident: #ty)
        });
        let primal_ident = hygienic(&param.ident).to_string();
        let check = checked_in.filter(|_| is_tensor).and_then(|function| {
            let position = primal.iter().position(|p| p.ident == primal_ident)?;
            Some(ArgumentCheck {
                function: function.to_string(),
                expected: Expected::Param(position),
            })
        });
        bindings.push(ParamBinding {
            ident,
            by_ref: is_tensor,
            check,
        });
    }
    (params, bindings)
}

fn generate(
    item: &ItemFn,
    sig: &Signature,
    lowered: &Lowered,
    wrt: &[usize],
) -> Result<TokenStream, syn::Error> {
    let internal = |e: autodiff_core::symbolic::KindError| {
        syn::Error::new(
            Span::call_site(),
            format!("internal error in #[differentiable] (please report it): {e}"),
        )
    };
    // `resolve_wrt` admits only differentiable parameters, and each of those is an IR parameter.
    let ir_wrt: Vec<usize> = wrt
        .iter()
        .filter_map(|w| lowered.ir_params.iter().position(|p| p == w))
        .collect();
    let products = derive_reverse(&lowered.program, &ir_wrt).map_err(internal)?;
    let forward = derive_forward(&lowered.program, &ir_wrt).map_err(internal)?;
    let (Some(float), Some(result)) = (sig.float, sig.result) else {
        return Err(syn::Error::new(
            Span::call_site(),
            "internal error in #[differentiable] (please report it): signature without types",
        ));
    };
    let frame = frame(sig, float);

    let vis = &item.vis;
    let name = &item.sig.ident;
    let result_ty = match &item.sig.output {
        ReturnType::Type(_, ty) => quote!(#ty),
        ReturnType::Default => quote!(()),
    };
    let params: Vec<TokenStream> = sig
        .params
        .iter()
        .map(|p| {
            let (ident, ty) = (hygienic(&p.ident), &p.ty);
            quote!(#ident: #ty)
        })
        .collect();
    let bindings: Vec<ParamBinding> = lowered
        .ir_params
        .iter()
        .map(|&i| ParamBinding {
            ident: hygienic(&sig.params[i].ident),
            by_ref: sig.params[i].tensor.is_some_and(|t| t.by_ref),
            check: None,
        })
        .collect();
    let gradient_ty = bare_or_tuple(
        wrt.iter()
            .map(|&i| {
                let ty = owned(&sig.params[i].ty);
                quote!(#ty)
            })
            .collect(),
    );
    let wrt_list = wrt
        .iter()
        .map(|&i| format!("`{}`", sig.params[i].ident))
        .collect::<Vec<_>>()
        .join(", ");
    let derivation = &products.derivation;
    let derivation_doc = doc_lines(&format!(
        "\nDerivation (reverse mode; `dv` is the adjoint of `v`):\n```text\n{derivation}\n```"
    ));
    // `dead_code`: a user need not call every generated item (and rustc would not silence it
    // for a name that came through a `macro_rules!`). `track_caller`: a panic (a shape error)
    // is reported where the user called the generated function.
    let allow = quote! {
        #[allow(unused_variables, unused_parens, dead_code, clippy::all)]
        #[track_caller]
    };
    let prelude = prelude(name, sig);

    let emit_fn = |program: &autodiff_core::symbolic::Program, bindings: &[ParamBinding]| {
        let (stmts, outputs) = emit::body(program, bindings, &frame);
        let value = &outputs[0];
        let gradient = bare_or_tuple(outputs[1..].to_vec());
        quote!(#prelude #(#stmts)* (#value, #gradient))
    };

    // f_vjp
    let vjp_name = format_ident!("{}_vjp", name);
    let upstream = local_ident(&products.vjp.upstream);
    let upstream_ty = if result == Kind::Scalar {
        quote!(#result_ty)
    } else {
        quote!(&#result_ty)
    };
    let mut vjp_bindings = bindings;
    vjp_bindings.push(ParamBinding {
        ident: upstream.clone(),
        by_ref: result.is_tensor(),
        check: result.is_tensor().then(|| ArgumentCheck {
            function: vjp_name.to_string(),
            expected: Expected::Output(0),
        }),
    });
    let vjp_body = emit_fn(&products.vjp.program, &vjp_bindings);
    let vjp_doc = doc_lines(&format!(
        "The value of [`{name}`] and the upstream gradient `{upstream}` pulled back to {wrt_list} \
         (a vector-Jacobian product)."
    ));
    let vjp = quote! {
        #vjp_doc
        #derivation_doc
        #allow
        #vis fn #vjp_name(#(#params,)* #upstream: #upstream_ty) -> (#result_ty, #gradient_ty) {
            #vjp_body
        }
    };

    // f_grad
    let grad = match &products.grad {
        Some(program) => {
            let grad_name = format_ident!("{}_grad", name);
            let body = emit_fn(program, &vjp_bindings[..vjp_bindings.len() - 1]);
            let doc = doc_lines(&format!(
                "The value of [`{name}`] and its gradient with respect to {wrt_list}."
            ));
            quote! {
                #doc
                #derivation_doc
                #allow
                #vis fn #grad_name(#(#params),*) -> (#result_ty, #gradient_ty) {
                    #body
                }
            }
        }
        None => quote!(),
    };

    // f_jvp
    let jvp_name = format_ident!("{}_jvp", name);
    let primal_bindings = &vjp_bindings[..vjp_bindings.len() - 1];
    let (tangent_params, jvp_bindings) = direction_params(
        sig,
        wrt,
        &forward.jvp.tangent_names,
        primal_bindings,
        Some(&jvp_name),
    );
    let (jvp_stmts, jvp_outputs) = emit::body(&forward.jvp.program, &jvp_bindings, &frame);
    let (jvp_value, jvp_tangent) = (&jvp_outputs[0], &jvp_outputs[1]);
    let tangent_list = backticked(&forward.jvp.tangent_names);
    let jvp_doc = doc_lines(&format!(
        "The value of [`{name}`] and its directional derivative along {tangent_list} (a \
         Jacobian-vector product), in forward mode.\n\nDerivation (forward mode; `dv` is the \
         tangent of `v`):\n```text\n{}\n```",
        forward.derivation
    ));
    let jvp = quote! {
        #jvp_doc
        #allow
        #vis fn #jvp_name(#(#params,)* #(#tangent_params),*) -> (#result_ty, #result_ty) {
            #prelude
            #(#jvp_stmts)*
            (#jvp_value, #jvp_tangent)
        }
    };

    // f_hvp: forward mode over the gradient program.
    // Second derivatives through calls use the callees' second-order blocks; a callee with a
    // user-supplied pullback has none, and then neither f_hvp nor f_hessian is generated.
    let has_calls = lowered
        .program
        .insts
        .iter()
        .any(|inst| matches!(inst.op, Op::Call(_)));
    let hvp_program = match result {
        Kind::Scalar => match derive_hvp(&lowered.program, &ir_wrt) {
            Ok(h) => Some(h),
            // A callee with a user-supplied pullback has no second derivative to offer.
            Err(_) if has_calls => None,
            Err(e) => return Err(internal(e)),
        },
        _ => None,
    };
    let hvp = match hvp_program {
        Some(hvp) => {
            let hvp_name = format_ident!("{}_hvp", name);
            let (direction_params, hvp_bindings) = direction_params(
                sig,
                wrt,
                &hvp.tangent_names,
                primal_bindings,
                Some(&hvp_name),
            );
            let (stmts, outputs) = emit::body(&hvp.program, &hvp_bindings, &frame);
            let k = wrt.len();
            let value = &outputs[0];
            let gradient = bare_or_tuple(outputs[1..=k].to_vec());
            let product = bare_or_tuple(outputs[k + 1..].to_vec());
            let directions = backticked(&hvp.tangent_names);
            let program = print::print_lines(&hvp.program, Role::Tangent, &[]);
            let doc = doc_lines(&format!(
                "The value of [`{name}`], its gradient with respect to {wrt_list}, and its \
                 Hessian times the direction {directions} (a Hessian-vector product, forward \
                 mode over the gradient: about the cost of two gradients, whatever the number \
                 of parameters).\n\nDerivation (forward over reverse; `dv` is the tangent \
                 along {directions} of `v`, so `ddw` is the tangent of the adjoint `dw`):\n\
                 ```text\n{program}\n```"
            ));
            quote! {
                #doc
                #allow
                #vis fn #hvp_name(#(#params,)* #(#direction_params),*)
                    -> (#result_ty, #gradient_ty, #gradient_ty)
                {
                    #prelude
                    #(#stmts)*
                    (#value, #gradient, #product)
                }
            }
        }
        None => quote!(),
    };
    let hvp_exists = !hvp.is_empty();

    // f_jacobian. Its blocks borrow the parameters (owned ones are rebound as references
    // first), so no block moves what the next one reads.
    let borrowed_bindings: Vec<ParamBinding> = primal_bindings
        .iter()
        .map(|b| ParamBinding {
            ident: b.ident.clone(),
            by_ref: true,
            check: None,
        })
        .collect();
    let either = match (result, ir_wrt.as_slice()) {
        (Kind::Scalar, _) => None,
        (_, &[p]) => derive_jacobian_either(&lowered.program, p).map_err(internal)?,
        _ => None,
    };
    let batched = match result {
        Kind::Scalar => DenseBody::FromGradient,
        _ if either.is_some() => {
            let program = either.as_ref().expect("checked just above");
            // Tensor parameters are references in these blocks (owned ones are rebound).
            let parameter = hygienic(&sig.params[wrt[0]].ident);
            let parameter = if sig.params[wrt[0]]
                .tensor
                .is_some_and(|t| t.kind.is_tensor())
            {
                quote!(#parameter)
            } else {
                quote!(&#parameter)
            };
            let body = emit::branched_body(program, &borrowed_bindings, &frame, |result| {
                quote! {
                    ::autodiff::kernels::element_count(#result)
                        < ::autodiff::kernels::element_count(#parameter)
                }
            });
            DenseBody::Batched(vec![quote!({ #body })])
        }
        _ => match derive_jacobian(&lowered.program, &ir_wrt).map_err(internal)? {
            Some(programs) => DenseBody::Batched(
                programs
                    .iter()
                    .map(|program| {
                        let (stmts, outputs) = emit::body(program, &borrowed_bindings, &frame);
                        let jacobian = &outputs[0];
                        quote!({ #(#stmts)* #jacobian })
                    })
                    .collect(),
            ),
            None => DenseBody::ByDirections,
        },
    };
    let jacobian = jacobian_item(item, sig, wrt, float, batched);

    // f_hessian
    let hessian = match result {
        Kind::Scalar if hvp_exists => {
            let body = match derive_hessian(&lowered.program, &ir_wrt).map_err(internal)? {
                Some(programs) => DenseBody::Batched(
                    programs
                        .iter()
                        .map(|program| {
                            let (stmts, outputs) = emit::body(program, &borrowed_bindings, &frame);
                            let blocks = bare_or_tuple(outputs);
                            quote!({ #(#stmts)* #blocks })
                        })
                        .collect(),
                ),
                None => DenseBody::ByDirections,
            };
            hessian_item(item, sig, wrt, float, body)
        }
        _ => quote!(),
    };

    // The building blocks and the signature for callers (see `calls`).
    let callee =
        callee_items(item, sig, lowered, &products, &forward, &ir_wrt, float).map_err(internal)?;

    // f_gradcheck
    let gradcheck = gradcheck_item(item, sig, wrt, float);

    // f_derivation
    let derivation_name = format_ident!("{}_derivation", name);
    let derivation_fn_doc = doc_lines(&format!(
        "The reverse-mode derivation of [`{name}`] in matrix notation, one equation a line."
    ));
    let derivation_item = quote! {
        #derivation_fn_doc
        #derivation_doc
        #[allow(dead_code)]
        #vis fn #derivation_name() -> &'static str {
            #derivation
        }
    };
    Ok(quote!(#grad #vjp #jvp #hvp #jacobian #hessian #gradcheck #derivation_item #callee))
}
