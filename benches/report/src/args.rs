//! Command-line options. Few enough that a hand-written parser beats a dependency.

use std::path::PathBuf;

pub const USAGE: &str = "\
usage: autodiff-bench-report [--criterion DIR] [--peers FILE] [--out DIR] [--notes FILE]
                             [--rustc-version TEXT]

  --criterion DIR        criterion's output tree (default target/criterion); repeat it for
                         several rounds: each benchmark gets its fastest round's median
  --peers FILE           the Python peers' JSON; a missing file means peers were not run
                         (default target/peers.json); repeat it as --criterion
  --out DIR              where BENCHMARKS.md and benchmarks.svg go (default docs)
  --notes FILE           Markdown inserted verbatim in a Notes section
  --rustc-version TEXT   the compiler to name (default: what `rustc --version` says)
";

#[derive(Debug, PartialEq)]
pub struct Options {
    /// One tree per round.
    pub criterion: Vec<PathBuf>,
    /// One file per round.
    pub peers: Vec<PathBuf>,
    pub out: PathBuf,
    pub notes: Option<PathBuf>,
    pub rustc_version: Option<String>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            criterion: vec!["target/criterion".into()],
            peers: vec!["target/peers.json".into()],
            out: "docs".into(),
            notes: None,
            rustc_version: None,
        }
    }
}

/// `Ok(None)` when help was asked for.
pub fn parse(args: impl IntoIterator<Item = String>) -> Result<Option<Options>, String> {
    let mut options = Options::default();
    let (mut criterion, mut peers) = (Vec::new(), Vec::new());
    let mut args = args.into_iter();
    while let Some(flag) = args.next() {
        if flag == "-h" || flag == "--help" {
            return Ok(None);
        }
        let mut value = || args.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--criterion" => criterion.push(value()?.into()),
            "--peers" => peers.push(value()?.into()),
            "--out" => options.out = value()?.into(),
            "--notes" => options.notes = Some(value()?.into()),
            "--rustc-version" => options.rustc_version = Some(value()?),
            other => return Err(format!("unknown argument `{other}`")),
        }
    }
    // Given flags replace the default; each one given is a round.
    if !criterion.is_empty() {
        options.criterion = criterion;
    }
    if !peers.is_empty() {
        options.peers = peers;
    }
    Ok(Some(options))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_strs(args: &[&str]) -> Result<Option<Options>, String> {
        parse(args.iter().map(|s| s.to_string()))
    }

    #[test]
    fn defaults_match_benches_run() {
        assert_eq!(parse_strs(&[]).unwrap(), Some(Options::default()));
    }

    #[test]
    fn every_flag_takes_its_value() {
        let options = parse_strs(&[
            "--criterion",
            "c",
            "--peers",
            "p.json",
            "--out",
            "o",
            "--notes",
            "n.md",
            "--rustc-version",
            "rustc 1.0",
        ])
        .unwrap()
        .unwrap();
        assert_eq!(
            options,
            Options {
                criterion: vec!["c".into()],
                peers: vec!["p.json".into()],
                out: "o".into(),
                notes: Some("n.md".into()),
                rustc_version: Some("rustc 1.0".into()),
            }
        );
    }

    #[test]
    fn repeated_inputs_are_rounds() {
        let options = parse_strs(&["--criterion", "r1", "--peers", "p1", "--criterion", "r2"])
            .unwrap()
            .unwrap();
        assert_eq!(
            options.criterion,
            [PathBuf::from("r1"), PathBuf::from("r2")]
        );
        assert_eq!(options.peers, [PathBuf::from("p1")]);
    }

    #[test]
    fn mistakes_are_named() {
        assert_eq!(parse_strs(&["--out"]).unwrap_err(), "--out needs a value");
        assert_eq!(
            parse_strs(&["--bogus"]).unwrap_err(),
            "unknown argument `--bogus`"
        );
        assert_eq!(parse_strs(&["--help"]).unwrap(), None);
    }
}
