//! The symbolic engine: an SSA IR over scalars, vectors and matrices, one rule per op, the
//! reverse transformation, a simplifier, a printer to matrix notation and an interpreter.
//!
//! [`plan()`] is the entry point the macro uses: from the primal program of a `#[differentiable]`
//! function and the items asked for it builds every derived program the macro prints, and
//! decides which items are generated, which second-order items exist and how each dense matrix
//! is computed. The `derive_*` functions below are its parts: the simplified programs behind
//! `f_vjp` and `f_grad` ([`derive_reverse`]), `f_jvp` ([`derive_forward`]), `f_hvp`
//! ([`derive_hvp`]), and the batched Jacobians and Hessians.

pub mod derive;
#[cfg(feature = "runtime")]
pub mod eval;
pub mod forward;
pub mod fuse;
pub mod ir;
pub mod liveness;
pub mod methods;
pub mod op;
pub mod plan;
pub mod print;
pub mod reverse;
pub mod rules;
pub mod simplify;
pub mod trace;
pub mod vmap;

#[cfg(feature = "runtime")]
pub use eval::{eval, Value};
pub use forward::{forward, Forward};
pub use fuse::fuse;
pub use ir::{Inst, Kind, KindError, Param, Precision, Program, Role, ValueId};
pub use liveness::Liveness;
pub use op::{Emit, Op, Rule};
pub use plan::{
    plan, BatchedBlocks, CalleeBlocks, Comparison, HessianColumns, HessianPlan, Item, Items,
    JacobianPlan, NoSecondOrder, Plan, SecondOrder, REVERSE_WHEN,
};
pub use reverse::{reverse, Reverse, Seed};
pub use simplify::{simplify, stable_spellings};
pub use trace::{trace_plan, EntryRole, TraceEntry, TracePlan, TraceStep};

/// Everything reverse mode generates for one function.
#[derive(Clone, Debug, PartialEq)]
pub struct ReverseProducts {
    /// Parameters: the primal ones then the upstream gradient. Outputs: the value, then one
    /// adjoint per wrt parameter. Simplified.
    pub vjp: Reverse,
    /// The same with the upstream fixed at 1, when the result is a scalar. Simplified.
    pub grad: Option<Program>,
    /// The derivation: the adjoint equations of `vjp`, one a line.
    pub derivation: String,
}

/// Builds the simplified vector-Jacobian-product program, the gradient program (for a scalar
/// result) and the derivation of `primal` with respect to the parameters numbered in `wrt`.
pub fn derive_reverse(primal: &Program, wrt: &[usize]) -> Result<ReverseProducts, KindError> {
    let vjp = derive_vjp(primal, wrt)?;
    let derivation = print::print_lines(&vjp.program, Role::Adjoint, &vjp.adjoint_names);
    // A gradient for one scalar result (not a tuple's).
    let grad = match primal.outputs[..] {
        [output] if primal.kind(output) == Kind::Scalar => Some(gradient_program(primal, wrt)?),
        _ => None,
    };
    Ok(ReverseProducts {
        vjp,
        grad,
        derivation,
    })
}

/// The simplified vector-Jacobian-product program of `primal` with respect to the parameters
/// numbered in `wrt`, its adjoint names pointing into the simplified program.
pub(crate) fn derive_vjp(primal: &Program, wrt: &[usize]) -> Result<Reverse, KindError> {
    let mut vjp = reverse(primal, wrt, Seed::Upstream)?;
    vjp.program = simplify(&vjp.program);
    let n_primal_outputs = primal.outputs.len();
    vjp.adjoint_names = vjp
        .adjoint_names
        .iter()
        .zip(&vjp.program.outputs[n_primal_outputs..])
        .map(|((name, _), &v)| (name.clone(), v))
        .collect();
    Ok(vjp)
}

/// The simplified gradient program of `primal` (a scalar result): the reverse program seeded
/// with 1. Outputs: the value, then one gradient per wrt parameter.
fn gradient_program(primal: &Program, wrt: &[usize]) -> Result<Program, KindError> {
    Ok(simplify(&reverse(primal, wrt, Seed::One)?.program))
}

/// What forward mode generates for one function.
#[derive(Clone, Debug, PartialEq)]
pub struct ForwardProducts {
    /// Parameters: the primal ones, then one tangent per wrt parameter. Outputs: the value and
    /// its directional derivative. Simplified.
    pub jvp: Forward,
    /// The forward derivation: the tangent equations of `jvp`, one a line.
    pub derivation: String,
}

/// Builds the simplified Jacobian-vector-product program of `primal` along the parameters
/// numbered in `wrt`, and its derivation.
pub fn derive_forward(primal: &Program, wrt: &[usize]) -> Result<ForwardProducts, KindError> {
    let mut jvp = forward(primal, wrt)?;
    jvp.program = simplify(&jvp.program);
    // Each result's tangent is named as its upstream gradient is in reverse mode: `d` + its
    // name when it has one, else `dout`.
    let results = primal.outputs.len();
    let aliases: Vec<(String, ValueId)> = (0..results)
        .map(|i| {
            (
                reverse::result_adjoint_name(primal, i),
                jvp.program.outputs[results + i],
            )
        })
        .collect();
    let derivation = print::print_lines(&jvp.program, Role::Tangent, &aliases);
    Ok(ForwardProducts { jvp, derivation })
}

/// Builds the simplified Hessian-vector-product program of `primal` (which must have a scalar
/// result) along directions for the parameters numbered in `wrt`: forward mode over the
/// gradient program. Parameters: the primal ones, then one direction per wrt parameter.
/// Outputs: the value, the gradient (one per wrt parameter), then the Hessian times the
/// direction (one per wrt parameter, shaped like the gradient).
pub fn derive_hvp(primal: &Program, wrt: &[usize]) -> Result<Forward, KindError> {
    forward_over_reverse(&gradient_program(primal, wrt)?, 1, wrt)
}

/// Forward mode over a reverse program (a gradient or a pullback) along the parameters
/// numbered in `directions`, simplified. Outputs: those of `reverse` (the `results` values, then
/// the adjoints), then the adjoints' tangents; the values' tangents are left out.
pub(crate) fn forward_over_reverse(
    reverse: &Program,
    results: usize,
    directions: &[usize],
) -> Result<Forward, KindError> {
    let mut second = forward(reverse, directions)?;
    // Outputs now: values, adjoints, the values' tangents, the adjoints' tangents.
    let k = reverse.outputs.len();
    let mut outputs = second.program.outputs[..k].to_vec();
    outputs.extend_from_slice(&second.program.outputs[k + results..]);
    second.program.outputs = outputs;
    second.program = simplify(&second.program);
    Ok(second)
}

/// The Jacobian of `primal` with respect to each parameter numbered in `wrt`, as batched
/// forward-mode programs (one per parameter, all its directions at once: the identity seed,
/// kept as structure, so `W·x` gives `W` itself and an elementwise map a diagonal). Each
/// program has the primal parameters and one output, the numel(R) × numel(p) Jacobian.
/// `None` when the program has no batched form (a matrix-valued tangent somewhere); callers
/// then take one directional derivative per direction.
pub fn derive_jacobian(primal: &Program, wrt: &[usize]) -> Result<Option<Vec<Program>>, KindError> {
    let mut programs = Vec::with_capacity(wrt.len());
    for &p in wrt {
        let tangent = simplify(&forward(primal, &[p])?.program);
        let seed = primal.params.len();
        let Some(like) = tangent
            .insts
            .iter()
            .position(|inst| matches!(inst.op, Op::Param(q) if q.0 == p))
        else {
            return Ok(None);
        };
        let batched = match vmap::vmap(&tangent, seed, ValueId(like as u32), false) {
            Ok(b) if b.batched_outputs.get(1) == Some(&true) => b,
            _ => return Ok(None),
        };
        let mut program = batched.program;
        program.outputs = vec![program.outputs[1]];
        programs.push(simplify(&program));
    }
    Ok(Some(programs))
}

/// The Hessian of `primal` (a scalar result) over the parameters numbered in `wrt`, as groups
/// of columns (see [`HessianColumns`]): each tensor parameter's directions go through the
/// gradient at once (forward over reverse with the identity as the seed: for logistic
/// regression `Xᵀ·(X ⊙ s(1 − s)) + λI`, GEMMs, not n Hessian-vector products), and so do all
/// the scalar parameters' directions together (each scalar's seed a row of the identity), so
/// the programs grow with the function, not with its number of parameters. A group whose
/// program has no batched form is left to one Hessian-vector product per direction.
pub fn derive_hessian(primal: &Program, wrt: &[usize]) -> Result<Vec<HessianColumns>, KindError> {
    batched_hessian(&gradient_program(primal, wrt)?, wrt)
}

/// [`derive_hessian`] from the simplified gradient program.
pub(crate) fn batched_hessian(
    gradient: &Program,
    wrt: &[usize],
) -> Result<Vec<HessianColumns>, KindError> {
    let k = gradient.outputs.len() - 1;
    let mut groups = Vec::new();
    for directions in direction_groups(gradient, wrt) {
        let params: Vec<usize> = directions.iter().map(|&d| wrt[d]).collect();
        let hvp = simplify(&forward(gradient, &params)?.program);
        // The directions are the parameters after the gradient program's own.
        let seeds: Vec<usize> = (0..params.len())
            .map(|j| gradient.params.len() + j)
            .collect();
        let batched = match &params[..] {
            &[q] => hvp
                .insts
                .iter()
                .position(|inst| matches!(inst.op, Op::Param(p) if p.0 == q))
                .and_then(|like| vmap::vmap(&hvp, seeds[0], ValueId(like as u32), false).ok()),
            _ => vmap::vmap_scalars(&hvp, &seeds, false).ok(),
        };
        let batched = batched.map(|batched| {
            // Outputs: value, gradients, the value's tangent, the gradients' tangents (the
            // blocks). A tangent that does not depend on the seeds is zero: the program is
            // linear in them.
            let mut program = batched.program;
            let mut outputs = Vec::new();
            let blocks = (k + 2..2 * k + 2)
                .map(|o| {
                    batched.batched_outputs[o].then(|| {
                        outputs.push(program.outputs[o]);
                        outputs.len() - 1
                    })
                })
                .collect();
            program.outputs = outputs;
            BatchedBlocks {
                program: simplify(&program),
                blocks,
            }
        });
        groups.push(HessianColumns {
            directions,
            batched,
        });
    }
    Ok(groups)
}

/// The groups of parameters whose directions derived programs push through together, as
/// positions in `wrt`: every scalar parameter in one group (at the place of the first), every
/// tensor parameter alone.
fn direction_groups(program: &Program, wrt: &[usize]) -> Vec<Vec<usize>> {
    let mut groups: Vec<Vec<usize>> = Vec::new();
    let mut scalars: Option<usize> = None;
    for (position, &p) in wrt.iter().enumerate() {
        if program.params[p].kind != Kind::Scalar {
            groups.push(vec![position]);
        } else if let Some(group) = scalars {
            groups[group].push(position);
        } else {
            scalars = Some(groups.len());
            groups.push(vec![position]);
        }
    }
    groups
}

/// The Jacobian of `primal` (a tensor result) with respect to its parameter number `p`, both
/// ways at once: one program whose outputs are the Jacobian by batched reverse mode (all output
/// seeds at once, then transposed), the Jacobian by batched forward mode (all input directions
/// at once), and the result. The generated code computes the primal part once and then only
/// the mode that is cheaper for the sizes at hand (see [`REVERSE_WHEN`]).
/// `None` when either mode has no batched form, or when the pullback goes through a callee
/// without a second-order block (forward mode over it is not available).
pub fn derive_jacobian_either(primal: &Program, p: usize) -> Result<Option<Program>, KindError> {
    let n_params = primal.params.len();
    let reverse = reverse(primal, &[p], Seed::Upstream)?;
    if plan::first_order_only_callee(&reverse.program).is_some() {
        return Ok(None);
    }
    let mut both = forward(&reverse.program, &[p])?.program;
    // Outputs now: result, adjoint of p, their tangents. Keep the adjoint, the result's
    // tangent and the result.
    let (result, adjoint, tangent) = (both.outputs[0], both.outputs[1], both.outputs[2]);
    both.outputs = vec![adjoint, tangent, result];
    let both = simplify(&both);
    let result = both.outputs[2];
    // Parameters: primal ones, the upstream (n_params), the tangent (n_params + 1).
    let Ok(by_reverse) = vmap::vmap(&both, n_params, result, true) else {
        return Ok(None);
    };
    let Some(param) = by_reverse
        .program
        .insts
        .iter()
        .position(|inst| matches!(inst.op, Op::Param(q) if q.0 == p))
    else {
        return Ok(None);
    };
    let Ok(by_both) = vmap::vmap(&by_reverse.program, n_params, ValueId(param as u32), false)
    else {
        return Ok(None);
    };
    if !(by_reverse.batched_outputs[0] && by_both.batched_outputs[1]) {
        return Ok(None);
    }
    Ok(Some(simplify(&by_both.program)))
}
