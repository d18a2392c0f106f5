//! The function's signature: which parameters are differentiable (and of which kind), which are
//! constants, the float type, and the kind of the result. One `check_*` function per rule.

use autodiff_core::symbolic::Kind;
use proc_macro2::{Ident, TokenStream};
use quote::{quote, ToTokens};
use syn::spanned::Spanned;
use syn::{FnArg, GenericArgument, ItemFn, Pat, PathArguments, ReturnType, Type};

use crate::errors::Errors;

/// The float type the function is written in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Float {
    F32,
    F64,
}

impl Float {
    fn from_ident(ident: &Ident) -> Option<Float> {
        if ident == "f32" {
            Some(Float::F32)
        } else if ident == "f64" {
            Some(Float::F64)
        } else {
            None
        }
    }

    /// The suffix of a literal of this type.
    pub fn suffix(self) -> &'static str {
        match self {
            Float::F32 => "f32",
            Float::F64 => "f64",
        }
    }
}

impl ToTokens for Float {
    fn to_tokens(&self, tokens: &mut TokenStream) {
        tokens.extend(match self {
            Float::F32 => quote!(f32),
            Float::F64 => quote!(f64),
        });
    }
}

/// A differentiable parameter's type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TensorType {
    pub kind: Kind,
    /// `&Vector<T>` or `&Matrix<T>` rather than owned.
    pub by_ref: bool,
    pub float: Float,
}

/// One parameter of the user's function.
pub struct FnParam {
    pub ident: Ident,
    pub ty: Type,
    /// `Some` for a differentiable parameter, `None` for a constant.
    pub tensor: Option<TensorType>,
    /// Its type was rejected (already reported): later checks stay quiet about it.
    pub poisoned: bool,
}

/// The checked signature. Parts that had errors are still there, so that the body and the
/// attribute are checked too and every mistake is reported in one compile.
pub struct Signature {
    pub params: Vec<FnParam>,
    /// `None` if the return type was rejected; [`Kind::Tuple`] for a tuple of results.
    pub result: Option<Kind>,
    /// The kinds of the results: the one result's, or each of a tuple's, in order.
    pub results: Vec<Kind>,
    /// `None` if no float type could be read off the signature.
    pub float: Option<Float>,
    /// True when the signature has no errors, so code can be generated.
    pub valid: bool,
}

/// The kind of one result (the return type, or one element of a returned tuple): an owned
/// scalar, vector or matrix.
fn result_kind(ty: &Type, float: &mut Option<Float>, errors: &mut Errors) -> Option<Kind> {
    match classify(ty) {
        Ok(Some(t)) if !t.by_ref => {
            check_float(float, t.float, ty, errors);
            Some(t.kind)
        }
        Ok(_) => {
            errors.spanned(
                ty,
                "a differentiable function returns an owned `f32`, `f64`, `Vector<T>` or \
                 `Matrix<T>`, or a tuple of them (`-> (Vector<f64>, Vector<f64>)`)",
            );
            None
        }
        Err(e) => {
            errors.push(e);
            None
        }
    }
}

/// The type of an upstream gradient of a result of type `ty`: a tensor by reference, a scalar
/// by value, a tuple as the tuple of its parts' (`(&Vector<f64>, f64)`).
pub fn upstream_type(ty: &Type) -> TokenStream {
    match ty {
        Type::Tuple(t) if t.elems.len() >= 2 => {
            let parts = t.elems.iter().map(upstream_type);
            quote!((#(#parts),*))
        }
        Type::Paren(p) => upstream_type(&p.elem),
        _ => match classify(ty) {
            Ok(Some(t)) if t.kind.is_tensor() => quote!(&#ty),
            _ => quote!(#ty),
        },
    }
}

/// A type as the user wrote it, for messages: `&[usize]`, not `& [usize]`.
pub fn type_text(ty: &Type) -> String {
    let mut text = quote!(#ty).to_string();
    for (from, to) in [
        ("& ", "&"),
        (" <", "<"),
        ("< ", "<"),
        (" >", ">"),
        ("[ ", "["),
        (" ]", "]"),
        (" ,", ","),
    ] {
        text = text.replace(from, to);
    }
    text
}

/// True if `ty` mentions one of `names` (a generic parameter of the function).
fn mentions(ty: &Type, names: &[Ident]) -> bool {
    fn walk(tokens: TokenStream, names: &[Ident]) -> bool {
        tokens.into_iter().any(|t| match t {
            proc_macro2::TokenTree::Ident(i) => names.contains(&i),
            proc_macro2::TokenTree::Group(g) => walk(g.stream(), names),
            _ => false,
        })
    }
    !names.is_empty() && walk(quote!(#ty), names)
}

/// `f32` or `f64`, also as a `macro_rules!` passes a `$t:ty` (an invisible group).
fn float_type(ty: &Type) -> Option<Float> {
    match ty {
        Type::Group(g) => float_type(&g.elem),
        Type::Paren(p) => float_type(&p.elem),
        Type::Path(p) if p.qself.is_none() => p.path.get_ident().and_then(Float::from_ident),
        _ => None,
    }
}

/// Classifies a type: `Ok(Some)` for `T`, `Vector<T>`, `Matrix<T>` and references to the
/// tensors, `Ok(None)` for any other (constant) type, `Err` for a type that looks
/// differentiable but is not supported.
pub fn classify(ty: &Type) -> Result<Option<TensorType>, syn::Error> {
    match ty {
        Type::Paren(p) => classify(&p.elem),
        Type::Group(g) => classify(&g.elem),
        Type::Reference(r) => {
            let inner = classify(&r.elem)?;
            match inner {
                Some(t) if t.kind.is_tensor() => {
                    if r.mutability.is_some() {
                        return Err(syn::Error::new_spanned(
                            ty,
                            "`&mut` parameters are not supported: a differentiable function \
                             takes its inputs by value or by shared reference (`&Matrix<T>`)",
                        ));
                    }
                    if let Some(lifetime) = &r.lifetime {
                        return Err(syn::Error::new_spanned(
                            lifetime,
                            format!(
                                "a differentiable parameter is borrowed for the call only: \
                                 write `&{}` without the lifetime (a `&{lifetime} {0}` still \
                                 coerces to it)",
                                type_text(&r.elem)
                            ),
                        ));
                    }
                    Ok(Some(TensorType { by_ref: true, ..t }))
                }
                _ if r.mutability.is_some() => Err(syn::Error::new_spanned(
                    ty,
                    "`&mut` parameters are not supported: a differentiable function has no side \
                     effects; take the input by value or by shared reference",
                )),
                Some(t) => Err(syn::Error::new_spanned(
                    ty,
                    format!(
                        "a scalar is taken by value: write `{}` without `&`",
                        t.float.suffix()
                    ),
                )),
                None => Ok(None),
            }
        }
        Type::Path(p) if p.qself.is_none() => {
            let Some(last) = p.path.segments.last() else {
                return Ok(None);
            };
            if let Some(float) = Float::from_ident(&last.ident) {
                return Ok(Some(TensorType {
                    kind: Kind::Scalar,
                    by_ref: false,
                    float,
                }));
            }
            let kind = if last.ident == "Vector" {
                Kind::Vector
            } else if last.ident == "Matrix" {
                Kind::Matrix
            } else {
                return Ok(None);
            };
            let float = match &last.arguments {
                PathArguments::AngleBracketed(args) if args.args.len() == 1 => {
                    match &args.args[0] {
                        GenericArgument::Type(element) => float_type(element),
                        _ => None,
                    }
                }
                _ => None,
            };
            match float {
                Some(float) => Ok(Some(TensorType {
                    kind,
                    by_ref: false,
                    float,
                })),
                None => Err(syn::Error::new_spanned(
                    ty,
                    format!(
                        "a differentiable {kind} holds f32 or f64: write `{}<f64>` or `{}<f32>` \
                         (generic element types are not supported yet)",
                        last.ident, last.ident
                    ),
                )),
            }
        }
        _ => Ok(None),
    }
}

/// Records that the function uses `float` at `tokens`, reporting a second float type.
fn check_float(seen: &mut Option<Float>, float: Float, tokens: impl ToTokens, errors: &mut Errors) {
    match seen {
        None => *seen = Some(float),
        Some(first) if *first != float => errors.spanned(
            tokens,
            format!(
                "this function mixes f32 and f64; a differentiable function uses one float \
                 type throughout (here {})",
                first.suffix()
            ),
        ),
        Some(_) => {}
    }
}

/// Why an `async`, `const`, `unsafe` or `extern` function or a generic one is rejected.
fn check_qualifiers(item: &ItemFn, errors: &mut Errors) {
    let sig = &item.sig;
    if let Some(t) = &sig.asyncness {
        errors.spanned(
            t,
            "`async fn` cannot be differentiable; write a plain `fn` of scalars, vectors and \
             matrices",
        );
    }
    if let Some(t) = &sig.constness {
        errors.spanned(
            t,
            "`const fn` cannot be differentiable: the tensor operations run at run time; remove \
             `const`",
        );
    }
    if let syn::Safety::Unsafe(t) = &sig.safety {
        errors.spanned(
            t,
            "`unsafe fn` cannot be differentiable; differentiable functions are safe code",
        );
    }
    if let Some(abi) = &sig.abi {
        errors.spanned(
            abi,
            "`extern` functions cannot be differentiable; remove the ABI",
        );
    }
    if let Some(v) = &sig.variadic {
        errors.spanned(v, "variadic functions cannot be differentiable");
    }
    if !sig.generics.params.is_empty() {
        errors.spanned(
            &sig.generics.params,
            "a differentiable function may be generic over its float alone, \
             `fn f<T: Float>(x: &Vector<T>) -> T` (`autodiff::Float`: f32 or f64); other \
             generic parameters are not supported: write the types out",
        );
    } else if let Some(w) = &sig.generics.where_clause {
        errors.spanned(
            w,
            "`where` clauses are not supported: a function generic over its float writes \
             `<T: Float>`; remove the clause",
        );
    }
}

/// A function that names `Self` is in an `impl` block, where the generated items cannot go
/// (rustc would say only "macro definition is not supported in impls"). A receiver is reported
/// with the parameters.
fn check_not_associated(item: &ItemFn, errors: &mut Errors) {
    fn find_self(tokens: TokenStream) -> Option<Ident> {
        tokens.into_iter().find_map(|t| match t {
            proc_macro2::TokenTree::Ident(i) if i == "Self" => Some(i),
            proc_macro2::TokenTree::Group(g) => find_self(g.stream()),
            _ => None,
        })
    }
    let has_receiver = matches!(item.sig.inputs.first(), Some(FnArg::Receiver(_)));
    let tokens = quote!(#item);
    if let (false, Some(self_type)) = (has_receiver, find_self(tokens)) {
        errors.spanned(
            self_type,
            "this associated function names `Self`, which its #[differentiable] cannot see: \
             put #[differentiable] on its `impl` block as well (`#[differentiable] impl Mlp { \
             .. }`)",
        );
    }
}

/// The names of the function's generic parameters (types, consts and lifetimes).
fn generic_names(item: &ItemFn) -> Vec<Ident> {
    item.sig
        .generics
        .params
        .iter()
        .map(|p| match p {
            syn::GenericParam::Type(t) => t.ident.clone(),
            syn::GenericParam::Const(c) => c.ident.clone(),
            syn::GenericParam::Lifetime(l) => l.lifetime.ident.clone(),
        })
        .collect()
}

/// Checks the signature, recording every problem.
pub fn check(item: &ItemFn, errors: &mut Errors) -> Signature {
    let errors_before = errors.count();
    check_qualifiers(item, errors);
    check_not_associated(item, errors);
    let generics = generic_names(item);
    let mut float = None;
    let mut params = Vec::new();
    let mut all_params_ok = true;
    for arg in &item.sig.inputs {
        let pat_type = match arg {
            FnArg::Receiver(r) => {
                errors.spanned(
                    r,
                    "`self` parameters are not supported: put #[differentiable] on a free \
                     function and pass the value as an ordinary parameter",
                );
                all_params_ok = false;
                continue;
            }
            FnArg::Typed(t) => t,
        };
        let ident = match &*pat_type.pat {
            Pat::Ident(p) if p.by_ref.is_none() && p.subpat.is_none() => Some(p.ident.clone()),
            other => {
                errors.spanned(
                    other,
                    "parameter patterns are not supported; name the parameter (`x: &Matrix<f64>`)",
                );
                None
            }
        };
        // A type that names a generic parameter was reported with the generics.
        let (tensor, poisoned) = if mentions(&pat_type.ty, &generics) {
            (None, true)
        } else {
            match classify(&pat_type.ty) {
                Ok(t) => (t, false),
                Err(e) => {
                    errors.push(e);
                    (None, true)
                }
            }
        };
        if let Some(t) = tensor {
            check_float(&mut float, t.float, &pat_type.ty, errors);
        }
        all_params_ok &= !poisoned;
        match ident {
            Some(ident) => params.push(FnParam {
                ident,
                ty: (*pat_type.ty).clone(),
                tensor,
                poisoned,
            }),
            None => all_params_ok = false,
        }
    }
    let mut results = Vec::new();
    let result = match &item.sig.output {
        ReturnType::Default => {
            errors.spanned(
                &item.sig.ident,
                "a differentiable function returns its result: add `-> f64` (or `f32`, \
                 `Vector<T>`, `Matrix<T>`)",
            );
            None
        }
        // Reported already: a generic parameter, or `Self` (see `check_not_associated`).
        ReturnType::Type(_, ty)
            if mentions(ty, &generics) || mentions(ty, &[Ident::new("Self", ty.span())]) =>
        {
            None
        }
        ReturnType::Type(_, ty) => match &**ty {
            Type::Tuple(tuple) if tuple.elems.len() >= 2 => {
                let mut kinds = Vec::new();
                for elem in &tuple.elems {
                    if let Some(kind) = result_kind(elem, &mut float, errors) {
                        kinds.push(kind);
                    }
                }
                (kinds.len() == tuple.elems.len()).then(|| {
                    results = kinds;
                    Kind::Tuple
                })
            }
            _ => result_kind(ty, &mut float, errors).inspect(|&kind| results = vec![kind]),
        },
    };
    if all_params_ok && generics.is_empty() && params.iter().all(|p| p.tensor.is_none()) {
        errors.spanned(
            &item.sig.ident,
            "nothing to differentiate: give the function a parameter of type `f64`, \
             `Vector<f64>` or `Matrix<f64>` (or their f32 versions)",
        );
    }
    let valid = errors.count() == errors_before;
    Signature {
        params,
        result,
        results,
        float,
        valid,
    }
}
