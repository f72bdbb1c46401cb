//! Anomaly detection. A minute is evaluated only once `wait` seconds have passed after it ended,
//! because agents transmit every 30 s and retry: earlier, the minute may be incomplete. Each
//! tick looks back over the last `wait` seconds of ready minutes; older minutes are ignored.
//! Alerts open on the first breaching minute and close only after `close_after` consecutive OK
//! minutes, so a value hovering at the threshold does not flap.

use crate::clock::floor_minute;
use crate::notify::outbox;
use crate::store::{Store, Tx, Value};
use anyhow::Result;
use serde_json::json;
use std::collections::BTreeMap;

pub const DEFAULT_WAIT_SECS: i64 = 180;

struct Trigger {
    id: i64,
    app_id: i64,
    metric: String,
    namespace: String,
    action: String,
    name: String,
    hostname: String,
    tag: String,
    above: f64,
    close_after: i64,
    last_evaluated: i64,
    ok_streak: i64,
}

/// The newest minute whose data is complete at `now`.
pub fn newest_ready_minute(now: i64, wait_secs: i64) -> i64 {
    floor_minute(now - wait_secs) - 60
}

pub fn evaluate(store: &Store, now: i64, wait_secs: i64) -> Result<()> {
    store.db.transaction(&mut |tx| {
        if !tx.try_job_lock("anomaly")? {
            return Ok(());
        }
        let triggers = load_triggers(tx)?;
        let newest = newest_ready_minute(now, wait_secs);
        for mut trigger in triggers {
            if newest <= trigger.last_evaluated {
                continue;
            }
            let start = (trigger.last_evaluated + 60).max(newest - wait_secs + 60);
            let mut minute = start;
            while minute <= newest {
                evaluate_minute(tx, &mut trigger, minute, now)?;
                minute += 60;
            }
            tx.exec(
                "UPDATE triggers SET last_evaluated = ?2, ok_streak = ?3 WHERE id = ?1",
                &[trigger.id.into(), newest.into(), trigger.ok_streak.into()],
            )?;
        }
        Ok(())
    })
}

fn load_triggers(tx: &mut dyn Tx) -> Result<Vec<Trigger>> {
    tx.query(
        "SELECT id, app_id, metric, namespace, action, name, hostname, above, close_after, last_evaluated, ok_streak, tag
         FROM triggers ORDER BY id",
        &[],
    )?
    .iter()
    .map(|r| {
        Ok(Trigger {
            id: r.i64(0)?,
            app_id: r.i64(1)?,
            metric: r.text(2)?,
            namespace: r.text(3)?,
            action: r.text(4)?,
            name: r.text(5)?,
            hostname: r.text(6)?,
            above: r.f64(7)?,
            close_after: r.i64(8)?,
            last_evaluated: r.i64(9)?,
            ok_streak: r.i64(10)?,
            tag: r.text(11)?,
        })
    })
    .collect()
}

/// The trigger's metric in one minute; `None` when there is nothing to judge.
fn metric_value(tx: &mut dyn Tx, t: &Trigger, minute: i64) -> Result<Option<f64>> {
    match t.metric.as_str() {
        "error_rate" | "mean_duration" | "throughput" => {
            let rows = tx.query(
                "SELECT CAST(COALESCE(SUM(count), 0) AS BIGINT), CAST(COALESCE(SUM(error_count), 0) AS BIGINT),
                        COALESCE(SUM(total_ms), 0.0)
                 FROM action_minutes WHERE app_id = ?1 AND ts = ?2
                   AND (?3 = '' OR namespace = ?3) AND (?4 = '' OR action = ?4)",
                &[
                    t.app_id.into(),
                    minute.into(),
                    (&t.namespace).into(),
                    (&t.action).into(),
                ],
            )?;
            let Some(row) = rows.first() else {
                return Ok(None);
            };
            let (count, errors, total) = (row.i64(0)?, row.i64(1)?, row.f64(2)?);
            Ok(match t.metric.as_str() {
                "throughput" => Some(count as f64),
                _ if count == 0 => None,
                "error_rate" => Some(errors as f64 * 100.0 / count as f64),
                _ => Some(total / count as f64),
            })
        }
        _ => gauge_value(tx, t, minute),
    }
}

/// Gauge and host triggers. The series of the metric that match the trigger's tag are
/// combined per host: a host trigger adds them up (the agent splits `cpu` into user, system,
/// iowait and steal, so `cpu` alone is the busy percentage), a gauge trigger takes the highest.
/// Across hosts, the highest counts.
fn gauge_value(tx: &mut dyn Tx, t: &Trigger, minute: i64) -> Result<Option<f64>> {
    let source = if t.metric == "host" { 1 } else { 0 };
    let rows = tx.query(
        "SELECT hostname, tags, value FROM metric_minutes WHERE app_id = ?1 AND source = ?2
           AND name = ?3 AND ts = ?4 AND (?5 = '' OR hostname = ?5)",
        &[
            t.app_id.into(),
            Value::I64(source),
            (&t.name).into(),
            minute.into(),
            (&t.hostname).into(),
        ],
    )?;
    let wanted = t.tag.split_once('=');
    let mut per_host: BTreeMap<String, f64> = BTreeMap::new();
    for row in rows {
        let tags: BTreeMap<String, String> = serde_json::from_str(&row.text(1)?)?;
        if let Some((key, value)) = wanted {
            if tags.get(key).map(String::as_str) != Some(value) {
                continue;
            }
        }
        let value = row.f64(2)?;
        per_host
            .entry(row.text(0)?)
            .and_modify(|v| {
                *v = if source == 1 {
                    *v + value
                } else {
                    v.max(value)
                };
            })
            .or_insert(value);
    }
    Ok(per_host.into_values().reduce(f64::max))
}

fn describe(t: &Trigger) -> String {
    let scope = [
        t.namespace.as_str(),
        t.action.as_str(),
        t.name.as_str(),
        t.hostname.as_str(),
        t.tag.as_str(),
    ]
    .iter()
    .filter(|s| !s.is_empty())
    .copied()
    .collect::<Vec<_>>()
    .join(" ");
    format!("{} {} above {}", t.metric, scope, t.above)
}

fn evaluate_minute(tx: &mut dyn Tx, t: &mut Trigger, minute: i64, now: i64) -> Result<()> {
    let value = metric_value(tx, t, minute)?;
    let open = tx.query(
        "SELECT id, peak_value FROM alerts WHERE trigger_id = ?1 AND state = 'open'",
        &[t.id.into()],
    )?;
    let open = open
        .first()
        .map(|r| Ok::<_, anyhow::Error>((r.i64(0)?, r.f64(1)?)))
        .transpose()?;
    match value {
        Some(v) if v > t.above => {
            t.ok_streak = 0;
            match open {
                Some((alert_id, peak)) => {
                    tx.exec(
                        "UPDATE alerts SET last_value = ?2, peak_value = ?3 WHERE id = ?1",
                        &[alert_id.into(), v.into(), peak.max(v).into()],
                    )?;
                }
                None => {
                    let rows = tx.query(
                        "INSERT INTO alerts (app_id, trigger_id, state, opened_at, closed_at, last_value, peak_value)
                         VALUES (?1, ?2, 'open', ?3, 0, ?4, ?4) RETURNING id",
                        &[t.app_id.into(), t.id.into(), minute.into(), v.into()],
                    )?;
                    let alert_id = rows.first().map(|r| r.i64(0)).transpose()?.unwrap_or(0);
                    let body = json!({"event": "alert_opened", "alert_id": alert_id, "trigger_id": t.id,
                        "metric": t.metric, "minute": minute, "value": v, "threshold": t.above});
                    let subject = format!("Alert opened: {} (value {v:.2})", describe(t));
                    outbox::enqueue(tx, t.app_id, "alert_opened", &subject, &body, now)?;
                }
            }
        }
        None if t.metric == "gauge" || t.metric == "host" => {}
        _ => {
            t.ok_streak += 1;
            if let Some((alert_id, peak)) = open {
                if t.ok_streak >= t.close_after {
                    tx.exec(
                        "UPDATE alerts SET state = 'closed', closed_at = ?2 WHERE id = ?1",
                        &[alert_id.into(), minute.into()],
                    )?;
                    let body = json!({"event": "alert_closed", "alert_id": alert_id, "trigger_id": t.id,
                        "metric": t.metric, "minute": minute, "peak": peak, "threshold": t.above});
                    let subject = format!("Alert closed: {}", describe(t));
                    outbox::enqueue(tx, t.app_id, "alert_closed", &subject, &body, now)?;
                }
            }
        }
    }
    Ok(())
}
