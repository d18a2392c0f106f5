//! Softmax and log-softmax, of a vector as a whole or of each matrix row. Both are computed
//! stably (the row maximum subtracted first) and pulled back by fused one-pass kernels that read
//! the forward result, so no exponential is recomputed and no Jacobian is built.

use super::arith::{BinOp, Binary};
use super::linalg::MatMul;
use crate::symbolic::derive::DeriveCx;
#[cfg(feature = "runtime")]
use crate::symbolic::eval::Value;
use crate::symbolic::ir::{Kind, KindError, ValueId};
use crate::symbolic::op::{expect_arity, Emit, Kernel, Rule, ShapeOf};
use crate::symbolic::print::{Prec, Printed};
use crate::symbolic::vmap::{not_batchable, Operand, VmapCx};
#[cfg(feature = "runtime")]
use crate::tensor::{kernels, Real};

use super::elementwise::{same_kind, Unary, UnaryFn};
use super::reduce::{Sum, SumAxis};
use crate::symbolic::methods::{Build, Method};

fn rowwise_kind(name: &str, args: &[Kind], n: usize) -> Result<Kind, KindError> {
    expect_arity(name, args, n)?;
    match args[0] {
        Kind::Scalar => Err(KindError::new(format!(
            "`{name}` normalizes a vector, or each row of a matrix; found a scalar"
        ))),
        k if n == 2 => same_kind(name, k, args[1]),
        k => Ok(k),
    }
}

/// `Σ_row(e)` in the notation: `sum(e)` for a vector, `sum_axis(e, 1)` for a matrix.
fn row_sum(e: &str, kind: Kind) -> String {
    match kind {
        Kind::Matrix => format!("sum_axis({e}, 1)"),
        _ => format!("sum({e})"),
    }
}

/// `Σ_row(v)` as IR: the sum of a vector (a scalar) or the row sums of a matrix (r×1), which
/// broadcast back over `v` in `+ − ⊙`.
fn row_sum_ir(cx: &mut DeriveCx<'_>, v: ValueId) -> Result<ValueId, KindError> {
    match cx.kind(v) {
        Kind::Matrix => cx.push(SumAxis(1), &[v]),
        _ => cx.push(Sum, &[v]),
    }
}

#[cfg(feature = "runtime")]
fn by_kind<T: Real>(
    dy: &Value<T>,
    y: &Value<T>,
    vector: fn(&crate::Vector<T>, &crate::Vector<T>) -> crate::Vector<T>,
    matrix: fn(&crate::Matrix<T>, &crate::Matrix<T>) -> crate::Matrix<T>,
) -> Value<T> {
    match (dy, y) {
        (Value::Vector(d), Value::Vector(y)) => Value::Vector(vector(d, y)),
        _ => Value::Matrix(matrix(dy.as_matrix(), y.as_matrix())),
    }
}

/// The methods the front end reads as these ops: `x.softmax()`, `x.log_softmax()`.
pub const METHODS: &[Method] = &[
    Method {
        name: "softmax",
        args: &[],
        build: Build::Op(|_| Ok(Softmax.into())),
    },
    Method {
        name: "log_softmax",
        args: &[],
        build: Build::Op(|_| Ok(LogSoftmax.into())),
    },
];

// ───────────────────────────── softmax ─────────────────────────────
// y = softmax(x)       reverse: dx = y ⊙ (dy − Σ_row(dy ⊙ y))

/// `x.softmax()`
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Softmax;

impl Rule for Softmax {
    fn shape(&self) -> ShapeOf {
        ShapeOf::Operand(0)
    }
    fn kind(&self, args: &[Kind]) -> Result<Kind, KindError> {
        rowwise_kind("softmax", args, 1)
    }
    fn reverse(
        &self,
        cx: &mut DeriveCx<'_>,
        _: &[ValueId],
        out: ValueId,
        dout: ValueId,
    ) -> Result<Vec<Option<ValueId>>, KindError> {
        Ok(vec![Some(cx.push(SoftmaxGrad, &[dout, out])?)])
    }
    fn forward(
        &self,
        cx: &mut DeriveCx<'_>,
        _args: &[ValueId],
        tangents: &[Option<ValueId>],
        out: ValueId,
    ) -> Result<Option<ValueId>, KindError> {
        // The Jacobian diag(y) − y·yᵀ is symmetric: the pushforward is the pullback's formula.
        tangents[0]
            .map(|dx| cx.push(SoftmaxGrad, &[dx, out]))
            .transpose()
    }
    fn print(&self, args: &[Printed], _: &[Kind]) -> Printed {
        Printed::atom(format!("softmax({})", args[0].text))
    }
    #[cfg(feature = "runtime")]
    fn eval<T: Real>(&self, args: &[&Value<T>]) -> Value<T> {
        match args[0] {
            Value::Vector(v) => Value::Vector(v.softmax()),
            x => Value::Matrix(x.as_matrix().softmax()),
        }
    }
    fn emit(&self) -> Emit {
        Emit::Method {
            name: "softmax",
            extra: None,
        }
    }
}

/// The fused softmax pullback; operands `(dy, y)` with `y = softmax(x)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SoftmaxGrad;

// g = y ⊙ (dy − Σ_row(dy ⊙ y))
// forward: dg = y ⊙ (ddy − Σ_row(ddy ⊙ y)) + ẏ ⊙ (dy − Σ_row(dy ⊙ y)) − y ⊙ Σ_row(dy ⊙ ẏ)
impl Rule for SoftmaxGrad {
    fn shape(&self) -> ShapeOf {
        ShapeOf::Operand(0)
    }
    fn kind(&self, args: &[Kind]) -> Result<Kind, KindError> {
        rowwise_kind("softmax_grad", args, 2)
    }
    fn forward(
        &self,
        cx: &mut DeriveCx<'_>,
        args: &[ValueId],
        tangents: &[Option<ValueId>],
        _out: ValueId,
    ) -> Result<Option<ValueId>, KindError> {
        let (dy, y) = (args[0], args[1]);
        let linear = tangents[0]
            .map(|ddy| cx.push(SoftmaxGrad, &[ddy, y]))
            .transpose()?;
        let curvature = match tangents[1] {
            Some(dot_y) => {
                let weighted = cx.mul(dy, y)?;
                let centred_sum = row_sum_ir(cx, weighted)?;
                let centred = cx.sub(dy, centred_sum)?;
                let first = cx.mul(dot_y, centred)?;
                let moved = cx.mul(dy, dot_y)?;
                let moved_sum = row_sum_ir(cx, moved)?;
                let second = cx.mul(y, moved_sum)?;
                Some(cx.sub(first, second)?)
            }
            None => None,
        };
        cx.add_opt(linear, curvature)
    }
    fn vmap(&self, cx: &mut VmapCx<'_>, args: &[Operand]) -> Result<ValueId, KindError> {
        // y ⊙ (t − yᵀ·t) for every column of the batch.
        let (t, y) = (args[0], args[1]);
        if !t.batched || y.batched || y.kind != Kind::Vector {
            return Err(not_batchable("this softmax pullback"));
        }
        let column = cx.column(y.value)?;
        let weighted = cx.push(
            MatMul {
                ta: true,
                tb: false,
            },
            &[column, t.value],
        )?;
        let centred = cx.push(Binary(BinOp::Sub), &[t.value, weighted])?;
        cx.push(Binary(BinOp::Mul), &[centred, column])
    }
    fn print(&self, args: &[Printed], kinds: &[Kind]) -> Printed {
        let (dy, y) = (&args[0], &args[1]);
        let inner = row_sum(
            &format!("{} ⊙ {}", dy.at(Prec::Product), y.at(Prec::Product)),
            kinds[0],
        );
        Printed::new(
            format!("{} ⊙ ({} − {inner})", y.at(Prec::Atom), dy.at(Prec::Sum)),
            Prec::Product,
        )
    }
    #[cfg(feature = "runtime")]
    fn eval<T: Real>(&self, args: &[&Value<T>]) -> Value<T> {
        by_kind(
            args[0],
            args[1],
            kernels::softmax_grad,
            kernels::softmax_grad,
        )
    }
    fn emit(&self) -> Emit {
        Emit::Kernel {
            kernel: Kernel::SoftmaxGrad,
            constant: None,
        }
    }
}

// ───────────────────────────── log_softmax ─────────────────────────────
// y = log_softmax(x)   reverse: dx = dy − exp(y) ⊙ Σ_row(dy)     (exp(y) = softmax(x))

/// `x.log_softmax()`
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct LogSoftmax;

impl Rule for LogSoftmax {
    fn shape(&self) -> ShapeOf {
        ShapeOf::Operand(0)
    }
    fn kind(&self, args: &[Kind]) -> Result<Kind, KindError> {
        rowwise_kind("log_softmax", args, 1)
    }
    fn reverse(
        &self,
        cx: &mut DeriveCx<'_>,
        _: &[ValueId],
        out: ValueId,
        dout: ValueId,
    ) -> Result<Vec<Option<ValueId>>, KindError> {
        Ok(vec![Some(cx.push(LogSoftmaxGrad, &[dout, out])?)])
    }
    fn forward(
        &self,
        cx: &mut DeriveCx<'_>,
        _args: &[ValueId],
        tangents: &[Option<ValueId>],
        out: ValueId,
    ) -> Result<Option<ValueId>, KindError> {
        tangents[0]
            .map(|dx| cx.push(LogSoftmaxJvp, &[dx, out]))
            .transpose()
    }
    fn print(&self, args: &[Printed], _: &[Kind]) -> Printed {
        Printed::atom(format!("log_softmax({})", args[0].text))
    }
    #[cfg(feature = "runtime")]
    fn eval<T: Real>(&self, args: &[&Value<T>]) -> Value<T> {
        match args[0] {
            Value::Vector(v) => Value::Vector(v.log_softmax()),
            x => Value::Matrix(x.as_matrix().log_softmax()),
        }
    }
    fn emit(&self) -> Emit {
        Emit::Method {
            name: "log_softmax",
            extra: None,
        }
    }
}

/// The fused log-softmax pullback; operands `(dy, y)` with `y = log_softmax(x)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct LogSoftmaxGrad;

// g = dy − exp(y) ⊙ Σ_row(dy)
// forward: dg = ddy − exp(y) ⊙ Σ_row(ddy) − exp(y) ⊙ ẏ ⊙ Σ_row(dy)
impl Rule for LogSoftmaxGrad {
    fn shape(&self) -> ShapeOf {
        ShapeOf::Operand(0)
    }
    fn kind(&self, args: &[Kind]) -> Result<Kind, KindError> {
        rowwise_kind("log_softmax_grad", args, 2)
    }
    fn forward(
        &self,
        cx: &mut DeriveCx<'_>,
        args: &[ValueId],
        tangents: &[Option<ValueId>],
        _out: ValueId,
    ) -> Result<Option<ValueId>, KindError> {
        let (dy, y) = (args[0], args[1]);
        let linear = tangents[0]
            .map(|ddy| cx.push(LogSoftmaxGrad, &[ddy, y]))
            .transpose()?;
        let curvature = match tangents[1] {
            Some(dot_y) => {
                let p = cx.push(Unary(UnaryFn::Exp), &[y])?;
                let p_dot = cx.mul(p, dot_y)?;
                let total = row_sum_ir(cx, dy)?;
                let term = cx.mul(p_dot, total)?;
                Some(cx.neg(term)?)
            }
            None => None,
        };
        cx.add_opt(linear, curvature)
    }
    fn vmap(&self, cx: &mut VmapCx<'_>, args: &[Operand]) -> Result<ValueId, KindError> {
        // t − exp(y)·𝟏ᵀt for every column of the batch.
        let (t, y) = (args[0], args[1]);
        if !t.batched || y.batched || y.kind != Kind::Vector {
            return Err(not_batchable("this log-softmax pullback"));
        }
        let p = cx.push(Unary(UnaryFn::Exp), &[y.value])?;
        let column = cx.column(p)?;
        let totals = cx.push(SumAxis(0), &[t.value])?;
        let spread = cx.push(MatMul::PLAIN, &[column, totals])?;
        cx.push(Binary(BinOp::Sub), &[t.value, spread])
    }
    fn print(&self, args: &[Printed], kinds: &[Kind]) -> Printed {
        let (dy, y) = (&args[0], &args[1]);
        let sign = if kinds[0] == Kind::Matrix {
            " ⊙ "
        } else {
            "·"
        };
        Printed::new(
            format!(
                "{} − exp({}){sign}{}",
                dy.at(Prec::Sum),
                y.text,
                row_sum(&dy.text, kinds[0])
            ),
            Prec::Sum,
        )
    }
    #[cfg(feature = "runtime")]
    fn eval<T: Real>(&self, args: &[&Value<T>]) -> Value<T> {
        by_kind(
            args[0],
            args[1],
            kernels::log_softmax_grad,
            kernels::log_softmax_grad,
        )
    }
    fn emit(&self) -> Emit {
        Emit::Kernel {
            kernel: Kernel::LogSoftmaxGrad,
            constant: None,
        }
    }
}

/// The fused log-softmax pushforward; operands `(dx, y)` with `y = log_softmax(x)`:
/// `dx − Σ_row(exp(y) ⊙ dx)` (each row's tangent minus its softmax-weighted mean).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct LogSoftmaxJvp;

// t = dx − Σ_row(exp(y) ⊙ dx)
// forward: dt = ddx − Σ_row(exp(y) ⊙ ddx) − Σ_row(exp(y) ⊙ ẏ ⊙ dx)
impl Rule for LogSoftmaxJvp {
    fn shape(&self) -> ShapeOf {
        ShapeOf::Operand(0)
    }
    fn kind(&self, args: &[Kind]) -> Result<Kind, KindError> {
        rowwise_kind("log_softmax_jvp", args, 2)
    }
    fn forward(
        &self,
        cx: &mut DeriveCx<'_>,
        args: &[ValueId],
        tangents: &[Option<ValueId>],
        _out: ValueId,
    ) -> Result<Option<ValueId>, KindError> {
        let (dx, y) = (args[0], args[1]);
        let linear = tangents[0]
            .map(|ddx| cx.push(LogSoftmaxJvp, &[ddx, y]))
            .transpose()?;
        let curvature = match tangents[1] {
            Some(dot_y) => {
                let p = cx.push(Unary(UnaryFn::Exp), &[y])?;
                let p_dot = cx.mul(p, dot_y)?;
                let weighted = cx.mul(p_dot, dx)?;
                let total = row_sum_ir(cx, weighted)?;
                Some(cx.neg(total)?)
            }
            None => None,
        };
        cx.add_opt(linear, curvature)
    }
    fn vmap(&self, cx: &mut VmapCx<'_>, args: &[Operand]) -> Result<ValueId, KindError> {
        // t − exp(y)ᵀ·t for every column of the batch.
        let (t, y) = (args[0], args[1]);
        if !t.batched || y.batched || y.kind != Kind::Vector {
            return Err(not_batchable("this log-softmax pushforward"));
        }
        let p = cx.push(Unary(UnaryFn::Exp), &[y.value])?;
        let column = cx.column(p)?;
        let weighted = cx.push(
            MatMul {
                ta: true,
                tb: false,
            },
            &[column, t.value],
        )?;
        cx.push(Binary(BinOp::Sub), &[t.value, weighted])
    }
    fn print(&self, args: &[Printed], kinds: &[Kind]) -> Printed {
        let (dx, y) = (&args[0], &args[1]);
        let weighted = match kinds[0] {
            Kind::Matrix => format!("sum_axis(exp({}) ⊙ {}, 1)", y.text, dx.at(Prec::Product)),
            _ => format!("exp({})ᵀ·{}", y.text, dx.at(Prec::Atom)),
        };
        Printed::new(format!("{} − {weighted}", dx.at(Prec::Sum)), Prec::Sum)
    }
    #[cfg(feature = "runtime")]
    fn eval<T: Real>(&self, args: &[&Value<T>]) -> Value<T> {
        by_kind(
            args[0],
            args[1],
            kernels::log_softmax_jvp,
            kernels::log_softmax_jvp,
        )
    }
    fn emit(&self) -> Emit {
        Emit::Kernel {
            kernel: Kernel::LogSoftmaxJvp,
            constant: None,
        }
    }
}
