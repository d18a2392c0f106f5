//! Parameters, literals and the arithmetic operators `+ − ⊙ /` and unary `−`.

use crate::symbolic::derive::DeriveCx;
#[cfg(feature = "runtime")]
use crate::symbolic::eval::Value;
use crate::symbolic::ir::{Kind, KindError, ValueId};
use crate::symbolic::methods::{Build, Method};
use crate::symbolic::op::{expect_arity, Emit, Rule, ShapeOf};
use crate::symbolic::print::{infix, literal, times, Prec, Printed};
use crate::symbolic::vmap::{not_batchable, scale_batch, Operand, VmapCx};
#[cfg(feature = "runtime")]
use crate::tensor::Real;

// ───────────────────────────── parameter ─────────────────────────────

/// Reads parameter `i` of the program.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ParamRef(pub usize);

impl Rule for ParamRef {
    fn kind(&self, _: &[Kind]) -> Result<Kind, KindError> {
        Err(KindError::new(
            "a parameter's kind comes from its declaration",
        ))
    }
    fn reverse(
        &self,
        _: &mut DeriveCx<'_>,
        _: &[ValueId],
        _: ValueId,
        _: ValueId,
    ) -> Result<Vec<Option<ValueId>>, KindError> {
        Ok(vec![])
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
    fn print(&self, _: &[Printed], _: &[Kind]) -> Printed {
        // The printer refers to parameters by name; this is only a fallback.
        Printed::atom(format!("p{}", self.0))
    }
    #[cfg(feature = "runtime")]
    fn eval<T: Real>(&self, _: &[&Value<T>]) -> Value<T> {
        unreachable!("the interpreter binds parameters itself")
    }
    fn emit(&self) -> Emit {
        Emit::Param(self.0)
    }
}

// ───────────────────────────── literal ─────────────────────────────

/// A scalar literal, stored by its bits so that ops can be hashed and compared for CSE.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Literal(u64);

impl Literal {
    /// The literal `value`.
    pub fn new(value: f64) -> Self {
        // Both zeros, as written: `x / -0.0` is −∞ where `x / 0.0` is +∞.
        Literal(value.to_bits())
    }

    /// Its value.
    pub fn value(self) -> f64 {
        f64::from_bits(self.0)
    }
}

impl Rule for Literal {
    fn kind(&self, args: &[Kind]) -> Result<Kind, KindError> {
        expect_arity("literal", args, 0)?;
        Ok(Kind::Scalar)
    }
    fn reverse(
        &self,
        _: &mut DeriveCx<'_>,
        _: &[ValueId],
        _: ValueId,
        _: ValueId,
    ) -> Result<Vec<Option<ValueId>>, KindError> {
        Ok(vec![])
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
    fn print(&self, _: &[Printed], _: &[Kind]) -> Printed {
        let v = self.value();
        let prec = if v.is_sign_negative() {
            Prec::Prefix
        } else {
            Prec::Atom
        };
        Printed::new(literal(v).replace('-', "−"), prec)
    }
    #[cfg(feature = "runtime")]
    fn eval<T: Real>(&self, _: &[&Value<T>]) -> Value<T> {
        Value::Scalar(T::from_f64(self.value()))
    }
    fn emit(&self) -> Emit {
        Emit::Literal(self.value())
    }
}

/// The methods the front end reads as these ops: `x.clone()` is `x` (a copy has the same value
/// and derivative).
pub const METHODS: &[Method] = &[Method {
    name: "clone",
    args: &[],
    build: Build::Receiver,
}];

// ───────────────────────────── negation ─────────────────────────────
// y = −a          reverse: da = −dy

/// `−a`
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Neg;

impl Rule for Neg {
    fn shape(&self) -> ShapeOf {
        ShapeOf::Operand(0)
    }
    fn kind(&self, args: &[Kind]) -> Result<Kind, KindError> {
        expect_arity("-", args, 1)?;
        Ok(args[0])
    }
    fn reverse(
        &self,
        cx: &mut DeriveCx<'_>,
        _: &[ValueId],
        _: ValueId,
        dout: ValueId,
    ) -> Result<Vec<Option<ValueId>>, KindError> {
        Ok(vec![Some(cx.neg(dout)?)])
    }
    fn forward(
        &self,
        cx: &mut DeriveCx<'_>,
        _args: &[ValueId],
        tangents: &[Option<ValueId>],
        _out: ValueId,
    ) -> Result<Option<ValueId>, KindError> {
        tangents[0].map(|d| cx.neg(d)).transpose()
    }
    fn vmap(&self, cx: &mut VmapCx<'_>, args: &[Operand]) -> Result<ValueId, KindError> {
        cx.push(Neg, &[args[0].value])
    }
    fn print(&self, args: &[Printed], _: &[Kind]) -> Printed {
        Printed::new(format!("−{}", args[0].at(Prec::Prefix)), Prec::Prefix)
    }
    #[cfg(feature = "runtime")]
    fn eval<T: Real>(&self, args: &[&Value<T>]) -> Value<T> {
        args[0].map(|x| -x)
    }
    fn emit(&self) -> Emit {
        Emit::Prefix("-")
    }
}

// ───────────────────────────── + − ⊙ / ─────────────────────────────
// y = a + b       reverse: da = dy, db = dy
// y = a − b       reverse: da = dy, db = −dy
// y = a ⊙ b       reverse: da = dy ⊙ b, db = dy ⊙ a
// y = a / b       reverse: da = dy / b, db = −dy ⊙ y / b
// Each contribution is then summed back to its operand's shape (`sum` for a scalar operand of a
// tensor result, `sum_to` for a broadcast row or column, the column sums `dYᵀ·𝟏` for a vector
// applied to every row of a matrix), as NumPy broadcasting requires.

/// Which arithmetic operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BinOp {
    Add,
    Sub,
    Mul,
    Div,
}

/// `a + b`, `a − b`, `a ⊙ b`, `a / b`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Binary(pub BinOp);

impl BinOp {
    /// The Rust operator.
    pub fn token(self) -> &'static str {
        match self {
            BinOp::Add => "+",
            BinOp::Sub => "-",
            BinOp::Mul => "*",
            BinOp::Div => "/",
        }
    }

    /// The scalar meaning.
    pub fn apply<T: num_traits::Float>(self, a: T, b: T) -> T {
        match self {
            BinOp::Add => a + b,
            BinOp::Sub => a - b,
            BinOp::Mul => a * b,
            BinOp::Div => a / b,
        }
    }

    fn verb(self) -> &'static str {
        match self {
            BinOp::Add => "add",
            BinOp::Sub => "subtract",
            BinOp::Mul => "multiply",
            BinOp::Div => "divide",
        }
    }
}

impl Rule for Binary {
    fn shape(&self) -> ShapeOf {
        ShapeOf::Elementwise
    }
    fn kind(&self, args: &[Kind]) -> Result<Kind, KindError> {
        expect_arity(self.0.token(), args, 2)?;
        match (args[0], args[1]) {
            (Kind::Scalar, k) | (k, Kind::Scalar) => Ok(k),
            (a, b) if a == b => Ok(a),
            // A vector of length c applied to every row of an r×c matrix (NumPy's rule).
            (Kind::Matrix, Kind::Vector) | (Kind::Vector, Kind::Matrix) => Ok(Kind::Matrix),
            (a, b) => Err(KindError::new(format!(
                "cannot {} {} and {} elementwise; supported: two tensors of the same kind \
                 (a matrix may be a 1×c row or r×1 column broadcast along the other axis), \
                 a matrix and a vector of its row's length (applied to every row), \
                 or a tensor and a scalar",
                self.0.verb(),
                a.article(),
                b.article()
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
        let (a, b) = (args[0], args[1]);
        let (da, db) = match self.0 {
            BinOp::Add => (Some(dout), Some(dout)),
            BinOp::Sub => (Some(dout), cx.when_active(b, |cx| cx.neg(dout))?),
            BinOp::Mul => (
                cx.when_active(a, |cx| cx.mul(dout, b))?,
                cx.when_active(b, |cx| cx.mul(dout, a))?,
            ),
            BinOp::Div => (
                cx.when_active(a, |cx| cx.div(dout, b))?,
                cx.when_active(b, |cx| {
                    let dy_y = cx.mul(dout, out)?;
                    let neg = cx.neg(dy_y)?;
                    cx.div(neg, b)
                })?,
            ),
        };
        let da = match da {
            Some(d) => Some(cx.unbroadcast(d, a, out)?),
            None => None,
        };
        let db = match db {
            Some(d) => Some(cx.unbroadcast(d, b, out)?),
            None => None,
        };
        Ok(vec![da, db])
    }

    fn forward(
        &self,
        cx: &mut DeriveCx<'_>,
        args: &[ValueId],
        tangents: &[Option<ValueId>],
        out: ValueId,
    ) -> Result<Option<ValueId>, KindError> {
        // dy = da + db, da − db, da ⊙ b + a ⊙ db, da / b − y ⊙ db / b; a tangent that enters
        // alone is first expanded to the result's shape.
        let (a, b) = (args[0], args[1]);
        let (da, db) = (tangents[0], tangents[1]);
        match self.0 {
            // Two tangents broadcast against each other as the operands did.
            BinOp::Add | BinOp::Sub => match (da, db) {
                (Some(da), Some(db)) => cx.push(*self, &[da, db]).map(Some),
                (Some(da), None) => cx.expand(da, a, out).map(Some),
                (None, Some(db)) => {
                    let db = cx.expand(db, b, out)?;
                    if self.0 == BinOp::Sub {
                        cx.neg(db).map(Some)
                    } else {
                        Ok(Some(db))
                    }
                }
                (None, None) => Ok(None),
            },
            BinOp::Mul => {
                let a_part = da.map(|d| cx.mul(d, b)).transpose()?;
                let b_part = db.map(|d| cx.mul(a, d)).transpose()?;
                cx.add_opt(a_part, b_part)
            }
            BinOp::Div => {
                let a_part = da.map(|d| cx.div(d, b)).transpose()?;
                let b_part = match db {
                    Some(d) => {
                        let y_db = cx.mul(out, d)?;
                        Some(cx.div(y_db, b)?)
                    }
                    None => None,
                };
                match (a_part, b_part) {
                    (Some(p), Some(q)) => cx.sub(p, q).map(Some),
                    (None, Some(q)) => cx.neg(q).map(Some),
                    (p, None) => Ok(p),
                }
            }
        }
    }
    fn vmap(&self, cx: &mut VmapCx<'_>, args: &[Operand]) -> Result<ValueId, KindError> {
        // Sums of batches stay sums (a scalar's 1×n row broadcasts over a vector's m×n); a
        // batch times or over a constant scales its rows. Anything else is not linear.
        let (a, b) = (args[0], args[1]);
        let tensor_batches = a.kind != Kind::Matrix && b.kind != Kind::Matrix;
        match (self.0, a.batched, b.batched) {
            (BinOp::Add | BinOp::Sub, true, true) if tensor_batches => {
                cx.push(*self, &[a.value, b.value])
            }
            (BinOp::Mul, true, false) => scale_batch(cx, a, b),
            (BinOp::Mul, false, true) => scale_batch(cx, b, a),
            (BinOp::Div, true, false) => match (a.kind, b.kind) {
                (Kind::Vector | Kind::Scalar, Kind::Scalar) => cx.push(*self, &[a.value, b.value]),
                (Kind::Vector, Kind::Vector) => {
                    let column = cx.column(b.value)?;
                    cx.push(*self, &[a.value, column])
                }
                _ => Err(not_batchable("this quotient")),
            },
            _ => Err(not_batchable("this arithmetic")),
        }
    }
    fn print(&self, args: &[Printed], kinds: &[Kind]) -> Printed {
        let (a, b) = (&args[0], &args[1]);
        match self.0 {
            BinOp::Add => infix(a, " + ", b, Prec::Sum),
            BinOp::Sub => infix(a, " − ", b, Prec::Sum),
            BinOp::Mul => infix(a, times(kinds), b, Prec::Product),
            BinOp::Div => infix(a, " / ", b, Prec::Product),
        }
    }

    #[cfg(feature = "runtime")]
    fn eval<T: Real>(&self, args: &[&Value<T>]) -> Value<T> {
        let op = self.0;
        match (args[0], args[1]) {
            (Value::Scalar(x), Value::Scalar(y)) => Value::Scalar(op.apply(*x, *y)),
            (Value::Scalar(x), t) => t.map(|e| op.apply(*x, e)),
            (t, Value::Scalar(y)) => t.map(|e| op.apply(e, *y)),
            (Value::Vector(u), Value::Vector(v)) => Value::Vector(match op {
                BinOp::Add => u + v,
                BinOp::Sub => u - v,
                BinOp::Mul => u * v,
                BinOp::Div => u / v,
            }),
            (Value::Matrix(m), Value::Matrix(n)) => Value::Matrix(match op {
                BinOp::Add => m + n,
                BinOp::Sub => m - n,
                BinOp::Mul => m * n,
                BinOp::Div => m / n,
            }),
            (Value::Matrix(m), Value::Vector(v)) => Value::Matrix(match op {
                BinOp::Add => m + v,
                BinOp::Sub => m - v,
                BinOp::Mul => m * v,
                BinOp::Div => m / v,
            }),
            (Value::Vector(v), Value::Matrix(m)) => Value::Matrix(match op {
                BinOp::Add => v + m,
                BinOp::Sub => v - m,
                BinOp::Mul => v * m,
                BinOp::Div => v / m,
            }),
            (a, b) => panic!(
                "autodiff interpreter: cannot {} {} and {}",
                op.verb(),
                a.kind().article(),
                b.kind().article()
            ),
        }
    }

    fn emit(&self) -> Emit {
        Emit::Infix(self.0.token())
    }
}
