//! `autodiff-bench-report`: merges criterion results and the Python peers' timings into
//! `docs/BENCHMARKS.md` and the plot `docs/benchmarks.svg`. Run through `benches/run`.
#![forbid(unsafe_code)]

mod args;
mod criterion;
#[cfg(test)]
mod fixtures;
mod format;
mod machine;
mod markdown;
mod peers;
mod plot;
mod results;
mod rounds;
mod targets;

use args::Options;
use std::process::ExitCode;
use std::time::SystemTime;

/// The plot's file name, next to BENCHMARKS.md so the relative link works.
const PLOT_FILE: &str = "benchmarks.svg";

fn main() -> ExitCode {
    let options = match args::parse(std::env::args().skip(1)) {
        Ok(Some(options)) => options,
        Ok(None) => {
            print!("{}", args::USAGE);
            return ExitCode::SUCCESS;
        }
        Err(message) => {
            eprintln!("error: {message}\n\n{}", args::USAGE);
            return ExitCode::from(2);
        }
    };
    match run(&options) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

fn run(options: &Options) -> Result<(), String> {
    let tree = rounds::fastest_criterion(
        options
            .criterion
            .iter()
            .map(|dir| criterion::read_tree(dir))
            .collect(),
    );
    for skipped in &tree.skipped {
        eprintln!("warning: skipped {skipped}");
    }
    let peers = rounds::fastest_peers(
        options
            .peers
            .iter()
            .map(|path| peers::read(path))
            .collect::<Result<_, _>>()?,
    );
    let results = results::Results::merge(&tree.measurements, peers.as_ref());
    for id in &results.ignored {
        eprintln!("warning: criterion id {id} fits no known shape, left out");
    }
    let notes = options
        .notes
        .as_ref()
        .map(|path| std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display())))
        .transpose()?;
    let machine = machine::detect(options.rustc_version.clone());
    let targets = targets::evaluate(&results);

    std::fs::create_dir_all(&options.out).map_err(|e| format!("{}: {e}", options.out.display()))?;
    let plot_path = options.out.join(PLOT_FILE);
    plot::draw(&plot_path, &results, &plot_title(&machine))
        .map_err(|e| format!("{}: {e}", plot_path.display()))?;

    let page = markdown::render(&markdown::Report {
        results: &results,
        targets: &targets,
        machine: &machine,
        peers: peers.as_ref(),
        peers_path: &peer_files(&options.peers),
        generated_at: machine::utc_minute(SystemTime::now()),
        measured_at: tree.newest.map(machine::utc_minute),
        notes,
        plot_file: PLOT_FILE,
    });
    let page_path = options.out.join("BENCHMARKS.md");
    std::fs::write(&page_path, page).map_err(|e| format!("{}: {e}", page_path.display()))?;

    let tally = targets::tally(targets.iter().flat_map(|t| &t.checks));
    println!(
        "wrote {} and {} ({} results; targets: {} pass, {} fail, {} not measured)",
        page_path.display(),
        plot_path.display(),
        tree.measurements.len() + peers.as_ref().map_or(0, |p| p.results.len()),
        tally.passed,
        tally.failed,
        tally.not_measured
    );
    Ok(())
}

/// The peers' files as the page names them: `a.json` or `a.json, b.json`.
fn peer_files(paths: &[std::path::PathBuf]) -> String {
    let names: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
    names.join(", ")
}

/// e.g. `autodiff benchmarks — AMD EPYC, 2 logical CPUs (AVX2, FMA), rustc 1.95.0`.
fn plot_title(machine: &machine::Machine) -> String {
    let simd: Vec<&str> = machine
        .simd
        .iter()
        .filter(|(_, present)| *present)
        .map(|(name, _)| *name)
        .collect();
    let rustc = machine
        .rustc
        .split_whitespace()
        .take(2)
        .collect::<Vec<_>>()
        .join(" ");
    format!(
        "autodiff benchmarks — {}, {} logical CPUs ({}), {rustc}",
        machine.cpu,
        machine.logical_cpus,
        simd.join(", ")
    )
}
