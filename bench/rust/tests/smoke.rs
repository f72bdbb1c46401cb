//! Keeps the benchmarks from rotting: each runs for a moment and must produce a
//! finite, positive figure and baseline. No time is asserted.

use appsignal_bench::{run_all, Scale};

#[test]
fn every_benchmark_runs_and_produces_a_figure() {
    let rows = run_all(Scale::smoke());
    let names: Vec<&str> = rows.iter().map(|r| r.name.as_str()).collect();
    for expected in [
        "event push",
        "transaction 3 events",
        "frame encode",
        "agent decode + aggregate",
        "payload of 10k tx",
        "SQL obfuscation",
    ] {
        assert!(
            names.iter().any(|n| n.starts_with(expected)),
            "no `{expected}` row in {names:?}"
        );
    }
    for row in &rows {
        assert!(
            row.value.is_finite() && row.value > 0.0,
            "{}: figure {}",
            row.name,
            row.value
        );
        assert!(
            row.baseline_value.is_finite() && row.baseline_value > 0.0,
            "{}: baseline {}",
            row.name,
            row.baseline_value
        );
        assert_eq!(row.to_tsv().split('\t').count(), 8, "{}", row.name);
    }
}
