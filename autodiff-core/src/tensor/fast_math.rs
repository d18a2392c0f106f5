//! Elementwise functions written so that a loop over a tensor vectorizes: no calls and no
//! branches (both sides computed, then one selected), the exponent built with integer adds.
//!
//! Why: `tanh` from libm is a call per element. Under `perf`, the gradient of B6 (an RNN, f32)
//! spent 55 % of its time in `tanhf` and `expm1f` and 31 % in GEMM.

use super::scalar::Real;

/// `tanh` of one element, vectorizable (see the module documentation); the tensor methods and
/// kernels use it. Within 2 ulp of libm's in f64; in f32 the f64 value rounded (tested below).
#[inline(always)]
pub(crate) fn tanh<T: Real>(x: T) -> T {
    <T as super::scalar::sealed::Sealed>::tanh_elementwise(x)
}

/// tanh in f64.
#[inline(always)]
pub(crate) fn tanh_f64(x: f64) -> f64 {
    let a = x.abs();
    // |x| < 0.625: Cephes' rational approximation, x + x·z·P(z)/Q(z) with z = x².
    let z = x * x;
    let p =
        (-9.643_991_794_250_523e-1 * z - 9.928_772_310_019_186e1) * z - 1.614_687_684_417_084_5e3;
    let q = ((z + 1.128_116_784_916_329_3e2) * z + 2.235_488_390_601_004_5e3) * z
        + 4.844_063_053_251_255e3;
    // (`copysign` keeps tanh(−0) = −0.)
    let small = (x + x * z * p / q).copysign(x);
    // Otherwise 1 − 2/(e^{2|x|} + 1), with x's sign; tanh(20) already rounds to 1, so the
    // exponential's argument stays in [1.25, 40] (a NaN goes to the other side).
    let e = exp_0_to_40(2.0 * if a < 20.0 { a } else { 20.0 });
    let large = (1.0 - 2.0 / (e + 1.0)).copysign(x);
    if a >= 0.625 {
        large
    } else {
        small
    }
}

/// tanh in f32: the f64 one, rounded.
#[inline(always)]
pub(crate) fn tanh_f32(x: f32) -> f32 {
    tanh_f64(f64::from(x)) as f32
}

/// e^y for y in [0, 40]: y = k·ln 2 + r with |r| ≤ ln(2)/2, e^r by its Taylor series to r¹³
/// (truncation below 10⁻¹⁷), 2^k from its bits.
#[inline(always)]
fn exp_0_to_40(y: f64) -> f64 {
    const LOG2_E: f64 = std::f64::consts::LOG2_E;
    // ln 2 in two parts (Cody and Waite): k·LN2_HI is exact for the k here.
    const LN2_HI: f64 = 6.931_471_803_691_238e-1;
    const LN2_LO: f64 = 1.908_214_929_270_587_7e-10;
    // Adding 1.5·2⁵² rounds to an integer, which lands in the low bits of the mantissa.
    const SHIFT: f64 = 6_755_399_441_055_744.0;
    let t = y * LOG2_E + SHIFT;
    let k = t - SHIFT;
    let r = (y - k * LN2_HI) - k * LN2_LO;
    let mut p = 1.0 / 6_227_020_800.0; // 1/13!
    for factorial in [
        479_001_600.0, // 12!
        39_916_800.0,
        3_628_800.0,
        362_880.0,
        40_320.0,
        5_040.0,
        720.0,
        120.0,
        24.0,
        6.0,
        2.0,
        1.0,
        1.0, // 0!
    ] {
        p = p * r + 1.0 / factorial;
    }
    let k_bits = t.to_bits().wrapping_sub(SHIFT.to_bits());
    let two_to_k = f64::from_bits(k_bits.wrapping_add(1023) << 52);
    p * two_to_k
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Units in the last place between two finite f64 of the same sign.
    fn ulps(a: f64, b: f64) -> u64 {
        (a.to_bits() as i64 - b.to_bits() as i64).unsigned_abs()
    }

    #[test]
    fn tanh_f64_is_within_two_ulp_of_libm() {
        let mut worst = (0, 0.0);
        let mut x = -25.0;
        while x < 25.0 {
            for v in [x, x * 1e-3, x * 1e-9] {
                let (got, want) = (tanh_f64(v), v.tanh());
                let e = ulps(got, want);
                if e > worst.0 {
                    worst = (e, v);
                }
            }
            x += 0.000_731;
        }
        assert!(worst.0 <= 2, "{} ulp at x = {:e}", worst.0, worst.1);
    }

    #[test]
    fn tanh_f32_is_the_f64_value_rounded() {
        // Against libm's f64 tanh rounded, not `tanhf`, which is itself off by an ulp at times
        // (x = −0.9384537: −0.73451096, where tanh rounds to −0.734511).
        let mut x = -12.0f32;
        while x < 12.0 {
            let (got, want) = (tanh_f32(x), (f64::from(x)).tanh() as f32);
            assert!(
                (got.to_bits() as i64 - want.to_bits() as i64).abs() <= 1,
                "x = {x}: {got} vs {want}"
            );
            x += 0.000_37;
        }
    }

    #[test]
    fn tanh_keeps_the_special_values() {
        assert!(tanh_f64(f64::NAN).is_nan());
        assert!(tanh_f32(f32::NAN).is_nan());
        assert_eq!(tanh_f64(f64::INFINITY), 1.0);
        assert_eq!(tanh_f64(f64::NEG_INFINITY), -1.0);
        assert_eq!(tanh_f64(1e300), 1.0);
        assert!(tanh_f64(-0.0).is_sign_negative() && tanh_f64(-0.0) == 0.0);
        assert_eq!(tanh_f64(1e-310), 1e-310);
    }

    #[test]
    fn the_exponential_is_accurate_on_its_range() {
        let mut y = 0.0;
        while y <= 40.0 {
            let (got, want) = (exp_0_to_40(y), y.exp());
            assert!(ulps(got, want) <= 2, "y = {y}: {got:e} vs {want:e}");
            y += 0.001_3;
        }
    }
}
