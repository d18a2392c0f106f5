//! Structured control flow: the loop, in the manner of JAX's `scan`.
//!
//! A [`Loop`] runs its body, a program of its own, once per index of a range (upwards, or
//! downwards for a backward pass). The body's parameters are the index, the *carried* values
//! (given their initial values by the loop's operands, then each iteration's results), the
//! *captured* values (the same every iteration), and the *sliced* values (iteration `i` reads
//! entry `i − start` of a tape). Its outputs are the new carried values, then values *stacked*
//! onto tapes, one entry per iteration. The loop's result is a [`Kind::Tuple`]: the final
//! carried values, then the tapes, each read by a [`Project`].
//!
//! Reverse mode (`reverse_loop`) makes the primal loop also stack, once per iteration, the
//! primal values the body's pullback reads (a carried value, a `tanh`'s result), then runs the
//! adjoint half of that pullback backwards over them: no primal work is done twice, and memory
//! is those values per iteration (a value whose shape alone is read keeps only its `Dims` in
//! generated code). Forward mode runs the body's pushforward as a loop
//! carrying values and tangents together.

use crate::symbolic::derive::DeriveCx;
#[cfg(feature = "runtime")]
use crate::symbolic::eval::Value;
use crate::symbolic::forward::forward;
use crate::symbolic::ir::{Kind, KindError, Program, ValueId};
use crate::symbolic::op::{Emit, Rule};
use crate::symbolic::print::Printed;
use crate::symbolic::reverse::pullback;
use crate::symbolic::rules::arith::{BinOp, Binary, Literal};
use crate::symbolic::rules::reduce::Fill;
#[cfg(feature = "runtime")]
use crate::tensor::Real;

// ───────────────────────────── loop ─────────────────────────────

/// `for i in start..end { carried = body(i, carried, captured, sliced[i]) }`, its operands
/// `[start, end, initial carried.., captured.., tapes..]`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Loop {
    pub body: Box<Program>,
    /// How many values the iterations carry (the first outputs of the body).
    pub carried: usize,
    /// How many further outputs of the body are stacked onto tapes.
    pub stacked: usize,
    /// How many parameters of the body (the last ones) read a tape entry.
    pub sliced: usize,
    /// Whether the index runs from `end − 1` down to `start`.
    pub reversed: bool,
    /// Whether reverse mode stores only the values carried into each iteration and reruns the
    /// iteration (storing what its own pullback needs) when it pulls it back: the outer loop
    /// of [`push_checkpointed`], whose iterations are segments of the user's loop.
    pub checkpoint: bool,
    /// In a loop that forward mode made (a tangent loop): for each result of the loop it
    /// differentiates, where that result's tangent is among this loop's results, if it has one.
    /// Empty otherwise.
    pub tangent_layout: Vec<Option<usize>>,
}

impl Loop {
    /// A loop over `body`, which carries `carried` values and captures the rest.
    pub fn new(body: Program, carried: usize) -> Self {
        Loop {
            body: Box::new(body),
            carried,
            stacked: 0,
            sliced: 0,
            reversed: false,
            checkpoint: false,
            tangent_layout: Vec::new(),
        }
    }

    /// How many parameters of the body are captured.
    pub fn captured(&self) -> usize {
        self.body.params.len() - 1 - self.carried - self.sliced
    }

    /// Which carried values (`0..carried`) have tangents: all but integers and conditions.
    fn carried_with_tangents(&self) -> Vec<usize> {
        let kind = |v: ValueId| self.body.insts[v.index()].kind;
        (0..self.carried)
            .filter(|&j| kind(self.body.outputs[j]).is_differentiable())
            .collect()
    }
}

/// The instruction of `program` reading its parameter `p`.
pub(crate) fn param_value(program: &Program, p: usize) -> ValueId {
    ValueId(
        program
            .insts
            .iter()
            .position(|inst| matches!(inst.op, crate::symbolic::Op::Param(q) if q.0 == p))
            .expect("every parameter is read by an instruction") as u32,
    )
}

impl Rule for Loop {
    fn kind(&self, args: &[Kind]) -> Result<Kind, KindError> {
        let body = &self.body;
        let (k, s) = (self.carried, self.sliced);
        if body.params.len() < 1 + k + s || body.outputs.len() != k + self.stacked {
            return Err(KindError::new(
                "a loop body takes the index, the carried values, the captured values and the \
                 tape entries, and returns the carried values then the stacked ones",
            ));
        }
        let m = self.captured();
        if args.len() != 2 + k + m + s {
            return Err(KindError::new(format!(
                "a loop takes its bounds, {k} initial values, {m} captured values and {s} tapes, \
                 found {} operands",
                args.len()
            )));
        }
        if args[0] != Kind::Index || args[1] != Kind::Index || body.params[0].kind != Kind::Index {
            return Err(KindError::new(
                "a loop's bounds and index are integers (`usize`)",
            ));
        }
        for j in 0..k {
            let param = body.params[1 + j].kind;
            let result = body.kind(body.outputs[j]);
            if args[2 + j] != param || result != param {
                return Err(KindError::new(format!(
                    "a loop-carried value keeps its kind: it starts as {}, the body takes {} and \
                     returns {}",
                    args[2 + j].article(),
                    param.article(),
                    result.article()
                )));
            }
        }
        for j in 0..m {
            if args[2 + k + j] != body.params[1 + k + j].kind {
                return Err(KindError::new(
                    "a captured value has the kind the body takes",
                ));
            }
        }
        if args[2 + k + m..].iter().any(|&a| a != Kind::Tape) {
            return Err(KindError::new("a loop reads its sliced values from tapes"));
        }
        Ok(Kind::Tuple)
    }

    fn reverse(
        &self,
        _: &mut DeriveCx<'_>,
        _: &[ValueId],
        _: ValueId,
        _: ValueId,
    ) -> Result<Vec<Option<ValueId>>, KindError> {
        Err(KindError::new(
            "a loop is pulled back as a whole, from the adjoints of all its results",
        ))
    }

    fn forward(
        &self,
        cx: &mut DeriveCx<'_>,
        args: &[ValueId],
        tangents: &[Option<ValueId>],
        _out: ValueId,
    ) -> Result<Option<ValueId>, KindError> {
        let (k, m, s) = (self.carried, self.captured(), self.sliced);
        let body = &self.body;
        // Every carried float value has a tangent (zero to start with, if need be); a captured
        // or sliced value only when its operand has one.
        let carried_moving = self.carried_with_tangents();
        let captured_moving: Vec<usize> = (0..m)
            .filter(|&j| {
                tangents[2 + k + j].is_some() && body.params[1 + k + j].kind.is_differentiable()
            })
            .collect();
        let sliced_moving: Vec<usize> = (0..s)
            .filter(|&j| tangents[2 + k + m + j].is_some())
            .collect();
        let wrt: Vec<usize> = carried_moving
            .iter()
            .map(|j| 1 + j)
            .chain(captured_moving.iter().map(|j| 1 + k + j))
            .chain(sliced_moving.iter().map(|j| 1 + k + m + j))
            .collect();
        let pushforward = forward(body, &wrt)?;
        // A stacked value has a tangent unless it is an integer or a condition, or a tape
        // (an inner loop's) that does not move.
        let stacked_moving: Vec<usize> = (0..self.stacked)
            .filter(|&j| {
                let kind = body.insts[body.outputs[k + j].index()].kind;
                kind.is_differentiable() && !pushforward.absent[k + j]
            })
            .collect();
        let pushforward = pushforward.program;
        let n_out = body.outputs.len();

        // The tangent body: [i, c, ċ, x, ẋ, s, ṡ] → [c', ċ', y, ẏ].
        let mut tb = Program::new();
        tb.precision = body.precision;
        let kind = |p: usize| body.params[p].kind;
        let name = |p: usize| body.params[p].name.clone();
        let i = tb.param(&name(0), Kind::Index);
        let c: Vec<ValueId> = (1..=k).map(|p| tb.param(&name(p), kind(p))).collect();
        let dc: Vec<ValueId> = carried_moving
            .iter()
            .map(|&j| tb.param(&format!("d{}", name(1 + j)), kind(1 + j)))
            .collect();
        let x: Vec<ValueId> = (0..m)
            .map(|j| tb.param(&name(1 + k + j), kind(1 + k + j)))
            .collect();
        let dx: Vec<ValueId> = captured_moving
            .iter()
            .map(|&j| tb.param(&format!("d{}", name(1 + k + j)), kind(1 + k + j)))
            .collect();
        let sl: Vec<ValueId> = (0..s)
            .map(|j| tb.param(&name(1 + k + m + j), kind(1 + k + m + j)))
            .collect();
        let dsl: Vec<ValueId> = sliced_moving
            .iter()
            .map(|&j| tb.param(&format!("d{}", name(1 + k + m + j)), kind(1 + k + m + j)))
            .collect();
        let inputs: Vec<ValueId> = std::iter::once(i)
            .chain(c.iter().copied())
            .chain(x.iter().copied())
            .chain(sl.iter().copied())
            .chain(dc.iter().copied())
            .chain(dx.iter().copied())
            .chain(dsl.iter().copied())
            .collect();
        let outs = tb.inline(&pushforward, &inputs);
        let (values, value_tangents) = outs.split_at(n_out);
        tb.outputs = values[..k]
            .iter()
            .chain(carried_moving.iter().map(|&j| &value_tangents[j]))
            .chain(&values[k..])
            .chain(stacked_moving.iter().map(|&j| &value_tangents[k + j]))
            .copied()
            .collect();

        // Its operands: [start, end, c₀, ċ₀, x, ẋ, tapes, tape tangents].
        let mut operands = vec![args[0], args[1]];
        operands.extend_from_slice(&args[2..2 + k]);
        for &j in &carried_moving {
            operands.push(match tangents[2 + j] {
                Some(t) => t,
                None => zero_like(cx, args[2 + j])?,
            });
        }
        operands.extend_from_slice(&args[2 + k..2 + k + m]);
        operands.extend(
            captured_moving
                .iter()
                .map(|&j| tangents[2 + k + j].expect("moving")),
        );
        operands.extend_from_slice(&args[2 + k + m..]);
        operands.extend(
            sliced_moving
                .iter()
                .map(|&j| tangents[2 + k + m + j].expect("moving")),
        );
        // Results: carried values, their tangents, stacked values, their tangents.
        let base = k + carried_moving.len() + self.stacked;
        let tangent_layout = (0..k + self.stacked)
            .map(|j| match j.checked_sub(k) {
                None => carried_moving.iter().position(|&c| c == j).map(|p| k + p),
                Some(t) => stacked_moving
                    .iter()
                    .position(|&m| m == t)
                    .map(|p| base + p),
            })
            .collect();
        let tangent_loop = Loop {
            body: Box::new(crate::symbolic::simplify(&tb)),
            carried: k + carried_moving.len(),
            stacked: self.stacked + stacked_moving.len(),
            sliced: s + sliced_moving.len(),
            reversed: self.reversed,
            checkpoint: false,
            tangent_layout,
        };
        cx.push(tangent_loop, &operands).map(Some)
    }

    fn print(&self, _: &[Printed], _: &[Kind]) -> Printed {
        // The printer writes a loop as a block of its own.
        Printed::atom(if self.reversed {
            "reversed loop"
        } else {
            "loop"
        })
    }

    #[cfg(feature = "runtime")]
    fn eval<T: Real>(&self, args: &[&Value<T>]) -> Value<T> {
        let (k, m) = (self.carried, self.captured());
        let (start, end) = (args[0].as_index(), args[1].as_index());
        let mut carried: Vec<Value<T>> = args[2..2 + k].iter().map(|&v| v.clone()).collect();
        let captured = &args[2 + k..2 + k + m];
        let tapes: Vec<&Vec<Value<T>>> = args[2 + k + m..]
            .iter()
            .map(|t| match t {
                Value::Tape(entries) => entries,
                v => panic!(
                    "autodiff interpreter: a loop reads a tape, found {}",
                    v.kind().article()
                ),
            })
            .collect();
        let mut stacks: Vec<Vec<Value<T>>> = vec![Vec::new(); self.stacked];
        let run = |i: usize, carried: &mut Vec<Value<T>>, stacks: &mut Vec<Vec<Value<T>>>| {
            let mut inputs = vec![Value::Index(i)];
            inputs.append(carried);
            inputs.extend(captured.iter().map(|&v| v.clone()));
            inputs.extend(tapes.iter().map(|t| t[i - start].clone()));
            let mut outputs = crate::symbolic::eval(&self.body, &inputs);
            let stacked = outputs.split_off(k);
            *carried = outputs;
            for (stack, value) in stacks.iter_mut().zip(stacked) {
                stack.push(value);
            }
        };
        if self.reversed {
            for i in (start..end).rev() {
                run(i, &mut carried, &mut stacks);
            }
        } else {
            for i in start..end {
                run(i, &mut carried, &mut stacks);
            }
        }
        carried.extend(stacks.into_iter().map(Value::Tape));
        Value::Tuple(carried)
    }

    fn emit(&self) -> Emit {
        Emit::Loop
    }

    fn takes_integers(&self) -> bool {
        // Its bounds, and any integer the body captures.
        true
    }
}

/// How [`push_checkpointed`] cuts a loop of `n` iterations into segments.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Segments {
    /// ⌊√n⌋ iterations each (at least one): about 2√n stored states, one extra forward pass.
    Sqrt,
    /// The given number of iterations each (at least one).
    Every(usize),
}

/// Pushes the loop `for i in start..end { body }` (operands as [`Loop`]'s, `args`) cut into
/// segments, for reverse mode to trade time for memory: an outer loop over the segments, whose
/// body runs one segment's iterations as an inner loop, carrying the same values. The outer
/// loop is a [`Loop::checkpoint`]: reverse mode stores only the values carried into each
/// segment, and pulling a segment back reruns it, storing what the inner loop's own pullback
/// reads for that segment alone. Memory: `n / c` carried states plus `c` iterations' residuals
/// (c the segment length), against `n` iterations' residuals; time: one more forward pass.
/// The outer loop's result has the carried values as [`Project`]s, as the plain loop's has.
pub fn push_checkpointed(
    program: &mut Program,
    body: Program,
    carried: usize,
    args: &[ValueId],
    segments: Segments,
) -> Result<ValueId, KindError> {
    use crate::symbolic::rules::integer::{IndexArith, IndexLiteral, IndexSqrt, IntOp};
    let arith = |program: &mut Program, op: IntOp, a: ValueId, b: ValueId| {
        program.push(IndexArith(op).into(), &[a, b])
    };
    let (start, end) = (args[0], args[1]);
    // n = max(end, start) − start, so an empty range has no segments (n = end from 0); c ≥ 1.
    let from_zero = matches!(
        program.inst(start).op,
        crate::symbolic::Op::IndexLiteral(IndexLiteral(0))
    );
    let n = if from_zero {
        end
    } else {
        let last = arith(program, IntOp::Max, end, start)?;
        arith(program, IntOp::Sub, last, start)?
    };
    let one = program.push(IndexLiteral(1).into(), &[])?;
    let length = match segments {
        Segments::Sqrt => {
            let root = program.push(IndexSqrt.into(), &[n])?;
            arith(program, IntOp::Max, root, one)?
        }
        Segments::Every(c) => program.push(IndexLiteral(c.max(1)).into(), &[])?,
    };
    // ⌈n / c⌉ segments.
    let spare = arith(program, IntOp::Sub, length, one)?;
    let padded = arith(program, IntOp::Add, n, spare)?;
    let count = arith(program, IntOp::Div, padded, length)?;
    // Named, so derivations read `for segment = segments − 1 down to 0`.
    program.name_value(length, "segment_length");
    program.name_value(count, "segments");

    // The outer body: [segment, carried.., captured.., start, end, length] → carried'.
    let mut outer = Program::new();
    outer.precision = body.precision;
    let segment = outer.param("segment", Kind::Index);
    let mut inner_args = vec![segment, segment];
    for p in &body.params[1..] {
        inner_args.push(outer.param(&p.name, p.kind));
    }
    let first = outer.param("start", Kind::Index);
    let stop = outer.param("end", Kind::Index);
    let width = outer.param("segment_length", Kind::Index);
    let offset = arith(&mut outer, IntOp::Mul, segment, width)?;
    let lo = arith(&mut outer, IntOp::Add, first, offset)?;
    let full = arith(&mut outer, IntOp::Add, lo, width)?;
    let hi = arith(&mut outer, IntOp::Min, full, stop)?;
    outer.name_value(lo, "segment_start");
    outer.name_value(hi, "segment_end");
    inner_args[0] = lo;
    inner_args[1] = hi;
    let kinds: Vec<Kind> = body.params[1..=carried].iter().map(|p| p.kind).collect();
    let inner = outer.push(Loop::new(body, carried).into(), &inner_args)?;
    outer.outputs = kinds
        .iter()
        .enumerate()
        .map(|(index, &kind)| outer.push(Project { index, kind }.into(), &[inner]))
        .collect::<Result<_, _>>()?;

    let zero = program.push(IndexLiteral(0).into(), &[])?;
    let mut operands = vec![zero, count];
    operands.extend_from_slice(&args[2..]);
    operands.extend([start, end, length]);
    let mut segmented = Loop::new(outer, carried);
    segmented.checkpoint = true;
    program.push(segmented.into(), &operands)
}

/// A zero of `like`'s kind and shape.
fn zero_like(cx: &mut DeriveCx<'_>, like: ValueId) -> Result<ValueId, KindError> {
    let zero = cx.push(Literal::new(0.0), &[])?;
    if cx.kind(like) == Kind::Scalar {
        Ok(zero)
    } else {
        cx.push(Fill, &[zero, like])
    }
}

/// The pullback of the loop `at` (operands `args`) given the adjoints of its results
/// (`douts[j]`, `None` for zero): the contribution to each operand's adjoint.
///
/// The body's pullback splits in two: the instructions that compute primal values (the body
/// itself, and the factors a rule computes from primal values alone) and those that compute
/// adjoints. The loop is rewritten in place to run the first part and stack, once per
/// iteration, the primal values the second part reads (its *residuals*: a carried value, the
/// result of a `tanh`); the backward loop runs the second part over them from the last
/// iteration to the first. Integers the adjoints read (index arithmetic) are recomputed, not
/// stored. So the backward loop does no primal work again, and memory is the residuals of
/// each iteration.
pub(crate) fn reverse_loop(
    cx: &mut DeriveCx<'_>,
    at: ValueId,
    args: &[ValueId],
    douts: &[Option<ValueId>],
) -> Result<Vec<Option<ValueId>>, KindError> {
    let crate::symbolic::Op::Loop(primal) = cx.program.inst(at).op.clone() else {
        return Err(KindError::new("not a loop"));
    };
    if primal.sliced != 0 || primal.stacked != 0 || primal.reversed {
        return Err(KindError::new(
            "only a loop of the function itself is pulled back, not a derived one",
        ));
    }
    let (k, m) = (primal.carried, primal.captured());

    // The body's pullback, with respect to the carried values and the active captured ones.
    let moving: Vec<usize> = (0..m)
        .filter(|&j| cx.is_active(args[2 + k + j]) && cx.kind(args[2 + k + j]).is_differentiable())
        .collect();
    // The carried values with adjoints: all but integers and conditions.
    let flowing: Vec<usize> = (0..k)
        .filter(|&j| cx.kind(args[2 + j]).is_differentiable())
        .collect();
    let wrt: Vec<usize> = flowing
        .iter()
        .map(|j| 1 + j)
        .chain(moving.iter().map(|j| 1 + k + j))
        .collect();
    let body_pullback = pullback(&primal.body, &wrt)?;
    let split = split_pullback(
        &primal.body,
        &body_pullback,
        k,
        &flowing,
        &moving,
        primal.checkpoint,
    )?;
    let r = split.residual_kinds.len();

    // 1. The forward loop also stacks each iteration's residuals.
    let taped = Loop {
        body: Box::new(crate::symbolic::simplify(&split.forward)),
        carried: k,
        stacked: r,
        sliced: 0,
        reversed: false,
        checkpoint: false,
        tangent_layout: Vec::new(),
    };
    cx.program.insts[at.index()].op = taped.into();
    let mut tapes = Vec::with_capacity(r);
    for j in 0..r {
        tapes.push(cx.push_primal(
            Project {
                index: k + j,
                kind: Kind::Tape,
            },
            &[at],
        )?);
    }

    // 2. The backward loop, from the last iteration to the first.
    let mut operands = vec![args[0], args[1]];
    for &j in &flowing {
        operands.push(match douts.get(j).copied().flatten() {
            Some(d) => d,
            None => zero_like(cx, args[2 + j])?,
        });
    }
    for &j in &moving {
        operands.push(zero_like(cx, args[2 + k + j])?);
    }
    operands.extend_from_slice(&args[2 + k..2 + k + m]);
    operands.extend_from_slice(&tapes);
    let backward = Loop {
        body: Box::new(crate::symbolic::simplify(&split.backward)),
        carried: flowing.len() + moving.len(),
        stacked: 0,
        sliced: r,
        reversed: true,
        checkpoint: false,
        tangent_layout: Vec::new(),
    };
    let result = cx.push(backward, &operands)?;

    let mut contributions = vec![None; args.len()];
    for (n, &j) in flowing.iter().enumerate() {
        let kind = cx.kind(args[2 + j]);
        contributions[2 + j] = Some(cx.push(Project { index: n, kind }, &[result])?);
    }
    let f = flowing.len();
    for (n, &j) in moving.iter().enumerate() {
        let kind = cx.kind(args[2 + k + j]);
        contributions[2 + k + j] = Some(cx.push(Project { index: f + n, kind }, &[result])?);
    }
    Ok(contributions)
}

/// A loop body's pullback split into the forward loop's body and the backward loop's.
struct SplitPullback {
    /// `[i, carried, captured] → [carried', residuals]`.
    forward: Program,
    /// `[i, dcarried, dcaptured sums, captured, residuals] → [dcarried before, dcaptured sums]`
    /// (the carried values' adjoints for those with one: `flowing`).
    backward: Program,
    residual_kinds: Vec<Kind>,
}

/// The name of the backward body's parameter holding `v`, a value of the forward body kept per
/// iteration: its own name, or for an unnamed value its short expression spelled as a name
/// (`h·w` as `hw`), so that the derivation reads `sum_to(dz, hw)` rather than a temporary's
/// number.
fn residual_name(pullback: &Program, v: ValueId, names: &[String]) -> String {
    if pullback.inst(v).name.is_some()
        || matches!(pullback.inst(v).op, crate::symbolic::Op::Param(_))
    {
        return names[v.index()].clone();
    }
    let spelled: String = crate::symbolic::print::print_with_names(pullback, v)
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect();
    let taken = |n: &str| names.iter().any(|m| m == n);
    let starts_well = spelled.starts_with(|c: char| c.is_ascii_alphabetic());
    if starts_well && spelled.len() <= 10 && !taken(&spelled) {
        spelled
    } else {
        names[v.index()].clone()
    }
}

/// Splits `pullback` (of `body`, which carries `k` values, `flowing` those with adjoints;
/// `moving` are the captured values differentiated) into the instructions of primal values and those of adjoints, and finds the
/// residuals: the primal values the adjoint part reads that it cannot recompute cheaply. With
/// `rerun`, the residuals are the carried values alone and the backward body recomputes
/// every primal value from them (a checkpointed segment: the forward body is `body` itself).
fn split_pullback(
    body: &Program,
    pullback: &Program,
    k: usize,
    flowing: &[usize],
    moving: &[usize],
    rerun: bool,
) -> Result<SplitPullback, KindError> {
    use crate::symbolic::Op;
    use std::collections::HashMap;
    let n_params = body.params.len();
    let m = n_params - 1 - k;
    let insts = &pullback.insts;
    // A primal instruction: a parameter of the body, or a value of primal values alone.
    let mut primal = vec![false; insts.len()];
    for (v, inst) in insts.iter().enumerate() {
        primal[v] = match inst.op {
            Op::Param(q) => q.0 < n_params,
            _ => {
                inst.args.is_empty()
                    || (inst.role == crate::symbolic::ir::Role::Primal
                        && inst.args.iter().all(|a| primal[a.index()]))
            }
        };
    }
    // The backward part may recompute the index, the captured values, constants, integers made
    // of those, and parts read from captured values at such indices (`x[i]`, this step's rows
    // of an input: a copy, no arithmetic, where storing would keep a copy per iteration);
    // every other primal value it reads is a residual.
    let mut cheap = vec![false; insts.len()];
    for (v, inst) in insts.iter().enumerate() {
        let made_of_cheap = inst.args.iter().all(|a| cheap[a.index()]);
        cheap[v] = match inst.op {
            Op::Param(q) => q.0 == 0 || (q.0 > k && q.0 < n_params),
            _ if rerun => primal[v],
            Op::Read(_) => primal[v] && made_of_cheap,
            _ => {
                primal[v]
                    && (inst.args.is_empty()
                        || (!inst.kind.is_differentiable()
                            && !matches!(inst.kind, Kind::Tuple | Kind::Tape)
                            && made_of_cheap))
            }
        };
    }
    let mut residuals: Vec<ValueId> = Vec::new();
    let mut is_residual = vec![false; insts.len()];
    let reads = insts
        .iter()
        .enumerate()
        .filter(|&(v, _)| !primal[v])
        .flat_map(|(_, inst)| inst.args.iter().copied())
        .chain(pullback.outputs.iter().copied());
    for a in reads.collect::<Vec<_>>() {
        if primal[a.index()] && !cheap[a.index()] && !is_residual[a.index()] {
            is_residual[a.index()] = true;
            residuals.push(a);
        }
    }
    residuals.sort();
    if rerun {
        // Every carried value, read or not: the forward body is the user's, unchanged.
        residuals = (1..=k).map(|p| param_value(pullback, p)).collect();
    }
    let names = pullback.value_names();

    // The forward body: the primal instructions, returning the carried values and residuals.
    let mut forward = Program::new();
    forward.precision = body.precision;
    forward.constants = body.constants.clone();
    let mut to_forward: HashMap<ValueId, ValueId> = HashMap::new();
    for p in &body.params {
        forward.param(&p.name, p.kind);
    }
    for (v, inst) in insts.iter().enumerate() {
        if !primal[v] {
            continue;
        }
        let id = match inst.op {
            Op::Param(q) => param_value(&forward, q.0),
            _ => {
                let mut copy = inst.clone();
                copy.args = inst.args.iter().map(|a| to_forward[a]).collect();
                forward.push_inst(copy)
            }
        };
        to_forward.insert(ValueId(v as u32), id);
    }
    forward.outputs = body
        .outputs
        .iter()
        .chain(&residuals)
        .map(|o| to_forward[o])
        .collect();
    if rerun {
        // The body as written (its loops untaped), stacking the values carried into it.
        forward = body.clone();
        forward
            .outputs
            .extend((1..=k).map(|p| param_value(body, p)));
    }

    // The backward body.
    let kind = |p: usize| body.params[p].kind;
    let name = |p: usize| body.params[p].name.clone();
    let mut back = Program::new();
    back.precision = body.precision;
    back.constants = body.constants.clone();
    let mut to_back: HashMap<ValueId, ValueId> = HashMap::new();
    let i = back.param(&name(0), Kind::Index);
    to_back.insert(param_value(pullback, 0), i);
    for &j in flowing {
        let d = back.param(&format!("d{}", name(1 + j)), kind(1 + j));
        to_back.insert(param_value(pullback, n_params + j), d);
    }
    let dx_sum: Vec<ValueId> = moving
        .iter()
        .map(|&j| back.param(&format!("d{}", name(1 + k + j)), kind(1 + k + j)))
        .collect();
    for j in 0..m {
        let x = back.param(&name(1 + k + j), kind(1 + k + j));
        to_back.insert(param_value(pullback, 1 + k + j), x);
    }
    let residual_kinds: Vec<Kind> = residuals.iter().map(|&v| insts[v.index()].kind).collect();
    for &v in &residuals {
        let p = back.param(&residual_name(pullback, v, &names), insts[v.index()].kind);
        to_back.insert(v, p);
    }
    // Copies a cheap primal value (and what it is made of) into the backward body.
    fn recompute(
        v: ValueId,
        insts: &[crate::symbolic::ir::Inst],
        back: &mut Program,
        to_back: &mut HashMap<ValueId, ValueId>,
    ) -> ValueId {
        if let Some(&b) = to_back.get(&v) {
            return b;
        }
        let inst = &insts[v.index()];
        let mut copy = inst.clone();
        copy.args = inst
            .args
            .iter()
            .map(|&a| recompute(a, insts, back, to_back))
            .collect();
        let b = back.push_inst(copy);
        to_back.insert(v, b);
        b
    }
    for (v, inst) in insts.iter().enumerate() {
        if primal[v] || matches!(inst.op, Op::Param(_)) {
            continue;
        }
        let mut copy = inst.clone();
        copy.args = inst
            .args
            .iter()
            .map(|&a| recompute(a, insts, &mut back, &mut to_back))
            .collect();
        let b = back.push_inst(copy);
        to_back.insert(ValueId(v as u32), b);
    }
    let adjoints: Vec<ValueId> = pullback
        .outputs
        .iter()
        .map(|&o| recompute(o, insts, &mut back, &mut to_back))
        .collect();
    let mut outputs = adjoints[..flowing.len()].to_vec();
    for (n, &sum) in dx_sum.iter().enumerate() {
        // Adjoint role, so the emitter may fuse a product into this sum (one GEMM with β = 1).
        outputs.push(back.push_with_role(
            Binary(BinOp::Add).into(),
            &[sum, adjoints[flowing.len() + n]],
            crate::symbolic::ir::Role::Adjoint,
        )?);
    }
    back.outputs = outputs;
    Ok(SplitPullback {
        forward,
        backward: back,
        residual_kinds,
    })
}

// ───────────────────────────── shared tapes ─────────────────────────────

/// A carried value that a reverse-mode loop tapes twice: as the value carried into each
/// iteration (stacked output `old`) and as the value the iteration carries out (stacked
/// output `new`, a `tanh`'s result that is the next state). Entry `i` of the second tape is
/// entry `i + 1` of the first, or after the last iteration the final carried value. Emitted
/// code keeps one tape of `end − start + 1` entries and reads the second through it: half the
/// memory, and no copy of the state per iteration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NextStateTape {
    /// The forward loop's instruction.
    pub forward: usize,
    /// Which carried value.
    pub carried: usize,
    /// Its stacked outputs: the value carried in, and the value carried out.
    pub old: usize,
    pub new: usize,
    /// The backward loop's instruction, and its sliced parameters (positions among the sliced
    /// ones) reading the two tapes.
    pub backward: usize,
    pub old_slice: usize,
    pub new_slice: usize,
}

/// Every [`NextStateTape`] of `program`: a forward loop's two tapes of one tensor state, read
/// by one backward loop over the same range and by nothing else.
pub fn next_state_tapes(program: &Program) -> Vec<NextStateTape> {
    use crate::symbolic::Op;
    let uses = program.use_counts();
    // The instruction reading `v` and where among its operands, when it is read once.
    let only_reader = |v: usize| -> Option<(usize, usize)> {
        if uses[v] != 1 {
            return None;
        }
        program.insts.iter().enumerate().find_map(|(i, inst)| {
            inst.args
                .iter()
                .position(|a| a.index() == v)
                .map(|p| (i, p))
        })
    };
    let mut found = Vec::new();
    for (f, inst) in program.insts.iter().enumerate() {
        let Op::Loop(l) = &inst.op else { continue };
        if l.reversed || l.stacked == 0 {
            continue;
        }
        let k = l.carried;
        let body = &l.body;
        // Result `k + s` of the loop: the projection reading it, if exactly one does.
        let tape_of = |s: usize| {
            program.insts.iter().position(|x| {
                matches!(&x.op, Op::Project(p) if p.index == k + s)
                    && x.args.first().map(|a| a.index()) == Some(f)
            })
        };
        for j in 0..k {
            if !body.params[1 + j].kind.is_tensor() {
                continue;
            }
            let carried_in = param_value(body, 1 + j);
            let carried_out = body.outputs[j];
            let stacked = &body.outputs[k..];
            let Some(old) = stacked.iter().position(|&o| o == carried_in) else {
                continue;
            };
            let Some(new) = stacked.iter().position(|&o| o == carried_out) else {
                continue;
            };
            let (Some(old_tape), Some(new_tape)) = (tape_of(old), tape_of(new)) else {
                continue;
            };
            let (Some((b, old_at)), Some((b2, new_at))) =
                (only_reader(old_tape), only_reader(new_tape))
            else {
                continue;
            };
            let Op::Loop(back) = &program.insts[b].op else {
                continue;
            };
            let args = &program.insts[b].args;
            let first_slice = 2 + back.carried + back.captured();
            let same_range = args[0] == inst.args[0] && args[1] == inst.args[1];
            let sliced = old_at >= first_slice && new_at >= first_slice;
            if b != b2 || !back.reversed || !same_range || !sliced {
                continue;
            }
            found.push(NextStateTape {
                forward: f,
                carried: j,
                old,
                new,
                backward: b,
                old_slice: old_at - first_slice,
                new_slice: new_at - first_slice,
            });
        }
    }
    found
}

// ───────────────────────────── projection ─────────────────────────────

/// Result `index` of a loop: a final carried value, or a tape.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Project {
    pub index: usize,
    pub kind: Kind,
}

impl Rule for Project {
    fn kind(&self, args: &[Kind]) -> Result<Kind, KindError> {
        match args {
            [Kind::Tuple] => Ok(self.kind),
            _ => Err(KindError::new("a projection reads one result of a loop")),
        }
    }

    fn reverse(
        &self,
        _: &mut DeriveCx<'_>,
        _: &[ValueId],
        _: ValueId,
        _: ValueId,
    ) -> Result<Vec<Option<ValueId>>, KindError> {
        Err(KindError::new(
            "a loop's result is pulled back with the loop, as a whole",
        ))
    }

    fn forward(
        &self,
        cx: &mut DeriveCx<'_>,
        args: &[ValueId],
        tangents: &[Option<ValueId>],
        _out: ValueId,
    ) -> Result<Option<ValueId>, KindError> {
        let Some(tangent_tuple) = tangents[0] else {
            return Ok(None);
        };
        if !self.kind.is_differentiable() {
            return Ok(None);
        }
        let index = match &cx.program.inst(args[0]).op {
            crate::symbolic::Op::Loop(_) => match &cx.program.inst(tangent_tuple).op {
                crate::symbolic::Op::Loop(tangent) => {
                    match tangent.tangent_layout.get(self.index).copied().flatten() {
                        Some(index) => index,
                        None => return Ok(None),
                    }
                }
                _ => return Err(KindError::new("a loop's tangent is a loop")),
            },
            // The tangent branch gives the values, then their tangents.
            crate::symbolic::Op::Branch(b) => b.results() + self.index,
            // The callee's pushforward gives the tuple of tangents.
            crate::symbolic::Op::Call(_) => self.index,
            _ => {
                return Err(KindError::new(
                    "a projection reads a loop, a branch or a call",
                ))
            }
        };
        let kind = self.kind;
        cx.push(Project { index, kind }, &[tangent_tuple]).map(Some)
    }

    fn print(&self, args: &[Printed], _: &[Kind]) -> Printed {
        Printed::atom(format!("{}.{}", args[0].text, self.index))
    }

    #[cfg(feature = "runtime")]
    fn eval<T: Real>(&self, args: &[&Value<T>]) -> Value<T> {
        match args[0] {
            Value::Tuple(values) => values[self.index].clone(),
            v => panic!(
                "autodiff interpreter: a projection of {}",
                v.kind().article()
            ),
        }
    }

    fn emit(&self) -> Emit {
        Emit::Project(self.index)
    }
}

// ───────────────────────────── branch ─────────────────────────────

/// `if condition { then } else { otherwise }`, its operands `[condition, captured..]`: both
/// sides are programs taking the captured values and returning results of the same kinds. The
/// result is a [`Kind::Tuple`] of those results. Its derivative is the derivative of the side
/// taken: reverse and forward mode branch on the same condition.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Branch {
    pub then: Box<Program>,
    pub otherwise: Box<Program>,
}

impl Branch {
    /// The number of results.
    pub fn results(&self) -> usize {
        self.then.outputs.len()
    }
}

impl Rule for Branch {
    fn kind(&self, args: &[Kind]) -> Result<Kind, KindError> {
        let (a, b) = (&self.then, &self.otherwise);
        if args.first() != Some(&Kind::Bool) {
            return Err(KindError::new("a branch's condition is a `bool`"));
        }
        let kinds = |p: &Program| p.params.iter().map(|q| q.kind).collect::<Vec<_>>();
        if kinds(a) != args[1..] || kinds(b) != args[1..] {
            return Err(KindError::new(
                "both sides of a branch take the captured values",
            ));
        }
        let results = |p: &Program| p.outputs.iter().map(|&o| p.kind(o)).collect::<Vec<_>>();
        if results(a) != results(b) {
            return Err(KindError::new(
                "both sides of an `if` give values of the same kinds",
            ));
        }
        Ok(Kind::Tuple)
    }

    fn reverse(
        &self,
        _: &mut DeriveCx<'_>,
        _: &[ValueId],
        _: ValueId,
        _: ValueId,
    ) -> Result<Vec<Option<ValueId>>, KindError> {
        Err(KindError::new(
            "a branch is pulled back as a whole, from the adjoints of all its results",
        ))
    }

    fn forward(
        &self,
        cx: &mut DeriveCx<'_>,
        args: &[ValueId],
        tangents: &[Option<ValueId>],
        _out: ValueId,
    ) -> Result<Option<ValueId>, KindError> {
        // Each side's pushforward along the captured values that move: its parameters are the
        // captured values then their tangents, its results the values then their tangents.
        let moving: Vec<usize> = (0..args.len() - 1)
            .filter(|&j| tangents[1 + j].is_some() && cx.kind(args[1 + j]).is_differentiable())
            .collect();
        let side = |p: &Program| -> Result<Program, KindError> {
            let mut f = forward(p, &moving)?.program;
            f = crate::symbolic::simplify(&f);
            Ok(f)
        };
        let tangent_branch = Branch {
            then: Box::new(side(&self.then)?),
            otherwise: Box::new(side(&self.otherwise)?),
        };
        let mut operands = args.to_vec();
        operands.extend(moving.iter().map(|&j| tangents[1 + j].expect("moving")));
        cx.push(tangent_branch, &operands).map(Some)
    }

    fn print(&self, _: &[Printed], _: &[Kind]) -> Printed {
        // The printer writes a branch as a block of its own.
        Printed::atom("branch")
    }

    #[cfg(feature = "runtime")]
    fn eval<T: Real>(&self, args: &[&Value<T>]) -> Value<T> {
        let inputs: Vec<Value<T>> = args[1..].iter().map(|&v| v.clone()).collect();
        let side = if args[0].as_bool() {
            &self.then
        } else {
            &self.otherwise
        };
        Value::Tuple(crate::symbolic::eval(side, &inputs))
    }

    fn emit(&self) -> Emit {
        Emit::Branch
    }

    fn takes_integers(&self) -> bool {
        // Its condition, and any integer the sides capture.
        true
    }
}

/// The pullback of the branch `at` (operands `args`) given the adjoints of its results: a
/// branch on the same condition whose sides are the sides' pullbacks (each recomputes its own
/// primal values), giving the adjoints of the active captured values.
pub(crate) fn reverse_branch(
    cx: &mut DeriveCx<'_>,
    at: ValueId,
    args: &[ValueId],
    douts: &[Option<ValueId>],
) -> Result<Vec<Option<ValueId>>, KindError> {
    let crate::symbolic::Op::Branch(primal) = cx.program.inst(at).op.clone() else {
        return Err(KindError::new("not a branch"));
    };
    let moving: Vec<usize> = (0..args.len() - 1)
        .filter(|&j| cx.is_active(args[1 + j]) && cx.kind(args[1 + j]).is_differentiable())
        .collect();
    if moving.is_empty() {
        return Ok(vec![None; args.len()]);
    }
    // The upstream gradient of every result, zero where none flows.
    let mut upstream = Vec::with_capacity(primal.results());
    for j in 0..primal.results() {
        upstream.push(match douts.get(j).copied().flatten() {
            Some(d) => d,
            None => {
                let kind = primal.then.kind(primal.then.outputs[j]);
                let like = cx.push_primal(Project { index: j, kind }, &[at])?;
                if kind.is_differentiable() {
                    zero_like(cx, like)?
                } else {
                    // An integer or a condition: the sides' pullbacks never read its seed.
                    like
                }
            }
        });
    }
    let backward = Branch {
        then: Box::new(crate::symbolic::simplify(&pullback(&primal.then, &moving)?)),
        otherwise: Box::new(crate::symbolic::simplify(&pullback(
            &primal.otherwise,
            &moving,
        )?)),
    };
    let mut operands = args.to_vec();
    operands.extend(upstream);
    let result = cx.push(backward, &operands)?;
    let mut contributions = vec![None; args.len()];
    for (n, &j) in moving.iter().enumerate() {
        let kind = cx.kind(args[1 + j]);
        contributions[1 + j] = Some(cx.push(Project { index: n, kind }, &[result])?);
    }
    Ok(contributions)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::symbolic::reverse::{reverse, Seed};
    use crate::symbolic::rules::elementwise::{Unary, UnaryFn};
    use crate::symbolic::rules::integer::IndexLiteral;
    use crate::symbolic::rules::linalg::MatMul;
    use crate::symbolic::rules::reduce::Sum;

    fn push(p: &mut Program, op: impl Into<crate::symbolic::Op>, args: &[ValueId]) -> ValueId {
        p.push(op.into(), args).expect("well-kinded")
    }

    /// `h = h0; for t in 0..steps { h = tanh(h·w) }; sum(h)`, and with `scale` the body's
    /// result is `2·tanh(h·w)` instead, whose tape is not the next state.
    fn recurrence(scale: bool) -> Program {
        let mut body = Program::new();
        body.param("t", Kind::Index);
        let h = body.param("h", Kind::Matrix);
        let w = body.param("w", Kind::Matrix);
        let hw = push(&mut body, MatMul::PLAIN, &[h, w]);
        let mut next = push(&mut body, Unary(UnaryFn::Tanh), &[hw]);
        if scale {
            let two = push(&mut body, Literal::new(2.0), &[]);
            next = push(&mut body, Binary(BinOp::Mul), &[two, next]);
        }
        body.outputs = vec![next];

        let mut p = Program::new();
        let h0 = p.param("h0", Kind::Matrix);
        let w = p.param("w", Kind::Matrix);
        let steps = p.param("steps", Kind::Index);
        let zero = push(&mut p, IndexLiteral(0), &[]);
        let run = push(&mut p, Loop::new(body, 1), &[zero, steps, h0, w]);
        let h = push(
            &mut p,
            Project {
                index: 0,
                kind: Kind::Matrix,
            },
            &[run],
        );
        let total = push(&mut p, Sum, &[h]);
        p.outputs = vec![total];
        p
    }

    #[test]
    fn a_state_taped_as_it_enters_and_as_it_leaves_is_found_once() {
        let derived = reverse(&recurrence(false), &[0, 1], Seed::One).expect("derivable");
        let program = crate::symbolic::simplify(&derived.program);
        let found = next_state_tapes(&program);
        assert_eq!(found.len(), 1, "{found:?}");
        let shared = found[0];
        assert_eq!(shared.carried, 0);
        assert_ne!(shared.old, shared.new);
        let crate::symbolic::Op::Loop(forward) = &program.insts[shared.forward].op else {
            panic!("not a loop");
        };
        let crate::symbolic::Op::Loop(backward) = &program.insts[shared.backward].op else {
            panic!("not a loop");
        };
        assert!(!forward.reversed && backward.reversed);
        // The stacked outputs are the state carried in and the state carried out.
        let body = &forward.body;
        assert_eq!(body.outputs[1 + shared.old], param_value(body, 1));
        assert_eq!(body.outputs[1 + shared.new], body.outputs[0]);
        assert_ne!(shared.old_slice, shared.new_slice);
    }

    #[test]
    fn a_taped_value_that_is_not_the_next_state_is_not_shared() {
        let derived = reverse(&recurrence(true), &[0, 1], Seed::One).expect("derivable");
        let program = crate::symbolic::simplify(&derived.program);
        assert_eq!(next_state_tapes(&program), Vec::new());
    }
}
