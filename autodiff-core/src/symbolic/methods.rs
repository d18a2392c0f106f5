//! The methods the front end accepts, each naming the op it builds. Every rule module lists its
//! own (beside its rules: `rules::linalg::METHODS`, ...); the elementwise functions come from
//! their table. Error messages list them from here, so they cannot go stale.

use super::op::Op;
use super::rules::elementwise::{Unary, UnaryFn};
use super::rules::{
    arith, elementwise, index, integer, linalg, linear_algebra, pointwise, reduce, softmax,
};

/// A method call `receiver.name(args)`: what it takes after the receiver and what it builds.
#[derive(Clone, Copy, Debug)]
pub struct Method {
    pub name: &'static str,
    /// The arguments after the receiver.
    pub args: &'static [Arg],
    pub build: Build,
}

/// An argument of a method.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arg {
    /// A value of the differentiable math: a scalar or a tensor.
    Value,
    /// An integer literal (a leading `-` allowed); the text says which, for errors: "an integer
    /// literal exponent, such as `powi(2)`".
    Int(&'static str),
    /// A range of integers, `a..b` (two integer operands).
    Range,
    /// An integer (`usize`) value of the program: a parameter, a loop index, arithmetic on them
    /// (`m.row(i)`).
    Index,
}

/// What a method builds.
#[derive(Clone, Copy, Debug)]
pub enum Build {
    /// Its receiver unchanged (`clone`: a copy has the same value and derivative).
    Receiver,
    /// An elementwise function of its receiver.
    Unary(UnaryFn),
    /// An op of the receiver and the value arguments, from the integer arguments (in order),
    /// or why those are not accepted.
    Op(fn(&[i64]) -> Result<Op, String>),
}

impl Method {
    /// The op for these integer arguments (`None` for [`Build::Receiver`]), or why they are not
    /// accepted.
    pub fn op(&self, ints: &[i64]) -> Result<Option<Op>, String> {
        match self.build {
            Build::Receiver => Ok(None),
            Build::Unary(f) => Ok(Some(Unary(f).into())),
            Build::Op(build) => build(ints).map(Some),
        }
    }
}

/// Every method, the elementwise functions first.
pub fn methods() -> impl Iterator<Item = Method> {
    let unary = UnaryFn::ALL.iter().map(|&f| Method {
        name: f.method(),
        args: &[],
        build: Build::Unary(f),
    });
    let tables = [
        elementwise::METHODS,
        pointwise::METHODS,
        arith::METHODS,
        linalg::METHODS,
        linear_algebra::METHODS,
        reduce::METHODS,
        softmax::METHODS,
        integer::METHODS,
        index::METHODS,
    ];
    unary.chain(tables.into_iter().flatten().copied())
}

/// The method of this name (the first, when several take different numbers of arguments).
pub fn method(name: &str) -> Option<Method> {
    methods().find(|m| m.name == name)
}

/// The method of this name that takes `args` arguments, else the first of this name (whose
/// arity check then reports the count): `x.max()` is a tensor's largest entry, `a.max(b)` the
/// larger of two scalars.
pub fn method_for(name: &str, args: usize) -> Option<Method> {
    methods()
        .find(|m| m.name == name && m.args.len() == args)
        .or_else(|| method(name))
}

/// Every method's name, comma-separated, for error messages (each name once).
pub fn names() -> String {
    let mut names: Vec<&str> = Vec::new();
    for m in methods() {
        if !names.contains(&m.name) {
            names.push(m.name);
        }
    }
    names.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_for_each_number_of_arguments() {
        let arities: Vec<(&str, usize)> = methods().map(|m| (m.name, m.args.len())).collect();
        let mut sorted = arities.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), arities.len(), "{arities:?}");
        assert_eq!(method_for("max", 0).unwrap().args.len(), 0);
        assert_eq!(method_for("max", 1).unwrap().args.len(), 1);
        assert_eq!(names().split(", ").filter(|&n| n == "max").count(), 1);
    }

    #[test]
    fn integer_arguments_are_checked_by_the_op() {
        let powi = method("powi").expect("powi is a method");
        assert!(powi.op(&[3]).is_ok());
        assert!(powi.op(&[1 << 40]).is_err());
        let sum_axis = method("sum_axis").expect("sum_axis is a method");
        assert!(sum_axis.op(&[1]).is_ok());
        assert!(sum_axis.op(&[2]).is_err());
        assert!(method("clone").expect("clone").op(&[]).unwrap().is_none());
        assert!(method("floor").is_none());
    }
}
