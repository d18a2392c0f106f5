//! What the generated items of one function share: its signature as generated code writes it
//! (parameters, bindings, gradient type, prelude, doc comments). Used by `expand`, `dense` and
//! `blocks`; it uses none of them.

use autodiff_core::symbolic::{Comparison, Kind};
use proc_macro2::{Ident, Span, TokenStream};
use quote::quote;
use syn::ext::IdentExt;
use syn::{ItemFn, ReturnType, Type};

use crate::emit::{self, hygienic, local_ident, ArgumentCheck, Expected, FreshNames, ParamBinding};
use crate::signature::{upstream_type, Float, Signature};

/// The user's function, as every item generated for it needs it.
pub struct Function<'a> {
    pub item: &'a ItemFn,
    pub sig: &'a Signature,
    /// For each parameter of the engine's program, the index of the user's parameter it reads.
    pub ir_params: &'a [usize],
    /// The wrt set: indices of the user's parameters, in signature order.
    pub wrt: &'a [usize],
    pub float: Float,
    /// The kind of the result ([`Kind::Tuple`] for a tuple).
    pub result: Kind,
    /// The kind of each result: the one, or each of a tuple's.
    pub results: Vec<Kind>,
    /// The emitted bodies' shared context.
    pub frame: emit::Frame,
}

impl<'a> Function<'a> {
    pub fn new(
        item: &'a ItemFn,
        sig: &'a Signature,
        ir_params: &'a [usize],
        wrt: &'a [usize],
        float: Float,
        result: Kind,
    ) -> Self {
        Function {
            item,
            sig,
            ir_params,
            wrt,
            float,
            result,
            results: sig.results.clone(),
            frame: frame(sig, float),
        }
    }

    pub fn name(&self) -> &Ident {
        &self.item.sig.ident
    }

    pub fn vis(&self) -> &syn::Visibility {
        &self.item.vis
    }

    /// The result type as written.
    pub fn result_ty(&self) -> TokenStream {
        match &self.item.sig.output {
            ReturnType::Type(_, ty) => quote!(#ty),
            ReturnType::Default => quote!(()),
        }
    }

    /// The type of each result: the return type, or each of a tuple's.
    pub fn result_tys(&self) -> Vec<TokenStream> {
        self.result_types().iter().map(|ty| quote!(#ty)).collect()
    }

    fn result_types(&self) -> Vec<Type> {
        match &self.item.sig.output {
            ReturnType::Type(_, ty) => match &**ty {
                Type::Tuple(t) if self.result == Kind::Tuple => t.elems.iter().cloned().collect(),
                ty => vec![ty.clone()],
            },
            ReturnType::Default => vec![syn::parse_quote!(())],
        }
    }

    /// The type of each result's upstream gradient (or tangent): a tensor by reference.
    pub fn upstream_tys(&self) -> Vec<TokenStream> {
        self.result_types().iter().map(upstream_type).collect()
    }

    /// The type of an upstream gradient: a tensor by reference; for a tuple result, the tuple
    /// of each result's.
    pub fn upstream_ty(&self) -> TokenStream {
        self.pack(self.upstream_tys())
    }

    /// The result's parts as the function returns them: the one bare, several as a tuple.
    pub fn pack(&self, parts: Vec<TokenStream>) -> TokenStream {
        if self.result == Kind::Tuple {
            quote!((#(#parts),*))
        } else {
            bare_or_tuple(parts)
        }
    }

    /// `value` (an owned value shaped like the result) passed as the upstream gradient of
    /// `f_vjp`: a tensor by reference, a tuple as the tuple of its parts so passed.
    pub fn upstream_arg(&self, value: &Ident) -> TokenStream {
        let span = Span::mixed_site();
        match &self.results[..] {
            [kind] if kind.is_tensor() => quote::quote_spanned!(span=> &#value),
            [_] => quote::quote_spanned!(span=> #value),
            kinds => {
                let parts = kinds.iter().enumerate().map(|(i, kind)| {
                    let i = syn::Index::from(i);
                    if kind.is_tensor() {
                        quote::quote_spanned!(span=> &#value.#i)
                    } else {
                        quote::quote_spanned!(span=> #value.#i)
                    }
                });
                quote::quote_spanned!(span=> (#(#parts),*))
            }
        }
    }

    /// The upstream-gradient parameter of a public item: `dy: &Vector<f64>`, or for a tuple
    /// result the tuple destructured, `(dh, dc): (&Vector<f64>, &Vector<f64>)`.
    pub fn upstream_param(&self, names: &[Ident]) -> TokenStream {
        let ty = self.upstream_ty();
        let pattern = self.pack(names.iter().map(|n| quote!(#n)).collect());
        quote!(#pattern: #ty)
    }

    /// One upstream gradient parameter per result, named `names` (tensors by reference), and
    /// the bindings of a derived program whose parameters are `primal` followed by them. With
    /// `checked_in`, the function of that name checks each tensor's shape against its result's.
    pub fn upstream_params(
        &self,
        names: &[Ident],
        primal: &[ParamBinding],
        checked_in: Option<&Ident>,
    ) -> (Vec<TokenStream>, Vec<ParamBinding>) {
        let mut bindings = primal.to_vec();
        let mut params = Vec::new();
        for (i, ((ident, ty), kind)) in names
            .iter()
            .zip(self.upstream_tys())
            .zip(&self.results)
            .enumerate()
        {
            params.push(quote!(#ident: #ty));
            bindings.push(ParamBinding {
                ident: ident.clone(),
                by_ref: kind.is_tensor(),
                check: checked_in
                    .filter(|_| kind.is_tensor())
                    .map(|function| ArgumentCheck {
                        function: function.to_string(),
                        expected: Expected::Output(i),
                    }),
            });
        }
        (params, bindings)
    }

    /// `x: Ty` for every parameter, as the user wrote them (hygienic).
    pub fn params(&self) -> Vec<TokenStream> {
        self.sig
            .params
            .iter()
            .map(|p| {
                let (ident, ty) = (hygienic(&p.ident), &p.ty);
                quote!(#ident: #ty)
            })
            .collect()
    }

    /// The bindings of a derived program's primal parameters to the generated function's.
    pub fn primal_bindings(&self) -> Vec<ParamBinding> {
        self.ir_params
            .iter()
            .map(|&i| ParamBinding {
                ident: hygienic(&self.sig.params[i].ident),
                by_ref: self.sig.params[i].tensor.is_some_and(|t| t.by_ref),
                check: None,
            })
            .collect()
    }

    /// The owned type of parameter `i`'s gradient.
    pub fn gradient_ty_of(&self, i: usize) -> TokenStream {
        let ty = owned(&self.sig.params[i].ty);
        quote!(#ty)
    }

    /// `G`: the gradient type, bare for one wrt parameter, else a tuple in signature order.
    pub fn gradient_ty(&self) -> TokenStream {
        bare_or_tuple(self.wrt.iter().map(|&i| self.gradient_ty_of(i)).collect())
    }

    /// The wrt parameters for a doc comment: `` `a`, `b` ``.
    pub fn wrt_list(&self) -> String {
        backticked(
            &self
                .wrt
                .iter()
                .map(|&i| self.sig.params[i].ident.to_string())
                .collect::<Vec<_>>(),
        )
    }

    /// What every generated body starts with: the scalar methods in scope, and the context
    /// that run-time shape errors report (the user's function and, updated as the body runs,
    /// the operation as written in its source). The guard's name is hygienic (mixed site).
    pub fn prelude(&self) -> TokenStream {
        let function = self.name().unraw().to_string();
        // Apart from the parameters, which are mixed-site too.
        let guard = FreshNames::new(self.sig.params.iter().map(|p| p.ident.unraw().to_string()))
            .fresh("_context".to_string());
        quote::quote_spanned! {Span::mixed_site()=>
            use ::autodiff::ScalarExt as _;
            let #guard = ::autodiff::kernels::enter(#function);
        }
    }

    /// The direction parameters of a forward-mode item, one per user parameter in `of` (a
    /// scalar by value, a tensor by reference to its owned type), named `names`, and the
    /// bindings of a derived program whose parameters are `primal` followed by those
    /// directions. With `checked_in`, the function of that name checks each tensor direction's
    /// shape against its parameter's on entry.
    pub fn direction_params(
        &self,
        of: &[usize],
        names: &[String],
        primal: &[ParamBinding],
        checked_in: Option<&Ident>,
    ) -> (Vec<TokenStream>, Vec<ParamBinding>) {
        let mut bindings = primal.to_vec();
        let mut params = Vec::new();
        for (&i, name) in of.iter().zip(names) {
            let ident = local_ident(name);
            let param = &self.sig.params[i];
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
}

/// The emitted bodies' shared context.
fn frame(sig: &Signature, float: Float) -> emit::Frame {
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

/// A type with its outer reference removed: the owned type of a gradient.
pub fn owned(ty: &Type) -> &Type {
    match ty {
        Type::Reference(r) => &r.elem,
        Type::Paren(p) => owned(&p.elem),
        other => other,
    }
}

/// Text as `///` doc lines.
pub fn doc_lines(text: &str) -> TokenStream {
    text.lines().map(|line| quote!(#[doc = #line])).collect()
}

/// `G`: the bare gradient type for one wrt parameter, else a tuple in signature order.
pub fn bare_or_tuple(items: Vec<TokenStream>) -> TokenStream {
    if items.len() == 1 {
        items.into_iter().next().expect("one item")
    } else {
        quote!((#(#items),*))
    }
}

/// `` `a`, `b` `` for a doc comment.
pub fn backticked(names: &[String]) -> String {
    names
        .iter()
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `left OP right` for a comparison the engine chose.
pub fn compare(left: TokenStream, comparison: Comparison, right: TokenStream) -> TokenStream {
    let operator: TokenStream = comparison.operator().parse().expect("operator tokens");
    quote!(#left #operator #right)
}

/// The attributes of every generated item. `dead_code`: a user need not call every generated
/// item (and rustc would not silence it for a name that came through a `macro_rules!`); the
/// other lints are about generated code's style. `track_caller`: a panic (a shape error) is
/// reported where the user called the generated function. `inline`: an item nobody calls is
/// never compiled to machine code (rustc instantiates `#[inline]` functions where they are
/// used), so a function's unused derivatives cost type checking, not code generation.
pub fn generated_item_attributes() -> TokenStream {
    quote! {
        #[allow(
            unused_variables,
            unused_parens,
            unused_mut,
            unused_assignments,
            dead_code,
            clippy::all
        )]
        #[track_caller]
        #[inline]
    }
}
