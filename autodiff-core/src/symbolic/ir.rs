//! The SSA intermediate representation.
//!
//! A [`Program`] is a straight-line list of instructions; each defines one value, and every value
//! knows its [`Kind`] (scalar, vector or matrix). Values are referred to by [`ValueId`], the index
//! of the defining instruction, so a program is always in topological order.

use super::op::{Op, ShapeOf};
use std::fmt;

/// Whether a value is a scalar, a (column) vector or a matrix.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    Scalar,
    Vector,
    Matrix,
    /// A `usize` constant: a length, an index, a loop counter. Never differentiated.
    Index,
    /// A condition (`bool`): a comparison, a `bool` parameter. Never differentiated.
    Bool,
    /// A list of integers (a `&[usize]` parameter: the labels of `m.gather(labels)`). Never
    /// differentiated.
    Indices,
    /// The several results of a loop, each read by a
    /// [`Project`](crate::symbolic::rules::control::Project).
    Tuple,
    /// The values a loop stored, one per iteration, for a loop that runs the other way (the
    /// backward pass reads what the forward pass kept).
    Tape,
}

impl Kind {
    /// True for vectors and matrices.
    pub fn is_tensor(self) -> bool {
        matches!(self, Kind::Vector | Kind::Matrix)
    }

    /// True for the kinds that have derivatives (scalars, vectors, matrices).
    pub fn is_differentiable(self) -> bool {
        !matches!(self, Kind::Index | Kind::Bool | Kind::Indices)
    }

    /// The word used in error messages: "a scalar", "a vector", "a matrix".
    pub fn article(self) -> &'static str {
        match self {
            Kind::Scalar => "a scalar",
            Kind::Vector => "a vector",
            Kind::Matrix => "a matrix",
            Kind::Index => "an integer (`usize`)",
            Kind::Bool => "a condition (`bool`)",
            Kind::Indices => "a list of indices (`&[usize]`)",
            Kind::Tuple => "a tuple of results",
            Kind::Tape => "a tape of per-iteration values",
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Kind::Scalar => "scalar",
            Kind::Vector => "vector",
            Kind::Matrix => "matrix",
            Kind::Index => "usize",
            Kind::Bool => "bool",
            Kind::Indices => "[usize]",
            Kind::Tuple => "tuple",
            Kind::Tape => "tape",
        })
    }
}

/// A value of a program: the index of the instruction that defines it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ValueId(pub u32);

impl ValueId {
    /// The instruction index.
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// What part of a derived program an instruction belongs to; the printer shows adjoints and
/// tangents, and refers to primal values by name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    Primal,
    Adjoint,
    Tangent,
}

/// One SSA instruction.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Inst {
    pub op: Op,
    pub args: Vec<ValueId>,
    pub kind: Kind,
    /// The user's name for the value (a `let` binding, a parameter, or `d` + name for an adjoint).
    pub name: Option<String>,
    pub role: Role,
    /// The operation as written in the user's source (`x.matmul(w)`), for run-time shape
    /// errors; derived instructions carry the source of the operation they differentiate.
    pub source: Option<String>,
}

/// A parameter of a program.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Param {
    pub name: String,
    pub kind: Kind,
}

/// The float type a program computes in. Literal arithmetic done by the engine is rounded to it,
/// so folding `1e8 + 1.0` gives what the generated `f32` code would compute.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Precision {
    F32,
    #[default]
    F64,
}

impl Precision {
    /// `x` rounded to this precision (exactly representable in f64 either way).
    pub fn round(self, x: f64) -> f64 {
        match self {
            Precision::F32 => x as f32 as f64,
            Precision::F64 => x,
        }
    }

    /// `op(a, b)` computed in this precision.
    pub fn apply(self, op: impl Fn(f64, f64) -> f64, a: f64, b: f64) -> f64 {
        match self {
            Precision::F32 => {
                let f = |x: f64| x as f32;
                // Each f32 operation is exact in f64 and then rounded once, as in f32.
                f(op(f(a) as f64, f(b) as f64)) as f64
            }
            Precision::F64 => op(a, b),
        }
    }
}

/// An SSA program: straight-line, except for loops, whose bodies are programs of their own
/// (see [`Loop`](crate::symbolic::rules::control::Loop)).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Program {
    pub precision: Precision,
    pub params: Vec<Param>,
    /// Names the derived programs must not give their new parameters (the function's other,
    /// non-differentiable parameters, which share the generated signatures).
    pub reserved_names: Vec<String>,
    /// The constants the body reads (`usize` parameters of the function), in the order
    /// [`ConstantRef`](crate::symbolic::rules::integer::ConstantRef) numbers them; never
    /// differentiated. Their names are among `reserved_names`.
    pub constants: Vec<Param>,
    pub insts: Vec<Inst>,
    /// The returned values, in order.
    pub outputs: Vec<ValueId>,
}

/// An instruction whose operand kinds its op does not accept.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KindError {
    /// Lowercase, says what is supported.
    pub message: String,
}

impl KindError {
    pub fn new(message: impl Into<String>) -> Self {
        KindError {
            message: message.into(),
        }
    }
}

impl fmt::Display for KindError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for KindError {}

impl Program {
    /// An empty program.
    pub fn new() -> Self {
        Self::default()
    }

    /// The instruction defining `v`.
    pub fn inst(&self, v: ValueId) -> &Inst {
        &self.insts[v.index()]
    }

    /// The kind of `v`.
    pub fn kind(&self, v: ValueId) -> Kind {
        self.inst(v).kind
    }

    /// Appends a parameter and the instruction that reads it.
    pub fn param(&mut self, name: &str, kind: Kind) -> ValueId {
        let index = self.params.len();
        self.params.push(Param {
            name: name.to_string(),
            kind,
        });
        self.push_inst(Inst {
            op: Op::Param(crate::symbolic::rules::arith::ParamRef(index)),
            args: vec![],
            kind,
            name: Some(name.to_string()),
            role: Role::Primal,
            source: None,
        })
    }

    /// Appends `op(args)` after checking the operand kinds.
    pub fn push(&mut self, op: Op, args: &[ValueId]) -> Result<ValueId, KindError> {
        self.push_with_role(op, args, Role::Primal)
    }

    /// Appends `op(args)` with the given role after checking the operand kinds.
    pub fn push_with_role(
        &mut self,
        op: Op,
        args: &[ValueId],
        role: Role,
    ) -> Result<ValueId, KindError> {
        let kinds: Vec<Kind> = args.iter().map(|&a| self.kind(a)).collect();
        if !op.takes_integers() && kinds.contains(&Kind::Bool) {
            return Err(KindError::new(
                "a condition (`bool`) does not take part in math; use it in `if`",
            ));
        }
        if !op.takes_integers() && kinds.contains(&Kind::Index) {
            return Err(KindError::new(
                "an integer (`usize`) does not take part in float math; convert it with \
                 `as f64` (or `as f32`), or write a float literal (`2.0`)",
            ));
        }
        if !op.takes_integers() && kinds.contains(&Kind::Indices) {
            return Err(KindError::new(
                "a list of indices (`&[usize]`) does not take part in float math; it picks \
                 entries in `m.gather(labels)`, and `labels[i]` is one of its integers",
            ));
        }
        let structural = kinds.iter().any(|k| matches!(k, Kind::Tuple | Kind::Tape));
        if structural
            && !matches!(
                op,
                Op::Loop(_) | Op::Branch(_) | Op::Project(_) | Op::Fused(_)
            )
        {
            return Err(KindError::new(
                "this is a tuple of results: take it apart first (`let (a, b) = f(..);`) or \
                 read one result (`f(..).0`)",
            ));
        }
        let kind = op.kind(&kinds)?;
        Ok(self.push_inst(Inst {
            op,
            args: args.to_vec(),
            kind,
            name: None,
            role,
            source: None,
        }))
    }

    /// Appends an instruction as it is (its kind already known).
    pub fn push_inst(&mut self, inst: Inst) -> ValueId {
        let id = ValueId(self.insts.len() as u32);
        self.insts.push(inst);
        id
    }

    /// Gives `v` a name, unless it already has one.
    pub fn name_value(&mut self, v: ValueId, name: &str) {
        let inst = &mut self.insts[v.index()];
        if inst.name.is_none() {
            inst.name = Some(name.to_string());
        }
    }

    /// Appends a constant (a `usize` parameter of the function) and the instruction that
    /// reads it.
    pub fn constant(&mut self, name: &str, kind: Kind) -> ValueId {
        let index = self.constants.len();
        self.constants.push(Param {
            name: name.to_string(),
            kind,
        });
        if !self.reserved_names.iter().any(|n| n == name) {
            self.reserved_names.push(name.to_string());
        }
        self.push_inst(Inst {
            op: Op::ConstantRef(crate::symbolic::rules::integer::ConstantRef { index, kind }),
            args: vec![],
            kind,
            name: Some(name.to_string()),
            role: Role::Primal,
            source: None,
        })
    }

    /// Appends the instructions of `other` with its parameters bound to `args` (one per
    /// parameter, in order, then one per constant), and returns what its outputs became.
    pub fn inline(&mut self, other: &Program, args: &[ValueId]) -> Vec<ValueId> {
        let n_params = other.params.len();
        let mut map: Vec<ValueId> = Vec::with_capacity(other.insts.len());
        for inst in &other.insts {
            let v = match inst.op {
                Op::Param(p) => args[p.0],
                Op::ConstantRef(c) => args[n_params + c.index],
                _ => {
                    let mut copy = inst.clone();
                    copy.args = inst.args.iter().map(|a| map[a.index()]).collect();
                    self.push_inst(copy)
                }
            };
            map.push(v);
        }
        other.outputs.iter().map(|o| map[o.index()]).collect()
    }

    /// A representative of the values that provably have `v`'s shape, given the classes of the
    /// values before it: an op whose rule says its result has an operand's shape
    /// ([`Rule::shape`](super::op::Rule::shape): elementwise functions, scaling by a scalar, an
    /// op of two same-shaped operands, the derivative ops that produce their operand's shape)
    /// passes that operand's class on; everything else starts a class of its own. Two values of
    /// one class have the same shape whatever the inputs; values of different classes may too.
    pub fn shape_class(&self, v: ValueId, classes: &[ValueId]) -> ValueId {
        let inst = self.inst(v);
        let class = |a: ValueId| classes[a.index()];
        match (inst.op.shape(), inst.args.as_slice()) {
            (ShapeOf::Operand(i), args) if i < args.len() => class(args[i]),
            (ShapeOf::Elementwise, &[a, b]) => {
                if self.kind(b) == Kind::Scalar {
                    class(a)
                } else if self.kind(a) == Kind::Scalar || class(a) == class(b) {
                    class(b)
                } else if (self.kind(a), self.kind(b)) == (Kind::Matrix, Kind::Vector) {
                    // A vector applied to every row of a matrix.
                    class(a)
                } else if (self.kind(a), self.kind(b)) == (Kind::Vector, Kind::Matrix) {
                    class(b)
                } else if self.is_axis_reduction_of(class(b), class(a), classes) {
                    // `x − x.mean_axis(0)`: a row (or column) reduced from a matrix of `a`'s
                    // shape broadcasts back to that shape.
                    class(a)
                } else if self.is_axis_reduction_of(class(a), class(b), classes) {
                    class(b)
                } else {
                    v
                }
            }
            _ => v,
        }
    }

    /// Whether `reduced` (a class representative) is a sum or mean along one axis of a matrix
    /// of class `full`: its shape, 1×c or r×1, broadcasts to `full`'s.
    fn is_axis_reduction_of(&self, reduced: ValueId, full: ValueId, classes: &[ValueId]) -> bool {
        let inst = self.inst(reduced);
        matches!(inst.op, Op::SumAxis(_) | Op::MeanAxis(_))
            && inst.kind == Kind::Matrix
            && classes[inst.args[0].index()] == full
    }

    /// [`Program::shape_class`] of every value.
    pub fn shape_classes(&self) -> Vec<ValueId> {
        let mut classes = Vec::with_capacity(self.insts.len());
        for i in 0..self.insts.len() {
            let class = self.shape_class(ValueId(i as u32), &classes);
            classes.push(class);
        }
        classes
    }

    /// How many times each value is used as an argument or output.
    pub fn use_counts(&self) -> Vec<usize> {
        let mut counts = vec![0; self.insts.len()];
        for inst in &self.insts {
            for a in &inst.args {
                counts[a.index()] += 1;
            }
        }
        for o in &self.outputs {
            counts[o.index()] += 1;
        }
        counts
    }

    /// One distinct, Rust-identifier-safe name per value: the user's name where there is one
    /// (shadowed names get `_2`, `_3`, ...), else `t1`, `t2`, ... Parameters keep their names.
    /// The printer and the code emitter both use these, so a derivation line and the generated
    /// `let` agree.
    pub fn value_names(&self) -> Vec<String> {
        let mut taken = std::collections::HashSet::new();
        for name in self
            .params
            .iter()
            .map(|p| &p.name)
            .chain(&self.reserved_names)
        {
            taken.insert(name.clone());
        }
        let mut temp_counter = 0;
        // The next suffix to try per base name: a thousand values named `dz` cost linear time.
        let mut next_suffix: std::collections::HashMap<String, usize> =
            std::collections::HashMap::new();
        self.insts
            .iter()
            .map(|inst| {
                match inst.op {
                    Op::Param(crate::symbolic::rules::arith::ParamRef(i)) => {
                        return self.params[i].name.clone()
                    }
                    Op::ConstantRef(c) => return self.constants[c.index].name.clone(),
                    _ => {}
                }
                let base = match &inst.name {
                    Some(n) => n.clone(),
                    None => loop {
                        temp_counter += 1;
                        let candidate = format!("t{temp_counter}");
                        if !taken.contains(&candidate) {
                            break candidate;
                        }
                    },
                };
                let mut name = base.clone();
                let suffix = next_suffix.entry(base.clone()).or_insert(1);
                while taken.contains(&name) {
                    *suffix += 1;
                    name = format!("{base}_{suffix}");
                }
                taken.insert(name.clone());
                name
            })
            .collect()
    }
}
