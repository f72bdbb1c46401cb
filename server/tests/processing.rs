//! From payload to buckets, samples, incidents and deploy markers; idempotency by payload_id;
//! the 12-hour roll-up driven by a manual clock.

mod common;

use appsignal_proto::v1::MetricSource;
use appsignal_server::processor::apply::{apply_payload, Outcome};
use appsignal_server::processor::rollup::{compact, RetentionConfig};
use appsignal_server::processor::ProcessorConfig;
use appsignal_server::store::{Store, Value};
use common::*;
use std::time::Duration;

fn sqlite_store() -> (tempfile::TempDir, Store, i64) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open("sqlite", dir.path()).unwrap();
    let app = store.create_app("shop", 0).unwrap();
    (dir, store, app.id)
}

#[tokio::test]
async fn payloads_over_http_become_minutely_buckets_samples_incidents_and_deploys() {
    let s = TestServer::start().await;
    let m = minute(now());
    let durations: Vec<f64> = (1..=100).map(|i| i as f64).collect();
    let mut p = payload("http-1");
    p.actions.push(action_minute(
        "web",
        "UsersController#show",
        m,
        &durations,
        7,
    ));
    p.samples.push(transaction(
        "tx-err",
        "web",
        "UsersController#show",
        m + 5,
        20.0,
        Some("ActiveRecord::RecordNotFound"),
    ));
    p.samples.push(transaction(
        "tx-slow",
        "web",
        "UsersController#show",
        m + 6,
        1500.0,
        None,
    ));
    p.metrics.push(gauge(
        "cpu",
        MetricSource::Host,
        &[("hostname", "web-1")],
        m,
        42.5,
    ));
    p.metrics.push(counter("signups", m, 3.0));
    p.revisions.push("abc123".into());
    assert_eq!(s.send(&p).await, 200);

    let store = s.running.store.clone();
    wait_until("payload processed", Duration::from_secs(10), || {
        scalar(&store, "SELECT COUNT(*) FROM processed_payloads", &[]) == 1
    })
    .await;
    let app = Value::I64(s.app_id);
    assert_eq!(
        scalar(
            &store,
            "SELECT count FROM action_minutes WHERE app_id = ?1",
            std::slice::from_ref(&app)
        ),
        100
    );
    assert_eq!(
        scalar(
            &store,
            "SELECT error_count FROM action_minutes WHERE app_id = ?1",
            std::slice::from_ref(&app)
        ),
        7
    );
    assert_eq!(scalar(&store, "SELECT COUNT(*) FROM samples", &[]), 2);
    assert_eq!(scalar(&store, "SELECT COUNT(*) FROM incidents WHERE kind = 'error' AND exception = 'ActiveRecord::RecordNotFound'", &[]), 1);
    assert_eq!(
        scalar(
            &store,
            "SELECT COUNT(*) FROM incidents WHERE kind = 'performance'",
            &[]
        ),
        1
    );
    assert_eq!(
        scalar(
            &store,
            "SELECT COUNT(*) FROM deploys WHERE revision = 'abc123'",
            &[]
        ),
        1
    );
    assert_eq!(
        scalar(
            &store,
            "SELECT CAST(value AS BIGINT) FROM metric_minutes WHERE name = 'signups'",
            &[]
        ),
        3
    );
    assert_eq!(scalar(&store, "SELECT COUNT(*) FROM metric_minutes WHERE name = 'cpu' AND hostname = 'web-1' AND source = 1", &[]), 1);

    // p95 from the merged buckets, within the histogram's 2 %.
    let actions = appsignal_server::dashboard::data::actions(
        &store,
        s.app_id,
        appsignal_server::dashboard::data::Range::Hour,
        now(),
    )
    .unwrap();
    let agg = &actions[&("web".to_string(), "UsersController#show".to_string())];
    assert!((agg.p95() - 95.0).abs() < 95.0 * 0.025, "p95 {}", agg.p95());
    assert!((agg.mean() - 50.5).abs() < 1e-9);
    s.running.stop().await;
}

#[test]
fn a_redelivered_payload_does_not_double_count_but_a_new_one_adds_up() {
    let (_dir, store, app) = sqlite_store();
    let cfg = ProcessorConfig::default();
    let mut p = payload("dup-1");
    p.actions
        .push(action_minute("web", "A#b", 600, &[10.0, 20.0], 1));
    p.samples.push(transaction(
        "t1",
        "web",
        "A#b",
        600,
        10.0,
        Some("RuntimeError"),
    ));
    assert_eq!(
        apply_payload(&store, &cfg, app, &p, 1000).unwrap(),
        Outcome::Applied
    );
    assert_eq!(
        apply_payload(&store, &cfg, app, &p, 1001).unwrap(),
        Outcome::Duplicate
    );
    assert_eq!(scalar(&store, "SELECT count FROM action_minutes", &[]), 2);
    assert_eq!(scalar(&store, "SELECT count FROM incidents", &[]), 1);
    let mut q = p.clone();
    q.payload_id = "dup-2".into();
    q.samples[0].id = "t2".into();
    assert_eq!(
        apply_payload(&store, &cfg, app, &q, 1002).unwrap(),
        Outcome::Applied
    );
    assert_eq!(scalar(&store, "SELECT count FROM action_minutes", &[]), 4);
    assert_eq!(
        scalar(&store, "SELECT error_count FROM action_minutes", &[]),
        2
    );
    assert_eq!(
        scalar(&store, "SELECT SUM(count) FROM action_minute_buckets", &[]),
        4
    );
    assert_eq!(scalar(&store, "SELECT count FROM incidents", &[]), 2);
}

#[test]
fn samples_are_capped_per_action() {
    let (_dir, store, app) = sqlite_store();
    let cfg = ProcessorConfig {
        samples_per_action: 5,
        ..ProcessorConfig::default()
    };
    for i in 0..12 {
        let mut p = payload(&format!("cap-{i}"));
        p.samples.push(transaction(
            &format!("t{i}"),
            "web",
            "A#b",
            600 + i,
            10.0,
            None,
        ));
        apply_payload(&store, &cfg, app, &p, 1000).unwrap();
    }
    assert_eq!(scalar(&store, "SELECT COUNT(*) FROM samples", &[]), 5);
    // The newest are kept.
    assert_eq!(scalar(&store, "SELECT MIN(ts) FROM samples", &[]), 607);
}

#[test]
fn minutes_older_than_12_hours_roll_up_into_hours() {
    let (_dir, store, app) = sqlite_store();
    let cfg = ProcessorConfig::default();
    let hour = 1_800_000_000;
    let mut p = payload("roll-1");
    p.actions
        .push(action_minute("web", "A#b", hour, &[10.0, 30.0], 1));
    p.actions
        .push(action_minute("web", "A#b", hour + 60, &[20.0], 0));
    p.actions
        .push(action_minute("web", "A#b", hour + 3600, &[40.0], 0));
    p.metrics
        .push(gauge("queue", MetricSource::Custom, &[], hour, 10.0));
    p.metrics
        .push(gauge("queue", MetricSource::Custom, &[], hour + 60, 20.0));
    apply_payload(&store, &cfg, app, &p, hour).unwrap();
    let retention = RetentionConfig::default();

    // Just under 12 h after the first minute, nothing moves.
    assert_eq!(
        compact(&store, &retention, hour + 12 * 3600 + 59).unwrap(),
        0
    );
    assert_eq!(
        scalar(&store, "SELECT COUNT(*) FROM action_minutes", &[]),
        3
    );
    assert_eq!(
        compact(&store, &retention, hour + 12 * 3600 + 60).unwrap(),
        1
    );
    assert_eq!(
        scalar(&store, "SELECT COUNT(*) FROM action_minutes", &[]),
        2
    );
    assert_eq!(
        compact(&store, &retention, hour + 120 + 12 * 3600).unwrap(),
        1
    );
    assert_eq!(
        scalar(&store, "SELECT COUNT(*) FROM action_minutes", &[]),
        1
    );
    assert_eq!(scalar(&store, "SELECT COUNT(*) FROM action_hours", &[]), 1);
    assert_eq!(
        scalar(
            &store,
            "SELECT count FROM action_hours WHERE ts = ?1",
            &[hour.into()]
        ),
        3
    );
    assert_eq!(
        scalar(
            &store,
            "SELECT error_count FROM action_hours WHERE ts = ?1",
            &[hour.into()]
        ),
        1
    );
    assert_eq!(
        scalar(
            &store,
            "SELECT CAST(total_ms AS BIGINT) FROM action_hours WHERE ts = ?1",
            &[hour.into()]
        ),
        60
    );
    assert_eq!(
        scalar(
            &store,
            "SELECT SUM(count) FROM action_hour_buckets WHERE ts = ?1",
            &[hour.into()]
        ),
        3
    );
    // Gauge: hourly mean of the minutes.
    let rows = store
        .db
        .read(
            "SELECT value, count FROM metric_hours WHERE ts = ?1",
            &[hour.into()],
        )
        .unwrap();
    assert_eq!(
        (rows[0].f64(0).unwrap() / rows[0].i64(1).unwrap() as f64),
        15.0
    );
    // The 7-day view reads hours plus not-yet-rolled minutes.
    let week = appsignal_server::dashboard::data::Range::Week;
    let series = appsignal_server::dashboard::data::action_series(
        &store,
        app,
        "",
        "",
        week,
        hour + 120 + 12 * 3600,
    )
    .unwrap();
    assert_eq!(series[&hour].count, 3);
    assert_eq!(series[&(hour + 3600)].count, 1);
    // Hourly buckets expire after 30 days.
    compact(&store, &retention, hour + 31 * 24 * 3600).unwrap();
    assert_eq!(scalar(&store, "SELECT COUNT(*) FROM action_hours", &[]), 0);
}

#[test]
fn a_batch_adds_up_in_one_transaction_and_skips_duplicates_within_it() {
    use appsignal_server::processor::apply::apply_batch;
    let (_dir, store, app) = sqlite_store();
    let cfg = ProcessorConfig::default();
    let with = |id: &str, durations: &[f64], errors| {
        let mut p = payload(id);
        p.actions
            .push(action_minute("web", "A#b", 600, durations, errors));
        p.actions.push(action_minute("web", "C#d", 660, &[5.0], 0));
        p
    };
    let (p1, p2) = (with("b-1", &[10.0, 20.0], 1), with("b-2", &[30.0], 1));
    let outcomes = apply_batch(&store, &cfg, &[(app, &p1), (app, &p2), (app, &p1)], 700).unwrap();
    assert_eq!(
        outcomes,
        [Outcome::Applied, Outcome::Applied, Outcome::Duplicate]
    );
    let ab = |column: &str| {
        scalar(
            &store,
            &format!("SELECT CAST({column} AS BIGINT) FROM action_minutes WHERE action = 'A#b'"),
            &[],
        )
    };
    assert_eq!((ab("count"), ab("error_count"), ab("total_ms")), (3, 2, 60));
    assert_eq!((ab("min_ms"), ab("max_ms")), (10, 30));
    assert_eq!(
        scalar(
            &store,
            "SELECT SUM(count) FROM action_minute_buckets WHERE action = 'A#b'",
            &[]
        ),
        3
    );
    assert_eq!(
        scalar(
            &store,
            "SELECT count FROM event_minutes WHERE action = 'A#b'",
            &[]
        ),
        3
    );
    assert_eq!(
        scalar(
            &store,
            "SELECT count FROM action_minutes WHERE action = 'C#d'",
            &[]
        ),
        2
    );
    // The same batch again changes nothing.
    let again = apply_batch(&store, &cfg, &[(app, &p1), (app, &p2)], 701).unwrap();
    assert_eq!(again, [Outcome::Duplicate, Outcome::Duplicate]);
    assert_eq!(ab("count"), 3);
}

#[test]
fn a_payload_that_cannot_be_stored_is_left_for_redelivery_without_holding_back_the_batch() {
    use appsignal_server::processor::worker::{process_batch, ProcessorStats, Queued};
    use prost::Message;
    let (_dir, store, app) = sqlite_store();
    let queued = |body: Vec<u8>| Queued {
        app_id: app,
        body,
        attempt: 1,
    };
    let good = |id: &str| {
        let mut p = payload(id);
        p.actions.push(action_minute("web", "A#b", 600, &[10.0], 0));
        queued(p.encode_to_vec())
    };
    let bodies = [
        good("g-1"),
        queued(unstorable_payload().encode_to_vec()),
        good("g-2"),
        queued(b"\xff\xff not protobuf".to_vec()),
    ];
    let stats = ProcessorStats::default();
    let acked = process_batch(&store, &ProcessorConfig::default(), 700, &bodies, &stats);
    // Undecodable bodies can never succeed: kept in dead_letters and acknowledged.
    assert_eq!(acked, [true, false, true, true]);
    assert_eq!(scalar(&store, "SELECT count FROM action_minutes", &[]), 2);
    assert_eq!(stats.failures.load(std::sync::atomic::Ordering::SeqCst), 1);
    assert_eq!(
        scalar(
            &store,
            "SELECT COUNT(*) FROM dead_letters WHERE error LIKE 'does not decode%'",
            &[]
        ),
        1
    );
}

/// SQLite stores NaN as NULL, which the NOT NULL column refuses: never storable there.
fn unstorable_payload() -> appsignal_proto::v1::Payload {
    let mut bad = payload("bad");
    let mut a = action_minute("web", "A#b", 600, &[10.0], 0);
    a.total_duration_ms = f64::NAN;
    bad.actions.push(a);
    bad
}

#[test]
fn a_payload_that_keeps_failing_is_moved_to_dead_letters_on_its_last_delivery() {
    use appsignal_server::processor::worker::{
        process_batch, ProcessorStats, Queued, MAX_ATTEMPTS,
    };
    use appsignal_server::store::Value;
    use prost::Message;
    let (_dir, store, app) = sqlite_store();
    let body = unstorable_payload().encode_to_vec();
    let stats = ProcessorStats::default();
    let deliver = |attempt: u32| {
        let queued = [Queued {
            app_id: app,
            body: body.clone(),
            attempt,
        }];
        process_batch(&store, &ProcessorConfig::default(), 700, &queued, &stats)
    };
    assert_eq!(
        deliver(MAX_ATTEMPTS - 1),
        [false],
        "retried before the last delivery"
    );
    assert_eq!(scalar(&store, "SELECT COUNT(*) FROM dead_letters", &[]), 0);
    assert_eq!(deliver(MAX_ATTEMPTS), [true], "acknowledged once kept");
    let rows = store
        .db
        .read(
            "SELECT app_id, body, attempts, failed_at, error FROM dead_letters",
            &[],
        )
        .unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(
        rows[0].0[..4],
        [
            Value::I64(app),
            Value::Blob(body.clone()),
            Value::I64(MAX_ATTEMPTS.into()),
            Value::I64(700)
        ]
    );
    assert!(
        matches!(&rows[0].0[4], Value::Text(error) if error.contains("NOT NULL")),
        "{:?}",
        rows[0].0[4]
    );
    assert_eq!(
        stats
            .dead_lettered
            .load(std::sync::atomic::Ordering::SeqCst),
        1
    );
}
