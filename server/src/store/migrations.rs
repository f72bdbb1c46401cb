//! Versioned schema migrations, written once for both backends. `{id}`, `{float}` and `{blob}`
//! stand for the column types that differ; everything else is portable SQL. Append new
//! versions; never edit an applied one.

use super::db::{Db, Dialect, Value};
use anyhow::Result;

const MIGRATIONS: &[(i64, &str)] = &[
    (
        1,
        r#"
CREATE TABLE apps (id {id}, name TEXT NOT NULL UNIQUE, api_key TEXT NOT NULL UNIQUE,
  created_at BIGINT NOT NULL, last_data_at BIGINT NOT NULL DEFAULT 0);
CREATE TABLE processed_payloads (app_id BIGINT NOT NULL, payload_id TEXT NOT NULL,
  processed_at BIGINT NOT NULL, processor TEXT NOT NULL, PRIMARY KEY (app_id, payload_id));

CREATE TABLE action_minutes (app_id BIGINT NOT NULL, namespace TEXT NOT NULL, action TEXT NOT NULL,
  ts BIGINT NOT NULL, count BIGINT NOT NULL, error_count BIGINT NOT NULL, total_ms {float} NOT NULL,
  min_ms {float} NOT NULL, max_ms {float} NOT NULL, queue_ms {float} NOT NULL,
  PRIMARY KEY (app_id, namespace, action, ts));
CREATE TABLE action_hours (app_id BIGINT NOT NULL, namespace TEXT NOT NULL, action TEXT NOT NULL,
  ts BIGINT NOT NULL, count BIGINT NOT NULL, error_count BIGINT NOT NULL, total_ms {float} NOT NULL,
  min_ms {float} NOT NULL, max_ms {float} NOT NULL, queue_ms {float} NOT NULL,
  PRIMARY KEY (app_id, namespace, action, ts));
CREATE TABLE action_minute_buckets (app_id BIGINT NOT NULL, namespace TEXT NOT NULL,
  action TEXT NOT NULL, ts BIGINT NOT NULL, bucket BIGINT NOT NULL, count BIGINT NOT NULL,
  PRIMARY KEY (app_id, namespace, action, ts, bucket));
CREATE TABLE action_hour_buckets (app_id BIGINT NOT NULL, namespace TEXT NOT NULL,
  action TEXT NOT NULL, ts BIGINT NOT NULL, bucket BIGINT NOT NULL, count BIGINT NOT NULL,
  PRIMARY KEY (app_id, namespace, action, ts, bucket));
CREATE TABLE event_minutes (app_id BIGINT NOT NULL, namespace TEXT NOT NULL, action TEXT NOT NULL,
  ts BIGINT NOT NULL, name TEXT NOT NULL, count BIGINT NOT NULL, total_ms {float} NOT NULL,
  exclusive_ms {float} NOT NULL, PRIMARY KEY (app_id, namespace, action, ts, name));
CREATE TABLE event_hours (app_id BIGINT NOT NULL, namespace TEXT NOT NULL, action TEXT NOT NULL,
  ts BIGINT NOT NULL, name TEXT NOT NULL, count BIGINT NOT NULL, total_ms {float} NOT NULL,
  exclusive_ms {float} NOT NULL, PRIMARY KEY (app_id, namespace, action, ts, name));
CREATE TABLE metric_minutes (app_id BIGINT NOT NULL, source BIGINT NOT NULL, name TEXT NOT NULL,
  tags TEXT NOT NULL, hostname TEXT NOT NULL, kind BIGINT NOT NULL, ts BIGINT NOT NULL,
  value {float} NOT NULL, count BIGINT NOT NULL, min {float} NOT NULL, max {float} NOT NULL,
  PRIMARY KEY (app_id, source, name, tags, ts));
CREATE TABLE metric_hours (app_id BIGINT NOT NULL, source BIGINT NOT NULL, name TEXT NOT NULL,
  tags TEXT NOT NULL, hostname TEXT NOT NULL, kind BIGINT NOT NULL, ts BIGINT NOT NULL,
  value {float} NOT NULL, count BIGINT NOT NULL, min {float} NOT NULL, max {float} NOT NULL,
  PRIMARY KEY (app_id, source, name, tags, ts));

CREATE TABLE samples (id {id}, app_id BIGINT NOT NULL, tx_id TEXT NOT NULL, namespace TEXT NOT NULL,
  action TEXT NOT NULL, ts BIGINT NOT NULL, duration_ms {float} NOT NULL, is_error BIGINT NOT NULL,
  exception TEXT NOT NULL, message TEXT NOT NULL, body TEXT NOT NULL, UNIQUE (app_id, tx_id));
CREATE INDEX samples_by_action ON samples (app_id, namespace, action, is_error, ts);
CREATE TABLE incidents (id {id}, app_id BIGINT NOT NULL, kind TEXT NOT NULL, namespace TEXT NOT NULL,
  action TEXT NOT NULL, exception TEXT NOT NULL, message TEXT NOT NULL, count BIGINT NOT NULL,
  first_seen BIGINT NOT NULL, last_seen BIGINT NOT NULL, state TEXT NOT NULL,
  last_sample_id BIGINT NOT NULL, notified_at BIGINT NOT NULL,
  UNIQUE (app_id, kind, namespace, action, exception));
CREATE TABLE deploys (id {id}, app_id BIGINT NOT NULL, revision TEXT NOT NULL,
  first_seen BIGINT NOT NULL, UNIQUE (app_id, revision));

CREATE TABLE triggers (id {id}, app_id BIGINT NOT NULL, metric TEXT NOT NULL, namespace TEXT NOT NULL,
  action TEXT NOT NULL, name TEXT NOT NULL, hostname TEXT NOT NULL, above {float} NOT NULL,
  close_after BIGINT NOT NULL, last_evaluated BIGINT NOT NULL, ok_streak BIGINT NOT NULL,
  created_at BIGINT NOT NULL);
CREATE TABLE alerts (id {id}, app_id BIGINT NOT NULL, trigger_id BIGINT NOT NULL, state TEXT NOT NULL,
  opened_at BIGINT NOT NULL, closed_at BIGINT NOT NULL, last_value {float} NOT NULL,
  peak_value {float} NOT NULL);

CREATE TABLE notifiers (id {id}, app_id BIGINT NOT NULL, kind TEXT NOT NULL, target TEXT NOT NULL);
CREATE TABLE outbox (id {id}, app_id BIGINT NOT NULL, notifier_id BIGINT NOT NULL, kind TEXT NOT NULL,
  subject TEXT NOT NULL, body TEXT NOT NULL, state TEXT NOT NULL, attempts BIGINT NOT NULL,
  next_attempt_at BIGINT NOT NULL, created_at BIGINT NOT NULL);
CREATE INDEX outbox_pending ON outbox (state, next_attempt_at);
"#,
    ),
    (
        2,
        // Gauge and host triggers can pick one tag set, e.g. `state=used` of `memory`.
        "ALTER TABLE triggers ADD COLUMN tag TEXT NOT NULL DEFAULT ''",
    ),
    (
        3,
        // Payloads that could not be processed after many deliveries, or not decoded at
        // all: kept (the body exactly as queued) instead of retried forever or dropped.
        r#"
CREATE TABLE dead_letters (id {id}, app_id BIGINT NOT NULL, body {blob} NOT NULL,
  error TEXT NOT NULL, attempts BIGINT NOT NULL, failed_at BIGINT NOT NULL)
"#,
    ),
];

fn render(sql: &str, dialect: Dialect) -> String {
    let (id, float, blob) = match dialect {
        Dialect::Sqlite => ("INTEGER PRIMARY KEY AUTOINCREMENT", "REAL", "BLOB"),
        Dialect::Postgres => ("BIGSERIAL PRIMARY KEY", "DOUBLE PRECISION", "BYTEA"),
    };
    sql.replace("{id}", id)
        .replace("{float}", float)
        .replace("{blob}", blob)
}

/// Brings the schema up to date. Safe to run from several processes at once: each version is
/// applied inside the same transaction that records it, under a job lock.
pub fn migrate(db: &dyn Db) -> Result<()> {
    let dialect = db.dialect();
    db.transaction(&mut |tx| {
        tx.exec(
            "CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, applied_at BIGINT NOT NULL)",
            &[],
        )?;
        Ok(())
    })?;
    for (version, sql) in MIGRATIONS {
        db.transaction(&mut |tx| {
            // Postgres: wait for a concurrent migrator instead of racing it.
            if dialect == Dialect::Postgres {
                tx.exec("LOCK TABLE schema_migrations IN EXCLUSIVE MODE", &[])?;
            }
            let done = tx.query(
                "SELECT version FROM schema_migrations WHERE version = ?1",
                &[Value::I64(*version)],
            )?;
            if !done.is_empty() {
                return Ok(());
            }
            for statement in render(sql, dialect).split(';') {
                if !statement.trim().is_empty() {
                    tx.exec(statement, &[])?;
                }
            }
            tx.exec(
                "INSERT INTO schema_migrations (version, applied_at) VALUES (?1, ?2)",
                &[Value::I64(*version), Value::I64(0)],
            )?;
            Ok(())
        })?;
    }
    Ok(())
}
