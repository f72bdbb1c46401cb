//! What the dashboard reads. Minutely ranges read minutely buckets; the 7-day range reads
//! hourly buckets plus the not-yet-rolled-up minutes folded into hours.

use crate::clock::{floor_hour, floor_minute};
use crate::processor::apply::{KIND_GAUGE, ZERO_BUCKET};
use crate::store::{Store, Value};
use anyhow::Result;
use appsignal_proto::histogram;
use appsignal_proto::v1::Histogram;
use std::collections::BTreeMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Range {
    Hour,
    HalfDay,
    Week,
}

impl Range {
    pub fn parse(s: Option<&str>) -> Self {
        match s {
            Some("12h") => Range::HalfDay,
            Some("7d") => Range::Week,
            _ => Range::Hour,
        }
    }
    pub fn key(self) -> &'static str {
        match self {
            Range::Hour => "1h",
            Range::HalfDay => "12h",
            Range::Week => "7d",
        }
    }
    pub fn seconds(self) -> i64 {
        match self {
            Range::Hour => 3600,
            Range::HalfDay => 12 * 3600,
            Range::Week => 7 * 24 * 3600,
        }
    }
    pub fn step(self) -> i64 {
        if self == Range::Week {
            3600
        } else {
            60
        }
    }
    /// (from, to) aligned to the step, `to` being the current (partial) step.
    pub fn window(self, now: i64) -> (i64, i64) {
        let to = if self == Range::Week {
            floor_hour(now)
        } else {
            floor_minute(now)
        };
        (to - self.seconds() + self.step(), to)
    }
    fn align(self, ts: i64) -> i64 {
        if self == Range::Week {
            floor_hour(ts)
        } else {
            ts
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct Agg {
    pub count: i64,
    pub errors: i64,
    pub total_ms: f64,
    pub histogram: Histogram,
}

impl Agg {
    pub fn mean(&self) -> f64 {
        if self.count > 0 {
            self.total_ms / self.count as f64
        } else {
            0.0
        }
    }
    pub fn p90(&self) -> f64 {
        histogram::quantile(&self.histogram, 0.90).unwrap_or(0.0)
    }
    pub fn p95(&self) -> f64 {
        histogram::quantile(&self.histogram, 0.95).unwrap_or(0.0)
    }
    pub fn error_rate(&self) -> f64 {
        if self.count > 0 {
            self.errors as f64 * 100.0 / self.count as f64
        } else {
            0.0
        }
    }
}

fn add_bucket(h: &mut Histogram, bucket: i64, count: i64) {
    if bucket == ZERO_BUCKET {
        h.zero_count += count as u64;
    } else if let Ok(b) = i32::try_from(bucket) {
        *h.buckets.entry(b).or_insert(0) += count as u64;
    }
}

fn tables(range: Range) -> &'static [(&'static str, &'static str)] {
    if range == Range::Week {
        &[
            ("action_hours", "action_hour_buckets"),
            ("action_minutes", "action_minute_buckets"),
        ]
    } else {
        &[("action_minutes", "action_minute_buckets")]
    }
}

/// Per (namespace, action) over the whole range.
pub fn actions(
    store: &Store,
    app_id: i64,
    range: Range,
    now: i64,
) -> Result<BTreeMap<(String, String), Agg>> {
    let (from, _) = range.window(now);
    let mut out: BTreeMap<(String, String), Agg> = BTreeMap::new();
    for (table, buckets) in tables(range) {
        for r in store.db.read(
            &format!("SELECT namespace, action, CAST(SUM(count) AS BIGINT), CAST(SUM(error_count) AS BIGINT), SUM(total_ms)
                      FROM {table} WHERE app_id = ?1 AND ts >= ?2 GROUP BY namespace, action"),
            &[app_id.into(), from.into()],
        )? {
            let a = out.entry((r.text(0)?, r.text(1)?)).or_default();
            a.count += r.i64(2)?;
            a.errors += r.i64(3)?;
            a.total_ms += r.f64(4)?;
        }
        for r in store.db.read(
            &format!(
                "SELECT namespace, action, bucket, CAST(SUM(count) AS BIGINT) FROM {buckets}
                      WHERE app_id = ?1 AND ts >= ?2 GROUP BY namespace, action, bucket"
            ),
            &[app_id.into(), from.into()],
        )? {
            let a = out.entry((r.text(0)?, r.text(1)?)).or_default();
            add_bucket(&mut a.histogram, r.i64(2)?, r.i64(3)?);
        }
    }
    Ok(out)
}

/// Per time step, for one namespace (empty = all) and action (empty = all).
pub fn action_series(
    store: &Store,
    app_id: i64,
    namespace: &str,
    action: &str,
    range: Range,
    now: i64,
) -> Result<BTreeMap<i64, Agg>> {
    let (from, _) = range.window(now);
    let filter =
        "app_id = ?1 AND ts >= ?2 AND (?3 = '' OR namespace = ?3) AND (?4 = '' OR action = ?4)";
    let params: [Value; 4] = [app_id.into(), from.into(), namespace.into(), action.into()];
    let mut out: BTreeMap<i64, Agg> = BTreeMap::new();
    for (table, buckets) in tables(range) {
        for r in store.db.read(
            &format!("SELECT ts, CAST(SUM(count) AS BIGINT), CAST(SUM(error_count) AS BIGINT), SUM(total_ms)
                      FROM {table} WHERE {filter} GROUP BY ts"),
            &params,
        )? {
            let a = out.entry(range.align(r.i64(0)?)).or_default();
            a.count += r.i64(1)?;
            a.errors += r.i64(2)?;
            a.total_ms += r.f64(3)?;
        }
        for r in store.db.read(
            &format!("SELECT ts, bucket, CAST(SUM(count) AS BIGINT) FROM {buckets} WHERE {filter} GROUP BY ts, bucket"),
            &params,
        )? {
            let a = out.entry(range.align(r.i64(0)?)).or_default();
            add_bucket(&mut a.histogram, r.i64(1)?, r.i64(2)?);
        }
    }
    Ok(out)
}

pub struct EventRow {
    pub name: String,
    pub count: i64,
    pub total_ms: f64,
    pub exclusive_ms: f64,
}

pub fn events(
    store: &Store,
    app_id: i64,
    namespace: &str,
    action: &str,
    range: Range,
    now: i64,
) -> Result<Vec<EventRow>> {
    let (from, _) = range.window(now);
    let mut out: BTreeMap<String, EventRow> = BTreeMap::new();
    let event_tables: &[&str] = if range == Range::Week {
        &["event_hours", "event_minutes"]
    } else {
        &["event_minutes"]
    };
    for table in event_tables {
        for r in store.db.read(
            &format!("SELECT name, CAST(SUM(count) AS BIGINT), SUM(total_ms), SUM(exclusive_ms) FROM {table}
                      WHERE app_id = ?1 AND ts >= ?2 AND namespace = ?3 AND action = ?4 GROUP BY name"),
            &[app_id.into(), from.into(), namespace.into(), action.into()],
        )? {
            let name = r.text(0)?;
            let e = out.entry(name.clone()).or_insert(EventRow { name, count: 0, total_ms: 0.0, exclusive_ms: 0.0 });
            e.count += r.i64(1)?;
            e.total_ms += r.f64(2)?;
            e.exclusive_ms += r.f64(3)?;
        }
    }
    let mut rows: Vec<EventRow> = out.into_values().collect();
    rows.sort_by(|a, b| b.exclusive_ms.total_cmp(&a.exclusive_ms));
    Ok(rows)
}

/// (group, metric name, series label) → points. `group` is the hostname for host metrics and
/// the metric name for custom metrics; the label adds the tags (`cpu {state=user}`).
pub type MetricSeries = BTreeMap<(String, String, String), BTreeMap<i64, (f64, i64, i64)>>;

pub fn metrics(
    store: &Store,
    app_id: i64,
    source: i64,
    range: Range,
    now: i64,
) -> Result<MetricSeries> {
    let (from, _) = range.window(now);
    let metric_tables: &[&str] = if range == Range::Week {
        &["metric_hours", "metric_minutes"]
    } else {
        &["metric_minutes"]
    };
    let mut out: MetricSeries = BTreeMap::new();
    for table in metric_tables {
        let hourly = *table == "metric_hours";
        for r in store.db.read(
            &format!(
                "SELECT hostname, name, tags, kind, ts, value, count FROM {table}
                      WHERE app_id = ?1 AND source = ?2 AND ts >= ?3 ORDER BY ts"
            ),
            &[app_id.into(), source.into(), from.into()],
        )? {
            let (hostname, name, tags, kind) = (r.text(0)?, r.text(1)?, r.text(2)?, r.i64(3)?);
            let (ts, value, count) = (range.align(r.i64(4)?), r.f64(5)?, r.i64(6)?);
            let label = series_label(&name, &tags);
            let group = if source == 1 { hostname } else { name.clone() };
            let point = out
                .entry((group, name, label))
                .or_default()
                .entry(ts)
                .or_insert((0.0, 0, kind));
            // Gauges: a minute holds the last value, an hour the sum over `count` minutes;
            // folded into a step they average. Counters and distributions add up.
            if kind == KIND_GAUGE {
                let minutes = if hourly { count.max(1) } else { 1 };
                point.0 += value;
                point.1 += minutes;
            } else {
                point.0 += value;
                point.1 += 1;
            }
        }
    }
    Ok(out)
}

pub fn metric_value(point: &(f64, i64, i64)) -> f64 {
    if point.2 == KIND_GAUGE && point.1 > 0 {
        point.0 / point.1 as f64
    } else {
        point.0
    }
}

fn series_label(name: &str, tags_json: &str) -> String {
    let tags: BTreeMap<String, String> = serde_json::from_str(tags_json).unwrap_or_default();
    let tags: Vec<String> = tags
        .iter()
        .filter(|(k, _)| k.as_str() != "hostname")
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    if tags.is_empty() {
        name.to_string()
    } else {
        format!("{name} {{{}}}", tags.join(", "))
    }
}

pub struct SampleRow {
    pub id: i64,
    pub namespace: String,
    pub action: String,
    pub ts: i64,
    pub duration_ms: f64,
    pub is_error: bool,
    pub exception: String,
    pub message: String,
}

pub fn samples(
    store: &Store,
    app_id: i64,
    namespace: &str,
    action: &str,
) -> Result<Vec<SampleRow>> {
    store
        .db
        .read(
            "SELECT id, namespace, action, ts, duration_ms, is_error, exception, message FROM samples
             WHERE app_id = ?1 AND (?2 = '' OR namespace = ?2) AND (?3 = '' OR action = ?3)
             ORDER BY ts DESC, id DESC LIMIT 200",
            &[app_id.into(), namespace.into(), action.into()],
        )?
        .iter()
        .map(|r| {
            Ok(SampleRow {
                id: r.i64(0)?,
                namespace: r.text(1)?,
                action: r.text(2)?,
                ts: r.i64(3)?,
                duration_ms: r.f64(4)?,
                is_error: r.i64(5)? != 0,
                exception: r.text(6)?,
                message: r.text(7)?,
            })
        })
        .collect()
}

/// The stored transaction JSON of one sample.
pub fn sample_body(store: &Store, app_id: i64, id: i64) -> Result<Option<String>> {
    let rows = store.db.read(
        "SELECT body FROM samples WHERE app_id = ?1 AND id = ?2",
        &[app_id.into(), id.into()],
    )?;
    rows.first().map(|r| r.text(0)).transpose()
}

pub struct IncidentRow {
    pub id: i64,
    pub kind: String,
    pub namespace: String,
    pub action: String,
    pub exception: String,
    pub message: String,
    pub count: i64,
    pub first_seen: i64,
    pub last_seen: i64,
    pub state: String,
    pub last_sample_id: i64,
}

pub fn incidents(store: &Store, app_id: i64, id: Option<i64>) -> Result<Vec<IncidentRow>> {
    store
        .db
        .read(
            "SELECT id, kind, namespace, action, exception, message, count, first_seen, last_seen, state, last_sample_id
             FROM incidents WHERE app_id = ?1 AND (?2 = 0 OR id = ?2) ORDER BY last_seen DESC, id DESC LIMIT 500",
            &[app_id.into(), id.unwrap_or(0).into()],
        )?
        .iter()
        .map(|r| {
            Ok(IncidentRow {
                id: r.i64(0)?,
                kind: r.text(1)?,
                namespace: r.text(2)?,
                action: r.text(3)?,
                exception: r.text(4)?,
                message: r.text(5)?,
                count: r.i64(6)?,
                first_seen: r.i64(7)?,
                last_seen: r.i64(8)?,
                state: r.text(9)?,
                last_sample_id: r.i64(10)?,
            })
        })
        .collect()
}

pub fn set_incident_state(store: &Store, app_id: i64, id: i64, state: &str) -> Result<()> {
    store.db.transaction(&mut |tx| {
        tx.exec(
            "UPDATE incidents SET state = ?3 WHERE app_id = ?1 AND id = ?2",
            &[app_id.into(), id.into(), state.into()],
        )?;
        Ok(())
    })
}

/// Payloads the processor gave up on (see `processor::worker`).
pub fn dead_letters(store: &Store) -> Result<i64> {
    let rows = store.db.read("SELECT COUNT(*) FROM dead_letters", &[])?;
    Ok(match rows.first().and_then(|row| row.0.first()) {
        Some(Value::I64(n)) => *n,
        _ => 0,
    })
}

pub fn deploys(store: &Store, app_id: i64) -> Result<Vec<(String, i64)>> {
    store
        .db
        .read(
            "SELECT revision, first_seen FROM deploys WHERE app_id = ?1 ORDER BY first_seen DESC, id DESC LIMIT 20",
            &[app_id.into()],
        )?
        .iter()
        .map(|r| Ok((r.text(0)?, r.i64(1)?)))
        .collect()
}

pub struct TriggerRow {
    pub id: i64,
    pub metric: String,
    pub scope: String,
    pub above: f64,
    pub close_after: i64,
}

pub fn triggers(store: &Store, app_id: i64) -> Result<Vec<TriggerRow>> {
    store
        .db
        .read(
            "SELECT id, metric, namespace, action, name, hostname, above, close_after, tag FROM triggers WHERE app_id = ?1 ORDER BY id",
            &[app_id.into()],
        )?
        .iter()
        .map(|r| {
            let scope: Vec<String> = [2, 3, 4, 5, 8].iter().filter_map(|i| r.text(*i).ok()).filter(|s| !s.is_empty()).collect();
            Ok(TriggerRow {
                id: r.i64(0)?,
                metric: r.text(1)?,
                scope: scope.join(" "),
                above: r.f64(6)?,
                close_after: r.i64(7)?,
            })
        })
        .collect()
}

pub struct AlertRow {
    pub id: i64,
    pub trigger_id: i64,
    pub state: String,
    pub opened_at: i64,
    pub closed_at: i64,
    pub last_value: f64,
    pub peak_value: f64,
}

pub fn alerts(store: &Store, app_id: i64) -> Result<Vec<AlertRow>> {
    store
        .db
        .read(
            "SELECT id, trigger_id, state, opened_at, closed_at, last_value, peak_value FROM alerts
             WHERE app_id = ?1 ORDER BY opened_at DESC, id DESC LIMIT 200",
            &[app_id.into()],
        )?
        .iter()
        .map(|r| {
            Ok(AlertRow {
                id: r.i64(0)?,
                trigger_id: r.i64(1)?,
                state: r.text(2)?,
                opened_at: r.i64(3)?,
                closed_at: r.i64(4)?,
                last_value: r.f64(5)?,
                peak_value: r.f64(6)?,
            })
        })
        .collect()
}
