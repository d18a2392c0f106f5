//! The machine the Rust benchmarks ran on, and today's date, without extra dependencies.

use std::time::{SystemTime, UNIX_EPOCH};

#[derive(Debug, Clone, PartialEq)]
pub struct Machine {
    pub cpu: String,
    pub logical_cpus: usize,
    /// The SIMD extensions GEMM and the elementwise kernels care about, and whether the CPU has them.
    pub simd: Vec<(&'static str, bool)>,
    pub rustc: String,
}

/// `/proc/cpuinfo` flag → the name a reader knows.
const SIMD_FLAGS: [(&str, &str); 3] = [("avx512f", "AVX-512F"), ("avx2", "AVX2"), ("fma", "FMA")];

/// Reads `/proc/cpuinfo` and asks `rustc` for its version unless `rustc_version` is given.
pub fn detect(rustc_version: Option<String>) -> Machine {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let mut machine = parse_cpuinfo(&cpuinfo);
    if machine.logical_cpus == 0 {
        machine.logical_cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    }
    machine.rustc = rustc_version.unwrap_or_else(rustc_version_from_path);
    machine
}

/// The model name, the processor count and the SIMD flags of the first processor.
pub fn parse_cpuinfo(cpuinfo: &str) -> Machine {
    let field = |name: &str| {
        cpuinfo.lines().find_map(|line| {
            let (key, value) = line.split_once(':')?;
            (key.trim() == name).then(|| value.trim().to_string())
        })
    };
    let flags = field("flags").unwrap_or_default();
    let has = |flag: &str| flags.split_whitespace().any(|f| f == flag);
    Machine {
        cpu: field("model name").unwrap_or_else(|| "unknown CPU".to_string()),
        logical_cpus: cpuinfo
            .lines()
            .filter(|line| line.split(':').next().map(str::trim) == Some("processor"))
            .count(),
        simd: SIMD_FLAGS
            .iter()
            .map(|(flag, name)| (*name, has(flag)))
            .collect(),
        rustc: String::new(),
    }
}

fn rustc_version_from_path() -> String {
    std::process::Command::new(std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into()))
        .arg("--version")
        .output()
        .ok()
        .filter(|out| out.status.success())
        .and_then(|out| String::from_utf8(out.stdout).ok())
        .map_or_else(|| "unknown rustc".to_string(), |v| v.trim().to_string())
}

/// `2026-11-27 15:40 UTC`.
pub fn utc_minute(time: SystemTime) -> String {
    let seconds = time
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let (year, month, day) = civil_from_days(seconds.div_euclid(86_400));
    let minute_of_day = seconds.rem_euclid(86_400) / 60;
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02} UTC",
        minute_of_day / 60,
        minute_of_day % 60
    )
}

/// Days since 1970-01-01 → (year, month, day) in the proleptic Gregorian calendar
/// (Howard Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * month_from_march + 2) / 5 + 1) as u32;
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    const CPUINFO: &str =
        "processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC 7B13\n\
        flags\t\t: fpu sse2 avx fma avx2 bmi2\n\nprocessor\t: 1\nmodel name\t: AMD EPYC 7B13\n\
        flags\t\t: fpu sse2 avx fma avx2 bmi2\n";

    #[test]
    fn reads_model_count_and_simd_flags() {
        let machine = parse_cpuinfo(CPUINFO);
        assert_eq!(machine.cpu, "AMD EPYC 7B13");
        assert_eq!(machine.logical_cpus, 2);
        assert_eq!(
            machine.simd,
            [("AVX-512F", false), ("AVX2", true), ("FMA", true)]
        );
    }

    #[test]
    fn dates_in_utc() {
        assert_eq!(utc_minute(UNIX_EPOCH), "1970-01-01 00:00 UTC");
        // 2000-02-29 12:34 UTC, a leap day in a century year.
        let leap_day = UNIX_EPOCH + Duration::from_secs(951_827_640);
        assert_eq!(utc_minute(leap_day), "2000-02-29 12:34 UTC");
        let later = UNIX_EPOCH + Duration::from_secs(1_798_386_000);
        assert_eq!(utc_minute(later), "2026-12-27 15:40 UTC");
    }
}
