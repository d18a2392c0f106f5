//! Reading part of a tensor: `x[i]`, `m[(i, j)]`, `x.slice(a..b)`, `m.row(i)`, `m.col(j)`,
//! `m.slice_rows(a..b)`, `m.slice_cols(a..b)`, `m.gather(labels)`, the indices being integers of
//! the program (constants, loop indices, their arithmetic) and the labels a `&[usize]`
//! parameter. Then the joins, whose pullbacks are reads: `Vector::from_vec(vec![s₁, s₂, ..])`
//! of scalars, `u.concat(&v)`, `a.vstack(&b)`, `a.hstack(&b)`; and `labels[i]`.
//!
//! A [`Read`]'s pullback is an [`AddTo`] of the same part: the upstream gradient added into that
//! part of a zero adjoint, which the simplifier turns into an add into the adjoint already
//! summed (`Add(a, AddTo(0, dy, i)) → AddTo(a, dy, i)`). Generated code updates that adjoint in
//! place, so reading one entry per iteration of a loop costs O(1) backwards, not a tensor.
//!
//! ```text
//! y = x[i]                 dx = add_at(0, [i], dy)            ẏ = ẋ[i]
//! y = m.row(i)             dm = add_at(0, [i, :], dy)         ẏ = ṁ.row(i)
//! y = m.col(j)             dm = add_at(0, [:, j], dy)         ẏ = ṁ.col(j)
//! Y = m.slice_cols(a..b)   dm = add_at(0, [:, a..b], dY)      Ẏ = ṁ.slice_cols(a..b)
//! y = m.gather(labels)     dm[r, labels[r]] += dy[r]          ẏ = ṁ.gather(labels)
//! y = [s₁, .., sₙ]         dsₖ = dy[k]                        ẏ = [ṡ₁, .., ṡₙ]
//! y = [u; v]  (concat)     du = dy[0..len(u)]                 ẏ = [u̇; v̇]
//!                          dv = dy[len(u)..len(y)]
//! Y = [A; B]  (vstack)     dA = dY[0..rows(A), :]             Ẏ = [Ȧ; Ḃ]
//! Y = [A, B]  (hstack)     dA = dY[:, 0..cols(A)]             Ẏ = [Ȧ, Ḃ]
//! ```

use crate::symbolic::derive::DeriveCx;
#[cfg(feature = "runtime")]
use crate::symbolic::eval::Value;
use crate::symbolic::ir::{Kind, KindError, ValueId};
use crate::symbolic::methods::{Arg, Build, Method};
use crate::symbolic::op::{expect_arity, Emit, Kernel, Rule};
use crate::symbolic::print::{Prec, Printed};
use crate::symbolic::rules::arith::Literal;
use crate::symbolic::rules::integer::{Extent, IndexArith, IndexLiteral, IntOp};
use crate::symbolic::rules::linalg::MatMul;
use crate::symbolic::rules::reduce::{Fill, SumAxis};
use crate::symbolic::vmap::{not_batchable, Operand, VmapCx};
#[cfg(feature = "runtime")]
use crate::tensor::{kernels, Real};

pub const METHODS: &[Method] = &[
    Method {
        name: "slice",
        args: &[Arg::Range],
        build: Build::Op(|_| Ok(Read(Region::Segment).into())),
    },
    Method {
        name: "row",
        args: &[Arg::Index],
        build: Build::Op(|_| Ok(Read(Region::Row).into())),
    },
    Method {
        name: "col",
        args: &[Arg::Index],
        build: Build::Op(|_| Ok(Read(Region::Col).into())),
    },
    Method {
        name: "slice_rows",
        args: &[Arg::Range],
        build: Build::Op(|_| Ok(Read(Region::Rows).into())),
    },
    Method {
        name: "slice_cols",
        args: &[Arg::Range],
        build: Build::Op(|_| Ok(Read(Region::Cols).into())),
    },
    Method {
        name: "gather",
        args: &[Arg::Value],
        build: Build::Op(|_| Ok(Read(Region::Gathered).into())),
    },
    Method {
        name: "concat",
        args: &[Arg::Value],
        build: Build::Op(|_| Ok(Concat.into())),
    },
    Method {
        name: "vstack",
        args: &[Arg::Value],
        build: Build::Op(|_| Ok(Stack::Vertical.into())),
    },
    Method {
        name: "hstack",
        args: &[Arg::Value],
        build: Build::Op(|_| Ok(Stack::Horizontal.into())),
    },
];

/// Which part of a tensor: each takes the tensor, then its integer operands (or, for
/// [`Region::Gathered`], its labels).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Region {
    /// `x[i]` of a vector: a scalar.
    Entry,
    /// `m[(i, j)]` of a matrix: a scalar.
    Element,
    /// `x.slice(a..b)` of a vector: a vector.
    Segment,
    /// `m.row(i)` of a matrix: a vector.
    Row,
    /// `m.col(j)` of a matrix: a vector.
    Col,
    /// `m.slice_rows(a..b)` of a matrix: a matrix.
    Rows,
    /// `m.slice_cols(a..b)` of a matrix: a matrix.
    Cols,
    /// `m.gather(labels)` of a matrix: the vector of `m[(r, labels[r])]`, one entry per row.
    Gathered,
}

impl Region {
    /// The tensor it reads and the part's kind.
    fn kinds(self) -> (Kind, Kind) {
        match self {
            Region::Entry => (Kind::Vector, Kind::Scalar),
            Region::Element => (Kind::Matrix, Kind::Scalar),
            Region::Segment => (Kind::Vector, Kind::Vector),
            Region::Row | Region::Col | Region::Gathered => (Kind::Matrix, Kind::Vector),
            Region::Rows | Region::Cols => (Kind::Matrix, Kind::Matrix),
        }
    }

    /// The kinds of the operands after the tensor.
    fn operands(self) -> &'static [Kind] {
        match self {
            Region::Entry | Region::Row | Region::Col => &[Kind::Index],
            Region::Element | Region::Segment | Region::Rows | Region::Cols => {
                &[Kind::Index, Kind::Index]
            }
            Region::Gathered => &[Kind::Indices],
        }
    }

    /// As written: `x[i]`, `m[(i, j)]`, `x.slice(a..b)`, ...
    fn name(self) -> &'static str {
        match self {
            Region::Entry => "x[i]",
            Region::Element => "m[(i, j)]",
            Region::Segment => "x.slice(a..b)",
            Region::Row => "m.row(i)",
            Region::Col => "m.col(j)",
            Region::Rows => "m.slice_rows(a..b)",
            Region::Cols => "m.slice_cols(a..b)",
            Region::Gathered => "m.gather(labels)",
        }
    }

    /// Where in the tensor, after its name: `[i]`, `[i, j]`, `[a..b]`, `[i, :]`, `[:, j]`,
    /// `[a..b, :]`, `[:, a..b]`, `[r, labels[r]]`.
    fn at(self, ints: &[Printed]) -> String {
        let i = |n: usize| ints[n].text.clone();
        match self {
            Region::Entry => format!("[{}]", i(0)),
            Region::Element => format!("[{}, {}]", i(0), i(1)),
            Region::Segment => format!("[{}..{}]", i(0), i(1)),
            Region::Row => format!("[{}, :]", i(0)),
            Region::Col => format!("[:, {}]", i(0)),
            Region::Rows => format!("[{}..{}, :]", i(0), i(1)),
            Region::Cols => format!("[:, {}..{}]", i(0), i(1)),
            Region::Gathered => format!("[r, {}[r]]", ints[0].at(Prec::Atom)),
        }
    }

    /// The part as the derivation prints it: `x[i]`, `m[i, :]`, `gather(m, labels)`.
    fn print(self, x: &Printed, ints: &[Printed]) -> Printed {
        match self {
            Region::Gathered => Printed::atom(format!("gather({}, {})", x.text, ints[0].text)),
            _ => Printed::atom(format!("{}{}", x.at(Prec::Atom), self.at(ints))),
        }
    }

    /// Checks `[tensor, operands..]` and gives the part's kind.
    fn check(self, args: &[Kind]) -> Result<Kind, KindError> {
        let (whole, part) = self.kinds();
        if args.first().is_some_and(|&k| k != whole) {
            let hint = match whole {
                Kind::Vector => {
                    "; a matrix's element is `m[(i, j)]`, its rows `m.row(i)` and \
                     `m.slice_rows(a..b)`, its columns `m.col(j)` and `m.slice_cols(a..b)`"
                }
                _ => "; a vector's entry is `x[i]`, its entries `x.slice(a..b)`",
            };
            return Err(KindError::new(format!(
                "`{}` reads {}, found {}{hint}",
                self.name(),
                whole.article(),
                args[0].article()
            )));
        }
        let wanted = self.operands();
        if args.len() != 1 + wanted.len() || args[1..] != *wanted {
            let found = args[1..]
                .iter()
                .find(|&&k| !wanted.contains(&k))
                .map(|k| format!(", found {}", k.article()))
                .unwrap_or_default();
            let operands = match self {
                Region::Gathered => "a list of indices (`&[usize]`, one label per row)".into(),
                _ => format!(
                    "{} integer{}",
                    wanted.len(),
                    if wanted.len() == 1 { "" } else { "s" }
                ),
            };
            return Err(KindError::new(format!(
                "`{}` takes {} and {operands}{found}",
                self.name(),
                whole.article(),
            )));
        }
        Ok(part)
    }
}

// ───────────────────────────── read ─────────────────────────────

/// A part of a tensor.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Read(pub Region);

impl Rule for Read {
    fn kind(&self, args: &[Kind]) -> Result<Kind, KindError> {
        self.0.check(args)
    }
    fn reverse(
        &self,
        cx: &mut DeriveCx<'_>,
        args: &[ValueId],
        _out: ValueId,
        dout: ValueId,
    ) -> Result<Vec<Option<ValueId>>, KindError> {
        // dx = 0 with the part += dy (the part of x read, nothing else).
        let zero = cx.push(Literal::new(0.0), &[])?;
        let zeros = cx.push(Fill, &[zero, args[0]])?;
        let mut operands = vec![zeros, dout];
        operands.extend_from_slice(&args[1..]);
        let dx = cx.push(AddTo(self.0), &operands)?;
        let mut contributions = vec![None; args.len()];
        contributions[0] = Some(dx);
        Ok(contributions)
    }
    fn forward(
        &self,
        cx: &mut DeriveCx<'_>,
        args: &[ValueId],
        tangents: &[Option<ValueId>],
        _out: ValueId,
    ) -> Result<Option<ValueId>, KindError> {
        // Linear: the same part of the tangent.
        let Some(dx) = tangents[0] else {
            return Ok(None);
        };
        let mut operands = vec![dx];
        operands.extend_from_slice(&args[1..]);
        cx.push(*self, &operands).map(Some)
    }
    fn vmap(&self, cx: &mut VmapCx<'_>, args: &[Operand]) -> Result<ValueId, KindError> {
        // A batch of vectors is m×n, one column per direction: an entry is a row of it (the
        // 1×n batch of a scalar) and a segment its rows.
        let (x, rest) = (args[0], &args[1..]);
        if rest.iter().any(|a| a.batched) {
            return Err(not_batchable("a read at batched indices"));
        }
        let ints: Vec<ValueId> = rest.iter().map(|a| a.value).collect();
        match self.0 {
            Region::Entry => {
                let end = after(cx, ints[0])?;
                cx.push(Read(Region::Rows), &[x.value, ints[0], end])
            }
            Region::Segment => cx.push(Read(Region::Rows), &[x.value, ints[0], ints[1]]),
            _ => Err(not_batchable("a part of a batched matrix")),
        }
    }
    fn print(&self, args: &[Printed], _: &[Kind]) -> Printed {
        self.0.print(&args[0], &args[1..])
    }
    #[cfg(feature = "runtime")]
    fn eval<T: Real>(&self, args: &[&Value<T>]) -> Value<T> {
        let i = |n: usize| args[1 + n].as_index();
        let (x, m) = (|| args[0].as_vector(), || args[0].as_matrix());
        match self.0 {
            Region::Entry => Value::Scalar(kernels::read_entry(x(), &i(0))),
            Region::Element => Value::Scalar(kernels::read_element(m(), &i(0), &i(1))),
            Region::Segment => Value::Vector(kernels::read_segment(x(), &i(0), &i(1))),
            Region::Row => Value::Vector(kernels::read_row(m(), &i(0))),
            Region::Col => Value::Vector(kernels::read_col(m(), &i(0))),
            Region::Rows => Value::Matrix(kernels::read_rows(m(), &i(0), &i(1))),
            Region::Cols => Value::Matrix(kernels::read_cols(m(), &i(0), &i(1))),
            Region::Gathered => Value::Vector(kernels::gather(m(), args[1].as_indices())),
        }
    }
    fn emit(&self) -> Emit {
        Emit::Kernel {
            kernel: match self.0 {
                Region::Entry => Kernel::ReadEntry,
                Region::Element => Kernel::ReadElement,
                Region::Segment => Kernel::ReadSegment,
                Region::Row => Kernel::ReadRow,
                Region::Col => Kernel::ReadCol,
                Region::Rows => Kernel::ReadRows,
                Region::Cols => Kernel::ReadCols,
                Region::Gathered => Kernel::Gather,
            },
            constant: None,
        }
    }
    fn takes_integers(&self) -> bool {
        true
    }
}

/// The batch of a vector `v` that does not depend on the seed, next to the batch `batch` (any
/// number of rows, n columns): `v·𝟏ᵀ`, v in each of the n columns.
fn repeated(cx: &mut VmapCx<'_>, v: ValueId, batch: ValueId) -> Result<ValueId, KindError> {
    let row = cx.push(SumAxis(0), &[batch])?;
    let ones = cx.ones_like(row)?;
    let column = cx.column(v)?;
    cx.push(MatMul::PLAIN, &[column, ones])
}

/// `i + 1`, for the one row of a batch that is an entry's.
fn after(cx: &mut VmapCx<'_>, i: ValueId) -> Result<ValueId, KindError> {
    let one = cx.push(IndexLiteral(1), &[])?;
    cx.push(IndexArith(IntOp::Add), &[i, one])
}

// ───────────────────────────── add to a part ─────────────────────────────

/// Its first operand with a part increased by its second: `acc` with `acc[i] += dy`. The pullback
/// of [`Read`]; linear in both.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct AddTo(pub Region);

impl Rule for AddTo {
    fn kind(&self, args: &[Kind]) -> Result<Kind, KindError> {
        let (whole, part) = self.0.kinds();
        if args.len() < 2 || args[0] != whole || args[1] != part {
            return Err(KindError::new(format!(
                "adding into `{}` takes {} and {}",
                self.0.name(),
                whole.article(),
                part.article()
            )));
        }
        let mut read = vec![whole];
        read.extend_from_slice(&args[2..]);
        self.0.check(&read)?;
        Ok(whole)
    }
    fn reverse(
        &self,
        cx: &mut DeriveCx<'_>,
        args: &[ValueId],
        _out: ValueId,
        dout: ValueId,
    ) -> Result<Vec<Option<ValueId>>, KindError> {
        // d acc = dz; d dy = the part of dz.
        let mut operands = vec![dout];
        operands.extend_from_slice(&args[2..]);
        let dpart = cx.push(Read(self.0), &operands)?;
        let mut contributions = vec![None; args.len()];
        contributions[0] = Some(dout);
        contributions[1] = Some(dpart);
        Ok(contributions)
    }
    fn forward(
        &self,
        cx: &mut DeriveCx<'_>,
        args: &[ValueId],
        tangents: &[Option<ValueId>],
        _out: ValueId,
    ) -> Result<Option<ValueId>, KindError> {
        match (tangents[0], tangents[1]) {
            (acc, None) => Ok(acc),
            (acc, Some(dpart)) => {
                let acc = match acc {
                    Some(a) => a,
                    None => {
                        let zero = cx.push(Literal::new(0.0), &[])?;
                        cx.push(Fill, &[zero, args[0]])?
                    }
                };
                let mut operands = vec![acc, dpart];
                operands.extend_from_slice(&args[2..]);
                cx.push(*self, &operands).map(Some)
            }
        }
    }
    fn vmap(&self, cx: &mut VmapCx<'_>, args: &[Operand]) -> Result<ValueId, KindError> {
        // The rows of a batch of vectors that an entry (a segment) is: added into there. A
        // vector that does not depend on the seed is the same for every direction: its batch
        // is `acc·𝟏ᵀ`, one copy per column.
        let (acc, dy, rest) = (args[0], args[1], &args[2..]);
        if !dy.batched || rest.iter().any(|a| a.batched) {
            return Err(not_batchable("an add of a value that is not batched"));
        }
        let ints: Vec<ValueId> = rest.iter().map(|a| a.value).collect();
        let (start, end) = match self.0 {
            Region::Entry => (ints[0], after(cx, ints[0])?),
            Region::Segment => (ints[0], ints[1]),
            _ => return Err(not_batchable("an add into a batched matrix")),
        };
        let acc = if acc.batched {
            acc.value
        } else {
            repeated(cx, acc.value, dy.value)?
        };
        cx.push(AddTo(Region::Rows), &[acc, dy.value, start, end])
    }
    fn print(&self, args: &[Printed], _: &[Kind]) -> Printed {
        // The pullback of `gather` with the same value for every row, into zeros: that value
        // times the one-hot matrix of the labels, as a textbook writes cross-entropy's.
        if let (Region::Gathered, "0·𝟏", Some(each)) = (
            self.0,
            args[0].text.as_str(),
            args[1].text.strip_suffix("·𝟏"),
        ) {
            return Printed::new(format!("{each}·onehot({})", args[2].text), Prec::Product);
        }
        // `add_at(dx, [i], dy)`: dx with dy added at its entry i.
        let at = self.0.at(&args[2..]);
        Printed::atom(format!("add_at({}, {at}, {})", args[0].text, args[1].text))
    }
    #[cfg(feature = "runtime")]
    fn eval<T: Real>(&self, args: &[&Value<T>]) -> Value<T> {
        let i = |n: usize| args[2 + n].as_index();
        let (v, m) = (
            || args[0].as_vector().clone(),
            || args[0].as_matrix().clone(),
        );
        let (dv, dm) = (|| args[1].as_vector(), || args[1].as_matrix());
        match self.0 {
            Region::Entry => Value::Vector(kernels::add_to_entry(v(), &args[1].as_scalar(), &i(0))),
            Region::Element => Value::Matrix(kernels::add_to_element(
                m(),
                &args[1].as_scalar(),
                &i(0),
                &i(1),
            )),
            Region::Segment => Value::Vector(kernels::add_to_segment(v(), dv(), &i(0), &i(1))),
            Region::Row => Value::Matrix(kernels::add_to_row(m(), dv(), &i(0))),
            Region::Col => Value::Matrix(kernels::add_to_col(m(), dv(), &i(0))),
            Region::Rows => Value::Matrix(kernels::add_to_rows(m(), dm(), &i(0), &i(1))),
            Region::Cols => Value::Matrix(kernels::add_to_cols(m(), dm(), &i(0), &i(1))),
            Region::Gathered => {
                Value::Matrix(kernels::scatter_add(m(), dv(), args[2].as_indices()))
            }
        }
    }
    fn emit(&self) -> Emit {
        Emit::KernelInPlace {
            kernel: match self.0 {
                Region::Entry => Kernel::AddToEntry,
                Region::Element => Kernel::AddToElement,
                Region::Segment => Kernel::AddToSegment,
                Region::Row => Kernel::AddToRow,
                Region::Col => Kernel::AddToCol,
                Region::Rows => Kernel::AddToRows,
                Region::Cols => Kernel::AddToCols,
                Region::Gathered => Kernel::ScatterAdd,
            },
        }
    }
    fn takes_integers(&self) -> bool {
        true
    }
}

// ───────────────────────────── vector of scalars ─────────────────────────────
// y = [s₁, .., sₙ]       reverse: dsₖ = dy[k]       forward: ẏ = [ṡ₁, .., ṡₙ] (0 for a constant)

/// `Vector::from_vec(vec![s₁, .., sₙ])`: a vector of scalars of the program.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct VectorOf;

impl Rule for VectorOf {
    fn kind(&self, args: &[Kind]) -> Result<Kind, KindError> {
        match args.iter().find(|&&k| k != Kind::Scalar) {
            None => Ok(Kind::Vector),
            Some(k) => Err(KindError::new(format!(
                "`Vector::from_vec(vec![..])` takes scalars, found {}; join vectors with \
                 `u.concat(&v)`",
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
        let mut contributions = Vec::with_capacity(args.len());
        for (k, &s) in args.iter().enumerate() {
            contributions.push(cx.when_active(s, |cx| {
                let k = cx.push_primal(IndexLiteral(k), &[])?;
                cx.push(Read(Region::Entry), &[dout, k])
            })?);
        }
        Ok(contributions)
    }
    fn forward(
        &self,
        cx: &mut DeriveCx<'_>,
        _args: &[ValueId],
        tangents: &[Option<ValueId>],
        _out: ValueId,
    ) -> Result<Option<ValueId>, KindError> {
        if tangents.iter().all(Option::is_none) {
            return Ok(None);
        }
        let mut entries = Vec::with_capacity(tangents.len());
        for t in tangents {
            entries.push(match t {
                Some(t) => *t,
                None => cx.push(Literal::new(0.0), &[])?,
            });
        }
        cx.push(*self, &entries).map(Some)
    }
    fn vmap(&self, cx: &mut VmapCx<'_>, args: &[Operand]) -> Result<ValueId, KindError> {
        // The batch of a scalar is a 1×n row: the batch of the vector is those rows stacked, a
        // scalar that does not depend on the seed being the same in every direction (s·𝟏ᵀ).
        let row = args
            .iter()
            .find(|a| a.batched)
            .map(|a| a.value)
            .ok_or_else(|| not_batchable("a vector of scalars none of which is batched"))?;
        let mut stacked: Option<ValueId> = None;
        for a in args {
            let entry = if a.batched {
                a.value
            } else {
                cx.push(Fill, &[a.value, row])?
            };
            stacked = Some(match stacked {
                None => entry,
                Some(above) => cx.push(Stack::Vertical, &[above, entry])?,
            });
        }
        stacked.ok_or_else(|| not_batchable("an empty vector"))
    }
    fn print(&self, args: &[Printed], _: &[Kind]) -> Printed {
        let entries: Vec<&str> = args.iter().map(|a| a.text.as_str()).collect();
        Printed::atom(format!("[{}]", entries.join(", ")))
    }
    #[cfg(feature = "runtime")]
    fn eval<T: Real>(&self, args: &[&Value<T>]) -> Value<T> {
        let entries: Vec<T> = args.iter().map(|a| a.as_scalar()).collect();
        Value::Vector(kernels::vector_of(&entries))
    }
    fn emit(&self) -> Emit {
        Emit::KernelOfArray {
            kernel: Kernel::VectorOf,
        }
    }
}

// ───────────────────────────── concat ─────────────────────────────
// y = [u; v]      reverse: du = dy[0..len(u)], dv = dy[len(u)..len(y)]      forward: ẏ = [u̇; v̇]

/// `u.concat(&v)`: the entries of `u`, then those of `v`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Concat;

impl Rule for Concat {
    fn kind(&self, args: &[Kind]) -> Result<Kind, KindError> {
        expect_arity("concat", args, 2)?;
        match (args[0], args[1]) {
            (Kind::Vector, Kind::Vector) => Ok(Kind::Vector),
            (a, b) => Err(KindError::new(format!(
                "`concat` joins two vectors, found {} and {}; matrices are joined with \
                 `a.vstack(&b)` (rows) and `a.hstack(&b)` (columns)",
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
        split(cx, args, out, dout, Extent::Len, Region::Segment)
    }
    fn forward(
        &self,
        cx: &mut DeriveCx<'_>,
        args: &[ValueId],
        tangents: &[Option<ValueId>],
        _out: ValueId,
    ) -> Result<Option<ValueId>, KindError> {
        join(cx, *self, args, tangents)
    }
    fn vmap(&self, cx: &mut VmapCx<'_>, args: &[Operand]) -> Result<ValueId, KindError> {
        // The batches (one column per direction) stacked: the first's rows above the second's;
        // a vector that does not depend on the seed is the same in every direction (v·𝟏ᵀ).
        let batched = if args[0].batched { args[0] } else { args[1] };
        let mut parts = [args[0].value, args[1].value];
        for (part, a) in parts.iter_mut().zip(args) {
            if !a.batched {
                *part = repeated(cx, a.value, batched.value)?;
            }
        }
        cx.push(Stack::Vertical, &parts)
    }
    fn print(&self, args: &[Printed], _: &[Kind]) -> Printed {
        Printed::atom(format!("[{}; {}]", args[0].text, args[1].text))
    }
    #[cfg(feature = "runtime")]
    fn eval<T: Real>(&self, args: &[&Value<T>]) -> Value<T> {
        Value::Vector(kernels::concat(args[0].as_vector(), args[1].as_vector()))
    }
    fn emit(&self) -> Emit {
        Emit::Method {
            name: "concat",
            extra: None,
        }
    }
}

// ───────────────────────────── vstack, hstack ─────────────────────────────
// Y = [A; B]      reverse: dA = dY[0..rows(A), :], dB = dY[rows(A)..rows(Y), :]
// Y = [A, B]      reverse: dA = dY[:, 0..cols(A)], dB = dY[:, cols(A)..cols(Y)]
//                 forward: Ẏ = [Ȧ; Ḃ], [Ȧ, Ḃ]

/// `a.vstack(&b)` (the rows of `a` above those of `b`) or `a.hstack(&b)` (the columns of `a`
/// left of those of `b`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Stack {
    Vertical,
    Horizontal,
}

impl Stack {
    fn method(self) -> &'static str {
        match self {
            Stack::Vertical => "vstack",
            Stack::Horizontal => "hstack",
        }
    }
}

impl Rule for Stack {
    fn kind(&self, args: &[Kind]) -> Result<Kind, KindError> {
        expect_arity(self.method(), args, 2)?;
        match (args[0], args[1]) {
            (Kind::Matrix, Kind::Matrix) => Ok(Kind::Matrix),
            (a, b) => Err(KindError::new(format!(
                "`{}` joins two matrices, found {} and {}; vectors are joined with \
                 `u.concat(&v)`",
                self.method(),
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
        match self {
            Stack::Vertical => split(cx, args, out, dout, Extent::Rows, Region::Rows),
            Stack::Horizontal => split(cx, args, out, dout, Extent::Cols, Region::Cols),
        }
    }
    fn forward(
        &self,
        cx: &mut DeriveCx<'_>,
        args: &[ValueId],
        tangents: &[Option<ValueId>],
        _out: ValueId,
    ) -> Result<Option<ValueId>, KindError> {
        join(cx, *self, args, tangents)
    }
    fn print(&self, args: &[Printed], _: &[Kind]) -> Printed {
        let separator = match self {
            Stack::Vertical => "; ",
            Stack::Horizontal => ", ",
        };
        Printed::atom(format!("[{}{separator}{}]", args[0].text, args[1].text))
    }
    #[cfg(feature = "runtime")]
    fn eval<T: Real>(&self, args: &[&Value<T>]) -> Value<T> {
        let (a, b) = (args[0].as_matrix(), args[1].as_matrix());
        Value::Matrix(match self {
            Stack::Vertical => kernels::vstack(a, b),
            Stack::Horizontal => kernels::hstack(a, b),
        })
    }
    fn emit(&self) -> Emit {
        Emit::Method {
            name: self.method(),
            extra: None,
        }
    }
}

/// The pullback of a join of two values along the extent `extent`: each reads its own part of
/// the upstream, `region` from 0 to its own extent and from there to the result's.
fn split(
    cx: &mut DeriveCx<'_>,
    args: &[ValueId],
    out: ValueId,
    dout: ValueId,
    extent: Extent,
    region: Region,
) -> Result<Vec<Option<ValueId>>, KindError> {
    let (a, b) = (args[0], args[1]);
    let mid = cx.push_primal(extent, &[a])?;
    let da = cx.when_active(a, |cx| {
        let zero = cx.push_primal(IndexLiteral(0), &[])?;
        cx.push(Read(region), &[dout, zero, mid])
    })?;
    let db = cx.when_active(b, |cx| {
        let end = cx.push_primal(extent, &[out])?;
        cx.push(Read(region), &[dout, mid, end])
    })?;
    Ok(vec![da, db])
}

/// The pushforward of a join: the join of the tangents, a constant's being zeros (a value of
/// the primal alone, as a factor is).
fn join(
    cx: &mut DeriveCx<'_>,
    op: impl Into<crate::symbolic::op::Op> + Copy,
    args: &[ValueId],
    tangents: &[Option<ValueId>],
) -> Result<Option<ValueId>, KindError> {
    if tangents.iter().all(Option::is_none) {
        return Ok(None);
    }
    let mut parts = Vec::with_capacity(2);
    for (&x, t) in args.iter().zip(tangents) {
        parts.push(match t {
            Some(t) => *t,
            None => {
                let zero = cx.push_primal(Literal::new(0.0), &[])?;
                cx.push_primal(Fill, &[zero, x])?
            }
        });
    }
    cx.push(op, &parts).map(Some)
}

// ───────────────────────────── labels ─────────────────────────────

/// `labels[i]`: an integer of a `&[usize]` parameter. No derivative.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct LabelAt;

impl Rule for LabelAt {
    fn kind(&self, args: &[Kind]) -> Result<Kind, KindError> {
        expect_arity("labels[i]", args, 2)?;
        match (args[0], args[1]) {
            (Kind::Indices, Kind::Index) => Ok(Kind::Index),
            (Kind::Indices, k) => Err(KindError::new(format!(
                "an entry of a list of indices is read at an integer (`usize`), found {}",
                k.article()
            ))),
            (k, _) => Err(KindError::new(format!(
                "`labels[i]` reads a list of indices (`&[usize]`), found {}",
                k.article()
            ))),
        }
    }
    fn reverse(
        &self,
        _: &mut DeriveCx<'_>,
        args: &[ValueId],
        _: ValueId,
        _: ValueId,
    ) -> Result<Vec<Option<ValueId>>, KindError> {
        // An integer does not depend on any value's elements.
        Ok(vec![None; args.len()])
    }
    fn forward(
        &self,
        _: &mut DeriveCx<'_>,
        _: &[ValueId],
        _: &[Option<ValueId>],
        _: ValueId,
    ) -> Result<Option<ValueId>, KindError> {
        Ok(None)
    }
    fn print(&self, args: &[Printed], _: &[Kind]) -> Printed {
        Printed::atom(format!("{}[{}]", args[0].at(Prec::Atom), args[1].text))
    }
    #[cfg(feature = "runtime")]
    fn eval<T: Real>(&self, args: &[&Value<T>]) -> Value<T> {
        Value::Index(kernels::label_at(args[0].as_indices(), &args[1].as_index()))
    }
    fn emit(&self) -> Emit {
        Emit::Kernel {
            kernel: Kernel::LabelAt,
            constant: None,
        }
    }
    fn takes_integers(&self) -> bool {
        true
    }
    fn can_panic(&self) -> bool {
        true
    }
}

/// A list of indices written out (`m.gather(&[0, 2, 1])`). No derivative.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct IndexList(pub Vec<usize>);

impl Rule for IndexList {
    fn kind(&self, args: &[Kind]) -> Result<Kind, KindError> {
        expect_arity("a list of indices", args, 0)?;
        Ok(Kind::Indices)
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
        _: &mut DeriveCx<'_>,
        _: &[ValueId],
        _: &[Option<ValueId>],
        _: ValueId,
    ) -> Result<Option<ValueId>, KindError> {
        Ok(None)
    }
    fn print(&self, _: &[Printed], _: &[Kind]) -> Printed {
        let entries: Vec<String> = self.0.iter().map(usize::to_string).collect();
        Printed::atom(format!("[{}]", entries.join(", ")))
    }
    #[cfg(feature = "runtime")]
    fn eval<T: Real>(&self, _: &[&Value<T>]) -> Value<T> {
        Value::Indices(self.0.clone())
    }
    fn emit(&self) -> Emit {
        Emit::Indices(self.0.clone())
    }
    fn takes_integers(&self) -> bool {
        true
    }
}

#[cfg(all(test, feature = "runtime"))]
mod tests {
    use super::*;
    use crate::symbolic::ir::Program;
    use crate::symbolic::rules::arith::{BinOp, Binary};
    use crate::symbolic::rules::reduce::{ExtremeEntry, Sum};
    use crate::symbolic::{derive_hessian, derive_jacobian, eval};
    use crate::tensor::{Matrix, Vector};

    fn push(p: &mut Program, op: impl Into<crate::symbolic::op::Op>, args: &[ValueId]) -> ValueId {
        p.push(op.into(), args).expect("well kinded")
    }

    /// f(x) = Σ (x[1..n] − x[0..n−1]²)² + max(x)·x[0]: reads of segments, an entry and the
    /// extreme entry, whose Hessian is one batched program (the reads of a batch are its rows).
    #[test]
    fn reads_of_a_vector_batch_in_a_hessian() {
        let mut p = Program::new();
        let x = p.param("x", Kind::Vector);
        let n = push(&mut p, Extent::Len, &[x]);
        let zero = push(&mut p, IndexLiteral(0), &[]);
        let one = push(&mut p, IndexLiteral(1), &[]);
        let last = push(&mut p, IndexArith(IntOp::Sub), &[n, one]);
        let tail = push(&mut p, Read(Region::Segment), &[x, one, n]);
        let head = push(&mut p, Read(Region::Segment), &[x, zero, last]);
        let squares = push(&mut p, Binary(BinOp::Mul), &[head, head]);
        let a = push(&mut p, Binary(BinOp::Sub), &[tail, squares]);
        let aa = push(&mut p, Binary(BinOp::Mul), &[a, a]);
        let s = push(&mut p, Sum, &[aa]);
        let top = push(&mut p, ExtremeEntry { max: true }, &[x]);
        let first = push(&mut p, Read(Region::Entry), &[x, zero]);
        let t = push(&mut p, Binary(BinOp::Mul), &[top, first]);
        let f = push(&mut p, Binary(BinOp::Add), &[s, t]);
        p.outputs = vec![f];

        let groups = derive_hessian(&p, &[0]).expect("derives");
        let batched = groups[0].batched.as_ref().expect("a batched Hessian");
        let xs = vec![0.3, -0.5, 0.9, 0.1];
        let outputs = eval(
            &batched.program,
            &[Value::Vector(Vector::from_vec(xs.clone()))],
        );
        let h = outputs[batched.blocks[0].expect("a block")]
            .as_matrix()
            .clone();
        let mut want = Matrix::<f64>::zeros(4, 4);
        for i in 0..3 {
            want[(i, i)] += 12.0 * xs[i] * xs[i] - 4.0 * xs[i + 1];
            want[(i, i + 1)] -= 4.0 * xs[i];
            want[(i + 1, i)] -= 4.0 * xs[i];
            want[(i + 1, i + 1)] += 2.0;
        }
        // max(x) = x[2].
        want[(2, 0)] += 1.0;
        want[(0, 2)] += 1.0;
        for (a, b) in h.as_slice().iter().zip(want.as_slice()) {
            assert!((a - b).abs() < 1e-12, "{h:?} vs {want:?}");
        }
    }

    /// A concatenation of a vector's segment and the vector: a batched Jacobian (the batches
    /// stacked).
    #[test]
    fn joins_and_reads_of_a_vector_batch_in_a_jacobian() {
        let mut p = Program::new();
        let x = p.param("x", Kind::Vector);
        let one = push(&mut p, IndexLiteral(1), &[]);
        let three = push(&mut p, IndexLiteral(3), &[]);
        let part = push(&mut p, Read(Region::Segment), &[x, one, three]);
        let doubled = push(&mut p, Binary(BinOp::Mul), &[part, part]);
        let joined = push(&mut p, Concat, &[doubled, x]);
        p.outputs = vec![joined];
        let programs = derive_jacobian(&p, &[0])
            .expect("derives")
            .expect("a batched Jacobian");
        let xs = vec![0.5, -1.0, 2.0];
        let j = eval(&programs[0], &[Value::Vector(Vector::from_vec(xs))])
            .remove(0)
            .as_matrix()
            .clone();
        let want = Matrix::from_rows(&[
            [0.0, -2.0, 0.0],
            [0.0, 0.0, 4.0],
            [1.0, 0.0, 0.0],
            [0.0, 1.0, 0.0],
            [0.0, 0.0, 1.0],
        ]);
        assert_eq!(j, want);
    }

    /// `[x[0]·x[1], 2, x[2]]` concatenated with a constant vector: the rows of scalars'
    /// batches stacked, constants' batches zero.
    #[test]
    fn vectors_of_scalars_batch_in_a_jacobian() {
        let mut p = Program::new();
        let x = p.param("x", Kind::Vector);
        let c = p.param("c", Kind::Vector);
        let i: Vec<ValueId> = (0..3).map(|k| push(&mut p, IndexLiteral(k), &[])).collect();
        let e: Vec<ValueId> = i
            .iter()
            .map(|&k| push(&mut p, Read(Region::Entry), &[x, k]))
            .collect();
        let product = push(&mut p, Binary(BinOp::Mul), &[e[0], e[1]]);
        let two = push(&mut p, Literal::new(2.0), &[]);
        let v = push(&mut p, VectorOf, &[product, two, e[2]]);
        let joined = push(&mut p, Concat, &[c, v]);
        p.outputs = vec![joined];
        let programs = derive_jacobian(&p, &[0])
            .expect("derives")
            .expect("a batched Jacobian");
        let inputs = [
            Value::Vector(Vector::from_vec(vec![0.5, -1.0, 2.0])),
            Value::Vector(Vector::from_vec(vec![7.0])),
        ];
        let j = eval(&programs[0], &inputs).remove(0).as_matrix().clone();
        let want = Matrix::from_rows(&[
            [0.0, 0.0, 0.0],
            [-1.0, 0.5, 0.0],
            [0.0, 0.0, 0.0],
            [0.0, 0.0, 1.0],
        ]);
        assert_eq!(j, want);
    }
}
