//! The embedded queue: rows in `DATA/queue.sqlite3`. A delivery is leased for a while instead
//! of deleted, so a processor that dies mid-payload gets it back when the lease runs out.
//! Lease times come from the injected clock.

use super::{Delivery, Handle};
use crate::clock::SharedClock;
use crate::store::sqlite::open_connection;
use anyhow::{anyhow, Result};
use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;
use tokio::sync::Notify;

/// How long a delivery stays with the processor that took it before it is handed out again.
pub const LEASE_SECS: i64 = 120;

pub struct SqliteQueue {
    conn: Mutex<rusqlite::Connection>,
    wake: Notify,
    clock: SharedClock,
}

impl SqliteQueue {
    pub fn open(data_dir: &Path, clock: SharedClock) -> Result<Self> {
        std::fs::create_dir_all(data_dir)
            .map_err(|e| anyhow!("cannot create --data directory {}: {e}", data_dir.display()))?;
        let conn = open_connection(&data_dir.join("queue.sqlite3"))?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS queue (id INTEGER PRIMARY KEY AUTOINCREMENT, app_id INTEGER NOT NULL,
               body BLOB NOT NULL, enqueued_at INTEGER NOT NULL, leased_until INTEGER NOT NULL DEFAULT 0,
               attempts INTEGER NOT NULL DEFAULT 0)",
        )?;
        // Queue files written before deliveries were counted.
        let counted: bool = conn.query_row(
            "SELECT COUNT(*) > 0 FROM pragma_table_info('queue') WHERE name = 'attempts'",
            [],
            |r| r.get(0),
        )?;
        if !counted {
            conn.execute_batch("ALTER TABLE queue ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0")?;
        }
        Ok(Self {
            conn: Mutex::new(conn),
            wake: Notify::new(),
            clock,
        })
    }

    fn conn(&self) -> Result<std::sync::MutexGuard<'_, rusqlite::Connection>> {
        self.conn.lock().map_err(|_| anyhow!("queue lock poisoned"))
    }

    pub fn enqueue(&self, app_id: i64, body: &[u8]) -> Result<()> {
        self.conn()?.execute(
            "INSERT INTO queue (app_id, body, enqueued_at) VALUES (?1, ?2, ?3)",
            rusqlite::params![app_id, body, self.clock.now_unix()],
        )?;
        self.wake.notify_one();
        Ok(())
    }

    fn lease(&self, max: usize) -> Result<Vec<Delivery>> {
        let mut conn = self.conn()?;
        let tx = conn.transaction()?;
        let now = self.clock.now_unix();
        let mut out = Vec::new();
        {
            let mut select = tx.prepare_cached(
                "SELECT id, app_id, body, attempts FROM queue WHERE leased_until < ?1 ORDER BY id LIMIT ?2",
            )?;
            let mut rows = select.query(rusqlite::params![now, max as i64])?;
            while let Some(row) = rows.next()? {
                let attempts: i64 = row.get(3)?;
                out.push(Delivery {
                    handle: Handle::Sqlite(row.get(0)?),
                    app_id: row.get(1)?,
                    body: row.get(2)?,
                    attempt: u32::try_from(attempts + 1).unwrap_or(u32::MAX),
                });
            }
            let mut lease = tx.prepare_cached(
                "UPDATE queue SET leased_until = ?2, attempts = attempts + 1 WHERE id = ?1",
            )?;
            for d in &out {
                if let Handle::Sqlite(id) = d.handle {
                    lease.execute(rusqlite::params![id, now + LEASE_SECS])?;
                }
            }
        }
        tx.commit()?;
        Ok(out)
    }

    pub async fn next_batch(self: &std::sync::Arc<Self>, max: usize) -> Result<Vec<Delivery>> {
        let this = self.clone();
        let batch = tokio::task::spawn_blocking(move || this.lease(max)).await??;
        if batch.is_empty() {
            let _ = tokio::time::timeout(Duration::from_millis(500), self.wake.notified()).await;
        }
        Ok(batch)
    }

    pub fn delete(&self, id: i64) -> Result<()> {
        self.conn()?
            .execute("DELETE FROM queue WHERE id = ?1", rusqlite::params![id])?;
        Ok(())
    }

    pub fn depth(&self) -> Result<i64> {
        Ok(self
            .conn()?
            .query_row("SELECT COUNT(*) FROM queue", [], |r| r.get(0))?)
    }
}
