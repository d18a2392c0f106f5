//! The random-program generator of the engine tests.
//!
//! Random well-shaped programs over the whole op set of the user language are generated as a
//! typed expression tree ([`Expr`]) and then *converted* to an IR [`Program`], so that shrinking
//! works on the tree ([`CaseTree`]): a failing program is shrunk by replacing it with a part of
//! itself, hoisting same-shaped subtrees, dropping unused `let`s, replacing nodes by parameters
//! and shrinking the sizes, down to a minimal program (`softmax(m)` for a bug in matrix softmax,
//! checked by hand). Every node is generated for a fixed *symbolic* shape (scalar, vector of
//! `a`, `a×1`, `1×b`, `b×a`, ...), and the sizes of the three symbolic dimensions `a`, `b`, `c`
//! are drawn separately, so every tree is well shaped for any sizes and every shrink
//! step keeps it well shaped.
//!
//! The trees cover `+ − ⊙ /` (tensor ⊕ tensor, scalar ⊕ tensor on either side, matrix
//! broadcasting of `1×c` rows and `r×1` columns on either side, and `r×1 ⊕ 1×c`), unary `−`,
//! every elementwise function (`exp ln sqrt tanh sigmoid relu abs sin cos`), `powi`, matrix
//! products (M·M and M·v with either operand transposed), transpose, outer and dot products,
//! `sum`, `mean`, `sum_axis` (0 and 1), `softmax` and `log_softmax`; depth up to 8, dimensions up
//! to 6 (less with [`cases_of`]). Values are used more than once: `let` nodes bind a value that
//! the body refers to (possibly many times), and parameters appear as many leaves.
//!
//! Inputs are kept in safe domains by construction: `ln`, `sqrt`, negative powers and divisors
//! get `x ⊙ x + 0.5`, and `relu`/`abs` get `x + 0.29`. The tests redraw inputs that land near a
//! kink anyway.
//!
//! The property tests' trees ([`cases`]) also have control flow: loops
//! ([`Expr::Loop`], [`Expr::Loop2`]: `let mut x = init; for i in s..s + n { x = body }`, 0 to 3
//! iterations, carrying one value of any shape or that and a scalar, nested two deep at most)
//! whose bodies read their index (`i as f64`, `v[i % len(v)]`, `i == 0`, `i % 2 == 0`), and
//! branches ([`Expr::If`]: `if a > b { .. } else { .. }` on differentiable scalars,
//! [`Expr::IfIndex`] on a loop index). They become the engine's `Loop` and `Branch` ops, the
//! body and sides programs of their own that capture what they read from outside. Each case also
//! has a *probe* program (see [`Built::probe`]): the same computation unrolled, both sides of a
//! branch computed and the side not taken masked, which returns every intermediate value and
//! every kink input (a branch's `a − b` among them) of every iteration, so that the tests can keep
//! inputs moderate and finite differences on one side of every kink and branch.
//!
//! The property tests' trees also have the second release's ops ([`second_release`]): entries
//! `x[i]` and elements `m[(i, j)]`, rows and columns, one-entry, one-row and one-column slices,
//! windows into `concat`, `vstack` and `hstack` joins and into `Vector::from_vec` of scalars,
//! `gather` with labels written out, vectors broadcast over a matrix's rows (either side),
//! `mean_axis`, `max()`/`min()`, `norm`, and linear algebra: `trace`, `diag`, `diagonal`, and
//! `det`, `logdet`, `inverse`, `solve` of matrices made well conditioned by construction
//! (`Builder::conditioned`). Their indices are integers of the program computed from the
//! operands' extents (`k % x.len()`, ...), so a tree stays in range whatever the sizes and
//! however it is shrunk. The probe also returns `x − max(x)` of every `max()` (`min(x) − x` of
//! every `min()`) taken, so that the tests keep the extreme entry clear of the runner-up (and at
//! the same position along the stencils), and `norm`'s value is a kink input (not near 0).
//!
//! Property tests draw cases from the strategy [`cases`] (shrinking with [`CaseTree`]);
//! deterministic tables draw case number `n` with [`case_number`] (without control flow: their
//! programs are those they always were).

use std::fmt;

use autodiff_core::symbolic::rules::arith::{BinOp, Binary, Literal, Neg};
use autodiff_core::symbolic::rules::control::{Branch, Loop, Project};
use autodiff_core::symbolic::rules::elementwise::{Powi, Unary, UnaryFn};
use autodiff_core::symbolic::rules::index::{Concat, IndexList, Read, Region, Stack, VectorOf};
use autodiff_core::symbolic::rules::integer::{
    CmpOp, Compare, Extent, IndexArith, IndexLiteral, IntOp, Logic, ToFloat,
};
use autodiff_core::symbolic::rules::linalg::{Dot, MatMul, Outer, Transpose};
use autodiff_core::symbolic::rules::linear_algebra::{
    Det, DiagMatrix, Diagonal, Inverse, LogDet, Norm, Solve, Trace,
};
use autodiff_core::symbolic::rules::pointwise::{Clamp, Extreme, Extremum, Powf};
use autodiff_core::symbolic::rules::reduce::{ExtremeEntry, Fill, Mean, MeanAxis, Sum, SumAxis};
use autodiff_core::symbolic::rules::softmax::{LogSoftmax, Softmax};
use autodiff_core::symbolic::{eval, print, Kind, Op, Program, Role, Value, ValueId};
use proptest::prelude::*;
use proptest::sample::select;
use proptest::strategy::{Union, ValueTree};
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};

/// Maximum depth of a tree (a leaf has depth 0).
pub const MAX_DEPTH: u32 = 8;

/// Largest size of a symbolic dimension.
pub const MAX_DIM: usize = 6;

/// Largest magnitude the tests accept for any intermediate value of a primal program at the
/// drawn inputs: keeps the condition κ of finite differences bounded, and `exp` of `exp` from
/// overflowing (f32 overflows at 3.4e38, and `exp(exp(4))² ≈ 4e45`).
pub const MAGNITUDE: f64 = 50.0;

/// Whether every intermediate value of `p` at `inputs` is finite and at most [`MAGNITUDE`].
pub fn bounded(p: &Program, inputs: &[Value<f64>]) -> bool {
    let largest = largest_intermediate(p, inputs);
    largest.is_finite() && largest <= MAGNITUDE
}

/// The largest magnitude among the intermediate values of `p` at `inputs` (NaN if one is).
pub fn largest_intermediate(p: &Program, inputs: &[Value<f64>]) -> f64 {
    let mut all = p.clone();
    all.outputs = (0..all.insts.len() as u32).map(ValueId).collect();
    eval(&all, inputs)
        .iter()
        .flat_map(|v| v.to_vec())
        .fold(0.0, |largest: f64, x| {
            if x.is_nan() {
                f64::NAN
            } else {
                largest.max(x.abs())
            }
        })
}

// ═════════════════════════════════════════════════════════════════════════════════════════════
// Shapes and trees
// ═════════════════════════════════════════════════════════════════════════════════════════════

/// A symbolic dimension: 1, or one of the three sizes `a`, `b`, `c` drawn per case.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dim {
    One,
    A,
    B,
    C,
}

const DIMS: [Dim; 4] = [Dim::One, Dim::A, Dim::B, Dim::C];

impl Dim {
    fn size(self, sizes: &[usize; 3]) -> usize {
        match self {
            Dim::One => 1,
            Dim::A => sizes[0],
            Dim::B => sizes[1],
            Dim::C => sizes[2],
        }
    }

    fn letter(self) -> char {
        match self {
            Dim::One => '1',
            Dim::A => 'a',
            Dim::B => 'b',
            Dim::C => 'c',
        }
    }
}

/// A symbolic shape, or `I` for a loop's index (only ever bound by a loop, never a node's).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sh {
    S,
    V(Dim),
    M(Dim, Dim),
    I,
}

impl Sh {
    pub fn kind(self) -> Kind {
        match self {
            Sh::S => Kind::Scalar,
            Sh::V(_) => Kind::Vector,
            Sh::M(..) => Kind::Matrix,
            Sh::I => Kind::Index,
        }
    }

    /// (rows, cols) of the concrete shape; a vector is a column, a scalar 1×1.
    fn concrete(self, sizes: &[usize; 3]) -> (usize, usize) {
        match self {
            Sh::S | Sh::I => (1, 1),
            Sh::V(n) => (n.size(sizes), 1),
            Sh::M(r, c) => (r.size(sizes), c.size(sizes)),
        }
    }
}

/// A parameter: its shape and a slot (two parameters per shape).
type ParamKey = (Sh, u8);

fn param_name((sh, slot): ParamKey) -> String {
    match sh {
        Sh::S => format!("s{slot}"),
        Sh::V(n) => format!("v{}{slot}", n.letter()),
        Sh::M(r, c) => format!("m{}{}{slot}", r.letter(), c.letter()),
        Sh::I => unreachable!("no index parameters"),
    }
}

/// A program as a tree; every node was generated for a fixed symbolic shape.
#[derive(Clone, PartialEq)]
pub enum Expr {
    Param(Sh, u8),
    Lit(f64),
    /// The value bound by the enclosing `let` number `i` (counted from the outside).
    Var(usize),
    /// `let l{i} = bound; body`.
    Let(Box<Expr>, Box<Expr>),
    Neg(Box<Expr>),
    Unary(UnaryFn, Box<Expr>),
    Powi(i32, Box<Expr>),
    Binary(BinOp, Box<Expr>, Box<Expr>),
    /// `op(a)·op(b)` of two matrices, with the transpose flags.
    MatMul(bool, bool, Box<Expr>, Box<Expr>),
    /// `op(a)·v`.
    MatVec(bool, Box<Expr>, Box<Expr>),
    Transpose(Box<Expr>),
    Outer(Box<Expr>, Box<Expr>),
    Dot(Box<Expr>, Box<Expr>),
    Sum(Box<Expr>),
    Mean(Box<Expr>),
    SumAxis(u8, Box<Expr>),
    Softmax(Box<Expr>),
    LogSoftmax(Box<Expr>),
    /// `a.maximum(&b)` (tensors, `b` of `a`'s shape or a scalar), `a.max(b)` (scalars), ...
    Extremum(Extreme, Box<Expr>, Box<Expr>),
    /// `a.powf(p)`, `p` a scalar.
    Powf(Box<Expr>, Box<Expr>),
    /// `x.clamp(s − 0.5, s + 0.5)`, `s` a scalar.
    Clamp(Box<Expr>, Box<Expr>),
    /// `i as f64`, `i` the index bound as `let` number `i` by an enclosing loop.
    Index(usize),
    /// `v[i % len(v)]`: the entry of a vector at the index bound as `let` number `i`.
    Entry(usize, Box<Expr>),
    /// `let mut x = init; for i in start..start + trips { x = body; }`, then `x`: the body sees
    /// the index and `x` as the next two `let`s.
    Loop(u8, u8, Box<Expr>, Box<Expr>),
    /// `Loop` carrying a scalar `s` beside `x`: `(start, trips, init, s_init, body, step)`, the
    /// iteration `x = body; s = step;` (both see the index, `x` and `s` as the next three
    /// `let`s), then `x + s`.
    Loop2(u8, u8, Box<Expr>, Box<Expr>, Box<Expr>, Box<Expr>),
    /// `if a > b { then } else { otherwise }` (`a < b` when the flag is set), `a`, `b` scalars.
    If(bool, Box<Expr>, Box<Expr>, Box<Expr>, Box<Expr>),
    /// `if i == 0 { then } else { otherwise }` (`i % 2 == 0` when the flag is set), `i` the
    /// index bound as `let` number `i`.
    IfIndex(bool, usize, Box<Expr>, Box<Expr>),
    // ── The second release's ops (property tests only, see [`cases`]). Indices are integers of
    // the program computed from the operands' extents (`k % x.len()`, ...), so that a tree is in
    // range for any sizes.
    /// `x[k % len(x)]` of a vector, `m[(k % rows(m), l % cols(m))]` of a matrix.
    Pick(u8, u8, Box<Expr>),
    /// `m.row(k % rows(m))`, or `m.col(k % cols(m))` when the flag is set.
    Line(bool, u8, Box<Expr>),
    /// One entry, row or column as a tensor, at `s = k % extent`: `x.slice(s..s + 1)` of a
    /// vector, `m.slice_rows(s..s + 1)` (1×c) or `m.slice_cols(s..s + 1)` (r×1, the flag set) of a
    /// matrix.
    Part(bool, u8, Box<Expr>),
    /// A window as long as `a` into `a` joined with `b` (`b` first when the flag is set), from
    /// `k % (extent(b) + 1)`: `u.concat(&v).slice(..)`, `a.vstack(&b).slice_rows(..)`,
    /// `a.hstack(&b).slice_cols(..)`.
    Window(Join, bool, u8, Box<Expr>, Box<Expr>),
    /// A window as long as the vector `a` into `a` joined with `Vector::from_vec(vec![s₁, ..])`
    /// of the scalars (them first when the flag is set), from `k % (their number + 1)`.
    Pack(bool, u8, Box<Expr>, Vec<Expr>),
    /// `m.gather(labels)` of an `r×c` matrix, `labels[i]` drawn below `c` from the seed.
    Gather(Dim, Dim, u8, Box<Expr>),
    /// `m.mean_axis(axis)`.
    MeanAxis(u8, Box<Expr>),
    /// `x.max()` (the flag set) or `x.min()` of a tensor.
    Top(bool, Box<Expr>),
    /// `m.trace()` of a square matrix.
    Trace(Box<Expr>),
    /// `det`, `logdet` or `inverse` of the well-conditioned square matrix made of `x` and `d`
    /// (negated when the flag is set; see `Builder::conditioned`).
    Square(LinOp, bool, Box<Expr>, Box<Expr>),
    /// `a.solve(&b)`, `a` the well-conditioned matrix made of the first two (negated when the
    /// flag is set), `b` a vector or a matrix.
    Solve(bool, Box<Expr>, Box<Expr>, Box<Expr>),
    /// `x.norm()` of a vector or a matrix.
    Norm(Box<Expr>),
    /// `v.diag()`: the diagonal matrix of a vector.
    Diag(Box<Expr>),
    /// `m.diagonal()` of a square matrix.
    Diagonal(Box<Expr>),
}

/// How [`Expr::Window`] joins its operands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Join {
    /// `u.concat(&v)`, then `slice`.
    Concat,
    /// `a.vstack(&b)`, then `slice_rows`.
    Rows,
    /// `a.hstack(&b)`, then `slice_cols`.
    Cols,
}

/// The scalar and matrix results of a square matrix in [`Expr::Square`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinOp {
    Det,
    LogDet,
    Inverse,
}

/// Label `i` of [`Expr::Gather`] with seed `seed`, below `cols`.
fn label(seed: u8, i: usize, cols: usize) -> usize {
    let mut h = (u64::from(seed) << 8 | i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    h ^= h >> 29;
    (h % cols as u64) as usize
}

impl Expr {
    fn write(&self, f: &mut fmt::Formatter<'_>, lets: usize) -> fmt::Result {
        let t = |b: bool| if b { "ᵀ" } else { "" };
        match self {
            Expr::Param(sh, slot) => write!(f, "{}", param_name((*sh, *slot))),
            Expr::Lit(x) => write!(f, "{x:?}"),
            Expr::Var(i) => write!(f, "l{i}"),
            Expr::Let(bound, body) => {
                write!(f, "(let l{lets} = ")?;
                bound.write(f, lets)?;
                write!(f, "; ")?;
                body.write(f, lets + 1)?;
                write!(f, ")")
            }
            Expr::Neg(x) => {
                write!(f, "-(")?;
                x.write(f, lets)?;
                write!(f, ")")
            }
            Expr::Unary(u, x) => {
                write!(f, "{}(", u.method())?;
                x.write(f, lets)?;
                write!(f, ")")
            }
            Expr::Powi(n, x) => {
                write!(f, "powi(")?;
                x.write(f, lets)?;
                write!(f, ", {n})")
            }
            Expr::Binary(op, a, b) => {
                write!(f, "(")?;
                a.write(f, lets)?;
                write!(f, " {} ", op.token())?;
                b.write(f, lets)?;
                write!(f, ")")
            }
            Expr::MatMul(ta, tb, a, b) => {
                write!(f, "(")?;
                a.write(f, lets)?;
                write!(f, "){}·(", t(*ta))?;
                b.write(f, lets)?;
                write!(f, "){}", t(*tb))
            }
            Expr::MatVec(ta, a, v) => {
                write!(f, "(")?;
                a.write(f, lets)?;
                write!(f, "){}·(", t(*ta))?;
                v.write(f, lets)?;
                write!(f, ")")
            }
            Expr::Transpose(x) => {
                write!(f, "(")?;
                x.write(f, lets)?;
                write!(f, ")ᵀ")
            }
            Expr::Outer(a, b) | Expr::Dot(a, b) => {
                write!(
                    f,
                    "{}(",
                    if matches!(self, Expr::Outer(..)) {
                        "outer"
                    } else {
                        "dot"
                    }
                )?;
                a.write(f, lets)?;
                write!(f, ", ")?;
                b.write(f, lets)?;
                write!(f, ")")
            }
            Expr::Sum(x) | Expr::Mean(x) | Expr::Softmax(x) | Expr::LogSoftmax(x) => {
                let name = match self {
                    Expr::Sum(_) => "sum",
                    Expr::Mean(_) => "mean",
                    Expr::Softmax(_) => "softmax",
                    _ => "log_softmax",
                };
                write!(f, "{name}(")?;
                x.write(f, lets)?;
                write!(f, ")")
            }
            Expr::SumAxis(axis, x) => {
                write!(f, "sum_axis(")?;
                x.write(f, lets)?;
                write!(f, ", {axis})")
            }
            Expr::Extremum(e, a, b) => {
                write!(f, "{e:?}(")?;
                a.write(f, lets)?;
                write!(f, ", ")?;
                b.write(f, lets)?;
                write!(f, ")")
            }
            Expr::Powf(a, p) => {
                write!(f, "powf(")?;
                a.write(f, lets)?;
                write!(f, ", ")?;
                p.write(f, lets)?;
                write!(f, ")")
            }
            Expr::Clamp(x, s) => {
                write!(f, "clamp(")?;
                x.write(f, lets)?;
                write!(f, ", ")?;
                s.write(f, lets)?;
                write!(f, " ± 0.5)")
            }
            Expr::Index(i) => write!(f, "l{i}"),
            Expr::Entry(i, v) => {
                write!(f, "(")?;
                v.write(f, lets)?;
                write!(f, ")[l{i} mod len]")
            }
            Expr::Loop(start, trips, init, body) => {
                write!(f, "(let mut l{} = ", lets + 1)?;
                init.write(f, lets)?;
                write!(
                    f,
                    "; for l{lets} in {start}..{}: l{} = ",
                    start + trips,
                    lets + 1
                )?;
                body.write(f, lets + 2)?;
                write!(f, "; l{})", lets + 1)
            }
            Expr::Loop2(start, trips, init, s_init, body, step) => {
                let (x, s) = (lets + 1, lets + 2);
                write!(f, "(let mut l{x} = ")?;
                init.write(f, lets)?;
                write!(f, "; let mut l{s} = ")?;
                s_init.write(f, lets)?;
                write!(f, "; for l{lets} in {start}..{}: (l{x} = ", start + trips)?;
                body.write(f, lets + 3)?;
                write!(f, "; l{s} = ")?;
                step.write(f, lets + 3)?;
                write!(f, "); l{x} + l{s})")
            }
            Expr::If(less, a, b, then, otherwise) => {
                write!(f, "(if ")?;
                a.write(f, lets)?;
                write!(f, " {} ", if *less { "<" } else { ">" })?;
                b.write(f, lets)?;
                write!(f, " then ")?;
                then.write(f, lets)?;
                write!(f, " else ")?;
                otherwise.write(f, lets)?;
                write!(f, ")")
            }
            Expr::IfIndex(even, i, then, otherwise) => {
                let test = if *even { "mod 2 = 0" } else { "= 0" };
                write!(f, "(if l{i} {test} then ")?;
                then.write(f, lets)?;
                write!(f, " else ")?;
                otherwise.write(f, lets)?;
                write!(f, ")")
            }
            // The second release's ops: `name[constants](operands)`.
            _ => {
                let (name, constants) = self.label();
                write!(f, "{name}")?;
                if !constants.is_empty() {
                    write!(f, "[{constants}]")?;
                }
                write!(f, "(")?;
                for (k, (c, _)) in children(self).into_iter().enumerate() {
                    if k > 0 {
                        write!(f, ", ")?;
                    }
                    c.write(f, lets)?;
                }
                write!(f, ")")
            }
        }
    }

    /// The name and constants of a node of the second release's ops, as printed.
    pub fn label(&self) -> (&'static str, String) {
        let flag = |b: bool, yes: &'static str, no: &'static str| if b { yes } else { no };
        match self {
            Expr::Pick(k, l, _) => ("pick", format!("{k}, {l}")),
            Expr::Line(col, k, _) => (flag(*col, "col", "row"), format!("{k}")),
            Expr::Part(cols, k, _) => (flag(*cols, "part_cols", "part"), format!("{k}")),
            Expr::Window(join, flip, k, ..) => (
                match join {
                    Join::Concat => "concat_window",
                    Join::Rows => "vstack_window",
                    Join::Cols => "hstack_window",
                },
                format!("{k}{}", flag(*flip, ", flipped", "")),
            ),
            Expr::Pack(flip, k, ..) => (
                "pack_window",
                format!("{k}{}", flag(*flip, ", flipped", "")),
            ),
            Expr::Gather(r, c, seed, _) => (
                "gather",
                format!("{}×{}, seed {seed}", r.letter(), c.letter()),
            ),
            Expr::MeanAxis(axis, _) => ("mean_axis", format!("{axis}")),
            Expr::Top(max, _) => (flag(*max, "max", "min"), String::new()),
            Expr::Trace(_) => ("trace", String::new()),
            Expr::Square(op, neg, ..) => (
                match op {
                    LinOp::Det => "det",
                    LinOp::LogDet => "logdet",
                    LinOp::Inverse => "inverse",
                },
                flag(*neg, "negated", "").to_string(),
            ),
            Expr::Solve(neg, ..) => ("solve", flag(*neg, "negated", "").to_string()),
            Expr::Norm(_) => ("norm", String::new()),
            Expr::Diag(_) => ("diag", String::new()),
            Expr::Diagonal(_) => ("diagonal", String::new()),
            _ => unreachable!("a node of the first release's ops"),
        }
    }

    /// The parameters read, in order of first appearance.
    fn params(&self, out: &mut Vec<ParamKey>) {
        if let Expr::Param(sh, slot) = self {
            if !out.contains(&(*sh, *slot)) {
                out.push((*sh, *slot));
            }
        }
        for (c, _) in children(self) {
            c.params(out);
        }
    }

    /// Whether the tree has a loop or a branch.
    pub fn has_control(&self) -> bool {
        matches!(
            self,
            Expr::Loop(..) | Expr::Loop2(..) | Expr::If(..) | Expr::IfIndex(..)
        ) || children(self).iter().any(|(c, _)| c.has_control())
    }
}

impl fmt::Debug for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.write(f, 0)
    }
}

// ═════════════════════════════════════════════════════════════════════════════════════════════
// The strategy
// ═════════════════════════════════════════════════════════════════════════════════════════════

/// A strategy built only when a value is drawn from it (the tree of alternatives is infinite).
fn lazy(f: impl Fn() -> BoxedStrategy<Expr> + 'static) -> BoxedStrategy<Expr> {
    Just(()).prop_flat_map(move |()| f()).boxed()
}

const LITERALS: [f64; 7] = [0.5, 2.0, -1.5, 1.0, 0.0, -1.0, 0.25];
const POWERS: [i32; 4] = [2, 3, -1, -2];
const BINOPS: [BinOp; 4] = [BinOp::Add, BinOp::Sub, BinOp::Mul, BinOp::Div];

/// One of the weighted alternatives `alts`: by proptest's `Union` for the tables (`ctl`
/// unset), so that their programs stay those they always were; else by [`Pick`], which draws
/// the same distribution several times faster (see there).
fn one_of(alts: Vec<(u32, BoxedStrategy<Expr>)>, ctl: bool) -> BoxedStrategy<Expr> {
    if ctl {
        let total = alts.iter().map(|a| a.0).sum();
        Pick(alts, total).boxed()
    } else {
        Union::new_weighted(alts).boxed()
    }
}

/// A weighted choice among strategies that only makes the tree of the one chosen. A `Union`
/// also prepares (and forks a random number generator for) every alternative listed before
/// it, so that it can shrink to them; with forty-odd alternatives a node, that was a third of
/// the property tests' time. [`CaseTree`] does the shrinking here.
#[derive(Debug)]
struct Pick(Vec<(u32, BoxedStrategy<Expr>)>, u32);

impl Strategy for Pick {
    type Tree = Box<dyn ValueTree<Value = Expr>>;
    type Value = Expr;

    fn new_tree(&self, runner: &mut TestRunner) -> proptest::strategy::NewTree<Self> {
        let mut w = (runner.rng().next_u64() % u64::from(self.1)) as u32;
        for (weight, alt) in &self.0 {
            if w < *weight {
                return alt.new_tree(runner);
            }
            w -= weight;
        }
        unreachable!("a pick below the total weight")
    }
}

/// Trees of shape `sh` and depth at most `depth`, in the scope of `let`s binding `env`, below a
/// root of depth `root`, with loops, branches and the second release's ops if `ctl`.
/// Alternatives are listed simplest first (leaves, then shape-preserving ops), as a union
/// shrinks towards its earlier alternatives.
fn expr(sh: Sh, env: Vec<Sh>, depth: u32, root: u32, ctl: bool) -> BoxedStrategy<Expr> {
    let mut alts: Vec<(u32, BoxedStrategy<Expr>)> = Vec::new();
    // The indices of the enclosing loops.
    let indices: Vec<usize> = (0..env.len()).filter(|&i| env[i] == Sh::I).collect();
    // Leaves: a parameter, a literal (scalars), or a let-bound value (weighted up, so bound
    // values are used, and used more than once).
    alts.push((
        3,
        (0u8..2).prop_map(move |slot| Expr::Param(sh, slot)).boxed(),
    ));
    if sh == Sh::S {
        alts.push((2, select(&LITERALS[..]).prop_map(Expr::Lit).boxed()));
    }
    for (i, &bound) in env.iter().enumerate() {
        if bound == sh {
            alts.push((8, Just(Expr::Var(i)).boxed()));
        }
    }
    if sh == Sh::S && !indices.is_empty() {
        alts.push((2, select(indices.clone()).prop_map(Expr::Index).boxed()));
    }
    if depth == 0 {
        return one_of(alts, ctl);
    }
    // No leaf at the root and fewer just below it, so every program has a few levels of ops.
    let leaf_scale = match root - depth {
        0 => 0,
        1 => 1,
        _ => 3,
    };
    for alt in &mut alts {
        alt.0 *= leaf_scale;
    }
    alts.retain(|alt| alt.0 > 0);
    let d = depth - 1;
    let sub = {
        let env = env.clone();
        move |s: Sh| expr(s, env.clone(), d, root, ctl)
    };
    let op = |w: u32, alts: &mut Vec<(u32, BoxedStrategy<Expr>)>, s: BoxedStrategy<Expr>| {
        alts.push((w, s));
    };

    // Shape-preserving ops.
    {
        let sub = sub.clone();
        op(
            1,
            &mut alts,
            lazy(move || sub(sh).prop_map(|x| Expr::Neg(Box::new(x))).boxed()),
        );
    }
    {
        let sub = sub.clone();
        op(
            3,
            &mut alts,
            lazy(move || {
                (select(UnaryFn::ALL), sub(sh))
                    .prop_map(|(u, x)| Expr::Unary(u, Box::new(x)))
                    .boxed()
            }),
        );
    }
    {
        let sub = sub.clone();
        op(
            1,
            &mut alts,
            lazy(move || {
                (select(&POWERS[..]), sub(sh))
                    .prop_map(|(n, x)| Expr::Powi(n, Box::new(x)))
                    .boxed()
            }),
        );
    }
    {
        let sub = sub.clone();
        op(
            3,
            &mut alts,
            lazy(move || {
                (select(&BINOPS[..]), sub(sh), sub(sh))
                    .prop_map(|(o, a, b)| Expr::Binary(o, Box::new(a), Box::new(b)))
                    .boxed()
            }),
        );
    }
    {
        // maximum/minimum against a value of the same shape or a scalar (max/min for scalars),
        // powf to a scalar power, clamp between scalar bounds.
        let sub = sub.clone();
        op(
            2,
            &mut alts,
            lazy(move || {
                let extremes = if sh == Sh::S {
                    vec![Extreme::Max, Extreme::Min]
                } else {
                    vec![Extreme::Maximum, Extreme::Minimum]
                };
                let other = if sh == Sh::S {
                    sub(Sh::S)
                } else {
                    prop_oneof![sub(sh), sub(Sh::S)].boxed()
                };
                (select(extremes), sub(sh), other, 0..3u8, sub(Sh::S))
                    .prop_map(|(e, a, b, which, s)| match which {
                        0 => Expr::Extremum(e, Box::new(a), Box::new(b)),
                        1 => Expr::Powf(Box::new(a), Box::new(s)),
                        _ => Expr::Clamp(Box::new(a), Box::new(s)),
                    })
                    .boxed()
            }),
        );
    }
    {
        // let l = bound; body — the body is of shape `sh` and may refer to `l`.
        let env = env.clone();
        // Mostly the body's own shape, so the body has many places to use the value.
        let bounds = vec![sh, sh, Sh::S, Sh::V(Dim::A), Sh::M(Dim::A, Dim::B)];
        op(
            3,
            &mut alts,
            lazy(move || {
                let env = env.clone();
                select(bounds.clone())
                    .prop_flat_map(move |bs| {
                        let mut inner = env.clone();
                        inner.push(bs);
                        (
                            expr(bs, env.clone(), d, root, ctl),
                            expr(sh, inner, d, root, ctl),
                        )
                    })
                    .prop_map(|(b, body)| Expr::Let(Box::new(b), Box::new(body)))
                    .boxed()
            }),
        );
    }
    if ctl {
        control(sh, &env, &indices, d, root, &sub, &mut alts);
        second_release(sh, &sub, &mut alts);
    }
    if sh != Sh::S {
        // scalar ⊕ tensor, the scalar on either side.
        {
            let sub = sub.clone();
            op(
                2,
                &mut alts,
                lazy(move || {
                    (select(&BINOPS[..]), any::<bool>(), sub(Sh::S), sub(sh))
                        .prop_map(|(o, left, s, t)| {
                            if left {
                                Expr::Binary(o, Box::new(s), Box::new(t))
                            } else {
                                Expr::Binary(o, Box::new(t), Box::new(s))
                            }
                        })
                        .boxed()
                }),
            );
        }
        {
            let sub = sub.clone();
            op(
                2,
                &mut alts,
                lazy(move || {
                    (any::<bool>(), sub(sh))
                        .prop_map(|(log, x)| {
                            if log {
                                Expr::LogSoftmax(Box::new(x))
                            } else {
                                Expr::Softmax(Box::new(x))
                            }
                        })
                        .boxed()
                }),
            );
        }
    }
    match sh {
        Sh::S => {
            {
                let sub = sub.clone();
                op(
                    2,
                    &mut alts,
                    lazy(move || {
                        let sub = sub.clone();
                        select(&DIMS[..])
                            .prop_flat_map(move |k| (sub(Sh::V(k)), sub(Sh::V(k))))
                            .prop_map(|(a, b)| Expr::Dot(Box::new(a), Box::new(b)))
                            .boxed()
                    }),
                );
            }
            {
                let sub = sub.clone();
                let tensors = vec![
                    Sh::V(Dim::A),
                    Sh::M(Dim::A, Dim::B),
                    Sh::V(Dim::B),
                    Sh::M(Dim::One, Dim::A),
                    Sh::M(Dim::B, Dim::One),
                ];
                op(
                    3,
                    &mut alts,
                    lazy(move || {
                        let sub = sub.clone();
                        (any::<bool>(), select(tensors.clone()))
                            .prop_flat_map(move |(mean, t)| (Just(mean), sub(t)))
                            .prop_map(|(mean, x)| {
                                if mean {
                                    Expr::Mean(Box::new(x))
                                } else {
                                    Expr::Sum(Box::new(x))
                                }
                            })
                            .boxed()
                    }),
                );
            }
        }
        Sh::V(n) => {
            let sub = sub.clone();
            op(
                3,
                &mut alts,
                lazy(move || {
                    let sub = sub.clone();
                    (any::<bool>(), select(&DIMS[..]))
                        .prop_flat_map(move |(ta, k)| {
                            let a = if ta { Sh::M(k, n) } else { Sh::M(n, k) };
                            (Just(ta), sub(a), sub(Sh::V(k)))
                        })
                        .prop_map(|(ta, a, v)| Expr::MatVec(ta, Box::new(a), Box::new(v)))
                        .boxed()
                }),
            );
        }
        Sh::M(r, c) => {
            // Broadcasting: a row 1×c, a column r×1, or a column with a row, either side.
            let mut pairs = vec![
                (Sh::M(r, c), Sh::M(Dim::One, c)),
                (Sh::M(r, c), Sh::M(r, Dim::One)),
            ];
            if r != Dim::One && c != Dim::One {
                pairs.push((Sh::M(r, Dim::One), Sh::M(Dim::One, c)));
            }
            if ctl {
                // A vector of the rows' length, applied to every row.
                pairs.push((Sh::M(r, c), Sh::V(c)));
            }
            {
                let sub = sub.clone();
                op(
                    2,
                    &mut alts,
                    lazy(move || {
                        let sub = sub.clone();
                        (select(&BINOPS[..]), any::<bool>(), select(pairs.clone()))
                            .prop_flat_map(move |(o, swap, (x, y))| {
                                let (x, y) = if swap { (y, x) } else { (x, y) };
                                (Just(o), sub(x), sub(y))
                            })
                            .prop_map(|(o, a, b)| Expr::Binary(o, Box::new(a), Box::new(b)))
                            .boxed()
                    }),
                );
            }
            {
                let sub = sub.clone();
                op(
                    3,
                    &mut alts,
                    lazy(move || {
                        let sub = sub.clone();
                        (any::<bool>(), any::<bool>(), select(&DIMS[..]))
                            .prop_flat_map(move |(ta, tb, k)| {
                                let a = if ta { Sh::M(k, r) } else { Sh::M(r, k) };
                                let b = if tb { Sh::M(c, k) } else { Sh::M(k, c) };
                                (Just(ta), Just(tb), sub(a), sub(b))
                            })
                            .prop_map(|(ta, tb, a, b)| {
                                Expr::MatMul(ta, tb, Box::new(a), Box::new(b))
                            })
                            .boxed()
                    }),
                );
            }
            {
                let sub = sub.clone();
                op(
                    1,
                    &mut alts,
                    lazy(move || {
                        sub(Sh::M(c, r))
                            .prop_map(|x| Expr::Transpose(Box::new(x)))
                            .boxed()
                    }),
                );
            }
            {
                let sub = sub.clone();
                op(
                    1,
                    &mut alts,
                    lazy(move || {
                        (sub(Sh::V(r)), sub(Sh::V(c)))
                            .prop_map(|(a, b)| Expr::Outer(Box::new(a), Box::new(b)))
                            .boxed()
                    }),
                );
            }
            if r == Dim::One || c == Dim::One {
                let sub = sub.clone();
                op(
                    2,
                    &mut alts,
                    lazy(move || {
                        let sub = sub.clone();
                        select(&DIMS[..])
                            .prop_flat_map(move |k| {
                                if r == Dim::One {
                                    (Just(0u8), sub(Sh::M(k, c)))
                                } else {
                                    (Just(1u8), sub(Sh::M(r, k)))
                                }
                            })
                            .prop_map(|(axis, x)| Expr::SumAxis(axis, Box::new(x)))
                            .boxed()
                    }),
                );
            }
        }
        Sh::I => unreachable!("no node is an index"),
    }
    one_of(alts, ctl)
}

/// The loops and branches of [`expr`] (with its arguments; `sub` draws a child of the same
/// scope).
fn control(
    sh: Sh,
    env: &[Sh],
    indices: &[usize],
    d: u32,
    root: u32,
    sub: &(impl Fn(Sh) -> BoxedStrategy<Expr> + Clone + 'static),
    alts: &mut Vec<(u32, BoxedStrategy<Expr>)>,
) {
    {
        // if a > b (or a < b) { .. } else { .. }
        let sub = sub.clone();
        alts.push((
            1,
            lazy(move || {
                (any::<bool>(), sub(Sh::S), sub(Sh::S), sub(sh), sub(sh))
                    .prop_map(|(less, a, b, t, o)| {
                        Expr::If(less, Box::new(a), Box::new(b), Box::new(t), Box::new(o))
                    })
                    .boxed()
            }),
        ));
    }
    if !indices.is_empty() {
        // if i == 0 (or i % 2 == 0) { .. } else { .. }; v[i % len(v)].
        let branch_sub = sub.clone();
        let idx = indices.to_vec();
        alts.push((
            2,
            lazy(move || {
                let sub = &branch_sub;
                (any::<bool>(), select(idx.clone()), sub(sh), sub(sh))
                    .prop_map(|(even, i, t, o)| Expr::IfIndex(even, i, Box::new(t), Box::new(o)))
                    .boxed()
            }),
        ));
        if sh == Sh::S {
            let sub = sub.clone();
            let idx = indices.to_vec();
            alts.push((
                3,
                lazy(move || {
                    let sub = sub.clone();
                    (select(idx.clone()), select(&DIMS[..]))
                        .prop_flat_map(move |(i, k)| (Just(i), sub(Sh::V(k))))
                        .prop_map(|(i, v)| Expr::Entry(i, Box::new(v)))
                        .boxed()
                }),
            ));
        }
    }
    // Loops two deep at most (more often in a loop, so that nested ones are not rare), with a
    // body of a few levels.
    if indices.len() < 2 && d >= 2 {
        let env = env.to_vec();
        alts.push((
            if indices.is_empty() { 1 } else { 3 },
            lazy(move || {
                let env = env.clone();
                (0u8..2, 0u8..4, any::<bool>())
                    .prop_flat_map(move |(start, trips, two)| {
                        let mut inner = env.clone();
                        inner.push(Sh::I);
                        inner.push(sh);
                        if two {
                            inner.push(Sh::S);
                        }
                        (
                            Just((start, trips, two)),
                            expr(sh, env.clone(), d, root, true),
                            expr(Sh::S, env.clone(), d, root, true),
                            expr(sh, inner.clone(), d, root, true),
                            expr(Sh::S, inner, d, root, true),
                        )
                    })
                    .prop_map(|((start, trips, two), init, s_init, body, step)| {
                        if two {
                            Expr::Loop2(
                                start,
                                trips,
                                Box::new(init),
                                Box::new(s_init),
                                Box::new(body),
                                Box::new(step),
                            )
                        } else {
                            Expr::Loop(start, trips, Box::new(init), Box::new(body))
                        }
                    })
                    .boxed()
            }),
        ));
    }
}

/// The second release's ops of [`expr`] (`sub` draws a child of the same scope): parts of
/// tensors, joins, `gather`, `mean_axis`, `max`/`min`, and linear algebra (vector broadcasting
/// is with the other broadcasts).
fn second_release(
    sh: Sh,
    sub: &(impl Fn(Sh) -> BoxedStrategy<Expr> + Clone + 'static),
    alts: &mut Vec<(u32, BoxedStrategy<Expr>)>,
) {
    let mut op = |w: u32, f: Box<dyn Fn() -> BoxedStrategy<Expr>>| alts.push((w, lazy(f)));
    let b = |e: Expr| Box::new(e);
    // An operand a node does not use (not drawn).
    let unused = || Just(Expr::Lit(0.0)).boxed();
    match sh {
        Sh::S => {
            // An entry of a vector, an element of a matrix.
            let s = sub.clone();
            op(
                2,
                Box::new(move || {
                    let s = s.clone();
                    (
                        any::<bool>(),
                        select(&DIMS[..]),
                        select(&DIMS[..]),
                        0u8..4,
                        0u8..4,
                    )
                        .prop_flat_map(move |(vector, r, c, k, l)| {
                            let from = if vector { Sh::V(r) } else { Sh::M(r, c) };
                            (Just((k, l)), s(from))
                        })
                        .prop_map(move |((k, l), x)| Expr::Pick(k, l, b(x)))
                        .boxed()
                }),
            );
            // max(), min(), norm() of a vector or a matrix.
            let s = sub.clone();
            op(
                1,
                Box::new(move || {
                    let s = s.clone();
                    (0u8..3, any::<bool>(), select(&DIMS[..]), select(&DIMS[..]))
                        .prop_flat_map(move |(which, vector, r, c)| {
                            let from = if vector { Sh::V(r) } else { Sh::M(r, c) };
                            (Just(which), s(from))
                        })
                        .prop_map(move |(which, x)| match which {
                            0 => Expr::Top(true, b(x)),
                            1 => Expr::Top(false, b(x)),
                            _ => Expr::Norm(b(x)),
                        })
                        .boxed()
                }),
            );
            // trace, det, logdet of a square matrix.
            let s = sub.clone();
            op(
                1,
                Box::new(move || {
                    let s = s.clone();
                    (0u8..3, any::<bool>(), select(&DIMS[..]))
                        .prop_flat_map(move |(which, neg, n)| {
                            (Just((which, neg)), s(Sh::M(n, n)), s(Sh::V(n)))
                        })
                        .prop_map(move |((which, neg), x, d)| match which {
                            0 => Expr::Trace(b(x)),
                            1 => Expr::Square(LinOp::Det, neg, b(x), b(d)),
                            _ => Expr::Square(LinOp::LogDet, neg, b(x), b(d)),
                        })
                        .boxed()
                }),
            );
        }
        Sh::V(n) => {
            // A row or a column of a matrix; its labelled entries (gather); a one-entry slice.
            let s = sub.clone();
            op(
                2,
                Box::new(move || {
                    let s = s.clone();
                    (0u8..4, select(&DIMS[..]), 0u8..4)
                        .prop_flat_map(move |(which, k, at)| {
                            let from = match which {
                                0 => Sh::M(k, n),
                                1 => Sh::M(n, k),
                                2 => Sh::M(n, k),
                                _ if n == Dim::One => Sh::V(k),
                                _ => Sh::M(k, n),
                            };
                            (Just((which, k, at)), s(from))
                        })
                        .prop_map(move |((which, k, at), x)| match which {
                            0 => Expr::Line(false, at, b(x)),
                            1 => Expr::Line(true, at, b(x)),
                            2 => Expr::Gather(n, k, at, b(x)),
                            _ if n == Dim::One => Expr::Part(false, at, b(x)),
                            _ => Expr::Line(false, at, b(x)),
                        })
                        .boxed()
                }),
            );
            // Windows into joins with a vector or with scalars.
            let s = sub.clone();
            op(
                1,
                Box::new(move || {
                    let s = s.clone();
                    (
                        any::<bool>(),
                        any::<bool>(),
                        0u8..4,
                        select(&DIMS[..]),
                        1usize..4,
                    )
                        .prop_flat_map(move |(scalars, flip, k, m, count)| {
                            // Only the operands used are drawn.
                            let (v, count) = if scalars {
                                (unused(), count)
                            } else {
                                (s(Sh::V(m)), 0)
                            };
                            (
                                Just((scalars, flip, k)),
                                s(Sh::V(n)),
                                v,
                                proptest::collection::vec(s(Sh::S), count),
                            )
                        })
                        .prop_map(move |((scalars, flip, k), a, v, ss)| {
                            if scalars {
                                Expr::Pack(flip, k, b(a), ss)
                            } else {
                                Expr::Window(Join::Concat, flip, k, b(a), b(v))
                            }
                        })
                        .boxed()
                }),
            );
            // The diagonal of a square matrix; solve with a vector.
            let s = sub.clone();
            op(
                1,
                Box::new(move || {
                    let s = s.clone();
                    (any::<bool>(), any::<bool>())
                        .prop_flat_map(move |(diagonal, neg)| {
                            (
                                Just((diagonal, neg)),
                                s(Sh::M(n, n)),
                                s(Sh::V(n)),
                                s(Sh::V(n)),
                            )
                        })
                        .prop_map(move |((diagonal, neg), x, d, v)| {
                            if diagonal {
                                Expr::Diagonal(b(x))
                            } else {
                                Expr::Solve(neg, b(x), b(d), b(v))
                            }
                        })
                        .boxed()
                }),
            );
        }
        Sh::M(r, c) => {
            // Windows into vstacks and hstacks; one-row or one-column slices; mean_axis.
            let s = sub.clone();
            op(
                2,
                Box::new(move || {
                    let s = s.clone();
                    (0u8..3, any::<bool>(), 0u8..4, select(&DIMS[..]))
                        .prop_flat_map(move |(which, flip, k, m)| {
                            let (a, other) = match which {
                                0 => (s(Sh::M(r, c)), s(Sh::M(m, c))),
                                1 => (s(Sh::M(r, c)), s(Sh::M(r, m))),
                                // The slices and means reduce an axis of extent 1 in `sh`.
                                _ if r == Dim::One => (s(Sh::M(m, c)), unused()),
                                _ if c == Dim::One => (s(Sh::M(r, m)), unused()),
                                _ => (s(Sh::M(r, c)), s(Sh::M(m, c))),
                            };
                            (Just((which, flip, k)), a, other)
                        })
                        .prop_map(move |((which, flip, k), a, other)| match which {
                            0 => Expr::Window(Join::Rows, flip, k, b(a), b(other)),
                            1 => Expr::Window(Join::Cols, flip, k, b(a), b(other)),
                            _ if r == Dim::One && flip => Expr::MeanAxis(0, b(a)),
                            _ if r == Dim::One => Expr::Part(false, k, b(a)),
                            _ if c == Dim::One && flip => Expr::MeanAxis(1, b(a)),
                            _ if c == Dim::One => Expr::Part(true, k, b(a)),
                            _ => Expr::Window(Join::Rows, flip, k, b(a), b(other)),
                        })
                        .boxed()
                }),
            );
            if r == c {
                // diag of a vector, the inverse of a square matrix.
                let s = sub.clone();
                op(
                    1,
                    Box::new(move || {
                        let s = s.clone();
                        (any::<bool>(), any::<bool>())
                            .prop_flat_map(move |(diag, neg)| {
                                (Just((diag, neg)), s(Sh::M(r, r)), s(Sh::V(r)))
                            })
                            .prop_map(move |((diag, neg), x, d)| {
                                if diag {
                                    Expr::Diag(b(d))
                                } else {
                                    Expr::Square(LinOp::Inverse, neg, b(x), b(d))
                                }
                            })
                            .boxed()
                    }),
                );
            }
            // solve with a matrix.
            let s = sub.clone();
            op(
                1,
                Box::new(move || {
                    let s = s.clone();
                    any::<bool>()
                        .prop_flat_map(move |neg| {
                            (Just(neg), s(Sh::M(r, r)), s(Sh::V(r)), s(Sh::M(r, c)))
                        })
                        .prop_map(move |(neg, x, d, m)| Expr::Solve(neg, b(x), b(d), b(m)))
                        .boxed()
                }),
            );
        }
        Sh::I => unreachable!("no node is an index"),
    }
}

/// One test case: a tree, the sizes of `a`, `b`, `c`, which parameters to differentiate with
/// respect to (bit i of `wrt_mask` for parameter i; none set means all), and the seed of the
/// property tests' inputs, directions and upstream gradients (not shrunk; the engine tables seed
/// theirs by the case's name).
#[derive(Clone)]
pub struct Case {
    pub tree: Expr,
    pub sizes: [usize; 3],
    pub wrt_mask: u8,
    pub seed: u64,
}

/// How large generated programs are.
#[derive(Clone, Copy, Debug)]
pub struct Size {
    /// Maximum depth of a tree (a leaf has depth 0).
    pub depth: u32,
    /// Largest size of a symbolic dimension.
    pub dim: usize,
}

/// The size the property tests draw: depth up to 8, dimensions up to 6.
pub const FULL: Size = Size {
    depth: MAX_DEPTH,
    dim: MAX_DIM,
};

/// Cases of size [`FULL`] whose tree is drawn from [`expr`] with a root of one of the shapes
/// `roots`, with loops, branches and the second release's ops, shrunk by [`CaseTree`].
pub fn cases(roots: &'static [Sh]) -> CaseStrategy {
    strategy(FULL, roots, true)
}

/// Cases of another size, without loops, branches and the second release's ops (the
/// deterministic tables, whose programs stay those they always were).
pub fn cases_of(size: Size, roots: &'static [Sh]) -> CaseStrategy {
    strategy(size, roots, false)
}

fn strategy(size: Size, roots: &'static [Sh], ctl: bool) -> CaseStrategy {
    let kinds: Vec<Kind> = roots.iter().map(|r| r.kind()).collect();
    CaseStrategy(
        kinds,
        (
            proptest::array::uniform3(1usize..=size.dim),
            any::<u8>(),
            select(roots)
                .prop_flat_map(move |sh| expr(sh, Vec::new(), size.depth, size.depth, ctl)),
            any::<u64>(),
        )
            .prop_map(|(sizes, wrt_mask, tree, seed)| Case {
                tree,
                sizes,
                wrt_mask,
                seed,
            })
            .boxed(),
    )
}

/// Draws a case and shrinks it with [`CaseTree`] rather than proptest's own shrinking of the
/// union of alternatives, which only ever replaces a node by a *freshly drawn* simpler one and
/// so rarely finds a small program that still fails.
#[derive(Debug)]
pub struct CaseStrategy(Vec<Kind>, BoxedStrategy<Case>);

impl Strategy for CaseStrategy {
    type Tree = CaseTree;
    type Value = Case;

    fn new_tree(&self, runner: &mut TestRunner) -> proptest::strategy::NewTree<Self> {
        Ok(CaseTree {
            root_kinds: self.0.clone(),
            current: self.1.new_tree(runner)?.current(),
            failing: None,
            candidates: Vec::new(),
        })
    }
}

/// Greedy shrinking: from the last failing case, try each of its one-step simplifications
/// ([`simplifications`]) in turn; the first that still fails becomes the new base.
pub struct CaseTree {
    /// The kinds a result may have.
    root_kinds: Vec<Kind>,
    current: Case,
    /// The last case known to fail, while its simplifications are tried.
    failing: Option<Case>,
    /// The simplifications of `failing` not yet tried, the next last.
    candidates: Vec<Case>,
}

impl ValueTree for CaseTree {
    type Value = Case;

    fn current(&self) -> Case {
        self.current.clone()
    }

    /// Called when `current` fails: it becomes the base, and its first simplification is next.
    fn simplify(&mut self) -> bool {
        let mut candidates = simplifications(&self.current, &self.root_kinds);
        candidates.reverse();
        self.candidates = candidates;
        self.failing = Some(self.current.clone());
        self.next()
    }

    /// Called when `current` passes: the next simplification of the base, if any.
    fn complicate(&mut self) -> bool {
        if self.next() {
            return true;
        }
        if let Some(failing) = self.failing.take() {
            self.current = failing;
        }
        false
    }
}

impl CaseTree {
    fn next(&mut self) -> bool {
        match self.candidates.pop() {
            Some(c) => {
                self.current = c;
                true
            }
            None => false,
        }
    }
}

/// The children of a node, with whether each is inside the scope of the `let`s the node binds
/// (see [`binds`]).
pub fn children(e: &Expr) -> Vec<(&Expr, bool)> {
    match e {
        Expr::Param(..) | Expr::Lit(_) | Expr::Var(_) | Expr::Index(_) => vec![],
        Expr::Neg(x)
        | Expr::Unary(_, x)
        | Expr::Powi(_, x)
        | Expr::Transpose(x)
        | Expr::Sum(x)
        | Expr::Mean(x)
        | Expr::SumAxis(_, x)
        | Expr::Softmax(x)
        | Expr::LogSoftmax(x)
        | Expr::Entry(_, x) => vec![(x, false)],
        Expr::Let(a, b) | Expr::Loop(_, _, a, b) => vec![(a, false), (b, true)],
        Expr::Binary(_, a, b)
        | Expr::MatMul(_, _, a, b)
        | Expr::MatVec(_, a, b)
        | Expr::Outer(a, b)
        | Expr::Dot(a, b)
        | Expr::Extremum(_, a, b)
        | Expr::Powf(a, b)
        | Expr::Clamp(a, b)
        | Expr::IfIndex(_, _, a, b) => vec![(a, false), (b, false)],
        Expr::Loop2(_, _, a, b, c, d) => vec![(a, false), (b, false), (c, true), (d, true)],
        Expr::If(_, a, b, c, d) => vec![(a, false), (b, false), (c, false), (d, false)],
        Expr::Pick(_, _, x)
        | Expr::Line(_, _, x)
        | Expr::Part(_, _, x)
        | Expr::Gather(_, _, _, x)
        | Expr::MeanAxis(_, x)
        | Expr::Top(_, x)
        | Expr::Trace(x)
        | Expr::Norm(x)
        | Expr::Diag(x)
        | Expr::Diagonal(x) => vec![(x, false)],
        Expr::Window(_, _, _, a, b) | Expr::Square(_, _, a, b) => vec![(a, false), (b, false)],
        Expr::Solve(_, a, b, c) => vec![(a, false), (b, false), (c, false)],
        Expr::Pack(_, _, a, scalars) => std::iter::once(&**a)
            .chain(scalars)
            .map(|c| (c, false))
            .collect(),
    }
}

/// The shapes of the `let`s a node binds for its scoped children: a `let`'s value; a loop's
/// index and carried values.
fn binds(e: &Expr, env: &mut Vec<Sh>) -> Vec<Sh> {
    match e {
        Expr::Let(b, _) => vec![shape(b, env)],
        Expr::Loop(_, _, init, _) => vec![Sh::I, shape(init, env)],
        Expr::Loop2(_, _, init, ..) => vec![Sh::I, shape(init, env), Sh::S],
        _ => vec![],
    }
}

/// `e` with child `k` replaced.
fn with_child(e: &Expr, k: usize, new: Expr) -> Expr {
    let mut e = e.clone();
    *child_mut(&mut e, k) = new;
    e
}

/// Child `k` of `e` (in the order of [`children`]).
fn child_mut(e: &mut Expr, k: usize) -> &mut Expr {
    match (e, k) {
        (
            Expr::Neg(x)
            | Expr::Unary(_, x)
            | Expr::Powi(_, x)
            | Expr::Transpose(x)
            | Expr::Sum(x)
            | Expr::Mean(x)
            | Expr::SumAxis(_, x)
            | Expr::Softmax(x)
            | Expr::LogSoftmax(x)
            | Expr::Entry(_, x)
            | Expr::Pick(_, _, x)
            | Expr::Line(_, _, x)
            | Expr::Part(_, _, x)
            | Expr::Gather(_, _, _, x)
            | Expr::MeanAxis(_, x)
            | Expr::Top(_, x)
            | Expr::Trace(x)
            | Expr::Norm(x)
            | Expr::Diag(x)
            | Expr::Diagonal(x),
            0,
        ) => x,
        (
            Expr::Let(a, _)
            | Expr::Binary(_, a, _)
            | Expr::MatMul(_, _, a, _)
            | Expr::MatVec(_, a, _)
            | Expr::Outer(a, _)
            | Expr::Dot(a, _)
            | Expr::Extremum(_, a, _)
            | Expr::Powf(a, _)
            | Expr::Clamp(a, _)
            | Expr::Loop(_, _, a, _)
            | Expr::Loop2(_, _, a, ..)
            | Expr::If(_, a, ..)
            | Expr::IfIndex(_, _, a, _)
            | Expr::Window(_, _, _, a, _)
            | Expr::Pack(_, _, a, _)
            | Expr::Square(_, _, a, _)
            | Expr::Solve(_, a, _, _),
            0,
        ) => a,
        (
            Expr::Let(_, b)
            | Expr::Binary(_, _, b)
            | Expr::MatMul(_, _, _, b)
            | Expr::MatVec(_, _, b)
            | Expr::Outer(_, b)
            | Expr::Dot(_, b)
            | Expr::Extremum(_, _, b)
            | Expr::Powf(_, b)
            | Expr::Clamp(_, b)
            | Expr::Loop(_, _, _, b)
            | Expr::Loop2(_, _, _, b, _, _)
            | Expr::If(_, _, b, _, _)
            | Expr::IfIndex(_, _, _, b)
            | Expr::Window(_, _, _, _, b)
            | Expr::Square(_, _, _, b)
            | Expr::Solve(_, _, b, _),
            1,
        ) => b,
        (Expr::Loop2(_, _, _, _, c, _) | Expr::If(_, _, _, c, _) | Expr::Solve(_, _, _, c), 2) => c,
        (Expr::Loop2(_, _, _, _, _, d) | Expr::If(_, _, _, _, d), 3) => d,
        (Expr::Pack(_, _, _, scalars), k) if (1..=scalars.len()).contains(&k) => {
            &mut scalars[k - 1]
        }
        (_, k) => unreachable!("no child {k}"),
    }
}

/// The symbolic shape of `e` with the `let`-bound shapes `env`.
fn shape(e: &Expr, env: &mut Vec<Sh>) -> Sh {
    let mat = |s: Sh| match s {
        Sh::M(r, c) => (r, c),
        _ => unreachable!("a matrix operand"),
    };
    let vec_dim = |s: Sh| match s {
        Sh::V(n) => n,
        _ => unreachable!("a vector operand"),
    };
    match e {
        Expr::Param(sh, _) => *sh,
        Expr::Lit(_)
        | Expr::Dot(..)
        | Expr::Sum(_)
        | Expr::Mean(_)
        | Expr::Index(_)
        | Expr::Entry(..) => Sh::S,
        Expr::Var(i) => env[*i],
        Expr::Let(b, body) => {
            let bound = shape(b, env);
            env.push(bound);
            let s = shape(body, env);
            env.pop();
            s
        }
        Expr::Neg(x)
        | Expr::Unary(_, x)
        | Expr::Powi(_, x)
        | Expr::Softmax(x)
        | Expr::LogSoftmax(x)
        | Expr::Extremum(_, x, _)
        | Expr::Powf(x, _)
        | Expr::Clamp(x, _)
        | Expr::Loop(_, _, x, _)
        | Expr::Loop2(_, _, x, ..)
        | Expr::If(_, _, _, x, _)
        | Expr::IfIndex(_, _, x, _) => shape(x, env),
        Expr::Binary(_, a, b) => match (shape(a, env), shape(b, env)) {
            (Sh::S, s) | (s, Sh::S) => s,
            (Sh::M(r1, c1), Sh::M(r2, c2)) => Sh::M(
                if r1 == Dim::One { r2 } else { r1 },
                if c1 == Dim::One { c2 } else { c1 },
            ),
            // A vector applied to every row of a matrix.
            (Sh::V(_), m) => m,
            (s, _) => s,
        },
        Expr::MatMul(ta, tb, a, b) => {
            let ((ar, ac), (br, bc)) = (mat(shape(a, env)), mat(shape(b, env)));
            Sh::M(if *ta { ac } else { ar }, if *tb { br } else { bc })
        }
        Expr::MatVec(ta, a, _) => {
            let (ar, ac) = mat(shape(a, env));
            Sh::V(if *ta { ac } else { ar })
        }
        Expr::Transpose(x) => {
            let (r, c) = mat(shape(x, env));
            Sh::M(c, r)
        }
        Expr::Outer(a, b) => Sh::M(vec_dim(shape(a, env)), vec_dim(shape(b, env))),
        Expr::Pick(..)
        | Expr::Top(..)
        | Expr::Trace(_)
        | Expr::Norm(_)
        | Expr::Square(LinOp::Det | LinOp::LogDet, ..) => Sh::S,
        Expr::Line(col, _, m) => {
            let (r, c) = mat(shape(m, env));
            Sh::V(if *col { r } else { c })
        }
        Expr::Part(cols, _, x) => match shape(x, env) {
            Sh::M(r, _) if *cols => Sh::M(r, Dim::One),
            Sh::M(_, c) => Sh::M(Dim::One, c),
            _ => Sh::V(Dim::One),
        },
        Expr::Window(_, _, _, a, _)
        | Expr::Pack(_, _, a, _)
        | Expr::Square(LinOp::Inverse, _, a, _)
        | Expr::Solve(_, _, _, a) => shape(a, env),
        Expr::Gather(r, ..) => Sh::V(*r),
        Expr::MeanAxis(axis, x) => {
            let (r, c) = mat(shape(x, env));
            if *axis == 0 {
                Sh::M(Dim::One, c)
            } else {
                Sh::M(r, Dim::One)
            }
        }
        Expr::Diag(v) => {
            let n = vec_dim(shape(v, env));
            Sh::M(n, n)
        }
        Expr::Diagonal(m) => Sh::V(mat(shape(m, env)).0),
        Expr::SumAxis(axis, x) => {
            let (r, c) = mat(shape(x, env));
            if *axis == 0 {
                Sh::M(Dim::One, c)
            } else {
                Sh::M(r, Dim::One)
            }
        }
    }
}

/// Whether `e` applies a vector to every row of a matrix (`m ⊕ v` or `v ⊕ m`) somewhere.
pub fn broadcasts_a_vector(e: &Expr) -> bool {
    let mut list = Vec::new();
    nodes(e, &mut Vec::new(), &mut Vec::new(), &mut list);
    list.iter().any(|(path, ..)| {
        let Expr::Binary(..) = list.iter().find(|n| n.0 == *path).expect("a node").3 else {
            return false;
        };
        let shape_of = |k: usize| {
            let mut child = path.clone();
            child.push(k);
            list.iter().find(|n| n.0 == child).expect("a child").1
        };
        matches!(
            (shape_of(0), shape_of(1)),
            (Sh::M(..), Sh::V(_)) | (Sh::V(_), Sh::M(..))
        )
    })
}

/// The `let` a node reads directly: a variable, a loop's index.
fn reads(e: &Expr) -> Option<usize> {
    match e {
        Expr::Var(i) | Expr::Index(i) | Expr::Entry(i, _) | Expr::IfIndex(_, i, ..) => Some(*i),
        _ => None,
    }
}

/// Whether `e` refers to a `let` numbered in `lo..hi`.
fn uses(e: &Expr, lo: usize, hi: usize) -> bool {
    reads(e).is_some_and(|i| (lo..hi).contains(&i))
        || children(e).iter().any(|(c, _)| uses(c, lo, hi))
}

/// `e` with every reference to a `let` numbered `from` or more renumbered `delta` lower.
fn lower(e: &Expr, from: usize, delta: usize) -> Expr {
    let mut out = match e {
        Expr::Var(i) if *i >= from => Expr::Var(i - delta),
        Expr::Index(i) if *i >= from => Expr::Index(i - delta),
        Expr::Entry(i, v) if *i >= from => Expr::Entry(i - delta, v.clone()),
        Expr::IfIndex(even, i, a, b) if *i >= from => {
            Expr::IfIndex(*even, i - delta, a.clone(), b.clone())
        }
        _ => e.clone(),
    };
    for (k, (c, _)) in children(e).into_iter().enumerate() {
        out = with_child(&out, k, lower(c, from, delta));
    }
    out
}

/// Every node of `e`: its path (child indices from the root), shape, number of `let`s in
/// scope, and the node.
fn nodes<'a>(
    e: &'a Expr,
    path: &mut Vec<usize>,
    env: &mut Vec<Sh>,
    out: &mut Vec<(Vec<usize>, Sh, usize, &'a Expr)>,
) {
    out.push((path.clone(), shape(e, env), env.len(), e));
    let bound = binds(e, env);
    for (k, (c, scoped)) in children(e).into_iter().enumerate() {
        path.push(k);
        if scoped {
            env.extend(&bound);
        }
        nodes(c, path, env, out);
        if scoped {
            env.truncate(env.len() - bound.len());
        }
        path.pop();
    }
}

fn replace_at(e: &Expr, path: &[usize], new: Expr) -> Expr {
    match path.split_first() {
        None => new,
        Some((&k, rest)) => {
            let child = children(e)[k].0;
            with_child(e, k, replace_at(child, rest, new))
        }
    }
}

/// The one-step simplifications of a case, most reducing first: replace the program by a
/// part of it whose kind is one of `root_kinds`, replace a node by a same-shaped node below it
/// (hoisting: a loop by its initial value, a branch by a side), drop a `let` whose value is not
/// used, run a loop once less, drop a loop's scalar, replace a node by a parameter of its shape,
/// merge parameters, shrink the sizes, differentiate with respect to every parameter.
fn simplifications(case: &Case, root_kinds: &[Kind]) -> Vec<Case> {
    let mut all = Vec::new();
    let mut list = Vec::new();
    nodes(&case.tree, &mut Vec::new(), &mut Vec::new(), &mut list);
    let with_tree = |tree: Expr| Case {
        tree,
        ..case.clone()
    };
    for (path, sh, scope, node) in &list {
        if !path.is_empty() && root_kinds.contains(&sh.kind()) && !uses(node, 0, *scope) {
            all.push(with_tree(lower(node, *scope, *scope)));
        }
    }
    for (path, sh, scope, node) in &list {
        for (sub_path, sub_sh, sub_scope, sub) in &list {
            let below = sub_path.len() > path.len() && sub_path.starts_with(path);
            if below && sub_sh == sh && !uses(sub, *scope, *sub_scope) {
                let moved = lower(sub, *sub_scope, sub_scope - scope);
                all.push(with_tree(replace_at(&case.tree, path, moved)));
            }
        }
        match node {
            Expr::Let(_, body) if !uses(body, *scope, scope + 1) => {
                all.push(with_tree(replace_at(
                    &case.tree,
                    path,
                    lower(body, scope + 1, 1),
                )));
            }
            Expr::Loop(start, trips, init, body) if *trips > 0 => {
                let fewer = Expr::Loop(*start, trips - 1, init.clone(), body.clone());
                all.push(with_tree(replace_at(&case.tree, path, fewer)));
            }
            Expr::Loop2(start, trips, init, s_init, body, step) => {
                if !uses(body, scope + 2, scope + 3) {
                    let one = Expr::Loop(
                        *start,
                        *trips,
                        init.clone(),
                        Box::new(lower(body, scope + 3, 1)),
                    );
                    all.push(with_tree(replace_at(&case.tree, path, one)));
                }
                if *trips > 0 {
                    let fewer = Expr::Loop2(
                        *start,
                        trips - 1,
                        init.clone(),
                        s_init.clone(),
                        body.clone(),
                        step.clone(),
                    );
                    all.push(with_tree(replace_at(&case.tree, path, fewer)));
                }
            }
            _ => {}
        }
    }
    for (path, sh, _, node) in &list {
        match node {
            Expr::Param(_, 0) => {}
            Expr::Param(s, _) => {
                all.push(with_tree(replace_at(&case.tree, path, Expr::Param(*s, 0))))
            }
            _ => all.push(with_tree(replace_at(&case.tree, path, Expr::Param(*sh, 0)))),
        }
    }
    for i in 0..3 {
        for smaller in [1, case.sizes[i].saturating_sub(1)] {
            if smaller >= 1 && smaller < case.sizes[i] {
                let mut c = case.clone();
                c.sizes[i] = smaller;
                all.push(c);
            }
        }
    }
    if case.wrt_mask != 0 {
        all.push(Case {
            wrt_mask: 0,
            ..case.clone()
        });
    }
    all
}

pub const ANY_ROOT: &[Sh] = &[
    Sh::S,
    Sh::V(Dim::A),
    Sh::M(Dim::A, Dim::B),
    Sh::M(Dim::One, Dim::A),
    Sh::M(Dim::A, Dim::One),
];
pub const VECTOR_OR_SCALAR_ROOT: &[Sh] = &[Sh::S, Sh::V(Dim::A)];
pub const SCALAR_ROOT: &[Sh] = &[Sh::S];

/// Case number `n` of a deterministic table: drawn from [`cases_of`]`(size, roots)` by a runner
/// seeded with `n`, so that a number names the same program on every run.
pub fn case_number(n: u64, size: Size, roots: &'static [Sh]) -> Case {
    let mut seed = [0u8; 32];
    seed[..8].copy_from_slice(&n.to_le_bytes());
    let rng = TestRng::from_seed(RngAlgorithm::ChaCha, &seed);
    let mut runner = TestRunner::new_with_rng(Config::default(), rng);
    cases_of(size, roots)
        .new_tree(&mut runner)
        .expect("the strategy rejects nothing")
        .current()
}

// ═════════════════════════════════════════════════════════════════════════════════════════════
// Tree → program
// ═════════════════════════════════════════════════════════════════════════════════════════════

/// A program being built: the function's, or a loop body's or branch side's inside it.
struct Frame {
    p: Program,
    /// The values of the enclosing frame this one reads, each with the parameter standing for
    /// it here.
    captures: Vec<(ValueId, ValueId)>,
}

impl Frame {
    fn new() -> Frame {
        Frame {
            p: Program::new(),
            captures: Vec::new(),
        }
    }
}

/// A value and the frame (its depth) it belongs to.
#[derive(Clone, Copy)]
struct Ref {
    level: usize,
    v: ValueId,
}

struct Builder {
    /// The function's program, then the bodies and sides being built inside it.
    frames: Vec<Frame>,
    params: Vec<(ParamKey, ValueId)>,
    env: Vec<Ref>,
    /// Whether this builds the probe (see [`Built::probe`]): loops unrolled, both sides of a
    /// branch computed, every value watched.
    probe: bool,
    /// Whether the tree may have loops and branches (else the program is built as it always
    /// was, with the kinks' differences among its values).
    control: bool,
    /// (Probe) the condition under which the current code runs: inside branch sides, the
    /// conjunction of their conditions (negated for `else`).
    guard: Option<ValueId>,
    /// (Probe) every intermediate value, and every value whose sign switches a derivative, each
    /// masked by its guard.
    watched: Vec<ValueId>,
    kinks: Vec<ValueId>,
    /// (Probe) for every `max()` taken, `x − max(x)` (`min(x) − x` for `min()`), masked by its
    /// guard: the tests keep its runner-up entry clear of the extreme one.
    extremes: Vec<ValueId>,
    /// The sizes of `a`, `b`, `c` (for the labels of `gather`).
    sizes: [usize; 3],
}

impl Builder {
    fn program(&mut self) -> &mut Program {
        &mut self.frames.last_mut().expect("a frame").p
    }

    /// Pushes without watching the value.
    fn raw(&mut self, op: impl Into<Op>, args: &[ValueId]) -> ValueId {
        let op = op.into();
        match self.program().push(op.clone(), args) {
            Ok(v) => v,
            Err(e) => panic!("the generator built an ill-kinded program: {op:?} on {args:?}: {e}"),
        }
    }

    fn push(&mut self, op: impl Into<Op>, args: &[ValueId]) -> ValueId {
        let v = self.raw(op, args);
        if self.probe && self.program().kind(v).is_differentiable() {
            let m = self.masked(v);
            self.watched.push(m);
        }
        v
    }

    /// `v`, or (in the probe, inside a branch side) `v` where the side is taken and ones where
    /// it is not, so that the side not taken neither counts as large nor as near a kink.
    fn masked(&mut self, v: ValueId) -> ValueId {
        let Some(guard) = self.guard else {
            return v;
        };
        let kind = self.program().kind(v);
        let side = |taken: bool| {
            let mut p = Program::new();
            let x = p.param("x", kind);
            p.outputs = vec![if taken {
                x
            } else {
                let one = p.push(Literal::new(1.0).into(), &[]).expect("a literal");
                if kind == Kind::Scalar {
                    one
                } else {
                    p.push(Fill.into(), &[one, x]).expect("a fill")
                }
            }];
            p
        };
        let branch = Branch {
            then: Box::new(side(true)),
            otherwise: Box::new(side(false)),
        };
        let b = self.raw(branch, &[guard, v]);
        self.raw(Project { index: 0, kind }, &[b])
    }

    /// Records a value whose sign switches a derivative (see [`Built::probe`]).
    fn kink(&mut self, v: ValueId) {
        if self.probe {
            let m = self.masked(v);
            self.kinks.push(m);
        }
    }

    /// `r` in the current frame: captured through every frame in between.
    fn here(&mut self, r: Ref) -> ValueId {
        self.resolve(r, self.frames.len() - 1)
    }

    fn resolve(&mut self, r: Ref, level: usize) -> ValueId {
        if r.level == level {
            return r.v;
        }
        let outer = self.resolve(r, level - 1);
        if let Some(&(_, local)) = self.frames[level]
            .captures
            .iter()
            .find(|(o, _)| *o == outer)
        {
            return local;
        }
        let enclosing = &self.frames[level - 1].p;
        let kind = enclosing.kind(outer);
        let name = enclosing.value_names()[outer.index()].clone();
        let local = self.frames[level].p.param(&name, kind);
        self.frames[level].captures.push((outer, local));
        local
    }

    /// The name of the next `let`: `l0`, `l1`, ... or, every other time, a name like one the
    /// engine or the macro makes (an adjoint `d{p}`, a temporary `t1`, the upstream `dout`, a
    /// helper `{v}_view`/`{v}_dims`/`{v}_pullback`), which must not make two values print alike.
    fn let_name(&self) -> String {
        let n = self.env.len();
        let p = &self.frames[0].p;
        let param = p.params.first().map_or("x", |p| p.name.as_str());
        match n % 8 {
            1 => format!("d{param}"),
            3 => format!("t{}", n / 2 + 1),
            5 => "dout".to_string(),
            6 => format!("l{}_view", n - 1),
            7 => format!("d{param}_dims"),
            _ if n % 16 == 2 => "t1_pullback".to_string(),
            _ => format!("l{n}"),
        }
    }

    fn lit(&mut self, x: f64) -> ValueId {
        self.push(Literal::new(x), &[])
    }

    fn index(&mut self, k: usize) -> ValueId {
        self.raw(IndexLiteral(k), &[])
    }

    /// `x ⊙ x + 0.5 ≥ 0.5`: the argument of `ln`, `sqrt`, negative powers and divisors.
    fn positive(&mut self, x: ValueId) -> ValueId {
        let xx = self.push(Binary(BinOp::Mul), &[x, x]);
        let half = self.lit(0.5);
        self.push(Binary(BinOp::Add), &[xx, half])
    }

    /// `x + 0.29`: moves the kink of `relu`/`abs` off exact zeros (of `relu` outputs, literal
    /// 0); inputs are still redrawn when an element lands near it.
    fn shifted(&mut self, x: ValueId) -> ValueId {
        let c = self.lit(0.29);
        self.push(Binary(BinOp::Add), &[x, c])
    }

    /// `a − b`, whose sign switches a derivative: a value of the program as it always was (for
    /// the tables), else of the probe only.
    fn gap(&mut self, a: ValueId, b: ValueId) {
        if self.probe || !self.control {
            let gap = self.push(Binary(BinOp::Sub), &[a, b]);
            self.kink(gap);
        }
    }

    /// A side of a branch (in the probe: computed in place, under the guard `taken`, the
    /// branch's condition or its negation).
    fn side(&mut self, e: &Expr, cond: ValueId, taken: bool) -> Frame {
        if self.probe {
            let outer = self.guard;
            let taken = if taken {
                cond
            } else {
                self.raw(Logic::Not, &[cond])
            };
            self.guard = Some(match outer {
                None => taken,
                Some(g) => self.raw(Logic::And, &[g, taken]),
            });
            let v = self.build(e);
            self.guard = outer;
            let mut f = Frame::new();
            f.p.outputs = vec![v];
            return f;
        }
        self.frames.push(Frame::new());
        let v = self.build(e);
        let mut f = self.frames.pop().expect("the side's frame");
        f.p.outputs = vec![v];
        f
    }

    /// `if cond { then } else { otherwise }`: a `Branch` whose sides take the values either
    /// reads; in the probe, both sides computed and the one taken selected.
    fn branch(&mut self, cond: ValueId, then: &Expr, otherwise: &Expr) -> ValueId {
        let (a, b) = (
            self.side(then, cond, true),
            self.side(otherwise, cond, false),
        );
        let kind = if self.probe {
            self.program().kind(a.p.outputs[0])
        } else {
            a.p.kind(a.p.outputs[0])
        };
        let (captured, then, otherwise) = if self.probe {
            // Select between the two values computed.
            let pick = |k: usize| {
                let mut p = Program::new();
                let x = p.param("a", kind);
                let y = p.param("b", kind);
                p.outputs = vec![[x, y][k]];
                p
            };
            (vec![a.p.outputs[0], b.p.outputs[0]], pick(0), pick(1))
        } else {
            let mut captured: Vec<ValueId> = a.captures.iter().map(|c| c.0).collect();
            for c in &b.captures {
                if !captured.contains(&c.0) {
                    captured.push(c.0);
                }
            }
            // Both sides take every value either reads.
            let names = self.program().value_names();
            let widen = |side: Frame| {
                let mut wide = Program::new();
                let params: Vec<ValueId> = captured
                    .iter()
                    .map(|&v| wide.param(&names[v.index()], self.frames.last().unwrap().p.kind(v)))
                    .collect();
                let args: Vec<ValueId> = side
                    .captures
                    .iter()
                    .map(|(o, _)| params[captured.iter().position(|c| c == o).expect("captured")])
                    .collect();
                wide.outputs = wide.inline(&side.p, &args);
                wide
            };
            (captured.clone(), widen(a), widen(b))
        };
        let branch = Branch {
            then: Box::new(then),
            otherwise: Box::new(otherwise),
        };
        let mut args = vec![cond];
        args.extend(captured);
        let at = self.raw(branch, &args);
        self.push(Project { index: 0, kind }, &[at])
    }

    /// `let mut x = init (, s = s_init); for i in start..start + trips { x = body (; s = step) }`,
    /// then `x` (`x + s`): a `Loop` whose body takes the index, the carried values and the
    /// values it reads from outside; in the probe, unrolled.
    fn looped(
        &mut self,
        start: u8,
        trips: u8,
        init: &Expr,
        body: &Expr,
        s: Option<(&Expr, &Expr)>,
    ) -> ValueId {
        let mut carried = vec![self.build(init)];
        if let Some((s_init, _)) = s {
            carried.push(self.build(s_init));
        }
        let kinds: Vec<Kind> = carried.iter().map(|&v| self.program().kind(v)).collect();
        let scope = self.env.len();
        let results = if self.probe {
            for i in start..start + trips {
                let index = self.index(i as usize);
                self.env.push(Ref { level: 0, v: index });
                for &v in &carried {
                    self.env.push(Ref { level: 0, v });
                }
                let mut next = vec![self.build(body)];
                if let Some((_, step)) = s {
                    next.push(self.build(step));
                }
                self.env.truncate(scope);
                carried = next;
            }
            carried
        } else {
            let (first, end) = (
                self.index(start as usize),
                self.index((start + trips) as usize),
            );
            self.frames.push(Frame::new());
            let level = self.frames.len() - 1;
            let index = self.program().param(&format!("i{level}"), Kind::Index);
            self.env.push(Ref { level, v: index });
            for (k, &kind) in kinds.iter().enumerate() {
                let v = self.program().param(&format!("c{level}_{k}"), kind);
                self.env.push(Ref { level, v });
            }
            let mut outputs = vec![self.build(body)];
            if let Some((_, step)) = s {
                outputs.push(self.build(step));
            }
            self.env.truncate(scope);
            let mut frame = self.frames.pop().expect("the body's frame");
            frame.p.outputs = outputs;
            let mut args = vec![first, end];
            args.extend(&carried);
            args.extend(frame.captures.iter().map(|c| c.0));
            let n = carried.len();
            let run = self.raw(Loop::new(frame.p, n), &args);
            kinds
                .iter()
                .enumerate()
                .map(|(index, &kind)| self.push(Project { index, kind }, &[run]))
                .collect()
        };
        if results.len() == 2 {
            self.push(Binary(BinOp::Add), &results)
        } else {
            results[0]
        }
    }

    fn build(&mut self, e: &Expr) -> ValueId {
        match e {
            Expr::Param(sh, slot) => {
                let v = self
                    .params
                    .iter()
                    .find(|(k, _)| *k == (*sh, *slot))
                    .expect("parameters are collected first")
                    .1;
                self.here(Ref { level: 0, v })
            }
            Expr::Lit(x) => self.lit(*x),
            Expr::Var(i) => self.here(self.env[*i]),
            Expr::Let(bound, body) => {
                let v = self.build(bound);
                let name = self.let_name();
                self.program().name_value(v, &name);
                let level = self.frames.len() - 1;
                self.env.push(Ref { level, v });
                let out = self.build(body);
                self.env.pop();
                out
            }
            Expr::Neg(x) => {
                let x = self.build(x);
                self.push(Neg, &[x])
            }
            Expr::Unary(f, x) => {
                let x = self.build(x);
                let arg = match f {
                    UnaryFn::Ln | UnaryFn::Sqrt | UnaryFn::Ln1p | UnaryFn::Recip => {
                        self.positive(x)
                    }
                    UnaryFn::Relu | UnaryFn::Abs => {
                        let shifted = self.shifted(x);
                        self.kink(shifted);
                        shifted
                    }
                    // Away from the poles at ±π/2.
                    UnaryFn::Tan => self.push(Unary(UnaryFn::Tanh), &[x]),
                    _ => x,
                };
                self.push(Unary(*f), &[arg])
            }
            Expr::Extremum(e, a, b) => {
                let (a, b) = (self.build(a), self.build(b));
                // The derivative switches where a − b changes sign.
                self.gap(a, b);
                self.push(Extremum(*e), &[a, b])
            }
            Expr::Powf(a, p) => {
                // A positive base (ln of it is the exponent's derivative) to a power in (−1, 1).
                let a = self.build(a);
                let base = self.positive(a);
                let p = self.build(p);
                let p = self.push(Unary(UnaryFn::Tanh), &[p]);
                self.push(Powf, &[base, p])
            }
            Expr::Clamp(x, s) => {
                let (x, s) = (self.build(x), self.build(s));
                let half = self.lit(0.5);
                let lo = self.push(Binary(BinOp::Sub), &[s, half]);
                let hi = self.push(Binary(BinOp::Add), &[s, half]);
                for bound in [lo, hi] {
                    self.gap(x, bound);
                }
                self.push(Clamp, &[x, lo, hi])
            }
            Expr::Powi(n, x) => {
                let x = self.build(x);
                let arg = if *n < 0 { self.positive(x) } else { x };
                self.push(Powi(*n), &[arg])
            }
            Expr::Binary(op, a, b) => {
                let a = self.build(a);
                let mut b = self.build(b);
                if *op == BinOp::Div {
                    b = self.positive(b);
                }
                self.push(Binary(*op), &[a, b])
            }
            Expr::MatMul(ta, tb, a, b) => {
                let a = self.build(a);
                let b = self.build(b);
                self.push(MatMul { ta: *ta, tb: *tb }, &[a, b])
            }
            Expr::MatVec(ta, a, v) => {
                let a = self.build(a);
                let v = self.build(v);
                self.push(MatMul { ta: *ta, tb: false }, &[a, v])
            }
            Expr::Transpose(x) => {
                let x = self.build(x);
                self.push(Transpose, &[x])
            }
            Expr::Outer(a, b) => {
                let a = self.build(a);
                let b = self.build(b);
                self.push(Outer, &[a, b])
            }
            Expr::Dot(a, b) => {
                let a = self.build(a);
                let b = self.build(b);
                self.push(Dot, &[a, b])
            }
            Expr::Sum(x) => {
                let x = self.build(x);
                self.push(Sum, &[x])
            }
            Expr::Mean(x) => {
                let x = self.build(x);
                self.push(Mean, &[x])
            }
            Expr::SumAxis(axis, x) => {
                let x = self.build(x);
                self.push(SumAxis(*axis), &[x])
            }
            Expr::Softmax(x) => {
                let x = self.build(x);
                self.push(Softmax, &[x])
            }
            Expr::LogSoftmax(x) => {
                let x = self.build(x);
                self.push(LogSoftmax, &[x])
            }
            Expr::Index(i) => {
                let i = self.here(self.env[*i]);
                self.push(ToFloat, &[i])
            }
            Expr::Entry(i, v) => {
                let v = self.build(v);
                let i = self.here(self.env[*i]);
                let len = self.raw(Extent::Len, &[v]);
                let at = self.raw(IndexArith(IntOp::Rem), &[i, len]);
                self.push(Read(Region::Entry), &[v, at])
            }
            Expr::Loop(start, trips, init, body) => self.looped(*start, *trips, init, body, None),
            Expr::Loop2(start, trips, init, s_init, body, step) => {
                self.looped(*start, *trips, init, body, Some((s_init, step)))
            }
            Expr::If(less, a, b, then, otherwise) => {
                let (a, b) = (self.build(a), self.build(b));
                if self.probe {
                    // The side taken switches where a − b changes sign.
                    let gap = self.push(Binary(BinOp::Sub), &[a, b]);
                    self.kink(gap);
                }
                let op = if *less { CmpOp::Lt } else { CmpOp::Gt };
                let cond = self.raw(Compare(op), &[a, b]);
                self.branch(cond, then, otherwise)
            }
            Expr::IfIndex(even, i, then, otherwise) => {
                let mut i = self.here(self.env[*i]);
                if *even {
                    let two = self.index(2);
                    i = self.raw(IndexArith(IntOp::Rem), &[i, two]);
                }
                let zero = self.index(0);
                let cond = self.raw(Compare(CmpOp::Eq), &[i, zero]);
                self.branch(cond, then, otherwise)
            }
            Expr::Pick(k, l, x) => {
                let x = self.build(x);
                if self.program().kind(x) == Kind::Vector {
                    let i = self.modulo(*k, Extent::Len, x, 0);
                    self.push(Read(Region::Entry), &[x, i])
                } else {
                    let i = self.modulo(*k, Extent::Rows, x, 0);
                    let j = self.modulo(*l, Extent::Cols, x, 0);
                    self.push(Read(Region::Element), &[x, i, j])
                }
            }
            Expr::Line(col, k, m) => {
                let m = self.build(m);
                let (extent, region) = if *col {
                    (Extent::Cols, Region::Col)
                } else {
                    (Extent::Rows, Region::Row)
                };
                let i = self.modulo(*k, extent, m, 0);
                self.push(Read(region), &[m, i])
            }
            Expr::Part(cols, k, x) => {
                let x = self.build(x);
                let (extent, region) = match (self.program().kind(x), cols) {
                    (Kind::Vector, _) => (Extent::Len, Region::Segment),
                    (_, true) => (Extent::Cols, Region::Cols),
                    (_, false) => (Extent::Rows, Region::Rows),
                };
                let start = self.modulo(*k, extent, x, 0);
                let one = self.index(1);
                let end = self.raw(IndexArith(IntOp::Add), &[start, one]);
                self.push(Read(region), &[x, start, end])
            }
            Expr::Window(join, flip, k, a, b) => {
                let (a, b) = (self.build(a), self.build(b));
                self.window(*join, *flip, *k, a, b)
            }
            Expr::Pack(flip, k, a, scalars) => {
                let a = self.build(a);
                let entries: Vec<ValueId> = scalars.iter().map(|s| self.build(s)).collect();
                let v = self.push(VectorOf, &entries);
                self.window(Join::Concat, *flip, *k, a, v)
            }
            Expr::Gather(r, c, seed, m) => {
                let m = self.build(m);
                let (rows, cols) = (r.size(&self.sizes), c.size(&self.sizes));
                let labels = (0..rows).map(|i| label(*seed, i, cols)).collect();
                let labels = self.raw(IndexList(labels), &[]);
                self.push(Read(Region::Gathered), &[m, labels])
            }
            Expr::MeanAxis(axis, x) => {
                let x = self.build(x);
                self.push(MeanAxis(*axis), &[x])
            }
            Expr::Top(max, x) => {
                let x = self.build(x);
                let top = self.push(ExtremeEntry { max: *max }, &[x]);
                if self.probe {
                    // x − max(x) or min(x) − x: ≤ 0, and 0 at the extreme entry.
                    let (a, b) = if *max { (x, top) } else { (top, x) };
                    let below = self.push(Binary(BinOp::Sub), &[a, b]);
                    let m = self.masked(below);
                    self.extremes.push(m);
                }
                top
            }
            Expr::Trace(x) => {
                let x = self.build(x);
                self.push(Trace, &[x])
            }
            Expr::Square(op, neg, x, d) => {
                let a = self.conditioned(*neg, x, d);
                match op {
                    LinOp::Det => self.push(Det, &[a]),
                    LinOp::LogDet => self.push(LogDet, &[a]),
                    LinOp::Inverse => self.push(Inverse, &[a]),
                }
            }
            Expr::Solve(neg, x, d, b) => {
                let a = self.conditioned(*neg, x, d);
                let b = self.build(b);
                self.push(Solve::PLAIN, &[a, b])
            }
            Expr::Norm(x) => {
                let x = self.build(x);
                let norm = self.push(Norm, &[x]);
                // Not differentiable at 0 (and steep near it).
                self.kink(norm);
                norm
            }
            Expr::Diag(v) => {
                let v = self.build(v);
                self.push(DiagMatrix, &[v])
            }
            Expr::Diagonal(m) => {
                let m = self.build(m);
                self.push(Diagonal, &[m])
            }
        }
    }

    /// `(k + plus) % extent(x)`: an index in range.
    fn modulo(&mut self, k: u8, extent: Extent, x: ValueId, plus: usize) -> ValueId {
        let k = self.index(k as usize);
        let n = self.raw(extent, &[x]);
        let n = if plus > 0 {
            let plus = self.index(plus);
            self.raw(IndexArith(IntOp::Add), &[n, plus])
        } else {
            n
        };
        self.raw(IndexArith(IntOp::Rem), &[k, n])
    }

    /// A window as long as `a` into `a` joined with `b` (`b` first if `flip`), from
    /// `k % (extent(b) + 1)`.
    fn window(&mut self, join: Join, flip: bool, k: u8, a: ValueId, b: ValueId) -> ValueId {
        let (extent, region) = match join {
            Join::Concat => (Extent::Len, Region::Segment),
            Join::Rows => (Extent::Rows, Region::Rows),
            Join::Cols => (Extent::Cols, Region::Cols),
        };
        let pair = if flip { [b, a] } else { [a, b] };
        let joined = match join {
            Join::Concat => self.push(Concat, &pair),
            Join::Rows => self.push(Stack::Vertical, &pair),
            Join::Cols => self.push(Stack::Horizontal, &pair),
        };
        let start = self.modulo(k, extent, b, 1);
        let len = self.raw(extent, &[a]);
        let end = self.raw(IndexArith(IntOp::Add), &[start, len]);
        self.push(Read(region), &[joined, start, end])
    }

    /// `±(diag(1 + tanh(d)/4) + tanh(x)/(2n))` of an n×n `x` and a vector `d` of n: strictly
    /// diagonally dominant by 1/4 at least (the off-diagonal entries of a row sum to less than
    /// 1/2), so its inverse has entries of at most 4 (∞-norm), its determinant is at most
    /// 1.75ⁿ in size and away from 0, and its eigenvalues have positive real parts (negated:
    /// negative, a negative determinant for odd n).
    fn conditioned(&mut self, neg: bool, x: &Expr, d: &Expr) -> ValueId {
        let (x, d) = (self.build(x), self.build(d));
        let td = self.push(Unary(UnaryFn::Tanh), &[d]);
        let quarter = self.lit(0.25);
        let scaled = self.push(Binary(BinOp::Mul), &[quarter, td]);
        let one = self.lit(1.0);
        let w = self.push(Binary(BinOp::Add), &[one, scaled]);
        let diagonal = self.push(DiagMatrix, &[w]);
        let tx = self.push(Unary(UnaryFn::Tanh), &[x]);
        let n = self.raw(Extent::Rows, &[x]);
        let n = self.push(ToFloat, &[n]);
        let two = self.lit(2.0);
        let twice = self.push(Binary(BinOp::Mul), &[two, n]);
        let off = self.push(Binary(BinOp::Div), &[tx, twice]);
        let a = self.push(Binary(BinOp::Add), &[diagonal, off]);
        if neg {
            self.push(Neg, &[a])
        } else {
            a
        }
    }
}

/// `p` with only the instructions its outputs need (and its parameters): the same values,
/// computed the same way, faster to evaluate.
pub fn without_dead_code(p: &Program) -> Program {
    let mut live = vec![false; p.insts.len()];
    for o in &p.outputs {
        live[o.index()] = true;
    }
    for v in (0..p.insts.len()).rev() {
        if live[v] {
            for a in &p.insts[v].args {
                live[a.index()] = true;
            }
        }
    }
    let mut out = p.clone();
    out.insts.clear();
    let mut map = vec![None; p.insts.len()];
    for (v, inst) in p.insts.iter().enumerate() {
        if live[v] || matches!(inst.op, Op::Param(_) | Op::ConstantRef(_)) {
            let mut copy = inst.clone();
            copy.args = inst
                .args
                .iter()
                .map(|a| map[a.index()].expect("an operand comes first"))
                .collect();
            map[v] = Some(out.push_inst(copy));
        }
    }
    out.outputs = p
        .outputs
        .iter()
        .map(|o| map[o.index()].expect("live"))
        .collect();
    out
}

/// A case's program and the concrete shapes of its parameters.
pub struct Built {
    pub program: Program,
    pub shapes: Vec<(usize, usize)>,
    pub kinds: Vec<Kind>,
    /// The same computation with loops unrolled and both sides of every branch computed, the
    /// side not taken masked (its values replaced by ones), returning the result, then the
    /// [`Built::watched`] intermediate values of every iteration, then the values whose sign
    /// switches a derivative: the inputs of `relu` and `abs`, `a − b` for `maximum(a, b)`, `x −
    /// lo` and `x − hi` for `clamp`, `a − b` for `if a > b`. Finite differences must not move
    /// the latter across zero, and the former must stay moderate. Then, for every `max()`
    /// (`min()`) taken, `x − max(x)` (`min(x) − x`), all ones where the side of a branch it is
    /// on is not taken: its entries are ≤ 0, 0 at the extreme entry, and the next largest must
    /// stay clear of it, the extreme at the same entry.
    pub probe: Program,
    pub watched: usize,
    /// The number of values whose sign switches a derivative, after the watched ones.
    pub kinks: usize,
}

impl Case {
    pub fn build(&self) -> Built {
        let mut keys = Vec::new();
        self.tree.params(&mut keys);
        let control = self.tree.has_control();
        let run = |probe: bool| {
            let mut b = Builder {
                frames: vec![Frame::new()],
                params: Vec::new(),
                env: Vec::new(),
                probe,
                control,
                guard: None,
                watched: Vec::new(),
                kinks: Vec::new(),
                extremes: Vec::new(),
                sizes: self.sizes,
            };
            for &key in &keys {
                let v = b.program().param(&param_name(key), key.0.kind());
                b.params.push((key, v));
                if probe {
                    b.watched.push(v);
                }
            }
            let out = b.build(&self.tree);
            let mut p = b.frames.pop().expect("the function's frame").p;
            p.outputs = vec![out];
            if probe {
                p.outputs.extend(&b.watched);
                p.outputs.extend(&b.kinks);
                p.outputs.extend(&b.extremes);
            }
            (p, b.watched.len(), b.kinks.len())
        };
        let (program, ..) = run(false);
        let (probe, watched, kinks) = run(true);
        Built {
            program,
            shapes: keys.iter().map(|k| k.0.concrete(&self.sizes)).collect(),
            kinds: keys.iter().map(|k| k.0.kind()).collect(),
            probe,
            watched,
            kinks,
        }
    }

    /// The parameters selected by the mask among those `eligible` (all eligible ones when the
    /// mask selects none of them).
    pub fn wrt(&self, built: &Built, eligible: impl Fn(Kind) -> bool) -> Vec<usize> {
        let candidates: Vec<usize> = (0..built.kinds.len())
            .filter(|&i| eligible(built.kinds[i]))
            .collect();
        let chosen: Vec<usize> = candidates
            .iter()
            .copied()
            .filter(|&i| self.wrt_mask & (1 << (i % 8)) != 0)
            .collect();
        if chosen.is_empty() {
            candidates
        } else {
            chosen
        }
    }
}

impl fmt::Debug for Case {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let built = self.build();
        let [a, b, c] = self.sizes;
        writeln!(
            f,
            "Case {{ a = {a}, b = {b}, c = {c}, wrt mask {:#010b}, seed {:#x}",
            self.wrt_mask, self.seed
        )?;
        writeln!(f, "  tree: {:?}", self.tree)?;
        let params: Vec<String> = built
            .program
            .params
            .iter()
            .zip(&built.shapes)
            .map(|(p, (r, c))| match p.kind {
                Kind::Scalar => format!("{}: scalar", p.name),
                Kind::Vector => format!("{}: vector of {r}", p.name),
                Kind::Matrix => format!("{}: {r}×{c}", p.name),
                other => format!("{}: {other}", p.name),
            })
            .collect();
        writeln!(f, "  parameters: {}", params.join(", "))?;
        let listing = print::print_lines(&built.program, Role::Primal, &[]);
        writeln!(f, "  program:\n    {}", listing.replace('\n', "\n    "))?;
        write!(
            f,
            "  returns: {}\n}}",
            built.program.value_names()[built.program.outputs[0].index()]
        )
    }
}
