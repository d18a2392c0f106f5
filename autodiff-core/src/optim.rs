//! Generated derivatives as an [argmin] problem (feature `argmin`).
//!
//! [`Objective`] wraps a cost, its generated gradient and (for Newton-type solvers) its
//! generated Hessian, each a closure over the function's constant data, as an argmin problem
//! whose parameter is a flat [`Vector`]: the parameter itself when it is a `Vector`, or a
//! `Differentiable` struct's parameters in [`to_flat`](Differentiable::to_flat) order, the order
//! `f_hessian` uses. argmin's math traits are implemented for [`Vector`] and [`Matrix`] (in
//! `optim::math`), so its gradient-based solvers (L-BFGS, BFGS, Newton, Newton-CG, nonlinear
//! conjugate gradients, steepest descent, trust regions) and line searches run on them directly.
//!
//! ```
//! # use autodiff_core::{optim::Objective, Vector};
//! // f(x) = Σ (xᵢ − 3)², by hand here; a `#[differentiable]` function's `f` and `f_grad` in use.
//! let cost = |x: &Vector<f64>| x.as_slice().iter().map(|v| (v - 3.0).powi(2)).sum::<f64>();
//! let grad = |x: &Vector<f64>| (cost(x), Vector::from_fn(x.len(), |i| 2.0 * (x[i] - 3.0)));
//! let start = Vector::from_vec(vec![0.0, 10.0]);
//! let objective = Objective::new(&start, cost, grad);
//! # use argmin::core::{CostFunction, Gradient};
//! assert_eq!(objective.cost(&start).unwrap(), 58.0);
//! assert_eq!(objective.gradient(&start).unwrap().as_slice(), &[-6.0, 14.0]);
//! ```
//!
//! [argmin]: https://docs.rs/argmin

mod math;

use std::sync::Mutex;

use argmin::core::{CostFunction, Error, Gradient, Hessian};

use crate::parameters::Differentiable;
use crate::tensor::{Matrix, Vector};

/// A differentiable scalar function of parameters `P` (a `Vector`, a `Matrix`, a float or a
/// `#[derive(Differentiable)]` struct) as an argmin problem over a flat `Vector`: argmin's
/// `CostFunction` from `cost`, `Gradient` from `gradient` (the generated `f_grad`'s signature:
/// value and gradient), and, once [`with_hessian`](Objective::with_hessian) adds the generated
/// `f_hessian`, `Hessian`.
///
/// The closures take the parameters alone; the function's other arguments (data, labels,
/// hyper-parameters) are captured: `Objective::new(&w0, |w| loss(w, &x, &y), |w| loss_grad(w,
/// &x, &y))` for `#[differentiable(wrt(w))] fn loss(w, x, y)`.
///
/// The last gradient is kept with its point and value: argmin's line searches evaluate the
/// gradient at the point they accept and the solver then asks for it again (L-BFGS, BFGS,
/// nonlinear CG), which this answers without running `f_grad` twice; a cost asked at that point
/// is its value. (argmin's own call counts still count those calls.)
///
/// Each evaluation unflattens the solver's `Vector` into a `P` shaped like the starting point
/// (one copy of the parameters) and flattens the gradient back (another): O(n) beside a
/// gradient that costs at least as much.
pub struct Objective<P: Differentiable, C, G, H = NoHessian> {
    shape: P,
    cost: C,
    gradient: G,
    hessian: H,
    /// The last gradient evaluated, with its point and value. A mutex, not a cell, so that the
    /// problem stays `Sync` for argmin's parallel features.
    last: Mutex<Option<Evaluated<P::Element>>>,
}

/// A point with the value and gradient the generated function gave there.
struct Evaluated<T> {
    point: Vector<T>,
    value: T,
    gradient: Vector<T>,
}

/// The Hessian slot of an [`Objective`] without one: argmin's `Hessian` is then not
/// implemented, and a solver that needs it does not compile with this problem.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoHessian;

impl<P, C, G> Objective<P, C, G>
where
    P: Differentiable,
    C: Fn(&P) -> P::Element,
    G: Fn(&P) -> (P::Element, P),
{
    /// The problem of minimising `cost` over parameters shaped like `start` (its shapes, and a
    /// struct's constant fields, are kept for every evaluation; [`start`](Objective::start)
    /// gives its values as the solver's initial parameter).
    pub fn new(start: &P, cost: C, gradient: G) -> Self {
        Objective {
            shape: start.clone(),
            cost,
            gradient,
            hessian: NoHessian,
            last: Mutex::new(None),
        }
    }

    /// Adds the Hessian (the generated `f_hessian`: the n×n matrix over the parameters in
    /// flat order), for Newton's method, Newton-CG and the trust-region solvers.
    pub fn with_hessian<H>(self, hessian: H) -> Objective<P, C, G, H>
    where
        H: Fn(&P) -> Matrix<P::Element>,
    {
        Objective {
            shape: self.shape,
            cost: self.cost,
            gradient: self.gradient,
            hessian,
            last: self.last,
        }
    }
}

impl<P: Differentiable, C, G, H> Objective<P, C, G, H> {
    /// What `f` gave at `point` last time, if the last gradient was evaluated there.
    fn remembered<R>(
        &self,
        point: &Vector<P::Element>,
        f: impl FnOnce(&Evaluated<P::Element>) -> R,
    ) -> Option<R> {
        let last = self
            .last
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        last.as_ref()
            .filter(|e| e.point.as_slice() == point.as_slice())
            .map(f)
    }

    /// The starting point given to [`new`](Objective::new), flat: the solver's initial
    /// parameter.
    pub fn start(&self) -> Vector<P::Element> {
        Vector::from_vec(self.shape.to_flat())
    }

    /// A flat parameter (a solver's best, say) back as a `P`. The same as
    /// `start.from_flat(flat.as_slice())`.
    ///
    /// # Panics
    ///
    /// If `flat` does not hold exactly as many values as `P` has parameters.
    #[track_caller]
    pub fn parameters(&self, flat: &Vector<P::Element>) -> P {
        self.shape.from_flat(flat.as_slice())
    }

    /// How many scalar parameters the problem has.
    pub fn num_params(&self) -> usize {
        self.shape.num_params()
    }

    /// `flat` as a `P`, or argmin's error if its length is not the number of parameters (a
    /// solver started from a vector of the wrong length).
    fn unflatten(&self, flat: &Vector<P::Element>) -> Result<P, Error> {
        let expected = self.shape.num_params();
        if flat.len() != expected {
            return Err(Error::msg(format!(
                "autodiff: the objective has {expected} parameters, the solver's parameter \
                 vector {}",
                flat.len()
            )));
        }
        Ok(self.shape.from_flat(flat.as_slice()))
    }
}

impl<P, C, G, H> CostFunction for Objective<P, C, G, H>
where
    P: Differentiable,
    C: Fn(&P) -> P::Element,
{
    type Param = Vector<P::Element>;
    type Output = P::Element;

    fn cost(&self, param: &Self::Param) -> Result<Self::Output, Error> {
        if let Some(value) = self.remembered(param, |e| e.value) {
            return Ok(value);
        }
        Ok((self.cost)(&self.unflatten(param)?))
    }
}

impl<P, C, G, H> Gradient for Objective<P, C, G, H>
where
    P: Differentiable,
    G: Fn(&P) -> (P::Element, P),
{
    type Param = Vector<P::Element>;
    type Gradient = Vector<P::Element>;

    fn gradient(&self, param: &Self::Param) -> Result<Self::Gradient, Error> {
        if let Some(gradient) = self.remembered(param, |e| e.gradient.clone()) {
            return Ok(gradient);
        }
        let (value, gradient) = (self.gradient)(&self.unflatten(param)?);
        let gradient = Vector::from_vec(gradient.to_flat());
        let mut last = self
            .last
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        *last = Some(Evaluated {
            point: param.clone(),
            value,
            gradient: gradient.clone(),
        });
        Ok(gradient)
    }
}

impl<P, C, G, H> Hessian for Objective<P, C, G, H>
where
    P: Differentiable,
    H: Fn(&P) -> Matrix<P::Element>,
{
    type Param = Vector<P::Element>;
    type Hessian = Matrix<P::Element>;

    fn hessian(&self, param: &Self::Param) -> Result<Self::Hessian, Error> {
        let hessian = (self.hessian)(&self.unflatten(param)?);
        let n = self.shape.num_params();
        if hessian.shape() != (n, n) {
            let (rows, cols) = hessian.shape();
            return Err(Error::msg(format!(
                "autodiff: the Hessian is {rows}×{cols}, the objective has {n} parameters"
            )));
        }
        Ok(hessian)
    }
}

#[cfg(test)]
mod tests {
    use argmin::core::{CostFunction, Executor, Gradient, Hessian, State};
    use argmin::solver::linesearch::MoreThuenteLineSearch;
    use argmin::solver::newton::Newton;
    use argmin::solver::quasinewton::LBFGS;

    use super::*;

    /// f(a, b) = (a − 1)² + 10·(b − a²)², with its derivatives by hand.
    fn cost(x: &Vector<f64>) -> f64 {
        (x[0] - 1.0).powi(2) + 10.0 * (x[1] - x[0] * x[0]).powi(2)
    }

    fn grad(x: &Vector<f64>) -> (f64, Vector<f64>) {
        let r = x[1] - x[0] * x[0];
        let g = vec![2.0 * (x[0] - 1.0) - 40.0 * x[0] * r, 20.0 * r];
        (cost(x), Vector::from_vec(g))
    }

    fn hessian(x: &Vector<f64>) -> Matrix<f64> {
        let (a, b) = (x[0], x[1]);
        Matrix::from_rows(&[
            [2.0 - 40.0 * (b - 3.0 * a * a), -40.0 * a],
            [-40.0 * a, 20.0],
        ])
    }

    #[test]
    fn the_closures_answer_argmins_calls() {
        let start = Vector::from_vec(vec![-1.0, 2.0]);
        let objective = Objective::new(&start, cost, grad).with_hessian(hessian);
        assert_eq!(objective.start(), start);
        assert_eq!(objective.num_params(), 2);
        assert_eq!(objective.cost(&start).unwrap(), cost(&start));
        assert_eq!(objective.gradient(&start).unwrap(), grad(&start).1);
        assert_eq!(objective.hessian(&start).unwrap(), hessian(&start));
        let wrong = Vector::from_vec(vec![1.0; 3]);
        let message = objective.cost(&wrong).unwrap_err().to_string();
        assert_eq!(
            message,
            "autodiff: the objective has 2 parameters, the solver's parameter vector 3"
        );
    }

    #[test]
    fn the_last_gradient_answers_a_repeated_call_at_its_point() {
        use std::cell::Cell;
        let (costs, gradients) = (Cell::new(0), Cell::new(0));
        let objective = Objective::new(
            &Vector::from_vec(vec![0.0, 0.0]),
            |x: &Vector<f64>| {
                costs.set(costs.get() + 1);
                cost(x)
            },
            |x: &Vector<f64>| {
                gradients.set(gradients.get() + 1);
                grad(x)
            },
        );
        let (a, b) = (
            Vector::from_vec(vec![0.5, 1.0]),
            Vector::from_vec(vec![0.5, 1.5]),
        );
        assert_eq!(objective.cost(&a).unwrap(), cost(&a));
        assert_eq!(objective.gradient(&a).unwrap(), grad(&a).1);
        assert_eq!((costs.get(), gradients.get()), (1, 1));
        // The solver asks again at the point the line search accepted: no new evaluation.
        assert_eq!(objective.gradient(&a).unwrap(), grad(&a).1);
        assert_eq!(objective.cost(&a).unwrap(), cost(&a));
        assert_eq!((costs.get(), gradients.get()), (1, 1));
        // Elsewhere, both run.
        assert_eq!(objective.cost(&b).unwrap(), cost(&b));
        assert_eq!(objective.gradient(&b).unwrap(), grad(&b).1);
        assert_eq!((costs.get(), gradients.get()), (2, 2));
    }

    #[test]
    fn a_hessian_of_the_wrong_shape_is_an_error() {
        let start = Vector::from_vec(vec![0.0, 0.0]);
        let objective =
            Objective::new(&start, cost, grad).with_hessian(|_: &Vector<f64>| Matrix::zeros(3, 3));
        let message = objective.hessian(&start).unwrap_err().to_string();
        assert_eq!(
            message,
            "autodiff: the Hessian is 3×3, the objective has 2 parameters"
        );
    }

    #[test]
    fn a_matrix_parameter_is_flattened_row_major() {
        // f(M) = Σ mᵢⱼ²·(i + 1): gradient 2·mᵢⱼ·(i + 1), flat in row order.
        let start = Matrix::from_rows(&[[1.0, 2.0], [3.0, 4.0]]);
        let objective = Objective::new(
            &start,
            |m: &Matrix<f64>| {
                (0..2)
                    .flat_map(|i| (0..2).map(move |j| (i, j)))
                    .map(|(i, j)| m[(i, j)].powi(2) * (i + 1) as f64)
                    .sum::<f64>()
            },
            |m: &Matrix<f64>| {
                (
                    0.0,
                    Matrix::from_fn(2, 2, |i, j| 2.0 * m[(i, j)] * (i + 1) as f64),
                )
            },
        );
        assert_eq!(objective.start().as_slice(), &[1.0, 2.0, 3.0, 4.0]);
        let flat = Vector::from_vec(vec![1.0, -1.0, 0.5, 2.0]);
        assert_eq!(objective.cost(&flat).unwrap(), 1.0 + 1.0 + 0.5 + 8.0);
        assert_eq!(
            objective.gradient(&flat).unwrap().as_slice(),
            &[2.0, -2.0, 2.0, 8.0]
        );
        assert_eq!(
            objective.parameters(&flat),
            Matrix::from_rows(&[[1.0, -1.0], [0.5, 2.0]])
        );
    }

    #[test]
    fn newton_and_lbfgs_converge_on_vectors() {
        let start = Vector::from_vec(vec![-1.2, 1.0]);
        let newton = Executor::new(
            Objective::new(&start, cost, grad).with_hessian(hessian),
            Newton::<f64>::new(),
        )
        .configure(|state| state.param(start.clone()).max_iters(50))
        .run()
        .unwrap();
        let best = newton.state().get_best_param().unwrap();
        assert!(
            (best[0] - 1.0).abs() < 1e-10 && (best[1] - 1.0).abs() < 1e-10,
            "{best:?}"
        );

        let lbfgs = LBFGS::new(MoreThuenteLineSearch::new(), 5);
        let result = Executor::new(Objective::new(&start, cost, grad), lbfgs)
            .configure(|state| state.param(start.clone()).max_iters(100))
            .run()
            .unwrap();
        let best = result.state().get_best_param().unwrap();
        assert!(
            (best[0] - 1.0).abs() < 1e-8 && (best[1] - 1.0).abs() < 1e-8,
            "{best:?}"
        );
    }

    #[test]
    fn f32_problems_solve_too() {
        let start = Vector::from_vec(vec![4.0f32, -2.0]);
        let cost = |x: &Vector<f32>| (x[0] - 1.0).powi(2) + 2.0 * (x[1] + 0.5).powi(2);
        let grad = move |x: &Vector<f32>| {
            (
                cost(x),
                Vector::from_vec(vec![2.0 * (x[0] - 1.0), 4.0 * (x[1] + 0.5)]),
            )
        };
        let lbfgs = LBFGS::new(MoreThuenteLineSearch::new(), 3);
        let result = Executor::new(Objective::new(&start, cost, grad), lbfgs)
            .configure(|state| state.param(start.clone()).max_iters(50))
            .run()
            .unwrap();
        let best = result.state().get_best_param().unwrap();
        assert!(
            (best[0] - 1.0).abs() < 1e-5 && (best[1] + 0.5).abs() < 1e-5,
            "{best:?}"
        );
    }
}
