//! The simplifier: local rewrites, common-subexpression elimination and dead-code elimination.
//!
//! One pass rebuilds the program front to back: each instruction's arguments are mapped to the
//! rebuilt values, local rules may replace it by an existing value or a cheaper instruction, and
//! an instruction already present with the same op and arguments is reused. A dead-code pass then
//! drops what no output needs. Rewrites never change a value, only how it is computed; those that
//! may round differently apply to derived values only, and one, `ln(σ(x))` to
//! `log_sigmoid(x)`, gives the stable value where the spelled-out one overflows.
//!
//! [`stable_spellings`] is a separate pass, run on a primal program before it is differentiated:
//! the textbook spellings of softplus, σ, log σ, softmax, log-softmax and log-sum-exp become
//! those functions (log-sum-exp as max(u) + ln Σe^(u − max(u))), so that the derivatives are
//! built from the stable form.

use std::collections::HashMap;

use super::ir::{Inst, Kind, Program, Role, ValueId};
use super::liveness::Liveness;
use super::op::Op;
use super::rules::arith::{BinOp, Binary, Literal, Neg};
use super::rules::elementwise::{Unary, UnaryFn, UnaryGrad};
use super::rules::index::AddTo;
use super::rules::index::{Read, Region};
use super::rules::linalg::{Dot, MatMul, Outer, Transpose};
use super::rules::reduce::{ExtremeEntry, Sum};
use super::rules::softmax::{LogSoftmax, Softmax};
use super::rules::structure::{AddToDiagonal, AsColumn, Diag, IdentityOf, RowCount};

/// Simplifies `program` until it stops changing (at most a few rounds).
pub fn simplify(program: &Program) -> Program {
    let mut current = program.clone();
    for _ in 0..4 {
        let next = eliminate_dead_code(&rebuild(&current));
        if next == current {
            break;
        }
        current = next;
    }
    current
}

/// `program` with the textbook spellings of stable functions replaced by the forms the engine
/// differentiates stably and fast (the rules of `Rebuilder::rewrite_spelling`): `ln(1 + exp(u))`,
/// `1/(1 + exp(−u))`, `exp(u)/Σexp(u)`, `ln(Σexp(u))`, `u − ln(Σexp(u))` and their relatives. Run on a primal
/// program before it is differentiated, so that its derivatives are built from the stable form
/// (a pullback built from `ln(1 + exp(u))` itself is `d/(1 + eᵘ) ⊙ eᵘ`, NaN once eᵘ overflows).
/// The program itself when no spelling is found, so every other program is left exactly as it
/// was written.
pub fn stable_spellings(program: &Program) -> Program {
    let mut rb = Rebuilder::new(program);
    rb.spellings_only = true;
    let (rebuilt, found) = rb.rebuild(program);
    if found {
        eliminate_dead_code(&rebuilt)
    } else {
        program.clone()
    }
}

/// The result of a local rule.
enum Rewrite {
    /// The instruction equals an existing value.
    Value(ValueId),
    /// The instruction is better computed as this op on these arguments.
    Inst(Op, Vec<ValueId>),
}

impl Rewrite {
    /// This rewrite as a value of the rebuilt program (adding the instruction if it is one).
    fn resolve(self, rb: &mut Rebuilder, kind: Kind) -> Rewrite {
        match self {
            Rewrite::Inst(op, args) => Rewrite::Value(rb.emit(op, args, None, kind, None)),
            value => value,
        }
    }
}

struct Rebuilder {
    out: Program,
    /// Uses of each value of the *old* program (for rewrites that only pay when single-use).
    old_uses: Vec<usize>,
    /// For each rebuilt value, the old value it came from (to look up its use count).
    origin: Vec<Option<usize>>,
    seen: HashMap<(Op, Vec<ValueId>), ValueId>,
    /// The shape class of each rebuilt value (see [`Program::shape_class`]).
    classes: Vec<ValueId>,
    /// The role given to values that rewrites create.
    role: Role,
    /// The source text given to them: that of the instruction being rebuilt.
    source: Option<String>,
    /// Only the spelling rules apply ([`stable_spellings`]).
    spellings_only: bool,
    /// Whether a spelling rule has applied.
    spellings_found: bool,
}

impl Rebuilder {
    fn op(&self, v: ValueId) -> &Op {
        &self.out.inst(v).op
    }

    fn args(&self, v: ValueId) -> &[ValueId] {
        &self.out.inst(v).args
    }

    fn kind(&self, v: ValueId) -> Kind {
        self.out.kind(v)
    }

    fn literal(&self, v: ValueId) -> Option<f64> {
        self.op(v).literal()
    }

    fn single_use(&self, v: ValueId) -> bool {
        self.origin[v.index()].is_some_and(|old| self.old_uses[old] <= 1)
    }

    /// The local rules. Each says why it is valid.
    fn rewrite(&mut self, op: &Op, args: &[ValueId]) -> Option<Rewrite> {
        use Rewrite::*;
        if self.spellings_only {
            // Only before differentiation ([`stable_spellings`]): some forms take more
            // instructions than the spelling (ln σ(v) and a negation for ln(1 + e⁻ᵛ)), which the
            // rules below would not undo, and derived programs never spell them.
            if let Some(r) = self.rewrite_spelling(op, args) {
                self.spellings_found = true;
                return Some(r);
            }
            // What the spelling rules' results need to meet the stable form exactly: −(−a) = a.
            return match (op, args) {
                (Op::Neg(_), &[a]) if matches!(self.op(a), Op::Neg(_)) => {
                    Some(Value(self.args(a)[0]))
                }
                _ => None,
            };
        }
        match (op, args) {
            // Iᵀ = I, diag(d)ᵀ = diag(d)
            (Op::Transpose(_), &[a]) if matches!(self.op(a), Op::Identity(_) | Op::Diag(_)) => {
                Some(Value(a))
            }
            // (aᵀ)ᵀ = a
            (Op::Transpose(_), &[a]) if matches!(self.op(a), Op::Transpose(_)) => {
                Some(Value(self.args(a)[0]))
            }
            // (op(a)·op(b))ᵀ = op(b)ᵀ·op(a)ᵀ: the transpose becomes GEMM flags. Only when the
            // product has no other use, or the GEMM would run twice. Inexact, as are the flags
            // below: a GEMM kernel may sum in another order for other strides.
            (Op::Transpose(_), &[p]) if self.single_use(p) && self.may_round_differently() => {
                match (self.op(p), self.args(p)) {
                    (Op::MatMul(m), &[a, b]) if self.kind(b) == Kind::Matrix => Some(Inst(
                        MatMul {
                            ta: !m.tb,
                            tb: !m.ta,
                        }
                        .into(),
                        vec![b, a],
                    )),
                    // (u·vᵀ)ᵀ = v·uᵀ
                    (Op::Outer(_), &[u, v]) => Some(Inst(Outer.into(), vec![v, u])),
                    _ => None,
                }
            }
            // Identities and diagonals multiply without a GEMM (batched programs), and a
            // transposed operand of a product becomes a flag: no copy.
            (Op::MatMul(m), &[a, b]) => {
                if self.kind(b) == Kind::Matrix {
                    if let Some(r) = self.rewrite_structured_product(*m, a, b) {
                        return Some(r);
                    }
                }
                if !self.may_round_differently() {
                    return None;
                }
                let flipped = |ta, tb| MatMul { ta, tb }.into();
                if let (Op::Transpose(_), &[inner]) = (self.op(a), self.args(a)) {
                    return Some(Inst(flipped(!m.ta, m.tb), vec![inner, b]));
                }
                if let (Op::Transpose(_), &[inner]) = (self.op(b), self.args(b)) {
                    return Some(Inst(flipped(m.ta, !m.tb), vec![a, inner]));
                }
                if self.kind(a) != Kind::Matrix || self.kind(b) != Kind::Matrix {
                    return None;
                }
                // op(a)·(c·B) = c·(op(a)·B), (c·A)·op(b) = c·(A·op(b)): the scalar scales the
                // product (n² work, not n² before an n³ product that may exist already).
                for (scaled, left) in [(b, true), (a, false)] {
                    if let (Op::Binary(Binary(BinOp::Mul)), &[c, t]) =
                        (self.op(scaled), self.args(scaled))
                    {
                        // (Only when the scaled matrix is used nowhere else: no extra work.)
                        if self.kind(c) == Kind::Scalar
                            && self.kind(t) == Kind::Matrix
                            && self.single_use(scaled)
                        {
                            let args = if left { vec![a, t] } else { vec![t, b] };
                            let product = self.emit((*m).into(), args, None, Kind::Matrix, None);
                            return Some(Inst(Binary(BinOp::Mul).into(), vec![c, product]));
                        }
                    }
                }
                // op(a)·op(b) = (op(b)ᵀ·op(a)ᵀ)ᵀ when that product is computed already (the
                // pullback of trace(A·X⁻¹) reads (A·X⁻¹)ᵀ): a transpose, folded into the next
                // product's flags, instead of a second GEMM.
                let key = (flipped(!m.tb, !m.ta), vec![b, a]);
                // (Not when that product is used once: its transpose would fold back into
                // this product.)
                if let Some(&existing) = self.seen.get(&key) {
                    if !self.single_use(existing) {
                        return Some(Inst(Transpose.into(), vec![existing]));
                    }
                }
                None
            }
            // −(−a) = a; −c is a literal; −(M ⊙ a) = M ⊙ (−a) for a row scaling, so the sign
            // flips on the vector, not over the matrix, and the scaling can merge with the next
            // (the logistic Hessian's chain of signs and scalings becomes one pass over X).
            // All exact.
            (Op::Neg(_), &[a]) => match (self.op(a), self.literal(a)) {
                (Op::Neg(_), _) => Some(Value(self.args(a)[0])),
                (_, Some(c)) => Some(Inst(Literal::new(-c).into(), vec![])),
                _ => match self.row_scaling(a) {
                    Some((m, by)) if self.single_use(a) => {
                        let minus = self.emit(Neg.into(), vec![by], None, Kind::Vector, None);
                        let column =
                            self.emit(AsColumn.into(), vec![minus], None, Kind::Matrix, None);
                        Some(Inst(Binary(BinOp::Mul).into(), vec![m, column]))
                    }
                    _ => None,
                },
            },
            (Op::Binary(Binary(bin)), &[a, b]) => self.rewrite_binary(*bin, a, b),
            (Op::AddTo(add), args) => self.rewrite_repeated_add_to(*add, args),
            // Σ(u ⊙ v) = uᵀ·v for vectors: one pass, no temporary.
            // Inexact (another summation order), so only in derived values.
            (Op::Sum(_), &[p])
                if self.may_round_differently()
                    && self.kind(p) == Kind::Vector
                    && self.single_use(p) =>
            {
                match (self.op(p), self.args(p)) {
                    (Op::Binary(Binary(BinOp::Mul)), &[u, v])
                        if self.kind(u) == Kind::Vector && self.kind(v) == Kind::Vector =>
                    {
                        Some(Inst(Dot.into(), vec![u, v]))
                    }
                    _ => None,
                }
            }
            // The pullback and pushforward of ln(σ(x)): (d / σ(x)) ⊙ σ(x)σ(−x) = d ⊙ σ(−x), which
            // stays finite where 1/σ(x) overflows (x ≲ −709 in f64). Derived values only.
            (Op::UnaryGrad(UnaryGrad(f)), &[inner, read])
                if self.may_round_differently() && matches!(f, UnaryFn::Sigmoid | UnaryFn::Ln) =>
            {
                self.rewrite_log_sigmoid(*f, inner, read)
            }
            // ln(σ(x)) = log_sigmoid(x), computed stably: ln(σ(x)) is −∞ once σ(x) underflows
            // (x ≲ −745 in f64), log_sigmoid(x) is x there. The one rewrite that may change a
            // value, primal ones included (by rounding where both are finite): to the value a
            // careful hand would compute.
            (Op::Unary(Unary(UnaryFn::Ln)), &[s]) => match (self.op(s), self.args(s)) {
                (Op::Unary(Unary(UnaryFn::Sigmoid)), &[x]) => {
                    Some(Inst(Unary(UnaryFn::LogSigmoid).into(), vec![x]))
                }
                _ => None,
            },
            // numel(m.gather(labels)) = rows(m): one entry per row.
            (Op::Numel(_), &[g]) => match (self.op(g), self.args(g)) {
                (Op::Read(Read(Region::Gathered)), &[m, _]) => Some(Inst(RowCount.into(), vec![m])),
                _ => None,
            },
            // A scalar "filled" to a scalar's shape is itself.
            (Op::Fill(_), &[s, like]) if self.kind(like) == Kind::Scalar => Some(Value(s)),
            _ => None,
        }
    }

    fn rewrite_binary(&mut self, bin: BinOp, a: ValueId, b: ValueId) -> Option<Rewrite> {
        use Rewrite::*;
        if let Some(r) = self.rewrite_row_scalings(bin, a, b) {
            return Some(r);
        }
        if bin == BinOp::Add {
            if let Some(r) = self
                .rewrite_add_to(a, b)
                .or_else(|| self.rewrite_add_to(b, a))
                .or_else(|| self.rewrite_accumulate(a, b))
                .or_else(|| self.rewrite_accumulate(b, a))
            {
                return Some(r);
            }
        }
        let (la, lb) = (self.literal(a), self.literal(b));
        let result_kind = if self.kind(a).is_tensor() {
            self.kind(a)
        } else {
            self.kind(b)
        };
        // Rules that drop an operand are valid only if the result keeps that operand's kind.
        let keeps = |v: ValueId| self.kind(v) == result_kind;
        match (bin, la, lb) {
            // In the program's precision, so the value is what the generated code would compute.
            (_, Some(x), Some(y)) => {
                let folded = self.out.precision.apply(|p, q| bin.apply(p, q), x, y);
                Some(Inst(Literal::new(folded).into(), vec![]))
            }
            // 1·b = b, a·1 = a, a/1 = a, a ± 0 = a, 0 + b = b
            (BinOp::Mul, Some(one), _) if one == 1.0 && keeps(b) => Some(Value(b)),
            (BinOp::Mul | BinOp::Div, _, Some(one)) if one == 1.0 && keeps(a) => Some(Value(a)),
            (BinOp::Add | BinOp::Sub, _, Some(zero)) if zero == 0.0 && keeps(a) => Some(Value(a)),
            (BinOp::Add, Some(zero), _) if zero == 0.0 && keeps(b) => Some(Value(b)),
            // (−1)·b = −b, a·(−1) = −a
            (BinOp::Mul, Some(m), _) if m == -1.0 && keeps(b) => Some(Inst(Neg.into(), vec![b])),
            (BinOp::Mul, _, Some(m)) if m == -1.0 && keeps(a) => Some(Inst(Neg.into(), vec![a])),
            // M + c·I = M with c added to its diagonal (n additions, no identity built).
            (BinOp::Add, _, _)
                if self.scaled_identity(b).is_some() && self.kind(a) == Kind::Matrix =>
            {
                let (c, like, of) = self.scaled_identity(b)?;
                Some(Inst(AddToDiagonal(of).into(), vec![a, c, like]))
            }
            (BinOp::Add, _, _)
                if self.scaled_identity(a).is_some() && self.kind(b) == Kind::Matrix =>
            {
                let (c, like, of) = self.scaled_identity(a)?;
                Some(Inst(AddToDiagonal(of).into(), vec![b, c, like]))
            }
            // x + x = 2·x (the two uses of a value pulled back alike)
            (BinOp::Add, _, _) if a == b => {
                let two = self.constant(2.0);
                Some(Inst(Binary(BinOp::Mul).into(), vec![two, a]))
            }
            // (s + x) + x = s + 2·x: the contributions of `x ⊙ x` to x, accumulated one after
            // the other, meet as one term (batch norm's variance). Derived values only (the
            // sum rounds differently); when the inner sum has no other use.
            (BinOp::Add, _, _)
                if self.may_round_differently()
                    && self.single_use(a)
                    && matches!(
                        (self.op(a), self.args(a)),
                        (Op::Binary(Binary(BinOp::Add)), &[_, x]) if x == b
                    ) =>
            {
                let s = self.args(a)[0];
                let two = self.constant(2.0);
                let doubled = self.product(two, b);
                Some(Inst(Binary(BinOp::Add).into(), vec![s, doubled]))
            }
            // Scalar factors go first, so that they meet and fold: a·c = c·a.
            (BinOp::Mul, None, Some(_)) => Some(Inst(Binary(BinOp::Mul).into(), vec![b, a])),
            (BinOp::Mul, _, _) => self.rewrite_product(a, b),
            _ => match (bin, self.op(b), self.args(b)) {
                // a + (−c) = a − c, a − (−c) = a + c
                (BinOp::Add, Op::Neg(_), &[c]) => Some(Inst(Binary(BinOp::Sub).into(), vec![a, c])),
                (BinOp::Sub, Op::Neg(_), &[c]) => Some(Inst(Binary(BinOp::Add).into(), vec![a, c])),
                _ => None,
            },
        }
    }

    /// `a + add_at(…add_at(0, [i], d₁)…, [j], dₖ) = add_at(…add_at(a, [i], d₁)…, [j], dₖ)`: a
    /// read's pullback adds into the adjoint summed so far (in place in generated code) instead
    /// of building a zero tensor, so reading one entry per iteration costs O(1) backwards. Exact
    /// (the same additions, in the same order per entry, up to the zero).
    fn rewrite_add_to(&mut self, a: ValueId, b: ValueId) -> Option<Rewrite> {
        if self.kind(a) != self.kind(b) {
            return None;
        }
        // The chain of adds from the outermost down to a zero fill.
        let mut chain = Vec::new();
        let mut at = b;
        loop {
            match (self.op(at), self.args(at)) {
                (Op::AddTo(add), [inner, rest @ ..]) => {
                    chain.push((*add, rest.to_vec()));
                    at = *inner;
                }
                (Op::Fill(_), &[zero, _]) if self.literal(zero) == Some(0.0) => break,
                _ => return None,
            }
        }
        if chain.is_empty() {
            // `a + 0`: no read to fold (the zero rules decide it).
            return None;
        }
        let (outer, outer_rest) = chain.remove(0);
        let mut acc = a;
        for (add, rest) in chain.into_iter().rev() {
            let mut args = vec![acc];
            args.extend(rest);
            let kind = self.kind(a);
            acc = self.emit(add.into(), args, None, kind, None);
        }
        let mut args = vec![acc];
        args.extend(outer_rest);
        Some(Rewrite::Inst(outer.into(), args))
    }

    /// `a + (the sum a backward loop accumulates from zero)` = the sum it accumulates from `a`:
    /// a backward loop nested in another (a checkpointed segment, an inner loop) adds into the
    /// outer sum directly, with no zero tensor and no extra pass. Valid when the loop's body
    /// reads that carried value once, in `carried + term` as its update; `a` must exist before
    /// the loop, which is changed in place (the sum is used nowhere else). Exact up to the
    /// order of additions.
    fn rewrite_accumulate(&mut self, a: ValueId, b: ValueId) -> Option<Rewrite> {
        let (&Op::Project(project), &[run]) = (self.op(b), self.args(b)) else {
            return None;
        };
        let Op::Loop(l) = self.op(run) else {
            return None;
        };
        // A backward loop's sums have their value's shape, as `a` (another adjoint of it) has;
        // a loop of the user's might broadcast `a` where the zero had the full shape.
        if self.out.inst(run).role != crate::symbolic::ir::Role::Adjoint {
            return None;
        }
        let j = project.index;
        if j >= l.carried || a >= run || self.kind(a) != self.kind(b) || !self.single_use(b) {
            return None;
        }
        let init = self.args(run)[2 + j];
        let zero = match (self.op(init), self.args(init)) {
            (Op::Const(_), _) => self.literal(init) == Some(0.0),
            (Op::Fill(_), &[z, _]) => self.literal(z) == Some(0.0),
            _ => false,
        };
        let body = &l.body;
        let param = body
            .insts
            .iter()
            .position(|inst| matches!(inst.op, Op::Param(q) if q.0 == 1 + j))?;
        let uses = body.use_counts();
        let update = body.outputs[j].index();
        let accumulates = uses[param] == 1
            && uses[update] == 1
            && matches!(body.insts[update].op, Op::Binary(Binary(BinOp::Add)))
            && body.insts[update].args.iter().any(|x| x.index() == param);
        if !zero || !accumulates {
            return None;
        }
        let key = (self.op(run).clone(), self.args(run).to_vec());
        self.seen.remove(&key);
        self.out.insts[run.index()].args[2 + j] = a;
        Some(Rewrite::Value(b))
    }

    /// `add_at(add_at(a, [i], d₁), [i], d₂) = add_at(a, [i], d₁ + d₂)` for one scalar entry:
    /// one update of the tensor, not two (the inner one used nowhere else).
    fn rewrite_repeated_add_to(&mut self, add: AddTo, args: &[ValueId]) -> Option<Rewrite> {
        let [inner, d2, at @ ..] = args else {
            return None;
        };
        let (Op::AddTo(inner_add), [acc, d1, inner_at @ ..]) = (self.op(*inner), self.args(*inner))
        else {
            return None;
        };
        if *inner_add != add || inner_at != at || !self.single_use(*inner) {
            return None;
        }
        if self.kind(*d1) != Kind::Scalar {
            return None;
        }
        let (acc, d1) = (*acc, *d1);
        let sum = self.emit(
            Binary(BinOp::Add).into(),
            vec![d1, *d2],
            None,
            Kind::Scalar,
            None,
        );
        let mut out = vec![acc, sum];
        out.extend_from_slice(at);
        Some(Rewrite::Inst(add.into(), out))
    }

    /// `op(A)·op(B)` where one side is the identity or a diagonal: `A·I = A`, `diag(d)·B` scales
    /// B's rows, `A·diag(d)` scales A's columns. Exact.
    fn rewrite_structured_product(&mut self, m: MatMul, a: ValueId, b: ValueId) -> Option<Rewrite> {
        use Rewrite::*;
        let transposed = |rb: &mut Self, v: ValueId, flag: bool| {
            if flag {
                let kind = rb.kind(v);
                Inst(Transpose.into(), vec![v]).resolve(rb, kind)
            } else {
                Value(v)
            }
        };
        // op(A)·(c·I) = c·op(A), (c·I)·op(B) = c·op(B): `trace`'s pullback in a product.
        for (scaled, other, flag) in [(b, a, m.ta), (a, b, m.tb)] {
            if matches!(self.op(scaled), Op::Identity(_)) {
                continue;
            }
            if let Some((c, ..)) = self.scaled_identity(scaled) {
                let kind = self.kind(other);
                let Value(other) = transposed(self, other, flag).resolve(self, kind) else {
                    return None;
                };
                return Some(Inst(Binary(BinOp::Mul).into(), vec![c, other]));
            }
        }
        match (self.op(a), self.op(b)) {
            (_, Op::Identity(_)) => Some(transposed(self, a, m.ta)),
            (Op::Identity(_), _) => Some(transposed(self, b, m.tb)),
            (Op::Diag(_), _) if !m.tb => {
                let d = self.args(a)[0];
                Some(Inst(Binary(BinOp::Mul).into(), vec![b, d]))
            }
            (_, Op::Diag(_)) if !m.ta => {
                let d = self.args(b)[0];
                let row = self.emit(Transpose.into(), vec![d], None, Kind::Matrix, None);
                Some(Inst(Binary(BinOp::Mul).into(), vec![a, row]))
            }
            _ => None,
        }
    }

    /// Rewrites that reassociate or reorder floating-point work may change the last bits of a
    /// value. They are kept to derived (adjoint) values: the value a generated function returns
    /// is computed exactly as the original function computes it.
    /// The textbook spellings of stable functions, as the forms the engine differentiates best
    /// (the ones the stable spellings lower to, so that both meet in one program: B2 written
    /// as `Σ ln(1 + exp(−y ⊙ X·w))` gets the Hessian program of `−Σ ln σ(y ⊙ X·w)`). Each is
    /// exact in real arithmetic; in floating point each gives the stable value where the
    /// spelled-out one overflows or cancels, and may round differently elsewhere: the value a
    /// careful hand computes. The forms they produce are finished by the rules below
    /// (`ln(σ(x))` → `log_sigmoid(x)`) in every program built from them.
    fn rewrite_spelling(&mut self, op: &Op, args: &[ValueId]) -> Option<Rewrite> {
        use Rewrite::*;
        match (op, args) {
            (Op::Unary(Unary(UnaryFn::Ln)), &[a]) => {
                // ln(1 + eᵘ) = softplus(u); ln(1 + e⁻ᵛ) = −ln σ(v), the form `−Σ ln σ(v)` (a
                // logistic loss written stably) lowers to, so that both meet.
                if let Some(u) = self.one_plus_exp(a) {
                    if let (Op::Neg(_), &[v]) = (self.op(u), self.args(u)) {
                        let sigmoid = self.unary(UnaryFn::Sigmoid, v);
                        let log = self.unary(UnaryFn::Ln, sigmoid);
                        return Some(Inst(Neg.into(), vec![log]));
                    }
                    return Some(Inst(Unary(UnaryFn::Softplus).into(), vec![u]));
                }
                // ln Σeᵘ = max(u) + ln Σe^(u − max(u)): Σeᵘ overflows once an entry passes
                // 709 (f64) or 88 (f32). Its gradient is softmax(u) (the maximum's one-hot
                // pullback times 1 − Σsoftmax, which rounds to 0). Not when u is already
                // shifted by its maximum: that form is stable, and is this rule's own result.
                if let (Op::Sum(_), &[e]) = (self.op(a), self.args(a)) {
                    if let Some(u) = self.unary_of(e, UnaryFn::Exp) {
                        if self.kind(u).is_tensor() && self.unshifted(u) == u {
                            let kind = self.kind(u);
                            let max = ExtremeEntry { max: true }.into();
                            let m = self.emit(max, vec![u], None, Kind::Scalar, None);
                            let sub = Binary(BinOp::Sub).into();
                            let shifted = self.emit(sub, vec![u, m], None, kind, None);
                            let exp = self.unary(UnaryFn::Exp, shifted);
                            let total = self.emit(Sum.into(), vec![exp], None, Kind::Scalar, None);
                            let log = self.unary(UnaryFn::Ln, total);
                            return Some(Inst(Binary(BinOp::Add).into(), vec![m, log]));
                        }
                    }
                }
                // ln(1 − σ(u)) = ln σ(−u): 1 − σ(u) cancels to 0 for u ≳ 37 (f64).
                if let (Op::Binary(Binary(BinOp::Sub)), &[one, s]) = (self.op(a), self.args(a)) {
                    if self.literal(one) == Some(1.0) {
                        if let (Op::Unary(Unary(UnaryFn::Sigmoid)), &[u]) =
                            (self.op(s), self.args(s))
                        {
                            let kind = self.kind(u);
                            let minus_u = self.emit(Neg.into(), vec![u], None, kind, None);
                            let sigmoid = self.unary(UnaryFn::Sigmoid, minus_u);
                            return Some(Inst(Unary(UnaryFn::Ln).into(), vec![sigmoid]));
                        }
                    }
                }
                None
            }
            (Op::Binary(Binary(BinOp::Div)), &[n, d]) if self.one_plus_exp(d).is_some() => {
                let u = self.one_plus_exp(d)?;
                // 1/(1 + eᵘ) = σ(−u)
                if self.literal(n) == Some(1.0) {
                    let kind = self.kind(u);
                    let minus_u = self.emit(Neg.into(), vec![u], None, kind, None);
                    return Some(Inst(Unary(UnaryFn::Sigmoid).into(), vec![minus_u]));
                }
                // eᵘ/(1 + eᵘ) = σ(u)
                if self.unary_of(n, UnaryFn::Exp) == Some(u) {
                    return Some(Inst(Unary(UnaryFn::Sigmoid).into(), vec![u]));
                }
                None
            }
            // Σ(−v) = −Σv, exactly: the negation moves to the one scalar (and a sum of negated
            // terms meets the negated sum the stable spelling writes).
            (Op::Sum(_), &[v]) => match (self.op(v), self.args(v)) {
                (Op::Neg(_), &[inner]) => {
                    let sum = self.emit(Sum.into(), vec![inner], None, Kind::Scalar, None);
                    Some(Inst(Neg.into(), vec![sum]))
                }
                _ => None,
            },
            _ => {
                // Softmax and log-softmax of a vector, as written out (optionally shifted by
                // the maximum, which they are invariant to).
                if self.kind_of_result(op, args) != Some(Kind::Vector) {
                    return None;
                }
                match (op, args) {
                    // eᵘ/Σeᵘ = softmax(u)
                    (Op::Binary(Binary(BinOp::Div)), &[e, total]) => {
                        let u = self.exp_of_shifted(e)?;
                        match (self.op(total), self.args(total)) {
                            (Op::Sum(_), &[e2]) if e2 == e => Some(Inst(Softmax.into(), vec![u])),
                            _ => None,
                        }
                    }
                    // u − (max(u) + ln Σe^(u − max(u))) = log_softmax(u): the log-sum-exp
                    // written stably, or as the rule for ln Σeᵘ above leaves it.
                    (Op::Binary(Binary(BinOp::Sub)), &[u, lse])
                        if self.stable_log_sum_exp(lse) == Some(u) =>
                    {
                        Some(Inst(LogSoftmax.into(), vec![u]))
                    }
                    // u − ln Σeᵘ = log_softmax(u)
                    (Op::Binary(Binary(BinOp::Sub)), &[shifted, log_total]) => {
                        let u = self.unshifted(shifted);
                        let total = self.unary_of(log_total, UnaryFn::Ln)?;
                        match (self.op(total), self.args(total)) {
                            (Op::Sum(_), &[e]) if self.exp_of_shifted(e) == Some(u) => {
                                Some(Inst(LogSoftmax.into(), vec![u]))
                            }
                            _ => None,
                        }
                    }
                    _ => None,
                }
            }
        }
    }

    /// `u` when `v` is `1 + eᵘ` or `eᵘ + 1`.
    fn one_plus_exp(&self, v: ValueId) -> Option<ValueId> {
        match (self.op(v), self.args(v)) {
            (Op::Binary(Binary(BinOp::Add)), &[a, b]) => {
                if self.literal(a) == Some(1.0) {
                    self.unary_of(b, UnaryFn::Exp)
                } else if self.literal(b) == Some(1.0) {
                    self.unary_of(a, UnaryFn::Exp)
                } else {
                    None
                }
            }
            _ => None,
        }
    }

    /// `x` when `v` is `f(x)`.
    fn unary_of(&self, v: ValueId, f: UnaryFn) -> Option<ValueId> {
        match (self.op(v), self.args(v)) {
            (Op::Unary(Unary(g)), &[x]) if *g == f => Some(x),
            _ => None,
        }
    }

    /// `u` when `v` is `u − max(u)`, else `v`: the shift a careful hand writes before `exp`.
    fn unshifted(&self, v: ValueId) -> ValueId {
        if let (Op::Binary(Binary(BinOp::Sub)), &[u, m]) = (self.op(v), self.args(v)) {
            if let (Op::ExtremeEntry(ExtremeEntry { max: true }), &[of]) =
                (self.op(m), self.args(m))
            {
                if of == u {
                    return u;
                }
            }
        }
        v
    }

    /// `u` when `v` is `max(u) + ln Σe^(u − max(u))`, either way round.
    fn stable_log_sum_exp(&self, v: ValueId) -> Option<ValueId> {
        let (Op::Binary(Binary(BinOp::Add)), &[a, b]) = (self.op(v), self.args(v)) else {
            return None;
        };
        [(a, b), (b, a)].into_iter().find_map(|(m, log)| {
            let (Op::ExtremeEntry(ExtremeEntry { max: true }), &[u]) = (self.op(m), self.args(m))
            else {
                return None;
            };
            let total = self.unary_of(log, UnaryFn::Ln)?;
            let (Op::Sum(_), &[e]) = (self.op(total), self.args(total)) else {
                return None;
            };
            let shifted = self.unary_of(e, UnaryFn::Exp)?;
            let is_shift = matches!(
                (self.op(shifted), self.args(shifted)),
                (Op::Binary(Binary(BinOp::Sub)), &[x, by]) if x == u && by == m
            );
            is_shift.then_some(u)
        })
    }

    /// `u` when `e` is `eᵘ` or `e^(u − max(u))`.
    fn exp_of_shifted(&self, e: ValueId) -> Option<ValueId> {
        self.unary_of(e, UnaryFn::Exp).map(|x| self.unshifted(x))
    }

    /// The kind `op` gives `args`, when its rule knows it.
    fn kind_of_result(&self, op: &Op, args: &[ValueId]) -> Option<Kind> {
        let kinds: Vec<Kind> = args.iter().map(|&a| self.kind(a)).collect();
        op.kind(&kinds).ok()
    }

    /// `f(x)` through the rules.
    fn unary(&mut self, f: UnaryFn, x: ValueId) -> ValueId {
        let kind = self.kind(x);
        self.emit(Unary(f).into(), vec![x], None, kind, None)
    }

    fn may_round_differently(&self) -> bool {
        self.role != Role::Primal
    }

    /// `Some((c, like, of))` when `v` is `c·I` for a scalar `c` (or `I` itself, with `c` = 1),
    /// `I` the identity whose size `like` gives as `of` says.
    fn scaled_identity(&mut self, v: ValueId) -> Option<(ValueId, ValueId, IdentityOf)> {
        match (self.op(v), self.args(v)) {
            (Op::Identity(_), &[like]) => Some((self.constant(1.0), like, IdentityOf::Numel)),
            // A scalar on the diagonal: `trace`'s pullback, whose matrix is square.
            (Op::OnDiagonal(_), &[c, like]) if self.kind(c) == Kind::Scalar => {
                Some((c, like, IdentityOf::Shape))
            }
            (Op::Binary(Binary(BinOp::Mul)), &[c, i])
                if self.kind(c) == Kind::Scalar && matches!(self.op(i), Op::Identity(_)) =>
            {
                Some((c, self.args(i)[0], IdentityOf::Numel))
            }
            _ => None,
        }
    }

    /// `Some((M, a))` when `v` is the matrix `M` with its rows scaled by the vector `a`
    /// (`M ⊙ a` with `a` as a column, either way round).
    fn row_scaling(&self, v: ValueId) -> Option<(ValueId, ValueId)> {
        let (Op::Binary(Binary(BinOp::Mul)), &[p, q]) = (self.op(v), self.args(v)) else {
            return None;
        };
        let column = |c: ValueId| match (self.op(c), self.args(c)) {
            (Op::AsColumn(_), &[a]) if self.kind(a) == Kind::Vector => Some(a),
            _ => None,
        };
        match (column(p), column(q)) {
            (None, Some(a)) if self.kind(p) == Kind::Matrix => Some((p, a)),
            (Some(a), None) if self.kind(q) == Kind::Matrix => Some((q, a)),
            _ => None,
        }
    }

    /// Row scalings meet before they touch the matrix: `(M ⊙ a) ⊙ b = M ⊙ (a ⊙ b)` and
    /// `M ⊙ a ± M ⊙ b = M ⊙ (a ± b)`, so a chain of scalings is one pass over `M` (the
    /// Hessian of logistic regression scales `X` once). Reassociation: derived values only.
    fn rewrite_row_scalings(&mut self, bin: BinOp, a: ValueId, b: ValueId) -> Option<Rewrite> {
        use Rewrite::*;
        if !self.may_round_differently() {
            return None;
        }
        let column = |rb: &Self, c: ValueId| match (rb.op(c), rb.args(c)) {
            (Op::AsColumn(_), &[v]) if rb.kind(v) == Kind::Vector => Some(v),
            _ => None,
        };
        let combined = match bin {
            BinOp::Mul => {
                let (scaled, by) = match (self.row_scaling(a), column(self, b)) {
                    (Some(m), Some(v)) => (m, v),
                    _ => match (self.row_scaling(b), column(self, a)) {
                        (Some(m), Some(v)) => (m, v),
                        _ => return None,
                    },
                };
                let (m, inner) = scaled;
                (
                    m,
                    self.emit(
                        Binary(BinOp::Mul).into(),
                        vec![inner, by],
                        None,
                        Kind::Vector,
                        None,
                    ),
                )
            }
            BinOp::Add | BinOp::Sub => match (self.row_scaling(a), self.row_scaling(b)) {
                (Some((m, x)), Some((n, y))) if m == n => (
                    m,
                    self.emit(Binary(bin).into(), vec![x, y], None, Kind::Vector, None),
                ),
                _ => return None,
            },
            BinOp::Div => return None,
        };
        let (m, factors) = combined;
        let column = self.emit(AsColumn.into(), vec![factors], None, Kind::Matrix, None);
        Some(Inst(Binary(BinOp::Mul).into(), vec![m, column]))
    }

    /// `sigmoid_grad(ln_grad(d, σ(x)), x)` (reverse) or `ln_grad(sigmoid_grad(d, x), σ(x))`
    /// (forward) is `d ⊙ σ(−x)`.
    fn rewrite_log_sigmoid(
        &mut self,
        outer: UnaryFn,
        inner: ValueId,
        read: ValueId,
    ) -> Option<Rewrite> {
        let (Op::UnaryGrad(UnaryGrad(f)), &[d, inner_read]) = (self.op(inner), self.args(inner))
        else {
            return None;
        };
        let is_sigmoid_of = |rb: &Self, s: ValueId, x: ValueId| matches!((rb.op(s), rb.args(s)), (Op::Unary(Unary(UnaryFn::Sigmoid)), &[a]) if a == x);
        let x = match (outer, *f) {
            (UnaryFn::Sigmoid, UnaryFn::Ln) if is_sigmoid_of(self, inner_read, read) => read,
            (UnaryFn::Ln, UnaryFn::Sigmoid) if is_sigmoid_of(self, read, inner_read) => inner_read,
            _ => return None,
        };
        let kind = self.kind(x);
        let minus = self.emit(Neg.into(), vec![x], None, kind, None);
        let other = self.emit(
            Unary(UnaryFn::Sigmoid).into(),
            vec![minus],
            None,
            kind,
            None,
        );
        Some(Rewrite::Inst(Binary(BinOp::Mul).into(), vec![d, other]))
    }

    /// A row scaling of the identity is a diagonal, and of a diagonal another one:
    /// `I ⊙ c = diag(c)`, `diag(d) ⊙ c = diag(d ⊙ c)` for columns `c`, `d`. Exact.
    fn rewrite_diagonal(&mut self, a: ValueId, b: ValueId) -> Option<Rewrite> {
        use Rewrite::*;
        let is_column = |rb: &Self, v: ValueId| matches!(rb.op(v), Op::AsColumn(_));
        let (structured, column) = if is_column(self, b) {
            (a, b)
        } else if is_column(self, a) {
            (b, a)
        } else {
            return None;
        };
        match (self.op(structured), self.args(structured)) {
            (Op::Identity(_), _) => Some(Inst(Diag.into(), vec![column])),
            (Op::Diag(_), &[d]) => {
                let product = self.emit(
                    Binary(BinOp::Mul).into(),
                    vec![d, column],
                    None,
                    Kind::Matrix,
                    None,
                );
                Some(Inst(Diag.into(), vec![product]))
            }
            // (c·I) ⊙ col = diag(c·col)
            (Op::Binary(Binary(BinOp::Mul)), &[c, i])
                if self.kind(c) == Kind::Scalar && matches!(self.op(i), Op::Identity(_)) =>
            {
                let scaled = self.emit(
                    Binary(BinOp::Mul).into(),
                    vec![c, column],
                    None,
                    Kind::Matrix,
                    None,
                );
                Some(Inst(Diag.into(), vec![scaled]))
            }
            _ => None,
        }
    }

    /// Products: a scalar filled to a tensor's shape multiplies as the scalar
    /// (`(s·𝟏) ⊙ x = s·x`, exact), and in derived values scalar factors are gathered
    /// (`s·(t·x) = (s·t)·x`) so that literals meet and fold.
    fn rewrite_product(&mut self, a: ValueId, b: ValueId) -> Option<Rewrite> {
        use Rewrite::*;
        if let Some(r) = self.rewrite_diagonal(a, b) {
            return Some(r);
        }
        let mul = || Binary(BinOp::Mul).into();
        if let (Op::Fill(_), &[s, like]) = (self.op(a), self.args(a)) {
            if self.kind(b).is_tensor() && self.same_shape(like, b) {
                return Some(Inst(mul(), vec![s, b]));
            }
        }
        if let (Op::Fill(_), &[s, like]) = (self.op(b), self.args(b)) {
            if self.kind(a).is_tensor() && self.same_shape(like, a) {
                return Some(Inst(mul(), vec![s, a]));
            }
        }
        if !self.may_round_differently() {
            return None;
        }
        if let (Some(ka), Op::Binary(Binary(BinOp::Mul)), &[c, x]) =
            (self.literal(a), self.op(b), self.args(b))
        {
            if let Some(kc) = self.literal(c) {
                let folded = self.out.precision.apply(|p, q| p * q, ka, kc);
                let folded = self.constant(folded);
                return Some(Inst(mul(), vec![folded, x]));
            }
        }
        if self.kind(a) == Kind::Scalar {
            if let (Op::Binary(Binary(BinOp::Mul)), &[c, x]) = (self.op(b), self.args(b)) {
                if self.kind(c) == Kind::Scalar && self.kind(x).is_tensor() {
                    let factor = self.product(a, c);
                    return Some(Inst(mul(), vec![factor, x]));
                }
            }
        }
        None
    }

    fn push(&mut self, inst: Inst, origin: Option<usize>) -> ValueId {
        let key = (inst.op.clone(), inst.args.clone());
        if !matches!(inst.op, Op::Param(_)) {
            if let Some(&existing) = self.seen.get(&key) {
                if let Some(name) = &inst.name {
                    self.out.name_value(existing, name);
                }
                return existing;
            }
        }
        let id = self.out.push_inst(inst);
        self.origin.push(origin);
        self.seen.insert(key, id);
        let class = self.out.shape_class(id, &self.classes);
        self.classes.push(class);
        id
    }

    /// Adds `op(args)` through the local rules and CSE; rewrites use it to build helper values.
    fn emit(
        &mut self,
        op: Op,
        args: Vec<ValueId>,
        name: Option<String>,
        fallback_kind: Kind,
        origin: Option<usize>,
    ) -> ValueId {
        let (mut op, mut args) = (op, args);
        // Each rule strictly simplifies, so this ends; the bound guards against a rule cycle.
        for _ in 0..32 {
            match self.rewrite(&op, &args) {
                Some(Rewrite::Value(v)) => {
                    if let Some(name) = &name {
                        self.out.name_value(v, name);
                    }
                    return v;
                }
                Some(Rewrite::Inst(o, a)) => {
                    op = o;
                    args = a;
                }
                None => break,
            }
        }
        let kinds: Vec<Kind> = args.iter().map(|&a| self.kind(a)).collect();
        // Rewrites preserve kinds; fall back to the old kind if a rule is partial.
        let kind = op.kind(&kinds).unwrap_or(fallback_kind);
        let role = self.role;
        let source = self.source.clone();
        self.push(
            Inst {
                op,
                args,
                kind,
                name,
                role,
                source,
            },
            origin,
        )
    }

    /// A literal value.
    fn constant(&mut self, value: f64) -> ValueId {
        self.emit(Literal::new(value).into(), vec![], None, Kind::Scalar, None)
    }

    /// `a·b` through the rules.
    fn product(&mut self, a: ValueId, b: ValueId) -> ValueId {
        let kind = if self.kind(a).is_tensor() {
            self.kind(a)
        } else {
            self.kind(b)
        };
        self.emit(Binary(BinOp::Mul).into(), vec![a, b], None, kind, None)
    }

    fn same_shape(&self, a: ValueId, b: ValueId) -> bool {
        self.classes[a.index()] == self.classes[b.index()]
    }
}

/// One front-to-back pass of local rules and CSE.
fn rebuild(program: &Program) -> Program {
    Rebuilder::new(program).rebuild(program).0
}

impl Rebuilder {
    /// A rebuilder of `program`, every rule on.
    fn new(program: &Program) -> Rebuilder {
        Rebuilder {
            out: Program {
                precision: program.precision,
                params: program.params.clone(),
                reserved_names: program.reserved_names.clone(),
                constants: program.constants.clone(),
                insts: Vec::with_capacity(program.insts.len()),
                outputs: Vec::new(),
            },
            old_uses: program.use_counts(),
            origin: Vec::new(),
            seen: HashMap::new(),
            classes: Vec::new(),
            role: Role::Primal,
            source: None,
            spellings_only: false,
            spellings_found: false,
        }
    }

    /// `program` rebuilt front to back through the rules, and whether a spelling rule applied.
    fn rebuild(mut self, program: &Program) -> (Program, bool) {
        let mut map: Vec<ValueId> = Vec::with_capacity(program.insts.len());
        for (i, inst) in program.insts.iter().enumerate() {
            let mut args: Vec<ValueId> = inst.args.iter().map(|a| map[a.index()]).collect();
            self.role = inst.role;
            self.source = inst.source.clone();
            // A size is read off the parameter of its operand's shape class where there is
            // one: `rows(x)` rather than `rows(xc ⊙ xc)`, and equal sizes meet in CSE.
            let size = matches!(inst.op, Op::Numel(_) | Op::RowCount(_) | Op::Extent(_));
            for &position in inst.op.shape_only_args().iter().filter(|_| size) {
                let Some(&a) = args.get(position) else {
                    continue;
                };
                let class = self.classes[a.index()];
                if class != a
                    && matches!(self.out.inst(class).op, Op::Param(_))
                    && self.kind(class) == self.kind(a)
                {
                    args[position] = class;
                }
            }
            let new = if matches!(inst.op, Op::Param(_)) {
                self.push(
                    Inst {
                        args,
                        ..inst.clone()
                    },
                    Some(i),
                )
            } else {
                self.emit(inst.op.clone(), args, inst.name.clone(), inst.kind, Some(i))
            };
            map.push(new);
        }
        self.out.outputs = program.outputs.iter().map(|o| map[o.index()]).collect();
        (self.out, self.spellings_found)
    }
}

/// Drops instructions that no output needs (parameters always stay: they are the signature).
pub fn eliminate_dead_code(program: &Program) -> Program {
    let needed = Liveness::of(program).needed;
    let live = |i: usize| needed[i] || matches!(program.insts[i].op, Op::Param(_));
    let mut map = vec![ValueId(u32::MAX); program.insts.len()];
    let mut out = Program {
        precision: program.precision,
        params: program.params.clone(),
        reserved_names: program.reserved_names.clone(),
        constants: program.constants.clone(),
        insts: Vec::new(),
        outputs: Vec::new(),
    };
    for (i, inst) in program.insts.iter().enumerate() {
        if live(i) {
            let mut inst = inst.clone();
            inst.args = inst.args.iter().map(|a| map[a.index()]).collect();
            map[i] = out.push_inst(inst);
        }
    }
    out.outputs = program.outputs.iter().map(|o| map[o.index()]).collect();
    out
}
