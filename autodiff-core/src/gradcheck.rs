//! Checking generated derivatives against finite differences, for users' tests.
//!
//! `#[differentiable]` generates `f_gradcheck(p1, ..., pn) -> GradcheckReport`, which compares
//! `f`'s generated gradient (of ⟨u, f⟩ for a fixed probe `u` when `f` returns a tensor) with
//! finite differences of `f` itself ([`Differences`]: central ones at several steps, one-sided
//! ones next to a kink), element by element for every differentiated parameter, and its
//! forward mode with a directional difference. The report holds the largest
//! absolute and relative error per parameter; [`GradcheckReport::assert_within`] is the form for
//! tests. This module holds the arithmetic; the macro writes the calls.
//!
//! `f_check_hand(p1, ..., pn, hand_vjp)` compares the generated pullback with a hand-written one
//! of `f_vjp`'s signature instead: at the given point and at [`HAND_TRIALS`]` − 1` points
//! [`perturbed`] from it, each with its own upstream gradient, the value and the gradient of
//! each parameter (`dx`, `dw`); a hand derivation of the wrong shape, or one that panics, is
//! reported as such.

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
    /// The shapes (generated, reference) where a hand derivation's has another shape.
    pub shapes: Option<(String, String)>,
}

/// What a report compares the generated derivatives with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reference {
    /// Finite differences of the function (`f_gradcheck`).
    FiniteDifferences,
    /// A hand-written pullback (`f_check_hand`).
    Hand,
}

/// The result of a gradient check: one comparison per differentiated parameter, then forward
/// mode.
#[derive(Clone, Debug, PartialEq)]
pub struct GradcheckReport {
    /// The function checked.
    pub function: String,
    pub comparisons: Vec<Comparison>,
    pub reference: Reference,
    /// Why the reference could not be compared at all: the hand derivation panicked.
    pub failure: Option<String>,
}

impl GradcheckReport {
    /// A report for `function`, to be filled by [`GradcheckReport::compare`].
    pub fn new(function: &str) -> Self {
        GradcheckReport {
            function: function.to_string(),
            comparisons: Vec::new(),
            reference: Reference::FiniteDifferences,
            failure: None,
        }
    }

    /// A report of `function` against a hand-written pullback, filled by
    /// [`GradcheckReport::compare_hand`].
    pub fn against_hand(function: &str) -> Self {
        GradcheckReport {
            reference: Reference::Hand,
            ..Self::new(function)
        }
    }

    /// Compares `generated` with the `hand` derivation's value of it under `name`, entry by
    /// entry; a second comparison of the same name (at another trial point) keeps the worst.
    pub fn compare_hand<T: Real, R: Results<T>>(&mut self, name: &str, generated: &R, hand: &R) {
        let (shape, hand_shape) = (generated.shape(), hand.shape());
        let mut comparison = Comparison {
            name: name.to_string(),
            elements: generated.entry_count(),
            max_abs_error: 0.0,
            max_rel_error: 0.0,
            worst: 0,
            worst_values: (0.0, 0.0),
            kinks: Vec::new(),
            shapes: None,
        };
        if shape != hand_shape {
            comparison.max_abs_error = f64::INFINITY;
            comparison.max_rel_error = f64::INFINITY;
            comparison.shapes = Some((shape, hand_shape));
        } else {
            let (g, h) = (results::entries(generated), results::entries(hand));
            for (i, (&g, &h)) in g.iter().zip(&h).enumerate() {
                let (g, h) = (Real::to_f64(g), Real::to_f64(h));
                let abs = (g - h).abs();
                let rel = abs / h.abs().max(1.0);
                // Both NaN (outside the function's domain) agree; one NaN is the worst error.
                let (abs, rel) = match (g.is_nan(), h.is_nan()) {
                    (true, true) => (0.0, 0.0),
                    (false, false) => (abs, rel),
                    _ => (f64::INFINITY, f64::INFINITY),
                };
                comparison.max_abs_error = comparison.max_abs_error.max(abs);
                if rel > comparison.max_rel_error || i == 0 {
                    comparison.max_rel_error = comparison.max_rel_error.max(rel);
                    comparison.worst = i;
                    comparison.worst_values = (g, h);
                }
            }
        }
        match self.comparisons.iter_mut().find(|c| c.name == name) {
            Some(previous) if previous.max_rel_error >= comparison.max_rel_error => {}
            Some(previous) => *previous = comparison,
            None => self.comparisons.push(comparison),
        }
    }

    /// Every name `from` in the function's and the comparisons' names written as `to` (a
    /// struct's fields: `p__w1` as `p.w1`).
    #[doc(hidden)]
    pub fn renamed(mut self, from: &str, to: &str) -> Self {
        self.function = self.function.replace(from, to);
        for comparison in &mut self.comparisons {
            comparison.name = comparison.name.replace(from, to);
        }
        self
    }

    /// Records that the hand derivation could not be compared (it panicked with `message`).
    pub fn hand_failed(&mut self, message: String) {
        self.failure = Some(message);
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
            shapes: None,
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

    /// True when every comparison's relative error is at most `tolerance` (and a hand
    /// derivation ran).
    pub fn within(&self, tolerance: f64) -> bool {
        self.failure.is_none() && self.max_rel_error() <= tolerance
    }

    /// The comparisons that exceed `tolerance`: their names (`dw`) say which derivative is off.
    pub fn failing(&self, tolerance: f64) -> Vec<&str> {
        self.comparisons
            .iter()
            .filter(|c| c.max_rel_error > tolerance || c.max_rel_error.is_nan())
            .map(|c| c.name.as_str())
            .collect()
    }

    /// Panics with the report unless every relative error is at most `tolerance`
    /// (relative to max(|difference|, 1)). Typical: 1e-6 in f64, 1e-2 in f32.
    #[track_caller]
    pub fn assert_within(&self, tolerance: f64) {
        if !self.within(tolerance) {
            let what = match self.reference {
                Reference::FiniteDifferences => "gradient check failed",
                Reference::Hand => "hand derivation check failed",
            };
            let failing = self.failing(tolerance);
            let at = if failing.is_empty() {
                String::new()
            } else {
                format!(" at {}", failing.join(", "))
            };
            panic!("{what}{at} (tolerance {tolerance:e}):\n{self}");
        }
    }
}

impl fmt::Display for GradcheckReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let reference = match self.reference {
            Reference::FiniteDifferences => {
                writeln!(f, "gradient check of `{}`:", self.function)?;
                "difference"
            }
            Reference::Hand => {
                writeln!(
                    f,
                    "`{}` against the hand derivation ({HAND_TRIALS} points, random upstreams):",
                    self.function
                )?;
                "hand"
            }
        };
        if let Some(message) = &self.failure {
            writeln!(f, "  the hand derivation panicked: {message}")?;
        }
        for c in &self.comparisons {
            if let Some((generated, hand)) = &c.shapes {
                writeln!(
                    f,
                    "  {:<12} the hand derivation's is {hand}, the generated one {generated}",
                    c.name
                )?;
                continue;
            }
            writeln!(
                f,
                "  {:<12} {:>6} elements  max abs error {:.2e}  max rel error {:.2e}  \
                 (worst at {}: generated {:e}, {reference} {:e})",
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

/// How many points `f_check_hand` compares at: the given one and perturbed ones.
pub const HAND_TRIALS: usize = 3;

/// `x` itself at trial 0, else `x` moved by up to a quarter of max(1, |xᵢ|) in each entry, in
/// a pseudo-random direction that differs by trial: nearby points of the same shapes, where a
/// hand derivation that happens to agree at one point (a symmetric matrix hiding a missing
/// transpose) is caught.
pub fn perturbed<T: Real, R: Results<T>>(x: &R, trial: usize) -> R {
    if trial == 0 {
        return x.clone();
    }
    let direction = results::entries(&probe(x, 17 * trial + 5));
    let data = results::entries(x)
        .into_iter()
        .zip(direction)
        .map(|(v, d)| v + T::from_f64(0.25) * d * v.abs().max(T::one()))
        .collect();
    results::from_entries(x, data)
}

thread_local! {
    /// Set while [`catch`] runs a hand derivation on this thread: its panic is reported, not
    /// printed, and where it happened is kept here.
    static CATCHING: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    static PANICKED_AT: std::cell::RefCell<Option<String>> = const { std::cell::RefCell::new(None) };
}

/// `hand()`, or the message it panicked with and where. The panic is not printed: the report
/// says it (other threads' panics, and this thread's outside `catch`, print as before).
pub fn catch<R>(hand: impl FnOnce() -> R) -> Result<R, String> {
    static QUIET_HOOK: std::sync::Once = std::sync::Once::new();
    QUIET_HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if CATCHING.with(|c| c.get()) {
                let at = info.location().map(|l| l.to_string());
                PANICKED_AT.with(|p| *p.borrow_mut() = at);
            } else {
                previous(info);
            }
        }));
    });
    let was_catching = CATCHING.with(|c| c.replace(true));
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(hand));
    CATCHING.with(|c| c.set(was_catching));
    result.map_err(|payload| {
        let message = payload
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_else(|| "a panic without a message".to_string());
        match PANICKED_AT.with(|p| p.borrow_mut().take()) {
            Some(at) => format!("{message} (at {at})"),
            None => message,
        }
    })
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
    fn a_hand_check_keeps_the_worst_trial_and_names_shapes() {
        use crate::tensor::Matrix;
        let mut report = GradcheckReport::against_hand("f");
        let g = Vector::from_vec(vec![1.0f64, 2.0]);
        report.compare_hand("dx", &g, &Vector::from_vec(vec![1.0, 2.5]));
        report.compare_hand("dx", &g, &g);
        assert_eq!(report.comparisons.len(), 1);
        assert_eq!(report.comparisons[0].worst_values, (2.0, 2.5));
        assert_eq!(report.failing(0.1), ["dx"]);
        let m = Matrix::from_rows(&[[1.0f64, 2.0, 3.0]]);
        report.compare_hand("dw", &m, &m.t());
        let text = report.to_string();
        assert!(
            text.contains("dw           the hand derivation's is a 3×1 matrix, the generated one a 1×3 matrix"),
            "{text}"
        );
        assert_eq!(report.failing(0.5), ["dw"]);
        assert!(text.contains("generated 2e0, hand 2.5e0"), "{text}");
    }

    #[test]
    fn perturbed_points_move_every_entry_but_the_first_trial_is_the_point() {
        let x = Vector::from_vec(vec![0.0f64, 10.0, -3.0]);
        assert_eq!(perturbed(&x, 0), x);
        let (a, b) = (perturbed(&x, 1), perturbed(&x, 2));
        for (i, &v) in x.as_slice().iter().enumerate() {
            let bound = 0.25 * v.abs().max(1.0);
            assert!(a[i] != v && (a[i] - v).abs() <= bound, "{a:?}");
            assert!((b[i] - v).abs() <= bound && a[i] != b[i], "{b:?}");
        }
    }

    #[test]
    fn a_panicking_hand_derivation_is_caught_with_where_it_panicked() {
        let error = catch(|| -> f64 { panic!("shapes {} and {}", 2, 3) }).unwrap_err();
        assert!(error.starts_with("shapes 2 and 3 (at "), "{error}");
        assert!(error.contains("gradcheck.rs"), "{error}");
        assert_eq!(catch(|| 4), Ok(4));
        let mut report = GradcheckReport::against_hand("f");
        report.hand_failed(error);
        assert!(!report.within(f64::INFINITY));
        assert!(report
            .to_string()
            .contains("the hand derivation panicked: shapes 2 and 3"));
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
