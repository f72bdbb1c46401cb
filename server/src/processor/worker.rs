//! The processing loop: pull a batch from the queue, apply it in one store transaction,
//! acknowledge after commit. When the batch fails, its payloads are applied one by one, so one
//! bad payload cannot hold back the rest; a payload that cannot be applied is left
//! unacknowledged so the queue redelivers it.

use super::apply::{apply_batch, apply_payload, Outcome};
use super::ProcessorConfig;
use crate::clock::SharedClock;
use crate::queue::Queue;
use crate::store::Store;
use appsignal_proto::v1::Payload;
use prost::Message;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tokio::sync::watch;

#[derive(Default)]
pub struct ProcessorStats {
    pub payloads: AtomicU64,
    pub duplicates: AtomicU64,
    pub transactions: AtomicU64,
    pub failures: AtomicU64,
}

pub async fn run(
    queue: Queue,
    store: Store,
    config: ProcessorConfig,
    clock: SharedClock,
    stats: Arc<ProcessorStats>,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        if *shutdown.borrow() {
            return;
        }
        let batch = tokio::select! {
            batch = queue.next_batch(32) => batch,
            _ = shutdown.changed() => return,
        };
        let batch = match batch {
            Ok(batch) if batch.is_empty() => continue,
            Ok(batch) => batch,
            Err(e) => {
                eprintln!("appsignal-server: queue read failed: {e:#}");
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                continue;
            }
        };
        let bodies: Vec<(i64, Vec<u8>)> =
            batch.iter().map(|d| (d.app_id, d.body.clone())).collect();
        let (store, config, clock, stats2) =
            (store.clone(), config.clone(), clock.clone(), stats.clone());
        let done = tokio::task::spawn_blocking(move || {
            process_batch(&store, &config, clock.now_unix(), &bodies, &stats2)
        })
        .await;
        let done = match done {
            Ok(done) => done,
            Err(e) => {
                eprintln!("appsignal-server: processor task died: {e}");
                continue;
            }
        };
        for (delivery, ok) in batch.into_iter().zip(done) {
            if ok {
                if let Err(e) = queue.ack(delivery).await {
                    eprintln!("appsignal-server: ack failed (will be redelivered): {e:#}");
                }
            }
        }
    }
}

/// Applies queued bodies (app id, protobuf); for each, whether to acknowledge it.
pub fn process_batch(
    store: &Store,
    config: &ProcessorConfig,
    now: i64,
    bodies: &[(i64, Vec<u8>)],
    stats: &ProcessorStats,
) -> Vec<bool> {
    // The Push API validated them already; a body that still fails to decode is dropped
    // (acknowledged), since redelivering it can never succeed.
    let decoded: Vec<Option<Payload>> = bodies
        .iter()
        .map(|(app_id, body)| {
            let payload = Payload::decode(body.as_slice()).ok();
            if payload.is_none() {
                eprintln!("appsignal-server: dropping undecodable queued payload for app {app_id}");
            }
            payload
        })
        .collect();
    let items: Vec<(i64, &Payload)> = bodies
        .iter()
        .zip(&decoded)
        .filter_map(|((app_id, _), p)| p.as_ref().map(|p| (*app_id, p)))
        .collect();
    match apply_batch(store, config, &items, now) {
        Ok(outcomes) => {
            for ((_, payload), outcome) in items.iter().zip(outcomes) {
                count(stats, payload, outcome);
            }
            vec![true; bodies.len()]
        }
        Err(e) => {
            if items.len() > 1 {
                eprintln!(
                    "appsignal-server: a batch of {} payloads failed ({e:#}); applying them one by one",
                    items.len()
                );
            }
            bodies
                .iter()
                .zip(&decoded)
                .map(|((app_id, _), payload)| {
                    let Some(payload) = payload else {
                        return true;
                    };
                    match apply_payload(store, config, *app_id, payload, now) {
                        Ok(outcome) => {
                            count(stats, payload, outcome);
                            true
                        }
                        Err(e) => {
                            stats.failures.fetch_add(1, Ordering::Relaxed);
                            eprintln!(
                                "appsignal-server: processing a payload of app {app_id} failed (will retry): {e:#}"
                            );
                            false
                        }
                    }
                })
                .collect()
        }
    }
}

fn count(stats: &ProcessorStats, payload: &Payload, outcome: Outcome) {
    match outcome {
        Outcome::Applied => {
            stats.payloads.fetch_add(1, Ordering::Relaxed);
            let transactions: u64 = payload.actions.iter().map(|a| a.count).sum();
            stats
                .transactions
                .fetch_add(transactions, Ordering::Relaxed);
        }
        Outcome::Duplicate => {
            stats.duplicates.fetch_add(1, Ordering::Relaxed);
        }
    }
}
