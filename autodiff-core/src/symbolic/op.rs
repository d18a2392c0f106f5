//! The op set and the [`Rule`] trait every op implements.
//!
//! Each op is a small struct in one of the `rules/` modules, and its `impl Rule` holds everything
//! the engine needs of it, side by side: the kind rule, the reverse (pullback) rule, the printed
//! form, the interpreter meaning and how generated Rust computes it. [`Op`] is the closed set of
//! those structs; it only dispatches.

use super::derive::DeriveCx;
#[cfg(feature = "runtime")]
use super::eval::Value;
use super::ir::{Kind, KindError, ValueId};
use super::print::Printed;
use super::rules::fused::{Fused, ScaledRows};
use super::rules::index::{AddTo, Concat, IndexList, LabelAt, Read, Stack, VectorOf};
use super::rules::{
    arith::*, call::*, control::*, elementwise::*, integer::*, linalg::*, linear_algebra::*,
    pointwise::*, reduce::*, softmax::*, structure::*,
};
use super::vmap::{not_batchable, Operand, VmapCx};
#[cfg(feature = "runtime")]
use crate::tensor::Real;

/// Everything the engine knows about one op.
pub trait Rule {
    /// The kind of the result for the given operand kinds, or why they are not accepted.
    fn kind(&self, args: &[Kind]) -> Result<Kind, KindError>;

    /// The pullback: given `out = op(args)` and its adjoint `dout`, the contribution to each
    /// argument's adjoint (`None` for a symbolic zero). Only called when some argument is active.
    ///
    /// Every op of the language has one. The default is for the derivative kernels, which only
    /// appear in derived programs: second derivatives are taken forward-over-reverse, so they
    /// are never pulled back.
    fn reverse(
        &self,
        _cx: &mut DeriveCx<'_>,
        _args: &[ValueId],
        _out: ValueId,
        _dout: ValueId,
    ) -> Result<Vec<Option<ValueId>>, KindError> {
        Err(KindError::new(
            "a derivative kernel has no reverse rule; reverse-over-reverse is not supported",
        ))
    }

    /// The pushforward: given `out = op(args)` and the tangents of its arguments (`None` for a
    /// symbolic zero), the tangent of `out` (`None` if it is zero).
    fn forward(
        &self,
        _cx: &mut DeriveCx<'_>,
        _args: &[ValueId],
        _tangents: &[Option<ValueId>],
        _out: ValueId,
    ) -> Result<Option<ValueId>, KindError> {
        // Only the ops that derived programs alone contain and that are never differentiated
        // again (a callee's pushforward blocks, the structure the Jacobian and Hessian programs
        // build) lack one.
        Err(KindError::new(
            "this op has no forward rule: it appears only in derived programs that are not \
             differentiated again",
        ))
    }

    /// The batched form (see [`vmap`](super::vmap)): the op applied to every direction of the
    /// operands that are batches, at once. Only ops that derived programs apply to tangents or
    /// adjoints have one.
    fn vmap(&self, _cx: &mut VmapCx<'_>, _args: &[Operand]) -> Result<ValueId, KindError> {
        Err(not_batchable("this operation"))
    }

    /// The printed form, in the derivation notation, from the printed arguments.
    fn print(&self, args: &[Printed], kinds: &[Kind]) -> Printed;

    /// The meaning, on runtime values.
    #[cfg(feature = "runtime")]
    fn eval<T: Real>(&self, args: &[&Value<T>]) -> Value<T>;

    /// How generated Rust computes it.
    fn emit(&self) -> Emit;

    /// The operands of which only the shape is read (so their values may be freed before).
    fn shape_only_args(&self) -> &'static [usize] {
        &[]
    }

    /// Whose shape the result has, as far as the op knows without the inputs.
    fn shape(&self) -> ShapeOf {
        ShapeOf::Own
    }

    /// Whether the op takes integer (`usize`) operands; float math refuses them.
    fn takes_integers(&self) -> bool {
        false
    }

    /// Whether the runtime can panic on a single tensor operand (a singular or a rectangular
    /// matrix), so that generated code says first which of the user's operations runs, for the
    /// message, as it does before every operation on two tensors.
    fn can_panic(&self) -> bool {
        false
    }
}

/// Whose shape an op's result has, for the engine's reasoning about equal shapes (which
/// broadcasts are no-ops, which reductions to a shape borrow).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ShapeOf {
    /// Its own: nothing is known.
    Own,
    /// Operand `i`'s.
    Operand(usize),
    /// An elementwise op of two operands where a scalar broadcasts: the tensor operand's, or
    /// both operands' when they provably share one.
    Elementwise,
}

/// Which part of a callee's building block an op is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CallPart {
    /// The call's result itself.
    Whole,
    /// The tangent of a `(value, tangent)` pair.
    Tangent,
    /// Gradient `i` of a `(value, (g₀, g₁, ..))` pair; calls with the same operands share one
    /// call.
    Gradient(usize),
    /// Tangent `i` of the gradients of a `(value, (g..), (ġ₀, ġ₁, ..))` triple; shared as above.
    GradientTangent(usize),
}

/// How generated Rust computes an op; the macro turns this into tokens uniformly.
/// Tensor operands are passed by reference and scalars by value, except to kernels, which take
/// every operand by reference.
#[derive(Clone, Debug, PartialEq)]
pub enum Emit {
    /// Parameter `i`, by its own name.
    Param(usize),
    /// A float literal of the function's float type.
    Literal(f64),
    /// Constant `i` of the program (a `usize` parameter of the function), by its own name.
    Constant(usize),
    /// An integer literal (`usize`).
    Index(usize),
    /// `true` or `false`.
    Bool(bool),
    /// A branch (see [`Branch`]): `if c { .. } else { .. }`, each side a program of its own.
    Branch,
    /// Its operand, an integer, as the function's float type: `(n as f64)`.
    Cast,
    /// A named constant: `::core::f64::consts::PI` of the function's float type for a
    /// standard one, else the path as written, converted with `as` to the value's kind.
    Named { path: String, standard: bool },
    /// A loop (see [`Loop`]): its body emitted as a program of its own inside a Rust `for`.
    Loop,
    /// Result `i` of a loop.
    Project(usize),
    /// A fused elementwise loop (see [`Fused`]): one pass over the elements, calling
    /// `kernels::fused` with the body emitted per element.
    Fused,
    /// A row scaling by a fused loop on a product (see [`ScaledRows`]): a block of rows at a
    /// time, calling `kernels::rows_scaled_by_product` with the loop inside.
    ScaledRows,
    /// A prefix operator: `-a`.
    Prefix(&'static str),
    /// An infix operator: `a + b`.
    Infix(&'static str),
    /// A method on the first operand: `a.name(&b, extra)`.
    Method {
        name: &'static str,
        extra: Option<i64>,
    },
    /// A call of a function of the user's (a differentiable callee or one of its building
    /// blocks): differentiable arguments as the callee takes them, constants as written at the
    /// call, then any further operands (an upstream gradient, tangents).
    Call {
        function: String,
        callee: Callee,
        part: CallPart,
    },
    /// A kernel that updates its first operand in place: it takes that operand by value (moved
    /// at its last use, else a copy) and the others by reference.
    KernelInPlace { kernel: Kernel },
    /// A kernel, `kernels::name(&a, &b, constant)`, whose result has its first operand's shape:
    /// when that operand is owned and dies here, `kernels::reusing(a, &b, constant)` writes the
    /// result into its buffer instead (no allocation, one pass).
    KernelReusing {
        kernel: Kernel,
        reusing: Kernel,
        constant: Option<Constant>,
    },
    /// A kernel that returns a `Cow`: a borrow of its first operand when that already is the
    /// result, so nothing is copied.
    KernelView { kernel: Kernel },
    /// A kernel: `kernels::name(&a, &b, constant)`.
    Kernel {
        kernel: Kernel,
        constant: Option<Constant>,
    },
    /// A kernel taking its operands (scalars) as one array: `kernels::name(&[a, b, c])`.
    KernelOfArray { kernel: Kernel },
    /// A list of indices written out, `&[0, 2, 1]` (a `&[usize]`).
    Indices(Vec<usize>),
}

/// A constant argument of a kernel, after its operands.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Constant {
    /// An integer (an exponent, an axis).
    Int(i64),
    /// An elementwise function, as `kernels::UnaryFn::Tanh`.
    Function(UnaryFn),
    /// Position `index` among `width` directions (two arguments: `index, width`).
    UnitRow { index: usize, width: usize },
}

macro_rules! kernels {
    ($($(#[$doc:meta])* $variant:ident => $name:ident,)*) => {
        /// A function of the runtime's `kernels` module that generated code calls: a typed
        /// reference, whose name is checked to exist there when the runtime is compiled.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum Kernel {
            $($(#[$doc])* $variant,)*
        }

        impl Kernel {
            /// Its name in `autodiff::kernels`.
            pub fn name(self) -> &'static str {
                match self { $(Kernel::$variant => stringify!($name),)* }
            }
        }

        // Every kernel named here exists: this fails to compile otherwise.
        #[cfg(feature = "runtime")]
        const _: () = {
            $(#[allow(unused_imports)] use crate::tensor::kernels::$name as _;)*
        };
    };
}

kernels! {
    /// `x[i]`.
    ReadEntry => read_entry,
    /// `m[(i, j)]`.
    ReadElement => read_element,
    /// `x[a..b]`.
    ReadSegment => read_segment,
    /// Rows `a..b`.
    ReadRows => read_rows,
    /// Row `i`, as a vector.
    ReadRow => read_row,
    /// Column `j`, as a vector.
    ReadCol => read_col,
    /// Columns `a..b`.
    ReadCols => read_cols,
    /// `m[(r, labels[r])]` for every row.
    Gather => gather,
    /// `labels[i]`.
    LabelAt => label_at,
    /// `acc[i] += dy`, in place.
    AddToEntry => add_to_entry,
    /// `acc[(i, j)] += dy`, in place.
    AddToElement => add_to_element,
    /// `acc[a..b] += dy`, in place.
    AddToSegment => add_to_segment,
    /// Rows `a..b` of `acc` += dy, in place.
    AddToRows => add_to_rows,
    /// Row `i` of `acc` += dy, in place.
    AddToRow => add_to_row,
    /// Column `j` of `acc` += dy, in place.
    AddToCol => add_to_col,
    /// Columns `a..b` of `acc` += dy, in place.
    AddToCols => add_to_cols,
    /// `acc[(r, labels[r])] += dy[r]`, in place.
    ScatterAdd => scatter_add,
    /// A vector of scalars.
    VectorOf => vector_of,
    /// The position of the first largest entry.
    ArgMax => arg_max,
    /// The position of the first smallest entry.
    ArgMin => arg_min,
    /// The column sums of a matrix, as a vector.
    ColumnSums => column_sums,
    /// A vector as every row of a matrix.
    RepeatRows => repeat_rows,
    /// `dy ⊙ f'(·)` of an elementwise function.
    UnaryGrad => unary_grad,
    /// The same, in `dy`'s buffer.
    UnaryGradOwned => unary_grad_owned,
    /// `dy ⊙ n·xⁿ⁻¹`.
    PowiGrad => powi_grad,
    /// A broadcast result summed back to an operand's shape (a `Cow`).
    SumToLike => sum_to_like,
    /// An operand broadcast to a shape (a `Cow`).
    ExpandLike => expand_like,
    /// A row or column repeated to a shape.
    BroadcastLike => broadcast_like,
    /// A scalar repeated to a shape.
    FillLike => fill_like,
    /// The number of elements, as a float.
    Numel => numel,
    /// A vector as a column.
    AsColumn => as_column,
    /// The identity of a size.
    IdentityLike => identity_like,
    /// The 1×width row with a 1 at one index: one scalar's seed among several.
    UnitRow => unit_row,
    /// The diagonal matrix of a column.
    Diag => diag,
    /// The number of rows, as a float.
    RowCount => row_count,
    /// `M + c·I` in place, `I` of `n` = the number of elements of an operand.
    AddToDiagonal => add_to_diagonal,
    /// `M + c·I` in place, `I` of an operand's own square shape.
    AddToDiagonalShapedLike => add_to_diagonal_shaped_like,
    /// The fused softmax pullback.
    SoftmaxGrad => softmax_grad,
    /// The fused log-softmax pullback.
    LogSoftmaxGrad => log_softmax_grad,
    /// The fused log-softmax pushforward.
    LogSoftmaxJvp => log_softmax_jvp,
    /// `[a ≥ b]` as 0/1.
    GeMask => ge_mask,
    /// `[a ≤ b]` as 0/1.
    LeMask => le_mask,
    /// `a⁻ᵀ·b`, the pullback of `solve`.
    SolveTransposed => solve_transposed,
    /// A scalar or a vector on the diagonal of zeros shaped like a matrix.
    OnDiagonal => on_diagonal,
}

macro_rules! ops {
    ($($(#[$doc:meta])* $variant:ident($rule:ty),)*) => {
        /// An operation of the IR. Each variant wraps the struct that implements its [`Rule`].
        #[derive(Clone, Debug, PartialEq, Eq, Hash)]
        pub enum Op {
            $($(#[$doc])* $variant($rule),)*
        }

        $(impl From<$rule> for Op {
            fn from(rule: $rule) -> Op {
                Op::$variant(rule)
            }
        })*

        macro_rules! dispatch {
            ($op:expr, $r:ident => $body:expr) => {
                match $op {
                    $(Op::$variant($r) => $body,)*
                }
            };
        }
    };
}

ops! {
    /// Reads parameter `i`.
    Param(ParamRef),
    /// A scalar literal.
    Const(Literal),
    /// `-a`
    Neg(Neg),
    /// `a + b`, `a − b`, `a ⊙ b`, `a / b`, with scalar and row/column broadcasting.
    Binary(Binary),
    /// An elementwise function: `exp`, `ln`, `tanh`, `relu`, ...
    Unary(Unary),
    /// The fused pullback of an elementwise function: `dy ⊙ f'(x)` in one pass.
    UnaryGrad(UnaryGrad),
    /// `a.powi(n)`
    Powi(Powi),
    /// `a.powf(p)`, `p` a scalar.
    Powf(Powf),
    /// `maximum`, `minimum` (tensors), `max`, `min` (scalars).
    Extremum(Extremum),
    /// `x.clamp(lo, hi)`
    Clamp(Clamp),
    /// `[a ≥ b]` or `[a ≤ b]` as 0/1.
    Mask(Mask),
    /// `dy ⊙ n·x^(n−1)` in one pass.
    PowiGrad(PowiGrad),
    /// `op(a)·op(b)` with optional transposes passed to GEMM as flags.
    MatMul(MatMul),
    /// `u·vᵀ`
    Outer(Outer),
    /// `aᵀ`
    Transpose(Transpose),
    /// `uᵀ·v`
    Dot(Dot),
    /// `tr(X)`
    Trace(Trace),
    /// `X⁻¹`
    Inverse(Inverse),
    /// `det(X)`
    Det(Det),
    /// `ln|det(X)|`
    LogDet(LogDet),
    /// `A⁻¹·b` or `A⁻ᵀ·b`, `b` a vector or a matrix.
    Solve(Solve),
    /// `‖x‖`, Euclidean or Frobenius.
    Norm(Norm),
    /// `diag(v)`: the diagonal matrix of a vector.
    DiagMatrix(DiagMatrix),
    /// The diagonal of a matrix, as a vector.
    Diagonal(Diagonal),
    /// `d·I` or `diag(d)` shaped like a matrix: the pullback of `trace` and `diagonal`.
    OnDiagonal(OnDiagonal),
    /// Sum of all elements.
    Sum(Sum),
    /// Mean of all elements.
    Mean(Mean),
    /// `sum_axis(a, axis)`
    SumAxis(SumAxis),
    /// `mean_axis(a, axis)`
    MeanAxis(MeanAxis),
    /// `max(x)`, `min(x)`: the largest or smallest entry.
    ExtremeEntry(ExtremeEntry),
    /// The position of the first largest or smallest entry (an integer).
    ArgExtreme(ArgExtreme),
    /// The column sums of a matrix, as a vector: the pullback of a vector over rows.
    ColumnSums(ColumnSums),
    /// A vector as every row of a matrix: the tangent of a vector over rows.
    RepeatRows(RepeatRows),
    /// Sums a broadcast result back to an operand's shape.
    SumTo(SumTo),
    /// Repeats a row (axis 0) or column (axis 1) to a matrix's shape.
    BroadcastTo(BroadcastTo),
    /// A scalar repeated to a tensor's shape.
    Fill(Fill),
    /// The number of elements, as a scalar.
    Numel(Numel),
    /// Softmax of a vector or of each matrix row.
    Softmax(Softmax),
    /// Log-softmax of a vector or of each matrix row.
    LogSoftmax(LogSoftmax),
    /// The fused softmax pullback `y ⊙ (dy − rowsum(dy ⊙ y))`.
    SoftmaxGrad(SoftmaxGrad),
    /// The fused log-softmax pullback `dy − exp(y) ⊙ rowsum(dy)`.
    LogSoftmaxGrad(LogSoftmaxGrad),
    /// The fused log-softmax pushforward `dx − rowsum(exp(y) ⊙ dx)`.
    LogSoftmaxJvp(LogSoftmaxJvp),
    /// Broadcasts its first operand to the shape of its second (the identity when equal).
    Expand(Expand),
    /// A vector as an n×1 matrix.
    AsColumn(AsColumn),
    /// The identity matrix of the size of its operand.
    Identity(Identity),
    /// A row of the identity: the seed of one scalar batched with others.
    UnitRow(UnitRow),
    /// The diagonal matrix of a column.
    Diag(Diag),
    /// The number of rows of a matrix.
    RowCount(RowCount),
    /// A square matrix plus a scalar on its diagonal (`M + c·I`).
    AddToDiagonal(AddToDiagonal),
    /// A constant parameter (a `usize`).
    ConstantRef(ConstantRef),
    /// An integer literal.
    IndexLiteral(IndexLiteral),
    /// `+ − * / %` on integers.
    IndexArith(IndexArith),
    /// `⌊√n⌋` of an integer.
    IndexSqrt(IndexSqrt),
    /// `len()`, `rows()`, `cols()`.
    Extent(Extent),
    /// `n as f64`
    ToFloat(ToFloat),
    /// `a < b`, ... of scalars or integers.
    Compare(Compare),
    /// `&&`, `||`, `!`, `true`, `false`.
    Logic(Logic),
    /// `std::f64::consts::PI`, a user's `const`.
    NamedConstant(NamedConstant),
    /// A loop over an index range, its body a program (see [`Loop`]).
    Loop(Loop),
    /// `if c { .. } else { .. }`, each side a program (see [`Branch`]).
    Branch(Branch),
    /// One result of a loop, a branch or a fused loop.
    Project(Project),
    /// Elementwise operations, their sums and adds into parts, in one pass (see [`Fused`]).
    Fused(Fused),
    /// `diag(s)·W` with `s` a fused loop on `W·x`, a block of rows at a time (see
    /// [`ScaledRows`]).
    ScaledRows(ScaledRows),
    /// `x[i]`, `m[(i, j)]`, `x.slice(a..b)`, `m.row(i)`, `m.col(j)`, `m.slice_rows(a..b)`,
    /// `m.slice_cols(a..b)`, `m.gather(labels)`.
    Read(Read),
    /// A tensor with one part increased: the pullback of [`Read`].
    AddTo(AddTo),
    /// `Vector::from_vec(vec![s₁, .., sₙ])` of scalars.
    VectorOf(VectorOf),
    /// `u.concat(&v)`
    Concat(Concat),
    /// `a.vstack(&b)`, `a.hstack(&b)`
    Stack(Stack),
    /// `labels[i]` of a `&[usize]`.
    LabelAt(LabelAt),
    /// A list of indices written out.
    IndexList(IndexList),
    /// A call of another differentiable function.
    Call(Call),
    /// Part of a callee's pullback.
    CallVjp(CallVjp),
    /// A callee's pushforward.
    CallJvp(CallJvp),
    /// Part of the tangent of a callee's pullback.
    CallVjpJvp(CallVjpJvp),
}

impl Op {
    /// See [`Rule::kind`].
    pub fn kind(&self, args: &[Kind]) -> Result<Kind, KindError> {
        dispatch!(self, r => r.kind(args))
    }

    /// See [`Rule::reverse`].
    pub fn reverse(
        &self,
        cx: &mut DeriveCx<'_>,
        args: &[ValueId],
        out: ValueId,
        dout: ValueId,
    ) -> Result<Vec<Option<ValueId>>, KindError> {
        dispatch!(self, r => r.reverse(cx, args, out, dout))
    }

    /// See [`Rule::forward`].
    pub fn forward(
        &self,
        cx: &mut DeriveCx<'_>,
        args: &[ValueId],
        tangents: &[Option<ValueId>],
        out: ValueId,
    ) -> Result<Option<ValueId>, KindError> {
        dispatch!(self, r => r.forward(cx, args, tangents, out))
    }

    /// See [`Rule::vmap`].
    pub fn vmap(&self, cx: &mut VmapCx<'_>, args: &[Operand]) -> Result<ValueId, KindError> {
        dispatch!(self, r => r.vmap(cx, args))
    }

    /// See [`Rule::print`].
    pub fn print(&self, args: &[Printed], kinds: &[Kind]) -> Printed {
        dispatch!(self, r => r.print(args, kinds))
    }

    /// See [`Rule::eval`].
    #[cfg(feature = "runtime")]
    pub fn eval<T: Real>(&self, args: &[&Value<T>]) -> Value<T> {
        dispatch!(self, r => r.eval(args))
    }

    /// See [`Rule::emit`].
    pub fn emit(&self) -> Emit {
        dispatch!(self, r => r.emit())
    }

    /// See [`Rule::shape_only_args`].
    pub fn shape_only_args(&self) -> &'static [usize] {
        dispatch!(self, r => r.shape_only_args())
    }

    /// See [`Rule::shape`].
    pub fn shape(&self) -> ShapeOf {
        dispatch!(self, r => r.shape())
    }

    /// See [`Rule::takes_integers`].
    pub fn takes_integers(&self) -> bool {
        dispatch!(self, r => r.takes_integers())
    }

    /// See [`Rule::can_panic`].
    pub fn can_panic(&self) -> bool {
        dispatch!(self, r => r.can_panic())
    }

    /// The scalar literal, if this is one.
    pub fn literal(&self) -> Option<f64> {
        match self {
            Op::Const(c) => Some(c.value()),
            _ => None,
        }
    }
}

/// Checks the operand count; every rule calls it first so a malformed program is an error, not
/// a panic.
pub(crate) fn expect_arity(name: &str, args: &[Kind], n: usize) -> Result<(), KindError> {
    if args.len() == n {
        Ok(())
    } else {
        Err(KindError::new(format!(
            "`{name}` takes {n} operand{}, found {}",
            if n == 1 { "" } else { "s" },
            args.len()
        )))
    }
}
