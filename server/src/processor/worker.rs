//! The processing loop: pull a batch from the queue, apply each payload in its own store
//! transaction, acknowledge after commit. A payload that cannot be applied is left
//! unacknowledged so the queue redelivers it.

use super::apply::{apply_payload, Outcome};
use super::ProcessorConfig;
use crate::clock::SharedClock;
use crate::queue::Queue;
use crate::store::Store;
use anyhow::Result;
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
            Ok(batch) => batch,
            Err(e) => {
                eprintln!("appsignal-server: queue read failed: {e:#}");
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                continue;
            }
        };
        for delivery in batch {
            let (store, config, clock, stats2) =
                (store.clone(), config.clone(), clock.clone(), stats.clone());
            let body = delivery.body.clone();
            let app_id = delivery.app_id;
            let applied = tokio::task::spawn_blocking(move || -> Result<()> {
                process_one(&store, &config, clock.now_unix(), app_id, &body, &stats2)
            })
            .await;
            match applied {
                Ok(Ok(())) => {
                    if let Err(e) = queue.ack(delivery).await {
                        eprintln!("appsignal-server: ack failed (will be redelivered): {e:#}");
                    }
                }
                Ok(Err(e)) => {
                    stats.failures.fetch_add(1, Ordering::Relaxed);
                    eprintln!("appsignal-server: processing a payload failed (will retry): {e:#}");
                }
                Err(e) => eprintln!("appsignal-server: processor task died: {e}"),
            }
        }
    }
}

pub fn process_one(
    store: &Store,
    config: &ProcessorConfig,
    now: i64,
    app_id: i64,
    body: &[u8],
    stats: &ProcessorStats,
) -> Result<()> {
    // The Push API validated it already; a body that still fails to decode is dropped (acked),
    // since redelivering it can never succeed.
    let Ok(payload) = Payload::decode(body) else {
        eprintln!("appsignal-server: dropping undecodable queued payload for app {app_id}");
        return Ok(());
    };
    match apply_payload(store, config, app_id, &payload, now)? {
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
    Ok(())
}
