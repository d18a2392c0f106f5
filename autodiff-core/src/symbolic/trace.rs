//! The numeric trace of a reverse program: the lines of its derivation, each with the numbers
//! it moves (upstream × local = downstream, as the lecture notes check every node).
//!
//! [`trace_plan`] takes the simplified vector-Jacobian-product program and returns it with
//! extra outputs: for each derivation line, the upstream adjoints it reads, the local factor
//! where the line is an elementwise product (the ReLU mask, `1 − y²`, computed by the same
//! rule at upstream 1), and the value it defines. The macro emits that program as `f_trace_vjp`
//! and turns the outputs into an `autodiff::Trace`; the engine's tests run it through the
//! interpreter.

use std::collections::HashMap;

use super::ir::{Kind, KindError, Program, Role, ValueId};
use super::op::Op;
use super::print::{self, Line};
use super::reverse::Reverse;
use super::rules::arith::{BinOp, Binary, Literal};
use super::rules::reduce::Fill;

/// What a number of a step is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EntryRole {
    /// An adjoint the line reads: the gradient flowing in from above.
    Upstream,
    /// The line's local derivative, where it is elementwise.
    Local,
    /// The value the line defines: the gradient flowing on.
    Downstream,
}

/// One number (scalar, vector or matrix) of a step: which role, under which name, and the
/// position of the trace program's output that holds it.
#[derive(Clone, Debug, PartialEq)]
pub struct TraceEntry {
    pub role: EntryRole,
    pub name: String,
    pub output: usize,
}

/// One step: a derivation line (or a whole loop or branch block), and its numbers.
#[derive(Clone, Debug, PartialEq)]
pub struct TraceStep {
    pub equation: String,
    pub entries: Vec<TraceEntry>,
}

/// The trace program and how its outputs make the steps.
#[derive(Clone, Debug, PartialEq)]
pub struct TracePlan {
    /// The reverse program with the entries' values as outputs after its own.
    pub program: Program,
    pub steps: Vec<TraceStep>,
}

/// The longest local factor shown under its formula (`[x > 0]`); a longer one is "local".
const LABEL_LIMIT: usize = 32;

/// The trace of `vjp` (simplified, as `f_vjp` runs it): one step per derivation line, in order.
pub fn trace_plan(vjp: &Reverse) -> Result<TracePlan, KindError> {
    let lines = print::derivation_lines(&vjp.program, Role::Adjoint, &vjp.adjoint_names);
    let mut program = vjp.program.clone();
    let names = program.value_names();
    let mut steps: Vec<TraceStep> = Vec::new();
    let mut line_values = vec![false; program.insts.len()];
    for line in &lines {
        line_values[line.value.index()] = true;
    }
    let mut grouped: Vec<(String, ValueId)> = Vec::new();
    for Line { text, value } in &lines {
        match grouped.last_mut() {
            // A loop's or branch's lines are one step.
            Some((block, v)) if *v == *value && is_block(&program, *value) => {
                block.push('\n');
                block.push_str(text);
            }
            _ => grouped.push((text.clone(), *value)),
        }
    }
    for (equation, v) in grouped {
        let mut entries = Vec::new();
        let mut output = |program: &mut Program, role, name: String, value: ValueId| {
            program.outputs.push(value);
            entries.push(TraceEntry {
                role,
                name,
                output: program.outputs.len() - 1,
            });
        };
        if is_block(&program, v) {
            // The block's results that are adjoints, under their names.
            let results: Vec<usize> = (0..program.insts.len())
                .filter(|&k| {
                    let inst = &program.insts[k];
                    matches!(inst.op, Op::Project(_)) && inst.args[0] == v && is_number(inst.kind)
                })
                .collect();
            for k in results {
                output(
                    &mut program,
                    EntryRole::Downstream,
                    names[k].clone(),
                    ValueId(k as u32),
                );
            }
        } else if is_number(program.kind(v)) {
            let defined = equation
                .split_once(" = ")
                .map_or_else(|| names[v.index()].clone(), |(lhs, _)| lhs.to_string());
            let upstreams = if defined != names[v.index()] {
                // An alias: `dx = dy`.
                vec![v]
            } else {
                upstream_leaves(&program, v, &line_values)
            };
            for &u in &upstreams {
                let name = names[u.index()].clone();
                output(&mut program, EntryRole::Upstream, name, u);
            }
            if let (true, &[d]) = (defined == names[v.index()], upstreams.as_slice()) {
                if let Some((label, local)) =
                    local_factor(&mut program, v, d, &equation, &line_values, &names)?
                {
                    output(&mut program, EntryRole::Local, label, local);
                }
            }
            output(&mut program, EntryRole::Downstream, defined, v);
        }
        steps.push(TraceStep { equation, entries });
    }
    Ok(TracePlan { program, steps })
}

/// A scalar, vector or matrix: what a trace shows.
fn is_number(kind: Kind) -> bool {
    matches!(kind, Kind::Scalar | Kind::Vector | Kind::Matrix)
}

fn is_block(program: &Program, v: ValueId) -> bool {
    matches!(program.inst(v).op, Op::Loop(_) | Op::Branch(_))
}

/// The adjoints the line of `v` reads: walking its inlined operands down to values that have
/// lines of their own or are parameters, the ones that are adjoints.
fn upstream_leaves(program: &Program, v: ValueId, line_values: &[bool]) -> Vec<ValueId> {
    let mut found = Vec::new();
    let mut stack: Vec<ValueId> = program.inst(v).args.iter().rev().copied().collect();
    let mut seen = vec![false; program.insts.len()];
    while let Some(a) = stack.pop() {
        if std::mem::replace(&mut seen[a.index()], true) {
            continue;
        }
        let inst = program.inst(a);
        let leaf = matches!(inst.op, Op::Param(_) | Op::Project(_))
            || line_values.get(a.index()) == Some(&true);
        if leaf || inst.role != Role::Adjoint {
            if inst.role == Role::Adjoint && is_number(inst.kind) && !is_literal(inst) {
                found.push(a);
            }
            continue;
        }
        stack.extend(inst.args.iter().rev().copied());
    }
    found
}

fn is_literal(inst: &super::ir::Inst) -> bool {
    matches!(inst.op, Op::Const(_))
}

/// The local factor of a line that is elementwise in its one upstream `d`: `f'(x)` of
/// `dy ⊙ f'(x)`, `m` of `dy ⊙ m`, `1/m` of `dy / m`, and chains of those (`dz = ds ⊙ c ⊙ σ'(x)`):
/// the line's own expression at upstream 1 (a scalar upstream broadcast by `dout·𝟏` counts).
/// Labelled with the line's formula after the upstream, where it reads so (`[x > 0]`).
fn local_factor(
    program: &mut Program,
    v: ValueId,
    d: ValueId,
    equation: &str,
    line_values: &[bool],
    names: &[String],
) -> Result<Option<(String, ValueId)>, KindError> {
    // The chain from `v` down to `d`: each link elementwise, with `d` in one operand only.
    let mut chain = Vec::new();
    let mut at = v;
    while at != d {
        let inst = program.inst(at);
        let from_d: Vec<usize> = (0..inst.args.len())
            .filter(|&k| reads(program, inst.args[k], d, line_values, &mut HashMap::new()))
            .collect();
        let link = matches!(
            (&inst.op, from_d.as_slice()),
            (Op::Binary(Binary(BinOp::Mul)), &[_])
                | (Op::Binary(Binary(BinOp::Div)), &[0])
                | (
                    Op::Neg(_) | Op::UnaryGrad(_) | Op::PowiGrad(_) | Op::Fill(_),
                    &[0]
                )
        );
        if !link || (at != v && line_values.get(at.index()) == Some(&true)) {
            return Ok(None);
        }
        chain.push(at);
        at = inst.args[from_d[0]];
    }
    // A scalar upstream broadcast and nothing else has no local factor worth a line.
    if chain
        .iter()
        .all(|&link| matches!(program.inst(link).op, Op::Fill(_)))
    {
        return Ok(None);
    }
    // The chain again, from a 1 (or ones) in place of `d`.
    let one = program.push_with_role(Literal::new(1.0).into(), &[], Role::Adjoint)?;
    let mut replaced = if program.kind(d).is_tensor() {
        program.push_with_role(Fill.into(), &[one, d], Role::Adjoint)?
    } else {
        one
    };
    let mut previous = d;
    for &link in chain.iter().rev() {
        let inst = program.inst(link).clone();
        let args: Vec<ValueId> = inst
            .args
            .iter()
            .map(|&a| if a == previous { replaced } else { a })
            .collect();
        previous = link;
        replaced = program.push_with_role(inst.op, &args, Role::Adjoint)?;
    }
    let upstream = &names[d.index()];
    let rhs = equation.split_once(" = ").map_or("", |(_, rhs)| rhs);
    let label = ["·", " ⊙ "]
        .iter()
        .find_map(|sign| rhs.strip_prefix(&format!("{upstream}{sign}")))
        .map(str::to_string)
        .or_else(|| {
            rhs.strip_prefix(&format!("{upstream} / "))
                .map(|rest| format!("1 / {rest}"))
        })
        .map(|label| label.trim_start_matches("𝟏 ⊙ ").to_string())
        .filter(|label| label.chars().count() <= LABEL_LIMIT)
        .unwrap_or_else(|| "local".to_string());
    Ok(Some((label, replaced)))
}

/// Whether `a` is `d` or computed from it within the line (through values without lines).
fn reads(
    program: &Program,
    a: ValueId,
    d: ValueId,
    line_values: &[bool],
    known: &mut HashMap<ValueId, bool>,
) -> bool {
    if a == d {
        return true;
    }
    if let Some(&answer) = known.get(&a) {
        return answer;
    }
    let inst = program.inst(a);
    let answer = inst.role == Role::Adjoint
        && line_values.get(a.index()) != Some(&true)
        && inst
            .args
            .iter()
            .any(|&b| reads(program, b, d, line_values, known));
    known.insert(a, answer);
    answer
}
