//! Integer (`usize`) values and named constants: the function's `usize` parameters, integer
//! literals, `x.len()`, `m.rows()`, `m.cols()`, `+ − * / %` on them, `n as f64`, and constants
//! the body names (`std::f64::consts::PI`, a `const` item of the user's).
//!
//! None of them depends on a differentiable value's elements, so none has a derivative: the
//! pullbacks are symbolic zeros and the pushforwards are absent. Integers never mix with float
//! math except through [`ToFloat`] (the program refuses it, see
//! [`Program::push`](crate::symbolic::Program::push)).

use crate::symbolic::derive::DeriveCx;
#[cfg(feature = "runtime")]
use crate::symbolic::eval::Value;
use crate::symbolic::ir::{Kind, KindError, ValueId};
use crate::symbolic::methods::{Build, Method};
use crate::symbolic::op::{expect_arity, Emit, Rule};
use crate::symbolic::print::{infix, Prec, Printed};
#[cfg(feature = "runtime")]
use crate::tensor::Real;

/// The rules every op here shares: no derivative, in either direction.
macro_rules! constant_rule {
    () => {
        constant_rule!(of_a_shape);
        fn takes_integers(&self) -> bool {
            true
        }
    };
    // A shape's extent: its operand is a tensor, and reading its extent cannot fail (so
    // generated code says nothing before it, for messages).
    (of_a_shape) => {
        fn reverse(
            &self,
            _: &mut DeriveCx<'_>,
            args: &[ValueId],
            _: ValueId,
            _: ValueId,
        ) -> Result<Vec<Option<ValueId>>, KindError> {
            // A constant does not depend on any value's elements.
            Ok(vec![None; args.len()])
        }
        fn forward(
            &self,
            _: &mut DeriveCx<'_>,
            _: &[ValueId],
            _: &[Option<ValueId>],
            _: ValueId,
        ) -> Result<Option<ValueId>, KindError> {
            Ok(None)
        }
    };
}

fn integer_operands(what: &str, args: &[Kind]) -> Result<(), KindError> {
    match args.iter().find(|&&k| k != Kind::Index) {
        None => Ok(()),
        Some(k) => Err(KindError::new(format!(
            "{what} takes integers (`usize`), found {}",
            k.article()
        ))),
    }
}

pub const METHODS: &[Method] = &[
    Method {
        name: "len",
        args: &[],
        build: Build::Op(|_| Ok(Extent::Len.into())),
    },
    Method {
        name: "rows",
        args: &[],
        build: Build::Op(|_| Ok(Extent::Rows.into())),
    },
    Method {
        name: "cols",
        args: &[],
        build: Build::Op(|_| Ok(Extent::Cols.into())),
    },
];

// ───────────────────────────── constant parameter ─────────────────────────────

/// Reads the program's constant number `index` (a `usize` parameter of the function).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ConstantRef {
    pub index: usize,
    pub kind: Kind,
}

impl Rule for ConstantRef {
    constant_rule!();
    fn kind(&self, args: &[Kind]) -> Result<Kind, KindError> {
        expect_arity("constant", args, 0)?;
        Ok(self.kind)
    }
    fn print(&self, _: &[Printed], _: &[Kind]) -> Printed {
        // The printer refers to constants by name; this is only a fallback.
        Printed::atom(format!("c{}", self.index))
    }
    #[cfg(feature = "runtime")]
    fn eval<T: Real>(&self, _: &[&Value<T>]) -> Value<T> {
        unreachable!("the interpreter binds constants itself")
    }
    fn emit(&self) -> Emit {
        Emit::Constant(self.index)
    }
}

// ───────────────────────────── integer literal ─────────────────────────────

/// An integer literal.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct IndexLiteral(pub usize);

impl Rule for IndexLiteral {
    constant_rule!();
    fn kind(&self, args: &[Kind]) -> Result<Kind, KindError> {
        expect_arity("integer literal", args, 0)?;
        Ok(Kind::Index)
    }
    fn print(&self, _: &[Printed], _: &[Kind]) -> Printed {
        Printed::atom(self.0.to_string())
    }
    #[cfg(feature = "runtime")]
    fn eval<T: Real>(&self, _: &[&Value<T>]) -> Value<T> {
        Value::Index(self.0)
    }
    fn emit(&self) -> Emit {
        Emit::Index(self.0)
    }
}

// ───────────────────────────── integer arithmetic ─────────────────────────────

/// An integer operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum IntOp {
    Add,
    Sub,
    Mul,
    Div,
    Rem,
    /// The smaller of the two (`a.min(b)`): no user spelling; a checkpointed loop's segment
    /// ends with it.
    Min,
    /// The larger of the two (`a.max(b)`).
    Max,
}

impl IntOp {
    pub fn token(self) -> &'static str {
        match self {
            IntOp::Add => "+",
            IntOp::Sub => "-",
            IntOp::Mul => "*",
            IntOp::Div => "/",
            IntOp::Rem => "%",
            IntOp::Min => "min",
            IntOp::Max => "max",
        }
    }

    /// `a op b` as Rust computes it on `usize` (a subtraction below zero and a division by
    /// zero panic, as in the user's function).
    pub fn apply(self, a: usize, b: usize) -> usize {
        match self {
            IntOp::Add => a + b,
            IntOp::Sub => a - b,
            IntOp::Mul => a * b,
            IntOp::Div => a / b,
            IntOp::Rem => a % b,
            IntOp::Min => a.min(b),
            IntOp::Max => a.max(b),
        }
    }
}

/// `a op b` on integers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct IndexArith(pub IntOp);

impl Rule for IndexArith {
    constant_rule!();
    fn kind(&self, args: &[Kind]) -> Result<Kind, KindError> {
        expect_arity(self.0.token(), args, 2)?;
        integer_operands(&format!("integer `{}`", self.0.token()), args)?;
        Ok(Kind::Index)
    }
    fn print(&self, args: &[Printed], _: &[Kind]) -> Printed {
        let (op, prec) = match self.0 {
            IntOp::Add => (" + ", Prec::Sum),
            IntOp::Sub => (" − ", Prec::Sum),
            IntOp::Mul => ("·", Prec::Product),
            IntOp::Div => (" / ", Prec::Product),
            IntOp::Rem => (" mod ", Prec::Product),
            IntOp::Min | IntOp::Max => {
                let name = self.0.token();
                return Printed::atom(format!("{name}({}, {})", args[0].text, args[1].text));
            }
        };
        infix(&args[0], op, &args[1], prec)
    }
    #[cfg(feature = "runtime")]
    fn eval<T: Real>(&self, args: &[&Value<T>]) -> Value<T> {
        Value::Index(self.0.apply(args[0].as_index(), args[1].as_index()))
    }
    fn emit(&self) -> Emit {
        match self.0 {
            IntOp::Min | IntOp::Max => Emit::Method {
                name: self.0.token(),
                extra: None,
            },
            op => Emit::Infix(op.token()),
        }
    }
}

/// `⌊√n⌋` of an integer (`n.isqrt()`): no user spelling; the segment length of a loop
/// checkpointed every √n iterations.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct IndexSqrt;

impl Rule for IndexSqrt {
    constant_rule!();
    fn kind(&self, args: &[Kind]) -> Result<Kind, KindError> {
        expect_arity("isqrt", args, 1)?;
        integer_operands("`isqrt`", args)?;
        Ok(Kind::Index)
    }
    fn print(&self, args: &[Printed], _: &[Kind]) -> Printed {
        Printed::atom(format!("⌊√{}⌋", args[0].at(Prec::Atom)))
    }
    #[cfg(feature = "runtime")]
    fn eval<T: Real>(&self, args: &[&Value<T>]) -> Value<T> {
        Value::Index(args[0].as_index().isqrt())
    }
    fn emit(&self) -> Emit {
        Emit::Method {
            name: "isqrt",
            extra: None,
        }
    }
}

// ───────────────────────────── extents ─────────────────────────────

/// A tensor's length, rows or columns.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Extent {
    /// `x.len()` of a vector.
    Len,
    /// `m.rows()`
    Rows,
    /// `m.cols()`
    Cols,
}

impl Extent {
    fn method(self) -> &'static str {
        match self {
            Extent::Len => "len",
            Extent::Rows => "rows",
            Extent::Cols => "cols",
        }
    }
}

impl Rule for Extent {
    constant_rule!(of_a_shape);
    fn kind(&self, args: &[Kind]) -> Result<Kind, KindError> {
        expect_arity(self.method(), args, 1)?;
        let wanted = match self {
            Extent::Len => Kind::Vector,
            Extent::Rows | Extent::Cols => Kind::Matrix,
        };
        if args[0] == wanted {
            Ok(Kind::Index)
        } else {
            Err(KindError::new(format!(
                "`{}()` is a method of {}, found {}",
                self.method(),
                wanted.article(),
                args[0].article()
            )))
        }
    }
    fn print(&self, args: &[Printed], _: &[Kind]) -> Printed {
        Printed::atom(format!("{}({})", self.method(), args[0].text))
    }
    #[cfg(feature = "runtime")]
    fn eval<T: Real>(&self, args: &[&Value<T>]) -> Value<T> {
        Value::Index(match self {
            Extent::Len => args[0].as_vector().len(),
            Extent::Rows => args[0].as_matrix().rows(),
            Extent::Cols => args[0].as_matrix().cols(),
        })
    }
    fn emit(&self) -> Emit {
        Emit::Method {
            name: self.method(),
            extra: None,
        }
    }
    fn shape_only_args(&self) -> &'static [usize] {
        &[0]
    }
}

// ───────────────────────────── integer to float ─────────────────────────────

/// `n as f64` (or `as f32`): an integer as a scalar of the function's float type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ToFloat;

impl Rule for ToFloat {
    constant_rule!();
    fn kind(&self, args: &[Kind]) -> Result<Kind, KindError> {
        expect_arity("as", args, 1)?;
        integer_operands("`as` conversion to a float", args)?;
        Ok(Kind::Scalar)
    }
    fn print(&self, args: &[Printed], _: &[Kind]) -> Printed {
        // In the notation an integer is a number like any other.
        args[0].clone()
    }
    #[cfg(feature = "runtime")]
    fn eval<T: Real>(&self, args: &[&Value<T>]) -> Value<T> {
        Value::Scalar(T::from_f64(args[0].as_index() as f64))
    }
    fn emit(&self) -> Emit {
        Emit::Cast
    }
}

// ───────────────────────────── named constants ─────────────────────────────

/// A constant the body names: one of `std::f64::consts` (its value known), or a `const` item
/// of the user's (its value only known to rustc, so the interpreter cannot run it). Either is
/// emitted by its path, converted with `as` to the kind wanted (a float or `usize`), so that a
/// `const N: u32` serves as a loop bound and a `const RATE: f32` in `f64` math.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct NamedConstant {
    /// The path as written (`RATE`, `config::RATE`), or the name in `consts` (`PI`).
    pub path: String,
    /// Whether it is one of the standard library's `consts` of the function's float type.
    pub standard: bool,
    pub kind: Kind,
}

impl NamedConstant {
    /// The constants of `std::f64::consts`, with their values.
    pub const STANDARD: &'static [(&'static str, f64)] = &[
        ("E", std::f64::consts::E),
        ("FRAC_1_PI", std::f64::consts::FRAC_1_PI),
        ("FRAC_1_SQRT_2", std::f64::consts::FRAC_1_SQRT_2),
        ("FRAC_2_PI", std::f64::consts::FRAC_2_PI),
        ("FRAC_2_SQRT_PI", std::f64::consts::FRAC_2_SQRT_PI),
        ("FRAC_PI_2", std::f64::consts::FRAC_PI_2),
        ("FRAC_PI_3", std::f64::consts::FRAC_PI_3),
        ("FRAC_PI_4", std::f64::consts::FRAC_PI_4),
        ("FRAC_PI_6", std::f64::consts::FRAC_PI_6),
        ("FRAC_PI_8", std::f64::consts::FRAC_PI_8),
        ("LN_10", std::f64::consts::LN_10),
        ("LN_2", std::f64::consts::LN_2),
        ("LOG10_2", std::f64::consts::LOG10_2),
        ("LOG10_E", std::f64::consts::LOG10_E),
        ("LOG2_10", std::f64::consts::LOG2_10),
        ("LOG2_E", std::f64::consts::LOG2_E),
        ("PI", std::f64::consts::PI),
        ("SQRT_2", std::f64::consts::SQRT_2),
        ("TAU", std::f64::consts::TAU),
    ];

    /// The value of a standard constant (`None` for a user's `const`).
    pub fn value(&self) -> Option<f64> {
        if !self.standard {
            return None;
        }
        Self::STANDARD
            .iter()
            .find(|(name, _)| *name == self.path)
            .map(|&(_, v)| v)
    }
}

impl Rule for NamedConstant {
    constant_rule!();
    fn kind(&self, args: &[Kind]) -> Result<Kind, KindError> {
        expect_arity("constant", args, 0)?;
        match self.kind {
            Kind::Scalar | Kind::Index => Ok(self.kind),
            k => Err(KindError::new(format!(
                "a named constant is a float or an integer, not {}",
                k.article()
            ))),
        }
    }
    fn print(&self, _: &[Printed], _: &[Kind]) -> Printed {
        Printed::atom(match self.path.as_str() {
            "PI" if self.standard => "π".to_string(),
            "TAU" if self.standard => "τ".to_string(),
            "E" if self.standard => "e".to_string(),
            _ => self.path.clone(),
        })
    }
    #[cfg(feature = "runtime")]
    fn eval<T: Real>(&self, _: &[&Value<T>]) -> Value<T> {
        match self.value() {
            Some(v) => Value::Scalar(T::from_f64(v)),
            None => panic!(
                "autodiff interpreter: the value of `{}` is only known to the compiler",
                self.path
            ),
        }
    }
    fn emit(&self) -> Emit {
        Emit::Named {
            path: self.path.clone(),
            standard: self.standard,
        }
    }
}

// ───────────────────────────── conditions ─────────────────────────────

/// A comparison operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CmpOp {
    Lt,
    Le,
    Gt,
    Ge,
    Eq,
    Ne,
}

impl CmpOp {
    pub fn token(self) -> &'static str {
        match self {
            CmpOp::Lt => "<",
            CmpOp::Le => "<=",
            CmpOp::Gt => ">",
            CmpOp::Ge => ">=",
            CmpOp::Eq => "==",
            CmpOp::Ne => "!=",
        }
    }

    fn symbol(self) -> &'static str {
        match self {
            CmpOp::Lt => " < ",
            CmpOp::Le => " ≤ ",
            CmpOp::Gt => " > ",
            CmpOp::Ge => " ≥ ",
            CmpOp::Eq => " = ",
            CmpOp::Ne => " ≠ ",
        }
    }

    /// `a op b`.
    pub fn holds<T: PartialOrd>(self, a: T, b: T) -> bool {
        match self {
            CmpOp::Lt => a < b,
            CmpOp::Le => a <= b,
            CmpOp::Gt => a > b,
            CmpOp::Ge => a >= b,
            CmpOp::Eq => a == b,
            CmpOp::Ne => a != b,
        }
    }
}

/// `a op b` of two scalars or two integers: a condition. Its derivative is none: a branch's
/// derivative is that of the side taken.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Compare(pub CmpOp);

impl Rule for Compare {
    constant_rule!();
    fn kind(&self, args: &[Kind]) -> Result<Kind, KindError> {
        expect_arity(self.0.token(), args, 2)?;
        match (args[0], args[1]) {
            (Kind::Scalar, Kind::Scalar)
            | (Kind::Index, Kind::Index)
            | (Kind::Bool, Kind::Bool) => Ok(Kind::Bool),
            (a, b) => Err(KindError::new(format!(
                "a condition compares two scalars or two integers, found {} and {}",
                a.article(),
                b.article()
            ))),
        }
    }
    fn print(&self, args: &[Printed], _: &[Kind]) -> Printed {
        infix(&args[0], self.0.symbol(), &args[1], Prec::Sum)
    }
    #[cfg(feature = "runtime")]
    fn eval<T: Real>(&self, args: &[&Value<T>]) -> Value<T> {
        Value::Bool(match (args[0], args[1]) {
            (Value::Scalar(a), Value::Scalar(b)) => self.0.holds(*a, *b),
            (Value::Index(a), Value::Index(b)) => self.0.holds(*a, *b),
            (Value::Bool(a), Value::Bool(b)) => self.0.holds(*a, *b),
            (a, b) => panic!(
                "autodiff interpreter: comparing {} and {}",
                a.kind().article(),
                b.kind().article()
            ),
        })
    }
    fn emit(&self) -> Emit {
        Emit::Infix(self.0.token())
    }
}

/// `a && b`, `a || b`, `!a` on conditions, and a literal `true`/`false`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Logic {
    And,
    Or,
    Not,
    Literal(bool),
}

impl Rule for Logic {
    constant_rule!();
    fn kind(&self, args: &[Kind]) -> Result<Kind, KindError> {
        let n = match self {
            Logic::And | Logic::Or => 2,
            Logic::Not => 1,
            Logic::Literal(_) => 0,
        };
        expect_arity("a condition", args, n)?;
        if args.iter().all(|&k| k == Kind::Bool) {
            Ok(Kind::Bool)
        } else {
            Err(KindError::new(
                "`&&`, `||` and `!` combine conditions (`bool`)",
            ))
        }
    }
    fn print(&self, args: &[Printed], _: &[Kind]) -> Printed {
        match self {
            Logic::And => infix(&args[0], " and ", &args[1], Prec::Sum),
            Logic::Or => infix(&args[0], " or ", &args[1], Prec::Sum),
            Logic::Not => Printed::new(format!("not {}", args[0].at(Prec::Atom)), Prec::Prefix),
            Logic::Literal(b) => Printed::atom(b.to_string()),
        }
    }
    #[cfg(feature = "runtime")]
    fn eval<T: Real>(&self, args: &[&Value<T>]) -> Value<T> {
        Value::Bool(match self {
            Logic::And => args[0].as_bool() && args[1].as_bool(),
            Logic::Or => args[0].as_bool() || args[1].as_bool(),
            Logic::Not => !args[0].as_bool(),
            Logic::Literal(b) => *b,
        })
    }
    fn emit(&self) -> Emit {
        match self {
            Logic::And => Emit::Infix("&&"),
            Logic::Or => Emit::Infix("||"),
            Logic::Not => Emit::Prefix("!"),
            Logic::Literal(b) => Emit::Bool(*b),
        }
    }
}
