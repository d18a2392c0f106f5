//! Lowering: the function body (a `syn` tree) into the engine's IR.
//!
//! Everything outside the supported language is reported here, spanned on the offending tokens;
//! lowering goes on after an error (the bad value is "poisoned" and its uses stay quiet) so that
//! one compile reports every mistake in the function.

use std::collections::HashMap;

use autodiff_core::symbolic::methods::{self, Arg};
use autodiff_core::symbolic::op::Op;
use autodiff_core::symbolic::rules::arith::{BinOp, Binary, Literal, Neg};
use autodiff_core::symbolic::rules::call::{Call, Callee, CalleeParam};
use autodiff_core::symbolic::rules::control::{push_checkpointed, Branch, Loop, Project, Segments};
use autodiff_core::symbolic::rules::index::{IndexList, LabelAt, Read, Region, VectorOf};
use autodiff_core::symbolic::rules::integer::{
    CmpOp, Compare, IndexArith, IndexLiteral, IntOp, Logic, NamedConstant, ToFloat,
};
use autodiff_core::symbolic::{Kind, Precision, Program, ValueId};
use quote::ToTokens;
use syn::ext::IdentExt;
use syn::{Block, Expr, ExprMethodCall, Lit, Pat, Stmt, UnOp};

use crate::calls::{self, CalleeSig, SigParam};
use crate::errors::Errors;
use crate::signature::{classify, type_text, Float, Signature};

/// What the language offers, for error messages.
fn supported_expressions() -> String {
    format!(
        "supported: `let` and `let mut` bindings, assignments (`= += -= *= /=`), blocks, \
         parentheses, `+ - * /`, unary `-`, float literals, `usize` integers (`n as f64`), \
         constants (`std::f64::consts::PI`, `const` items), and the methods {}",
        methods::names()
    )
}

/// The lowered function.
pub struct Lowered {
    pub program: Program,
    /// For each IR parameter, the index of the user's parameter it reads.
    pub ir_params: Vec<usize>,
}

/// What a name in scope refers to.
#[derive(Clone)]
enum Binding {
    Value(ValueId),
    /// A `let mut` binding: assignments rebind it.
    Mutable(ValueId),
    /// A parameter of a non-differentiable type.
    Constant(String),
    /// A binding whose value had an error (already reported).
    Poisoned,
}

struct Lowerer<'a> {
    program: Program,
    scopes: Vec<HashMap<String, Binding>>,
    errors: &'a mut Errors,
    /// `None` when the signature named no usable float type (already reported).
    float: Option<Float>,
    /// The signatures of the callees known so far.
    known: &'a [CalleeSig],
    /// Functions called whose signatures are not known yet (see `calls`).
    unknown: Vec<syn::Path>,
    /// The loops whose bodies are being lowered, outermost first (`program` is the innermost
    /// body).
    frames: Vec<LoopFrame>,
    /// How many rejected loops (`while`, `loop`) enclose what is being checked: their
    /// `break`s were reported with them.
    rejected_loops: usize,
}

/// What one side of an `if` is.
#[derive(Clone, Copy)]
enum Side<'a> {
    Block(&'a Block),
    /// `else if ..`
    If(&'a syn::ExprIf),
    /// No `else`: the bindings keep their values.
    Unchanged,
}

/// A loop body being lowered: it is a program of its own (see `Loop` in the engine).
struct LoopFrame {
    /// The enclosing program, set aside meanwhile.
    outer: Program,
    /// The index in `scopes` of the body's first scope: bindings before it are outside.
    scope_base: usize,
    /// The enclosing program's values the body reads, and the body parameters standing for
    /// them (in parameter order, after the index and the carried values).
    captures: Vec<(ValueId, ValueId)>,
}

/// Lowers the body of `item`, reporting every error; `None` if there was any (in the signature
/// too), since then no code is generated.
pub fn lower(
    item: &syn::ItemFn,
    sig: &Signature,
    errors: &mut Errors,
    known: &[CalleeSig],
) -> Lowering {
    let errors_before = errors.count();
    let mut program = Program::new();
    program.precision = match sig.float {
        Some(Float::F32) => Precision::F32,
        _ => Precision::F64,
    };
    let mut scope = HashMap::new();
    let mut ir_params = Vec::new();
    for (i, p) in sig.params.iter().enumerate() {
        let name = p.ident.to_string();
        let binding = match p.tensor {
            _ if p.poisoned => Binding::Poisoned,
            Some(t) => {
                ir_params.push(i);
                // The engine names values without `r#`: `r#in`'s adjoint is `din`.
                Binding::Value(program.param(&p.ident.unraw().to_string(), t.kind))
            }
            None => {
                program.reserved_names.push(p.ident.unraw().to_string());
                Binding::Constant(type_text(&p.ty))
            }
        };
        scope.insert(name, binding);
    }
    let mut lowerer = Lowerer {
        program,
        scopes: vec![scope],
        errors,
        float: sig.float,
        known,
        unknown: Vec::new(),
        frames: Vec::new(),
        rejected_loops: 0,
    };
    let outputs = lowerer.body_results(&item.block);
    if let (Some(outputs), Some(_)) = (&outputs, sig.result) {
        let kinds: Vec<Kind> = outputs.iter().map(|&o| lowerer.program.kind(o)).collect();
        if kinds != sig.results {
            let describe = |kinds: &[Kind]| match kinds {
                [one] => one.article().to_string(),
                several => format!(
                    "a tuple of ({})",
                    several
                        .iter()
                        .map(|k| k.article())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            };
            let message = format!(
                "the body evaluates to {} but the function returns {}",
                describe(&kinds),
                describe(&sig.results)
            );
            match item.block.stmts.last() {
                Some(stmt) => lowerer.errors.spanned(stmt, message),
                None => lowerer.errors.spanned(&item.sig.output, message),
            }
        }
    }
    let Lowerer {
        mut program,
        errors,
        unknown,
        ..
    } = lowerer;
    if errors.count() != errors_before || !sig.valid || !unknown.is_empty() {
        return Lowering {
            lowered: None,
            unknown,
        };
    }
    program.outputs = outputs.unwrap_or_default();
    Lowering {
        lowered: (!program.outputs.is_empty()).then_some(Lowered { program, ir_params }),
        unknown,
    }
}

/// Whether `expr` is a call (in parentheses or not).
fn is_call(expr: &Expr) -> bool {
    match expr {
        Expr::Paren(p) => is_call(&p.expr),
        Expr::Call(_) => true,
        _ => false,
    }
}

/// The names assigned (`v = ...`, `v += ...`) anywhere in `stmts`, nested blocks and loops
/// included, in order of appearance (with repeats).
fn assigned_names(stmts: &[Stmt], names: &mut Vec<String>) {
    fn walk(expr: &Expr, names: &mut Vec<String>) {
        let target = |e: &Expr| match e {
            Expr::Path(p) => p.path.get_ident().map(|i| i.to_string()),
            _ => None,
        };
        match expr {
            Expr::Assign(a) => {
                names.extend(target(&a.left));
                walk(&a.right, names);
            }
            Expr::Binary(b) => {
                let compound = matches!(
                    b.op,
                    syn::BinOp::AddAssign(_)
                        | syn::BinOp::SubAssign(_)
                        | syn::BinOp::MulAssign(_)
                        | syn::BinOp::DivAssign(_)
                );
                if compound {
                    names.extend(target(&b.left));
                }
                walk(&b.right, names);
            }
            Expr::Block(b) => assigned_names(&b.block.stmts, names),
            Expr::ForLoop(f) => assigned_names(&f.body.stmts, names),
            Expr::If(i) => {
                assigned_names(&i.then_branch.stmts, names);
                if let Some((_, otherwise)) = &i.else_branch {
                    walk(otherwise, names);
                }
            }
            Expr::Paren(p) => walk(&p.expr, names),
            _ => {}
        }
    }
    for stmt in stmts {
        match stmt {
            Stmt::Expr(e, _) => walk(e, names),
            Stmt::Local(l) => {
                if let Some(init) = &l.init {
                    walk(&init.expr, names);
                }
            }
            _ => {}
        }
    }
}

/// The comparison `op` is, if it is one.
fn comparison(op: &syn::BinOp) -> Option<CmpOp> {
    Some(match op {
        syn::BinOp::Lt(_) => CmpOp::Lt,
        syn::BinOp::Le(_) => CmpOp::Le,
        syn::BinOp::Gt(_) => CmpOp::Gt,
        syn::BinOp::Ge(_) => CmpOp::Ge,
        syn::BinOp::Eq(_) => CmpOp::Eq,
        syn::BinOp::Ne(_) => CmpOp::Ne,
        _ => return None,
    })
}

/// The logic operator `op` is, if it is one.
fn logic(op: &syn::BinOp) -> Option<Logic> {
    match op {
        syn::BinOp::And(_) => Some(Logic::And),
        syn::BinOp::Or(_) => Some(Logic::Or),
        _ => None,
    }
}

/// Whether a block ends in a statement (`;` or an item), not in a value: a block statement.
fn statements_only(block: &Block) -> bool {
    !matches!(block.stmts.last(), Some(Stmt::Expr(_, None)))
}

/// How deep [`source_text`] writes an expression before it elides the rest as `…`: deep
/// enough for any expression a reader writes on one line, and a bound on the text, so that
/// recording the text of each of a deep expression's subexpressions takes time linear in it
/// (`x.tanh().tanh()…` 500 deep is recorded as `….tanh().tanh()`, 8 calls, at each level).
const SOURCE_DEPTH: usize = 8;

/// An expression as the user wrote it, near enough (`x.matmul(w) + b`), its operands nested
/// deeper than [`SOURCE_DEPTH`] elided as `…`.
fn source_text(expr: &Expr) -> String {
    let mut text = String::new();
    write_source(expr, SOURCE_DEPTH, &mut text);
    text
}

/// Writes `expr` as [`source_text`] does, `depth` levels deep.
fn write_source(expr: &Expr, depth: usize, out: &mut String) {
    let operands = |list: &syn::punctuated::Punctuated<Expr, syn::Token![,]>, out: &mut String| {
        for (i, e) in list.iter().enumerate() {
            if i > 0 {
                out.push_str(", ");
            }
            write_source(e, depth - 1, out);
        }
    };
    match expr {
        Expr::Path(_) | Expr::Lit(_) => out.push_str(&tokens_text(expr)),
        _ if depth == 0 => out.push('…'),
        Expr::MethodCall(m) => {
            write_source(&m.receiver, depth - 1, out);
            out.push('.');
            out.push_str(&m.method.to_string());
            if let Some(turbofish) = &m.turbofish {
                out.push_str("::");
                out.push_str(&tokens_text(turbofish));
            }
            out.push('(');
            operands(&m.args, out);
            out.push(')');
        }
        Expr::Call(c) => {
            write_source(&c.func, depth - 1, out);
            out.push('(');
            operands(&c.args, out);
            out.push(')');
        }
        Expr::Binary(b) => {
            write_source(&b.left, depth - 1, out);
            out.push(' ');
            out.push_str(&tokens_text(&b.op));
            out.push(' ');
            write_source(&b.right, depth - 1, out);
        }
        Expr::Unary(u) => {
            out.push_str(&tokens_text(&u.op));
            write_source(&u.expr, depth - 1, out);
        }
        Expr::Reference(r) => {
            out.push('&');
            if r.mutability.is_some() {
                out.push_str("mut ");
            }
            write_source(&r.expr, depth - 1, out);
        }
        Expr::Paren(p) => {
            out.push('(');
            write_source(&p.expr, depth - 1, out);
            out.push(')');
        }
        Expr::Group(g) => write_source(&g.expr, depth, out),
        Expr::Field(f) => {
            write_source(&f.base, depth - 1, out);
            out.push('.');
            out.push_str(&tokens_text(&f.member));
        }
        Expr::Index(i) => {
            write_source(&i.expr, depth - 1, out);
            out.push('[');
            write_source(&i.index, depth - 1, out);
            out.push(']');
        }
        Expr::Cast(c) => {
            write_source(&c.expr, depth - 1, out);
            out.push_str(" as ");
            out.push_str(&tokens_text(&c.ty));
        }
        other => out.push_str(&tokens_text(other)),
    }
}

/// Tokens joined without the spaces that token streams put around punctuation.
fn tokens_text(tokens: &dyn ToTokens) -> String {
    let mut text = tokens.to_token_stream().to_string();
    for (from, to) in [
        (" . ", "."),
        (" (", "("),
        ("( ", "("),
        (" )", ")"),
        (" ,", ","),
        ("& ", "&"),
    ] {
        text = text.replace(from, to);
    }
    text
}

/// The outcome of lowering.
pub struct Lowering {
    /// The program, if the body had no error and every callee's signature was known.
    pub lowered: Option<Lowered>,
    /// The callees whose signatures are still needed, in order of first call.
    pub unknown: Vec<syn::Path>,
}

/// Every name a pattern binds (to poison them all when the pattern is rejected).
fn pattern_names(pat: &Pat, names: &mut Vec<syn::Ident>) {
    match pat {
        Pat::Ident(p) => {
            names.push(p.ident.clone());
            if let Some((_, sub)) = &p.subpat {
                pattern_names(sub, names);
            }
        }
        Pat::Tuple(t) => t.elems.iter().for_each(|p| pattern_names(p, names)),
        Pat::TupleStruct(t) => t.elems.iter().for_each(|p| pattern_names(p, names)),
        Pat::Struct(s) => s.fields.iter().for_each(|f| pattern_names(&f.pat, names)),
        Pat::Slice(s) => s.elems.iter().for_each(|p| pattern_names(p, names)),
        Pat::Reference(r) => pattern_names(&r.pat, names),
        Pat::Paren(p) => pattern_names(&p.pat, names),
        Pat::Type(t) => pattern_names(&t.pat, names),
        Pat::Or(o) => o.cases.iter().for_each(|p| pattern_names(p, names)),
        _ => {}
    }
}

/// `n` for a negative integer literal `-n` (also `-(n)`): an index that is out of range
/// whatever the tensor.
fn negative_literal(e: &Expr) -> Option<u64> {
    match e {
        Expr::Paren(p) => negative_literal(&p.expr),
        Expr::Group(g) => negative_literal(&g.expr),
        Expr::Unary(u) if matches!(u.op, UnOp::Neg(_)) => {
            integer_literal(&u.expr).map(|n| n as u64)
        }
        _ => None,
    }
}

/// The value of an integer literal (`3`, `3usize`, `(3)`).
fn integer_literal(e: &Expr) -> Option<usize> {
    match e {
        Expr::Paren(p) => integer_literal(&p.expr),
        Expr::Group(g) => integer_literal(&g.expr),
        Expr::Lit(syn::ExprLit {
            lit: Lit::Int(i), ..
        }) if matches!(i.suffix(), "" | "usize") => i.base10_parse().ok(),
        _ => None,
    }
}

/// The method name and its parenthesized arguments, without the receiver: what an error about
/// the call points at (`.matmul(&v)` in `a.matmul(&v)`).
fn method_tokens(m: &ExprMethodCall) -> proc_macro2::TokenStream {
    let mut args = proc_macro2::Group::new(
        proc_macro2::Delimiter::Parenthesis,
        m.args.to_token_stream(),
    );
    args.set_span(m.paren_token.span.join());
    let method = &m.method;
    quote::quote!(#method #args)
}

const LOOP_MESSAGE: &str = "`while` and `loop` are not supported: a differentiable loop runs a \
     number of iterations known before it starts, `for i in a..b`";

const RETURN_MESSAGE: &str = "early `return` is not supported; end the function with the result \
     as its last expression, without `return` or `;`";

impl Lowerer<'_> {
    fn lookup(&self, name: &str) -> Option<Binding> {
        self.lookup_at(name).map(|(binding, _)| binding)
    }

    /// The binding of `name` and the index of the scope that holds it.
    fn lookup_at(&self, name: &str) -> Option<(Binding, usize)> {
        self.scopes
            .iter()
            .enumerate()
            .rev()
            .find_map(|(i, scope)| scope.get(name).map(|b| (b.clone(), i)))
    }

    /// How many loop bodies deep the scope `scope` is.
    fn level_of(&self, scope: usize) -> usize {
        self.frames.iter().filter(|f| f.scope_base <= scope).count()
    }

    /// The program of loop level `level` (0: the function's).
    fn program_at(&mut self, level: usize) -> &mut Program {
        if level == self.frames.len() {
            &mut self.program
        } else {
            &mut self.frames[level].outer
        }
    }

    /// `v`, a value of the program of level `level`, as the current body sees it: captured
    /// by each loop body in between.
    fn resolve(&mut self, mut v: ValueId, level: usize) -> ValueId {
        for lvl in level..self.frames.len() {
            if let Some(&(_, p)) = self.frames[lvl].captures.iter().find(|(o, _)| *o == v) {
                v = p;
                continue;
            }
            let outer = self.program_at(lvl);
            let kind = outer.kind(v);
            let name = outer.value_names()[v.index()].clone();
            let p = self.program_at(lvl + 1).param(&name, kind);
            self.frames[lvl].captures.push((v, p));
            v = p;
        }
        v
    }

    fn bind(&mut self, name: String, binding: Binding) {
        self.scopes
            .last_mut()
            .expect("there is always a scope")
            .insert(name, binding);
    }

    /// Appends `op(args)`, reporting a kind error on `tokens`.
    fn push(
        &mut self,
        op: impl Into<Op>,
        args: &[ValueId],
        tokens: impl ToTokens,
    ) -> Option<ValueId> {
        match self.program.push(op.into(), args) {
            Ok(v) => Some(v),
            Err(e) => {
                self.errors.spanned(tokens, e.message);
                None
            }
        }
    }

    /// A block: its statements in a new scope, then its tail expression.
    fn block(&mut self, block: &Block) -> Option<ValueId> {
        self.block_ending(block, Self::expr)
    }

    /// The function's body: its result, or each of a tuple's results.
    fn body_results(&mut self, block: &Block) -> Option<Vec<ValueId>> {
        self.block_ending(block, Self::results)
    }

    /// A block whose tail expression is lowered by `tail_value`.
    fn block_ending<R>(
        &mut self,
        block: &Block,
        tail_value: impl FnOnce(&mut Self, &Expr) -> Option<R>,
    ) -> Option<R> {
        self.scopes.push(HashMap::new());
        let mut tail = None;
        let mut tail_ok = true;
        let mut tail_value = Some(tail_value);
        for (i, stmt) in block.stmts.iter().enumerate() {
            let last = i + 1 == block.stmts.len();
            match stmt {
                Stmt::Expr(expr, None) if last => {
                    tail = tail_value.take().and_then(|lower| lower(self, expr));
                    tail_ok = tail.is_some();
                }
                other => {
                    if self.block_statement(other) {
                        tail_ok = false;
                    }
                }
            }
        }
        self.scopes.pop();
        if tail.is_none() && tail_ok {
            self.errors.at(
                block.brace_token.span.close(),
                "a differentiable block ends in an expression giving its result (no `;` after \
                 it)",
            );
        }
        tail
    }

    /// The values of an expression that may give several: a tuple written out (`(h, c)`), a
    /// call of a function returning a tuple (each of its results), or one value.
    fn results(&mut self, expr: &Expr) -> Option<Vec<ValueId>> {
        match expr {
            Expr::Paren(p) => self.results(&p.expr),
            Expr::Tuple(t) => {
                let parts: Vec<Option<ValueId>> = t.elems.iter().map(|e| self.expr(e)).collect();
                let parts: Option<Vec<ValueId>> = parts.into_iter().collect();
                let parts = parts?;
                for (e, &v) in t.elems.iter().zip(&parts) {
                    if self.program.kind(v) == Kind::Tuple {
                        self.errors.spanned(
                            e,
                            "tuples do not nest: a tuple holds scalars, vectors and matrices",
                        );
                        return None;
                    }
                }
                Some(parts)
            }
            other => {
                let v = self.expr(other)?;
                if self.program.kind(v) == Kind::Tuple {
                    self.projections(v, other)
                } else {
                    Some(vec![v])
                }
            }
        }
    }

    /// Each result of `v`, a call of a function returning a tuple.
    fn projections(&mut self, v: ValueId, tokens: impl ToTokens + Copy) -> Option<Vec<ValueId>> {
        let Op::Call(call) = &self.program.inst(v).op else {
            self.errors.spanned(
                tokens,
                "only a call's tuple of results can be taken apart here",
            );
            return None;
        };
        let kinds = call.0.results.clone();
        kinds
            .into_iter()
            .enumerate()
            .map(|(index, kind)| self.push(Project { index, kind }, &[v], tokens))
            .collect()
    }

    /// `let (a, b) = ...;` of a tuple written out or a call returning a tuple: each name bound
    /// to its part (`_` skips one).
    fn tuple_local(&mut self, local: &syn::Local, tuple: &syn::PatTuple) {
        let mut names = Vec::new();
        for elem in &tuple.elems {
            match elem {
                Pat::Ident(p) if p.by_ref.is_none() && p.subpat.is_none() => names.push(Some(p)),
                Pat::Wild(_) => names.push(None),
                other => {
                    self.reject_pattern(other);
                    let mut all = Vec::new();
                    pattern_names(&local.pat, &mut all);
                    for name in all {
                        self.bind(name.to_string(), Binding::Poisoned);
                    }
                    return;
                }
            }
        }
        let parts = match &local.init {
            Some(init) if init.diverge.is_none() => self.results(&init.expr),
            _ => {
                self.errors.spanned(
                    local,
                    "`let (a, b) = ...;` needs a value: a tuple or a call returning one",
                );
                None
            }
        };
        let parts = match parts {
            Some(parts) if parts.len() == names.len() => Some(parts),
            Some(parts) => {
                self.errors.spanned(
                    tuple,
                    format!(
                        "the pattern has {} names but the value has {} part(s)",
                        names.len(),
                        parts.len()
                    ),
                );
                None
            }
            None => None,
        };
        for (i, pat) in names.into_iter().enumerate() {
            let Some(pat) = pat else { continue };
            let binding = match parts.as_ref().map(|p| p[i]) {
                Some(v) => {
                    self.program.name_value(v, &pat.ident.unraw().to_string());
                    if pat.mutability.is_some() {
                        Binding::Mutable(v)
                    } else {
                        Binding::Value(v)
                    }
                }
                None => Binding::Poisoned,
            };
            self.bind(pat.ident.to_string(), binding);
        }
    }

    /// A statement other than the block's result; true if it was an expression or a macro
    /// (whose error, if any, says enough about a missing result).
    fn block_statement(&mut self, stmt: &Stmt) -> bool {
        match stmt {
            Stmt::Local(local) => {
                self.local(local);
                false
            }
            Stmt::Expr(expr, _) => {
                self.statement(expr);
                true
            }
            Stmt::Item(item) => {
                self.errors.spanned(
                    item,
                    "items are not supported inside a differentiable function; define them \
                     outside",
                );
                false
            }
            Stmt::Macro(m) => {
                self.errors.spanned(
                    m,
                    "macros are not supported inside a differentiable function: the derivative \
                     cannot see what they expand to",
                );
                true
            }
        }
    }

    /// An expression statement that is not the block's result: the specific error of its
    /// construct (`if`, loops, assignments, ...), else that it has no effect.
    fn statement(&mut self, expr: &Expr) {
        let errors_before = self.errors.count();
        match expr {
            Expr::Return(r) => self.errors.spanned(r, RETURN_MESSAGE),
            Expr::Assign(_) | Expr::Binary(_) if self.assignment(expr, true) => {}
            Expr::ForLoop(f) => self.for_loop(f),
            Expr::If(i) => {
                self.branch(i, false);
            }
            // A block of statements (its assignments change the bindings outside it).
            Expr::Block(b) if b.label.is_none() && statements_only(&b.block) => {
                self.scopes.push(HashMap::new());
                for stmt in &b.block.stmts {
                    self.block_statement(stmt);
                }
                self.scopes.pop();
            }
            // In a rejected loop (reported already).
            Expr::Break(_) | Expr::Continue(_) if self.rejected_loops > 0 => self.check_expr(expr),
            Expr::Break(_) | Expr::Continue(_) => {
                self.errors.spanned(
                    expr,
                    "`break` and `continue` are not supported: a differentiable loop runs every \
                     iteration of its range (compute the range you need, or select with `if`)",
                );
                self.check_expr(expr);
            }
            _ => {
                if self.expr(expr).is_some() || self.errors.count() == errors_before {
                    self.errors.spanned(
                        expr,
                        "this statement has no effect: a differentiable function is `let` \
                         bindings and a final result expression (without `;`)",
                    );
                }
            }
        }
    }

    /// `a = b` and `a op= b` (`+ - * /`): rebinds the `let mut` binding `a` (in the scope that
    /// declared it) to the new value. Reported in expression position (`as_statement` false),
    /// where an assignment has no value to give. False if `expr` is neither.
    fn assignment(&mut self, expr: &Expr, as_statement: bool) -> bool {
        let (target, right, op) = match expr {
            Expr::Assign(a) => (&a.left, &a.right, None),
            Expr::Binary(b) => {
                let (symbol, op) = match b.op {
                    syn::BinOp::AddAssign(_) => ("+=", Some(IntOp::Add)),
                    syn::BinOp::SubAssign(_) => ("-=", Some(IntOp::Sub)),
                    syn::BinOp::MulAssign(_) => ("*=", Some(IntOp::Mul)),
                    syn::BinOp::DivAssign(_) => ("/=", Some(IntOp::Div)),
                    syn::BinOp::RemAssign(_) => ("%=", None),
                    syn::BinOp::BitXorAssign(_) => ("^=", None),
                    syn::BinOp::BitAndAssign(_) => ("&=", None),
                    syn::BinOp::BitOrAssign(_) => ("|=", None),
                    syn::BinOp::ShlAssign(_) => ("<<=", None),
                    syn::BinOp::ShrAssign(_) => (">>=", None),
                    _ => return false,
                };
                let Some(op) = op else {
                    self.errors.spanned(
                        b.op,
                        format!(
                            "compound assignment `{symbol}` is not supported; supported: `=`, \
                             `+=`, `-=`, `*=`, `/=`"
                        ),
                    );
                    self.check_expr(&b.right);
                    return true;
                };
                (&b.left, &b.right, Some((op, b)))
            }
            _ => return false,
        };
        if !as_statement {
            self.errors.spanned(
                expr,
                "an assignment has no value; write it as a statement of its own (`v = v + x;`)",
            );
            self.check_expr(right);
            return true;
        }
        let ident = match &**target {
            Expr::Path(p) if p.qself.is_none() => p.path.get_ident(),
            _ => None,
        };
        let Some(ident) = ident else {
            self.errors.spanned(
                target,
                "only a `let mut` binding can be assigned (`v = ...;`, `v += ...;`); tensors \
                 are not changed in place",
            );
            self.check_expr(right);
            return true;
        };
        let name = ident.to_string();
        let current = self.frames.len();
        let old = match self
            .lookup_at(&name)
            .map(|(b, scope)| (b, self.level_of(scope)))
        {
            Some((Binding::Mutable(v), level)) if level == current => v,
            Some((Binding::Mutable(_), _)) => {
                self.errors.spanned(
                    ident,
                    format!("`{name}` cannot be assigned here: it is not carried by the loop"),
                );
                self.check_expr(right);
                return true;
            }
            Some((Binding::Poisoned, _)) => {
                self.check_expr(right);
                return true;
            }
            Some((Binding::Value(_), _)) => {
                self.errors.spanned(
                    ident,
                    format!(
                        "`{name}` is not mutable; declare it with `let mut {name} = ...;` to \
                         assign it"
                    ),
                );
                self.check_expr(right);
                return true;
            }
            Some((Binding::Constant(_), _)) | None => {
                self.errors.spanned(
                    ident,
                    format!("only a `let mut` binding can be assigned; `{name}` is not one"),
                );
                self.check_expr(right);
                return true;
            }
        };
        let rhs = self.expr(right);
        let new = match (op, rhs) {
            (_, None) => None,
            (None, Some(v)) => Some(v),
            (Some((op, b)), Some(v)) => self.binary(op, [old, v], [&b.left, &b.right], expr),
        };
        let binding = match new {
            Some(v) if self.program.kind(v) != self.program.kind(old) => {
                let message = format!(
                    "`{name}` holds {}, and this assigns {}: a `let mut` binding keeps its kind \
                     (bind a new name with `let` for a value of another kind)",
                    self.program.kind(old).article(),
                    self.program.kind(v).article()
                );
                self.errors.spanned(right, message);
                Binding::Poisoned
            }
            Some(v) => {
                self.program.name_value(v, &ident.unraw().to_string());
                Binding::Mutable(v)
            }
            None => Binding::Poisoned,
        };
        self.rebind(&name, binding);
        true
    }

    /// `a op b`: integer arithmetic when both are integers, else float math (a user's `const`
    /// beside an integer is taken as one).
    fn binary(
        &mut self,
        op: IntOp,
        [a, b]: [ValueId; 2],
        operands: [&Expr; 2],
        whole: &Expr,
    ) -> Option<ValueId> {
        let (a, b) = match (self.program.kind(a), self.program.kind(b)) {
            (Kind::Index, _) => (a, self.as_integer(b)),
            (_, Kind::Index) => (self.as_integer(a), b),
            _ => (a, b),
        };
        let kinds = [self.program.kind(a), self.program.kind(b)];
        match kinds {
            [Kind::Index, Kind::Index] => return self.push(IndexArith(op), &[a, b], whole),
            [Kind::Index, _] | [_, Kind::Index] => {
                let at = operands[usize::from(kinds[0] != Kind::Index)];
                return self.unsupported(
                    at,
                    "this is an integer (`usize`), which does not mix with float math; convert \
                     it with `as f64` (or `as f32`), or write a float literal (`2.0`)",
                );
            }
            _ => {}
        }
        let op = match op {
            IntOp::Add => BinOp::Add,
            IntOp::Sub => BinOp::Sub,
            IntOp::Mul => BinOp::Mul,
            IntOp::Div => BinOp::Div,
            // (`min` and `max` are no operators: only `%` reaches here.)
            IntOp::Rem | IntOp::Min | IntOp::Max => {
                return self.unsupported(
                    whole,
                    "`%` is for integers (`usize`); differentiable math uses `+ - * /`",
                )
            }
        };
        self.push(Binary(op), &[a, b], whole)
    }

    /// `v` as an integer if it is a user's `const` (whose type only rustc knows): beside an
    /// integer, it is one. Any other value is returned as it is.
    /// The bounds of `a..b` (or `a..=b`, whose end is `b + 1`), integers both; `not_integer`
    /// and `unbounded` say what is wrong otherwise.
    fn range(
        &mut self,
        r: &syn::ExprRange,
        not_integer: &str,
        unbounded: &str,
    ) -> Option<(ValueId, ValueId)> {
        let (Some(start), Some(end)) = (&r.start, &r.end) else {
            self.errors.spanned(r, unbounded);
            return None;
        };
        for bound in [start, end] {
            if let Some(n) = negative_literal(bound) {
                self.errors.spanned(
                    bound,
                    format!(
                        "a range's bounds are `usize`, never negative: `-{n}` is out of range \
                         (for the last entries write `x.len() - {n}`)"
                    ),
                );
                return None;
            }
        }
        let start = self.expr(start).map(|v| self.as_integer(v));
        let end = self.expr(end).map(|v| self.as_integer(v));
        let (s, e) = (start?, end?);
        if self.program.kind(s) != Kind::Index || self.program.kind(e) != Kind::Index {
            self.errors.spanned(r, not_integer);
            return None;
        }
        match r.limits {
            syn::RangeLimits::HalfOpen(_) => Some((s, e)),
            syn::RangeLimits::Closed(_) => {
                let one = self.program.push(IndexLiteral(1).into(), &[]).ok()?;
                let end = self
                    .program
                    .push(IndexArith(IntOp::Add).into(), &[e, one])
                    .ok()?;
                Some((s, end))
            }
        }
    }

    /// An index: an integer expression (`usize`).
    fn index_value(&mut self, e: &Expr) -> Option<ValueId> {
        if let Some(n) = negative_literal(e) {
            self.errors.spanned(
                e,
                format!(
                    "an index is a `usize`, never negative: `-{n}` is out of range (for the \
                     last entries write `x.len() - {n}`)"
                ),
            );
            return None;
        }
        let v = self.expr(e).map(|v| self.as_integer(v))?;
        if self.program.kind(v) != Kind::Index {
            self.errors.spanned(
                e,
                "an index is an integer (`usize`) known before the function runs: a parameter, \
                 a loop index, `x.len()`, a literal, or arithmetic on them",
            );
            return None;
        }
        Some(v)
    }

    /// `x[i]` (a vector's entry), `m[(i, j)]` (a matrix's) or `labels[i]` (an integer of a
    /// `&[usize]` parameter).
    fn indexing(&mut self, e: &syn::ExprIndex) -> Option<ValueId> {
        let tensor = self.expr(&e.expr);
        let (region, indices) = match &*e.index {
            Expr::Tuple(t) if t.elems.len() == 2 => {
                let i = self.index_value(&t.elems[0]);
                let j = self.index_value(&t.elems[1]);
                (Region::Element, vec![i?, j?])
            }
            Expr::Range(r) => {
                return self.unsupported(
                    r,
                    "a range is taken with `x.slice(a..b)` (a vector), `m.slice_rows(a..b)` \
                     (a matrix's rows) or `m.slice_cols(a..b)` (its columns), not `x[a..b]`",
                );
            }
            index => (Region::Entry, vec![self.index_value(index)?]),
        };
        let tensor = tensor?;
        if self.program.kind(tensor) == Kind::Indices && region == Region::Entry {
            return self.push(LabelAt, &[tensor, indices[0]], e);
        }
        if region == Region::Entry {
            self.check_known_range(tensor, indices[0], None, &e.index)?;
        }
        let mut operands = vec![tensor];
        operands.extend(indices);
        self.push(Read(region), &operands, e)
    }

    /// The length of the vector `v` when the macro knows it: a `Vector::from_vec(vec![..])`
    /// written out, a concatenation of such, a slice of one at literal bounds.
    fn known_len(&self, v: ValueId) -> Option<usize> {
        let inst = self.program.inst(v);
        match &inst.op {
            Op::VectorOf(_) => Some(inst.args.len()),
            Op::Concat(_) => Some(self.known_len(inst.args[0])? + self.known_len(inst.args[1])?),
            Op::Read(Read(Region::Segment)) => {
                let (a, b) = (
                    self.known_index(inst.args[1])?,
                    self.known_index(inst.args[2])?,
                );
                b.checked_sub(a)
            }
            _ => None,
        }
    }

    /// The value of the integer `v` when it is a literal, or arithmetic on literals.
    fn known_index(&self, v: ValueId) -> Option<usize> {
        let inst = self.program.inst(v);
        match &inst.op {
            Op::IndexLiteral(IndexLiteral(n)) => Some(*n),
            Op::IndexArith(IndexArith(op)) => {
                let (a, b) = (
                    self.known_index(inst.args[0])?,
                    self.known_index(inst.args[1])?,
                );
                match op {
                    IntOp::Sub => a.checked_sub(b),
                    IntOp::Div | IntOp::Rem if b == 0 => None,
                    IntOp::Add => a.checked_add(b),
                    IntOp::Mul => a.checked_mul(b),
                    op => Some(op.apply(a, b)),
                }
            }
            _ => None,
        }
    }

    /// A compile error, spanned on `at`, when the vector `x` and the index `start` (with `end`,
    /// a range) are known to the macro and out of range: `None` then.
    fn check_known_range(
        &mut self,
        x: ValueId,
        start: ValueId,
        end: Option<ValueId>,
        at: &dyn ToTokens,
    ) -> Option<()> {
        let Some(n) = self.known_len(x) else {
            return Some(());
        };
        let (a, b) = (
            self.known_index(start),
            end.and_then(|e| self.known_index(e)),
        );
        let message = match (end, a, b) {
            (None, Some(i), _) if i >= n => format!(
                "index {i} is out of range for this vector of length {n} (known here: it is \
                 written out)"
            ),
            (Some(_), Some(a), Some(b)) if a > b || b > n => format!(
                "the range {a}..{b} is out of range for this vector of length {n} (known here: \
                 it is written out)"
            ),
            (Some(_), Some(a), None) if a > n => format!(
                "the range starts at {a}, past the end of this vector of length {n} (known \
                 here: it is written out)"
            ),
            _ => return Some(()),
        };
        self.errors.spanned(at, message);
        None
    }

    /// `Vector::from_vec(vec![s₁, s₂, ..])` of differentiable scalars.
    fn vector_of(&mut self, c: &syn::ExprCall) -> Option<ValueId> {
        let entries = match c.args.first() {
            Some(Expr::Macro(m)) if c.args.len() == 1 && m.mac.path.is_ident("vec") => m
                .mac
                .parse_body_with(
                    syn::punctuated::Punctuated::<Expr, syn::Token![,]>::parse_terminated,
                )
                .ok(),
            _ => None,
        };
        let Some(entries) = entries else {
            return self.unsupported(
                &c.args,
                "`Vector::from_vec` takes the scalars written out: `vec![a, b, c]`",
            );
        };
        let mut values = Vec::new();
        for entry in &entries {
            values.push(self.expr(entry));
        }
        let values: Vec<ValueId> = values.into_iter().collect::<Option<_>>()?;
        if let Some((entry, &v)) = entries
            .iter()
            .zip(&values)
            .find(|(_, &v)| self.program.kind(v) != Kind::Scalar)
        {
            let kind = self.program.kind(v);
            return self.unsupported(
                entry,
                format!(
                    "`Vector::from_vec(vec![..])` takes scalars, found {}; vectors are joined \
                     with `u.concat(&v)`",
                    kind.article()
                ),
            );
        }
        self.push(VectorOf, &values, c)
    }

    fn as_integer(&mut self, v: ValueId) -> ValueId {
        match &self.program.inst(v).op {
            Op::NamedConstant(c) if !c.standard && c.kind != Kind::Index => {
                let integer = NamedConstant {
                    kind: Kind::Index,
                    ..c.clone()
                };
                self.program.push(integer.into(), &[]).unwrap_or(v)
            }
            _ => v,
        }
    }

    /// `n as f64` (an integer as a float of the function's type), `x as f64` of a float (the
    /// identity) and `n as usize` of an integer.
    fn cast(&mut self, c: &syn::ExprCast) -> Option<ValueId> {
        let target = match &*c.ty {
            syn::Type::Path(t) if t.qself.is_none() => t.path.get_ident().map(|i| i.to_string()),
            _ => None,
        };
        let v = self.expr(&c.expr)?;
        let float = self.float.map_or("f64", Float::suffix);
        match target.as_deref() {
            Some("usize") => {
                let v = self.as_integer(v);
                if self.program.kind(v) == Kind::Index {
                    Some(v)
                } else {
                    self.unsupported(
                        c,
                        "`as usize` converts integers only: a differentiable value cannot \
                         become an integer",
                    )
                }
            }
            Some(t) if t == float => match self.program.kind(v) {
                Kind::Index => self.push(ToFloat, &[v], c),
                Kind::Scalar => Some(v),
                k => self.unsupported(
                    c,
                    format!("`as` converts integers and scalars, found {}", k.article()),
                ),
            },
            Some("f32" | "f64") => self.unsupported(
                &c.ty,
                format!("this function computes in {float}; write `as {float}`"),
            ),
            _ => self.unsupported(
                &c.ty,
                format!("supported casts: `as {float}` (an integer to a float) and `as usize`"),
            ),
        }
    }

    /// A constant named by a path: `std::f64::consts::PI` (also `core::`, `f64::consts::`),
    /// or a `const` item of the user's, named in SCREAMING_CASE (`RATE`, `config::RATE`).
    /// `None` if the path is neither.
    fn named_constant(&mut self, p: &syn::ExprPath) -> Option<NamedConstant> {
        if p.qself.is_some() {
            return None;
        }
        let segments: Vec<String> = p
            .path
            .segments
            .iter()
            .map(|s| s.ident.unraw().to_string())
            .collect();
        let last = segments.last()?;
        let tail: Vec<&str> = segments.iter().map(String::as_str).collect();
        let standard_float = match tail.as_slice() {
            ["std" | "core", float, "consts", _] | [float, "consts", _] => Some(*float),
            _ => None,
        };
        if let Some(float) = standard_float {
            let known = NamedConstant::STANDARD.iter().any(|(n, _)| n == last);
            let ours = self.float.map_or("f64", Float::suffix);
            if known && (float == "f32" || float == "f64") {
                if float != ours {
                    self.errors.spanned(
                        p,
                        format!("this function computes in {ours}; use `std::{ours}::consts`"),
                    );
                }
                return Some(NamedConstant {
                    path: last.clone(),
                    standard: true,
                    kind: Kind::Scalar,
                });
            }
        }
        let screaming = last.chars().any(|c| c.is_ascii_uppercase())
            && last
                .chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
        screaming.then(|| NamedConstant {
            path: p.path.to_token_stream().to_string().replace(' ', ""),
            standard: false,
            kind: Kind::Scalar,
        })
    }

    /// `#[checkpoint]` (segments of ⌊√n⌋ iterations) or `#[checkpoint(every = K)]` on a loop:
    /// reverse mode stores the carried values at each segment's start and reruns the segment
    /// when it pulls it back (see [`push_checkpointed`]). Other attributes are left to rustc.
    fn checkpoint(&mut self, attrs: &[syn::Attribute]) -> Option<Segments> {
        const USAGE: &str = "write `#[checkpoint]` (segments of √n iterations) or \
                             `#[checkpoint(every = 100)]` (an integer literal, at least 1)";
        let mut found = None;
        for attr in attrs.iter().filter(|a| a.path().is_ident("checkpoint")) {
            if found.is_some() {
                self.errors.spanned(
                    attr,
                    "a loop is checkpointed once: remove one `#[checkpoint]`",
                );
                continue;
            }
            let segments = match &attr.meta {
                syn::Meta::Path(_) => Some(Segments::Sqrt),
                syn::Meta::List(list) => {
                    let mut every = None;
                    let parsed = list.parse_nested_meta(|meta| {
                        if !meta.path.is_ident("every") || every.is_some() {
                            return Err(meta.error(USAGE));
                        }
                        let value: Expr = meta.value()?.parse()?;
                        let k = match &value {
                            Expr::Lit(syn::ExprLit {
                                lit: Lit::Int(lit), ..
                            }) => lit.base10_parse::<usize>().ok(),
                            _ => None,
                        };
                        match k {
                            Some(k) if k >= 1 => every = Some(k),
                            _ => return Err(syn::Error::new_spanned(value, USAGE)),
                        }
                        Ok(())
                    });
                    match (parsed, every) {
                        (Ok(()), Some(k)) => Some(Segments::Every(k)),
                        (Err(e), _) => {
                            self.errors.push(e);
                            None
                        }
                        (Ok(()), None) => {
                            self.errors.spanned(attr, USAGE);
                            None
                        }
                    }
                }
                syn::Meta::NameValue(_) => {
                    self.errors.spanned(attr, USAGE);
                    None
                }
            };
            found = Some(segments);
        }
        found.flatten()
    }

    /// `for i in a..b { ... }` (or `a..=b`), `a` and `b` integers known before the loop: the
    /// body becomes a program of its own, run by a `Loop`; the `let mut` bindings it assigns
    /// are carried from one iteration to the next, and hold the last iteration's values after.
    fn for_loop(&mut self, f: &syn::ExprForLoop) {
        let checkpoint = self.checkpoint(&f.attrs);
        if let Some(label) = &f.label {
            self.errors.spanned(
                label,
                "loop labels are not supported: a differentiable loop runs every iteration (no \
                 `break` or `continue`)",
            );
        }
        let index_name = match &*f.pat {
            Pat::Ident(p) if p.by_ref.is_none() && p.subpat.is_none() && p.mutability.is_none() => {
                Some(p.ident.clone())
            }
            Pat::Wild(_) => None,
            other => {
                self.errors.spanned(
                    other,
                    "a loop binds its index to one name (`for i in 0..n`) or to `_`",
                );
                None
            }
        };
        let bounds = match &*f.expr {
            Expr::Range(r) => self.range(
                r,
                "a loop's bounds are integers (`usize`) known before it runs: parameters, \
                 `x.len()`, `m.rows()`, literals and arithmetic on them, not differentiable values",
                "a loop runs over a range with both bounds: `for i in a..b` or `a..=b`",
            ),
            other => {
                self.errors.spanned(
                    other,
                    "a differentiable loop runs over an integer range: `for i in a..b` (or \
                     `a..=b`)",
                );
                self.check_expr(other);
                None
            }
        };

        // The `let mut` bindings from outside that the body assigns are carried.
        let carried = self.assigned_mutables(&f.body.stmts);

        let errors_before = self.errors.count();
        self.enter_body();
        let index_text = index_name.as_ref().map(|i| i.unraw().to_string());
        let index = self
            .program
            .param(index_text.as_deref().unwrap_or("i"), Kind::Index);
        if let Some(ident) = &index_name {
            self.bind(ident.to_string(), Binding::Value(index));
        }
        for (name, v) in &carried {
            let outer = &self.frames.last().expect("a frame was pushed").outer;
            let kind = outer.kind(*v);
            let p = self.program.param(name.trim_start_matches("r#"), kind);
            self.bind(name.clone(), Binding::Mutable(p));
        }
        for stmt in &f.body.stmts {
            match stmt {
                Stmt::Expr(expr, None) => self.statement(expr),
                other => {
                    self.block_statement(other);
                }
            }
        }
        let (mut body, captures, results) = self.leave_body(&carried);

        let ok = self.errors.count() == errors_before && results.iter().all(Option::is_some);
        let (Some((start, end)), true) = (bounds, ok) else {
            for (name, _) in &carried {
                self.rebind(name, Binding::Poisoned);
            }
            return;
        };
        if carried.is_empty() {
            // The body assigns nothing outside it: the loop does not change the result.
            return;
        }
        body.outputs = results.into_iter().flatten().collect();
        let mut args = vec![start, end];
        args.extend(carried.iter().map(|(_, v)| *v));
        args.extend(captures);
        let pushed = match checkpoint {
            Some(segments) => {
                push_checkpointed(&mut self.program, body, carried.len(), &args, segments)
            }
            None => self
                .program
                .push(Loop::new(body, carried.len()).into(), &args),
        };
        let run = match pushed {
            Ok(run) => run,
            Err(e) => {
                self.errors.spanned(f.for_token, e.message);
                return;
            }
        };
        self.program.insts[run.index()].source = Some("for".to_string());
        for (j, (name, v)) in carried.iter().enumerate() {
            let kind = self.program.kind(*v);
            let result = self.program.push(Project { index: j, kind }.into(), &[run]);
            match result {
                Ok(result) => {
                    self.program
                        .name_value(result, name.trim_start_matches("r#"));
                    self.rebind(name, Binding::Mutable(result));
                }
                Err(e) => self.errors.spanned(f.for_token, e.message),
            }
        }
    }

    /// `if condition { .. } else { .. }`: each side becomes a program of its own, run by a
    /// `Branch` on the condition (a comparison of scalars or integers, or a `bool`). The `let
    /// mut` bindings either side assigns are its results, with the side's value when the `if`
    /// is an expression (`as_value`); a side without `else` leaves them as they were.
    fn branch(&mut self, i: &syn::ExprIf, as_value: bool) -> Option<ValueId> {
        let errors_before = self.errors.count();
        let condition = self.expr(&i.cond);
        if let Some(c) = condition {
            if self.program.kind(c) != Kind::Bool {
                self.errors.spanned(
                    &i.cond,
                    format!(
                        "a condition compares scalars or integers (`x > 0.0`, `i == 0`) or is a \
                         `bool`, found {}; for a condition on each element of a tensor use \
                         `relu`, `maximum` or `clamp`",
                        self.program.kind(c).article()
                    ),
                );
            }
        }
        if as_value && i.else_branch.is_none() {
            self.errors.spanned(
                i.if_token,
                "an `if` that gives a value needs an `else` giving one of the same kind",
            );
        }
        // The `let mut` bindings from outside that a side assigns.
        let mut sides = i.then_branch.stmts.clone();
        if let Some((_, otherwise)) = &i.else_branch {
            sides.push(Stmt::Expr((**otherwise).clone(), None));
        }
        let mutated = self.assigned_mutables(&sides);
        let then = self.side(Side::Block(&i.then_branch), &mutated, as_value);
        let otherwise = match &i.else_branch {
            Some((_, e)) => match &**e {
                Expr::Block(b) => self.side(Side::Block(&b.block), &mutated, as_value),
                Expr::If(nested) => self.side(Side::If(nested), &mutated, as_value),
                other => {
                    self.errors
                        .spanned(other, "`else` is followed by a block or an `if`");
                    None
                }
            },
            None => self.side(Side::Unchanged, &mutated, false),
        };
        let poison = |me: &mut Self| {
            for (name, _) in &mutated {
                me.rebind(name, Binding::Poisoned);
            }
            None
        };
        let (Some(condition), Some(then), Some(otherwise)) = (condition, then, otherwise) else {
            return poison(self);
        };
        if self.errors.count() != errors_before {
            return poison(self);
        }
        // One list of captured values for both sides.
        let mut captured: Vec<ValueId> = then.1.clone();
        for v in &otherwise.1 {
            if !captured.contains(v) {
                captured.push(*v);
            }
        }
        let kinds: Vec<Kind> = captured.iter().map(|&v| self.program.kind(v)).collect();
        let names: Vec<String> = {
            let all = self.program.value_names();
            captured.iter().map(|v| all[v.index()].clone()).collect()
        };
        let widen = |(side, own): (Program, Vec<ValueId>)| {
            let mut wide = Program::new();
            wide.precision = side.precision;
            let params: Vec<ValueId> = kinds
                .iter()
                .zip(&names)
                .map(|(&kind, name)| wide.param(name, kind))
                .collect();
            let args: Vec<ValueId> = own
                .iter()
                .map(|v| params[captured.iter().position(|c| c == v).expect("captured")])
                .collect();
            wide.outputs = wide.inline(&side, &args);
            wide
        };
        let (then, otherwise) = (widen(then), widen(otherwise));
        let results = |p: &Program| p.outputs.iter().map(|&o| p.kind(o)).collect::<Vec<_>>();
        if results(&then) != results(&otherwise) {
            let (a, b) = (results(&then), results(&otherwise));
            let message = format!(
                "both sides of an `if` give a value of the same kind: this side gives {}, the \
                 other {}",
                b.last().map_or("nothing", |k| k.article()),
                a.last().map_or("nothing", |k| k.article())
            );
            match &i.else_branch {
                Some((_, e)) => self.errors.spanned(e, message),
                None => self.errors.spanned(i.if_token, message),
            }
            return poison(self);
        }
        let kinds = results(&then);
        if kinds.is_empty() {
            // Neither side assigns anything outside it nor gives a value: no effect.
            return None;
        }
        let mut args = vec![condition];
        args.extend(&captured);
        let branch = Branch {
            then: Box::new(then),
            otherwise: Box::new(otherwise),
        };
        let at = match self.program.push(branch.into(), &args) {
            Ok(at) => at,
            Err(e) => {
                self.errors.spanned(i.if_token, e.message);
                return poison(self);
            }
        };
        self.program.insts[at.index()].source = Some("if".to_string());
        let mut value = None;
        for (j, kind) in kinds.into_iter().enumerate() {
            let result = self
                .program
                .push(Project { index: j, kind }.into(), &[at])
                .ok()?;
            match mutated.get(j) {
                Some((name, _)) => {
                    self.program
                        .name_value(result, name.trim_start_matches("r#"));
                    self.rebind(name, Binding::Mutable(result));
                }
                None => value = Some(result),
            }
        }
        if as_value {
            value
        } else {
            None
        }
    }

    /// Starts lowering a loop body or a branch side into a program of its own, in a new scope.
    fn enter_body(&mut self) {
        let mut body = Program::new();
        body.precision = self.program.precision;
        let outer = std::mem::replace(&mut self.program, body);
        self.frames.push(LoopFrame {
            outer,
            scope_base: self.scopes.len(),
            captures: Vec::new(),
        });
        self.scopes.push(HashMap::new());
    }

    /// Ends [`Lowerer::enter_body`]: the body's program, the enclosing values it captured (in
    /// parameter order), and the values `names` have at its end (`None` if poisoned).
    fn leave_body(
        &mut self,
        names: &[(String, ValueId)],
    ) -> (Program, Vec<ValueId>, Vec<Option<ValueId>>) {
        let frame = self.frames.pop().expect("a body was entered");
        let results = names
            .iter()
            .map(|(name, _)| match self.scopes[frame.scope_base].get(name) {
                Some(Binding::Mutable(v)) => Some(*v),
                _ => None,
            })
            .collect();
        self.scopes.truncate(frame.scope_base);
        let body = std::mem::replace(&mut self.program, frame.outer);
        let captured = frame.captures.iter().map(|&(v, _)| v).collect();
        (body, captured, results)
    }

    /// The `let mut` bindings in scope that `stmts` assign, each once, with their current
    /// values as the current body sees them.
    fn assigned_mutables(&mut self, stmts: &[Stmt]) -> Vec<(String, ValueId)> {
        let mut assigned = Vec::new();
        assigned_names(stmts, &mut assigned);
        let mut mutables: Vec<(String, ValueId)> = Vec::new();
        for name in assigned {
            if mutables.iter().any(|(n, _)| *n == name) {
                continue;
            }
            if let Some((Binding::Mutable(v), scope)) = self.lookup_at(&name) {
                let level = self.level_of(scope);
                let v = self.resolve(v, level);
                mutables.push((name, v));
            }
        }
        mutables
    }

    /// One side of a branch, lowered as a program of its own: its parameters are the values it
    /// reads from outside (returned, in parameter order), its results the `mutated` bindings'
    /// values at its end, then its own value when `as_value`.
    fn side(
        &mut self,
        side: Side<'_>,
        mutated: &[(String, ValueId)],
        as_value: bool,
    ) -> Option<(Program, Vec<ValueId>)> {
        self.enter_body();
        let level = self.frames.len() - 1;
        for (name, v) in mutated {
            let p = self.resolve(*v, level);
            self.bind(name.clone(), Binding::Mutable(p));
        }
        let value = match side {
            Side::Block(block) if as_value => self.block(block),
            Side::Block(block) => {
                for stmt in &block.stmts {
                    match stmt {
                        Stmt::Expr(expr, None) => self.statement(expr),
                        other => {
                            self.block_statement(other);
                        }
                    }
                }
                None
            }
            Side::If(nested) => self.branch(nested, as_value),
            Side::Unchanged => None,
        };
        let (mut body, captured, mut results) = self.leave_body(mutated);
        if as_value {
            results.push(value);
        }
        body.outputs = results.into_iter().collect::<Option<Vec<_>>>()?;
        Some((body, captured))
    }

    /// Replaces the binding of `name` in the innermost scope that has it.
    fn rebind(&mut self, name: &str, binding: Binding) {
        if let Some(scope) = self.scopes.iter_mut().rev().find(|s| s.contains_key(name)) {
            scope.insert(name.to_string(), binding);
        }
    }

    fn local(&mut self, local: &syn::Local) {
        if let Pat::Tuple(tuple) = &local.pat {
            return self.tuple_local(local, tuple);
        }
        let (ident, declared) = match &local.pat {
            Pat::Ident(p) if p.by_ref.is_none() && p.subpat.is_none() => (Some(p), None),
            Pat::Type(t) => match &*t.pat {
                Pat::Ident(p) if p.by_ref.is_none() && p.subpat.is_none() => {
                    (Some(p), Some(&*t.ty))
                }
                other => {
                    self.reject_pattern(other);
                    (None, None)
                }
            },
            other => {
                self.reject_pattern(other);
                (None, None)
            }
        };
        let mut value = match &local.init {
            None => {
                self.errors.spanned(
                    local,
                    "`let` needs a value here: write `let name = expression;`",
                );
                None
            }
            Some(init) => {
                if let Some((else_token, _)) = &init.diverge {
                    self.errors.spanned(
                        else_token,
                        "`let ... else` is not supported: a differentiable function cannot \
                         fail; write `let name = expression;`",
                    );
                }
                self.expr(&init.expr)
            }
        };
        if let (Some(v), Some(ty)) = (value, declared) {
            if !self.check_declared_type(v, ty) {
                value = None;
            }
        }
        if let Some(pat) = ident {
            let (ident, mutable) = (&pat.ident, pat.mutability.is_some());
            let binding = match value {
                Some(v) if mutable => {
                    self.program.name_value(v, &ident.unraw().to_string());
                    Binding::Mutable(v)
                }
                Some(v) => {
                    self.program.name_value(v, &ident.unraw().to_string());
                    Binding::Value(v)
                }
                None => Binding::Poisoned,
            };
            self.bind(ident.to_string(), binding);
        }
    }

    /// Reports a `let` pattern other than one name, and poisons the names it binds so that
    /// their uses stay quiet.
    fn reject_pattern(&mut self, pat: &Pat) {
        if let Pat::Wild(w) = pat {
            self.errors.spanned(
                w,
                "`let _` discards the value, so the statement has no effect; bind a name \
                 (`let y = ...;`) or remove the statement",
            );
        } else {
            self.errors.spanned(
                pat,
                "`let` binds one name (`let y = ..`) or a tuple of names (`let (h, c) = ..`); \
                 other patterns are not supported",
            );
        }
        let mut names = Vec::new();
        pattern_names(pat, &mut names);
        for name in names {
            self.bind(name.to_string(), Binding::Poisoned);
        }
    }

    /// `let y: Matrix<f64> = ...` must agree with the value's kind; false (reported) if not.
    fn check_declared_type(&mut self, v: ValueId, ty: &syn::Type) -> bool {
        let kind = self.program.kind(v);
        let float = self.float.map_or("f64", Float::suffix);
        let message = match classify(ty) {
            Ok(Some(t)) if t.by_ref => {
                "a `let` binding holds an owned value; drop the `&` from the type".to_string()
            }
            Ok(Some(t)) if t.kind != kind => {
                format!(
                    "this declares {} but the value is {}",
                    t.kind.article(),
                    kind.article()
                )
            }
            Ok(Some(t)) if self.float.is_some_and(|f| f != t.float) => {
                format!("this function computes in {float}; declare the same float type")
            }
            Ok(Some(_)) => return true,
            Ok(None) => format!(
                "a value in a differentiable function is `{float}`, `Vector<{float}>` or \
                 `Matrix<{float}>`"
            ),
            Err(e) => {
                self.errors.push(e);
                return false;
            }
        };
        self.errors.spanned(ty, message);
        false
    }

    /// Lowers `expr`, and records its text on the instruction it created (for run-time shape
    /// errors that name the operation as written).
    fn expr(&mut self, expr: &Expr) -> Option<ValueId> {
        let before = self.program.insts.len();
        let value = self.expr_inner(expr);
        if let Some(v) = value {
            let inst = &mut self.program.insts[v.index()];
            if v.index() >= before && inst.source.is_none() {
                inst.source = Some(source_text(expr));
            }
        }
        value
    }

    fn expr_inner(&mut self, expr: &Expr) -> Option<ValueId> {
        match expr {
            Expr::Paren(p) => self.expr(&p.expr),
            Expr::Group(g) => self.expr(&g.expr),
            Expr::Reference(r) => {
                if let Some(m) = &r.mutability {
                    self.errors.spanned(
                        m,
                        "`&mut` is not supported; a differentiable function only reads its values",
                    );
                }
                self.expr(&r.expr)
            }
            Expr::Path(p) => match p.path.get_ident() {
                Some(ident) if p.qself.is_none() && self.lookup(&ident.to_string()).is_some() => {
                    self.name(ident)
                }
                _ => match self.named_constant(p) {
                    Some(constant) => self.push(constant, &[], expr),
                    None => match p.path.get_ident() {
                        Some(ident) if p.qself.is_none() => self.name(ident),
                        _ => self.unsupported(
                            expr,
                            "paths are not supported here except constants \
                             (`std::f64::consts::PI`, a `const` item); refer to parameters and \
                             `let` bindings by name",
                        ),
                    },
                },
            },
            Expr::Lit(lit) => self.literal(&lit.lit),
            Expr::Unary(u) => match u.op {
                UnOp::Neg(_) => {
                    let a = self.expr(&u.expr)?;
                    self.push(Neg, &[a], expr)
                }
                UnOp::Not(_) => {
                    let a = self.expr(&u.expr)?;
                    self.push(Logic::Not, &[a], expr)
                }
                _ => self.unsupported(
                    u.op,
                    "this operator is not supported; the unary operator in differentiable math \
                     is `-`",
                ),
            },
            Expr::Binary(_) if self.assignment(expr, false) => None,
            Expr::Binary(b) if comparison(&b.op).is_some() || logic(&b.op).is_some() => {
                let lhs = self.expr(&b.left);
                let rhs = self.expr(&b.right);
                let (lhs, rhs) = (lhs?, rhs?);
                if let Some(op) = comparison(&b.op) {
                    let (lhs, rhs) = match (self.program.kind(lhs), self.program.kind(rhs)) {
                        (Kind::Index, _) | (_, Kind::Index) => {
                            (self.as_integer(lhs), self.as_integer(rhs))
                        }
                        _ => (lhs, rhs),
                    };
                    self.push(Compare(op), &[lhs, rhs], expr)
                } else {
                    let op = logic(&b.op).expect("a logic operator");
                    self.push(op, &[lhs, rhs], expr)
                }
            }
            Expr::Binary(b) => {
                let op = match b.op {
                    syn::BinOp::Add(_) => Some(IntOp::Add),
                    syn::BinOp::Sub(_) => Some(IntOp::Sub),
                    syn::BinOp::Mul(_) => Some(IntOp::Mul),
                    syn::BinOp::Div(_) => Some(IntOp::Div),
                    syn::BinOp::Rem(_) => Some(IntOp::Rem),
                    _ => None,
                };
                let lhs = self.expr(&b.left);
                let rhs = self.expr(&b.right);
                let Some(op) = op else {
                    return self.unsupported(
                        b.op,
                        "this operator is not supported; differentiable math uses `+ - * /` \
                         (elementwise) and `.matmul(..)` for matrix products; integers also `%`",
                    );
                };
                self.binary(op, [lhs?, rhs?], [&b.left, &b.right], expr)
            }
            Expr::MethodCall(m) => self.method(m),
            Expr::Block(b) => {
                if let Some(label) = &b.label {
                    self.errors.spanned(
                        label,
                        "labelled blocks are not supported: nothing can `break` out of a \
                         differentiable block; remove the label",
                    );
                }
                self.block(&b.block)
            }
            Expr::Unsafe(u) => self.unsupported(
                u.unsafe_token,
                "`unsafe` blocks are not allowed in a differentiable function; write the math \
                 with the supported safe operations (`+ - * /`, elementwise methods, `matmul`, \
                 reductions)",
            ),
            Expr::Call(c) if self.is_poisoned_name(&c.func) => None,
            Expr::Call(c) => self.call(c),
            Expr::If(i) => self.branch(i, true),
            Expr::Match(m) => {
                self.unsupported(
                    m.match_token,
                    "`match` is not supported; a differentiable function is straight-line code \
                     (use `relu`, `abs` or `sigmoid` for piecewise functions)",
                );
                for arm in &m.arms {
                    self.scopes.push(HashMap::new());
                    self.poison_names(&arm.pat);
                    self.check_expr(&arm.body);
                    self.scopes.pop();
                }
                None
            }
            Expr::ForLoop(f) => {
                self.unsupported(
                    f.for_token,
                    "a `for` loop is a statement: it gives no value; assign what it computes to \
                     `let mut` bindings and use them after it",
                );
                self.check_block(&f.body, std::slice::from_ref(&*f.pat));
                None
            }
            Expr::While(w) => {
                self.unsupported(w.while_token, LOOP_MESSAGE);
                self.rejected_loops += 1;
                self.check_block(&w.body, &[]);
                self.rejected_loops -= 1;
                None
            }
            Expr::Loop(l) => {
                self.unsupported(l.loop_token, LOOP_MESSAGE);
                self.rejected_loops += 1;
                self.check_block(&l.body, &[]);
                self.rejected_loops -= 1;
                None
            }
            // Inside a loop, which is reported already: only the value can hold an error.
            Expr::Break(b) => {
                if let Some(value) = &b.expr {
                    self.check_expr(value);
                }
                None
            }
            Expr::Continue(_) => None,
            Expr::Closure(c) => self.unsupported(
                c,
                "closures are not supported in a differentiable function; write the math inline",
            ),
            Expr::Macro(m) => self.unsupported(
                m,
                "macros are not supported inside a differentiable function: the derivative \
                 cannot see what they expand to",
            ),
            Expr::Try(t) => {
                self.unsupported(
                    t.question_token,
                    "`?` is not supported; a differentiable function cannot fail early",
                );
                self.check_expr(&t.expr);
                None
            }
            Expr::Return(r) => self.unsupported(r, RETURN_MESSAGE),
            Expr::Async(a) => self.unsupported(
                a.async_token,
                "`async` blocks are not supported in a differentiable function; compute the \
                 value directly",
            ),
            Expr::Await(a) => {
                self.unsupported(
                    a.await_token,
                    "`.await` is not supported in a differentiable function; pass the awaited \
                     value in as a parameter",
                );
                self.check_expr(&a.base);
                None
            }
            Expr::Array(a)
                if !a.elems.is_empty() && a.elems.iter().all(|e| integer_literal(e).is_some()) =>
            {
                let list = a.elems.iter().filter_map(integer_literal).collect();
                self.push(IndexList(list), &[], expr)
            }
            Expr::Cast(c) => self.cast(c),
            Expr::Index(i) => self.indexing(i),
            Expr::Field(f) => match &f.member {
                // `cell(..).0`: one result of a call returning a tuple.
                syn::Member::Unnamed(index) if is_call(&f.base) => {
                    let v = self.expr(&f.base)?;
                    if self.program.kind(v) != Kind::Tuple {
                        return self
                            .unsupported(f, "`.0` reads a result of a call returning a tuple");
                    }
                    let parts = self.projections(v, f)?;
                    match parts.get(index.index as usize) {
                        Some(&part) => Some(part),
                        None => self
                            .unsupported(index, format!("the tuple has {} results", parts.len())),
                    }
                }
                _ => self.unsupported(
                    f,
                    "field access is not supported; pass the field's value in as a parameter",
                ),
            },
            Expr::Assign(a) => {
                self.unsupported(
                    a,
                    "assignment is not supported; bind a new value with `let` (shadowing is \
                     allowed)",
                );
                self.check_expr(&a.right);
                None
            }
            Expr::Tuple(t) => {
                self.unsupported(
                    t,
                    "a tuple is the function's result (`(h, c)` at the end of its body) or is \
                     taken apart where it is made (`let (h, c) = cell(..);`); it is not a value \
                     of its own",
                );
                t.elems.iter().for_each(|e| self.check_expr(e));
                None
            }
            _ => self.unsupported(
                expr,
                format!(
                    "this expression is not supported; {}",
                    supported_expressions()
                ),
            ),
        }
    }

    /// Lowers a part of an unsupported construct only to report the errors inside it (the
    /// construct was reported already): one compile shows every mistake.
    fn check_expr(&mut self, expr: &Expr) {
        let _ = self.expr(expr);
    }

    /// [`check_expr`](Self::check_expr) for a block that need not end in a value (a loop's
    /// body), with the names `bound` binds (a loop variable) in scope, poisoned.
    fn check_block(&mut self, block: &Block, bound: &[Pat]) {
        self.scopes.push(HashMap::new());
        bound.iter().for_each(|pat| self.poison_names(pat));
        for (i, stmt) in block.stmts.iter().enumerate() {
            match stmt {
                Stmt::Expr(expr, None) if i + 1 == block.stmts.len() => self.check_expr(expr),
                other => {
                    self.block_statement(other);
                }
            }
        }
        self.scopes.pop();
    }

    /// Binds every name `pat` binds as poisoned, so that their uses stay quiet.
    fn poison_names(&mut self, pat: &Pat) {
        let mut names = Vec::new();
        pattern_names(pat, &mut names);
        for name in names {
            self.bind(name.to_string(), Binding::Poisoned);
        }
    }

    fn unsupported(
        &mut self,
        tokens: impl ToTokens,
        message: impl std::fmt::Display,
    ) -> Option<ValueId> {
        self.errors.spanned(tokens, message);
        None
    }

    /// A call of another differentiable function (or one with a user-supplied derivative).
    fn call(&mut self, c: &syn::ExprCall) -> Option<ValueId> {
        if let Expr::Path(p) = &*c.func {
            let segments: Vec<String> = p
                .path
                .segments
                .iter()
                .map(|s| s.ident.to_string())
                .collect();
            if p.qself.is_none() && segments.ends_with(&["Vector".into(), "from_vec".into()]) {
                return self.vector_of(c);
            }
        }
        let callee = match &*c.func {
            Expr::Path(p) if p.qself.is_none() && calls::is_callee_path(&p.path) => {
                Some(p.path.clone())
            }
            _ => None,
        };
        let Some(callee) = callee else {
            return self.unsupported(
                &c.func,
                format!(
                    "only functions named by a path can be called (`f(x)`, `layers::dense(x)`), \
                     without generic arguments, and they must be #[differentiable] or have a \
                     #[derivative]; {}",
                    supported_expressions()
                ),
            );
        };
        if let Some(ident) = callee.get_ident() {
            if self.lookup(&ident.to_string()).is_some() {
                return self.unsupported(
                    ident,
                    format!("`{ident}` is a value, not a function: it cannot be called"),
                );
            }
        }
        let name = calls::callee_name(&callee);
        let Some(sig) = self.known.iter().find(|k| k.name == name).cloned() else {
            // Its signature comes through a handshake with its macro (see `calls`); the
            // arguments are checked then, when it is known which of them are constants.
            if !self.unknown.iter().any(|u| calls::callee_name(u) == name) {
                self.unknown.push(callee);
            }
            return None;
        };
        if c.args.len() != sig.params.len() {
            return self.unsupported(
                c,
                format!(
                    "`{name}` takes {} argument(s), found {}",
                    sig.params.len(),
                    c.args.len()
                ),
            );
        }
        let mut values = Vec::new();
        let mut params = Vec::new();
        let mut ok = true;
        for (arg, param) in c.args.iter().zip(&sig.params) {
            match param {
                SigParam::Value { kind, by_ref } => match self.expr(arg) {
                    Some(v) if self.program.kind(v) == *kind => {
                        values.push(v);
                        params.push(CalleeParam::Value {
                            kind: *kind,
                            by_ref: *by_ref,
                        });
                    }
                    Some(v) => {
                        self.errors.spanned(
                            arg,
                            format!(
                                "`{name}` takes {} here, found {}",
                                kind.article(),
                                self.program.kind(v).article()
                            ),
                        );
                        ok = false;
                    }
                    None => ok = false,
                },
                SigParam::Constant => {
                    params.push(CalleeParam::Constant(arg.to_token_stream().to_string()));
                }
            }
        }
        if !ok {
            return None;
        }
        let callee = Callee {
            name,
            params,
            results: sig.results.clone(),
            second_order: sig.second_order,
        };
        self.push(Call(callee), &values, c)
    }

    /// True if `expr` is a name whose binding had an error (a rejected closure, say).
    fn is_poisoned_name(&self, expr: &Expr) -> bool {
        match expr {
            Expr::Path(p) => p
                .path
                .get_ident()
                .is_some_and(|i| matches!(self.lookup(&i.to_string()), Some(Binding::Poisoned))),
            _ => false,
        }
    }

    fn name(&mut self, ident: &syn::Ident) -> Option<ValueId> {
        match self
            .lookup_at(&ident.to_string())
            .map(|(b, scope)| (b, self.level_of(scope)))
        {
            Some((Binding::Value(v) | Binding::Mutable(v), level)) => Some(self.resolve(v, level)),
            // A `usize`, `bool` or `&[usize]` parameter: a constant of the function, read where
            // first used.
            Some((Binding::Constant(ty), _))
                if ty == "usize" || ty == "bool" || ty == "&[usize]" =>
            {
                let kind = match ty.as_str() {
                    "bool" => Kind::Bool,
                    "usize" => Kind::Index,
                    _ => Kind::Indices,
                };
                let v = self
                    .program_at(0)
                    .constant(&ident.unraw().to_string(), kind);
                self.rebind(&ident.to_string(), Binding::Value(v));
                Some(self.resolve(v, 0))
            }
            Some((Binding::Poisoned, _)) => None,
            Some((Binding::Constant(ty), _)) => self.unsupported(
                ident,
                format!(
                    "`{ident}` has type `{ty}`, which is a constant here: only `{0}`, \
                     `Vector<{0}>` and `Matrix<{0}>` values take part in differentiable math, \
                     and constants of type `usize`, `bool` or `&[usize]` (labels) where their \
                     type fits",
                    self.float.map_or("f64", Float::suffix)
                ),
            ),
            None => self.unsupported(
                ident,
                format!(
                    "unknown name `{ident}`; a differentiable function can use its parameters \
                     and its own `let` bindings"
                ),
            ),
        }
    }

    fn literal(&mut self, lit: &Lit) -> Option<ValueId> {
        match lit {
            Lit::Float(f) => {
                let suffix = f.suffix();
                if let Some(float) = self.float {
                    if !suffix.is_empty() && suffix != float.suffix() {
                        return self.unsupported(
                            f,
                            format!(
                                "this function computes in {0}; write the literal without a \
                                 suffix or as `{0}`",
                                float.suffix()
                            ),
                        );
                    }
                }
                // Parsed in the function's own type, as rustc parses the original.
                let parsed = match self.float {
                    Some(Float::F32) => f.base10_parse::<f32>().map(f64::from),
                    _ => f.base10_parse::<f64>(),
                };
                match parsed {
                    Ok(value) => self.push(Literal::new(value), &[], f),
                    Err(e) => {
                        self.errors.push(e);
                        None
                    }
                }
            }
            Lit::Bool(b) => self.push(Logic::Literal(b.value), &[], b),
            Lit::Int(i) => match (i.suffix(), i.base10_parse::<usize>()) {
                ("" | "usize", Ok(n)) => self.push(IndexLiteral(n), &[], i),
                _ => self.unsupported(
                    i,
                    format!(
                        "integer literals are `usize` (lengths, indices, loop bounds); in float \
                         math write `{}.0`",
                        i.base10_digits()
                    ),
                ),
            },
            other => self.unsupported(
                other,
                "only float literals (`2.0`) are supported in differentiable math",
            ),
        }
    }

    /// An integer literal argument such as the `2` of `powi(2)` (a leading `-` allowed).
    fn integer_argument(&mut self, m: &ExprMethodCall, arg: &Expr, allowed: &str) -> Option<i64> {
        let parse = |e: &Expr| -> Option<i64> {
            match e {
                Expr::Lit(syn::ExprLit {
                    lit: Lit::Int(i), ..
                }) => i.base10_parse().ok(),
                Expr::Unary(u) if matches!(u.op, UnOp::Neg(_)) => match &*u.expr {
                    Expr::Lit(syn::ExprLit {
                        lit: Lit::Int(i), ..
                    }) => i.base10_parse::<i64>().ok().map(|v| -v),
                    _ => None,
                },
                Expr::Paren(p) => match &*p.expr {
                    Expr::Lit(syn::ExprLit {
                        lit: Lit::Int(i), ..
                    }) => i.base10_parse().ok(),
                    _ => None,
                },
                _ => None,
            }
        };
        let value = parse(arg);
        if value.is_none() {
            let method = &m.method;
            self.errors
                .spanned(arg, format!("`{method}` takes {allowed}"));
        }
        value
    }

    /// Checks the argument count of a method call.
    fn arity(&mut self, m: &ExprMethodCall, n: usize) -> bool {
        if m.args.len() == n {
            return true;
        }
        let method = &m.method;
        let expected = match n {
            0 => "no arguments".to_string(),
            1 => "one argument".to_string(),
            n => format!("{n} arguments"),
        };
        let message = format!("`{method}` takes {expected}, found {}", m.args.len());
        if m.args.is_empty() {
            self.errors.spanned(method_tokens(m), message);
        } else {
            self.errors.spanned(&m.args, message);
        }
        false
    }

    fn method(&mut self, m: &ExprMethodCall) -> Option<ValueId> {
        if let Some(t) = &m.turbofish {
            self.errors.spanned(
                t,
                "turbofish arguments are not supported here; remove the `::<...>`",
            );
        }
        let name = m.method.to_string();
        let receiver = self.expr(&m.receiver);
        let Some(spec) = methods::method_for(&name, m.args.len()) else {
            return self.unsupported(
                &m.method,
                format!(
                    "unsupported method `{name}`; supported methods: {}",
                    methods::names()
                ),
            );
        };
        // Values are lowered before the count is checked, so that errors inside them show too.
        let mut values: Vec<Option<ValueId>> = Vec::new();
        for (a, arg) in m
            .args
            .iter()
            .zip(spec.args.iter().chain(std::iter::repeat(&Arg::Value)))
        {
            match (arg, a) {
                (Arg::Value, _) => values.push(self.expr(a)),
                (Arg::Range, Expr::Range(r)) => {
                    let bounds = self.range(
                        r,
                        &format!("`{name}` takes a range of integers (`usize`), such as `a..b`"),
                        &format!("`{name}` takes a range with both bounds: `a..b` or `a..=b`"),
                    );
                    values.push(bounds.map(|b| b.0));
                    values.push(bounds.map(|b| b.1));
                }
                (Arg::Range, other) => {
                    self.errors.spanned(
                        other,
                        format!("`{name}` takes a range of integers, such as `a..b`"),
                    );
                    values.push(None);
                }
                (Arg::Index, _) => values.push(self.index_value(a)),
                (Arg::Int(_), _) => {}
            }
        }
        if !self.arity(m, spec.args.len()) {
            return None;
        }
        let mut ints = Vec::new();
        for (expr, arg) in m.args.iter().zip(spec.args) {
            if let Arg::Int(what) = arg {
                ints.push(self.integer_argument(m, expr, what)?);
            }
        }
        let op = match spec.op(&ints) {
            Ok(op) => op,
            Err(message) => return self.unsupported(&m.args, message),
        };
        let mut operands = vec![receiver?];
        for v in values {
            operands.push(v?);
        }
        if let Some(Op::Read(Read(Region::Segment))) = &op {
            self.check_known_range(operands[0], operands[1], Some(operands[2]), &m.args)?;
        }
        match op {
            Some(op) => self.push(op, &operands, method_tokens(m)),
            // `clone`: the receiver itself.
            None => Some(operands[0]),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(expr: &str) -> String {
        source_text(&syn::parse_str(expr).expect("an expression"))
    }

    #[test]
    fn source_text_reads_as_written() {
        assert_eq!(source("x.matmul(w) + b"), "x.matmul(w) + b");
        assert_eq!(source("-(y * &lp).sum_axis(1)"), "-(y * &lp).sum_axis(1)");
        assert_eq!(
            source("a.maximum(&b).clamp(0.0, 1.0)"),
            "a.maximum(&b).clamp(0.0, 1.0)"
        );
        assert_eq!(source("m[(i, j)] * (n as f64)"), "m[(i, j)] * (n as f64)");
        assert_eq!(source("dense(x, &p.w)[i]"), "dense(x, &p.w)[i]");
    }

    #[test]
    fn source_text_elides_deep_operands() {
        // Each of the chain's 500 operations records its text: 500 bounded texts, not 500
        // prefixes of the chain.
        let chain = format!("x{}", ".tanh()".repeat(500));
        assert_eq!(
            source(&chain),
            format!("…{}", ".tanh()".repeat(SOURCE_DEPTH))
        );
        let sum = format!("a{}", " + a".repeat(500));
        assert_eq!(source(&sum), format!("…{}", " + a".repeat(SOURCE_DEPTH)));
    }
}
