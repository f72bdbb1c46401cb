//! The processing loop: pull a batch from the queue, apply it in one store transaction,
//! acknowledge after commit. When the batch fails, its payloads are applied one by one, so one
//! bad payload cannot hold back the rest; a payload that cannot be applied is left
//! unacknowledged so the queue redelivers it, up to `MAX_ATTEMPTS` deliveries. Then, or at
//! once when it does not decode, it is moved to the store's `dead_letters` table: kept for a
//! look and a fix, not retried forever and not dropped.

use super::apply::{apply_batch, apply_payload, Outcome};
use super::ProcessorConfig;
use crate::clock::SharedClock;
use crate::queue::Queue;
use crate::store::{Store, Value};
use appsignal_proto::v1::Payload;
use prost::Message;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tokio::sync::watch;

/// Deliveries of one payload before it goes to `dead_letters`: with the SQLite queue's
/// 120 s lease and JetStream's 60 s ack wait, 10 to 20 minutes of trying, which outlasts a
/// short store outage (when the store is down, moving it there fails too, and it stays).
pub const MAX_ATTEMPTS: u32 = 10;

#[derive(Default)]
pub struct ProcessorStats {
    pub payloads: AtomicU64,
    pub duplicates: AtomicU64,
    pub transactions: AtomicU64,
    pub failures: AtomicU64,
    pub dead_lettered: AtomicU64,
}

/// A queued payload as the processor sees it.
pub struct Queued {
    pub app_id: i64,
    pub body: Vec<u8>,
    /// 1 on the first delivery.
    pub attempt: u32,
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
        let bodies: Vec<Queued> = batch
            .iter()
            .map(|d| Queued {
                app_id: d.app_id,
                body: d.body.clone(),
                attempt: d.attempt,
            })
            .collect();
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

/// Applies queued payloads; for each, whether to acknowledge it.
pub fn process_batch(
    store: &Store,
    config: &ProcessorConfig,
    now: i64,
    bodies: &[Queued],
    stats: &ProcessorStats,
) -> Vec<bool> {
    // The Push API validated them already; a body that still fails to decode can never
    // succeed: it is dead-lettered at once.
    let decoded: Vec<Result<Payload, prost::DecodeError>> = bodies
        .iter()
        .map(|queued| Payload::decode(queued.body.as_slice()))
        .collect();
    let items: Vec<(i64, &Payload)> = bodies
        .iter()
        .zip(&decoded)
        .filter_map(|(queued, p)| p.as_ref().ok().map(|p| (queued.app_id, p)))
        .collect();
    let undecodable = |queued: &Queued, error: &prost::DecodeError| {
        dead_letter(
            store,
            queued,
            &format!("does not decode: {error}"),
            now,
            stats,
        )
    };
    match apply_batch(store, config, &items, now) {
        Ok(outcomes) => {
            for ((_, payload), outcome) in items.iter().zip(outcomes) {
                count(stats, payload, outcome);
            }
            bodies
                .iter()
                .zip(&decoded)
                .map(|(queued, payload)| match payload {
                    Ok(_) => true,
                    Err(e) => undecodable(queued, e),
                })
                .collect()
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
                .map(|(queued, payload)| {
                    let payload = match payload {
                        Ok(payload) => payload,
                        Err(e) => return undecodable(queued, e),
                    };
                    match apply_payload(store, config, queued.app_id, payload, now) {
                        Ok(outcome) => {
                            count(stats, payload, outcome);
                            true
                        }
                        Err(e) => {
                            stats.failures.fetch_add(1, Ordering::Relaxed);
                            if queued.attempt >= MAX_ATTEMPTS {
                                return dead_letter(store, queued, &format!("{e:#}"), now, stats);
                            }
                            eprintln!(
                                "appsignal-server: processing a payload of app {} failed on delivery {} of {MAX_ATTEMPTS} (will retry): {e:#}",
                                queued.app_id, queued.attempt
                            );
                            false
                        }
                    }
                })
                .collect()
        }
    }
}

/// Keeps a payload that will not be processed in `dead_letters`; whether that worked (then
/// it is acknowledged; if not, the store is likely down and the queue keeps it).
fn dead_letter(
    store: &Store,
    queued: &Queued,
    error: &str,
    now: i64,
    stats: &ProcessorStats,
) -> bool {
    let error: String = error.chars().take(2_000).collect();
    let kept = store.db.transaction(&mut |tx| {
        tx.exec(
            "INSERT INTO dead_letters (app_id, body, error, attempts, failed_at) VALUES (?1, ?2, ?3, ?4, ?5)",
            &[
                Value::I64(queued.app_id),
                Value::Blob(queued.body.clone()),
                Value::Text(error.clone()),
                Value::I64(queued.attempt.into()),
                Value::I64(now),
            ],
        )?;
        Ok(())
    });
    match kept {
        Ok(()) => {
            stats.dead_lettered.fetch_add(1, Ordering::Relaxed);
            eprintln!(
                "appsignal-server: moved a payload of app {} to dead_letters after {} deliveries: {error}",
                queued.app_id, queued.attempt
            );
            true
        }
        Err(e) => {
            eprintln!(
                "appsignal-server: cannot move a payload of app {} to dead_letters ({e:#}); it stays queued",
                queued.app_id
            );
            false
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
