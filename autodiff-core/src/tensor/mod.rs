//! Runtime tensors. (Being written.)
pub mod kernels {}
pub trait Real {}
pub trait ScalarExt {}
pub struct Matrix<T>(Vec<T>);
pub struct Vector<T>(Vec<T>);
