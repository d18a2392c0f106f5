//! Reductions and their adjoints, broadcasts. A reduction pulls back as a broadcast and a
//! broadcast as a reduction, so each pair below is the other's pullback. The largest and the
//! smallest entry pull back as an add into the one entry they read (see `index`).

use super::arith::{BinOp, Binary, Literal};
use super::index::{AddTo, Read, Region};
use super::integer::{Extent, IndexArith, IntOp, ToFloat};
use super::linalg::MatMul;
use super::structure::RowCount;
use crate::symbolic::derive::DeriveCx;
#[cfg(feature = "runtime")]
use crate::symbolic::eval::Value;
use crate::symbolic::ir::{Kind, KindError, ValueId};
use crate::symbolic::methods::{Arg, Build, Method};
use crate::symbolic::op::{expect_arity, Emit, Kernel, Rule, ShapeOf};
use crate::symbolic::print::{Prec, Printed};
use crate::symbolic::vmap::{not_batchable, Operand, VmapCx};
#[cfg(feature = "runtime")]
use crate::tensor::{kernels, Real};

fn tensor_operand(name: &str, k: Kind) -> Result<Kind, KindError> {
    if k.is_tensor() {
        Ok(k)
    } else {
        Err(KindError::new(format!(
            "`{name}` reduces a vector or a matrix, found a scalar"
        )))
    }
}

fn matrix_operands(name: &str, args: &[Kind]) -> Result<Kind, KindError> {
    if args.iter().all(|&k| k == Kind::Matrix) {
        Ok(Kind::Matrix)
    } else {
        Err(KindError::new(format!("`{name}` takes matrices")))
    }
}

fn kernel(kernel: Kernel) -> Emit {
    Emit::Kernel {
        kernel,
        constant: None,
    }
}

fn method(name: &'static str, extra: Option<i64>) -> Emit {
    Emit::Method { name, extra }
}

/// The methods the front end reads as these ops: `x.sum()`, `x.mean()`, `m.sum_axis(0)`.
pub const METHODS: &[Method] = &[
    Method {
        name: "sum",
        args: &[],
        build: Build::Op(|_| Ok(Sum.into())),
    },
    Method {
        name: "mean",
        args: &[],
        build: Build::Op(|_| Ok(Mean.into())),
    },
    Method {
        name: "sum_axis",
        args: &[Arg::Int(SUM_AXIS_TAKES)],
        build: Build::Op(|ints| match ints {
            [axis @ (0 | 1)] => Ok(SumAxis(*axis as u8).into()),
            _ => Err(format!("`sum_axis` takes {SUM_AXIS_TAKES}")),
        }),
    },
    Method {
        name: "mean_axis",
        args: &[Arg::Int(MEAN_AXIS_TAKES)],
        build: Build::Op(|ints| match ints {
            [axis @ (0 | 1)] => Ok(MeanAxis(*axis as u8).into()),
            _ => Err(format!("`mean_axis` takes {MEAN_AXIS_TAKES}")),
        }),
    },
    // `x.max()` and `x.min()` of a tensor; with one argument they are the scalars' `a.max(b)`
    // (see `pointwise`).
    Method {
        name: "max",
        args: &[],
        build: Build::Op(|_| Ok(ExtremeEntry { max: true }.into())),
    },
    Method {
        name: "min",
        args: &[],
        build: Build::Op(|_| Ok(ExtremeEntry { max: false }.into())),
    },
];

const SUM_AXIS_TAKES: &str =
    "the axis `0` (sum the rows, giving 1×c) or `1` (sum the columns, giving r×1)";

const MEAN_AXIS_TAKES: &str =
    "the axis `0` (the mean of the rows, giving 1×c) or `1` (of the columns, giving r×1)";

// ───────────────────────────── sum ─────────────────────────────
// s = Σ x         reverse: dx = ds·𝟏

/// Sum of all elements of a tensor.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Sum;

impl Rule for Sum {
    fn kind(&self, args: &[Kind]) -> Result<Kind, KindError> {
        expect_arity("sum", args, 1)?;
        tensor_operand("sum", args[0]).map(|_| Kind::Scalar)
    }
    fn reverse(
        &self,
        cx: &mut DeriveCx<'_>,
        args: &[ValueId],
        _: ValueId,
        dout: ValueId,
    ) -> Result<Vec<Option<ValueId>>, KindError> {
        Ok(vec![Some(cx.push(Fill, &[dout, args[0]])?)])
    }
    fn forward(
        &self,
        cx: &mut DeriveCx<'_>,
        _args: &[ValueId],
        tangents: &[Option<ValueId>],
        _out: ValueId,
    ) -> Result<Option<ValueId>, KindError> {
        // Linear in its first operand.
        tangents[0].map(|d| cx.push(*self, &[d])).transpose()
    }
    fn vmap(&self, cx: &mut VmapCx<'_>, args: &[Operand]) -> Result<ValueId, KindError> {
        match args[0].kind {
            Kind::Vector => cx.push(SumAxis(0), &[args[0].value]),
            _ => Err(not_batchable("the sum of a batched matrix")),
        }
    }
    fn print(&self, args: &[Printed], _: &[Kind]) -> Printed {
        Printed::atom(format!("sum({})", args[0].text))
    }
    #[cfg(feature = "runtime")]
    fn eval<T: Real>(&self, args: &[&Value<T>]) -> Value<T> {
        Value::Scalar(match args[0] {
            Value::Vector(v) => v.sum(),
            Value::Matrix(m) => m.sum(),
            Value::Scalar(s) => *s,
            v => panic!("autodiff interpreter: `sum` of {}", v.kind().article()),
        })
    }
    fn emit(&self) -> Emit {
        method("sum", None)
    }
}

// ───────────────────────────── mean ─────────────────────────────
// s = Σ x / n     reverse: dx = (ds / n)·𝟏

/// Mean of all elements of a tensor.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Mean;

impl Rule for Mean {
    fn kind(&self, args: &[Kind]) -> Result<Kind, KindError> {
        expect_arity("mean", args, 1)?;
        tensor_operand("mean", args[0]).map(|_| Kind::Scalar)
    }
    fn reverse(
        &self,
        cx: &mut DeriveCx<'_>,
        args: &[ValueId],
        _: ValueId,
        dout: ValueId,
    ) -> Result<Vec<Option<ValueId>>, KindError> {
        let n = cx.push(Numel, &[args[0]])?;
        let scaled = cx.div(dout, n)?;
        Ok(vec![Some(cx.push(Fill, &[scaled, args[0]])?)])
    }
    fn forward(
        &self,
        cx: &mut DeriveCx<'_>,
        _args: &[ValueId],
        tangents: &[Option<ValueId>],
        _out: ValueId,
    ) -> Result<Option<ValueId>, KindError> {
        // Linear in its first operand.
        tangents[0].map(|d| cx.push(*self, &[d])).transpose()
    }
    fn vmap(&self, cx: &mut VmapCx<'_>, args: &[Operand]) -> Result<ValueId, KindError> {
        match args[0].kind {
            Kind::Vector => {
                let total = cx.push(SumAxis(0), &[args[0].value])?;
                let n = cx.push(RowCount, &[args[0].value])?;
                cx.push(Binary(BinOp::Div), &[total, n])
            }
            _ => Err(not_batchable("the mean of a batched matrix")),
        }
    }
    fn print(&self, args: &[Printed], _: &[Kind]) -> Printed {
        Printed::atom(format!("mean({})", args[0].text))
    }
    #[cfg(feature = "runtime")]
    fn eval<T: Real>(&self, args: &[&Value<T>]) -> Value<T> {
        Value::Scalar(match args[0] {
            Value::Vector(v) => v.mean(),
            Value::Matrix(m) => m.mean(),
            Value::Scalar(s) => *s,
            v => panic!("autodiff interpreter: `mean` of {}", v.kind().article()),
        })
    }
    fn emit(&self) -> Emit {
        method("mean", None)
    }
}

// ───────────────────────────── sum_axis ─────────────────────────────
// s = sum_axis(X, 0) = 𝟏ᵀ·X (1×c)     reverse: dX = 𝟏·ds
// s = sum_axis(X, 1) = X·𝟏   (r×1)     reverse: dX = ds·𝟏ᵀ

/// `x.sum_axis(axis)`: sums the rows together (axis 0, giving 1×c) or the columns (axis 1,
/// giving r×1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SumAxis(pub u8);

impl Rule for SumAxis {
    fn kind(&self, args: &[Kind]) -> Result<Kind, KindError> {
        expect_arity("sum_axis", args, 1)?;
        if self.0 > 1 {
            return Err(KindError::new(format!(
                "`sum_axis` takes the axis 0 (sum the rows) or 1 (sum the columns), found {}",
                self.0
            )));
        }
        match args[0] {
            Kind::Matrix => Ok(Kind::Matrix),
            k => Err(KindError::new(format!(
                "`sum_axis` sums a matrix along an axis, found {}; use `sum()` for a vector",
                k.article()
            ))),
        }
    }
    fn reverse(
        &self,
        cx: &mut DeriveCx<'_>,
        args: &[ValueId],
        _: ValueId,
        dout: ValueId,
    ) -> Result<Vec<Option<ValueId>>, KindError> {
        Ok(vec![Some(cx.push(BroadcastTo(self.0), &[dout, args[0]])?)])
    }
    fn forward(
        &self,
        cx: &mut DeriveCx<'_>,
        _args: &[ValueId],
        tangents: &[Option<ValueId>],
        _out: ValueId,
    ) -> Result<Option<ValueId>, KindError> {
        // Linear in its first operand.
        tangents[0].map(|d| cx.push(*self, &[d])).transpose()
    }
    fn print(&self, args: &[Printed], _: &[Kind]) -> Printed {
        Printed::atom(format!("sum_axis({}, {})", args[0].text, self.0))
    }
    #[cfg(feature = "runtime")]
    fn eval<T: Real>(&self, args: &[&Value<T>]) -> Value<T> {
        Value::Matrix(args[0].as_matrix().sum_axis(self.0 as usize))
    }
    fn emit(&self) -> Emit {
        method("sum_axis", Some(self.0 as i64))
    }
}

// ───────────────────────────── mean_axis ─────────────────────────────
// s = mean_axis(X, 0) = 𝟏ᵀ·X / rows(X) (1×c)     reverse: dX = 𝟏·(ds / rows(X))
// s = mean_axis(X, 1) = X·𝟏 / cols(X)   (r×1)     reverse: dX = (ds / cols(X))·𝟏ᵀ

/// `x.mean_axis(axis)`: the mean of the rows (axis 0, giving 1×c) or of the columns (axis 1,
/// giving r×1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct MeanAxis(pub u8);

impl MeanAxis {
    /// The number of values each mean is taken over, as a scalar: `rows(x)` or `cols(x)`.
    fn count(self, cx: &mut DeriveCx<'_>, x: ValueId) -> Result<ValueId, KindError> {
        let extent = if self.0 == 0 {
            Extent::Rows
        } else {
            Extent::Cols
        };
        let n = cx.push_primal(extent, &[x])?;
        cx.push_primal(ToFloat, &[n])
    }
}

impl Rule for MeanAxis {
    fn kind(&self, args: &[Kind]) -> Result<Kind, KindError> {
        expect_arity("mean_axis", args, 1)?;
        if self.0 > 1 {
            return Err(KindError::new(format!(
                "`mean_axis` takes the axis 0 (the mean of the rows) or 1 (of the columns), \
                 found {}",
                self.0
            )));
        }
        match args[0] {
            Kind::Matrix => Ok(Kind::Matrix),
            k => Err(KindError::new(format!(
                "`mean_axis` takes the mean of a matrix along an axis, found {}; use `mean()` \
                 for a vector",
                k.article()
            ))),
        }
    }
    fn reverse(
        &self,
        cx: &mut DeriveCx<'_>,
        args: &[ValueId],
        _: ValueId,
        dout: ValueId,
    ) -> Result<Vec<Option<ValueId>>, KindError> {
        let n = self.count(cx, args[0])?;
        let scaled = cx.div(dout, n)?;
        Ok(vec![Some(
            cx.push(BroadcastTo(self.0), &[scaled, args[0]])?,
        )])
    }
    fn forward(
        &self,
        cx: &mut DeriveCx<'_>,
        _args: &[ValueId],
        tangents: &[Option<ValueId>],
        _out: ValueId,
    ) -> Result<Option<ValueId>, KindError> {
        // Linear in its first operand.
        tangents[0].map(|d| cx.push(*self, &[d])).transpose()
    }
    fn print(&self, args: &[Printed], _: &[Kind]) -> Printed {
        Printed::atom(format!("mean_axis({}, {})", args[0].text, self.0))
    }
    #[cfg(feature = "runtime")]
    fn eval<T: Real>(&self, args: &[&Value<T>]) -> Value<T> {
        Value::Matrix(args[0].as_matrix().mean_axis(self.0 as usize))
    }
    fn emit(&self) -> Emit {
        method("mean_axis", Some(self.0 as i64))
    }
}

// ───────────────────────────── max, min ─────────────────────────────
// s = max(x) = x[k], k = argmax(x) the first largest entry     reverse: dx = add_at(0, [k], ds)
//                                                              forward: ṡ = ẋ[k]
// (of a matrix: the element (k / cols, k mod cols)). At a tie the derivative is that of the
// first of the tied entries (in row-major order), as if the others were a little smaller; a NaN
// entry is the extreme (the first NaN), as NumPy's `max` and `argmax` have it.

/// `x.max()` (`max`) or `x.min()`: the largest or smallest entry of a vector or a matrix.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ExtremeEntry {
    pub max: bool,
}

impl ExtremeEntry {
    fn method(self) -> &'static str {
        if self.max {
            "max"
        } else {
            "min"
        }
    }

    /// The part of `x` that the extreme is (`x[k]` or `x[k / cols, k mod cols]`) and its region.
    fn position(
        self,
        cx: &mut DeriveCx<'_>,
        x: ValueId,
    ) -> Result<(Region, Vec<ValueId>), KindError> {
        let k = cx.push_primal(ArgExtreme { max: self.max }, &[x])?;
        match cx.kind(x) {
            Kind::Vector => Ok((Region::Entry, vec![k])),
            _ => {
                let cols = cx.push_primal(Extent::Cols, &[x])?;
                let i = cx.push_primal(IndexArith(IntOp::Div), &[k, cols])?;
                let j = cx.push_primal(IndexArith(IntOp::Rem), &[k, cols])?;
                Ok((Region::Element, vec![i, j]))
            }
        }
    }
}

impl Rule for ExtremeEntry {
    fn kind(&self, args: &[Kind]) -> Result<Kind, KindError> {
        expect_arity(self.method(), args, 1)?;
        match args[0] {
            k if k.is_tensor() => Ok(Kind::Scalar),
            k => Err(KindError::new(format!(
                "`{0}()` is the {1} entry of a vector or a matrix, found {2}; the {1} of two \
                 scalars is `a.{0}(b)`",
                self.method(),
                if self.max { "largest" } else { "smallest" },
                k.article()
            ))),
        }
    }
    fn reverse(
        &self,
        cx: &mut DeriveCx<'_>,
        args: &[ValueId],
        _: ValueId,
        dout: ValueId,
    ) -> Result<Vec<Option<ValueId>>, KindError> {
        let (region, at) = self.position(cx, args[0])?;
        let zero = cx.push(Literal::new(0.0), &[])?;
        let zeros = cx.push(Fill, &[zero, args[0]])?;
        let mut operands = vec![zeros, dout];
        operands.extend(at);
        Ok(vec![Some(cx.push(AddTo(region), &operands)?)])
    }
    fn forward(
        &self,
        cx: &mut DeriveCx<'_>,
        args: &[ValueId],
        tangents: &[Option<ValueId>],
        _out: ValueId,
    ) -> Result<Option<ValueId>, KindError> {
        let Some(dx) = tangents[0] else {
            return Ok(None);
        };
        let (region, at) = self.position(cx, args[0])?;
        let mut operands = vec![dx];
        operands.extend(at);
        cx.push(Read(region), &operands).map(Some)
    }
    fn print(&self, args: &[Printed], _: &[Kind]) -> Printed {
        Printed::atom(format!("{}({})", self.method(), args[0].text))
    }
    #[cfg(feature = "runtime")]
    fn eval<T: Real>(&self, args: &[&Value<T>]) -> Value<T> {
        Value::Scalar(match (args[0], self.max) {
            (Value::Vector(v), true) => v.max(),
            (Value::Vector(v), false) => v.min(),
            (Value::Matrix(m), true) => m.max(),
            (Value::Matrix(m), false) => m.min(),
            (v, _) => panic!(
                "autodiff interpreter: `{}` of {}",
                self.method(),
                v.kind().article()
            ),
        })
    }
    fn emit(&self) -> Emit {
        method(self.method(), None)
    }
    fn can_panic(&self) -> bool {
        // An empty tensor has no extreme entry.
        true
    }
}

/// The position (row-major) of the first largest (`max`) or smallest entry of a tensor: where
/// the derivative of `max()`/`min()` goes. An integer: it has no derivative.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ArgExtreme {
    pub max: bool,
}

impl Rule for ArgExtreme {
    fn kind(&self, args: &[Kind]) -> Result<Kind, KindError> {
        expect_arity("argmax", args, 1)?;
        tensor_operand("argmax", args[0]).map(|_| Kind::Index)
    }
    fn reverse(
        &self,
        _: &mut DeriveCx<'_>,
        _: &[ValueId],
        _: ValueId,
        _: ValueId,
    ) -> Result<Vec<Option<ValueId>>, KindError> {
        // A position does not change when the entries move a little (away from ties).
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
        let name = if self.max { "argmax" } else { "argmin" };
        Printed::atom(format!("{name}({})", args[0].text))
    }
    #[cfg(feature = "runtime")]
    fn eval<T: Real>(&self, args: &[&Value<T>]) -> Value<T> {
        Value::Index(match (args[0], self.max) {
            (Value::Vector(v), true) => kernels::arg_max(v),
            (Value::Vector(v), false) => kernels::arg_min(v),
            (Value::Matrix(m), true) => kernels::arg_max(m),
            (Value::Matrix(m), false) => kernels::arg_min(m),
            (v, _) => panic!("autodiff interpreter: `argmax` of {}", v.kind().article()),
        })
    }
    fn emit(&self) -> Emit {
        kernel(if self.max {
            Kernel::ArgMax
        } else {
            Kernel::ArgMin
        })
    }
}

// ───────────────────────────── column sums, repeated rows ─────────────────────────────
// A vector v broadcast over the rows of a matrix (`X + v`, v of length cols(X)) pulls back as the
// column sums of the upstream, and its tangent enters as repeated rows:
// s = Xᵀ·𝟏 (the column sums, a vector)     reverse: dX = 𝟏·dsᵀ (ds as every row)
// R = 𝟏·vᵀ (v as every row of like)        reverse: dv = dRᵀ·𝟏

/// The column sums of a matrix, as a vector: the pullback of a vector broadcast over rows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ColumnSums;

impl Rule for ColumnSums {
    fn kind(&self, args: &[Kind]) -> Result<Kind, KindError> {
        expect_arity("column_sums", args, 1)?;
        match args[0] {
            Kind::Matrix => Ok(Kind::Vector),
            k => Err(KindError::new(format!(
                "`column_sums` takes a matrix, found {}",
                k.article()
            ))),
        }
    }
    fn reverse(
        &self,
        cx: &mut DeriveCx<'_>,
        args: &[ValueId],
        _: ValueId,
        dout: ValueId,
    ) -> Result<Vec<Option<ValueId>>, KindError> {
        Ok(vec![Some(cx.push(RepeatRows, &[dout, args[0]])?)])
    }
    fn forward(
        &self,
        cx: &mut DeriveCx<'_>,
        _args: &[ValueId],
        tangents: &[Option<ValueId>],
        _out: ValueId,
    ) -> Result<Option<ValueId>, KindError> {
        // Linear in its operand.
        tangents[0].map(|d| cx.push(*self, &[d])).transpose()
    }
    fn print(&self, args: &[Printed], _: &[Kind]) -> Printed {
        Printed::new(format!("{}ᵀ·𝟏", args[0].at(Prec::Atom)), Prec::Product)
    }
    #[cfg(feature = "runtime")]
    fn eval<T: Real>(&self, args: &[&Value<T>]) -> Value<T> {
        Value::Vector(kernels::column_sums(args[0].as_matrix()))
    }
    fn emit(&self) -> Emit {
        kernel(Kernel::ColumnSums)
    }
}

/// A vector repeated as every row of a matrix shaped like its second operand: the tangent of a
/// vector broadcast over rows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct RepeatRows;

impl Rule for RepeatRows {
    fn shape(&self) -> ShapeOf {
        ShapeOf::Operand(1)
    }
    fn kind(&self, args: &[Kind]) -> Result<Kind, KindError> {
        expect_arity("repeat_rows", args, 2)?;
        match (args[0], args[1]) {
            (Kind::Vector, Kind::Matrix) => Ok(Kind::Matrix),
            (a, b) => Err(KindError::new(format!(
                "`repeat_rows` takes a vector and a matrix, found {} and {}",
                a.article(),
                b.article()
            ))),
        }
    }
    fn reverse(
        &self,
        cx: &mut DeriveCx<'_>,
        _args: &[ValueId],
        _: ValueId,
        dout: ValueId,
    ) -> Result<Vec<Option<ValueId>>, KindError> {
        Ok(vec![Some(cx.push(ColumnSums, &[dout])?), None])
    }
    fn forward(
        &self,
        cx: &mut DeriveCx<'_>,
        args: &[ValueId],
        tangents: &[Option<ValueId>],
        _out: ValueId,
    ) -> Result<Option<ValueId>, KindError> {
        // Linear in its first operand; the second only gives the shape.
        tangents[0]
            .map(|d| cx.push(*self, &[d, args[1]]))
            .transpose()
    }
    fn print(&self, args: &[Printed], _: &[Kind]) -> Printed {
        Printed::new(format!("𝟏·{}ᵀ", args[0].at(Prec::Atom)), Prec::Product)
    }
    #[cfg(feature = "runtime")]
    fn eval<T: Real>(&self, args: &[&Value<T>]) -> Value<T> {
        Value::Matrix(kernels::repeat_rows(
            args[0].as_vector(),
            args[1].as_matrix(),
        ))
    }
    fn emit(&self) -> Emit {
        kernel(Kernel::RepeatRows)
    }
    fn shape_only_args(&self) -> &'static [usize] {
        &[1]
    }
}

// ───────────────────────────── broadcast_to ─────────────────────────────
// B = 𝟏·v (v a 1×c row, axis 0) or v·𝟏ᵀ (v an r×1 column, axis 1), shaped like `like`.
// It appears only in derived programs, as the pullback of sum_axis.

/// Repeats a row (axis 0) or column (axis 1) to the shape of its second operand.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct BroadcastTo(pub u8);

impl Rule for BroadcastTo {
    fn shape(&self) -> ShapeOf {
        ShapeOf::Operand(1)
    }
    fn kind(&self, args: &[Kind]) -> Result<Kind, KindError> {
        expect_arity("broadcast", args, 2)?;
        matrix_operands("broadcast", args)
    }
    fn forward(
        &self,
        cx: &mut DeriveCx<'_>,
        args: &[ValueId],
        tangents: &[Option<ValueId>],
        _out: ValueId,
    ) -> Result<Option<ValueId>, KindError> {
        // Linear in its first operand; the second only gives the shape.
        tangents[0]
            .map(|d| cx.push(*self, &[d, args[1]]))
            .transpose()
    }
    fn print(&self, args: &[Printed], _: &[Kind]) -> Printed {
        let v = args[0].at(Prec::Atom);
        Printed::new(
            if self.0 == 0 {
                format!("𝟏·{v}")
            } else {
                format!("{v}·𝟏ᵀ")
            },
            Prec::Product,
        )
    }
    #[cfg(feature = "runtime")]
    fn eval<T: Real>(&self, args: &[&Value<T>]) -> Value<T> {
        Value::Matrix(kernels::broadcast_like(
            args[0].as_matrix(),
            args[1].as_matrix(),
        ))
    }
    fn emit(&self) -> Emit {
        kernel(Kernel::BroadcastLike)
    }
    fn shape_only_args(&self) -> &'static [usize] {
        &[1]
    }
}

// ───────────────────────────── sum_to ─────────────────────────────
// da = sum_to(dy, a): dy summed over the axes along which `a` was broadcast to make y (the
// identity when a has y's shape). It appears only in derived programs, as the second half of the
// pullback of a broadcasting `+ − ⊙ /`.

/// Sums its first operand down to the shape of its second.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SumTo;

impl Rule for SumTo {
    fn shape(&self) -> ShapeOf {
        ShapeOf::Operand(1)
    }
    fn kind(&self, args: &[Kind]) -> Result<Kind, KindError> {
        expect_arity("sum_to", args, 2)?;
        matrix_operands("sum_to", args)
    }
    fn forward(
        &self,
        cx: &mut DeriveCx<'_>,
        args: &[ValueId],
        tangents: &[Option<ValueId>],
        _out: ValueId,
    ) -> Result<Option<ValueId>, KindError> {
        // Linear in its first operand; the second only gives the shape.
        tangents[0]
            .map(|d| cx.push(*self, &[d, args[1]]))
            .transpose()
    }
    fn print(&self, args: &[Printed], _: &[Kind]) -> Printed {
        Printed::atom(format!("sum_to({}, {})", args[0].text, args[1].text))
    }
    #[cfg(feature = "runtime")]
    fn eval<T: Real>(&self, args: &[&Value<T>]) -> Value<T> {
        Value::Matrix(kernels::sum_to_like(args[0].as_matrix(), args[1].as_matrix()).into_owned())
    }
    fn emit(&self) -> Emit {
        Emit::KernelView {
            kernel: Kernel::SumToLike,
        }
    }
    fn shape_only_args(&self) -> &'static [usize] {
        &[1]
    }
}

// ───────────────────────────── fill ─────────────────────────────
// X = s·𝟏, shaped like `like`: the pullback of sum and mean.

/// A scalar repeated to the shape of its second operand.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Fill;

impl Rule for Fill {
    fn shape(&self) -> ShapeOf {
        ShapeOf::Operand(1)
    }
    fn kind(&self, args: &[Kind]) -> Result<Kind, KindError> {
        expect_arity("fill", args, 2)?;
        match args[0] {
            Kind::Scalar => Ok(args[1]),
            k => Err(KindError::new(format!(
                "`fill` repeats a scalar, found {}",
                k.article()
            ))),
        }
    }
    fn forward(
        &self,
        cx: &mut DeriveCx<'_>,
        args: &[ValueId],
        tangents: &[Option<ValueId>],
        _out: ValueId,
    ) -> Result<Option<ValueId>, KindError> {
        // Linear in its first operand; the second only gives the shape.
        tangents[0]
            .map(|d| cx.push(*self, &[d, args[1]]))
            .transpose()
    }
    fn vmap(&self, cx: &mut VmapCx<'_>, args: &[Operand]) -> Result<ValueId, KindError> {
        // A batched scalar (a 1×n row) repeated over a vector's m elements: 𝟏·row.
        let (s, like) = (args[0], args[1]);
        match like.kind {
            Kind::Scalar if !like.batched => Ok(s.value),
            Kind::Vector if !like.batched => {
                let ones = cx.ones_like(like.value)?;
                let column = cx.column(ones)?;
                cx.push(MatMul::PLAIN, &[column, s.value])
            }
            _ => Err(not_batchable("a fill to a matrix")),
        }
    }
    fn print(&self, args: &[Printed], kinds: &[Kind]) -> Printed {
        if kinds[1].is_tensor() {
            Printed::new(format!("{}·𝟏", args[0].at(Prec::Atom)), Prec::Product)
        } else {
            args[0].clone()
        }
    }
    #[cfg(feature = "runtime")]
    fn eval<T: Real>(&self, args: &[&Value<T>]) -> Value<T> {
        let s = args[0].as_scalar();
        args[1].map(|_| s)
    }
    fn emit(&self) -> Emit {
        kernel(Kernel::FillLike)
    }
}

// ───────────────────────────── numel ─────────────────────────────

/// The number of elements of a tensor, as a scalar of the float type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Numel;

impl Rule for Numel {
    fn kind(&self, args: &[Kind]) -> Result<Kind, KindError> {
        expect_arity("numel", args, 1)?;
        tensor_operand("numel", args[0]).map(|_| Kind::Scalar)
    }
    fn reverse(
        &self,
        _: &mut DeriveCx<'_>,
        _: &[ValueId],
        _: ValueId,
        _: ValueId,
    ) -> Result<Vec<Option<ValueId>>, KindError> {
        // A count does not depend on the values.
        Ok(vec![None])
    }
    fn forward(
        &self,
        _cx: &mut DeriveCx<'_>,
        _args: &[ValueId],
        _tangents: &[Option<ValueId>],
        _out: ValueId,
    ) -> Result<Option<ValueId>, KindError> {
        // A count does not depend on the values.
        Ok(None)
    }
    fn print(&self, args: &[Printed], _: &[Kind]) -> Printed {
        Printed::atom(format!("numel({})", args[0].text))
    }
    #[cfg(feature = "runtime")]
    fn eval<T: Real>(&self, args: &[&Value<T>]) -> Value<T> {
        Value::Scalar(T::from_f64(args[0].numel() as f64))
    }
    fn emit(&self) -> Emit {
        kernel(Kernel::Numel)
    }
    fn shape_only_args(&self) -> &'static [usize] {
        &[0]
    }
}

// ───────────────────────────── expand ─────────────────────────────
// E = expand(v, like): v broadcast to the shape of `like` (the identity when they agree). It
// appears only in derived programs, as the tangent of an operand of a broadcasting `+ −`: the
// forward counterpart of sum_to.

/// Broadcasts its first operand to the shape of its second.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Expand;

impl Rule for Expand {
    fn shape(&self) -> ShapeOf {
        ShapeOf::Operand(1)
    }
    fn kind(&self, args: &[Kind]) -> Result<Kind, KindError> {
        expect_arity("expand", args, 2)?;
        matrix_operands("expand", args)
    }
    fn forward(
        &self,
        cx: &mut DeriveCx<'_>,
        args: &[ValueId],
        tangents: &[Option<ValueId>],
        _out: ValueId,
    ) -> Result<Option<ValueId>, KindError> {
        // Linear in its first operand; the second only gives the shape.
        tangents[0]
            .map(|d| cx.push(*self, &[d, args[1]]))
            .transpose()
    }
    fn print(&self, args: &[Printed], _: &[Kind]) -> Printed {
        Printed::atom(format!("expand({}, {})", args[0].text, args[1].text))
    }
    #[cfg(feature = "runtime")]
    fn eval<T: Real>(&self, args: &[&Value<T>]) -> Value<T> {
        Value::Matrix(kernels::expand_like(args[0].as_matrix(), args[1].as_matrix()).into_owned())
    }
    fn emit(&self) -> Emit {
        Emit::KernelView {
            kernel: Kernel::ExpandLike,
        }
    }
    fn shape_only_args(&self) -> &'static [usize] {
        &[1]
    }
}
