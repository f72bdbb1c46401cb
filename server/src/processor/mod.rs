//! Turns queued payloads into buckets, samples, incidents and deploy markers, and runs the
//! periodic jobs (roll-up, anomaly detection) that depend on the clock.

pub mod apply;
pub mod merge;
pub mod rollup;
pub mod worker;

#[derive(Debug, Clone)]
pub struct ProcessorConfig {
    /// A sample at least this slow opens or updates a performance incident.
    pub slow_threshold_ms: f64,
    /// Samples kept per (namespace, action, error or not).
    pub samples_per_action: i64,
    /// At most one notification per incident per this many seconds.
    pub notify_interval_secs: i64,
    /// Recorded with each processed payload, to see which process did the work.
    pub processor_name: String,
}

impl Default for ProcessorConfig {
    fn default() -> Self {
        Self {
            slow_threshold_ms: 1000.0,
            samples_per_action: 50,
            notify_interval_secs: 3600,
            processor_name: format!("pid-{}", std::process::id()),
        }
    }
}
