//! L2-regularised logistic regression fitted by argmin's Newton method with the Hessian
//! `#[differentiable]` generates, beside the same solver on argmin's finite differences.
//!
//! ```sh
//! cargo run --release --features argmin --example argmin_newton_logistic
//! ```
//!
//! The data: 2,000 points in 20 dimensions (a bias column and 19 standard normal features,
//! drawn from a fixed seed) labelled ±1 by a known logistic model. The loss is
//! −Σ ln σ(yᵢ·xᵢ·w) + ½·λ·‖w‖², convex with a positive definite Hessian, so Newton's method
//! converges quadratically from w = 0. argmin's `Newton` has no stopping test of its own: an
//! observer records every iterate, and the run is counted up to the first iterate whose exact
//! gradient is below the tolerance. The output is the table in docs/OPTIMIZATION.md.

mod argmin_common;

use std::cell::RefCell;
use std::rc::Rc;

use argmin_common::{max_distance, median_seconds, print_table, FiniteDifferences, Outcome};
use autodiff::argmin::core::observers::{Observe, ObserverMode};
use autodiff::argmin::core::{Error, Executor, Gradient, Hessian, IterState, State, KV};
use autodiff::argmin::solver::newton::Newton;
use autodiff::optim::Objective;
use autodiff::prelude::*;

const SAMPLES: usize = 2000;
const FEATURES: usize = 20;
const LAMBDA: f64 = 1.0;
/// Converged: ‖∇f(w)‖∞ at most this (the loss is of order 10³, its gradient at w = 0 of
/// order 10²). Finite differences stall a little below it, at their own error.
const GRADIENT_TOLERANCE: f64 = 1e-6;
/// Newton's iterations at most; the generated run's last iterate is the reference minimiser.
const MAX_ITERATIONS: u64 = 30;
const RUNS: usize = 11;

#[differentiable(wrt(w))]
fn negative_log_likelihood(w: &Vector<f64>, x: &Matrix<f64>, y: &Vector<f64>, lambda: f64) -> f64 {
    let margins = y * &x.matmul(w);
    -margins.sigmoid().ln().sum() + 0.5 * lambda * w.dot(w)
}

/// SplitMix64: a fixed, dependency-free stream of uniform numbers in [0, 1).
struct Random(u64);

impl Random {
    fn uniform(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Standard normal, by Box–Muller.
    fn normal(&mut self) -> f64 {
        let (u, v) = (1.0 - self.uniform(), self.uniform());
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
    }
}

/// Features with a bias column, and labels ±1 drawn from σ(x·w_true).
fn data() -> (Matrix<f64>, Vector<f64>) {
    let mut random = Random(2026);
    let truth = Vector::from_fn(FEATURES, |j| (j as f64 * 0.7).sin());
    let x = Matrix::from_fn(SAMPLES, FEATURES, |_, j| {
        if j == 0 {
            1.0
        } else {
            random.normal()
        }
    });
    let y = Vector::from_fn(SAMPLES, |i| {
        let margin: f64 = (0..FEATURES).map(|j| x[(i, j)] * truth[j]).sum();
        let p = 1.0 / (1.0 + (-margin).exp());
        if random.uniform() < p {
            1.0
        } else {
            -1.0
        }
    });
    (x, y)
}

type NewtonState = IterState<Vector<f64>, Vector<f64>, (), Matrix<f64>, (), f64>;

/// Keeps every iterate (argmin's observers see the state after each iteration).
struct Iterates(Rc<RefCell<Vec<Vector<f64>>>>);

impl Observe<NewtonState> for Iterates {
    fn observe_iter(&mut self, state: &NewtonState, _kv: &KV) -> Result<(), Error> {
        let param = state.get_param().expect("Newton's state has a parameter");
        self.0.borrow_mut().push(param.clone());
        Ok(())
    }
}

/// Newton's method on `problem` from w = 0 for `iterations` steps; the iterates.
fn solve<O>(problem: O, iterations: u64) -> Vec<Vector<f64>>
where
    O: Gradient<Param = Vector<f64>, Gradient = Vector<f64>>
        + Hessian<Param = Vector<f64>, Hessian = Matrix<f64>>,
{
    let iterates = Rc::new(RefCell::new(Vec::new()));
    Executor::new(problem, Newton::new())
        .configure(|state| state.param(Vector::zeros(FEATURES)).max_iters(iterations))
        .add_observer(Iterates(Rc::clone(&iterates)), ObserverMode::Always)
        .run()
        .expect("Newton's method runs");
    iterates.take()
}

fn main() {
    let (x, y) = data();
    let cost = |w: &Vector<f64>| negative_log_likelihood(w, &x, &y, LAMBDA);
    let exact_gradient_norm = |w: &Vector<f64>| {
        let (_, g) = negative_log_likelihood_grad(w, &x, &y, LAMBDA);
        g.as_slice().iter().fold(0.0f64, |m, v| m.max(v.abs()))
    };
    // Iterations to the tolerance: the first iterate whose exact gradient is below it.
    let iterations_to_converge = |iterates: &[Vector<f64>]| {
        iterates
            .iter()
            .position(|w| exact_gradient_norm(w) <= GRADIENT_TOLERANCE)
            .map(|i| i as u64 + 1)
    };

    // The generated gradient and Hessian: `_grad` returns (f, ∇f), `_hessian` the 20×20 ∇²f.
    let generated = || {
        Objective::new(&Vector::zeros(FEATURES), cost, |w: &Vector<f64>| {
            negative_log_likelihood_grad(w, &x, &y, LAMBDA)
        })
        .with_hessian(|w: &Vector<f64>| negative_log_likelihood_hessian(w, &x, &y, LAMBDA))
    };
    let iterates = solve(generated(), MAX_ITERATIONS);
    let minimiser = iterates.last().expect("iterates").clone();
    let newton =
        iterations_to_converge(&iterates).expect("Newton with the generated Hessian converges");
    assert!(newton <= 10, "quadratic convergence: {newton} iterations");
    let answer = &iterates[newton as usize - 1];
    let exact = Outcome {
        derivatives: "generated (`_grad`, `_hessian`)",
        iterations: newton,
        cost_evaluations: 0,
        gradient_calls: newton,
        hessian_calls: newton,
        seconds: median_seconds(RUNS, || {
            solve(generated(), newton);
        }),
        error: max_distance(answer, &minimiser),
    };

    // argmin's finite differences: the gradient by central differences of the cost (2n
    // costs), the Hessian by central differences of that gradient (2n gradients, 4n² costs).
    let baseline = FiniteDifferences::new(cost);
    let evaluations = baseline.evaluations();
    let iterates = solve(baseline, MAX_ITERATIONS);
    let converged = iterations_to_converge(&iterates);
    let steps = converged.unwrap_or(MAX_ITERATIONS);
    let answer = &iterates[steps as usize - 1];
    let per_iteration = evaluations.get() / MAX_ITERATIONS;
    let differences = Outcome {
        derivatives: if converged.is_some() {
            "finite differences (`finitediff`)"
        } else {
            "finite differences (`finitediff`), not converged"
        },
        iterations: steps,
        cost_evaluations: per_iteration * steps,
        gradient_calls: steps,
        hessian_calls: steps,
        seconds: median_seconds(RUNS, || {
            solve(FiniteDifferences::new(cost), steps);
        }),
        error: max_distance(answer, &minimiser),
    };

    println!(
        "Logistic regression, {SAMPLES} samples × {FEATURES} features, λ = {LAMBDA}, Newton's method \
         from w = 0 to ‖∇f‖∞ ≤ {GRADIENT_TOLERANCE:e}, median of {RUNS} solves:\n"
    );
    print_table(&[exact, differences]);
    println!(
        "\nx* is the generated run's iterate {MAX_ITERATIONS} (‖∇f‖∞ = {:.1e}, f = {:.6}). \
         ‖∇f‖∞ (exact) after each finite-difference iteration: {}",
        exact_gradient_norm(&minimiser),
        cost(&minimiser),
        iterates
            .iter()
            .take(10)
            .map(|w| format!("{:.1e}", exact_gradient_norm(w)))
            .collect::<Vec<_>>()
            .join(", ")
    );
    println!(
        "The finite differences' floor: ‖∇f‖∞ = {:.1e} at iterate {MAX_ITERATIONS}.",
        exact_gradient_norm(iterates.last().expect("iterates"))
    );
}
