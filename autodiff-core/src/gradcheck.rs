//! Checking generated derivatives against finite differences, for users' tests.
//!
//! `#[differentiable]` generates `f_gradcheck(p1, ..., pn) -> GradcheckReport`, which compares
//! `f`'s generated gradient (of ⟨u, f⟩ for a fixed probe `u` when `f` returns a tensor) with
//! finite differences of `f` itself ([`Differences`]: central ones at several steps, one-sided
//! ones next to a kink), element by element for every differentiated parameter, and its
//! forward mode with a directional difference. The report holds the largest
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
    /// The entries next to a kink: (index, slope from the left, slope from the right). Each
    /// is checked against the side closer to the generated value.
    pub kinks: Vec<(usize, f64, f64)>,
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

    /// Compares `generated` (flattened row-major) with its finite `differences` under `name`:
    /// each entry against the closest of its differences (see [`Differences::closest_to`]).
    pub fn compare(&mut self, name: &str, generated: &[f64], differences: &[Differences]) {
        let mut comparison = Comparison {
            name: name.to_string(),
            elements: generated.len(),
            max_abs_error: 0.0,
            max_rel_error: 0.0,
            worst: 0,
            worst_values: (0.0, 0.0),
            kinks: Vec::new(),
        };
        for (i, (&g, differences)) in generated.iter().zip(differences).enumerate() {
            let d = differences.closest_to(g);
            if differences.near_kink() {
                comparison
                    .kinks
                    .push((i, differences.left, differences.right));
            }
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
            for &(i, left, right) in &c.kinks {
                writeln!(
                    f,
                    "  {:<12} near a kink at entry {i}: slope {left:e} from the left, \
                     {right:e} from the right",
                    ""
                )?;
            }
        }
        Ok(())
    }
}

/// The step of the 5-point stencil at `x` for the float type `T`: ε^(1/5)·max(1, |x|), which
/// balances its O(h⁴) truncation against its O(ε/h) rounding.
pub fn step<T: Real>(x: T) -> T {
    T::epsilon().powf(T::from_f64(0.2)) * x.abs().max(T::one())
}

/// How many times smaller than [`step`] each further central difference's step is: a kink
/// (ReLU's 0, `abs`, `max`) closer than two steps makes the largest step's difference an
/// average of the two sides, and a smaller step clears it.
const REFINEMENTS: [f64; 3] = [1.0, 4.0, 16.0];

/// A derivative's finite differences at one point: central ones at several steps, and
/// one-sided ones (second order) on either side, at the smallest step.
#[derive(Clone, Debug, PartialEq)]
pub struct Differences {
    /// 5-point central differences at [`step`], a quarter of it and a sixteenth.
    pub central: [f64; 3],
    /// From the left: (3f(x) − 4f(x − h) + f(x − 2h)) / 2h.
    pub left: f64,
    /// From the right: (−3f(x) + 4f(x + h) − f(x + 2h)) / 2h.
    pub right: f64,
}

impl Differences {
    /// The differences of `f(t)` at t = 0, with steps scaled from `h` (in `T`).
    fn of<T: Real>(h: T, f: &dyn Fn(T) -> f64) -> Differences {
        let two = T::from_f64(2.0);
        let central = REFINEMENTS.map(|shrink| {
            let h = h / T::from_f64(shrink);
            let d = -f(two * h) + 8.0 * f(h) - 8.0 * f(-h) + f(-two * h);
            d / (12.0 * Real::to_f64(h))
        });
        let h = h / T::from_f64(REFINEMENTS[REFINEMENTS.len() - 1]);
        let (at, width) = (f(T::zero()), 2.0 * Real::to_f64(h));
        Differences {
            central,
            left: (3.0 * at - 4.0 * f(-h) + f(-two * h)) / width,
            right: (-3.0 * at + 4.0 * f(h) - f(two * h)) / width,
        }
    }

    /// The difference that `generated` is checked against: the closest of the central ones at
    /// every step; next to a kink (where those average the two sides), the closest point of
    /// the interval between the two one-sided slopes (the subgradients: ReLU's 0 or 1, `abs`'s
    /// sign(0) = 0). Where the function is smooth the central ones agree to well within the
    /// tolerances, so a wrong derivative is as far from each.
    pub fn closest_to(&self, generated: f64) -> f64 {
        if self.near_kink() {
            let (low, high) = (self.left.min(self.right), self.left.max(self.right));
            return generated.clamp(low, high);
        }
        self.central
            .iter()
            .copied()
            .min_by(|a, b| (a - generated).abs().total_cmp(&(b - generated).abs()))
            .unwrap_or(f64::NAN)
    }

    /// The slopes from the left and from the right disagree: the point is next to a kink,
    /// where a derivative is that of one side (as the generated code's is, documented).
    pub fn near_kink(&self) -> bool {
        let scale = self.left.abs().max(self.right.abs()).max(1.0);
        (self.left - self.right).abs() > 1e-3 * scale
    }
}

/// The finite differences of `objective` along element `i` of `point`.
pub fn partial<T: Real, E: Elementwise<T>>(
    point: &E,
    i: usize,
    objective: &dyn Fn(&E) -> f64,
) -> Differences {
    let x = point.as_flat()[i];
    Differences::of(step(x), &|t: T| {
        let mut data = point.as_flat().to_vec();
        data[i] = x + t;
        objective(&point.with_flat(data))
    })
}

/// The finite differences of `objective` along every element of `point`.
pub fn gradient<T: Real, E: Elementwise<T>>(
    point: &E,
    objective: &dyn Fn(&E) -> f64,
) -> Vec<Differences> {
    (0..point.numel())
        .map(|i| partial(point, i, objective))
        .collect()
}

/// The finite differences of `objective(t)` at t = 0 (a directional derivative, `objective`
/// moving every parameter along its direction by `t`), with the f32/f64 step of `T`.
pub fn directional<T: Real>(objective: &dyn Fn(T) -> f64) -> Differences {
    Differences::of(step(T::zero()), objective)
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
        for central in d.central {
            assert!((central - 13.5).abs() < 1e-9, "{d:?}");
        }
        assert!(!d.near_kink(), "{d:?}");
    }

    #[test]
    fn a_report_finds_the_worst_element() {
        let mut report = GradcheckReport::new("f");
        let exact = |d: f64| Differences {
            central: [d; 3],
            left: d,
            right: d,
        };
        report.compare("x", &[1.0, 2.0, 3.0], &[exact(1.0), exact(2.5), exact(3.0)]);
        let c = &report.comparisons[0];
        assert_eq!((c.worst, c.max_abs_error), (1, 0.5));
        assert!((c.max_rel_error - 0.2).abs() < 1e-15);
        assert!(report.within(0.25) && !report.within(0.1));
        // A NaN is the worst error there is.
        report.compare("y", &[f64::NAN], &[exact(1.0)]);
        assert!(!report.within(1e9));
    }

    #[test]
    fn a_kink_is_checked_against_the_side_taken_and_reported() {
        // |x| at 1e-4: the largest step straddles 0 (central difference 0.135), the
        // smaller ones do not; the generated 1 agrees, and −1 (the other side's slope) fails.
        let x = Vector::from_vec(vec![1e-4f64]);
        let d = partial(&x, 0, &|v: &Vector<f64>| v[0].abs());
        assert!((d.central[0] - 1.0).abs() > 0.1, "{d:?}");
        assert!((d.closest_to(1.0) - 1.0).abs() < 1e-9, "{d:?}");
        // Right at the kink: each side's slope, and the report says so.
        let at_zero = partial(&Vector::from_vec(vec![0.0f64]), 0, &|v: &Vector<f64>| {
            v[0].max(0.0)
        });
        assert!(at_zero.near_kink(), "{at_zero:?}");
        let mut report = GradcheckReport::new("relu");
        report.compare("x", &[1.0], std::slice::from_ref(&at_zero));
        assert!(report.within(1e-9), "{report}");
        assert!(
            report.to_string().contains("near a kink at entry 0"),
            "{report}"
        );
        // A value outside the two sides' slopes fails.
        let mut wrong = GradcheckReport::new("relu");
        wrong.compare("x", &[1.5], &[at_zero]);
        assert!(!wrong.within(0.1), "{wrong}");
    }

    #[test]
    #[should_panic(expected = "gradient check failed")]
    fn assert_within_panics_with_the_report() {
        let mut report = GradcheckReport::new("f");
        let two = Differences {
            central: [2.0; 3],
            left: 2.0,
            right: 2.0,
        };
        report.compare("x", &[1.0], &[two]);
        report.assert_within(1e-3);
    }
}
