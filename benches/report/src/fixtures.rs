//! Builders for the unit tests' inputs, shared by the modules that test on criterion and peer
//! results.

use crate::criterion::Measurement;
use crate::peers::PeerResult;

/// A criterion result: `function` is `None` for `BenchmarkId::from_parameter` ids.
pub fn rust(group: &str, function: Option<&str>, value: &str, ns: f64) -> Measurement {
    Measurement {
        group_id: group.into(),
        function_id: function.map(Into::into),
        value_str: Some(value.into()),
        median_ns: ns,
    }
}

/// A peer's median time on one case, without samples or note.
pub fn peer(
    workload: &str,
    precision: &str,
    param: &str,
    variant: Option<&str>,
    tool: &str,
    ns: f64,
) -> PeerResult {
    PeerResult {
        workload: workload.into(),
        precision: precision.into(),
        param: param.into(),
        variant: variant.map(Into::into),
        tool: tool.into(),
        median_ns: Some(ns),
        samples: None,
        note: String::new(),
    }
}
