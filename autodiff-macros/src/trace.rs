//! `f_trace_vjp` and `f_trace`: the engine's trace program (the reverse program with each
//! derivation line's numbers as extra outputs, see `autodiff_core::symbolic::trace`) emitted as
//! a function that returns an `autodiff::Trace`.

use autodiff_core::symbolic::{EntryRole, ReverseProducts, TracePlan};
use proc_macro2::TokenStream;
use quote::{format_ident, quote};

use crate::blocks;
use crate::emit::{self, local_ident};
use crate::items::{doc_lines, Function};

/// `f_trace_vjp(p1, ..., pn, upstream) -> Trace` and, for a scalar result,
/// `f_trace(p1, ..., pn) -> Trace` at upstream 1.
pub fn items(f: &Function, reverse: &ReverseProducts, plan: &TracePlan) -> TokenStream {
    let (vis, name) = (f.vis(), f.name());
    let trace_vjp = format_ident!("{}_trace_vjp", name);
    let upstreams: Vec<_> = reverse
        .vjp
        .upstreams
        .iter()
        .map(|u| local_ident(u))
        .collect();
    let (_, bindings) = f.upstream_params(&upstreams, &f.primal_bindings(), Some(&trace_vjp));
    let upstream_param = f.upstream_param(&upstreams);
    // Unfused: each line's value is computed on its own, as the derivation writes it.
    let (stmts, outputs) = emit::body_unfused_by_ref(&plan.program, &bindings, &f.frame);
    let steps = plan.steps.iter().map(|step| {
        let equation = &step.equation;
        let entries = step.entries.iter().map(|entry| {
            let role = match entry.role {
                EntryRole::Upstream => quote!(Upstream),
                EntryRole::Local => quote!(Local),
                EntryRole::Downstream => quote!(Downstream),
            };
            let (label, value) = (&entry.name, &outputs[entry.output]);
            quote! {
                ::autodiff::trace::Entry::new(::autodiff::trace::Role::#role, #label, #value)
            }
        });
        quote!(::autodiff::trace::Step::new(#equation, ::std::vec![#(#entries),*]))
    });
    let prelude = f.prelude();
    let params = f.params();
    let allow = crate::items::generated_item_attributes();
    let doc = doc_lines(&format!(
        "The reverse pass of [`{name}`] at these arguments, step by step: each line of \
         `{name}_derivation()` with its upstream gradient, its local factor where it is \
         elementwise, and the downstream gradient (print it with `{{}}`)."
    ));
    let trace_vjp_item = quote! {
        #doc
        #allow
        #vis fn #trace_vjp(#(#params,)* #upstream_param) -> ::autodiff::Trace {
            #prelude
            #(#stmts)*
            ::autodiff::Trace::new(::std::vec![#(#steps),*])
        }
    };
    let scalar_result = reverse.grad.is_some();
    let trace_item = scalar_result.then(|| {
        let trace = format_ident!("{}_trace", name);
        let (args, one) = (
            blocks::call_args(f),
            emit::float_literal(1.0, f.frame.float),
        );
        let doc = doc_lines(&format!(
            "[`{trace_vjp}`] at upstream 1: the reverse pass of [`{name}`]'s gradient, step by \
             step."
        ));
        quote! {
            #doc
            #allow
            #vis fn #trace(#(#params),*) -> ::autodiff::Trace {
                #trace_vjp(#(#args,)* #one)
            }
        }
    });
    quote!(#trace_vjp_item #trace_item)
}
