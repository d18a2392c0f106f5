//! Parameter structs in differentiable functions (`p: &Mlp`, `p.w1` in the body).
//!
//! The macro sees only the function, so a struct's fields come through a handshake, as a
//! callee's signature does (see [`calls`](crate::calls)): `#[derive(Differentiable)]` leaves a
//! hidden macro of the struct's name that hands its fields to `__differentiable_with!`. Then the
//! function is rewritten into a flat one, each field of a struct parameter its own parameter
//! (`p.w1` becomes `p__w1`), whose derivatives the engine computes as for any function; the
//! items the user calls wrap the flat ones, passing the fields in and building the gradients,
//! tangents and Hessian-vector products back into the struct. Fields flatten in declaration
//! order, so the Hessian's order is `to_flat`'s.

use proc_macro2::{Ident, Span, TokenStream, TokenTree};
use quote::{format_ident, quote, ToTokens};
use syn::parse::{Parse, ParseStream};
use syn::visit_mut::VisitMut;
use syn::{bracketed, Expr, FnArg, ItemFn, Pat, Token, Type};

/// A struct's fields, as its derive declares them.
#[derive(Clone)]
pub struct StructInfo {
    /// The path it was asked by (`Mlp`, `model::Mlp`).
    pub name: String,
    /// Its generic parameters' names, substituted by a parameter type's arguments.
    pub generics: Vec<Ident>,
    pub fields: Vec<FieldInfo>,
}

#[derive(Clone)]
pub struct FieldInfo {
    pub ident: Ident,
    pub ty: Type,
    /// `#[no_derivative]`.
    pub constant: bool,
}

impl StructInfo {
    /// `"Mlp" generics [T] [w1: Matrix<T>; constant name: String;]`
    pub fn to_tokens(&self) -> TokenStream {
        let name = syn::LitStr::new(&self.name, Span::call_site());
        let generics = &self.generics;
        let fields = self.fields.iter().map(|f| {
            let (ident, ty) = (&f.ident, &f.ty);
            if f.constant {
                quote!(constant #ident: #ty;)
            } else {
                quote!(#ident: #ty;)
            }
        });
        quote!(#name generics [#(#generics)*] [#(#fields)*])
    }
}

impl Parse for StructInfo {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let name: syn::LitStr = input.parse()?;
        let word: Ident = input.parse()?;
        if word != "generics" {
            return Err(syn::Error::new(word.span(), "expected `generics`"));
        }
        let list;
        bracketed!(list in input);
        let mut generics = Vec::new();
        while !list.is_empty() {
            generics.push(list.parse()?);
        }
        let list;
        bracketed!(list in input);
        let mut fields = Vec::new();
        while !list.is_empty() {
            let constant = list.peek(syn::Ident) && list.peek2(syn::Ident) && {
                let fork = list.fork();
                fork.parse::<Ident>()? == "constant"
            };
            if constant {
                list.parse::<Ident>()?;
            }
            let ident: Ident = list.parse()?;
            list.parse::<Token![:]>()?;
            let ty: Type = list.parse()?;
            list.parse::<Token![;]>()?;
            fields.push(FieldInfo {
                ident,
                ty,
                constant,
            });
        }
        Ok(StructInfo {
            name: name.value(),
            generics,
            fields,
        })
    }
}

/// The hidden macro `#[derive(Differentiable)]` leaves beside the struct: named as the struct
/// (macros and types live in separate namespaces, so a `use` of the struct brings it), defined
/// in a hidden module and used from it, as visible as the struct (at most the crate).
pub fn info_macro(input: &syn::DeriveInput) -> TokenStream {
    let syn::Data::Struct(data) = &input.data else {
        return TokenStream::new();
    };
    let syn::Fields::Named(named) = &data.fields else {
        // Tuple structs have no field names for a body to read.
        return TokenStream::new();
    };
    let info = StructInfo {
        name: input.ident.to_string(),
        generics: input
            .generics
            .type_params()
            .map(|p| p.ident.clone())
            .collect(),
        fields: named
            .named
            .iter()
            .map(|f| FieldInfo {
                ident: f.ident.clone().expect("a named field"),
                ty: f.ty.clone(),
                constant: f.attrs.iter().any(|a| a.path().is_ident("no_derivative")),
            })
            .collect(),
    };
    let info = info.to_tokens();
    let module = format_ident!("__autodiff_fields_of_{}", input.ident);
    crate::calls::handshake_macro(&module, &input.ident, &input.vis, quote!(structure #info))
}

/// A parameter whose type is a struct: its name, its type as written and the path its fields
/// are asked by.
pub struct StructParam {
    pub ident: Ident,
    /// The type without `&` (`Mlp`, `Affine<f64>`).
    pub ty: syn::TypePath,
}

/// The type a parameter's fields are asked for, when it is a struct parameter: a path type
/// that is not a float, a tensor or a known constant type, whose fields the body reads
/// (`p.w1`) or that `wrt(...)` names.
pub fn struct_params(item: &ItemFn, wrt: Option<&[Ident]>) -> Vec<StructParam> {
    let mut out = Vec::new();
    for arg in &item.sig.inputs {
        let FnArg::Typed(t) = arg else { continue };
        let Pat::Ident(p) = &*t.pat else { continue };
        let ty = match &*t.ty {
            Type::Reference(r) if r.mutability.is_none() => &*r.elem,
            ty => ty,
        };
        let Type::Path(path) = ty else { continue };
        if path.qself.is_some() {
            continue;
        }
        let Some(last) = path.path.segments.last() else {
            continue;
        };
        const NOT_STRUCTS: &[&str] = &[
            "f32", "f64", "Vector", "Matrix", "usize", "isize", "u8", "u16", "u32", "u64", "i8",
            "i16", "i32", "i64", "bool", "char", "str", "String", "Vec", "Option", "Box",
        ];
        if NOT_STRUCTS.iter().any(|n| last.ident == n) {
            continue;
        }
        let named = wrt.is_some_and(|w| w.contains(&p.ident));
        if !named && !reads_fields(&item.block, &p.ident) {
            continue;
        }
        out.push(StructParam {
            ident: p.ident.clone(),
            ty: path.clone(),
        });
    }
    out
}

/// Whether `block` reads a field of `ident` (`ident.field`, not a method call `ident.m()`).
fn reads_fields(block: &syn::Block, ident: &Ident) -> bool {
    fn scan(tokens: TokenStream, ident: &Ident) -> bool {
        let tokens: Vec<TokenTree> = tokens.into_iter().collect();
        tokens.iter().enumerate().any(|(k, t)| match t {
            TokenTree::Group(g) => scan(g.stream(), ident),
            TokenTree::Ident(i) if i == ident => {
                let dot = matches!(tokens.get(k + 1), Some(TokenTree::Punct(p)) if p.as_char() == '.');
                let field = matches!(tokens.get(k + 2), Some(TokenTree::Ident(_)));
                let call = matches!(
                    tokens.get(k + 3),
                    Some(TokenTree::Group(g)) if g.delimiter() == proc_macro2::Delimiter::Parenthesis
                );
                dot && field && !call
            }
            _ => false,
        })
    }
    scan(block.to_token_stream(), ident)
}

/// The type `ty` with the struct's generic parameters replaced by `args`.
fn substitute(ty: &Type, generics: &[Ident], args: &[TokenStream]) -> Type {
    let tokens = crate::generic::replace_idents(ty.to_token_stream(), generics, args);
    syn::parse2(tokens).unwrap_or_else(|_| ty.clone())
}

/// A leaf parameter of the flat function: one float or tensor inside a struct parameter.
pub struct Leaf {
    /// `p__w1`, `p__net__w1`
    pub flat: Ident,
    /// The fields from the parameter to it: `[w1]`, `[net, w1]`.
    pub path: Vec<Ident>,
    /// Its type, generics substituted.
    pub ty: Type,
    /// A tensor (passed by reference) rather than a float.
    pub tensor: bool,
}

impl Leaf {
    /// `p.net.w1`, as the user writes it.
    fn written(&self, root: &Ident) -> String {
        let fields: Vec<String> = self.path.iter().map(ToString::to_string).collect();
        format!("{root}.{}", fields.join("."))
    }
}

/// A struct's value, field by field, to rebuild it from its leaves' values.
pub struct Node {
    /// The struct's path without generic arguments (for a struct expression).
    pub ty: syn::Path,
    pub fields: Vec<(Ident, Part)>,
}

pub enum Part {
    /// The leaf at this index of [`Resolved::leaves`].
    Leaf(usize),
    /// A `#[no_derivative]` field, cloned.
    Constant,
    Struct(Node),
}

/// A struct parameter, resolved: its leaves in `to_flat` order and its shape.
pub struct Resolved<'a> {
    pub param: &'a StructParam,
    pub leaves: Vec<Leaf>,
    pub root: Node,
}

/// What resolving a struct parameter found.
pub enum Resolution<'a> {
    Done(Resolved<'a>),
    /// The fields of this nested struct (a path, as its field's type spells it) are needed.
    Ask(syn::Path, String),
}

/// The type arguments of a path type's last segment.
fn type_args(path: &syn::Path) -> Vec<TokenStream> {
    match path.segments.last().map(|s| &s.arguments) {
        Some(syn::PathArguments::AngleBracketed(a)) => {
            a.args.iter().map(ToTokens::to_token_stream).collect()
        }
        _ => Vec::new(),
    }
}

/// A path without its last segment's generic arguments, and that as text (how a struct's
/// fields are asked for and known).
fn bare(path: &syn::Path) -> (syn::Path, String) {
    let mut bare = path.clone();
    if let Some(last) = bare.segments.last_mut() {
        last.arguments = syn::PathArguments::None;
    }
    let text: Vec<String> = bare.segments.iter().map(|s| s.ident.to_string()).collect();
    (bare, text.join("::"))
}

/// The leaves of `param` from the fields `known` gives, nested structs in turn; or the next
/// nested struct whose fields are needed; or why the fields cannot be parameters.
pub fn resolve<'a>(param: &'a StructParam, known: &[StructInfo]) -> Result<Resolution<'a>, String> {
    let mut leaves = Vec::new();
    let mut prefix = Vec::new();
    match node(
        &param.ty.path,
        &param.ident,
        &mut prefix,
        &mut leaves,
        known,
    )? {
        Ok(root) => Ok(Resolution::Done(Resolved {
            param,
            leaves,
            root,
        })),
        Err((path, text)) => Ok(Resolution::Ask(path, text)),
    }
}

type Needed = (syn::Path, String);

fn node(
    ty: &syn::Path,
    root: &Ident,
    prefix: &mut Vec<Ident>,
    leaves: &mut Vec<Leaf>,
    known: &[StructInfo],
) -> Result<Result<Node, Needed>, String> {
    let (bare_path, text) = bare(ty);
    let Some(info) = known.iter().find(|s| s.name == text) else {
        return Ok(Err((bare_path, text)));
    };
    let args = type_args(ty);
    if args.len() != info.generics.len() {
        return Err(format!(
            "`{}` takes {} type argument(s), found {}",
            info.name,
            info.generics.len(),
            args.len()
        ));
    }
    if prefix.len() > 8 {
        return Err(format!("`{}` nests too deeply", info.name));
    }
    let mut fields = Vec::new();
    for field in &info.fields {
        if field.constant {
            fields.push((field.ident.clone(), Part::Constant));
            continue;
        }
        let ty = substitute(&field.ty, &info.generics, &args);
        let Type::Path(path) = &ty else {
            return Err(format!(
                "field `{}` of `{}` has a type a parameter cannot have",
                field.ident, info.name
            ));
        };
        let last = path.path.segments.last().map(|s| s.ident.to_string());
        prefix.push(field.ident.clone());
        let part = match last.as_deref() {
            Some("Vector" | "Matrix" | "f32" | "f64") => {
                let names: Vec<String> = prefix.iter().map(ToString::to_string).collect();
                leaves.push(Leaf {
                    flat: format_ident!("{}__{}", root, names.join("__")),
                    path: prefix.clone(),
                    tensor: matches!(last.as_deref(), Some("Vector" | "Matrix")),
                    ty: ty.clone(),
                });
                Part::Leaf(leaves.len() - 1)
            }
            _ => match node(&path.path, root, prefix, leaves, known)? {
                Ok(inner) => Part::Struct(inner),
                Err(needed) => return Ok(Err(needed)),
            },
        };
        prefix.pop();
        fields.push((field.ident.clone(), part));
    }
    Ok(Ok(Node {
        ty: bare_path,
        fields,
    }))
}

/// The flat function: each struct parameter replaced by its leaves (tensors borrowed, floats by
/// value), and in the body `p.w1` and `&p.w1` replaced by `p__w1`. Errors for a struct
/// parameter used otherwise than by its fields, or a constant field read.
pub fn flatten(item: &ItemFn, flat_name: &Ident, structs: &[Resolved]) -> syn::Result<ItemFn> {
    let mut flat = item.clone();
    flat.sig.ident = flat_name.clone();
    flat.attrs.retain(|a| a.path().is_ident("allow"));
    flat.vis = syn::Visibility::Inherited;
    let mut inputs = syn::punctuated::Punctuated::<FnArg, Token![,]>::new();
    for arg in &item.sig.inputs {
        let resolved = match arg {
            FnArg::Typed(t) => match &*t.pat {
                Pat::Ident(p) => structs.iter().find(|s| s.param.ident == p.ident),
                _ => None,
            },
            _ => None,
        };
        match resolved {
            Some(r) => {
                for leaf in &r.leaves {
                    let (flat, ty) = (&leaf.flat, &leaf.ty);
                    inputs.push(if leaf.tensor {
                        syn::parse_quote!(#flat: &#ty)
                    } else {
                        syn::parse_quote!(#flat: #ty)
                    });
                }
            }
            None => inputs.push(arg.clone()),
        }
    }
    flat.sig.inputs = inputs;
    let mut rewrite = Rewrite {
        structs,
        error: None,
    };
    rewrite.visit_block_mut(&mut flat.block);
    match rewrite.error {
        Some(e) => Err(e),
        None => Ok(flat),
    }
}

struct Rewrite<'a> {
    structs: &'a [Resolved<'a>],
    error: Option<syn::Error>,
}

impl Rewrite<'_> {
    /// The leaf `p.field` (or `p.net.field`) names, if `expr` is one; an error for a constant
    /// field, a missing one, or a nested struct read whole.
    fn leaf(&mut self, expr: &Expr) -> Option<Ident> {
        let Expr::Field(outer) = expr else {
            return None;
        };
        // The chain of fields, innermost first, down to the parameter.
        let mut fields = Vec::new();
        let mut base = expr;
        while let Expr::Field(f) = base {
            let syn::Member::Named(field) = &f.member else {
                return None;
            };
            fields.push(field.clone());
            base = &f.base;
        }
        fields.reverse();
        let Expr::Path(root) = base else { return None };
        let resolved = self
            .structs
            .iter()
            .find(|s| root.path.is_ident(&s.param.ident))?;
        let mut node = &resolved.root;
        for (depth, field) in fields.iter().enumerate() {
            let Some((_, part)) = node.fields.iter().find(|(name, _)| name == field) else {
                let message = format!("`{}` has no field `{field}`", resolved.param.ident);
                self.error
                    .get_or_insert_with(|| syn::Error::new_spanned(outer, message.clone()));
                return None;
            };
            let last = depth + 1 == fields.len();
            match part {
                Part::Leaf(k) if last => return Some(resolved.leaves[*k].flat.clone()),
                Part::Struct(inner) if !last => node = inner,
                Part::Constant => {
                    let message = format!(
                        "`{field}` is a #[no_derivative] field: a differentiable body reads \
                         only the parameters of a struct"
                    );
                    self.error
                        .get_or_insert_with(|| syn::Error::new_spanned(outer, message.clone()));
                    return None;
                }
                Part::Struct(_) => {
                    let message = format!(
                        "`{field}` is a struct: a differentiable body reads its fields \
                         (`….{field}.w`), not the struct whole"
                    );
                    self.error
                        .get_or_insert_with(|| syn::Error::new_spanned(outer, message.clone()));
                    return None;
                }
                // A field of a float or a tensor: not a field chain of ours.
                Part::Leaf(_) => return None,
            }
        }
        None
    }
}

impl VisitMut for Rewrite<'_> {
    fn visit_expr_mut(&mut self, expr: &mut Expr) {
        let target = match &*expr {
            Expr::Reference(r) if r.mutability.is_none() => self.leaf(&r.expr),
            other => self.leaf(other),
        };
        if let Some(flat) = target {
            *expr = syn::parse_quote!(#flat);
            return;
        }
        if let Expr::Path(p) = expr {
            if let Some(s) = self
                .structs
                .iter()
                .find(|s| p.path.is_ident(&s.param.ident))
            {
                self.error.get_or_insert_with(|| {
                    syn::Error::new_spanned(
                        &*p,
                        format!(
                            "a differentiable body reads a struct parameter by its fields \
                             (`{0}.field`); passing `{0}` itself on is not supported yet",
                            s.param.ident
                        ),
                    )
                });
            }
        }
        syn::visit_mut::visit_expr_mut(self, expr);
    }
}

/// One parameter of the user's function as the wrappers see it.
pub enum WrapperParam<'a> {
    /// A struct parameter, passed to the flat function as its leaves.
    Struct(&'a Resolved<'a>),
    /// Any other: passed on as it is. `Some` with its gradient type when differentiable.
    Plain(Ident, Option<Box<Type>>),
}

/// What the wrappers need of the function.
pub struct Wrappers<'a> {
    pub item: &'a ItemFn,
    pub flat: &'a Ident,
    pub params: Vec<WrapperParam<'a>>,
    /// The wrt set, as indices into `params`.
    pub wrt: Vec<usize>,
    pub scalar_result: bool,
    /// The parameter that is a method's `self` (see [`methods`](crate::methods)).
    pub receiver: Option<Ident>,
    /// The upstream gradient's type (see [`signature::upstream_type`]).
    pub upstream_ty: TokenStream,
    pub wanted: autodiff_core::symbolic::Items,
}

impl Wrappers<'_> {
    /// The flat function's arguments: a struct's leaves from `source` (`p`, or a tangent `tp`).
    fn leaf_args(r: &Resolved, source: &TokenStream) -> Vec<TokenStream> {
        r.leaves
            .iter()
            .map(|l| {
                let fields = &l.path;
                if l.tensor {
                    quote!(&#source #(.#fields)*)
                } else {
                    quote!(#source #(.#fields)*)
                }
            })
            .collect()
    }

    fn args(&self) -> Vec<TokenStream> {
        self.params
            .iter()
            .flat_map(|p| match p {
                WrapperParam::Struct(r) => {
                    let ident = &r.param.ident;
                    Self::leaf_args(r, &quote!(#ident))
                }
                WrapperParam::Plain(ident, _) => vec![quote!(#ident)],
            })
            .collect()
    }

    /// How many flat gradients each wrt parameter has.
    fn flat_counts(&self) -> Vec<usize> {
        self.wrt
            .iter()
            .map(|&i| match &self.params[i] {
                WrapperParam::Struct(r) => r.leaves.len(),
                WrapperParam::Plain(..) => 1,
            })
            .collect()
    }

    /// The gradient type of the wrt set: bare for one parameter, else a tuple.
    fn gradient_ty(&self) -> TokenStream {
        let types: Vec<TokenStream> = self
            .wrt
            .iter()
            .map(|&i| match &self.params[i] {
                WrapperParam::Struct(r) => {
                    let ty = &r.param.ty;
                    quote!(#ty)
                }
                WrapperParam::Plain(_, ty) => ty.to_token_stream(),
            })
            .collect();
        match types.as_slice() {
            [one] => one.clone(),
            all => quote!((#(#all,)*)),
        }
    }

    /// Statements binding the flat gradient value `from` into names, and the expression of the
    /// wrt set's gradient built from them (structs rebuilt, constants cloned from the
    /// parameter).
    fn assemble(&self, from: &TokenStream, prefix: &str) -> (TokenStream, TokenStream) {
        let total: usize = self.flat_counts().iter().sum();
        let names: Vec<Ident> = (0..total)
            .map(|k| format_ident!("__{}{}", prefix, k))
            .collect();
        let bind = if total == 1 {
            let n = &names[0];
            quote!(let #n = #from;)
        } else {
            quote!(let (#(#names,)*) = #from;)
        };
        let mut next = names.iter();
        let parts: Vec<TokenStream> = self
            .wrt
            .iter()
            .map(|&i| match &self.params[i] {
                WrapperParam::Struct(r) => {
                    let ident = &r.param.ident;
                    let values: Vec<&Ident> = (0..r.leaves.len())
                        .map(|_| next.next().expect("a gradient"))
                        .collect();
                    rebuild(&r.root, &values, &quote!(#ident))
                }
                WrapperParam::Plain(..) => {
                    let value = next.next().expect("a gradient");
                    quote!(#value)
                }
            })
            .collect();
        let value = match parts.as_slice() {
            [one] => one.clone(),
            all => quote!((#(#all,)*)),
        };
        (bind, value)
    }

    /// Direction parameters of the wrt set (`t_p: &Mlp`), and the flat arguments for them.
    fn directions(&self, prefix: &str) -> (Vec<TokenStream>, Vec<TokenStream>) {
        let mut params = Vec::new();
        let mut args = Vec::new();
        for &i in &self.wrt {
            match &self.params[i] {
                WrapperParam::Struct(r) => {
                    let name = format_ident!("{}{}", prefix, r.param.ident);
                    let ty = &r.param.ty;
                    params.push(quote!(#name: &#ty));
                    args.extend(Self::leaf_args(r, &quote!(#name)));
                }
                WrapperParam::Plain(ident, ty) => {
                    let name = format_ident!("{}{}", prefix, ident);
                    let tensor = ty.as_ref().is_some_and(|t| {
                        let text = t.to_token_stream().to_string();
                        text.contains("Vector") || text.contains("Matrix")
                    });
                    if tensor {
                        params.push(quote!(#name: &#ty));
                    } else {
                        params.push(quote!(#name: #ty));
                    }
                    args.push(quote!(#name));
                }
            }
        }
        (params, args)
    }

    /// `f_check_hand(p, .., hand)`: the user's hand-written pullback takes and returns the
    /// structs; the flat check's takes and returns their leaves, so it gets a closure that
    /// rebuilds each struct from its leaves (constants cloned from the argument), calls the
    /// user's, and takes its gradient structs apart.
    fn hand_check_item(&self, flat_check: &Ident, from: &[String], to: &[String]) -> TokenStream {
        let name = &self.item.sig.ident;
        let vis = &self.item.vis;
        let inputs = &self.item.sig.inputs;
        let item = format_ident!("{}_check_hand", name);
        let result = match &self.item.sig.output {
            syn::ReturnType::Type(_, ty) => ty.to_token_stream(),
            syn::ReturnType::Default => quote!(()),
        };
        let (grad_ty, upstream_ty) = (self.gradient_ty(), &self.upstream_ty);
        let types: Vec<&Type> = inputs
            .iter()
            .filter_map(|arg| match arg {
                FnArg::Typed(t) => Some(&*t.ty),
                FnArg::Receiver(_) => None,
            })
            .collect();
        // The closure's parameters (the flat function's), and the user's arguments from them.
        let mut closure_params = Vec::new();
        let mut rebuilt = Vec::new();
        let mut hand_args = Vec::new();
        for (k, p) in self.params.iter().enumerate() {
            match p {
                WrapperParam::Struct(r) => {
                    let ident = &r.param.ident;
                    let leaves: Vec<Ident> = r
                        .leaves
                        .iter()
                        .map(|l| format_ident!("__leaf_{}", l.flat))
                        .collect();
                    for (l, leaf) in r.leaves.iter().zip(&leaves) {
                        let ty = &l.ty;
                        closure_params.push(if l.tensor {
                            quote!(#leaf: &#ty)
                        } else {
                            quote!(#leaf: #ty)
                        });
                    }
                    let owned: Vec<Ident> = leaves
                        .iter()
                        .map(|leaf| format_ident!("{}_owned", leaf))
                        .collect();
                    let leaves_by_ref: Vec<TokenStream> = r
                        .leaves
                        .iter()
                        .zip(&leaves)
                        .map(|(l, leaf)| {
                            if l.tensor {
                                quote!(#leaf)
                            } else {
                                quote!(&#leaf)
                            }
                        })
                        .collect();
                    let value =
                        rebuild(&r.root, &owned.iter().collect::<Vec<_>>(), &quote!(#ident));
                    let rebuilt_ident = format_ident!("__rebuilt_{}", ident);
                    // A tensor leaf is a reference: its clone is owned.
                    rebuilt.push(quote! {
                        #(let #owned = ::core::clone::Clone::clone(#leaves_by_ref);)*
                        let #rebuilt_ident = #value;
                    });
                    hand_args.push(quote!(&#rebuilt_ident));
                }
                WrapperParam::Plain(ident, _) => {
                    let ty = types[k];
                    let arg = format_ident!("__plain_{}", ident);
                    closure_params.push(quote!(#arg: #ty));
                    hand_args.push(quote!(#arg));
                }
            }
        }
        // The user's gradient, taken apart into the flat function's.
        let parts: Vec<TokenStream> = if self.wrt.len() == 1 {
            vec![quote!(__hand_gradient)]
        } else {
            (0..self.wrt.len())
                .map(|j| {
                    let j = syn::Index::from(j);
                    quote!(__hand_gradient.#j)
                })
                .collect()
        };
        let flat_gradient: Vec<TokenStream> = self
            .wrt
            .iter()
            .zip(&parts)
            .flat_map(|(&i, part)| match &self.params[i] {
                WrapperParam::Struct(r) => r
                    .leaves
                    .iter()
                    .map(|l| {
                        let fields = &l.path;
                        quote!(::core::clone::Clone::clone(&#part #(.#fields)*))
                    })
                    .collect::<Vec<_>>(),
                WrapperParam::Plain(..) => vec![part.clone()],
            })
            .collect();
        let flat_gradient = match flat_gradient.as_slice() {
            [one] => one.clone(),
            all => quote!((#(#all,)*)),
        };
        let args = self.args();
        let doc = format!(
            "A hand-written pullback of [`{name}`] (structs as structs) against the generated \
             one, field by field (`dp.w1`); see `{name}_vjp` for its signature."
        );
        quote! {
            #[doc = #doc]
            #[allow(clippy::all, unused_variables, non_snake_case)]
            #vis fn #item(
                #inputs,
                __hand: impl Fn(#(#types,)* #upstream_ty) -> (#result, #grad_ty),
            ) -> ::autodiff::gradcheck::GradcheckReport {
                let __flat_hand = |#(#closure_params,)* __upstream: #upstream_ty| {
                    #(#rebuilt)*
                    let (__hand_value, __hand_gradient) = __hand(#(#hand_args,)* __upstream);
                    (__hand_value, #flat_gradient)
                };
                #flat_check(#(#args,)* __flat_hand)#(.renamed(#from, #to))*
            }
        }
    }

    /// `(p__w1, p.w1)` for each leaf of a struct parameter: how derivations and traces show
    /// the flat function's names (a method's `this` as `self`).
    fn renames(&self) -> Vec<(String, String)> {
        self.params
            .iter()
            .filter_map(|p| match p {
                WrapperParam::Struct(r) => Some(r),
                _ => None,
            })
            .flat_map(|r| {
                // A method's `this` is shown as the `self` it was written as.
                let shown = match &self.receiver {
                    Some(this) if *this == r.param.ident => Ident::new("self", Span::call_site()),
                    _ => r.param.ident.clone(),
                };
                r.leaves
                    .iter()
                    .map(move |l| (l.flat.to_string(), l.written(&shown)))
            })
            .collect()
    }

    /// The items the user calls, each wrapping the flat function's.
    pub fn items(&self) -> TokenStream {
        use autodiff_core::symbolic::Item;
        let name = &self.item.sig.ident;
        let vis = &self.item.vis;
        let inputs = &self.item.sig.inputs;
        let result = match &self.item.sig.output {
            syn::ReturnType::Type(_, ty) => ty.to_token_stream(),
            syn::ReturnType::Default => quote!(()),
        };
        let args = self.args();
        let grad_ty = self.gradient_ty();
        let flat = |suffix: &str| format_ident!("{}_{}", self.flat, suffix);
        let allow = quote!(#[allow(clippy::all, unused_variables, non_snake_case)]);
        let mut out = TokenStream::new();
        let wanted = |item| self.wanted.contains(item);
        if self.scalar_result && wanted(Item::Grad) {
            let (f, item) = (flat("grad"), format_ident!("{}_grad", name));
            let (bind, value) = self.assemble(&quote!(__gradient), "g");
            let doc = format!("The value of [`{name}`] and its gradient (structs as structs).");
            out.extend(quote! {
                #[doc = #doc]
                #allow
                #vis fn #item(#inputs) -> (#result, #grad_ty) {
                    let (__value, __gradient) = #f(#(#args),*);
                    #bind
                    (__value, #value)
                }
            });
        }
        if wanted(Item::Vjp) {
            let (f, item) = (flat("vjp"), format_ident!("{}_vjp", name));
            let (bind, value) = self.assemble(&quote!(__gradient), "g");
            let upstream_ty = &self.upstream_ty;
            let doc = format!("[`{name}`]'s value and the upstream gradient pulled back.");
            out.extend(quote! {
                #[doc = #doc]
                #allow
                #vis fn #item(#inputs, __upstream: #upstream_ty) -> (#result, #grad_ty) {
                    let (__value, __gradient) = #f(#(#args,)* __upstream);
                    #bind
                    (__value, #value)
                }
            });
        }
        if wanted(Item::Jvp) {
            let (f, item) = (flat("jvp"), format_ident!("{}_jvp", name));
            let (params, direction_args) = self.directions("d");
            let doc = format!("[`{name}`]'s value and its derivative along the tangents.");
            out.extend(quote! {
                #[doc = #doc]
                #allow
                #vis fn #item(#inputs, #(#params),*) -> (#result, #result) {
                    #f(#(#args,)* #(#direction_args),*)
                }
            });
        }
        if self.scalar_result && wanted(Item::Hvp) {
            let (f, item) = (flat("hvp"), format_ident!("{}_hvp", name));
            let (params, direction_args) = self.directions("v");
            let (bind_g, g) = self.assemble(&quote!(__gradient), "g");
            let (bind_h, h) = self.assemble(&quote!(__product), "h");
            let doc = format!("[`{name}`]'s value, gradient and Hessian-vector product.");
            out.extend(quote! {
                #[doc = #doc]
                #allow
                #vis fn #item(#inputs, #(#params),*) -> (#result, #grad_ty, #grad_ty) {
                    let (__value, __gradient, __product) =
                        #f(#(#args,)* #(#direction_args),*);
                    #bind_g
                    #bind_h
                    (__value, #g, #h)
                }
            });
        }
        if self.scalar_result && wanted(Item::Hessian) {
            let (f, item) = (flat("hessian"), format_ident!("{}_hessian", name));
            let doc = format!(
                "[`{name}`]'s Hessian, a struct's entries in `to_flat` order (fields in \
                 declaration order, each row-major)."
            );
            out.extend(quote! {
                #[doc = #doc]
                #allow
                #vis fn #item(#inputs) -> ::autodiff::Matrix<#result> {
                    #f(#(#args),*)
                }
            });
        }
        if wanted(Item::Jacobian) {
            let (f, item) = (flat("jacobian"), format_ident!("{}_jacobian", name));
            let (bind, _) = self.assemble(&quote!(__jacobian), "j");
            // A struct's Jacobian: its fields' side by side, in `to_flat` order.
            let mut next = 0usize;
            let parts: Vec<TokenStream> = self
                .flat_counts()
                .iter()
                .map(|&count| {
                    let names: Vec<Ident> = (next..next + count)
                        .map(|k| format_ident!("__j{}", k))
                        .collect();
                    next += count;
                    let (first, rest) = names.split_first().expect("a field");
                    quote!(#first #(.hstack(&#rest))*)
                })
                .collect();
            let element = element_type(self);
            let types = parts.iter().map(|_| quote!(::autodiff::Matrix<#element>));
            let (ty, value) = match parts.as_slice() {
                [one] => (quote!(::autodiff::Matrix<#element>), one.clone()),
                all => (quote!((#(#types,)*)), quote!((#(#all,)*))),
            };
            let doc = format!(
                "[`{name}`]'s Jacobian per wrt parameter, a struct's columns in `to_flat` order."
            );
            out.extend(quote! {
                #[doc = #doc]
                #allow
                #vis fn #item(#inputs) -> #ty {
                    let __jacobian = #f(#(#args),*);
                    #bind
                    #value
                }
            });
        }
        let (mut from, mut to): (Vec<String>, Vec<String>) = self.renames().into_iter().unzip();
        // Reports name the function as the user wrote it, not its flat form.
        from.push(self.flat.to_string());
        to.push(name.to_string());
        if wanted(Item::Gradcheck) {
            let (f, item) = (flat("gradcheck"), format_ident!("{}_gradcheck", name));
            let doc = format!(
                "[`{name}`]'s derivatives against finite differences, field by field \
                 (`p.w1`)."
            );
            out.extend(quote! {
                #[doc = #doc]
                #allow
                #vis fn #item(#inputs) -> ::autodiff::gradcheck::GradcheckReport {
                    #f(#(#args),*)#(.renamed(#from, #to))*
                }
            });
            out.extend(self.hand_check_item(&flat("check_hand"), &from, &to));
        }
        if wanted(Item::Trace) {
            let doc = format!("The reverse pass of [`{name}`], step by step, fields as `p.w1`.");
            let (f, item) = (flat("trace_vjp"), format_ident!("{}_trace_vjp", name));
            let upstream_ty = &self.upstream_ty;
            out.extend(quote! {
                #[doc = #doc]
                #allow
                #vis fn #item(#inputs, __upstream: #upstream_ty) -> ::autodiff::Trace {
                    #f(#(#args,)* __upstream)#(.renamed(#from, #to))*
                }
            });
            if self.scalar_result {
                let (f, item) = (flat("trace"), format_ident!("{}_trace", name));
                out.extend(quote! {
                    #[doc = #doc]
                    #allow
                    #vis fn #item(#inputs) -> ::autodiff::Trace {
                        #f(#(#args),*)#(.renamed(#from, #to))*
                    }
                });
            }
        }
        if wanted(Item::Derivation) {
            let (f, item) = (flat("derivation"), format_ident!("{}_derivation", name));
            let doc = format!("The reverse-mode derivation of [`{name}`], fields as `p.w1`.");
            out.extend(quote! {
                #[doc = #doc]
                #allow
                #vis fn #item() -> &'static str {
                    static TEXT: ::std::sync::OnceLock<::std::string::String> =
                        ::std::sync::OnceLock::new();
                    TEXT.get_or_init(|| {
                        let mut text = ::std::string::String::from(#f());
                        #(text = text.replace(#from, #to);)*
                        text
                    })
                }
            });
        }
        out
    }
}

/// The struct expression of `node` from its leaves' values (`values`, in leaf order), its
/// constants cloned from `source` (`p`, `p.net`).
fn rebuild(node: &Node, values: &[&Ident], source: &TokenStream) -> TokenStream {
    let path = &node.ty;
    let fields = node.fields.iter().map(|(field, part)| match part {
        Part::Leaf(k) => {
            let value = values[*k];
            quote!(#field: #value)
        }
        Part::Constant => quote!(#field: ::core::clone::Clone::clone(&#source.#field)),
        Part::Struct(inner) => {
            let value = rebuild(inner, values, &quote!(#source.#field));
            quote!(#field: #value)
        }
    });
    quote!(#path { #(#fields,)* })
}

/// The float type: the first float or tensor parameter's (`Matrix<f64>` → `f64`).
fn element_type(w: &Wrappers) -> TokenStream {
    w.params
        .iter()
        .filter_map(|p| match p {
            WrapperParam::Struct(r) => r.leaves.first().map(|l| l.ty.to_token_stream()),
            WrapperParam::Plain(_, ty) => ty.as_ref().map(ToTokens::to_token_stream),
        })
        .flat_map(|ty| ty.into_iter())
        .find_map(|token| match token {
            TokenTree::Ident(i) if i == "f32" || i == "f64" => Some(quote!(#i)),
            _ => None,
        })
        .unwrap_or_else(|| quote!(f64))
}
