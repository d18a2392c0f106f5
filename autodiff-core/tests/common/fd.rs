//! Finite differences: the central five-point stencil at a step and at successively finer
//! steps, with the errors at each, and the comparisons the engine tests share.

use autodiff_core::symbolic::{Kind, Value};

/// First step of the central five-point stencil `(−f(x+2h) + 8f(x+h) − 8f(x−h) + f(x−2h)) / 12h`.
/// Its truncation error is `h⁴·f⁽⁵⁾/30 ≈ 3e-14·f⁽⁵⁾`; its rounding error is the f64 noise of the
/// four evaluations times `(1 + 8 + 8 + 1)/12h`, about `1.5·κ·ε·|f|/h ≈ 3.3e-13·κ·|f|` where κ
/// is the condition of the evaluation (the ratio of the largest intermediate term to `|f|`).
/// A check that disagrees at this step is retried at steps 4, 16, ... times smaller (see
/// [`fd_check`]): a composition with a steep inner function (slope `s`) has `f⁽⁵⁾ ~ s⁵`, so
/// its truncation error at `h = 1e-3` can be large (measured: up to 0.14 on
/// `sin(exp(sin(…)))`-like programs); each refinement divides the truncation error by 256 and
/// multiplies the rounding error by 4. A wrong derivative disagrees at every step.
pub const FD_STEP: f64 = 1e-3;

/// The first `refinements` steps of [`fd_check`]: `FD_STEP`, `FD_STEP/4`, `FD_STEP/16`, ...
pub fn fd_steps(refinements: usize) -> impl Iterator<Item = f64> {
    (0..refinements).map(|k| FD_STEP / 4f64.powi(k as i32))
}

/// The five-point stencil of `g` (vector-valued) at step `h`.
pub fn stencil<E>(h: f64, mut g: impl FnMut(f64) -> Result<Vec<f64>, E>) -> Result<Vec<f64>, E> {
    let (f2, f1, b1, b2) = (g(2.0 * h)?, g(h)?, g(-h)?, g(-2.0 * h)?);
    Ok((0..f1.len())
        .map(|i| (-f2[i] + 8.0 * f1[i] - 8.0 * b1[i] + b2[i]) / (12.0 * h))
        .collect())
}

/// The gradient of the scalar function `f` with respect to parameter `param` at `inputs`, by
/// the stencil of step `h` along each unit direction of that parameter in turn.
pub fn stencil_gradient<E>(
    h: f64,
    inputs: &[Value<f64>],
    param: usize,
    mut f: impl FnMut(&[Value<f64>]) -> Result<f64, E>,
) -> Result<Vec<f64>, E> {
    (0..inputs[param].numel())
        .map(|i| {
            let dir = [unit(&inputs[param], i)];
            let g = stencil(h, |t| Ok(vec![f(&along(inputs, &[param], &dir, t))?]))?;
            Ok(g[0])
        })
        .collect()
}

/// `inputs` with each parameter `wrt[k]` moved by `t·dirs[k]`.
pub fn along(inputs: &[Value<f64>], wrt: &[usize], dirs: &[Value<f64>], t: f64) -> Vec<Value<f64>> {
    let mut moved = inputs.to_vec();
    for (&p, d) in wrt.iter().zip(dirs) {
        let data = inputs[p]
            .to_vec()
            .iter()
            .zip(d.to_vec())
            .map(|(x, d)| x + t * d)
            .collect();
        moved[p] = inputs[p].with_data(data);
    }
    moved
}

/// The unit direction `j` of a parameter shaped like `like`.
pub fn unit(like: &Value<f64>, j: usize) -> Value<f64> {
    let mut e = vec![0.0; like.numel()];
    e[j] = 1.0;
    like.with_data(e)
}

/// ⟨a, b⟩ over all elements of two values of the same shape.
pub fn inner(a: &Value<f64>, b: &Value<f64>) -> f64 {
    assert_eq!(dims(a), dims(b), "inner product of different shapes");
    a.to_vec().iter().zip(b.to_vec()).map(|(x, y)| x * y).sum()
}

/// The kind and `(rows, cols)` of a value; a vector is a column.
fn dims(v: &Value<f64>) -> (Kind, usize, usize) {
    match v {
        Value::Scalar(_) => (Kind::Scalar, 1, 1),
        Value::Vector(x) => (Kind::Vector, x.len(), 1),
        Value::Matrix(m) => (Kind::Matrix, m.rows(), m.cols()),
        other => (other.kind(), other.numel(), 0),
    }
}

/// `‖v‖∞`.
pub fn sup(v: &[f64]) -> f64 {
    v.iter().fold(0.0f64, |m, x| m.max(x.abs()))
}

/// `max |got − want| / max(‖want‖∞, floor)`; infinite if the lengths differ or anything is not
/// finite.
pub fn rel_error(got: &[f64], want: &[f64], floor: f64) -> f64 {
    if got.len() != want.len() || got.iter().chain(want).any(|x| !x.is_finite()) {
        return f64::INFINITY;
    }
    let err = got
        .iter()
        .zip(want)
        .fold(0.0f64, |m, (g, w)| m.max((g - w).abs()));
    if err == 0.0 {
        0.0
    } else {
        err / sup(want).max(floor)
    }
}

/// A derivative compared against stencils at one or more steps.
pub struct FdCheck {
    /// The smallest relative error over the steps tried.
    pub error: f64,
    /// The stencil that gave it.
    pub reference: Vec<f64>,
    /// Each step tried, its stencil and its error: on a failure, whether the stencils converge
    /// towards the derivative (a stencil problem) or away from it (a wrong derivative).
    pub steps: Vec<(f64, Vec<f64>, f64)>,
    floor: f64,
    tol: f64,
}

impl FdCheck {
    /// Whether the derivative agrees with a stencil to the tolerance.
    pub fn agrees(&self) -> bool {
        self.error <= self.tol
    }

    /// Whether the stencils can be trusted as a reference: two consecutive ones agree with
    /// each other to the tolerance. When no stencil agrees with the derivative and they do not
    /// agree with each other either, they are rounding noise and decide nothing. Measured
    /// example: `tanh(w)` with `w = s³ ≈ 17.9`, where `1 − tanh²(w) ≈ 1.2e-15` is within an ulp
    /// of 1 and both the gradient the stencils difference and the derived `1 − y²` are accurate
    /// only to ~10% relative (absolute errors at the ε level): the stencils at successive steps
    /// disagree by 2×. A wrong rule, by contrast, disagrees with stencils that agree with each
    /// other.
    pub fn references_converge(&self) -> bool {
        self.steps
            .windows(2)
            .any(|pair| rel_error(&pair[1].1, &pair[0].1, self.floor) <= self.tol)
    }

    /// The error at each step, for a failure message.
    pub fn table(&self) -> String {
        self.steps
            .iter()
            .map(|(h, _, e)| format!("h = {h:.3e}: {e:.2e}"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Compares the derivative `got` against the stencils `fd(h)` at the steps of
/// [`fd_steps`]`(refinements)`, finer only while no step agrees to `tol` (relative, with
/// `floor` as in [`rel_error`]); keeps the smallest error.
pub fn fd_check<E>(
    got: &[f64],
    floor: f64,
    tol: f64,
    refinements: usize,
    mut fd: impl FnMut(f64) -> Result<Vec<f64>, E>,
) -> Result<FdCheck, E> {
    let mut check = FdCheck {
        error: f64::INFINITY,
        reference: Vec::new(),
        steps: Vec::new(),
        floor,
        tol,
    };
    for h in fd_steps(refinements) {
        let reference = fd(h)?;
        let error = rel_error(got, &reference, floor);
        if error < check.error || check.steps.is_empty() {
            check.error = error;
            check.reference = reference.clone();
        }
        check.steps.push((h, reference, error));
        if check.agrees() {
            break;
        }
    }
    Ok(check)
}
