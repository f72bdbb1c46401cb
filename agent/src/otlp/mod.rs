//! OTLP/HTTP export, next to (or instead of) the Push API: transactions become
//! traces as they arrive (`spans`), the interval's metric minutes become OTLP
//! metrics (`metrics`), and `export` posts both as binary protobuf with a spool
//! for retries. `proto` holds the message subset, `ids` the trace and span ids.

pub mod export;
pub mod ids;
pub mod metrics;
pub mod proto;
pub mod spans;
