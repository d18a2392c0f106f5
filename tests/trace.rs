//! `f_trace` and `f_trace_vjp`: each line of `f_derivation()`, in order, with its numbers
//! (upstream, local factor where elementwise, downstream). The lecture notes' examples are
//! checked against their hand-worked numbers; the rest against the generated gradients, which
//! other tests check against finite differences, and against upstream ⊙ local = downstream.

use autodiff::prelude::*;
use autodiff::trace::{Role, Step, Trace};

/// The notes' ReLU: an elementwise function, whose pullback is upstream ⊙ local.
#[differentiable]
fn relu(x: &Vector<f64>) -> Vector<f64> {
    let y = x.relu();
    y
}

/// The notes' linear layer.
#[differentiable]
fn linear(x: &Matrix<f64>, w: &Matrix<f64>) -> Matrix<f64> {
    let y = x.matmul(w);
    y
}

fn step<'t>(trace: &'t Trace, name: &str) -> &'t Step {
    trace
        .step(name)
        .unwrap_or_else(|| panic!("no step defines {name} in\n{trace}"))
}

/// The equations of the steps, line by line, are the derivation's lines.
#[track_caller]
fn assert_steps_are_the_derivation(trace: &Trace, derivation: &str) {
    let traced: Vec<&str> = trace
        .steps()
        .iter()
        .flat_map(|s| s.equation().lines())
        .collect();
    let derived: Vec<&str> = derivation.lines().collect();
    assert_eq!(traced, derived, "trace:\n{trace}");
}

#[test]
fn the_notes_relu_step_shows_upstream_local_and_downstream() {
    let x = Vector::from_vec(vec![1.0, -2.0, 3.0, -1.0]);
    let upstream = Vector::from_vec(vec![4.0, -1.0, 5.0, 9.0]);
    let trace = relu_trace_vjp(&x, &upstream);
    assert_steps_are_the_derivation(&trace, relu_derivation());
    let dx = step(&trace, "dx");
    assert_eq!(dx.equation(), "dx = dy ⊙ [x > 0]");
    let ups: Vec<_> = dx.upstream().collect();
    assert_eq!(ups.len(), 1);
    assert_eq!(
        (ups[0].name(), ups[0].values()),
        ("dy", &[4.0, -1.0, 5.0, 9.0][..])
    );
    // Local: 1 where x > 0 (x = [1, −2, 3, −1]).
    let local = dx.local().expect("an elementwise step has a local factor");
    assert_eq!(local.values(), &[1.0, 0.0, 1.0, 0.0]);
    // Downstream: [4·1, −1·0, 5·1, 9·0].
    assert_eq!(dx.downstream().unwrap().values(), &[4.0, 0.0, 5.0, 0.0]);
    let text = trace.to_string();
    for shown in [
        "dx = dy ⊙ [x > 0]",
        "upstream    dy = [4, -1, 5, 9]",
        "local       [x > 0] = [1, 0, 1, 0]",
        "downstream  dx = [4, 0, 5, 0]",
    ] {
        assert!(text.contains(shown), "{shown:?} not in\n{text}");
    }
    // In that order: the equation, then upstream, local, downstream.
    let at = |s: &str| text.find(s).unwrap();
    assert!(at("dx = dy") < at("upstream") && at("upstream") < at("local"));
    assert!(at("local") < at("downstream"));
}

#[test]
fn the_notes_linear_layer_traces_dx_and_dw() {
    let x = Matrix::from_rows(&[[2.0, 1.0, -3.0], [-3.0, 4.0, 2.0]]);
    let w = Matrix::from_rows(&[
        [3.0, 2.0, 1.0, -1.0],
        [2.0, 1.0, 3.0, 2.0],
        [3.0, 2.0, 1.0, -2.0],
    ]);
    let dy = Matrix::from_rows(&[[2.0, 3.0, -3.0, 9.0], [-8.0, 1.0, 4.0, 6.0]]);
    let trace = linear_trace_vjp(&x, &w, &dy);
    assert_steps_are_the_derivation(&trace, linear_derivation());
    let dx = step(&trace, "dx");
    assert_eq!(dx.equation(), "dx = dy·wᵀ");
    assert_eq!(dx.upstream().next().unwrap().values(), dy.as_slice());
    // A matrix product is not elementwise: no local factor.
    assert!(dx.local().is_none());
    // dx[0][0] = 2·3 + 3·2 + (−3)·1 + 9·(−1) = 0; dx[1][2] = −8·3 + 1·2 + 4·1 + 6·(−2) = −30.
    assert_eq!(
        dx.downstream().unwrap().values(),
        &[0.0, 16.0, -9.0, -24.0, 9.0, -30.0]
    );
    let dw = step(&trace, "dw");
    assert_eq!(dw.equation(), "dw = xᵀ·dy");
    // dw[0][0] = 2·2 + (−3)·(−8) = 28.
    assert_eq!(
        dw.downstream().unwrap().values(),
        &[28.0, 3.0, -18.0, 0.0, -30.0, 7.0, 13.0, 33.0, -22.0, -7.0, 17.0, -15.0]
    );
    assert!(trace
        .to_string()
        .contains("downstream  dx = [[0, 16, -9], [-24, 9, -30]]"));
}

/// A two-layer network with a softmax loss: every line, in order, and the last steps'
/// downstream values are the gradient `f_grad` returns.
#[differentiable(wrt(w1, b1, w2, b2))]
fn mlp(
    x: &Matrix<f64>,
    w1: &Matrix<f64>,
    b1: &Vector<f64>,
    w2: &Matrix<f64>,
    b2: &Vector<f64>,
    labels: &[usize],
) -> f64 {
    let h = (x.matmul(w1) + b1).tanh();
    let lp = (h.matmul(w2) + b2).log_softmax();
    -lp.gather(labels).mean()
}

fn close(a: &[f64], b: &[f64]) -> bool {
    a.len() == b.len()
        && a.iter()
            .zip(b)
            .all(|(x, y)| (x - y).abs() <= 1e-12 * (1.0 + y.abs()))
}

#[test]
fn a_network_trace_ends_in_its_gradient() {
    let x = Matrix::from_rows(&[[1.0, 2.0], [0.5, -1.0], [-0.3, 0.7]]);
    let w1 = Matrix::from_rows(&[[0.1, 0.2, 0.3], [-0.2, 0.1, 0.4]]);
    let b1 = Vector::from_vec(vec![0.0, 0.1, -0.1]);
    let w2 = Matrix::from_rows(&[[0.5, -0.5], [0.3, 0.2], [0.1, -0.4]]);
    let b2 = Vector::from_vec(vec![0.05, -0.05]);
    let labels = [0, 1, 1];
    let trace = mlp_trace(&x, &w1, &b1, &w2, &b2, &labels);
    assert_steps_are_the_derivation(&trace, mlp_derivation());
    let (_, (dw1, db1, dw2, db2)) = mlp_grad(&x, &w1, &b1, &w2, &b2, &labels);
    for (name, grad) in [
        ("dw1", dw1.as_slice()),
        ("db1", db1.as_slice()),
        ("dw2", dw2.as_slice()),
        ("db2", db2.as_slice()),
    ] {
        let traced = step(&trace, name).downstream().unwrap().values().to_vec();
        assert!(close(&traced, grad), "{name}: {traced:?} vs {grad:?}");
    }
    // The first step reads the upstream gradient of the loss, 1.
    let first = &trace.steps()[0];
    assert_eq!(first.upstream().next().unwrap().values(), &[1.0]);
}

/// Where a step is elementwise, downstream = upstream ⊙ local, entry by entry.
#[differentiable]
fn squashed(x: &Vector<f64>, w: &Vector<f64>) -> f64 {
    let z = x * w;
    let s = z.sigmoid();
    let t = (s * 3.0).tanh();
    t.sum()
}

#[test]
fn elementwise_steps_multiply_upstream_by_local() {
    let x = Vector::from_vec(vec![1.0, -2.0, 0.5]);
    let w = Vector::from_vec(vec![0.3, 0.8, -1.5]);
    let trace = squashed_trace(&x, &w);
    assert_steps_are_the_derivation(&trace, squashed_derivation());
    let mut checked = 0;
    for s in trace.steps() {
        let (Some(local), Some(down)) = (s.local(), s.downstream()) else {
            continue;
        };
        let up = s.upstream().next().unwrap().values();
        let product: Vec<f64> = if up.len() == 1 {
            local.values().iter().map(|l| up[0] * l).collect()
        } else {
            up.iter().zip(local.values()).map(|(u, l)| u * l).collect()
        };
        assert!(close(&product, down.values()), "{}", s.equation());
        checked += 1;
    }
    // dt·𝟏, the tanh, the scaling, the sigmoid, the two products: most steps are elementwise.
    assert!(checked >= 3, "only {checked} elementwise steps in\n{trace}");
    // The sigmoid's local factor is σ(z)·σ(−z) at z = x ⊙ w.
    let ds = trace
        .steps()
        .iter()
        .find(|s| s.equation().contains("sigmoid("))
        .expect("the sigmoid's step");
    let z: Vec<f64> = [1.0 * 0.3, -2.0 * 0.8, 0.5 * -1.5].to_vec();
    let sigma = |v: f64| 1.0 / (1.0 + (-v).exp());
    let expected: Vec<f64> = z.iter().map(|&v| sigma(v) * sigma(-v)).collect();
    assert!(close(ds.local().unwrap().values(), &expected), "{trace}");
}

/// A loop is one step: its block, then the adjoints it produces.
#[differentiable]
fn rnn(h0: &Vector<f64>, w: &Matrix<f64>) -> f64 {
    let mut h = h0.clone();
    for _t in 0..3 {
        h = w.matmul(&h).tanh();
    }
    h.sum()
}

#[test]
fn a_loop_is_one_step_with_its_results() {
    let h0 = Vector::from_vec(vec![0.1, -0.2]);
    let w = Matrix::from_rows(&[[0.5, 0.1], [-0.3, 0.8]]);
    let trace = rnn_trace(&h0, &w);
    assert_steps_are_the_derivation(&trace, rnn_derivation());
    let block = trace
        .steps()
        .iter()
        .find(|s| s.equation().starts_with("for "))
        .expect("the loop's step");
    assert!(block.equation().lines().count() > 1);
    let (_, (dh0, dw)) = rnn_grad(&h0, &w);
    let produced: Vec<&[f64]> = block
        .entries()
        .iter()
        .filter(|e| e.role() == Role::Downstream)
        .map(|e| e.values())
        .collect();
    assert!(produced.iter().any(|v| close(v, dh0.as_slice())), "{trace}");
    assert!(produced.iter().any(|v| close(v, dw.as_slice())), "{trace}");
}

/// Parameter structs show their fields as written; f32 and generic functions trace too.
#[derive(Differentiable, Clone, Debug, PartialEq)]
struct Layer {
    w: Matrix<f64>,
    b: Vector<f64>,
}

#[differentiable(wrt(p))]
fn layer_loss(p: &Layer, x: &Matrix<f64>) -> f64 {
    let z = x.matmul(&p.w) + &p.b;
    z.tanh().sum()
}

#[differentiable]
fn generic_square<T: Float>(x: &Vector<T>) -> T {
    let y = x * x;
    y.sum()
}

#[test]
fn struct_fields_f32_and_generic_functions_trace() {
    let p = Layer {
        w: Matrix::from_rows(&[[0.1, 0.2], [0.3, -0.1]]),
        b: Vector::from_vec(vec![0.0, 0.5]),
    };
    let x = Matrix::from_rows(&[[1.0, 2.0]]);
    let trace = layer_loss_trace(&p, &x);
    assert_steps_are_the_derivation(&trace, layer_loss_derivation());
    let (_, grad) = layer_loss_grad(&p, &x);
    assert!(close(
        step(&trace, "dp.w").downstream().unwrap().values(),
        grad.w.as_slice()
    ));
    assert!(!trace.to_string().contains("p__"), "{trace}");

    let x32 = Vector::from_vec(vec![1.5f32, -2.0]);
    let trace = generic_square_trace(&x32);
    // d(Σ x²)/dx = 2x = [3, −4], exact in f32.
    let dx = step(&trace, "dx");
    assert_eq!(dx.downstream().unwrap().values(), &[3.0, -4.0]);
    let x64 = Vector::from_vec(vec![0.25f64]);
    assert_eq!(
        step(&generic_square_trace(&x64), "dx")
            .downstream()
            .unwrap()
            .values(),
        &[0.5]
    );
}

#[differentiable]
fn wide(x: &Matrix<f64>) -> f64 {
    let y = x.exp();
    y.sum()
}

#[test]
fn large_tensors_are_summarised() {
    let x = Matrix::from_vec(10, 10, (0..100).map(|i| f64::from(i) / 100.0).collect());
    let text = wide_trace(&x).to_string();
    assert!(text.contains("10×10 matrix: min 1, max "), "{text}");
    assert!(text.contains("first [1, 1.01005"), "{text}");
    assert!(text.lines().all(|l| l.chars().count() < 160), "{text}");
}

/// `only(trace)` generates the trace alone.
#[differentiable(only(trace))]
fn only_traced(x: f64, y: f64) -> f64 {
    let p = x * y;
    p.sin()
}

#[test]
fn only_trace_is_enough_for_a_trace() {
    let trace = only_traced_trace(2.0, 0.5);
    // dp = cos(p) at p = 1; dx = dp·y, dy = dp·x.
    let dp = 1.0f64.cos();
    let value = |name: &str| step(&trace, name).downstream().unwrap().values()[0];
    assert_eq!(value("dp"), dp);
    assert_eq!(value("dx"), dp * 0.5);
    assert_eq!(value("dy"), dp * 2.0);
    assert_eq!(step(&trace, "dx").local().unwrap().values(), &[0.5]);
}
