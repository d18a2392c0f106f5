//! Emission: an IR program printed back as the body of a plain Rust function.
//!
//! Every op says how it is computed (`autodiff_core::symbolic::Emit`); this module turns that
//! into tokens uniformly. Each value becomes one `let` with the name the derivation printer uses;
//! literals are written inline. Tensors are passed by reference, scalars by value, and each
//! returned tensor is moved out of its binding (or cloned if it is borrowed).

use autodiff_core::symbolic::op::CallPart;
use autodiff_core::symbolic::op::Constant;
use std::collections::{HashMap, HashSet};

use crate::nesting;
use autodiff_core::symbolic::ir::Role;
use autodiff_core::symbolic::rules::arith::{BinOp, Binary};
use autodiff_core::symbolic::rules::call::CalleeParam;
use autodiff_core::symbolic::rules::control::{next_state_tapes, NextStateTape};
use autodiff_core::symbolic::rules::fused::{Fused, FusedRead, FusedResult, ScaledRows};
use autodiff_core::symbolic::rules::linalg::MatMul;
use autodiff_core::symbolic::{Emit, Kind, Liveness, Op, Program, ValueId};
use proc_macro2::{Ident, Literal, Span, TokenStream};
use quote::quote;
use syn::ext::IdentExt;

use crate::signature::Float;

/// What every emitted body shares: the float type, and the function's constant (not
/// differentiable) parameters, which calls pass on by their original names.
pub struct Frame {
    pub float: Float,
    pub constants: Vec<Ident>,
}

/// How a parameter of the emitted function is bound.
#[derive(Clone)]
pub struct ParamBinding {
    pub ident: Ident,
    /// The parameter is a reference (`&Matrix<T>`), so it is passed on as it is.
    pub by_ref: bool,
    /// The shape this (tensor) parameter must have, checked as soon as it is known.
    pub check: Option<ArgumentCheck>,
}

/// A tensor argument's shape checked on entry: an upstream gradient against the result, a
/// tangent against its parameter. A wrong one would otherwise broadcast silently into a
/// gradient of the wrong shape, or fail later in an operation the user did not write.
#[derive(Clone)]
pub struct ArgumentCheck {
    /// The generated function, for the message.
    pub function: String,
    pub expected: Expected,
}

/// What an argument's shape must equal.
#[derive(Clone, Copy)]
pub enum Expected {
    /// The program parameter at this position.
    Param(usize),
    /// The program output at this position (computed before the check runs).
    Output(usize),
}

/// How emitted code refers to one value.
enum Binding {
    /// A `let` or a parameter.
    Named { ident: Ident, by_ref: bool },
    /// A literal, written where it is used.
    Inline(TokenStream),
}

/// A float literal of the function's type; negative values in parentheses.
pub fn float_literal(value: f64, float: Float) -> TokenStream {
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
    // −0.0 too: `x / -0.0` is −∞ where `x / 0.0` is +∞.
    if value.is_sign_negative() {
        quote!((-#magnitude))
    } else {
        quote!(#magnitude)
    }
}

/// A kernel's constant argument: an integer, or an elementwise function as the runtime names it.
fn constant_tokens(constant: Constant) -> TokenStream {
    match constant {
        Constant::Int(n) => integer_literal(n),
        Constant::Function(f) => {
            let variant = Ident::new(f.variant(), Span::call_site());
            quote!(::autodiff::kernels::UnaryFn::#variant)
        }
        Constant::UnitRow { index, width } => {
            let (index, width) = (
                Literal::usize_unsuffixed(index),
                Literal::usize_unsuffixed(width),
            );
            quote!(#index, #width)
        }
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

/// Whether each value's shape is read by some instruction that ignores its elements.
fn shape_only_uses(program: &Program) -> Vec<bool> {
    let mut needs = vec![false; program.insts.len()];
    for inst in &program.insts {
        for &position in inst.op.shape_only_args() {
            needs[inst.args[position].index()] = true;
        }
    }
    needs
}

/// A loop instruction and one of its stacked outputs or sliced parameters.
type LoopPart = (usize, usize);

/// The tapes whose entries are read only for their shape: `(loop, stacked output)` of the loop
/// that fills one, and `(loop, sliced parameter)` of the loop that reads it. Such a tape keeps
/// each entry's `Dims`, not the tensor (a backward loop that only needs to know how a forward
/// value was broadcast stores no copy of it).
fn shape_only_tapes(program: &Program) -> (HashSet<LoopPart>, HashSet<LoopPart>) {
    let mut uses = vec![0usize; program.insts.len()];
    for inst in &program.insts {
        for a in &inst.args {
            uses[a.index()] += 1;
        }
    }
    for o in &program.outputs {
        uses[o.index()] += 1;
    }
    let (mut filled, mut read) = (HashSet::new(), HashSet::new());
    for (i, inst) in program.insts.iter().enumerate() {
        let Op::Loop(l) = &inst.op else { continue };
        let (k, m) = (l.carried, l.captured());
        let body = &l.body;
        for j in 0..l.sliced {
            let p = 1 + k + m + j;
            if !body.params[p].kind.is_tensor() {
                continue;
            }
            let param = body
                .insts
                .iter()
                .position(|b| matches!(b.op, Op::Param(q) if q.0 == p));
            let Some(param) = param else { continue };
            let only_shape = !body.outputs.iter().any(|o| o.index() == param)
                && body.insts.iter().all(|b| {
                    b.args.iter().enumerate().all(|(position, a)| {
                        a.index() != param || b.op.shape_only_args().contains(&position)
                    })
                });
            let tape = inst.args[2 + k + m + j];
            let source = program.inst(tape);
            let (Op::Project(project), [filler]) = (&source.op, source.args.as_slice()) else {
                continue;
            };
            let Op::Loop(f) = &program.inst(*filler).op else {
                continue;
            };
            if only_shape && uses[tape.index()] == 1 && project.index >= f.carried {
                filled.insert((filler.index(), project.index - f.carried));
                read.insert((i, j));
            }
        }
    }
    (filled, read)
}

/// `acc + op(a)·op(b)` in a derivative (`dW + Hᵀ·dZ`, a gradient summed over a loop), the
/// product read nowhere else and `acc` dying there: the sum's instruction, mapped to the
/// product's and `acc`'s. The product is then not written where it is computed but in the sum,
/// as one GEMM into `acc`'s buffer (`kernels::matmul_acc`, β = 1): no allocation and no second
/// pass. Not in primal values, which must equal the function's to the last bit.
fn fused_products(
    program: &Program,
    last_use: &[Option<usize>],
    part: &dyn Fn(usize) -> usize,
) -> HashMap<usize, (usize, usize)> {
    let mut uses = vec![0usize; program.insts.len()];
    for inst in &program.insts {
        for a in &inst.args {
            uses[a.index()] += 1;
        }
    }
    for o in &program.outputs {
        uses[o.index()] += 1;
    }
    let matrix = |v: ValueId| program.inst(v).kind == Kind::Matrix;
    let mut fused = HashMap::new();
    for (j, inst) in program.insts.iter().enumerate() {
        let (Op::Binary(Binary(BinOp::Add)), &[x, y]) = (&inst.op, inst.args.as_slice()) else {
            continue;
        };
        if inst.role == Role::Primal || inst.kind != Kind::Matrix || x == y {
            continue;
        }
        for (acc, product) in [(x, y), (y, x)] {
            let p = program.inst(product);
            let is_product = matches!(p.op, Op::MatMul(_)) && p.args.iter().all(|&a| matrix(a));
            // Moved to the sum, the product reads its operands there: none may be consumed
            // (moved) before it, nor be `acc`, which the sum moves.
            let alive_at_sum = p.args.iter().all(|&a| {
                a != acc
                    && match last_use[a.index()] {
                        None => true,
                        Some(k) => k == product.index() || k >= j,
                    }
            });
            if is_product
                && alive_at_sum
                && matrix(acc)
                && uses[product.index()] == 1
                && last_use[acc.index()] == Some(j)
                && part(product.index()) == part(j)
            {
                fused.insert(j, (product.index(), acc.index()));
                break;
            }
        }
    }
    fused
}

/// The transposes of `inst` (number `i`) if it is a product that [`fused_products`] moves
/// into a sum.
fn deferred_product(
    inst: &autodiff_core::symbolic::ir::Inst,
    i: usize,
    fused: &HashMap<usize, (usize, usize)>,
) -> Option<(bool, bool)> {
    match inst.op {
        Op::MatMul(MatMul { ta, tb }) if fused.values().any(|&(p, _)| p == i) => Some((ta, tb)),
        _ => None,
    }
}

/// An identifier for a generated local; a keyword (a user's `r#in`, unraw'd) is written raw.
///
/// Mixed-site, like every name generated code binds: a local can then neither shadow nor be
/// shadowed by a name of the user's (a parameter called `f_grad`, a `let db_view`), while the
/// items it calls still resolve where the user wrote the function.
pub fn local_ident(name: &str) -> Ident {
    ident_at(name, Span::mixed_site())
}

/// `name` as an identifier at `span`, raw if it is a keyword.
fn ident_at(name: &str, span: Span) -> Ident {
    if syn::parse_str::<Ident>(name).is_ok() {
        Ident::new(name, span)
    } else {
        Ident::new_raw(name, span)
    }
}

/// A path written as text (`layers::__autodiff_dense_vjp`), each segment as [`ident_at`] makes
/// it (`crate`, `self` and `super` as they are: they cannot be raw).
pub fn path_at(path: &str, span: Span) -> TokenStream {
    let segments = path.split("::").map(|segment| match segment {
        "crate" | "self" | "super" => Ident::new(segment, span),
        _ => ident_at(segment, span),
    });
    quote!(#(#segments)::*)
}

/// The user's `ident` (a parameter) as generated code binds and reads it: where the user wrote
/// it, for messages, but resolved at the mixed site (see [`local_ident`]).
pub fn hygienic(ident: &Ident) -> Ident {
    let mut ident = ident.clone();
    ident.set_span(ident.span().resolved_at(Span::mixed_site()));
    ident
}

/// `tokens` (an expression re-read from its text) with every identifier resolved at the mixed
/// site, so that it reads the generated function's (hygienic) parameters.
fn hygienic_tokens(tokens: TokenStream) -> TokenStream {
    tokens
        .into_iter()
        .map(|token| match token {
            proc_macro2::TokenTree::Ident(ident) => hygienic(&ident).into(),
            proc_macro2::TokenTree::Group(group) => {
                let mut inner =
                    proc_macro2::Group::new(group.delimiter(), hygienic_tokens(group.stream()));
                inner.set_span(group.span());
                inner.into()
            }
            other => other,
        })
        .collect()
}

/// Names for the helpers a value needs (`{name}_view`, `{name}_dims`, `{name}_pullback`), kept
/// apart from every value's name and each other: a user's `let db_view` is a value name.
pub struct FreshNames(std::collections::HashSet<String>);

impl FreshNames {
    pub fn new(taken: impl IntoIterator<Item = String>) -> Self {
        FreshNames(taken.into_iter().collect())
    }

    /// `base`, or `base_2`, `base_3`, ... whichever is free first.
    pub fn fresh(&mut self, base: String) -> Ident {
        let mut name = base.clone();
        let mut suffix = 1;
        while self.0.contains(&name) {
            suffix += 1;
            name = format!("{base}_{suffix}");
        }
        self.0.insert(name.clone());
        local_ident(&name)
    }
}

/// The check of `param`'s shape against `expected` (a reference to a value shaped as it must
/// be, described by `what` in the message).
fn argument_check(
    param: &ParamBinding,
    check: &ArgumentCheck,
    expected: TokenStream,
    what: &str,
) -> TokenStream {
    let ident = hygienic(&param.ident);
    let given = if param.by_ref {
        quote!(#ident)
    } else {
        quote!(&#ident)
    };
    let (function, argument) = (&check.function, param.ident.unraw().to_string());
    quote! {
        ::autodiff::kernels::check_argument(#function, #argument, #given, #expected, #what);
    }
}

/// The check of `param` against the parameter at position `q`.
fn parameter_check(
    params: &[ParamBinding],
    param: &ParamBinding,
    check: &ArgumentCheck,
    q: usize,
) -> TokenStream {
    let ident = hygienic(&params[q].ident);
    let expected = if params[q].by_ref {
        quote!(#ident)
    } else {
        quote!(&#ident)
    };
    argument_check(
        param,
        check,
        expected,
        &format!("`{}`", params[q].ident.unraw()),
    )
}

/// The statements computing `program` and the expressions of its outputs.
///
/// `params` binds the program's parameters, in order, to the emitted function's parameters.
pub fn body(
    program: &Program,
    params: &[ParamBinding],
    frame: &Frame,
) -> (Vec<TokenStream>, Vec<TokenStream>) {
    body_with_dims(&autodiff_core::symbolic::fuse(program), params, frame, &[])
}

/// The statements computing `program` without fusing elementwise work (every value computed
/// on its own, as a trace records each line's numbers), and a reference to each output: none
/// is moved out, so outputs may borrow from one another (a view of a gradient and the gradient).
pub fn body_unfused_by_ref(
    program: &Program,
    params: &[ParamBinding],
    frame: &Frame,
) -> (Vec<TokenStream>, Vec<TokenStream>) {
    let mut emitted = body_in_parts(program, params, frame, &|_| 0, 1, &[]);
    (emitted.parts.remove(0), emitted.output_refs)
}

/// [`body`], returning the outputs at `dims_outputs` (positions) as their `Dims` only: a loop
/// body's values that a backward loop reads for their shape. Such a value is then free to be
/// consumed by the operation after it (`t1 + t2` in `t1`'s buffer).
fn body_with_dims(
    program: &Program,
    params: &[ParamBinding],
    frame: &Frame,
    dims_outputs: &[usize],
) -> (Vec<TokenStream>, Vec<TokenStream>) {
    let mut emitted = body_in_parts(program, params, frame, &|_| 0, 1, dims_outputs);
    (emitted.parts.remove(0), emitted.outputs)
}

/// A program emitted in parts, with its outputs.
struct Emitted {
    /// The statements of each part, in program order within a part.
    parts: Vec<Vec<TokenStream>>,
    /// Each output as returned (moved, or cloned if borrowed or returned again).
    outputs: Vec<TokenStream>,
    /// Each output as a reference, for a condition that reads it before it is returned.
    output_refs: Vec<TokenStream>,
}

/// For the outputs `[a, b, pivot]` of `program`: `if cond(pivot) { a } else { b }` where
/// the work both need (and the pivot) runs before the branch and each branch does only its
/// own. `condition` builds the condition from a reference to the pivot.
pub fn branched_body(
    program: &Program,
    params: &[ParamBinding],
    frame: &Frame,
    condition: impl Fn(&TokenStream) -> TokenStream,
) -> TokenStream {
    let in_order: Vec<usize> = (0..program.insts.len()).collect();
    let needed = |output: usize| {
        let root: &[ValueId] = &[program.outputs[output]];
        Liveness::in_order(program, root, &in_order).needed
    };
    let (a, b, pivot) = (needed(0), needed(1), needed(2));
    let part = |i: usize| match (a[i], b[i]) {
        _ if pivot[i] => 0,
        (true, true) => 0,
        (true, false) => 1,
        _ => 2,
    };
    let emitted = body_in_parts(program, params, frame, &part, 3, &[]);
    let (common, only_a, only_b) = (&emitted.parts[0], &emitted.parts[1], &emitted.parts[2]);
    let (result_a, result_b) = (&emitted.outputs[0], &emitted.outputs[1]);
    let condition = condition(&emitted.output_refs[2]);
    quote! {
        #(#common)*
        if #condition {
            #(#only_a)*
            #result_a
        } else {
            #(#only_b)*
            #result_b
        }
    }
}

/// The operands of a fused loop as generated code spells them.
struct FusedOperands {
    /// Each read operand by reference and as a value (for a segment's bounds).
    reads: Vec<(TokenStream, TokenStream)>,
    captured: Vec<TokenStream>,
    /// For each add into a segment: the vector (owned), the bounds.
    adds: Vec<(TokenStream, TokenStream, TokenStream)>,
}

/// `let ident = { .. };` computing a [`Fused`] loop: its reads as slices of one length (each
/// range and each length checked first, as the operations fused would have), its results'
/// buffers, then one call of `kernels::fused` whose closure computes one element: the body's
/// operations on scalars, as the tensor operations compute each element, its stores and adds,
/// and the values it sums.
fn fused_loop(
    fused: &Fused,
    ident: &Ident,
    operands: &FusedOperands,
    float: Float,
    fresh: &mut dyn FnMut(&str) -> Ident,
) -> TokenStream {
    let ty = quote!(#float);
    let mut setup = Vec::new();
    let mut reads = Vec::new();
    let mut at = 0;
    for read in &fused.reads {
        let r = fresh(&format!("r{}", reads.len()));
        let bounds = read
            .segment
            .then(|| (&operands.reads[at + 1].1, &operands.reads[at + 2].1));
        let value = read_slice(read, &operands.reads[at].0, bounds);
        setup.push(quote!(let #r: &[#ty] = #value;));
        at += read.operands();
        reads.push(r);
    }
    let len = fresh("len");
    let first = &reads[0];
    setup.push(quote!(let #len = #first.len();));
    let lengths: Vec<TokenStream> = reads.iter().map(|r| quote!(#r.len())).collect();
    setup.extend(length_checks(fused, &lengths));
    let captured: Vec<Ident> = (0..fused.captured)
        .map(|j| fresh(&format!("s{j}")))
        .collect();
    for (s, value) in captured.iter().zip(&operands.captured) {
        setup.push(quote!(let #s: #ty = #value;));
    }
    // The results' buffers, and the slices of them the loop writes.
    let mut buffers = Vec::new();
    let mut slices = Vec::new();
    let mut adds = operands.adds.iter();
    let mut results = Vec::new();
    let sums_ident = fresh("sums");
    let mut sums = 0usize;
    for result in &fused.results {
        match result {
            FusedResult::Sum => {
                let index = syn::Index::from(sums);
                results.push(quote!(#sums_ident[#index]));
                sums += 1;
                slices.push(None);
            }
            FusedResult::Tensor => {
                let buffer = fresh(&format!("o{}", buffers.len()));
                let zeros = if fused.kind == Kind::Matrix {
                    let (like, _) = &operands.reads[0];
                    quote!(::autodiff::kernels::fill_like(&(0.0 as #ty), #like))
                } else {
                    quote!(::autodiff::kernels::zeros::<#ty>(#len))
                };
                setup.push(quote!(let mut #buffer = #zeros;));
                let slice = fresh(&format!("w{}", buffers.len()));
                let place = quote!(::autodiff::kernels::elements_mut(&mut #buffer));
                slices.push(Some((slice, place, false)));
                results.push(quote!(#buffer));
                buffers.push(buffer);
            }
            FusedResult::AddToSegment { source } => {
                let (acc, a, b) = adds.next().expect("an add has its operands");
                let buffer = fresh(&format!("o{}", buffers.len()));
                setup.push(quote!(let mut #buffer = #acc;));
                let source = source.as_deref().unwrap_or_default();
                let slice = fresh(&format!("w{}", buffers.len()));
                let place = quote! {
                    ::autodiff::kernels::segment_of_mut(&mut #buffer, &#a, &#b, #len, #source)
                };
                slices.push(Some((slice, place, true)));
                results.push(quote!(#buffer));
                buffers.push(buffer);
            }
        }
    }
    let (chunk, one) = element_closures(fused, &ty, &captured, fresh);
    let places = slices.iter().flatten().map(|(_, place, _)| place);
    let adds = slices.iter().flatten().map(|(_, _, add)| add);
    let count = Literal::usize_unsuffixed(sums);
    let kernel = fused_kernel(fused);
    quote! {
        let #ident = {
            #(#setup)*
            let #sums_ident: [#ty; #count] = ::autodiff::kernels::#kernel(
                [#(#reads),*],
                [#(&mut #places[..#len]),*],
                [#(#adds),*],
                #chunk,
                #one,
            );
            (#(#results,)*)
        };
    }
}

/// `let ident = ..;` computing a [`ScaledRows`]: `kernels::rows_scaled_by_product` on `W` and
/// `x`, its closure running the fused loop on one block of rows: the block's entries of `W·x`
/// for the read of the product, the same rows of the other reads, the scales written for the
/// kernel. The loop's length checks come first, against the product's length (after its own
/// check, as the unfused program computed the product first).
fn scaled_rows_loop(
    scaled: &ScaledRows,
    ident: &Ident,
    operands: &[TokenStream],
    float: Float,
    fresh: &mut dyn FnMut(&str) -> Ident,
) -> TokenStream {
    let fused = &scaled.fused;
    let ty = quote!(#float);
    let (w, x) = (&operands[0], &operands[1]);
    let len = fresh("len");
    let mut setup = vec![quote!(let #len = ::autodiff::kernels::product_rows(#w, #x);)];
    let (rows, block, scales) = (fresh("rows"), fresh("z"), fresh("s"));
    // Each read's slice (the product's: the block) and its length.
    let (mut in_block, mut lengths) = (Vec::new(), Vec::new());
    let mut at = 2;
    for (k, read) in fused.reads.iter().enumerate() {
        if k == scaled.product {
            in_block.push(quote!(#block));
            lengths.push(quote!(#len));
            continue;
        }
        let r = fresh(&format!("r{k}"));
        let bounds = read.segment.then(|| (&operands[at + 1], &operands[at + 2]));
        let value = read_slice(read, &operands[at], bounds);
        setup.push(quote!(let #r: &[#ty] = #value;));
        in_block.push(quote!(&#r[#rows.clone()]));
        lengths.push(quote!(#r.len()));
        at += read.operands();
    }
    setup.extend(length_checks(fused, &lengths));
    let captured: Vec<Ident> = (0..fused.captured)
        .map(|j| fresh(&format!("s{j}")))
        .collect();
    for (s, value) in captured.iter().zip(&operands[at..]) {
        setup.push(quote!(let #s: #ty = #value;));
    }
    let (chunk, one) = element_closures(fused, &ty, &captured, fresh);
    let kernel = fused_kernel(fused);
    quote! {
        let #ident = {
            #(#setup)*
            ::autodiff::kernels::rows_scaled_by_product(
                #w,
                #x,
                |#rows: ::core::ops::Range<usize>, #block: &[#ty], #scales: &mut [#ty]| {
                    let _: [#ty; 0] = ::autodiff::kernels::#kernel(
                        [#(#in_block),*],
                        [#scales],
                        [false],
                        #chunk,
                        #one,
                    );
                },
            )
        };
    }
}

/// The kernel that runs a fused loop: `fused_simd`, compiled for the CPU's widest vectors, when
/// its body computes functions such as `tanh` (bound by arithmetic); `fused` otherwise.
fn fused_kernel(fused: &Fused) -> Ident {
    let name = if fused.computes_functions() {
        "fused_simd"
    } else {
        "fused"
    };
    Ident::new(name, Span::call_site())
}

/// What a fused loop reads of `x` (by reference): its elements, or the segment `bounds` of it
/// (checked in range, with the user's expression in the message).
fn read_slice(
    read: &FusedRead,
    x: &TokenStream,
    bounds: Option<(&TokenStream, &TokenStream)>,
) -> TokenStream {
    match bounds {
        Some((a, b)) => {
            let source = read.source.as_deref().unwrap_or_default();
            quote!(::autodiff::kernels::segment_of(#x, &#a, &#b, #source))
        }
        None => quote!(::autodiff::kernels::elements(#x)),
    }
}

/// The checks that a fused loop's reads have the lengths its operations required (`lengths`:
/// each read's), each panicking with its operation's message.
fn length_checks(fused: &Fused, lengths: &[TokenStream]) -> Vec<TokenStream> {
    fused
        .checks
        .iter()
        .map(|check| {
            let (left, right, op) = (&lengths[check.left], &lengths[check.right], &check.op);
            let source = check.source.as_deref().unwrap_or_default();
            quote!(::autodiff::kernels::same_length(#op, #left, #right, #source);)
        })
        .collect()
}

/// The closures of a fused loop's call, on `LANES` lanes and on one: one element's computation,
/// the body's operations on the reads' entries and the captured scalars (bound to `captured`),
/// returning the values written and the values summed.
fn element_closures(
    fused: &Fused,
    ty: &TokenStream,
    captured: &[Ident],
    fresh: &mut dyn FnMut(&str) -> Ident,
) -> (TokenStream, TokenStream) {
    // One element: the body on the reads' entries and the captured scalars, returning the
    // values written and the values summed. Written twice: on arrays of `LANES` lanes for the
    // whole chunks, and on arrays of one for the elements after them.
    let body = &fused.body;
    let entries: Vec<Ident> = (0..fused.reads.len())
        .map(|j| fresh(&format!("e{j}")))
        .collect();
    let lane = fresh("l");
    let names: Vec<Ident> = (0..body.insts.len())
        .map(|j| fresh(&format!("v{j}")))
        .collect();
    // `one`: the closure on a single lane; else on `LANES` (the type's default).
    let closure = |one: bool| {
        let (lanes, width) = if one {
            (quote!(::autodiff::kernels::Lanes<#ty, 1>), quote!(1))
        } else {
            (
                quote!(::autodiff::kernels::Lanes<#ty>),
                quote!(::autodiff::kernels::LANES),
            )
        };
        // Each value of the body is an array of lanes (`v[l]`), or a captured scalar.
        let mut values: Vec<TokenStream> = Vec::with_capacity(body.insts.len());
        // The array of each value (a captured scalar has none; the body never returns one).
        let mut arrays: Vec<TokenStream> = Vec::with_capacity(body.insts.len());
        let mut element = Vec::new();
        for (j, inst) in body.insts.iter().enumerate() {
            let a = |n: usize| values[inst.args[n].index()].clone();
            let value = match &inst.op {
                Op::Param(p) => {
                    let (value, array) = match entries.get(p.0) {
                        Some(e) => (quote!(#e[#lane]), quote!(#e)),
                        None => {
                            let s = &captured[p.0 - entries.len()];
                            (quote!(#s), quote!([#s; #width]))
                        }
                    };
                    values.push(value);
                    arrays.push(array);
                    continue;
                }
                Op::Neg(_) => {
                    let x = a(0);
                    quote!(-#x)
                }
                // Its second operand only gives the shape: the loop's.
                Op::Fill(_) => a(0),
                Op::Binary(Binary(op)) => {
                    let (x, y) = (a(0), a(1));
                    let op: TokenStream = op.token().parse().expect("an operator");
                    quote!(#x #op #y)
                }
                Op::Unary(u) => {
                    let (x, f) = (a(0), constant_tokens(Constant::Function(u.0)));
                    quote!(::autodiff::kernels::unary(#x, #f))
                }
                Op::UnaryGrad(g) => {
                    let (dy, x, f) = (a(0), a(1), constant_tokens(Constant::Function(g.0)));
                    quote!(::autodiff::kernels::unary_grad(&#dy, &#x, #f))
                }
                Op::Powi(p) => {
                    let (x, n) = (a(0), integer_literal(i64::from(p.0)));
                    quote!(#x.powi(#n))
                }
                Op::PowiGrad(p) => {
                    let (dy, x, n) = (a(0), a(1), integer_literal(p.0));
                    quote!(::autodiff::kernels::powi_grad(&#dy, &#x, #n))
                }
                other => {
                    unreachable!("a fused loop computes elementwise operations, not {other:?}")
                }
            };
            let v = &names[j];
            element.push(quote! {
                let #v: #lanes = ::autodiff::kernels::lanes(
                    #[inline(always)]
                    |#lane: usize| #value,
                );
            });
            values.push(quote!(#v[#lane]));
            arrays.push(quote!(#v));
        }
        let (mut written, mut summed) = (Vec::new(), Vec::new());
        // The body's outputs are arrays of lanes: `v[l]` without its index.
        for (result, output) in fused.results.iter().zip(&body.outputs) {
            let array = arrays[output.index()].clone();
            match result {
                FusedResult::Sum => summed.push(array),
                _ => written.push(array),
            }
        }
        let read_count = Literal::usize_unsuffixed(fused.reads.len());
        quote! {
            #[inline(always)]
            |[#(#entries),*]: [#lanes; #read_count]| {
                #(#element)*
                ([#(#written),*], [#(#summed),*])
            }
        }
    };
    (closure(false), closure(true))
}

/// A reference to a bound value.
fn reference(binding: &Binding) -> TokenStream {
    match binding {
        Binding::Inline(e) => quote!(&#e),
        Binding::Named {
            ident,
            by_ref: true,
        } => quote!(#ident),
        Binding::Named { ident, .. } => quote!(&#ident),
    }
}

/// The statements computing `program`, each instruction's in part `part(i)` of `parts`.
fn body_in_parts(
    program: &Program,
    params: &[ParamBinding],
    frame: &Frame,
    part: &dyn Fn(usize) -> usize,
    parts: usize,
    dims_outputs: &[usize],
) -> Emitted {
    let float = frame.float;
    let names = program.value_names();
    let mut helpers = FreshNames::new(
        names
            .iter()
            .cloned()
            .chain(params.iter().map(|p| p.ident.unraw().to_string())),
    );
    // The engine's liveness, in the order statements are written: by part (the work before a
    // branch, then each branch), then in program order, so a value read in a branch is not
    // consumed before the branch. (Derived programs are simplified: every instruction is
    // needed, so every statement written is a read it counts.)
    let mut written: Vec<usize> = (0..program.insts.len()).collect();
    written.sort_by_key(|&i| (part(i), i));
    // Outputs returned as their `Dims` hold no value alive.
    let live_outputs: Vec<ValueId> = program
        .outputs
        .iter()
        .enumerate()
        .filter(|(position, o)| {
            !dims_outputs.contains(position)
                || program
                    .outputs
                    .iter()
                    .enumerate()
                    .any(|(other, p)| p == *o && !dims_outputs.contains(&other))
        })
        .map(|(_, &o)| o)
        .collect();
    let last_use = Liveness::in_order(program, &live_outputs, &written).last_read;
    let mut needs_dims = shape_only_uses(program);
    for &position in dims_outputs {
        needs_dims[program.outputs[position].index()] = true;
    }
    let (dims_filled, dims_read) = shape_only_tapes(program);
    // States taped twice, as they enter an iteration and as they leave it: one tape serves both.
    let next_states: Vec<NextStateTape> = next_state_tapes(program)
        .into_iter()
        .filter(|t| {
            !dims_filled.contains(&(t.forward, t.old)) && !dims_filled.contains(&(t.forward, t.new))
        })
        .collect();
    let mut bindings: Vec<Binding> = Vec::with_capacity(program.insts.len());
    let mut dims: Vec<Option<Ident>> = vec![None; program.insts.len()];
    let mut all_stmts: Vec<Vec<TokenStream>> = vec![Vec::new(); parts];
    let mut shared_calls: std::collections::HashMap<(String, Vec<usize>), Ident> =
        std::collections::HashMap::new();
    // The `Cow` behind each view, so a returned view is moved out rather than copied.
    let mut views: std::collections::HashMap<usize, Ident> = std::collections::HashMap::new();
    let mut last_source: Vec<Option<&str>> = vec![None; parts];
    let fused_products = fused_products(program, &last_use, part);
    let mut loop_values: HashSet<String> = HashSet::new();
    // The type of every binding, for long bodies cut into blocks (`nesting`).
    let mut types: HashMap<String, nesting::Typed> = HashMap::new();
    let mut typed = |ident: &Ident, ty: nesting::Type| {
        let typed = nesting::Typed {
            ident: ident.clone(),
            ty,
        };
        types.insert(ident.to_string(), typed);
    };
    for (i, inst) in program.insts.iter().enumerate() {
        let stmts = &mut all_stmts[part(i)];
        // Before an operation that can find its operands' shapes mismatched, say which one of
        // the user's it is, for the panic message (once per run of the same operation).
        let tensor_operands = inst
            .args
            .iter()
            .filter(|a| program.insts[a.index()].kind.is_tensor())
            .count();
        // (A read of part of a tensor can find its indices out of range, an inverse its matrix
        // singular, `x.max()` its tensor empty, `labels[i]` its list too short.)
        let checks = tensor_operands >= 2
            || inst.op.can_panic()
            || (tensor_operands == 1 && inst.op.takes_integers());
        if let (Some(source), true) = (inst.source.as_deref(), checks) {
            if last_source[part(i)] != Some(source) {
                stmts.push(quote!(::autodiff::kernels::at(#source);));
                last_source[part(i)] = Some(source);
            }
        }
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
        // Whether `a` is a view (`Emit::KernelView`) borrowing `v`: `v` cannot then be moved
        // in an expression that reads `a`.
        let views_of = |a: usize, v: usize| {
            a != v
                && matches!(program.insts[a].op.emit(), Emit::KernelView { .. })
                && program.insts[a].args.first().map(|x| x.index()) == Some(v)
        };
        // Operators consume an owned tensor at its last use, so the runtime can write the
        // result into its buffer instead of allocating.
        let consumed = |v: usize, all: &[usize]| match &bindings[v] {
            Binding::Named {
                ident,
                by_ref: false,
            } if is_tensor(v)
                && last_use[v] == Some(i)
                && all.iter().filter(|&&a| a == v).count() == 1
                && !all.iter().any(|&a| views_of(a, v)) =>
            {
                quote!(#ident)
            }
            _ => operand(v),
        };
        let receiver = |v: usize| match &bindings[v] {
            Binding::Named { ident, .. } => quote!(#ident),
            Binding::Inline(e) => quote!((#e)),
        };
        // Kernel operands: by reference, or the kept `Dims` where only the shape is read.
        let shape_only = inst.op.shape_only_args();
        let kernel_operands = |args: &[usize]| -> Vec<TokenStream> {
            args.iter()
                .enumerate()
                .map(|(position, &a)| match &dims[a] {
                    Some(d) if shape_only.contains(&position) => quote!(&#d),
                    _ => by_ref(a),
                })
                .collect()
        };
        let args: Vec<usize> = inst.args.iter().map(|a| a.index()).collect();
        let ident = local_ident(&names[i]);
        // A value a loop body or a branch side reads, bound to `ident` before it: tensors by
        // reference, the rest by value.
        let bind_captured = |a: usize, ident: Ident| {
            let value = if is_tensor(a) { by_ref(a) } else { operand(a) };
            let binding = ParamBinding {
                ident: ident.clone(),
                by_ref: is_tensor(a),
                check: None,
            };
            (quote!(let #ident = #value;), binding)
        };
        // A product whose one use is `acc + product` below: computed there, into acc's buffer.
        let mut fused_binding = None;
        if let Some((ta, tb)) = deferred_product(inst, i, &fused_products) {
            let method = Ident::new(MatMul { ta, tb }.method(), Span::call_site());
            let (recv, rhs) = (receiver(args[0]), by_ref(args[1]));
            fused_binding = Some(Binding::Inline(quote!(#recv.#method(#rhs))));
        } else if let Some(&(product, acc)) = fused_products.get(&i) {
            if let Binding::Named {
                ident: acc_ident,
                by_ref: false,
            } = &bindings[acc]
            {
                let Op::MatMul(MatMul { ta, tb }) = program.insts[product].op else {
                    unreachable!("a fused product is a product")
                };
                let operands = &program.insts[product].args;
                let (a, b) = (by_ref(operands[0].index()), by_ref(operands[1].index()));
                stmts.push(quote! {
                    let #ident = ::autodiff::kernels::matmul_acc(#acc_ident, #a, #b, #ta, #tb);
                });
                fused_binding = Some(Binding::Named {
                    ident: ident.clone(),
                    by_ref: false,
                });
            }
        }
        let binding = if let Some(binding) = fused_binding {
            binding
        } else {
            match inst.op.emit() {
                Emit::Param(p) => {
                    let ident = hygienic(&params[p].ident);
                    let by_ref = params[p].by_ref && inst.kind.is_tensor();
                    match by_ref {
                        true => typed(&ident, nesting::Type::Reference(inst.kind)),
                        false => typed(&ident, nesting::Type::Value(inst.kind)),
                    }
                    Binding::Named { ident, by_ref }
                }
                Emit::Literal(value) => Binding::Inline(float_literal(value, float)),
                Emit::Constant(c) => {
                    let name = &program.constants[c].name;
                    let ident = frame
                        .constants
                        .iter()
                        .find(|ident| ident.unraw() == name)
                        .map(hygienic)
                        .unwrap_or_else(|| local_ident(name));
                    typed(&ident, nesting::Type::Value(inst.kind));
                    Binding::Named {
                        ident,
                        by_ref: false,
                    }
                }
                Emit::Index(n) => {
                    let n = Literal::usize_suffixed(n);
                    Binding::Inline(quote!(#n))
                }
                Emit::Cast => {
                    let a = operand(args[0]);
                    stmts.push(quote!(let #ident = #a as #float;));
                    Binding::Named {
                        ident,
                        by_ref: false,
                    }
                }
                Emit::Loop => {
                    let Op::Loop(l) = &inst.op else {
                        unreachable!("only a loop emits as one")
                    };
                    let (k, m) = (l.carried, l.captured());
                    let base = &names[i];
                    let mut fresh = |what: String| helpers.fresh(format!("__{base}_{what}"));
                    let (start, end, index) = (
                        fresh("start".into()),
                        fresh("end".into()),
                        fresh("i".into()),
                    );
                    let (start_value, end_value) = (operand(args[0]), operand(args[1]));
                    let mut setup = vec![quote! {
                        let #start: usize = #start_value;
                        let #end: usize = #end_value;
                    }];
                    let mut bound = vec![ParamBinding {
                        ident: index.clone(),
                        by_ref: false,
                        check: None,
                    }];
                    // Carried values are owned: moved in at their last use, else copied.
                    let carried: Vec<Ident> = (0..k).map(|j| fresh(format!("c{j}"))).collect();
                    for (j, c) in carried.iter().enumerate() {
                        let a = args[2 + j];
                        let init = match &bindings[a] {
                            Binding::Named {
                                ident,
                                by_ref: false,
                            } if last_use[a] == Some(i)
                                && args.iter().filter(|&&b| b == a).count() == 1 =>
                            {
                                quote!(#ident)
                            }
                            _ if is_tensor(a) => {
                                let borrowed = by_ref(a);
                                quote!(::core::clone::Clone::clone(#borrowed))
                            }
                            _ => operand(a),
                        };
                        setup.push(quote!(let mut #c = #init;));
                        bound.push(ParamBinding {
                            ident: c.clone(),
                            by_ref: false,
                            check: None,
                        });
                    }
                    // Captured values: tensors by reference, the rest by value.
                    for j in 0..m {
                        let (statement, binding) =
                            bind_captured(args[2 + k + j], fresh(format!("x{j}")));
                        setup.push(statement);
                        bound.push(binding);
                    }
                    // Sliced values: this iteration's entry of a tape. A state's tape as it
                    // leaves an iteration is its tape as it enters, one entry on.
                    let mut slices = Vec::new();
                    let tapes: Vec<Ident> =
                        (0..l.sliced).map(|j| fresh(format!("tape{j}"))).collect();
                    for (j, &a) in args[2 + k + m..].iter().enumerate() {
                        let (tape, entry) = (&tapes[j], fresh(format!("s{j}")));
                        let next_state = next_states
                            .iter()
                            .find(|t| t.backward == i && t.new_slice == j);
                        if let Some(shared) = next_state {
                            let entering = &tapes[shared.old_slice];
                            slices.push(quote!(let #entry = &#entering[#index + 1 - #start];));
                            bound.push(ParamBinding {
                                ident: entry,
                                by_ref: true,
                                check: None,
                            });
                            continue;
                        }
                        let tape_value = by_ref(a);
                        setup.push(quote!(let #tape = #tape_value;));
                        let kind = l.body.params[1 + k + m + j].kind;
                        let by_ref = (kind.is_tensor() && !dims_read.contains(&(i, j)))
                            || kind == Kind::Tape;
                        slices.push(if by_ref {
                            quote!(let #entry = &#tape[#index - #start];)
                        } else {
                            quote!(let #entry = #tape[#index - #start];)
                        });
                        bound.push(ParamBinding {
                            ident: entry,
                            by_ref,
                            check: None,
                        });
                    }
                    // A state taped as it enters and as it leaves an iteration: only the first
                    // tape is kept, with the final state as one more entry.
                    let shared: Vec<&NextStateTape> =
                        next_states.iter().filter(|t| t.forward == i).collect();
                    let kept: Vec<usize> = (0..l.stacked)
                        .filter(|&j| !shared.iter().any(|t| t.new == j))
                        .collect();
                    let stacks: Vec<Ident> =
                        (0..l.stacked).map(|j| fresh(format!("stack{j}"))).collect();
                    for &j in &kept {
                        let stack = &stacks[j];
                        let length = if shared.iter().any(|t| t.old == j) {
                            quote!(#end.saturating_sub(#start) + 1)
                        } else {
                            quote!(#end.saturating_sub(#start))
                        };
                        setup.push(quote! {
                            let mut #stack = ::std::vec::Vec::with_capacity(#length);
                        });
                    }
                    let news: Vec<Ident> = (0..k + kept.len())
                        .map(|j| fresh(format!("new{j}")))
                        .collect();
                    let dims_positions: Vec<usize> = kept
                        .iter()
                        .enumerate()
                        .filter(|&(_, &j)| dims_filled.contains(&(i, j)))
                        .map(|(position, _)| k + position)
                        .collect();
                    let body = if shared.is_empty() {
                        std::borrow::Cow::Borrowed(&*l.body)
                    } else {
                        let mut body = (*l.body).clone();
                        body.outputs = (0..k)
                            .chain(kept.iter().map(|&j| k + j))
                            .map(|position| l.body.outputs[position])
                            .collect();
                        std::borrow::Cow::Owned(body)
                    };
                    let (body_stmts, body_outputs) =
                        body_with_dims(&body, &bound, frame, &dims_positions);
                    let (new_carried, new_stacked) = news.split_at(k);
                    let kept_stacks: Vec<&Ident> = kept.iter().map(|&j| &stacks[j]).collect();
                    let finals: Vec<TokenStream> = shared
                        .iter()
                        .map(|t| {
                            let (stack, state) = (&stacks[t.old], &carried[t.carried]);
                            quote!(#stack.push(::core::clone::Clone::clone(&#state));)
                        })
                        .collect();
                    // The loop's results keep their positions: `()` where a tape was dropped.
                    let results: Vec<TokenStream> = (0..l.stacked)
                        .map(|j| {
                            if kept.contains(&j) {
                                let stack = &stacks[j];
                                quote!(#stack)
                            } else {
                                quote!(())
                            }
                        })
                        .collect();
                    let range = if l.reversed {
                        quote!((#start..#end).rev())
                    } else {
                        quote!(#start..#end)
                    };
                    stmts.push(quote! {
                        let #ident = {
                            #(#setup)*
                            for #index in #range {
                                #(#slices)*
                                let (#(#news,)*) = {
                                    #(#body_stmts)*
                                    (#(#body_outputs,)*)
                                };
                                #(#carried = #new_carried;)*
                                #(#kept_stacks.push(#new_stacked);)*
                            }
                            #(#finals)*
                            (#(#carried,)* #(#results,)*)
                        };
                    });
                    Binding::Named {
                        ident,
                        by_ref: false,
                    }
                }
                Emit::Fused => {
                    let Op::Fused(fused) = &inst.op else {
                        unreachable!("only a fused loop emits as one")
                    };
                    let base = &names[i];
                    let mut fresh = |what: &str| helpers.fresh(format!("__{base}_{what}"));
                    // What the adds go into: owned, moved in at their last use, else copied.
                    let owned = |a: usize| match &bindings[a] {
                        Binding::Named {
                            ident,
                            by_ref: false,
                        } if last_use[a] == Some(i)
                            && args.iter().filter(|&&b| b == a).count() == 1 =>
                        {
                            quote!(#ident)
                        }
                        _ => {
                            let borrowed = by_ref(a);
                            quote!(::core::clone::Clone::clone(#borrowed))
                        }
                    };
                    let operands = FusedOperands {
                        reads: args[..fused.read_operands()]
                            .iter()
                            .map(|&a| (by_ref(a), operand(a)))
                            .collect(),
                        captured: args[fused.read_operands()..][..fused.captured]
                            .iter()
                            .map(|&a| operand(a))
                            .collect(),
                        adds: args[fused.read_operands() + fused.captured..]
                            .chunks(3)
                            .map(|part| (owned(part[0]), operand(part[1]), operand(part[2])))
                            .collect(),
                    };
                    stmts.push(fused_loop(fused, &ident, &operands, float, &mut fresh));
                    Binding::Named {
                        ident,
                        by_ref: false,
                    }
                }
                Emit::ScaledRows => {
                    let Op::ScaledRows(scaled) = &inst.op else {
                        unreachable!("only a row scaling by a loop emits as one")
                    };
                    let base = &names[i];
                    let mut fresh = |what: &str| helpers.fresh(format!("__{base}_{what}"));
                    let operands: Vec<TokenStream> = args.iter().map(|&a| operand(a)).collect();
                    stmts.push(scaled_rows_loop(
                        scaled, &ident, &operands, float, &mut fresh,
                    ));
                    Binding::Named {
                        ident,
                        by_ref: false,
                    }
                }
                Emit::Bool(b) => Binding::Inline(quote!(#b)),
                Emit::Branch => {
                    let Op::Branch(b) = &inst.op else {
                        unreachable!("only a branch emits as one")
                    };
                    let base = &names[i];
                    let mut setup = Vec::new();
                    let mut bound = Vec::new();
                    for (j, &a) in args[1..].iter().enumerate() {
                        let (statement, binding) =
                            bind_captured(a, helpers.fresh(format!("__{base}_x{j}")));
                        setup.push(statement);
                        bound.push(binding);
                    }
                    let condition = operand(args[0]);
                    let (then_stmts, then_outputs) = body(&b.then, &bound, frame);
                    let (else_stmts, else_outputs) = body(&b.otherwise, &bound, frame);
                    stmts.push(quote! {
                        let #ident = {
                            #(#setup)*
                            if #condition {
                                #(#then_stmts)*
                                (#(#then_outputs,)*)
                            } else {
                                #(#else_stmts)*
                                (#(#else_outputs,)*)
                            }
                        };
                    });
                    Binding::Named {
                        ident,
                        by_ref: false,
                    }
                }
                Emit::Project(index) => {
                    let tuple = match &bindings[args[0]] {
                        Binding::Named { ident, .. } => quote!(#ident),
                        Binding::Inline(e) => e.clone(),
                    };
                    let index = syn::Index::from(index);
                    stmts.push(quote!(let #ident = #tuple.#index;));
                    Binding::Named {
                        ident,
                        by_ref: false,
                    }
                }
                Emit::Named { path, standard } => {
                    let ty = match inst.kind {
                        Kind::Index => quote!(usize),
                        Kind::Bool => quote!(bool),
                        _ => quote!(#float),
                    };
                    Binding::Inline(if standard {
                        let name = Ident::new(&path, Span::call_site());
                        quote!(::core::#float::consts::#name)
                    } else {
                        // A user's `const`, resolved where the function is written.
                        let path: TokenStream = path.parse().unwrap_or_else(|_| {
                            quote!(::core::compile_error!(
                                "a constant's path could not be read"
                            ))
                        });
                        quote!((#path as #ty))
                    })
                }
                Emit::Prefix(op) => {
                    let op: TokenStream = op.parse().expect("operator tokens");
                    let a = consumed(args[0], &args);
                    stmts.push(quote!(let #ident = #op #a;));
                    Binding::Named {
                        ident,
                        by_ref: false,
                    }
                }
                Emit::Infix(op) => {
                    let op: TokenStream = op.parse().expect("operator tokens");
                    let (a, b) = (consumed(args[0], &args), consumed(args[1], &args));
                    stmts.push(quote!(let #ident = #a #op #b;));
                    Binding::Named {
                        ident,
                        by_ref: false,
                    }
                }
                Emit::Method { name, extra } => {
                    let method = Ident::new(name, Span::call_site());
                    // A receiver read for its shape alone may have been moved: its kept `Dims`
                    // answers `len()`, `rows()` and `cols()` too.
                    let recv = match &dims[args[0]] {
                        Some(d) if shape_only.contains(&0) => quote!(#d),
                        _ => receiver(args[0]),
                    };
                    // Tensors by reference (`a.matmul(&b)`), scalars by value (`x.powf(p)`).
                    let rest = args[1..].iter().map(|&a| operand(a));
                    let all = rest.chain(extra.map(integer_literal));
                    stmts.push(quote!(let #ident = #recv.#method(#(#all),*);));
                    Binding::Named {
                        ident,
                        by_ref: false,
                    }
                }
                Emit::Kernel { kernel, constant } => {
                    let function = Ident::new(kernel.name(), Span::call_site());
                    let all = kernel_operands(&args)
                        .into_iter()
                        .chain(constant.map(constant_tokens));
                    // A scalar result names its type: kernels such as `numel` are generic in it.
                    let annotation = (inst.kind == Kind::Scalar).then(|| quote!(: #float));
                    stmts.push(
                        quote!(let #ident #annotation = ::autodiff::kernels::#function(#(#all),*);),
                    );
                    Binding::Named {
                        ident,
                        by_ref: false,
                    }
                }
                Emit::Call {
                    function,
                    callee,
                    part,
                } => {
                    // An item (a callee's building block): resolved where the user's function is.
                    let function = path_at(&function, Span::call_site());
                    let n_values = callee.value_kinds().len();
                    let mut values = args[..n_values].iter();
                    let mut call_args = Vec::new();
                    for param in &callee.params {
                        call_args.push(match param {
                            CalleeParam::Value { kind, by_ref: true } if kind.is_tensor() => {
                                values.next().map(|&v| by_ref(v)).unwrap_or_default()
                            }
                            CalleeParam::Value { kind, .. } if kind.is_tensor() => values
                                .next()
                                .map(|&v| {
                                    let borrowed = by_ref(v);
                                    quote!(::core::clone::Clone::clone(#borrowed))
                                })
                                .unwrap_or_default(),
                            CalleeParam::Value { .. } => {
                                values.next().map(|&v| operand(v)).unwrap_or_default()
                            }
                            // A constant parameter of ours passed on keeps its own identifier (and
                            // so its hygiene); any other constant expression is re-read.
                            CalleeParam::Constant(text) => {
                                match frame.constants.iter().find(|c| c.to_string() == *text) {
                                    Some(ident) => {
                                        let ident = hygienic(ident);
                                        quote!(::core::clone::Clone::clone(&#ident))
                                    }
                                    None => {
                                        text.parse().map(hygienic_tokens).unwrap_or_else(|_| {
                                            quote!(::core::compile_error!(
                                                "a constant argument could not be read"
                                            ))
                                        })
                                    }
                                }
                            }
                        });
                    }
                    // The upstream gradient or the tangents: tensors by reference.
                    call_args.extend(args[n_values..].iter().map(|&v| operand(v)));
                    match part {
                        CallPart::Whole => {
                            stmts.push(quote!(let #ident = #function(#(#call_args),*);));
                        }
                        CallPart::Tangent => {
                            stmts.push(quote!(let #ident = #function(#(#call_args),*).1;));
                        }
                        CallPart::Gradient(k) | CallPart::GradientTangent(k) => {
                            // One pullback call serves every gradient part with the same operands.
                            let key = (function.to_string(), args.clone());
                            let call = match shared_calls.get(&key) {
                                Some(call) => call,
                                None => {
                                    let call = helpers.fresh(format!("{}_pullback", names[i]));
                                    stmts.push(quote!(let #call = #function(#(#call_args),*);));
                                    shared_calls.entry(key).or_insert(call)
                                }
                            };
                            let field = syn::Index::from(match part {
                                CallPart::GradientTangent(_) => 2,
                                _ => 1,
                            });
                            let k = syn::Index::from(k);
                            stmts.push(quote!(let #ident = #call.#field.#k;));
                        }
                    }
                    Binding::Named {
                        ident,
                        by_ref: false,
                    }
                }
                Emit::KernelReusing {
                    kernel,
                    reusing,
                    constant,
                } => {
                    let rest: Vec<TokenStream> = kernel_operands(&args[1..])
                        .into_iter()
                        .chain(constant.map(constant_tokens))
                        .collect();
                    let call = match &bindings[args[0]] {
                        // The upstream dies here: the result takes its buffer.
                        Binding::Named {
                            ident: owned,
                            by_ref: false,
                        } if last_use[args[0]] == Some(i) && !args[1..].contains(&args[0]) => {
                            let function = Ident::new(reusing.name(), Span::call_site());
                            quote!(::autodiff::kernels::#function(#owned, #(#rest),*))
                        }
                        _ => {
                            let function = Ident::new(kernel.name(), Span::call_site());
                            let first = by_ref(args[0]);
                            quote!(::autodiff::kernels::#function(#first, #(#rest),*))
                        }
                    };
                    // A scalar result names its type, as for `Kernel`.
                    let annotation = (inst.kind == Kind::Scalar).then(|| quote!(: #float));
                    stmts.push(quote!(let #ident #annotation = #call;));
                    Binding::Named {
                        ident,
                        by_ref: false,
                    }
                }
                Emit::KernelInPlace { kernel } => {
                    let function = Ident::new(kernel.name(), Span::call_site());
                    let owned = match &bindings[args[0]] {
                        Binding::Named {
                            ident,
                            by_ref: false,
                        } if last_use[args[0]] == Some(i) && !args[1..].contains(&args[0]) => {
                            quote!(#ident)
                        }
                        _ => {
                            let borrowed = by_ref(args[0]);
                            quote!(::core::clone::Clone::clone(#borrowed))
                        }
                    };
                    let rest = kernel_operands(&args[1..]);
                    stmts.push(
                        quote!(let #ident = ::autodiff::kernels::#function(#owned, #(#rest),*);),
                    );
                    Binding::Named {
                        ident,
                        by_ref: false,
                    }
                }
                Emit::KernelOfArray { kernel } => {
                    let function = Ident::new(kernel.name(), Span::call_site());
                    let entries = args.iter().map(|&a| operand(a));
                    stmts.push(
                        quote!(let #ident = ::autodiff::kernels::#function(&[#(#entries),*]);),
                    );
                    Binding::Named {
                        ident,
                        by_ref: false,
                    }
                }
                Emit::Indices(list) => {
                    let list = list.iter().map(|&i| Literal::usize_suffixed(i));
                    Binding::Inline(quote!((&[#(#list),*] as &[usize])))
                }
                Emit::KernelView { kernel } => {
                    // The `Cow` lives in its own binding; the value is a reference into it.
                    let function = Ident::new(kernel.name(), Span::call_site());
                    let operands = kernel_operands(&args);
                    let cow = helpers.fresh(format!("{}_view", names[i]));
                    stmts.push(quote!(let #cow = ::autodiff::kernels::#function(#(#operands),*);));
                    typed(&cow, nesting::Type::View(inst.kind));
                    typed(&ident, nesting::Type::Reference(inst.kind));
                    views.insert(i, cow.clone());
                    stmts.push(quote!(let #ident = &*#cow;));
                    Binding::Named {
                        ident,
                        by_ref: true,
                    }
                }
            }
        };
        // An owned value whose shape is read later keeps its `Dims`, so that its buffer can be
        // consumed before then. (Borrowed values outlive the function anyway.)
        if let Binding::Named {
            ident,
            by_ref: false,
        } = &binding
        {
            if matches!(inst.kind, Kind::Tuple | Kind::Tape) {
                // Types a block's signature cannot name: blocks that read them are closures.
                loop_values.insert(ident.to_string());
            } else if !matches!(inst.op.emit(), Emit::Param(_)) {
                typed(ident, nesting::Type::Value(inst.kind));
            }
            if needs_dims[i] && inst.kind.is_tensor() {
                let d = helpers.fresh(format!("{}_dims", names[i]));
                typed(&d, nesting::Type::Dims);
                stmts.push(quote!(let #d = ::autodiff::kernels::dims(&#ident);));
                dims[i] = Some(d);
            }
        }
        bindings.push(binding);
        // Argument checks whose expected shape is known now: parameters' at the start, the
        // result's once it is computed.
        for param in params {
            let Some(check) = &param.check else { continue };
            let statement = match check.expected {
                Expected::Param(q) if i == 0 => parameter_check(params, param, check, q),
                Expected::Output(k) if program.outputs[k].index() == i => {
                    argument_check(param, check, reference(&bindings[i]), "the result")
                }
                _ => continue,
            };
            all_stmts[part(i)].push(statement);
        }
    }
    // A tensor returned twice is cloned except at its last position, where it is moved.
    let outputs: Vec<TokenStream> = program
        .outputs
        .iter()
        .enumerate()
        .map(|(position, o)| {
            let v = o.index();
            if dims_outputs.contains(&position) {
                return match &dims[v] {
                    Some(d) => quote!(#d),
                    None => {
                        let r = reference(&bindings[v]);
                        quote!(::autodiff::kernels::dims(#r))
                    }
                };
            }
            let used_later = program.outputs[position + 1..].contains(o);
            match &bindings[v] {
                Binding::Inline(e) => quote!(#e),
                Binding::Named { ident, .. } if program.insts[v].kind == Kind::Scalar => {
                    quote!(#ident)
                }
                // A returned view owns its data already when it reduced something: move it out.
                Binding::Named { .. } if views.contains_key(&v) && !used_later => {
                    let cow = &views[&v];
                    quote!(::std::borrow::Cow::into_owned(#cow))
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
    let output_refs: Vec<TokenStream> = program
        .outputs
        .iter()
        .map(|o| reference(&bindings[o.index()]))
        .collect();
    // Long bodies in blocks of bounded size (see `nesting`).
    let keep_together: HashSet<String> = shared_calls.values().map(|c| c.to_string()).collect();
    let views: HashMap<String, Ident> = views
        .into_iter()
        .filter_map(|(v, cow)| match &bindings[v] {
            Binding::Named { ident, .. } => Some((ident.to_string(), cow)),
            Binding::Inline(_) => None,
        })
        .collect();
    // Constant parameters passed on to calls keep whatever type the user gave them.
    let untyped: HashSet<String> = frame
        .constants
        .iter()
        .map(|c| hygienic(c).to_string())
        .filter(|c| !types.contains_key(c))
        .chain(loop_values)
        .collect();
    let parts = (0..parts)
        .map(|p| {
            let others = all_stmts
                .iter()
                .enumerate()
                .filter(|&(q, _)| q != p)
                .flat_map(|(_, stmts)| stmts);
            let read_after = nesting::names_in(others.chain(&outputs).chain(&output_refs));
            let cx = nesting::Context {
                read_after: &read_after,
                keep_together: &keep_together,
                views: &views,
                types: &types,
                untyped: &untyped,
                part: p,
                float,
            };
            nesting::bounded_nesting(all_stmts[p].clone(), &cx)
        })
        .collect();
    Emitted {
        parts,
        outputs,
        output_refs,
    }
}
