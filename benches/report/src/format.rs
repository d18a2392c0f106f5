//! Numbers as a reader wants them: three significant digits, a unit that keeps them short.

/// Shown where a value was not measured.
pub const MISSING: &str = "—";

/// `x` rounded to three significant digits, written without exponent: 1.23, 12.3, 123, 1230.
pub fn sig3(x: f64) -> String {
    if !x.is_finite() {
        return MISSING.to_string();
    }
    let rounded = round_sig3(x);
    if rounded == 0.0 {
        return "0".to_string();
    }
    let magnitude = rounded.abs().log10().floor() as i32;
    let decimals = (2 - magnitude).max(0) as usize;
    format!("{rounded:.decimals$}")
}

/// Like [`sig3`] without trailing zeros, for axis ticks: 0.5, 1, 20, 150.
pub fn short(x: f64) -> String {
    let text = sig3(x);
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        text
    }
}

/// Rounds first, so 9.996 becomes 10.0 (not "10.00") and 999.6 ns becomes 1.00 µs.
fn round_sig3(x: f64) -> f64 {
    if x == 0.0 {
        return 0.0;
    }
    let scale = 10f64.powi(x.abs().log10().floor() as i32 - 2);
    (x / scale).round() * scale
}

/// A duration given in nanoseconds: `812 ns`, `1.23 µs`, `45.6 ms`, `2.00 s`.
pub fn time_ns(ns: f64) -> String {
    if !ns.is_finite() || ns < 0.0 {
        return MISSING.to_string();
    }
    let rounded = round_sig3(ns);
    let (scale, unit) = [(1e9, "s"), (1e6, "ms"), (1e3, "µs")]
        .into_iter()
        .find(|(scale, _)| rounded >= *scale)
        .unwrap_or((1.0, "ns"));
    format!("{} {unit}", sig3(rounded / scale))
}

/// A ratio: `1.02×`, `0.987×`, `12.3×`.
pub fn ratio(r: f64) -> String {
    format!("{}×", sig3(r))
}

/// A percentage given as a percentage: `97.3 %`.
pub fn percent(p: f64) -> String {
    format!("{} %", sig3(p))
}

/// Formats `value` with `show`, or [`MISSING`].
pub fn or_missing(value: Option<f64>, show: fn(f64) -> String) -> String {
    value.map_or_else(|| MISSING.to_string(), show)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn three_significant_digits() {
        assert_eq!(sig3(1.234), "1.23");
        assert_eq!(sig3(12.345), "12.3");
        assert_eq!(sig3(123.45), "123");
        assert_eq!(sig3(1234.5), "1230");
        assert_eq!(sig3(0.012345), "0.0123");
        assert_eq!(sig3(9.996), "10.0");
        assert_eq!(sig3(0.0), "0");
        assert_eq!(sig3(f64::NAN), MISSING);
        assert_eq!(short(0.5), "0.5");
        assert_eq!(short(20.0), "20");
        assert_eq!(short(1230.0), "1230");
        assert_eq!(short(0.05), "0.05");
    }

    #[test]
    fn times_pick_the_unit_that_keeps_three_digits() {
        assert_eq!(time_ns(812.4), "812 ns");
        assert_eq!(time_ns(1234.0), "1.23 µs");
        assert_eq!(time_ns(45_678.0), "45.7 µs");
        assert_eq!(time_ns(612_345.0), "612 µs");
        assert_eq!(time_ns(1.0e6), "1.00 ms");
        assert_eq!(time_ns(2.0e9), "2.00 s");
        // Rounding carries into the next unit rather than printing "1000 ns".
        assert_eq!(time_ns(999.6), "1.00 µs");
        assert_eq!(time_ns(999_700.0), "1.00 ms");
    }

    #[test]
    fn ratios_and_percentages() {
        assert_eq!(ratio(1.0149), "1.01×");
        assert_eq!(ratio(0.98765), "0.988×");
        assert_eq!(ratio(12.34), "12.3×");
        assert_eq!(percent(97.34), "97.3 %");
        assert_eq!(or_missing(None, ratio), MISSING);
        assert_eq!(or_missing(Some(2.0), ratio), "2.00×");
    }
}
