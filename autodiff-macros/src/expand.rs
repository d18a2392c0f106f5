//! The expansion: parse, validate, lower, plan (the engine derives every program and decides
//! what is generated), emit. One function per generated item turns the plan's programs into
//! tokens. Works on `proc_macro2` tokens so it can be called (and tested) outside a compiler.

use autodiff_core::symbolic::{
    self, ForwardProducts, Item, Plan, Program, ReverseProducts, SecondOrder,
};
use proc_macro2::{Ident, Span, TokenStream};
use quote::{format_ident, quote, ToTokens};
use syn::ItemFn;

use crate::attr;
use crate::blocks;
use crate::calls::{self, CalleeSig, Handshake};
use crate::dense;
use crate::depth;
use crate::emit::{self, local_ident, ParamBinding};
use crate::errors::Errors;
use crate::generic;
use crate::items::{backticked, bare_or_tuple, doc_lines, Function};
use crate::lower::{self, Lowered};
use crate::methods;
use crate::nesting;
use crate::signature::{self, Signature};
use crate::structs::{self, StructInfo};

/// Expands `#[differentiable(attr)] item`. Never panics: every problem becomes a compile error,
/// emitted together with the user's function as written.
pub fn expand(attr: TokenStream, item: TokenStream) -> TokenStream {
    match syn::parse2::<syn::Item>(item.clone()) {
        Ok(syn::Item::Impl(block)) => return methods::expand_impl(attr, block),
        Ok(syn::Item::Fn(f)) if methods::has_receiver(&f) => return expand_bare_method(attr, &f),
        _ => {}
    }
    let expansion = expand_knowing(attr.clone(), item.clone(), Vec::new(), Vec::new(), None);
    in_method_form(expansion, &attr, &item)
}

/// The caller's expansion again, now with its callees' signatures (see [`calls`]).
pub fn expand_handshake(input: TokenStream) -> TokenStream {
    match syn::parse2::<Handshake>(input) {
        Ok(state) => {
            let (attr, item) = (state.attr.clone(), state.item.clone());
            let expansion =
                expand_knowing(state.attr, state.item, state.known, state.structs, None);
            in_method_form(expansion, &attr, &item)
        }
        Err(e) => e.to_compile_error(),
    }
}

/// The expansion as items of an `impl`, when the function is the free form of a method (see
/// [`methods`]); else as it is.
fn in_method_form(expansion: TokenStream, attr: &TokenStream, item: &TokenStream) -> TokenStream {
    let method_of = attr::parse_args(attr.clone())
        .ok()
        .and_then(|args| args.method_of);
    match (method_of, syn::parse2::<ItemFn>(item.clone())) {
        (Some(method_of), Ok(free)) => {
            methods::into_impl_items(expansion, &method_of, &free.sig.ident)
        }
        _ => expansion,
    }
}

/// `#[differentiable]` on a method whose `impl` block has no attribute: its type is known only
/// where the receiver names it (`self: &Mlp`).
fn expand_bare_method(attr: TokenStream, method: &ItemFn) -> TokenStream {
    let Some(self_ty) = methods::typed_receiver(method) else {
        let receiver = method.sig.inputs.first();
        let error = syn::Error::new_spanned(
            receiver,
            "a method's #[differentiable] cannot see which type `self` is: put \
             #[differentiable] on its `impl` block as well (`#[differentiable] impl Mlp { .. }`), \
             or write the receiver's type (`self: &Mlp`)",
        );
        return fallback_fn(method, error);
    };
    let generated = methods::expand_method(attr, method, &self_ty);
    let method = without_checkpoints(method);
    quote!(#method #generated)
}

/// [`expand`] with the signatures of some callees and the fields of some structs known.
/// `origin` is the user's attribute and item when this expands the flat form of a function
/// with struct parameters (see [`structs`]): a handshake then carries the user's function.
fn expand_knowing(
    attr: TokenStream,
    item: TokenStream,
    known: Vec<CalleeSig>,
    known_structs: Vec<StructInfo>,
    origin: Option<(TokenStream, TokenStream)>,
) -> TokenStream {
    if let Err(error) = depth::check_nesting(item.clone()) {
        return too_deep(item, error);
    }
    let attr_tokens = attr.clone();
    let item_fn = match syn::parse2::<syn::Item>(item.clone()) {
        Ok(syn::Item::Fn(f)) => f,
        Ok(syn::Item::Verbatim(tokens))
            if syn::parse2::<syn::TraitItemFn>(tokens.clone()).is_ok() =>
        {
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
                 `fn loss(w: &Matrix<f64>) -> f64 { ... }`, or on an `impl` block of \
                 differentiable methods",
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
    if origin.is_none() && errors.is_empty() {
        if let Some(t) = generic::float_param(&item_fn) {
            return expand_generic((attr_tokens, item), &item_fn, &t, known, known_structs);
        }
    }
    // A generic function's instantiation (`origin` is the user's function) may have struct
    // parameters too; a struct function's flat form has none left.
    if errors.is_empty() {
        let params = structs::struct_params(&item_fn, args.wrt.as_deref());
        if !params.is_empty() {
            return expand_with_structs(
                origin.clone().unwrap_or((attr_tokens, item)),
                &item_fn,
                &args,
                &params,
                known,
                known_structs,
            );
        }
    }
    // Every stage runs, even after errors, so that one compile reports every mistake.
    let sig = signature::check(&item_fn, &mut errors);
    let wrt = resolve_wrt(args.wrt.as_deref(), &sig, &mut errors);
    check_only(args.only.as_deref(), &item_fn, &sig, &mut errors);
    let lowering = lower::lower(&item_fn, &sig, &mut errors, &known);
    if let (Some(callee), true) = (lowering.unknown.first(), errors.is_empty()) {
        // Ask the first unknown callee's macro for its signature; it expands us again.
        let (attr, item) = origin.unwrap_or((attr_tokens, item));
        let state = Handshake {
            attr,
            known,
            structs: known_structs,
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
    match generate(&item_fn, &sig, &lowered, &wrt, &args) {
        // `let y = ...; y` is the style that names the upstream gradient `dy` in derivations,
        // so clippy's `let_and_return` is silenced on the user's function, and so is
        // `dead_code`: a function used only through its derivatives is used. Nothing else
        // about the function changes.
        Ok(generated) => {
            let generated = attr::with_crate_path(generated, args.krate.as_ref());
            let item_fn = without_checkpoints(&item_fn);
            quote!(#[allow(clippy::let_and_return, dead_code)] #item_fn #generated)
        }
        Err(error) => fallback_fn(&item_fn, error),
    }
}

/// Whether an expansion is a handshake (a macro call that expands the function again), not
/// items.
fn is_handshake(expansion: &TokenStream) -> bool {
    expansion
        .clone()
        .into_iter()
        .next()
        .is_some_and(|t| !matches!(&t, proc_macro2::TokenTree::Punct(p) if p.as_char() == '#'))
}

/// A function generic over its float (see [`generic`]): both instantiations expanded, and the
/// generic items that call them.
fn expand_generic(
    origin: (TokenStream, TokenStream),
    item_fn: &ItemFn,
    t: &Ident,
    known: Vec<CalleeSig>,
    known_structs: Vec<StructInfo>,
) -> TokenStream {
    let mut expansions = Vec::new();
    for float in ["f64", "f32"] {
        let instance = match generic::instantiate(item_fn, t, float) {
            Ok(instance) => instance,
            Err(e) => return fallback_fn(item_fn, e),
        };
        let expansion = expand_knowing(
            origin.0.clone(),
            instance.to_token_stream(),
            known.clone(),
            known_structs.clone(),
            Some(origin.clone()),
        );
        if is_handshake(&expansion) {
            return expansion;
        }
        // One instantiation's errors are the other's: report them once.
        if expansion.to_string().contains("compile_error") {
            let user_fn = without_checkpoints(item_fn);
            return quote!(#[allow(dead_code)] #user_fn #expansion);
        }
        let expansion = match syn::parse2::<syn::File>(expansion.clone()) {
            Ok(mut file) => {
                for item in &mut file.items {
                    if let Some(attrs) = item_attrs(item) {
                        attrs.push(syn::parse_quote!(#[doc(hidden)]));
                    }
                }
                file.to_token_stream()
            }
            Err(_) => expansion,
        };
        expansions.push(generic::user_names_in_strings(expansion));
    }
    let wrappers = generic::wrappers(item_fn, t, &expansions[0]);
    let user_fn = without_checkpoints(&generic::with_typed_literals(item_fn, t));
    let (f64_items, f32_items) = (&expansions[0], &expansions[1]);
    quote! {
        #[allow(clippy::let_and_return, dead_code)]
        #user_fn
        #f64_items
        #f32_items
        #wrappers
    }
}

/// A function with struct parameters (see [`structs`]): asks each struct not known yet for its
/// fields; then expands the flat function and wraps its items.
fn expand_with_structs(
    origin: (TokenStream, TokenStream),
    item_fn: &ItemFn,
    args: &attr::Args,
    params: &[structs::StructParam],
    known: Vec<CalleeSig>,
    known_structs: Vec<StructInfo>,
) -> TokenStream {
    let mut resolved = Vec::new();
    for p in params {
        match structs::resolve(p, &known_structs) {
            Ok(structs::Resolution::Done(r)) => resolved.push(r),
            // Ask the struct (or a nested one) for its fields; its macro expands us again.
            Ok(structs::Resolution::Ask(path, text)) => {
                let state = Handshake {
                    attr: origin.0,
                    known,
                    structs: known_structs,
                    item: origin.1,
                };
                return calls::ask_fields(&path, &text, &state);
            }
            Err(message) => {
                return fallback_fn(item_fn, syn::Error::new_spanned(&p.ty, message));
            }
        }
    }
    let flat_name = format_ident!("__autodiff_flat_{}", item_fn.sig.ident);
    let flat = match structs::flatten(item_fn, &flat_name, &resolved) {
        Ok(flat) => flat,
        Err(e) => return fallback_fn(item_fn, e),
    };
    // The wrappers' view of the parameters, and the wrt set.
    let mut wrapper_params = Vec::new();
    for arg in &item_fn.sig.inputs {
        let syn::FnArg::Typed(t) = arg else { continue };
        let syn::Pat::Ident(p) = &*t.pat else {
            continue;
        };
        if let Some(r) = resolved.iter().find(|r| r.param.ident == p.ident) {
            wrapper_params.push(structs::WrapperParam::Struct(r));
            continue;
        }
        let gradient = match signature::classify(&t.ty) {
            Ok(Some(_)) => Some(Box::new(match &*t.ty {
                syn::Type::Reference(r) => (*r.elem).clone(),
                ty => ty.clone(),
            })),
            _ => None,
        };
        wrapper_params.push(structs::WrapperParam::Plain(p.ident.clone(), gradient));
    }
    let param_name = |w: &structs::WrapperParam| match w {
        structs::WrapperParam::Struct(r) => r.param.ident.clone(),
        structs::WrapperParam::Plain(i, _) => i.clone(),
    };
    let wrt: Vec<usize> = match &args.wrt {
        Some(names) => names
            .iter()
            .filter_map(|n| wrapper_params.iter().position(|w| param_name(w) == *n))
            .collect(),
        None => (0..wrapper_params.len())
            .filter(|&i| !matches!(&wrapper_params[i], structs::WrapperParam::Plain(_, None)))
            .collect(),
    };
    // The flat function's attribute: `wrt` over the leaves, the rest as written.
    let mut flat_args = Vec::new();
    let leaves: Vec<Ident> = wrt
        .iter()
        .flat_map(|&i| match &wrapper_params[i] {
            structs::WrapperParam::Struct(r) => r.leaves.iter().map(|l| l.flat.clone()).collect(),
            structs::WrapperParam::Plain(ident, _) => vec![ident.clone()],
        })
        .collect();
    flat_args.push(quote!(wrt(#(#leaves),*)));
    if let Some(only) = &args.only {
        let items = only.iter().map(|(_, ident)| ident);
        flat_args.push(quote!(only(#(#items),*)));
    }
    if let Some(krate) = &args.krate {
        let text = syn::LitStr::new(&krate.to_token_stream().to_string(), Span::call_site());
        flat_args.push(quote!(crate = #text));
    }
    let upstream_ty = match &item_fn.sig.output {
        syn::ReturnType::Type(_, ty) => signature::upstream_type(ty),
        syn::ReturnType::Default => quote!(()),
    };
    let scalar_result = match &item_fn.sig.output {
        syn::ReturnType::Type(_, ty) => {
            matches!(signature::classify(ty), Ok(Some(t)) if t.kind == symbolic::Kind::Scalar)
        }
        syn::ReturnType::Default => false,
    };
    let flat_expansion = expand_knowing(
        quote!(#(#flat_args),*),
        flat.to_token_stream(),
        known,
        known_structs,
        Some(origin.clone()),
    );
    // A handshake (a callee's signature asked for) expands the user's function again later.
    if is_handshake(&flat_expansion) {
        return flat_expansion;
    }
    // The flat names (`p__w1`) are not snake case; the items using them say so.
    let flat_expansion = match syn::parse2::<syn::File>(flat_expansion.clone()) {
        Ok(mut file) => {
            for item in &mut file.items {
                if let Some(attrs) = item_attrs(item) {
                    attrs.push(syn::parse_quote!(#[allow(non_snake_case)]));
                }
            }
            file.to_token_stream()
        }
        Err(_) => flat_expansion,
    };
    let failed = flat_expansion.to_string().contains("compile_error");
    let user_fn = without_checkpoints(item_fn);
    if failed {
        return quote!(#[allow(dead_code)] #user_fn #flat_expansion);
    }
    let wrappers = structs::Wrappers {
        item: item_fn,
        flat: &flat_name,
        params: wrapper_params,
        wrt,
        scalar_result,
        receiver: args.method_of.as_ref().and_then(|m| m.this.clone()),
        upstream_ty,
        wanted: args.wanted(),
    }
    .items();
    let wrappers = attr::with_crate_path(wrappers, args.krate.as_ref());
    quote! {
        #[allow(clippy::let_and_return, dead_code)]
        #user_fn
        #flat_expansion
        #wrappers
    }
}

/// The attributes of an item that can carry `#[allow]`.
fn item_attrs(item: &mut syn::Item) -> Option<&mut Vec<syn::Attribute>> {
    match item {
        syn::Item::Fn(i) => Some(&mut i.attrs),
        syn::Item::Enum(i) => Some(&mut i.attrs),
        syn::Item::Impl(i) => Some(&mut i.attrs),
        syn::Item::Mod(i) => Some(&mut i.attrs),
        syn::Item::Use(i) => Some(&mut i.attrs),
        syn::Item::Const(i) => Some(&mut i.attrs),
        syn::Item::Static(i) => Some(&mut i.attrs),
        _ => None,
    }
}

/// The user's function without the `#[checkpoint]` attributes on its loops, which are the
/// macro's to read (rustc knows no such attribute); the function is otherwise as written.
pub fn without_checkpoints(item: &ItemFn) -> ItemFn {
    struct Strip;
    impl syn::visit_mut::VisitMut for Strip {
        fn visit_expr_for_loop_mut(&mut self, f: &mut syn::ExprForLoop) {
            f.attrs.retain(|a| !a.path().is_ident("checkpoint"));
            syn::visit_mut::visit_expr_for_loop_mut(self, f);
        }
    }
    let mut item = item.clone();
    syn::visit_mut::VisitMut::visit_item_fn_mut(&mut Strip, &mut item);
    item
}

/// A function nested too deeply to parse safely: its signature (so that callers still find it)
/// with an empty body, as [`fallback_fn`] gives, without parsing the body.
fn too_deep(item: TokenStream, error: syn::Error) -> TokenStream {
    let mut tokens: Vec<proc_macro2::TokenTree> = item.into_iter().collect();
    if let Some(proc_macro2::TokenTree::Group(body)) = tokens.last() {
        if body.delimiter() == proc_macro2::Delimiter::Brace {
            tokens.pop();
            tokens.push(proc_macro2::Group::new(proc_macro2::Delimiter::Brace, quote!({})).into());
        }
    }
    match syn::parse2::<ItemFn>(tokens.into_iter().collect()) {
        Ok(item_fn) => fallback_fn(&item_fn, error),
        Err(_) => error.to_compile_error(),
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
fn item_kind_tokens(item: &syn::Item) -> TokenStream {
    match item {
        syn::Item::Struct(s) => {
            let (keyword, name) = (&s.struct_token, &s.ident);
            quote!(#keyword #name)
        }
        syn::Item::Enum(e) => {
            let (keyword, name) = (&e.enum_token, &e.ident);
            quote!(#keyword #name)
        }
        syn::Item::Union(u) => {
            let (keyword, name) = (&u.union_token, &u.ident);
            quote!(#keyword #name)
        }
        syn::Item::Trait(t) => {
            let (keyword, name) = (&t.trait_token, &t.ident);
            quote!(#keyword #name)
        }
        syn::Item::Const(c) => {
            let (keyword, name) = (&c.const_token, &c.ident);
            quote!(#keyword #name)
        }
        syn::Item::Static(st) => {
            let (keyword, name) = (&st.static_token, &st.ident);
            quote!(#keyword #name)
        }
        syn::Item::Type(t) => {
            let (keyword, name) = (&t.type_token, &t.ident);
            quote!(#keyword #name)
        }
        syn::Item::Mod(m) => {
            let (keyword, name) = (&m.mod_token, &m.ident);
            quote!(#keyword #name)
        }
        syn::Item::Impl(i) => {
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

/// The items of `only(...)` that need a scalar result, where the result is a tensor. (Whether
/// a scalar function has second derivatives is the engine's to say: see [`check_generated`].)
fn check_only(only: Option<&[(Item, Ident)]>, item: &ItemFn, sig: &Signature, errors: &mut Errors) {
    let (Some(only), Some(result)) = (only, sig.result) else {
        return;
    };
    if result == symbolic::Kind::Scalar {
        return;
    }
    let what = if result == symbolic::Kind::Tuple {
        "a tuple"
    } else {
        "a tensor"
    };
    let result_ty = match &item.sig.output {
        syn::ReturnType::Type(_, ty) => signature::type_text(ty),
        syn::ReturnType::Default => return,
    };
    let name = &item.sig.ident;
    for (wanted, ident) in only
        .iter()
        .filter(|(wanted, _)| wanted.needs_scalar_result())
    {
        let no = if *wanted == Item::Grad {
            "no gradient"
        } else {
            "no gradient to differentiate again"
        };
        errors.spanned(
            ident,
            format!(
                "`{wanted}` needs a scalar result: `{name}` returns `{result_ty}`, {what}, \
                 which has {no}; its derivatives are `vjp`, `jvp` and `jacobian`"
            ),
        );
    }
}

/// Every item of `only(...)` is in the plan: one the engine left out is a second derivative the
/// function does not have (a tensor result was reported by [`check_only`]).
fn check_generated(only: &[(Item, Ident)], plan: &Plan, name: &Ident) -> Result<(), syn::Error> {
    let mut errors = Errors::default();
    for (wanted, ident) in only.iter().filter(|(item, _)| !plan.items.contains(*item)) {
        match &plan.second_order {
            Some(Err(reason)) if wanted.is_second_order() => errors.spanned(
                ident,
                format!(
                    "`{name}_{wanted}` cannot be generated: {reason}; leave `{wanted}` out of \
                     `only(...)`"
                ),
            ),
            _ => errors.spanned(
                ident,
                format!("internal error in #[differentiable] (please report it): no `{wanted}`"),
            ),
        }
    }
    errors.finish()
}

/// Every item generated beside the function: one function per item turns a part of the
/// engine's plan into tokens; which items exist (those asked for that the function has, and
/// those their code calls) and how the dense matrices are computed is the plan's to say. The
/// building blocks for callers are always generated.
fn generate(
    item: &ItemFn,
    sig: &Signature,
    lowered: &Lowered,
    wrt: &[usize],
    args: &attr::Args,
) -> Result<TokenStream, syn::Error> {
    let internal = |e: &dyn std::fmt::Display| {
        syn::Error::new(
            Span::call_site(),
            format!("internal error in #[differentiable] (please report it): {e}"),
        )
    };
    let (Some(float), Some(result)) = (sig.float, sig.result) else {
        return Err(internal(&"signature without types"));
    };
    // `resolve_wrt` admits only differentiable parameters, and each of those is an IR parameter.
    let ir_wrt: Vec<usize> = wrt
        .iter()
        .filter_map(|w| lowered.ir_params.iter().position(|p| p == w))
        .collect();
    let plan =
        symbolic::plan(&lowered.program, &ir_wrt, args.wanted()).map_err(|e| internal(&e))?;
    if let Some(only) = &args.only {
        check_generated(only, &plan, &item.sig.ident)?;
    }
    let f = Function::new(item, sig, &lowered.ir_params, wrt, float, result);
    let generated = |wanted: Item| plan.items.contains(wanted);
    let second_order = plan.second_order.as_ref().and_then(|s| s.as_ref().ok());
    let grad = plan
        .reverse
        .grad
        .as_ref()
        .filter(|_| generated(Item::Grad))
        .map(|program| {
            // A long function's gradient is its vector-Jacobian product at upstream 1 (the
            // same numbers: the seed only ever multiplies), one reverse program compiled instead
            // of two. Short ones keep the program specialised to the seed.
            let via_vjp = generated(Item::Vjp) && program.insts.len() > nesting::FLAT_LIMIT;
            grad_item(&f, program, &plan.reverse.derivation, via_vjp)
        });
    let vjp = generated(Item::Vjp).then(|| vjp_item(&f, &plan.reverse));
    let jvp = generated(Item::Jvp).then(|| jvp_item(&f, &plan.forward));
    let hvp = second_order
        .filter(|_| generated(Item::Hvp))
        .map(|second| hvp_item(&f, second));
    let jacobian = plan
        .jacobian
        .as_ref()
        .filter(|_| generated(Item::Jacobian))
        .map(|jacobian| dense::jacobian_item(&f, jacobian));
    let hessian = second_order
        .and_then(|second| second.hessian.as_ref())
        .filter(|_| generated(Item::Hessian))
        .map(|hessian| dense::hessian_item(&f, hessian));
    let gradcheck = generated(Item::Gradcheck).then(|| {
        let (numeric, by_hand) = (dense::gradcheck_item(&f), dense::hand_check_item(&f));
        quote!(#numeric #by_hand)
    });
    let derivation =
        generated(Item::Derivation).then(|| derivation_item(&f, &plan.reverse.derivation));
    let trace = plan
        .trace
        .as_ref()
        .filter(|_| generated(Item::Trace))
        .map(|trace| crate::trace::items(&f, &plan.reverse, trace));
    // With every differentiable parameter differentiated, a public item and the building
    // block for callers compute the same thing: the block calls the item (see `blocks`).
    let every_parameter = f.wrt == f.ir_params;
    let shared = blocks::Shared {
        vjp: every_parameter && generated(Item::Vjp),
        jvp: every_parameter && generated(Item::Jvp),
    };
    let blocks = blocks::items(&f, &plan.blocks, shared);
    Ok(quote!(#grad #vjp #jvp #hvp #jacobian #hessian #gradcheck #derivation #trace #blocks))
}

/// The attributes of a generated item.
fn allow() -> TokenStream {
    crate::items::generated_item_attributes()
}

/// The reverse derivation as doc lines.
fn derivation_doc(derivation: &str) -> TokenStream {
    doc_lines(&format!(
        "\nDerivation (reverse mode; `dv` is the adjoint of `v`):\n```text\n{derivation}\n```"
    ))
}

/// A body returning `(value, G)` from a program whose outputs are the value and the gradients.
fn value_and_gradient(f: &Function, program: &Program, bindings: &[ParamBinding]) -> TokenStream {
    let (stmts, outputs) = emit::body(program, bindings, &f.frame);
    let k = f.results.len();
    let value = f.pack(outputs[..k].to_vec());
    let gradient = bare_or_tuple(outputs[k..].to_vec());
    let prelude = f.prelude();
    quote!(#prelude #(#stmts)* (#value, #gradient))
}

/// `f_vjp(p1, ..., pn, upstream) -> (value, G)`
fn vjp_item(f: &Function, reverse: &ReverseProducts) -> TokenStream {
    let (vis, name) = (f.vis(), f.name());
    let vjp_name = format_ident!("{}_vjp", name);
    let upstreams: Vec<Ident> = reverse
        .vjp
        .upstreams
        .iter()
        .map(|u| local_ident(u))
        .collect();
    let (_, bindings) = f.upstream_params(&upstreams, &f.primal_bindings(), Some(&vjp_name));
    let upstream_param = f.upstream_param(&upstreams);
    let body = value_and_gradient(f, &reverse.vjp.program, &bindings);
    let doc = doc_lines(&format!(
        "The value of [`{name}`] and the upstream gradient {} pulled back to {} \
         (a vector-Jacobian product).",
        backticked(&reverse.vjp.upstreams),
        f.wrt_list()
    ));
    let derivation_doc = derivation_doc(&reverse.derivation);
    let (allow, params, result_ty, gradient_ty) =
        (allow(), f.params(), f.result_ty(), f.gradient_ty());
    quote! {
        #doc
        #derivation_doc
        #allow
        #vis fn #vjp_name(#(#params,)* #upstream_param) -> (#result_ty, #gradient_ty) {
            #body
        }
    }
}

/// `f_grad(p1, ..., pn) -> (value, G)`, from the gradient program.
fn grad_item(f: &Function, program: &Program, derivation: &str, via_vjp: bool) -> TokenStream {
    let (vis, name) = (f.vis(), f.name());
    let grad_name = format_ident!("{}_grad", name);
    let body = if via_vjp {
        let vjp_name = format_ident!("{}_vjp", name);
        let (args, one) = (
            blocks::call_args(f),
            emit::float_literal(1.0, f.frame.float),
        );
        quote!(#vjp_name(#(#args,)* #one))
    } else {
        value_and_gradient(f, program, &f.primal_bindings())
    };
    let doc = doc_lines(&format!(
        "The value of [`{name}`] and its gradient with respect to {}.",
        f.wrt_list()
    ));
    let derivation_doc = derivation_doc(derivation);
    let (allow, params, result_ty, gradient_ty) =
        (allow(), f.params(), f.result_ty(), f.gradient_ty());
    quote! {
        #doc
        #derivation_doc
        #allow
        #vis fn #grad_name(#(#params),*) -> (#result_ty, #gradient_ty) {
            #body
        }
    }
}

/// `f_jvp(p1, ..., pn, t1, ..., tk) -> (value, tangent)`
fn jvp_item(f: &Function, forward: &ForwardProducts) -> TokenStream {
    let (vis, name) = (f.vis(), f.name());
    let jvp_name = format_ident!("{}_jvp", name);
    let names = &forward.jvp.tangent_names;
    let (tangent_params, bindings) =
        f.direction_params(f.wrt, names, &f.primal_bindings(), Some(&jvp_name));
    let (stmts, outputs) = emit::body(&forward.jvp.program, &bindings, &f.frame);
    let k = f.results.len();
    let (value, tangent) = (f.pack(outputs[..k].to_vec()), f.pack(outputs[k..].to_vec()));
    let doc = doc_lines(&format!(
        "The value of [`{name}`] and its directional derivative along {} (a \
         Jacobian-vector product), in forward mode.\n\nDerivation (forward mode; `dv` is the \
         tangent of `v`):\n```text\n{}\n```",
        backticked(names),
        forward.derivation
    ));
    let (allow, params, result_ty, prelude) = (allow(), f.params(), f.result_ty(), f.prelude());
    quote! {
        #doc
        #allow
        #vis fn #jvp_name(#(#params,)* #(#tangent_params),*) -> (#result_ty, #result_ty) {
            #prelude
            #(#stmts)*
            (#value, #tangent)
        }
    }
}

/// `f_hvp(p1, ..., pn, v1, ..., vk) -> (value, G, H·v)`: forward mode over the gradient.
///
/// Its own program, not a call of `__autodiff_f_vjp_jvp` with the upstream gradient 1 and its
/// tangent 0: that would halve the largest item's compile cost, but where a second derivative is
/// infinite the zero tangent turns it into NaN (0·∞), which the program specialised to the seed
/// never multiplies.
fn hvp_item(f: &Function, second: &SecondOrder) -> TokenStream {
    let (vis, name) = (f.vis(), f.name());
    let hvp_name = format_ident!("{}_hvp", name);
    let names = &second.hvp.tangent_names;
    let (direction_params, bindings) =
        f.direction_params(f.wrt, names, &f.primal_bindings(), Some(&hvp_name));
    let (stmts, outputs) = emit::body(&second.hvp.program, &bindings, &f.frame);
    let k = f.wrt.len();
    let value = &outputs[0];
    let gradient = bare_or_tuple(outputs[1..=k].to_vec());
    let product = bare_or_tuple(outputs[k + 1..].to_vec());
    let directions = backticked(names);
    let doc = doc_lines(&format!(
        "The value of [`{name}`], its gradient with respect to {}, and its Hessian times the \
         direction {directions} (a Hessian-vector product, forward mode over the gradient: \
         about the cost of two gradients, whatever the number of parameters).\n\nDerivation \
         (forward over reverse; `dv` is the tangent along {directions} of `v`, so `ddw` is the \
         tangent of the adjoint `dw`):\n```text\n{}\n```",
        f.wrt_list(),
        second.derivation
    ));
    let (allow, params, result_ty, gradient_ty, prelude) = (
        allow(),
        f.params(),
        f.result_ty(),
        f.gradient_ty(),
        f.prelude(),
    );
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

/// `f_derivation() -> &'static str`
fn derivation_item(f: &Function, derivation: &str) -> TokenStream {
    let (vis, name) = (f.vis(), f.name());
    let derivation_name = format_ident!("{}_derivation", name);
    let doc = doc_lines(&format!(
        "The reverse-mode derivation of [`{name}`] in matrix notation, one equation a line."
    ));
    let derivation_doc = derivation_doc(derivation);
    quote! {
        #doc
        #derivation_doc
        #[allow(dead_code)]
        #vis fn #derivation_name() -> &'static str {
            #derivation
        }
    }
}
