//! Keeps long generated bodies within what rustc handles well.
//!
//! Every `let` opens a scope inside the previous one, and in a debug build LLVM walks those
//! scopes recursively when it writes debug information: rustc overflows its stack on a function
//! of about 3,000 `let`s in a row (measured with rustc 1.95, plain code, no macro involved).
//! Borrow checking a function is also superlinear in its length (liveness of every local at
//! every point): 1.2 s at 250 statements of the user's, 11.6 s at 1,000. A derived program has
//! several statements per statement of the user's, so long functions reached both. Long
//! statement lists are therefore cut into closures called on the spot, each returning what
//! later statements read from it, `let (a, b) = (|| { ...; (a, b) })();`: each is its own body
//! for the borrow checker and for debug information (3.3 s at 1,000 statements). Only values
//! move; no work changes. One thing is lost in such long functions: `#[track_caller]` does not
//! reach into a closure, so a shape error there is reported at the attribute rather than at the
//! caller (the message still names the function and the operation).

use std::collections::{HashMap, HashSet};

use proc_macro2::{Ident, TokenStream, TokenTree};
use quote::quote;

/// Statement lists up to this length stay as they are (small functions read as before).
const FLAT_LIMIT: usize = 512;

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
        let binds = bound_names(&tokens)
            .into_iter()
            .map(|ident| {
                let name = ident.to_string();
                (ident, name)
            })
            .collect();
        let mut reads = HashSet::new();
        collect_names(&tokens, &mut reads);
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

/// One level of blocks of about [`BLOCK`] statements.
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
        if i + 1 - start >= BLOCK && open.is_empty() && i + 1 < stmts.len() {
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
        for (ident, name) in block.iter().flat_map(|s| &s.binds) {
            if !read_after(name, to - 1) {
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
        // A view may borrow the value it views: one that borrows a value of this block leaves
        // it owned (a copy, at most once per view and block, and only in long bodies). Latest
        // first, so that a view of a view is detached before the view it borrows is moved.
        exported.reverse();
        let values: Vec<TokenStream> = exported
            .iter()
            .map(|(ident, name)| {
                let borrows_here = view_locals.contains(name)
                    && bound_here.get(name.as_str()).is_some_and(|s| {
                        s.reads
                            .iter()
                            .any(|r| r != name && bound_here.contains_key(r.as_str()))
                    });
                if borrows_here {
                    quote!(::autodiff::kernels::detach(#ident))
                } else {
                    quote!(#ident)
                }
            })
            .collect();
        let mut reads = HashSet::new();
        for stmt in &block {
            reads.extend(stmt.reads.iter().cloned());
        }
        let names: Vec<&Ident> = exported.iter().map(|(ident, _)| ident).collect();
        let body = block.into_iter().map(|s| s.tokens);
        let tokens = match (&names[..], &values[..]) {
            ([], _) => quote!((|| { #(#body)* })();),
            ([one], [value]) => quote!(let #one = (|| { #(#body)* #value })();),
            (all, values) => quote!(let (#(#all),*) = (|| { #(#body)* (#(#values),*) })();),
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
