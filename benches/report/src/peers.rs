//! Reads the Python peers' timings written by `benches/peers/peers.py`.
//!
//! The file is optional (no Python on the machine → no peers), so a missing file is `Ok(None)`;
//! a file that exists but does not parse is an error, so a broken peers run is not mistaken for
//! "peers not run".

use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;

#[derive(Debug, Clone, Default, Deserialize)]
pub struct PeersFile {
    #[serde(default)]
    pub machine: PeerMachine,
    #[serde(default)]
    pub results: Vec<PeerResult>,
}

/// Where and with what the peers ran. Every field is optional: the report shows what is there.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct PeerMachine {
    pub cpu: Option<String>,
    pub cores: Option<u32>,
    pub python: Option<String>,
    /// Package → version; `null` when a package is not installed.
    #[serde(default)]
    pub versions: BTreeMap<String, Option<String>>,
    /// Library → thread count, as the script reports it (a number, or a string it could not parse).
    #[serde(default)]
    pub threads: BTreeMap<String, serde_json::Value>,
    pub openblas_coretype: Option<String>,
    pub date: Option<String>,
}

/// One median time of one tool on one case.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct PeerResult {
    /// `b1_mlp`, `b2_hessian`, `b4_jacobian`, `b5_gemm`.
    pub workload: String,
    pub precision: String,
    /// `B=64`, `n=500`, …, written like the criterion group ids.
    pub param: String,
    /// The GEMM product (`A·B`, `A·Bᵀ`); absent elsewhere.
    pub variant: Option<String>,
    pub tool: String,
    /// `null` when the tool could not run the case; `note` then says why.
    pub median_ns: Option<f64>,
    pub samples: Option<u64>,
    #[serde(default)]
    pub note: String,
}

/// Reads `path`; `Ok(None)` when there is no such file.
pub fn read(path: &Path) -> Result<Option<PeersFile>, String> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("{}: cannot read: {e}", path.display())),
    };
    parse(&text)
        .map(Some)
        .map_err(|e| format!("{}: {e}", path.display()))
}

pub fn parse(text: &str) -> Result<PeersFile, serde_json::Error> {
    serde_json::from_str(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_documented_schema() {
        let peers = parse(
            r#"{
              "machine": {"cpu": "AMD EPYC", "cores": 2, "python": "3.11.7",
                          "versions": {"numpy": "2.1.0", "torch": null},
                          "threads": {"torch": 2, "numpy_blas": "unknown"},
                          "openblas_coretype": null, "date": "2026-11-27"},
              "results": [
                {"workload": "b1_mlp", "precision": "f64", "param": "B=64", "tool": "jax-jit",
                 "median_ns": 612345.0, "samples": 500, "note": ""},
                {"workload": "b5_gemm", "precision": "f32", "param": "n=512", "variant": "A·B",
                 "tool": "numpy", "median_ns": 1.0e6, "samples": 100, "note": "MKL"}
              ]
            }"#,
        )
        .unwrap();
        assert_eq!(peers.machine.cores, Some(2));
        assert_eq!(peers.machine.versions["numpy"].as_deref(), Some("2.1.0"));
        assert_eq!(peers.machine.versions["torch"], None);
        assert_eq!(peers.results.len(), 2);
        assert_eq!(peers.results[0].variant, None);
        assert_eq!(peers.results[1].variant.as_deref(), Some("A·B"));
        assert_eq!(peers.results[1].note, "MKL");
    }

    #[test]
    fn a_missing_file_means_peers_were_not_run() {
        assert!(read(Path::new("/nonexistent/peers.json"))
            .unwrap()
            .is_none());
    }

    #[test]
    fn a_case_the_tool_could_not_run_has_no_median() {
        let peers = parse(
            r#"{"results": [{"workload": "b1_mlp", "precision": "f64", "param": "B=64",
                             "tool": "jax-jit", "median_ns": null, "note": "no jax"}]}"#,
        )
        .unwrap();
        assert_eq!(peers.results[0].median_ns, None);
        assert_eq!(peers.results[0].note, "no jax");
    }

    #[test]
    fn a_result_without_its_case_is_an_error() {
        let err =
            parse(r#"{"results": [{"workload": "b1_mlp", "precision": "f64"}]}"#).unwrap_err();
        assert!(err.to_string().contains("param"), "{err}");
    }
}
