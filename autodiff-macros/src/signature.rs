//! The function's signature: which parameters are differentiable (and of which kind), which are
//! constants, the float type, and the kind of the result. One `check_*` function per rule.

use autodiff_core::symbolic::Kind;
use proc_macro2::{Ident, TokenStream};
use quote::{quote, ToTokens};
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
}

/// The checked signature.
pub struct Signature {
    pub params: Vec<FnParam>,
    pub result: Kind,
    pub float: Float,
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
                    Ok(Some(TensorType { by_ref: true, ..t }))
                }
                _ if r.mutability.is_some() => Err(syn::Error::new_spanned(
                    ty,
                    "`&mut` parameters are not supported: a differentiable function has no side \
                     effects; take the input by value or by shared reference",
                )),
                _ => Ok(None),
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
                        GenericArgument::Type(Type::Path(e)) => {
                            e.path.get_ident().and_then(Float::from_ident)
                        }
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
    if !sig.generics.params.is_empty() || sig.generics.where_clause.is_some() {
        errors.spanned(
            &sig.generics,
            "generic parameters are not supported yet; write the float type out (`f32` or \
             `f64`) and take `Vector<T>`/`Matrix<T>` or references to them",
        );
    }
}

/// Checks the signature, recording every problem; `None` if it cannot be used.
pub fn check(item: &ItemFn, errors: &mut Errors) -> Option<Signature> {
    check_qualifiers(item, errors);
    let mut float = None;
    let mut params = Vec::new();
    let mut ok = true;
    for arg in &item.sig.inputs {
        let pat_type = match arg {
            FnArg::Receiver(r) => {
                errors.spanned(
                    r,
                    "`self` parameters are not supported: put #[differentiable] on a free \
                     function and pass the value as an ordinary parameter",
                );
                ok = false;
                continue;
            }
            FnArg::Typed(t) => t,
        };
        let ident = match &*pat_type.pat {
            Pat::Ident(p) if p.by_ref.is_none() && p.subpat.is_none() => p.ident.clone(),
            other => {
                errors.spanned(
                    other,
                    "parameter patterns are not supported; name the parameter (`x: &Matrix<f64>`)",
                );
                ok = false;
                continue;
            }
        };
        let tensor = match classify(&pat_type.ty) {
            Ok(t) => t,
            Err(e) => {
                errors.push(e);
                ok = false;
                continue;
            }
        };
        if let Some(t) = tensor {
            check_float(&mut float, t.float, &pat_type.ty, errors);
        }
        params.push(FnParam {
            ident,
            ty: (*pat_type.ty).clone(),
            tensor,
        });
    }
    let result = match &item.sig.output {
        ReturnType::Default => {
            errors.spanned(
                &item.sig.ident,
                "a differentiable function returns its result: add `-> f64` (or `f32`, \
                 `Vector<T>`, `Matrix<T>`)",
            );
            None
        }
        ReturnType::Type(_, ty) => match classify(ty) {
            Ok(Some(t)) if !t.by_ref => {
                check_float(&mut float, t.float, ty, errors);
                Some(t.kind)
            }
            Ok(_) => {
                let what = if matches!(**ty, Type::Tuple(_)) {
                    "tuple results are not supported; "
                } else {
                    ""
                };
                errors.spanned(
                    ty,
                    format!(
                        "{what}a differentiable function returns one owned `f32`, `f64`, \
                         `Vector<T>` or `Matrix<T>`"
                    ),
                );
                None
            }
            Err(e) => {
                errors.push(e);
                None
            }
        },
    };
    if ok && params.iter().all(|p| p.tensor.is_none()) {
        errors.spanned(
            &item.sig.ident,
            "nothing to differentiate: give the function a parameter of type `f64`, \
             `Vector<f64>` or `Matrix<f64>` (or their f32 versions)",
        );
        ok = false;
    }
    Some(Signature {
        params,
        result: result?,
        float: float?,
    })
    .filter(|_| ok)
}
