//! Matrix products, transpose and the dot product.
//!
//! Matmul is registered once, as a bilinear op with transpose flags that go to GEMM as strides;
//! the simplifier folds explicit transposes into the flags, so `Xᵀ·dY` never copies `X`.

use crate::symbolic::derive::DeriveCx;
#[cfg(feature = "runtime")]
use crate::symbolic::eval::Value;
use crate::symbolic::ir::{Kind, KindError, ValueId};
use crate::symbolic::methods::{Arg, Build, Method};
use crate::symbolic::op::{expect_arity, Emit, Rule};
use crate::symbolic::print::{infix, Prec, Printed};
use crate::symbolic::vmap::{not_batchable, Operand, VmapCx};
#[cfg(feature = "runtime")]
use crate::tensor::Real;

fn transposed(p: &Printed, flag: bool) -> Printed {
    if flag {
        Printed::atom(format!("{}ᵀ", p.at(Prec::Atom)))
    } else {
        p.clone()
    }
}

/// The methods the front end reads as these ops: `a.matmul(&b)`, `a.t()`, `u.dot(&v)`.
pub const METHODS: &[Method] = &[
    Method {
        name: "matmul",
        args: &[Arg::Value],
        build: Build::Op(|_| Ok(MatMul::PLAIN.into())),
    },
    Method {
        name: "t",
        args: &[],
        build: Build::Op(|_| Ok(Transpose.into())),
    },
    Method {
        name: "dot",
        args: &[Arg::Value],
        build: Build::Op(|_| Ok(Dot.into())),
    },
    Method {
        name: "outer",
        args: &[Arg::Value],
        build: Build::Op(|_| Ok(Outer.into())),
    },
];

// ───────────────────────────── matmul ─────────────────────────────
// C = A·B         reverse: dA = dC·Bᵀ,  dB = Aᵀ·dC
// y = A·x         reverse: dA = dy·xᵀ,  dx = Aᵀ·dy
// With flags, C = op(A)·op(B); the rules below are the same two equations with the flags
// pushed through (for example dA = op(B)·dCᵀ when A enters transposed).

/// `op(a)·op(b)`: Matrix·Matrix → Matrix or Matrix·Vector → Vector; `ta`/`tb` transpose an
/// operand without copying it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct MatMul {
    pub ta: bool,
    pub tb: bool,
}

impl MatMul {
    /// `a·b`
    pub const PLAIN: MatMul = MatMul {
        ta: false,
        tb: false,
    };

    /// The runtime method for these flags.
    pub fn method(self) -> &'static str {
        match (self.ta, self.tb) {
            (false, false) => "matmul",
            (true, false) => "t_matmul",
            (false, true) => "matmul_t",
            (true, true) => "t_matmul_t",
        }
    }
}

impl Rule for MatMul {
    fn kind(&self, args: &[Kind]) -> Result<Kind, KindError> {
        expect_arity("matmul", args, 2)?;
        match (args[0], args[1]) {
            (Kind::Matrix, Kind::Matrix) => Ok(Kind::Matrix),
            (Kind::Matrix, Kind::Vector) if !self.tb => Ok(Kind::Vector),
            (a, b) => Err(KindError::new(format!(
                "`matmul` multiplies a matrix by a matrix or by a vector, found {} times {}; \
                 use `dot` for vector·vector and `*` to scale by a scalar",
                a.article(),
                b.article()
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
        let (a, b) = (args[0], args[1]);
        let MatMul { ta, tb } = *self;
        if cx.kind(b) == Kind::Vector {
            let da = cx.when_active(a, |cx| {
                if ta {
                    cx.push(Outer, &[b, dout])
                } else {
                    cx.push(Outer, &[dout, b])
                }
            })?;
            let db = cx.when_active(b, |cx| cx.push(MatMul { ta: !ta, tb: false }, &[a, dout]))?;
            return Ok(vec![da, db]);
        }
        let da = cx.when_active(a, |cx| {
            if ta {
                cx.push(MatMul { ta: tb, tb: true }, &[b, dout])
            } else {
                cx.push(MatMul { ta: false, tb: !tb }, &[dout, b])
            }
        })?;
        let db = cx.when_active(b, |cx| {
            if tb {
                cx.push(MatMul { ta: true, tb: ta }, &[dout, a])
            } else {
                cx.push(MatMul { ta: !ta, tb: false }, &[a, dout])
            }
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
        // dC = op(dA)·op(B) + op(A)·op(dB)
        let a_part = tangents[0]
            .map(|d| cx.push(*self, &[d, args[1]]))
            .transpose()?;
        let b_part = tangents[1]
            .map(|d| cx.push(*self, &[args[0], d]))
            .transpose()?;
        cx.add_opt(a_part, b_part)
    }
    fn vmap(&self, cx: &mut VmapCx<'_>, args: &[Operand]) -> Result<ValueId, KindError> {
        // W·t for every column: one GEMM, W·T.
        match (args[0], args[1]) {
            (w, t) if !w.batched && t.batched && t.kind == Kind::Vector => cx.push(
                MatMul {
                    ta: self.ta,
                    tb: false,
                },
                &[w.value, t.value],
            ),
            _ => Err(not_batchable("a product with a batched matrix")),
        }
    }
    fn print(&self, args: &[Printed], _: &[Kind]) -> Printed {
        infix(
            &transposed(&args[0], self.ta),
            "·",
            &transposed(&args[1], self.tb),
            Prec::Product,
        )
    }

    #[cfg(feature = "runtime")]
    fn eval<T: Real>(&self, args: &[&Value<T>]) -> Value<T> {
        let a = args[0].as_matrix();
        match args[1] {
            Value::Vector(v) => Value::Vector(if self.ta { a.t_matmul(v) } else { a.matmul(v) }),
            b => {
                let b = b.as_matrix();
                Value::Matrix(match (self.ta, self.tb) {
                    (false, false) => a.matmul(b),
                    (true, false) => a.t_matmul(b),
                    (false, true) => a.matmul_t(b),
                    (true, true) => a.t_matmul_t(b),
                })
            }
        }
    }

    fn emit(&self) -> Emit {
        Emit::Method {
            name: self.method(),
            extra: None,
        }
    }
}

// ───────────────────────────── outer ─────────────────────────────
// C = u·vᵀ        reverse: du = dC·v,  dv = dCᵀ·u

/// `u·vᵀ`: Vector, Vector → Matrix.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Outer;

impl Rule for Outer {
    fn kind(&self, args: &[Kind]) -> Result<Kind, KindError> {
        expect_arity("outer", args, 2)?;
        match (args[0], args[1]) {
            (Kind::Vector, Kind::Vector) => Ok(Kind::Matrix),
            (a, b) => Err(KindError::new(format!(
                "`outer` takes two vectors, found {} and {}",
                a.article(),
                b.article()
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
        let (u, v) = (args[0], args[1]);
        let du = cx.when_active(u, |cx| cx.push(MatMul::PLAIN, &[dout, v]))?;
        let dv = cx.when_active(v, |cx| {
            cx.push(
                MatMul {
                    ta: true,
                    tb: false,
                },
                &[dout, u],
            )
        })?;
        Ok(vec![du, dv])
    }
    fn forward(
        &self,
        cx: &mut DeriveCx<'_>,
        args: &[ValueId],
        tangents: &[Option<ValueId>],
        _out: ValueId,
    ) -> Result<Option<ValueId>, KindError> {
        // dC = du·vᵀ + u·dvᵀ
        let u_part = tangents[0]
            .map(|d| cx.push(Outer, &[d, args[1]]))
            .transpose()?;
        let v_part = tangents[1]
            .map(|d| cx.push(Outer, &[args[0], d]))
            .transpose()?;
        cx.add_opt(u_part, v_part)
    }
    fn print(&self, args: &[Printed], _: &[Kind]) -> Printed {
        infix(&args[0], "·", &transposed(&args[1], true), Prec::Product)
    }
    #[cfg(feature = "runtime")]
    fn eval<T: Real>(&self, args: &[&Value<T>]) -> Value<T> {
        Value::Matrix(args[0].as_vector().outer(args[1].as_vector()))
    }
    fn emit(&self) -> Emit {
        Emit::Method {
            name: "outer",
            extra: None,
        }
    }
}

// ───────────────────────────── transpose ─────────────────────────────
// B = Aᵀ          reverse: dA = dBᵀ

/// `a.t()`
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Transpose;

impl Rule for Transpose {
    fn kind(&self, args: &[Kind]) -> Result<Kind, KindError> {
        expect_arity("t", args, 1)?;
        match args[0] {
            Kind::Matrix => Ok(Kind::Matrix),
            k => Err(KindError::new(format!(
                "`t()` transposes a matrix, found {}; a vector is a column already: \
                 use `u.dot(&v)` for uᵀ·v",
                k.article()
            ))),
        }
    }
    fn reverse(
        &self,
        cx: &mut DeriveCx<'_>,
        _: &[ValueId],
        _: ValueId,
        dout: ValueId,
    ) -> Result<Vec<Option<ValueId>>, KindError> {
        Ok(vec![Some(cx.push(Transpose, &[dout])?)])
    }
    fn forward(
        &self,
        cx: &mut DeriveCx<'_>,
        _args: &[ValueId],
        tangents: &[Option<ValueId>],
        _out: ValueId,
    ) -> Result<Option<ValueId>, KindError> {
        tangents[0].map(|d| cx.push(Transpose, &[d])).transpose()
    }
    fn print(&self, args: &[Printed], _: &[Kind]) -> Printed {
        transposed(&args[0], true)
    }
    #[cfg(feature = "runtime")]
    fn eval<T: Real>(&self, args: &[&Value<T>]) -> Value<T> {
        Value::Matrix(args[0].as_matrix().t())
    }
    fn emit(&self) -> Emit {
        Emit::Method {
            name: "t",
            extra: None,
        }
    }
}

// ───────────────────────────── dot ─────────────────────────────
// s = uᵀ·v        reverse: du = ds·v,  dv = ds·u

/// `u.dot(&v)`: Vector, Vector → scalar.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Dot;

impl Rule for Dot {
    fn kind(&self, args: &[Kind]) -> Result<Kind, KindError> {
        expect_arity("dot", args, 2)?;
        match (args[0], args[1]) {
            (Kind::Vector, Kind::Vector) => Ok(Kind::Scalar),
            (a, b) => Err(KindError::new(format!(
                "`dot` takes two vectors, found {} and {}; use `matmul` for matrices",
                a.article(),
                b.article()
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
        let (u, v) = (args[0], args[1]);
        let du = cx.when_active(u, |cx| cx.mul(dout, v))?;
        let dv = cx.when_active(v, |cx| cx.mul(dout, u))?;
        Ok(vec![du, dv])
    }
    fn forward(
        &self,
        cx: &mut DeriveCx<'_>,
        args: &[ValueId],
        tangents: &[Option<ValueId>],
        _out: ValueId,
    ) -> Result<Option<ValueId>, KindError> {
        // ds = duᵀ·v + uᵀ·dv
        let u_part = tangents[0]
            .map(|d| cx.push(Dot, &[d, args[1]]))
            .transpose()?;
        let v_part = tangents[1]
            .map(|d| cx.push(Dot, &[args[0], d]))
            .transpose()?;
        cx.add_opt(u_part, v_part)
    }
    fn vmap(&self, cx: &mut VmapCx<'_>, args: &[Operand]) -> Result<ValueId, KindError> {
        // vᵀ·t for every column: the row vᵀ·T.
        let (t, v) = match (args[0], args[1]) {
            (t, v) if t.batched && !v.batched => (t, v),
            (v, t) if t.batched && !v.batched => (t, v),
            _ => return Err(not_batchable("a dot product of two batches")),
        };
        let column = cx.column(v.value)?;
        cx.push(
            MatMul {
                ta: true,
                tb: false,
            },
            &[column, t.value],
        )
    }
    fn print(&self, args: &[Printed], _: &[Kind]) -> Printed {
        infix(&transposed(&args[0], true), "·", &args[1], Prec::Product)
    }
    #[cfg(feature = "runtime")]
    fn eval<T: Real>(&self, args: &[&Value<T>]) -> Value<T> {
        Value::Scalar(args[0].as_vector().dot(args[1].as_vector()))
    }
    fn emit(&self) -> Emit {
        Emit::Method {
            name: "dot",
            extra: None,
        }
    }
}
