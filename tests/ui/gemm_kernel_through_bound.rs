//! Nor can the GEMM entry be reached through a `T: Real` bound (a sealed supertrait's methods
//! can be): the same heap overflow as `gemm_kernel_not_public.rs`, written generically.
#![forbid(unsafe_code)]

use std::mem::MaybeUninit;

use autodiff::gemm::MatRef;
use autodiff::Real;

fn overflow<T: Real>(a: &[T], b: &[T]) {
    let mut c = vec![MaybeUninit::<T>::uninit(); 1];
    T::gemm_kernel(
        T::one(),
        MatRef::row_major(a, 64, 64),
        MatRef::row_major(b, 64, 64),
        T::zero(),
        &mut c,
    );
}

fn main() {
    let a = vec![1.0f64; 64 * 64];
    overflow(&a, &a);
}
