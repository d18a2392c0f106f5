//! Vectorizing over directions (JAX's `vmap`; nothing to do with batches of data): a derived
//! program that is linear in one of its parameters (a tangent or an upstream gradient),
//! rewritten to take all directions at once.
//!
//! The seed parameter `s` of n elements is replaced by the n×n identity, and every value that
//! depends on it by its *batch*: a numel × n matrix whose column j is that value for direction
//! j (a scalar's batch is a 1×n row, a vector's an m×n matrix). Each op says how it acts on a
//! batch (`Rule::vmap`): `W·t` becomes the GEMM `W·T`, `t ⊙ g` scales T's rows by `g`, and the
//! simplifier keeps the identity's structure (`W·I = W`, a row scaling of `I` is a diagonal), so
//! a Jacobian costs what the dense result needs. Programs whose batches would be matrices of
//! matrices (matrix-valued tangents) are not batched; callers fall back to one pass per
//! direction.

use super::ir::{Inst, Kind, KindError, Param, Program, Role, ValueId};
use super::op::Op;
use super::rules::arith::{BinOp, Binary, Literal, ParamRef};
use super::rules::linalg::MatMul;
use super::rules::linalg::Transpose;
use super::rules::reduce::Fill;
use super::rules::structure::{AsColumn, Identity, UnitRow};

/// An operand of an instruction being batched.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Operand {
    /// Its value in the batched program.
    pub value: ValueId,
    /// Whether that value is a batch (a numel × n matrix) rather than the value itself.
    pub batched: bool,
    /// Its kind in the original program.
    pub kind: Kind,
}

/// The error of an op or a program that has no batched form.
pub fn not_batchable(what: &str) -> KindError {
    KindError::new(format!("{what} has no batched form"))
}

/// The builder handed to batching rules.
pub struct VmapCx<'a> {
    program: &'a mut Program,
}

impl VmapCx<'_> {
    /// Appends an instruction.
    pub fn push(&mut self, op: impl Into<Op>, args: &[ValueId]) -> Result<ValueId, KindError> {
        self.program.push_with_role(op.into(), args, Role::Tangent)
    }

    /// A vector (or scalar) operand as an n×1 column, to scale a batch's rows.
    pub fn column(&mut self, v: ValueId) -> Result<ValueId, KindError> {
        self.push(AsColumn, &[v])
    }

    /// Ones shaped like `v`.
    pub fn ones_like(&mut self, v: ValueId) -> Result<ValueId, KindError> {
        let one = self.push(Literal::new(1.0), &[])?;
        self.push(Fill, &[one, v])
    }
}

/// A batch `t` times a value `p` that does not depend on the seed: a scalar `p` scales the
/// whole batch, a vector `p` scales its rows (`T ⊙ p` with `p` as a column), and a batched
/// scalar (a 1×n row) times a vector `p` is the outer product `p·row`.
pub fn scale_batch(cx: &mut VmapCx<'_>, t: Operand, p: Operand) -> Result<ValueId, KindError> {
    match (t.kind, p.kind) {
        (Kind::Matrix, _) | (_, Kind::Matrix) => Err(not_batchable("a product with a matrix")),
        (Kind::Index | Kind::Bool | Kind::Indices | Kind::Tuple | Kind::Tape, _)
        | (_, Kind::Index | Kind::Bool | Kind::Indices | Kind::Tuple | Kind::Tape) => Err(
            not_batchable("a product with an integer or a loop's values"),
        ),
        (_, Kind::Scalar) => cx.push(Binary(BinOp::Mul), &[p.value, t.value]),
        (Kind::Vector, Kind::Vector) => {
            let column = cx.column(p.value)?;
            cx.push(Binary(BinOp::Mul), &[t.value, column])
        }
        (Kind::Scalar, Kind::Vector) => {
            let column = cx.column(p.value)?;
            cx.push(MatMul::PLAIN, &[column, t.value])
        }
    }
}

/// A program and which of its outputs are batches.
#[derive(Clone, Debug, PartialEq)]
pub struct Batched {
    pub program: Program,
    /// For each output, whether it is a batch (numel × n) or a value that does not depend on
    /// the seed.
    pub batched_outputs: Vec<bool>,
}

/// Batches `program` over its parameter number `seed` (a vector or a scalar the program is
/// linear in), seeding all its directions at once with the identity of the size of `like` (a
/// value defined before the seed is read, of the seed's shape: the primal parameter of a
/// tangent, the result of an upstream gradient). The seed parameter is removed from the batched
/// program's parameters; the others keep their order. Outputs that are batches are transposed
/// when `transpose_outputs` is set (reverse mode gives Jᵀ).
pub fn vmap(
    program: &Program,
    seed: usize,
    like: ValueId,
    transpose_outputs: bool,
) -> Result<Batched, KindError> {
    batch(program, &Seeds::One { seed, like }, transpose_outputs)
}

/// [`vmap`] over several scalar parameters at once: scalar number k of `seeds` is seeded with
/// row k of the m×m identity (m = the number of seeds), so every batch has m columns, one per
/// scalar. This is how the directions of many scalar parameters go through one program: a
/// Hessian over n scalars is one program whose batches are 1×n rows, not n programs.
pub fn vmap_scalars(
    program: &Program,
    seeds: &[usize],
    transpose_outputs: bool,
) -> Result<Batched, KindError> {
    batch(program, &Seeds::Scalars(seeds), transpose_outputs)
}

/// The seed parameters of a batched program.
enum Seeds<'a> {
    /// One vector or scalar, seeded with the identity of the size of `like`.
    One { seed: usize, like: ValueId },
    /// Several scalars, seeded with the rows of the identity.
    Scalars(&'a [usize]),
}

impl Seeds<'_> {
    /// Which seed parameter `p` is (its position among the seeds), if it is one.
    fn position(&self, p: usize) -> Option<usize> {
        match self {
            Seeds::One { seed, .. } => (*seed == p).then_some(0),
            Seeds::Scalars(seeds) => seeds.iter().position(|&s| s == p),
        }
    }
}

fn batch(program: &Program, seeds: &Seeds, transpose_outputs: bool) -> Result<Batched, KindError> {
    let seed_params: &[usize] = match seeds {
        Seeds::One { seed, .. } => std::slice::from_ref(seed),
        Seeds::Scalars(seeds) => seeds,
    };
    for &seed in seed_params {
        let seed_kind = program
            .params
            .get(seed)
            .ok_or_else(|| KindError::new(format!("no parameter number {seed}")))?
            .kind;
        match (seeds, seed_kind) {
            (_, Kind::Matrix) => return Err(not_batchable("a matrix-valued seed")),
            (Seeds::Scalars(_), Kind::Vector) => {
                return Err(not_batchable("a vector seed among scalar ones"))
            }
            _ => {}
        }
    }
    let mut out = Program {
        precision: program.precision,
        params: Vec::new(),
        reserved_names: program.reserved_names.clone(),
        constants: program.constants.clone(),
        insts: Vec::with_capacity(program.insts.len()),
        outputs: Vec::new(),
    };
    let mut renumbered = vec![None; program.params.len()];
    for (i, p) in program.params.iter().enumerate() {
        if seeds.position(i).is_none() {
            renumbered[i] = Some(out.params.len());
            out.params.push(Param {
                name: p.name.clone(),
                kind: p.kind,
            });
        }
    }
    // For each original value: its value in `out` and whether that is a batch.
    let mut map: Vec<Operand> = Vec::with_capacity(program.insts.len());
    for inst in &program.insts {
        let operand = match (&inst.op, renumbered.get(param_index(&inst.op))) {
            (Op::Param(p), _) if seeds.position(p.0).is_some() => {
                let value = match *seeds {
                    Seeds::One { like, .. } => {
                        let like = map
                            .get(like.index())
                            .filter(|l| !l.batched)
                            .ok_or_else(|| {
                                KindError::new(
                                    "the seed's shape must come from a value defined before it",
                                )
                            })?
                            .value;
                        out.push(Identity.into(), &[like])?
                    }
                    Seeds::Scalars(all) => {
                        // A unit row's operand only gives the element type: any scalar will do.
                        let element = out.push(Literal::new(0.0).into(), &[])?;
                        let row = UnitRow {
                            index: seeds.position(p.0).unwrap_or_default(),
                            width: all.len(),
                        };
                        out.push_with_role(row.into(), &[element], Role::Tangent)?
                    }
                };
                Operand {
                    value,
                    batched: true,
                    kind: inst.kind,
                }
            }
            (Op::Param(_), Some(Some(index))) => Operand {
                value: out.push_inst(Inst {
                    op: ParamRef(*index).into(),
                    ..inst.clone()
                }),
                batched: false,
                kind: inst.kind,
            },
            _ => {
                let args: Vec<Operand> = inst.args.iter().map(|a| map[a.index()]).collect();
                if args.iter().any(|a| a.batched) {
                    let mut cx = VmapCx { program: &mut out };
                    Operand {
                        value: inst.op.vmap(&mut cx, &args)?,
                        batched: true,
                        kind: inst.kind,
                    }
                } else {
                    let value = out.push_inst(Inst {
                        args: args.iter().map(|a| a.value).collect(),
                        ..inst.clone()
                    });
                    Operand {
                        value,
                        batched: false,
                        kind: inst.kind,
                    }
                }
            }
        };
        map.push(operand);
    }
    let mut batched_outputs = Vec::with_capacity(program.outputs.len());
    for o in &program.outputs {
        let operand = map[o.index()];
        let value = if operand.batched && transpose_outputs {
            out.push_with_role(Transpose.into(), &[operand.value], Role::Tangent)?
        } else {
            operand.value
        };
        out.outputs.push(value);
        batched_outputs.push(operand.batched);
    }
    Ok(Batched {
        program: out,
        batched_outputs,
    })
}

/// The parameter number an op reads, or an index past any parameter.
fn param_index(op: &Op) -> usize {
    match op {
        Op::Param(p) => p.0,
        _ => usize::MAX,
    }
}
