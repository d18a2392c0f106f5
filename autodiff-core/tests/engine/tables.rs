//! The tables: one row per op and kind combination, composite programs and random programs.

use std::sync::OnceLock;

use autodiff_core::symbolic::rules::arith::{BinOp, Binary, Neg};
use autodiff_core::symbolic::rules::elementwise::{Powi, Unary, UnaryFn};
use autodiff_core::symbolic::rules::index::{Concat, IndexList, Read, Region, Stack, VectorOf};
use autodiff_core::symbolic::rules::integer::IndexLiteral;
use autodiff_core::symbolic::rules::linalg::{Dot, MatMul, Outer, Transpose};
use autodiff_core::symbolic::rules::linear_algebra::{
    Det, DiagMatrix, Diagonal, Inverse, LogDet, Norm, OnDiagonal, Solve, Trace,
};
use autodiff_core::symbolic::rules::reduce::{
    ColumnSums, ExtremeEntry, Mean, MeanAxis, RepeatRows, Sum, SumAxis,
};
use autodiff_core::symbolic::rules::softmax::{LogSoftmax, Softmax};
use autodiff_core::symbolic::{Kind, Program, ValueId};

use crate::common::programs::{self, bounded, Size};
use crate::common::rng::Rng;
use crate::support::{bin, lit, named, push, un, Case, Domain, Shape};

pub(crate) const SHAPES: [Shape; 3] = [Shape::S, Shape::V(5), Shape::M(3, 4)];

/// Every `UnaryFn`, `powi` for several exponents, and `−x`, on each kind.
pub(crate) fn elementwise_cases() -> Vec<Case> {
    let mut cases = Vec::new();
    for &f in UnaryFn::ALL {
        let domain = Domain::Of(f);
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
        // A vector applied to every row of a matrix, on either side.
        (M(3, 4), V(4)),
        (V(4), M(3, 4)),
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
    cases.extend(linear_algebra_cases());
    cases
}

/// `x + diag(v ⊙ v + 3)` for a 3×3 `x` in U(−1, 1): strictly diagonally dominant (the
/// off-diagonal entries of a row sum to less than 2), so invertible and well conditioned
/// wherever the stencils move `x` and `v`; its determinant is positive.
fn invertible(p: &mut Program, x: ValueId, v: ValueId) -> ValueId {
    let squares = bin(p, BinOp::Mul, v, v);
    let three = lit(p, 3.0);
    let shifted = bin(p, BinOp::Add, squares, three);
    let diagonal = push(p, DiagMatrix, &[shifted]);
    bin(p, BinOp::Add, x, diagonal)
}

/// Trace, inverse, determinant, log-determinant, solve (vector and matrix right-hand sides,
/// each operand active or not), norms, `diag` and `diagonal` (square and rectangular); the
/// square matrices as [`invertible`] builds them.
pub(crate) fn linear_algebra_cases() -> Vec<Case> {
    use Shape::*;
    let square = [("x", M(3, 3), Domain::Any), ("v", V(3), Domain::Any)];
    let mut cases = vec![
        Case::new("trace", &[("x", M(3, 3), Domain::Any)], &[0], |p, x| {
            push(p, Trace, &[x[0]])
        }),
        Case::new("inverse", &square, &[0, 1], |p, x| {
            let a = invertible(p, x[0], x[1]);
            push(p, Inverse, &[a])
        }),
        Case::new("det", &square, &[0, 1], |p, x| {
            let a = invertible(p, x[0], x[1]);
            push(p, Det, &[a])
        }),
        Case::new("logdet", &square, &[0, 1], |p, x| {
            let a = invertible(p, x[0], x[1]);
            push(p, LogDet, &[a])
        }),
        Case::new(
            "logdet of a negative determinant",
            &square,
            &[0, 1],
            |p, x| {
                let a = invertible(p, x[0], x[1]);
                let minus = push(p, Neg, &[a]);
                push(p, LogDet, &[minus])
            },
        ),
        Case::new(
            "B7: logdet(X) + tr(A·X⁻¹)",
            &[
                ("x", M(3, 3), Domain::Any),
                ("v", V(3), Domain::Any),
                ("a", M(3, 3), Domain::Any),
            ],
            &[0, 1],
            |p, x| {
                let a = invertible(p, x[0], x[1]);
                let l = push(p, LogDet, &[a]);
                let inverse = push(p, Inverse, &[a]);
                let product = push(p, MatMul::PLAIN, &[x[2], inverse]);
                let t = push(p, Trace, &[product]);
                bin(p, BinOp::Add, l, t)
            },
        ),
    ];
    for b in [V(3), M(3, 2)] {
        for wrt in [&[0, 1, 2][..], &[0, 1], &[2]] {
            cases.push(Case::new(
                format!("solve(A, {b:?}) wrt {wrt:?}"),
                &[
                    ("x", M(3, 3), Domain::Any),
                    ("v", V(3), Domain::Any),
                    ("b", b, Domain::Any),
                ],
                wrt,
                |p, x| {
                    let a = invertible(p, x[0], x[1]);
                    push(p, Solve::PLAIN, &[a, x[2]])
                },
            ));
        }
        // The pullback's transposed solve as an op of its own (its rules, forward-over-reverse).
        cases.push(Case::new(
            format!("solve(Aᵀ, {b:?})"),
            &[
                ("x", M(3, 3), Domain::Any),
                ("v", V(3), Domain::Any),
                ("b", b, Domain::Any),
            ],
            &[0, 1, 2],
            |p, x| {
                let a = invertible(p, x[0], x[1]);
                push(p, Solve { transposed: true }, &[a, x[2]])
            },
        ));
    }
    for shape in [V(5), M(3, 4)] {
        cases.push(Case::new(
            format!("norm({shape:?})"),
            &[("x", shape, Domain::AwayFromZero)],
            &[0],
            |p, x| push(p, Norm, &[x[0]]),
        ));
    }
    cases.push(Case::new(
        "diag",
        &[("v", V(4), Domain::Any)],
        &[0],
        |p, x| push(p, DiagMatrix, &[x[0]]),
    ));
    for shape in [M(3, 3), M(2, 4), M(4, 2)] {
        cases.push(Case::new(
            format!("diagonal({shape:?})"),
            &[("x", shape, Domain::Any)],
            &[0],
            |p, x| push(p, Diagonal, &[x[0]]),
        ));
    }
    // The pullbacks of `trace` and `diagonal`, as ops of their own.
    cases.push(Case::new(
        "on_diagonal(s, like 3×3)",
        &[("s", S, Domain::Any), ("like", M(3, 3), Domain::Any)],
        &[0],
        |p, x| push(p, OnDiagonal, &[x[0], x[1]]),
    ));
    cases.push(Case::new(
        "on_diagonal(v, like 2×4)",
        &[("v", V(2), Domain::Any), ("like", M(2, 4), Domain::Any)],
        &[0],
        |p, x| push(p, OnDiagonal, &[x[0], x[1]]),
    ));
    cases
}

/// `sum`, `mean`, `sum_axis`, the softmaxes, and reads of parts (`x[i]`, `m[(i, j)]`,
/// `x.slice(a..b)`, `m.slice_rows(a..b)`, whose pullbacks add into a zero adjoint).
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
    let reads: [(Region, Shape, &[usize]); 6] = [
        (Region::Entry, V(5), &[2]),
        (Region::Entry, V(5), &[4]),
        (Region::Element, M(3, 4), &[1, 3]),
        (Region::Segment, V(5), &[1, 4]),
        (Region::Rows, M(3, 4), &[1, 3]),
        (Region::Rows, M(3, 4), &[0, 3]),
    ];
    for (region, shape, at) in reads {
        cases.push(Case::new(
            format!("read({region:?} {at:?} of {shape:?})"),
            &[("x", shape, Domain::Any)],
            &[0],
            move |p, x| {
                let mut operands = vec![x[0]];
                for &i in at {
                    operands.push(push(p, IndexLiteral(i), &[]));
                }
                push(p, Read(region), &operands)
            },
        ));
    }
    cases.extend(index_cases());
    cases
}

/// The second release's reads, joins and reductions: rows, columns, column slices, `gather`,
/// vectors of scalars, `concat`, `vstack`, `hstack`, `mean_axis`, `max`, `min`, and the pullback
/// and tangent of a vector applied to every row (column sums, repeated rows) as ops of their own.
pub(crate) fn index_cases() -> Vec<Case> {
    use Shape::*;
    let mut cases = Vec::new();
    let reads: [(Region, Shape, &[usize]); 6] = [
        (Region::Row, M(3, 4), &[1]),
        (Region::Row, M(3, 4), &[2]),
        (Region::Col, M(3, 4), &[0]),
        (Region::Col, M(3, 4), &[3]),
        (Region::Cols, M(3, 4), &[1, 3]),
        (Region::Cols, M(3, 4), &[0, 4]),
    ];
    for (region, shape, at) in reads {
        cases.push(Case::new(
            format!("read({region:?} {at:?} of {shape:?})"),
            &[("x", shape, Domain::Any)],
            &[0],
            move |p, x| {
                let mut operands = vec![x[0]];
                for &i in at {
                    operands.push(push(p, IndexLiteral(i), &[]));
                }
                push(p, Read(region), &operands)
            },
        ));
    }
    for labels in [vec![2, 0, 3], vec![1, 1, 1]] {
        cases.push(Case::new(
            format!("gather(M(3, 4), {labels:?})"),
            &[("x", M(3, 4), Domain::Any)],
            &[0],
            move |p, x| {
                let labels = push(p, IndexList(labels), &[]);
                push(p, Read(Region::Gathered), &[x[0], labels])
            },
        ));
    }
    cases.push(Case::new(
        "cross-entropy with integer labels: −mean(gather(log_softmax(Z), labels))",
        &[("z", M(4, 3), Domain::Any)],
        &[0],
        |p, x| {
            let lp = push(p, LogSoftmax, &[x[0]]);
            let labels = push(p, IndexList(vec![2, 0, 1, 2]), &[]);
            let picked = push(p, Read(Region::Gathered), &[lp, labels]);
            let m = push(p, Mean, &[picked]);
            push(p, Neg, &[m])
        },
    ));
    cases.push(Case::new(
        "vector of scalars [a, b·b, a]",
        &[("a", S, Domain::Any), ("b", S, Domain::Any)],
        &[0, 1],
        |p, x| {
            let bb = bin(p, BinOp::Mul, x[1], x[1]);
            push(p, VectorOf, &[x[0], bb, x[0]])
        },
    ));
    cases.push(Case::new(
        "vector of scalars [sum(v), 2, v[1]] wrt v",
        &[("v", V(3), Domain::Any)],
        &[0],
        |p, x| {
            let s = push(p, Sum, &[x[0]]);
            let two = lit(p, 2.0);
            let one = push(p, IndexLiteral(1), &[]);
            let entry = push(p, Read(Region::Entry), &[x[0], one]);
            push(p, VectorOf, &[s, two, entry])
        },
    ));
    for wrt in [&[0, 1][..], &[0], &[1]] {
        cases.push(Case::new(
            format!("concat wrt {wrt:?}"),
            &[("u", V(2), Domain::Any), ("v", V(3), Domain::Any)],
            wrt,
            |p, x| push(p, Concat, &[x[0], x[1]]),
        ));
        cases.push(Case::new(
            format!("vstack wrt {wrt:?}"),
            &[("a", M(2, 3), Domain::Any), ("b", M(1, 3), Domain::Any)],
            wrt,
            |p, x| push(p, Stack::Vertical, &[x[0], x[1]]),
        ));
        cases.push(Case::new(
            format!("hstack wrt {wrt:?}"),
            &[("a", M(3, 2), Domain::Any), ("b", M(3, 1), Domain::Any)],
            wrt,
            |p, x| push(p, Stack::Horizontal, &[x[0], x[1]]),
        ));
    }
    cases.push(Case::new(
        "concat(u, u)",
        &[("u", V(3), Domain::Any)],
        &[0],
        |p, x| push(p, Concat, &[x[0], x[0]]),
    ));
    cases.push(Case::new(
        "hstack(a, vstack(a, a)ᵀ)",
        &[("a", M(2, 2), Domain::Any)],
        &[0],
        |p, x| {
            let v = push(p, Stack::Vertical, &[x[0], x[0]]);
            let t = push(p, Transpose, &[v]);
            push(p, Stack::Horizontal, &[x[0], t])
        },
    ));
    for shape in [M(3, 4), M(1, 4), M(3, 1)] {
        for axis in [0, 1] {
            cases.push(Case::new(
                format!("mean_axis({shape:?}, {axis})"),
                &[("x", shape, Domain::Any)],
                &[0],
                |p, x| push(p, MeanAxis(axis), &[x[0]]),
            ));
        }
    }
    // Uniform entries differ by more than the stencils move them (the rows' seeds are fixed).
    for shape in [V(5), M(3, 4)] {
        for max in [true, false] {
            cases.push(Case::new(
                format!("{}({shape:?})", if max { "max" } else { "min" }),
                &[("x", shape, Domain::Any)],
                &[0],
                |p, x| push(p, ExtremeEntry { max }, &[x[0]]),
            ));
        }
    }
    cases.push(Case::new(
        "max(x ⊙ x)·min(x) + max(−x)",
        &[("x", V(4), Domain::AwayFromZero)],
        &[0],
        |p, x| {
            let xx = bin(p, BinOp::Mul, x[0], x[0]);
            let top = push(p, ExtremeEntry { max: true }, &[xx]);
            let bottom = push(p, ExtremeEntry { max: false }, &[x[0]]);
            let prod = bin(p, BinOp::Mul, top, bottom);
            let minus = push(p, Neg, &[x[0]]);
            let other = push(p, ExtremeEntry { max: true }, &[minus]);
            bin(p, BinOp::Add, prod, other)
        },
    ));
    cases.push(Case::new(
        "column_sums",
        &[("x", M(3, 4), Domain::Any)],
        &[0],
        |p, x| push(p, ColumnSums, &[x[0]]),
    ));
    cases.push(Case::new(
        "repeat_rows(v, like 3×4)",
        &[("v", V(4), Domain::Any), ("like", M(3, 4), Domain::Any)],
        &[0],
        |p, x| push(p, RepeatRows, &[x[0], x[1]]),
    ));
    cases.push(Case::new(
        "bias and scale by vectors: tanh(X·W + b) ⊙ g",
        &[
            ("x", M(3, 2), Domain::Any),
            ("w", M(2, 4), Domain::Any),
            ("b", V(4), Domain::Any),
            ("g", V(4), Domain::Any),
        ],
        &[1, 2, 3],
        |p, x| {
            let xw = push(p, MatMul::PLAIN, &[x[0], x[1]]);
            let z = bin(p, BinOp::Add, xw, x[2]);
            let t = un(p, UnaryFn::Tanh, z);
            bin(p, BinOp::Mul, t, x[3])
        },
    ));
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

/// The size of the random programs: trees of depth up to 5 over dimensions 1 to 3, nine
/// instructions each on average besides the parameters (the generator these tables had before
/// made eleven). The property tests draw larger ones (depth 8, dimension 6); at that size three
/// derived programs of these tables exceed the f32 tolerance (rounding noise of tangents that
/// are nearly zero), and the tables take four times as long.
const RANDOM_SIZE: Size = Size { depth: 5, dim: 3 };

/// 2000 programs take a few seconds in a debug build. 20,000 were run once while moving these
/// tables to the shared generator: all passed (the worst errors are in the tolerances' notes).
pub(crate) const RANDOM_PROGRAMS: u64 = 2000;

/// Random program number `n` of the shared generator (any result kind), differentiated with
/// respect to the parameters its mask selects, with inputs in U(−1, 1).
fn random_case(n: u64) -> Case {
    let generated = programs::case_number(n, RANDOM_SIZE, programs::ANY_ROOT);
    let built = generated.build();
    let wrt = generated.wrt(&built, |_| true);
    let names: Vec<String> = built
        .program
        .params
        .iter()
        .map(|p| p.name.clone())
        .collect();
    let params: Vec<(&str, Shape, Domain)> = names
        .iter()
        .zip(&built.shapes)
        .zip(&built.kinds)
        .map(|((name, &(rows, cols)), &kind)| {
            let shape = match kind {
                Kind::Scalar => Shape::S,
                Kind::Vector => Shape::V(rows),
                Kind::Matrix => Shape::M(rows, cols),
                other => unreachable!("random programs have no {other} parameters"),
            };
            (name.as_str(), shape, Domain::Any)
        })
        .collect();
    Case::from_program(format!("random #{n}"), built.program, &params, &wrt)
}

/// The random programs, drawn once per run (a tree costs about a millisecond to draw in a debug
/// build, and four tests use them): the first `RANDOM_PROGRAMS` of the generator whose
/// intermediate values stay within [`programs::MAGNITUDE`] at the inputs the checks draw, and
/// which have inputs clear of their kinks. The others compute something like `exp(exp(4))²`
/// whatever their inputs, which overflows f32, or sit on a kink everywhere (`maximum(x, x)`);
/// the property tests reject them the same way.
pub(crate) fn random_cases() -> &'static [Case] {
    static CASES: OnceLock<Vec<Case>> = OnceLock::new();
    CASES.get_or_init(|| {
        (0..)
            .map(random_case)
            .filter(|case| {
                case.try_draw_inputs(&mut Rng::seeded(&case.name))
                    .is_some_and(|inputs| bounded(&case.program, &inputs))
            })
            .take(RANDOM_PROGRAMS as usize)
            .collect()
    })
}
