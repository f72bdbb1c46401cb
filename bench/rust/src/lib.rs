//! Rust-side benchmarks: each figure is a median over timed rounds, printed next to a
//! baseline measured in the same run, so a busy machine moves both and the ratio
//! stays readable.
//!
//! The agent is a binary crate, so its aggregation and payload code is compiled in
//! here from its own source files (`#[path]`): the benchmark runs exactly the code
//! the agent runs.

pub mod cases;
pub mod harness;

#[path = "../../../agent/src/clock.rs"]
#[allow(dead_code)]
mod clock;

#[path = "../../../agent/src/aggregate/mod.rs"]
#[allow(dead_code)]
mod aggregate;

#[path = "../../../agent/src/transmit/payload.rs"]
#[allow(dead_code)]
mod payload;

pub use harness::{Row, Scale};

/// Every benchmark, in the order the table shows them.
pub fn run_all(scale: Scale) -> Vec<Row> {
    let mut rows = Vec::new();
    rows.extend(cases::event_push(scale));
    rows.extend(cases::transaction_finish_and_send(scale));
    rows.extend(cases::frame_encode(scale));
    rows.extend(cases::agent_decode_and_aggregate(scale));
    rows.extend(cases::payload_encode_and_gzip(scale));
    rows.extend(cases::sql_obfuscation(scale));
    rows
}
