//! The extension's core, in plain Rust: it knows nothing of Ruby, so all of it is
//! tested with `cargo test`. The Ruby bindings in `ext/src` are a thin layer over it.
//!
//! - [`transaction`]: the per-request record, one flat Vec of events pushed as they finish.
//! - [`reporter`]: the bounded channel, the worker thread and the socket to the agent.
//! - [`sample_gate`]: whether a finished transaction's sample data is worth writing.
//! - [`sql`]: obfuscation of SQL bodies, run on the worker thread before anything is written.

pub mod config;
pub mod ids;
pub mod limits;
pub mod log;
pub mod reporter;
pub mod sample_gate;
pub mod sql;
pub mod transaction;
