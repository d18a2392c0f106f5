//! `autodiff::optim::Objective` (feature `argmin`): generated gradients and Hessians driving
//! argmin's solvers, over a vector and over a `#[derive(Differentiable)]` struct flattened with
//! `to_flat`/`from_flat`; answers against closed forms (`cargo test --all-features`).
#![cfg(feature = "argmin")]

use autodiff::argmin::core::{Executor, State};
use autodiff::argmin::solver::linesearch::MoreThuenteLineSearch;
use autodiff::argmin::solver::newton::Newton;
use autodiff::argmin::solver::quasinewton::{BFGS, LBFGS};
use autodiff::optim::Objective;
use autodiff::prelude::*;

/// An affine model y ≈ x·w + b: a matrix and a vector of parameters, flattened w (row-major)
/// then b. `#[no_derivative]` data travel with it but are not parameters.
#[derive(Differentiable, Clone, Debug, PartialEq)]
struct Affine {
    w: Matrix<f64>,
    b: Vector<f64>,
    #[no_derivative]
    label: String,
}

#[differentiable(wrt(p))]
fn squared_error(p: &Affine, x: &Matrix<f64>, y: &Matrix<f64>) -> f64 {
    let r = x.matmul(&p.w) + &p.b - y;
    0.5 * (&r * &r).sum()
}

/// Data with an exact affine fit: y = x·w₀ + b₀.
fn exact_fit() -> (Matrix<f64>, Matrix<f64>, Matrix<f64>, Vector<f64>) {
    let x = Matrix::from_rows(&[
        [1.0, 0.5, -0.2],
        [-0.3, 2.0, 0.4],
        [0.7, -1.0, 1.5],
        [0.1, 0.3, -0.8],
        [2.0, -0.4, 0.3],
        [-1.1, 0.9, 0.6],
    ]);
    let w0 = Matrix::from_rows(&[[0.5, -1.0], [2.0, 0.25], [-0.75, 1.5]]);
    let b0 = Vector::from_vec(vec![0.3, -0.6]);
    let y = x.matmul(&w0) + &b0;
    (x, y, w0, b0)
}

fn start() -> Affine {
    Affine {
        w: Matrix::zeros(3, 2),
        b: Vector::zeros(2),
        label: "fit".to_string(),
    }
}

fn max_difference(a: &[f64], b: &[f64]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f64::max)
}

#[test]
fn newton_on_a_struct_takes_one_step_to_a_quadratics_minimum() {
    // The loss is quadratic, so one Newton step with the exact Hessian lands on the minimum:
    // only if `f_hessian`'s order is `to_flat`'s (w row-major, then b).
    let (x, y, w0, b0) = exact_fit();
    let p0 = start();
    let objective = Objective::new(
        &p0,
        |p: &Affine| squared_error(p, &x, &y),
        |p: &Affine| squared_error_grad(p, &x, &y),
    )
    .with_hessian(|p: &Affine| squared_error_hessian(p, &x, &y));
    assert_eq!(objective.num_params(), 8);
    let result = Executor::new(objective, Newton::<f64>::new())
        .configure(|state| state.param(Vector::from_vec(p0.to_flat())).max_iters(1))
        .run()
        .unwrap();
    let best = p0.from_flat(result.state().get_param().unwrap().as_slice());
    assert!(
        max_difference(best.w.as_slice(), w0.as_slice()) < 1e-12,
        "{best:?}"
    );
    assert!(
        max_difference(best.b.as_slice(), b0.as_slice()) < 1e-12,
        "{best:?}"
    );
    assert_eq!(best.label, "fit", "constants come from the starting point");
}

#[test]
fn lbfgs_and_bfgs_on_a_struct_find_the_exact_fit() {
    let (x, y, w0, b0) = exact_fit();
    let p0 = start();
    let objective = || {
        Objective::new(
            &p0,
            |p: &Affine| squared_error(p, &x, &y),
            |p: &Affine| squared_error_grad(p, &x, &y),
        )
    };
    let lbfgs = LBFGS::new(MoreThuenteLineSearch::new(), 5)
        .with_tolerance_grad(1e-12)
        .unwrap();
    let problem = objective();
    let initial = problem.start();
    let result = Executor::new(problem, lbfgs)
        .configure(|state| state.param(initial.clone()).max_iters(200))
        .run()
        .unwrap();
    let best = objective().parameters(result.state().get_best_param().unwrap());
    assert!(
        max_difference(best.w.as_slice(), w0.as_slice()) < 1e-8,
        "{best:?}"
    );
    assert!(
        max_difference(best.b.as_slice(), b0.as_slice()) < 1e-8,
        "{best:?}"
    );

    // BFGS keeps an inverse-Hessian estimate: a `Matrix` through argmin's math traits.
    let bfgs = BFGS::new(MoreThuenteLineSearch::new())
        .with_tolerance_grad(1e-12)
        .unwrap();
    let result = Executor::new(objective(), bfgs)
        .configure(|state| {
            state
                .param(initial)
                .inv_hessian(Matrix::identity(8))
                .max_iters(200)
        })
        .run()
        .unwrap();
    let best = p0.from_flat(result.state().get_best_param().unwrap().as_slice());
    assert!(
        max_difference(best.w.as_slice(), w0.as_slice()) < 1e-8,
        "{best:?}"
    );
}

/// Generic over its float (so a tensor comes first in `e`: Rust has no `T − Vector<T>`).
#[differentiable]
fn rosenbrock<T: Float>(x: &Vector<T>) -> T {
    let n = x.len();
    let head = x.slice(0..n - 1);
    let d = x.slice(1..n) - &head * &head;
    let e = &head - 1.0;
    100.0 * (&d * &d).sum() + (&e * &e).sum()
}

#[test]
fn lbfgs_on_a_vector_in_f64_and_f32() {
    let start = Vector::from_fn(10, |i| if i % 2 == 0 { -1.2 } else { 1.0 });
    let lbfgs = LBFGS::new(MoreThuenteLineSearch::new(), 7)
        .with_tolerance_grad(1e-10)
        .unwrap();
    let result = Executor::new(
        Objective::new(&start, rosenbrock::<f64>, rosenbrock_grad::<f64>),
        lbfgs,
    )
    .configure(|state| state.param(start.clone()).max_iters(1000))
    .run()
    .unwrap();
    let best = result.state().get_best_param().unwrap();
    assert!(
        max_difference(best.as_slice(), &[1.0; 10]) < 1e-8,
        "{best:?}"
    );

    let start32 = Vector::from_fn(4, |i| if i % 2 == 0 { -1.2f32 } else { 1.0 });
    let lbfgs = LBFGS::new(MoreThuenteLineSearch::new(), 7)
        .with_tolerance_grad(1e-4)
        .unwrap();
    let result = Executor::new(
        Objective::new(&start32, rosenbrock::<f32>, rosenbrock_grad::<f32>),
        lbfgs,
    )
    .configure(|state| state.param(start32.clone()).max_iters(1000))
    .run()
    .unwrap();
    let best = result.state().get_best_param().unwrap();
    assert!(
        best.as_slice().iter().all(|v| (v - 1.0).abs() < 1e-3),
        "{best:?}"
    );
}
