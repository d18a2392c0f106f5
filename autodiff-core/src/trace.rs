//! [`Trace`]: the numbers of a reverse pass, step by step, as the lecture notes check backprop
//! by hand: each derivation line with its upstream gradient, its local factor where the line is
//! elementwise (the ReLU mask, `1 − y²`), and the downstream gradient it produces.
//!
//! `f_trace(p1, ..., pn)` (scalar result, upstream 1) and `f_trace_vjp(p1, ..., pn, upstream)`
//! build one; printing it shows
//!
//! ```text
//! dx = dy ⊙ [x > 0]
//!     upstream    dy = [4, -1, 5, 9]
//!     local       [x > 0] = [1, 0, 1, 0]
//!     downstream  dx = [4, 0, 5, 0]
//! ```
//!
//! Small tensors are shown in full, larger ones summarised (shape, min, max, mean and the first
//! entries). A loop or a branch is one step: its block of equations, then the adjoints it
//! produces.

use std::fmt;

use crate::tensor::{Matrix, Real, Vector};

/// What a number of a [`Step`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// A gradient the step reads, flowing in from the result's side.
    Upstream,
    /// The step's local derivative, where it is elementwise (`downstream = upstream ⊙ local`).
    Local,
    /// The gradient the step produces.
    Downstream,
}

impl Role {
    fn label(self) -> &'static str {
        match self {
            Role::Upstream => "upstream",
            Role::Local => "local",
            Role::Downstream => "downstream",
        }
    }
}

/// The shape of a traced value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
    Scalar,
    Vector(usize),
    Matrix(usize, usize),
}

/// A traced value: its shape and its entries (row-major), widened to `f64`.
#[derive(Clone, Debug, PartialEq)]
pub struct Numbers {
    shape: Shape,
    values: Vec<f64>,
}

impl Numbers {
    pub fn shape(&self) -> Shape {
        self.shape
    }

    /// The entries, row-major.
    pub fn values(&self) -> &[f64] {
        &self.values
    }
}

/// A value a trace can record: a scalar, a vector or a matrix of `f32` or `f64`.
pub trait Traced {
    fn numbers(&self) -> Numbers;
}

impl Traced for f64 {
    fn numbers(&self) -> Numbers {
        Numbers {
            shape: Shape::Scalar,
            values: vec![*self],
        }
    }
}

impl Traced for f32 {
    fn numbers(&self) -> Numbers {
        Numbers {
            shape: Shape::Scalar,
            values: vec![f64::from(*self)],
        }
    }
}

fn widened<T: Real>(values: &[T]) -> Vec<f64> {
    values
        .iter()
        .map(|v| v.to_f64().unwrap_or(f64::NAN))
        .collect()
}

impl<T: Real> Traced for Vector<T> {
    fn numbers(&self) -> Numbers {
        Numbers {
            shape: Shape::Vector(self.len()),
            values: widened(self.as_slice()),
        }
    }
}

impl<T: Real> Traced for Matrix<T> {
    fn numbers(&self) -> Numbers {
        Numbers {
            shape: Shape::Matrix(self.rows(), self.cols()),
            values: widened(self.as_slice()),
        }
    }
}

/// One number of a step, under the name the derivation gives it.
#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    role: Role,
    name: String,
    numbers: Numbers,
}

impl Entry {
    pub fn new(role: Role, name: &str, value: &impl Traced) -> Self {
        Entry {
            role,
            name: name.to_string(),
            numbers: value.numbers(),
        }
    }

    pub fn role(&self) -> Role {
        self.role
    }

    /// `dy`, `dx`, or the local factor's formula (`[x > 0]`).
    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn numbers(&self) -> &Numbers {
        &self.numbers
    }

    /// The entries, row-major.
    pub fn values(&self) -> &[f64] {
        &self.numbers.values
    }
}

/// One reverse step: a line of `f_derivation()` (a loop's or branch's whole block) and its
/// numbers.
#[derive(Clone, Debug, PartialEq)]
pub struct Step {
    equation: String,
    entries: Vec<Entry>,
}

impl Step {
    pub fn new(equation: &str, entries: Vec<Entry>) -> Self {
        Step {
            equation: equation.to_string(),
            entries,
        }
    }

    /// The equation as `f_derivation()` prints it.
    pub fn equation(&self) -> &str {
        &self.equation
    }

    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// The gradients the step reads.
    pub fn upstream(&self) -> impl Iterator<Item = &Entry> {
        self.entries.iter().filter(|e| e.role == Role::Upstream)
    }

    /// The local factor, where the step is elementwise.
    pub fn local(&self) -> Option<&Entry> {
        self.entries.iter().find(|e| e.role == Role::Local)
    }

    /// The gradient the step produces (the first, for a block that produces several).
    pub fn downstream(&self) -> Option<&Entry> {
        self.entries.iter().find(|e| e.role == Role::Downstream)
    }
}

/// The reverse pass of one call, step by step; see the [module documentation](self).
#[derive(Clone, Debug, PartialEq)]
pub struct Trace {
    steps: Vec<Step>,
}

impl Trace {
    pub fn new(steps: Vec<Step>) -> Self {
        Trace { steps }
    }

    /// The steps, in the order the reverse pass takes them.
    pub fn steps(&self) -> &[Step] {
        &self.steps
    }

    /// The step whose equation defines `name` (`"dx"` finds `dx = dy·wᵀ`).
    pub fn step(&self, name: &str) -> Option<&Step> {
        self.steps
            .iter()
            .find(|s| s.equation.split_once(" = ").map(|(lhs, _)| lhs) == Some(name))
    }

    /// Every name `from` in equations and entry names written as `to` (a struct's fields:
    /// `p__w1` as `p.w1`).
    #[doc(hidden)]
    pub fn renamed(mut self, from: &str, to: &str) -> Self {
        for step in &mut self.steps {
            step.equation = step.equation.replace(from, to);
            for entry in &mut step.entries {
                entry.name = entry.name.replace(from, to);
            }
        }
        self
    }
}

/// Entries shown in full up to this many; beyond, a summary.
const FULL_LIMIT: usize = 24;
/// How many leading entries a summary shows.
const SUMMARY_HEAD: usize = 6;

/// A number as a reader writes it: `4`, `-1`, `0.3`, `5.0625`, `1.5e-8`, six significant
/// digits at most; `-0` as `0`.
fn number(x: f64) -> String {
    if x == 0.0 {
        return "0".to_string();
    }
    if !x.is_finite() {
        return format!("{x}");
    }
    if x == x.trunc() && x.abs() < 1e15 {
        return format!("{}", x as i64);
    }
    let magnitude = x.abs().log10().floor() as i32;
    if (-4..6).contains(&magnitude) {
        let decimals = (5 - magnitude).max(0) as usize;
        let text = format!("{x:.decimals$}");
        let text = text.trim_end_matches('0').trim_end_matches('.');
        text.to_string()
    } else {
        let text = format!("{x:.5e}");
        let (mantissa, exponent) = text.split_once('e').unwrap_or((&text, "0"));
        let mantissa = mantissa.trim_end_matches('0').trim_end_matches('.');
        format!("{mantissa}e{exponent}")
    }
}

fn list(values: &[f64]) -> String {
    let items: Vec<String> = values.iter().map(|&v| number(v)).collect();
    format!("[{}]", items.join(", "))
}

impl fmt::Display for Numbers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let values = &self.values;
        if values.len() <= FULL_LIMIT {
            return match self.shape {
                Shape::Scalar => f.write_str(&number(values[0])),
                Shape::Vector(_) => f.write_str(&list(values)),
                Shape::Matrix(_, 0) => f.write_str("[]"),
                Shape::Matrix(_, cols) => {
                    let rows: Vec<String> = values.chunks(cols).map(list).collect();
                    write!(f, "[{}]", rows.join(", "))
                }
            };
        }
        let shape = match self.shape {
            Shape::Scalar => "scalar".to_string(),
            Shape::Vector(n) => format!("vector of {n}"),
            Shape::Matrix(r, c) => format!("{r}×{c} matrix"),
        };
        let min = values.iter().copied().fold(f64::INFINITY, f64::min);
        let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let mean = values.iter().sum::<f64>() / values.len() as f64;
        write!(
            f,
            "{shape}: min {}, max {}, mean {}; first {} …",
            number(min),
            number(max),
            number(mean),
            list(&values[..SUMMARY_HEAD]).trim_end_matches(']'),
        )?;
        f.write_str("]")
    }
}

impl fmt::Display for Trace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for step in &self.steps {
            writeln!(f, "{}", step.equation)?;
            for entry in &step.entries {
                writeln!(
                    f,
                    "    {:<10}  {} = {}",
                    entry.role.label(),
                    entry.name,
                    entry.numbers
                )?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_read_as_written() {
        assert_eq!(number(4.0), "4");
        assert_eq!(number(-1.0), "-1");
        assert_eq!(number(-0.0), "0");
        assert_eq!(number(0.1 + 0.2), "0.3");
        assert_eq!(number(5.0625), "5.0625");
        assert_eq!(number(-0.000123456789), "-0.000123457");
        assert_eq!(number(1.5e-8), "1.5e-8");
        assert_eq!(number(2.5e20), "2.5e20");
        assert_eq!(number(f64::from(0.1f32)), "0.1");
    }

    #[test]
    fn small_tensors_in_full_large_ones_summarised() {
        let v = Vector::from_vec(vec![4.0, -1.0, 5.0, 9.0]);
        assert_eq!(v.numbers().to_string(), "[4, -1, 5, 9]");
        let m = Matrix::from_rows(&[[1.0f32, 2.0], [3.0, 4.5]]);
        assert_eq!(m.numbers().to_string(), "[[1, 2], [3, 4.5]]");
        let big = Vector::from_vec((0..100).map(f64::from).collect());
        assert_eq!(
            big.numbers().to_string(),
            "vector of 100: min 0, max 99, mean 49.5; first [0, 1, 2, 3, 4, 5 …]"
        );
    }

    #[test]
    fn a_step_prints_its_equation_then_its_numbers() {
        let (dy, mask) = (
            Vector::from_vec(vec![4.0, -1.0]),
            Vector::from_vec(vec![1.0, 0.0]),
        );
        let dx = Vector::from_vec(vec![4.0, 0.0]);
        let trace = Trace::new(vec![Step::new(
            "dx = dy ⊙ [x > 0]",
            vec![
                Entry::new(Role::Upstream, "dy", &dy),
                Entry::new(Role::Local, "[x > 0]", &mask),
                Entry::new(Role::Downstream, "dx", &dx),
            ],
        )]);
        assert_eq!(
            trace.to_string(),
            "dx = dy ⊙ [x > 0]\n    upstream    dy = [4, -1]\n    local       [x > 0] = [1, 0]\n    downstream  dx = [4, 0]\n"
        );
        assert_eq!(
            trace.step("dx").unwrap().local().unwrap().values(),
            &[1.0, 0.0]
        );
        assert!(trace.step("dy").is_none());
    }
}
