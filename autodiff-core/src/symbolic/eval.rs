//! An interpreter that runs any IR program on runtime tensors. The engine's tests use it to check
//! derived programs against finite differences without going through the macro.

use super::ir::{Kind, Program};
use crate::tensor::{Elementwise, Matrix, Real, Vector};

/// A runtime value of any kind.
#[derive(Clone, Debug, PartialEq)]
pub enum Value<T> {
    Scalar(T),
    Vector(Vector<T>),
    Matrix(Matrix<T>),
    /// An integer (`usize`).
    Index(usize),
    /// A condition.
    Bool(bool),
    /// A list of integers (`&[usize]`).
    Indices(Vec<usize>),
    /// The results of a loop.
    Tuple(Vec<Value<T>>),
    /// A loop's per-iteration values.
    Tape(Vec<Value<T>>),
}

/// Applies a function generic over the tensor type to two values of the same kind:
/// `zip_values!(a, b, |x, y| kernels::relu_grad(x, y))`.
macro_rules! zip_values {
    ($a:expr, $b:expr, |$x:ident, $y:ident| $body:expr) => {
        match ($a, $b) {
            (
                $crate::symbolic::eval::Value::Scalar($x),
                $crate::symbolic::eval::Value::Scalar($y),
            ) => $crate::symbolic::eval::Value::Scalar($body),
            (
                $crate::symbolic::eval::Value::Vector($x),
                $crate::symbolic::eval::Value::Vector($y),
            ) => $crate::symbolic::eval::Value::Vector($body),
            (
                $crate::symbolic::eval::Value::Matrix($x),
                $crate::symbolic::eval::Value::Matrix($y),
            ) => $crate::symbolic::eval::Value::Matrix($body),
            (a, b) => panic!(
                "autodiff interpreter: expected two operands of the same kind, found {} and {}",
                a.kind().article(),
                b.kind().article()
            ),
        }
    };
}
pub(crate) use zip_values;

impl<T: Real> Value<T> {
    /// Its kind.
    pub fn kind(&self) -> Kind {
        match self {
            Value::Scalar(_) => Kind::Scalar,
            Value::Vector(_) => Kind::Vector,
            Value::Matrix(_) => Kind::Matrix,
            Value::Index(_) => Kind::Index,
            Value::Bool(_) => Kind::Bool,
            Value::Indices(_) => Kind::Indices,
            Value::Tuple(_) => Kind::Tuple,
            Value::Tape(_) => Kind::Tape,
        }
    }

    /// The number of elements (1 for a scalar).
    pub fn numel(&self) -> usize {
        match self {
            Value::Scalar(_) | Value::Index(_) | Value::Bool(_) => 1,
            Value::Indices(list) => list.len(),
            Value::Tuple(values) | Value::Tape(values) => values.iter().map(Value::numel).sum(),
            Value::Vector(v) => v.len(),
            Value::Matrix(m) => m.rows() * m.cols(),
        }
    }

    /// The elements, flattened row-major.
    pub fn to_vec(&self) -> Vec<T> {
        match self {
            Value::Scalar(s) => vec![*s],
            Value::Vector(v) => v.as_slice().to_vec(),
            Value::Matrix(m) => m.as_slice().to_vec(),
            Value::Index(i) => vec![T::from_f64(*i as f64)],
            Value::Bool(b) => vec![T::from_f64(f64::from(u8::from(*b)))],
            Value::Indices(list) => list.iter().map(|&i| T::from_f64(i as f64)).collect(),
            Value::Tuple(values) | Value::Tape(values) => {
                values.iter().flat_map(Value::to_vec).collect()
            }
        }
    }

    /// A value of the same kind and shape with elements from `data` (row-major).
    pub fn with_data(&self, data: Vec<T>) -> Self {
        match self {
            Value::Scalar(_) => Value::Scalar(data[0]),
            Value::Vector(_) => Value::Vector(Vector::from_vec(data)),
            Value::Matrix(m) => Value::Matrix(Matrix::from_vec(m.rows(), m.cols(), data)),
            Value::Index(i) => Value::Index(*i),
            Value::Bool(b) => Value::Bool(*b),
            Value::Indices(list) => Value::Indices(list.clone()),
            Value::Tuple(_) | Value::Tape(_) => {
                panic!("autodiff interpreter: a loop's results are not rebuilt from data")
            }
        }
    }

    /// `f` applied to every element.
    pub fn map(&self, f: impl Fn(T) -> T) -> Self {
        self.map_dyn(&f)
    }

    fn map_dyn(&self, f: &dyn Fn(T) -> T) -> Self {
        match self {
            Value::Scalar(s) => Value::Scalar(f(*s)),
            Value::Vector(v) => Value::Vector(Elementwise::map(v, f)),
            Value::Matrix(m) => Value::Matrix(Elementwise::map(m, f)),
            Value::Index(i) => Value::Index(*i),
            Value::Bool(b) => Value::Bool(*b),
            Value::Indices(list) => Value::Indices(list.clone()),
            Value::Tuple(values) => Value::Tuple(values.iter().map(|v| v.map_dyn(f)).collect()),
            Value::Tape(values) => Value::Tape(values.iter().map(|v| v.map_dyn(f)).collect()),
        }
    }

    /// The scalar; panics on a tensor.
    #[track_caller]
    pub fn as_scalar(&self) -> T {
        match self {
            Value::Scalar(s) => *s,
            v => panic!(
                "autodiff interpreter: expected a scalar, found {}",
                v.kind().article()
            ),
        }
    }

    /// The integer; panics on another kind.
    #[track_caller]
    pub fn as_index(&self) -> usize {
        match self {
            Value::Index(i) => *i,
            v => panic!(
                "autodiff interpreter: expected an integer, found {}",
                v.kind().article()
            ),
        }
    }

    /// The condition; panics on another kind.
    #[track_caller]
    pub fn as_bool(&self) -> bool {
        match self {
            Value::Bool(b) => *b,
            v => panic!(
                "autodiff interpreter: expected a condition, found {}",
                v.kind().article()
            ),
        }
    }

    /// The list of integers; panics on another kind.
    #[track_caller]
    pub fn as_indices(&self) -> &[usize] {
        match self {
            Value::Indices(list) => list,
            v => panic!(
                "autodiff interpreter: expected a list of indices, found {}",
                v.kind().article()
            ),
        }
    }

    /// The vector; panics on another kind.
    #[track_caller]
    pub fn as_vector(&self) -> &Vector<T> {
        match self {
            Value::Vector(v) => v,
            v => panic!(
                "autodiff interpreter: expected a vector, found {}",
                v.kind().article()
            ),
        }
    }

    /// The matrix; panics on another kind.
    #[track_caller]
    pub fn as_matrix(&self) -> &Matrix<T> {
        match self {
            Value::Matrix(m) => m,
            v => panic!(
                "autodiff interpreter: expected a matrix, found {}",
                v.kind().article()
            ),
        }
    }
}

/// Runs `program` on `inputs` (one per parameter, in order, then one per constant) and returns
/// its outputs.
///
/// Panics if an input's kind differs from its parameter's, or on a runtime shape mismatch, as
/// generated code does.
pub fn eval<T: Real>(program: &Program, inputs: &[Value<T>]) -> Vec<Value<T>> {
    let n_params = program.params.len();
    assert_eq!(
        inputs.len(),
        n_params + program.constants.len(),
        "autodiff interpreter: {} inputs for {} parameters and {} constants",
        inputs.len(),
        n_params,
        program.constants.len()
    );
    for (input, param) in inputs
        .iter()
        .zip(program.params.iter().chain(&program.constants))
    {
        assert_eq!(
            input.kind(),
            param.kind,
            "autodiff interpreter: parameter `{}` is {}, the input is {}",
            param.name,
            param.kind.article(),
            input.kind().article()
        );
    }
    let mut values: Vec<Value<T>> = Vec::with_capacity(program.insts.len());
    for inst in &program.insts {
        let value = match inst.op {
            super::op::Op::Param(ref p) => inputs[p.0].clone(),
            super::op::Op::ConstantRef(c) => inputs[n_params + c.index].clone(),
            ref op => {
                let args: Vec<&Value<T>> = inst.args.iter().map(|a| &values[a.index()]).collect();
                op.eval(&args)
            }
        };
        values.push(value);
    }
    program
        .outputs
        .iter()
        .map(|o| values[o.index()].clone())
        .collect()
}
