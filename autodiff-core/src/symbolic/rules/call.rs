//! Calls to other differentiable functions (and to functions with user-supplied derivatives).
//!
//! The engine does not see inside a callee: its value is the callee itself, its pullback and
//! pushforward are the callee's generated building blocks, called by path with a fixed
//! convention (every differentiable parameter, in signature order):
//! `f::vjp(args.., upstream) -> (value, (g₀, g₁, ..))` and
//! `f::jvp(args.., t₀, t₁, ..) -> (value, tangent)`, and for second derivatives
//! `f::vjp_jvp(args.., upstream, t₀, t₁, .., t_upstream) -> (value, (g..), (ġ..))`
//! (forward mode over the pullback). The interpreter cannot run
//! them (they are user code), so programs with calls are checked through the macro.

use crate::symbolic::derive::DeriveCx;
#[cfg(feature = "runtime")]
use crate::symbolic::eval::Value;
use crate::symbolic::ir::{Kind, KindError, ValueId};
use crate::symbolic::op::{CallPart, Emit, Rule};
use crate::symbolic::print::Printed;
#[cfg(feature = "runtime")]
use crate::tensor::Real;

use super::arith::Literal;
use super::reduce::Fill;

/// How a callee takes one parameter.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum CalleeParam {
    /// A differentiable parameter: a value of the program.
    Value { kind: Kind, by_ref: bool },
    /// A constant parameter: the caller's source text for it.
    Constant(String),
}

/// The name of the hidden type that holds `function`'s building blocks: the function's own,
/// unless that is a primitive type's (a type `f32` would hide the primitive in its module), then
/// `__autodiff_blocks_{function}`.
pub fn blocks_holder(function: &str) -> String {
    const PRIMITIVES: &[&str] = &[
        "bool", "char", "str", "f16", "f32", "f64", "f128", "i8", "i16", "i32", "i64", "i128",
        "isize", "u8", "u16", "u32", "u64", "u128", "usize",
    ];
    if PRIMITIVES.contains(&function) {
        format!("__autodiff_blocks_{function}")
    } else {
        function.to_string()
    }
}

/// What a call site knows of its callee.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Callee {
    /// The callee's path, as written at the call: `dense`, or `layers::dense`.
    pub name: String,
    /// Its parameters, in order.
    pub params: Vec<CalleeParam>,
    /// The kinds of its results: one, or several for a function returning a tuple (whose call
    /// is then a [`Kind::Tuple`] read by projections, and whose building blocks take one
    /// upstream gradient per result and give tuples of values and tangents).
    pub results: Vec<Kind>,
    /// Whether it has the second-order block `f::vjp_jvp` (a `#[derivative]`
    /// supplies only a pullback).
    pub second_order: bool,
}

impl Callee {
    /// The kind of a call's value: the result's, or [`Kind::Tuple`] for several.
    pub fn result_kind(&self) -> Kind {
        match self.results[..] {
            [one] => one,
            _ => Kind::Tuple,
        }
    }

    /// The kinds of its differentiable parameters, in order.
    pub fn value_kinds(&self) -> Vec<Kind> {
        self.params
            .iter()
            .filter_map(|p| match p {
                CalleeParam::Value { kind, .. } => Some(*kind),
                CalleeParam::Constant(_) => None,
            })
            .collect()
    }

    /// The path of one of the callee's building blocks (`vjp`, `jvp`, `vjp_jvp`): associated
    /// functions of a hidden type of the callee's name, so reached by the path the call used
    /// (`layers::dense::vjp`).
    pub fn block(&self, block: &str) -> String {
        let (module, function) = match self.name.rsplit_once("::") {
            Some((module, function)) => (format!("{module}::"), function),
            None => (String::new(), self.name.as_str()),
        };
        format!("{module}{}::{block}", blocks_holder(function))
    }

    fn check_args(&self, args: &[Kind]) -> Result<(), KindError> {
        let expected = self.value_kinds();
        if expected.as_slice() == args {
            Ok(())
        } else {
            Err(KindError::new(format!(
                "`{}` takes {} differentiable argument(s) of kinds {:?}, found {:?}",
                self.name,
                expected.len(),
                expected,
                args
            )))
        }
    }

    /// `f(a, b, n)` from printed differentiable arguments, constants as written.
    fn print_call(&self, function: &str, values: &[Printed], extra: &[Printed]) -> Printed {
        let mut values = values.iter();
        let mut parts: Vec<String> = self
            .params
            .iter()
            .map(|p| match p {
                CalleeParam::Value { .. } => {
                    values.next().map(|v| v.text.clone()).unwrap_or_default()
                }
                CalleeParam::Constant(text) => text.clone(),
            })
            .collect();
        parts.extend(extra.iter().map(|e| e.text.clone()));
        Printed::atom(format!("{function}({})", parts.join(", ")))
    }
}

/// The operands of a callee's pushforward block: the arguments, then a tangent for each (a zero
/// of its shape where the tangent is a symbolic zero: the block takes every one).
fn with_tangents(
    cx: &mut DeriveCx<'_>,
    args: &[ValueId],
    tangents: &[Option<ValueId>],
) -> Result<Vec<ValueId>, KindError> {
    let mut operands = args.to_vec();
    for (&arg, tangent) in args.iter().zip(tangents) {
        operands.push(match tangent {
            Some(t) => *t,
            None => {
                let zero = cx.push(Literal::new(0.0), &[])?;
                cx.push(Fill, &[zero, arg])?
            }
        });
    }
    Ok(operands)
}

/// The adjoints of a call's arguments: one part of the callee's pullback per active argument,
/// each from the arguments and the upstream gradients (one per result).
fn pullback_parts(
    cx: &mut DeriveCx<'_>,
    callee: &Callee,
    args: &[ValueId],
    upstreams: &[ValueId],
) -> Result<Vec<Option<ValueId>>, KindError> {
    let mut operands = args.to_vec();
    operands.extend_from_slice(upstreams);
    args.iter()
        .enumerate()
        .map(|(part, &arg)| {
            cx.when_active(arg, |cx| {
                cx.push(
                    CallVjp {
                        callee: callee.clone(),
                        part,
                    },
                    &operands,
                )
            })
        })
        .collect()
}

/// The pullback of a call of a function with several results, once the adjoints of the
/// results it gives (its projections) are known: a zero upstream for a result nobody reads.
pub(crate) fn reverse_tuple_call(
    cx: &mut DeriveCx<'_>,
    at: ValueId,
    call: &Call,
    args: &[ValueId],
    douts: &[Option<ValueId>],
) -> Result<Vec<Option<ValueId>>, KindError> {
    let mut upstreams = Vec::with_capacity(call.0.results.len());
    for (index, &kind) in call.0.results.iter().enumerate() {
        upstreams.push(match douts.get(index).copied().flatten() {
            Some(d) => d,
            None => {
                let like = cx.push_primal(super::control::Project { index, kind }, &[at])?;
                if kind == Kind::Scalar {
                    cx.push(Literal::new(0.0), &[])?
                } else {
                    let zero = cx.push(Literal::new(0.0), &[])?;
                    cx.push(Fill, &[zero, like])?
                }
            }
        });
    }
    pullback_parts(cx, &call.0, args, &upstreams)
}

// ───────────────────────────── call ─────────────────────────────
// y = f(a, b)       reverse: (da, db) = f_vjp(a, b, dy)     forward: dy = f_jvp(a, b, da, db)

/// A call of a differentiable function; operands: its differentiable arguments.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Call(pub Callee);

impl Rule for Call {
    fn kind(&self, args: &[Kind]) -> Result<Kind, KindError> {
        self.0.check_args(args)?;
        Ok(self.0.result_kind())
    }
    fn reverse(
        &self,
        cx: &mut DeriveCx<'_>,
        args: &[ValueId],
        _out: ValueId,
        dout: ValueId,
    ) -> Result<Vec<Option<ValueId>>, KindError> {
        pullback_parts(cx, &self.0, args, &[dout])
    }
    fn forward(
        &self,
        cx: &mut DeriveCx<'_>,
        args: &[ValueId],
        tangents: &[Option<ValueId>],
        _out: ValueId,
    ) -> Result<Option<ValueId>, KindError> {
        let operands = with_tangents(cx, args, tangents)?;
        cx.push(CallJvp(self.0.clone()), &operands).map(Some)
    }
    fn print(&self, args: &[Printed], _: &[Kind]) -> Printed {
        self.0.print_call(&self.0.name, args, &[])
    }
    #[cfg(feature = "runtime")]
    fn eval<T: Real>(&self, _: &[&Value<T>]) -> Value<T> {
        panic!(
            "autodiff interpreter: a call of `{}` runs only in generated code",
            self.0.name
        )
    }
    fn emit(&self) -> Emit {
        Emit::Call {
            function: self.0.name.clone(),
            callee: self.0.clone(),
            part: CallPart::Whole,
        }
    }
}

/// Part `part` (the adjoint of the callee's differentiable argument number `part`) of the
/// callee's pullback; operands: the differentiable arguments, then the upstream gradient.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct CallVjp {
    pub callee: Callee,
    pub part: usize,
}

impl Rule for CallVjp {
    fn kind(&self, args: &[Kind]) -> Result<Kind, KindError> {
        let n = args.len().saturating_sub(self.callee.results.len());
        self.callee.check_args(&args[..n])?;
        args.get(self.part)
            .copied()
            .ok_or_else(|| KindError::new("a pullback part past the callee's arguments"))
    }
    // dg = ġ from the callee's forward-over-reverse block, with zero tangents where none.
    fn forward(
        &self,
        cx: &mut DeriveCx<'_>,
        args: &[ValueId],
        tangents: &[Option<ValueId>],
        _out: ValueId,
    ) -> Result<Option<ValueId>, KindError> {
        if !self.callee.second_order {
            return Err(KindError::new(format!(
                "`{}` has a user-supplied pullback only; second derivatives through it are not \
                 available",
                self.callee.name
            )));
        }
        let operands = with_tangents(cx, args, tangents)?;
        cx.push(
            CallVjpJvp {
                callee: self.callee.clone(),
                part: self.part,
            },
            &operands,
        )
        .map(Some)
    }
    fn print(&self, args: &[Printed], _: &[Kind]) -> Printed {
        let n = args.len() - self.callee.results.len();
        let call =
            self.callee
                .print_call(&format!("{}_vjp", self.callee.name), &args[..n], &args[n..]);
        Printed::atom(format!("{}[{}]", call.text, self.part))
    }
    #[cfg(feature = "runtime")]
    fn eval<T: Real>(&self, _: &[&Value<T>]) -> Value<T> {
        panic!(
            "autodiff interpreter: a call of `{}` runs only in generated code",
            self.callee.name
        )
    }
    fn emit(&self) -> Emit {
        Emit::Call {
            function: self.callee.block("vjp"),
            callee: self.callee.clone(),
            part: CallPart::Gradient(self.part),
        }
    }
}

/// The callee's pushforward; operands: the differentiable arguments, then one tangent each.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct CallJvp(pub Callee);

impl Rule for CallJvp {
    fn kind(&self, args: &[Kind]) -> Result<Kind, KindError> {
        let n = args.len() / 2;
        self.0.check_args(&args[..n])?;
        self.0.check_args(&args[n..])?;
        Ok(self.0.result_kind())
    }
    fn print(&self, args: &[Printed], _: &[Kind]) -> Printed {
        let n = args.len() / 2;
        self.0
            .print_call(&format!("{}_jvp", self.0.name), &args[..n], &args[n..])
    }
    #[cfg(feature = "runtime")]
    fn eval<T: Real>(&self, _: &[&Value<T>]) -> Value<T> {
        panic!(
            "autodiff interpreter: a call of `{}` runs only in generated code",
            self.0.name
        )
    }
    fn emit(&self) -> Emit {
        Emit::Call {
            function: self.0.block("jvp"),
            callee: self.0.clone(),
            part: CallPart::Tangent,
        }
    }
}

/// Part `part` of the tangent of the callee's pullback (forward over reverse); operands: the
/// differentiable arguments and the upstream gradient, then one tangent for each of those.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct CallVjpJvp {
    pub callee: Callee,
    pub part: usize,
}

impl Rule for CallVjpJvp {
    fn kind(&self, args: &[Kind]) -> Result<Kind, KindError> {
        let n = args.len() / 2;
        self.callee
            .check_args(&args[..n.saturating_sub(self.callee.results.len())])?;
        args.get(self.part)
            .copied()
            .ok_or_else(|| KindError::new("a pullback part past the callee's arguments"))
    }
    fn print(&self, args: &[Printed], _: &[Kind]) -> Printed {
        let n = args.len() / 2;
        let k = self.callee.results.len();
        let call = self.callee.print_call(
            &format!("{}_vjp_jvp", self.callee.name),
            &args[..n - k],
            &args[n - k..],
        );
        Printed::atom(format!("{}[{}]", call.text, self.part))
    }
    #[cfg(feature = "runtime")]
    fn eval<T: Real>(&self, _: &[&Value<T>]) -> Value<T> {
        panic!(
            "autodiff interpreter: a call of `{}` runs only in generated code",
            self.callee.name
        )
    }
    fn emit(&self) -> Emit {
        Emit::Call {
            function: self.callee.block("vjp_jvp"),
            callee: self.callee.clone(),
            part: CallPart::GradientTangent(self.part),
        }
    }
}
