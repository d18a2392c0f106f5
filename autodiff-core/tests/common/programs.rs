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
//! Property tests draw cases from the strategy [`cases`] (shrinking with [`CaseTree`]);
//! deterministic tables draw case number `n` with [`case_number`].

use std::fmt;

use autodiff_core::symbolic::rules::arith::{BinOp, Binary, Literal, Neg};
use autodiff_core::symbolic::rules::elementwise::{Powi, Unary, UnaryFn};
use autodiff_core::symbolic::rules::linalg::{Dot, MatMul, Outer, Transpose};
use autodiff_core::symbolic::rules::pointwise::{Clamp, Extreme, Extremum, Powf};
use autodiff_core::symbolic::rules::reduce::{Mean, Sum, SumAxis};
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
    let mut all = p.clone();
    all.outputs = (0..all.insts.len() as u32).map(ValueId).collect();
    eval(&all, inputs)
        .iter()
        .flat_map(|v| v.to_vec())
        .all(|x| x.is_finite() && x.abs() <= MAGNITUDE)
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

/// A symbolic shape.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sh {
    S,
    V(Dim),
    M(Dim, Dim),
}

impl Sh {
    pub fn kind(self) -> Kind {
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
            | Expr::Dot(a, b)
            | Expr::Extremum(_, a, b)
            | Expr::Powf(a, b)
            | Expr::Clamp(a, b) => {
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

/// Trees of shape `sh` and depth at most `depth`, in the scope of `let`s binding `env`, below a
/// root of depth `root`.
/// Alternatives are listed simplest first (leaves, then shape-preserving ops), as a union
/// shrinks towards its earlier alternatives.
fn expr(sh: Sh, env: Vec<Sh>, depth: u32, root: u32) -> BoxedStrategy<Expr> {
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
        move |s: Sh| expr(s, env.clone(), d, root)
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
                        (expr(bs, env.clone(), d, root), expr(sh, inner, d, root))
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
/// `roots`, shrunk by [`CaseTree`].
pub fn cases(roots: &'static [Sh]) -> CaseStrategy {
    cases_of(FULL, roots)
}

/// [`cases`] of another size.
pub fn cases_of(size: Size, roots: &'static [Sh]) -> CaseStrategy {
    let kinds: Vec<Kind> = roots.iter().map(|r| r.kind()).collect();
    CaseStrategy(
        kinds,
        (
            proptest::array::uniform3(1usize..=size.dim),
            any::<u8>(),
            select(roots).prop_flat_map(move |sh| expr(sh, Vec::new(), size.depth, size.depth)),
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
        | Expr::Dot(a, b)
        | Expr::Extremum(_, a, b)
        | Expr::Powf(a, b)
        | Expr::Clamp(a, b) => vec![(a, false), (b, false)],
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
            | Expr::Dot(a, _)
            | Expr::Extremum(_, a, _)
            | Expr::Powf(a, _)
            | Expr::Clamp(a, _),
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
            | Expr::Clamp(_, b),
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
        | Expr::LogSoftmax(x)
        | Expr::Extremum(_, x, _)
        | Expr::Powf(x, _)
        | Expr::Clamp(x, _) => shape(x, env),
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

struct Builder {
    p: Program,
    params: Vec<(ParamKey, ValueId)>,
    env: Vec<ValueId>,
    /// Values whose sign switches a derivative (see [`Built::kinks`]).
    kinks: Vec<ValueId>,
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
                    UnaryFn::Relu | UnaryFn::Abs => {
                        let shifted = self.shifted(x);
                        self.kinks.push(shifted);
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
                let gap = self.push(Binary(BinOp::Sub), &[a, b]);
                self.kinks.push(gap);
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
                    let gap = self.push(Binary(BinOp::Sub), &[x, bound]);
                    self.kinks.push(gap);
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
        }
    }
}

/// A case's program and the concrete shapes of its parameters.
pub struct Built {
    pub program: Program,
    pub shapes: Vec<(usize, usize)>,
    pub kinds: Vec<Kind>,
    /// Values whose sign switches a derivative: the inputs of `relu` and `abs`, `a − b` for
    /// `maximum(a, b)` and the like, `x − lo` and `x − hi` for `clamp`. Finite differences
    /// must not move them across zero.
    pub kinks: Vec<ValueId>,
}

impl Case {
    pub fn build(&self) -> Built {
        let mut keys = Vec::new();
        self.tree.params(&mut keys);
        let mut b = Builder {
            p: Program::new(),
            params: Vec::new(),
            env: Vec::new(),
            kinks: Vec::new(),
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
            kinks: b.kinks,
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
