//! Elementwise functions of several operands: `maximum`/`minimum` on tensors (`max`/`min` on
//! scalars), `powf` and `clamp`, and the 0/1 masks their derivatives are made of.
//!
//! Each pulls back as products with a mask or with existing ops, so their forward rules, second
//! derivatives and printed derivations come from those ops' rules. At a tie the derivative goes
//! to the receiver: `a.maximum(&b)` with `a == b` passes `dy` to `a`, `x.clamp(lo, hi)` with `x`
//! at a bound passes it to `x`.

use crate::symbolic::derive::DeriveCx;
#[cfg(feature = "runtime")]
use crate::symbolic::eval::Value;
use crate::symbolic::ir::{Kind, KindError, ValueId};
use crate::symbolic::methods::{Arg, Build, Method};
use crate::symbolic::op::{expect_arity, Emit, Kernel, Rule, ShapeOf};
use crate::symbolic::print::{Prec, Printed};
#[cfg(feature = "runtime")]
use crate::tensor::{Elementwise, Real};

use super::arith::{BinOp, Binary, Literal};
use super::elementwise::{Unary, UnaryFn};

/// The methods the front end reads as these ops.
pub const METHODS: &[Method] = &[
    Method {
        name: "maximum",
        args: &[Arg::Value],
        build: Build::Op(|_| Ok(Extremum(Extreme::Maximum).into())),
    },
    Method {
        name: "minimum",
        args: &[Arg::Value],
        build: Build::Op(|_| Ok(Extremum(Extreme::Minimum).into())),
    },
    Method {
        name: "max",
        args: &[Arg::Value],
        build: Build::Op(|_| Ok(Extremum(Extreme::Max).into())),
    },
    Method {
        name: "min",
        args: &[Arg::Value],
        build: Build::Op(|_| Ok(Extremum(Extreme::Min).into())),
    },
    Method {
        name: "powf",
        args: &[Arg::Value],
        build: Build::Op(|_| Ok(Powf.into())),
    },
    Method {
        name: "clamp",
        args: &[Arg::Value, Arg::Value],
        build: Build::Op(|_| Ok(Clamp.into())),
    },
];

/// `a op b` elementwise, `b` a value of `a`'s kind or a scalar.
#[cfg(feature = "runtime")]
fn pointwise<T: Real>(
    a: &Value<T>,
    b: &Value<T>,
    name: &'static str,
    f: impl Fn(T, T) -> T,
) -> Value<T> {
    match (a, b) {
        (a, Value::Scalar(y)) => a.map(|x| f(x, *y)),
        (Value::Vector(u), Value::Vector(v)) => Value::Vector(u.zip_map(v, name, f)),
        (Value::Matrix(m), Value::Matrix(n)) => Value::Matrix(m.zip_map(n, name, f)),
        (a, b) => panic!(
            "autodiff interpreter: `{name}` of {} and {}",
            a.kind().article(),
            b.kind().article()
        ),
    }
}

/// The kind of `a op b` for an elementwise op whose second operand is of `a`'s kind or a
/// scalar.
fn like_first(name: &str, args: &[Kind]) -> Result<Kind, KindError> {
    expect_arity(name, args, 2)?;
    match (args[0], args[1]) {
        (a, b) if a == b || b == Kind::Scalar => Ok(a),
        (a, b) => Err(KindError::new(format!(
            "`{name}` takes a value of the receiver's kind or a scalar: found {} and {}",
            a.article(),
            b.article()
        ))),
    }
}

/// `1 − m` for a mask `m`.
fn complement(cx: &mut DeriveCx<'_>, m: ValueId) -> Result<ValueId, KindError> {
    let one = cx.literal(1.0)?;
    cx.sub(one, m)
}

// ───────────────────────────── masks ─────────────────────────────
// m = [a ≥ b] or [a ≤ b]     constant: no derivative

/// Which comparison a [`Mask`] tests.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Cmp {
    /// `a ≥ b`
    Ge,
    /// `a ≤ b`
    Le,
}

/// `[a ≥ b]` or `[a ≤ b]`: 1 where it holds, 0 elsewhere (NaN compares false), `b` a value of
/// `a`'s kind or a scalar. Piecewise constant, so its derivative is zero.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Mask(pub Cmp);

impl Mask {
    #[cfg(feature = "runtime")]
    fn holds<T: Real>(self, a: T, b: T) -> bool {
        match self.0 {
            Cmp::Ge => a >= b,
            Cmp::Le => a <= b,
        }
    }
}

impl Rule for Mask {
    fn shape(&self) -> ShapeOf {
        ShapeOf::Elementwise
    }
    fn kind(&self, args: &[Kind]) -> Result<Kind, KindError> {
        like_first("mask", args)
    }
    fn reverse(
        &self,
        _cx: &mut DeriveCx<'_>,
        _args: &[ValueId],
        _out: ValueId,
        _dout: ValueId,
    ) -> Result<Vec<Option<ValueId>>, KindError> {
        Ok(vec![None, None])
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
        let sign = match self.0 {
            Cmp::Ge => "≥",
            Cmp::Le => "≤",
        };
        Printed::atom(format!("[{} {sign} {}]", args[0].text, args[1].text))
    }
    #[cfg(feature = "runtime")]
    fn eval<T: Real>(&self, args: &[&Value<T>]) -> Value<T> {
        let mask = *self;
        pointwise(args[0], args[1], "mask", |a, b| {
            if mask.holds(a, b) {
                T::one()
            } else {
                T::zero()
            }
        })
    }
    fn emit(&self) -> Emit {
        let kernel = match self.0 {
            Cmp::Ge => Kernel::GeMask,
            Cmp::Le => Kernel::LeMask,
        };
        Emit::Kernel {
            kernel,
            constant: None,
        }
    }
}

// ───────────────────────────── maximum, minimum ─────────────────────────────
// y = maximum(a, b)    reverse: da = dy ⊙ [a ≥ b], db = dy ⊙ (1 − [a ≥ b])
// y = minimum(a, b)    reverse: da = dy ⊙ [a ≤ b], db = dy ⊙ (1 − [a ≤ b])

/// Which of the larger or the smaller an [`Extremum`] takes, and how it is spelled.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Extreme {
    /// `a.maximum(&b)` on tensors (`b` a tensor of the same shape or a scalar); NaN propagates,
    /// as NumPy's `maximum`.
    Maximum,
    /// `a.minimum(&b)`, likewise.
    Minimum,
    /// `a.max(b)` on scalars, as `f64::max` (NaN is ignored).
    Max,
    /// `a.min(b)` on scalars, as `f64::min`.
    Min,
}

impl Extreme {
    fn method(self) -> &'static str {
        match self {
            Extreme::Maximum => "maximum",
            Extreme::Minimum => "minimum",
            Extreme::Max => "max",
            Extreme::Min => "min",
        }
    }

    /// The mask that selects the receiver.
    fn mask(self) -> Mask {
        match self {
            Extreme::Maximum | Extreme::Max => Mask(Cmp::Ge),
            Extreme::Minimum | Extreme::Min => Mask(Cmp::Le),
        }
    }
}

/// The elementwise larger or smaller of two values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Extremum(pub Extreme);

impl Rule for Extremum {
    fn shape(&self) -> ShapeOf {
        ShapeOf::Elementwise
    }
    fn kind(&self, args: &[Kind]) -> Result<Kind, KindError> {
        let name = self.0.method();
        let kind = like_first(name, args)?;
        match (self.0, kind) {
            (Extreme::Maximum | Extreme::Minimum, Kind::Scalar) => Err(KindError::new(format!(
                "`{name}` is elementwise on tensors; for two scalars write `a.{}(b)`",
                &name[..3]
            ))),
            (Extreme::Max | Extreme::Min, k) if k.is_tensor() || args[1].is_tensor() => {
                Err(KindError::new(format!(
                    "`{name}` takes two scalars, found {}; elementwise on tensors it is \
                     `a.{name}imum(&b)`",
                    k.article()
                )))
            }
            _ => Ok(kind),
        }
    }
    fn reverse(
        &self,
        cx: &mut DeriveCx<'_>,
        args: &[ValueId],
        out: ValueId,
        dout: ValueId,
    ) -> Result<Vec<Option<ValueId>>, KindError> {
        let (a, b) = (args[0], args[1]);
        let m = cx.push(self.0.mask(), &[a, b])?;
        let da = cx.when_active(a, |cx| cx.mul(dout, m))?;
        let db = cx.when_active(b, |cx| {
            let rest = complement(cx, m)?;
            let d = cx.mul(dout, rest)?;
            cx.unbroadcast(d, b, out)
        })?;
        Ok(vec![da, db])
    }
    fn forward(
        &self,
        cx: &mut DeriveCx<'_>,
        args: &[ValueId],
        tangents: &[Option<ValueId>],
        _out: ValueId,
    ) -> Result<Option<ValueId>, KindError> {
        let (a, b) = (args[0], args[1]);
        let m = cx.push(self.0.mask(), &[a, b])?;
        let a_part = tangents[0].map(|da| cx.mul(m, da)).transpose()?;
        let b_part = match tangents[1] {
            Some(db) => {
                let rest = complement(cx, m)?;
                Some(cx.mul(rest, db)?)
            }
            None => None,
        };
        cx.add_opt(a_part, b_part)
    }
    fn print(&self, args: &[Printed], _: &[Kind]) -> Printed {
        Printed::atom(format!(
            "{}({}, {})",
            self.0.method(),
            args[0].text,
            args[1].text
        ))
    }
    #[cfg(feature = "runtime")]
    fn eval<T: Real>(&self, args: &[&Value<T>]) -> Value<T> {
        let name = self.0.method();
        match self.0 {
            Extreme::Maximum => pointwise(args[0], args[1], name, |a, b| {
                if a >= b || a.is_nan() {
                    a
                } else {
                    b
                }
            }),
            Extreme::Minimum => pointwise(args[0], args[1], name, |a, b| {
                if a <= b || a.is_nan() {
                    a
                } else {
                    b
                }
            }),
            Extreme::Max => pointwise(args[0], args[1], name, T::max),
            Extreme::Min => pointwise(args[0], args[1], name, T::min),
        }
    }
    fn emit(&self) -> Emit {
        Emit::Method {
            name: self.0.method(),
            extra: None,
        }
    }
}

// ───────────────────────────── powf ─────────────────────────────
// y = xᵖ (p a scalar)   reverse: dx = dy ⊙ p·x^(p−1), dp = Σ dy ⊙ y ⊙ ln x

/// `x.powf(p)`: `x` to a scalar power `p`, itself differentiable (its derivative needs
/// `x > 0`: `ln x` is NaN below).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Powf;

impl Powf {
    /// `p·x^(p−1)`, the derivative with respect to `x`: a factor of primal values.
    fn slope(cx: &mut DeriveCx<'_>, x: ValueId, p: ValueId) -> Result<ValueId, KindError> {
        let one = cx.push_primal(Literal::new(1.0), &[])?;
        let lower = cx.push_primal(Binary(BinOp::Sub), &[p, one])?;
        let power = cx.push_primal(Powf, &[x, lower])?;
        cx.push_primal(Binary(BinOp::Mul), &[p, power])
    }

    /// `y ⊙ ln x`, the derivative with respect to `p`: a factor of primal values.
    fn exponent_slope(cx: &mut DeriveCx<'_>, x: ValueId, y: ValueId) -> Result<ValueId, KindError> {
        let ln = cx.push_primal(Unary(UnaryFn::Ln), &[x])?;
        cx.push_primal(Binary(BinOp::Mul), &[y, ln])
    }
}

impl Rule for Powf {
    fn shape(&self) -> ShapeOf {
        ShapeOf::Operand(0)
    }
    fn kind(&self, args: &[Kind]) -> Result<Kind, KindError> {
        expect_arity("powf", args, 2)?;
        match args[1] {
            Kind::Scalar => Ok(args[0]),
            k => Err(KindError::new(format!(
                "`powf` takes a scalar exponent, found {}",
                k.article()
            ))),
        }
    }
    fn reverse(
        &self,
        cx: &mut DeriveCx<'_>,
        args: &[ValueId],
        out: ValueId,
        dout: ValueId,
    ) -> Result<Vec<Option<ValueId>>, KindError> {
        let (x, p) = (args[0], args[1]);
        let dx = cx.when_active(x, |cx| {
            let slope = Powf::slope(cx, x, p)?;
            cx.mul(dout, slope)
        })?;
        let dp = cx.when_active(p, |cx| {
            let slope = Powf::exponent_slope(cx, x, out)?;
            let d = cx.mul(dout, slope)?;
            cx.unbroadcast(d, p, out)
        })?;
        Ok(vec![dx, dp])
    }
    fn forward(
        &self,
        cx: &mut DeriveCx<'_>,
        args: &[ValueId],
        tangents: &[Option<ValueId>],
        out: ValueId,
    ) -> Result<Option<ValueId>, KindError> {
        let (x, p) = (args[0], args[1]);
        let x_part = match tangents[0] {
            Some(dx) => {
                let slope = Powf::slope(cx, x, p)?;
                Some(cx.mul(slope, dx)?)
            }
            None => None,
        };
        let p_part = match tangents[1] {
            Some(dp) => {
                let slope = Powf::exponent_slope(cx, x, out)?;
                Some(cx.mul(slope, dp)?)
            }
            None => None,
        };
        cx.add_opt(x_part, p_part)
    }
    fn print(&self, args: &[Printed], _: &[Kind]) -> Printed {
        Printed::atom(format!(
            "{}^{}",
            args[0].at(Prec::Atom),
            args[1].at(Prec::Atom)
        ))
    }
    #[cfg(feature = "runtime")]
    fn eval<T: Real>(&self, args: &[&Value<T>]) -> Value<T> {
        let p = args[1].as_scalar();
        args[0].map(|x| x.powf(p))
    }
    fn emit(&self) -> Emit {
        Emit::Method {
            name: "powf",
            extra: None,
        }
    }
}

// ───────────────────────────── clamp ─────────────────────────────
// y = clamp(x, lo, hi)   reverse: dx = dy ⊙ [x ≥ lo] ⊙ [x ≤ hi],
//                                 dlo = Σ dy ⊙ (1 − [x ≥ lo]), dhi = Σ dy ⊙ (1 − [x ≤ hi])

/// `x.clamp(lo, hi)` with scalar bounds `lo ≤ hi` (as `f64::clamp`, which panics otherwise, and
/// the tensors' `clamp` too).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Clamp;

impl Clamp {
    /// `[x ≥ lo]` and `[x ≤ hi]`.
    fn masks(cx: &mut DeriveCx<'_>, args: &[ValueId]) -> Result<(ValueId, ValueId), KindError> {
        let above = cx.push(Mask(Cmp::Ge), &[args[0], args[1]])?;
        let below = cx.push(Mask(Cmp::Le), &[args[0], args[2]])?;
        Ok((above, below))
    }
}

impl Rule for Clamp {
    fn shape(&self) -> ShapeOf {
        ShapeOf::Operand(0)
    }
    fn kind(&self, args: &[Kind]) -> Result<Kind, KindError> {
        expect_arity("clamp", args, 3)?;
        match (args[1], args[2]) {
            (Kind::Scalar, Kind::Scalar) => Ok(args[0]),
            (lo, hi) => Err(KindError::new(format!(
                "`clamp` takes scalar bounds, found {} and {}",
                lo.article(),
                hi.article()
            ))),
        }
    }
    fn reverse(
        &self,
        cx: &mut DeriveCx<'_>,
        args: &[ValueId],
        out: ValueId,
        dout: ValueId,
    ) -> Result<Vec<Option<ValueId>>, KindError> {
        let (above, below) = Clamp::masks(cx, args)?;
        let dx = cx.when_active(args[0], |cx| {
            let inside = cx.mul(above, below)?;
            cx.mul(dout, inside)
        })?;
        let bound = |cx: &mut DeriveCx<'_>, v: ValueId, mask: ValueId| {
            cx.when_active(v, |cx| {
                let outside = complement(cx, mask)?;
                let d = cx.mul(dout, outside)?;
                cx.unbroadcast(d, v, out)
            })
        };
        let dlo = bound(cx, args[1], above)?;
        let dhi = bound(cx, args[2], below)?;
        Ok(vec![dx, dlo, dhi])
    }
    fn forward(
        &self,
        cx: &mut DeriveCx<'_>,
        args: &[ValueId],
        tangents: &[Option<ValueId>],
        _out: ValueId,
    ) -> Result<Option<ValueId>, KindError> {
        // Only the masks the present tangents need: a mask of inactive values alone is work
        // forward mode does without.
        let above = match (tangents[0], tangents[1]) {
            (None, None) => None,
            _ => Some(cx.push(Mask(Cmp::Ge), &[args[0], args[1]])?),
        };
        let below = match (tangents[0], tangents[2]) {
            (None, None) => None,
            _ => Some(cx.push(Mask(Cmp::Le), &[args[0], args[2]])?),
        };
        let mut total = match (tangents[0], above, below) {
            (Some(dx), Some(above), Some(below)) => {
                let inside = cx.mul(above, below)?;
                Some(cx.mul(inside, dx)?)
            }
            _ => None,
        };
        for (tangent, mask) in [(tangents[1], above), (tangents[2], below)] {
            if let (Some(d), Some(mask)) = (tangent, mask) {
                let outside = complement(cx, mask)?;
                let part = cx.mul(outside, d)?;
                total = cx.add_opt(total, Some(part))?;
            }
        }
        Ok(total)
    }
    fn print(&self, args: &[Printed], _: &[Kind]) -> Printed {
        Printed::atom(format!(
            "clamp({}, {}, {})",
            args[0].text, args[1].text, args[2].text
        ))
    }
    #[cfg(feature = "runtime")]
    fn eval<T: Real>(&self, args: &[&Value<T>]) -> Value<T> {
        let (lo, hi) = (args[1].as_scalar(), args[2].as_scalar());
        assert!(
            lo <= hi,
            "autodiff interpreter: `clamp` with lo = {lo} > hi = {hi}"
        );
        // As `f64::clamp`: NaN stays NaN.
        args[0].map(|x| {
            if x < lo {
                lo
            } else if x > hi {
                hi
            } else {
                x
            }
        })
    }
    fn emit(&self) -> Emit {
        Emit::Method {
            name: "clamp",
            extra: None,
        }
    }
}
