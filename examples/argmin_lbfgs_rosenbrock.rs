//! Rosenbrock's function in 100 dimensions, minimised by argmin's L-BFGS with the gradient
//! `#[differentiable]` generates, beside the same solver on argmin's finite differences.
//!
//! ```sh
//! cargo run --release --features argmin --example argmin_lbfgs_rosenbrock
//! ```
//!
//! f(x) = Σᵢ 100·(xᵢ₊₁ − xᵢ²)² + (1 − xᵢ)², minimum 0 at x* = (1, …, 1), from the classic start
//! (−1.2, 1, −1.2, 1, …). The output is the table in docs/OPTIMIZATION.md.

mod argmin_common;

use std::cell::Cell;

use argmin_common::{max_distance, median_seconds, print_table, FiniteDifferences, Outcome};
use autodiff::argmin::core::{CostFunction, Executor, Gradient, State};
use autodiff::argmin::solver::linesearch::MoreThuenteLineSearch;
use autodiff::argmin::solver::quasinewton::LBFGS;
use autodiff::optim::Objective;
use autodiff::prelude::*;

const N: usize = 100;
/// L-BFGS's memory: the last 7 steps, argmin's examples' choice.
const MEMORY: usize = 7;
/// The solver stops when ‖∇f‖ falls below this (or the cost stops changing).
const GRADIENT_TOLERANCE: f64 = 1e-8;
const MAX_ITERATIONS: u64 = 2000;
/// Timing: the median of this many solves.
const RUNS: usize = 21;

#[differentiable]
fn rosenbrock(x: &Vector<f64>) -> f64 {
    let n = x.len();
    let head = x.slice(0..n - 1);
    let d = x.slice(1..n) - &head * &head;
    let e = 1.0 - &head;
    100.0 * (&d * &d).sum() + (&e * &e).sum()
}

/// Runs L-BFGS from `start` on `problem`: (best point, iterations, argmin's call counts of the
/// cost and the gradient).
fn solve<O>(problem: O, start: &Vector<f64>) -> (Vector<f64>, u64, u64, u64)
where
    O: CostFunction<Param = Vector<f64>, Output = f64>
        + Gradient<Param = Vector<f64>, Gradient = Vector<f64>>,
{
    let solver = LBFGS::new(MoreThuenteLineSearch::new(), MEMORY)
        .with_tolerance_grad(GRADIENT_TOLERANCE)
        .expect("a positive tolerance");
    let result = Executor::new(problem, solver)
        .configure(|state| {
            state
                .param(start.clone())
                .max_iters(MAX_ITERATIONS)
                .counting(true)
        })
        .run()
        .expect("L-BFGS runs");
    let state = result.state();
    let count = |name: &str| state.get_func_counts().get(name).copied().unwrap_or(0);
    let best = state.get_best_param().expect("a best point").clone();
    (
        best,
        state.get_iter(),
        count("cost_count"),
        count("gradient_count"),
    )
}

fn main() {
    let start = Vector::from_fn(N, |i| if i % 2 == 0 { -1.2 } else { 1.0 });
    let minimiser = Vector::from_vec(vec![1.0; N]);

    // The generated gradient: `rosenbrock_grad` returns (f, ∇f). The counters count the
    // evaluations that ran (the objective answers a repeated gradient from memory).
    let (costs, gradients) = (Cell::new(0), Cell::new(0));
    let counted = Objective::new(
        &start,
        |x: &Vector<f64>| {
            costs.set(costs.get() + 1);
            rosenbrock(x)
        },
        |x: &Vector<f64>| {
            gradients.set(gradients.get() + 1);
            rosenbrock_grad(x)
        },
    );
    let (best, iterations, _, _) = solve(counted, &start);
    let generated = || Objective::new(&start, rosenbrock, rosenbrock_grad);
    let seconds = median_seconds(RUNS, || {
        solve(generated(), &start);
    });
    let exact = Outcome {
        derivatives: "generated (`rosenbrock_grad`)",
        iterations,
        cost_evaluations: costs.get(),
        gradient_calls: gradients.get(),
        hessian_calls: 0,
        seconds,
        error: max_distance(&best, &minimiser),
    };
    assert!(
        exact.error < 1e-6,
        "L-BFGS with the generated gradient converges"
    );

    // argmin's central differences: 2n evaluations of f per gradient.
    let baseline = FiniteDifferences::new(rosenbrock);
    let evaluations = baseline.evaluations();
    let (best, iterations, _, gradients) = solve(baseline, &start);
    let seconds = median_seconds(RUNS, || {
        solve(FiniteDifferences::new(rosenbrock), &start);
    });
    let differences = Outcome {
        derivatives: "finite differences (`finitediff::central_diff`)",
        iterations,
        cost_evaluations: evaluations.get(),
        gradient_calls: gradients,
        hessian_calls: 0,
        seconds,
        error: max_distance(&best, &minimiser),
    };

    println!("Rosenbrock, n = {N}, L-BFGS (memory {MEMORY}, More-Thuente line search, ‖∇f‖ ≤ {GRADIENT_TOLERANCE:e}), median of {RUNS} solves:\n");
    print_table(&[exact, differences]);
    let (value, gradient) = rosenbrock_grad(&best);
    println!(
        "\nAt the finite-difference answer: f = {value:.3e}, ‖∇f‖∞ = {:.3e} (exact gradient).",
        gradient
            .as_slice()
            .iter()
            .fold(0.0f64, |m, g| m.max(g.abs()))
    );
}
