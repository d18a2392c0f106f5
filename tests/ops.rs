//! The op table: every operation of the supported language, differentiated by
//! `#[differentiable]` and checked against central finite differences, in `f32` and `f64`.
//!
//! Generated functions are not generic, so every function and test is written once inside
//! [`op_tests!`], which stamps out the module `f32_ops` and the module `f64_ops`. Each function
//! `f` lives in its own module next to its generated `f_grad`/`f_vjp`; the `f64_ops` copy of a
//! function is the `f64` twin that the finite-difference reference evaluates (see
//! `common/mod.rs` for why, and for the tolerances).
//!
//! - A tensor-valued `f` is checked through `f_vjp` with a random upstream `u`, against finite
//!   differences of the scalar `Σ u ⊙ f(x)`.
//! - A scalar-valued `f` is checked through `f_grad` against finite differences of `f`, and
//!   `f_vjp` with upstream `2.0` must give the value and twice the gradient.
//! - In both cases the value returned must equal the original function's value exactly.
//! - In both cases `f_jvp` is checked too, with a random tangent for each wrt parameter: its value
//!   must equal `f`'s exactly, its directional derivative must agree with a central difference
//!   of the `f64` twin along the tangents, and the dot-product test `⟨jvp(v), u⟩ = ⟨v, vjp(u)⟩`
//!   must hold between forward and reverse mode (see `common/mod.rs` for the tolerances).
//! - In both cases `f_jacobian` is checked: each wrt parameter's block is exactly
//!   numel(result) × numel(p), its row `i` is `f_vjp` with the `i`-th unit upstream and its
//!   column `j` is `f_jvp` along the `j`-th unit direction of `p` (zero tangents for the others).
//! - For a scalar `f`, `f_hessian` is checked too: n × n over the wrt parameters, symmetric,
//!   `H·v` equal to the product `f_hvp` returns along the random tangents `v` (whose value must
//!   be `f`'s and whose gradient `f_grad`'s), and both agreeing with a central difference of the
//!   `f64` twin's `f_grad` along `v`.

mod common;

use autodiff::prelude::*;
use common::{Dist, Rng, TestFloat, Tol, AWAY, POS, U};

/// Matrix shapes for elementwise ops: including `1×n`, `n×1` and `1×1`.
const SHAPES: [(usize, usize); 5] = [(2, 3), (1, 4), (4, 1), (3, 3), (1, 1)];
/// Vector lengths.
const LENS: [usize; 3] = [1, 3, 5];
/// `(a, b)` shape pairs the contract promises: a matrix with a `1×c` row or an `r×1` column, on
/// either side.
const BROADCASTS: [((usize, usize), (usize, usize)); 8] = [
    ((3, 4), (1, 4)),
    ((1, 4), (3, 4)),
    ((3, 4), (3, 1)),
    ((3, 1), (3, 4)),
    ((2, 5), (1, 5)),
    ((1, 1), (4, 1)),
    ((1, 4), (1, 1)),
    ((4, 1), (1, 1)),
];
/// Both operands broadcast (NumPy's outer broadcast, which the runtime performs too).
const OUTER_BROADCASTS: [((usize, usize), (usize, usize)); 4] = [
    ((3, 1), (1, 4)),
    ((1, 4), (3, 1)),
    ((1, 1), (3, 4)),
    ((3, 4), (1, 1)),
];
/// `(m, k, n)` for `m×k · k×n` products.
const MATMUL_SHAPES: [(usize, usize, usize); 6] = [
    (2, 3, 4),
    (1, 3, 2),
    (3, 1, 4),
    (2, 3, 1),
    (1, 1, 1),
    (1, 4, 1),
];

// ───────────────────────────── checking macros ─────────────────────────────
//
// Parameters are listed as `name: kind`. Kinds of differentiable (wrt) parameters: `m`/`v`
// (`&Matrix`/`&Vector`), `M`/`V` (owned `Matrix`/`Vector`), `s` (scalar). Kinds of parameters
// that are not differentiated: `cm`/`cv`/`cs` (a tensor or scalar outside the wrt set) and `c`
// (any other `Copy` constant, such as `usize`).

/// How the parameter is passed to the function under test.
macro_rules! arg {
    (m, $x:ident) => {
        &$x
    };
    (v, $x:ident) => {
        &$x
    };
    (cm, $x:ident) => {
        &$x
    };
    (cv, $x:ident) => {
        &$x
    };
    (M, $x:ident) => {
        $x.clone()
    };
    (V, $x:ident) => {
        $x.clone()
    };
    (s, $x:ident) => {
        $x
    };
    (cs, $x:ident) => {
        $x
    };
    (c, $x:ident) => {
        $x
    };
}

/// The parameter as a `common::Val` (constants of other types stay as they are).
macro_rules! widen {
    (c, $x:ident) => {
        $x
    };
    ($k:ident, $x:ident) => {
        common::Flat::widen(&$x)
    };
}

/// A wrt parameter for the finite differences (`None` for a constant).
macro_rules! wrt_entry {
    (cm, $x:ident) => {
        None
    };
    (cv, $x:ident) => {
        None
    };
    (cs, $x:ident) => {
        None
    };
    (c, $x:ident) => {
        None
    };
    ($k:ident, $x:ident) => {
        Some((stringify!($x), $x.clone()))
    };
}

/// The argument of the `f64` twin inside the finite-difference loss: a perturbed wrt parameter
/// (the next of `$it`), or the widened constant.
macro_rules! take {
    (m, $x:ident, $it:ident) => {
        $it.next().unwrap().m()
    };
    (v, $x:ident, $it:ident) => {
        $it.next().unwrap().v()
    };
    (s, $x:ident, $it:ident) => {
        $it.next().unwrap().s()
    };
    (M, $x:ident, $it:ident) => {
        $it.next().unwrap().m().clone()
    };
    (V, $x:ident, $it:ident) => {
        $it.next().unwrap().v().clone()
    };
    (cm, $x:ident, $it:ident) => {
        $x.m()
    };
    (cv, $x:ident, $it:ident) => {
        $x.v()
    };
    (cs, $x:ident, $it:ident) => {
        $x.s()
    };
    (c, $x:ident, $it:ident) => {
        $x
    };
}

/// The tangent argument of a wrt parameter for the directions `$dir` (a `&common::Dir`):
/// tensors by reference, scalars by value (see `common::direction`; `Dir::Random` draws the
/// tangent of `common::tangent_for`, the same wherever it is asked for).
macro_rules! tangent_arg {
    (s, $x:ident, $dir:expr) => {
        common::direction(&$x, stringify!($x), $dir)
    };
    ($k:ident, $x:ident, $dir:expr) => {
        &common::direction(&$x, stringify!($x), $dir)
    };
}

/// The tangent of a parameter, widened (`None` for a constant).
macro_rules! tangent_entry {
    (cm, $x:ident) => {
        None
    };
    (cv, $x:ident) => {
        None
    };
    (cs, $x:ident) => {
        None
    };
    (c, $x:ident) => {
        None
    };
    ($k:ident, $x:ident) => {
        Some(common::Flat::widen(&common::tangent_for(
            &$x,
            stringify!($x),
        )))
    };
}

/// `f_jvp(p1, ..., pn, t1, ..., tk)` (or `f_hvp`, which takes the same arguments): every
/// parameter, then a tangent for each wrt parameter along `$dir` (constants get none). A muncher
/// over `name: kind` that collects both argument lists.
macro_rules! call_jvp {
    ($f:expr; $dir:expr; [$($a:expr),*]; [$($t:expr),*];) => {
        $f($($a,)* $($t),*)
    };
    ($f:expr; $dir:expr; [$($a:expr),*]; [$($t:expr),*]; $p:ident: c $(, $($rest:tt)*)?) => {
        call_jvp!($f; $dir; [$($a,)* arg!(c, $p)]; [$($t),*]; $($($rest)*)?)
    };
    ($f:expr; $dir:expr; [$($a:expr),*]; [$($t:expr),*]; $p:ident: cm $(, $($rest:tt)*)?) => {
        call_jvp!($f; $dir; [$($a,)* arg!(cm, $p)]; [$($t),*]; $($($rest)*)?)
    };
    ($f:expr; $dir:expr; [$($a:expr),*]; [$($t:expr),*]; $p:ident: cv $(, $($rest:tt)*)?) => {
        call_jvp!($f; $dir; [$($a,)* arg!(cv, $p)]; [$($t),*]; $($($rest)*)?)
    };
    ($f:expr; $dir:expr; [$($a:expr),*]; [$($t:expr),*]; $p:ident: cs $(, $($rest:tt)*)?) => {
        call_jvp!($f; $dir; [$($a,)* arg!(cs, $p)]; [$($t),*]; $($($rest)*)?)
    };
    ($f:expr; $dir:expr; [$($a:expr),*]; [$($t:expr),*]; $p:ident: $k:ident $(, $($rest:tt)*)?) => {
        call_jvp!(
            $f; $dir; [$($a,)* arg!($k, $p)]; [$($t,)* tangent_arg!($k, $p, $dir)]; $($($rest)*)?
        )
    };
}

/// `(name, numel)` of a wrt parameter (`None` for a constant).
macro_rules! wrt_size {
    (cm, $x:ident) => {
        None
    };
    (cv, $x:ident) => {
        None
    };
    (cs, $x:ident) => {
        None
    };
    (c, $x:ident) => {
        None
    };
    ($k:ident, $x:ident) => {
        Some((stringify!($x), common::numel(&$x)))
    };
}

/// The columns of the Jacobian through `module::f_jvp`: for each wrt parameter (in signature
/// order) and each of its elements `j`, the directional derivative along the `j`-th unit
/// direction of that parameter (zero tangents for the others), widened to `f64`.
macro_rules! jvp_columns {
    ($($module:ident)::+; $($p:ident: $k:ident),+) => {{
        let sizes: Vec<(&str, usize)> = [$(wrt_size!($k, $p)),+].into_iter().flatten().collect();
        sizes
            .into_iter()
            .map(|(name, n)| {
                (0..n)
                    .map(|j| {
                        let dir = common::Dir::Unit(name, j);
                        let (_, jvp) = call_jvp!($($module)::+::f_jvp; &dir; []; []; $($p: $k),+);
                        common::Flat::widen(&jvp)
                    })
                    .collect::<Vec<common::Val>>()
            })
            .collect::<Vec<_>>()
    }};
}

/// `f_jacobian`'s blocks, the Jacobian's rows through `f_vjp` with each unit upstream (`$by_ref`
/// `&` for a tensor result, nothing for a scalar) and its columns through `f_jvp` (see
/// [`jvp_columns!`]), all widened to `f64`, for `common::check_jacobian`.
macro_rules! jacobian_of {
    ($($module:ident)::+, $original:expr, [$($by_ref:tt)?]; $($p:ident: $k:ident),+) => {{
        let jacobian = common::Grads::vals(&$($module)::+::f_jacobian($(arg!($k, $p)),+));
        let rows: Vec<Vec<common::Val>> = (0..common::numel($original))
            .map(|i| {
                let e = common::unit_like($original, i);
                common::Grads::vals(&$($module)::+::f_vjp($(arg!($k, $p),)+ $($by_ref)? e).1)
            })
            .collect();
        let columns = jvp_columns!($($module)::+; $($p: $k),+);
        (jacobian, rows, columns)
    }};
}

/// Calls `module::f_jvp` with the tangents of `common::tangent_for` and checks that its value
/// equals `original` exactly. Evaluates to the directional derivative and the tangents (one per
/// wrt parameter, in signature order), widened to `f64`, for `check_vjp!`/`check_grad!`.
macro_rules! jvp_of {
    ($name:expr, $($module:ident)::+, $original:expr; $($p:ident: $k:ident),+) => {{
        let (value, jvp) =
            call_jvp!($($module)::+::f_jvp; &common::Dir::Random; []; []; $($p: $k),+);
        common::assert_same_value(&value, $original, &format!("`{}`: f_jvp's value vs f's", $name));
        let tangents: Vec<common::Val> =
            [$(tangent_entry!($k, $p)),+].into_iter().flatten().collect();
        (common::Flat::widen(&jvp), tangents)
    }};
}

/// Checks `f_vjp` of the tensor-valued function `module::f` with upstream `u` against finite
/// differences of `Σ u ⊙ twin::module::f` (the `f64` twin), and its value against `f`'s; then
/// `f_jvp` (see [`jvp_of!`] and `common::check_jvp`/`common::check_dot`): its value, its
/// directional derivative against finite differences of the twin along the tangents, and the
/// dot-product test `⟨jvp(v), u⟩ = ⟨v, vjp(u)⟩` with the same `u`.
macro_rules! check_vjp {
    ($($module:ident)::+; u = $u:expr; $($p:ident: $k:ident),+ $(,)?) => {{
        let name = concat!(module_path!(), "::", stringify!($($module)::+));
        let u = $u;
        let (value, grads) = $($module)::+::f_vjp($(arg!($k, $p),)+ &u);
        let original = $($module)::+::f($(arg!($k, $p)),+);
        common::assert_same_value(&value, &original, &format!("`{name}`: f_vjp's value vs f's"));
        let (jvp, tangents) = jvp_of!(name, $($module)::+, &original; $($p: $k),+);
        let (jacobian, rows, columns) = jacobian_of!($($module)::+, &original, [&]; $($p: $k),+);
        let grads = common::Grads::vals(&grads);
        let u = common::Flat::widen(&u);
        $(let $p = widen!($k, $p);)+
        let params: Vec<(&str, common::Val)> =
            [$(wrt_entry!($k, $p)),+].into_iter().flatten().collect();
        let twin_f = |vals: &[common::Val]| -> common::Val {
            let mut it = vals.iter();
            $(let $p = take!($k, $p, it);)+
            common::Flat::widen(&twin::$($module)::+::f($($p),+))
        };
        common::check_grads(name, &grads, &params, TOL, |vals: &[common::Val]| {
            common::dotf(&u, &twin_f(vals))
        });
        common::check_jvp(name, &jvp, &params, &tangents, TOL, &twin_f);
        common::check_dot(name, &jvp, &u, &tangents, &grads, TOL);
        let original = common::Flat::widen(&original);
        common::check_jacobian(name, &jacobian, &original, &params, &rows, &columns, TOL);
    }};
}

/// Checks `f_grad` of the scalar-valued function `module::f` against finite differences of the
/// `f64` twin, `f_vjp` with upstream 2 against twice `f_grad`, and both values against `f`'s;
/// then `f_jvp` as [`check_vjp!`] does, the dot-product test with a random scalar upstream.
macro_rules! check_grad {
    ($($module:ident)::+; $($p:ident: $k:ident),+ $(,)?) => {{
        let name = concat!(module_path!(), "::", stringify!($($module)::+));
        let (value, grads) = $($module)::+::f_grad($(arg!($k, $p)),+);
        let original = $($module)::+::f($(arg!($k, $p)),+);
        common::assert_same_value(&value, &original, &format!("`{name}`: f_grad's value vs f's"));
        let (value2, grads2) = $($module)::+::f_vjp($(arg!($k, $p),)+ 2.0);
        common::assert_same_value(&value2, &original, &format!("`{name}`: f_vjp's value vs f's"));
        let grads = common::Grads::vals(&grads);
        common::assert_scaled(2.0, &grads, &common::Grads::vals(&grads2), TOL, name);
        let (jvp, tangents) = jvp_of!(name, $($module)::+, &original; $($p: $k),+);
        let u = common::tangent_for(&original, "upstream");
        let (_, vjp) = $($module)::+::f_vjp($(arg!($k, $p),)+ u);
        let vjp = common::Grads::vals(&vjp);
        let u = common::Flat::widen(&u);
        let (jacobian, rows, columns) = jacobian_of!($($module)::+, &original, []; $($p: $k),+);
        let hessian = common::Flat::widen(&$($module)::+::f_hessian($(arg!($k, $p)),+));
        let (hvp_value, hvp_gradient, hvp) =
            call_jvp!($($module)::+::f_hvp; &common::Dir::Random; []; []; $($p: $k),+);
        let what = format!("`{name}`: f_hvp's value vs f's");
        common::assert_same_value(&hvp_value, &original, &what);
        let hvp_gradient = common::Grads::vals(&hvp_gradient);
        assert_eq!(hvp_gradient.len(), grads.len(), "`{name}`: f_hvp's gradient");
        for (g, h) in grads.iter().zip(&hvp_gradient) {
            assert_eq!(g.describe(), h.describe(), "`{name}`: f_hvp's gradient");
            let what = format!("`{name}`: f_hvp's gradient vs f_grad's");
            common::assert_same_to_rounding(&h.flat(), &g.flat(), 1, TOL, &what);
        }
        let hvp = common::Grads::vals(&hvp);
        $(let $p = widen!($k, $p);)+
        let params: Vec<(&str, common::Val)> =
            [$(wrt_entry!($k, $p)),+].into_iter().flatten().collect();
        let twin_f = |vals: &[common::Val]| -> common::Val {
            let mut it = vals.iter();
            $(let $p = take!($k, $p, it);)+
            common::Val::S(twin::$($module)::+::f($($p),+))
        };
        common::check_grads(name, &grads, &params, TOL, |vals: &[common::Val]| twin_f(vals).s());
        common::check_jvp(name, &jvp, &params, &tangents, TOL, &twin_f);
        common::check_dot(name, &jvp, &u, &tangents, &vjp, TOL);
        let original = common::Flat::widen(&original);
        common::check_jacobian(name, &jacobian, &original, &params, &rows, &columns, TOL);
        let twin_grad = |vals: &[common::Val]| -> Vec<f64> {
            let mut it = vals.iter();
            $(let $p = take!($k, $p, it);)+
            let (_, g) = twin::$($module)::+::f_grad($($p),+);
            common::Grads::vals(&g).iter().flat_map(common::Val::flat).collect()
        };
        common::check_hessian(name, &hessian, &params, &tangents, &hvp, TOL, &twin_grad);
    }};
}

// ───────────────────────────── per-op module generators ─────────────────────────────

/// `+ - * /` in every combination of kinds, shapes and ownership.
macro_rules! binary_op {
    ($T:ident, $twin:ident, $name:ident, $op:tt) => {
        pub mod $name {
            use super::*;
            use crate::$twin::$name as twin;

            pub mod mm {
                use super::*;
                #[differentiable]
                pub fn f(a: &Matrix<$T>, b: &Matrix<$T>) -> Matrix<$T> {
                    a $op b
                }
            }
            pub mod vv {
                use super::*;
                #[differentiable]
                pub fn f(a: &Vector<$T>, b: &Vector<$T>) -> Vector<$T> {
                    a $op b
                }
            }
            pub mod ms {
                use super::*;
                #[differentiable]
                pub fn f(a: &Matrix<$T>, s: $T) -> Matrix<$T> {
                    a $op s
                }
            }
            pub mod sm {
                use super::*;
                #[differentiable]
                pub fn f(s: $T, a: &Matrix<$T>) -> Matrix<$T> {
                    s $op a
                }
            }
            pub mod vs {
                use super::*;
                #[differentiable]
                pub fn f(a: &Vector<$T>, s: $T) -> Vector<$T> {
                    a $op s
                }
            }
            pub mod sv {
                use super::*;
                #[differentiable]
                pub fn f(s: $T, a: &Vector<$T>) -> Vector<$T> {
                    s $op a
                }
            }
            pub mod ss {
                use super::*;
                #[differentiable]
                pub fn f(a: $T, b: $T) -> $T {
                    a $op b
                }
            }
            /// Owned parameters.
            pub mod owned {
                use super::*;
                #[differentiable]
                pub fn f(a: Matrix<$T>, b: Matrix<$T>) -> Matrix<$T> {
                    a $op b
                }
            }
            /// Owned tensor with a scalar, on both sides.
            pub mod owned_scalar {
                use super::*;
                #[differentiable]
                pub fn f(a: Vector<$T>, s: $T) -> Vector<$T> {
                    let b = a $op s;
                    s $op b
                }
            }
            /// `&a ⊕ &b`, `&p ⊕ &a`, `p ⊕ &q`, `&b ⊕ r`, `s ⊕ q`: every ownership combination.
            pub mod forms {
                use super::*;
                #[differentiable]
                pub fn f(a: &Matrix<$T>, b: &Matrix<$T>) -> Matrix<$T> {
                    let p = a $op b;
                    let q = &p $op a;
                    let r = p $op &q;
                    let s = b $op r;
                    s $op q
                }
            }
            /// A literal on the left of a borrowed local (`2.0 * &m`) and on the right.
            pub mod literal {
                use super::*;
                #[differentiable]
                pub fn f(a: &Matrix<$T>) -> Matrix<$T> {
                    let m = a * a;
                    let n = 2.0 $op &m;
                    n $op 0.5
                }
            }
            /// Tensor-valued pieces combined into a scalar.
            pub mod reduced {
                use super::*;
                #[differentiable]
                pub fn f(a: &Vector<$T>, s: $T, t: $T) -> $T {
                    (a $op s).sum() $op (s $op t)
                }
            }

            #[test]
            fn matrix_same_shape() {
                let mut rng = Rng::new(line!().into());
                for (r, c) in SHAPES {
                    let a = rng.matrix::<$T>(r, c, AWAY);
                    let b = rng.matrix::<$T>(r, c, AWAY);
                    check_vjp!(mm; u = rng.matrix::<$T>(r, c, U); a: m, b: m);
                }
            }

            #[test]
            fn matrix_broadcast_row_or_column() {
                let mut rng = Rng::new(line!().into());
                for ((ra, ca), (rb, cb)) in BROADCASTS {
                    let a = rng.matrix::<$T>(ra, ca, AWAY);
                    let b = rng.matrix::<$T>(rb, cb, AWAY);
                    let u = rng.matrix::<$T>(ra.max(rb), ca.max(cb), U);
                    check_vjp!(mm; u = u; a: m, b: m);
                }
            }

            #[test]
            fn matrix_broadcast_both_operands() {
                let mut rng = Rng::new(line!().into());
                for ((ra, ca), (rb, cb)) in OUTER_BROADCASTS {
                    let a = rng.matrix::<$T>(ra, ca, AWAY);
                    let b = rng.matrix::<$T>(rb, cb, AWAY);
                    let u = rng.matrix::<$T>(ra.max(rb), ca.max(cb), U);
                    check_vjp!(mm; u = u; a: m, b: m);
                }
            }

            #[test]
            fn vector_vector() {
                let mut rng = Rng::new(line!().into());
                for n in LENS {
                    let a = rng.vector::<$T>(n, AWAY);
                    let b = rng.vector::<$T>(n, AWAY);
                    check_vjp!(vv; u = rng.vector::<$T>(n, U); a: v, b: v);
                }
            }

            #[test]
            fn matrix_scalar_and_scalar_matrix() {
                let mut rng = Rng::new(line!().into());
                for (r, c) in SHAPES {
                    let a = rng.matrix::<$T>(r, c, AWAY);
                    let s: $T = rng.scalar(AWAY);
                    check_vjp!(ms; u = rng.matrix::<$T>(r, c, U); a: m, s: s);
                    check_vjp!(sm; u = rng.matrix::<$T>(r, c, U); s: s, a: m);
                }
            }

            #[test]
            fn vector_scalar_and_scalar_vector() {
                let mut rng = Rng::new(line!().into());
                for n in LENS {
                    let a = rng.vector::<$T>(n, AWAY);
                    let s: $T = rng.scalar(AWAY);
                    check_vjp!(vs; u = rng.vector::<$T>(n, U); a: v, s: s);
                    check_vjp!(sv; u = rng.vector::<$T>(n, U); s: s, a: v);
                }
            }

            #[test]
            fn scalar_scalar() {
                let mut rng = Rng::new(line!().into());
                for _ in 0..5 {
                    let a: $T = rng.scalar(AWAY);
                    let b: $T = rng.scalar(AWAY);
                    check_grad!(ss; a: s, b: s);
                }
            }

            #[test]
            fn owned_operands() {
                let mut rng = Rng::new(line!().into());
                for (r, c) in SHAPES {
                    let a = rng.matrix::<$T>(r, c, AWAY);
                    let b = rng.matrix::<$T>(r, c, AWAY);
                    check_vjp!(owned; u = rng.matrix::<$T>(r, c, U); a: M, b: M);
                }
                for ((ra, ca), (rb, cb)) in BROADCASTS {
                    let a = rng.matrix::<$T>(ra, ca, AWAY);
                    let b = rng.matrix::<$T>(rb, cb, AWAY);
                    let u = rng.matrix::<$T>(ra.max(rb), ca.max(cb), U);
                    check_vjp!(owned; u = u; a: M, b: M);
                }
                for n in LENS {
                    let a = rng.vector::<$T>(n, AWAY);
                    let s: $T = rng.scalar(AWAY);
                    check_vjp!(owned_scalar; u = rng.vector::<$T>(n, U); a: V, s: s);
                }
            }

            #[test]
            fn every_ownership_combination() {
                let mut rng = Rng::new(line!().into());
                for (r, c) in SHAPES {
                    let a = rng.matrix::<$T>(r, c, AWAY);
                    let b = rng.matrix::<$T>(r, c, AWAY);
                    check_vjp!(forms; u = rng.matrix::<$T>(r, c, U); a: m, b: m);
                }
            }

            #[test]
            fn with_literals() {
                let mut rng = Rng::new(line!().into());
                for (r, c) in SHAPES {
                    let a = rng.matrix::<$T>(r, c, AWAY);
                    check_vjp!(literal; u = rng.matrix::<$T>(r, c, U); a: m);
                }
            }

            #[test]
            fn reduced_to_a_scalar() {
                let mut rng = Rng::new(line!().into());
                for n in LENS {
                    let a = rng.vector::<$T>(n, AWAY);
                    let s: $T = rng.scalar(AWAY);
                    let t: $T = rng.scalar(AWAY);
                    check_grad!(reduced; a: v, s: s, t: s);
                }
            }
        }
    };
}

/// An elementwise method on a scalar, a vector and a matrix, plus a scalar-valued use.
macro_rules! unary_op {
    ($T:ident, $twin:ident, $name:ident, $method:ident($($arg:tt)*), $dist:expr) => {
        pub mod $name {
            use super::*;
            use crate::$twin::$name as twin;

            pub mod s {
                use super::*;
                #[differentiable]
                pub fn f(x: $T) -> $T {
                    x.$method($($arg)*)
                }
            }
            pub mod v {
                use super::*;
                #[differentiable]
                pub fn f(x: &Vector<$T>) -> Vector<$T> {
                    x.$method($($arg)*)
                }
            }
            pub mod m {
                use super::*;
                #[differentiable]
                pub fn f(x: &Matrix<$T>) -> Matrix<$T> {
                    x.$method($($arg)*)
                }
            }
            /// Composed with other ops, scalar-valued.
            pub mod composed {
                use super::*;
                #[differentiable]
                pub fn f(x: &Matrix<$T>, w: &Matrix<$T>) -> $T {
                    let y = x.$method($($arg)*);
                    (y * w).sum() + x.$method($($arg)*).mean()
                }
            }

            #[test]
            fn scalar() {
                let mut rng = Rng::new(line!().into());
                for _ in 0..6 {
                    let x: $T = rng.scalar($dist);
                    check_grad!(s; x: s);
                }
            }

            #[test]
            fn vector() {
                let mut rng = Rng::new(line!().into());
                for n in LENS {
                    let x = rng.vector::<$T>(n, $dist);
                    check_vjp!(v; u = rng.vector::<$T>(n, U); x: v);
                }
            }

            #[test]
            fn matrix() {
                let mut rng = Rng::new(line!().into());
                for (r, c) in SHAPES {
                    let x = rng.matrix::<$T>(r, c, $dist);
                    check_vjp!(m; u = rng.matrix::<$T>(r, c, U); x: m);
                }
            }

            #[test]
            fn composed_scalar_result() {
                let mut rng = Rng::new(line!().into());
                for (r, c) in SHAPES {
                    let x = rng.matrix::<$T>(r, c, $dist);
                    let w = rng.matrix::<$T>(r, c, U);
                    check_grad!(composed; x: m, w: m);
                }
            }
        }
    };
}

/// Away from the bounds of `clamp` near ±0.5 (and inside them too): finite differences never
/// cross a kink.
const OFF_THRESHOLDS: Dist = Dist::Bands(&[(-2.0, -0.7), (-0.3, 0.3), (0.7, 2.0)]);
/// Away from operands in `(-0.5, 0.5)`, on either side of them: for `maximum`/`minimum`.
const BEYOND: Dist = Dist::AwayFromZero(0.7, 2.0);
/// Operands and bounds in `(-0.55, 0.55)` drawn from separate bands.
const LOWER_BOUND: Dist = Dist::Uniform(-0.55, -0.45);
const UPPER_BOUND: Dist = Dist::Uniform(0.45, 0.55);
const NEAR_ZERO: Dist = Dist::Uniform(-0.5, 0.5);

/// `maximum`, `minimum` (and `max`, `min` on scalars), `powf` and `clamp`, every operand
/// differentiated.
macro_rules! pointwise_ops {
    ($T:ident, $twin:ident) => {
        pub mod pointwise {
            use super::*;
            use crate::$twin::pointwise as twin;

            pub mod maximum_mm {
                use super::*;
                #[differentiable]
                pub fn f(a: &Matrix<$T>, b: Matrix<$T>) -> Matrix<$T> {
                    a.maximum(&b)
                }
            }
            pub mod minimum_vv {
                use super::*;
                #[differentiable]
                pub fn f(a: &Vector<$T>, b: Vector<$T>) -> Vector<$T> {
                    a.minimum(&b)
                }
            }
            /// A scalar operand, as `relu` written `x.maximum(0.0)` and against a parameter.
            pub mod with_scalar {
                use super::*;
                #[differentiable]
                pub fn f(a: &Matrix<$T>, s: $T) -> Matrix<$T> {
                    a.maximum(0.0) * s + a.minimum(s)
                }
            }
            pub mod max_min_ss {
                use super::*;
                #[differentiable]
                pub fn f(a: $T, b: $T) -> $T {
                    a.max(b) * 2.0 + a.min(b)
                }
            }
            pub mod powf_ms {
                use super::*;
                #[differentiable]
                pub fn f(a: &Matrix<$T>, p: $T) -> Matrix<$T> {
                    a.powf(p)
                }
            }
            pub mod powf_ss {
                use super::*;
                #[differentiable]
                pub fn f(a: $T, p: $T) -> $T {
                    a.powf(p) + a.powf(2.5)
                }
            }
            pub mod clamp_v {
                use super::*;
                #[differentiable]
                pub fn f(x: &Vector<$T>, lo: $T, hi: $T) -> Vector<$T> {
                    x.clamp(lo, hi)
                }
            }
            pub mod clamp_s {
                use super::*;
                #[differentiable]
                pub fn f(x: $T, lo: $T, hi: $T) -> $T {
                    x.clamp(lo, hi) * x
                }
            }
            /// Composed into a scalar, for Hessians through every rule.
            pub mod composed {
                use super::*;
                #[differentiable]
                pub fn f(a: &Matrix<$T>, b: &Matrix<$T>, p: $T) -> $T {
                    let m = a.maximum(b).powf(p);
                    let c = a.clamp(-0.5, 0.5);
                    (m * c).sum() + a.minimum(b).sum().max(p)
                }
            }

            #[test]
            fn maximum_and_minimum() {
                let mut rng = Rng::new(line!().into());
                for (r, c) in SHAPES {
                    let a = rng.matrix::<$T>(r, c, BEYOND);
                    let b = rng.matrix::<$T>(r, c, NEAR_ZERO);
                    check_vjp!(maximum_mm; u = rng.matrix::<$T>(r, c, U); a: m, b: M);
                    let s: $T = rng.scalar(NEAR_ZERO);
                    check_vjp!(with_scalar; u = rng.matrix::<$T>(r, c, U); a: m, s: s);
                }
                for n in LENS {
                    let a = rng.vector::<$T>(n, BEYOND);
                    let b = rng.vector::<$T>(n, NEAR_ZERO);
                    check_vjp!(minimum_vv; u = rng.vector::<$T>(n, U); a: v, b: V);
                }
                for _ in 0..6 {
                    let a: $T = rng.scalar(BEYOND);
                    let b: $T = rng.scalar(NEAR_ZERO);
                    check_grad!(max_min_ss; a: s, b: s);
                }
            }

            #[test]
            fn powf() {
                let mut rng = Rng::new(line!().into());
                for (r, c) in SHAPES {
                    let a = rng.matrix::<$T>(r, c, POS);
                    let p: $T = rng.scalar(U);
                    check_vjp!(powf_ms; u = rng.matrix::<$T>(r, c, U); a: m, p: s);
                }
                for _ in 0..6 {
                    let a: $T = rng.scalar(POS);
                    let p: $T = rng.scalar(U);
                    check_grad!(powf_ss; a: s, p: s);
                }
            }

            #[test]
            fn clamp() {
                let mut rng = Rng::new(line!().into());
                for n in LENS {
                    let x = rng.vector::<$T>(n, OFF_THRESHOLDS);
                    let lo: $T = rng.scalar(LOWER_BOUND);
                    let hi: $T = rng.scalar(UPPER_BOUND);
                    check_vjp!(clamp_v; u = rng.vector::<$T>(n, U); x: v, lo: s, hi: s);
                }
                for _ in 0..6 {
                    let x: $T = rng.scalar(OFF_THRESHOLDS);
                    let lo: $T = rng.scalar(LOWER_BOUND);
                    let hi: $T = rng.scalar(UPPER_BOUND);
                    check_grad!(clamp_s; x: s, lo: s, hi: s);
                }
            }

            #[test]
            fn composed_scalar_result() {
                let mut rng = Rng::new(line!().into());
                for (r, c) in SHAPES {
                    let a = rng.matrix::<$T>(r, c, Dist::Bands(&[(0.7, 2.0)]));
                    let b = rng.matrix::<$T>(r, c, Dist::Uniform(0.1, 0.5));
                    let p: $T = rng.scalar(Dist::Uniform(1.5, 2.5));
                    check_grad!(composed; a: m, b: m, p: s);
                }
            }
        }
    };
}

/// The table's rows (see `autodiff_core::functions`) as `unary_op!`s.
macro_rules! unary_rows {
    ([$T:ident $twin:ident] $(
        $(#[$doc:meta])*
        $variant:ident $method:ident $place:ident {
            value: |$x:ident| $value:expr;
            pullback: $reads:ident |$d:ident, $a:ident| $pullback:expr;
            print: |$p1:ident, $p2:ident, $p3:ident| $print:expr;
            second: |$s1:ident, $s2:ident, $s3:ident| $second:expr;
            domain: $domain:ident($lo:expr, $hi:expr);
        }
    )*) => {
        $(unary_op!($T, $twin, $method, $method(), common::Dist::$domain($lo, $hi));)*
    };
}

/// A matrix `r×c` with a vector of length `c` under `$op`, the vector on the right (`mv`) and
/// on the left (`vm`): the vector applies to every row.
macro_rules! broadcast_vector_op {
    ($T:ident, $name:ident, $op:tt) => {
        pub mod $name {
            use super::*;
            pub mod mv {
                use super::*;
                #[differentiable]
                pub fn f(x: &Matrix<$T>, b: &Vector<$T>) -> Matrix<$T> {
                    x $op b
                }
            }
            pub mod vm {
                use super::*;
                #[differentiable]
                pub fn f(b: &Vector<$T>, x: &Matrix<$T>) -> Matrix<$T> {
                    b $op x
                }
            }
        }
    };
}

// ───────────────────────────── the op table ─────────────────────────────

macro_rules! op_tests {
    ($module:ident, $T:ident, $twin:ident) => {
        pub mod $module {
            use super::*;
            #[allow(unused_imports)]
            use crate::$twin as twin;

            const TOL: Tol = <$T as TestFloat>::TOL;

            // Arithmetic.
            binary_op!($T, $twin, add, +);
            binary_op!($T, $twin, sub, -);
            binary_op!($T, $twin, mul, *);
            binary_op!($T, $twin, div, /);

            // Elementwise functions, each on scalars, vectors and matrices: every row of the
            // table, drawn from its domain.
            autodiff::__elementwise_functions!(unary_rows, $T, $twin);
            pointwise_ops!($T, $twin);
            unary_op!($T, $twin, powi0, powi(0), AWAY);
            unary_op!($T, $twin, powi1, powi(1), AWAY);
            unary_op!($T, $twin, powi2, powi(2), AWAY);
            unary_op!($T, $twin, powi3, powi(3), AWAY);
            unary_op!($T, $twin, powi_minus1, powi(-1), AWAY);
            unary_op!($T, $twin, powi_minus2, powi(-2), AWAY);

            // ─────────── unary minus ───────────

            pub mod neg {
                use super::*;
                pub mod s {
                    use super::*;
                    #[differentiable]
                    pub fn f(a: $T) -> $T {
                        -a
                    }
                }
                pub mod v {
                    use super::*;
                    #[differentiable]
                    pub fn f(a: &Vector<$T>) -> Vector<$T> {
                        -a
                    }
                }
                pub mod m {
                    use super::*;
                    #[differentiable]
                    pub fn f(a: &Matrix<$T>) -> Matrix<$T> {
                        -a
                    }
                }
                /// Negated expressions, a double negation and `a + (−b)`, `a − (−b)`.
                pub mod nested {
                    use super::*;
                    #[differentiable]
                    pub fn f(a: &Matrix<$T>, b: &Matrix<$T>) -> Matrix<$T> {
                        let p = -(a * b);
                        let q = -(-p);
                        let r = a + (-b);
                        let s = a - (-q);
                        -r * s
                    }
                }
                /// Owned negation of a local and of an owned parameter.
                pub mod owned {
                    use super::*;
                    #[differentiable]
                    pub fn f(a: Vector<$T>, s: $T) -> Vector<$T> {
                        let b = -a;
                        -b * (-s)
                    }
                }
            }

            #[test]
            fn neg_scalar() {
                let mut rng = Rng::new(line!().into());
                for _ in 0..4 {
                    let a: $T = rng.scalar(U);
                    check_grad!(neg::s; a: s);
                }
            }

            #[test]
            fn neg_vector_and_owned() {
                let mut rng = Rng::new(line!().into());
                for n in LENS {
                    let a = rng.vector::<$T>(n, U);
                    check_vjp!(neg::v; u = rng.vector::<$T>(n, U); a: v);
                    let s: $T = rng.scalar(U);
                    check_vjp!(neg::owned; u = rng.vector::<$T>(n, U); a: V, s: s);
                }
            }

            #[test]
            fn neg_matrix() {
                let mut rng = Rng::new(line!().into());
                for (r, c) in SHAPES {
                    let a = rng.matrix::<$T>(r, c, U);
                    check_vjp!(neg::m; u = rng.matrix::<$T>(r, c, U); a: m);
                    let b = rng.matrix::<$T>(r, c, U);
                    check_vjp!(neg::nested; u = rng.matrix::<$T>(r, c, U); a: m, b: m);
                }
            }

            // ─────────── matmul, transpose, dot ───────────

            pub mod matmul {
                use super::*;
                pub mod mm {
                    use super::*;
                    #[differentiable]
                    pub fn f(a: &Matrix<$T>, b: &Matrix<$T>) -> Matrix<$T> {
                        a.matmul(b)
                    }
                }
                pub mod mv {
                    use super::*;
                    #[differentiable]
                    pub fn f(a: &Matrix<$T>, x: &Vector<$T>) -> Vector<$T> {
                        a.matmul(x)
                    }
                }
                pub mod owned {
                    use super::*;
                    #[differentiable]
                    pub fn f(a: Matrix<$T>, b: Matrix<$T>) -> Matrix<$T> {
                        a.matmul(&b)
                    }
                }
                pub mod owned_mv {
                    use super::*;
                    #[differentiable]
                    pub fn f(a: Matrix<$T>, x: Vector<$T>) -> Vector<$T> {
                        a.matmul(&x)
                    }
                }
                /// `aᵀ·b`, `a·bᵀ`, `aᵀ·bᵀ` (the simplifier turns these into GEMM flags).
                pub mod ta {
                    use super::*;
                    #[differentiable]
                    pub fn f(a: &Matrix<$T>, b: &Matrix<$T>) -> Matrix<$T> {
                        a.t().matmul(b)
                    }
                }
                pub mod tb {
                    use super::*;
                    #[differentiable]
                    pub fn f(a: &Matrix<$T>, b: &Matrix<$T>) -> Matrix<$T> {
                        a.matmul(&b.t())
                    }
                }
                pub mod tab {
                    use super::*;
                    #[differentiable]
                    pub fn f(a: &Matrix<$T>, b: &Matrix<$T>) -> Matrix<$T> {
                        a.t().matmul(&b.t())
                    }
                }
                /// `(a·b)ᵀ`
                pub mod t_of_product {
                    use super::*;
                    #[differentiable]
                    pub fn f(a: &Matrix<$T>, b: &Matrix<$T>) -> Matrix<$T> {
                        a.matmul(b).t()
                    }
                }
                /// `aᵀ·x`
                pub mod t_mv {
                    use super::*;
                    #[differentiable]
                    pub fn f(a: &Matrix<$T>, x: &Vector<$T>) -> Vector<$T> {
                        a.t().matmul(x)
                    }
                }
                /// `a·b·c` and `a·(b·x)`
                pub mod chain {
                    use super::*;
                    #[differentiable]
                    pub fn f(a: &Matrix<$T>, b: &Matrix<$T>, c: &Matrix<$T>) -> Matrix<$T> {
                        a.matmul(b).matmul(c)
                    }
                }
                pub mod chain_mv {
                    use super::*;
                    #[differentiable]
                    pub fn f(a: &Matrix<$T>, b: &Matrix<$T>, x: &Vector<$T>) -> $T {
                        a.matmul(&b.matmul(x)).sum()
                    }
                }
            }

            #[test]
            fn matmul_matrix_matrix() {
                let mut rng = Rng::new(line!().into());
                for (m, k, n) in MATMUL_SHAPES {
                    let a = rng.matrix::<$T>(m, k, U);
                    let b = rng.matrix::<$T>(k, n, U);
                    check_vjp!(matmul::mm; u = rng.matrix::<$T>(m, n, U); a: m, b: m);
                    check_vjp!(matmul::owned; u = rng.matrix::<$T>(m, n, U); a: M, b: M);
                }
            }

            #[test]
            fn matmul_matrix_vector() {
                let mut rng = Rng::new(line!().into());
                for (m, k, _) in MATMUL_SHAPES {
                    let a = rng.matrix::<$T>(m, k, U);
                    let x = rng.vector::<$T>(k, U);
                    check_vjp!(matmul::mv; u = rng.vector::<$T>(m, U); a: m, x: v);
                    check_vjp!(matmul::owned_mv; u = rng.vector::<$T>(m, U); a: M, x: V);
                    let x = rng.vector::<$T>(m, U);
                    check_vjp!(matmul::t_mv; u = rng.vector::<$T>(k, U); a: m, x: v);
                }
            }

            #[test]
            fn matmul_with_transposes() {
                let mut rng = Rng::new(line!().into());
                for (m, k, n) in MATMUL_SHAPES {
                    let a = rng.matrix::<$T>(k, m, U);
                    let b = rng.matrix::<$T>(k, n, U);
                    check_vjp!(matmul::ta; u = rng.matrix::<$T>(m, n, U); a: m, b: m);
                    let a = rng.matrix::<$T>(m, k, U);
                    let b = rng.matrix::<$T>(n, k, U);
                    check_vjp!(matmul::tb; u = rng.matrix::<$T>(m, n, U); a: m, b: m);
                    let a = rng.matrix::<$T>(k, m, U);
                    let b = rng.matrix::<$T>(n, k, U);
                    check_vjp!(matmul::tab; u = rng.matrix::<$T>(m, n, U); a: m, b: m);
                    let a = rng.matrix::<$T>(m, k, U);
                    let b = rng.matrix::<$T>(k, n, U);
                    check_vjp!(matmul::t_of_product; u = rng.matrix::<$T>(n, m, U); a: m, b: m);
                }
            }

            #[test]
            fn matmul_chains() {
                let mut rng = Rng::new(line!().into());
                for (m, k, n) in MATMUL_SHAPES {
                    let a = rng.matrix::<$T>(m, k, U);
                    let b = rng.matrix::<$T>(k, n, U);
                    let c = rng.matrix::<$T>(n, 2, U);
                    check_vjp!(matmul::chain; u = rng.matrix::<$T>(m, 2, U); a: m, b: m, c: m);
                    let x = rng.vector::<$T>(n, U);
                    check_grad!(matmul::chain_mv; a: m, b: m, x: v);
                }
            }

            pub mod transpose {
                use super::*;
                pub mod plain {
                    use super::*;
                    #[differentiable]
                    pub fn f(a: &Matrix<$T>) -> Matrix<$T> {
                        a.t()
                    }
                }
                pub mod twice {
                    use super::*;
                    #[differentiable]
                    pub fn f(a: &Matrix<$T>) -> Matrix<$T> {
                        a.t().t() * 3.0
                    }
                }
                /// `aᵀ ⊙ b` and `(aᵀ + b)ᵀ` with `b` of the transposed shape.
                pub mod mixed {
                    use super::*;
                    #[differentiable]
                    pub fn f(a: &Matrix<$T>, b: &Matrix<$T>) -> Matrix<$T> {
                        let p = a.t() * b;
                        (p + b).t()
                    }
                }
                /// A transposed broadcast row: `a + bᵀ` with `b` an `r×1` column.
                pub mod broadcast {
                    use super::*;
                    #[differentiable]
                    pub fn f(a: &Matrix<$T>, b: &Matrix<$T>) -> Matrix<$T> {
                        a + b.t()
                    }
                }
            }

            #[test]
            fn transposes() {
                let mut rng = Rng::new(line!().into());
                for (r, c) in SHAPES {
                    let a = rng.matrix::<$T>(r, c, U);
                    check_vjp!(transpose::plain; u = rng.matrix::<$T>(c, r, U); a: m);
                    check_vjp!(transpose::twice; u = rng.matrix::<$T>(r, c, U); a: m);
                    let b = rng.matrix::<$T>(c, r, U);
                    check_vjp!(transpose::mixed; u = rng.matrix::<$T>(r, c, U); a: m, b: m);
                    let a = rng.matrix::<$T>(r, c, U);
                    let b = rng.matrix::<$T>(c, 1, U);
                    check_vjp!(transpose::broadcast; u = rng.matrix::<$T>(r, c, U); a: m, b: m);
                }
            }

            pub mod dot {
                use super::*;
                pub mod uv {
                    use super::*;
                    #[differentiable]
                    pub fn f(u: &Vector<$T>, v: &Vector<$T>) -> $T {
                        u.dot(v)
                    }
                }
                pub mod uu {
                    use super::*;
                    #[differentiable]
                    pub fn f(u: &Vector<$T>) -> $T {
                        u.dot(u)
                    }
                }
                pub mod owned {
                    use super::*;
                    #[differentiable]
                    pub fn f(u: Vector<$T>, v: Vector<$T>) -> $T {
                        u.dot(&v)
                    }
                }
                /// `(a·x)ᵀ·y`, and a dot product used as a scalar factor.
                pub mod composed {
                    use super::*;
                    #[differentiable]
                    pub fn f(a: &Matrix<$T>, x: &Vector<$T>, y: &Vector<$T>) -> Vector<$T> {
                        let s = a.matmul(x).dot(y);
                        y * s
                    }
                }
            }

            #[test]
            fn dot_products() {
                let mut rng = Rng::new(line!().into());
                for n in LENS {
                    let u = rng.vector::<$T>(n, U);
                    let v = rng.vector::<$T>(n, U);
                    check_grad!(dot::uv; u: v, v: v);
                    check_grad!(dot::uu; u: v);
                    check_grad!(dot::owned; u: V, v: V);
                    let a = rng.matrix::<$T>(3, n, U);
                    let x = rng.vector::<$T>(n, U);
                    let y = rng.vector::<$T>(3, U);
                    check_vjp!(dot::composed; u = rng.vector::<$T>(3, U); a: m, x: v, y: v);
                }
            }

            // ─────────── reductions ───────────

            pub mod reduce {
                use super::*;
                pub mod sum_v {
                    use super::*;
                    #[differentiable]
                    pub fn f(x: &Vector<$T>) -> $T {
                        x.sum()
                    }
                }
                pub mod sum_m {
                    use super::*;
                    #[differentiable]
                    pub fn f(x: &Matrix<$T>) -> $T {
                        x.sum()
                    }
                }
                pub mod mean_v {
                    use super::*;
                    #[differentiable]
                    pub fn f(x: &Vector<$T>) -> $T {
                        x.mean()
                    }
                }
                pub mod mean_m {
                    use super::*;
                    #[differentiable]
                    pub fn f(x: &Matrix<$T>) -> $T {
                        x.mean()
                    }
                }
                /// Reductions of expressions (`Σ u ⊙ v` becomes a dot product).
                pub mod of_expressions {
                    use super::*;
                    #[differentiable]
                    pub fn f(u: &Vector<$T>, v: &Vector<$T>, m: &Matrix<$T>) -> $T {
                        (u * v).sum() + (m * m).mean() * (u - v).mean()
                    }
                }
                pub mod axis0 {
                    use super::*;
                    #[differentiable]
                    pub fn f(x: &Matrix<$T>) -> Matrix<$T> {
                        x.sum_axis(0)
                    }
                }
                pub mod axis1 {
                    use super::*;
                    #[differentiable]
                    pub fn f(x: &Matrix<$T>) -> Matrix<$T> {
                        x.sum_axis(1)
                    }
                }
                /// Axis sums broadcast back: centring rows and columns.
                pub mod axis_broadcast {
                    use super::*;
                    #[differentiable]
                    pub fn f(x: &Matrix<$T>) -> Matrix<$T> {
                        let rows = x - x.sum_axis(1) * 0.5;
                        let cols = x.sum_axis(0);
                        rows * cols
                    }
                }
            }

            #[test]
            fn sums_and_means() {
                let mut rng = Rng::new(line!().into());
                for n in LENS {
                    let x = rng.vector::<$T>(n, U);
                    check_grad!(reduce::sum_v; x: v);
                    check_grad!(reduce::mean_v; x: v);
                }
                for (r, c) in SHAPES {
                    let x = rng.matrix::<$T>(r, c, U);
                    check_grad!(reduce::sum_m; x: m);
                    check_grad!(reduce::mean_m; x: m);
                    let u = rng.vector::<$T>(c, U);
                    let v = rng.vector::<$T>(c, U);
                    check_grad!(reduce::of_expressions; u: v, v: v, x: m);
                }
            }

            #[test]
            fn axis_sums() {
                let mut rng = Rng::new(line!().into());
                for (r, c) in SHAPES {
                    let x = rng.matrix::<$T>(r, c, U);
                    check_vjp!(reduce::axis0; u = rng.matrix::<$T>(1, c, U); x: m);
                    check_vjp!(reduce::axis1; u = rng.matrix::<$T>(r, 1, U); x: m);
                    check_vjp!(reduce::axis_broadcast; u = rng.matrix::<$T>(r, c, U); x: m);
                }
            }

            // ─────────── softmax ───────────

            pub mod softmax {
                use super::*;
                pub mod v {
                    use super::*;
                    #[differentiable]
                    pub fn f(x: &Vector<$T>) -> Vector<$T> {
                        x.softmax()
                    }
                }
                pub mod m {
                    use super::*;
                    #[differentiable]
                    pub fn f(x: &Matrix<$T>) -> Matrix<$T> {
                        x.softmax()
                    }
                }
                pub mod log_v {
                    use super::*;
                    #[differentiable]
                    pub fn f(x: &Vector<$T>) -> Vector<$T> {
                        x.log_softmax()
                    }
                }
                pub mod log_m {
                    use super::*;
                    #[differentiable]
                    pub fn f(x: &Matrix<$T>) -> Matrix<$T> {
                        x.log_softmax()
                    }
                }
                /// Cross-entropy with constant targets (scalar result).
                pub mod cross_entropy {
                    use super::*;
                    #[differentiable(wrt(z))]
                    pub fn f(z: &Matrix<$T>, y: &Matrix<$T>) -> $T {
                        let lp = z.log_softmax();
                        -(y * lp).sum() / 2.0
                    }
                }
                /// Softmax of a shifted input and of a function of the input.
                pub mod composed {
                    use super::*;
                    #[differentiable]
                    pub fn f(x: &Vector<$T>, w: &Vector<$T>) -> $T {
                        let p = (x * 3.0 + 10.0).softmax();
                        p.dot(w) + (x * w).log_softmax().mean()
                    }
                }
            }

            #[test]
            fn softmax_vector() {
                let mut rng = Rng::new(line!().into());
                for n in LENS {
                    let x = rng.vector::<$T>(n, U);
                    check_vjp!(softmax::v; u = rng.vector::<$T>(n, U); x: v);
                    check_vjp!(softmax::log_v; u = rng.vector::<$T>(n, U); x: v);
                    let w = rng.vector::<$T>(n, U);
                    check_grad!(softmax::composed; x: v, w: v);
                }
            }

            #[test]
            fn softmax_matrix_rows() {
                let mut rng = Rng::new(line!().into());
                for (r, c) in SHAPES {
                    let x = rng.matrix::<$T>(r, c, U);
                    check_vjp!(softmax::m; u = rng.matrix::<$T>(r, c, U); x: m);
                    check_vjp!(softmax::log_m; u = rng.matrix::<$T>(r, c, U); x: m);
                    let y = rng.matrix::<$T>(r, c, common::Dist::Uniform(0.0, 1.0));
                    check_grad!(softmax::cross_entropy; x: m, y: cm);
                }
            }

            // ─────────── literals, reuse, scoping ───────────

            pub mod lang {
                use super::*;
                /// Float literals in every position.
                pub mod literals_m {
                    use super::*;
                    #[differentiable]
                    pub fn f(x: &Matrix<$T>) -> Matrix<$T> {
                        let y = 2.0 * x + 1.5;
                        let z = (2.0 * 3.0 - 1.0) * x - -2.0 * &y;
                        z / 4.0 + x * 0.0 + 1e-1 * x + 2.5e1
                    }
                }
                pub mod literals_s {
                    use super::*;
                    #[differentiable]
                    pub fn f(x: $T) -> $T {
                        3.0 / x - 0.5 * x * x + 2.0
                    }
                }
                /// A literal-only subexpression and a literal divided by a vector.
                pub mod literals_v {
                    use super::*;
                    #[differentiable]
                    pub fn f(x: &Vector<$T>) -> Vector<$T> {
                        let k = 1.0 / 8.0 + 0.375;
                        k / x + (x - 1.0) * k
                    }
                }
                /// The same value used several times.
                pub mod reuse_square {
                    use super::*;
                    #[differentiable]
                    pub fn f(x: &Matrix<$T>) -> Matrix<$T> {
                        x * x
                    }
                }
                pub mod reuse_matmul {
                    use super::*;
                    #[differentiable]
                    pub fn f(x: &Matrix<$T>) -> Matrix<$T> {
                        x.matmul(x)
                    }
                }
                pub mod reuse_many {
                    use super::*;
                    #[differentiable]
                    pub fn f(x: &Matrix<$T>) -> $T {
                        let e = x.tanh();
                        let p = &e * &e + &e;
                        let q = p.matmul(&e.t()).matmul(x);
                        q.sum() + e.sum() * x.mean()
                    }
                }
                pub mod reuse_scalar {
                    use super::*;
                    #[differentiable]
                    pub fn f(x: $T, y: $T) -> $T {
                        let z = x * y;
                        z * z * x + z / y
                    }
                }
                /// The bare parameter returned, owned.
                pub mod identity {
                    use super::*;
                    #[differentiable]
                    pub fn f(x: Matrix<$T>) -> Matrix<$T> {
                        x
                    }
                }
                pub mod identity_s {
                    use super::*;
                    #[differentiable]
                    pub fn f(x: $T) -> $T {
                        x
                    }
                }
                /// Shadowed `let`s (also of the parameter) and typed `let`s.
                pub mod shadowing {
                    use super::*;
                    #[differentiable]
                    pub fn f(x: &Matrix<$T>) -> Matrix<$T> {
                        let y = x * 2.0;
                        let y = y.sin();
                        let y: Matrix<$T> = &y + x;
                        let x = y.tanh();
                        let s: $T = x.sum();
                        x * s
                    }
                }
                /// Nested blocks with their own scopes.
                pub mod blocks {
                    use super::*;
                    #[differentiable]
                    pub fn f(x: &Matrix<$T>) -> Matrix<$T> {
                        let z = {
                            let t = x.exp();
                            let x = {
                                let s = &t * 2.0;
                                s + x
                            };
                            x.sum()
                        };
                        let w = {
                            let x = x.sin();
                            x
                        };
                        let v = {
                            let w2 = {
                                let k = z * 0.5;
                                &w * k
                            };
                            w2 + w
                        };
                        v
                    }
                }
                /// Scalar factors: `(0.1·x)·3` and `s·(t·x)` must keep the original rounding.
                pub mod factors_literal {
                    use super::*;
                    #[differentiable]
                    pub fn f(x: &Vector<$T>) -> Vector<$T> {
                        0.1 * x * 3.0
                    }
                }
                pub mod factors_param {
                    use super::*;
                    #[differentiable]
                    pub fn f(x: &Vector<$T>, s: $T, t: $T) -> Vector<$T> {
                        s * (t * x)
                    }
                }
                /// A `let` whose value is not used.
                pub mod dead_let {
                    use super::*;
                    #[differentiable]
                    pub fn f(x: &Vector<$T>) -> $T {
                        let _e = x.exp();
                        x.sum()
                    }
                }
                /// Parameter and `let` names that look like the names generated code uses.
                pub mod names {
                    use super::*;
                    /// A parameter named like another parameter's adjoint.
                    pub mod adjoint_param {
                        use super::*;
                        #[differentiable]
                        pub fn f(x: &Matrix<$T>, dx: &Matrix<$T>) -> Matrix<$T> {
                            let y = x * dx;
                            y.exp() * dx
                        }
                    }
                    /// A parameter named like the upstream gradient (`dy` for a tail `y`).
                    pub mod upstream_param {
                        use super::*;
                        #[differentiable]
                        pub fn f(x: &Matrix<$T>, dy: &Matrix<$T>) -> Matrix<$T> {
                            let y = x * dy;
                            y
                        }
                    }
                    pub mod dout_param {
                        use super::*;
                        #[differentiable]
                        pub fn f(dout: &Matrix<$T>, x: &Matrix<$T>) -> Matrix<$T> {
                            dout * x + x
                        }
                    }
                    /// Temporaries' names (`t1`, `…_view`) with broadcasting (`sum_to` views).
                    pub mod temporaries {
                        use super::*;
                        #[differentiable]
                        pub fn f(t1: &Matrix<$T>, t2: &Matrix<$T>, t1_view: &Matrix<$T>) -> $T {
                            let t3 = t1.matmul(t2) + t1_view;
                            (t3 * t1_view).sum()
                        }
                    }
                    /// `let`s named like adjoints.
                    pub mod adjoint_lets {
                        use super::*;
                        #[differentiable]
                        pub fn f(x: &Matrix<$T>, b: &Matrix<$T>) -> $T {
                            let dx = x * 2.0;
                            let db = b.exp();
                            let dx_view = dx + db;
                            dx_view.sum()
                        }
                    }
                    /// Non-ASCII identifiers.
                    pub mod unicode {
                        use super::*;
                        #[differentiable]
                        pub fn f(λ: $T, θ: &Vector<$T>) -> $T {
                            (θ * λ).sum()
                        }
                    }
                }
                /// Parentheses.
                pub mod parens {
                    use super::*;
                    #[differentiable]
                    pub fn f(a: &Vector<$T>, b: &Vector<$T>) -> Vector<$T> {
                        ((a + b) * (a - b)) / ((a * a) + 1.0)
                    }
                }
            }

            #[test]
            fn float_literals() {
                let mut rng = Rng::new(line!().into());
                for (r, c) in SHAPES {
                    let x = rng.matrix::<$T>(r, c, U);
                    check_vjp!(lang::literals_m; u = rng.matrix::<$T>(r, c, U); x: m);
                }
                for n in LENS {
                    let x = rng.vector::<$T>(n, AWAY);
                    check_vjp!(lang::literals_v; u = rng.vector::<$T>(n, U); x: v);
                }
                for _ in 0..4 {
                    let x: $T = rng.scalar(AWAY);
                    check_grad!(lang::literals_s; x: s);
                }
            }

            #[test]
            fn values_used_more_than_once() {
                let mut rng = Rng::new(line!().into());
                for (r, c) in SHAPES {
                    let x = rng.matrix::<$T>(r, c, U);
                    check_vjp!(lang::reuse_square; u = rng.matrix::<$T>(r, c, U); x: m);
                }
                for n in [1, 2, 3] {
                    let x = rng.matrix::<$T>(n, n, U);
                    check_vjp!(lang::reuse_matmul; u = rng.matrix::<$T>(n, n, U); x: m);
                    check_grad!(lang::reuse_many; x: m);
                }
                for _ in 0..4 {
                    let x: $T = rng.scalar(AWAY);
                    let y: $T = rng.scalar(AWAY);
                    check_grad!(lang::reuse_scalar; x: s, y: s);
                }
            }

            #[test]
            fn returned_parameter() {
                let mut rng = Rng::new(line!().into());
                for (r, c) in SHAPES {
                    let x = rng.matrix::<$T>(r, c, U);
                    check_vjp!(lang::identity; u = rng.matrix::<$T>(r, c, U); x: M);
                }
                let x: $T = rng.scalar(U);
                check_grad!(lang::identity_s; x: s);
            }

            #[test]
            fn shadowing_blocks_and_parentheses() {
                let mut rng = Rng::new(line!().into());
                for (r, c) in SHAPES {
                    let x = rng.matrix::<$T>(r, c, U);
                    check_vjp!(lang::shadowing; u = rng.matrix::<$T>(r, c, U); x: m);
                    let x = rng.matrix::<$T>(r, c, common::Dist::Uniform(-1.0, 1.0));
                    check_vjp!(lang::blocks; u = rng.matrix::<$T>(r, c, U); x: m);
                }
                for n in LENS {
                    let a = rng.vector::<$T>(n, U);
                    let b = rng.vector::<$T>(n, U);
                    check_vjp!(lang::parens; u = rng.vector::<$T>(n, U); a: v, b: v);
                }
            }

            #[test]
            fn literal_factors_keep_the_original_rounding() {
                let mut rng = Rng::new(line!().into());
                for n in [1, 64] {
                    let x = rng.vector::<$T>(n, U);
                    check_vjp!(lang::factors_literal; u = rng.vector::<$T>(n, U); x: v);
                }
            }

            #[test]
            fn scalar_factors_keep_the_original_rounding() {
                let mut rng = Rng::new(line!().into());
                for n in [1, 64] {
                    let x = rng.vector::<$T>(n, U);
                    let s: $T = rng.scalar(U);
                    let t: $T = rng.scalar(U);
                    check_vjp!(lang::factors_param; u = rng.vector::<$T>(n, U); x: v, s: s, t: s);
                }
            }

            #[test]
            fn unused_let() {
                let mut rng = Rng::new(line!().into());
                let x = rng.vector::<$T>(3, U);
                check_grad!(lang::dead_let; x: v);
            }

            #[test]
            fn names_that_look_generated() {
                let mut rng = Rng::new(line!().into());
                for (r, c) in SHAPES {
                    let x = rng.matrix::<$T>(r, c, U);
                    let dx = rng.matrix::<$T>(r, c, U);
                    check_vjp!(lang::names::adjoint_param; u = rng.matrix::<$T>(r, c, U); x: m, dx: m);
                    check_vjp!(lang::names::upstream_param; u = rng.matrix::<$T>(r, c, U); x: m, dx: m);
                    check_vjp!(lang::names::dout_param; u = rng.matrix::<$T>(r, c, U); dx: m, x: m);
                    check_grad!(lang::names::adjoint_lets; x: m, dx: m);
                }
                for (m, k, n) in MATMUL_SHAPES {
                    let t1 = rng.matrix::<$T>(m, k, U);
                    let t2 = rng.matrix::<$T>(k, n, U);
                    let t1_view = rng.matrix::<$T>(1, n, U);
                    check_grad!(lang::names::temporaries; t1: m, t2: m, t1_view: m);
                }
                let l: $T = rng.scalar(U);
                let t = rng.vector::<$T>(3, U);
                check_grad!(lang::names::unicode; l: s, t: v);
            }

            #[test]
            fn empty_tensors() {
                let mut rng = Rng::new(line!().into());
                let a = rng.matrix::<$T>(0, 3, U);
                let b = rng.matrix::<$T>(1, 3, U);
                check_vjp!(add::mm; u = Matrix::<$T>::zeros(0, 3); a: m, b: m);
                check_vjp!(mul::mm; u = Matrix::<$T>::zeros(0, 3); a: m, b: m);
                let a = rng.matrix::<$T>(2, 0, U);
                let b = rng.matrix::<$T>(0, 3, U);
                check_vjp!(matmul::mm; u = rng.matrix::<$T>(2, 3, U); a: m, b: m);
                let a = rng.matrix::<$T>(0, 3, U);
                let x = rng.vector::<$T>(3, U);
                check_vjp!(matmul::mv; u = Vector::<$T>::zeros(0); a: m, x: v);
                let x = rng.matrix::<$T>(0, 4, U);
                check_grad!(reduce::sum_m; x: m);
                check_vjp!(reduce::axis0; u = rng.matrix::<$T>(1, 4, U); x: m);
                check_vjp!(reduce::axis1; u = Matrix::<$T>::zeros(0, 1); x: m);
                let x = rng.matrix::<$T>(3, 0, U);
                check_vjp!(softmax::m; u = Matrix::<$T>::zeros(3, 0); x: m);
                check_vjp!(softmax::log_m; u = Matrix::<$T>::zeros(3, 0); x: m);
                let x = rng.vector::<$T>(0, U);
                check_grad!(reduce::sum_v; x: v);
            }

            /// Products large enough to cross GEMM's blocking: the generated code computes
            /// transposed products through GEMM flags, and must still return `f`'s value exactly.
            #[test]
            fn large_products_keep_the_original_value() {
                let mut rng = Rng::new(line!().into());
                let (m, k, n) = (7, 300, 5);
                let a = rng.matrix::<$T>(k, m, U);
                let b = rng.matrix::<$T>(n, k, U);
                let u = rng.matrix::<$T>(m, n, U);
                assert_eq!(matmul::tab::f_vjp(&a, &b, &u).0, matmul::tab::f(&a, &b));
                let b2 = rng.matrix::<$T>(k, n, U);
                assert_eq!(matmul::ta::f_vjp(&a, &b2, &u).0, matmul::ta::f(&a, &b2));
                let a2 = rng.matrix::<$T>(m, k, U);
                assert_eq!(matmul::tb::f_vjp(&a2, &b, &u).0, matmul::tb::f(&a2, &b));
                let ut = rng.matrix::<$T>(n, m, U);
                assert_eq!(
                    matmul::t_of_product::f_vjp(&a2, &b2, &ut).0,
                    matmul::t_of_product::f(&a2, &b2)
                );
                // The same through f_jvp, whose tangents are products of the same shapes.
                let (ta, tb) = (rng.matrix::<$T>(k, m, U), rng.matrix::<$T>(n, k, U));
                assert_eq!(matmul::tab::f_jvp(&a, &b, &ta, &tb).0, matmul::tab::f(&a, &b));
                let tb2 = rng.matrix::<$T>(k, n, U);
                assert_eq!(matmul::ta::f_jvp(&a, &b2, &ta, &tb2).0, matmul::ta::f(&a, &b2));
                let ta2 = rng.matrix::<$T>(m, k, U);
                assert_eq!(matmul::tb::f_jvp(&a2, &b, &ta2, &tb).0, matmul::tb::f(&a2, &b));
                assert_eq!(
                    matmul::t_of_product::f_jvp(&a2, &b2, &ta2, &tb2).0,
                    matmul::t_of_product::f(&a2, &b2)
                );
                // Forward mode against the product rule d(A·B) = dA·B + A·dB.
                let (_, dc) = matmul::mm::f_jvp(&a2, &b2, &ta2, &tb2);
                common::assert_close(
                    &common::Flat::flat(&dc),
                    &common::Flat::flat(&(ta2.matmul(&b2) + a2.matmul(&tb2))),
                    TOL.rel,
                    TOL.abs * 100.0,
                    "dC = dA·B + A·dB",
                );
                // The gradients against the lecture formulas dA = dC·Bᵀ, dB = Aᵀ·dC.
                let (_, (da, db)) = matmul::mm::f_vjp(&a2, &b2, &u);
                let close = |x: &Matrix<$T>, y: &Matrix<$T>, what: &str| {
                    common::assert_close(
                        &common::Flat::flat(x),
                        &common::Flat::flat(y),
                        TOL.rel,
                        TOL.abs * 100.0,
                        what,
                    )
                };
                close(&da, &u.matmul(&b2.t()), "dA = dC·Bᵀ");
                close(&db, &a2.t().matmul(&u), "dB = Aᵀ·dC");
            }

            // ─────────── wrt subsets and constant parameters ───────────

            pub mod wrt {
                use super::*;
                /// One wrt parameter: the gradient is bare; `x` and `b` are constants.
                pub mod one {
                    use super::*;
                    #[differentiable(wrt(w))]
                    pub fn f(x: &Matrix<$T>, w: &Matrix<$T>, b: &Matrix<$T>) -> $T {
                        (x.matmul(w) + b).tanh().sum()
                    }
                }
                /// Named out of order: the tuple is still in signature order `(dx, db)`.
                pub mod two {
                    use super::*;
                    #[differentiable(wrt(b, x))]
                    pub fn f(x: &Matrix<$T>, w: &Matrix<$T>, b: &Matrix<$T>) -> $T {
                        (x.matmul(w) + b).tanh().sum()
                    }
                }
                /// Tensor result, one wrt parameter.
                pub mod tensor_result {
                    use super::*;
                    #[differentiable(wrt(w))]
                    pub fn f(x: &Matrix<$T>, w: &Matrix<$T>) -> Matrix<$T> {
                        x.matmul(w).sigmoid()
                    }
                }
                /// A scalar wrt parameter with a constant vector.
                pub mod scalar {
                    use super::*;
                    #[differentiable(wrt(s))]
                    pub fn f(s: $T, x: &Vector<$T>) -> Vector<$T> {
                        s * x + (x * s).exp()
                    }
                }
                /// Constants of other types in the signature (unused in the body).
                pub mod constants {
                    use super::*;
                    #[differentiable]
                    pub fn f(x: &Matrix<$T>, _n: usize, _flag: bool, _idx: &[usize]) -> $T {
                        (x * x).mean()
                    }
                }
                pub mod constant_first {
                    use super::*;
                    #[differentiable]
                    #[allow(unused_variables)]
                    pub fn f(n: usize, s: $T, v: &Vector<$T>, m: &Matrix<$T>) -> $T {
                        s * v.dot(v) + m.matmul(v).sum() * s
                    }
                }
                /// A differentiable parameter the result does not depend on: zero gradient.
                pub mod unused {
                    use super::*;
                    #[differentiable]
                    pub fn f(x: &Matrix<$T>, _y: &Vector<$T>, _s: $T) -> $T {
                        x.sum() * 2.0
                    }
                }
            }

            #[test]
            fn wrt_one_parameter_is_bare() {
                let mut rng = Rng::new(line!().into());
                for (m, k, n) in MATMUL_SHAPES {
                    let x = rng.matrix::<$T>(m, k, U);
                    let w = rng.matrix::<$T>(k, n, U);
                    let b = rng.matrix::<$T>(1, n, U);
                    let (_, dw): ($T, Matrix<$T>) = wrt::one::f_grad(&x, &w, &b);
                    assert_eq!(dw.shape(), w.shape());
                    check_grad!(wrt::one; x: cm, w: m, b: cm);
                }
            }

            #[test]
            fn wrt_tuple_in_signature_order() {
                let mut rng = Rng::new(line!().into());
                for (m, k, n) in MATMUL_SHAPES {
                    let x = rng.matrix::<$T>(m, k, U);
                    let w = rng.matrix::<$T>(k, n, U);
                    let b = rng.matrix::<$T>(1, n, U);
                    let (_, (dx, db)): ($T, (Matrix<$T>, Matrix<$T>)) =
                        wrt::two::f_grad(&x, &w, &b);
                    assert_eq!((dx.shape(), db.shape()), (x.shape(), b.shape()));
                    check_grad!(wrt::two; x: m, w: cm, b: m);
                }
            }

            #[test]
            fn wrt_with_tensor_and_scalar_results() {
                let mut rng = Rng::new(line!().into());
                for (m, k, n) in MATMUL_SHAPES {
                    let x = rng.matrix::<$T>(m, k, U);
                    let w = rng.matrix::<$T>(k, n, U);
                    let u = rng.matrix::<$T>(m, n, U);
                    let (_, dw): (Matrix<$T>, Matrix<$T>) = wrt::tensor_result::f_vjp(&x, &w, &u);
                    assert_eq!(dw.shape(), w.shape());
                    check_vjp!(wrt::tensor_result; u = u; x: cm, w: m);
                }
                for n in LENS {
                    let s: $T = rng.scalar(U);
                    let x = rng.vector::<$T>(n, U);
                    let u = rng.vector::<$T>(n, U);
                    let _: (Vector<$T>, $T) = wrt::scalar::f_vjp(s, &x, &u);
                    check_vjp!(wrt::scalar; u = u; s: s, x: cv);
                }
            }

            #[test]
            fn constant_parameters_of_other_types() {
                let mut rng = Rng::new(line!().into());
                let idx: &[usize] = &[2, 0, 1];
                for (r, c) in SHAPES {
                    let x = rng.matrix::<$T>(r, c, U);
                    let n = 7usize;
                    let flag = true;
                    let (_, dx): ($T, Matrix<$T>) = wrt::constants::f_grad(&x, n, flag, idx);
                    assert_eq!(dx.shape(), x.shape());
                    check_grad!(wrt::constants; x: m, n: c, flag: c, idx: c);
                }
                for n in LENS {
                    let s: $T = rng.scalar(U);
                    let v = rng.vector::<$T>(n, U);
                    let m = rng.matrix::<$T>(2, n, U);
                    let k = 3usize;
                    let (_, (_, _, _)): ($T, ($T, Vector<$T>, Matrix<$T>)) =
                        wrt::constant_first::f_grad(k, s, &v, &m);
                    check_grad!(wrt::constant_first; k: c, s: s, v: v, m: m);
                }
            }

            #[test]
            fn unused_parameter_has_zero_gradient() {
                let mut rng = Rng::new(line!().into());
                for (r, c) in SHAPES {
                    let x = rng.matrix::<$T>(r, c, U);
                    let y = rng.vector::<$T>(c, U);
                    let s: $T = rng.scalar(U);
                    let (_, (dx, dy, ds)) = wrt::unused::f_grad(&x, &y, s);
                    assert_eq!(dx, Matrix::from_vec(r, c, vec![2.0; r * c]));
                    assert_eq!(dy, Vector::zeros(c));
                    assert_eq!(ds, 0.0);
                    // Along the unused parameters only, the directional derivative is zero.
                    let ty = rng.vector::<$T>(c, U);
                    let ts: $T = rng.scalar(U);
                    let (value, tangent) =
                        wrt::unused::f_jvp(&x, &y, s, &Matrix::zeros(r, c), &ty, ts);
                    assert_eq!(value, wrt::unused::f(&x, &y, s));
                    assert_eq!(tangent, 0.0);
                    check_grad!(wrt::unused; x: m, y: v, s: s);
                }
            }

            // ─────────── control flow: loops and branches ───────────

            /// Loops and branches through every mode: `for` loops carrying `let mut` scalars,
            /// vectors and matrices over a `usize` number of steps (0 and 1 included), nested
            /// loops reading `x[i]`, `w[(i, j)]`, `x.slice(..)` and `m.slice_rows(..)`, and `if`s
            /// (statements, expressions, `else if` chains) on differentiable scalars, on the loop
            /// index and on a `bool` parameter. Inputs are drawn away from every branch's
            /// threshold, so the finite differences never cross one.
            pub mod control_flow {
                use super::*;
                use crate::$twin::control_flow as twin;

                /// An RNN-like recurrence with a loop-carried vector and a carried accumulator:
                /// `h ← tanh(W·h + a·x)`, `acc += (t + 1)·h·h`.
                pub mod rnn {
                    use super::*;
                    #[differentiable]
                    pub fn f(
                        h0: &Vector<$T>,
                        w: &Matrix<$T>,
                        x: &Vector<$T>,
                        a: $T,
                        steps: usize,
                    ) -> $T {
                        let mut h = h0.clone();
                        let mut acc = 0.0;
                        for t in 0..steps {
                            h = (w.matmul(&h) + x * a).tanh();
                            acc += h.dot(&h) * (t + 1) as $T;
                        }
                        acc + h.sum() * h0.sum()
                    }
                }
                /// A carried matrix over a batch, step `t` reading its rows of `xs`
                /// (`slice_rows`), scaled by a scalar weight.
                pub mod rnn_batch {
                    use super::*;
                    #[differentiable]
                    pub fn f(
                        h0: &Matrix<$T>,
                        w: &Matrix<$T>,
                        xs: &Matrix<$T>,
                        s: $T,
                        steps: usize,
                    ) -> $T {
                        let batch = h0.rows();
                        let mut h = h0.clone();
                        for t in 0..steps {
                            let xt = xs.slice_rows(t * batch..(t + 1) * batch);
                            h = (h.matmul(w) + xt).tanh() * s;
                        }
                        (&h * &h).sum()
                    }
                }
                /// A vector result: two carried vectors that multiply each other.
                pub mod coupled {
                    use super::*;
                    #[differentiable]
                    pub fn f(x: &Vector<$T>, m: &Matrix<$T>, s: $T, steps: usize) -> Vector<$T> {
                        let mut v = x.clone();
                        let mut g = x * s;
                        for i in 0..steps {
                            v = m.matmul(&v).sin() * &g + x;
                            g = &g * 0.5 + v.tanh() * (i as $T * 0.25 + 0.5);
                        }
                        &v * &g
                    }
                }
                /// A matrix result: windows of `k` rows of `m` folded with the weights `x[t]`
                /// (no iteration when `k` is every row, one when it is all but one).
                pub mod windows {
                    use super::*;
                    #[differentiable]
                    pub fn f(m: &Matrix<$T>, x: &Vector<$T>, k: usize) -> Matrix<$T> {
                        let mut acc = m.slice_rows(0..k);
                        for t in 1..m.rows() - k + 1 {
                            let rows = m.slice_rows(t..t + k);
                            acc = &acc * &rows * x[t] + rows.tanh();
                        }
                        acc
                    }
                }
                /// Nested loops, the inner bound the outer index: a cubic form over the lower
                /// triangle of `w`, and prefix segments `x.slice(0..i + 1)`.
                pub mod triangle {
                    use super::*;
                    #[differentiable]
                    pub fn f(x: &Vector<$T>, w: &Matrix<$T>) -> $T {
                        let mut total = 0.0;
                        for i in 0..x.len() {
                            for j in 0..=i {
                                total += w[(i, j)] * x[i] * x[j];
                            }
                            let head = x.slice(0..i + 1);
                            total += head.dot(&head) * x[i] * 0.25;
                        }
                        total
                    }
                }
                /// Nested loops over shifted segments `x.slice(j..j + n)` weighted by `kernel[j]`,
                /// a binding declared in the outer body and carried by the inner loop, a vector
                /// result.
                pub mod conv {
                    use super::*;
                    #[differentiable]
                    pub fn f(x: &Vector<$T>, kernel: &Vector<$T>, reps: usize) -> Vector<$T> {
                        let k = kernel.len();
                        let n = x.len() - k + 1;
                        let mut y = x.slice(k - 1..x.len());
                        for _r in 0..reps {
                            let mut z = y.clone();
                            for j in 0..k {
                                z += x.slice(j..j + n) * kernel[j] * &y;
                            }
                            y = z.tanh();
                        }
                        y
                    }
                }
                /// A statement `if` on a differentiable scalar in a loop, assigning two carried
                /// bindings on one side: the side taken changes with the sign of `x[i]`.
                pub mod sign_branch {
                    use super::*;
                    #[differentiable]
                    pub fn f(x: &Vector<$T>, w: $T) -> $T {
                        let mut acc = 0.0;
                        let mut p = w;
                        for i in 0..x.len() {
                            if x[i] > 0.0 {
                                acc += x[i] * x[i] * p;
                                p *= w;
                            } else {
                                acc -= x[i].sin() * p * p;
                            }
                        }
                        acc + p
                    }
                }
                /// `if` as an expression in a loop: bound by `let`, and assigned to a carried
                /// binding.
                pub mod expr_branch {
                    use super::*;
                    #[differentiable]
                    pub fn f(x: &Vector<$T>, h0: $T) -> $T {
                        let mut h = h0;
                        for i in 0..x.len() {
                            let step = if x[i] < 0.0 {
                                x[i] * h
                            } else {
                                (h * x[i]).tanh() + h
                            };
                            h = if h0 > x[i] {
                                step * 0.8 + x[i] * 0.1
                            } else {
                                step * h0
                            };
                        }
                        h * h
                    }
                }
                /// `else if` chains on a differentiable scalar, as a statement and as an
                /// expression.
                pub mod else_if {
                    use super::*;
                    #[differentiable]
                    pub fn f(x: &Vector<$T>, s: $T) -> $T {
                        let mut acc = s;
                        for i in 0..x.len() {
                            if x[i] > 0.5 {
                                acc *= x[i];
                            } else if x[i] < -0.5 {
                                acc = acc * s + x[i].exp();
                            } else {
                                acc += (x[i] * acc).sin();
                            }
                            let g = if x[i] > 0.5 {
                                x[i] * s
                            } else if x[i] < -0.5 {
                                acc * 0.5
                            } else {
                                s * s
                            };
                            acc = acc * 0.75 + g * 0.25;
                        }
                        acc * s
                    }
                }
                /// Branches on the loop index (`i == 0`, `i % 2 == 0`), also as an expression
                /// added to a carried scalar.
                pub mod index_branch {
                    use super::*;
                    #[differentiable]
                    pub fn f(x: &Vector<$T>, h0: &Vector<$T>, steps: usize) -> $T {
                        let mut h = h0.clone();
                        let mut acc = 0.0;
                        for i in 0..steps {
                            if i == 0 {
                                h = &h * x;
                            } else if i % 2 == 0 {
                                h = h.sin() * &h + x;
                            } else {
                                h = (&h * 0.5).tanh() * x;
                            }
                            acc += if i % 3 == 1 { h.sum() } else { h.dot(x) };
                        }
                        acc + h.dot(&h)
                    }
                }
                /// A `bool` parameter: alone, negated and combined with a comparison of
                /// differentiable scalars (`flag || x[i] > 0.0`, `!flag && s > 0.0`).
                pub mod flag_branch {
                    use super::*;
                    #[differentiable]
                    pub fn f(x: &Vector<$T>, s: $T, flag: bool, steps: usize) -> $T {
                        let mut v = x.clone();
                        for _t in 0..steps {
                            if flag {
                                v = v.tanh() * s + x;
                            } else {
                                v = v.sin() * &v - x * s;
                            }
                        }
                        let mut acc = 0.0;
                        for i in 0..x.len() {
                            if flag || x[i] > 0.0 {
                                acc += v[i] * x[i];
                            } else {
                                acc -= v[i] * v[i] * s;
                            }
                        }
                        let bonus = if !flag && s > 0.0 { s * s } else { s.sin() };
                        acc * s + bonus
                    }
                }
                /// The side taken changes from one iteration to the next: `x[k]` compared with
                /// another differentiable scalar `a`, both sides reading `x[k]` and the carried
                /// `s`; no iteration for an empty `x`.
                pub mod threshold {
                    use super::*;
                    #[differentiable]
                    pub fn f(x: &Vector<$T>, a: $T, b: $T) -> $T {
                        let mut s = a;
                        let mut acc = 0.0;
                        for k in 0..x.len() {
                            if x[k] > a {
                                s = s * b * 0.5 + x[k] * 0.1;
                            } else {
                                s = s * (1.0 + b) + x[k] * x[k];
                            }
                            acc += s * a;
                        }
                        acc + s * b
                    }
                }

                /// Conditions on values the body computes: a loop-carried `s` (which grows
                /// until it passes 1, then shrinks, so the side taken changes between
                /// iterations) and `a·k`, which passes 1 as the index grows; `1..=steps`.
                pub mod carried_threshold {
                    use super::*;
                    #[differentiable]
                    pub fn f(a: $T, b: $T, steps: usize) -> $T {
                        let mut s = a;
                        let mut acc = 0.0;
                        for k in 1..=steps {
                            if s > 1.0 {
                                s = s * b * 0.5;
                            } else {
                                s = s * (1.0 + b) + 0.25;
                            }
                            let level = a * k as $T;
                            acc += if level > 1.0 { s * a } else { s * b };
                        }
                        acc + s * b
                    }
                }

                /// The values `carried_threshold` compares with 1 (`s` and `a·k`), in `f64`.
                fn carried_threshold_conditions(
                    a: f64,
                    b: f64,
                    steps: usize,
                ) -> (Vec<f64>, Vec<f64>) {
                    let mut s = a;
                    let (mut carried, mut levels) = (Vec::new(), Vec::new());
                    for k in 1..=steps {
                        carried.push(s);
                        s = if s > 1.0 { s * b * 0.5 } else { s * (1.0 + b) + 0.25 };
                        levels.push(a * k as f64);
                    }
                    (carried, levels)
                }

                #[test]
                fn rnn_over_steps() {
                    let mut rng = Rng::new(line!().into());
                    for steps in [0usize, 1, 2, 4] {
                        let h0 = rng.vector::<$T>(3, U);
                        let w = rng.matrix::<$T>(3, 3, Dist::Uniform(-0.8, 0.8));
                        let x = rng.vector::<$T>(3, U);
                        let a: $T = rng.scalar(AWAY);
                        check_grad!(rnn; h0: v, w: m, x: v, a: s, steps: c);
                    }
                }

                #[test]
                fn rnn_batch_reads_its_rows() {
                    let mut rng = Rng::new(line!().into());
                    let (batch, hidden) = (2, 3);
                    for steps in [0usize, 1, 3] {
                        let h0 = rng.matrix::<$T>(batch, hidden, U);
                        let w = rng.matrix::<$T>(hidden, hidden, Dist::Uniform(-0.8, 0.8));
                        let xs = rng.matrix::<$T>(batch * steps.max(1), hidden, U);
                        let s: $T = rng.scalar(AWAY);
                        check_grad!(rnn_batch; h0: m, w: m, xs: m, s: s, steps: c);
                    }
                }

                #[test]
                fn coupled_vector_result() {
                    let mut rng = Rng::new(line!().into());
                    for (n, steps) in [(3, 0usize), (3, 1), (1, 2), (4, 3)] {
                        let x = rng.vector::<$T>(n, Dist::Uniform(-1.0, 1.0));
                        let m = rng.matrix::<$T>(n, n, U);
                        let s: $T = rng.scalar(AWAY);
                        check_vjp!(coupled; u = rng.vector::<$T>(n, U); x: v, m: m, s: s, steps: c);
                    }
                }

                #[test]
                fn windows_matrix_result() {
                    let mut rng = Rng::new(line!().into());
                    for (rows, cols, k) in [(3, 2, 3), (3, 2, 2), (5, 3, 2), (4, 1, 1)] {
                        let m = rng.matrix::<$T>(rows, cols, Dist::Uniform(-1.0, 1.0));
                        let x = rng.vector::<$T>(rows, Dist::Uniform(-1.0, 1.0));
                        check_vjp!(windows; u = rng.matrix::<$T>(k, cols, U); m: m, x: v, k: c);
                    }
                }

                #[test]
                fn nested_loops_read_entries_and_segments() {
                    let mut rng = Rng::new(line!().into());
                    for n in LENS {
                        let x = rng.vector::<$T>(n, U);
                        let w = rng.matrix::<$T>(n, n, U);
                        check_grad!(triangle; x: v, w: m);
                    }
                    for (len, k, reps) in [(4, 2, 0usize), (4, 2, 1), (5, 3, 2), (3, 1, 3)] {
                        let x = rng.vector::<$T>(len, Dist::Uniform(-1.0, 1.0));
                        let kernel = rng.vector::<$T>(k, U);
                        let u = rng.vector::<$T>(len - k + 1, U);
                        check_vjp!(conv; u = u; x: v, kernel: v, reps: c);
                    }
                }

                #[test]
                fn a_branch_on_a_differentiable_scalar() {
                    let mut rng = Rng::new(line!().into());
                    for n in LENS {
                        let x = rng.vector::<$T>(n, AWAY);
                        let w: $T = rng.scalar(AWAY);
                        check_grad!(sign_branch; x: v, w: s);
                    }
                }

                #[test]
                fn branches_as_expressions() {
                    let mut rng = Rng::new(line!().into());
                    let mut done = 0;
                    while done < 4 {
                        let x = rng.vector::<$T>(4, AWAY);
                        let h0: $T = rng.scalar(AWAY);
                        // `h0 > x[i]` must not be a tie within the finite differences' reach.
                        if x.as_slice().iter().any(|&xi| (h0 - xi).abs() < 0.1) {
                            continue;
                        }
                        check_grad!(expr_branch; x: v, h0: s);
                        done += 1;
                    }
                }

                #[test]
                fn else_if_chains() {
                    let mut rng = Rng::new(line!().into());
                    let bands = Dist::Bands(&[(-1.5, -0.7), (-0.3, 0.3), (0.7, 1.5)]);
                    for n in [1, 3, 6] {
                        let x = rng.vector::<$T>(n, bands);
                        let s: $T = rng.scalar(AWAY);
                        check_grad!(else_if; x: v, s: s);
                    }
                }

                #[test]
                fn branches_on_the_loop_index() {
                    let mut rng = Rng::new(line!().into());
                    for steps in [0usize, 1, 2, 3, 5] {
                        let x = rng.vector::<$T>(3, Dist::Uniform(-1.0, 1.0));
                        let h0 = rng.vector::<$T>(3, U);
                        check_grad!(index_branch; x: v, h0: v, steps: c);
                    }
                }

                #[test]
                fn branches_on_a_bool_parameter() {
                    let mut rng = Rng::new(line!().into());
                    for flag in [true, false] {
                        for steps in [0usize, 1, 3] {
                            let x = rng.vector::<$T>(4, AWAY);
                            let s: $T = rng.scalar(AWAY);
                            check_grad!(flag_branch; x: v, s: s, flag: c, steps: c);
                        }
                    }
                }

                #[test]
                fn the_side_taken_changes_between_iterations() {
                    let mut rng = Rng::new(line!().into());
                    for n in [0, 1, 3, 6] {
                        let mut done = false;
                        while !done {
                            let x = rng.vector::<$T>(n, Dist::Uniform(-1.5, 1.5));
                            let a: $T = rng.scalar(Dist::Uniform(-0.5, 0.5));
                            let b: $T = rng.scalar(Dist::Uniform(0.3, 0.9));
                            // Stay clear of `x[k] = a`, and from 3 iterations on take both sides.
                            let xs = x.as_slice();
                            let near = xs.iter().any(|&xk| (xk - a).abs() < 0.1);
                            let both = xs.iter().any(|&xk| xk > a) && xs.iter().any(|&xk| xk < a);
                            if near || (n >= 3 && !both) {
                                continue;
                            }
                            check_grad!(threshold; x: v, a: s, b: s);
                            done = true;
                        }
                    }
                }

                #[test]
                fn conditions_on_carried_and_computed_values() {
                    let mut rng = Rng::new(line!().into());
                    for steps in [0usize, 1, 3, 6] {
                        let mut done = false;
                        while !done {
                            let a: $T = rng.scalar(Dist::Uniform(0.2, 0.9));
                            let b: $T = rng.scalar(Dist::Uniform(0.6, 1.2));
                            let (carried, levels) =
                                carried_threshold_conditions(a.into(), b.into(), steps);
                            // Stay clear of 1 at every step, and from 3 steps on take both sides
                            // of the carried condition.
                            let near =
                                carried.iter().chain(&levels).any(|&c| (c - 1.0).abs() < 0.1);
                            let above = carried.iter().any(|&c| c > 1.0);
                            let below = carried.iter().any(|&c| c < 1.0);
                            let both = above && below;
                            if near || (steps >= 3 && !both) {
                                continue;
                            }
                            check_grad!(carried_threshold; a: s, b: s, steps: c);
                            done = true;
                        }
                    }
                }
            }

            // ─────────── indexing, broadcasting and linear algebra ───────────

            /// The second release's reads, joins, vector broadcasting, reductions and linear
            /// algebra, one row per op. Indices are `usize` parameters (kind `c`) or arithmetic on
            /// `len()`/`rows()`/`cols()`; `max`/`min` inputs have a unique extreme entry well
            /// clear of the others, and the linear algebra runs on well-conditioned matrices
            /// (`n·I` plus entries in `[−0.5, 0.5)`: diagonally dominant, so cond < 3 and the
            /// determinant is positive), so the finite differences stay valid in both precisions
            /// with the table's tolerances.
            pub mod indexing_linalg {
                use super::*;
                use crate::$twin::indexing_linalg as twin;

                // Reads.

                /// `x[i]` with `i` a parameter, `x.len() - 1` and `i / 2`; `x[i]` read twice.
                pub mod entry {
                    use super::*;
                    #[differentiable]
                    pub fn f(x: &Vector<$T>, i: usize) -> $T {
                        x[i] * x[i] + x[x.len() - 1] * 0.5 + x[i / 2].sin()
                    }
                }
                /// `m[(i, j)]` with parameters and `rows() - 1`, `cols() - 1`.
                pub mod element {
                    use super::*;
                    #[differentiable]
                    pub fn f(m: &Matrix<$T>, i: usize, j: usize) -> $T {
                        m[(i, j)] * m[(m.rows() - 1, m.cols() - 1)] + m[(0, j)].tanh()
                    }
                }
                pub mod slice {
                    use super::*;
                    #[differentiable]
                    pub fn f(x: &Vector<$T>, a: usize, b: usize) -> Vector<$T> {
                        x.slice(a..b)
                    }
                }
                /// `a..=b` ranges, overlapping: the shared entries accumulate.
                pub mod slice_inclusive {
                    use super::*;
                    #[differentiable]
                    pub fn f(x: &Vector<$T>, a: usize) -> Vector<$T> {
                        x.slice(a..=x.len() - 1) * x.slice(0..=x.len() - 1 - a)
                    }
                }
                pub mod row {
                    use super::*;
                    #[differentiable]
                    pub fn f(m: &Matrix<$T>, i: usize) -> Vector<$T> {
                        m.row(i)
                    }
                }
                pub mod col {
                    use super::*;
                    #[differentiable]
                    pub fn f(m: &Matrix<$T>, j: usize) -> Vector<$T> {
                        m.col(j)
                    }
                }
                /// A row and a column of a square matrix that share `m[(i, i)]`, and the last
                /// row.
                pub mod row_col {
                    use super::*;
                    #[differentiable]
                    pub fn f(m: &Matrix<$T>, i: usize) -> $T {
                        m.row(i).dot(&m.col(i)) + m.row(m.rows() - 1).sin().sum()
                    }
                }
                pub mod slice_rows {
                    use super::*;
                    #[differentiable]
                    pub fn f(m: &Matrix<$T>, a: usize, b: usize) -> Matrix<$T> {
                        m.slice_rows(a..b)
                    }
                }
                pub mod slice_cols {
                    use super::*;
                    #[differentiable]
                    pub fn f(m: &Matrix<$T>, a: usize, b: usize) -> Matrix<$T> {
                        m.slice_cols(a..b)
                    }
                }
                /// Overlapping row blocks, and column blocks with `..=`, scalar-valued.
                pub mod blocks {
                    use super::*;
                    #[differentiable]
                    pub fn f(m: &Matrix<$T>) -> $T {
                        let r = m.rows();
                        let c = m.cols();
                        let shifted = m.slice_rows(1..r) * m.slice_rows(0..r - 1);
                        let last = m.slice_cols(c - 1..c);
                        shifted.sum() + m.slice_cols(0..=c - 1).tanh().sum() * last.sum()
                    }
                }
                pub mod gather {
                    use super::*;
                    #[differentiable]
                    pub fn f(m: &Matrix<$T>, labels: &[usize]) -> Vector<$T> {
                        m.gather(labels)
                    }
                }
                /// Cross-entropy with labels written out in the body (3 rows).
                pub mod gather_literal {
                    use super::*;
                    #[differentiable]
                    pub fn f(z: &Matrix<$T>) -> $T {
                        -z.log_softmax().gather(&[2, 0, 1]).mean()
                    }
                }
                /// `labels[i]` as an index: of a vector, and of a matrix's columns in a loop.
                pub mod label_index {
                    use super::*;
                    #[differentiable]
                    pub fn f(z: &Matrix<$T>, w: &Vector<$T>, labels: &[usize]) -> $T {
                        let mut total = w[labels[0]] * w[labels[0]];
                        for r in 0..z.rows() {
                            total += z[(r, labels[r])] * w[r];
                        }
                        total
                    }
                }

                // Joins.

                /// Scalars, entries and a scalar function joined into a vector.
                pub mod from_vec {
                    use super::*;
                    #[differentiable]
                    pub fn f(a: $T, b: $T, x: &Vector<$T>) -> Vector<$T> {
                        Vector::from_vec(vec![a, a * b, x[0], b.sin(), x[x.len() - 1] * a])
                    }
                }
                /// `u` twice: its pullback is the sum of both pieces.
                pub mod concat {
                    use super::*;
                    #[differentiable]
                    pub fn f(u: &Vector<$T>, v: &Vector<$T>) -> Vector<$T> {
                        u.concat(v).concat(u)
                    }
                }
                pub mod vstack {
                    use super::*;
                    #[differentiable]
                    pub fn f(a: &Matrix<$T>, b: &Matrix<$T>) -> Matrix<$T> {
                        a.vstack(b)
                    }
                }
                pub mod hstack {
                    use super::*;
                    #[differentiable]
                    pub fn f(a: &Matrix<$T>, b: &Matrix<$T>) -> Matrix<$T> {
                        a.hstack(b)
                    }
                }
/// Both stacks of computed blocks, scalar-valued; `tall` moved into `*` while its
                /// pullback still reads where its blocks meet (from the shape it keeps).
                pub mod stacks {
                    use super::*;
                    #[differentiable]
                    pub fn f(a: &Matrix<$T>, s: $T) -> $T {
                        let scaled = a * s;
                        let wide = a.hstack(&scaled);
                        let tall = wide.vstack(&wide.sin());
                        tall.powi(2).sum() * s + tall.tanh().mean() + (tall * 0.5).mean()
                    }
                }
                /// A join moved into an operator: its pullback reads `u.len()` of a value that
                /// is gone, from the shape it keeps.
                pub mod concat_moved {
                    use super::*;
                    #[differentiable]
                    pub fn f(u: &Vector<$T>, v: &Vector<$T>) -> Vector<$T> {
                        u.concat(v) * 2.0 + v.concat(u).sin()
                    }
                }

                // Broadcasting a vector over the rows of a matrix.

                broadcast_vector_op!($T, add, +);
                broadcast_vector_op!($T, sub, -);
                broadcast_vector_op!($T, mul, *);
                broadcast_vector_op!($T, div, /);
                /// Every ownership combination: `x * b`, `&p + b·3`, `b / &q`, `r - b`.
                pub mod broadcast_forms {
                    use super::*;
                    #[differentiable]
                    pub fn f(x: &Matrix<$T>, b: &Vector<$T>) -> Matrix<$T> {
                        let p = x * b;
                        let q = &p + b * 3.0;
                        let r = b / &q;
                        r - b
                    }
                }
                /// Owned operands on both sides.
                pub mod broadcast_owned {
                    use super::*;
                    #[differentiable]
                    pub fn f(x: Matrix<$T>, b: Vector<$T>) -> Matrix<$T> {
                        let y = x / &b;
                        let z = b.clone() - y;
                        z * b
                    }
                }

                // Reductions.

                pub mod max_v {
                    use super::*;
                    #[differentiable]
                    pub fn f(x: &Vector<$T>) -> $T {
                        x.max()
                    }
                }
                pub mod min_v {
                    use super::*;
                    #[differentiable]
                    pub fn f(x: &Vector<$T>) -> $T {
                        x.min()
                    }
                }
                pub mod max_m {
                    use super::*;
                    #[differentiable]
                    pub fn f(m: &Matrix<$T>) -> $T {
                        m.max()
                    }
                }
                pub mod min_m {
                    use super::*;
                    #[differentiable]
                    pub fn f(m: &Matrix<$T>) -> $T {
                        m.min()
                    }
                }
                /// Extremes of expressions, multiplied: second derivatives across them.
                pub mod extremes {
                    use super::*;
                    #[differentiable]
                    pub fn f(x: &Vector<$T>, m: &Matrix<$T>) -> $T {
                        (x * 2.0).max() * x.min() + m.max() * m.max() - m.min().sin()
                    }
                }
                pub mod mean_axis0 {
                    use super::*;
                    #[differentiable]
                    pub fn f(m: &Matrix<$T>) -> Matrix<$T> {
                        m.mean_axis(0)
                    }
                }
                pub mod mean_axis1 {
                    use super::*;
                    #[differentiable]
                    pub fn f(m: &Matrix<$T>) -> Matrix<$T> {
                        m.mean_axis(1)
                    }
                }
                /// `len()`, `rows()` and `cols()` as float constants.
                pub mod counts {
                    use super::*;
                    #[differentiable]
                    pub fn f(x: &Vector<$T>, m: &Matrix<$T>) -> $T {
                        let n = x.len() as $T;
                        x.sum() / n + m.sum() * m.rows() as $T - x.dot(x) * (m.cols() as $T)
                    }
                }

                // Linear algebra.

                pub mod trace {
                    use super::*;
                    #[differentiable]
                    pub fn f(m: &Matrix<$T>) -> $T {
                        m.trace()
                    }
                }
                /// tr(A·B) of an r×c and a c×r matrix.
                pub mod trace_product {
                    use super::*;
                    #[differentiable]
                    pub fn f(a: &Matrix<$T>, b: &Matrix<$T>) -> $T {
                        a.matmul(b).trace()
                    }
                }
/// `trace` beside other uses of its matrix: `tr(M)·I` meets the other adjoints of `M`
                /// (an add to the diagonal, also under forward mode for the Hessian).
                pub mod trace_shared {
                    use super::*;
                    #[differentiable]
                    pub fn f(m: &Matrix<$T>) -> $T {
                        m.trace() * m.sum() + (m * m.trace()).powi(2).mean()
                    }
                }
                pub mod trace_scaled {
                    use super::*;
                    #[differentiable]
                    pub fn f(m: &Matrix<$T>) -> Matrix<$T> {
                        m * m.trace()
                    }
                }
                /// u·vᵀ as the contract spells it, `u.outer(&v)`, and of an owned vector.
                pub mod outer {
                    use super::*;
                    #[differentiable]
                    pub fn f(u: &Vector<$T>, v: Vector<$T>) -> Matrix<$T> {
                        u.outer(&v) + u.clone().outer(&(&v * 2.0))
                    }
                }
                pub mod inverse {
                    use super::*;
                    #[differentiable]
                    pub fn f(m: &Matrix<$T>) -> Matrix<$T> {
                        m.inverse()
                    }
                }
                /// A scalar of the inverse, for its Hessian.
                pub mod inverse_sum {
                    use super::*;
                    #[differentiable]
                    pub fn f(m: &Matrix<$T>, w: &Matrix<$T>) -> $T {
                        (m.inverse() * w).sum()
                    }
                }
                pub mod det {
                    use super::*;
                    #[differentiable]
                    pub fn f(m: &Matrix<$T>) -> $T {
                        m.det()
                    }
                }
                pub mod logdet {
                    use super::*;
                    #[differentiable]
                    pub fn f(m: &Matrix<$T>) -> $T {
                        m.logdet()
                    }
                }
                /// As the contract spells it, `m.solve(&b)`, of an owned `b`.
                pub mod solve_v {
                    use super::*;
                    #[differentiable]
                    pub fn f(m: &Matrix<$T>, b: Vector<$T>) -> Vector<$T> {
                        m.solve(&b)
                    }
                }
                pub mod solve_m {
                    use super::*;
                    #[differentiable]
                    pub fn f(a: &Matrix<$T>, b: &Matrix<$T>) -> Matrix<$T> {
                        a.solve(b)
                    }
                }
                /// bᵀ·A⁻¹·b, for the Hessian of `solve` in both arguments.
                pub mod solve_quadratic {
                    use super::*;
                    #[differentiable]
                    pub fn f(a: &Matrix<$T>, b: &Vector<$T>) -> $T {
                        a.solve(b).dot(b)
                    }
                }
                pub mod norm_v {
                    use super::*;
                    #[differentiable]
                    pub fn f(x: &Vector<$T>) -> $T {
                        x.norm()
                    }
                }
                /// The Frobenius norm.
                pub mod norm_m {
                    use super::*;
                    #[differentiable]
                    pub fn f(m: &Matrix<$T>) -> $T {
                        m.norm()
                    }
                }
                /// Norms times sums: one-entry tensors too (see `norms`).
                pub mod norm_product {
                    use super::*;
                    #[differentiable]
                    pub fn f(x: &Vector<$T>, m: &Matrix<$T>) -> $T {
                        x.norm() * x.sum() + m.norm() * m.mean()
                    }
                }
                pub mod diag {
                    use super::*;
                    #[differentiable]
                    pub fn f(x: &Vector<$T>) -> Matrix<$T> {
                        x.diag()
                    }
                }
                /// Square or rectangular: the first `min(r, c)` diagonal entries.
                pub mod diagonal {
                    use super::*;
                    #[differentiable]
                    pub fn f(m: &Matrix<$T>) -> Vector<$T> {
                        m.diagonal()
                    }
                }
                /// All of them on `A + diag(x)`, scalar-valued.
                pub mod linalg_composed {
                    use super::*;
                    #[differentiable]
                    pub fn f(a: &Matrix<$T>, x: &Vector<$T>) -> $T {
                        let m = a + x.diag();
                        let y = m.solve(x);
                        m.inverse().diagonal().dot(x) + m.det() * 0.1 + m.logdet()
                            - (y + 1.0).norm() * m.norm()
                            + m.trace() * 0.3
                    }
                }

                /// `n·I` plus entries in `[−0.5, 0.5)`: diagonally dominant (each row's
                /// off-diagonal entries sum to less than `(n − 1)/2 < n − 0.5`), so its
                /// eigenvalues have positive real parts, its determinant is positive and its
                /// condition number small.
                fn well_conditioned(rng: &mut Rng, n: usize) -> Matrix<$T> {
                    let mut m = rng.matrix::<$T>(n, n, Dist::Uniform(-0.5, 0.5));
                    for i in 0..n {
                        m[(i, i)] += n as $T;
                    }
                    m
                }

                /// Whether the largest and the smallest entry are each unique by a margin of
                /// 0.2, far beyond the finite differences' reach (`2h ≤ 4e-3` here).
                fn separated(x: &[$T]) -> bool {
                    let mut s: Vec<f64> = x.iter().map(|&v| v.into()).collect();
                    s.sort_by(f64::total_cmp);
                    let n = s.len();
                    n < 2 || (s[1] - s[0] > 0.2 && s[n - 1] - s[n - 2] > 0.2)
                }

                fn separated_vector(rng: &mut Rng, n: usize) -> Vector<$T> {
                    loop {
                        let x = rng.vector::<$T>(n, U);
                        if separated(x.as_slice()) {
                            return x;
                        }
                    }
                }

                fn separated_matrix(rng: &mut Rng, r: usize, c: usize) -> Matrix<$T> {
                    loop {
                        let m = rng.matrix::<$T>(r, c, U);
                        if separated(m.as_slice()) {
                            return m;
                        }
                    }
                }

                #[test]
                fn entries_of_vectors_and_matrices() {
                    let mut rng = Rng::new(line!().into());
                    for (n, i) in [(1, 0usize), (3, 0), (3, 2), (5, 3)] {
                        let x = rng.vector::<$T>(n, U);
                        check_grad!(entry; x: v, i: c);
                    }
                    let cases = [(1, 1, 0usize, 0usize), (2, 3, 1, 2), (3, 2, 0, 1), (4, 4, 3, 0)];
                    for (r, c, i, j) in cases {
                        let m = rng.matrix::<$T>(r, c, U);
                        check_grad!(element; m: m, i: c, j: c);
                    }
                }

                #[test]
                fn slices_of_a_vector() {
                    let mut rng = Rng::new(line!().into());
                    // The whole vector, a middle part, one entry and an empty part.
                    for (n, a, b) in [(4, 0usize, 4usize), (5, 1, 4), (3, 2, 3), (3, 1, 1)] {
                        let x = rng.vector::<$T>(n, U);
                        check_vjp!(slice; u = rng.vector::<$T>(b - a, U); x: v, a: c, b: c);
                    }
                    for (n, a) in [(1, 0usize), (4, 1), (5, 3)] {
                        let x = rng.vector::<$T>(n, U);
                        check_vjp!(slice_inclusive; u = rng.vector::<$T>(n - a, U); x: v, a: c);
                    }
                }

                #[test]
                fn rows_and_columns() {
                    let mut rng = Rng::new(line!().into());
                    for (r, c) in SHAPES {
                        let m = rng.matrix::<$T>(r, c, U);
                        let (i, j) = (r - 1, c / 2);
                        check_vjp!(row; u = rng.vector::<$T>(c, U); m: m, i: c);
                        check_vjp!(col; u = rng.vector::<$T>(r, U); m: m, j: c);
                    }
                    for (n, i) in [(1, 0usize), (3, 1), (4, 3)] {
                        let m = rng.matrix::<$T>(n, n, U);
                        check_grad!(row_col; m: m, i: c);
                    }
                }

                #[test]
                fn row_and_column_blocks() {
                    let mut rng = Rng::new(line!().into());
                    // The last case takes no rows and no columns.
                    let cases = [(4, 3, 1usize, 3usize), (3, 2, 0, 3), (2, 5, 1, 2), (3, 3, 2, 2)];
                    for (r, c, a, b) in cases {
                        let m = rng.matrix::<$T>(r, c, U);
                        check_vjp!(slice_rows; u = rng.matrix::<$T>(b - a, c, U); m: m, a: c, b: c);
                        let (a, b) = (a.min(c), b.min(c));
                        check_vjp!(slice_cols; u = rng.matrix::<$T>(r, b - a, U); m: m, a: c, b: c);
                    }
                    for (r, c) in [(2, 1), (3, 4), (4, 2)] {
                        let m = rng.matrix::<$T>(r, c, U);
                        check_grad!(blocks; m: m);
                    }
                }

                #[test]
                fn gather_and_labels() {
                    let mut rng = Rng::new(line!().into());
                    let cases: [(usize, &[usize]); 4] =
                        [(4, &[0]), (3, &[2, 0, 1, 1]), (1, &[0, 0]), (5, &[2, 4, 0])];
                    for (c, labels) in cases {
                        let r = labels.len();
                        let m = rng.matrix::<$T>(r, c, U);
                        check_vjp!(gather; u = rng.vector::<$T>(r, U); m: m, labels: c);
                        let w = rng.vector::<$T>(r, U);
                        check_grad!(label_index; m: m, w: v, labels: c);
                    }
                    for c in [3, 4] {
                        let z = rng.matrix::<$T>(3, c, U);
                        check_grad!(gather_literal; z: m);
                    }
                }

                #[test]
                fn joins() {
                    let mut rng = Rng::new(line!().into());
                    for n in LENS {
                        let a: $T = rng.scalar(U);
                        let b: $T = rng.scalar(U);
                        let x = rng.vector::<$T>(n, U);
                        check_vjp!(from_vec; u = rng.vector::<$T>(5, U); a: s, b: s, x: v);
                    }
                    for (nu, nv) in [(1, 1), (3, 2), (2, 5), (0, 3)] {
                        let u = rng.vector::<$T>(nu, U);
                        let v = rng.vector::<$T>(nv, U);
                        check_vjp!(concat; u = rng.vector::<$T>(2 * nu + nv, U); u: v, v: v);
                        check_vjp!(concat_moved; u = rng.vector::<$T>(nu + nv, U); u: v, v: v);
                    }
                    for (ra, rb, c) in [(1, 1, 1), (2, 3, 4), (3, 1, 2)] {
                        let a = rng.matrix::<$T>(ra, c, U);
                        let b = rng.matrix::<$T>(rb, c, U);
                        check_vjp!(vstack; u = rng.matrix::<$T>(ra + rb, c, U); a: m, b: m);
                        let a = rng.matrix::<$T>(c, ra, U);
                        let b = rng.matrix::<$T>(c, rb, U);
                        check_vjp!(hstack; u = rng.matrix::<$T>(c, ra + rb, U); a: m, b: m);
                    }
                    for (r, c) in SHAPES {
                        let a = rng.matrix::<$T>(r, c, U);
                        let s: $T = rng.scalar(AWAY);
                        check_grad!(stacks; a: m, s: s);
                    }
                }

                #[test]
                fn a_vector_applies_to_every_row() {
                    let mut rng = Rng::new(line!().into());
                    for (r, c) in [(3, 4), (1, 4), (4, 1), (2, 2), (1, 1)] {
                        let x = rng.matrix::<$T>(r, c, AWAY);
                        let b = rng.vector::<$T>(c, AWAY);
                        check_vjp!(add::mv; u = rng.matrix::<$T>(r, c, U); x: m, b: v);
                        check_vjp!(add::vm; u = rng.matrix::<$T>(r, c, U); b: v, x: m);
                        check_vjp!(sub::mv; u = rng.matrix::<$T>(r, c, U); x: m, b: v);
                        check_vjp!(sub::vm; u = rng.matrix::<$T>(r, c, U); b: v, x: m);
                        check_vjp!(mul::mv; u = rng.matrix::<$T>(r, c, U); x: m, b: v);
                        check_vjp!(mul::vm; u = rng.matrix::<$T>(r, c, U); b: v, x: m);
                        check_vjp!(div::mv; u = rng.matrix::<$T>(r, c, U); x: m, b: v);
                        check_vjp!(div::vm; u = rng.matrix::<$T>(r, c, U); b: v, x: m);
                        // `x + 3` (the denominator of `broadcast_forms`) is in [1.5, 4.5].
                        check_vjp!(broadcast_forms; u = rng.matrix::<$T>(r, c, U); x: m, b: v);
                        check_vjp!(broadcast_owned; u = rng.matrix::<$T>(r, c, U); x: M, b: V);
                    }
                }

                #[test]
                fn largest_and_smallest_entries() {
                    let mut rng = Rng::new(line!().into());
                    for n in [1, 2, 5, 8] {
                        let x = separated_vector(&mut rng, n);
                        check_grad!(max_v; x: v);
                        check_grad!(min_v; x: v);
                    }
                    for (r, c) in SHAPES {
                        let m = separated_matrix(&mut rng, r, c);
                        check_grad!(max_m; m: m);
                        check_grad!(min_m; m: m);
                        let x = separated_vector(&mut rng, c);
                        check_grad!(extremes; x: v, m: m);
                    }
                }

                #[test]
                fn axis_means_and_counts() {
                    let mut rng = Rng::new(line!().into());
                    for (r, c) in SHAPES {
                        let m = rng.matrix::<$T>(r, c, U);
                        check_vjp!(mean_axis0; u = rng.matrix::<$T>(1, c, U); m: m);
                        check_vjp!(mean_axis1; u = rng.matrix::<$T>(r, 1, U); m: m);
                        let x = rng.vector::<$T>(c + 1, U);
                        check_grad!(counts; x: v, m: m);
                    }
                }

                #[test]
                fn traces() {
                    let mut rng = Rng::new(line!().into());
                    for n in [1, 2, 4] {
                        let m = rng.matrix::<$T>(n, n, U);
                        check_grad!(trace; m: m);
                    }
                    for (r, c) in [(2, 3), (1, 4), (3, 3)] {
                        let a = rng.matrix::<$T>(r, c, U);
                        let b = rng.matrix::<$T>(c, r, U);
                        check_grad!(trace_product; a: m, b: m);
                    }
                    for n in [1, 2, 3] {
                        let m = rng.matrix::<$T>(n, n, U);
                        check_grad!(trace_shared; m: m);
                        check_vjp!(trace_scaled; u = rng.matrix::<$T>(n, n, U); m: m);
                    }
                }

                #[test]
                fn outer_products() {
                    let mut rng = Rng::new(line!().into());
                    for (nu, nv) in [(1, 1), (3, 2), (2, 5)] {
                        let u = rng.vector::<$T>(nu, U);
                        let v = rng.vector::<$T>(nv, U);
                        check_vjp!(outer; u = rng.matrix::<$T>(nu, nv, U); u: v, v: V);
                    }
                }

                #[test]
                fn inverses_and_determinants() {
                    let mut rng = Rng::new(line!().into());
                    for n in [1, 2, 3] {
                        let m = well_conditioned(&mut rng, n);
                        check_vjp!(inverse; u = rng.matrix::<$T>(n, n, U); m: m);
                        let w = rng.matrix::<$T>(n, n, U);
                        check_grad!(inverse_sum; m: m, w: m);
                        // The determinant of a 1×1 matrix is its entry, whose Hessian is 0;
                        // det's second-order rule (det·(tr(X⁻¹Ẋ)·X⁻ᵀ − X⁻ᵀẊᵀX⁻ᵀ)) gives 0 only up
                        // to rounding there, in different roundings for `f_hessian` and `f_hvp`,
                        // and the Hessian check's bound scales with |H|. So from 2×2 up.
                        if n > 1 {
                            check_grad!(det; m: m);
                        }
                        check_grad!(logdet; m: m);
                        // A negative determinant (the first row negated): the same gradient
                        // of ln |det|, and det's sign flips through its rule.
                        let mut flipped = m.clone();
                        for j in 0..n {
                            flipped[(0, j)] = -flipped[(0, j)];
                        }
                        assert!(flipped.det() < 0.0, "precondition: det < 0");
                        check_grad!(logdet; flipped: m);
                        if n > 1 {
                            check_grad!(det; flipped: m);
                        }
                    }
                }

                #[test]
                fn solves() {
                    let mut rng = Rng::new(line!().into());
                    for n in [1, 2, 3] {
                        let a = well_conditioned(&mut rng, n);
                        let b = rng.vector::<$T>(n, U);
                        check_vjp!(solve_v; u = rng.vector::<$T>(n, U); a: m, b: V);
                        check_grad!(solve_quadratic; a: m, b: v);
                        for k in [1, 3] {
                            let b = rng.matrix::<$T>(n, k, U);
                            check_vjp!(solve_m; u = rng.matrix::<$T>(n, k, U); a: m, b: m);
                        }
                    }
                }

                #[test]
                fn norms() {
                    let mut rng = Rng::new(line!().into());
                    // Not of one entry alone: ‖x‖ = |x| has the Hessian 0 exactly, which
                    // `f_hessian` gives, while `f_hvp`'s (v − x̂·x̂ᵀv)/‖x‖ rounds to ±ε, and the
                    // Hessian check's bound scales with |H|. `norm_product` covers one entry.
                    for n in [2, 3, 5] {
                        let x = rng.vector::<$T>(n, AWAY);
                        check_grad!(norm_v; x: v);
                    }
                    for (r, c) in [(2, 3), (1, 4), (4, 1), (3, 3)] {
                        let m = rng.matrix::<$T>(r, c, AWAY);
                        check_grad!(norm_m; m: m);
                    }
                    for ((r, c), n) in SHAPES.into_iter().zip([1, 1, 3, 2, 5]) {
                        let x = rng.vector::<$T>(n, AWAY);
                        let m = rng.matrix::<$T>(r, c, AWAY);
                        check_grad!(norm_product; x: v, m: m);
                    }
                }

                #[test]
                fn diagonals() {
                    let mut rng = Rng::new(line!().into());
                    for n in LENS {
                        let x = rng.vector::<$T>(n, U);
                        check_vjp!(diag; u = rng.matrix::<$T>(n, n, U); x: v);
                    }
                    for (r, c) in [(3, 3), (2, 4), (4, 2), (1, 1), (1, 3)] {
                        let m = rng.matrix::<$T>(r, c, U);
                        check_vjp!(diagonal; u = rng.vector::<$T>(r.min(c), U); m: m);
                    }
                }

                #[test]
                fn linear_algebra_composed() {
                    let mut rng = Rng::new(line!().into());
                    for n in [1, 2, 3] {
                        let a = well_conditioned(&mut rng, n);
                        // `m = a + diag(x)` stays diagonally dominant: each row's diagonal
                        // exceeds its off-diagonal sum by more than 0.5·n − 0.1, so
                        // |yᵢ| < 0.1 / 0.4 for y = m⁻¹·x, and `y + 1` stays far from 0, where
                        // the norm has its kink.
                        let x = rng.vector::<$T>(n, Dist::Uniform(-0.1, 0.1));
                        check_grad!(linalg_composed; a: m, x: v);
                    }
                }
            }

            // ─────────── whole models ───────────

            pub mod models {
                use super::*;
                /// The two-layer perceptron of the snapshot tests.
                pub mod mlp {
                    use super::*;
                    #[differentiable(wrt(w1, b1, w2, b2))]
                    pub fn f(
                        x: &Matrix<$T>,
                        w1: &Matrix<$T>,
                        b1: &Matrix<$T>,
                        w2: &Matrix<$T>,
                        b2: &Matrix<$T>,
                        y: &Matrix<$T>,
                    ) -> $T {
                        let z1 = x.matmul(w1) + b1;
                        let h = z1.relu();
                        let z2 = h.matmul(w2) + b2;
                        let lp = z2.log_softmax();
                        let row_loss = -(y * &lp).sum_axis(1);
                        let loss = row_loss.mean();
                        loss
                    }
                }
                /// Logistic regression with an L2 penalty, vector weights.
                pub mod logistic {
                    use super::*;
                    #[differentiable]
                    pub fn f(x: &Matrix<$T>, w: &Vector<$T>, b: $T, t: &Vector<$T>) -> $T {
                        // ln σ(z) and ln(1 − σ(z)) = ln σ(−z), in the stable form (spelled
                        // out, `ln(σ(z))` is computed so too, but f's own value is not, so
                        // the two would differ by rounding: see tests/numerics.rs).
                        let z = x.matmul(w) + b;
                        let nll = -(t * z.log_sigmoid() + (1.0 - t) * (-&z).log_sigmoid()).mean();
                        nll + 0.01 * w.dot(w)
                    }
                }
            }

            #[test]
            fn mlp_loss() {
                let mut rng = Rng::new(line!().into());
                let (n, d, h, k) = (4, 3, 5, 3);
                let mut done = 0;
                while done < 3 {
                    let x = rng.matrix::<$T>(n, d, U);
                    let w1 = rng.matrix::<$T>(d, h, U);
                    let b1 = rng.matrix::<$T>(1, h, U);
                    let w2 = rng.matrix::<$T>(h, k, U);
                    let b2 = rng.matrix::<$T>(1, k, U);
                    let y = Matrix::<$T>::from_vec(
                        n,
                        k,
                        (0..n * k).map(|e| if (e / k + e % k) % k == 0 { 1.0 } else { 0.0 }).collect(),
                    );
                    // Finite differences are only valid away from relu's kink.
                    let z1 = x.matmul(&w1) + &b1;
                    if z1.as_slice().iter().any(|z| z.abs() < 0.05) {
                        continue;
                    }
                    check_grad!(models::mlp; x: cm, w1: m, b1: m, w2: m, b2: m, y: cm);
                    done += 1;
                }
            }

            #[test]
            fn logistic_regression() {
                let mut rng = Rng::new(line!().into());
                for n in [1, 4] {
                    let x = rng.matrix::<$T>(n, 3, U);
                    let w = rng.vector::<$T>(3, U);
                    let b: $T = rng.scalar(U);
                    let t = rng.vector::<$T>(n, common::Dist::Uniform(0.0, 1.0));
                    check_grad!(models::logistic; x: m, w: v, b: s, t: v);
                }
            }

            // ─────────── the generated items' exact types ───────────

            #[test]
            fn generated_items_are_plain_functions() {
                let _: fn(&Matrix<$T>, &Matrix<$T>) -> Matrix<$T> = add::mm::f;
                let _: fn(&Matrix<$T>, &Matrix<$T>, &Matrix<$T>) -> (Matrix<$T>, (Matrix<$T>, Matrix<$T>)) =
                    add::mm::f_vjp;
                let _: fn($T, &Vector<$T>, &Vector<$T>) -> (Vector<$T>, ($T, Vector<$T>)) = mul::sv::f_vjp;
                let _: fn($T, $T) -> ($T, ($T, $T)) = div::ss::f_grad;
                let _: fn($T, $T, $T) -> ($T, ($T, $T)) = div::ss::f_vjp;
                let _: fn(Matrix<$T>, Matrix<$T>, &Matrix<$T>) -> (Matrix<$T>, (Matrix<$T>, Matrix<$T>)) =
                    matmul::owned::f_vjp;
                let _: fn(&Vector<$T>) -> ($T, Vector<$T>) = reduce::sum_v::f_grad;
                let _: fn(&Matrix<$T>, usize, bool, &[usize]) -> ($T, Matrix<$T>) = wrt::constants::f_grad;
                let _: fn() -> &'static str = matmul::mm::f_derivation;
                // f_jvp: every parameter, then a tangent per wrt parameter (tensors by reference,
                // also for owned parameters; scalars by value); the result type twice.
                let _: fn(&Matrix<$T>, &Matrix<$T>, &Matrix<$T>, &Matrix<$T>) -> (Matrix<$T>, Matrix<$T>) =
                    add::mm::f_jvp;
                let _: fn($T, &Vector<$T>, $T, &Vector<$T>) -> (Vector<$T>, Vector<$T>) = mul::sv::f_jvp;
                let _: fn($T, $T, $T, $T) -> ($T, $T) = div::ss::f_jvp;
                let _: fn(Matrix<$T>, Matrix<$T>, &Matrix<$T>, &Matrix<$T>) -> (Matrix<$T>, Matrix<$T>) =
                    matmul::owned::f_jvp;
                let _: fn(Matrix<$T>, Vector<$T>, &Matrix<$T>, &Vector<$T>) -> (Vector<$T>, Vector<$T>) =
                    matmul::owned_mv::f_jvp;
                let _: fn(&Vector<$T>, &Vector<$T>) -> ($T, $T) = reduce::sum_v::f_jvp;
                let _: fn(&Matrix<$T>, usize, bool, &[usize], &Matrix<$T>) -> ($T, $T) =
                    wrt::constants::f_jvp;
                let _: fn(usize, $T, &Vector<$T>, &Matrix<$T>, $T, &Vector<$T>, &Matrix<$T>) -> ($T, $T) =
                    wrt::constant_first::f_jvp;
                // wrt subsets: tangents only for the wrt set, in signature order.
                let _: fn(&Matrix<$T>, &Matrix<$T>, &Matrix<$T>, &Matrix<$T>) -> ($T, $T) = wrt::one::f_jvp;
                let _: fn(&Matrix<$T>, &Matrix<$T>, &Matrix<$T>, &Matrix<$T>, &Matrix<$T>) -> ($T, $T) =
                    wrt::two::f_jvp;
                let _: fn($T, &Vector<$T>, $T) -> (Vector<$T>, Vector<$T>) = wrt::scalar::f_jvp;
                // f_jacobian: a Matrix per wrt parameter, bare or a tuple as the gradient.
                let _: fn(&Matrix<$T>, &Matrix<$T>) -> (Matrix<$T>, Matrix<$T>) =
                    add::mm::f_jacobian;
                let _: fn(&Vector<$T>) -> Matrix<$T> = reduce::sum_v::f_jacobian;
                let _: fn($T, $T) -> (Matrix<$T>, Matrix<$T>) = div::ss::f_jacobian;
                let _: fn(Matrix<$T>, Matrix<$T>) -> (Matrix<$T>, Matrix<$T>) =
                    matmul::owned::f_jacobian;
                let _: fn(&Matrix<$T>, &Matrix<$T>, &Matrix<$T>) -> Matrix<$T> =
                    wrt::one::f_jacobian;
                let _: fn($T, &Vector<$T>) -> Matrix<$T> = wrt::scalar::f_jacobian;
                // f_hessian: one matrix; f_hvp: the directions as f_jvp's tangents, then
                // (value, gradient, H·v).
                let _: fn($T, $T) -> Matrix<$T> = div::ss::f_hessian;
                let _: fn(Vector<$T>, Vector<$T>) -> Matrix<$T> = dot::owned::f_hessian;
                let _: fn(&Matrix<$T>, usize, bool, &[usize]) -> Matrix<$T> =
                    wrt::constants::f_hessian;
                let _: fn($T, $T, $T, $T) -> ($T, ($T, $T), ($T, $T)) = div::ss::f_hvp;
                let _: fn(&Vector<$T>, &Vector<$T>) -> ($T, Vector<$T>, Vector<$T>) =
                    reduce::sum_v::f_hvp;
                let _: fn(
                    Vector<$T>,
                    Vector<$T>,
                    &Vector<$T>,
                    &Vector<$T>,
                ) -> ($T, (Vector<$T>, Vector<$T>), (Vector<$T>, Vector<$T>)) = dot::owned::f_hvp;
                let _: fn(
                    &Matrix<$T>,
                    usize,
                    bool,
                    &[usize],
                    &Matrix<$T>,
                ) -> ($T, Matrix<$T>, Matrix<$T>) = wrt::constants::f_hvp;
            }

            #[test]
            fn derivations_are_equations() {
                for text in [
                    add::mm::f_derivation(),
                    mul::forms::f_derivation(),
                    matmul::ta::f_derivation(),
                    softmax::log_m::f_derivation(),
                    reduce::axis_broadcast::f_derivation(),
                    models::mlp::f_derivation(),
                    lang::blocks::f_derivation(),
                ] {
                    let lines: Vec<&str> = text.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
                    assert!(!lines.is_empty(), "empty derivation");
                    for line in lines {
                        let (lhs, rhs) = line
                            .split_once(" = ")
                            .unwrap_or_else(|| panic!("not an equation: {line:?} in\n{text}"));
                        assert!(
                            !lhs.is_empty() && !lhs.contains(' ') && !rhs.trim().is_empty(),
                            "{line:?} in\n{text}"
                        );
                    }
                }
            }
        }
    };
}

op_tests!(f32_ops, f32, f64_ops);
op_tests!(f64_ops, f64, f64_ops);

/// Raw identifiers (keywords as names) work: the adjoint of `r#in` is `din`.
mod raw_identifiers {
    use super::*;

    #[differentiable]
    pub fn f(r#in: &Matrix<f64>) -> f64 {
        let r#type = r#in * 2.0;
        r#type.sum()
    }

    #[test]
    fn raw_identifiers_work() {
        let x = Matrix::from_vec(1, 2, vec![1.0, 2.0]);
        assert_eq!(f_grad(&x), (6.0, Matrix::from_vec(1, 2, vec![2.0, 2.0])));
        let v = Matrix::from_vec(1, 2, vec![0.5, -1.5]);
        assert_eq!(f_jvp(&x, &v), (6.0, -2.0));
    }
}

/// Literal arithmetic happens in the function's float type: in `f32`, `1e8 + 1.0` is `1e8`
/// (the spacing of `f32` near 1e8 is 8), so `(big + 1.0 - big) * x` is `0·x` with `big = 1e8`.
mod f32_literal_arithmetic {
    use super::*;

    #[differentiable]
    pub fn f(x: f32) -> f32 {
        let big = 1e8;
        (big + 1.0 - big) * x
    }

    #[test]
    fn folded_in_f32() {
        let x = 3.0f32;
        assert_eq!(f(x), 0.0, "precondition: rustc computes the literal in f32");
        let (value, dx) = f_grad(x);
        assert_eq!(value, f(x), "f_grad's value differs from f's");
        assert_eq!(dx, 0.0, "d/dx of 0·x");
        assert_eq!(f_jvp(x, 1.0), (0.0, 0.0), "f_jvp of 0·x along 1");
    }
}
