//! Reductions and their adjoints, broadcasts. A reduction pulls back as a broadcast and a
//! broadcast as a reduction, so each pair below is the other's pullback.

use super::arith::{BinOp, Binary};
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
];

const SUM_AXIS_TAKES: &str =
    "the axis `0` (sum the rows, giving 1×c) or `1` (sum the columns, giving r×1)";

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
