//! Structural ops of batched derivative programs (Jacobians, Hessians): a vector seen as a
//! column, the identity that seeds all directions at once, diagonal matrices, row counts. They
//! let the simplifier keep structure: `W·I` is `W`, and a row scaling of `I` is a diagonal.

use super::arith::{BinOp, Binary};
use super::linear_algebra::{Diagonal, OnDiagonal};
use super::reduce::Sum;
use crate::symbolic::derive::DeriveCx;
#[cfg(feature = "runtime")]
use crate::symbolic::eval::Value;
use crate::symbolic::ir::{Kind, KindError, ValueId};
use crate::symbolic::op::{expect_arity, Constant, Emit, Kernel, Rule, ShapeOf};
use crate::symbolic::print::Printed;
#[cfg(feature = "runtime")]
use crate::tensor::{kernels, Matrix, Real};

fn kernel(kernel: Kernel) -> Emit {
    Emit::Kernel {
        kernel,
        constant: None,
    }
}

// ───────────────────────────── column ─────────────────────────────

/// A vector of n as an n×1 matrix (a scalar as 1×1), so it scales the rows of a batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct AsColumn;

impl Rule for AsColumn {
    fn kind(&self, args: &[Kind]) -> Result<Kind, KindError> {
        expect_arity("as_column", args, 1)?;
        match args[0] {
            Kind::Matrix => Err(KindError::new("`as_column` takes a vector or a scalar")),
            _ => Ok(Kind::Matrix),
        }
    }
    fn print(&self, args: &[Printed], _: &[Kind]) -> Printed {
        // A column is the vector itself in the notation.
        args[0].clone()
    }
    #[cfg(feature = "runtime")]
    fn eval<T: Real>(&self, args: &[&Value<T>]) -> Value<T> {
        Value::Matrix(match args[0] {
            Value::Vector(v) => kernels::as_column(v),
            Value::Scalar(s) => kernels::as_column(s),
            Value::Matrix(m) => m.clone(),
            v => panic!("autodiff interpreter: a column of {}", v.kind().article()),
        })
    }
    fn emit(&self) -> Emit {
        kernel(Kernel::AsColumn)
    }
}

// ───────────────────────────── identity ─────────────────────────────

/// The n×n identity, n the number of elements of its operand: the seed of all n directions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Identity;

impl Rule for Identity {
    fn kind(&self, args: &[Kind]) -> Result<Kind, KindError> {
        expect_arity("identity", args, 1)?;
        Ok(Kind::Matrix)
    }
    fn print(&self, _: &[Printed], _: &[Kind]) -> Printed {
        Printed::atom("I")
    }
    #[cfg(feature = "runtime")]
    fn eval<T: Real>(&self, args: &[&Value<T>]) -> Value<T> {
        Value::Matrix(Matrix::identity(args[0].numel()))
    }
    fn emit(&self) -> Emit {
        kernel(Kernel::IdentityLike)
    }
    fn shape_only_args(&self) -> &'static [usize] {
        &[0]
    }
}

// ───────────────────────────── unit row ─────────────────────────────

/// Row `index` of the `width`×`width` identity, as a 1×`width` matrix: the seed of one scalar
/// when several scalars' directions are pushed through at once (`width` of them, so a Hessian
/// over n scalar parameters is one program, not n). Its operand (the scalar) only gives the
/// element type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct UnitRow {
    pub index: usize,
    pub width: usize,
}

impl Rule for UnitRow {
    fn kind(&self, args: &[Kind]) -> Result<Kind, KindError> {
        expect_arity("unit_row", args, 1)?;
        if self.index >= self.width {
            return Err(KindError::new(format!(
                "`unit_row` {} of {}",
                self.index, self.width
            )));
        }
        Ok(Kind::Matrix)
    }
    fn print(&self, _: &[Printed], _: &[Kind]) -> Printed {
        Printed::atom(format!("e{}ᵀ", self.index + 1))
    }
    #[cfg(feature = "runtime")]
    fn eval<T: Real>(&self, _: &[&Value<T>]) -> Value<T> {
        Value::Matrix(kernels::unit_row(&T::zero(), self.index, self.width))
    }
    fn emit(&self) -> Emit {
        Emit::Kernel {
            kernel: Kernel::UnitRow,
            constant: Some(Constant::UnitRow {
                index: self.index,
                width: self.width,
            }),
        }
    }
}

// ───────────────────────────── diag ─────────────────────────────

/// The n×n diagonal matrix of an n×1 column.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Diag;

impl Rule for Diag {
    fn kind(&self, args: &[Kind]) -> Result<Kind, KindError> {
        expect_arity("diag", args, 1)?;
        match args[0] {
            Kind::Matrix => Ok(Kind::Matrix),
            k => Err(KindError::new(format!(
                "`diag` takes an n×1 column, found {}",
                k.article()
            ))),
        }
    }
    fn print(&self, args: &[Printed], _: &[Kind]) -> Printed {
        Printed::atom(format!("diag({})", args[0].text))
    }
    #[cfg(feature = "runtime")]
    fn eval<T: Real>(&self, args: &[&Value<T>]) -> Value<T> {
        Value::Matrix(kernels::diag(args[0].as_matrix()))
    }
    fn emit(&self) -> Emit {
        kernel(Kernel::Diag)
    }
}

// ───────────────────────────── row count ─────────────────────────────

/// The number of rows of a matrix, as a scalar (the n of a mean over a batch's rows).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct RowCount;

impl Rule for RowCount {
    fn kind(&self, args: &[Kind]) -> Result<Kind, KindError> {
        expect_arity("rows", args, 1)?;
        Ok(Kind::Scalar)
    }
    fn reverse(
        &self,
        _: &mut DeriveCx<'_>,
        _: &[ValueId],
        _: ValueId,
        _: ValueId,
    ) -> Result<Vec<Option<ValueId>>, KindError> {
        // A count does not depend on the values (derived programs differentiated again read
        // it: `mean` of a gather's rows).
        Ok(vec![None])
    }
    fn forward(
        &self,
        _cx: &mut DeriveCx<'_>,
        _args: &[ValueId],
        _tangents: &[Option<ValueId>],
        _out: ValueId,
    ) -> Result<Option<ValueId>, KindError> {
        Ok(None)
    }
    fn print(&self, args: &[Printed], _: &[Kind]) -> Printed {
        Printed::atom(format!("rows({})", args[0].text))
    }
    #[cfg(feature = "runtime")]
    fn eval<T: Real>(&self, args: &[&Value<T>]) -> Value<T> {
        Value::Scalar(T::from_f64(args[0].as_matrix().rows() as f64))
    }
    fn emit(&self) -> Emit {
        kernel(Kernel::RowCount)
    }
    fn shape_only_args(&self) -> &'static [usize] {
        &[0]
    }
}

// ───────────────────────────── M + c·I ─────────────────────────────
// Y = M + c·I       reverse: dM = dY, dc = Σ diagonal(dY)       forward: dY = dM + dc·I

/// Which identity a [`AddToDiagonal`]'s third operand, `like`, stands for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum IdentityOf {
    /// The n×n identity with n the number of elements of `like` (the [`Identity`] that seeds
    /// all directions: the `λI` of a regularized Hessian).
    Numel,
    /// The identity of `like`'s own (square) shape: `OnDiagonal(c, like)`, the pullback of
    /// `trace`.
    Shape,
}

/// A square matrix plus a scalar times the identity, updating the diagonal in place (the `λI`
/// of a regularized Hessian costs n additions, not an n×n identity).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct AddToDiagonal(pub IdentityOf);

impl AddToDiagonal {
    /// `c·I` alone, the identity sized as this op's `like` says.
    fn scaled_identity(
        &self,
        cx: &mut DeriveCx<'_>,
        c: ValueId,
        like: ValueId,
    ) -> Result<ValueId, KindError> {
        match self.0 {
            IdentityOf::Numel => {
                let identity = cx.push(Identity, &[like])?;
                cx.push(Binary(BinOp::Mul), &[c, identity])
            }
            IdentityOf::Shape => cx.push(OnDiagonal, &[c, like]),
        }
    }
}

impl Rule for AddToDiagonal {
    fn kind(&self, args: &[Kind]) -> Result<Kind, KindError> {
        expect_arity("add_to_diagonal", args, 3)?;
        match (args[0], args[1]) {
            (Kind::Matrix, Kind::Scalar) => Ok(Kind::Matrix),
            _ => Err(KindError::new(
                "`add_to_diagonal` takes a matrix and a scalar",
            )),
        }
    }
    fn reverse(
        &self,
        cx: &mut DeriveCx<'_>,
        _args: &[ValueId],
        _out: ValueId,
        dout: ValueId,
    ) -> Result<Vec<Option<ValueId>>, KindError> {
        let diagonal = cx.push(Diagonal, &[dout])?;
        let dc = cx.push(Sum, &[diagonal])?;
        Ok(vec![Some(dout), Some(dc), None])
    }
    fn forward(
        &self,
        cx: &mut DeriveCx<'_>,
        args: &[ValueId],
        tangents: &[Option<ValueId>],
        _out: ValueId,
    ) -> Result<Option<ValueId>, KindError> {
        let like = args[2];
        Ok(match (tangents[0], tangents[1]) {
            (Some(dm), Some(dc)) => Some(cx.push(*self, &[dm, dc, like])?),
            (Some(dm), None) => Some(dm),
            (None, Some(dc)) => Some(self.scaled_identity(cx, dc, like)?),
            (None, None) => None,
        })
    }
    fn print(&self, args: &[Printed], _: &[Kind]) -> Printed {
        Printed::new(
            format!(
                "{} + {}·I",
                args[0].text,
                args[1].at(crate::symbolic::print::Prec::Atom)
            ),
            crate::symbolic::print::Prec::Sum,
        )
    }
    #[cfg(feature = "runtime")]
    fn eval<T: Real>(&self, args: &[&Value<T>]) -> Value<T> {
        let (m, c) = (args[0].as_matrix().clone(), &args[1].as_scalar());
        Value::Matrix(match self.0 {
            IdentityOf::Numel => kernels::add_to_diagonal(m, c, &kernels::Dims(args[2].numel(), 1)),
            IdentityOf::Shape => kernels::add_to_diagonal_shaped_like(m, c, args[2].as_matrix()),
        })
    }
    fn emit(&self) -> Emit {
        Emit::KernelInPlace {
            kernel: match self.0 {
                IdentityOf::Numel => Kernel::AddToDiagonal,
                IdentityOf::Shape => Kernel::AddToDiagonalShapedLike,
            },
        }
    }
    fn shape_only_args(&self) -> &'static [usize] {
        &[2]
    }
    fn shape(&self) -> ShapeOf {
        ShapeOf::Operand(0)
    }
}
