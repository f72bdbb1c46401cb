//! The state ingest writes and transmission takes: the aggregator and the journal
//! behind one lock, so a snapshot and the journal rotation always cover exactly the
//! same frames.

use std::sync::{Arc, Mutex, MutexGuard};

use appsignal_proto::v1::{ClientBatch, ClientHealth, MetricMinute};

use crate::aggregate::{Aggregator, Snapshot};
use crate::clock::SharedClock;
use crate::journal::{Journal, Orphan};
use crate::log::{debug, info, warning};
use crate::otlp::spans::{PendingSpans, SpanBuffer};

pub struct Pipeline {
    pub aggregator: Recorder,
    pub journal: Option<Journal>,
}

/// The aggregator, plus (with OTLP export on) a trace of every transaction. Ingest
/// and journal replay call `apply` and `over_threshold` as on the aggregator itself.
/// No `Deref` to the aggregator on purpose: a new way of feeding it (reading frames
/// in place, say) must be added here, recording spans, or it would silently bypass
/// the traces.
pub struct Recorder {
    aggregator: Aggregator,
    spans: Option<SpanBuffer>,
    clock: SharedClock,
}

impl Recorder {
    pub fn new(aggregator: Aggregator, spans: Option<SpanBuffer>, clock: SharedClock) -> Recorder {
        Recorder {
            aggregator,
            spans,
            clock,
        }
    }

    fn now_ns(&self) -> i64 {
        self.clock.now_unix_ms().saturating_mul(1_000_000)
    }

    pub fn apply(&mut self, batch: ClientBatch) {
        if !batch.transactions.is_empty() {
            let now_ns = self.now_ns();
            if let Some(spans) = self.spans.as_mut() {
                for transaction in &batch.transactions {
                    spans.record(transaction, now_ns);
                }
            }
        }
        self.aggregator.apply(batch);
    }

    /// Whether enough is pending to transmit before the interval ends.
    pub fn over_threshold(&self) -> bool {
        self.aggregator.over_threshold() || self.spans.as_ref().is_some_and(|s| s.nearly_full())
    }

    /// Whether the aggregates (not just the spans) call for a payload now.
    pub fn payload_due(&self) -> bool {
        self.aggregator.over_threshold()
    }

    /// The spans since the last call; `None` when OTLP export is off.
    pub fn take_spans(&mut self) -> Option<PendingSpans> {
        self.spans.as_mut().map(SpanBuffer::take)
    }

    pub fn take(&mut self) -> Snapshot {
        self.aggregator.take()
    }

    pub fn add_revision(&mut self, revision: &str) {
        self.aggregator.add_revision(revision);
    }

    pub fn add_prepared_metrics(&mut self, minutes: impl IntoIterator<Item = MetricMinute>) {
        self.aggregator.add_prepared_metrics(minutes);
    }

    pub fn client_totals(&self) -> ClientHealth {
        self.aggregator.client_totals()
    }

    pub fn library_version(&self) -> &str {
        self.aggregator.library_version()
    }
}

impl Pipeline {
    /// Takes dead agents' journal segments in: each becomes this agent's (one
    /// rename) before its frames go into the aggregator, so a crash at any point
    /// leaves it to be replayed once, by whoever comes next. Segments whose payload
    /// is already in the spool are deleted.
    pub fn adopt(&mut self, orphans: Vec<Orphan>) {
        for orphan in orphans {
            if orphan.committed {
                debug!(
                    "{} is already in a stored payload; removing it",
                    orphan.path.display()
                );
                let _ = std::fs::remove_file(&orphan.path);
                continue;
            }
            if orphan.batches.is_empty() {
                let _ = std::fs::remove_file(&orphan.path);
                continue;
            }
            let taken = match self.journal.as_mut() {
                Some(journal) => journal.take_over(&orphan.path),
                // Without a journal of our own the data is applied and the file
                // dropped: a crash now loses it, as it would lose our own frames.
                None => std::fs::remove_file(&orphan.path),
            };
            match taken {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => {
                    warning!(
                        "cannot take over the journal {} of agent {}: {e}; it is left for a later attempt",
                        orphan.path.display(),
                        orphan.pid
                    );
                    continue;
                }
            }
            crate::crash_point::reached("adopt:after_take");
            info!(
                "replaying {} frames from the journal of agent {}",
                orphan.batches.len(),
                orphan.pid
            );
            for batch in orphan.batches {
                self.aggregator.apply(batch);
            }
        }
    }
}

#[derive(Clone)]
pub struct SharedPipeline(Arc<Mutex<Pipeline>>);

impl SharedPipeline {
    pub fn new(pipeline: Pipeline) -> SharedPipeline {
        SharedPipeline(Arc::new(Mutex::new(pipeline)))
    }

    /// A panic while holding the lock cannot leave the aggregator half-updated in a
    /// way worth losing all data over, so a poisoned lock is used as is.
    pub fn lock(&self) -> MutexGuard<'_, Pipeline> {
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use appsignal_proto::v1::{Event, Transaction};

    fn batch() -> ClientBatch {
        let transaction = |id: &str| Transaction {
            id: id.into(),
            namespace: "web".into(),
            action: "A#b".into(),
            start_time_unix_ns: 1_700_000_000_000_000_000,
            duration_ns: 5_000_000,
            events: vec![Event {
                name: "sql.active_record".into(),
                duration_ns: 1_000_000,
                ..Default::default()
            }],
            ..Default::default()
        };
        ClientBatch {
            transactions: vec![transaction("t1"), transaction("t2")],
            ..Default::default()
        }
    }

    fn recorder(otlp: bool) -> Recorder {
        let clock = ManualClock::at(1_700_000_000_000);
        Recorder::new(
            Aggregator::new(clock.clone()),
            otlp.then(SpanBuffer::default),
            clock,
        )
    }

    #[test]
    fn applying_records_spans_and_aggregates() {
        let mut recorder = recorder(true);
        recorder.apply(batch());
        let spans = recorder.take_spans().unwrap();
        assert_eq!((spans.transactions, spans.spans), (2, 4));
        assert_eq!(recorder.take().transactions, 2);
    }

    #[test]
    fn without_otlp_no_spans_are_kept() {
        let mut recorder = recorder(false);
        recorder.apply(batch());
        assert!(recorder.take_spans().is_none());
        assert!(!recorder.over_threshold());
        assert_eq!(recorder.take().transactions, 2);
    }
}
