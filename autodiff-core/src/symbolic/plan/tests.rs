//! The plan's decisions, and (with the runtime) the values of the programs it hands out,
//! through the interpreter.

use super::*;
use crate::symbolic::ir::{Kind, ValueId};
use crate::symbolic::rules::arith::{BinOp, Binary, Literal};
use crate::symbolic::rules::call::{Call, Callee, CalleeParam};
use crate::symbolic::rules::elementwise::{Unary, UnaryFn};
use crate::symbolic::rules::linalg::{Dot, MatMul};

fn push(p: &mut Program, op: impl Into<Op>, args: &[ValueId]) -> ValueId {
    p.push(op.into(), args).expect("well-kinded")
}

/// `f(x, a) = x·(a·x)`: ∇ₓ = (a + aᵀ)·x, H = a + aᵀ.
fn quadratic_form() -> Program {
    let mut p = Program::new();
    let x = p.param("x", Kind::Vector);
    let a = p.param("a", Kind::Matrix);
    let ax = push(&mut p, MatMul::PLAIN, &[a, x]);
    let f = push(&mut p, Dot, &[x, ax]);
    p.name_value(f, "f");
    p.outputs = vec![f];
    p
}

/// `y = tanh(w·x + b)`.
fn tanh_layer() -> Program {
    let mut p = Program::new();
    let w = p.param("w", Kind::Matrix);
    let x = p.param("x", Kind::Vector);
    let b = p.param("b", Kind::Vector);
    let wx = push(&mut p, MatMul::PLAIN, &[w, x]);
    let z = push(&mut p, Binary(BinOp::Add), &[wx, b]);
    let y = push(&mut p, Unary(UnaryFn::Tanh), &[z]);
    p.name_value(y, "y");
    p.outputs = vec![y];
    p
}

/// A callee of scalars `f(x) -> scalar`, with or without its second-order block.
fn scalar_callee(name: &str, second_order: bool) -> Callee {
    Callee {
        name: name.to_string(),
        params: vec![CalleeParam::Value {
            kind: Kind::Scalar,
            by_ref: false,
        }],
        results: vec![Kind::Scalar],
        second_order,
    }
}

/// `loss(w, x) = softplus(w·x) + 0.5·w·w`, `softplus` a callee.
fn loss_through(callee: Callee) -> Program {
    let mut p = Program::new();
    let w = p.param("w", Kind::Vector);
    let x = p.param("x", Kind::Vector);
    let z = push(&mut p, Dot, &[w, x]);
    let s = push(&mut p, Call(callee), &[z]);
    let ww = push(&mut p, Dot, &[w, w]);
    let half = push(&mut p, Literal::new(0.5), &[]);
    let r = push(&mut p, Binary(BinOp::Mul), &[half, ww]);
    let loss = push(&mut p, Binary(BinOp::Add), &[s, r]);
    p.outputs = vec![loss];
    p
}

#[test]
fn the_mode_rule_is_fewer_outputs_strictly() {
    assert!(REVERSE_WHEN.holds(2, 3));
    assert!(!REVERSE_WHEN.holds(3, 3));
    assert!(!REVERSE_WHEN.holds(4, 3));
    assert_eq!(REVERSE_WHEN.operator(), "<");
    assert_eq!(REVERSE_WHEN.words(), "fewer than");
    assert_eq!(Comparison::LessOrEqual.operator(), "<=");
    assert!(Comparison::LessOrEqual.holds(3, 3));
}

#[test]
fn a_scalar_result_has_every_item() {
    let p = quadratic_form();
    let plan = plan(&p, &[0], Items::ALL).unwrap();
    assert!(plan.reverse.grad.is_some());
    assert_eq!(plan.jacobian, Some(JacobianPlan::FromGradient));
    let second = plan.second_order.unwrap().expect("a Hessian");
    assert_eq!(second.hvp.tangent_names, ["dx"]);
    // Value, gradient, Hessian times the direction.
    assert_eq!(second.hvp.program.outputs.len(), 3);
    assert!(!second.derivation.is_empty());
    let Some([group]) = second.hessian.as_ref().map(|h| &h.groups[..]) else {
        panic!("one group of columns, found {:?}", second.hessian);
    };
    assert_eq!(group.directions, [0]);
    assert!(group.batched.is_some(), "a batched Hessian");
}

/// `y = exp(x)·2`: by reverse mode `2·diag(exp(x))`, by forward `diag(exp(x))·2`.
fn soft() -> Program {
    let mut p = Program::new();
    let x = p.param("x", Kind::Vector);
    let e = push(&mut p, Unary(UnaryFn::Exp), &[x]);
    let two = push(&mut p, Literal::new(2.0), &[]);
    let y = push(&mut p, Binary(BinOp::Mul), &[e, two]);
    p.name_value(y, "y");
    p.outputs = vec![y];
    p
}

#[test]
fn a_tensor_result_has_a_jacobian_and_no_second_order() {
    let plan = plan(&soft(), &[0], Items::ALL).unwrap();
    assert!(plan.reverse.grad.is_none());
    assert_eq!(plan.second_order, Some(Err(NoSecondOrder::TensorResult)));
    match &plan.jacobian {
        Some(JacobianPlan::EitherMode {
            program,
            reverse_when,
        }) => {
            assert_eq!(*reverse_when, REVERSE_WHEN);
            assert_eq!(program.outputs.len(), 3);
        }
        other => panic!("expected both modes for one parameter, found {other:?}"),
    }
    let p = tanh_layer();
    // Every parameter: w has matrix-valued tangents, so one pass per direction, by the rule.
    let plan = super::plan(&p, &[0, 1, 2], Items::ALL).unwrap();
    assert_eq!(
        plan.jacobian,
        Some(JacobianPlan::ByDirections {
            reverse_when: REVERSE_WHEN
        })
    );
    // Vectors only: every direction at once by forward mode.
    let plan = super::plan(&p, &[1, 2], Items::ALL).unwrap();
    assert!(matches!(&plan.jacobian, Some(JacobianPlan::Batched(programs)) if programs.len() == 2));
}

#[test]
fn a_callee_without_second_order_is_a_reason_not_an_error() {
    let p = loss_through(scalar_callee("softplus", false));
    let plan = plan(&p, &[0], Items::ALL).unwrap();
    let reason = NoSecondOrder::CalleeWithoutSecondOrder {
        callee: "softplus".to_string(),
    };
    assert_eq!(plan.second_order, Some(Err(reason.clone())));
    assert_eq!(plan.blocks.second_order, Err(reason));
    // First order is all there.
    assert!(plan.reverse.grad.is_some());
    assert_eq!(plan.blocks.pullback.program.outputs.len(), 3);
}

#[test]
fn a_callee_with_second_order_gives_second_order() {
    let p = loss_through(scalar_callee("softplus", true));
    let plan = plan(&p, &[0], Items::ALL).unwrap();
    let second = plan
        .second_order
        .unwrap()
        .expect("a Hessian through the callee's block");
    assert!(second.derivation.contains("softplus_vjp_jvp("));
    // The callee's block cannot be batched: one Hessian-vector product per direction.
    let hessian = second.hessian.expect("a Hessian plan");
    assert!(hessian.groups.iter().all(|g| g.batched.is_none()));
    assert!(plan.blocks.second_order.is_ok());
}

#[test]
fn an_inactive_callee_does_not_take_second_order_away() {
    // loss(w, x) = softplus(x·x) + w·w with respect to w only: the gradient reads no pullback
    // of softplus, so f_hvp exists; the building blocks cover x too, so they have none.
    let mut p = Program::new();
    let w = p.param("w", Kind::Vector);
    let x = p.param("x", Kind::Vector);
    let xx = push(&mut p, Dot, &[x, x]);
    let s = push(&mut p, Call(scalar_callee("softplus", false)), &[xx]);
    let ww = push(&mut p, Dot, &[w, w]);
    let loss = push(&mut p, Binary(BinOp::Add), &[s, ww]);
    p.outputs = vec![loss];
    let plan = plan(&p, &[0], Items::ALL).unwrap();
    assert!(matches!(plan.second_order, Some(Ok(_))));
    assert_eq!(
        plan.blocks.second_order,
        Err(NoSecondOrder::CalleeWithoutSecondOrder {
            callee: "softplus".to_string()
        })
    );
}

#[test]
fn a_tensor_function_through_a_first_order_callee_takes_one_pass_per_direction() {
    // y = tanh(affine(w, x)) with respect to x alone: both modes batched would need forward
    // mode over affine's user-written pullback. (This was an internal error.)
    let affine = Callee {
        name: "affine".to_string(),
        params: vec![
            CalleeParam::Value {
                kind: Kind::Matrix,
                by_ref: true,
            },
            CalleeParam::Value {
                kind: Kind::Vector,
                by_ref: true,
            },
        ],
        results: vec![Kind::Vector],
        second_order: false,
    };
    let mut p = Program::new();
    let w = p.param("w", Kind::Matrix);
    let x = p.param("x", Kind::Vector);
    let a = push(&mut p, Call(affine), &[w, x]);
    let y = push(&mut p, Unary(UnaryFn::Tanh), &[a]);
    p.outputs = vec![y];
    let plan = plan(&p, &[1], Items::ALL).unwrap();
    assert_eq!(
        plan.jacobian,
        Some(JacobianPlan::ByDirections {
            reverse_when: REVERSE_WHEN
        })
    );
    assert_eq!(plan.second_order, Some(Err(NoSecondOrder::TensorResult)));
}

#[test]
fn a_genuine_failure_is_still_an_error() {
    let mut p = quadratic_form();
    assert!(plan(&p, &[5], Items::ALL).is_err(), "no parameter number 5");
    p.outputs.clear();
    assert!(plan(&p, &[0], Items::ALL).is_err(), "no output");
}

#[test]
fn the_building_blocks_cover_every_parameter() {
    let p = quadratic_form();
    let only_x = plan(&p, &[0], Items::ALL).unwrap();
    let all = plan(&p, &[0, 1], Items::ALL).unwrap();
    assert_eq!(only_x.blocks, all.blocks);
    assert_eq!(all.blocks.pullback, all.reverse.vjp);
    assert_eq!(all.blocks.pushforward, all.forward.jvp);
    // Value and two gradients; the second-order block adds their two tangents.
    assert_eq!(only_x.blocks.pullback.program.outputs.len(), 3);
    let second = only_x.blocks.second_order.expect("a second-order block");
    assert_eq!(second.program.outputs.len(), 5);
    // x, a, the upstream gradient, and a tangent for each.
    assert_eq!(second.program.params.len(), 6);
}

#[cfg(feature = "runtime")]
mod values {
    use super::*;
    use crate::symbolic::eval::{eval, Value};
    use crate::tensor::{Matrix, Vector};

    fn close(got: &Value<f64>, want: &[f64]) {
        let got = got.to_vec();
        assert_eq!(got.len(), want.len(), "{got:?} against {want:?}");
        for (g, w) in got.iter().zip(want) {
            assert!((g - w).abs() < 1e-12, "{got:?} against {want:?}");
        }
    }

    fn a() -> Matrix<f64> {
        Matrix::from_rows(&[[1.0, 2.0], [-3.0, 0.5]])
    }

    #[test]
    fn the_second_order_programs_compute_the_hessian() {
        // H = a + aᵀ = [[2, −1], [−1, 1]].
        let plan = plan(&quadratic_form(), &[0], Items::ALL).unwrap();
        let second = plan.second_order.unwrap().unwrap();
        let x = Value::Vector(Vector::from_vec(vec![0.5, -1.0]));
        let v = Value::Vector(Vector::from_vec(vec![1.0, 2.0]));
        let hvp = eval(&second.hvp.program, &[x.clone(), Value::Matrix(a()), v]);
        close(&hvp[0], &[0.5 * (0.5 - 2.0) - (-1.5 - 0.5)]);
        close(&hvp[1], &[2.0, -1.5]);
        close(&hvp[2], &[0.0, 1.0]);
        let Some(batched) = &second.hessian.as_ref().unwrap().groups[0].batched else {
            panic!("a batched Hessian");
        };
        assert_eq!(batched.blocks, [Some(0)]);
        let h = eval(&batched.program, &[x, Value::Matrix(a())]);
        close(&h[0], &[2.0, -1.0, -1.0, 1.0]);
    }

    #[test]
    fn the_second_order_block_is_the_hvp_at_upstream_one() {
        let plan = plan(&quadratic_form(), &[0], Items::ALL).unwrap();
        let block = plan.blocks.second_order.unwrap();
        let hvp = plan.second_order.unwrap().unwrap().hvp;
        let x = Value::Vector(Vector::from_vec(vec![0.5, -1.0]));
        let v = Value::Vector(Vector::from_vec(vec![1.0, 2.0]));
        let zero_a = Value::Matrix(Matrix::zeros(2, 2));
        let inputs = [
            x.clone(),
            Value::Matrix(a()),
            Value::Scalar(1.0),
            v.clone(),
            zero_a,
            Value::Scalar(0.0),
        ];
        let by_block = eval(&block.program, &inputs);
        let by_hvp = eval(&hvp.program, &[x, Value::Matrix(a()), v]);
        // Gradient of x, then the tangent of the gradient of x.
        assert_eq!(by_block[1], by_hvp[1]);
        assert_eq!(by_block[3], by_hvp[2]);
    }

    #[test]
    fn both_modes_of_the_jacobian_agree() {
        let plan = plan(&soft(), &[0], Items::ALL).unwrap();
        let Some(JacobianPlan::EitherMode { program, .. }) = &plan.jacobian else {
            panic!("both modes for one parameter");
        };
        let x: [f64; 3] = [0.5, -1.0, 2.0];
        let out = eval(program, &[Value::Vector(Vector::from_vec(x.to_vec()))]);
        // diag(2·exp(x)), 3×3, both ways.
        let want: Vec<f64> = (0..3)
            .flat_map(|i| (0..3).map(move |j| if i == j { 2.0 * x[i].exp() } else { 0.0 }))
            .collect();
        close(&out[0], &want);
        close(&out[1], &want);
        close(&out[2], &x.map(|v| 2.0 * v.exp()));
    }

    #[test]
    fn the_jacobian_of_a_tanh_layer_is_a_row_scaling() {
        let plan = plan(&tanh_layer(), &[1], Items::ALL).unwrap();
        let Some(JacobianPlan::Batched(programs)) = &plan.jacobian else {
            panic!("one batched program");
        };
        let w: Matrix<f64> = Matrix::from_rows(&[[0.5, -0.2], [0.1, 0.3], [1.0, 2.0]]);
        let x = Vector::from_vec(vec![1.0, 2.0]);
        let b = Vector::from_vec(vec![0.1, -0.1, 0.2]);
        let y: Vec<f64> = (0..3)
            .map(|i| (w[(i, 0)] * x[0] + w[(i, 1)] * x[1] + b[i]).tanh())
            .collect();
        let out = eval(
            &programs[0],
            &[Value::Matrix(w.clone()), Value::Vector(x), Value::Vector(b)],
        );
        // diag(1 − y²)·w, 3×2.
        let want: Vec<f64> = (0..3)
            .flat_map(|i| (0..2).map(move |j| (i, j)))
            .map(|(i, j)| (1.0 - y[i] * y[i]) * w[(i, j)])
            .collect();
        close(&out[0], &want);
    }
}

#[test]
fn modes_that_agree_leave_nothing_to_choose() {
    // tanh(w·x + b) with respect to x: diag(1 − y²)·w both ways, so one program. The result
    // is computed only because the Jacobian reads it.
    let Some(JacobianPlan::Batched(programs)) =
        plan(&tanh_layer(), &[1], Items::ALL).unwrap().jacobian
    else {
        panic!("one program for both modes");
    };
    assert_eq!(programs.len(), 1);
    assert_eq!(programs[0].outputs.len(), 1);
    // relu(x): diag([x > 0]) both ways; the result itself is not computed.
    let mut p = Program::new();
    let x = p.param("x", Kind::Vector);
    let y = push(&mut p, Unary(UnaryFn::Relu), &[x]);
    p.outputs = vec![y];
    let Some(JacobianPlan::Batched(programs)) = plan(&p, &[0], Items::ALL).unwrap().jacobian else {
        panic!("one program for both modes");
    };
    assert!(!programs[0]
        .insts
        .iter()
        .any(|inst| matches!(inst.op, Op::Unary(Unary(UnaryFn::Relu)))));
}

fn items(list: &[Item]) -> Items {
    list.iter().copied().collect()
}

#[test]
fn everything_the_function_has_is_generated_by_default() {
    let scalar = plan(&quadratic_form(), &[0], Items::ALL).unwrap();
    assert_eq!(scalar.items, Items::ALL);
    // A tensor result has no gradient, so nothing that differentiates one.
    let tensor = plan(&soft(), &[0], Items::ALL).unwrap();
    use Item::*;
    assert_eq!(
        tensor.items,
        items(&[Vjp, Jvp, Jacobian, Gradcheck, Derivation, Trace])
    );
}

#[test]
fn what_is_not_asked_for_is_not_derived() {
    let plan = plan(&quadratic_form(), &[0], items(&[Item::Grad, Item::Vjp])).unwrap();
    assert_eq!(plan.items, items(&[Item::Grad, Item::Vjp]));
    assert_eq!(plan.second_order, None);
    assert_eq!(plan.jacobian, None);
    // The building blocks do not depend on what is asked for: callers need all of them.
    assert_eq!(
        plan.blocks,
        super::plan(&quadratic_form(), &[0], Items::ALL)
            .unwrap()
            .blocks
    );
}

#[test]
fn an_hvp_alone_plans_no_hessian() {
    let plan = plan(&quadratic_form(), &[0], items(&[Item::Hvp])).unwrap();
    assert_eq!(plan.items, items(&[Item::Hvp]));
    let second = plan.second_order.unwrap().unwrap();
    assert_eq!(second.hessian, None);
}

#[test]
fn an_item_brings_the_items_its_code_calls() {
    use Item::*;
    let only =
        |p: &Program, wrt: &[usize], wanted: &[Item]| plan(p, wrt, items(wanted)).unwrap().items;
    // The Jacobian of a scalar result is its gradient.
    assert_eq!(
        only(&quadratic_form(), &[0], &[Jacobian]),
        items(&[Jacobian, Grad])
    );
    // One pass per direction (tanh_layer with respect to everything) calls f_vjp and f_jvp.
    assert_eq!(
        only(&tanh_layer(), &[0, 1, 2], &[Jacobian]),
        items(&[Jacobian, Vjp, Jvp])
    );
    // Batched and both-modes Jacobians are programs of their own.
    assert_eq!(
        only(&tanh_layer(), &[1, 2], &[Jacobian]),
        items(&[Jacobian])
    );
    assert_eq!(only(&soft(), &[0], &[Jacobian]), items(&[Jacobian]));
    // A batched Hessian is a program of its own; one by directions calls f_hvp.
    assert_eq!(only(&quadratic_form(), &[0], &[Hessian]), items(&[Hessian]));
    let through_callee = loss_through(scalar_callee("softplus", true));
    assert_eq!(
        only(&through_callee, &[0], &[Hessian]),
        items(&[Hessian, Hvp])
    );
    // The check calls both first-order products.
    assert_eq!(
        only(&soft(), &[0], &[Gradcheck]),
        items(&[Gradcheck, Vjp, Jvp])
    );
}

#[test]
fn an_item_the_function_lacks_is_left_out_with_the_reason() {
    let p = loss_through(scalar_callee("softplus", false));
    let plan = plan(&p, &[0], items(&[Item::Hessian, Item::Grad])).unwrap();
    assert_eq!(plan.items, items(&[Item::Grad]));
    assert_eq!(
        plan.second_order,
        Some(Err(NoSecondOrder::CalleeWithoutSecondOrder {
            callee: "softplus".to_string()
        }))
    );
    let plan = super::plan(&soft(), &[0], items(&[Item::Grad, Item::Hvp])).unwrap();
    assert_eq!(plan.items, Items::NONE);
    assert_eq!(plan.second_order, Some(Err(NoSecondOrder::TensorResult)));
}
