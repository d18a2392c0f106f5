//! Loop fusion: chains of elementwise operations over tensors of one shape, with the sums of
//! their values and their adds into segments of a vector, become [`Fused`] loops that compute
//! them in one pass over the elements, with no tensor for the values in between.
//!
//! Why: a derived program is written one tensor operation at a time, each a pass over memory
//! and an allocation. Rosenbrock's gradient written with slices (B3) was fifteen of each where a
//! person writes two passes. XLA's loop fusion is the model: elementwise producers are fused
//! into their consumers and, where two loops need the same cheap value, computed again in each
//! rather than stored.
//!
//! Runs on a program about to be emitted (straight-line code; a loop or branch is one
//! instruction to it, its body untouched). What joins a loop:
//! - *members*: `-a`, `a ∘ b` (`+ − ⊙ /`, a scalar broadcast), elementwise functions, `powi`
//!   and their fused pullbacks, a scalar repeated to a shape, on vectors, or on matrices of one
//!   provable shape (a matrix operand that may broadcast a row or a column stays out);
//! - *reads*: the tensors members take from outside, and the segments `x.slice(a..b)` they take,
//!   read in place;
//! - *sinks*: `sum` of a member, and adds of a member into a segment of a vector (the pullback
//!   of `x.slice(a..b)`); a member used by anything else is stored as a tensor.
//!
//! Members that share an operand or a read form a group; each group becomes one loop, or more
//! when two adds go into the same vector (the second reads what the first wrote; each loop
//! then computes again what it needs). A group is left as it is when a value the loop would
//! read depends on the loop itself (a softmax's `x − max(x)`), or when fusing saves nothing (a
//! single operation stored as a tensor).
//!
//! Vectors of different lengths that meet in a member would have made that operation panic; a
//! loop checks those lengths first and panics with that operation's message ([`LengthCheck`]).

use std::collections::{BTreeSet, BinaryHeap, HashMap};

use super::ir::{Inst, Kind, Program, Role, ValueId};
use super::op::Op;
use super::rules::arith::{BinOp, Binary};
use super::rules::control::Project;
use super::rules::fused::{Fused, FusedRead, FusedResult, LengthCheck, ScaledRows};
use super::rules::index::{AddTo, Read, Region};
use super::rules::linalg::MatMul;
use super::rules::structure::AsColumn;

/// `program` with its fusible elementwise work in [`Fused`] loops; `program` itself when there is
/// nothing to fuse.
pub fn fuse(program: &Program) -> Program {
    let analysis = Analysis::new(program);
    let mut loops = analysis.loops();
    // A group whose loop would read something computed from its own results stays unfused.
    while let Some(group) = loops
        .iter()
        .position(|l| analysis.depends_on_itself(l, &loops))
        .map(|l| loops[l].group)
    {
        loops.retain(|l| l.group != group);
    }
    if loops.is_empty() {
        return program.clone();
    }
    let fused = rebuild(program, &analysis, &loops).unwrap_or_else(|| program.clone());
    scale_rows_in_blocks(fused)
}

/// A sink of a group: what a loop makes of one member.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Sink {
    /// Instruction `i`, a `sum` of a member.
    Sum(usize),
    /// Instruction `i`, an add of a member into a segment.
    AddTo(usize),
    /// Member `i`, stored as a tensor.
    Stored(usize),
}

impl Sink {
    /// The instruction whose value the sink's result replaces.
    fn value(self) -> usize {
        match self {
            Sink::Sum(i) | Sink::AddTo(i) | Sink::Stored(i) => i,
        }
    }
}

/// One loop to build: its sinks, the members they need (in program order), its reads.
#[derive(Debug)]
struct PlannedLoop {
    /// The group it computes part of (its first instruction).
    group: usize,
    kind: Kind,
    sinks: Vec<Sink>,
    members: Vec<usize>,
}

struct Analysis<'p> {
    program: &'p Program,
    classes: Vec<ValueId>,
    member: Vec<bool>,
}

impl<'p> Analysis<'p> {
    fn new(program: &'p Program) -> Self {
        let classes = program.shape_classes();
        let mut analysis = Analysis {
            program,
            classes,
            member: Vec::new(),
        };
        analysis.member = (0..program.insts.len())
            .map(|i| analysis.is_member(i))
            .collect();
        // A scalar repeated to a shape (a pullback's seed `1·𝟏`) that members take is a
        // constant in their loop. Stored, it would be a tensor the loop reads that depends on the
        // loop's own values when shaped like one of them (tanh′'s `1·𝟏` shaped like y), which
        // kept the whole chain unfused. Zeros that a gradient adds into stay what the adds go
        // into.
        let mut taken_by_member = vec![false; program.insts.len()];
        let mut added_into = vec![false; program.insts.len()];
        for (i, inst) in program.insts.iter().enumerate() {
            for (k, a) in inst.args.iter().enumerate() {
                taken_by_member[a.index()] |= analysis.member[i];
                added_into[a.index()] |= k == 0 && matches!(inst.op, Op::AddTo(_));
            }
        }
        for (i, inst) in program.insts.iter().enumerate() {
            if matches!(inst.op, Op::Fill(_))
                && inst.kind.is_tensor()
                && taken_by_member[i]
                && !added_into[i]
            {
                analysis.member[i] = true;
            }
        }
        analysis
    }

    fn kind(&self, v: ValueId) -> Kind {
        self.program.kind(v)
    }

    /// Two tensor operands an elementwise op of the loop can take: vectors (of lengths the
    /// loop checks), or matrices of one provable shape (others may broadcast).
    fn same_elements(&self, a: ValueId, b: ValueId) -> bool {
        match (self.kind(a), self.kind(b)) {
            (Kind::Vector, Kind::Vector) => true,
            (Kind::Matrix, Kind::Matrix) => self.classes[a.index()] == self.classes[b.index()],
            _ => false,
        }
    }

    fn is_member(&self, i: usize) -> bool {
        let inst = &self.program.insts[i];
        if !inst.kind.is_tensor() {
            return false;
        }
        let args = &inst.args;
        match &inst.op {
            Op::Neg(_) | Op::Unary(_) | Op::Powi(_) => true,
            Op::Binary(_) => match (self.kind(args[0]), self.kind(args[1])) {
                (Kind::Scalar, k) | (k, Kind::Scalar) => k.is_tensor(),
                _ => self.same_elements(args[0], args[1]),
            },
            Op::UnaryGrad(_) | Op::PowiGrad(_) => self.same_elements(args[0], args[1]),
            _ => false,
        }
    }

    /// Whether instruction `v` is a segment `x.slice(a..b)` a loop reads in place.
    fn is_segment(&self, v: ValueId) -> bool {
        matches!(self.program.inst(v).op, Op::Read(Read(Region::Segment)))
    }

    /// The loops to build, each group's in program order.
    fn loops(&self) -> Vec<PlannedLoop> {
        let program = self.program;
        let n = program.insts.len();
        // Groups: members joined to the members and reads they take.
        let mut groups = UnionFind::new(n);
        for i in (0..n).filter(|&i| self.member[i]) {
            for &a in &program.insts[i].args {
                if self.kind(a).is_tensor() {
                    groups.union(i, a.index());
                }
            }
        }
        // Sinks, by group.
        let mut sinks: HashMap<usize, Vec<Sink>> = HashMap::new();
        for (j, inst) in program.insts.iter().enumerate() {
            let member_arg = |k: usize| inst.args.get(k).filter(|a| self.member[a.index()]);
            match &inst.op {
                Op::Sum(_) => {
                    if let Some(a) = member_arg(0) {
                        sinks
                            .entry(groups.find(a.index()))
                            .or_default()
                            .push(Sink::Sum(j));
                        continue;
                    }
                }
                Op::AddTo(AddTo(Region::Segment)) if !self.member[inst.args[0].index()] => {
                    if let Some(dy) = member_arg(1) {
                        let group = groups.find(dy.index());
                        sinks.entry(group).or_default().push(Sink::AddTo(j));
                        continue;
                    }
                }
                _ => {}
            }
            if self.member[j] {
                continue;
            }
            for a in &inst.args {
                if self.member[a.index()] {
                    let stored = Sink::Stored(a.index());
                    let group = sinks.entry(groups.find(a.index())).or_default();
                    if !group.contains(&stored) {
                        group.push(stored);
                    }
                }
            }
        }
        for o in &program.outputs {
            if self.member[o.index()] {
                let stored = Sink::Stored(o.index());
                let group = sinks.entry(groups.find(o.index())).or_default();
                if !group.contains(&stored) {
                    group.push(stored);
                }
            }
        }
        let mut keys: Vec<usize> = sinks.keys().copied().collect();
        keys.sort_unstable();
        let mut loops = Vec::new();
        for key in keys {
            let mut group_sinks = sinks.remove(&key).unwrap_or_default();
            group_sinks.sort_by_key(|s| s.value());
            let members = (0..n)
                .filter(|&i| self.member[i] && groups.find(i) == key)
                .count();
            let reductions = group_sinks
                .iter()
                .filter(|s| !matches!(s, Sink::Stored(_)))
                .count();
            // One operation stored as a tensor is what the runtime does already.
            if members + reductions < 2 {
                continue;
            }
            loops.extend(self.split(key, &group_sinks));
        }
        loops
    }

    /// A group's sinks as loops: an add into a vector that another add of the same loop
    /// wrote starts a new loop (each add reads what the one before it wrote).
    fn split(&self, group: usize, sinks: &[Sink]) -> Vec<PlannedLoop> {
        let mut loops: Vec<Vec<Sink>> = Vec::new();
        for &sink in sinks {
            let place = match sink {
                Sink::AddTo(j) => {
                    let acc = self.program.insts[j].args[0].index();
                    // After the last loop that wrote `acc`.
                    loops
                        .iter()
                        .rposition(|l| l.contains(&Sink::AddTo(acc)))
                        .map_or(0, |p| p + 1)
                }
                _ => 0,
            };
            if place == loops.len() {
                loops.push(Vec::new());
            }
            loops[place].push(sink);
        }
        loops
            .into_iter()
            .map(|sinks| {
                let mut needed = BTreeSet::new();
                for sink in &sinks {
                    let root = match *sink {
                        Sink::Sum(j) => self.program.insts[j].args[0].index(),
                        Sink::AddTo(j) => self.program.insts[j].args[1].index(),
                        Sink::Stored(i) => i,
                    };
                    self.collect_members(root, &mut needed);
                }
                let kind = self.kind(ValueId(*needed.iter().next().unwrap_or(&0) as u32));
                PlannedLoop {
                    group,
                    kind,
                    sinks,
                    members: needed.into_iter().collect(),
                }
            })
            .collect()
    }

    fn collect_members(&self, v: usize, needed: &mut BTreeSet<usize>) {
        if !self.member[v] || !needed.insert(v) {
            return;
        }
        for a in &self.program.insts[v].args {
            self.collect_members(a.index(), needed);
        }
    }

    /// The operands a loop takes from outside: its members' other operands (for a segment,
    /// the vector and the bounds it reads), and what its adds go into.
    fn outside_operands(&self, l: &PlannedLoop) -> Vec<usize> {
        let mut outside = Vec::new();
        for &m in &l.members {
            for a in &self.program.insts[m].args {
                if !self.member[a.index()] {
                    if self.is_segment(*a) {
                        outside.extend(self.program.inst(*a).args.iter().map(|v| v.index()));
                    } else {
                        outside.push(a.index());
                    }
                }
            }
        }
        for sink in &l.sinks {
            if let Sink::AddTo(j) = *sink {
                let args = &self.program.insts[j].args;
                outside.extend([args[0].index(), args[2].index(), args[3].index()]);
            }
        }
        outside
    }

    /// Whether something loop `l` takes from outside depends on what it computes itself: a
    /// value computed from one of its results (through other loops' results too, each of which
    /// depends on what that loop takes from outside).
    fn depends_on_itself(&self, l: &PlannedLoop, loops: &[PlannedLoop]) -> bool {
        let sink_of: HashMap<usize, usize> = loops
            .iter()
            .enumerate()
            .flat_map(|(k, other)| other.sinks.iter().map(move |s| (s.value(), k)))
            .collect();
        let own: BTreeSet<usize> = l.sinks.iter().map(|s| s.value()).collect();
        let mut seen_values = vec![false; self.program.insts.len()];
        let mut seen_loops = vec![false; loops.len()];
        let mut stack = self.outside_operands(l);
        while let Some(v) = stack.pop() {
            if own.contains(&v) {
                return true;
            }
            if std::mem::replace(&mut seen_values[v], true) {
                continue;
            }
            match sink_of.get(&v) {
                Some(&k) => {
                    if !std::mem::replace(&mut seen_loops[k], true) {
                        stack.extend(self.outside_operands(&loops[k]));
                    }
                }
                None => stack.extend(self.program.insts[v].args.iter().map(|a| a.index())),
            }
        }
        false
    }
}

/// A node of the rebuilt program: an instruction kept as it is, or a loop.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum Node {
    Kept(usize),
    Loop(usize),
}

/// The program with the loops in place of what they compute, in an order that follows the
/// original where it can; `None` if the loops depend on each other in a cycle.
fn rebuild(program: &Program, analysis: &Analysis<'_>, loops: &[PlannedLoop]) -> Option<Program> {
    let n = program.insts.len();
    // Which loop, and which of its results, replaces an instruction's value.
    let mut replaced: HashMap<usize, (usize, usize)> = HashMap::new();
    let mut absorbed = vec![false; n];
    for (l, planned) in loops.iter().enumerate() {
        for &m in &planned.members {
            absorbed[m] = true;
        }
        for (r, sink) in planned.sinks.iter().enumerate() {
            absorbed[sink.value()] = true;
            replaced.insert(sink.value(), (l, r));
        }
    }
    // A member some loop needs but none stores, used outside: cannot happen (every use outside
    // is a sink); refuse rather than emit a dangling value.
    let producer = |v: usize| -> Option<Node> {
        match replaced.get(&v) {
            Some(&(l, _)) => Some(Node::Loop(l)),
            None if absorbed[v] => None,
            None => Some(Node::Kept(v)),
        }
    };
    // Keep what the outputs and loops need (a segment only the loops read goes).
    let mut needed = vec![false; n];
    let mut stack: Vec<usize> = program.outputs.iter().map(|o| o.index()).collect();
    for (i, inst) in program.insts.iter().enumerate() {
        if matches!(inst.op, Op::Param(_) | Op::ConstantRef(_)) {
            stack.push(i);
        }
    }
    let mut loop_needed = vec![false; loops.len()];
    while let Some(v) = stack.pop() {
        match producer(v)? {
            Node::Kept(i) => {
                if !std::mem::replace(&mut needed[i], true) {
                    stack.extend(program.insts[i].args.iter().map(|a| a.index()));
                }
            }
            Node::Loop(l) => {
                if !std::mem::replace(&mut loop_needed[l], true) {
                    stack.extend(analysis.outside_operands(&loops[l]));
                }
            }
        }
    }
    let mut deps: HashMap<Node, Vec<Node>> = HashMap::new();
    let mut priority: HashMap<Node, usize> = HashMap::new();
    for i in (0..n).filter(|&i| needed[i]) {
        let node = Node::Kept(i);
        let node_deps = program.insts[i]
            .args
            .iter()
            .map(|a| producer(a.index()))
            .collect::<Option<Vec<_>>>()?;
        deps.insert(node, node_deps);
        priority.insert(node, i);
    }
    for (l, planned) in loops.iter().enumerate().filter(|(l, _)| loop_needed[*l]) {
        let node = Node::Loop(l);
        let node_deps = analysis
            .outside_operands(planned)
            .into_iter()
            .map(producer)
            .collect::<Option<Vec<_>>>()?;
        deps.insert(node, node_deps);
        priority.insert(node, planned.sinks.iter().map(|s| s.value()).min()?);
    }
    // Kahn's algorithm, the earliest original position first.
    let mut waiting: HashMap<Node, usize> = HashMap::new();
    let mut users: HashMap<Node, Vec<Node>> = HashMap::new();
    for (&node, node_deps) in &deps {
        let distinct: BTreeSet<Node> = node_deps.iter().copied().filter(|d| *d != node).collect();
        waiting.insert(node, distinct.len());
        for d in distinct {
            users.entry(d).or_default().push(node);
        }
    }
    let mut ready: BinaryHeap<std::cmp::Reverse<(usize, Node)>> = waiting
        .iter()
        .filter(|(_, &w)| w == 0)
        .map(|(&node, _)| std::cmp::Reverse((priority[&node], node)))
        .collect();
    let mut order = Vec::with_capacity(deps.len());
    while let Some(std::cmp::Reverse((_, node))) = ready.pop() {
        order.push(node);
        for &user in users.get(&node).map(Vec::as_slice).unwrap_or(&[]) {
            let w = waiting.get_mut(&user)?;
            *w -= 1;
            if *w == 0 {
                ready.push(std::cmp::Reverse((priority[&user], user)));
            }
        }
    }
    if order.len() != deps.len() {
        return None;
    }
    // Emit in that order.
    let mut out = Program {
        precision: program.precision,
        params: program.params.clone(),
        reserved_names: program.reserved_names.clone(),
        constants: program.constants.clone(),
        insts: Vec::with_capacity(n),
        outputs: Vec::new(),
    };
    let mut new_id: Vec<Option<ValueId>> = vec![None; n];
    for node in order {
        match node {
            Node::Kept(i) => {
                let mut inst = program.insts[i].clone();
                inst.args = inst
                    .args
                    .iter()
                    .map(|a| new_id[a.index()])
                    .collect::<Option<Vec<_>>>()?;
                new_id[i] = Some(out.push_inst(inst));
            }
            Node::Loop(l) => {
                let planned = &loops[l];
                let (fused, operands) = build_loop(program, analysis, planned)?;
                let args = operands
                    .iter()
                    .map(|&v| new_id[v])
                    .collect::<Option<Vec<_>>>()?;
                let kinds = fused.result_kinds();
                let id = out.push_inst(Inst {
                    op: Op::Fused(fused),
                    args,
                    kind: Kind::Tuple,
                    name: None,
                    role: Role::Primal,
                    source: None,
                });
                for (index, (sink, kind)) in planned.sinks.iter().zip(kinds).enumerate() {
                    let original = &program.insts[sink.value()];
                    new_id[sink.value()] = Some(out.push_inst(Inst {
                        op: Op::Project(Project { index, kind }),
                        args: vec![id],
                        kind,
                        name: original.name.clone(),
                        role: original.role,
                        source: original.source.clone(),
                    }));
                }
            }
        }
    }
    out.outputs = program
        .outputs
        .iter()
        .map(|o| new_id[o.index()])
        .collect::<Option<Vec<_>>>()?;
    Some(out)
}

/// The [`Fused`] op of a planned loop and its operands (values of the original program).
fn build_loop(
    program: &Program,
    analysis: &Analysis<'_>,
    planned: &PlannedLoop,
) -> Option<(Fused, Vec<usize>)> {
    let member = |v: ValueId| analysis.member[v.index()];
    // Reads and captured scalars, in the order the members first take them.
    let mut reads: Vec<usize> = Vec::new();
    let mut captured: Vec<usize> = Vec::new();
    for &m in &planned.members {
        for &a in &program.insts[m].args {
            let list = if analysis.kind(a).is_tensor() {
                &mut reads
            } else {
                &mut captured
            };
            if !member(a) && !list.contains(&a.index()) {
                list.push(a.index());
            }
        }
    }
    let mut body = Program {
        precision: program.precision,
        ..Program::default()
    };
    let mut inside: HashMap<usize, ValueId> = HashMap::new();
    for (j, &r) in reads.iter().enumerate() {
        inside.insert(r, body.param(&format!("r{j}"), Kind::Scalar));
    }
    for (j, &c) in captured.iter().enumerate() {
        inside.insert(c, body.param(&format!("s{j}"), Kind::Scalar));
    }
    for &m in &planned.members {
        let inst = &program.insts[m];
        let args: Vec<ValueId> = inst.args.iter().map(|a| inside[&a.index()]).collect();
        let v = body.push(inst.op.clone(), &args).ok()?;
        body.insts[v.index()].name = inst.name.clone();
        inside.insert(m, v);
    }
    let mut results = Vec::new();
    for sink in &planned.sinks {
        let (value, result) = match *sink {
            Sink::Sum(j) => (program.insts[j].args[0], FusedResult::Sum),
            Sink::AddTo(j) => (
                program.insts[j].args[1],
                FusedResult::AddToSegment {
                    source: program.insts[j].source.clone(),
                },
            ),
            Sink::Stored(i) => (ValueId(i as u32), FusedResult::Tensor),
        };
        body.outputs.push(inside[&value.index()]);
        results.push(result);
    }
    // The length checks: where two tensors of classes that may differ meet, compare a read
    // each one's length comes from; then every read against the first, which the checks
    // before make sure of whenever the unfused program would not have panicked.
    let read_of = |mut v: usize| -> usize {
        while analysis.member[v] {
            v = program.insts[v]
                .args
                .iter()
                .find(|a| analysis.kind(**a).is_tensor())
                .map(|a| a.index())
                .unwrap_or(v);
        }
        reads.iter().position(|&r| r == v).unwrap_or(0)
    };
    let mut checks: Vec<LengthCheck> = Vec::new();
    for &m in &planned.members {
        let inst = &program.insts[m];
        let tensors: Vec<usize> = inst
            .args
            .iter()
            .filter(|a| analysis.kind(**a).is_tensor())
            .map(|a| a.index())
            .collect();
        if let [a, b] = tensors[..] {
            let (left, right) = (read_of(a), read_of(b));
            let checked = checks
                .iter()
                .any(|c| (c.left, c.right) == (left, right) || (c.left, c.right) == (right, left));
            if left != right && analysis.classes[a] != analysis.classes[b] && !checked {
                checks.push(LengthCheck {
                    left,
                    right,
                    op: runtime_name(&inst.op),
                    source: inst.source.clone(),
                });
            }
        }
    }
    for r in 1..reads.len() {
        if checks
            .iter()
            .any(|c| c.left.min(c.right) == 0 && c.left.max(c.right) == r)
        {
            continue;
        }
        checks.push(LengthCheck {
            left: 0,
            right: r,
            op: "elementwise".into(),
            source: None,
        });
    }
    let mut operands = Vec::new();
    let mut fused_reads = Vec::new();
    for &r in &reads {
        let v = ValueId(r as u32);
        if analysis.is_segment(v) {
            operands.extend(program.inst(v).args.iter().map(|a| a.index()));
            fused_reads.push(FusedRead {
                segment: true,
                source: program.inst(v).source.clone(),
            });
        } else {
            operands.push(r);
            fused_reads.push(FusedRead {
                segment: false,
                source: None,
            });
        }
    }
    operands.extend(&captured);
    for sink in &planned.sinks {
        if let Sink::AddTo(j) = *sink {
            let args = &program.insts[j].args;
            operands.extend([args[0].index(), args[2].index(), args[3].index()]);
        }
    }
    let fused = Fused {
        body: Box::new(body),
        kind: planned.kind,
        reads: fused_reads,
        captured: captured.len(),
        results,
        checks,
    };
    Some((fused, operands))
}

/// `program` with each row scaling `W ⊙ as_column(s)`, `s` the one result of a fused loop
/// that reads `W·x`, as one [`ScaledRows`]: the product, the loop and the scaling a block of
/// rows of `W` at a time, `W` read from memory once. (diag(1 − y²)·W of a tanh layer's
/// Jacobian read it twice, 1.46× one pass at n = 1000 in B4.) Only where the product, the
/// loop, its result and the column have no other use.
fn scale_rows_in_blocks(program: Program) -> Program {
    let uses = program.use_counts();
    let once = |v: ValueId| uses[v.index()] == 1;
    // Each scaling rewritten: its matrix `W`, the product, the loop, the loop's read of the
    // product, and the instructions that go (the product, the loop, its result, the column).
    let mut rewrites: HashMap<usize, (ValueId, usize, usize, [usize; 4])> = HashMap::new();
    for (j, inst) in program.insts.iter().enumerate() {
        if inst.op != Op::Binary(Binary(BinOp::Mul)) || inst.kind != Kind::Matrix {
            continue;
        }
        for (w, column) in [(inst.args[0], inst.args[1]), (inst.args[1], inst.args[0])] {
            let found = (|| {
                let c = program.inst(column);
                (c.op == Op::AsColumn(AsColumn) && once(column)).then_some(())?;
                let scales = c.args[0];
                let Op::Project(p) = &program.inst(scales).op else {
                    return None;
                };
                let looped = program.inst(scales).args[0];
                let Op::Fused(fused) = &program.inst(looped).op else {
                    return None;
                };
                let shaped = p.index == 0
                    && fused.kind == Kind::Vector
                    && fused.results == [FusedResult::Tensor]
                    && once(scales)
                    && once(looped);
                shaped.then_some(())?;
                let mut at = 0;
                for (k, read) in fused.reads.iter().enumerate() {
                    let operand = program.inst(looped).args[at];
                    let product = program.inst(operand);
                    let plain = MatMul {
                        ta: false,
                        tb: false,
                    };
                    if !read.segment
                        && product.op == Op::MatMul(plain)
                        && product.args[0] == w
                        && program.kind(product.args[1]) == Kind::Vector
                        && once(operand)
                    {
                        let gone = [
                            operand.index(),
                            looped.index(),
                            scales.index(),
                            column.index(),
                        ];
                        return Some((operand.index(), k, gone));
                    }
                    at += read.operands();
                }
                None
            })();
            if let Some((product, read, gone)) = found {
                rewrites.insert(j, (w, product, read, gone));
                break;
            }
        }
    }
    if rewrites.is_empty() {
        return program;
    }
    let gone: BTreeSet<usize> = rewrites.values().flat_map(|r| r.3).collect();
    let mut rebuilt = Program {
        insts: Vec::new(),
        outputs: Vec::new(),
        ..program.clone()
    };
    let mut moved: HashMap<usize, ValueId> = HashMap::new();
    for (i, inst) in program.insts.iter().enumerate() {
        if gone.contains(&i) {
            continue;
        }
        let mut inst = inst.clone();
        if let Some(&(w, product, read, [_, looped, ..])) = rewrites.get(&i) {
            let Op::Fused(fused) = &program.insts[looped].op else {
                unreachable!("a rewrite's loop is a fused loop")
            };
            let x = program.insts[product].args[1];
            let mut args = vec![w, x];
            args.extend(
                program.insts[looped]
                    .args
                    .iter()
                    .filter(|a| a.index() != product),
            );
            // The product's shape check is the scaling's, from the user's `W·x`.
            inst.source = program.insts[product].source.clone();
            inst.args = args;
            inst.op = Op::ScaledRows(ScaledRows {
                fused: fused.clone(),
                product: read,
            });
        }
        inst.args = inst.args.iter().map(|a| moved[&a.index()]).collect();
        moved.insert(i, rebuilt.push_inst(inst));
    }
    rebuilt.outputs = program.outputs.iter().map(|o| moved[&o.index()]).collect();
    rebuilt
}

/// The name the runtime gives an elementwise operation in a shape-mismatch message.
fn runtime_name(op: &Op) -> String {
    match op {
        Op::Binary(b) => match b.0 {
            BinOp::Add => "add",
            BinOp::Sub => "sub",
            BinOp::Mul => "mul",
            BinOp::Div => "div",
        }
        .to_string(),
        Op::UnaryGrad(g) => format!("{}_grad", g.0.method()),
        Op::PowiGrad(_) => "powi_grad".to_string(),
        _ => "elementwise".to_string(),
    }
}

/// Disjoint sets over instruction indices.
struct UnionFind {
    parent: Vec<usize>,
}

impl UnionFind {
    fn new(n: usize) -> Self {
        UnionFind {
            parent: (0..n).collect(),
        }
    }

    fn find(&mut self, mut x: usize) -> usize {
        while self.parent[x] != x {
            self.parent[x] = self.parent[self.parent[x]];
            x = self.parent[x];
        }
        x
    }

    fn union(&mut self, a: usize, b: usize) {
        let (a, b) = (self.find(a), self.find(b));
        // The smaller index leads, so groups are keyed by their first instruction.
        let (low, high) = (a.min(b), a.max(b));
        self.parent[high] = low;
    }
}
