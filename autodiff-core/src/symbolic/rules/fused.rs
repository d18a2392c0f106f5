//! A fused elementwise loop: a chain of elementwise operations over tensors of one shape, the
//! sums of some of its values and their adds into parts of other tensors, computed in one pass
//! over the elements. Only [`fuse`](crate::symbolic::fuse()) makes one, on a program about to be
//! emitted; nothing differentiates it.

#[cfg(feature = "runtime")]
use crate::symbolic::eval::Value;
use crate::symbolic::ir::{Kind, KindError, Program};
use crate::symbolic::op::{Emit, Rule, ShapeOf};
use crate::symbolic::print::Printed;
#[cfg(feature = "runtime")]
use crate::tensor::{Matrix, Real, Vector};

/// `for k in 0..len { outputs = body(reads[k], captured) }`, its operands the reads' (a tensor,
/// or a vector and the bounds of a segment of it), the captured scalars, then for each add
/// into a part the tensor added into and the part's bounds. Its result is a [`Kind::Tuple`] of
/// one value per [`FusedResult`], each read by a
/// [`Project`](crate::symbolic::rules::control::Project).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Fused {
    /// One element's computation: its parameters are an element of each read, then the captured
    /// scalars (all scalars); its outputs one per result.
    pub body: Box<Program>,
    /// The kind of the tensors the loop runs over (a vector or a matrix).
    pub kind: Kind,
    pub reads: Vec<FusedRead>,
    /// How many scalars the body captures.
    pub captured: usize,
    pub results: Vec<FusedResult>,
    /// Reads whose lengths must agree, checked in order before the loop: what the operations
    /// fused would have found.
    pub checks: Vec<LengthCheck>,
}

/// What a fused loop reads elementwise.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct FusedRead {
    /// A segment `x[a..b]` of a vector (three operands) rather than a whole tensor (one).
    pub segment: bool,
    /// The user's expression, for a range out of bounds.
    pub source: Option<String>,
}

impl FusedRead {
    /// How many operands it takes.
    pub fn operands(&self) -> usize {
        if self.segment {
            3
        } else {
            1
        }
    }
}

/// What a fused loop makes of one output of its body.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum FusedResult {
    /// Its sum over the elements: a scalar.
    Sum,
    /// The tensor of its values, shaped as the loop's tensors.
    Tensor,
    /// A vector with the values added into a segment (three operands: the vector, the
    /// segment's bounds): the pullback of `x.slice(a..b)`.
    AddToSegment { source: Option<String> },
}

/// Reads `left` and `right` of a fused loop must have the same length, as operation `op` (the
/// runtime's name, for the message) at `source` required.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct LengthCheck {
    pub left: usize,
    pub right: usize,
    pub op: String,
    pub source: Option<String>,
}

impl Fused {
    /// How many operands the reads take.
    pub fn read_operands(&self) -> usize {
        self.reads.iter().map(FusedRead::operands).sum()
    }

    /// Whether the body computes an elementwise function's value (`tanh`, `exp`, ...): such a
    /// loop is bound by arithmetic, not memory, and runs compiled for the CPU's widest vectors
    /// (`kernels::fused_simd`).
    pub fn computes_functions(&self) -> bool {
        self.body
            .insts
            .iter()
            .any(|inst| matches!(inst.op, crate::symbolic::op::Op::Unary(_)))
    }

    /// The kind of each result.
    pub fn result_kinds(&self) -> Vec<Kind> {
        self.results
            .iter()
            .map(|r| match r {
                FusedResult::Sum => Kind::Scalar,
                FusedResult::Tensor | FusedResult::AddToSegment { .. } => self.kind,
            })
            .collect()
    }
}

impl Rule for Fused {
    fn kind(&self, args: &[Kind]) -> Result<Kind, KindError> {
        let adds = self
            .results
            .iter()
            .filter(|r| matches!(r, FusedResult::AddToSegment { .. }))
            .count();
        let expected = self.read_operands() + self.captured + 3 * adds;
        let body_ok = self.body.params.len() == self.reads.len() + self.captured
            && self.body.outputs.len() == self.results.len();
        if args.len() != expected || !body_ok || !self.kind.is_tensor() {
            return Err(KindError::new(
                "a fused loop takes its reads, its captured scalars and the parts it adds into",
            ));
        }
        Ok(Kind::Tuple)
    }

    fn print(&self, _: &[Printed], _: &[Kind]) -> Printed {
        Printed::atom("fused loop")
    }

    #[cfg(feature = "runtime")]
    fn eval<T: Real>(&self, args: &[&Value<T>]) -> Value<T> {
        let mut at = 0;
        let mut reads: Vec<Vec<T>> = Vec::new();
        for read in &self.reads {
            let values = args[at].to_vec();
            reads.push(if read.segment {
                let (a, b) = (args[at + 1].as_index(), args[at + 2].as_index());
                values[a..b].to_vec()
            } else {
                values
            });
            at += read.operands();
        }
        let len = reads.first().map_or(0, Vec::len);
        assert!(
            reads.iter().all(|r| r.len() == len),
            "autodiff interpreter: a fused loop's reads differ in length"
        );
        let captured: Vec<Value<T>> = args[at..at + self.captured]
            .iter()
            .map(|&v| v.clone())
            .collect();
        at += self.captured;
        let mut columns: Vec<Vec<T>> = vec![Vec::with_capacity(len); self.results.len()];
        for k in 0..len {
            let mut inputs: Vec<Value<T>> = reads.iter().map(|r| Value::Scalar(r[k])).collect();
            inputs.extend(captured.iter().cloned());
            let outputs = crate::symbolic::eval(&self.body, &inputs);
            for (column, output) in columns.iter_mut().zip(outputs) {
                column.push(output.as_scalar());
            }
        }
        let shape_of_read = || {
            let first = args[0];
            match (first, self.reads.first()) {
                (Value::Matrix(_), Some(FusedRead { segment: false, .. })) => Some(first),
                _ => None,
            }
        };
        let results = self
            .results
            .iter()
            .zip(columns)
            .map(|(result, column)| match result {
                FusedResult::Sum => Value::Scalar(Vector::from_vec(column).sum()),
                FusedResult::Tensor => match shape_of_read() {
                    Some(matrix) => matrix.with_data(column),
                    None => Value::Vector(Vector::from_vec(column)),
                },
                FusedResult::AddToSegment { .. } => {
                    let mut acc = args[at].to_vec();
                    let a = args[at + 1].as_index();
                    at += 3;
                    for (entry, value) in acc[a..a + len].iter_mut().zip(column) {
                        *entry += value;
                    }
                    Value::Vector(Vector::from_vec(acc))
                }
            })
            .collect();
        Value::Tuple(results)
    }

    fn emit(&self) -> Emit {
        Emit::Fused
    }
}

/// `diag(s)·W`, `s` the one result of a fused loop over vectors whose read `product` is `W·x`:
/// a block of rows of `W` at a time, that block's entries of `W·x`, the loop on them and the
/// scaled rows, so that `W` is read from memory once, not by the product and again by the
/// scaling (a tanh layer's Jacobian diag(1 − y²)·W; see
/// [`rows_scaled_by_product`](crate::kernels::rows_scaled_by_product)). Its operands: `W`, `x`,
/// then the loop's operands without the product's. Only
/// [`fuse`](crate::symbolic::fuse()) makes one.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ScaledRows {
    /// The loop: one [`FusedResult::Tensor`], no adds into parts.
    pub fused: Fused,
    /// Which of its reads is `W·x` (a whole vector, not a segment).
    pub product: usize,
}

impl Rule for ScaledRows {
    fn kind(&self, args: &[Kind]) -> Result<Kind, KindError> {
        let fused = &self.fused;
        let shaped = fused.kind == Kind::Vector
            && fused.results == [FusedResult::Tensor]
            && fused.reads.get(self.product).is_some_and(|r| !r.segment);
        let expected = 2 + fused.read_operands() - 1 + fused.captured;
        if !shaped || args.len() != expected || args[..2] != [Kind::Matrix, Kind::Vector] {
            return Err(KindError::new(
                "a row scaling by a product takes a matrix, a vector and one fused loop's \
                 operands",
            ));
        }
        Ok(Kind::Matrix)
    }

    fn shape(&self) -> ShapeOf {
        ShapeOf::Operand(0)
    }

    fn print(&self, _: &[Printed], _: &[Kind]) -> Printed {
        Printed::atom("rows scaled by a fused loop")
    }

    #[cfg(feature = "runtime")]
    fn eval<T: Real>(&self, args: &[&Value<T>]) -> Value<T> {
        let w = args[0].as_matrix();
        let product = Value::Vector(w.matmul(args[1].as_vector()));
        // The loop's operands with the product where it reads it.
        let at = self.fused.reads[..self.product]
            .iter()
            .map(FusedRead::operands)
            .sum::<usize>()
            + 2;
        let mut operands: Vec<&Value<T>> = args[2..at].to_vec();
        operands.push(&product);
        operands.extend_from_slice(&args[at..]);
        let Value::Tuple(results) = self.fused.eval(&operands) else {
            unreachable!("a fused loop's value is a tuple")
        };
        let scales = results[0].to_vec();
        let cols = w.cols();
        let data = w
            .as_slice()
            .chunks(cols.max(1))
            .zip(&scales)
            .flat_map(|(row, &s)| row.iter().map(move |&v| v * s))
            .collect();
        Value::Matrix(Matrix::from_vec(w.rows(), cols, data))
    }

    fn emit(&self) -> Emit {
        Emit::ScaledRows
    }
}
