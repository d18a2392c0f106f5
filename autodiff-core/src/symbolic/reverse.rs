//! The reverse (adjoint) transformation.
//!
//! Walks the primal program backwards and applies each op's pullback rule to its adjoint. A value
//! used several times receives one contribution per use, and those are summed (`+=`), which is
//! what makes reuse correct. Only *active* values — those that depend on the parameters being
//! differentiated — get adjoints, so constants such as data and labels cost nothing.

use std::collections::HashMap;

use super::ir::{Kind, KindError, Program, Role, ValueId};
use super::op::Op;
use super::rules::arith::{BinOp, Binary, Literal, Neg};
use super::rules::reduce::{Fill, Sum, SumTo};

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
    /// Parameters: the primal ones, then the upstream gradient (with [`Seed::Upstream`]).
    /// Outputs: the primal result, then one adjoint per wrt parameter.
    pub program: Program,
    /// The name of the upstream-gradient parameter (`d` + the returned variable, or `dout`).
    pub upstream: String,
    /// `(dp, adjoint)` for each wrt parameter `p`, for the printer.
    pub adjoint_names: Vec<(String, ValueId)>,
}

/// The builder handed to pullback rules.
pub struct ReverseCx<'a> {
    program: &'a mut Program,
    active: Vec<bool>,
    shape_root: Vec<ValueId>,
}

impl<'a> ReverseCx<'a> {
    fn new(program: &'a mut Program, wrt: &[usize]) -> Self {
        let mut active = Vec::with_capacity(program.insts.len());
        for inst in &program.insts {
            active.push(match inst.op {
                Op::Param(p) => wrt.contains(&p.0),
                _ => inst.args.iter().any(|a| active[a.index()]),
            });
        }
        let mut cx = ReverseCx {
            program,
            active,
            shape_root: Vec::new(),
        };
        for i in 0..cx.program.insts.len() {
            let root = cx.compute_shape_root(ValueId(i as u32));
            cx.shape_root.push(root);
        }
        cx
    }

    /// The kind of `v`.
    pub fn kind(&self, v: ValueId) -> Kind {
        self.program.kind(v)
    }

    /// Whether `v` depends on a wrt parameter (values of the derived part count as inactive).
    pub fn is_active(&self, v: ValueId) -> bool {
        self.active.get(v.index()).copied().unwrap_or(false)
    }

    /// `f(self)` if `v` is active, else a symbolic zero.
    pub fn when_active(
        &mut self,
        v: ValueId,
        f: impl FnOnce(&mut Self) -> Result<ValueId, KindError>,
    ) -> Result<Option<ValueId>, KindError> {
        if self.is_active(v) {
            f(self).map(Some)
        } else {
            Ok(None)
        }
    }

    /// Appends an adjoint instruction.
    pub fn push(&mut self, op: impl Into<Op>, args: &[ValueId]) -> Result<ValueId, KindError> {
        let id = self
            .program
            .push_with_role(op.into(), args, Role::Adjoint)?;
        let root = self.compute_shape_root(id);
        self.shape_root.push(root);
        Ok(id)
    }

    /// A scalar literal.
    pub fn literal(&mut self, value: f64) -> Result<ValueId, KindError> {
        self.push(Literal::new(value), &[])
    }

    /// `−a`
    pub fn neg(&mut self, a: ValueId) -> Result<ValueId, KindError> {
        self.push(Neg, &[a])
    }

    /// `a + b`
    pub fn add(&mut self, a: ValueId, b: ValueId) -> Result<ValueId, KindError> {
        self.push(Binary(BinOp::Add), &[a, b])
    }

    /// `a ⊙ b` (or a scalar product)
    pub fn mul(&mut self, a: ValueId, b: ValueId) -> Result<ValueId, KindError> {
        self.push(Binary(BinOp::Mul), &[a, b])
    }

    /// `a / b`
    pub fn div(&mut self, a: ValueId, b: ValueId) -> Result<ValueId, KindError> {
        self.push(Binary(BinOp::Div), &[a, b])
    }

    /// Sums the contribution `d` to an operand of an elementwise op with result `out` back to
    /// that operand's shape: `sum(d)` for a scalar operand of a tensor result, `sum_to(d, a)`
    /// for a matrix operand that may have been broadcast, `d` itself otherwise.
    pub fn unbroadcast(
        &mut self,
        d: ValueId,
        operand: ValueId,
        out: ValueId,
    ) -> Result<ValueId, KindError> {
        match (self.kind(operand), self.kind(d)) {
            (Kind::Scalar, k) if k.is_tensor() => self.push(Sum, &[d]),
            (Kind::Matrix, Kind::Matrix) if !self.same_shape(operand, out) => {
                self.push(SumTo, &[d, operand])
            }
            _ => Ok(d),
        }
    }

    /// True when `a` and `b` provably have the same shape (without knowing the shape).
    pub fn same_shape(&self, a: ValueId, b: ValueId) -> bool {
        self.shape_root[a.index()] == self.shape_root[b.index()]
    }

    fn compute_shape_root(&self, v: ValueId) -> ValueId {
        self.program.shape_class(v, &self.shape_root)
    }

    /// Adds `contribution` to the adjoint of `v`.
    fn accumulate(
        &mut self,
        adjoints: &mut HashMap<ValueId, ValueId>,
        v: ValueId,
        contribution: ValueId,
    ) -> Result<(), KindError> {
        let total = match adjoints.get(&v) {
            Some(&previous) => self.add(previous, contribution)?,
            None => contribution,
        };
        adjoints.insert(v, total);
        Ok(())
    }
}

/// A name not already used by a parameter of `program`.
fn fresh_param_name(program: &Program, base: &str) -> String {
    let mut name = base.to_string();
    while program.params.iter().any(|p| p.name == name) {
        name.push('_');
    }
    name
}

/// The reverse program of `primal` (which must have exactly one output) with respect to the
/// parameters whose indices are in `wrt`.
pub fn reverse(primal: &Program, wrt: &[usize], seed: Seed) -> Result<Reverse, KindError> {
    let [output] = primal.outputs[..] else {
        return Err(KindError::new(
            "a differentiable program has exactly one output",
        ));
    };
    let mut program = primal.clone();
    // Adjoints are named after the primal values as the printer shows them (`h_2` → `dh_2`).
    let primal_names = primal.value_names();
    let primal_len = program.insts.len();
    let out_inst = program.inst(output);
    let upstream = match (&out_inst.name, &out_inst.op) {
        (Some(name), op) if !matches!(op, Op::Param(_)) => format!("d{name}"),
        _ => "dout".to_string(),
    };
    let upstream = fresh_param_name(&program, &upstream);
    let out_kind = program.kind(output);
    let seed_value = match seed {
        Seed::Upstream => {
            let v = program.param(&upstream, out_kind);
            program.insts[v.index()].role = Role::Adjoint;
            v
        }
        Seed::One if out_kind == Kind::Scalar => {
            program.push_with_role(Literal::new(1.0).into(), &[], Role::Adjoint)?
        }
        Seed::One => {
            return Err(KindError::new(
                "a gradient needs a scalar result; use the vector-Jacobian product for tensors",
            ))
        }
    };

    let mut cx = ReverseCx::new(&mut program, wrt);
    // The upstream gradient has the result's shape.
    cx.shape_root[seed_value.index()] = cx.shape_root[output.index()];
    let mut adjoints: HashMap<ValueId, ValueId> = HashMap::new();
    if cx.is_active(output) {
        adjoints.insert(output, seed_value);
    }
    for i in (0..primal_len).rev() {
        let v = ValueId(i as u32);
        let Some(&dv) = adjoints.get(&v) else {
            continue;
        };
        let inst = cx.program.inst(v).clone();
        if inst.name.is_some() && cx.program.inst(dv).role == Role::Adjoint {
            cx.program
                .name_value(dv, &format!("d{}", primal_names[v.index()]));
        }
        if inst.args.is_empty() {
            continue;
        }
        let contributions = inst.op.reverse(&mut cx, &inst.args, v, dv)?;
        for (&arg, contribution) in inst.args.iter().zip(contributions) {
            if let Some(c) = contribution {
                if cx.is_active(arg) {
                    cx.accumulate(&mut adjoints, arg, c)?;
                }
            }
        }
    }

    let mut outputs = vec![output];
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
        upstream,
        adjoint_names,
    })
}
