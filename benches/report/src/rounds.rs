//! Several rounds of the same benchmarks reduced to one time per case: the fastest round's median.
//!
//! Why the fastest: the machine is a shared VM whose neighbours come and go over minutes, and they
//! only ever add time. A round that overlapped a busy neighbour is slower for whatever ran then,
//! so comparing one tool's disturbed median with another's quiet one says nothing about either.
//! Every tool, Rust or peer, gets the same rule.

use crate::criterion::{CriterionTree, Measurement};
use crate::peers::{PeerResult, PeersFile};

/// One tree with, per benchmark, the lowest median over `rounds`; the newest write time; and
/// every skipped file.
pub fn fastest_criterion(rounds: Vec<CriterionTree>) -> CriterionTree {
    let mut merged = CriterionTree::default();
    for round in rounds {
        for measurement in round.measurements {
            let same = |m: &&mut Measurement| {
                (&m.group_id, &m.function_id, &m.value_str)
                    == (
                        &measurement.group_id,
                        &measurement.function_id,
                        &measurement.value_str,
                    )
            };
            match merged.measurements.iter_mut().find(same) {
                Some(kept) => kept.median_ns = kept.median_ns.min(measurement.median_ns),
                None => merged.measurements.push(measurement),
            }
        }
        merged.newest = merged.newest.max(round.newest);
        merged.skipped.extend(round.skipped);
    }
    merged
}

/// One peers file with, per case and tool, the result of the round with the lowest median (a
/// round where the tool could not run counts only when no round could); the machine of the last
/// round. `None` when no round has a file.
pub fn fastest_peers(rounds: Vec<Option<PeersFile>>) -> Option<PeersFile> {
    let mut merged: Option<PeersFile> = None;
    for round in rounds.into_iter().flatten() {
        let merged = merged.get_or_insert_with(PeersFile::default);
        merged.machine = round.machine;
        for result in round.results {
            match merged
                .results
                .iter_mut()
                .find(|kept| same_case(kept, &result))
            {
                Some(kept) => {
                    if faster(&result, kept) {
                        *kept = result;
                    }
                }
                None => merged.results.push(result),
            }
        }
    }
    merged
}

fn same_case(a: &PeerResult, b: &PeerResult) -> bool {
    (&a.workload, &a.precision, &a.param, &a.variant, &a.tool)
        == (&b.workload, &b.precision, &b.param, &b.variant, &b.tool)
}

fn faster(candidate: &PeerResult, kept: &PeerResult) -> bool {
    match (candidate.median_ns, kept.median_ns) {
        (Some(new), Some(old)) => new < old,
        (Some(_), None) => true,
        (None, _) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures;
    use std::time::{Duration, SystemTime};

    fn measurement(group: &str, value: &str, median_ns: f64) -> Measurement {
        fixtures::rust(group, None, value, median_ns)
    }

    /// B1 f64 at `param`, possibly failed (`None`), with a note saying which round it came from.
    fn peer(tool: &str, param: &str, median_ns: Option<f64>, note: &str) -> PeerResult {
        PeerResult {
            median_ns,
            note: note.into(),
            ..fixtures::peer("b1_mlp", "f64", param, None, tool, 0.0)
        }
    }

    #[test]
    fn each_benchmark_keeps_its_fastest_round() {
        let at = |s| Some(SystemTime::UNIX_EPOCH + Duration::from_secs(s));
        let round1 = CriterionTree {
            measurements: vec![
                measurement("b1_mlp/f64/B=64", "hand", 10.0),
                measurement("b1_mlp/f64/B=64", "generated", 30.0),
            ],
            newest: at(5),
            skipped: vec!["a".into()],
        };
        let round2 = CriterionTree {
            measurements: vec![
                measurement("b1_mlp/f64/B=64", "generated", 20.0),
                measurement("b1_mlp/f64/B=64", "hand", 12.0),
                measurement("b2_hessian/f64/n=100", "hand", 7.0),
            ],
            newest: at(9),
            skipped: vec!["b".into()],
        };
        let merged = fastest_criterion(vec![round1, round2]);
        assert_eq!(
            merged.measurements,
            [
                measurement("b1_mlp/f64/B=64", "hand", 10.0),
                measurement("b1_mlp/f64/B=64", "generated", 20.0),
                measurement("b2_hessian/f64/n=100", "hand", 7.0),
            ]
        );
        assert_eq!(merged.newest, at(9));
        assert_eq!(merged.skipped, ["a", "b"]);
    }

    #[test]
    fn each_peer_case_keeps_its_fastest_round_and_a_failed_round_never_wins() {
        let round1 = PeersFile {
            results: vec![
                peer("jax-jit", "B=64", Some(5.0), "first"),
                peer("jax-jit", "B=1024", None, "crashed"),
                peer("pytorch-eager", "B=64", Some(3.0), "first"),
            ],
            ..PeersFile::default()
        };
        let mut round2 = PeersFile {
            results: vec![
                peer("jax-jit", "B=64", Some(4.0), "second"),
                peer("jax-jit", "B=1024", Some(50.0), "second"),
                peer("pytorch-eager", "B=64", None, "crashed"),
            ],
            ..PeersFile::default()
        };
        round2.machine.cpu = Some("round 2".into());
        let merged = fastest_peers(vec![Some(round1), None, Some(round2)]).unwrap();
        assert_eq!(
            merged.results,
            [
                peer("jax-jit", "B=64", Some(4.0), "second"),
                peer("jax-jit", "B=1024", Some(50.0), "second"),
                peer("pytorch-eager", "B=64", Some(3.0), "first"),
            ]
        );
        assert_eq!(merged.machine.cpu.as_deref(), Some("round 2"));
        assert!(fastest_peers(vec![None, None]).is_none());
    }
}
