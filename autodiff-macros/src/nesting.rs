//! Keeps long generated bodies within what rustc handles well.
//!
//! Every `let` opens a scope inside the previous one, and in a debug build LLVM walks those
//! scopes recursively when it writes debug information: rustc overflows its stack on a function
//! of about 3,000 `let`s in a row (measured with rustc 1.95, plain code, no macro involved).
//! Borrow checking a function is also superlinear in its length (liveness of every local at
//! every point): 1.2 s at 250 statements of the user's, 11.6 s at 1,000. And LLVM's time on one
//! function grows faster than its length. A derived program has several statements per
//! statement of the user's, so long functions reached all three. Long statement lists are
//! therefore cut into blocks of [`BLOCK`] statements, each a nested `fn` item called on the
//! spot: it takes what it reads from earlier statements as arguments (owned values moved in,
//! references passed on) and returns what later statements read, the owned values it was
//! given included. Each block is then its own body for type checking, borrow checking and
//! code generation, so the cost of a long function is the cost of its blocks. (Closures were
//! tried first: rustc type-checks a closure with the function around it and, in an incremental
//! build, hashes those joint results once per closure, so k closures in a body of n statements
//! cost k·n.) Only values move; no work changes. The blocks are `#[inline]`, as the items around
//! them are (so none is compiled to machine code unless its item is used), and `#[track_caller]`,
//! so a shape error still points at the caller. A block that hands on a value whose type the
//! emitter did not record (a reference into a view it binds, a constant parameter of the
//! user's type) is a closure instead.

use std::collections::{HashMap, HashSet};

use autodiff_core::symbolic::Kind;
use proc_macro2::{Ident, Span, TokenStream, TokenTree};
use quote::quote;

use crate::signature::Float;

/// Statement lists up to this length stay as they are (small functions read as before).
pub const FLAT_LIMIT: usize = 512;

/// The length of one block.
const BLOCK: usize = 256;

/// A statement and the names it binds and reads (as text: an identifier's text crosses the
/// compiler's bridge each time it is asked for, so it is asked once).
struct Stmt {
    tokens: TokenStream,
    binds: Vec<(Ident, String)>,
    reads: HashSet<String>,
}

impl Stmt {
    fn new(tokens: TokenStream) -> Self {
        let binds: Vec<(Ident, String)> = bound_names(&tokens)
            .into_iter()
            .map(|ident| {
                let name = ident.to_string();
                (ident, name)
            })
            .collect();
        let mut reads = HashSet::new();
        collect_names(&tokens, &mut reads);
        // (Names are bound once: a statement does not read what it binds.)
        for (_, name) in &binds {
            reads.remove(name);
        }
        Stmt {
            tokens,
            binds,
            reads,
        }
    }
}

/// What [`bounded_nesting`] needs to know besides the statements.
pub struct Context<'a> {
    /// Names read after the statements (the outputs, other parts of the body).
    pub read_after: &'a HashSet<String>,
    /// Values that must not be moved out of a block while some of their fields are still to be
    /// read (a shared call's result whose parts are taken one by one): no cut falls between
    /// their binding and their last read.
    pub keep_together: &'a HashSet<String>,
    /// References into a local (`let v = &*v_view;`), by name, with the local they borrow: a
    /// block moves the local out instead and the reference is taken again after it.
    pub views: &'a HashMap<String, Ident>,
    /// Every name a statement or the function binds whose type is known, with that type: the
    /// blocks' signatures.
    pub types: &'a HashMap<String, Typed>,
    /// Names bound before the statements whose type is not known (a block that reads one is a
    /// closure).
    pub untyped: &'a HashSet<String>,
    /// Tells this statement list's blocks from other lists' in the same function.
    pub part: usize,
    pub float: Float,
}

/// A name's identifier (as the statements write it) and its type.
#[derive(Clone)]
pub struct Typed {
    pub ident: Ident,
    pub ty: Type,
}

/// The type of a name generated code binds (written out only for the names blocks pass on).
#[derive(Clone, Copy)]
pub enum Type {
    /// An owned scalar, vector or matrix.
    Value(Kind),
    /// A reference to one (a parameter, or a reference into a view).
    Reference(Kind),
    /// A view of one (`Cow`), detached from what it borrows when a block returns it.
    View(Kind),
    /// A value's kept shape.
    Dims,
}

impl Type {
    /// A value rather than a reference: moved into a block, and handed back if read after it.
    fn owned(self) -> bool {
        !matches!(self, Type::Reference(_))
    }

    fn tokens(self, float: Float) -> TokenStream {
        let value = |kind| match kind {
            Kind::Scalar => quote!(#float),
            Kind::Vector => quote!(::autodiff::Vector<#float>),
            Kind::Matrix => quote!(::autodiff::Matrix<#float>),
            Kind::Index => quote!(usize),
            Kind::Bool => quote!(bool),
            Kind::Indices => quote!(&[usize]),
            // Emitted as loops are (not yet by the front end): a tuple of values, or a `Vec`.
            Kind::Tuple => quote!(_),
            Kind::Tape => quote!(::std::vec::Vec<_>),
        };
        match self {
            Type::Value(kind) => value(kind),
            Type::Reference(kind) => {
                let value = value(kind);
                quote!(&#value)
            }
            Type::View(kind) => {
                let value = value(kind);
                quote!(::std::borrow::Cow<'static, #value>)
            }
            Type::Dims => quote!(::autodiff::kernels::Dims),
        }
    }
}

/// `stmts` with long runs cut into blocks so that no more than about
/// `FLAT_LIMIT` `let`s are nested (see the module documentation).
pub fn bounded_nesting(stmts: Vec<TokenStream>, cx: &Context) -> Vec<TokenStream> {
    if stmts.len() <= FLAT_LIMIT {
        return stmts;
    }
    let mut stmts: Vec<Stmt> = stmts.into_iter().map(Stmt::new).collect();
    // Blocks of blocks, should one level leave too many.
    while stmts.len() > FLAT_LIMIT {
        stmts = into_blocks(stmts, cx);
    }
    stmts.into_iter().map(|s| s.tokens).collect()
}

/// One level of blocks of about [`BLOCK`] statements: `fn` items where the types are known,
/// closures otherwise.
fn into_blocks(stmts: Vec<Stmt>, cx: &Context) -> Vec<Stmt> {
    // Where each name is read last: the statement's position, or past the end.
    let mut last_read: HashMap<String, usize> = HashMap::new();
    for (i, stmt) in stmts.iter().enumerate() {
        for name in &stmt.reads {
            last_read.insert(name.clone(), i);
        }
    }
    let read_after = |name: &str, position: usize| {
        cx.read_after.contains(name) || last_read.get(name).is_some_and(|&l| l > position)
    };
    // The locals that views borrow from.
    let view_locals: HashSet<String> = cx.views.values().map(|l| l.to_string()).collect();
    // Cuts: after `BLOCK` statements, at the first position where no value that must stay
    // together is bound before and read after.
    let mut cuts = Vec::new();
    let mut open: HashSet<&str> = HashSet::new();
    let mut start = 0;
    for (i, stmt) in stmts.iter().enumerate() {
        for (_, name) in &stmt.binds {
            if cx.keep_together.contains(name) {
                open.insert(name);
            }
        }
        open.retain(|name| read_after(name, i));
        // A view and the reference into it (`let v = &*v_view;`) stay together.
        let view_reference_next = stmts
            .get(i + 1)
            .is_some_and(|s| s.binds.iter().any(|(_, n)| cx.views.contains_key(n)));
        if i + 1 - start >= BLOCK && open.is_empty() && !view_reference_next && i + 1 < stmts.len()
        {
            cuts.push(i + 1);
            start = i + 1;
        }
    }
    cuts.push(stmts.len());
    let mut out = Vec::with_capacity(cuts.len());
    let mut stmts = stmts.into_iter();
    let mut from = 0;
    for to in cuts {
        let block: Vec<Stmt> = stmts.by_ref().take(to - from).collect();
        // Each name bound here, with the statement binding it.
        let bound_here: HashMap<&str, &Stmt> = block
            .iter()
            .flat_map(|s| s.binds.iter().map(move |(_, name)| (name.as_str(), s)))
            .collect();
        let mut exported: Vec<(Ident, String)> = Vec::new();
        let mut retaken: Vec<(Ident, Ident, String)> = Vec::new();
        // (A name handed back by a block of items is bound again: once is enough.)
        let mut seen = HashSet::new();
        for (ident, name) in block.iter().flat_map(|s| &s.binds) {
            if !read_after(name, to - 1) || !seen.insert(name) {
                continue;
            }
            match cx.views.get(name) {
                // A reference into a local of this block: move the local out, borrow again.
                Some(local) if bound_here.contains_key(local.to_string().as_str()) => {
                    let local_name = local.to_string();
                    if !exported.iter().any(|(_, e)| *e == local_name) {
                        exported.push((local.clone(), local_name.clone()));
                    }
                    retaken.push((ident.clone(), local.clone(), local_name));
                }
                _ => exported.push((ident.clone(), name.clone())),
            }
        }
        // What the block reads from before it: a name read before the block binds it (a name
        // a block of items hands back is bound again after it was read).
        let mut reads = HashSet::new();
        let mut bound_so_far = HashSet::new();
        for stmt in &block {
            for name in &stmt.reads {
                if !bound_so_far.contains(name.as_str()) {
                    reads.insert(name.clone());
                }
            }
            bound_so_far.extend(stmt.binds.iter().map(|(_, name)| name.as_str()));
        }
        let name = Ident::new(
            &format!("__autodiff_block_{}_{}", cx.part, out.len()),
            Span::mixed_site(),
        );
        let item = block_item(&block, &reads, &exported, cx, name, |n| {
            read_after(n, to - 1)
        });
        let tokens = match item {
            Some((tokens, returned)) => {
                exported = returned;
                tokens
            }
            None => block_closure(&block, &mut exported, &view_locals),
        };
        out.push(Stmt {
            tokens,
            binds: exported,
            reads,
        });
        for (reference, local, local_name) in retaken {
            let name = reference.to_string();
            out.push(Stmt {
                tokens: quote!(let #reference = &*#local;),
                reads: [local_name].into(),
                binds: vec![(reference, name)],
            });
        }
        from = to;
    }
    out
}

/// A block as a `fn` item called on the spot, with the names it hands on (see the module
/// documentation); `None` where a type it needs is not known.
fn block_item(
    block: &[Stmt],
    reads: &HashSet<String>,
    exported: &[(Ident, String)],
    cx: &Context,
    name: Ident,
    read_after: impl Fn(&str) -> bool,
) -> Option<(TokenStream, Vec<(Ident, String)>)> {
    // Its parameters, in a fixed order (the expansion is deterministic).
    let mut imports: Vec<&str> = reads.iter().map(String::as_str).collect();
    imports.sort_unstable();
    if imports.iter().any(|n| cx.untyped.contains(*n)) {
        return None;
    }
    let imports: Vec<(&str, &Typed)> = imports
        .into_iter()
        .filter_map(|n| Some((n, cx.types.get(n)?)))
        .collect();
    // What it returns: its own values read later, and the values it was given that are. A view
    // may borrow another value returned: views are detached before what they borrow is moved, so
    // latest first (a view is bound after what it views), and the block's own values first.
    let mut returned: Vec<(Ident, String, &Typed)> = Vec::new();
    for (ident, name) in exported.iter().rev() {
        match cx.types.get(name) {
            Some(typed) if typed.ty.owned() => returned.push((ident.clone(), name.clone(), typed)),
            _ => return None,
        }
    }
    for (name, typed) in &imports {
        if typed.ty.owned() && read_after(name) && !exported.iter().any(|(_, e)| e == name) {
            returned.push((typed.ident.clone(), name.to_string(), typed));
        }
    }
    let params = imports.iter().map(|(_, t)| {
        let (ident, ty) = (&t.ident, t.ty.tokens(cx.float));
        quote!(#ident: #ty)
    });
    let args = imports.iter().map(|(_, t)| &t.ident);
    let values = returned.iter().map(|(ident, _, typed)| {
        if matches!(typed.ty, Type::View(_)) {
            // A view may borrow what the block owns: it leaves owned.
            quote!(::autodiff::kernels::detach(#ident))
        } else {
            quote!(#ident)
        }
    });
    let types = returned.iter().map(|(_, _, t)| t.ty.tokens(cx.float));
    let names = returned.iter().map(|(ident, _, _)| ident);
    let body = block.iter().map(|s| &s.tokens);
    let tokens = match returned.len() {
        0 => quote! {
            #[track_caller]
            #[inline]
            fn #name(#(#params),*) { #(#body)* }
            #name(#(#args),*);
        },
        1 => quote! {
            #[track_caller]
            #[inline]
            fn #name(#(#params),*) -> #(#types)* { #(#body)* #(#values)* }
            let #(#names)* = #name(#(#args),*);
        },
        _ => quote! {
            #[track_caller]
            #[inline]
            fn #name(#(#params),*) -> (#(#types),*) { #(#body)* (#(#values),*) }
            let (#(#names),*) = #name(#(#args),*);
        },
    };
    let returned = returned.into_iter().map(|(i, n, _)| (i, n)).collect();
    Some((tokens, returned))
}

/// A block as a closure called on the spot, returning `exported` (put in the order it returns
/// them).
fn block_closure(
    block: &[Stmt],
    exported: &mut [(Ident, String)],
    view_locals: &HashSet<String>,
) -> TokenStream {
    // A view may borrow the value it views: it leaves owned (a copy, at most once per view and
    // block, and only in long bodies), as the value it borrows may be moved into a later block.
    // Latest first, so that a view of a view is detached before the view it borrows is moved.
    exported.reverse();
    let values: Vec<TokenStream> = exported
        .iter()
        .map(|(ident, name)| {
            if view_locals.contains(name) {
                quote!(::autodiff::kernels::detach(#ident))
            } else {
                quote!(#ident)
            }
        })
        .collect();
    let names: Vec<&Ident> = exported.iter().map(|(ident, _)| ident).collect();
    let body = block.iter().map(|s| &s.tokens);
    match (&names[..], &values[..]) {
        ([], _) => quote!((|| { #(#body)* })();),
        ([one], [value]) => quote!(let #one = (|| { #(#body)* #value })();),
        (all, values) => quote!(let (#(#all),*) = (|| { #(#body)* (#(#values),*) })();),
    }
}

/// The names a statement binds: `let a ...` or `let (a, b) = ...`.
fn bound_names(tokens: &TokenStream) -> Vec<Ident> {
    let mut iter = tokens.clone().into_iter();
    match (iter.next(), iter.next()) {
        (Some(TokenTree::Ident(keyword)), Some(TokenTree::Ident(name))) if keyword == "let" => {
            vec![name]
        }
        (Some(TokenTree::Ident(keyword)), Some(TokenTree::Group(group))) if keyword == "let" => {
            group
                .stream()
                .into_iter()
                .filter_map(|t| match t {
                    TokenTree::Ident(name) => Some(name),
                    _ => None,
                })
                .collect()
        }
        _ => Vec::new(),
    }
}

/// Every identifier in `tokens`, at any depth.
fn collect_names(tokens: &TokenStream, names: &mut HashSet<String>) {
    for token in tokens.clone() {
        match token {
            TokenTree::Ident(ident) => {
                names.insert(ident.to_string());
            }
            TokenTree::Group(group) => collect_names(&group.stream(), names),
            _ => {}
        }
    }
}

/// Every identifier in `tokens`, at any depth (for the names read after a statement list).
pub fn names_in<'a>(tokens: impl IntoIterator<Item = &'a TokenStream>) -> HashSet<String> {
    let mut names = HashSet::new();
    for t in tokens {
        collect_names(t, &mut names);
    }
    names
}

#[cfg(test)]
mod tests {
    use super::*;
    use quote::format_ident;

    fn context<'a>(
        read_after: &'a HashSet<String>,
        keep_together: &'a HashSet<String>,
        views: &'a HashMap<String, Ident>,
    ) -> Context<'a> {
        Context {
            read_after,
            keep_together,
            views,
            types: Box::leak(Box::default()),
            untyped: Box::leak(Box::default()),
            part: 0,
            float: Float::F64,
        }
    }

    /// The deepest run of `let`s: each `let` nests what follows it in its block.
    fn depth(tokens: &TokenStream) -> usize {
        let mut lets = 0;
        let mut deepest = 0;
        for token in tokens.clone() {
            match token {
                TokenTree::Ident(i) if i == "let" => lets += 1,
                TokenTree::Group(g) => deepest = deepest.max(lets + depth(&g.stream())),
                _ => {}
            }
        }
        deepest.max(lets)
    }

    fn chain(n: usize) -> Vec<TokenStream> {
        let mut stmts = vec![quote!(let v0 = x;)];
        for i in 1..n {
            let (v, previous) = (format_ident!("v{i}"), format_ident!("v{}", i - 1));
            stmts.push(quote!(let #v = #previous * 2.0 + x;));
        }
        stmts
    }

    #[test]
    fn short_lists_are_unchanged() {
        let stmts = chain(FLAT_LIMIT);
        let (none, views) = (HashSet::new(), HashMap::new());
        let out = bounded_nesting(stmts.clone(), &context(&none, &none, &views));
        assert_eq!(
            out.iter().map(|t| t.to_string()).collect::<Vec<_>>(),
            stmts.iter().map(|t| t.to_string()).collect::<Vec<_>>()
        );
    }

    #[test]
    fn long_lists_nest_shallowly_and_export_what_is_read_later() {
        let n = 20_000;
        let read_after: HashSet<String> = [format!("v{}", n - 1), "v5".to_string()].into();
        let (none, views) = (HashSet::new(), HashMap::new());
        let out = bounded_nesting(chain(n), &context(&read_after, &none, &views));
        let all: TokenStream = out.into_iter().collect();
        assert!(depth(&all) < 2 * FLAT_LIMIT, "depth {}", depth(&all));
        let text = all.to_string();
        // The first block hands on the value the next one reads and the one read at the end.
        assert!(text.contains("let (v255 , v5) ="), "{}", &text[..300]);
        // Values read only inside their block stay there.
        assert!(!text.contains("let (v4"));
    }

    #[test]
    fn with_known_types_blocks_are_items_that_hand_on_what_is_read_later() {
        let n = 600;
        let read_after: HashSet<String> = [format!("v{}", n - 1), "v5".to_string()].into();
        let (none, views) = (HashSet::new(), HashMap::new());
        let mut types: HashMap<String, Typed> = (0..n)
            .map(|i| {
                let ident = format_ident!("v{i}");
                let ty = Type::Value(Kind::Scalar);
                (ident.to_string(), Typed { ident, ty })
            })
            .collect();
        let x = format_ident!("x");
        let ty = Type::Value(Kind::Scalar);
        types.insert("x".into(), Typed { ident: x, ty });
        let mut cx = context(&read_after, &none, &views);
        cx.types = &types;
        let out = bounded_nesting(chain(n), &cx);
        let text: Vec<String> = out.iter().map(|t| t.to_string()).collect();
        // The first block takes `x` (read later, so handed back) and returns what later
        // statements read; the second takes what the first handed on.
        assert!(
            text[0].contains("fn __autodiff_block_0_0 (x : f64) -> (f64 , f64 , f64)"),
            "{}",
            &text[0][..200]
        );
        assert!(
            text[0].ends_with("let (v255 , v5 , x) = __autodiff_block_0_0 (x) ;"),
            "{}",
            &text[0][text[0].len() - 200..]
        );
        assert!(text[1].contains("fn __autodiff_block_0_1 (v255 : f64 , x : f64) -> (f64 , f64)"));
        // An unknown type leaves a block a closure.
        let mut fewer = types.clone();
        fewer.remove("v511");
        cx.types = &fewer;
        let out = bounded_nesting(chain(n), &cx);
        assert!(
            out[1].to_string().starts_with("let v511 = (||"),
            "{}",
            &out[1].to_string()[..40]
        );
    }

    #[test]
    fn no_cut_between_a_kept_value_and_its_last_read() {
        let mut stmts = chain(600);
        // `call` is bound at 250 and its parts are read up to 300.
        stmts[250] = quote!(let call = f(v249););
        for (i, stmt) in stmts.iter_mut().enumerate().take(301).skip(251) {
            let v = format_ident!("v{i}");
            *stmt = quote!(let #v = call.1 + x;);
        }
        let read_after: HashSet<String> = ["v599".to_string()].into();
        let keep: HashSet<String> = ["call".to_string()].into();
        let views = HashMap::new();
        let out = bounded_nesting(stmts, &context(&read_after, &keep, &views));
        let first = out[0].to_string();
        assert!(first.contains("call . 1"), "{first}");
        assert!(
            first.ends_with("(v300) } ;") || first.contains("let v300 ="),
            "{first}"
        );
    }

    #[test]
    fn a_reference_into_a_block_local_is_taken_again_after_the_block() {
        let mut stmts = chain(600);
        stmts[10] = quote!(let v10_view = g(&v9););
        stmts[11] = quote!(let v11 = &*v10_view;);
        stmts[12] = quote!(let v12 = v11 + x;);
        let read_after: HashSet<String> = ["v599".to_string(), "v11".to_string()].into();
        let none = HashSet::new();
        let views: HashMap<String, Ident> = [("v11".to_string(), format_ident!("v10_view"))].into();
        let out = bounded_nesting(stmts, &context(&read_after, &none, &views));
        let text: Vec<String> = out.iter().map(|t| t.to_string()).collect();
        assert!(
            text[0].starts_with("let (v255 , v10_view) ="),
            "{}",
            text[0]
        );
        // It borrows `v9`, a value of the block: it leaves the block owned.
        assert!(
            text[0].contains(":: autodiff :: kernels :: detach (v10_view)"),
            "{}",
            text[0]
        );
        assert_eq!(text[1], "let v11 = & * v10_view ;");
    }
}
