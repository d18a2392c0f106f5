//! `#[derive(Differentiable)]`: a struct of scalars, vectors, matrices and other such structs as
//! one value of parameters (`autodiff::Differentiable`), each method its fields' in turn, in
//! declaration order. `#[no_derivative]` fields are constants of any `Clone` type: copied, never
//! counted, added or flattened.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned, ToTokens};
use syn::spanned::Spanned;
use syn::{Data, DeriveInput, Fields, Member, Type};

use crate::errors::Errors;

/// One field of the struct.
struct Field {
    member: Member,
    ty: Type,
    /// Marked `#[no_derivative]`: a constant.
    constant: bool,
}

/// The derive's expansion, or its errors (every one, spanned on the field or the item).
pub fn expand(input: TokenStream) -> TokenStream {
    match syn::parse2::<DeriveInput>(input).and_then(|input| derive(&input)) {
        Ok(tokens) => tokens,
        Err(e) => e.to_compile_error(),
    }
}

fn derive(input: &DeriveInput) -> syn::Result<TokenStream> {
    let mut errors = Errors::default();
    let fields = match &input.data {
        Data::Struct(s) => fields(&s.fields, &mut errors),
        Data::Enum(e) => {
            return Err(syn::Error::new(
                e.enum_token.span(),
                "#[derive(Differentiable)] goes on a struct of parameters (scalars, vectors, \
                 matrices, other Differentiable structs), not on an enum",
            ))
        }
        Data::Union(u) => {
            return Err(syn::Error::new(
                u.union_token.span(),
                "#[derive(Differentiable)] goes on a struct of parameters, not on a union",
            ))
        }
    };
    let Some(first) = fields.iter().find(|f| !f.constant) else {
        errors.spanned(
            &input.ident,
            "a Differentiable struct needs a parameter: a field of type f32, f64, Vector<T>, \
             Matrix<T> or another Differentiable struct not marked #[no_derivative]",
        );
        return Err(errors.finish().expect_err("an error was recorded"));
    };
    errors.finish()?;

    let name = &input.ident;
    let (impl_generics, ty_generics, where_clause) = input.generics.split_for_impl();
    let trait_path = quote!(::autodiff::Differentiable);
    let first_ty = &first.ty;
    let element = quote!(<#first_ty as #trait_path>::Element);
    let mut predicates: Vec<TokenStream> = where_clause
        .map(|w| w.predicates.iter().map(ToTokens::to_token_stream).collect())
        .unwrap_or_default();
    let mut seen: Vec<String> = Vec::new();
    for field in &fields {
        let ty = &field.ty;
        // One predicate per type (a struct of three matrices bounds `Matrix<T>` once).
        let key = quote!(#ty).to_string();
        if seen.contains(&key) {
            continue;
        }
        seen.push(key);
        // Spanned on the field's type, where a type without the trait is reported.
        let span = ty.span();
        predicates.push(if field.constant {
            quote_spanned!(span=> #ty: ::core::clone::Clone)
        } else if std::ptr::eq(field, first) {
            quote_spanned!(span=> #ty: ::autodiff::Differentiable)
        } else {
            quote_spanned!(span=> #ty: ::autodiff::Differentiable<Element = #element>)
        });
    }

    let parameters: Vec<&Field> = fields.iter().filter(|f| !f.constant).collect();
    let members: Vec<&Member> = parameters.iter().map(|f| &f.member).collect();
    // The struct rebuilt from `self`: each parameter by `method(&self.field, extra)`, each
    // constant cloned.
    let rebuilt = |method: TokenStream, extra: TokenStream| -> Vec<TokenStream> {
        fields
            .iter()
            .map(|f| {
                let member = &f.member;
                if f.constant {
                    quote!(#member: ::core::clone::Clone::clone(&self.#member))
                } else {
                    quote!(#member: #trait_path::#method(&self.#member #extra))
                }
            })
            .collect()
    };
    let zeros = rebuilt(quote!(zeros_like), quote!());
    let taken = rebuilt(quote!(take_flat), quote!(, flat));
    let info = crate::structs::info_macro(input);
    Ok(quote! {
        #info
        #[automatically_derived]
        impl #impl_generics #trait_path for #name #ty_generics
        where
            #(#predicates,)*
        {
            type Element = #element;
            fn zeros_like(&self) -> Self {
                Self { #(#zeros,)* }
            }
            #[track_caller]
            fn axpy(&mut self, a: Self::Element, other: &Self) {
                #(#trait_path::axpy(&mut self.#members, a, &other.#members);)*
            }
            #[track_caller]
            fn dot(&self, other: &Self) -> Self::Element {
                #(#trait_path::dot(&self.#members, &other.#members))+*
            }
            fn num_params(&self) -> usize {
                #(#trait_path::num_params(&self.#members))+*
            }
            fn extend_flat(&self, out: &mut ::std::vec::Vec<Self::Element>) {
                #(#trait_path::extend_flat(&self.#members, out);)*
            }
            #[track_caller]
            fn take_flat(&self, flat: &mut &[Self::Element]) -> Self {
                // (A struct expression evaluates its fields in the order written: declaration
                // order, as `extend_flat` writes them.)
                Self { #(#taken,)* }
            }
        }
    })
}

/// The struct's fields, checking each: `#[no_derivative]` written bare, and a parameter's type
/// one that can be differentiable (not a reference, a tuple, an array, a slice or an integer).
fn fields(fields: &Fields, errors: &mut Errors) -> Vec<Field> {
    let mut out = Vec::new();
    for (index, field) in fields.iter().enumerate() {
        let member = match &field.ident {
            Some(ident) => Member::Named(ident.clone()),
            None => Member::Unnamed(syn::Index::from(index)),
        };
        let mut constant = false;
        for attr in &field.attrs {
            if attr.path().is_ident("no_derivative") {
                if attr.meta.require_path_only().is_err() {
                    errors.spanned(
                        attr,
                        "`#[no_derivative]` takes no arguments: it marks the field a constant",
                    );
                }
                constant = true;
            }
        }
        if !constant {
            if let Some(why) = not_a_parameter(&field.ty) {
                errors.spanned(
                    &field.ty,
                    format!(
                        "{why} cannot be a parameter: a field of a Differentiable struct is f32, \
                         f64, Vector<T>, Matrix<T> or another Differentiable struct; mark a \
                         constant field #[no_derivative]"
                    ),
                );
            }
        }
        out.push(Field {
            member,
            ty: field.ty.clone(),
            constant,
        });
    }
    out
}

/// Why a type cannot be a parameter, for the types the syntax tells.
fn not_a_parameter(ty: &Type) -> Option<&'static str> {
    const INTEGERS: &[&str] = &[
        "usize", "isize", "u8", "u16", "u32", "u64", "u128", "i8", "i16", "i32", "i64", "i128",
        "bool", "char", "String",
    ];
    match ty {
        Type::Reference(_) => Some("a reference"),
        Type::Tuple(_) => Some("a tuple"),
        Type::Array(_) | Type::Slice(_) => Some("an array"),
        Type::Path(p) if p.qself.is_none() => {
            let last = p.path.segments.last()?;
            if INTEGERS.iter().any(|i| last.ident == i) {
                Some("an integer, a `bool`, a `char` or a `String`")
            } else if last.ident == "Vec" {
                Some("a `Vec`")
            } else {
                None
            }
        }
        Type::Paren(p) => not_a_parameter(&p.elem),
        Type::Group(g) => not_a_parameter(&g.elem),
        _ => None,
    }
}
