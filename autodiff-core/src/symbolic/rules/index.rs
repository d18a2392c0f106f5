//! Reading part of a tensor: `x[i]`, `m[(i, j)]`, `x.slice(a..b)`, `m.slice_rows(a..b)`, the
//! indices being integers of the program (constants, loop indices, their arithmetic).
//!
//! A [`Read`]'s pullback is an [`AddTo`] of the same part: the upstream gradient added into that
//! part of a zero adjoint, which the simplifier turns into an add into the adjoint already
//! summed (`Add(a, AddTo(0, dy, i)) → AddTo(a, dy, i)`). Generated code updates that adjoint in
//! place, so reading one entry per iteration of a loop costs O(1) backwards, not a tensor.

use crate::symbolic::derive::DeriveCx;
#[cfg(feature = "runtime")]
use crate::symbolic::eval::Value;
use crate::symbolic::ir::{Kind, KindError, ValueId};
use crate::symbolic::methods::{Arg, Build, Method};
use crate::symbolic::op::{Emit, Kernel, Rule};
use crate::symbolic::print::{Prec, Printed};
use crate::symbolic::rules::arith::Literal;
use crate::symbolic::rules::reduce::Fill;
#[cfg(feature = "runtime")]
use crate::tensor::{kernels, Real};

pub const METHODS: &[Method] = &[
    Method {
        name: "slice",
        args: &[Arg::Range],
        build: Build::Op(|_| Ok(Read(Region::Segment).into())),
    },
    Method {
        name: "slice_rows",
        args: &[Arg::Range],
        build: Build::Op(|_| Ok(Read(Region::Rows).into())),
    },
];

/// Which part of a tensor: each takes the tensor, then its integer operands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Region {
    /// `x[i]` of a vector: a scalar.
    Entry,
    /// `m[(i, j)]` of a matrix: a scalar.
    Element,
    /// `x.slice(a..b)` of a vector: a vector.
    Segment,
    /// `m.slice_rows(a..b)` of a matrix: a matrix.
    Rows,
}

impl Region {
    /// The tensor it reads and the part's kind.
    fn kinds(self) -> (Kind, Kind) {
        match self {
            Region::Entry => (Kind::Vector, Kind::Scalar),
            Region::Element => (Kind::Matrix, Kind::Scalar),
            Region::Segment => (Kind::Vector, Kind::Vector),
            Region::Rows => (Kind::Matrix, Kind::Matrix),
        }
    }

    /// As written: `x[i]`, `m[(i, j)]`, `x.slice(a..b)`, `m.slice_rows(a..b)`.
    fn name(self) -> &'static str {
        match self {
            Region::Entry => "x[i]",
            Region::Element => "m[(i, j)]",
            Region::Segment => "x.slice(a..b)",
            Region::Rows => "m.slice_rows(a..b)",
        }
    }

    /// `x[i]`, `m[i, j]`, `x[a..b]`, `m[a..b, :]`.
    fn print(self, x: &Printed, ints: &[Printed]) -> Printed {
        let x = x.at(Prec::Atom);
        let i = |n: usize| ints[n].text.clone();
        Printed::atom(match self {
            Region::Entry => format!("{x}[{}]", i(0)),
            Region::Element => format!("{x}[{}, {}]", i(0), i(1)),
            Region::Segment => format!("{x}[{}..{}]", i(0), i(1)),
            Region::Rows => format!("{x}[{}..{}, :]", i(0), i(1)),
        })
    }

    /// Checks `[tensor, ints..]` and gives the part's kind.
    fn check(self, args: &[Kind]) -> Result<Kind, KindError> {
        let (whole, part) = self.kinds();
        let ints = match self {
            Region::Entry => 1,
            _ => 2,
        };
        if args.first().is_some_and(|&k| k != whole) {
            let hint = match whole {
                Kind::Vector => {
                    "; a matrix's element is `m[(i, j)]`, its rows `m.slice_rows(a..b)`"
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
        if args.len() != 1 + ints || args[1..].iter().any(|&k| k != Kind::Index) {
            return Err(KindError::new(format!(
                "`{}` takes {} and {ints} integer{}",
                self.name(),
                whole.article(),
                if ints == 1 { "" } else { "s" }
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
    fn print(&self, args: &[Printed], _: &[Kind]) -> Printed {
        self.0.print(&args[0], &args[1..])
    }
    #[cfg(feature = "runtime")]
    fn eval<T: Real>(&self, args: &[&Value<T>]) -> Value<T> {
        let i = |n: usize| args[1 + n].as_index();
        match self.0 {
            Region::Entry => Value::Scalar(kernels::read_entry(args[0].as_vector(), &i(0))),
            Region::Element => {
                Value::Scalar(kernels::read_element(args[0].as_matrix(), &i(0), &i(1)))
            }
            Region::Segment => {
                Value::Vector(kernels::read_segment(args[0].as_vector(), &i(0), &i(1)))
            }
            Region::Rows => Value::Matrix(kernels::read_rows(args[0].as_matrix(), &i(0), &i(1))),
        }
    }
    fn emit(&self) -> Emit {
        Emit::Kernel {
            kernel: match self.0 {
                Region::Entry => Kernel::ReadEntry,
                Region::Element => Kernel::ReadElement,
                Region::Segment => Kernel::ReadSegment,
                Region::Rows => Kernel::ReadRows,
            },
            constant: None,
        }
    }
    fn takes_integers(&self) -> bool {
        true
    }
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
    fn print(&self, args: &[Printed], _: &[Kind]) -> Printed {
        // `add_at(dx, [i], dy)`: dx with dy added at its entry i.
        let at = self.0.print(&Printed::atom(""), &args[2..]).text;
        Printed::atom(format!("add_at({}, {at}, {})", args[0].text, args[1].text))
    }
    #[cfg(feature = "runtime")]
    fn eval<T: Real>(&self, args: &[&Value<T>]) -> Value<T> {
        let i = |n: usize| args[2 + n].as_index();
        match self.0 {
            Region::Entry => Value::Vector(kernels::add_to_entry(
                args[0].as_vector().clone(),
                &args[1].as_scalar(),
                &i(0),
            )),
            Region::Element => Value::Matrix(kernels::add_to_element(
                args[0].as_matrix().clone(),
                &args[1].as_scalar(),
                &i(0),
                &i(1),
            )),
            Region::Segment => Value::Vector(kernels::add_to_segment(
                args[0].as_vector().clone(),
                args[1].as_vector(),
                &i(0),
                &i(1),
            )),
            Region::Rows => Value::Matrix(kernels::add_to_rows(
                args[0].as_matrix().clone(),
                args[1].as_matrix(),
                &i(0),
                &i(1),
            )),
        }
    }
    fn emit(&self) -> Emit {
        Emit::KernelInPlace {
            kernel: match self.0 {
                Region::Entry => Kernel::AddToEntry,
                Region::Element => Kernel::AddToElement,
                Region::Segment => Kernel::AddToSegment,
                Region::Rows => Kernel::AddToRows,
            },
        }
    }
    fn takes_integers(&self) -> bool {
        true
    }
}
