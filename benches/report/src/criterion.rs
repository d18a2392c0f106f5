//! Reads criterion's output tree (`target/criterion`).
//!
//! Every benchmark leaves `<dir>/new/benchmark.json` (its ids) beside `<dir>/new/estimates.json`
//! (its statistics, in ns). We walk the tree for those pairs instead of rebuilding directory names
//! from ids, because criterion sanitizes names (`/` → `_`) in ways that are not ours to copy.

use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// One benchmark's ids and median time, as criterion wrote them.
#[derive(Debug, Clone, PartialEq)]
pub struct Measurement {
    /// e.g. `b1_mlp/f64/B=64` or `b5_gemm/n=512`.
    pub group_id: String,
    /// `None` for `BenchmarkId::from_parameter`; `Some("f64")` for `BenchmarkId::new("f64", "A·B")`.
    pub function_id: Option<String>,
    /// The parameter: `hand`, `generated`, … or the GEMM product `A·B`.
    pub value_str: Option<String>,
    pub median_ns: f64,
}

/// What the walk found: the measurements, the newest write time, and the files it had to skip.
#[derive(Debug, Default)]
pub struct CriterionTree {
    pub measurements: Vec<Measurement>,
    pub newest: Option<SystemTime>,
    pub skipped: Vec<String>,
}

#[derive(Deserialize)]
struct BenchmarkJson {
    group_id: String,
    function_id: Option<String>,
    value_str: Option<String>,
}

#[derive(Deserialize)]
struct EstimatesJson {
    median: Estimate,
}

#[derive(Deserialize)]
struct Estimate {
    point_estimate: f64,
}

/// Reads every `new/benchmark.json` under `root`. A missing root gives an empty tree (the report
/// then says nothing was measured); an unreadable pair is skipped and named in `skipped`.
pub fn read_tree(root: &Path) -> CriterionTree {
    let mut tree = CriterionTree::default();
    let mut files = Vec::new();
    find_benchmark_files(root, &mut files);
    files.sort();
    for file in files {
        match read_pair(&file) {
            Ok((measurement, modified)) => {
                tree.measurements.push(measurement);
                tree.newest = tree.newest.max(modified);
            }
            Err(why) => tree.skipped.push(why),
        }
    }
    tree
}

/// Collects `…/new/benchmark.json` paths. `base/` (the saved baseline) and `change/` are ignored:
/// the report is about the latest run.
fn find_benchmark_files(dir: &Path, found: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            find_benchmark_files(&path, found);
        } else if path
            .file_name()
            .is_some_and(|name| name == "benchmark.json")
            && dir.file_name().is_some_and(|name| name == "new")
        {
            found.push(path);
        }
    }
}

fn read_pair(benchmark_file: &Path) -> Result<(Measurement, Option<SystemTime>), String> {
    let ids: BenchmarkJson = read_json(benchmark_file)?;
    let estimates_file = benchmark_file.with_file_name("estimates.json");
    let estimates: EstimatesJson = read_json(&estimates_file)?;
    let modified = std::fs::metadata(&estimates_file)
        .and_then(|meta| meta.modified())
        .ok();
    let measurement = Measurement {
        group_id: ids.group_id,
        function_id: ids.function_id,
        value_str: ids.value_str,
        median_ns: estimates.median.point_estimate,
    };
    Ok((measurement, modified))
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("{}: cannot read: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A scratch directory under the system temp dir, removed on drop.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new(name: &str) -> Self {
            let path = std::env::temp_dir().join(format!(
                "autodiff-bench-report-{name}-{}",
                std::process::id()
            ));
            let _ = std::fs::remove_dir_all(&path);
            std::fs::create_dir_all(&path).unwrap();
            TempDir(path)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn write_benchmark(dir: &Path, subdir: &str, benchmark: &str, median_ns: f64) {
        let dir = dir.join(subdir);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("benchmark.json"), benchmark).unwrap();
        let estimates = format!(
            r#"{{"mean":{{"point_estimate":1.0}},"median":{{"confidence_interval":
               {{"confidence_level":0.95,"lower_bound":1.0,"upper_bound":2.0}},
               "point_estimate":{median_ns},"standard_error":0.5}}}}"#
        );
        std::fs::write(dir.join("estimates.json"), estimates).unwrap();
    }

    #[test]
    fn reads_new_results_and_ignores_the_baseline() {
        let tmp = TempDir::new("tree");
        let hand = r#"{"group_id":"b1_mlp/f64/B=64","function_id":null,"value_str":"hand",
                       "throughput":null,"full_id":"b1_mlp/f64/B=64/hand",
                       "directory_name":"b1_mlp_f64_B=64/hand","title":"b1_mlp/f64/B=64/hand"}"#;
        write_benchmark(&tmp.0, "b1_mlp_f64_B=64/hand/new", hand, 1234.5);
        write_benchmark(&tmp.0, "b1_mlp_f64_B=64/hand/base", hand, 9999.0);
        let gemm = r#"{"group_id":"b5_gemm/n=512","function_id":"f32","value_str":"A·Bᵀ",
                       "throughput":{"Elements":268435456},"full_id":"b5_gemm/n=512/f32/A·Bᵀ",
                       "directory_name":"b5_gemm_n=512/f32/A·Bᵀ","title":"b5_gemm/n=512/f32/A·Bᵀ"}"#;
        write_benchmark(&tmp.0, "b5_gemm_n=512/f32/A·Bᵀ/new", gemm, 2.0e6);

        let tree = read_tree(&tmp.0);
        assert!(tree.skipped.is_empty(), "{:?}", tree.skipped);
        assert!(tree.newest.is_some());
        let mut found = tree.measurements;
        found.sort_by(|a, b| a.group_id.cmp(&b.group_id));
        assert_eq!(
            found,
            vec![
                Measurement {
                    group_id: "b1_mlp/f64/B=64".into(),
                    function_id: None,
                    value_str: Some("hand".into()),
                    median_ns: 1234.5,
                },
                Measurement {
                    group_id: "b5_gemm/n=512".into(),
                    function_id: Some("f32".into()),
                    value_str: Some("A·Bᵀ".into()),
                    median_ns: 2.0e6,
                },
            ]
        );
    }

    #[test]
    fn skips_a_benchmark_without_estimates_and_says_so() {
        let tmp = TempDir::new("broken");
        let dir = tmp.0.join("b2/hand/new");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("benchmark.json"),
            r#"{"group_id":"b2_hessian/f64/n=100","function_id":null,"value_str":"hand"}"#,
        )
        .unwrap();
        let tree = read_tree(&tmp.0);
        assert!(tree.measurements.is_empty());
        assert_eq!(tree.skipped.len(), 1);
        assert!(tree.skipped[0].contains("estimates.json"));
    }

    #[test]
    fn a_missing_directory_is_an_empty_tree() {
        let tree = read_tree(Path::new("/nonexistent/criterion"));
        assert!(tree.measurements.is_empty() && tree.skipped.is_empty());
    }
}
