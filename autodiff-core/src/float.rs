//! `Float`, the bound of a differentiable function generic over its float
//! (`fn f<T: Float>(x: &Vector<T>) -> T`), and what its generated items use: the macro compiles
//! the function twice, for `f32` and for `f64`, and each generic item calls the one its `T` is.
//! The choice is a comparison of type ids, which the compiler folds away.

use std::any::{Any, TypeId};

use crate::tensor::Real;

/// `f32` or `f64`: the element type of a differentiable function generic over its float.
pub trait Float: Real {}

impl Float for f32 {}
impl Float for f64 {}

/// Whether `T` is `f64` (else it is `f32`).
#[doc(hidden)]
#[inline(always)]
pub fn is_f64<T: Float>() -> bool {
    TypeId::of::<T>() == TypeId::of::<f64>()
}

/// `x` as a reference to `U`, which is its own type with `T` named (`&Vector<T>` as
/// `&Vector<f64>` when `T` is `f64`).
#[doc(hidden)]
#[inline(always)]
#[track_caller]
pub fn cast_ref<X: Any, U: Any>(x: &X) -> &U {
    (x as &dyn Any)
        .downcast_ref::<U>()
        .expect("autodiff: a generic float argument of another type")
}

/// `x` as `U`, its own type with `T` named, moved (`(T, Vector<T>)` from `(f64, Vector<f64>)`).
#[doc(hidden)]
#[inline(always)]
#[track_caller]
pub fn cast<X: Any, U: Any>(x: X) -> U {
    let mut slot = Some(x);
    (&mut slot as &mut dyn Any)
        .downcast_mut::<Option<U>>()
        .and_then(Option::take)
        .expect("autodiff: a generic float value of another type")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tensor::Vector;

    fn twice<T: Float>(x: &Vector<T>) -> Vector<T> {
        if is_f64::<T>() {
            let x: &Vector<f64> = cast_ref(x);
            cast(x.clone() * 2.0)
        } else {
            let x: &Vector<f32> = cast_ref(x);
            cast(x.clone() * 2.0)
        }
    }

    #[test]
    fn each_float_takes_its_own_branch() {
        assert!(is_f64::<f64>() && !is_f64::<f32>());
        assert_eq!(twice(&Vector::from_vec(vec![1.5f32])).as_slice(), &[3.0f32]);
        assert_eq!(twice(&Vector::from_vec(vec![0.25f64])).as_slice(), &[0.5]);
    }

    #[test]
    #[should_panic(expected = "a generic float value of another type")]
    fn a_cast_to_another_type_panics() {
        let _: f32 = cast(1.0f64);
    }
}
