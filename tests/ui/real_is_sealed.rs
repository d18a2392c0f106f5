//! `Real` is sealed: `f32` and `f64` only. A safe impl for a user type whose GEMM kernel writes
//! nothing made `Matrix::matmul` return the stale heap memory of an unwritten output buffer.
#![forbid(unsafe_code)]

use std::fmt;
use std::iter::Sum;
use std::mem::MaybeUninit;
use std::num::FpCategory;
use std::ops::{Add, AddAssign, Div, DivAssign, Mul, MulAssign, Neg, Rem, Sub, SubAssign};

use autodiff::gemm::MatRef;
use autodiff::{Matrix, Real, ScalarExt};
use num_traits::{Float, Num, NumCast, One, ToPrimitive, Zero};

#[derive(Clone, Copy, Debug, Default, PartialEq, PartialOrd)]
struct Stale(f64);

impl Real for Stale {
    fn from_f64(x: f64) -> Self {
        Stale(x)
    }
    fn to_f64(self) -> f64 {
        self.0
    }
    fn gemm_kernel(
        _: Self,
        _: MatRef<'_, Self>,
        _: MatRef<'_, Self>,
        _: Self,
        _: &mut [MaybeUninit<Self>],
    ) {
        // Writes nothing: the output's spare capacity is returned as the product.
    }
    fn with_buffer_cache<R>(
        _: impl FnOnce(&mut autodiff::buffer::BufferCache<Self>) -> R,
    ) -> Option<R> {
        None
    }
}

fn main() {
    let a = Matrix::from_elem(64, 64, Stale(1.0));
    println!("{:?}", a.matmul(&a).row(0));
}

// Everything else `Real` asks of an element type, forwarded to the `f64` inside.

macro_rules! forward {
    (ops $($trait:ident $f:ident,)*) => {$(
        impl $trait for Stale {
            type Output = Stale;
            fn $f(self, o: Stale) -> Stale { Stale(self.0.$f(o.0)) }
        }
    )*};
    (assign $($trait:ident $f:ident,)*) => {$(
        impl $trait for Stale {
            fn $f(&mut self, o: Stale) { self.0.$f(o.0) }
        }
    )*};
    (unary $($f:ident)*) => {$( fn $f(self) -> Self { Stale(self.0.$f()) } )*};
    (binary $($f:ident)*) => {$( fn $f(self, o: Self) -> Self { Stale(self.0.$f(o.0)) } )*};
    (test $($f:ident)*) => {$( fn $f(self) -> bool { self.0.$f() } )*};
    (constant $($f:ident = $v:expr,)*) => {$( fn $f() -> Self { Stale($v) } )*};
}

forward!(ops Add add, Sub sub, Mul mul, Div div, Rem rem,);
forward!(assign AddAssign add_assign, SubAssign sub_assign, MulAssign mul_assign, DivAssign div_assign,);

impl Neg for Stale {
    type Output = Stale;
    fn neg(self) -> Stale {
        Stale(-self.0)
    }
}

impl fmt::Display for Stale {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl Sum for Stale {
    fn sum<I: Iterator<Item = Stale>>(iter: I) -> Stale {
        Stale(iter.map(|x| x.0).sum())
    }
}

impl ScalarExt for Stale {
    fn relu(self) -> Self {
        Stale(self.0.relu())
    }
    fn sigmoid(self) -> Self {
        Stale(self.0.sigmoid())
    }
}

impl Zero for Stale {
    fn zero() -> Self {
        Stale(0.0)
    }
    fn is_zero(&self) -> bool {
        self.0 == 0.0
    }
}

impl One for Stale {
    fn one() -> Self {
        Stale(1.0)
    }
}

impl Num for Stale {
    type FromStrRadixErr = <f64 as Num>::FromStrRadixErr;
    fn from_str_radix(s: &str, radix: u32) -> Result<Self, Self::FromStrRadixErr> {
        f64::from_str_radix(s, radix).map(Stale)
    }
}

impl ToPrimitive for Stale {
    fn to_i64(&self) -> Option<i64> {
        self.0.to_i64()
    }
    fn to_u64(&self) -> Option<u64> {
        self.0.to_u64()
    }
}

impl NumCast for Stale {
    fn from<N: ToPrimitive>(n: N) -> Option<Self> {
        n.to_f64().map(Stale)
    }
}

impl Float for Stale {
    forward!(constant nan = f64::NAN, infinity = f64::INFINITY, neg_infinity = f64::NEG_INFINITY,
        neg_zero = -0.0, min_value = f64::MIN, min_positive_value = f64::MIN_POSITIVE,
        max_value = f64::MAX,);
    forward!(test is_nan is_infinite is_finite is_normal is_sign_positive is_sign_negative);
    forward!(unary floor ceil round trunc fract abs signum recip sqrt exp exp2 ln log2 log10 cbrt
        sin cos tan asin acos atan exp_m1 ln_1p sinh cosh tanh asinh acosh atanh);
    forward!(binary powf log max min hypot atan2);
    fn abs_sub(self, o: Self) -> Self {
        Stale((self.0 - o.0).max(0.0))
    }
    fn classify(self) -> FpCategory {
        self.0.classify()
    }
    fn mul_add(self, a: Self, b: Self) -> Self {
        Stale(self.0.mul_add(a.0, b.0))
    }
    fn powi(self, n: i32) -> Self {
        Stale(self.0.powi(n))
    }
    fn sin_cos(self) -> (Self, Self) {
        let (s, c) = self.0.sin_cos();
        (Stale(s), Stale(c))
    }
    fn integer_decode(self) -> (u64, i16, i8) {
        Float::integer_decode(self.0)
    }
}
