//! The derivation plan: everything `#[differentiable]` generates for one function, decided in
//! one place. [`plan`] builds every derived program the macro prints (reverse, forward, second
//! order, the dense matrices and the building blocks callers use) and makes every choice about
//! them: which items are generated (those asked for that the function has, and the items they
//! are built on), which second-order items exist (and why not, when not), how each dense matrix
//! is computed, and the one rule by which generated code picks reverse or forward mode at run
//! time. The macro turns the plan into items; it decides nothing about derivatives.

use std::fmt;

mod items;
pub use items::{Item, Items};

use super::forward::Forward;
use super::ir::{KindError, Program, Role};
use super::op::Op;
use super::print;
use super::reverse::Reverse;
use super::simplify::eliminate_dead_code;
use super::trace::{trace_plan, TracePlan};
use super::{
    batched_hessian, derive_forward, derive_jacobian, derive_jacobian_either, derive_reverse,
    derive_vjp, forward_over_reverse, ForwardProducts, ReverseProducts,
};

/// Everything generated for one function, with respect to the parameters numbered in `wrt`.
/// The first-order programs are always built: they are cheap, and the building blocks (always
/// generated) reuse them when `wrt` is every parameter. The second-order programs and the
/// Jacobian's are built only for the items that need them.
#[derive(Clone, Debug, PartialEq)]
pub struct Plan {
    /// The items to generate: those asked for that the function has, and the items their
    /// generated code calls (see [`plan`]). The building blocks are not items: always there.
    pub items: Items,
    /// `f_vjp`, `f_grad` (for a scalar result) and the reverse derivation (`f_derivation`).
    pub reverse: ReverseProducts,
    /// `f_jvp` and the forward derivation.
    pub forward: ForwardProducts,
    /// `f_hvp` and `f_hessian`, or why the function has neither; `None` when neither was asked
    /// for (nothing second-order is derived then, not even the reason).
    pub second_order: Option<Result<SecondOrder, NoSecondOrder>>,
    /// How `f_jacobian` is computed; `None` when it was not asked for.
    pub jacobian: Option<JacobianPlan>,
    /// What callers of the function use (`__autodiff_f_vjp`, `_jvp`, `_vjp_jvp`).
    pub blocks: CalleeBlocks,
    /// `f_trace_vjp`: the reverse program with each derivation line's numbers as outputs;
    /// `None` when it was not asked for.
    pub trace: Option<TracePlan>,
}

/// The second-order items of a function with a scalar result.
#[derive(Clone, Debug, PartialEq)]
pub struct SecondOrder {
    /// `f_hvp`: forward mode over the gradient program. Parameters: the primal ones, then one
    /// direction per wrt parameter. Outputs: the value, one gradient per wrt parameter, then the
    /// Hessian times the direction (one per wrt parameter, shaped like the gradient). Built
    /// for either item: `f_hessian` may be one `f_hvp` per direction.
    pub hvp: Forward,
    /// The forward-over-reverse derivation of `hvp`, one equation a line.
    pub derivation: String,
    /// How `f_hessian` is computed; `None` when it was not asked for.
    pub hessian: Option<HessianPlan>,
}

/// Why a function (or a building block) has no second derivatives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NoSecondOrder {
    /// The result is a vector or a matrix: there is no gradient to differentiate again (the
    /// first derivative is the Jacobian).
    TensorResult,
    /// The result is a tuple: several outputs, each with its own Jacobian.
    TupleResult,
    /// The pullback goes through a call of `callee`, which has no second-order block: a
    /// `#[derivative]` supplies a pullback only, and so does any function that calls one.
    CalleeWithoutSecondOrder { callee: String },
}

impl fmt::Display for NoSecondOrder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NoSecondOrder::TensorResult => {
                f.write_str("the result is a tensor, so it has no gradient to differentiate")
            }
            NoSecondOrder::TupleResult => {
                f.write_str("the result is a tuple, so it has no gradient to differentiate")
            }
            NoSecondOrder::CalleeWithoutSecondOrder { callee } => write!(
                f,
                "the gradient goes through `{callee}`, which has a pullback but no second \
                 derivatives"
            ),
        }
    }
}

/// How `f_jacobian` is computed: per wrt parameter `p`, a numel(R) × numel(p) matrix.
#[derive(Clone, Debug, PartialEq)]
pub enum JacobianPlan {
    /// A scalar result: the gradient (`f_grad`) as a row.
    FromGradient,
    /// One wrt parameter, both modes batched in one program (see [`derive_jacobian_either`]).
    /// Parameters: the primal ones. Outputs: the Jacobian by reverse mode, the Jacobian by
    /// forward mode (a different value), the result. The primal work runs once; then reverse
    /// mode when `numel(result) reverse_when numel(parameter)`, else forward mode.
    EitherMode {
        program: Program,
        reverse_when: Comparison,
    },
    /// All directions of each wrt parameter at once (by forward mode, or by either when both
    /// come to the same program): one program per wrt parameter, whose parameters are the
    /// primal ones and whose output is its Jacobian.
    Batched(Vec<Program>),
    /// One pass per direction: one `f_vjp` per output element when
    /// `numel(result) reverse_when (the wrt parameters' numels summed)`, else one `f_jvp` per
    /// input element.
    ByDirections { reverse_when: Comparison },
}

/// How `f_hessian` is computed: n×n over the wrt parameters flattened and concatenated, in
/// groups of columns (see [`derive_hessian`](super::derive_hessian)).
#[derive(Clone, Debug, PartialEq)]
pub struct HessianPlan {
    pub groups: Vec<HessianColumns>,
}

/// Columns of the Hessian whose directions go through the gradient together: one tensor
/// parameter's, or every scalar parameter's.
#[derive(Clone, Debug, PartialEq)]
pub struct HessianColumns {
    /// The parameters whose directions these columns are, as positions in `wrt` (increasing).
    pub directions: Vec<usize>,
    /// The program that computes them all at once, or `None`: one Hessian-vector product per
    /// direction.
    pub batched: Option<BatchedBlocks>,
}

/// A batched program of Hessian columns.
#[derive(Clone, Debug, PartialEq)]
pub struct BatchedBlocks {
    /// Parameters: the primal ones. Outputs: the blocks that are not zero.
    pub program: Program,
    /// For each wrt parameter `p` (in `wrt` order), the output holding the block ∂²f/∂p∂d over
    /// the directions `d` (numel(p) × their numels summed, in order), or `None` where it is zero.
    pub blocks: Vec<Option<usize>>,
}

/// A comparison of two element counts, `left OP right`, as generated code evaluates it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Comparison {
    /// `left < right`
    Less,
    /// `left <= right`
    LessOrEqual,
}

impl Comparison {
    /// Whether `left OP right` holds.
    pub fn holds(self, left: usize, right: usize) -> bool {
        match self {
            Comparison::Less => left < right,
            Comparison::LessOrEqual => left <= right,
        }
    }

    /// The Rust operator.
    pub fn operator(self) -> &'static str {
        match self {
            Comparison::Less => "<",
            Comparison::LessOrEqual => "<=",
        }
    }

    /// The comparison in words, for documentation: "fewer than" (counts of things).
    pub fn words(self) -> &'static str {
        match self {
            Comparison::Less => "fewer than",
            Comparison::LessOrEqual => "at most as many as",
        }
    }
}

/// The one rule by which a dense Jacobian picks its mode at run time: reverse mode (one pass
/// per output element) when `outputs < inputs`, else forward mode (one pass per input element).
/// On a tie forward mode, because with as many passes either way a forward pass is the cheaper:
/// it keeps no intermediates for a backward sweep and accumulates nothing (and a batched reverse
/// Jacobian is transposed at the end). Stated here only: the plan hands it to every Jacobian
/// that chooses at run time, and the macro prints the comparison it is given.
pub const REVERSE_WHEN: Comparison = Comparison::Less;

/// What a caller's derivatives use of a function: its building blocks, with respect to every
/// parameter of the program (every differentiable parameter of the function, whatever its own
/// `wrt` says), so that a caller's gradients flow through every argument.
#[derive(Clone, Debug, PartialEq)]
pub struct CalleeBlocks {
    /// `__autodiff_f_vjp`. Parameters: the primal ones, then the upstream gradient. Outputs: the
    /// value, then one gradient per parameter.
    pub pullback: Reverse,
    /// `__autodiff_f_jvp`. Parameters: the primal ones, then one tangent per parameter.
    /// Outputs: the value and its tangent.
    pub pushforward: Forward,
    /// `__autodiff_f_vjp_jvp`: forward mode over the pullback, along every parameter and the
    /// upstream gradient. Parameters: the pullback's, then one tangent for each of them.
    /// Outputs: the value, the gradients, then the gradients' tangents. What a caller's
    /// Hessian needs of this function; or why there is none.
    pub second_order: Result<Forward, NoSecondOrder>,
}

/// The plan for `primal` (one output) differentiated with respect to the parameters numbered in
/// `wrt` (in increasing order), for the items in `wanted` ([`Items::ALL`] for everything the
/// function has). An item the function does not have is left out: `f_grad`, `f_hvp` and
/// `f_hessian` need a scalar result, and the last two second derivatives of every callee the
/// gradient goes through (`second_order` says why not). An error is an internal one: a program
/// the engine cannot differentiate although the front end accepted it.
pub fn plan(primal: &Program, wrt: &[usize], wanted: Items) -> Result<Plan, KindError> {
    // Derivatives are built from the stable form of a textbook spelling (`ln(1 + exp(u))`).
    let primal = &super::stable_spellings(primal);
    let reverse = derive_reverse(primal, wrt)?;
    let forward = derive_forward(primal, wrt)?;
    let second_order = if wanted.contains(Item::Hvp) || wanted.contains(Item::Hessian) {
        Some(second_order(wrt, &reverse, wanted.contains(Item::Hessian))?)
    } else {
        None
    };
    let jacobian = if wanted.contains(Item::Jacobian) {
        Some(jacobian(primal, wrt, &reverse)?)
    } else {
        None
    };
    let blocks = callee_blocks(primal, wrt, &reverse, &forward)?;
    let trace = if wanted.contains(Item::Trace) {
        Some(trace_plan(&reverse.vjp)?)
    } else {
        None
    };
    let items = generated(wanted, &reverse, &second_order, &jacobian);
    Ok(Plan {
        items,
        reverse,
        forward,
        second_order,
        jacobian,
        blocks,
        trace,
    })
}

/// The items generated for `wanted`: those the function has, and the items their generated
/// code calls, which depend on how the plan computes them: `f_jacobian` calls `f_grad` for a
/// scalar result and `f_vjp` and `f_jvp` when it takes one pass per direction; `f_hessian`
/// calls `f_hvp` when it takes one per direction; `f_gradcheck` calls `f_vjp` and `f_jvp`.
/// None of those calls another item, so one round is all of them.
fn generated(
    wanted: Items,
    reverse: &ReverseProducts,
    second_order: &Option<Result<SecondOrder, NoSecondOrder>>,
    jacobian: &Option<JacobianPlan>,
) -> Items {
    let second = second_order.as_ref().and_then(|s| s.as_ref().ok());
    let has = |item: Item| match item {
        Item::Grad => reverse.grad.is_some(),
        Item::Hvp | Item::Hessian => second.is_some(),
        _ => true,
    };
    let available: Items = wanted.iter().filter(|&item| has(item)).collect();
    let hessian = second.and_then(|s| s.hessian.as_ref());
    let calls: [(bool, &[Item]); 4] = [
        (available.contains(Item::Gradcheck), &[Item::Vjp, Item::Jvp]),
        (
            matches!(jacobian, Some(JacobianPlan::FromGradient)),
            &[Item::Grad],
        ),
        (
            matches!(jacobian, Some(JacobianPlan::ByDirections { .. })),
            &[Item::Vjp, Item::Jvp],
        ),
        (
            hessian.is_some_and(|h| h.groups.iter().any(|g| g.batched.is_none())),
            &[Item::Hvp],
        ),
    ];
    calls
        .into_iter()
        .filter(|(called, _)| *called)
        .flat_map(|(_, items)| items.iter().copied())
        .chain(available.iter())
        .collect()
}

/// `f_hvp` and, with `hessian`, `f_hessian` from the gradient program, where there is one and
/// every pullback it reads can be differentiated again.
fn second_order(
    wrt: &[usize],
    reverse: &ReverseProducts,
    hessian: bool,
) -> Result<Result<SecondOrder, NoSecondOrder>, KindError> {
    let Some(gradient) = &reverse.grad else {
        return Ok(Err(if reverse.vjp.results() > 1 {
            NoSecondOrder::TupleResult
        } else {
            NoSecondOrder::TensorResult
        }));
    };
    if let Some(callee) = first_order_only_callee(gradient) {
        return Ok(Err(NoSecondOrder::CalleeWithoutSecondOrder { callee }));
    }
    let hvp = forward_over_reverse(gradient, 1, wrt)?;
    let derivation = print::print_lines(&hvp.program, Role::Tangent, &[]);
    let hessian = if hessian {
        Some(HessianPlan {
            groups: batched_hessian(gradient, wrt)?,
        })
    } else {
        None
    };
    Ok(Ok(SecondOrder {
        hvp,
        derivation,
        hessian,
    }))
}

/// The cheapest form of `f_jacobian` the engine can build: the gradient for a scalar result;
/// for one wrt parameter both modes batched (chosen at run time); all directions batched by
/// forward mode; else one pass per direction (chosen at run time).
fn jacobian(
    primal: &Program,
    wrt: &[usize],
    reverse: &ReverseProducts,
) -> Result<JacobianPlan, KindError> {
    if reverse.grad.is_some() {
        return Ok(JacobianPlan::FromGradient);
    }
    if primal.outputs.len() > 1 {
        // A tuple's rows come from each result's passes (see `JacobianPlan::ByDirections`).
        return Ok(JacobianPlan::ByDirections {
            reverse_when: REVERSE_WHEN,
        });
    }
    if let &[p] = wrt {
        if let Some(mut program) = derive_jacobian_either(primal, p)? {
            if program.outputs[0] != program.outputs[1] {
                return Ok(JacobianPlan::EitherMode {
                    program,
                    reverse_when: REVERSE_WHEN,
                });
            }
            // Both modes simplified to the same program: nothing to choose at run time, and
            // the result (which only the choice needed) is not computed.
            program.outputs.truncate(1);
            return Ok(JacobianPlan::Batched(vec![eliminate_dead_code(&program)]));
        }
    }
    Ok(match derive_jacobian(primal, wrt)? {
        Some(programs) => JacobianPlan::Batched(programs),
        None => JacobianPlan::ByDirections {
            reverse_when: REVERSE_WHEN,
        },
    })
}

/// The building blocks over every parameter (the products already built when `wrt` is all).
fn callee_blocks(
    primal: &Program,
    wrt: &[usize],
    reverse: &ReverseProducts,
    forward: &ForwardProducts,
) -> Result<CalleeBlocks, KindError> {
    let n = primal.params.len();
    let results = primal.outputs.len();
    let all: Vec<usize> = (0..n).collect();
    let (pullback, pushforward) = if wrt == all.as_slice() {
        (reverse.vjp.clone(), forward.jvp.clone())
    } else {
        (derive_vjp(primal, &all)?, derive_forward(primal, &all)?.jvp)
    };
    // Along every parameter and the upstream gradients (parameters n.. of the pullback).
    let second_order = match first_order_only_callee(&pullback.program) {
        Some(callee) => Err(NoSecondOrder::CalleeWithoutSecondOrder { callee }),
        None => Ok(forward_over_reverse(
            &pullback.program,
            results,
            &(0..n + results).collect::<Vec<_>>(),
        )?),
    };
    Ok(CalleeBlocks {
        pullback,
        pushforward,
        second_order,
    })
}

/// The first callee whose pullback `reverse` (a gradient or pullback program) reads although
/// the callee has no second-order block: forward mode over `reverse` would need it.
pub(crate) fn first_order_only_callee(reverse: &Program) -> Option<String> {
    reverse.insts.iter().find_map(|inst| match &inst.op {
        Op::CallVjp(vjp) if !vjp.callee.second_order => Some(vjp.callee.name.clone()),
        _ => None,
    })
}

#[cfg(test)]
mod tests;
