//! Section 5: the printer.

use autodiff_core::symbolic::rules::arith::{BinOp, Neg};
use autodiff_core::symbolic::rules::elementwise::{Powi, Unary, UnaryFn};
use autodiff_core::symbolic::rules::linalg::{Dot, MatMul, Transpose};
use autodiff_core::symbolic::rules::reduce::{Sum, SumAxis};
use autodiff_core::symbolic::{derive_reverse, plan, print, Items, Kind, Program, Role, ValueId};

use crate::support::{bin, lit, named, push, un};

/// Builds a program over parameters `a`, `b`, `c` of `kind` and prints the value `body` returns.
fn printed(kind: Kind, body: impl FnOnce(&mut Program, [ValueId; 3]) -> ValueId) -> String {
    let mut p = Program::new();
    let a = p.param("a", kind);
    let b = p.param("b", kind);
    let c = p.param("c", kind);
    let v = body(&mut p, [a, b, c]);
    print::print_value(&p, v)
}

#[test]
fn printer_parenthesizes_by_precedence() {
    use BinOp::*;
    let s = Kind::Scalar;
    assert_eq!(
        printed(s, |p, [a, b, c]| {
            let bc = bin(p, Sub, b, c);
            bin(p, Sub, a, bc)
        }),
        "a − (b − c)"
    );
    assert_eq!(
        printed(s, |p, [a, b, c]| {
            let ab = bin(p, Sub, a, b);
            bin(p, Sub, ab, c)
        }),
        "a − b − c"
    );
    assert_eq!(
        printed(s, |p, [a, b, c]| {
            let ab = bin(p, Add, a, b);
            bin(p, Mul, ab, c)
        }),
        "(a + b)·c"
    );
    assert_eq!(
        printed(s, |p, [a, b, c]| {
            let bc = bin(p, Mul, b, c);
            bin(p, Add, a, bc)
        }),
        "a + b·c"
    );
    assert_eq!(
        printed(s, |p, [a, b, c]| {
            let bc = bin(p, Mul, b, c);
            bin(p, Div, a, bc)
        }),
        "a / (b·c)"
    );
    assert_eq!(
        printed(s, |p, [a, b, c]| {
            let ab = bin(p, Mul, a, b);
            bin(p, Div, ab, c)
        }),
        "a·b / c"
    );
    assert_eq!(
        printed(s, |p, [a, b, _]| {
            let ab = bin(p, Sub, a, b);
            push(p, Neg, &[ab])
        }),
        "−(a − b)"
    );
    assert_eq!(
        printed(Kind::Matrix, |p, [a, b, c]| {
            let ab = bin(p, Add, a, b);
            bin(p, Mul, ab, c)
        }),
        "(a + b) ⊙ c"
    );
    assert_eq!(
        printed(Kind::Vector, |p, [a, b, _]| {
            let ab = bin(p, Add, a, b);
            un(p, UnaryFn::Tanh, ab)
        }),
        "tanh(a + b)"
    );
}

#[test]
fn printer_writes_transposes_and_products() {
    let m = Kind::Matrix;
    assert_eq!(printed(m, |p, [a, _, _]| push(p, Transpose, &[a])), "aᵀ");
    assert_eq!(
        printed(m, |p, [a, b, _]| push(
            p,
            MatMul {
                ta: true,
                tb: false
            },
            &[a, b]
        )),
        "aᵀ·b"
    );
    assert_eq!(
        printed(m, |p, [a, b, _]| push(
            p,
            MatMul {
                ta: false,
                tb: true
            },
            &[a, b]
        )),
        "a·bᵀ"
    );
    assert_eq!(
        printed(m, |p, [a, b, _]| {
            let ab = push(p, MatMul::PLAIN, &[a, b]);
            push(p, Transpose, &[ab])
        }),
        "(a·b)ᵀ"
    );
    assert_eq!(
        printed(m, |p, [a, b, c]| {
            let ab = bin(p, BinOp::Add, a, b);
            push(
                p,
                MatMul {
                    ta: true,
                    tb: false,
                },
                &[ab, c],
            )
        }),
        "(a + b)ᵀ·c"
    );
    assert_eq!(
        printed(Kind::Vector, |p, [a, b, _]| push(p, Dot, &[a, b])),
        "aᵀ·b"
    );
    assert_eq!(
        printed(m, |p, [a, _, _]| {
            let two = lit(p, 2.0);
            bin(p, BinOp::Mul, two, a)
        }),
        "2·a"
    );
    assert_eq!(
        printed(m, |p, [a, _, _]| {
            let half = lit(p, 0.5);
            bin(p, BinOp::Mul, half, a)
        }),
        "0.5·a"
    );
    assert_eq!(
        printed(m, |p, [a, _, _]| push(p, SumAxis(1), &[a])),
        "sum_axis(a, 1)"
    );
}

#[test]
fn printer_writes_powers_as_superscripts() {
    let v = Kind::Vector;
    assert_eq!(printed(v, |p, [a, _, _]| push(p, Powi(2), &[a])), "a²");
    assert_eq!(printed(v, |p, [a, _, _]| push(p, Powi(3), &[a])), "a³");
    assert_eq!(printed(v, |p, [a, _, _]| push(p, Powi(-1), &[a])), "a⁻¹");
    assert_eq!(printed(v, |p, [a, _, _]| push(p, Powi(12), &[a])), "a^12");
    assert_eq!(
        printed(v, |p, [a, b, _]| {
            let ab = bin(p, BinOp::Add, a, b);
            push(p, Powi(2), &[ab])
        }),
        "(a + b)²"
    );
    assert_eq!(
        printed(v, |p, [a, _, _]| {
            let n = push(p, Neg, &[a]);
            push(p, Powi(2), &[n])
        }),
        "(−a)²"
    );
}

#[test]
fn printer_lines_give_named_values_their_own_line() {
    let mut p = Program::new();
    let x = p.param("x", Kind::Matrix);
    let w = p.param("w", Kind::Matrix);
    let z = named(&mut p, "z", MatMul::PLAIN, &[x, w]);
    let h = named(&mut p, "h", Unary(UnaryFn::Relu), &[z]);
    let t = push(&mut p, Transpose, &[h]);
    let s = named(&mut p, "s", Sum, &[t]);
    p.outputs = vec![s];
    // The unnamed transpose is used once: inline.
    assert_eq!(
        print::print_lines(&p, Role::Primal, &[]),
        "z = x·w\nh = relu(z)\ns = sum(hᵀ)"
    );
}

#[test]
fn printer_literal_formatting() {
    assert_eq!(print::literal(2.0), "2");
    assert_eq!(print::literal(0.5), "0.5");
    assert_eq!(print::literal(-3.0), "-3");
    // Documented: "Formats a literal the way a reader writes it: `2`, `0.5`, `1e-8`."
    assert_eq!(print::literal(1e-8), "1e-8");
}

/// `tanh(tanh(…tanh(x)…))`, `depth` deep (then summed, for a tensor `x`), with no names in
/// between: every primal value is unnamed and used twice (by the next `tanh` and by its own
/// pullback, `1 − y²`), the sharing that once made derivations cubic in the depth.
fn tanh_chain(kind: Kind, depth: usize) -> Program {
    let mut p = Program::new();
    let mut v = p.param("x", kind);
    for _ in 0..depth {
        v = un(&mut p, UnaryFn::Tanh, v);
    }
    if kind.is_tensor() {
        v = push(&mut p, Sum, &[v]);
    }
    p.outputs = vec![v];
    p
}

/// The reverse, forward and forward-over-reverse derivations of `program` (a scalar result).
fn derivations(program: &Program) -> [String; 3] {
    let plan = plan(program, &[0], Items::ALL).expect("the chain differentiates");
    let second = plan
        .second_order
        .expect("every item was asked for")
        .expect("a scalar result has a Hessian-vector product");
    [
        plan.reverse.derivation,
        plan.forward.derivation,
        second.derivation,
    ]
}

/// The longest line a derivation may have: an expression past [`print`]'s inline bound gets a
/// line of its own, so a line holds at most a few of them.
const LONGEST_LINE: usize = 300;

#[test]
fn derivations_of_a_deep_chain_have_short_lines() {
    for kind in [Kind::Scalar, Kind::Vector] {
        for (mode, text) in ["reverse", "forward", "forward-over-reverse"]
            .iter()
            .zip(derivations(&tanh_chain(kind, 200)))
        {
            let longest = text.lines().map(|l| l.chars().count()).max().unwrap_or(0);
            assert!(
                longest <= LONGEST_LINE,
                "{kind} chain, {mode} derivation: a line of {longest} characters:\n{}",
                text.lines().find(|l| l.chars().count() == longest).unwrap()
            );
        }
    }
}

#[test]
fn derivations_grow_linearly_with_the_program() {
    let sizes = |depth| derivations(&tanh_chain(Kind::Scalar, depth)).map(|text| text.len());
    let (short, long) = (sizes(100), sizes(400));
    for ((mode, short), long) in ["reverse", "forward", "forward-over-reverse"]
        .iter()
        .zip(short)
        .zip(long)
    {
        // Linear: 4 times the depth, about 4 times the text; quadratic would be 16.
        let ratio = long as f64 / short as f64;
        assert!(
            ratio < 5.0,
            "{mode} derivation: {short} bytes at depth 100, {long} at depth 400 (×{ratio:.1})"
        );
    }
}

#[test]
fn printer_names_a_long_value_used_twice_once() {
    // t = sin(tanh(…exp(x)…)), a primal value too long to repeat, is read by the pullbacks of
    // a = sin(t) and b = cos(t): cos(t) and sin(t).
    use UnaryFn::*;
    let mut p = Program::new();
    let x = p.param("x", Kind::Vector);
    let mut t = x;
    for f in [Exp, Sin, Cos, Sigmoid, Tanh, Sin] {
        t = un(&mut p, f, t);
    }
    let a = named(&mut p, "a", Unary(Sin), &[t]);
    let b = named(&mut p, "b", Unary(Cos), &[t]);
    let ab = bin(&mut p, BinOp::Mul, a, b);
    let s = named(&mut p, "s", Sum, &[ab]);
    p.outputs = vec![s];
    let text = derive_reverse(&p, &[0]).unwrap().derivation;
    let long = "sin(tanh(sigmoid(cos(sin(exp(x))))))";
    assert_eq!(
        text.matches(long).count(),
        1,
        "`{long}` is written once, on a line of its own:\n{text}"
    );
    let line = text
        .lines()
        .find(|l| l.ends_with(&format!("= {long}")))
        .unwrap_or_else(|| panic!("no line defines `{long}`:\n{text}"));
    let name = line.split(" = ").next().unwrap();
    assert!(
        text.matches(&format!("sin({name})")).count()
            + text.matches(&format!("cos({name})")).count()
            >= 2,
        "both pullbacks read `{name}` by name:\n{text}"
    );
}
