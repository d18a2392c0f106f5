//! The linear algebra of square matrices and diagonals: trace, inverse, determinant,
//! log-determinant, solve, norm, `diag` and `diagonal` (products, transposes and `dot` are in
//! [`linalg`](super::linalg)).
//!
//! The rules are the Matrix Cookbook's, written so that no inverse is formed where a solve will
//! do: the pushforwards of `det` and `logdet` are traces of a solve, `tr(X⁻¹·dX)`, and `solve`'s
//! pullback is a transposed solve. Only the pullbacks of `det` and `logdet` form X⁻¹, because
//! X⁻ᵀ is the gradient itself; it is a primal value, so it is shared with an `inverse` the
//! function computes anyway (B7's `logdet(X) + tr(A·X⁻¹)` inverts once).
//!
//! Each operation factors its matrix afresh: a `solve` and its pullback's transposed solve
//! factor A twice, as do `logdet(X)` and `X.inverse()` in one function. (Sharing one
//! factorization would need factorizations as values of the IR.)

use super::arith::{BinOp, Binary};
use super::linalg::{Dot, MatMul, Outer, Transpose};
use super::reduce::Sum;
use crate::symbolic::derive::DeriveCx;
#[cfg(feature = "runtime")]
use crate::symbolic::eval::Value;
use crate::symbolic::ir::{Kind, KindError, ValueId};
use crate::symbolic::methods::{Arg, Build, Method};
use crate::symbolic::op::{expect_arity, Emit, Kernel, Rule, ShapeOf};
use crate::symbolic::print::{infix, Prec, Printed};
use crate::symbolic::vmap::{not_batchable, Operand, VmapCx};
#[cfg(feature = "runtime")]
use crate::tensor::{kernels, Real};

/// The methods the front end reads as these ops.
pub const METHODS: &[Method] = &[
    Method {
        name: "trace",
        args: &[],
        build: Build::Op(|_| Ok(Trace.into())),
    },
    Method {
        name: "inverse",
        args: &[],
        build: Build::Op(|_| Ok(Inverse.into())),
    },
    Method {
        name: "det",
        args: &[],
        build: Build::Op(|_| Ok(Det.into())),
    },
    Method {
        name: "logdet",
        args: &[],
        build: Build::Op(|_| Ok(LogDet.into())),
    },
    Method {
        name: "solve",
        args: &[Arg::Value],
        build: Build::Op(|_| Ok(Solve::PLAIN.into())),
    },
    Method {
        name: "norm",
        args: &[],
        build: Build::Op(|_| Ok(Norm.into())),
    },
    Method {
        name: "diag",
        args: &[],
        build: Build::Op(|_| Ok(DiagMatrix.into())),
    },
    Method {
        name: "diagonal",
        args: &[],
        build: Build::Op(|_| Ok(Diagonal.into())),
    },
];

/// Checks that a one-operand op of a square matrix got a matrix (squareness is the runtime's
/// to check: shapes are not known here).
fn square_matrix(name: &str, args: &[Kind], kind: Kind) -> Result<Kind, KindError> {
    expect_arity(name, args, 1)?;
    match args[0] {
        Kind::Matrix => Ok(kind),
        k => Err(KindError::new(format!(
            "`{name}` takes a square matrix, found {}",
            k.article()
        ))),
    }
}

fn method(name: &'static str) -> Emit {
    Emit::Method { name, extra: None }
}

/// `a` with a `ᵀ` if `flag`.
fn transposed(a: &Printed, flag: bool) -> Printed {
    if flag {
        Printed::atom(format!("{}ᵀ", a.at(Prec::Atom)))
    } else {
        a.clone()
    }
}

/// X⁻ᵀ, a value of primal values alone (so it is shared with the function's own X⁻¹).
fn inverse_transposed(cx: &mut DeriveCx<'_>, x: ValueId) -> Result<ValueId, KindError> {
    let inverse = cx.push_primal(Inverse, &[x])?;
    cx.push_primal(Transpose, &[inverse])
}

/// tr(X⁻¹·dX), by a solve: the pushforward of ln |det X|.
fn trace_of_solve(cx: &mut DeriveCx<'_>, x: ValueId, dx: ValueId) -> Result<ValueId, KindError> {
    let solved = cx.push(Solve::PLAIN, &[x, dx])?;
    cx.push(Trace, &[solved])
}

// ───────────────────────────── trace ─────────────────────────────
// s = tr(X)       reverse: dX = ds·I           forward: ds = tr(dX)

/// `m.trace()`: the sum of a square matrix's diagonal.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Trace;

impl Rule for Trace {
    fn kind(&self, args: &[Kind]) -> Result<Kind, KindError> {
        square_matrix("trace", args, Kind::Scalar)
    }
    fn reverse(
        &self,
        cx: &mut DeriveCx<'_>,
        args: &[ValueId],
        _out: ValueId,
        dout: ValueId,
    ) -> Result<Vec<Option<ValueId>>, KindError> {
        Ok(vec![Some(cx.push(OnDiagonal, &[dout, args[0]])?)])
    }
    fn forward(
        &self,
        cx: &mut DeriveCx<'_>,
        _args: &[ValueId],
        tangents: &[Option<ValueId>],
        _out: ValueId,
    ) -> Result<Option<ValueId>, KindError> {
        tangents[0].map(|d| cx.push(Trace, &[d])).transpose()
    }
    fn print(&self, args: &[Printed], _: &[Kind]) -> Printed {
        Printed::atom(format!("tr({})", args[0].text))
    }
    #[cfg(feature = "runtime")]
    fn eval<T: Real>(&self, args: &[&Value<T>]) -> Value<T> {
        Value::Scalar(args[0].as_matrix().trace())
    }
    fn emit(&self) -> Emit {
        method("trace")
    }
    fn can_panic(&self) -> bool {
        // A rectangular matrix.
        true
    }
}

// ───────────────────────────── inverse ─────────────────────────────
// Y = X⁻¹         reverse: dX = −Yᵀ·dY·Yᵀ      forward: dY = −Y·dX·Y

/// `m.inverse()`, by LU with partial pivoting.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Inverse;

impl Rule for Inverse {
    fn kind(&self, args: &[Kind]) -> Result<Kind, KindError> {
        square_matrix("inverse", args, Kind::Matrix)
    }
    fn reverse(
        &self,
        cx: &mut DeriveCx<'_>,
        _args: &[ValueId],
        out: ValueId,
        dout: ValueId,
    ) -> Result<Vec<Option<ValueId>>, KindError> {
        let left = cx.push(
            MatMul {
                ta: true,
                tb: false,
            },
            &[out, dout],
        )?;
        let product = cx.push(
            MatMul {
                ta: false,
                tb: true,
            },
            &[left, out],
        )?;
        Ok(vec![Some(cx.neg(product)?)])
    }
    fn forward(
        &self,
        cx: &mut DeriveCx<'_>,
        _args: &[ValueId],
        tangents: &[Option<ValueId>],
        out: ValueId,
    ) -> Result<Option<ValueId>, KindError> {
        let Some(dx) = tangents[0] else {
            return Ok(None);
        };
        let left = cx.push(MatMul::PLAIN, &[out, dx])?;
        let product = cx.push(MatMul::PLAIN, &[left, out])?;
        cx.neg(product).map(Some)
    }
    fn print(&self, args: &[Printed], _: &[Kind]) -> Printed {
        Printed::atom(format!("{}⁻¹", args[0].at(Prec::Atom)))
    }
    #[cfg(feature = "runtime")]
    fn eval<T: Real>(&self, args: &[&Value<T>]) -> Value<T> {
        Value::Matrix(args[0].as_matrix().inverse())
    }
    fn emit(&self) -> Emit {
        method("inverse")
    }
    fn shape(&self) -> ShapeOf {
        ShapeOf::Operand(0)
    }
    fn can_panic(&self) -> bool {
        true
    }
}

// ───────────────────────────── determinant ─────────────────────────────
// d = det(X)      reverse: dX = (dd·d)·X⁻ᵀ     forward: dd = d·tr(X⁻¹·dX), by a solve

/// `m.det()`, by LU with partial pivoting.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Det;

impl Rule for Det {
    fn kind(&self, args: &[Kind]) -> Result<Kind, KindError> {
        square_matrix("det", args, Kind::Scalar)
    }
    fn reverse(
        &self,
        cx: &mut DeriveCx<'_>,
        args: &[ValueId],
        out: ValueId,
        dout: ValueId,
    ) -> Result<Vec<Option<ValueId>>, KindError> {
        let scale = cx.mul(dout, out)?;
        let inverse_t = inverse_transposed(cx, args[0])?;
        Ok(vec![Some(cx.mul(scale, inverse_t)?)])
    }
    fn forward(
        &self,
        cx: &mut DeriveCx<'_>,
        args: &[ValueId],
        tangents: &[Option<ValueId>],
        out: ValueId,
    ) -> Result<Option<ValueId>, KindError> {
        let Some(dx) = tangents[0] else {
            return Ok(None);
        };
        let trace = trace_of_solve(cx, args[0], dx)?;
        cx.mul(out, trace).map(Some)
    }
    fn print(&self, args: &[Printed], _: &[Kind]) -> Printed {
        Printed::atom(format!("det({})", args[0].text))
    }
    #[cfg(feature = "runtime")]
    fn eval<T: Real>(&self, args: &[&Value<T>]) -> Value<T> {
        Value::Scalar(args[0].as_matrix().det())
    }
    fn emit(&self) -> Emit {
        method("det")
    }
    fn can_panic(&self) -> bool {
        true
    }
}

// ───────────────────────────── log-determinant ─────────────────────────────
// l = ln |det X|  reverse: dX = dl·X⁻ᵀ         forward: dl = tr(X⁻¹·dX), by a solve

/// `m.logdet()`: ln |det m|, by LU with partial pivoting.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct LogDet;

impl Rule for LogDet {
    fn kind(&self, args: &[Kind]) -> Result<Kind, KindError> {
        square_matrix("logdet", args, Kind::Scalar)
    }
    fn reverse(
        &self,
        cx: &mut DeriveCx<'_>,
        args: &[ValueId],
        _out: ValueId,
        dout: ValueId,
    ) -> Result<Vec<Option<ValueId>>, KindError> {
        let inverse_t = inverse_transposed(cx, args[0])?;
        Ok(vec![Some(cx.mul(dout, inverse_t)?)])
    }
    fn forward(
        &self,
        cx: &mut DeriveCx<'_>,
        args: &[ValueId],
        tangents: &[Option<ValueId>],
        _out: ValueId,
    ) -> Result<Option<ValueId>, KindError> {
        tangents[0]
            .map(|dx| trace_of_solve(cx, args[0], dx))
            .transpose()
    }
    fn print(&self, args: &[Printed], _: &[Kind]) -> Printed {
        Printed::atom(format!("ln|det({})|", args[0].text))
    }
    #[cfg(feature = "runtime")]
    fn eval<T: Real>(&self, args: &[&Value<T>]) -> Value<T> {
        Value::Scalar(args[0].as_matrix().logdet())
    }
    fn emit(&self) -> Emit {
        method("logdet")
    }
    fn can_panic(&self) -> bool {
        true
    }
}

// ───────────────────────────── solve ─────────────────────────────
// x = A⁻¹·b       reverse: db = A⁻ᵀ·dx (a transposed solve),  dA = −db·xᵀ
//                 forward: dx = A⁻¹·(db − dA·x)
// x = A⁻ᵀ·b       reverse: db = A⁻¹·dx,  dA = −x·dbᵀ
//                 forward: dx = A⁻ᵀ·(db − dAᵀ·x)
// `b` (and so `x`) is a vector or a matrix; for a vector, x·dbᵀ is an outer product.

/// `a.solve(&b)`: A⁻¹·b, or A⁻ᵀ·b when `transposed` (the pullback's), `b` a vector or a
/// matrix, by LU with partial pivoting; no inverse is formed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Solve {
    pub transposed: bool,
}

impl Solve {
    /// `a.solve(&b)`: A⁻¹·b.
    pub const PLAIN: Solve = Solve { transposed: false };
}

impl Rule for Solve {
    fn kind(&self, args: &[Kind]) -> Result<Kind, KindError> {
        expect_arity("solve", args, 2)?;
        match (args[0], args[1]) {
            (Kind::Matrix, b @ (Kind::Vector | Kind::Matrix)) => Ok(b),
            (a, b) => Err(KindError::new(format!(
                "`solve` takes a square matrix and a vector or a matrix (`a.solve(&b)` is a⁻¹·b), \
                 found {} and {}",
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
        // db is needed for dA too.
        let db = cx.push(
            Solve {
                transposed: !self.transposed,
            },
            &[a, dout],
        )?;
        let da = cx.when_active(a, |cx| {
            let minus_db = cx.neg(db)?;
            // −db·xᵀ, or −x·dbᵀ for the transposed solve.
            let (left, right) = if self.transposed {
                (out, minus_db)
            } else {
                (minus_db, out)
            };
            if cx.kind(b) == Kind::Vector {
                cx.push(Outer, &[left, right])
            } else {
                cx.push(
                    MatMul {
                        ta: false,
                        tb: true,
                    },
                    &[left, right],
                )
            }
        })?;
        let db = cx.is_active(b).then_some(db);
        Ok(vec![da, db])
    }
    fn forward(
        &self,
        cx: &mut DeriveCx<'_>,
        args: &[ValueId],
        tangents: &[Option<ValueId>],
        out: ValueId,
    ) -> Result<Option<ValueId>, KindError> {
        // dA·x (dAᵀ·x for the transposed solve), then the right-hand side db − dA·x.
        let da_x = tangents[0]
            .map(|da| {
                let product = MatMul {
                    ta: self.transposed,
                    tb: false,
                };
                cx.push(product, &[da, out])
            })
            .transpose()?;
        let rhs = match (tangents[1], da_x) {
            (None, None) => return Ok(None),
            (Some(db), None) => db,
            (None, Some(da_x)) => cx.neg(da_x)?,
            (Some(db), Some(da_x)) => cx.sub(db, da_x)?,
        };
        cx.push(*self, &[args[0], rhs]).map(Some)
    }
    fn vmap(&self, cx: &mut VmapCx<'_>, args: &[Operand]) -> Result<ValueId, KindError> {
        // A⁻¹·t for every column of a vector's batch: one solve with the batch as right-hand
        // side.
        match (args[0], args[1]) {
            (a, t) if !a.batched && t.batched && t.kind == Kind::Vector => {
                cx.push(*self, &[a.value, t.value])
            }
            _ => Err(not_batchable("a solve with a batched matrix")),
        }
    }
    fn print(&self, args: &[Printed], _: &[Kind]) -> Printed {
        Printed::atom(format!(
            "solve({}, {})",
            transposed(&args[0], self.transposed).text,
            args[1].text
        ))
    }
    #[cfg(feature = "runtime")]
    fn eval<T: Real>(&self, args: &[&Value<T>]) -> Value<T> {
        let a = args[0].as_matrix();
        let solve = |b: &Value<T>| -> Value<T> {
            match (b, self.transposed) {
                (Value::Vector(b), false) => Value::Vector(a.solve(b)),
                (Value::Vector(b), true) => Value::Vector(kernels::solve_transposed(a, b)),
                (b, false) => Value::Matrix(a.solve(b.as_matrix())),
                (b, true) => Value::Matrix(kernels::solve_transposed(a, b.as_matrix())),
            }
        };
        solve(args[1])
    }
    fn emit(&self) -> Emit {
        if self.transposed {
            Emit::Kernel {
                kernel: Kernel::SolveTransposed,
                constant: None,
            }
        } else {
            method("solve")
        }
    }
    fn shape(&self) -> ShapeOf {
        ShapeOf::Operand(1)
    }
    fn can_panic(&self) -> bool {
        true
    }
}

// ───────────────────────────── norm ─────────────────────────────
// n = ‖x‖         reverse: dx = x·(dn/n)       forward: dn = ⟨x, dx⟩/n
// Euclidean for a vector, Frobenius for a matrix (⟨x, dx⟩ = xᵀ·dx or Σ x ⊙ dx).

/// `x.norm()`: √Σxᵢ² of a vector or a matrix.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Norm;

impl Rule for Norm {
    fn kind(&self, args: &[Kind]) -> Result<Kind, KindError> {
        expect_arity("norm", args, 1)?;
        match args[0] {
            Kind::Vector | Kind::Matrix => Ok(Kind::Scalar),
            k => Err(KindError::new(format!(
                "`norm` takes a vector or a matrix, found {}; the norm of a scalar is `x.abs()`",
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
        let scale = cx.div(dout, out)?;
        Ok(vec![Some(cx.mul(args[0], scale)?)])
    }
    fn forward(
        &self,
        cx: &mut DeriveCx<'_>,
        args: &[ValueId],
        tangents: &[Option<ValueId>],
        out: ValueId,
    ) -> Result<Option<ValueId>, KindError> {
        let Some(dx) = tangents[0] else {
            return Ok(None);
        };
        let x = args[0];
        let inner = if cx.kind(x) == Kind::Vector {
            cx.push(Dot, &[x, dx])?
        } else {
            let product = cx.push(Binary(BinOp::Mul), &[x, dx])?;
            cx.push(Sum, &[product])?
        };
        cx.div(inner, out).map(Some)
    }
    fn print(&self, args: &[Printed], _: &[Kind]) -> Printed {
        Printed::atom(format!("‖{}‖", args[0].text))
    }
    #[cfg(feature = "runtime")]
    fn eval<T: Real>(&self, args: &[&Value<T>]) -> Value<T> {
        Value::Scalar(match args[0] {
            Value::Vector(v) => v.norm(),
            m => m.as_matrix().norm(),
        })
    }
    fn emit(&self) -> Emit {
        method("norm")
    }
}

// ───────────────────────────── diag ─────────────────────────────
// D = diag(v)     reverse: dv = diagonal(dD)   forward: dD = diag(dv)

/// `v.diag()`: the n×n matrix with the vector v on its diagonal.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct DiagMatrix;

impl Rule for DiagMatrix {
    fn kind(&self, args: &[Kind]) -> Result<Kind, KindError> {
        expect_arity("diag", args, 1)?;
        match args[0] {
            Kind::Vector => Ok(Kind::Matrix),
            k => Err(KindError::new(format!(
                "`diag` makes a diagonal matrix of a vector, found {}; a matrix's diagonal is \
                 `m.diagonal()`",
                k.article()
            ))),
        }
    }
    fn reverse(
        &self,
        cx: &mut DeriveCx<'_>,
        _args: &[ValueId],
        _out: ValueId,
        dout: ValueId,
    ) -> Result<Vec<Option<ValueId>>, KindError> {
        Ok(vec![Some(cx.push(Diagonal, &[dout])?)])
    }
    fn forward(
        &self,
        cx: &mut DeriveCx<'_>,
        _args: &[ValueId],
        tangents: &[Option<ValueId>],
        _out: ValueId,
    ) -> Result<Option<ValueId>, KindError> {
        tangents[0].map(|d| cx.push(DiagMatrix, &[d])).transpose()
    }
    fn print(&self, args: &[Printed], _: &[Kind]) -> Printed {
        Printed::atom(format!("diag({})", args[0].text))
    }
    #[cfg(feature = "runtime")]
    fn eval<T: Real>(&self, args: &[&Value<T>]) -> Value<T> {
        Value::Matrix(args[0].as_vector().diag())
    }
    fn emit(&self) -> Emit {
        method("diag")
    }
}

// ───────────────────────────── diagonal ─────────────────────────────
// v = diagonal(M) reverse: dM = diag(dv), shaped like M      forward: dv = diagonal(dM)

/// `m.diagonal()`: the main diagonal of a matrix (`min(rows, cols)` entries).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Diagonal;

impl Rule for Diagonal {
    fn kind(&self, args: &[Kind]) -> Result<Kind, KindError> {
        expect_arity("diagonal", args, 1)?;
        match args[0] {
            Kind::Matrix => Ok(Kind::Vector),
            k => Err(KindError::new(format!(
                "`diagonal` reads a matrix's diagonal, found {}; the diagonal matrix of a vector \
                 is `v.diag()`",
                k.article()
            ))),
        }
    }
    fn reverse(
        &self,
        cx: &mut DeriveCx<'_>,
        args: &[ValueId],
        _out: ValueId,
        dout: ValueId,
    ) -> Result<Vec<Option<ValueId>>, KindError> {
        Ok(vec![Some(cx.push(OnDiagonal, &[dout, args[0]])?)])
    }
    fn forward(
        &self,
        cx: &mut DeriveCx<'_>,
        _args: &[ValueId],
        tangents: &[Option<ValueId>],
        _out: ValueId,
    ) -> Result<Option<ValueId>, KindError> {
        tangents[0].map(|d| cx.push(Diagonal, &[d])).transpose()
    }
    fn print(&self, args: &[Printed], _: &[Kind]) -> Printed {
        Printed::atom(format!("diagonal({})", args[0].text))
    }
    #[cfg(feature = "runtime")]
    fn eval<T: Real>(&self, args: &[&Value<T>]) -> Value<T> {
        Value::Vector(args[0].as_matrix().diagonal())
    }
    fn emit(&self) -> Emit {
        method("diagonal")
    }
}

// ───────────────────────────── on the diagonal ─────────────────────────────
// M = d·I or diag(d), shaped like L (the pullbacks of `trace` and `diagonal`)
//                 reverse: dd = Σ diagonal(dM) or diagonal(dM)   forward: dM = dd·I or diag(dd)

/// A matrix of its second operand's shape with its first on the diagonal, zeros elsewhere:
/// a scalar on every diagonal entry (`d·I`), or a vector's entries one each (`diag(d)`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct OnDiagonal;

impl Rule for OnDiagonal {
    fn kind(&self, args: &[Kind]) -> Result<Kind, KindError> {
        expect_arity("on_diagonal", args, 2)?;
        match (args[0], args[1]) {
            (Kind::Scalar | Kind::Vector, Kind::Matrix) => Ok(Kind::Matrix),
            (d, like) => Err(KindError::new(format!(
                "`on_diagonal` puts a scalar or a vector on a matrix's diagonal, found {} and {}",
                d.article(),
                like.article()
            ))),
        }
    }
    fn reverse(
        &self,
        cx: &mut DeriveCx<'_>,
        args: &[ValueId],
        _out: ValueId,
        dout: ValueId,
    ) -> Result<Vec<Option<ValueId>>, KindError> {
        let diagonal = cx.push(Diagonal, &[dout])?;
        let dd = if cx.kind(args[0]) == Kind::Scalar {
            cx.push(Sum, &[diagonal])?
        } else {
            diagonal
        };
        Ok(vec![Some(dd), None])
    }
    fn forward(
        &self,
        cx: &mut DeriveCx<'_>,
        args: &[ValueId],
        tangents: &[Option<ValueId>],
        _out: ValueId,
    ) -> Result<Option<ValueId>, KindError> {
        tangents[0]
            .map(|d| cx.push(OnDiagonal, &[d, args[1]]))
            .transpose()
    }
    fn print(&self, args: &[Printed], kinds: &[Kind]) -> Printed {
        if kinds[0] == Kind::Scalar {
            infix(&args[0], "·", &Printed::atom("I"), Prec::Product)
        } else {
            Printed::atom(format!("diag({})", args[0].text))
        }
    }
    #[cfg(feature = "runtime")]
    fn eval<T: Real>(&self, args: &[&Value<T>]) -> Value<T> {
        let like = args[1].as_matrix();
        Value::Matrix(match args[0] {
            Value::Vector(v) => kernels::on_diagonal(v, like),
            d => kernels::on_diagonal(&d.as_scalar(), like),
        })
    }
    fn emit(&self) -> Emit {
        Emit::Kernel {
            kernel: Kernel::OnDiagonal,
            constant: None,
        }
    }
    fn shape_only_args(&self) -> &'static [usize] {
        &[1]
    }
    fn shape(&self) -> ShapeOf {
        ShapeOf::Operand(1)
    }
}
