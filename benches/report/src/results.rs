//! Merges criterion measurements and peer timings into cases: one case per workload × precision ×
//! size (× GEMM product), holding every Rust and peer time measured on it.
//!
//! Criterion group ids come in two shapes (see `benches/*.rs`):
//! - `workload/precision/param` with the function as parameter (`hand`, `generated`, `forward`);
//! - `workload/param` with `BenchmarkId::new(kernel, product)`, the GEMM shape: the kernel id
//!   starts with the precision (`f64`, or a per-kernel variant like `f64-matrixmultiply`) and the
//!   parameter is the product (`A·B`, `A·Bᵀ`).
//!
//! Nothing here knows a workload by name, so a new workload or kernel shows up as more rows;
//! the one exception is [`SHARED_REFERENCES`], the workloads timed against another's
//! hand-written references.

use crate::criterion::Measurement;
use crate::peers::PeersFile;
use std::collections::BTreeMap;

/// The hand-written Rust reference: every ratio in B1/B2/B4 is against it. A workload may
/// measure several ways a person writes it, `hand` and variants `hand-…` (B1, B2, B4: `hand` on
/// our runtime, `hand-mm` and `hand-gemm` on the GEMM kernel crates called directly; B3:
/// `hand-lanes`): the reference is the fastest of them in the run ([`Case::fastest_hand`]).
pub const HAND: &str = "hand";
/// The code the macro generated.
pub const GENERATED: &str = "generated";
/// B1's forward pass alone.
pub const FORWARD: &str = "forward";

/// Workloads that time only their generated code, because they compute what another workload
/// computes, as (workload, the workload whose hand-written references it shares): B2 as
/// DESIGN.md spells it, ln(1 + exp(−y ⊙ X·w)), has the stable spelling's Hessian.
pub const SHARED_REFERENCES: &[(&str, &str)] = &[("b2_literal_hessian", "b2_hessian")];

/// The workload whose hand-written references `workload` shares, if any.
pub fn shares_references_of(workload: &str) -> Option<&'static str> {
    SHARED_REFERENCES
        .iter()
        .find(|(borrower, _)| *borrower == workload)
        .map(|&(_, lender)| lender)
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct CaseKey {
    pub workload: String,
    pub precision: String,
    pub param: String,
    /// The GEMM product; `None` for the other workloads.
    pub variant: Option<String>,
}

/// A peer's time on one case, or the note saying why there is none.
#[derive(Debug, Clone, PartialEq)]
pub struct PeerTime {
    pub median_ns: Option<f64>,
    pub note: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Case {
    pub key: CaseKey,
    /// Median ns by Rust function: `hand`, `generated`, `forward`, or a GEMM kernel id.
    pub rust: BTreeMap<String, f64>,
    /// Median ns by peer tool: `jax-jit`, `pytorch-eager`, `numpy-hand`, `numpy`, ….
    pub peers: BTreeMap<String, PeerTime>,
}

impl Case {
    /// The median of `function`; for [`HAND`], of the fastest hand-written variant.
    pub fn rust_ns(&self, function: &str) -> Option<f64> {
        if function == HAND {
            return self.fastest_hand().map(|(_, ns)| ns);
        }
        self.rust.get(function).copied()
    }

    /// The fastest hand-written variant measured on this case, and its median.
    pub fn fastest_hand(&self) -> Option<(&str, f64)> {
        self.rust
            .iter()
            .filter(|(f, _)| is_hand_written(f))
            .map(|(f, &ns)| (f.as_str(), ns))
            .min_by(|a, b| a.1.total_cmp(&b.1))
    }

    pub fn peer_ns(&self, tool: &str) -> Option<f64> {
        self.peers.get(tool).and_then(|time| time.median_ns)
    }

    /// The size as a number: `B=1024` → 1024.
    pub fn size(&self) -> Option<u64> {
        param_value(&self.key.param)
    }
}

/// Whether a Rust function id is a hand-written reference: `hand` or a variant `hand-…`.
pub fn is_hand_written(function: &str) -> bool {
    function == HAND || function.starts_with("hand-")
}

/// All cases, sorted for display: by workload, then precision (f64 first), then size.
#[derive(Debug, Default)]
pub struct Results {
    pub cases: Vec<Case>,
    /// Criterion ids that fit neither shape, so the report can say what it left out.
    pub ignored: Vec<String>,
}

impl Results {
    pub fn merge(measurements: &[Measurement], peers: Option<&PeersFile>) -> Results {
        let mut cases: BTreeMap<CaseKey, Case> = BTreeMap::new();
        let mut ignored = Vec::new();
        fn case_for(cases: &mut BTreeMap<CaseKey, Case>, key: CaseKey) -> &mut Case {
            cases.entry(key.clone()).or_insert_with(|| Case {
                key,
                rust: BTreeMap::new(),
                peers: BTreeMap::new(),
            })
        }
        for m in measurements {
            match split_criterion_id(m) {
                Some((key, function)) => {
                    case_for(&mut cases, key).rust.insert(function, m.median_ns);
                }
                None => ignored.push(format!(
                    "{}/{}",
                    m.group_id,
                    m.value_str.as_deref().unwrap_or("")
                )),
            }
        }
        for result in peers.map_or(&[][..], |p| &p.results) {
            let key = CaseKey {
                workload: result.workload.clone(),
                precision: result.precision.clone(),
                param: result.param.clone(),
                variant: result.variant.clone(),
            };
            let time = PeerTime {
                median_ns: result.median_ns,
                note: result.note.clone(),
            };
            case_for(&mut cases, key)
                .peers
                .insert(result.tool.clone(), time);
        }
        share_references(&mut cases);
        let mut cases: Vec<Case> = cases.into_values().collect();
        cases.sort_by_key(|case| display_order(&case.key));
        Results { cases, ignored }
    }

    /// Workload ids in display order, each once.
    pub fn workloads(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self.cases.iter().map(|c| c.key.workload.as_str()).collect();
        names.dedup();
        names
    }

    pub fn cases_of<'a>(&'a self, workload: &'a str) -> impl Iterator<Item = &'a Case> + 'a {
        self.cases
            .iter()
            .filter(move |case| case.key.workload == workload)
    }

    pub fn find(
        &self,
        workload: &str,
        precision: &str,
        param: &str,
        variant: Option<&str>,
    ) -> Option<&Case> {
        self.cases.iter().find(|case| {
            case.key.workload == workload
                && case.key.precision == precision
                && case.key.param == param
                && case.key.variant.as_deref() == variant
        })
    }

    /// Peer tool names seen in `workload`, the documented ones first so columns keep their place.
    pub fn peer_tools(&self, workload: &str) -> Vec<String> {
        peer_tools_of(self.cases_of(workload))
    }

    /// Rust function names seen in `workload`, `hand`, `generated`, `forward` first.
    pub fn rust_functions(&self, workload: &str) -> Vec<String> {
        let mut functions: Vec<String> = Vec::new();
        for case in self.cases_of(workload) {
            for function in case.rust.keys() {
                if !functions.contains(function) {
                    functions.push(function.clone());
                }
            }
        }
        functions.sort_by_key(|f| (known_rank(f, &[HAND, GENERATED, FORWARD]), f.clone()));
        functions
    }
}

/// Copies the hand-written times of each [`SHARED_REFERENCES`] lender's case into the
/// borrower's case of the same precision and size (those it measured itself are kept).
fn share_references(cases: &mut BTreeMap<CaseKey, Case>) {
    for &(borrower, lender) in SHARED_REFERENCES {
        let borrowing: Vec<CaseKey> = cases
            .keys()
            .filter(|key| key.workload == borrower)
            .cloned()
            .collect();
        for key in borrowing {
            let lender_key = CaseKey {
                workload: lender.into(),
                ..key.clone()
            };
            let Some(lent) = cases.get(&lender_key) else {
                continue;
            };
            let hands: Vec<(String, f64)> = lent
                .rust
                .iter()
                .filter(|(f, _)| is_hand_written(f))
                .map(|(f, &ns)| (f.clone(), ns))
                .collect();
            let case = cases.get_mut(&key).expect("a key of the map");
            for (function, ns) in hands {
                case.rust.entry(function).or_insert(ns);
            }
        }
    }
}

/// The documented peers, in the order their columns and plot series appear.
const KNOWN_PEERS: &[&str] = &["jax-jit", "pytorch-eager", "numpy-hand", "numpy"];

/// Peer tool names seen in `cases`, the documented ones first, then the others alphabetically.
pub fn peer_tools_of<'a>(cases: impl IntoIterator<Item = &'a Case>) -> Vec<String> {
    let mut tools: Vec<String> = Vec::new();
    for case in cases {
        for tool in case.peers.keys() {
            if !tools.contains(tool) {
                tools.push(tool.clone());
            }
        }
    }
    tools.sort_by_key(|tool| (known_rank(tool, KNOWN_PEERS), tool.clone()));
    tools
}

fn known_rank(name: &str, known: &[&str]) -> usize {
    known.iter().position(|k| *k == name).unwrap_or(known.len())
}

/// Maps a criterion id to its case and the Rust function measured; `None` if it fits no shape.
fn split_criterion_id(m: &Measurement) -> Option<(CaseKey, String)> {
    let parts: Vec<&str> = m.group_id.split('/').collect();
    match parts[..] {
        [workload, precision, param] => {
            // `from_parameter` ids carry the function in value_str; `new` ids in both.
            let function = [m.function_id.as_deref(), m.value_str.as_deref()]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join("/");
            let key = CaseKey {
                workload: workload.into(),
                precision: precision.into(),
                param: param.into(),
                variant: None,
            };
            (!function.is_empty()).then_some((key, function))
        }
        [workload, param] => {
            let kernel = m.function_id.clone()?;
            let precision = kernel.split('-').next().unwrap_or_default().to_string();
            let key = CaseKey {
                workload: workload.into(),
                precision,
                param: param.into(),
                variant: m.value_str.clone(),
            };
            Some((key, kernel))
        }
        _ => None,
    }
}

/// `B=1024` → 1024, `n=500` → 500.
pub fn param_value(param: &str) -> Option<u64> {
    param.rsplit('=').next()?.trim().parse().ok()
}

/// Sort key: workloads in their natural order (b1 < b2 < … < b10), f64 before f32, sizes
/// numerically, then the product.
fn display_order(key: &CaseKey) -> impl Ord {
    let workload_number: u64 = key
        .workload
        .trim_start_matches('b')
        .split('_')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(u64::MAX);
    let precision_rank = match key.precision.as_str() {
        "f64" => 0,
        "f32" => 1,
        _ => 2,
    };
    (
        workload_number,
        key.workload.clone(),
        precision_rank,
        key.precision.clone(),
        param_value(&key.param).unwrap_or(u64::MAX),
        key.param.clone(),
        key.variant.clone(),
    )
}

/// `numerator / denominator`, or `None` when either is missing or the denominator is not positive.
pub fn ratio(numerator: Option<f64>, denominator: Option<f64>) -> Option<f64> {
    match (numerator, denominator) {
        (Some(n), Some(d)) if d > 0.0 => Some(n / d),
        _ => None,
    }
}

/// GEMM throughput in GF/s: an n×n by n×n product is 2n³ floating-point operations, and
/// flop per ns is GF/s.
pub fn gemm_gflops(n: u64, median_ns: f64) -> Option<f64> {
    let flops = 2.0 * (n as f64).powi(3);
    (median_ns > 0.0).then(|| flops / median_ns)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::peers::PeerResult;

    fn measurement(group: &str, function: Option<&str>, value: &str, ns: f64) -> Measurement {
        Measurement {
            group_id: group.into(),
            function_id: function.map(Into::into),
            value_str: Some(value.into()),
            median_ns: ns,
        }
    }

    fn peer(workload: &str, precision: &str, param: &str, variant: Option<&str>) -> PeerResult {
        PeerResult {
            workload: workload.into(),
            precision: precision.into(),
            param: param.into(),
            variant: variant.map(Into::into),
            tool: "jax-jit".into(),
            median_ns: Some(5000.0),
            samples: Some(10),
            note: String::new(),
        }
    }

    #[test]
    fn criterion_and_peers_meet_in_one_case() {
        let measurements = [
            measurement("b1_mlp/f64/B=64", None, "hand", 1000.0),
            measurement("b1_mlp/f64/B=64", None, "generated", 1020.0),
        ];
        let peers = PeersFile {
            results: vec![peer("b1_mlp", "f64", "B=64", None)],
            ..Default::default()
        };
        let results = Results::merge(&measurements, Some(&peers));
        assert_eq!(results.cases.len(), 1);
        let case = results.find("b1_mlp", "f64", "B=64", None).unwrap();
        assert_eq!(case.rust_ns(HAND), Some(1000.0));
        assert_eq!(case.rust_ns(GENERATED), Some(1020.0));
        assert_eq!(case.peer_ns("jax-jit"), Some(5000.0));
        assert_eq!(case.size(), Some(64));
    }

    #[test]
    fn the_hand_written_reference_is_the_fastest_way_written() {
        let measurements = [
            measurement("b3_rosenbrock/f64/n=10", None, "hand", 36.0),
            measurement("b3_rosenbrock/f64/n=10", None, "hand-lanes", 38.0),
            measurement("b3_rosenbrock/f64/n=1000", None, "hand", 1440.0),
            measurement("b3_rosenbrock/f64/n=1000", None, "hand-lanes", 1360.0),
            measurement("b3_rosenbrock/f64/n=1000", None, "handy", 1.0),
        ];
        let results = Results::merge(&measurements, None);
        let hand = |param: &str| {
            let case = results.find("b3_rosenbrock", "f64", param, None).unwrap();
            case.rust_ns(HAND)
        };
        assert_eq!(hand("n=10"), Some(36.0));
        assert_eq!(hand("n=1000"), Some(1360.0));
    }

    #[test]
    fn the_reference_is_the_fastest_of_the_runtime_and_the_kernel_crates() {
        let measurements = [
            measurement("b2_hessian/f64/n=100", None, "hand", 460.0),
            measurement("b2_hessian/f64/n=100", None, "hand-mm", 485.0),
            measurement("b2_hessian/f64/n=100", None, "hand-gemm", 440.0),
            measurement("b2_hessian/f64/n=100", None, "generated", 490.0),
            measurement("b2_hessian/f32/n=100", None, "hand", 190.0),
            measurement("b2_hessian/f32/n=100", None, "hand-gemm", 200.0),
        ];
        let results = Results::merge(&measurements, None);
        let f64_case = results.find("b2_hessian", "f64", "n=100", None).unwrap();
        assert_eq!(f64_case.fastest_hand(), Some(("hand-gemm", 440.0)));
        assert_eq!(f64_case.rust_ns(HAND), Some(440.0));
        // Each variant keeps its own time; `generated` is no reference.
        assert_eq!(f64_case.rust_ns("hand-mm"), Some(485.0));
        let f32_case = results.find("b2_hessian", "f32", "n=100", None).unwrap();
        assert_eq!(f32_case.fastest_hand(), Some(("hand", 190.0)));
        let none = Results::merge(
            &[measurement("b2_hessian/f64/n=9", None, "generated", 1.0)],
            None,
        );
        assert_eq!(none.cases[0].fastest_hand(), None);
    }

    #[test]
    fn the_literal_b2_shares_the_stable_b2s_references() {
        let measurements = [
            measurement("b2_hessian/f64/n=100", None, "hand", 460.0),
            measurement("b2_hessian/f64/n=100", None, "hand-gemm", 440.0),
            measurement("b2_hessian/f64/n=100", None, "generated", 450.0),
            measurement("b2_literal_hessian/f64/n=100", None, "generated", 900.0),
            // No B2 case at this size: nothing to share.
            measurement("b2_literal_hessian/f64/n=500", None, "generated", 9000.0),
        ];
        let results = Results::merge(&measurements, None);
        let literal = results
            .find("b2_literal_hessian", "f64", "n=100", None)
            .unwrap();
        assert_eq!(literal.fastest_hand(), Some(("hand-gemm", 440.0)));
        assert_eq!(literal.rust_ns(HAND), Some(440.0));
        assert_eq!(literal.rust_ns(GENERATED), Some(900.0));
        let unshared = results
            .find("b2_literal_hessian", "f64", "n=500", None)
            .unwrap();
        assert_eq!(unshared.rust_ns(HAND), None);
        // The lender keeps its own generated time; the borrower sorts right after it.
        let stable = results.find("b2_hessian", "f64", "n=100", None).unwrap();
        assert_eq!(stable.rust_ns(GENERATED), Some(450.0));
        assert_eq!(results.workloads(), ["b2_hessian", "b2_literal_hessian"]);
        assert_eq!(
            shares_references_of("b2_literal_hessian"),
            Some("b2_hessian")
        );
        assert_eq!(shares_references_of("b2_hessian"), None);
    }

    #[test]
    fn gemm_ids_split_into_precision_kernel_and_product() {
        let measurements = [
            measurement("b5_gemm/n=512", Some("f64"), "A·Bᵀ", 1.0e6),
            measurement("b5_gemm/n=512", Some("f64-matrixmultiply"), "A·Bᵀ", 2.0e6),
        ];
        let peers = PeersFile {
            results: vec![peer("b5_gemm", "f64", "n=512", Some("A·Bᵀ"))],
            ..Default::default()
        };
        let results = Results::merge(&measurements, Some(&peers));
        assert_eq!(results.cases.len(), 1);
        let case = results
            .find("b5_gemm", "f64", "n=512", Some("A·Bᵀ"))
            .unwrap();
        assert_eq!(case.rust_ns("f64"), Some(1.0e6));
        assert_eq!(case.rust_ns("f64-matrixmultiply"), Some(2.0e6));
        assert_eq!(case.peer_ns("jax-jit"), Some(5000.0));
    }

    #[test]
    fn cases_sort_by_workload_then_f64_first_then_numeric_size() {
        let measurements = [
            measurement("b5_gemm/n=256", Some("f32"), "A·B", 1.0),
            measurement("b2_hessian/f64/n=500", None, "hand", 1.0),
            measurement("b2_hessian/f32/n=100", None, "hand", 1.0),
            measurement("b2_hessian/f64/n=100", None, "hand", 1.0),
            measurement("b1_mlp/f64/B=1024", None, "hand", 1.0),
            measurement("b1_mlp/f64/B=64", None, "hand", 1.0),
        ];
        let results = Results::merge(&measurements, None);
        let order: Vec<String> = results
            .cases
            .iter()
            .map(|c| format!("{} {} {}", c.key.workload, c.key.precision, c.key.param))
            .collect();
        assert_eq!(
            order,
            [
                "b1_mlp f64 B=64",
                "b1_mlp f64 B=1024",
                "b2_hessian f64 n=100",
                "b2_hessian f64 n=500",
                "b2_hessian f32 n=100",
                "b5_gemm f32 n=256",
            ]
        );
        assert_eq!(results.workloads(), ["b1_mlp", "b2_hessian", "b5_gemm"]);
    }

    #[test]
    fn ids_of_another_shape_are_reported_not_dropped_silently() {
        let results = Results::merge(&[measurement("lonely", None, "x", 1.0)], None);
        assert!(results.cases.is_empty());
        assert_eq!(results.ignored, ["lonely/x"]);
    }

    #[test]
    fn unknown_tools_and_functions_come_after_the_documented_ones() {
        let measurements = [
            measurement("b1_mlp/f64/B=64", None, "zeta", 1.0),
            measurement("b1_mlp/f64/B=64", None, "forward", 1.0),
            measurement("b1_mlp/f64/B=64", None, "hand", 1.0),
        ];
        let mut peers = PeersFile::default();
        for tool in ["aardvark", "numpy-hand", "jax-jit"] {
            let mut result = peer("b1_mlp", "f64", "B=64", None);
            result.tool = tool.into();
            peers.results.push(result);
        }
        let results = Results::merge(&measurements, Some(&peers));
        assert_eq!(
            results.rust_functions("b1_mlp"),
            ["hand", "forward", "zeta"]
        );
        assert_eq!(
            results.peer_tools("b1_mlp"),
            ["jax-jit", "numpy-hand", "aardvark"]
        );
    }

    #[test]
    fn ratios_and_throughput() {
        assert_eq!(ratio(Some(3.0), Some(2.0)), Some(1.5));
        assert_eq!(ratio(Some(3.0), None), None);
        assert_eq!(ratio(Some(3.0), Some(0.0)), None);
        // 2·512³ flop in 1 ms is 268.4 GF/s.
        let gflops = gemm_gflops(512, 1.0e6).unwrap();
        assert!((gflops - 268.435456).abs() < 1e-9, "{gflops}");
        assert_eq!(param_value("n=1000"), Some(1000));
        assert_eq!(param_value("size"), None);
    }
}
