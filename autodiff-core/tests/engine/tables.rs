//! The tables: one row per op and kind combination, composite programs and random programs.

use autodiff_core::symbolic::rules::arith::{BinOp, Binary, Neg};
use autodiff_core::symbolic::rules::elementwise::{Powi, Unary, UnaryFn};
use autodiff_core::symbolic::rules::linalg::{Dot, MatMul, Outer, Transpose};
use autodiff_core::symbolic::rules::reduce::{Mean, Sum, SumAxis};
use autodiff_core::symbolic::rules::softmax::{LogSoftmax, Softmax};
use autodiff_core::symbolic::{Kind, Op, Program, ValueId};

use crate::common::rng::Rng;
use crate::support::{bin, lit, named, push, un, Case, Domain, Shape};

pub(crate) const SHAPES: [Shape; 3] = [Shape::S, Shape::V(5), Shape::M(3, 4)];

/// Every `UnaryFn`, `powi` for several exponents, and `−x`, on each kind.
pub(crate) fn elementwise_cases() -> Vec<Case> {
    let mut cases = Vec::new();
    for &f in UnaryFn::ALL {
        let domain = match f {
            UnaryFn::Ln | UnaryFn::Sqrt => Domain::Positive,
            _ => Domain::AwayFromZero,
        };
        for shape in SHAPES {
            cases.push(Case::new(
                format!("{f:?}({shape:?})"),
                &[("x", shape, domain)],
                &[0],
                |p, x| un(p, f, x[0]),
            ));
        }
    }
    for n in [-3, -2, -1, 0, 1, 2, 3, 4] {
        for shape in SHAPES {
            cases.push(Case::new(
                format!("powi({shape:?}, {n})"),
                &[("x", shape, Domain::AwayFromZero)],
                &[0],
                |p, x| push(p, Powi(n), &[x[0]]),
            ));
        }
    }
    for shape in SHAPES {
        cases.push(Case::new(
            format!("neg({shape:?})"),
            &[("x", shape, Domain::Any)],
            &[0],
            |p, x| push(p, Neg, &[x[0]]),
        ));
    }
    cases
}

/// `+ − ⊙ /` on every accepted kind combination, with 1×c rows, r×1 columns and a 1×1 matrix
/// broadcast on either side, differentiated with respect to both operands and to each alone.
pub(crate) fn binary_cases() -> Vec<Case> {
    use Shape::*;
    let combos = [
        (S, S),
        (S, V(4)),
        (V(4), S),
        (V(4), V(4)),
        (S, M(3, 4)),
        (M(3, 4), S),
        (M(3, 4), M(3, 4)),
        (M(3, 4), M(1, 4)),
        (M(1, 4), M(3, 4)),
        (M(3, 4), M(3, 1)),
        (M(3, 1), M(3, 4)),
        (M(1, 4), M(3, 1)),
        (M(3, 1), M(1, 4)),
        (M(3, 4), M(1, 1)),
        (M(1, 1), M(3, 4)),
    ];
    let mut cases = Vec::new();
    for op in [BinOp::Add, BinOp::Sub, BinOp::Mul, BinOp::Div] {
        let domain = if op == BinOp::Div {
            Domain::AwayFromZero
        } else {
            Domain::Any
        };
        for (sa, sb) in combos {
            for wrt in [&[0, 1][..], &[0], &[1]] {
                cases.push(Case::new(
                    format!("{op:?}({sa:?}, {sb:?}) wrt {wrt:?}"),
                    &[("a", sa, domain), ("b", sb, domain)],
                    wrt,
                    |p, x| bin(p, op, x[0], x[1]),
                ));
            }
            // The same value on both sides: two contributions to one adjoint.
            if sa == sb {
                cases.push(Case::new(
                    format!("{op:?}(a, a) with a: {sa:?}"),
                    &[("a", sa, domain)],
                    &[0],
                    |p, x| bin(p, op, x[0], x[0]),
                ));
            }
        }
    }
    cases
}

/// Matrix products with every flag combination, matrix·vector, outer, transpose and dot.
pub(crate) fn linalg_cases() -> Vec<Case> {
    use Shape::*;
    let mut cases = Vec::new();
    for ta in [false, true] {
        for tb in [false, true] {
            // op(A) is 3×4 and op(B) is 4×2 whatever the flags.
            let sa = if ta { M(4, 3) } else { M(3, 4) };
            let sb = if tb { M(2, 4) } else { M(4, 2) };
            for wrt in [&[0, 1][..], &[0], &[1]] {
                cases.push(Case::new(
                    format!("matmul(ta={ta}, tb={tb}) wrt {wrt:?}"),
                    &[("a", sa, Domain::Any), ("b", sb, Domain::Any)],
                    wrt,
                    |p, x| push(p, MatMul { ta, tb }, &[x[0], x[1]]),
                ));
            }
        }
        // Matrix·vector: op(A) is 3×4.
        let sa = if ta { M(4, 3) } else { M(3, 4) };
        for wrt in [&[0, 1][..], &[0], &[1]] {
            cases.push(Case::new(
                format!("matvec(ta={ta}) wrt {wrt:?}"),
                &[("a", sa, Domain::Any), ("v", V(4), Domain::Any)],
                wrt,
                |p, x| push(p, MatMul { ta, tb: false }, &[x[0], x[1]]),
            ));
        }
    }
    cases.push(Case::new(
        "matmul(a, a)",
        &[("a", M(3, 3), Domain::Any)],
        &[0],
        |p, x| push(p, MatMul::PLAIN, &[x[0], x[0]]),
    ));
    cases.push(Case::new(
        "matmul(aᵀ, a) by flag",
        &[("a", M(3, 4), Domain::Any)],
        &[0],
        |p, x| {
            push(
                p,
                MatMul {
                    ta: true,
                    tb: false,
                },
                &[x[0], x[0]],
            )
        },
    ));
    cases.push(Case::new(
        "outer(u, v)",
        &[("u", V(3), Domain::Any), ("v", V(4), Domain::Any)],
        &[0, 1],
        |p, x| push(p, Outer, &[x[0], x[1]]),
    ));
    cases.push(Case::new(
        "outer(u, u)",
        &[("u", V(3), Domain::Any)],
        &[0],
        |p, x| push(p, Outer, &[x[0], x[0]]),
    ));
    cases.push(Case::new(
        "transpose",
        &[("a", M(3, 4), Domain::Any)],
        &[0],
        |p, x| push(p, Transpose, &[x[0]]),
    ));
    for wrt in [&[0, 1][..], &[0], &[1]] {
        cases.push(Case::new(
            format!("dot wrt {wrt:?}"),
            &[("u", V(5), Domain::Any), ("v", V(5), Domain::Any)],
            wrt,
            |p, x| push(p, Dot, &[x[0], x[1]]),
        ));
    }
    cases.push(Case::new(
        "dot(u, u)",
        &[("u", V(5), Domain::Any)],
        &[0],
        |p, x| push(p, Dot, &[x[0], x[0]]),
    ));
    cases
}

/// `sum`, `mean`, `sum_axis` and the softmaxes.
pub(crate) fn reduction_cases() -> Vec<Case> {
    use Shape::*;
    let mut cases = Vec::new();
    for shape in [V(5), M(3, 4), M(1, 4), M(3, 1)] {
        cases.push(Case::new(
            format!("sum({shape:?})"),
            &[("x", shape, Domain::Any)],
            &[0],
            |p, x| push(p, Sum, &[x[0]]),
        ));
        cases.push(Case::new(
            format!("mean({shape:?})"),
            &[("x", shape, Domain::Any)],
            &[0],
            |p, x| push(p, Mean, &[x[0]]),
        ));
    }
    for shape in [M(3, 4), M(1, 4), M(3, 1)] {
        for axis in [0, 1] {
            cases.push(Case::new(
                format!("sum_axis({shape:?}, {axis})"),
                &[("x", shape, Domain::Any)],
                &[0],
                |p, x| push(p, SumAxis(axis), &[x[0]]),
            ));
        }
    }
    for shape in [V(5), M(3, 5), M(1, 5)] {
        cases.push(Case::new(
            format!("softmax({shape:?})"),
            &[("x", shape, Domain::Any)],
            &[0],
            |p, x| push(p, Softmax, &[x[0]]),
        ));
        cases.push(Case::new(
            format!("log_softmax({shape:?})"),
            &[("x", shape, Domain::Any)],
            &[0],
            |p, x| push(p, LogSoftmax, &[x[0]]),
        ));
    }
    cases
}

/// B1: `loss = mean(−sum_axis(y ⊙ log_softmax(relu(x·w1 + b1)·w2 + b2), 1))`.
pub(crate) fn mlp_program() -> Program {
    let mut p = Program::new();
    let x = p.param("x", Kind::Matrix);
    let w1 = p.param("w1", Kind::Matrix);
    let b1 = p.param("b1", Kind::Matrix);
    let w2 = p.param("w2", Kind::Matrix);
    let b2 = p.param("b2", Kind::Matrix);
    let y = p.param("y", Kind::Matrix);
    let xw1 = push(&mut p, MatMul::PLAIN, &[x, w1]);
    let z1 = named(&mut p, "z1", Binary(BinOp::Add), &[xw1, b1]);
    let h = named(&mut p, "h", Unary(UnaryFn::Relu), &[z1]);
    let hw2 = push(&mut p, MatMul::PLAIN, &[h, w2]);
    let z2 = named(&mut p, "z2", Binary(BinOp::Add), &[hw2, b2]);
    let lp = named(&mut p, "lp", LogSoftmax, &[z2]);
    let ylp = push(&mut p, Binary(BinOp::Mul), &[y, lp]);
    let rows = push(&mut p, SumAxis(1), &[ylp]);
    let row_loss = named(&mut p, "row_loss", Neg, &[rows]);
    let loss = named(&mut p, "loss", Mean, &[row_loss]);
    p.outputs = vec![loss];
    p
}

pub(crate) const MLP_PARAMS: [(&str, Shape, Domain); 6] = [
    ("x", Shape::M(4, 5), Domain::Any),
    ("w1", Shape::M(5, 6), Domain::Any),
    ("b1", Shape::M(1, 6), Domain::Any),
    ("w2", Shape::M(6, 3), Domain::Any),
    ("b2", Shape::M(1, 3), Domain::Any),
    ("y", Shape::M(4, 3), Domain::OneHot),
];

/// Programs that combine ops: reuse, broadcasting chains, transposes, nested reductions.
pub(crate) fn composite_cases() -> Vec<Case> {
    use Shape::*;
    let mut cases = vec![
        Case::from_program(
            "B1 MLP wrt w1, b1, w2, b2",
            mlp_program(),
            &MLP_PARAMS,
            &[1, 2, 3, 4],
        ),
        Case::from_program(
            "B1 MLP wrt everything (x and y active too)",
            mlp_program(),
            &MLP_PARAMS,
            &[0, 1, 2, 3, 4, 5],
        ),
    ];
    // A value used several times: x four times, t three times, s twice.
    cases.push(Case::new(
        "reuse: s = sum(t ⊙ x − exp(t) / x), t = tanh(x); s·s + tᵀ·x",
        &[("x", V(5), Domain::AwayFromZero)],
        &[0],
        |p, v| {
            let x = v[0];
            let t = un(p, UnaryFn::Tanh, x);
            let tx = bin(p, BinOp::Mul, t, x);
            let et = un(p, UnaryFn::Exp, t);
            let q = bin(p, BinOp::Div, et, x);
            let d = bin(p, BinOp::Sub, tx, q);
            let s = push(p, Sum, &[d]);
            let ss = bin(p, BinOp::Mul, s, s);
            let tdx = push(p, Dot, &[t, x]);
            bin(p, BinOp::Add, ss, tdx)
        },
    ));
    for shape in [V(5), M(3, 4)] {
        cases.push(Case::new(
            format!("x ⊙ x ({shape:?})"),
            &[("x", shape, Domain::Any)],
            &[0],
            |p, v| bin(p, BinOp::Mul, v[0], v[0]),
        ));
    }
    cases.push(Case::new(
        "(A·B)ᵀ·C",
        &[
            ("a", M(3, 4), Domain::Any),
            ("b", M(4, 2), Domain::Any),
            ("c", M(3, 5), Domain::Any),
        ],
        &[0, 1, 2],
        |p, v| {
            let ab = push(p, MatMul::PLAIN, &[v[0], v[1]]);
            let t = push(p, Transpose, &[ab]);
            push(p, MatMul::PLAIN, &[t, v[2]])
        },
    ));
    cases.push(Case::new(
        "nested reductions: sum(sum_axis(sum_axis(X ⊙ X, 1), 0))·mean(sum_axis(exp(X), 0)) + mean(sum_axis(X ⊙ X, 1))",
        &[("x", M(3, 4), Domain::Any)],
        &[0],
        |p, v| {
            let xx = bin(p, BinOp::Mul, v[0], v[0]);
            let r = push(p, SumAxis(1), &[xx]);
            let c = push(p, SumAxis(0), &[r]);
            let sc = push(p, Sum, &[c]);
            let e = un(p, UnaryFn::Exp, v[0]);
            let cols = push(p, SumAxis(0), &[e]);
            let m = push(p, Mean, &[cols]);
            let prod = bin(p, BinOp::Mul, sc, m);
            let mr = push(p, Mean, &[r]);
            bin(p, BinOp::Add, prod, mr)
        },
    ));
    cases.push(Case::new(
        "scalars and tensors: sum(s·X) + s·s + mean(X·v)·s",
        &[
            ("s", S, Domain::Any),
            ("x", M(3, 4), Domain::Any),
            ("v", V(4), Domain::Any),
        ],
        &[0, 1, 2],
        |p, a| {
            let sx = bin(p, BinOp::Mul, a[0], a[1]);
            let s1 = push(p, Sum, &[sx]);
            let ss = bin(p, BinOp::Mul, a[0], a[0]);
            let xv = push(p, MatMul::PLAIN, &[a[1], a[2]]);
            let m = push(p, Mean, &[xv]);
            let ms = bin(p, BinOp::Mul, m, a[0]);
            let t = bin(p, BinOp::Add, s1, ss);
            bin(p, BinOp::Add, t, ms)
        },
    ));
    cases.push(Case::new(
        "broadcast chain: (X − r) / (c ⊙ c + 1)",
        &[
            ("x", M(3, 4), Domain::Any),
            ("r", M(1, 4), Domain::Any),
            ("c", M(3, 1), Domain::Any),
        ],
        &[0, 1, 2],
        |p, a| {
            let num = bin(p, BinOp::Sub, a[0], a[1]);
            let cc = bin(p, BinOp::Mul, a[2], a[2]);
            let one = lit(p, 1.0);
            let den = bin(p, BinOp::Add, cc, one);
            bin(p, BinOp::Div, num, den)
        },
    ));
    cases.push(Case::new(
        "sum(softmax(Z) ⊙ W)",
        &[("z", M(3, 4), Domain::Any), ("w", M(3, 4), Domain::Any)],
        &[0, 1],
        |p, a| {
            let s = push(p, Softmax, &[a[0]]);
            let sw = bin(p, BinOp::Mul, s, a[1]);
            push(p, Sum, &[sw])
        },
    ));
    cases.push(Case::new(
        "B4 layer: tanh(W·x + b)",
        &[
            ("w", M(4, 4), Domain::Any),
            ("x", V(4), Domain::Any),
            ("b", V(4), Domain::Any),
        ],
        &[0, 1, 2],
        |p, a| {
            let wx = push(p, MatMul::PLAIN, &[a[0], a[1]]);
            let z = bin(p, BinOp::Add, wx, a[2]);
            un(p, UnaryFn::Tanh, z)
        },
    ));
    cases.push(Case::new(
        "B2 logistic loss: sum(ln(1 + exp(−y ⊙ (X·w)))) + 0.5·λ·wᵀ·w",
        &[
            ("x", M(6, 3), Domain::Any),
            ("y", V(6), Domain::Sign),
            ("w", V(3), Domain::Any),
        ],
        &[2],
        |p, a| {
            let xw = push(p, MatMul::PLAIN, &[a[0], a[2]]);
            let ny = push(p, Neg, &[a[1]]);
            let m = bin(p, BinOp::Mul, ny, xw);
            let e = un(p, UnaryFn::Exp, m);
            let one = lit(p, 1.0);
            let l1 = bin(p, BinOp::Add, one, e);
            let l = un(p, UnaryFn::Ln, l1);
            let data = push(p, Sum, &[l]);
            let half = lit(p, 0.5);
            let lambda = lit(p, 0.1);
            let hl = bin(p, BinOp::Mul, half, lambda);
            let ww = push(p, Dot, &[a[2], a[2]]);
            let reg = bin(p, BinOp::Mul, hl, ww);
            bin(p, BinOp::Add, data, reg)
        },
    ));
    cases.push(Case::new(
        "explicit transposes: ((Xᵀ)ᵀ ⊙ X) + Xᵀᵀ·(Xᵀ·X)",
        &[("x", M(3, 3), Domain::Any)],
        &[0],
        |p, a| {
            let t = push(p, Transpose, &[a[0]]);
            let tt = push(p, Transpose, &[t]);
            let e = bin(p, BinOp::Mul, tt, a[0]);
            let txx = push(p, MatMul::PLAIN, &[t, a[0]]);
            let g = push(p, MatMul::PLAIN, &[tt, txx]);
            bin(p, BinOp::Add, e, g)
        },
    ));
    cases.push(Case::new(
        "literals: 1·x + 0 − (−(2·x)) / 1 + x·(−1)",
        &[("x", M(2, 3), Domain::Any)],
        &[0],
        |p, a| {
            let one = lit(p, 1.0);
            let zero = lit(p, 0.0);
            let two = lit(p, 2.0);
            let m1 = lit(p, -1.0);
            let ox = bin(p, BinOp::Mul, one, a[0]);
            let oz = bin(p, BinOp::Add, ox, zero);
            let tx = bin(p, BinOp::Mul, two, a[0]);
            let ntx = push(p, Neg, &[tx]);
            let q = bin(p, BinOp::Div, ntx, one);
            let s = bin(p, BinOp::Sub, oz, q);
            let xm = bin(p, BinOp::Mul, a[0], m1);
            bin(p, BinOp::Add, s, xm)
        },
    ));
    cases.push(Case::new(
        "unused parameters: sum(x ⊙ x) wrt x, z, q",
        &[
            ("x", V(4), Domain::Any),
            ("z", M(2, 3), Domain::Any),
            ("q", S, Domain::Any),
        ],
        &[0, 1, 2],
        |p, a| {
            let xx = bin(p, BinOp::Mul, a[0], a[0]);
            push(p, Sum, &[xx])
        },
    ));
    cases.push(Case::new(
        "identity: f(x) = x",
        &[("x", M(2, 3), Domain::Any)],
        &[0],
        |_, a| a[0],
    ));
    cases.push(Case::new(
        "inactive output: f(x, y) = tanh(y) wrt x",
        &[("x", V(3), Domain::Any), ("y", V(3), Domain::Any)],
        &[0],
        |p, a| un(p, UnaryFn::Tanh, a[1]),
    ));
    cases.push(Case::new(
        "softmax cross-entropy on a vector: −yᵀ·ln(softmax(z)) + sum(sigmoid(z)·abs(z))",
        &[
            ("z", V(5), Domain::AwayFromZero),
            ("y", V(5), Domain::OneHot),
        ],
        &[0],
        |p, a| {
            let s = push(p, Softmax, &[a[0]]);
            let l = un(p, UnaryFn::Ln, s);
            let d = push(p, Dot, &[a[1], l]);
            let nd = push(p, Neg, &[d]);
            let sg = un(p, UnaryFn::Sigmoid, a[0]);
            let ab = un(p, UnaryFn::Abs, a[0]);
            let sa = bin(p, BinOp::Mul, sg, ab);
            let ss = push(p, Sum, &[sa]);
            bin(p, BinOp::Add, nd, ss)
        },
    ));
    cases.push(Case::new(
        "tanh(t(A)·v) with an explicit transpose",
        &[("a", M(4, 3), Domain::Any), ("v", V(4), Domain::Any)],
        &[0, 1],
        |p, x| {
            let t = push(p, Transpose, &[x[0]]);
            let y = push(p, MatMul::PLAIN, &[t, x[1]]);
            un(p, UnaryFn::Tanh, y)
        },
    ));
    cases.push(Case::new(
        "t(A)·t(A)",
        &[("a", M(3, 3), Domain::Any)],
        &[0],
        |p, x| {
            let t = push(p, Transpose, &[x[0]]);
            push(p, MatMul::PLAIN, &[t, t])
        },
    ));
    cases.push(Case::new(
        "shared product: t(A·B) ⊙ (A·B) + (A·B)",
        &[("a", M(3, 3), Domain::Any), ("b", M(3, 3), Domain::Any)],
        &[0, 1],
        |p, x| {
            let ab = push(p, MatMul::PLAIN, &[x[0], x[1]]);
            let t = push(p, Transpose, &[ab]);
            let m = bin(p, BinOp::Mul, t, ab);
            bin(p, BinOp::Add, m, ab)
        },
    ));
    cases.push(Case::new(
        "t(u·vᵀ)·w (outer product transposed)",
        &[
            ("u", V(3), Domain::Any),
            ("v", V(4), Domain::Any),
            ("w", V(3), Domain::Any),
        ],
        &[0, 1, 2],
        |p, x| {
            let o = push(p, Outer, &[x[0], x[1]]);
            let t = push(p, Transpose, &[o]);
            push(p, MatMul::PLAIN, &[t, x[2]])
        },
    ));
    cases.push(Case::new(
        "repeated scalar factors: 2·(3·(s·(x + x)))",
        &[("s", S, Domain::Any), ("x", M(2, 3), Domain::Any)],
        &[0, 1],
        |p, a| {
            let xx = bin(p, BinOp::Add, a[1], a[1]);
            let sx = bin(p, BinOp::Mul, a[0], xx);
            let three = lit(p, 3.0);
            let t = bin(p, BinOp::Mul, three, sx);
            let two = lit(p, 2.0);
            bin(p, BinOp::Mul, two, t)
        },
    ));
    cases
}

// ── random programs ──────────────────────────────────────────────────────────────────────────

/// Parameters of the random programs. Every dimension is 1 or 3, so any two matrices broadcast
/// and every vector has length 3.
pub(crate) const RANDOM_PARAMS: [(&str, Shape, Domain); 7] = [
    ("s", Shape::S, Domain::Any),
    ("u", Shape::V(3), Domain::Any),
    ("v", Shape::V(3), Domain::Any),
    ("a", Shape::M(3, 3), Domain::Any),
    ("b", Shape::M(3, 3), Domain::Any),
    ("r", Shape::M(1, 3), Domain::Any),
    ("c", Shape::M(3, 1), Domain::Any),
];

/// Builds a random well-shaped program, tracking the concrete shape of every value.
pub(crate) struct Generator {
    rng: Rng,
    p: Program,
    pool: Vec<(ValueId, Shape)>,
}

pub(crate) fn dims(s: Shape) -> (usize, usize) {
    match s {
        Shape::M(r, c) => (r, c),
        _ => unreachable!("dims of a non-matrix"),
    }
}

impl Generator {
    /// A value satisfying `pred`, half the time among the three most recent (for depth).
    fn pick(&mut self, pred: impl Fn(Shape) -> bool) -> Option<(ValueId, Shape)> {
        let candidates: Vec<(ValueId, Shape)> = self
            .pool
            .iter()
            .copied()
            .filter(|&(_, s)| pred(s))
            .collect();
        let n = candidates.len();
        if n == 0 {
            return None;
        }
        let i = if self.rng.below(2) == 0 {
            n - 1 - self.rng.below(n.min(3))
        } else {
            self.rng.below(n)
        };
        Some(candidates[i])
    }

    fn push(&mut self, op: impl Into<Op>, args: &[ValueId]) -> ValueId {
        push(&mut self.p, op, args)
    }

    /// `x ⊙ x + 1 ≥ 1`: a safe argument for `ln`, `sqrt`, negative powers and division.
    fn positive(&mut self, x: ValueId) -> ValueId {
        let xx = self.push(Binary(BinOp::Mul), &[x, x]);
        let one = lit(&mut self.p, 1.0);
        self.push(Binary(BinOp::Add), &[xx, one])
    }

    /// `x + 0.29`: moves the kink of `relu`/`abs` off the common exact zeros (of `relu`
    /// outputs, say); inputs are still redrawn when an element lands near it.
    fn shifted(&mut self, x: ValueId) -> ValueId {
        let c = lit(&mut self.p, 0.29);
        self.push(Binary(BinOp::Add), &[x, c])
    }

    fn step(&mut self) -> Option<(ValueId, Shape)> {
        let any = |_: Shape| true;
        let is_m = |s: Shape| matches!(s, Shape::M(..));
        let is_v = |s: Shape| matches!(s, Shape::V(_));
        let is_t = |s: Shape| s != Shape::S;
        Some(match self.rng.below(12) {
            0 | 1 => {
                let f = UnaryFn::ALL[self.rng.below(UnaryFn::ALL.len())];
                let (x, sx) = self.pick(any)?;
                let arg = match f {
                    UnaryFn::Ln | UnaryFn::Sqrt => self.positive(x),
                    UnaryFn::Relu | UnaryFn::Abs => self.shifted(x),
                    UnaryFn::Exp => {
                        // Keep exponentials bounded: exp(tanh(x)).
                        self.push(Unary(UnaryFn::Tanh), &[x])
                    }
                    _ => x,
                };
                (self.push(Unary(f), &[arg]), sx)
            }
            2 => {
                let n = [-2, -1, 2, 3][self.rng.below(4)];
                let (x, sx) = self.pick(any)?;
                let arg = if n < 0 { self.positive(x) } else { x };
                (self.push(Powi(n), &[arg]), sx)
            }
            3 => {
                let (x, sx) = self.pick(any)?;
                (self.push(Neg, &[x]), sx)
            }
            4..=6 => {
                let op = [BinOp::Add, BinOp::Sub, BinOp::Mul, BinOp::Div][self.rng.below(4)];
                let (a, sa) = self.pick(any)?;
                let (b, sb) = self.pick(|s| {
                    s == Shape::S
                        || sa == Shape::S
                        || (is_v(s) && is_v(sa))
                        || (is_m(s) && is_m(sa))
                })?;
                let (mut a, mut b, mut sa, mut sb) = (a, b, sa, sb);
                if self.rng.below(2) == 0 {
                    std::mem::swap(&mut a, &mut b);
                    std::mem::swap(&mut sa, &mut sb);
                }
                if op == BinOp::Div {
                    b = self.positive(b);
                }
                let shape = match (sa, sb) {
                    (Shape::S, s) | (s, Shape::S) => s,
                    (Shape::M(r1, c1), Shape::M(r2, c2)) => Shape::M(r1.max(r2), c1.max(c2)),
                    (s, _) => s,
                };
                (self.push(Binary(op), &[a, b]), shape)
            }
            7 => {
                let (a, sa) = self.pick(is_m)?;
                let ta = self.rng.below(2) == 0;
                let (ra, ca) = dims(sa);
                let (m, k) = if ta { (ca, ra) } else { (ra, ca) };
                if self.rng.below(3) == 0 && (m, k) == (3, 3) {
                    let (v, _) = self.pick(is_v)?;
                    (self.push(MatMul { ta, tb: false }, &[a, v]), Shape::V(3))
                } else {
                    let tb = self.rng.below(2) == 0;
                    let (b, sb) = self.pick(|s| {
                        is_m(s) && {
                            let (rb, cb) = dims(s);
                            (if tb { cb } else { rb }) == k
                        }
                    })?;
                    let (rb, cb) = dims(sb);
                    let n = if tb { rb } else { cb };
                    (self.push(MatMul { ta, tb }, &[a, b]), Shape::M(m, n))
                }
            }
            8 => match self.rng.below(3) {
                0 => {
                    let (a, sa) = self.pick(is_m)?;
                    let (r, c) = dims(sa);
                    (self.push(Transpose, &[a]), Shape::M(c, r))
                }
                1 => {
                    let (u, _) = self.pick(is_v)?;
                    let (v, _) = self.pick(is_v)?;
                    (self.push(Outer, &[u, v]), Shape::M(3, 3))
                }
                _ => {
                    let (u, _) = self.pick(is_v)?;
                    let (v, _) = self.pick(is_v)?;
                    (self.push(Dot, &[u, v]), Shape::S)
                }
            },
            9 => {
                let (x, _) = self.pick(is_t)?;
                if self.rng.below(2) == 0 {
                    (self.push(Sum, &[x]), Shape::S)
                } else {
                    (self.push(Mean, &[x]), Shape::S)
                }
            }
            10 => {
                let (x, sx) = self.pick(is_m)?;
                let (r, c) = dims(sx);
                if self.rng.below(2) == 0 {
                    (self.push(SumAxis(0), &[x]), Shape::M(1, c))
                } else {
                    (self.push(SumAxis(1), &[x]), Shape::M(r, 1))
                }
            }
            _ => {
                let (x, sx) = self.pick(is_t)?;
                if self.rng.below(2) == 0 {
                    (self.push(Softmax, &[x]), sx)
                } else {
                    (self.push(LogSoftmax, &[x]), sx)
                }
            }
        })
    }
}

/// Random program number `seed`: 3 to 12 random ops over [`RANDOM_PARAMS`], returning the last,
/// differentiated with respect to a random non-empty subset of the parameters.
pub(crate) fn random_case(seed: u64) -> Case {
    let mut g = Generator {
        rng: Rng(seed.wrapping_mul(0x2545_f491_4f6c_dd1d) ^ 0x5eed),
        p: Program::new(),
        pool: Vec::new(),
    };
    for &(name, shape, _) in &RANDOM_PARAMS {
        let v = g.p.param(name, shape.kind());
        g.pool.push((v, shape));
    }
    let steps = 3 + g.rng.below(10);
    let mut made = 0;
    while made < steps {
        if let Some((v, shape)) = g.step() {
            made += 1;
            g.p.name_value(v, &format!("v{made}"));
            g.pool.push((v, shape));
        }
    }
    let out = g.pool.last().unwrap().0;
    g.p.outputs = vec![out];
    let mut wrt: Vec<usize> = (0..RANDOM_PARAMS.len())
        .filter(|_| g.rng.below(2) == 0)
        .collect();
    if wrt.is_empty() {
        wrt.push(g.rng.below(RANDOM_PARAMS.len()));
    }
    Case::from_program(format!("random #{seed}"), g.p, &RANDOM_PARAMS, &wrt)
}

/// 2000 programs take a few seconds in a debug build. 40 000 were run once while writing these
/// tests: the only failure was #17339 (`sin` of a degree-12 polynomial), whose finite
/// differences had not converged at either step; with h = 1e-5 they agree with the reverse
/// program to 1e-9.
pub(crate) const RANDOM_PROGRAMS: u64 = 2000;

pub(crate) fn random_cases() -> Vec<Case> {
    (0..RANDOM_PROGRAMS).map(random_case).collect()
}
