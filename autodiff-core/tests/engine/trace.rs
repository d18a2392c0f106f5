//! Section 11, the numeric trace: on every table row and random program, the trace program
//! computes what the reverse program does (its own outputs unchanged), its steps are the
//! derivation's lines in order, and every step with a local factor satisfies
//! downstream = upstream ⊙ local.

use autodiff_core::symbolic::{
    derive_reverse, eval, print, trace_plan, EntryRole, Role, TracePlan,
};

use crate::common::rng::Rng;
use crate::support::{run_table, to_f64, Case};
use crate::tables::{
    binary_cases, composite_cases, elementwise_cases, linalg_cases, random_cases, reduction_cases,
};

fn check_trace(case: &Case) -> Result<(), String> {
    let mut rng = Rng::seeded(&case.name);
    let inputs = case.draw_inputs(&mut rng);
    let value = eval(&case.program, &inputs).remove(0);
    let mut vjp_inputs = inputs.clone();
    vjp_inputs.push(rng.like(&value));
    let reverse = derive_reverse(&case.program, &case.wrt).map_err(|e| e.to_string())?;
    let TracePlan { program, steps } = trace_plan(&reverse.vjp).map_err(|e| e.to_string())?;
    let expected = eval(&reverse.vjp.program, &vjp_inputs);
    let traced = eval(&program, &vjp_inputs);
    for (k, e) in expected.iter().enumerate() {
        if to_f64(e) != to_f64(&traced[k]) {
            return Err(format!("output {k} differs from the reverse program's"));
        }
    }
    let lines: Vec<String> = steps
        .iter()
        .flat_map(|s| s.equation.lines().map(str::to_string))
        .collect();
    let derivation = print::print_lines(
        &reverse.vjp.program,
        Role::Adjoint,
        &reverse.vjp.adjoint_names,
    );
    if lines != derivation.lines().collect::<Vec<_>>() {
        return Err(format!(
            "steps {lines:?}\nare not the derivation\n{derivation}"
        ));
    }
    for step in &steps {
        let find = |role| step.entries.iter().filter(move |e| e.role == role);
        let (Some(local), Some(down)) = (
            find(EntryRole::Local).next(),
            find(EntryRole::Downstream).next(),
        ) else {
            continue;
        };
        let ups: Vec<_> = find(EntryRole::Upstream).collect();
        let [up] = ups.as_slice() else {
            return Err(format!(
                "{}: a local factor with {} upstreams",
                step.equation,
                ups.len()
            ));
        };
        let (u, l, d) = (
            to_f64(&traced[up.output]),
            to_f64(&traced[local.output]),
            to_f64(&traced[down.output]),
        );
        for (k, &dk) in d.iter().enumerate() {
            let uk = if u.len() == 1 { u[0] } else { u[k] };
            let product = uk * l[k];
            if (product - dk).abs() > 1e-12 * (1.0 + dk.abs()) {
                return Err(format!(
                    "{}: upstream {uk} × local {} = {product}, downstream {dk} (entry {k})",
                    step.equation, l[k]
                ));
            }
        }
    }
    Ok(())
}

#[test]
fn traces_are_the_derivation_with_consistent_numbers_on_every_table() {
    for cases in [
        elementwise_cases(),
        binary_cases(),
        linalg_cases(),
        reduction_cases(),
        composite_cases(),
    ] {
        run_table(&cases, check_trace);
    }
    run_table(random_cases(), check_trace);
}
