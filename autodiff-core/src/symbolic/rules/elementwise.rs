//! Elementwise functions. Their Jacobians are diagonal, so a pullback is one elementwise product
//! `dy ⊙ f'(x)`, computed by a fused kernel in one pass; no Jacobian is ever built.

use crate::symbolic::derive::DeriveCx;
#[cfg(feature = "runtime")]
use crate::symbolic::eval::{zip_values, Value};
use crate::symbolic::ir::{Kind, KindError, ValueId};
use crate::symbolic::methods::{Arg, Build, Method};
use crate::symbolic::op::{expect_arity, Constant, Emit, Kernel, Rule, ShapeOf};
use crate::symbolic::print::{self, Prec, Printed};
use crate::symbolic::vmap::{not_batchable, scale_batch, Operand, VmapCx};
#[cfg(feature = "runtime")]
use crate::tensor::{kernels, Real};

/// Whether a derivative is written in terms of the function's input `x` or its output `y`
/// (`tanh' = 1 − y²` reuses the forward result instead of recomputing it).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Uses {
    Input,
    Output,
}

/// Where an elementwise function's inputs keep it smooth and moderate: what tests draw from.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Domain {
    /// Uniform in `[lo, hi)`.
    Uniform(f64, f64),
    /// Magnitude uniform in `[lo, hi)` with either sign (away from a kink or a pole at 0).
    AwayFromZero(f64, f64),
}

/// The engine's half of the table in [`crate::functions`].
macro_rules! define_unary_fns {
    ([] $(
        $(#[$doc:meta])*
        $variant:ident $method:ident $place:ident {
            value: |$x:ident| $value:expr;
            pullback: $reads:ident |$d:ident, $a:ident| $pullback:expr;
            print: |$pdy:ident, $pa:ident, $pt:ident| $print:expr;
            second: |$cx:ident, $sa:ident, $sp:ident| $second:expr;
            domain: $domain:ident($lo:expr, $hi:expr);
        }
    )*) => {
        /// An elementwise function of the language (a row of [`crate::functions`]).
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum UnaryFn {
            $($(#[$doc])* $variant,)*
        }

        impl UnaryFn {
            /// Every function, in table order.
            pub const ALL: &'static [UnaryFn] = &[$(UnaryFn::$variant,)*];

            /// The method name in Rust source: `x.exp()`.
            pub fn method(self) -> &'static str {
                match self { $(UnaryFn::$variant => stringify!($method),)* }
            }

            /// The function of the given method name.
            pub fn from_method(name: &str) -> Option<UnaryFn> {
                match name { $(stringify!($method) => Some(UnaryFn::$variant),)* _ => None }
            }

            /// Its variant's name, as generated code writes it (`UnaryFn::Tanh`).
            pub fn variant(self) -> &'static str {
                match self { $(UnaryFn::$variant => stringify!($variant),)* }
            }

            /// Whether the derivative reads the input or the output.
            pub fn uses(self) -> Uses {
                match self { $(UnaryFn::$variant => define_unary_fns!(@uses $reads),)* }
            }

            /// Where tests draw its inputs from.
            pub fn domain(self) -> Domain {
                match self { $(UnaryFn::$variant => Domain::$domain($lo, $hi),)* }
            }

            /// The scalar meaning.
            #[cfg(feature = "runtime")]
            pub fn apply<T: Real>(self, input: T) -> T {
                match self { $(UnaryFn::$variant => { let $x = input; $value })* }
            }

            /// The pullback `d·f'(·)` of one element, from `a` (the input or the output, as
            /// [`uses`](Self::uses) says).
            #[cfg(feature = "runtime")]
            #[inline(always)]
            pub fn pullback<T: Real>(self, d: T, a: T) -> T {
                match self { $(UnaryFn::$variant => { let ($d, $a) = (d, a); $pullback })* }
            }

            /// `p ⊙ f''(a)`, the derivative of `f'(·)` with respect to what it reads (`a`, the
            /// input or the output) applied to `p`, built as IR; `None` where it is zero. Second
            /// derivatives (Hessians, forward-over-reverse) use it. Applying it to `p` rather
            /// than forming `f''(a)` keeps it finite where `f''` alone would overflow (`1/a²`).
            fn second(
                self,
                cx: &mut DeriveCx<'_>,
                a: ValueId,
                p: ValueId,
            ) -> Result<Option<ValueId>, KindError> {
                match self {
                    $(UnaryFn::$variant => { let ($cx, $sa, $sp) = (cx, a, p); $second })*
                }
            }

            /// `dy ⊙ f'(·)` in the derivation notation; `t` is the product sign.
            fn print_grad(self, dy: &Printed, arg: &Printed, sign: &str) -> Printed {
                match self {
                    $(UnaryFn::$variant => { let ($pdy, $pa, $pt) = (dy, arg, sign); $print })*
                }
            }
        }
    };
    (@uses input) => { Uses::Input };
    (@uses output) => { Uses::Output };
}

crate::__elementwise_functions!(define_unary_fns);

fn product(text: String) -> Printed {
    Printed::new(text, Prec::Product)
}

/// `dy ⊙ slope`, for the printed pullbacks of the table.
fn times(dy: &Printed, sign: &str, slope: String) -> Printed {
    product(format!("{}{sign}{slope}", dy.at(Prec::Product)))
}

/// `dy / denominator`, for the printed pullbacks of the table.
fn over(dy: &Printed, denominator: String) -> Printed {
    product(format!("{} / {denominator}", dy.at(Prec::Product)))
}

// ───────────────────────────── f(x) ─────────────────────────────
// y = f(x)        reverse: dx = dy ⊙ f'(x)   (one fused kernel, reading x or y)

/// `f(x)` elementwise.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Unary(pub UnaryFn);

impl Rule for Unary {
    fn shape(&self) -> ShapeOf {
        ShapeOf::Operand(0)
    }
    fn kind(&self, args: &[Kind]) -> Result<Kind, KindError> {
        expect_arity(self.0.method(), args, 1)?;
        Ok(args[0])
    }
    fn reverse(
        &self,
        cx: &mut DeriveCx<'_>,
        args: &[ValueId],
        out: ValueId,
        dout: ValueId,
    ) -> Result<Vec<Option<ValueId>>, KindError> {
        let read = match self.0.uses() {
            Uses::Input => args[0],
            Uses::Output => out,
        };
        Ok(vec![Some(cx.push(UnaryGrad(self.0), &[dout, read])?)])
    }
    fn forward(
        &self,
        cx: &mut DeriveCx<'_>,
        args: &[ValueId],
        tangents: &[Option<ValueId>],
        out: ValueId,
    ) -> Result<Option<ValueId>, KindError> {
        // dy = f'(x) ⊙ dx: the same fused kernel as the pullback (a diagonal Jacobian is its
        // own transpose).
        let read = match self.0.uses() {
            Uses::Input => args[0],
            Uses::Output => out,
        };
        tangents[0]
            .map(|dx| cx.push(UnaryGrad(self.0), &[dx, read]))
            .transpose()
    }
    fn print(&self, args: &[Printed], _: &[Kind]) -> Printed {
        Printed::atom(format!("{}({})", self.0.method(), args[0].text))
    }
    #[cfg(feature = "runtime")]
    fn eval<T: Real>(&self, args: &[&Value<T>]) -> Value<T> {
        let f = self.0;
        args[0].map(|x| f.apply(x))
    }
    fn emit(&self) -> Emit {
        Emit::Method {
            name: self.0.method(),
            extra: None,
        }
    }
}

/// The fused pullback `dy ⊙ f'(·)` of an elementwise function; operands `(dy, x or y)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct UnaryGrad(pub UnaryFn);

// g = dy ⊙ f'(a)     forward: dg = ddy ⊙ f'(a) + dy ⊙ f''(a) ⊙ da   (a = x or y, as f' reads)

impl Rule for UnaryGrad {
    fn shape(&self) -> ShapeOf {
        ShapeOf::Operand(0)
    }
    fn kind(&self, args: &[Kind]) -> Result<Kind, KindError> {
        expect_arity(Kernel::UnaryGrad.name(), args, 2)?;
        same_kind(Kernel::UnaryGrad.name(), args[0], args[1])
    }
    fn forward(
        &self,
        cx: &mut DeriveCx<'_>,
        args: &[ValueId],
        tangents: &[Option<ValueId>],
        _out: ValueId,
    ) -> Result<Option<ValueId>, KindError> {
        let (dy, a) = (args[0], args[1]);
        let linear = tangents[0]
            .map(|ddy| cx.push(*self, &[ddy, a]))
            .transpose()?;
        let curvature = match tangents[1] {
            Some(da) => {
                let dy_da = cx.mul(dy, da)?;
                self.0.second(cx, a, dy_da)?
            }
            None => None,
        };
        cx.add_opt(linear, curvature)
    }
    fn vmap(&self, cx: &mut VmapCx<'_>, args: &[Operand]) -> Result<ValueId, KindError> {
        // dy ⊙ f'(a) for every column of the batch: the rows scaled by f'(a).
        let (t, a) = (args[0], args[1]);
        if !t.batched || a.batched {
            return Err(not_batchable("a derivative kernel with a batched argument"));
        }
        let ones = cx.ones_like(a.value)?;
        let slope = cx.push(*self, &[ones, a.value])?;
        scale_batch(cx, t, Operand { value: slope, ..a })
    }
    fn print(&self, args: &[Printed], kinds: &[Kind]) -> Printed {
        self.0.print_grad(&args[0], &args[1], print::times(kinds))
    }
    #[cfg(feature = "runtime")]
    fn eval<T: Real>(&self, args: &[&Value<T>]) -> Value<T> {
        let f = self.0;
        zip_values!(args[0], args[1], |d, a| kernels::unary_grad(d, a, f))
    }
    fn emit(&self) -> Emit {
        Emit::KernelReusing {
            kernel: Kernel::UnaryGrad,
            reusing: Kernel::UnaryGradOwned,
            constant: Some(Constant::Function(self.0)),
        }
    }
}

/// The methods the front end reads as these ops besides the table's functions: `x.powi(n)`.
pub const METHODS: &[Method] = &[Method {
    name: "powi",
    args: &[Arg::Int("an integer literal exponent, such as `powi(2)`")],
    build: Build::Op(|ints| match ints {
        [n] => i32::try_from(*n)
            .map(|n| Powi(n).into())
            .map_err(|_| "the exponent does not fit in an i32".to_string()),
        _ => Err("`powi` takes one exponent".to_string()),
    }),
}];

// ───────────────────────────── xⁿ ─────────────────────────────
// y = xⁿ          reverse: dx = dy ⊙ n·xⁿ⁻¹   (one fused kernel)

/// `x.powi(n)`
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Powi(pub i32);

/// `x` raised to `n`, written with a superscript where one exists: `x²`, `x⁻¹`, `x^12`.
fn power(x: &Printed, n: i128) -> Printed {
    const DIGITS: [char; 10] = ['⁰', '¹', '²', '³', '⁴', '⁵', '⁶', '⁷', '⁸', '⁹'];
    let exponent: String = if (-9..=9).contains(&n) {
        let sign = if n < 0 { "⁻" } else { "" };
        format!("{sign}{}", DIGITS[n.unsigned_abs() as usize])
    } else {
        format!("^{n}")
    };
    Printed::atom(format!("{}{exponent}", x.at(Prec::Atom)))
}

impl Rule for Powi {
    fn shape(&self) -> ShapeOf {
        ShapeOf::Operand(0)
    }
    fn kind(&self, args: &[Kind]) -> Result<Kind, KindError> {
        expect_arity("powi", args, 1)?;
        Ok(args[0])
    }
    fn reverse(
        &self,
        cx: &mut DeriveCx<'_>,
        args: &[ValueId],
        _: ValueId,
        dout: ValueId,
    ) -> Result<Vec<Option<ValueId>>, KindError> {
        if self.0 == 0 {
            return Ok(vec![None]);
        }
        Ok(vec![Some(cx.push(PowiGrad::of(*self), &[dout, args[0]])?)])
    }
    fn forward(
        &self,
        cx: &mut DeriveCx<'_>,
        args: &[ValueId],
        tangents: &[Option<ValueId>],
        _out: ValueId,
    ) -> Result<Option<ValueId>, KindError> {
        if self.0 == 0 {
            return Ok(None);
        }
        tangents[0]
            .map(|dx| cx.push(PowiGrad::of(*self), &[dx, args[0]]))
            .transpose()
    }
    fn print(&self, args: &[Printed], _: &[Kind]) -> Printed {
        power(&args[0], self.0.into())
    }
    #[cfg(feature = "runtime")]
    fn eval<T: Real>(&self, args: &[&Value<T>]) -> Value<T> {
        let n = self.0;
        args[0].map(|x| x.powi(n))
    }
    fn emit(&self) -> Emit {
        Emit::Method {
            name: "powi",
            extra: Some(i64::from(self.0)),
        }
    }
}

/// The fused pullback `dy ⊙ n·xⁿ⁻¹` of `x.powi(n)`; operands `(dy, x)`.
///
/// `n` is an `i64`: each forward derivative lowers it by one (`PowiGrad(n − 1)` below), so the
/// second derivatives of `powi(i32::MIN)` need exponents below `i32::MIN`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PowiGrad(pub i64);

impl PowiGrad {
    /// The pullback of `powi`.
    pub fn of(powi: Powi) -> Self {
        PowiGrad(i64::from(powi.0))
    }
}

// g = dy ⊙ n·xⁿ⁻¹   forward: dg = ddy ⊙ n·xⁿ⁻¹ + n·((dy ⊙ dx) ⊙ (n−1)·xⁿ⁻²)

impl Rule for PowiGrad {
    fn shape(&self) -> ShapeOf {
        ShapeOf::Operand(0)
    }
    fn kind(&self, args: &[Kind]) -> Result<Kind, KindError> {
        expect_arity("powi_grad", args, 2)?;
        same_kind("powi_grad", args[0], args[1])
    }
    fn forward(
        &self,
        cx: &mut DeriveCx<'_>,
        args: &[ValueId],
        tangents: &[Option<ValueId>],
        _out: ValueId,
    ) -> Result<Option<ValueId>, KindError> {
        let (dy, x) = (args[0], args[1]);
        let n = self.0;
        let linear = tangents[0]
            .map(|ddy| cx.push(*self, &[ddy, x]))
            .transpose()?;
        let curvature = match tangents[1] {
            Some(dx) if n != 0 && n != 1 => {
                // Out of range only after 2⁶³ derivatives of an `i32` power.
                let below = n.checked_sub(1).ok_or_else(|| {
                    KindError::new(format!("`powi_grad` exponent {n} has no derivative kernel"))
                })?;
                let dy_dx = cx.mul(dy, dx)?;
                let lower = cx.push(PowiGrad(below), &[dy_dx, x])?;
                // Exact for every exponent a derivative of an `i32` power reaches (|n| < 2⁵³).
                let n = cx.literal(n as f64)?;
                Some(cx.mul(n, lower)?)
            }
            _ => None,
        };
        cx.add_opt(linear, curvature)
    }
    fn vmap(&self, cx: &mut VmapCx<'_>, args: &[Operand]) -> Result<ValueId, KindError> {
        let (t, x) = (args[0], args[1]);
        if !t.batched || x.batched {
            return Err(not_batchable("a derivative kernel with a batched argument"));
        }
        let ones = cx.ones_like(x.value)?;
        let slope = cx.push(*self, &[ones, x.value])?;
        scale_batch(cx, t, Operand { value: slope, ..x })
    }
    fn print(&self, args: &[Printed], kinds: &[Kind]) -> Printed {
        let n = self.0;
        // The notation's minus sign is U+2212, as everywhere in a derivation.
        let factor = n.to_string().replace('-', "−");
        // i128: `n − 1` of any `i64`.
        let local = match i128::from(n) - 1 {
            0 => Printed::atom(factor),
            1 => Printed::new(
                format!("{factor}·{}", args[1].at(Prec::Atom)),
                Prec::Product,
            ),
            m => Printed::new(
                format!("{factor}·{}", power(&args[1], m).text),
                Prec::Product,
            ),
        };
        Printed::new(
            format!(
                "{}{}{}",
                args[0].at(Prec::Product),
                print::times(kinds),
                local.at(Prec::Atom)
            ),
            Prec::Product,
        )
    }
    #[cfg(feature = "runtime")]
    fn eval<T: Real>(&self, args: &[&Value<T>]) -> Value<T> {
        let n = self.0;
        zip_values!(args[0], args[1], |d, x| kernels::powi_grad(d, x, n))
    }
    fn emit(&self) -> Emit {
        Emit::Kernel {
            kernel: Kernel::PowiGrad,
            constant: Some(Constant::Int(self.0)),
        }
    }
}

/// Both operands of a fused pullback have the result's kind.
pub(crate) fn same_kind(name: &str, a: Kind, b: Kind) -> Result<Kind, KindError> {
    if a == b {
        Ok(a)
    } else {
        Err(KindError::new(format!(
            "`{name}` takes two operands of the same kind, found {} and {}",
            a.article(),
            b.article()
        )))
    }
}
