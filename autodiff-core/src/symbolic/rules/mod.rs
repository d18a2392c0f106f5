//! The rule table: one module per family of ops, one banner section per op, with its kind rule,
//! pullback, printed form, meaning and emitted form side by side.

pub mod arith;
pub mod call;
pub mod control;
pub mod elementwise;
pub mod fused;
pub mod index;
pub mod integer;
pub mod linalg;
pub mod linear_algebra;
pub mod pointwise;
pub mod reduce;
pub mod softmax;
pub mod structure;
