//! Minutely buckets live 12 hours; then they are added into hourly buckets and deleted, in one
//! transaction so a crash never counts a minute twice. Hourly buckets expire after the
//! retention period.

use crate::clock::floor_minute;
use crate::store::{Store, Value};
use anyhow::Result;

#[derive(Debug, Clone)]
pub struct RetentionConfig {
    pub minutely_secs: i64,
    pub hourly_secs: i64,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        Self {
            minutely_secs: 12 * 3600,
            hourly_secs: 30 * 24 * 3600,
        }
    }
}

/// `ts - ts % 3600` in portable SQL (timestamps are positive).
const HOUR: &str = "(ts - (ts % 3600))";

/// Returns the number of minutely action rows rolled up.
pub fn compact(store: &Store, retention: &RetentionConfig, now: i64) -> Result<u64> {
    let cutoff = Value::I64(floor_minute(now - retention.minutely_secs));
    let expired = Value::I64(now - retention.hourly_secs);
    let mut moved = 0;
    store.db.transaction(&mut |tx| {
        if !tx.try_job_lock("rollup")? {
            return Ok(());
        }
        moved = tx.exec(
            &format!(
                "INSERT INTO action_hours (app_id, namespace, action, ts, count, error_count, total_ms, min_ms, max_ms, queue_ms)
                 SELECT app_id, namespace, action, {HOUR}, SUM(count), SUM(error_count), SUM(total_ms), MIN(min_ms), MAX(max_ms), SUM(queue_ms)
                 FROM action_minutes WHERE ts < ?1 GROUP BY app_id, namespace, action, {HOUR}
                 ON CONFLICT (app_id, namespace, action, ts) DO UPDATE SET
                   count = action_hours.count + excluded.count,
                   error_count = action_hours.error_count + excluded.error_count,
                   total_ms = action_hours.total_ms + excluded.total_ms,
                   min_ms = CASE WHEN excluded.min_ms < action_hours.min_ms THEN excluded.min_ms ELSE action_hours.min_ms END,
                   max_ms = CASE WHEN excluded.max_ms > action_hours.max_ms THEN excluded.max_ms ELSE action_hours.max_ms END,
                   queue_ms = action_hours.queue_ms + excluded.queue_ms"
            ),
            std::slice::from_ref(&cutoff),
        )?;
        tx.exec(
            &format!(
                "INSERT INTO action_hour_buckets (app_id, namespace, action, ts, bucket, count)
                 SELECT app_id, namespace, action, {HOUR}, bucket, SUM(count)
                 FROM action_minute_buckets WHERE ts < ?1 GROUP BY app_id, namespace, action, {HOUR}, bucket
                 ON CONFLICT (app_id, namespace, action, ts, bucket) DO UPDATE SET
                   count = action_hour_buckets.count + excluded.count"
            ),
            std::slice::from_ref(&cutoff),
        )?;
        tx.exec(
            &format!(
                "INSERT INTO event_hours (app_id, namespace, action, ts, name, count, total_ms, exclusive_ms)
                 SELECT app_id, namespace, action, {HOUR}, name, SUM(count), SUM(total_ms), SUM(exclusive_ms)
                 FROM event_minutes WHERE ts < ?1 GROUP BY app_id, namespace, action, {HOUR}, name
                 ON CONFLICT (app_id, namespace, action, ts, name) DO UPDATE SET
                   count = event_hours.count + excluded.count,
                   total_ms = event_hours.total_ms + excluded.total_ms,
                   exclusive_ms = event_hours.exclusive_ms + excluded.exclusive_ms"
            ),
            std::slice::from_ref(&cutoff),
        )?;
        // Gauges keep the hour's mean (value/count are summed; the reader divides for kind 2
        // by the number of minutes, stored in count).
        tx.exec(
            &format!(
                "INSERT INTO metric_hours (app_id, source, name, tags, hostname, kind, ts, value, count, min, max)
                 SELECT app_id, source, name, tags, MAX(hostname), MAX(kind), {HOUR},
                   SUM(value), CAST(CASE WHEN MAX(kind) = 2 THEN COUNT(*) ELSE SUM(count) END AS BIGINT), MIN(min), MAX(max)
                 FROM metric_minutes WHERE ts < ?1 GROUP BY app_id, source, name, tags, {HOUR}
                 ON CONFLICT (app_id, source, name, tags, ts) DO UPDATE SET
                   value = metric_hours.value + excluded.value,
                   count = metric_hours.count + excluded.count,
                   min = CASE WHEN excluded.min < metric_hours.min THEN excluded.min ELSE metric_hours.min END,
                   max = CASE WHEN excluded.max > metric_hours.max THEN excluded.max ELSE metric_hours.max END"
            ),
            std::slice::from_ref(&cutoff),
        )?;
        for table in ["action_minutes", "action_minute_buckets", "event_minutes", "metric_minutes"] {
            tx.exec(&format!("DELETE FROM {table} WHERE ts < ?1"), std::slice::from_ref(&cutoff))?;
        }
        for table in ["action_hours", "action_hour_buckets", "event_hours", "metric_hours"] {
            tx.exec(&format!("DELETE FROM {table} WHERE ts < ?1"), std::slice::from_ref(&expired))?;
        }
        tx.exec("DELETE FROM processed_payloads WHERE processed_at < ?1", std::slice::from_ref(&expired))?;
        Ok(())
    })?;
    Ok(moved)
}
