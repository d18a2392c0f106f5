//! `#[differentiable]` on methods and associated functions.
//!
//! An attribute on a method sees the method alone, not the `impl` it is in, so it cannot know
//! which type `self` is, and a struct's fields are known by its type's name. The type is known
//! where the attribute is on the `impl` block (`#[differentiable] impl Mlp { .. }`, as PyO3's
//! `#[pymethods]`), or where the receiver names it (`self: &Mlp`). Each differentiable method
//! is then written as a free function of `this: &Mlp` (`self` renamed, `Self` spelled out),
//! expanded as any function is (its struct parameter flattened), and the items are turned back
//! into items of the `impl`: every item is an associated function, calls between them go
//! through `Self::`, the items the user calls take `&self` where the method does, and the hidden
//! building blocks for callers (a module, a macro) are left out, since an `impl` cannot hold
//! them: other differentiable functions do not call methods.

use proc_macro2::{Ident, Span, TokenStream, TokenTree};
use quote::{quote, ToTokens};
use syn::parse::{Parse, ParseStream};
use syn::visit_mut::VisitMut;
use syn::{FnArg, ImplItem, ItemFn, ItemImpl, Type};

/// The attribute argument by which the expansion tells itself that the function is a method
/// (it survives the handshakes with callees and structs, which carry the attribute).
pub const METHOD_OF: &str = "__method_of";

/// What the expansion of a method needs: its type, and the name `self` has in the free form.
#[derive(Clone)]
pub struct MethodOf {
    pub self_ty: Type,
    /// `this`, where the method has a receiver; `None` for an associated function.
    pub this: Option<Ident>,
}

impl Parse for MethodOf {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let self_ty: Type = input.parse()?;
        let this = if input.peek(syn::Token![,]) {
            input.parse::<syn::Token![,]>()?;
            Some(input.parse()?)
        } else {
            None
        };
        Ok(MethodOf { self_ty, this })
    }
}

impl MethodOf {
    fn to_argument(&self) -> TokenStream {
        let name = Ident::new(METHOD_OF, Span::call_site());
        let self_ty = &self.self_ty;
        match &self.this {
            Some(this) => quote!(#name(#self_ty, #this)),
            None => quote!(#name(#self_ty)),
        }
    }
}

/// `#[differentiable] impl Type { .. }`: every method in it marked `#[differentiable(..)]`
/// gets its items beside it; the rest of the block is left as written.
pub fn expand_impl(attr: TokenStream, mut block: ItemImpl) -> TokenStream {
    let error = if !attr.is_empty() {
        Some(syn::Error::new_spanned(
            &attr,
            "`#[differentiable]` on an `impl` block takes no arguments: give them to each \
             method's own `#[differentiable(..)]`",
        ))
    } else if let Some((path, _)) = &block.trait_ {
        Some(syn::Error::new_spanned(
            path,
            "#[differentiable] goes on an inherent `impl` block (`impl Mlp { .. }`), not a \
             trait's",
        ))
    } else if !block.generics.params.is_empty() {
        Some(syn::Error::new_spanned(
            &block.generics,
            "differentiable methods of a generic `impl` are not supported yet: write the \
             `impl` for `f64` (or `f32`), or make the method a free function generic over \
             `T: Float`",
        ))
    } else {
        None
    };
    let marked = |item: &ImplItem| matches!(item, ImplItem::Fn(f) if f.attrs.iter().any(|a| a.path().is_ident("differentiable")));
    let error = error.or_else(|| {
        (!block.items.iter().any(marked)).then(|| {
            syn::Error::new_spanned(
                &block.self_ty,
                "no method of this `impl` is marked: put #[differentiable] on each method to \
                 differentiate as well (`#[differentiable] fn loss(&self, ..) -> f64`)",
            )
        })
    });
    let self_ty = (*block.self_ty).clone();
    let mut generated = Vec::new();
    for item in &mut block.items {
        let ImplItem::Fn(method) = item else { continue };
        let Some(position) = method
            .attrs
            .iter()
            .position(|a| a.path().is_ident("differentiable"))
        else {
            continue;
        };
        let marker = method.attrs.remove(position);
        if error.is_some() {
            continue;
        }
        let arguments = match &marker.meta {
            syn::Meta::Path(_) => TokenStream::new(),
            syn::Meta::List(list) => list.tokens.clone(),
            syn::Meta::NameValue(nv) => {
                generated.push(
                    syn::Error::new_spanned(nv, "write `#[differentiable(..)]`").to_compile_error(),
                );
                continue;
            }
        };
        let as_fn = ItemFn {
            attrs: method.attrs.clone(),
            vis: method.vis.clone(),
            modifiers: method.modifiers.clone(),
            sig: method.sig.clone(),
            block: Box::new(method.block.clone()),
        };
        generated.push(expand_method(arguments, &as_fn, &self_ty));
        // The method as written, without the loop attributes only the macro reads; used
        // through its derivatives only, it is used (as a free function's `dead_code` is).
        let clean = crate::expand::without_checkpoints(&as_fn);
        method.block = *clean.block;
        method
            .attrs
            .push(syn::parse_quote!(#[allow(clippy::let_and_return, dead_code)]));
    }
    // The block as written, its methods' attributes taken (they are this macro's), and the
    // error beside it, not in an `impl` that would repeat the block's own mistakes.
    if let Some(error) = error {
        let error = error.to_compile_error();
        return quote!(#block #error);
    }
    quote! {
        #block
        impl #self_ty {
            #(#generated)*
        }
    }
}

/// The receiver's type where the method writes it (`self: &Mlp`), for a method whose `impl`
/// has no attribute.
pub fn typed_receiver(item: &ItemFn) -> Option<Type> {
    match item.sig.inputs.first() {
        Some(FnArg::Receiver(r)) => match &r.kind {
            syn::ReceiverKind::Typed(_, ty) => match &**ty {
                Type::Reference(reference) if reference.mutability.is_none() => {
                    Some((*reference.elem).clone())
                }
                _ => None,
            },
            _ => None,
        },
        _ => None,
    }
}

/// Whether the function has a receiver (`self`, `&self`, ..): it is a method.
pub fn has_receiver(item: &ItemFn) -> bool {
    matches!(item.sig.inputs.first(), Some(FnArg::Receiver(_)))
}

/// The items of the method `method` of `self_ty`, as items of an `impl` of it (the method
/// itself not among them: it is kept where it is).
pub fn expand_method(attr: TokenStream, method: &ItemFn, self_ty: &Type) -> TokenStream {
    let (free, this) = match as_free_function(method, self_ty) {
        Ok(free) => free,
        Err(e) => return e.to_compile_error(),
    };
    let method_of = MethodOf {
        self_ty: self_ty.clone(),
        this: this.clone(),
    };
    // `wrt(self)` names the free function's `this`.
    let attr = match &this {
        Some(this) => rename_self(attr, this),
        None => attr,
    };
    let marker = method_of.to_argument();
    let attr = if attr.is_empty() {
        marker
    } else {
        quote!(#attr, #marker)
    };
    crate::expand::expand(attr, free.to_token_stream())
}

/// The method as a free function: the receiver `&self` becomes `this: &Type` (`this`, or
/// `this_` .. if a parameter has that name), `self` in the body `this`, and `Self` the type.
fn as_free_function(method: &ItemFn, self_ty: &Type) -> syn::Result<(ItemFn, Option<Ident>)> {
    let mut free = method.clone();
    let taken: Vec<String> = method
        .sig
        .inputs
        .iter()
        .filter_map(|arg| match arg {
            FnArg::Typed(t) => Some(t.pat.to_token_stream().to_string()),
            FnArg::Receiver(_) => None,
        })
        .collect();
    let mut this = None;
    if let Some(FnArg::Receiver(receiver)) = method.sig.inputs.first() {
        let by_shared_reference = match &receiver.kind {
            syn::ReceiverKind::Reference(_, _, mutability) => mutability.is_none(),
            syn::ReceiverKind::Typed(_, ty) => {
                matches!(&**ty, Type::Reference(r) if r.mutability.is_none())
            }
            _ => false,
        };
        if !by_shared_reference {
            return Err(syn::Error::new_spanned(
                receiver,
                "a differentiable method takes `&self`: its struct's fields are read, never \
                 changed or consumed",
            ));
        }
        let mut name = "this".to_string();
        while taken.contains(&name) {
            name.push('_');
        }
        let ident = Ident::new(&name, Span::call_site());
        let mut inputs = free.sig.inputs.clone();
        let first = inputs.iter_mut().next().expect("the receiver");
        *first = syn::parse_quote!(#ident: &#self_ty);
        free.sig.inputs = inputs;
        this = Some(ident);
    }
    let self_type = Ident::new("Self", Span::call_site());
    let replaced = crate::generic::replace_idents(
        free.to_token_stream(),
        std::slice::from_ref(&self_type),
        &[self_ty.to_token_stream()],
    );
    let replaced = match &this {
        Some(this) => rename_self(replaced, this),
        None => replaced,
    };
    let free = syn::parse2(replaced)?;
    Ok((free, this))
}

/// `tokens` with the value `self` named `this` (not the module path `self::`).
fn rename_self(tokens: TokenStream, this: &Ident) -> TokenStream {
    let tokens: Vec<TokenTree> = tokens.into_iter().collect();
    let mut out = Vec::with_capacity(tokens.len());
    for (k, token) in tokens.iter().enumerate() {
        out.push(match token {
            TokenTree::Ident(i) if i == "self" => {
                let path = matches!(
                    (tokens.get(k + 1), tokens.get(k + 2)),
                    (Some(TokenTree::Punct(a)), Some(TokenTree::Punct(b)))
                        if a.as_char() == ':' && b.as_char() == ':'
                );
                if path {
                    token.clone()
                } else {
                    let mut renamed = this.clone();
                    renamed.set_span(i.span());
                    TokenTree::Ident(renamed)
                }
            }
            TokenTree::Group(g) => {
                let mut group =
                    proc_macro2::Group::new(g.delimiter(), rename_self(g.stream(), this));
                group.set_span(g.span());
                TokenTree::Group(group)
            }
            other => other.clone(),
        });
    }
    out.into_iter().collect()
}

/// The expansion of a method's free form (`expansion`, free items) as items of its `impl`:
/// functions only (the free form itself left out: the method is kept as written), calls
/// between them through `Self::`, and `&self` for a first parameter `this`. Macro calls stay:
/// an error, or a handshake that expands here again.
pub fn into_impl_items(
    expansion: TokenStream,
    method_of: &MethodOf,
    function: &Ident,
) -> TokenStream {
    let file = match syn::parse2::<syn::File>(expansion.clone()) {
        Ok(file) => file,
        // A handshake's tokens, or an error: left as they are.
        Err(_) => return expansion,
    };
    let mut functions = Vec::new();
    let mut kept = TokenStream::new();
    for item in file.items {
        match item {
            syn::Item::Fn(f) if f.sig.ident != *function => functions.push(f),
            syn::Item::Macro(m) if !m.mac.path.is_ident("macro_rules") => {
                kept.extend(m.to_token_stream());
            }
            _ => {}
        }
    }
    let mut names: Vec<Ident> = functions.iter().map(|f| f.sig.ident.clone()).collect();
    names.push(function.clone());
    let mut through_self = ThroughSelf { names: &names };
    for f in &mut functions {
        through_self.visit_item_fn_mut(f);
        if let Some(this) = &method_of.this {
            take_self(f, this);
        }
    }
    quote!(#kept #(#functions)*)
}

/// Calls of the functions `names` written `Self::name(..)`.
struct ThroughSelf<'a> {
    names: &'a [Ident],
}

impl VisitMut for ThroughSelf<'_> {
    // Only what is called: a local of the same name as a function (`value`) is left alone.
    fn visit_expr_call_mut(&mut self, call: &mut syn::ExprCall) {
        if let syn::Expr::Path(path) = &mut *call.func {
            if path.qself.is_none() {
                if let Some(ident) = path.path.get_ident() {
                    if self.names.contains(ident) {
                        let ident = ident.clone();
                        *path = syn::parse_quote!(Self::#ident);
                    }
                }
            }
        }
        syn::visit_mut::visit_expr_call_mut(self, call);
    }
}

/// A first parameter `this: &Type` taken as `&self` (and bound to `this` in the body).
fn take_self(f: &mut ItemFn, this: &Ident) {
    let Some(FnArg::Typed(first)) = f.sig.inputs.first() else {
        return;
    };
    let syn::Pat::Ident(pattern) = &*first.pat else {
        return;
    };
    if pattern.ident != *this {
        return;
    }
    let bound = pattern.ident.clone();
    let mut inputs = f.sig.inputs.clone();
    *inputs.iter_mut().next().expect("a first parameter") = syn::parse_quote!(&self);
    f.sig.inputs = inputs;
    let receiver = Ident::new("self", Span::call_site());
    let body = &f.block;
    f.block = syn::parse_quote!({
        let #bound = #receiver;
        #body
    });
}
