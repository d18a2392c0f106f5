//! Liveness: which values a program's results need, and where each value is read for the last
//! time. One backward pass serves both the dead-code pass of the simplifier (a value no result
//! needs is dropped) and the code emitter (an owned buffer is moved into the operation that reads
//! it last, so the runtime can reuse it instead of allocating).

use super::ir::{Program, ValueId};
use super::op::Emit;

/// The liveness of a program's values.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Liveness {
    /// Whether the roots need each value, through its elements or only its shape. Parameters
    /// count as needed only when something needed reads them.
    pub needed: Vec<bool>,
    /// For each value, the instruction that reads its elements last, in the order the
    /// instructions run; `None` when nothing reads them, or when the value must stay alive to
    /// the end (a root, or the source of a view that does). Reading only the shape does not
    /// count (see [`Rule::shape_only_args`](super::op::Rule::shape_only_args)), and a view
    /// ([`Emit::KernelView`]) borrows its first operand, which is read as long as the view is.
    pub last_read: Vec<Option<usize>>,
}

impl Liveness {
    /// The liveness of `program`'s outputs, its instructions run in program order.
    pub fn of(program: &Program) -> Self {
        let order: Vec<usize> = (0..program.insts.len()).collect();
        Self::in_order(program, &program.outputs, &order)
    }

    /// The liveness of the values `roots` (kept alive to the end), the instructions of
    /// `program` run in `order`: every instruction index once, each after its operands (the
    /// emitter writes a branched body's shared work first, then each branch).
    pub fn in_order(program: &Program, roots: &[ValueId], order: &[usize]) -> Self {
        let n = program.insts.len();
        let mut position = vec![0; n];
        for (at, &i) in order.iter().enumerate() {
            position[i] = at;
        }
        let mut needed = vec![false; n];
        let mut kept = vec![false; n];
        for root in roots {
            needed[root.index()] = true;
            kept[root.index()] = true;
        }
        let mut last_read: Vec<Option<usize>> = vec![None; n];
        // Backwards: the first reader met is the last to run, and every reader of a value has
        // been met before the value itself.
        for &i in order.iter().rev() {
            if !needed[i] {
                continue;
            }
            let inst = &program.insts[i];
            let shape_only = inst.op.shape_only_args();
            for (operand, a) in inst.args.iter().enumerate() {
                needed[a.index()] = true;
                if !shape_only.contains(&operand) && last_read[a.index()].is_none() {
                    last_read[a.index()] = Some(i);
                }
            }
            if let (Emit::KernelView { .. }, Some(source)) = (inst.op.emit(), inst.args.first()) {
                let source = source.index();
                match last_read[i] {
                    Some(view_last) if !kept[i] => {
                        let later = last_read[source]
                            .filter(|&s| position[s] > position[view_last])
                            .unwrap_or(view_last);
                        last_read[source] = Some(later);
                    }
                    // The view is kept to the end, or never read: so is its source.
                    _ => kept[source] = true,
                }
            }
        }
        for (v, last) in last_read.iter_mut().enumerate() {
            if kept[v] {
                *last = None;
            }
        }
        Liveness { needed, last_read }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::symbolic::ir::Kind;
    use crate::symbolic::op::Op;
    use crate::symbolic::rules::arith::Neg;
    use crate::symbolic::rules::elementwise::{Unary, UnaryFn};
    use crate::symbolic::rules::reduce::{Numel, SumTo};

    fn push(p: &mut Program, op: impl Into<Op>, args: &[ValueId]) -> ValueId {
        p.push(op.into(), args).expect("well-kinded")
    }

    /// x, b; e = exp(x); v = sum_to(e, b) (a view of e; b's shape only); n = numel(x);
    /// t = −v; a dead exp(x) and exp(b) after.
    fn program() -> (Program, [ValueId; 8]) {
        let mut p = Program::new();
        let x = p.param("x", Kind::Matrix);
        let b = p.param("b", Kind::Matrix);
        let e = push(&mut p, Unary(UnaryFn::Exp), &[x]);
        let v = push(&mut p, SumTo, &[e, b]);
        let n = push(&mut p, Numel, &[x]);
        let t = push(&mut p, Neg, &[v]);
        let dead_x = push(&mut p, Unary(UnaryFn::Exp), &[x]);
        let dead_b = push(&mut p, Unary(UnaryFn::Exp), &[b]);
        p.outputs = vec![t, n];
        (p, [x, b, e, v, n, t, dead_x, dead_b])
    }

    #[test]
    fn last_reads_skip_shapes_follow_views_and_ignore_the_dead() {
        let (p, [x, b, e, v, n, t, dead_x, dead_b]) = program();
        let live = Liveness::of(&p);
        let needed = |v: ValueId| live.needed[v.index()];
        let last = |v: ValueId| live.last_read[v.index()];
        assert!([x, b, e, v, n, t].into_iter().all(needed));
        assert!(!needed(dead_x) && !needed(dead_b));
        // x's elements are read by exp; numel reads its shape only, the dead exp nothing.
        assert_eq!(last(x), Some(e.index()));
        // b's shape only.
        assert_eq!(last(b), None);
        // e lives as long as its view v, which −v reads last.
        assert_eq!(last(e), Some(t.index()));
        assert_eq!(last(v), Some(t.index()));
        // Outputs stay alive to the end.
        assert_eq!(last(t), None);
        assert_eq!(last(n), None);
    }

    #[test]
    fn a_returned_view_keeps_its_source() {
        let (mut p, [_, _, e, v, ..]) = program();
        p.outputs = vec![v];
        let live = Liveness::of(&p);
        assert_eq!(live.last_read[v.index()], None);
        assert_eq!(live.last_read[e.index()], None);
    }

    #[test]
    fn last_is_in_the_order_given() {
        // a = −x, c = exp(x): in program order c reads x last; written c first, a does.
        let mut p = Program::new();
        let x = p.param("x", Kind::Vector);
        let a = push(&mut p, Neg, &[x]);
        let c = push(&mut p, Unary(UnaryFn::Exp), &[x]);
        p.outputs = vec![a, c];
        assert_eq!(Liveness::of(&p).last_read[x.index()], Some(c.index()));
        let reordered = Liveness::in_order(&p, &p.outputs, &[0, 2, 1]);
        assert_eq!(reordered.last_read[x.index()], Some(a.index()));
        // Only what the roots need.
        let only_a = Liveness::in_order(&p, &[a], &[0, 1, 2]);
        assert_eq!(only_a.needed, [true, true, false]);
    }
}
