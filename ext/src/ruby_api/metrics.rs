//! Custom metrics: `increment_counter`, `set_gauge`, `add_distribution_value` go
//! straight to the reporter (no transaction needed); the agent aggregates them.

use super::guard::guarded;
use appsignal_ext_core::reporter;
use appsignal_proto::v1::{MetricKind, MetricSample};
use std::time::{SystemTime, UNIX_EPOCH};

/// kind: 1 counter, 2 gauge, 3 distribution. Returns false when not queued.
pub fn add_metric(kind: i64, name: String, value: f64, tags: Vec<(String, String)>) -> bool {
    guarded(false, || {
        let kind = match kind {
            1 => MetricKind::Counter,
            2 => MetricKind::Gauge,
            3 => MetricKind::Distribution,
            _ => return false,
        };
        if !value.is_finite() || name.is_empty() {
            return false;
        }
        let time_unix_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0);
        reporter::send_metric(MetricSample {
            name,
            kind: kind as i32,
            value,
            tags: tags.into_iter().collect(),
            time_unix_ms,
        })
    })
}
