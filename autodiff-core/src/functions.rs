//! The elementwise functions of the language, one row each.
//!
//! A row states a function once: its method name, where `f32`/`f64` get the method (`std`, or
//! `ext` for [`ScalarExt`](crate::ScalarExt)), its value on a scalar `x`, its pullback
//! `d ⊙ f'(·)` on a scalar upstream `d` and what `f'` reads (the `input` `x` or the `output`
//! `y`: `tanh' = 1 − y²` reuses the forward result), the pullback in the derivation notation,
//! `p ⊙ f''(a)` built as IR for second derivatives (`a` being what `f'` reads; applied to `p`
//! rather than formed alone, so it stays finite where `f''` would overflow), and the inputs
//! where it is smooth, for the tests.
//!
//! Everything else comes from the rows: the engine's `UnaryFn` and its rules, the runtime's
//! methods on `Matrix`, `Vector` and the scalars, its fused pullback kernels, the interpreter,
//! the methods the macro accepts, and the op-table tests. `__elementwise_functions!(callback,
//! extra...)` hands the rows to `callback!` after `[extra...]`.
//!
//! In a row, `T` is the float type; `cx` (a `DeriveCx`) builds the IR of the second derivative; printing closures take the printed
//! upstream, the printed argument and the product sign (`⊙` or `·`).

/// The rows; see the module documentation.
#[doc(hidden)]
#[macro_export]
macro_rules! __elementwise_functions {
    ($callback:path $(, $extra:tt)*) => {
        $callback! { [$($extra)*]
            /// `eˣ`; derivative `y`.
            Exp exp std {
                value: |x| x.exp();
                pullback: output |d, y| d * y;
                print: |dy, y, t| times(dy, t, y.at(Prec::Atom));
                second: |_cx, _a, p| Ok(Some(p));
                domain: Uniform(-2.0, 2.0);
            }
            /// Natural logarithm; derivative `1/x`.
            Ln ln std {
                value: |x| x.ln();
                pullback: input |d, x| d / x;
                print: |dy, x, _t| over(dy, x.at(Prec::Atom));
                second: |cx, a, p| { let q = cx.div(p, a)?; let q = cx.div(q, a)?; cx.neg(q).map(Some) };
                domain: Uniform(0.5, 3.0);
            }
            /// `√x`; derivative `1/(2y)`.
            Sqrt sqrt std {
                value: |x| x.sqrt();
                pullback: output |d, y| d / (y + y);
                print: |dy, y, _t| over(dy, format!("(2·{})", y.at(Prec::Atom)));
                second: |cx, a, p| { let q = cx.div(p, a)?; let q = cx.div(q, a)?; let half = cx.literal(-0.5)?; cx.mul(half, q).map(Some) };
                domain: Uniform(0.5, 3.0);
            }
            /// `tanh x`; derivative `1 − y²`.
            Tanh tanh std {
                value: |x| $crate::tensor::fast_math::tanh(x);
                pullback: output |d, y| d * (T::one() - y * y);
                print: |dy, y, t| times(dy, t, format!("(1 − {}²)", y.at(Prec::Atom)));
                second: |cx, a, p| { let m2 = cx.literal(-2.0)?; let q = cx.mul(p, a)?; cx.mul(m2, q).map(Some) };
                domain: Uniform(-2.0, 2.0);
            }
            /// The logistic sigmoid `1/(1 + e⁻ˣ)`, computed without overflow for any `x`;
            /// derivative `σ(x)·σ(−x)`, from the input (`y(1 − y)` rounds to 0 once σ(x) rounds
            /// to 1), as `e/(1 + e)²` with `e = e^(−|x|)`: T::one() `exp`, no overflow, no
            /// cancellation.
            Sigmoid sigmoid ext {
                value: |x| if x >= T::zero() { T::one() / (T::one() + (-x).exp()) } else { let e = x.exp(); e / (T::one() + e) };
                pullback: input |d, x| { let e = (-x.abs()).exp(); let one_plus_e = T::one() + e; d * (e / (one_plus_e * one_plus_e)) };
                print: |dy, x, t| times(dy, t, format!("sigmoid({}){t}sigmoid(−{})", x.text, x.at(Prec::Atom)));
                second: |cx, a, p| { let s = cx.push(Unary(UnaryFn::Sigmoid), &[a])?; let minus = cx.neg(a)?; let r = cx.push(Unary(UnaryFn::Sigmoid), &[minus])?; let spread = cx.sub(r, s)?; let q = cx.mul(p, s)?; let q = cx.mul(q, r)?; cx.mul(q, spread).map(Some) };
                domain: Uniform(-4.0, 4.0);
            }
            /// `max(x, 0)`; derivative `[x > 0]` (0 at the kink).
            Relu relu ext {
                value: |x| if x > T::zero() { x } else { T::zero() };
                pullback: input |d, x| if x > T::zero() { d } else { T::zero() };
                print: |dy, x, t| times(dy, t, format!("[{} > 0]", x.text));
                second: |_cx, _a, _p| Ok(None);
                domain: AwayFromZero(0.1, 2.0);
            }
            /// `|x|`; derivative `sign(x)` (0 at the kink).
            Abs abs std {
                value: |x| x.abs();
                pullback: input |d, x| if x > T::zero() { d } else if x < T::zero() { -d } else { T::zero() };
                print: |dy, x, t| times(dy, t, format!("sign({})", x.text));
                second: |_cx, _a, _p| Ok(None);
                domain: AwayFromZero(0.1, 2.0);
            }
            /// `sin x`; derivative `cos x`.
            Sin sin std {
                value: |x| x.sin();
                pullback: input |d, x| d * x.cos();
                print: |dy, x, t| times(dy, t, format!("cos({})", x.text));
                second: |cx, a, p| { let s = cx.push(Unary(UnaryFn::Sin), &[a])?; let q = cx.mul(p, s)?; cx.neg(q).map(Some) };
                domain: Uniform(-3.0, 3.0);
            }
            /// `cos x`; derivative `−sin x`.
            Cos cos std {
                value: |x| x.cos();
                pullback: input |d, x| -d * x.sin();
                print: |dy, x, t| Printed::new(format!("−{}{t}sin({})", dy.at(Prec::Product), x.text), Prec::Prefix);
                second: |cx, a, p| { let c = cx.push(Unary(UnaryFn::Cos), &[a])?; let q = cx.mul(p, c)?; cx.neg(q).map(Some) };
                domain: Uniform(-3.0, 3.0);
            }
            /// `atan x`; derivative `1/(1 + x²)`.
            Atan atan std {
                value: |x| x.atan();
                pullback: input |d, x| d / (T::one() + x * x);
                print: |dy, x, _t| over(dy, format!("(1 + {}²)", x.at(Prec::Atom)));
                second: |cx, a, p| { let one = cx.literal(1.0)?; let sq = cx.mul(a, a)?; let q = cx.add(one, sq)?; let r = cx.div(p, q)?; let r = cx.div(r, q)?; let r = cx.mul(a, r)?; let m2 = cx.literal(-2.0)?; cx.mul(m2, r).map(Some) };
                domain: Uniform(-3.0, 3.0);
            }
            /// `ln(1 + x)`, accurate for small `x`; derivative `1/(1 + x)`.
            Ln1p ln_1p std {
                value: |x| x.ln_1p();
                pullback: input |d, x| d / (T::one() + x);
                print: |dy, x, _t| over(dy, format!("(1 + {})", x.text));
                second: |cx, a, p| { let one = cx.literal(1.0)?; let q = cx.add(one, a)?; let r = cx.div(p, q)?; let r = cx.div(r, q)?; cx.neg(r).map(Some) };
                domain: Uniform(-0.5, 2.0);
            }
            /// `eˣ − 1`, accurate for small `x`; derivative `eˣ` (from the input: `y + 1` would
            /// cancel where `y` rounds to −1).
            ExpM1 exp_m1 std {
                value: |x| x.exp_m1();
                pullback: input |d, x| d * x.exp();
                print: |dy, x, t| times(dy, t, format!("exp({})", x.text));
                second: |cx, a, p| { let e = cx.push(Unary(UnaryFn::Exp), &[a])?; cx.mul(p, e).map(Some) };
                domain: Uniform(-2.0, 2.0);
            }
            /// `1/x`; derivative `−1/x²` (applied as `−(d/x)/x`, finite where `x²` overflows).
            Recip recip std {
                value: |x| x.recip();
                pullback: input |d, x| -(d / x) / x;
                print: |dy, x, _t| Printed::new(format!("−{} / {}²", dy.at(Prec::Product), x.at(Prec::Atom)), Prec::Prefix);
                second: |cx, a, p| { let q = cx.div(p, a)?; let q = cx.div(q, a)?; let q = cx.div(q, a)?; let two = cx.literal(2.0)?; cx.mul(two, q).map(Some) };
                domain: AwayFromZero(0.5, 1.5);
            }
            /// `tan x`; derivative `1 + y²`.
            Tan tan std {
                value: |x| x.tan();
                pullback: output |d, y| d * (T::one() + y * y);
                print: |dy, y, t| times(dy, t, format!("(1 + {}²)", y.at(Prec::Atom)));
                second: |cx, a, p| { let two = cx.literal(2.0)?; let q = cx.mul(p, a)?; cx.mul(two, q).map(Some) };
                domain: Uniform(-1.2, 1.2);
            }
            /// `sinh x`; derivative `cosh x`.
            Sinh sinh std {
                value: |x| x.sinh();
                pullback: input |d, x| d * x.cosh();
                print: |dy, x, t| times(dy, t, format!("cosh({})", x.text));
                second: |cx, a, p| { let s = cx.push(Unary(UnaryFn::Sinh), &[a])?; cx.mul(p, s).map(Some) };
                domain: Uniform(-2.0, 2.0);
            }
            /// `cosh x`; derivative `sinh x`.
            Cosh cosh std {
                value: |x| x.cosh();
                pullback: input |d, x| d * x.sinh();
                print: |dy, x, t| times(dy, t, format!("sinh({})", x.text));
                second: |cx, a, p| { let c = cx.push(Unary(UnaryFn::Cosh), &[a])?; cx.mul(p, c).map(Some) };
                domain: Uniform(-2.0, 2.0);
            }
            /// `ln(1 + eˣ)`, as `max(x, 0) + ln(1 + e^(−|x|))`: finite for every finite `x`
            /// (`e^(−|x|) ≤ 1` never overflows); derivative `σ(x)`.
            Softplus softplus ext {
                value: |x| x.max(T::zero()) + (-x.abs()).exp().ln_1p();
                pullback: input |d, x| d * x.sigmoid();
                print: |dy, x, t| times(dy, t, format!("sigmoid({})", x.text));
                second: |cx, a, p| cx.push(UnaryGrad(UnaryFn::Sigmoid), &[p, a]).map(Some);
                domain: Uniform(-4.0, 4.0);
            }
            /// `ln σ(x) = −softplus(−x)`, as `min(x, 0) − ln(1 + e^(−|x|))`: finite for every
            /// finite `x`; derivative `σ(−x)`.
            LogSigmoid log_sigmoid ext {
                value: |x| x.min(T::zero()) - (-x.abs()).exp().ln_1p();
                pullback: input |d, x| d * (-x).sigmoid();
                print: |dy, x, t| times(dy, t, format!("sigmoid(−{})", x.at(Prec::Atom)));
                second: |cx, a, p| { let q = cx.push(UnaryGrad(UnaryFn::Sigmoid), &[p, a])?; cx.neg(q).map(Some) };
                domain: Uniform(-4.0, 4.0);
            }
        }
    };
}
