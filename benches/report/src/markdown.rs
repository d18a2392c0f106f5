//! Renders `docs/BENCHMARKS.md`: the plot first, then the machine, the targets, one table per
//! workload, and the free-form notes.

use crate::format::{self, or_missing, MISSING};
use crate::machine::Machine;
use crate::peers::PeersFile;
use crate::results::{
    gemm_gflops, is_hand_written, ratio, shares_references_of, Case, Results, FORWARD, GENERATED,
    HAND,
};
use crate::targets::{self, Target};
use std::fmt::Write;

/// Everything the page shows.
pub struct Report<'a> {
    pub results: &'a Results,
    pub targets: &'a [Target],
    pub machine: &'a Machine,
    pub peers: Option<&'a PeersFile>,
    /// Where the peers file was looked for, to say so when it was not there.
    pub peers_path: &'a str,
    pub generated_at: String,
    /// When criterion last wrote a result.
    pub measured_at: Option<String>,
    pub notes: Option<String>,
    pub plot_file: &'a str,
}

pub fn render(report: &Report) -> String {
    let mut page = String::new();
    page.push_str("# Benchmarks\n\n");
    let _ = writeln!(
        page,
        "![Time relative to hand-written Rust for B1, B2, B4 (log scale, lower is better) and \
         GEMM GF/s for B5]({})\n",
        report.plot_file
    );
    render_machine(&mut page, report);
    render_targets(&mut page, report.targets);
    for workload in report.results.workloads() {
        let is_gemm_shaped = report
            .results
            .cases_of(workload)
            .any(|c| c.key.variant.is_some());
        if is_gemm_shaped {
            render_gemm(&mut page, report.results, workload);
        } else {
            render_gradient(&mut page, report.results, workload);
        }
    }
    if report.results.cases.is_empty() {
        page.push_str("No benchmark results were found: run `benches/run`.\n\n");
    }
    if let Some(notes) = &report.notes {
        let _ = writeln!(page, "## Notes\n\n{}\n", notes.trim_end());
    }
    page
}

fn render_machine(page: &mut String, report: &Report) {
    let m = report.machine;
    let simd: Vec<String> = m
        .simd
        .iter()
        .map(|(name, present)| format!("{name} {}", if *present { "yes" } else { "no" }))
        .collect();
    page.push_str("## Machine and method\n\n");
    let _ = writeln!(
        page,
        "- **Rust**: {}, {} logical CPUs ({}); {}; criterion medians{}.",
        m.cpu,
        m.logical_cpus,
        simd.join(", "),
        m.rustc,
        report
            .measured_at
            .as_ref()
            .map_or(String::new(), |at| format!(", last result written {at}"))
    );
    match report.peers {
        Some(peers) => page.push_str(&describe_peers(peers)),
        None => {
            let _ = writeln!(
                page,
                "- **Python peers**: not run (no `{}`), so the tables show the Rust results only.",
                report.peers_path
            );
        }
    }
    let _ = writeln!(
        page,
        "- **Regenerate**: `benches/run` runs the criterion benches and the Python peers (when a \
         Python with numpy is found, `PEERS_PYTHON`) in rounds (`BENCH_ROUNDS`, default 4; each \
         case keeps its fastest round) and rebuilds this page; \
         `benches/run --report-only` rebuilds the page and the plot from the last results.\n\
         - Page generated {}.\n",
        report.generated_at
    );
}

/// The peers' machine as a nested list: where, which versions, how many threads.
fn describe_peers(peers: &PeersFile) -> String {
    let m = &peers.machine;
    let mut heading = vec![m
        .python
        .as_ref()
        .map_or("Python".into(), |v| format!("Python {v}"))];
    if let Some(cpu) = &m.cpu {
        heading.push(
            m.cores
                .map_or(cpu.clone(), |c| format!("{cpu} ({c} cores)")),
        );
    }
    if let Some(date) = &m.date {
        heading.push(format!("run {date}"));
    }
    let mut text = format!(
        "- **Python peers**: {}
",
        heading.join(", ")
    );
    let installed: Vec<String> = m
        .versions
        .iter()
        .filter_map(|(package, version)| Some(format!("{package} {}", version.as_ref()?)))
        .collect();
    let missing: Vec<&str> = m
        .versions
        .iter()
        .filter(|(_, version)| version.is_none())
        .map(|(package, _)| package.as_str())
        .collect();
    let mut versions = installed.join(", ");
    if !missing.is_empty() {
        let _ = write!(versions, "; not installed: {}", missing.join(", "));
    }
    let _ = writeln!(text, "  - versions: {versions}");
    let threads: Vec<String> = m
        .threads
        .iter()
        .filter_map(|(library, count)| match count {
            serde_json::Value::Null => None,
            serde_json::Value::String(text) => Some(format!("{library}: {text}")),
            other => Some(format!("{library}: {other}")),
        })
        .collect();
    if !threads.is_empty() {
        let _ = writeln!(text, "  - threads: {}", threads.join("; "));
    }
    let _ = writeln!(
        text,
        "  - OPENBLAS_CORETYPE: {}",
        m.openblas_coretype.as_deref().unwrap_or("unset")
    );
    text
}

fn render_targets(page: &mut String, targets: &[Target]) {
    let all = targets.iter().flat_map(|t| &t.checks);
    let tally = targets::tally(all);
    page.push_str("## Targets\n\n");
    let _ = writeln!(
        page,
        "{} of {} checks pass, {} fail, {} not measured.\n",
        tally.passed,
        tally.passed + tally.failed + tally.not_measured,
        tally.failed,
        tally.not_measured
    );
    let mut table = Table::new(&["Target", "Case", "Measured", "Needed", "Result"], 2);
    for target in targets {
        for (i, check) in target.checks.iter().enumerate() {
            let verdict = match check.passed() {
                Some(true) => "✓",
                Some(false) => "✗",
                None => MISSING,
            };
            table.row(vec![
                if i == 0 { target.description } else { "" }.to_string(),
                check.case.clone(),
                check.shown(),
                check.bound.describe(),
                verdict.to_string(),
            ]);
        }
    }
    page.push_str(&table.render());
}

/// A one-line reminder of what each documented workload computes.
fn workload_title(workload: &str) -> String {
    let what = match workload {
        "b1_mlp" => "MLP loss, value and gradient (784→256→10, relu, log-softmax)",
        "b2_hessian" => "logistic-regression Hessian (X is 1000×n)",
        "b2_literal_hessian" => {
            "the same Hessian with the loss spelled Σ ln(1 + exp(−y ⊙ X·w)) + 0.05‖w‖², as \
             DESIGN.md writes it"
        }
        "b3_rosenbrock" => {
            "Rosenbrock gradient, with slices and as a loop over x[i] (\"generated-loop\")"
        }
        "b4_jacobian" => "Jacobian of tanh(W·x + b), n×n",
        "b5_gemm" => "GEMM, C = A·B and A·Bᵀ (Bᵀ as strides)",
        "b6_rnn" => {
            "gradient of an Elman RNN through a `for` loop (batch 32, hidden 128; T = 100, and \
             1,000 and 10,000 beside `#[checkpoint]`)"
        }
        "b7_logdet" => "gradient of ln |det X| + tr(A·X⁻¹), X 200×200 symmetric positive definite",
        other => other,
    };
    format!("{} — {what}", targets::short_name(workload))
}

/// What a hand-written variant's id stands for, in the text under a table.
fn hand_variant_meaning(function: &str) -> Option<&'static str> {
    Some(match function {
        HAND => "our runtime's GEMM and fused kernels",
        "hand-mm" => "the `matrixmultiply` crate called directly, on its own threads",
        "hand-gemm" => "the `gemm` crate called directly, on rayon's threads",
        "hand-fused" => "one fused pass over the data, no GEMM",
        "hand-lanes" => "the value summed in 8 lanes",
        _ => return None,
    })
}

/// Rust timings against the hand-written reference and the peers against the generated code.
/// With several hand-written variants, *hand-written* is the fastest, *fastest hand* names it,
/// and each variant's own time follows.
fn render_gradient(page: &mut String, results: &Results, workload: &str) {
    let cases: Vec<&Case> = results.cases_of(workload).collect();
    let functions = results.rust_functions(workload);
    let has_forward = functions.iter().any(|f| f == FORWARD);
    let hand_variants: Vec<&String> = functions.iter().filter(|f| is_hand_written(f)).collect();
    let several_hands = hand_variants.len() > 1;
    // Every function beside the three fixed columns; the plain `hand` too when it is one of
    // several variants (the *hand-written* column then shows the fastest, not it).
    let extra_functions: Vec<&String> = functions
        .iter()
        .filter(|f| match f.as_str() {
            HAND => several_hands,
            other => ![GENERATED, FORWARD].contains(&other),
        })
        .collect();
    let tools = results.peer_tools(workload);

    let mut header: Vec<String> = ["precision", "size"].map(String::from).to_vec();
    if several_hands {
        header.push("fastest hand".into());
    }
    header.extend(["hand-written", "generated", "gen ÷ hand"].map(String::from));
    if has_forward {
        header.extend(["forward".into(), "gradient ÷ forward".into()]);
    }
    for function in &extra_functions {
        header.extend([
            format!("{function} (Rust)"),
            format!("{function} ÷ hand-written"),
        ]);
    }
    for tool in &tools {
        header.extend([tool.clone(), format!("{tool} ÷ gen")]);
    }
    let mut table = Table::from_header(header, if several_hands { 3 } else { 2 });
    for case in &cases {
        let hand = case.rust_ns(HAND);
        let generated = case.rust_ns(GENERATED);
        let mut row = vec![case.key.precision.clone(), case.key.param.clone()];
        if several_hands {
            row.push(
                case.fastest_hand()
                    .map_or(MISSING.to_string(), |(f, _)| f.to_string()),
            );
        }
        row.extend([
            or_missing(hand, format::time_ns),
            or_missing(generated, format::time_ns),
            or_missing(ratio(generated, hand), format::ratio),
        ]);
        if has_forward {
            let forward = case.rust_ns(FORWARD);
            row.push(or_missing(forward, format::time_ns));
            row.push(or_missing(ratio(generated, forward), format::ratio));
        }
        for function in &extra_functions {
            // The variant's own time (`rust_ns(HAND)` would be the fastest variant's).
            let time = case.rust.get(function.as_str()).copied();
            row.push(or_missing(time, format::time_ns));
            row.push(or_missing(ratio(time, hand), format::ratio));
        }
        for tool in &tools {
            let time = case.peer_ns(tool);
            row.push(or_missing(time, format::time_ns));
            row.push(or_missing(ratio(time, generated), format::ratio));
        }
        table.row(row);
    }

    let _ = writeln!(page, "## {}\n", workload_title(workload));
    page.push_str(
        "Median time per call. *gen ÷ hand* above 1× means the generated code is slower than \
         the hand-written Rust.",
    );
    if several_hands {
        let meanings: Vec<String> = hand_variants
            .iter()
            .map(|f| match hand_variant_meaning(f) {
                Some(meaning) => format!("`{f}`: {meaning}"),
                None => format!("`{f}`"),
            })
            .collect();
        let _ = write!(
            page,
            " *hand-written* is the fastest of the hand-written variants ({}), and *fastest \
             hand* names it.",
            meanings.join("; ")
        );
    }
    if let Some(lender) = shares_references_of(workload) {
        let _ = write!(
            page,
            " It computes what {} computes, so its hand-written times are {}'s.",
            targets::short_name(lender),
            targets::short_name(lender)
        );
    }
    if has_forward {
        page.push_str(" *gradient ÷ forward* is the generated value-and-gradient over the forward pass alone.");
    }
    if !tools.is_empty() {
        page.push_str(
            " *peer ÷ gen* is how many times faster the generated Rust is than that peer \
             (above 1×: we are faster).",
        );
    }
    page.push_str("\n\n");
    page.push_str(&table.render());
    render_peer_notes(page, &cases);
}

/// GF/s of each of our kernels and of each peer on the same product.
fn render_gemm(page: &mut String, results: &Results, workload: &str) {
    let cases: Vec<&Case> = results.cases_of(workload).collect();
    let tools = results.peer_tools(workload);
    let mut header: Vec<String> = ["n", "precision", "product", "kernel", "time", "GF/s"]
        .map(String::from)
        .to_vec();
    for tool in &tools {
        header.extend([format!("{tool} GF/s"), format!("% of {tool}")]);
    }
    let mut table = Table::from_header(header, 4);
    for case in &cases {
        let n = case.size();
        let gflops = |ns: Option<f64>| n.zip(ns).and_then(|(n, ns)| gemm_gflops(n, ns));
        let mut kernels: Vec<Option<&String>> = case.rust.keys().map(Some).collect();
        // The default kernel (id = precision) first; a peer-only case still gets its row.
        kernels.sort_by_key(|k| k.map(|k| (*k != case.key.precision, k.clone())));
        if kernels.is_empty() {
            kernels.push(None);
        }
        for kernel in kernels {
            let ours = kernel.and_then(|k| case.rust_ns(k));
            let mut row = vec![
                n.map_or(case.key.param.clone(), |n| n.to_string()),
                case.key.precision.clone(),
                case.key.variant.clone().unwrap_or_default(),
                kernel.map_or(MISSING.to_string(), |k| {
                    kernel_label(k, &case.key.precision)
                }),
                or_missing(ours, format::time_ns),
                or_missing(gflops(ours), format::sig3),
            ];
            for tool in &tools {
                let theirs = case.peer_ns(tool);
                row.push(or_missing(gflops(theirs), format::sig3));
                let share = ratio(theirs, ours).map(|r| 100.0 * r);
                row.push(or_missing(share, format::percent));
            }
            table.row(row);
        }
    }
    let _ = writeln!(page, "## {}\n", workload_title(workload));
    page.push_str(
        "GF/s = 2·n³ / median time. *kernel* `default` is what `Matrix::matmul` uses; \
         *% of peer* is our GF/s as a share of the peer's on the same product (above 100 %: \
         we are faster).\n\n",
    );
    page.push_str(&table.render());
    render_peer_notes(page, &cases);
}

/// `f64` → `default`, `f64-matrixmultiply` → `matrixmultiply`.
fn kernel_label(kernel: &str, precision: &str) -> String {
    if kernel == precision {
        return "default".to_string();
    }
    kernel
        .strip_prefix(precision)
        .and_then(|rest| rest.strip_prefix('-'))
        .unwrap_or(kernel)
        .to_string()
}

/// The peers' own remarks ("fell back to float64", …) under the table they concern.
fn render_peer_notes(page: &mut String, cases: &[&Case]) {
    let mut notes = Vec::new();
    for case in cases {
        for (tool, time) in &case.peers {
            if !time.note.trim().is_empty() {
                let key = &case.key;
                let case_name = [Some(&key.precision), Some(&key.param), key.variant.as_ref()]
                    .into_iter()
                    .flatten()
                    .map(String::as_str)
                    .collect::<Vec<_>>()
                    .join(" ");
                notes.push(format!("- {tool}, {case_name}: {}", time.note.trim()));
            }
        }
    }
    if !notes.is_empty() {
        let _ = writeln!(page, "Peer notes:\n\n{}\n", notes.join("\n"));
    }
}

/// A Markdown table whose first `text_columns` columns are left-aligned and the rest, numbers,
/// right-aligned.
struct Table {
    header: Vec<String>,
    text_columns: usize,
    rows: Vec<Vec<String>>,
}

impl Table {
    fn new(header: &[&str], text_columns: usize) -> Table {
        Table::from_header(header.iter().map(|h| h.to_string()).collect(), text_columns)
    }

    fn from_header(header: Vec<String>, text_columns: usize) -> Table {
        Table {
            header,
            text_columns,
            rows: Vec::new(),
        }
    }

    fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    fn render(&self) -> String {
        let line = |cells: &[String]| {
            let cells: Vec<String> = cells.iter().map(|c| c.replace('|', "\\|")).collect();
            format!("| {} |\n", cells.join(" | "))
        };
        let alignment: Vec<String> = (0..self.header.len())
            .map(|i| if i < self.text_columns { "---" } else { "---:" }.to_string())
            .collect();
        let mut text = line(&self.header);
        text.push_str(&format!("|{}|\n", alignment.join("|")));
        for row in &self.rows {
            text.push_str(&line(row));
        }
        text.push('\n');
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::rust;
    use crate::peers::PeerResult;

    fn machine() -> Machine {
        Machine {
            cpu: "Test CPU".into(),
            logical_cpus: 2,
            simd: vec![("AVX2", true)],
            rustc: "rustc 1.95.0".into(),
        }
    }

    fn render_with(results: &Results, peers: Option<&PeersFile>) -> String {
        let targets = targets::evaluate(results);
        render(&Report {
            results,
            targets: &targets,
            machine: &machine(),
            peers,
            peers_path: "target/peers.json",
            generated_at: "2026-11-27 15:00 UTC".into(),
            measured_at: None,
            notes: Some("Allocations per call: 4.\n".into()),
            plot_file: "benchmarks.svg",
        })
    }

    #[test]
    fn plot_first_then_tables_and_notes() {
        let results = Results::merge(
            &[
                rust("b1_mlp/f64/B=64", None, "hand", 100_000.0),
                rust("b1_mlp/f64/B=64", None, "generated", 102_000.0),
                rust("b1_mlp/f64/B=64", None, "forward", 40_000.0),
            ],
            None,
        );
        let page = render_with(&results, None);
        assert!(page.starts_with("# Benchmarks\n\n![") && page.contains("](benchmarks.svg)"));
        assert!(page.contains("not run (no `target/peers.json`)"));
        assert!(page.contains("| f64 | B=64 | 100 µs | 102 µs | 1.02× | 40.0 µs | 2.55× |"));
        assert!(page.contains("| Generated within 5 % of hand-written"));
        assert!(page.contains("| B1 f64 B=64 | 1.02× | ≤ 1.05× | ✓ |"));
        assert!(page.ends_with("## Notes\n\nAllocations per call: 4.\n\n"));
    }

    #[test]
    fn several_hand_variants_show_the_fastest_and_name_it() {
        let results = Results::merge(
            &[
                rust("b2_hessian/f64/n=100", None, "hand", 460_000.0),
                rust("b2_hessian/f64/n=100", None, "hand-mm", 485_000.0),
                rust("b2_hessian/f64/n=100", None, "hand-gemm", 440_000.0),
                rust("b2_hessian/f64/n=100", None, "generated", 484_000.0),
                rust("b2_literal_hessian/f64/n=100", None, "generated", 880_000.0),
            ],
            None,
        );
        let page = render_with(&results, None);
        assert!(page.contains(
            "| precision | size | fastest hand | hand-written | generated | gen ÷ hand | \
             hand (Rust) | hand ÷ hand-written | hand-gemm (Rust) | hand-gemm ÷ hand-written | \
             hand-mm (Rust) | hand-mm ÷ hand-written |"
        ));
        assert!(page.contains(
            "| f64 | n=100 | hand-gemm | 440 µs | 484 µs | 1.10× | 460 µs | 1.05× | 440 µs | \
             1.00× | 485 µs | 1.10× |"
        ));
        assert!(page.contains("`hand-mm`: the `matrixmultiply` crate called directly"));
        // The literal spelling's own section, divided by B2's fastest reference.
        assert!(page.contains("## B2 literal — the same Hessian"));
        assert!(page.contains("so its hand-written times are B2's."));
        assert!(page.contains("| f64 | n=100 | hand-gemm | 440 µs | 880 µs | 2.00× |"));
        assert!(page.contains("|---|---|---|---:|"));
        assert!(page.contains("| B2 literal f64 n=100 | 2.00× | ≤ 1.1× | ✗ |"));
    }

    #[test]
    fn peers_get_a_time_and_a_speedup_column() {
        let peers = PeersFile {
            results: vec![PeerResult {
                workload: "b2_hessian".into(),
                precision: "f32".into(),
                param: "n=100".into(),
                variant: None,
                tool: "jax-jit".into(),
                median_ns: Some(300_000.0),
                samples: Some(100),
                note: "x64 | disabled".into(),
            }],
            ..Default::default()
        };
        let results = Results::merge(
            &[rust("b2_hessian/f32/n=100", None, "generated", 100_000.0)],
            Some(&peers),
        );
        let page = render_with(&results, Some(&peers));
        assert!(page.contains("| jax-jit | jax-jit ÷ gen |"));
        assert!(page.contains("| f32 | n=100 | — | 100 µs | — | 300 µs | 3.00× |"));
        assert!(page.contains("- jax-jit, f32 n=100: x64 | disabled"));
    }

    #[test]
    fn gemm_rows_per_kernel_with_share_of_numpy() {
        let mut numpy = PeerResult {
            workload: "b5_gemm".into(),
            precision: "f64".into(),
            param: "n=512".into(),
            variant: Some("A·B".into()),
            tool: "numpy".into(),
            median_ns: Some(1.0e6),
            samples: None,
            note: String::new(),
        };
        numpy.median_ns = Some(1.0e6);
        let peers = PeersFile {
            results: vec![numpy],
            ..Default::default()
        };
        let results = Results::merge(
            &[
                rust("b5_gemm/n=512", Some("f64"), "A·B", 1.25e6),
                rust("b5_gemm/n=512", Some("f64-matrixmultiply"), "A·B", 2.0e6),
            ],
            Some(&peers),
        );
        let page = render_with(&results, Some(&peers));
        assert!(page.contains("| 512 | f64 | A·B | default | 1.25 ms | 215 | 268 | 80.0 % |"));
        assert!(
            page.contains("| 512 | f64 | A·B | matrixmultiply | 2.00 ms | 134 | 268 | 50.0 % |")
        );
        assert!(page.contains("| B5 f64 n=512 A·B | 80.0 % | ≥ 95 % | ✗ |"));
    }

    #[test]
    fn the_peers_machine_names_versions_and_threads() {
        let peers: PeersFile = serde_json::from_str(
            r#"{"machine": {"cpu": "AMD EPYC", "cores": 2, "python": "3.11.7",
                "versions": {"numpy": "2.4.6", "jax": null, "torch": "2.5.1"},
                "threads": {"torch": 2, "numpy_blas": "openblas, 2 threads", "jax": null},
                "openblas_coretype": null, "date": "2026-11-27T15:48:19Z"}}"#,
        )
        .unwrap();
        assert_eq!(
            describe_peers(&peers),
            "- **Python peers**: Python 3.11.7, AMD EPYC (2 cores), run 2026-11-27T15:48:19Z\n\
             \x20 - versions: numpy 2.4.6, torch 2.5.1; not installed: jax\n\
             \x20 - threads: numpy_blas: openblas, 2 threads; torch: 2\n\
             \x20 - OPENBLAS_CORETYPE: unset\n"
        );
    }

    #[test]
    fn no_results_says_how_to_get_some() {
        let page = render_with(&Results::default(), None);
        assert!(page.contains("No benchmark results were found"));
    }
}
