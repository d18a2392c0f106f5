//! The raw GEMM entry is not public: called from safe code with a 1-element output for a 64×64
//! product, it wrote 4096 elements into it and overflowed the heap.
#![forbid(unsafe_code)]

use std::mem::MaybeUninit;

use autodiff::gemm::MatRef;
use autodiff::Real;

fn main() {
    let a = vec![1.0f64; 64 * 64];
    let b = vec![1.0f64; 64 * 64];
    let mut c = vec![MaybeUninit::<f64>::uninit(); 1];
    <f64 as Real>::gemm_kernel(
        1.0,
        MatRef::row_major(&a, 64, 64),
        MatRef::row_major(&b, 64, 64),
        0.0,
        &mut c,
    );
}
