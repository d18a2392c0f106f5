//! Section 1, reverse mode: the reverse program against central five-point finite differences,
//! on every table row and random program, in f64 and with the derived program run in f32.

use std::convert::Infallible;

use autodiff_core::symbolic::rules::elementwise::{Powi, UnaryFn};
use autodiff_core::symbolic::{eval, reverse, Program, Seed, Value};
use autodiff_core::Vector;

use crate::common::fd::{fd_check, inner, rel_error, stencil_gradient, FD_STEP};
use crate::common::rng::Rng;
use crate::support::{
    convert, exceeds, push, run_table, shape_of, to_f64, Case, Domain, Shape, FD_REFINEMENTS,
    SCALE_FLOOR_F32, SCALE_FLOOR_F64, TOL_F32, TOL_F64,
};
use crate::tables::{
    binary_cases, composite_cases, elementwise_cases, linalg_cases, random_cases, reduction_cases,
};

/// The gradient of `x ↦ ⟨upstream, p(x)⟩` with respect to parameter `param`, by the stencil of
/// step `h` along each element in turn.
fn fd_gradient(
    p: &Program,
    inputs: &[Value<f64>],
    upstream: &Value<f64>,
    param: usize,
    h: f64,
) -> Vec<f64> {
    let Ok(gradient) = stencil_gradient(h, inputs, param, |xs| {
        Ok::<_, Infallible>(inner(upstream, &eval(p, xs)[0]))
    });
    gradient
}

/// `reverse(p, wrt, Upstream)` at random inputs and a random upstream `u` gives, for each wrt
/// parameter, the gradient of ⟨u, p(x)⟩: checked against finite differences in f64, and with
/// the derived program run in f32.
fn check_reverse(case: &Case) -> Result<(), String> {
    let mut rng = Rng::seeded(&case.name);
    let inputs = case.draw_inputs(&mut rng);
    let value = eval(&case.program, &inputs).remove(0);
    let upstream = rng.like(&value);
    let rev = reverse(&case.program, &case.wrt, Seed::Upstream)
        .map_err(|e| format!("reverse failed: {e}"))?;
    let program = &rev.program;
    if program.params.len() != inputs.len() + 1 || program.outputs.len() != 1 + case.wrt.len() {
        return Err(format!(
            "derived program has {} parameters and {} outputs, expected {} and {}",
            program.params.len(),
            program.outputs.len(),
            inputs.len() + 1,
            1 + case.wrt.len()
        ));
    }
    let mut rev_inputs = inputs.clone();
    rev_inputs.push(upstream.clone());
    let outs = eval(program, &rev_inputs);
    let inputs32: Vec<Value<f32>> = rev_inputs.iter().map(convert).collect();
    let outs32 = eval(program, &inputs32);

    // See `SCALE_FLOOR_F64`: the size of the function sets the noise level of the references.
    let size = inner(&upstream, &value).abs().max(1.0);
    let mut errors = Vec::new();
    if outs[0] != value {
        errors.push("the derived program's first output is not the primal value".to_string());
    }
    for (k, &param) in case.wrt.iter().enumerate() {
        // See `FD_REFINEMENTS`: a row fails only if it disagrees with every stencil.
        let reference =
            |h| Ok::<_, Infallible>(fd_gradient(&case.program, &inputs, &upstream, param, h));
        let name = &case.program.params[param].name;
        let runs = [
            (
                "f64",
                shape_of(&outs[1 + k]),
                to_f64(&outs[1 + k]),
                TOL_F64,
                SCALE_FLOOR_F64 * size,
            ),
            (
                "f32",
                shape_of(&outs32[1 + k]),
                to_f64(&outs32[1 + k]),
                TOL_F32,
                SCALE_FLOOR_F32 * size,
            ),
        ];
        for (precision, shape, grad, tol, floor) in runs {
            if shape != case.shapes[param] {
                errors.push(format!(
                    "d{name} ({precision}) has shape {shape:?}, the parameter {:?}",
                    case.shapes[param]
                ));
                continue;
            }
            let Ok(fd) = fd_check(&grad, floor, tol, FD_REFINEMENTS, reference);
            if exceeds(fd.error, tol) {
                errors.push(format!(
                    "d{name} ({precision}): relative error {:.2e} > {tol:.0e} (by step: {})\n    \
                     reverse:            {grad:?}\n    finite differences: {:?}",
                    fd.error,
                    fd.table(),
                    fd.reference
                ));
            }
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors.join("\n  "))
    }
}

#[test]
fn reverse_matches_finite_differences_elementwise() {
    run_table(&elementwise_cases(), check_reverse);
}

#[test]
fn reverse_matches_finite_differences_binary_with_broadcasting() {
    run_table(&binary_cases(), check_reverse);
}

#[test]
fn reverse_matches_finite_differences_linalg() {
    run_table(&linalg_cases(), check_reverse);
}

#[test]
fn reverse_matches_finite_differences_reductions_and_softmax() {
    run_table(&reduction_cases(), check_reverse);
}

#[test]
fn reverse_matches_finite_differences_composites() {
    run_table(&composite_cases(), check_reverse);
}

#[test]
fn reverse_matches_finite_differences_random_programs() {
    run_table(random_cases(), check_reverse);
}

#[test]
fn every_unary_function_is_in_the_table() {
    let names: Vec<String> = elementwise_cases().into_iter().map(|c| c.name).collect();
    for f in UnaryFn::ALL {
        assert!(
            names.iter().any(|n| n.starts_with(&format!("{f:?}("))),
            "{f:?} has no row"
        );
    }
}

#[test]
fn finite_differences_are_accurate_on_a_known_gradient() {
    // d/dx ⟨u, x³⟩ = 3x²⊙u, in closed form: validates the reference itself.
    let case = Case::new("cube", &[("x", Shape::V(3), Domain::Any)], &[0], |p, x| {
        push(p, Powi(3), &[x[0]])
    });
    let x = Value::Vector(Vector::from_vec(vec![0.3, -0.7, 1.1]));
    let u = Value::Vector(Vector::from_vec(vec![1.0, 2.0, -0.5]));
    let fd = fd_gradient(&case.program, std::slice::from_ref(&x), &u, 0, FD_STEP);
    let exact: Vec<f64> = x
        .to_vec()
        .iter()
        .zip(u.to_vec())
        .map(|(x, u)| 3.0 * x * x * u)
        .collect();
    assert!(
        rel_error(&fd, &exact, SCALE_FLOOR_F64) < 1e-10,
        "{fd:?} vs {exact:?}"
    );
}
