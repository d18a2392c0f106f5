//! Checking generated derivatives against finite differences, for users' tests.
//!
//! `#[differentiable]` generates `f_gradcheck(p1, ..., pn) -> GradcheckReport`, which compares
//! `f`'s generated gradient (of ⟨u, f⟩ for a fixed probe `u` when `f` returns a tensor) with
//! 5-point central differences of `f` itself, element by element for every differentiated
//! parameter, and its forward mode with a directional difference. The report holds the largest
//! absolute and relative error per parameter; [`GradcheckReport::assert_within`] is the form for
//! tests. This module holds the arithmetic; the macro writes the calls.

use std::fmt;

use crate::tensor::results::{self, Results};
use crate::tensor::{Elementwise, Real};

/// How one quantity compares with its finite difference.
#[derive(Clone, Debug, PartialEq)]
pub struct Comparison {
    /// What was compared: a parameter's name, or `directional` for forward mode.
    pub name: String,
    /// The number of elements compared.
    pub elements: usize,
    /// max |generated − difference|.
    pub max_abs_error: f64,
    /// max |generated − difference| / max(|difference|, 1), over the elements.
    pub max_rel_error: f64,
    /// The flat (row-major) index of the element with the largest relative error.
    pub worst: usize,
    /// (generated, difference) at that element.
    pub worst_values: (f64, f64),
}

/// The result of a gradient check: one comparison per differentiated parameter, then forward
/// mode.
#[derive(Clone, Debug, PartialEq)]
pub struct GradcheckReport {
    /// The function checked.
    pub function: String,
    pub comparisons: Vec<Comparison>,
}

impl GradcheckReport {
    /// A report for `function`, to be filled by [`GradcheckReport::compare`].
    pub fn new(function: &str) -> Self {
        GradcheckReport {
            function: function.to_string(),
            comparisons: Vec::new(),
        }
    }

    /// Compares `generated` with `difference` (both flattened row-major) under `name`.
    pub fn compare(&mut self, name: &str, generated: &[f64], difference: &[f64]) {
        let mut comparison = Comparison {
            name: name.to_string(),
            elements: generated.len(),
            max_abs_error: 0.0,
            max_rel_error: 0.0,
            worst: 0,
            worst_values: (0.0, 0.0),
        };
        for (i, (&g, &d)) in generated.iter().zip(difference).enumerate() {
            let abs = (g - d).abs();
            let rel = abs / d.abs().max(1.0);
            // NaN compares false: count it as the worst error there is.
            let rel = if rel.is_nan() { f64::INFINITY } else { rel };
            comparison.max_abs_error =
                comparison
                    .max_abs_error
                    .max(if abs.is_nan() { f64::INFINITY } else { abs });
            if rel > comparison.max_rel_error || i == 0 {
                comparison.max_rel_error = comparison.max_rel_error.max(rel);
                comparison.worst = i;
                comparison.worst_values = (g, d);
            }
        }
        self.comparisons.push(comparison);
    }

    /// The largest relative error of any comparison.
    pub fn max_rel_error(&self) -> f64 {
        self.comparisons
            .iter()
            .map(|c| c.max_rel_error)
            .fold(0.0, f64::max)
    }

    /// True when every comparison's relative error is at most `tolerance`.
    pub fn within(&self, tolerance: f64) -> bool {
        self.max_rel_error() <= tolerance
    }

    /// Panics with the report unless every relative error is at most `tolerance`
    /// (relative to max(|difference|, 1)). Typical: 1e-6 in f64, 1e-2 in f32.
    #[track_caller]
    pub fn assert_within(&self, tolerance: f64) {
        if !self.within(tolerance) {
            panic!("gradient check failed (tolerance {tolerance:e}):\n{self}");
        }
    }
}

impl fmt::Display for GradcheckReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "gradient check of `{}`:", self.function)?;
        for c in &self.comparisons {
            writeln!(
                f,
                "  {:<12} {:>6} elements  max abs error {:.2e}  max rel error {:.2e}  \
                 (worst at {}: generated {:e}, difference {:e})",
                c.name,
                c.elements,
                c.max_abs_error,
                c.max_rel_error,
                c.worst,
                c.worst_values.0,
                c.worst_values.1
            )?;
        }
        Ok(())
    }
}

/// The step of the 5-point stencil at `x` for the float type `T`: ε^(1/5)·max(1, |x|), which
/// balances its O(h⁴) truncation against its O(ε/h) rounding.
pub fn step<T: Real>(x: T) -> T {
    T::epsilon().powf(T::from_f64(0.2)) * x.abs().max(T::one())
}

/// The 5-point central difference of `objective` along element `i` of `point`.
pub fn partial<T: Real, E: Elementwise<T>>(
    point: &E,
    i: usize,
    objective: &dyn Fn(&E) -> f64,
) -> f64 {
    let x = point.as_flat()[i];
    let h = step(x);
    let at = |k: T| {
        let mut data = point.as_flat().to_vec();
        data[i] = x + k * h;
        objective(&point.with_flat(data))
    };
    let two = T::from_f64(2.0);
    let d = -at(two) + 8.0 * at(T::one()) - 8.0 * at(-T::one()) + at(-two);
    d / (12.0 * Real::to_f64(h))
}

/// The 5-point differences of `objective` along every element of `point`.
pub fn gradient<T: Real, E: Elementwise<T>>(point: &E, objective: &dyn Fn(&E) -> f64) -> Vec<f64> {
    (0..point.numel())
        .map(|i| partial(point, i, objective))
        .collect()
}

/// The 5-point difference of `objective(t)` at t = 0 (a directional derivative, `objective`
/// moving every parameter along its direction by `t`), with the f32/f64 step of `T`.
pub fn directional<T: Real>(objective: &dyn Fn(T) -> f64) -> f64 {
    let h = step(T::zero());
    let two = T::from_f64(2.0);
    let d = -objective(two * h) + 8.0 * objective(h) - 8.0 * objective(-h) + objective(-two * h);
    d / (12.0 * Real::to_f64(h))
}

/// A fixed probe value shaped like `like` (entries in [−1, 1], no zeros), to check tensor
/// results through ⟨u, f⟩ and forward mode along a direction.
pub fn probe<T: Real, R: Results<T>>(like: &R, salt: usize) -> R {
    let data = (0..like.entry_count())
        .map(|i| {
            let v = ((i * 7 + salt * 13 + 3) as f64 * 0.618_033_988_75).fract() * 2.0 - 1.0;
            T::from_f64(if v.abs() < 0.1 { v + 0.3 } else { v })
        })
        .collect();
    results::from_entries(like, data)
}

/// `x + t·d`, elementwise.
pub fn moved<T: Real, E: Elementwise<T>>(x: &E, d: &E, t: T) -> E {
    x.zip_map(d, "gradcheck", |a, b| a + t * b)
}

/// ⟨u, v⟩ in f64 (over a tuple's parts in turn).
pub fn inner<T: Real, R: Results<T>>(u: &R, v: &R) -> f64 {
    results::entries(u)
        .iter()
        .zip(&results::entries(v))
        .map(|(&a, &b)| Real::to_f64(a) * Real::to_f64(b))
        .sum()
}

/// The elements of `x` in f64.
pub fn flat_f64<T: Real, E: Elementwise<T>>(x: &E) -> Vec<f64> {
    x.as_flat().iter().map(|&v| Real::to_f64(v)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tensor::Vector;

    #[test]
    fn the_stencil_is_exact_on_quartics_up_to_rounding() {
        // d/dx x⁴ at 1.5 = 4·1.5³ = 13.5; the 5-point stencil is exact for degree ≤ 4.
        let x = Vector::from_vec(vec![1.5f64]);
        let d = partial(&x, 0, &|v: &Vector<f64>| v[0].powi(4));
        assert!((d - 13.5).abs() < 1e-9, "{d}");
    }

    #[test]
    fn a_report_finds_the_worst_element() {
        let mut report = GradcheckReport::new("f");
        report.compare("x", &[1.0, 2.0, 3.0], &[1.0, 2.5, 3.0]);
        let c = &report.comparisons[0];
        assert_eq!((c.worst, c.max_abs_error), (1, 0.5));
        assert!((c.max_rel_error - 0.2).abs() < 1e-15);
        assert!(report.within(0.25) && !report.within(0.1));
        // A NaN is the worst error there is.
        report.compare("y", &[f64::NAN], &[1.0]);
        assert!(!report.within(1e9));
    }

    #[test]
    #[should_panic(expected = "gradient check failed")]
    fn assert_within_panics_with_the_report() {
        let mut report = GradcheckReport::new("f");
        report.compare("x", &[1.0], &[2.0]);
        report.assert_within(1e-3);
    }
}
