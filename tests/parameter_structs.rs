//! `#[derive(Differentiable)]` (issue 17): a struct of parameters as one value. Its methods
//! against the same arithmetic written field by field; flattening in declaration order, each
//! tensor row-major; nested structs, `#[no_derivative]` constants, generic and tuple structs.

use autodiff::prelude::*;
use autodiff::Real;

#[derive(Differentiable, Clone, Debug, PartialEq)]
struct Mlp {
    w1: Matrix<f64>,
    b1: Vector<f64>,
    w2: Matrix<f64>,
    b2: Vector<f64>,
}

/// Nested, with a scalar and constants of other types.
#[derive(Differentiable, Clone, Debug, PartialEq)]
struct Model {
    #[no_derivative]
    name: String,
    net: Mlp,
    temperature: f64,
    #[no_derivative]
    layers: Vec<usize>,
}

/// Generic over its float.
#[derive(Differentiable, Clone, Debug, PartialEq)]
struct Affine<T: Real> {
    a: Matrix<T>,
    b: Vector<T>,
}

/// A tuple struct.
#[derive(Differentiable, Clone, Debug, PartialEq)]
struct Pair(Vector<f32>, f32);

fn mlp(offset: f64) -> Mlp {
    Mlp {
        w1: Matrix::from_fn(2, 3, |i, j| (i * 3 + j) as f64 + offset),
        b1: Vector::from_vec(vec![10.0 + offset, 11.0, 12.0]),
        w2: Matrix::from_fn(3, 1, |i, _| -(i as f64) - offset),
        b2: Vector::from_vec(vec![0.5]),
    }
}

#[test]
fn flat_order_is_declaration_order_each_row_major() {
    let p = mlp(0.0);
    assert_eq!(p.num_params(), 6 + 3 + 3 + 1);
    let flat = p.to_flat();
    let mut want: Vec<f64> = p.w1.as_slice().to_vec();
    want.extend_from_slice(p.b1.as_slice());
    want.extend_from_slice(p.w2.as_slice());
    want.extend_from_slice(p.b2.as_slice());
    assert_eq!(flat, want);
    // Row-major: w1's second entry is w1[(0, 1)].
    assert_eq!(flat[1], p.w1[(0, 1)]);
    let doubled: Vec<f64> = flat.iter().map(|v| 2.0 * v).collect();
    let q = p.from_flat(&doubled);
    assert_eq!(q.w1[(1, 2)], 2.0 * p.w1[(1, 2)]);
    assert_eq!(q.b2[0], 1.0);
    assert_eq!(q.from_flat(&flat), p);
}

#[test]
fn axpy_dot_and_zeros_work_field_by_field() {
    let mut p = mlp(0.0);
    let g = mlp(1.0);
    let before = p.clone();
    p.axpy(-0.5, &g);
    for ((after, was), step) in p.to_flat().iter().zip(before.to_flat()).zip(g.to_flat()) {
        assert_eq!(*after, was - 0.5 * step);
    }
    let by_hand: f64 = before
        .to_flat()
        .iter()
        .zip(g.to_flat())
        .map(|(a, b)| a * b)
        .sum();
    assert!((Differentiable::dot(&before, &g) - by_hand).abs() <= 1e-12 * by_hand.abs());
    let zeros = g.zeros_like();
    assert!(zeros.to_flat().iter().all(|&v| v == 0.0));
    assert_eq!(zeros.w1.shape(), (2, 3));
}

#[test]
fn constants_are_copied_and_never_flattened() {
    let m = Model {
        name: "tiny".into(),
        net: mlp(0.0),
        temperature: 0.7,
        layers: vec![2, 3, 1],
    };
    assert_eq!(m.num_params(), 13 + 1);
    let flat = m.to_flat();
    assert_eq!(flat[13], 0.7);
    let mut n = m.zeros_like();
    assert_eq!(n.name, "tiny");
    assert_eq!(n.layers, vec![2, 3, 1]);
    n.axpy(1.0, &m);
    assert_eq!(n, m);
    let back = m.from_flat(&[1.0; 14]);
    assert_eq!(back.temperature, 1.0);
    assert_eq!(back.name, "tiny");
}

#[test]
fn generic_and_tuple_structs() {
    let a = Affine {
        a: Matrix::<f32>::from_rows(&[[1.0, 2.0]]),
        b: Vector::from_vec(vec![3.0]),
    };
    assert_eq!(a.to_flat(), vec![1.0f32, 2.0, 3.0]);
    let a64 = Affine {
        a: Matrix::<f64>::zeros(2, 2),
        b: Vector::zeros(2),
    };
    assert_eq!(a64.num_params(), 6);
    let p = Pair(Vector::from_vec(vec![1.0, 2.0]), 3.0);
    assert_eq!(Differentiable::dot(&p, &p), 14.0);
    assert_eq!(
        p.from_flat(&[4.0, 5.0, 6.0]),
        Pair(Vector::from_vec(vec![4.0, 5.0]), 6.0)
    );
}

#[test]
#[should_panic(expected = "from_flat needs 13 values for this value's parameters, found 12")]
fn from_flat_of_the_wrong_length_panics() {
    let p = mlp(0.0);
    p.from_flat(&[0.0; 12]);
}
