//! The forward (tangent) transformation.
//!
//! Walks the primal program front to back and applies each op's pushforward rule to the tangents
//! of its arguments. Each wrt parameter `p` gets a tangent parameter `dp` (the direction); values
//! that do not depend on any wrt parameter have a symbolic zero tangent and cost nothing.

use super::derive::{fresh_param_name, DeriveCx};
use super::ir::{Kind, KindError, Program, Role, ValueId};
use super::op::Op;
use super::rules::arith::Literal;
use super::rules::reduce::Fill;

/// A tangent program and where its parts are.
#[derive(Clone, Debug, PartialEq)]
pub struct Forward {
    /// Parameters: the primal ones, then one tangent per wrt parameter, in signature order.
    /// Outputs: the primal outputs, then their tangents in the same order (for one output: the
    /// value and the Jacobian-vector product).
    pub program: Program,
    /// The name of each tangent parameter (`d` + the parameter's name).
    pub tangent_names: Vec<String>,
    /// For each output, whether its tangent is structurally absent: an integer or a condition,
    /// or a loop's tape that does not depend on the wrt parameters. Its place among the outputs
    /// holds the value itself, which a caller (a loop, a branch) must not read as a tangent.
    pub absent: Vec<bool>,
}

/// The tangent program of `primal` along directions for the parameters whose indices are in
/// `wrt`. Applied to a gradient program it gives Hessian-vector products (forward-over-reverse).
pub fn forward(primal: &Program, wrt: &[usize]) -> Result<Forward, KindError> {
    if primal.outputs.is_empty() {
        return Err(KindError::new(
            "a program without outputs has nothing to differentiate",
        ));
    }
    let mut program = primal.clone();
    let primal_names = primal.value_names();
    let primal_len = program.insts.len();
    let mut tangents: Vec<Option<ValueId>> = vec![None; primal_len];
    let mut tangent_names = Vec::with_capacity(wrt.len());
    let mut seeds = Vec::with_capacity(wrt.len());
    for &p in wrt {
        let param = program
            .insts
            .iter()
            .position(|inst| matches!(inst.op, Op::Param(q) if q.0 == p))
            .ok_or_else(|| KindError::new(format!("no parameter number {p}")))?;
        let name = fresh_param_name(&program, &format!("d{}", program.params[p].name));
        let kind = program.params[p].kind;
        let t = program.param(&name, kind);
        program.insts[t.index()].role = Role::Tangent;
        tangents[param] = Some(t);
        tangent_names.push(name);
        seeds.push((t, ValueId(param as u32)));
    }

    let mut cx = DeriveCx::new(&mut program, wrt, Role::Tangent);
    for &(t, param) in &seeds {
        cx.share_shape(t, param);
    }
    for i in 0..primal_len {
        let v = ValueId(i as u32);
        let inst = cx.program.inst(v).clone();
        if inst.args.is_empty() {
            continue;
        }
        let arg_tangents: Vec<Option<ValueId>> =
            inst.args.iter().map(|a| tangents[a.index()]).collect();
        if arg_tangents.iter().all(Option::is_none) {
            continue;
        }
        cx.source = inst.source.clone();
        let t = inst.op.forward(&mut cx, &inst.args, &arg_tangents, v)?;
        if let Some(t) = t {
            if inst.name.is_some() && cx.program.inst(t).role == Role::Tangent {
                cx.program.name_value(t, &format!("d{}", primal_names[i]));
            }
        }
        tangents[i] = t;
    }
    let outputs = cx.program.outputs.clone();
    let mut output_tangents = Vec::with_capacity(outputs.len());
    let mut absent = Vec::with_capacity(outputs.len());
    for &output in &outputs {
        let kind = cx.program.kind(output);
        let structural = !kind.is_differentiable() || matches!(kind, Kind::Tape | Kind::Tuple);
        absent.push(tangents[output.index()].is_none() && structural);
        output_tangents.push(match tangents[output.index()] {
            Some(t) => t,
            // No tangent, and no zero of this kind to build: the place holds the value itself.
            None if structural => output,
            None => {
                // The output does not depend on the wrt parameters: its tangent is zero.
                let zero = cx.push(Literal::new(0.0), &[])?;
                let fill = cx.push(Fill, &[zero, output])?;
                if cx.program.inst(output).name.is_some() {
                    let name = format!("d{}", primal_names[output.index()]);
                    cx.program.name_value(fill, &name);
                }
                fill
            }
        });
    }
    program.outputs = outputs.into_iter().chain(output_tangents).collect();
    Ok(Forward {
        program,
        tangent_names,
        absent,
    })
}
