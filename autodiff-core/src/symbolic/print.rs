//! The derivation printer: a program in matrix notation, one equation a line.
//!
//! Notation: `·` matrix (or scalar) product, `ᵀ` transpose, `⊙` elementwise product, `𝟏` a
//! tensor of ones shaped like the result; the adjoint of `v` is `dv`. Values that have a name get
//! a line of their own; unnamed values are written inline where they are used, unless they are
//! too long to inline (or to repeat), so every line is short and a derivation is as long as its
//! program.

use super::ir::{Kind, Program, Role, ValueId};
use super::op::Op;

/// Binding strength of a printed expression, weakest first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Prec {
    /// `a + b`, `a − b`
    Sum,
    /// `a·b`, `a ⊙ b`, `a / b`
    Product,
    /// `−a`
    Prefix,
    /// names, calls, `aᵀ`, `a²`
    Atom,
}

/// A printed expression and how strongly it binds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Printed {
    pub text: String,
    pub prec: Prec,
}

impl Printed {
    /// An expression with the given binding strength.
    pub fn new(text: impl Into<String>, prec: Prec) -> Self {
        Printed {
            text: text.into(),
            prec,
        }
    }

    /// A name or call.
    pub fn atom(text: impl Into<String>) -> Self {
        Self::new(text, Prec::Atom)
    }

    /// The text, parenthesized if it binds more weakly than `min`.
    pub fn at(&self, min: Prec) -> String {
        if self.prec < min {
            format!("({})", self.text)
        } else {
            self.text.clone()
        }
    }

    /// The text as the left operand of a left-associative operator of strength `prec`.
    pub fn left(&self, prec: Prec) -> String {
        self.at(prec)
    }

    /// The text as the right operand of a left-associative operator of strength `prec`:
    /// `a − (b − c)` keeps its parentheses.
    pub fn right(&self, prec: Prec) -> String {
        // A negation on the right is parenthesized too: `a + (−b)`, not `a + −b`.
        if self.prec <= prec || self.prec == Prec::Prefix {
            format!("({})", self.text)
        } else {
            self.text.clone()
        }
    }
}

/// `a op b` for a left-associative infix operator.
pub fn infix(a: &Printed, op: &str, b: &Printed, prec: Prec) -> Printed {
    Printed::new(format!("{}{op}{}", a.left(prec), b.right(prec)), prec)
}

/// The product sign for two operands: `⊙` between tensors, `·` when a scalar is involved.
pub fn times(kinds: &[Kind]) -> &'static str {
    if kinds.iter().all(|k| k.is_tensor()) {
        " ⊙ "
    } else {
        "·"
    }
}

/// Formats a literal the way a reader writes it: `2`, `0.5`, `1e-8`.
pub fn literal(value: f64) -> String {
    if value == 0.0 && value.is_sign_negative() {
        "-0".to_string()
    } else if value == value.trunc() && value.abs() < 1e15 {
        format!("{}", value as i64)
    } else if value != 0.0 && (value.abs() < 1e-4 || value.abs() >= 1e15) {
        format!("{value:e}")
    } else {
        format!("{value}")
    }
}

/// The longest expression that is repeated inline rather than given a line of its own.
const INLINE_LIMIT: usize = 32;

/// The longest expression that is written inline at all. A longer one gets a line of its own
/// and its user refers to it by name, so no line holds more than a few such expressions and a
/// derivation grows linearly with its program, however deep the nesting (`tanh(tanh(…))`).
const LINE_LIMIT: usize = 64;

/// Prints every instruction of `role` that deserves a line: named values, the program's
/// outputs, values used more than once and too long to repeat, and values too long to inline.
/// Other values of that role are inlined where they are used. Values of other roles are
/// referred to by name when they have one; the unnamed ones the lines read are inlined, or get
/// a line by the same length rules (a primal `tanh(tanh(…))` in a derivation). Each
/// `(name, value)` of `aliases` whose value goes by another name ends the text as
/// `name = value` (a parameter's adjoint that is simply another adjoint, say).
pub fn print_lines(program: &Program, role: Role, aliases: &[(String, ValueId)]) -> String {
    let lines = print_block(program, role, aliases, false);
    lines
        .iter()
        .map(|l| l.text.as_str())
        .collect::<Vec<_>>()
        .join("\n")
}

/// One line of a derivation and the value it shows.
#[derive(Clone, Debug, PartialEq)]
pub struct Line {
    pub text: String,
    /// The value the line defines (`name = ...`, or an alias `name = value`), or, for the
    /// lines of a loop or branch block (its header and indented equations), that block.
    pub value: ValueId,
}

/// [`print_lines`] as lines, each with the value it shows: the steps of a trace.
pub fn derivation_lines(program: &Program, role: Role, aliases: &[(String, ValueId)]) -> Vec<Line> {
    print_block(program, role, aliases, false)
}

/// [`print_lines`], with `always_alias` for a loop body, whose aliases are the carried values'
/// updates: `dh = dh_2` even though `dh_2` is also called `dh` (the parameter, the previous
/// iteration's value, took the plain name).
fn print_block(
    program: &Program,
    role: Role,
    aliases: &[(String, ValueId)],
    always_alias: bool,
) -> Vec<Line> {
    let names = program.value_names();
    let uses = program.use_counts();
    let is_output = |v: usize| program.outputs.iter().any(|o| o.index() == v);
    // Named values of other roles (and parameters) are referred to by name; their definitions
    // belong to other derivations.
    let by_name_only = |v: usize| {
        let inst = &program.insts[v];
        matches!(inst.op, Op::Param(_)) || (inst.role != role && inst.name.is_some())
    };
    let shown = shown_values(program, role, aliases, by_name_only);
    // A value gets a line when it has a name or is returned (values of `role`), is used
    // several times and is too long to repeat, or is too long to inline; short shared
    // expressions read better inline (`dw = xᵀ·sum_to(dz, x·w)`).
    // In a block, a result used only as a carried value's update (unnamed, or named as that
    // value) is written on that value's line (`dw = dw + dw_2`), not as `t8 = dw + dw_2` and
    // then `dw = t8`.
    let is_update_only = |v: usize| {
        let name = program.insts[v].name.as_deref();
        always_alias
            && uses[v] == 1
            && aliases
                .iter()
                .any(|(alias, a)| a.index() == v && name.is_none_or(|n| n == alias))
    };
    let gets_line = |v: usize, text: &str| {
        let inst = &program.insts[v];
        let length = text.chars().count();
        !matches!(inst.op, Op::Const(_))
            && ((inst.role == role
                && (inst.name.is_some() || (is_output(v) && !is_update_only(v))))
                || (uses[v] > 1 && length > INLINE_LIMIT)
                || length > LINE_LIMIT)
    };
    let mut printed: Vec<Printed> = Vec::with_capacity(program.insts.len());
    let mut lines: Vec<Line> = Vec::new();
    let line = |text: String, v: usize| Line {
        text,
        value: ValueId(v as u32),
    };
    for (i, inst) in program.insts.iter().enumerate() {
        if by_name_only(i) {
            printed.push(Printed::atom(names[i].clone()));
            continue;
        }
        if !shown[i] {
            // No line reads it (a primal value only the primal program uses, say).
            printed.push(Printed::atom(String::new()));
            continue;
        }
        let args: Vec<Printed> = inst
            .args
            .iter()
            .map(|a| printed[a.index()].clone())
            .collect();
        if let (Op::Loop(l), true) = (&inst.op, inst.role == role) {
            // A block: the iteration's equations, indented, under a line naming the range.
            let index = &l.body.params[0].name;
            let (start, end) = (&args[0].text, &args[1].text);
            let header = if l.reversed {
                format!("for {index} = {end} − 1 down to {start}:")
            } else {
                format!("for {index} = {start} to {end} − 1:")
            };
            lines.push(line(header, i));
            let carried: Vec<(String, ValueId)> = (0..l.carried)
                .map(|j| (l.body.params[1 + j].name.clone(), l.body.outputs[j]))
                .collect();
            let body = print_block(&l.body, role, &carried, true);
            lines.extend(body.into_iter().map(|l| line(format!("    {}", l.text), i)));
            printed.push(Printed::atom(String::new()));
            continue;
        }
        if let (Op::Branch(b), true) = (&inst.op, inst.role == role) {
            // Each side as a block, its results under the names the projections have.
            let results: Vec<(usize, usize)> = program
                .insts
                .iter()
                .enumerate()
                .filter_map(|(k, x)| match x.op {
                    Op::Project(p) if x.args.first().map(|a| a.index()) == Some(i) => {
                        Some((p.index, k))
                    }
                    _ => None,
                })
                .collect();
            lines.push(line(format!("if {}:", args[0].text), i));
            for (side, header) in [(&b.then, None), (&b.otherwise, Some("else:"))] {
                lines.extend(header.map(|h| line(h.to_string(), i)));
                let aliases: Vec<(String, ValueId)> = results
                    .iter()
                    .map(|&(j, k)| (names[k].clone(), side.outputs[j]))
                    .collect();
                let text = print_block(side, role, &aliases, true);
                lines.extend(text.into_iter().map(|l| line(format!("    {}", l.text), i)));
            }
            printed.push(Printed::atom(String::new()));
            continue;
        }
        let of_branch = match &inst.op {
            Op::Project(_) => matches!(program.insts[inst.args[0].index()].op, Op::Branch(_)),
            _ => false,
        };
        if of_branch {
            printed.push(Printed::atom(names[i].clone()));
            continue;
        }
        let of_loop = |p: &Op| match p {
            Op::Project(p) => match &program.insts[inst.args[0].index()].op {
                Op::Loop(l) => Some((*p, l)),
                _ => None,
            },
            _ => None,
        };
        if let Some((p, l)) = of_loop(&inst.op) {
            // A loop's result goes by the name it is carried under.
            let name = match l.body.params.get(1 + p.index) {
                Some(param) if p.index < l.carried => param.name.clone(),
                _ => format!("tape{}", p.index),
            };
            let expr = Printed::atom(name);
            let aside = gets_line(i, &expr.text) && !is_update_only(i);
            printed.push(if aside && names[i] != expr.text {
                lines.push(line(format!("{} = {}", names[i], expr.text), i));
                Printed::atom(names[i].clone())
            } else {
                expr
            });
            continue;
        }
        let kinds: Vec<Kind> = inst.args.iter().map(|&a| program.kind(a)).collect();
        let expr = inst.op.print(&args, &kinds);
        printed.push(if gets_line(i, &expr.text) {
            lines.push(line(format!("{} = {}", names[i], expr.text), i));
            Printed::atom(names[i].clone())
        } else {
            expr
        });
    }
    for (name, v) in aliases {
        // The value may carry `name` and still print as `name_2` when a parameter took the
        // plain name; that is the same value, not an alias.
        let text = &printed[v.index()].text;
        let renamed = program.insts[v.index()].name.as_deref() != Some(name.as_str());
        if (always_alias || renamed) && text != name {
            lines.push(line(format!("{name} = {text}"), v.index()));
        }
    }
    lines
}

/// Which values the lines of `role` show, inline or on a line of their own: every value of
/// `role`, the aliased values, and whatever those read, up to values referred to by name.
fn shown_values(
    program: &Program,
    role: Role,
    aliases: &[(String, ValueId)],
    by_name_only: impl Fn(usize) -> bool,
) -> Vec<bool> {
    let mut shown = vec![false; program.insts.len()];
    for (_, v) in aliases {
        shown[v.index()] = true;
    }
    for (i, inst) in program.insts.iter().enumerate().rev() {
        shown[i] |= inst.role == role;
        if shown[i] && !by_name_only(i) {
            for a in &inst.args {
                shown[a.index()] = true;
            }
        }
    }
    shown
}

/// The text of `v` with the values that have names (and parameters) referred to by name:
/// `xt·u` for the product of a named slice `xt` and `u`.
pub fn print_with_names(program: &Program, v: ValueId) -> String {
    let names = program.value_names();
    let mut printed: Vec<Printed> = Vec::with_capacity(v.index() + 1);
    for (i, inst) in program.insts[..=v.index()].iter().enumerate() {
        let args: Vec<Printed> = inst
            .args
            .iter()
            .map(|a| printed[a.index()].clone())
            .collect();
        let kinds: Vec<Kind> = inst.args.iter().map(|&a| program.kind(a)).collect();
        let named = matches!(inst.op, Op::Param(_)) || inst.name.is_some();
        printed.push(if named && i != v.index() {
            Printed::atom(names[i].clone())
        } else {
            inst.op.print(&args, &kinds)
        });
    }
    printed[v.index()].text.clone()
}

/// The text of `v` as the printer would inline it (for tests and doc comments).
pub fn print_value(program: &Program, v: ValueId) -> String {
    let names = program.value_names();
    let mut printed: Vec<Printed> = Vec::with_capacity(v.index() + 1);
    for (i, inst) in program.insts[..=v.index()].iter().enumerate() {
        let args: Vec<Printed> = inst
            .args
            .iter()
            .map(|a| printed[a.index()].clone())
            .collect();
        let kinds: Vec<Kind> = inst.args.iter().map(|&a| program.kind(a)).collect();
        printed.push(if matches!(inst.op, Op::Param(_)) {
            Printed::atom(names[i].clone())
        } else {
            inst.op.print(&args, &kinds)
        });
    }
    printed[v.index()].text.clone()
}
