//! The reverse (adjoint) transformation.
//!
//! Walks the primal program backwards and applies each op's pullback rule to its adjoint. A value
//! used several times receives one contribution per use, and those are summed (`+=`), which is
//! what makes reuse correct. Only *active* values — those that depend on the parameters being
//! differentiated — get adjoints, so constants such as data and labels cost nothing.

use std::collections::HashMap;

use super::derive::{fresh_param_name, DeriveCx};
use super::ir::{Kind, KindError, Program, Role, ValueId};
use super::op::Op;
use super::rules;
use super::rules::arith::Literal;
use super::rules::reduce::Fill;

/// What the adjoint of the output starts from.
#[derive(Clone, Debug, PartialEq)]
pub enum Seed {
    /// A new parameter holding the upstream gradient (for `f_vjp` and the derivation).
    Upstream,
    /// The literal 1 (for `f_grad` of a scalar function).
    One,
}

/// A derived program and where its parts are.
#[derive(Clone, Debug, PartialEq)]
pub struct Reverse {
    /// Parameters: the primal ones, then one upstream gradient per result (with
    /// [`Seed::Upstream`]). Outputs: the primal results, then one adjoint per wrt parameter.
    pub program: Program,
    /// The names of the upstream-gradient parameters, one per result (`d` + the returned
    /// variable, or `dout`; `dout0`, `dout1`, .. for the unnamed results of a tuple).
    pub upstreams: Vec<String>,
    /// `(dp, adjoint)` for each wrt parameter `p`, for the printer.
    pub adjoint_names: Vec<(String, ValueId)>,
}

impl Reverse {
    /// How many results the primal program has (the outputs before the adjoints).
    pub fn results(&self) -> usize {
        self.program.outputs.len() - self.adjoint_names.len()
    }
}

/// Adds `contribution` to the adjoint of `v` (`+=`: a value used twice gets both).
fn accumulate(
    cx: &mut DeriveCx<'_>,
    adjoints: &mut HashMap<ValueId, ValueId>,
    v: ValueId,
    contribution: ValueId,
) -> Result<(), KindError> {
    let total = match adjoints.get(&v) {
        Some(&previous) => cx.add(previous, contribution)?,
        None => contribution,
    };
    adjoints.insert(v, total);
    Ok(())
}

/// The name of the upstream gradient (or the tangent) of result number `index` of `results`:
/// `d` + the variable returned when it is one (not a parameter returned as is), else `dout`
/// (`dout0`, `dout1`, .. among several results).
pub(crate) fn result_adjoint_name(program: &Program, index: usize) -> String {
    let output = program.outputs[index];
    let inst = program.inst(output);
    match (&inst.name, &inst.op) {
        (Some(name), op) if !matches!(op, Op::Param(_)) => format!("d{name}"),
        _ if program.outputs.len() == 1 => "dout".to_string(),
        _ => format!("dout{index}"),
    }
}

/// The reverse program of `primal` (one output, or several: a tuple result) with respect to
/// the parameters whose indices are in `wrt`.
pub fn reverse(primal: &Program, wrt: &[usize], seed: Seed) -> Result<Reverse, KindError> {
    if primal.outputs.is_empty() {
        return Err(KindError::new(
            "a differentiable program has at least one output",
        ));
    }
    let mut program = primal.clone();
    // Adjoints are named after the primal values as the printer shows them (`h_2` → `dh_2`).
    let primal_names = primal.value_names();
    let primal_len = program.insts.len();
    let mut seeds = Vec::with_capacity(primal.outputs.len());
    let mut upstreams = Vec::with_capacity(primal.outputs.len());
    for (index, &output) in primal.outputs.iter().enumerate() {
        let out_kind = program.kind(output);
        let seed_value = match seed {
            Seed::Upstream => {
                let name = fresh_param_name(&program, &result_adjoint_name(primal, index));
                let v = program.param(&name, out_kind);
                program.insts[v.index()].role = Role::Adjoint;
                upstreams.push(name);
                v
            }
            Seed::One if out_kind == Kind::Scalar && primal.outputs.len() == 1 => {
                program.push_with_role(Literal::new(1.0).into(), &[], Role::Adjoint)?
            }
            Seed::One => {
                return Err(KindError::new(
                    "a gradient needs a scalar result; use the vector-Jacobian product for \
                     tensors",
                ))
            }
        };
        seeds.push((output, seed_value));
    }

    let mut cx = DeriveCx::new(&mut program, wrt, Role::Adjoint);
    let mut adjoints: HashMap<ValueId, ValueId> = HashMap::new();
    for &(output, seed_value) in &seeds {
        // The upstream gradient has the result's shape.
        cx.share_shape(seed_value, output);
        if cx.is_active(output) {
            accumulate(&mut cx, &mut adjoints, output, seed_value)?;
        }
    }
    sweep(&mut cx, primal_len, &primal_names, &mut adjoints)?;

    let mut outputs = primal.outputs.clone();
    let mut adjoint_names = Vec::new();
    for &p in wrt {
        let param = ValueId(
            cx.program
                .insts
                .iter()
                .position(|inst| matches!(inst.op, Op::Param(q) if q.0 == p))
                .ok_or_else(|| KindError::new(format!("no parameter number {p}")))?
                as u32,
        );
        let adjoint = match adjoints.get(&param) {
            Some(&a) => a,
            None => {
                // The result does not depend on this parameter: its gradient is zero.
                let zero = cx.literal(0.0)?;
                let fill = cx.push(Fill, &[zero, param])?;
                let name = format!("d{}", cx.program.params[p].name);
                cx.program.name_value(fill, &name);
                fill
            }
        };
        adjoint_names.push((format!("d{}", cx.program.params[p].name), adjoint));
        outputs.push(adjoint);
    }
    program.outputs = outputs;
    Ok(Reverse {
        program,
        upstreams,
        adjoint_names,
    })
}

/// Walks the first `primal_len` instructions backwards from the seeded `adjoints`, applying
/// each op's pullback and summing contributions. A loop is pulled back as a whole, once the
/// adjoints of all its results (its projections, which follow it) are known.
fn sweep(
    cx: &mut DeriveCx<'_>,
    primal_len: usize,
    primal_names: &[String],
    adjoints: &mut HashMap<ValueId, ValueId>,
) -> Result<(), KindError> {
    let mut loop_adjoints: HashMap<ValueId, Vec<Option<ValueId>>> = HashMap::new();
    for i in (0..primal_len).rev() {
        let v = ValueId(i as u32);
        let inst = cx.program.inst(v).clone();
        if let Op::Project(p) = inst.op {
            if let Some(&dv) = adjoints.get(&v) {
                let slots = loop_adjoints.entry(inst.args[0]).or_default();
                if slots.len() <= p.index {
                    slots.resize(p.index + 1, None);
                }
                slots[p.index] = Some(match slots[p.index] {
                    Some(previous) => cx.add(previous, dv)?,
                    None => dv,
                });
            }
            continue;
        }
        let several_results = inst.kind == Kind::Tuple;
        let contributions = if several_results {
            let Some(douts) = loop_adjoints.remove(&v) else {
                continue;
            };
            cx.source = inst.source.clone();
            match &inst.op {
                Op::Loop(_) => rules::control::reverse_loop(cx, v, &inst.args, &douts)?,
                Op::Branch(_) => rules::control::reverse_branch(cx, v, &inst.args, &douts)?,
                Op::Call(call) => rules::call::reverse_tuple_call(cx, v, call, &inst.args, &douts)?,
                other => {
                    return Err(KindError::new(format!(
                        "`{other:?}` has several results but no pullback for them"
                    )))
                }
            }
        } else {
            let Some(&dv) = adjoints.get(&v) else {
                continue;
            };
            if cx.program.inst(dv).role == Role::Adjoint {
                if inst.name.is_some() {
                    cx.program
                        .name_value(dv, &format!("d{}", primal_names[v.index()]));
                } else if feeds_an_activation(cx.program, v, primal_len)
                    && !primal_names.iter().any(|n| n == "z" || n.starts_with("z_"))
                {
                    // An unnamed pre-activation (`(h·w + b).tanh()`): its adjoint is the
                    // textbook's dz, named once rather than repeated in every line that reads it
                    // (unless the function has a `z` of its own).
                    cx.program.name_value(dv, "dz");
                }
            }
            if inst.args.is_empty() {
                continue;
            }
            cx.source = inst.source.clone();
            inst.op.reverse(cx, &inst.args, v, dv)?
        };
        for (&arg, contribution) in inst.args.iter().zip(contributions) {
            if let Some(c) = contribution {
                if cx.is_active(arg) {
                    accumulate(cx, adjoints, arg, c)?;
                }
            }
        }
    }
    Ok(())
}

/// Whether `v` is read by an activation (tanh, σ, ReLU, softplus, log σ) or a softmax among the
/// first `primal_len` instructions (the primal program's).
fn feeds_an_activation(program: &Program, v: ValueId, primal_len: usize) -> bool {
    use rules::elementwise::{Unary, UnaryFn};
    program.insts[..primal_len].iter().any(|inst| {
        inst.args.first() == Some(&v)
            && matches!(
                inst.op,
                Op::Unary(Unary(
                    UnaryFn::Tanh
                        | UnaryFn::Sigmoid
                        | UnaryFn::Relu
                        | UnaryFn::Softplus
                        | UnaryFn::LogSigmoid
                )) | Op::Softmax(_)
                    | Op::LogSoftmax(_)
            )
    })
}

/// The pullback of `program` (any number of outputs) with respect to its parameters numbered
/// in `wrt`: a program whose parameters are `program`'s, then one upstream gradient per output
/// (`d` + its name), and whose outputs are the adjoints of the wrt parameters, in order (a
/// zero where an output does not depend on one). A loop body's pullback is built this way.
pub(crate) fn pullback(program: &Program, wrt: &[usize]) -> Result<Program, KindError> {
    let mut out = program.clone();
    let names = program.value_names();
    let primal_len = out.insts.len();
    let mut seeds = Vec::with_capacity(program.outputs.len());
    for &o in &program.outputs {
        let name = fresh_param_name(&out, &format!("d{}", names[o.index()]));
        let seed = out.param(&name, program.kind(o));
        out.insts[seed.index()].role = Role::Adjoint;
        seeds.push((o, seed));
    }
    let mut cx = DeriveCx::new(&mut out, wrt, Role::Adjoint);
    let mut adjoints: HashMap<ValueId, ValueId> = HashMap::new();
    for &(o, seed) in &seeds {
        cx.share_shape(seed, o);
        if cx.is_active(o) {
            accumulate(&mut cx, &mut adjoints, o, seed)?;
        }
    }
    sweep(&mut cx, primal_len, &names, &mut adjoints)?;
    let mut outputs = Vec::with_capacity(wrt.len());
    for &p in wrt {
        let param = rules::control::param_value(cx.program, p);
        outputs.push(match adjoints.get(&param) {
            Some(&a) => a,
            None => {
                let zero = cx.literal(0.0)?;
                if cx.kind(param) == Kind::Scalar {
                    zero
                } else {
                    cx.push(Fill, &[zero, param])?
                }
            }
        });
    }
    out.outputs = outputs;
    Ok(out)
}
