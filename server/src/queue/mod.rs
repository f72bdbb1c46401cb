//! Between the Push API and the processor. The Push API answers 200 only after the payload is
//! durably queued; the processor acknowledges only after its store transaction committed.
//! Embedded default: a SQLite file in the data directory. Scale-out: a NATS JetStream stream
//! with one durable pull consumer shared by all processor processes.

pub mod envelope;
pub mod nats;
pub mod sqlite;

use anyhow::Result;
use std::path::Path;
use std::sync::Arc;

pub struct Delivery {
    pub app_id: i64,
    /// The decompressed, already validated protobuf `Payload`.
    pub body: Vec<u8>,
    /// 1 on the first delivery, counting deliveries by any processor.
    pub attempt: u32,
    handle: Handle,
}

enum Handle {
    Sqlite(i64),
    Nats(Box<async_nats::jetstream::Message>),
}

#[derive(Clone)]
pub enum Queue {
    Sqlite(Arc<sqlite::SqliteQueue>),
    Nats(Arc<nats::NatsQueue>),
}

impl Queue {
    /// `spec` is the `--queue` value: empty or `sqlite` for `DATA/queue.sqlite3`, or a
    /// `nats://` URL (with `stream` naming the JetStream stream).
    pub async fn open(
        spec: &str,
        data_dir: &Path,
        stream: &str,
        clock: crate::clock::SharedClock,
    ) -> Result<Self> {
        if spec.starts_with("nats://") {
            Ok(Queue::Nats(Arc::new(
                nats::NatsQueue::connect(spec, stream).await?,
            )))
        } else {
            let data_dir = data_dir.to_path_buf();
            let queue =
                tokio::task::spawn_blocking(move || sqlite::SqliteQueue::open(&data_dir, clock))
                    .await??;
            Ok(Queue::Sqlite(Arc::new(queue)))
        }
    }

    pub async fn enqueue(&self, app_id: i64, body: Vec<u8>) -> Result<()> {
        match self {
            Queue::Sqlite(q) => {
                let q = q.clone();
                tokio::task::spawn_blocking(move || q.enqueue(app_id, &body)).await?
            }
            Queue::Nats(q) => q.enqueue(app_id, body).await,
        }
    }

    /// Up to `max` deliveries; waits about a second when there is nothing.
    pub async fn next_batch(&self, max: usize) -> Result<Vec<Delivery>> {
        match self {
            Queue::Sqlite(q) => q.next_batch(max).await,
            Queue::Nats(q) => q.next_batch(max).await,
        }
    }

    pub async fn ack(&self, delivery: Delivery) -> Result<()> {
        match delivery.handle {
            Handle::Sqlite(id) => match self {
                Queue::Sqlite(q) => {
                    let q = q.clone();
                    tokio::task::spawn_blocking(move || q.delete(id)).await?
                }
                Queue::Nats(_) => Ok(()),
            },
            Handle::Nats(message) => nats::ack(&message).await,
        }
    }

    /// Payloads waiting (SQLite only; JetStream reports its own).
    pub async fn depth(&self) -> Result<i64> {
        match self {
            Queue::Sqlite(q) => {
                let q = q.clone();
                tokio::task::spawn_blocking(move || q.depth()).await?
            }
            Queue::Nats(_) => Ok(0),
        }
    }
}
