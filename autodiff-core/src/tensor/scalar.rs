//! The element types `f32` and `f64`: the [`Real`] bound and the [`ScalarExt`] methods.

use std::cell::RefCell;
use std::fmt::{Debug, Display};
use std::iter::Sum;
use std::ops::{AddAssign, DivAssign, MulAssign, SubAssign};

use num_traits::Float;

use super::buffer::BufferCache;
use super::fast_math;
use super::gemm::{self, GemmCall};

/// An element type of [`Matrix`](super::Matrix) and [`Vector`](super::Vector): `f32` or `f64`.
///
/// Sealed: no other type can implement it, because the runtime relies on its element types'
/// GEMM kernels being this crate's own (they write every element of an uninitialized output).
pub trait Real:
    sealed::Sealed
    + Float
    + Copy
    + Default
    + Debug
    + Display
    + Send
    + Sync
    + 'static
    + Sum
    + AddAssign
    + SubAssign
    + MulAssign
    + DivAssign
    + ScalarExt
{
    /// Converts from `f64` (rounding to nearest for `f32`).
    fn from_f64(x: f64) -> Self;
    /// Converts to `f64` (exact).
    fn to_f64(self) -> f64;
}

/// The half of [`Real`] that only this crate sees: a public trait in a private module, so other
/// crates can neither name nor implement it, and so cannot implement `Real` either.
pub(crate) mod sealed {
    use super::{BufferCache, GemmCall};

    pub trait Sealed: Sized {
        /// Runs this type's GEMM kernel on checked operands. A supertrait's methods can still
        /// be called through a `T: Real` bound, so the argument is of a type that only
        /// `tensor::gemm` can build: other crates reach GEMM through the checked `gemm::gemm`.
        fn gemm_kernel(call: GemmCall<'_, Self>);
        /// Runs `f` on this thread's cache of large buffers of this type (`None` once the thread
        /// is tearing down). See [`buffer`](crate::tensor::buffer).
        fn with_buffer_cache<R>(f: impl FnOnce(&mut BufferCache<Self>) -> R) -> Option<R>;
        /// `tanh` as tensors compute it (see [`fast_math`](crate::tensor::fast_math)).
        fn tanh_elementwise(self) -> Self;
    }
}

/// `x^m` for any integer `m`, where `powi` takes an `i32`: the derivatives of `powi(n)` need
/// `x^(n−1)` and `x^(n−2)`, which leave `i32` at its ends.
pub(crate) fn powi_wide<T: Real>(x: T, m: i128) -> T {
    if let Ok(m) = i32::try_from(m) {
        return x.powi(m);
    }
    // |m| ≥ 2³¹, so |x|^m is 0, ∞ or 1 unless |x| is within about 2⁻³¹ of 1: `f64::powf` has the
    // range and the accuracy for that, in either float type. The sign is taken from m's
    // parity, which `m as f64` may round away.
    let magnitude = T::from_f64(x.abs().to_f64().powf(m as f64));
    if m % 2 != 0 && x.is_sign_negative() {
        -magnitude
    } else {
        magnitude
    }
}

/// The scalar methods that the table in [`crate::functions`] needs and `f32`/`f64` lack
/// (rows marked `ext`): `relu`, `sigmoid`, ...
macro_rules! scalar_ext {
    ([] $(
        $(#[$doc:meta])*
        $variant:ident $method:ident $place:ident {
            value: |$x:ident| $value:expr;
            $($rest:tt)*
        }
    )*) => {
        /// Scalar methods that `f32` and `f64` lack, with the meaning they have on tensors.
        pub trait ScalarExt: Sized {
            $(scalar_ext!(@declare $place $(#[$doc])* $method);)*
        }

        impl ScalarExt for f32 {
            $(scalar_ext!(@define $place $(#[$doc])* $method |$x| $value);)*
        }

        impl ScalarExt for f64 {
            $(scalar_ext!(@define $place $(#[$doc])* $method |$x| $value);)*
        }
    };
    (@declare std $(#[$doc:meta])* $method:ident) => {};
    (@declare ext $(#[$doc:meta])* $method:ident) => {
        $(#[$doc])*
        fn $method(self) -> Self;
    };
    (@define std $(#[$doc:meta])* $method:ident |$x:ident| $value:expr) => {};
    (@define ext $(#[$doc:meta])* $method:ident |$x:ident| $value:expr) => {
        #[inline]
        fn $method(self) -> Self {
            // The row is written for a float type `T`.
            #[inline(always)]
            fn value<T: Float>($x: T) -> T {
                $value
            }
            value(self)
        }
    };
}

crate::__elementwise_functions!(scalar_ext);

macro_rules! impl_real {
    ($($t:ty => $gemm:path, $tanh:path;)*) => {$(
        impl Real for $t {
            #[inline]
            fn from_f64(x: f64) -> Self {
                x as $t
            }
            #[inline]
            fn to_f64(self) -> f64 {
                self as f64
            }
        }

        impl sealed::Sealed for $t {
            #[inline]
            fn gemm_kernel(call: GemmCall<'_, Self>) {
                $gemm(call)
            }
            fn with_buffer_cache<R>(f: impl FnOnce(&mut BufferCache<Self>) -> R) -> Option<R> {
                thread_local! {
                    static CACHE: RefCell<BufferCache<$t>> = const { RefCell::new(BufferCache::new()) };
                }
                CACHE.try_with(|cache| f(&mut cache.borrow_mut())).ok()
            }
            #[inline(always)]
            fn tanh_elementwise(self) -> Self {
                $tanh(self)
            }
        }
    )*};
}

impl_real! {
    f32 => gemm::sgemm, fast_math::tanh_f32;
    f64 => gemm::dgemm, fast_math::tanh_f64;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sigmoid_is_stable_and_correct() {
        assert_eq!(800.0f64.sigmoid(), 1.0);
        assert_eq!((-800.0f64).sigmoid(), 0.0);
        assert_eq!(0.0f32.sigmoid(), 0.5);
        assert!((1.0f64.sigmoid() - 0.731_058_578_630_004_9).abs() < 1e-15);
        assert!(((-1.0f64).sigmoid() - 0.268_941_421_369_995_1).abs() < 1e-15);
        assert!((-100.0f32).sigmoid().is_finite());
    }

    #[test]
    fn relu_clamps_negatives() {
        assert_eq!((-2.5f64).relu(), 0.0);
        assert_eq!(2.5f32.relu(), 2.5);
    }

    #[test]
    fn conversions_round_trip() {
        assert_eq!(<f32 as Real>::from_f64(0.5).to_f64(), 0.5);
        assert_eq!(<f64 as Real>::from_f64(0.1), 0.1);
    }
}
