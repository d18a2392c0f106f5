//! Differentiable functions declared by a `macro_rules!`: the float type passed as `$t:ty`
//! (an invisible group to the attribute) is read as the float it is, and generated items named
//! through `$name:ident` raise no `dead_code` warning when unused (denied here).
#![deny(dead_code, unused)]

use autodiff::prelude::*;

macro_rules! sum_of_squares {
    ($name:ident, $t:ty) => {
        #[differentiable]
        fn $name(x: &Vector<$t>) -> $t {
            x.dot(x)
        }
    };
}

sum_of_squares!(squares_f64, f64);
sum_of_squares!(squares_f32, f32);

#[test]
fn functions_declared_by_a_macro_are_differentiated() {
    let (value, gradient) = squares_f64_grad(&Vector::from_vec(vec![1.0, -2.0]));
    assert_eq!(value, 5.0);
    assert_eq!(gradient.as_slice(), &[2.0, -4.0]);
    let (value, gradient) = squares_f32_grad(&Vector::from_vec(vec![3.0f32]));
    assert_eq!((value, gradient.as_slice()), (9.0, &[6.0f32][..]));
}
