//! What the two argmin examples share: the baseline they are measured against (the same
//! problem with argmin's finite differences, the `finitediff` crate, in place of the generated
//! derivatives) and the report they print.

use std::cell::Cell;
use std::rc::Rc;
use std::time::Instant;

use autodiff::argmin::core::{CostFunction, Error, Gradient, Hessian};
use autodiff::Matrix;
use autodiff::Vector;

/// A cost with its gradient by central differences (2n evaluations of the cost) and its
/// Hessian by central differences of that gradient (2n gradients): what a user of argmin
/// without derivatives writes. It counts the cost's evaluations, the solver's and those inside
/// the differences alike.
pub struct FiniteDifferences<C> {
    cost: C,
    evaluations: Rc<Cell<u64>>,
}

impl<C: Fn(&Vector<f64>) -> f64> FiniteDifferences<C> {
    pub fn new(cost: C) -> Self {
        FiniteDifferences {
            cost,
            evaluations: Rc::default(),
        }
    }

    /// How many times the cost has run, read through the returned counter after the problem
    /// has moved into the solver.
    pub fn evaluations(&self) -> Rc<Cell<u64>> {
        Rc::clone(&self.evaluations)
    }

    fn cost_of(&self, x: &[f64]) -> f64 {
        self.evaluations.set(self.evaluations.get() + 1);
        (self.cost)(&Vector::from_vec(x.to_vec()))
    }

    fn gradient_of(&self, x: &Vec<f64>) -> Result<Vec<f64>, Error> {
        finitediff::vec::central_diff(&|x: &Vec<f64>| Ok(self.cost_of(x)))(x)
    }
}

impl<C: Fn(&Vector<f64>) -> f64> CostFunction for FiniteDifferences<C> {
    type Param = Vector<f64>;
    type Output = f64;

    fn cost(&self, x: &Vector<f64>) -> Result<f64, Error> {
        Ok(self.cost_of(x.as_slice()))
    }
}

impl<C: Fn(&Vector<f64>) -> f64> Gradient for FiniteDifferences<C> {
    type Param = Vector<f64>;
    type Gradient = Vector<f64>;

    fn gradient(&self, x: &Vector<f64>) -> Result<Vector<f64>, Error> {
        Ok(Vector::from_vec(self.gradient_of(&x.as_slice().to_vec())?))
    }
}

impl<C: Fn(&Vector<f64>) -> f64> Hessian for FiniteDifferences<C> {
    type Param = Vector<f64>;
    type Hessian = Matrix<f64>;

    fn hessian(&self, x: &Vector<f64>) -> Result<Matrix<f64>, Error> {
        let rows = finitediff::vec::central_hessian(&|x: &Vec<f64>| self.gradient_of(x))(
            &x.as_slice().to_vec(),
        )?;
        let n = rows.len();
        Ok(Matrix::from_vec(n, n, rows.concat()))
    }
}

/// One solver run, as the report shows it.
pub struct Outcome {
    pub derivatives: &'static str,
    pub iterations: u64,
    /// Evaluations of the cost function itself (finite differences included).
    pub cost_evaluations: u64,
    pub gradient_calls: u64,
    pub hessian_calls: u64,
    /// Wall time of the whole solve, the median of several runs.
    pub seconds: f64,
    /// Distance of the answer from the known minimiser, ‖x − x*‖∞.
    pub error: f64,
}

/// The median wall time of `runs` calls of `solve`, in seconds.
pub fn median_seconds(runs: usize, mut solve: impl FnMut()) -> f64 {
    let mut times: Vec<f64> = (0..runs)
        .map(|_| {
            let start = Instant::now();
            solve();
            start.elapsed().as_secs_f64()
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times[runs / 2]
}

/// The comparison as a Markdown table (docs/OPTIMIZATION.md shows this output).
pub fn print_table(outcomes: &[Outcome]) {
    println!(
        "| derivatives | iterations | cost evaluations | gradient evaluations | Hessian evaluations | time | ‖x − x*‖∞ |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|");
    for o in outcomes {
        println!(
            "| {} | {} | {} | {} | {} | {} | {:.1e} |",
            o.derivatives,
            o.iterations,
            o.cost_evaluations,
            o.gradient_calls,
            o.hessian_calls,
            format_seconds(o.seconds),
            o.error
        );
    }
}

fn format_seconds(s: f64) -> String {
    if s < 1e-3 {
        format!("{:.1} µs", s * 1e6)
    } else if s < 1.0 {
        format!("{:.2} ms", s * 1e3)
    } else {
        format!("{s:.2} s")
    }
}

/// ‖a − b‖∞.
pub fn max_distance(a: &Vector<f64>, b: &Vector<f64>) -> f64 {
    a.as_slice()
        .iter()
        .zip(b.as_slice())
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f64::max)
}
