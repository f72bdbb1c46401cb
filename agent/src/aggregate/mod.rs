//! Turns the frames of every client into per-minute aggregates, samples and
//! metric series, held until the next transmission takes them.

mod actions;
mod clients;
mod fast_hash;
mod metrics;
mod samples;

use appsignal_proto::v1::{ActionMinute, ClientBatch, ClientHealth, MetricMinute, Transaction};

use crate::clock::SharedClock;

/// Pending series plus samples above which a payload is sent before the interval ends.
pub const MAX_PENDING_ITEMS: usize = 5_000;
/// Estimated payload size above which a payload is sent before the interval ends.
pub const MAX_PENDING_BYTES: usize = 2 * 1024 * 1024;
/// Rough encoded size of one aggregated series, for the size estimate.
const BYTES_PER_SERIES: usize = 200;

pub struct Aggregator {
    clock: SharedClock,
    actions: actions::ActionTable,
    metrics: metrics::MetricTable,
    clients: clients::Clients,
    transactions: u64,
}

/// Everything taken for one payload.
#[derive(Default)]
pub struct Snapshot {
    pub actions: Vec<ActionMinute>,
    pub samples: Vec<Transaction>,
    pub metrics: Vec<MetricMinute>,
    pub revisions: Vec<String>,
    pub language: String,
    pub library_version: String,
    pub transactions: u64,
    pub error_samples_skipped: u64,
}

impl Snapshot {
    pub fn is_empty(&self) -> bool {
        self.actions.is_empty() && self.samples.is_empty() && self.metrics.is_empty()
    }
}

impl Aggregator {
    pub fn new(clock: SharedClock) -> Aggregator {
        Aggregator {
            clock,
            actions: Default::default(),
            metrics: Default::default(),
            clients: Default::default(),
            transactions: 0,
        }
    }

    pub fn apply(&mut self, batch: ClientBatch) {
        let now_ms = self.clock.now_unix_ms();
        if let Some(hello) = &batch.hello {
            self.clients.hello(hello);
        }
        for transaction in batch.transactions {
            self.actions
                .record(transaction, now_ms.saturating_mul(1_000_000));
            self.transactions += 1;
        }
        for sample in batch.metrics {
            self.metrics.record(sample, now_ms);
        }
        if let Some(health) = batch.health {
            self.clients.health(health, now_ms);
        }
    }

    pub fn add_revision(&mut self, revision: &str) {
        self.clients.add_revision(revision);
    }

    pub fn add_prepared_metrics(&mut self, minutes: impl IntoIterator<Item = MetricMinute>) {
        self.metrics.add_prepared(minutes);
    }

    pub fn client_totals(&self) -> ClientHealth {
        self.clients.totals()
    }

    pub fn library_version(&self) -> &str {
        &self.clients.library_version
    }

    /// Whether enough is pending to send a payload now rather than at the interval.
    pub fn over_threshold(&self) -> bool {
        let series = self.actions.series() + self.metrics.series();
        series + self.actions.sample_count() > MAX_PENDING_ITEMS
            || series * BYTES_PER_SERIES + self.actions.sample_bytes() > MAX_PENDING_BYTES
    }

    pub fn take(&mut self) -> Snapshot {
        let taken = self.actions.take();
        Snapshot {
            actions: taken.minutes,
            samples: taken.samples,
            metrics: self.metrics.take(),
            revisions: self.clients.take_revisions(),
            language: self.clients.language.clone(),
            library_version: self.clients.library_version.clone(),
            transactions: std::mem::take(&mut self.transactions),
            error_samples_skipped: taken.error_samples_skipped,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use appsignal_proto::histogram;
    use appsignal_proto::v1::{
        ClientHello, ErrorInfo, Event, MetricKind, MetricSample, MetricSource,
    };

    const MINUTE_NS: i64 = 60_000_000_000;
    const T0_NS: i64 = 29_000_000 * MINUTE_NS; // a whole minute

    fn transaction(action: &str, start_ns: i64, duration_ms: u64) -> Transaction {
        Transaction {
            id: format!("{action}-{start_ns}-{duration_ms}"),
            namespace: "web".into(),
            action: action.into(),
            start_time_unix_ns: start_ns,
            duration_ns: duration_ms * 1_000_000,
            queue_duration_ns: 1_000_000,
            events: vec![
                Event {
                    name: "process_action.action_controller".into(),
                    duration_ns: duration_ms * 1_000_000,
                    child_duration_ns: 2_000_000,
                    ..Default::default()
                },
                Event {
                    name: "sql.active_record".into(),
                    duration_ns: 2_000_000,
                    depth: 1,
                    ..Default::default()
                },
            ],
            ..Default::default()
        }
    }

    fn failing(mut t: Transaction, class: &str) -> Transaction {
        t.error = Some(ErrorInfo {
            name: class.into(),
            message: "boom".into(),
            ..Default::default()
        });
        t
    }

    fn batch(transactions: Vec<Transaction>) -> ClientBatch {
        ClientBatch {
            transactions,
            ..Default::default()
        }
    }

    fn aggregator() -> Aggregator {
        Aggregator::new(ManualClock::at(T0_NS / 1_000_000 + 5_000))
    }

    #[test]
    fn transactions_aggregate_per_action_and_minute() {
        let mut agg = aggregator();
        agg.apply(batch(vec![
            transaction("A#show", T0_NS + 1, 10),
            transaction("A#show", T0_NS + 59_000_000_000, 30),
            failing(transaction("A#show", T0_NS + 2, 20), "RuntimeError"),
            transaction("A#show", T0_NS + MINUTE_NS, 40),
            transaction("B#index", T0_NS, 5),
        ]));
        let snapshot = agg.take();
        assert_eq!(snapshot.actions.len(), 3);
        let first = &snapshot.actions[0];
        assert_eq!(
            (first.action.as_str(), first.minute_unix),
            ("A#show", T0_NS / 1_000_000_000)
        );
        assert_eq!((first.count, first.error_count), (3, 1));
        assert_eq!(first.total_duration_ms, 60.0);
        assert_eq!((first.min_duration_ms, first.max_duration_ms), (10.0, 30.0));
        assert_eq!(first.total_queue_ms, 3.0);
        let hist = first.duration_ms.as_ref().unwrap();
        assert_eq!(histogram::total_count(hist), 3);
        let sql = first
            .events
            .iter()
            .find(|e| e.name == "sql.active_record")
            .unwrap();
        assert_eq!(
            (sql.count, sql.total_duration_ms, sql.total_exclusive_ms),
            (3, 6.0, 6.0)
        );
        let action = first
            .events
            .iter()
            .find(|e| e.name == "process_action.action_controller")
            .unwrap();
        assert_eq!(
            (action.total_duration_ms, action.total_exclusive_ms),
            (60.0, 54.0)
        );
        assert_eq!(snapshot.actions[2].minute_unix, T0_NS / 1_000_000_000 + 60);
        assert_eq!(snapshot.transactions, 5);
        assert!(agg.take().is_empty(), "take empties the aggregator");
    }

    #[test]
    fn samples_keep_the_slowest_three_and_capped_errors() {
        let mut agg = aggregator();
        let durations = [5, 50, 1, 40, 30, 2, 45];
        agg.apply(batch(
            durations
                .iter()
                .map(|d| transaction("A#show", T0_NS, *d))
                .collect(),
        ));
        for i in 0..15 {
            agg.apply(batch(vec![failing(
                transaction("A#show", T0_NS, i),
                "KeyError",
            )]));
        }
        agg.apply(batch(vec![failing(
            transaction("A#show", T0_NS, 1),
            "TypeError",
        )]));
        let snapshot = agg.take();
        let slow: Vec<u64> = snapshot
            .samples
            .iter()
            .filter(|t| t.error.is_none())
            .map(|t| t.duration_ns / 1_000_000)
            .collect();
        assert_eq!(slow, vec![50, 45, 40]);
        let errors = |class: &str| {
            snapshot
                .samples
                .iter()
                .filter(|t| t.error.as_ref().is_some_and(|e| e.name == class))
                .count()
        };
        assert_eq!((errors("KeyError"), errors("TypeError")), (10, 1));
        assert_eq!(snapshot.error_samples_skipped, 5);
    }

    #[test]
    fn custom_metrics_aggregate_by_kind_tags_and_minute() {
        let clock = ManualClock::at(T0_NS / 1_000_000);
        let mut agg = Aggregator::new(clock.clone());
        let sample =
            |name: &str, kind: MetricKind, value: f64, tag: &str, at_ms: i64| MetricSample {
                name: name.into(),
                kind: kind as i32,
                value,
                tags: [("region".to_string(), tag.to_string())].into(),
                time_unix_ms: at_ms,
            };
        let t = T0_NS / 1_000_000;
        agg.apply(ClientBatch {
            metrics: vec![
                sample("signups", MetricKind::Counter, 1.0, "eu", t),
                sample("signups", MetricKind::Counter, 2.0, "eu", t + 1),
                sample("signups", MetricKind::Counter, 5.0, "us", t),
                sample("queue", MetricKind::Gauge, 7.0, "eu", t + 10),
                sample("queue", MetricKind::Gauge, 3.0, "eu", t + 5),
                sample("latency", MetricKind::Distribution, 10.0, "eu", t),
                sample("latency", MetricKind::Distribution, 30.0, "eu", t),
                // no time: bucketed by the clock, one minute later
                sample("signups", MetricKind::Counter, 1.0, "eu", 0),
            ],
            ..Default::default()
        });
        clock.advance_ms(60_000);
        agg.apply(ClientBatch {
            metrics: vec![sample("signups", MetricKind::Counter, 4.0, "eu", 0)],
            ..Default::default()
        });
        let metrics = agg.take().metrics;
        let find = |name: &str, tag: &str, minute: i64| {
            metrics
                .iter()
                .find(|m| m.name == name && m.tags["region"] == tag && m.minute_unix == minute)
                .unwrap()
        };
        let m0 = T0_NS / 1_000_000_000;
        assert_eq!(find("signups", "eu", m0).value, 4.0);
        assert_eq!(find("signups", "eu", m0 + 60).value, 4.0);
        assert_eq!(find("signups", "us", m0).value, 5.0);
        let gauge = find("queue", "eu", m0);
        assert_eq!((gauge.value, gauge.min, gauge.max), (7.0, 3.0, 7.0));
        let dist = find("latency", "eu", m0);
        assert_eq!(
            (dist.value, dist.count, dist.min, dist.max),
            (40.0, 2, 10.0, 30.0)
        );
        assert_eq!(histogram::total_count(dist.histogram.as_ref().unwrap()), 2);
        assert!(metrics
            .iter()
            .all(|m| m.source == MetricSource::Custom as i32));
    }

    #[test]
    fn hello_and_health_are_remembered() {
        let mut agg = aggregator();
        agg.apply(ClientBatch {
            hello: Some(ClientHello {
                pid: 10,
                language: "ruby".into(),
                library_version: "4.0.0".into(),
                revision: "abc123".into(),
                ..Default::default()
            }),
            health: Some(ClientHealth {
                pid: 10,
                transactions_dropped: 3,
                ..Default::default()
            }),
            ..Default::default()
        });
        for dropped in [1, 2] {
            agg.apply(ClientBatch {
                health: Some(ClientHealth {
                    pid: 11,
                    transactions_dropped: dropped,
                    ..Default::default()
                }),
                ..Default::default()
            });
        }
        assert_eq!(agg.client_totals().transactions_dropped, 5);
        let snapshot = agg.take();
        assert_eq!(snapshot.revisions, vec!["abc123"]);
        assert_eq!(
            (
                snapshot.language.as_str(),
                snapshot.library_version.as_str()
            ),
            ("ruby", "4.0.0")
        );
        assert!(agg.take().revisions.is_empty());
    }

    #[test]
    fn many_series_trip_the_size_threshold() {
        let mut agg = aggregator();
        assert!(!agg.over_threshold());
        agg.apply(batch(
            (0..MAX_PENDING_ITEMS)
                .map(|i| transaction(&format!("A#{i}"), T0_NS, 1))
                .collect(),
        ));
        assert!(agg.over_threshold());
        agg.take();
        assert!(!agg.over_threshold());
    }
}
