//! Per (namespace, action, minute) aggregates of every transaction, with where the
//! time went per event name.

use super::fast_hash::FastMap;
use std::collections::BTreeMap;

use appsignal_proto::histogram;
use appsignal_proto::v1::{ActionMinute, EventMinute, Transaction};

use super::samples::{ActionSamples, SampleTally};
use crate::clock::minute_of_ns;

#[derive(Default)]
struct MinuteAgg {
    minute: ActionMinute,
    events: FastMap<String, EventMinute>,
}

#[derive(Default)]
struct ActionEntry {
    minutes: BTreeMap<i64, MinuteAgg>,
    samples: ActionSamples,
}

/// namespace -> action -> minute. Nested maps let a hit look up by `&str` without
/// allocating a key per transaction.
#[derive(Default)]
pub struct ActionTable {
    by_namespace: FastMap<String, FastMap<String, ActionEntry>>,
    series: usize,
    tally: SampleTally,
}

/// What one take hands over.
pub struct Taken {
    pub minutes: Vec<ActionMinute>,
    pub samples: Vec<Transaction>,
    pub error_samples_skipped: u64,
}

pub fn ns_to_ms(ns: u64) -> f64 {
    ns as f64 / 1_000_000.0
}

impl ActionTable {
    /// `now_ns` buckets a transaction that carries no start time.
    pub fn record(&mut self, transaction: Transaction, now_ns: i64) {
        let start = if transaction.start_time_unix_ns > 0 {
            transaction.start_time_unix_ns
        } else {
            now_ns
        };
        let minute_unix = minute_of_ns(start);
        let actions = match self.by_namespace.get_mut(transaction.namespace.as_str()) {
            Some(actions) => actions,
            None => self
                .by_namespace
                .entry(transaction.namespace.clone())
                .or_default(),
        };
        let entry = match actions.get_mut(transaction.action.as_str()) {
            Some(entry) => entry,
            None => actions.entry(transaction.action.clone()).or_default(),
        };
        let agg = entry.minutes.entry(minute_unix).or_insert_with(|| {
            self.series += 1;
            MinuteAgg::default()
        });

        let duration_ms = ns_to_ms(transaction.duration_ns);
        let minute = &mut agg.minute;
        if minute.count == 0 || duration_ms < minute.min_duration_ms {
            minute.min_duration_ms = duration_ms;
        }
        if duration_ms > minute.max_duration_ms {
            minute.max_duration_ms = duration_ms;
        }
        minute.count += 1;
        if transaction.error.is_some() {
            minute.error_count += 1;
        }
        minute.total_duration_ms += duration_ms;
        minute.total_queue_ms += ns_to_ms(transaction.queue_duration_ns);
        histogram::record(
            minute.duration_ms.get_or_insert_with(Default::default),
            duration_ms,
        );

        for event in &transaction.events {
            let event_entry = match agg.events.get_mut(event.name.as_str()) {
                Some(event_entry) => event_entry,
                None => agg
                    .events
                    .entry(event.name.clone())
                    .or_insert_with(|| EventMinute {
                        name: event.name.clone(),
                        ..Default::default()
                    }),
            };
            event_entry.count += 1;
            event_entry.total_duration_ms += ns_to_ms(event.duration_ns);
            event_entry.total_exclusive_ms +=
                ns_to_ms(event.duration_ns.saturating_sub(event.child_duration_ns));
        }
        entry.samples.offer(transaction, &mut self.tally);
    }

    pub fn sample_count(&self) -> usize {
        self.tally.count
    }

    pub fn sample_bytes(&self) -> usize {
        self.tally.bytes
    }

    /// Number of (namespace, action, minute) series held.
    pub fn series(&self) -> usize {
        self.series
    }

    /// Everything aggregated so far, emptying the table.
    pub fn take(&mut self) -> Taken {
        self.series = 0;
        let tally = std::mem::take(&mut self.tally);
        let mut out = Vec::new();
        let mut samples = Vec::with_capacity(tally.count);
        let mut namespaces: Vec<_> = std::mem::take(&mut self.by_namespace).into_iter().collect();
        namespaces.sort_by(|a, b| a.0.cmp(&b.0));
        for (namespace, actions) in namespaces {
            let mut actions: Vec<_> = actions.into_iter().collect();
            actions.sort_by(|a, b| a.0.cmp(&b.0));
            for (action, entry) in actions {
                entry.samples.drain_into(&mut samples);
                for (minute_unix, agg) in entry.minutes {
                    let mut minute = agg.minute;
                    minute.namespace = namespace.clone();
                    minute.action = action.clone();
                    minute.minute_unix = minute_unix;
                    let mut events: Vec<EventMinute> = agg.events.into_values().collect();
                    events.sort_by(|a, b| a.name.cmp(&b.name));
                    minute.events = events;
                    out.push(minute);
                }
            }
        }
        out.sort_by(|a, b| {
            (a.minute_unix, &a.namespace, &a.action).cmp(&(b.minute_unix, &b.namespace, &b.action))
        });
        Taken {
            minutes: out,
            samples,
            error_samples_skipped: tally.dropped_errors,
        }
    }
}
