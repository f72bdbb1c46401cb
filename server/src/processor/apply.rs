//! A batch of payloads, one transaction. Each payload_id is first claimed in
//! `processed_payloads`; a redelivered payload finds it taken and changes nothing, which is what
//! makes at-least-once queues safe. The claimed payloads' action minutes are added up first
//! (merge.rs), so each hot row is written once per batch.

use super::merge::ActionMerge;
use super::ProcessorConfig;
use crate::notify::outbox;
use crate::store::{Store, Tx, Value};
use anyhow::Result;
use appsignal_proto::v1::{ActionMinute, MetricMinute, MetricSource, Payload, Transaction};
use serde_json::json;

/// The histogram's zero bucket, stored beside the log buckets.
pub const ZERO_BUCKET: i64 = i64::MIN / 2;

#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    Applied,
    Duplicate,
}

pub fn apply_payload(
    store: &Store,
    config: &ProcessorConfig,
    app_id: i64,
    payload: &Payload,
    now: i64,
) -> Result<Outcome> {
    let mut outcomes = apply_batch(store, config, &[(app_id, payload)], now)?;
    Ok(outcomes.pop().unwrap_or(Outcome::Duplicate))
}

/// Applies `payloads` (app id, payload) in one transaction: all or nothing. The outcomes are
/// in the same order; a payload_id seen before (or twice in the batch) is a duplicate.
pub fn apply_batch(
    store: &Store,
    config: &ProcessorConfig,
    payloads: &[(i64, &Payload)],
    now: i64,
) -> Result<Vec<Outcome>> {
    let mut outcomes = Vec::with_capacity(payloads.len());
    store.db.transaction(&mut |tx| {
        outcomes.clear();
        let mut merge = ActionMerge::default();
        let mut claimed = Vec::new();
        for (app_id, payload) in payloads {
            let outcome = claim(tx, config, *app_id, payload, now)?;
            if outcome == Outcome::Applied {
                merge.add(*app_id, payload);
                claimed.push((*app_id, *payload));
            }
            outcomes.push(outcome);
        }
        for (app_id, action) in merge.into_actions() {
            apply_action(tx, app_id, &action)?;
        }
        for (app_id, payload) in &claimed {
            apply_rest(tx, config, *app_id, payload, now)?;
        }
        let apps: std::collections::BTreeSet<i64> = claimed.iter().map(|(id, _)| *id).collect();
        for app_id in apps {
            tx.exec(
                "UPDATE apps SET last_data_at = ?2 WHERE id = ?1",
                &[app_id.into(), now.into()],
            )?;
        }
        Ok(())
    })?;
    Ok(outcomes)
}

fn claim(
    tx: &mut dyn Tx,
    config: &ProcessorConfig,
    app_id: i64,
    payload: &Payload,
    now: i64,
) -> Result<Outcome> {
    if payload.payload_id.is_empty() {
        return Ok(Outcome::Applied);
    }
    let claimed = tx.exec(
        "INSERT INTO processed_payloads (app_id, payload_id, processed_at, processor) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT DO NOTHING",
        &[
            app_id.into(),
            (&payload.payload_id).into(),
            now.into(),
            (&config.processor_name).into(),
        ],
    )?;
    Ok(if claimed == 0 {
        Outcome::Duplicate
    } else {
        Outcome::Applied
    })
}

/// Everything of a payload but its action minutes: metrics, samples, deploys.
fn apply_rest(
    tx: &mut dyn Tx,
    config: &ProcessorConfig,
    app_id: i64,
    payload: &Payload,
    now: i64,
) -> Result<()> {
    // In key order, so that concurrent processors lock shared rows in the same order.
    let mut metrics: Vec<&MetricMinute> = payload.metrics.iter().collect();
    metrics.sort_by(|a, b| {
        (a.source, &a.name, &a.tags, a.minute_unix).cmp(&(
            b.source,
            &b.name,
            &b.tags,
            b.minute_unix,
        ))
    });
    for metric in metrics {
        apply_metric(tx, app_id, &payload.hostname, metric)?;
    }
    for sample in &payload.samples {
        apply_sample(tx, config, app_id, sample, now)?;
    }
    for revision in &payload.revisions {
        apply_revision(tx, app_id, revision, now)?;
    }
    Ok(())
}

/// Histogram buckets written per statement (2 parameters each, plus the 4 of the key).
const BUCKETS_PER_STATEMENT: usize = 100;

/// `INSERT ... VALUES (key, ?5, ?6), (key, ?7, ?8), ...` for `rows` buckets of one action
/// minute; the key's parameters ?1..?4 are shared by all rows.
fn bucket_upsert(rows: usize) -> String {
    let values: Vec<String> = (0..rows)
        .map(|i| format!("(?1, ?2, ?3, ?4, ?{}, ?{})", 5 + 2 * i, 6 + 2 * i))
        .collect();
    format!(
        "INSERT INTO action_minute_buckets (app_id, namespace, action, ts, bucket, count) VALUES {}
         ON CONFLICT (app_id, namespace, action, ts, bucket) DO UPDATE SET
           count = action_minute_buckets.count + excluded.count",
        values.join(", ")
    )
}

fn apply_action(tx: &mut dyn Tx, app_id: i64, a: &ActionMinute) -> Result<()> {
    let ts = crate::clock::floor_minute(a.minute_unix);
    let key = |v: &mut Vec<Value>| {
        v.extend([
            Value::I64(app_id),
            (&a.namespace).into(),
            (&a.action).into(),
            Value::I64(ts),
        ])
    };
    let mut params = Vec::with_capacity(10);
    key(&mut params);
    params.extend([
        Value::I64(a.count as i64),
        Value::I64(a.error_count as i64),
        a.total_duration_ms.into(),
        a.min_duration_ms.into(),
        a.max_duration_ms.into(),
        a.total_queue_ms.into(),
    ]);
    tx.exec(
        "INSERT INTO action_minutes (app_id, namespace, action, ts, count, error_count, total_ms, min_ms, max_ms, queue_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
         ON CONFLICT (app_id, namespace, action, ts) DO UPDATE SET
           count = action_minutes.count + excluded.count,
           error_count = action_minutes.error_count + excluded.error_count,
           total_ms = action_minutes.total_ms + excluded.total_ms,
           min_ms = CASE WHEN excluded.min_ms < action_minutes.min_ms THEN excluded.min_ms ELSE action_minutes.min_ms END,
           max_ms = CASE WHEN excluded.max_ms > action_minutes.max_ms THEN excluded.max_ms ELSE action_minutes.max_ms END,
           queue_ms = action_minutes.queue_ms + excluded.queue_ms",
        &params,
    )?;
    if let Some(h) = &a.duration_ms {
        let mut buckets: Vec<(i64, u64)> = h
            .buckets
            .iter()
            .map(|(b, c)| (i64::from(*b), *c))
            .chain((h.zero_count > 0).then_some((ZERO_BUCKET, h.zero_count)))
            .collect();
        // Sorted, so concurrent processors lock rows in the same order and cannot deadlock.
        buckets.sort_unstable();
        for chunk in buckets.chunks(BUCKETS_PER_STATEMENT) {
            let mut p = Vec::with_capacity(4 + 2 * chunk.len());
            key(&mut p);
            for (bucket, count) in chunk {
                p.extend([Value::I64(*bucket), Value::I64(*count as i64)]);
            }
            // Buckets are rows, so concurrent processors merge histograms with plain upserts;
            // one statement per chunk instead of one per bucket saves the round trips.
            tx.exec(&bucket_upsert(chunk.len()), &p)?;
        }
    }
    for e in &a.events {
        let mut p = Vec::with_capacity(8);
        key(&mut p);
        p.extend([
            (&e.name).into(),
            Value::I64(e.count as i64),
            e.total_duration_ms.into(),
            e.total_exclusive_ms.into(),
        ]);
        tx.exec(
            "INSERT INTO event_minutes (app_id, namespace, action, ts, name, count, total_ms, exclusive_ms)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
             ON CONFLICT (app_id, namespace, action, ts, name) DO UPDATE SET
               count = event_minutes.count + excluded.count,
               total_ms = event_minutes.total_ms + excluded.total_ms,
               exclusive_ms = event_minutes.exclusive_ms + excluded.exclusive_ms",
            &p,
        )?;
    }
    Ok(())
}

pub const KIND_GAUGE: i64 = 2;

fn apply_metric(tx: &mut dyn Tx, app_id: i64, payload_host: &str, m: &MetricMinute) -> Result<()> {
    let tags = serde_json::to_string(&m.tags)?; // BTreeMap: canonical key order
    let hostname = if m.source == MetricSource::Host as i32 {
        m.tags
            .get("hostname")
            .map(String::as_str)
            .unwrap_or(payload_host)
    } else {
        ""
    };
    tx.exec(
        "INSERT INTO metric_minutes (app_id, source, name, tags, hostname, kind, ts, value, count, min, max)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)
         ON CONFLICT (app_id, source, name, tags, ts) DO UPDATE SET
           value = CASE WHEN metric_minutes.kind = 2 THEN excluded.value ELSE metric_minutes.value + excluded.value END,
           count = metric_minutes.count + excluded.count,
           min = CASE WHEN excluded.min < metric_minutes.min THEN excluded.min ELSE metric_minutes.min END,
           max = CASE WHEN excluded.max > metric_minutes.max THEN excluded.max ELSE metric_minutes.max END",
        &[
            app_id.into(),
            Value::I64(m.source.into()),
            (&m.name).into(),
            tags.into(),
            hostname.into(),
            Value::I64(m.kind.into()),
            Value::I64(crate::clock::floor_minute(m.minute_unix)),
            m.value.into(),
            Value::I64(m.count as i64),
            m.min.into(),
            m.max.into(),
        ],
    )?;
    Ok(())
}

fn apply_sample(
    tx: &mut dyn Tx,
    config: &ProcessorConfig,
    app_id: i64,
    t: &Transaction,
    now: i64,
) -> Result<()> {
    let duration_ms = t.duration_ns as f64 / 1e6;
    let ts = t.start_time_unix_ns.div_euclid(1_000_000_000);
    let (exception, message) = t
        .error
        .as_ref()
        .map(|e| (e.name.clone(), e.message.clone()))
        .unwrap_or_default();
    let is_error = t.error.is_some();
    let inserted = tx.query(
        "INSERT INTO samples (app_id, tx_id, namespace, action, ts, duration_ms, is_error, exception, message, body)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
         ON CONFLICT (app_id, tx_id) DO NOTHING RETURNING id",
        &[
            app_id.into(),
            (&t.id).into(),
            (&t.namespace).into(),
            (&t.action).into(),
            ts.into(),
            duration_ms.into(),
            Value::I64(is_error.into()),
            (&exception).into(),
            (&message).into(),
            serde_json::to_string(t)?.into(),
        ],
    )?;
    let Some(row) = inserted.first() else {
        return Ok(());
    };
    let sample_id = row.i64(0)?;
    if is_error {
        upsert_incident(
            tx, config, app_id, "error", t, &exception, &message, sample_id, ts, now,
        )?;
    }
    if duration_ms >= config.slow_threshold_ms {
        let message = format!("{duration_ms:.1} ms");
        upsert_incident(
            tx,
            config,
            app_id,
            "performance",
            t,
            "",
            &message,
            sample_id,
            ts,
            now,
        )?;
    }
    // Keep the newest N per action and kind; older samples are only dead weight.
    tx.exec(
        "DELETE FROM samples WHERE app_id = ?1 AND namespace = ?2 AND action = ?3 AND is_error = ?4
           AND id NOT IN (SELECT id FROM samples WHERE app_id = ?1 AND namespace = ?2 AND action = ?3
                          AND is_error = ?4 ORDER BY ts DESC, id DESC LIMIT ?5)",
        &[
            app_id.into(),
            (&t.namespace).into(),
            (&t.action).into(),
            Value::I64(is_error.into()),
            config.samples_per_action.into(),
        ],
    )?;
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn upsert_incident(
    tx: &mut dyn Tx,
    config: &ProcessorConfig,
    app_id: i64,
    kind: &str,
    t: &Transaction,
    exception: &str,
    message: &str,
    sample_id: i64,
    ts: i64,
    now: i64,
) -> Result<()> {
    let rows = tx.query(
        "INSERT INTO incidents (app_id, kind, namespace, action, exception, message, count, first_seen, last_seen, state, last_sample_id, notified_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, 1, ?7, ?7, 'open', ?8, 0)
         ON CONFLICT (app_id, kind, namespace, action, exception) DO UPDATE SET
           count = incidents.count + 1,
           message = excluded.message,
           first_seen = CASE WHEN excluded.first_seen < incidents.first_seen THEN excluded.first_seen ELSE incidents.first_seen END,
           last_seen = CASE WHEN excluded.last_seen > incidents.last_seen THEN excluded.last_seen ELSE incidents.last_seen END,
           state = 'open',
           last_sample_id = excluded.last_sample_id
         RETURNING id, count",
        &[
            app_id.into(),
            kind.into(),
            (&t.namespace).into(),
            (&t.action).into(),
            exception.into(),
            message.into(),
            ts.into(),
            sample_id.into(),
        ],
    )?;
    let Some(row) = rows.first() else {
        return Ok(());
    };
    let (incident_id, count) = (row.i64(0)?, row.i64(1)?);
    // The conditional UPDATE is the rate limit: of several processors, only the one whose
    // update matched sends, because PostgreSQL re-checks the WHERE after a concurrent commit.
    let due = tx.exec(
        "UPDATE incidents SET notified_at = ?2 WHERE id = ?1 AND (notified_at = 0 OR notified_at <= ?3)",
        &[
            incident_id.into(),
            now.into(),
            (now - config.notify_interval_secs).into(),
        ],
    )?;
    if due == 1 {
        let (event, subject) = if kind == "error" {
            (
                "error_incident",
                format!("{exception} in {} ({})", t.action, t.namespace),
            )
        } else {
            (
                "performance_incident",
                format!("Slow {} ({}): {message}", t.action, t.namespace),
            )
        };
        let body = json!({
            "event": event, "incident_id": incident_id, "namespace": t.namespace,
            "action": t.action, "exception": exception, "message": message, "count": count,
            "sample_id": sample_id,
        });
        outbox::enqueue(tx, app_id, event, &subject, &body, now)?;
    }
    Ok(())
}

fn apply_revision(tx: &mut dyn Tx, app_id: i64, revision: &str, now: i64) -> Result<()> {
    if revision.is_empty() {
        return Ok(());
    }
    let new = tx.query(
        "INSERT INTO deploys (app_id, revision, first_seen) VALUES (?1, ?2, ?3)
         ON CONFLICT (app_id, revision) DO NOTHING RETURNING id",
        &[app_id.into(), revision.into(), now.into()],
    )?;
    if let Some(row) = new.first() {
        let body = json!({"event": "deploy", "deploy_id": row.i64(0)?, "revision": revision});
        outbox::enqueue(
            tx,
            app_id,
            "deploy",
            &format!("Deploy {revision}"),
            &body,
            now,
        )?;
    }
    Ok(())
}
