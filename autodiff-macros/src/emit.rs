//! Emission: an IR program printed back as the body of a plain Rust function.
//!
//! Every op says how it is computed (`autodiff_core::symbolic::Emit`); this module turns that
//! into tokens uniformly. Each value becomes one `let` with the name the derivation printer uses;
//! literals are written inline. Tensors are passed by reference, scalars by value, and each
//! returned tensor is moved out of its binding (or cloned if it is borrowed).

use autodiff_core::symbolic::{Emit, Kind, Program};
use proc_macro2::{Ident, Literal, Span, TokenStream};
use quote::{format_ident, quote};

use crate::signature::Float;

/// How a parameter of the emitted function is bound.
pub struct ParamBinding {
    pub ident: Ident,
    /// The parameter is a reference (`&Matrix<T>`), so it is passed on as it is.
    pub by_ref: bool,
}

/// How emitted code refers to one value.
enum Binding {
    /// A `let` or a parameter.
    Named { ident: Ident, by_ref: bool },
    /// A literal, written where it is used.
    Inline(TokenStream),
}

/// A float literal of the function's type; negative values in parentheses.
fn float_literal(value: f64, float: Float) -> TokenStream {
    let ty = float;
    if value.is_nan() {
        return quote!(#ty::NAN);
    }
    if value.is_infinite() {
        return if value > 0.0 {
            quote!(#ty::INFINITY)
        } else {
            quote!((-#ty::INFINITY))
        };
    }
    let magnitude = match float {
        Float::F32 => Literal::f32_suffixed(value.abs() as f32),
        Float::F64 => Literal::f64_suffixed(value.abs()),
    };
    if value.is_sign_negative() && value != 0.0 {
        quote!((-#magnitude))
    } else {
        quote!(#magnitude)
    }
}

fn integer_literal(value: i64) -> TokenStream {
    let magnitude = Literal::u64_unsuffixed(value.unsigned_abs());
    if value < 0 {
        quote!(-#magnitude)
    } else {
        quote!(#magnitude)
    }
}

/// The statements computing `program` and the expressions of its outputs.
///
/// `params` binds the program's parameters, in order, to the emitted function's parameters.
pub fn body(
    program: &Program,
    params: &[ParamBinding],
    float: Float,
) -> (Vec<TokenStream>, Vec<TokenStream>) {
    let names = program.value_names();
    let mut bindings: Vec<Binding> = Vec::with_capacity(program.insts.len());
    let mut stmts = Vec::new();
    for (i, inst) in program.insts.iter().enumerate() {
        let is_tensor = |v: usize| program.insts[v].kind.is_tensor();
        // An operand where a reference is wanted (`&t`), and where a value is wanted.
        let by_ref = |v: usize| match &bindings[v] {
            Binding::Named {
                ident,
                by_ref: true,
            } => quote!(#ident),
            Binding::Named { ident, .. } => quote!(&#ident),
            Binding::Inline(e) => quote!(&#e),
        };
        let operand = |v: usize| {
            if is_tensor(v) {
                by_ref(v)
            } else {
                match &bindings[v] {
                    Binding::Named { ident, .. } => quote!(#ident),
                    Binding::Inline(e) => quote!(#e),
                }
            }
        };
        let receiver = |v: usize| match &bindings[v] {
            Binding::Named { ident, .. } => quote!(#ident),
            Binding::Inline(e) => quote!((#e)),
        };
        let args: Vec<usize> = inst.args.iter().map(|a| a.index()).collect();
        let expr = match inst.op.emit() {
            Emit::Param => {
                let p = match inst.op {
                    autodiff_core::symbolic::Op::Param(p) => p.0,
                    _ => unreachable!("only parameters emit as parameters"),
                };
                let binding = &params[p];
                bindings.push(Binding::Named {
                    ident: binding.ident.clone(),
                    by_ref: binding.by_ref && inst.kind.is_tensor(),
                });
                continue;
            }
            Emit::Literal(value) => {
                bindings.push(Binding::Inline(float_literal(value, float)));
                continue;
            }
            Emit::Prefix(op) => {
                let op: TokenStream = op.parse().expect("operator tokens");
                let a = operand(args[0]);
                quote!(#op #a)
            }
            Emit::Infix(op) => {
                let op: TokenStream = op.parse().expect("operator tokens");
                let (a, b) = (operand(args[0]), operand(args[1]));
                quote!(#a #op #b)
            }
            Emit::Method { name, extra } => {
                let method = Ident::new(name, Span::call_site());
                let recv = receiver(args[0]);
                let rest = args[1..].iter().map(|&a| by_ref(a));
                let extra = extra.map(integer_literal);
                let all = rest.chain(extra);
                quote!(#recv.#method(#(#all),*))
            }
            Emit::KernelView { name } => {
                let function = Ident::new(name, Span::call_site());
                let operands = args.iter().map(|&a| by_ref(a));
                quote!(::autodiff::kernels::#function(#(#operands),*))
            }
            Emit::Kernel { name, extra } => {
                let function = Ident::new(name, Span::call_site());
                let operands = args.iter().map(|&a| by_ref(a));
                let extra = extra.map(integer_literal);
                let all = operands.chain(extra);
                quote!(::autodiff::kernels::#function(#(#all),*))
            }
        };
        let ident = format_ident!("{}", names[i]);
        if let Emit::KernelView { .. } = inst.op.emit() {
            // The `Cow` lives in its own binding; the value is a reference to it.
            let cow = format_ident!("{}_view", names[i]);
            stmts.push(quote!(let #cow = #expr;));
            stmts.push(quote!(let #ident = &*#cow;));
            bindings.push(Binding::Named {
                ident,
                by_ref: true,
            });
            continue;
        }
        stmts.push(quote!(let #ident = #expr;));
        bindings.push(Binding::Named {
            ident,
            by_ref: false,
        });
    }
    // A tensor returned twice is cloned except at its last position, where it is moved.
    let outputs = program
        .outputs
        .iter()
        .enumerate()
        .map(|(position, o)| {
            let v = o.index();
            let used_later = program.outputs[position + 1..].contains(o);
            match &bindings[v] {
                Binding::Inline(e) => quote!(#e),
                Binding::Named { ident, .. } if program.insts[v].kind == Kind::Scalar => {
                    quote!(#ident)
                }
                Binding::Named {
                    ident,
                    by_ref: true,
                } => {
                    quote!(::core::clone::Clone::clone(#ident))
                }
                Binding::Named { ident, .. } if used_later => {
                    quote!(::core::clone::Clone::clone(&#ident))
                }
                Binding::Named { ident, .. } => quote!(#ident),
            }
        })
        .collect();
    (stmts, outputs)
}
