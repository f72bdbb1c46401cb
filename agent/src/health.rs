//! The agent's own counters, reported as METRIC_SOURCE_AGENT series and logged
//! every interval, so a user can see frames or payloads going missing.

use std::sync::atomic::{AtomicU64, Ordering};

use appsignal_proto::v1::{ClientHealth, MetricKind, MetricMinute, MetricSource};

#[derive(Default)]
pub struct Health {
    pub frames_received: AtomicU64,
    pub frames_malformed: AtomicU64,
    pub connections: AtomicU64,
    pub journal_bytes_skipped: AtomicU64,
    pub payloads_sent: AtomicU64,
    pub payloads_failed: AtomicU64,
    pub payloads_spooled: AtomicU64,
    pub payloads_dropped: AtomicU64,
}

pub fn add(counter: &AtomicU64, n: u64) {
    counter.fetch_add(n, Ordering::Relaxed);
}

/// Counter values at one moment; differences between two give one interval.
#[derive(Default, Clone, Copy, PartialEq, Eq, Debug)]
pub struct Counts {
    pub frames_received: u64,
    pub frames_malformed: u64,
    pub payloads_sent: u64,
    pub payloads_failed: u64,
    pub payloads_spooled: u64,
    pub payloads_dropped: u64,
}

impl Health {
    pub fn counts(&self) -> Counts {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        Counts {
            frames_received: get(&self.frames_received),
            frames_malformed: get(&self.frames_malformed),
            payloads_sent: get(&self.payloads_sent),
            payloads_failed: get(&self.payloads_failed),
            payloads_spooled: get(&self.payloads_spooled),
            payloads_dropped: get(&self.payloads_dropped),
        }
    }
}

impl Counts {
    pub fn since(&self, earlier: &Counts) -> Counts {
        Counts {
            frames_received: self.frames_received - earlier.frames_received,
            frames_malformed: self.frames_malformed - earlier.frames_malformed,
            payloads_sent: self.payloads_sent - earlier.payloads_sent,
            payloads_failed: self.payloads_failed - earlier.payloads_failed,
            payloads_spooled: self.payloads_spooled - earlier.payloads_spooled,
            payloads_dropped: self.payloads_dropped - earlier.payloads_dropped,
        }
    }

    /// Whether the interval saw ingest activity worth a payload of its own
    /// (payload counters alone are not: reporting them would itself be a payload).
    pub fn has_ingest_news(&self) -> bool {
        self.frames_received > 0 || self.frames_malformed > 0
    }

    pub fn pairs(&self) -> [(&'static str, u64); 6] {
        [
            ("frames_received", self.frames_received),
            ("frames_malformed", self.frames_malformed),
            ("payloads_sent", self.payloads_sent),
            ("payloads_failed", self.payloads_failed),
            ("payloads_spooled", self.payloads_spooled),
            ("payloads_dropped", self.payloads_dropped),
        ]
    }
}

/// Interval counters as counter series, client totals as gauges.
pub fn metric_minutes(
    interval: &Counts,
    clients: &ClientHealth,
    hostname: &str,
    minute_unix: i64,
) -> Vec<MetricMinute> {
    let series = |name: &str, kind: MetricKind, value: u64| MetricMinute {
        name: name.to_string(),
        kind: kind as i32,
        tags: [("hostname".to_string(), hostname.to_string())].into(),
        minute_unix,
        value: value as f64,
        count: 1,
        min: value as f64,
        max: value as f64,
        histogram: None,
        source: MetricSource::Agent as i32,
    };
    let mut out: Vec<MetricMinute> = interval
        .pairs()
        .iter()
        .map(|(name, value)| series(name, MetricKind::Counter, *value))
        .collect();
    out.push(series(
        "transactions_dropped_by_extension",
        MetricKind::Gauge,
        clients.transactions_dropped,
    ));
    out.push(series(
        "metrics_dropped_by_extension",
        MetricKind::Gauge,
        clients.metrics_dropped,
    ));
    out
}
