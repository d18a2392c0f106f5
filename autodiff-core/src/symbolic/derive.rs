//! The builder that derivative rules write with, shared by the reverse and forward
//! transformations.

use super::ir::{Kind, KindError, Program, Role, ValueId};
use super::op::Op;
use super::rules::arith::{BinOp, Binary, Literal, Neg};
use super::rules::reduce::{ColumnSums, Expand, Fill, MeanAxis, RepeatRows, Sum, SumAxis, SumTo};

/// The builder handed to derivative rules: it appends instructions of one role (adjoints or
/// tangents) and knows which values are active and which provably share a shape.
pub struct DeriveCx<'a> {
    pub(crate) program: &'a mut Program,
    role: Role,
    /// The source text of the primal instruction being differentiated, given to what the
    /// rules push for it.
    pub(crate) source: Option<String>,
    active: Vec<bool>,
    shape_root: Vec<ValueId>,
}

impl<'a> DeriveCx<'a> {
    /// A builder over `program`, in which the parameters numbered in `wrt` are active.
    pub(crate) fn new(program: &'a mut Program, wrt: &[usize], role: Role) -> Self {
        let mut active = Vec::with_capacity(program.insts.len());
        for inst in &program.insts {
            active.push(match inst.op {
                Op::Param(p) => wrt.contains(&p.0),
                // Integers do not depend on any value's elements.
                _ if !inst.kind.is_differentiable() => false,
                _ => inst.args.iter().any(|a| active[a.index()]),
            });
        }
        let mut cx = DeriveCx {
            program,
            role,
            source: None,
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

    /// Appends an instruction of the builder's role.
    pub fn push(&mut self, op: impl Into<Op>, args: &[ValueId]) -> Result<ValueId, KindError> {
        let id = self.program.push_with_role(op.into(), args, self.role)?;
        self.program.insts[id.index()].source = self.source.clone();
        let root = self.compute_shape_root(id);
        self.shape_root.push(root);
        Ok(id)
    }

    /// Appends a value of primal values alone that a rule needs as a factor (`p·x^(p−1)` for
    /// `powf`): in the primal role, since it is no derivative, so that forward mode's activity
    /// (every derivative instruction reads a derivative or an active value) stays checkable.
    pub fn push_primal(
        &mut self,
        op: impl Into<Op>,
        args: &[ValueId],
    ) -> Result<ValueId, KindError> {
        let id = self.program.push_with_role(op.into(), args, Role::Primal)?;
        self.program.insts[id.index()].source = self.source.clone();
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

    /// `a − b`
    pub fn sub(&mut self, a: ValueId, b: ValueId) -> Result<ValueId, KindError> {
        self.push(Binary(BinOp::Sub), &[a, b])
    }

    /// `a + b` where either may be a symbolic zero.
    pub fn add_opt(
        &mut self,
        a: Option<ValueId>,
        b: Option<ValueId>,
    ) -> Result<Option<ValueId>, KindError> {
        Ok(match (a, b) {
            (Some(a), Some(b)) => Some(self.add(a, b)?),
            (a, b) => a.or(b),
        })
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
    /// for a matrix operand that may have been broadcast, the column sums `dᵀ·𝟏` for a vector
    /// applied to every row of a matrix, `d` itself otherwise.
    pub fn unbroadcast(
        &mut self,
        d: ValueId,
        operand: ValueId,
        out: ValueId,
    ) -> Result<ValueId, KindError> {
        match (self.kind(operand), self.kind(d)) {
            (Kind::Scalar, k) if k.is_tensor() => self.push(Sum, &[d]),
            (Kind::Matrix, Kind::Matrix) if !self.same_shape(operand, out) => {
                match self.reduced_axis(operand, out) {
                    // A row (column) reduced from a matrix of the result's shape: the sum
                    // along that axis, as a textbook writes it (batch norm's dμ).
                    Some(axis) => self.push(SumAxis(axis), &[d]),
                    None => self.push(SumTo, &[d, operand]),
                }
            }
            (Kind::Vector, Kind::Matrix) => self.push(ColumnSums, &[d]),
            _ => Ok(d),
        }
    }

    /// Expands the tangent `d` of an operand of an elementwise op with result `out` to the
    /// result's shape: `d·𝟏` for a scalar operand of a tensor result, `expand(d, out)` for a
    /// matrix operand that may have been broadcast, `d` as every row for a vector applied to
    /// every row of a matrix, `d` itself otherwise. (The forward counterpart of
    /// [`DeriveCx::unbroadcast`].)
    pub fn expand(
        &mut self,
        d: ValueId,
        operand: ValueId,
        out: ValueId,
    ) -> Result<ValueId, KindError> {
        match (self.kind(operand), self.kind(out)) {
            (Kind::Scalar, k) if k.is_tensor() => self.push(Fill, &[d, out]),
            (Kind::Matrix, Kind::Matrix) if !self.same_shape(operand, out) => {
                self.push(Expand, &[d, out])
            }
            (Kind::Vector, Kind::Matrix) => self.push(RepeatRows, &[d, out]),
            _ => Ok(d),
        }
    }

    /// The axis along which `reduced` was summed or averaged from a matrix of `full`'s shape
    /// (`x.mean_axis(0)` against `x − μ`), when its shape class says so.
    fn reduced_axis(&self, reduced: ValueId, full: ValueId) -> Option<u8> {
        let inst = self.program.inst(self.shape_root[reduced.index()]);
        match (&inst.op, inst.args.as_slice()) {
            (Op::SumAxis(SumAxis(axis)) | Op::MeanAxis(MeanAxis(axis)), &[of])
                if inst.kind == Kind::Matrix && self.same_shape(of, full) =>
            {
                Some(*axis)
            }
            _ => None,
        }
    }

    /// Records that `a` has `b`'s shape (the upstream gradient has the result's).
    pub(crate) fn share_shape(&mut self, a: ValueId, b: ValueId) {
        self.shape_root[a.index()] = self.shape_root[b.index()];
    }

    /// True when `a` and `b` provably have the same shape (without knowing the shape).
    pub fn same_shape(&self, a: ValueId, b: ValueId) -> bool {
        self.shape_root[a.index()] == self.shape_root[b.index()]
    }

    fn compute_shape_root(&self, v: ValueId) -> ValueId {
        self.program.shape_class(v, &self.shape_root)
    }
}

/// A name not already used by a parameter of `program`.
pub(crate) fn fresh_param_name(program: &Program, base: &str) -> String {
    let mut name = base.to_string();
    while program.params.iter().any(|p| p.name == name) || program.reserved_names.contains(&name) {
        name.push('_');
    }
    name
}
