//! Property tests of the symbolic engine (proptest).
//!
//! Random well-shaped programs over the whole op set of the user language are generated as a
//! typed expression tree ([`Expr`]) and then *converted* to an IR [`Program`], so that shrinking
//! works on the tree ([`CaseTree`]): a failing program is shrunk by replacing it with a part of
//! itself, hoisting same-shaped subtrees, dropping unused `let`s, replacing nodes by parameters
//! and shrinking the sizes, down to a minimal program (`softmax(m)` for a bug in matrix softmax,
//! checked by hand). Every node is generated for a fixed *symbolic* shape (scalar, vector of
//! `a`, `a×1`, `1×b`, `b×a`, ...), and the sizes of the three symbolic dimensions `a`, `b`, `c`
//! (1 to 6) are drawn separately, so every tree is well shaped for any sizes and every shrink
//! step keeps it well shaped.
//!
//! The trees cover `+ − ⊙ /` (tensor ⊕ tensor, scalar ⊕ tensor on either side, matrix
//! broadcasting of `1×c` rows and `r×1` columns on either side, and `r×1 ⊕ 1×c`), unary `−`,
//! every elementwise function (`exp ln sqrt tanh sigmoid relu abs sin cos`), `powi`, matrix
//! products (M·M and M·v with either operand transposed), transpose, outer and dot products,
//! `sum`, `mean`, `sum_axis` (0 and 1), `softmax` and `log_softmax`; depth up to 8, dimensions up
//! to 6. Values are used more than once: `let` nodes bind a value that the body refers to
//! (possibly many times), and parameters appear as many leaves.
//!
//! Inputs are kept in safe domains by construction (`ln`, `sqrt`, negative powers and divisors
//! get `x ⊙ x + 0.5`; `relu`/`abs` get `x + 0.29`) and by redrawing: every intermediate value
//! must be finite and at most [`MAGNITUDE`] in size, every `relu`/`abs` input at least
//! [`KINK_MARGIN`] from its kink, and no stencil point may move a `relu`/`abs` input across its
//! kink (such cases are rejected, not failed).
//!
//! The properties (case counts in `CASES_*`, together 7,000 per run):
//! 1. reverse: `derive_reverse(..).vjp` at a random upstream `u` equals the five-point central
//!    difference of `⟨u, f(x)⟩`, element by element, for every wrt parameter;
//! 2. forward: `derive_forward` equals the directional five-point difference, and the
//!    dot-product test `⟨J·v, u⟩ = ⟨v, Jᵀ·u⟩` holds to 1e-12;
//! 3. Jacobian: `derive_jacobian`, when it returns programs, equals the matrix built column by
//!    column from forward mode;
//! 4. Hessian: `derive_hvp` equals differences of the gradient along the direction, and
//!    `derive_hessian`, when it returns programs, is symmetric and equals the HVP columns (to
//!    1e-10);
//! 5. simplifier: `simplify` keeps the primal outputs bit for bit and the derived programs'
//!    outputs to 1e-12 (returned values bit for bit), and is idempotent.
//!
//! A failure reports the shrunk case: the sizes, the tree and the program's listing. Set
//! `PROPTEST_CASES` to run more cases per property (e.g. for a soak run) and `PROPTEST_RNG_SEED`
//! to replay a run.
// The interpreter and the tensors it runs on are the runtime feature.
#![cfg(feature = "runtime")]

use std::cell::Cell;
use std::fmt;

use autodiff_core::symbolic::rules::arith::{BinOp, Binary, Literal, Neg};
use autodiff_core::symbolic::rules::elementwise::{Powi, Unary, UnaryFn};
use autodiff_core::symbolic::rules::linalg::{Dot, MatMul, Outer, Transpose};
use autodiff_core::symbolic::rules::reduce::{Mean, Sum, SumAxis};
use autodiff_core::symbolic::rules::softmax::{LogSoftmax, Softmax};
use autodiff_core::symbolic::{
    derive_forward, derive_hessian, derive_hvp, derive_jacobian, derive_reverse, eval, forward,
    print, reverse, simplify, Kind, Op, Program, Role, Seed, Value, ValueId,
};
use autodiff_core::{Matrix, Vector};
use proptest::prelude::*;
use proptest::sample::select;
use proptest::strategy::{Union, ValueTree};
use proptest::test_runner::{Config, TestCaseError, TestRunner};

// ═════════════════════════════════════════════════════════════════════════════════════════════
// Tolerances and limits
// ═════════════════════════════════════════════════════════════════════════════════════════════

/// Step of the central five-point stencil `(−f(x+2h) + 8f(x+h) − 8f(x−h) + f(x−2h)) / 12h`.
/// Its truncation error is `h⁴·f⁽⁵⁾/30 ≈ 3e-14·f⁽⁵⁾`; its rounding error is the f64 noise of the
/// four evaluations times `(1 + 8 + 8 + 1)/12h`, about `1.5·κ·ε·|f|/h ≈ 3.3e-13·κ·|f|` where κ
/// is the condition of the evaluation (the ratio of the largest intermediate term to `|f|`,
/// bounded here by [`MAGNITUDE`]). At `h = 1e-3` both are far below [`TOL_FD`] for all but a
/// few programs (measured over 150,000 cases of each property: 58 reverse, 32 forward and 35
/// Hessian checks out of 450,000 exceeded it, all steep compositions, all of which agreed at a
/// smaller step); a check that fails at `h` is retried at smaller steps ([`FD_REFINEMENTS`]).
const FD_STEP: f64 = 1e-3;

/// How many steps are tried, `FD_STEP`, `FD_STEP/4`, `FD_STEP/16` and `FD_STEP/64`, while the
/// stencil disagrees with the derivative. A composition with a steep inner function (slope
/// `s`) has `f⁽⁵⁾ ~ s⁵`, so the truncation error at `h = 1e-3` can exceed the tolerance
/// (measured: up to 0.14 on `sin(exp(sin(…)))`-like programs); each refinement divides the
/// truncation error by 256 and multiplies the rounding error, still ≤ 2e-11·κ·|f| at the
/// smallest step, by 4. A wrong derivative disagrees at every step.
const FD_REFINEMENTS: usize = 4;

/// Derived program vs five-point differences, relative to the largest entry of the reference
/// (floored, see [`FD_FLOOR`]). With inputs in (−1, 1), intermediate values bounded by
/// [`MAGNITUDE`] and the refinements, the stencil errors stay below ~1e-7 relative (worst
/// accepted error over 150,000 cases of each property: 9.96e-7 reverse, 9.39e-7 forward,
/// 9.62e-7 Hessian-vector products, most cases ≤ 1e-8), while a wrong rule is off by O(1)
/// relative; 1e-6 separates the two by orders of magnitude either way.
const TOL_FD: f64 = 1e-6;

/// The reference of a derivative that is zero (an unused parameter, the shift invariance of
/// softmax) is pure rounding noise, about `3.3e-13·κ·size` with `size` the magnitude of the
/// differenced function; errors are therefore measured against `max(‖ref‖∞, FD_FLOOR·size)`,
/// i.e. absolute errors below `TOL_FD·FD_FLOOR·size = 1e-11·size` count as agreement.
const FD_FLOOR: f64 = 1e-5;

/// Two evaluations of the same exact quantity that differ only in rounding: the dot-product
/// test, Jacobian columns by batched vs per-direction forward mode, and simplified vs
/// unsimplified derived programs. Each side is a sum of products of
/// O(size) terms with rounding ≈ n·ε per term (n ≤ ~50 ops along a chain), so errors are
/// ≲ 1e-14 relative to the size of the terms (measured worst over 150,000 cases of each
/// property: 3.4e-14 dot-product test, 1.9e-14 Jacobians, 6.2e-16 simplifier); 1e-12 leaves a
/// margin of 30 or more, and an O(1) bug cannot hide below it. Errors are relative to `max(‖ref‖∞, 1)` (the terms are O(1): inputs
/// and directions are in (−1, 1), intermediate values bounded), or for the dot-product test to
/// the sum of the absolute values of the terms.
const TOL_EXACT: f64 = 1e-12;

/// The same for second derivatives: the batched Hessian's blocks against HVP columns, and
/// against each other's transposes (symmetry). Second-order chains have about twice the ops
/// and multiply more of the bounded-by-[`MAGNITUDE`] intermediate values, so the rounding
/// differences are larger: measured worst 3.7e-13 over 200,000 cases. 1e-10 leaves a margin of
/// 270 and is still ten orders of magnitude below an O(1) error.
const TOL_SECOND: f64 = 1e-10;

/// Largest magnitude allowed for any intermediate value of a primal program at the drawn
/// inputs (else the inputs are redrawn): keeps the condition κ of the stencils bounded, and
/// `exp` of `exp` from overflowing.
const MAGNITUDE: f64 = 50.0;

/// Inputs are redrawn until every `relu`/`abs` input is at least this far from 0; in addition
/// a case is rejected if any stencil point moves such an input across 0.
const KINK_MARGIN: f64 = 0.02;

/// Maximum depth of a tree (a leaf has depth 0).
const MAX_DEPTH: u32 = 8;

/// Largest size of a symbolic dimension.
const MAX_DIM: usize = 6;

/// Cases per property: 7,000 together, about 3 ms each in a debug build, so the target runs in
/// 10–20 s on two cores (measured 9.5 s and 17.8 s of test time). Run with `--nocapture` to see the worst errors,
/// the number of cases rejected (inputs not drawable within the limits, under 1%), and how
/// many programs have no batched Jacobian or Hessian.
const CASES_REVERSE: u32 = 1500;
const CASES_FORWARD: u32 = 1500;
const CASES_JACOBIAN: u32 = 1000;
const CASES_HESSIAN: u32 = 1000;
const CASES_SIMPLIFY: u32 = 1000;

// ═════════════════════════════════════════════════════════════════════════════════════════════
// Shapes and trees
// ═════════════════════════════════════════════════════════════════════════════════════════════

/// A symbolic dimension: 1, or one of the three sizes `a`, `b`, `c` drawn per case.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Dim {
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

/// A symbolic shape.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Sh {
    S,
    V(Dim),
    M(Dim, Dim),
}

impl Sh {
    fn kind(self) -> Kind {
        match self {
            Sh::S => Kind::Scalar,
            Sh::V(_) => Kind::Vector,
            Sh::M(..) => Kind::Matrix,
        }
    }

    /// (rows, cols) of the concrete shape; a vector is a column, a scalar 1×1.
    fn concrete(self, sizes: &[usize; 3]) -> (usize, usize) {
        match self {
            Sh::S => (1, 1),
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
    }
}

/// A program as a tree; every node was generated for a fixed symbolic shape.
#[derive(Clone, PartialEq)]
enum Expr {
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
        }
    }

    /// The parameters read, in order of first appearance.
    fn params(&self, out: &mut Vec<ParamKey>) {
        match self {
            Expr::Param(sh, slot) => {
                if !out.contains(&(*sh, *slot)) {
                    out.push((*sh, *slot));
                }
            }
            Expr::Lit(_) | Expr::Var(_) => {}
            Expr::Neg(x)
            | Expr::Unary(_, x)
            | Expr::Powi(_, x)
            | Expr::Transpose(x)
            | Expr::Sum(x)
            | Expr::Mean(x)
            | Expr::SumAxis(_, x)
            | Expr::Softmax(x)
            | Expr::LogSoftmax(x) => x.params(out),
            Expr::Let(a, b)
            | Expr::Binary(_, a, b)
            | Expr::MatMul(_, _, a, b)
            | Expr::MatVec(_, a, b)
            | Expr::Outer(a, b)
            | Expr::Dot(a, b) => {
                a.params(out);
                b.params(out);
            }
        }
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

/// Trees of shape `sh` and depth at most `depth`, in the scope of `let`s binding `env`.
/// Alternatives are listed simplest first (leaves, then shape-preserving ops), as a union
/// shrinks towards its earlier alternatives.
fn expr(sh: Sh, env: Vec<Sh>, depth: u32) -> BoxedStrategy<Expr> {
    let mut alts: Vec<(u32, BoxedStrategy<Expr>)> = Vec::new();
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
    if depth == 0 {
        return Union::new_weighted(alts).boxed();
    }
    // No leaf at the root and fewer just below it, so every program has a few levels of ops.
    let leaf_scale = match MAX_DEPTH - depth {
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
        move |s: Sh| expr(s, env.clone(), d)
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
                        (expr(bs, env.clone(), d), expr(sh, inner, d))
                    })
                    .prop_map(|(b, body)| Expr::Let(Box::new(b), Box::new(body)))
                    .boxed()
            }),
        );
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
    }
    Union::new_weighted(alts).boxed()
}

/// One test case: a tree, the sizes of `a`, `b`, `c`, which parameters to differentiate with
/// respect to (bit i of `wrt_mask` for parameter i; none set means all), and the seed of the
/// inputs, directions and upstream gradients (not shrunk).
#[derive(Clone)]
struct Case {
    tree: Expr,
    sizes: [usize; 3],
    wrt_mask: u8,
    seed: u64,
}

/// Cases whose tree is drawn from [`expr`] with a root of one of the shapes `roots`, shrunk by
/// [`CaseTree`].
fn cases(roots: &'static [Sh]) -> CaseStrategy {
    let kinds: Vec<Kind> = roots.iter().map(|r| r.kind()).collect();
    CaseStrategy(
        kinds,
        (
            proptest::array::uniform3(1usize..=MAX_DIM),
            any::<u8>(),
            select(roots).prop_flat_map(|sh| expr(sh, Vec::new(), MAX_DEPTH)),
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
struct CaseStrategy(Vec<Kind>, BoxedStrategy<Case>);

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
struct CaseTree {
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

/// The children of a node, with whether each is inside the scope of the node's `let`.
fn children(e: &Expr) -> Vec<(&Expr, bool)> {
    match e {
        Expr::Param(..) | Expr::Lit(_) | Expr::Var(_) => vec![],
        Expr::Neg(x)
        | Expr::Unary(_, x)
        | Expr::Powi(_, x)
        | Expr::Transpose(x)
        | Expr::Sum(x)
        | Expr::Mean(x)
        | Expr::SumAxis(_, x)
        | Expr::Softmax(x)
        | Expr::LogSoftmax(x) => vec![(x, false)],
        Expr::Let(a, b) => vec![(a, false), (b, true)],
        Expr::Binary(_, a, b)
        | Expr::MatMul(_, _, a, b)
        | Expr::MatVec(_, a, b)
        | Expr::Outer(a, b)
        | Expr::Dot(a, b) => vec![(a, false), (b, false)],
    }
}

/// `e` with child `k` replaced.
fn with_child(e: &Expr, k: usize, new: Expr) -> Expr {
    let mut e = e.clone();
    let slot: &mut Box<Expr> = match (&mut e, k) {
        (
            Expr::Neg(x)
            | Expr::Unary(_, x)
            | Expr::Powi(_, x)
            | Expr::Transpose(x)
            | Expr::Sum(x)
            | Expr::Mean(x)
            | Expr::SumAxis(_, x)
            | Expr::Softmax(x)
            | Expr::LogSoftmax(x),
            0,
        ) => x,
        (
            Expr::Let(a, _)
            | Expr::Binary(_, a, _)
            | Expr::MatMul(_, _, a, _)
            | Expr::MatVec(_, a, _)
            | Expr::Outer(a, _)
            | Expr::Dot(a, _),
            0,
        ) => a,
        (
            Expr::Let(_, b)
            | Expr::Binary(_, _, b)
            | Expr::MatMul(_, _, _, b)
            | Expr::MatVec(_, _, b)
            | Expr::Outer(_, b)
            | Expr::Dot(_, b),
            1,
        ) => b,
        _ => unreachable!("no child {k}"),
    };
    **slot = new;
    e
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
        Expr::Lit(_) | Expr::Dot(..) | Expr::Sum(_) | Expr::Mean(_) => Sh::S,
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
        | Expr::LogSoftmax(x) => shape(x, env),
        Expr::Binary(_, a, b) => match (shape(a, env), shape(b, env)) {
            (Sh::S, s) | (s, Sh::S) => s,
            (Sh::M(r1, c1), Sh::M(r2, c2)) => Sh::M(
                if r1 == Dim::One { r2 } else { r1 },
                if c1 == Dim::One { c2 } else { c1 },
            ),
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

/// Whether `e` refers to a `let` numbered in `lo..hi`.
fn uses(e: &Expr, lo: usize, hi: usize) -> bool {
    match e {
        Expr::Var(i) => (lo..hi).contains(i),
        _ => children(e).iter().any(|(c, _)| uses(c, lo, hi)),
    }
}

/// `e` with every reference to a `let` numbered `from` or more renumbered `delta` lower.
fn lower(e: &Expr, from: usize, delta: usize) -> Expr {
    match e {
        Expr::Var(i) if *i >= from => Expr::Var(i - delta),
        _ => {
            let mut out = e.clone();
            for (k, (c, _)) in children(e).into_iter().enumerate() {
                out = with_child(&out, k, lower(c, from, delta));
            }
            out
        }
    }
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
    let bound = match e {
        Expr::Let(b, _) => Some(shape(b, env)),
        _ => None,
    };
    for (k, (c, scoped)) in children(e).into_iter().enumerate() {
        path.push(k);
        if scoped {
            env.push(bound.expect("a let"));
        }
        nodes(c, path, env, out);
        if scoped {
            env.pop();
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
/// (hoisting), drop a `let` whose value is not used, replace a node
/// by a parameter of its shape, merge parameters, shrink the sizes, differentiate with respect
/// to every parameter.
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
        if let Expr::Let(_, body) = node {
            if !uses(body, *scope, scope + 1) {
                all.push(with_tree(replace_at(
                    &case.tree,
                    path,
                    lower(body, scope + 1, 1),
                )));
            }
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

const ANY_ROOT: &[Sh] = &[
    Sh::S,
    Sh::V(Dim::A),
    Sh::M(Dim::A, Dim::B),
    Sh::M(Dim::One, Dim::A),
    Sh::M(Dim::A, Dim::One),
];
const VECTOR_OR_SCALAR_ROOT: &[Sh] = &[Sh::S, Sh::V(Dim::A)];
const SCALAR_ROOT: &[Sh] = &[Sh::S];

// ═════════════════════════════════════════════════════════════════════════════════════════════
// Tree → program
// ═════════════════════════════════════════════════════════════════════════════════════════════

struct Builder {
    p: Program,
    params: Vec<(ParamKey, ValueId)>,
    env: Vec<ValueId>,
}

impl Builder {
    fn push(&mut self, op: impl Into<Op>, args: &[ValueId]) -> ValueId {
        let op = op.into();
        match self.p.push(op.clone(), args) {
            Ok(v) => v,
            Err(e) => panic!("the generator built an ill-kinded program: {op:?} on {args:?}: {e}"),
        }
    }

    /// The name of the next `let`: `l0`, `l1`, ... or, every other time, a name like one the
    /// engine or the macro makes (an adjoint `d{p}`, a temporary `t1`, the upstream `dout`, a
    /// helper `{v}_view`/`{v}_dims`/`{v}_pullback`), which must not make two values print alike.
    fn let_name(&self) -> String {
        let n = self.env.len();
        let param = self.p.params.first().map_or("x", |p| p.name.as_str());
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

    fn build(&mut self, e: &Expr) -> ValueId {
        match e {
            Expr::Param(sh, slot) => {
                self.params
                    .iter()
                    .find(|(k, _)| *k == (*sh, *slot))
                    .expect("parameters are collected first")
                    .1
            }
            Expr::Lit(x) => self.lit(*x),
            Expr::Var(i) => self.env[*i],
            Expr::Let(bound, body) => {
                let v = self.build(bound);
                let name = self.let_name();
                self.p.name_value(v, &name);
                self.env.push(v);
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
                    UnaryFn::Relu | UnaryFn::Abs => self.shifted(x),
                    // Away from the poles at ±π/2.
                    UnaryFn::Tan => self.push(Unary(UnaryFn::Tanh), &[x]),
                    _ => x,
                };
                self.push(Unary(*f), &[arg])
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
        }
    }
}

/// A case's program and the concrete shapes of its parameters.
struct Built {
    program: Program,
    shapes: Vec<(usize, usize)>,
    kinds: Vec<Kind>,
}

impl Case {
    fn build(&self) -> Built {
        let mut keys = Vec::new();
        self.tree.params(&mut keys);
        let mut b = Builder {
            p: Program::new(),
            params: Vec::new(),
            env: Vec::new(),
        };
        for &key in &keys {
            let v = b.p.param(&param_name(key), key.0.kind());
            b.params.push((key, v));
        }
        let out = b.build(&self.tree);
        b.p.outputs = vec![out];
        Built {
            program: b.p,
            shapes: keys.iter().map(|k| k.0.concrete(&self.sizes)).collect(),
            kinds: keys.iter().map(|k| k.0.kind()).collect(),
        }
    }

    /// The parameters selected by the mask among those `eligible` (all eligible ones when the
    /// mask selects none of them).
    fn wrt(&self, built: &Built, eligible: impl Fn(Kind) -> bool) -> Vec<usize> {
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

// ═════════════════════════════════════════════════════════════════════════════════════════════
// Inputs
// ═════════════════════════════════════════════════════════════════════════════════════════════

/// SplitMix64.
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in (−1, 1).
    fn unit(&mut self) -> f64 {
        let u = (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
        2.0 * u - 1.0
    }

    fn value(&mut self, kind: Kind, (r, c): (usize, usize)) -> Value<f64> {
        match kind {
            Kind::Scalar => Value::Scalar(self.unit()),
            Kind::Vector => Value::Vector(Vector::from_vec((0..r).map(|_| self.unit()).collect())),
            Kind::Matrix => Value::Matrix(Matrix::from_vec(
                r,
                c,
                (0..r * c).map(|_| self.unit()).collect(),
            )),
        }
    }

    fn like(&mut self, v: &Value<f64>) -> Value<f64> {
        v.map(|_| 0.0)
            .with_data((0..v.numel()).map(|_| self.unit()).collect())
    }
}

/// The primal program with extra outputs: the result, then every `relu`/`abs` input.
struct Probe {
    program: Program,
}

impl Probe {
    fn new(primal: &Program) -> Probe {
        let mut program = primal.clone();
        for inst in &primal.insts {
            if matches!(inst.op, Op::Unary(Unary(UnaryFn::Relu | UnaryFn::Abs))) {
                program.outputs.push(inst.args[0]);
            }
        }
        Probe { program }
    }

    /// The result and the signs of the kink inputs.
    fn eval(&self, inputs: &[Value<f64>]) -> (Value<f64>, Vec<bool>) {
        let mut outs = eval(&self.program, inputs);
        let signs = outs[1..]
            .iter()
            .flat_map(|v| v.to_vec())
            .map(|x| x > 0.0)
            .collect();
        (outs.swap_remove(0), signs)
    }
}

/// A stencil point moved a `relu`/`abs` input across its kink: the case is rejected.
fn crossed() -> TestCaseError {
    TestCaseError::reject("a stencil point crosses a relu/abs kink")
}

/// Everything a property needs at one point.
struct Point {
    built: Built,
    probe: Probe,
    inputs: Vec<Value<f64>>,
    value: Value<f64>,
    signs: Vec<bool>,
    rng: Rng,
}

/// Draws inputs in U(−1, 1) until every intermediate value is finite and at most
/// [`MAGNITUDE`], and every kink input is [`KINK_MARGIN`] clear; rejects the case if 20 draws
/// fail.
fn point(case: &Case) -> Result<Point, TestCaseError> {
    let built = case.build();
    let probe = Probe::new(&built.program);
    let mut all = built.program.clone();
    all.outputs = (0..all.insts.len() as u32).map(ValueId).collect();
    let kinked: Vec<usize> = built
        .program
        .insts
        .iter()
        .filter(|i| matches!(i.op, Op::Unary(Unary(UnaryFn::Relu | UnaryFn::Abs))))
        .map(|i| i.args[0].index())
        .collect();
    let mut rng = Rng(case.seed);
    for _ in 0..20 {
        let inputs: Vec<Value<f64>> = built
            .kinds
            .iter()
            .zip(&built.shapes)
            .map(|(&k, &s)| rng.value(k, s))
            .collect();
        let values = eval(&all, &inputs);
        let bounded = values
            .iter()
            .flat_map(|v| v.to_vec())
            .all(|x| x.is_finite() && x.abs() <= MAGNITUDE);
        let clear = kinked
            .iter()
            .flat_map(|&i| values[i].to_vec())
            .all(|x| x.abs() >= KINK_MARGIN);
        if bounded && clear {
            let (value, signs) = probe.eval(&inputs);
            return Ok(Point {
                built,
                probe,
                inputs,
                value,
                signs,
                rng,
            });
        }
    }
    Err(TestCaseError::reject(
        "no inputs with bounded intermediate values clear of the kinks",
    ))
}

// ═════════════════════════════════════════════════════════════════════════════════════════════
// Finite differences and comparisons
// ═════════════════════════════════════════════════════════════════════════════════════════════

/// The five-point stencil of `g` (vector-valued) at step `h`.
fn stencil(
    h: f64,
    mut g: impl FnMut(f64) -> Result<Vec<f64>, TestCaseError>,
) -> Result<Vec<f64>, TestCaseError> {
    let (f2, f1, b1, b2) = (g(2.0 * h)?, g(h)?, g(-h)?, g(-2.0 * h)?);
    Ok((0..f1.len())
        .map(|i| (-f2[i] + 8.0 * f1[i] - 8.0 * b1[i] + b2[i]) / (12.0 * h))
        .collect())
}

/// `inputs` with each parameter `wrt[k]` moved by `t·dirs[k]`.
fn along(inputs: &[Value<f64>], wrt: &[usize], dirs: &[Value<f64>], t: f64) -> Vec<Value<f64>> {
    let mut moved = inputs.to_vec();
    for (&p, d) in wrt.iter().zip(dirs) {
        let data = inputs[p]
            .to_vec()
            .iter()
            .zip(d.to_vec())
            .map(|(x, d)| x + t * d)
            .collect();
        moved[p] = inputs[p].with_data(data);
    }
    moved
}

fn inner(a: &Value<f64>, b: &Value<f64>) -> f64 {
    a.to_vec().iter().zip(b.to_vec()).map(|(x, y)| x * y).sum()
}

fn sup(v: &[f64]) -> f64 {
    v.iter().fold(0.0f64, |m, x| m.max(x.abs()))
}

/// `max |got − want| / max(‖want‖∞, floor)`; infinite if the lengths differ or anything is not
/// finite.
fn rel_error(got: &[f64], want: &[f64], floor: f64) -> f64 {
    if got.len() != want.len() || got.iter().chain(want).any(|x| !x.is_finite()) {
        return f64::INFINITY;
    }
    let err = got
        .iter()
        .zip(want)
        .fold(0.0f64, |m, (g, w)| m.max((g - w).abs()));
    if err == 0.0 {
        0.0
    } else {
        err / sup(want).max(floor)
    }
}

/// The result of comparing a derivative against stencils.
struct FdCheck {
    /// The smallest relative error over the steps tried.
    error: f64,
    /// The stencil that gave it.
    reference: Vec<f64>,
    /// Each step tried and its error: on a failure, whether the stencils converge towards the
    /// derivative (a stencil problem) or away from it (a wrong derivative).
    steps: Vec<(f64, f64)>,
}

impl FdCheck {
    fn table(&self) -> String {
        self.steps
            .iter()
            .map(|(h, e)| format!("h = {h:.3e}: {e:.2e}"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Compares a derivative against the stencil at `FD_STEP`, and, while they disagree, at steps
/// 4, 16 and 64 times smaller (see [`FD_STEP`]); keeps the smallest error.
///
/// When no step agrees, the case fails only if the reference itself is trustworthy: two
/// consecutive stencils agree with each other to [`TOL_FD`]. Otherwise the stencils are
/// rounding noise and the case is rejected as undecidable. Measured example: `tanh(w)` with
/// `w = s³ ≈ 17.9`, where `1 − tanh²(w) ≈ 1.2e-15` is within an ulp of 1 and both the
/// gradient the stencils difference and the derived `1 − y²` are accurate only to ~10%
/// relative (absolute errors at the ε level): the stencils at successive steps disagree by 2×.
/// A wrong rule, by contrast, disagrees with stencils that agree with each other.
fn fd_check(
    got: &[f64],
    floor: f64,
    mut fd: impl FnMut(f64) -> Result<Vec<f64>, TestCaseError>,
) -> Result<FdCheck, TestCaseError> {
    let mut best = FdCheck {
        error: f64::INFINITY,
        reference: Vec::new(),
        steps: Vec::new(),
    };
    let mut references: Vec<Vec<f64>> = Vec::new();
    let mut h = FD_STEP;
    for _ in 0..FD_REFINEMENTS {
        let reference = fd(h)?;
        let error = rel_error(got, &reference, floor);
        best.steps.push((h, error));
        if error < best.error || best.reference.is_empty() {
            best.error = error;
            best.reference = reference.clone();
        }
        if best.error <= TOL_FD {
            return Ok(best);
        }
        references.push(reference);
        h /= 4.0;
    }
    let converged = references
        .windows(2)
        .any(|pair| rel_error(&pair[1], &pair[0], floor) <= TOL_FD);
    if converged {
        Ok(best)
    } else {
        Err(TestCaseError::reject(
            "the finite differences do not converge (rounding noise)",
        ))
    }
}

/// Worst errors seen, for the report printed with `--nocapture`.
#[derive(Default)]
struct Stats {
    worst: Cell<f64>,
    worst_exact: Cell<f64>,
    checked: Cell<usize>,
    /// Cases without a scalar or vector parameter (no batched form to check).
    skipped: Cell<usize>,
    /// Cases where `derive_jacobian`/`derive_hessian` returned `None`.
    unbatched: Cell<usize>,
    rejected: Cell<usize>,
    /// Checks that needed a step smaller than `FD_STEP`.
    refined: Cell<usize>,
}

impl Stats {
    /// Records the error at the first step (the accepted one may be at a smaller step).
    fn fd(&self, check: &FdCheck) {
        self.worst.set(self.worst.get().max(check.steps[0].1));
        if check.steps.len() > 1 {
            self.refined.set(self.refined.get() + 1);
        }
    }
    fn exact(&self, e: f64) {
        self.worst_exact.set(self.worst_exact.get().max(e));
    }
}

fn fail(msg: impl Into<String>) -> TestCaseError {
    TestCaseError::fail(msg.into())
}

/// Fails the case unless `cond` holds (so `error <= TOL` fails on NaN).
macro_rules! check {
    ($cond:expr, $($fmt:tt)*) => {
        let holds: bool = $cond;
        if !holds {
            return Err(fail(format!($($fmt)*)));
        }
    };
}

/// Runs `test` on `n` cases of `strategy` (or `PROPTEST_CASES`), panicking with the shrunk case
/// on failure; returns the statistics.
fn run(
    name: &str,
    n: u32,
    strategy: impl Strategy<Value = Case>,
    test: impl Fn(&Case, &Stats) -> Result<(), TestCaseError>,
) -> Stats {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(n);
    let config = Config {
        cases,
        // Regression files would be written next to this file; the failure message carries
        // everything needed to reproduce a case instead.
        failure_persistence: None,
        max_global_rejects: cases * 2,
        // Cases take milliseconds: let shrinking go on until the program is minimal.
        max_shrink_iters: 50_000,
        ..Config::default()
    };
    let stats = Stats::default();
    let mut runner = TestRunner::new(config);
    let result = runner.run(&strategy, |case| {
        let r = test(&case, &stats);
        if let Err(TestCaseError::Reject(_)) = r {
            stats.rejected.set(stats.rejected.get() + 1);
        }
        r
    });
    if let Err(e) = result {
        panic!("{name}: {e}");
    }
    eprintln!(
        "{name}: {cases} cases, {} checked, {} without a scalar or vector parameter, {} without \
         a batched form, {} rejected; worst FD error at h = \
         {FD_STEP:.0e}: {:.2e} ({} checks needed a smaller step); worst exact error {:.2e}",
        stats.checked.get(),
        stats.skipped.get(),
        stats.unbatched.get(),
        stats.rejected.get(),
        stats.worst.get(),
        stats.refined.get(),
        stats.worst_exact.get()
    );
    stats
}

// ═════════════════════════════════════════════════════════════════════════════════════════════
// 1. Reverse mode
// ═════════════════════════════════════════════════════════════════════════════════════════════

fn check_reverse(case: &Case, stats: &Stats) -> Result<(), TestCaseError> {
    let mut pt = point(case)?;
    let primal = &pt.built.program;
    let wrt = case.wrt(&pt.built, |_| true);
    let upstream = pt.rng.like(&pt.value);
    let products =
        derive_reverse(primal, &wrt).map_err(|e| fail(format!("derive_reverse: {e}")))?;
    // Every value of the derived program prints under a name of its own, also where the
    // program's own names look like derived ones (see `Builder::let_name`).
    let names = products.vjp.program.value_names();
    let distinct: std::collections::HashSet<&String> = names.iter().collect();
    check!(
        distinct.len() == names.len(),
        "two values of the vjp program share a name: {names:?}"
    );
    let mut rev_inputs = pt.inputs.clone();
    rev_inputs.push(upstream.clone());
    let outs = eval(&products.vjp.program, &rev_inputs);
    check!(
        outs.len() == 1 + wrt.len(),
        "the vjp program has {} outputs for {} wrt",
        outs.len(),
        wrt.len()
    );
    check!(
        outs[0] == pt.value,
        "the vjp program's value is not the primal's"
    );
    // The size of ⟨u, f⟩ sets the rounding noise of the stencil (see FD_FLOOR).
    let size = upstream
        .to_vec()
        .iter()
        .zip(pt.value.to_vec())
        .map(|(u, y)| (u * y).abs())
        .sum::<f64>()
        .max(1.0);
    for (k, &p) in wrt.iter().enumerate() {
        let got = outs[1 + k].to_vec();
        check!(
            outs[1 + k].kind() == pt.built.kinds[p] && got.len() == pt.inputs[p].numel(),
            "the adjoint of {} has the wrong shape",
            primal.params[p].name
        );
        let fd = fd_check(&got, FD_FLOOR * size, |h| {
            let base = pt.inputs[p].to_vec();
            let mut grad = Vec::with_capacity(base.len());
            for i in 0..base.len() {
                let mut e = vec![0.0; base.len()];
                e[i] = 1.0;
                let dir = [pt.inputs[p].with_data(e)];
                let g = stencil(h, |t| {
                    let (y, signs) = pt.probe.eval(&along(&pt.inputs, &[p], &dir, t));
                    if signs != pt.signs {
                        return Err(crossed());
                    }
                    Ok(vec![inner(&upstream, &y)])
                })?;
                grad.push(g[0]);
            }
            Ok(grad)
        })?;
        stats.fd(&fd);
        check!(
            fd.error <= TOL_FD,
            "d{}: relative error {:.2e} > {TOL_FD:.0e} (by step: {})\n  reverse:            \
             {got:?}\n  finite differences: {:?}",
            primal.params[p].name,
            fd.error,
            fd.table(),
            fd.reference
        );
    }
    // The gradient program is the vjp at upstream 1.
    if let Some(grad) = &products.grad {
        let mut ones = pt.inputs.clone();
        ones.push(Value::Scalar(1.0));
        let at_one = eval(&products.vjp.program, &ones);
        let g = eval(grad, &pt.inputs);
        for k in 0..wrt.len() {
            let e = rel_error(&g[1 + k].to_vec(), &at_one[1 + k].to_vec(), 1.0);
            stats.exact(e);
            check!(
                e <= TOL_EXACT,
                "the gradient program differs from the vjp at upstream 1 by {e:.2e}"
            );
        }
    }
    stats.checked.set(stats.checked.get() + 1);
    Ok(())
}

#[test]
fn reverse_mode_matches_finite_differences() {
    run("reverse", CASES_REVERSE, cases(ANY_ROOT), check_reverse);
}

// ═════════════════════════════════════════════════════════════════════════════════════════════
// 2. Forward mode
// ═════════════════════════════════════════════════════════════════════════════════════════════

fn check_forward(case: &Case, stats: &Stats) -> Result<(), TestCaseError> {
    let mut pt = point(case)?;
    let primal = &pt.built.program;
    let wrt = case.wrt(&pt.built, |_| true);
    let dirs: Vec<Value<f64>> = wrt
        .iter()
        .map(|&p| pt.rng.value(pt.built.kinds[p], pt.built.shapes[p]))
        .collect();
    let products =
        derive_forward(primal, &wrt).map_err(|e| fail(format!("derive_forward: {e}")))?;
    let fwd_inputs: Vec<Value<f64>> = pt.inputs.iter().chain(&dirs).cloned().collect();
    let outs = eval(&products.jvp.program, &fwd_inputs);
    check!(
        outs.len() == 2,
        "the jvp program has {} outputs",
        outs.len()
    );
    check!(
        outs[0] == pt.value,
        "the jvp program's value is not the primal's"
    );
    check!(
        outs[1].kind() == pt.value.kind() && outs[1].numel() == pt.value.numel(),
        "the tangent's shape is not the result's"
    );
    let jv = outs[1].to_vec();
    let size = sup(&pt.value.to_vec()).max(1.0);
    let fd = fd_check(&jv, FD_FLOOR * size, |h| {
        stencil(h, |t| {
            let (y, signs) = pt.probe.eval(&along(&pt.inputs, &wrt, &dirs, t));
            if signs != pt.signs {
                return Err(crossed());
            }
            Ok(y.to_vec())
        })
    })?;
    stats.fd(&fd);
    check!(
        fd.error <= TOL_FD,
        "J·v: relative error {:.2e} > {TOL_FD:.0e} (by step: {})\n  forward:            \
         {jv:?}\n  finite differences: {:?}",
        fd.error,
        fd.table(),
        fd.reference
    );

    // The dot-product test against reverse mode.
    let upstream = pt.rng.like(&pt.value);
    let rev = derive_reverse(primal, &wrt).map_err(|e| fail(format!("derive_reverse: {e}")))?;
    let mut rev_inputs = pt.inputs.clone();
    rev_inputs.push(upstream.clone());
    let adjoints = eval(&rev.vjp.program, &rev_inputs);
    let u = upstream.to_vec();
    let lhs: f64 = jv.iter().zip(&u).map(|(a, b)| a * b).sum();
    let lhs_size: f64 = jv.iter().zip(&u).map(|(a, b)| (a * b).abs()).sum();
    let (mut rhs, mut rhs_size) = (0.0, 0.0);
    for (v, g) in dirs.iter().zip(&adjoints[1..]) {
        for (a, b) in v.to_vec().iter().zip(g.to_vec()) {
            rhs += a * b;
            rhs_size += (a * b).abs();
        }
    }
    let err = (lhs - rhs).abs() / f64::max(lhs_size.max(rhs_size), 1.0);
    stats.exact(err);
    check!(
        err <= TOL_EXACT,
        "dot-product test: ⟨J·v, u⟩ = {lhs:e}, ⟨v, Jᵀ·u⟩ = {rhs:e}, relative error {err:.2e} > \
         {TOL_EXACT:.0e}"
    );
    stats.checked.set(stats.checked.get() + 1);
    Ok(())
}

#[test]
fn forward_mode_matches_finite_differences_and_reverse_mode() {
    run("forward", CASES_FORWARD, cases(ANY_ROOT), check_forward);
}

// ═════════════════════════════════════════════════════════════════════════════════════════════
// 3. Jacobians
// ═════════════════════════════════════════════════════════════════════════════════════════════

/// The unit direction `j` of a parameter shaped like `like`.
fn unit(like: &Value<f64>, j: usize) -> Value<f64> {
    let mut e = vec![0.0; like.numel()];
    e[j] = 1.0;
    like.with_data(e)
}

/// Checks a numel(R)×numel(p) matrix output, row-major.
fn as_block(v: &Value<f64>, rows: usize, cols: usize) -> Result<Vec<f64>, TestCaseError> {
    let ok = match v {
        Value::Matrix(m) => m.rows() == rows && m.cols() == cols,
        _ => v.numel() == rows * cols && (rows == 1 || cols == 1),
    };
    check!(
        ok,
        "a block is {:?} with {} elements, expected {rows}×{cols}",
        v.kind(),
        v.numel()
    );
    Ok(v.to_vec())
}

fn check_jacobian(case: &Case, stats: &Stats) -> Result<(), TestCaseError> {
    let pt = point(case)?;
    let primal = &pt.built.program;
    // Batched forms exist only for scalar and vector seeds.
    let wrt = case.wrt(&pt.built, |k| k != Kind::Matrix);
    if wrt.is_empty() {
        stats.skipped.set(stats.skipped.get() + 1);
        return Ok(());
    }
    let programs =
        derive_jacobian(primal, &wrt).map_err(|e| fail(format!("derive_jacobian: {e}")))?;
    let Some(programs) = programs else {
        stats.unbatched.set(stats.unbatched.get() + 1);
        return Ok(());
    };
    check!(
        programs.len() == wrt.len(),
        "{} Jacobian programs for {} wrt",
        programs.len(),
        wrt.len()
    );
    let m = pt.value.numel();
    for (k, &p) in wrt.iter().enumerate() {
        let outs = eval(&programs[k], &pt.inputs);
        check!(
            outs.len() == 1,
            "a Jacobian program has {} outputs",
            outs.len()
        );
        let n = pt.inputs[p].numel();
        let jac = as_block(&outs[0], m, n)?;
        let fwd = derive_forward(primal, &[p]).map_err(|e| fail(format!("derive_forward: {e}")))?;
        let mut by_columns = vec![0.0; m * n];
        for j in 0..n {
            let mut inputs = pt.inputs.clone();
            inputs.push(unit(&pt.inputs[p], j));
            let column = eval(&fwd.jvp.program, &inputs).remove(1).to_vec();
            for (i, x) in column.into_iter().enumerate() {
                by_columns[i * n + j] = x;
            }
        }
        let err = rel_error(&jac, &by_columns, 1.0);
        stats.exact(err);
        check!(
            err <= TOL_EXACT,
            "∂f/∂{}: the batched Jacobian differs from forward mode by {err:.2e}\n  batched:    \
             {jac:?}\n  by columns: {by_columns:?}",
            primal.params[p].name
        );
    }
    stats.checked.set(stats.checked.get() + 1);
    Ok(())
}

#[test]
fn jacobian_equals_forward_mode_column_by_column() {
    let stats = run(
        "jacobian",
        CASES_JACOBIAN,
        cases(VECTOR_OR_SCALAR_ROOT),
        check_jacobian,
    );
    // Not vacuous: about half the programs have a batched Jacobian (measured 56% over 30,000).
    assert!(
        stats.checked.get() * 4 >= stats.unbatched.get() + stats.skipped.get(),
        "only {} of {} cases had a batched Jacobian",
        stats.checked.get(),
        stats.checked.get() + stats.unbatched.get() + stats.skipped.get()
    );
}

// ═════════════════════════════════════════════════════════════════════════════════════════════
// 4. Hessians
// ═════════════════════════════════════════════════════════════════════════════════════════════

fn check_hessian(case: &Case, stats: &Stats) -> Result<(), TestCaseError> {
    let mut pt = point(case)?;
    let primal = &pt.built.program;
    let wrt = case.wrt(&pt.built, |_| true);
    let dirs: Vec<Value<f64>> = wrt
        .iter()
        .map(|&p| pt.rng.value(pt.built.kinds[p], pt.built.shapes[p]))
        .collect();
    let hvp = derive_hvp(primal, &wrt).map_err(|e| fail(format!("derive_hvp: {e}")))?;
    let grad = derive_reverse(primal, &wrt)
        .map_err(|e| fail(format!("derive_reverse: {e}")))?
        .grad
        .ok_or_else(|| fail("no gradient program for a scalar result"))?;
    let k = wrt.len();
    let hvp_inputs: Vec<Value<f64>> = pt.inputs.iter().chain(&dirs).cloned().collect();
    let outs = eval(&hvp.program, &hvp_inputs);
    check!(
        outs.len() == 1 + 2 * k,
        "the hvp program has {} outputs for {k} wrt",
        outs.len()
    );
    check!(
        outs[0] == pt.value,
        "the hvp program's value is not the primal's"
    );
    let hv: Vec<f64> = outs[1 + k..].iter().flat_map(|v| v.to_vec()).collect();
    let g0: Vec<f64> = eval(&grad, &pt.inputs)[1..]
        .iter()
        .flat_map(|v| v.to_vec())
        .collect();
    // The differenced function is the gradient: its size sets the stencil's noise.
    let size = sup(&g0).max(1.0);
    let fd = fd_check(&hv, FD_FLOOR * size, |h| {
        stencil(h, |t| {
            let moved = along(&pt.inputs, &wrt, &dirs, t);
            if pt.probe.eval(&moved).1 != pt.signs {
                return Err(crossed());
            }
            Ok(eval(&grad, &moved)[1..]
                .iter()
                .flat_map(|v| v.to_vec())
                .collect())
        })
    })?;
    stats.fd(&fd);
    check!(
        fd.error <= TOL_FD,
        "H·v: relative error {:.2e} > {TOL_FD:.0e} (by step: {})\n  hvp:                \
         {hv:?}\n  finite differences: {:?}",
        fd.error,
        fd.table(),
        fd.reference
    );

    // The dense Hessian over the scalar and vector parameters.
    let wrt = case.wrt(&pt.built, |k| k != Kind::Matrix);
    if wrt.is_empty() {
        stats.checked.set(stats.checked.get() + 1);
        return Ok(());
    }
    let programs =
        derive_hessian(primal, &wrt).map_err(|e| fail(format!("derive_hessian: {e}")))?;
    let Some(programs) = programs else {
        stats.unbatched.set(stats.unbatched.get() + 1);
        return Ok(());
    };
    check!(
        programs.len() == wrt.len(),
        "{} Hessian programs for {} wrt",
        programs.len(),
        wrt.len()
    );
    let numel: Vec<usize> = wrt.iter().map(|&p| pt.inputs[p].numel()).collect();
    // blocks[q][p] = ∂²f/∂p∂q, numel(p) × numel(q).
    let mut blocks = Vec::new();
    for (qk, program) in programs.iter().enumerate() {
        let outs = eval(program, &pt.inputs);
        check!(
            outs.len() == wrt.len(),
            "a Hessian program has {} outputs for {} wrt",
            outs.len(),
            wrt.len()
        );
        let mut row = Vec::new();
        for (pk, out) in outs.iter().enumerate() {
            row.push(as_block(out, numel[pk], numel[qk])?);
        }
        blocks.push(row);
    }
    let hvp = derive_hvp(primal, &wrt).map_err(|e| fail(format!("derive_hvp: {e}")))?;
    let kk = wrt.len();
    let mut worst = 0.0f64;
    for (qk, &q) in wrt.iter().enumerate() {
        for j in 0..numel[qk] {
            let mut inputs = pt.inputs.clone();
            for (rk, &r) in wrt.iter().enumerate() {
                inputs.push(if rk == qk {
                    unit(&pt.inputs[q], j)
                } else {
                    pt.inputs[r].map(|_| 0.0)
                });
            }
            let outs = eval(&hvp.program, &inputs);
            for pk in 0..kk {
                let column = outs[1 + kk + pk].to_vec();
                let from_block: Vec<f64> = (0..numel[pk])
                    .map(|i| blocks[qk][pk][i * numel[qk] + j])
                    .collect();
                let e = rel_error(&from_block, &column, 1.0);
                worst = worst.max(e);
                check!(
                    e <= TOL_SECOND,
                    "∂²f/∂{}∂{}: column {j} differs from the HVP by {e:.2e}\n  hessian: \
                     {from_block:?}\n  hvp:     {column:?}",
                    primal.params[wrt[pk]].name,
                    primal.params[q].name
                );
            }
        }
    }
    // Symmetry: ∂²f/∂p∂q = (∂²f/∂q∂p)ᵀ.
    for qk in 0..kk {
        for pk in 0..kk {
            let a = &blocks[qk][pk];
            let b = &blocks[pk][qk];
            let bt: Vec<f64> = (0..numel[pk] * numel[qk])
                .map(|idx| {
                    let (i, j) = (idx / numel[qk], idx % numel[qk]);
                    b[j * numel[pk] + i]
                })
                .collect();
            let e = rel_error(a, &bt, 1.0);
            worst = worst.max(e);
            check!(
                e <= TOL_SECOND,
                "the Hessian is not symmetric: block ({}, {}) vs the transpose of ({}, {}): \
                 {e:.2e}\n  {a:?}\n  {bt:?}",
                primal.params[wrt[pk]].name,
                primal.params[wrt[qk]].name,
                primal.params[wrt[qk]].name,
                primal.params[wrt[pk]].name
            );
        }
    }
    stats.exact(worst);
    stats.checked.set(stats.checked.get() + 1);
    Ok(())
}

#[test]
fn hessian_vector_products_and_hessians_match() {
    let stats = run("hessian", CASES_HESSIAN, cases(SCALAR_ROOT), check_hessian);
    // Not vacuous: about half the programs have a batched Hessian (measured 46% over 30,000).
    assert!(
        stats.checked.get() * 4 >= stats.unbatched.get(),
        "only {} of {} cases had a batched Hessian",
        stats.checked.get(),
        stats.checked.get() + stats.unbatched.get()
    );
}

// ═════════════════════════════════════════════════════════════════════════════════════════════
// 5. The simplifier
// ═════════════════════════════════════════════════════════════════════════════════════════════

/// `simplify(p)` computes `p`'s outputs: the first `exact` bit for bit, the others to
/// [`TOL_EXACT`]; keeps the signature; and is a fixed point of itself.
fn check_simplified(
    label: &str,
    p: &Program,
    inputs: &[Value<f64>],
    exact: usize,
    stats: &Stats,
) -> Result<(), TestCaseError> {
    let s = simplify(p);
    check!(
        s.params == p.params,
        "{label}: simplify changed the parameters"
    );
    check!(
        s.outputs.len() == p.outputs.len(),
        "{label}: simplify changed the number of outputs"
    );
    let before = eval(p, inputs);
    let after = eval(&s, inputs);
    for (i, (b, a)) in before.iter().zip(&after).enumerate() {
        check!(
            a.kind() == b.kind() && a.numel() == b.numel(),
            "{label}: output {i} changed shape"
        );
        if i < exact {
            check!(
                a == b,
                "{label}: output {i} is not bit for bit the original's\n  before: {:?}\n  \
                 after:  {:?}",
                b.to_vec(),
                a.to_vec()
            );
        } else {
            let e = rel_error(&a.to_vec(), &b.to_vec(), 1.0);
            stats.exact(e);
            check!(
                e <= TOL_EXACT,
                "{label}: output {i} changed by {e:.2e}\n  before: {:?}\n  after:  {:?}",
                b.to_vec(),
                a.to_vec()
            );
        }
    }
    check!(
        simplify(&s) == s,
        "{label}: simplify is not idempotent\n  once:\n{}",
        print::print_lines(&s, Role::Primal, &[])
    );
    Ok(())
}

fn check_simplify(case: &Case, stats: &Stats) -> Result<(), TestCaseError> {
    let mut pt = point(case)?;
    let primal = &pt.built.program;
    let wrt = case.wrt(&pt.built, |_| true);
    check_simplified("primal", primal, &pt.inputs, 1, stats)?;

    let upstream = pt.rng.like(&pt.value);
    let rev = reverse(primal, &wrt, Seed::Upstream).map_err(|e| fail(format!("reverse: {e}")))?;
    let mut rev_inputs = pt.inputs.clone();
    rev_inputs.push(upstream);
    check_simplified("reverse", &rev.program, &rev_inputs, 1, stats)?;

    let dirs: Vec<Value<f64>> = wrt
        .iter()
        .map(|&p| pt.rng.value(pt.built.kinds[p], pt.built.shapes[p]))
        .collect();
    let fwd = forward(primal, &wrt).map_err(|e| fail(format!("forward: {e}")))?;
    let fwd_inputs: Vec<Value<f64>> = pt.inputs.iter().chain(&dirs).cloned().collect();
    check_simplified("forward", &fwd.program, &fwd_inputs, 1, stats)?;

    if pt.value.kind() == Kind::Scalar {
        let grad = reverse(primal, &wrt, Seed::One).map_err(|e| fail(format!("reverse: {e}")))?;
        check_simplified("gradient", &grad.program, &pt.inputs, 1, stats)?;
        // Forward over the (simplified) gradient: the unsimplified Hessian-vector product.
        let over = forward(&simplify(&grad.program), &wrt)
            .map_err(|e| fail(format!("forward over reverse: {e}")))?;
        check_simplified("forward over reverse", &over.program, &fwd_inputs, 1, stats)?;
    }
    stats.checked.set(stats.checked.get() + 1);
    Ok(())
}

#[test]
fn simplify_never_changes_a_value() {
    run("simplify", CASES_SIMPLIFY, cases(ANY_ROOT), check_simplify);
}

// ═════════════════════════════════════════════════════════════════════════════════════════════
// The generator itself
// ═════════════════════════════════════════════════════════════════════════════════════════════

fn op_name(e: &Expr) -> &'static str {
    match e {
        Expr::Param(..) => "param",
        Expr::Lit(_) => "literal",
        Expr::Var(_) => "var",
        Expr::Let(..) => "let",
        Expr::Neg(_) => "neg",
        Expr::Unary(..) => "unary",
        Expr::Powi(..) => "powi",
        Expr::Binary(..) => "binary",
        Expr::MatMul(..) => "matmul",
        Expr::MatVec(..) => "matvec",
        Expr::Transpose(_) => "transpose",
        Expr::Outer(..) => "outer",
        Expr::Dot(..) => "dot",
        Expr::Sum(_) => "sum",
        Expr::Mean(_) => "mean",
        Expr::SumAxis(..) => "sum_axis",
        Expr::Softmax(_) => "softmax",
        Expr::LogSoftmax(_) => "log_softmax",
    }
}

/// Every op of the language appears, trees reach depth 8, and `let`-bound values are used
/// more than once: counted over 300 generated trees.
#[test]
fn the_generator_covers_the_op_set() {
    fn visit(
        e: &Expr,
        depth: u32,
        seen: &mut Vec<String>,
        max_depth: &mut u32,
        vars: &mut [usize; 16],
    ) {
        *max_depth = (*max_depth).max(depth);
        let mut note = |s: String| {
            if !seen.contains(&s) {
                seen.push(s);
            }
        };
        match e {
            Expr::Var(i) => vars[(*i).min(15)] += 1,
            Expr::Unary(f, _) => note(f.method().to_string()),
            Expr::Binary(op, ..) => note(op.token().to_string()),
            _ => note(op_name(e).to_string()),
        }
        let children: Vec<&Expr> = match e {
            Expr::Param(..) | Expr::Lit(_) | Expr::Var(_) => vec![],
            Expr::Neg(x)
            | Expr::Unary(_, x)
            | Expr::Powi(_, x)
            | Expr::Transpose(x)
            | Expr::Sum(x)
            | Expr::Mean(x)
            | Expr::SumAxis(_, x)
            | Expr::Softmax(x)
            | Expr::LogSoftmax(x) => vec![x],
            Expr::Let(a, b)
            | Expr::Binary(_, a, b)
            | Expr::MatMul(_, _, a, b)
            | Expr::MatVec(_, a, b)
            | Expr::Outer(a, b)
            | Expr::Dot(a, b) => vec![a, b],
        };
        for c in children {
            visit(c, depth + 1, seen, max_depth, vars);
        }
    }
    let mut runner = TestRunner::deterministic();
    let strategy = cases(ANY_ROOT);
    let mut seen = Vec::new();
    let mut max_depth = 0;
    let mut shared = 0;
    let (mut depths, mut total_nodes, mut lets) = ([0usize; 12], 0, 0);
    for _ in 0..300 {
        let case = strategy.new_tree(&mut runner).unwrap().current();
        let mut vars = [0usize; 16];
        let mut d = 0;
        visit(&case.tree, 0, &mut seen, &mut d, &mut vars);
        max_depth = max_depth.max(d);
        depths[d as usize] += 1;
        let dbg = format!("{:?}", case.tree);
        total_nodes += dbg.matches('(').count();
        lets += dbg.matches("let").count();
        if vars.iter().any(|&n| n >= 2) {
            shared += 1;
        }
        // Every tree converts to a well-kinded program.
        let _ = case.build();
    }
    seen.sort();
    for op in [
        "+",
        "-",
        "*",
        "/",
        "exp",
        "ln",
        "sqrt",
        "tanh",
        "sigmoid",
        "relu",
        "abs",
        "sin",
        "cos",
        "powi",
        "neg",
        "matmul",
        "matvec",
        "transpose",
        "outer",
        "dot",
        "sum",
        "mean",
        "sum_axis",
        "softmax",
        "log_softmax",
        "let",
    ] {
        assert!(
            seen.iter().any(|s| s == op),
            "{op} never generated; seen {seen:?}"
        );
    }
    eprintln!("max depth {max_depth}, shared {shared}, nodes {total_nodes}, lets {lets}, depth hist {depths:?}");
    assert_eq!(max_depth, MAX_DEPTH);
    assert!(
        shared >= 30,
        "only {shared} of 300 trees use a let-bound value twice"
    );
}
