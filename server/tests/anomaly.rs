//! Anomaly detection on a manual clock: nothing before the 180 s wait, an alert after it,
//! closing only after N consecutive OK minutes, with opened/closed notifications queued.

mod common;

use appsignal_proto::v1::MetricSource;
use appsignal_server::anomaly::evaluate;
use appsignal_server::processor::apply::apply_payload;
use appsignal_server::processor::ProcessorConfig;
use appsignal_server::store::admin::NewTrigger;
use appsignal_server::store::Store;
use common::*;

fn open_alerts(store: &Store) -> i64 {
    scalar(
        store,
        "SELECT COUNT(*) FROM alerts WHERE state = 'open'",
        &[],
    )
}

#[test]
fn error_rate_alert_waits_180_seconds_then_opens_and_closes_with_hysteresis() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open("sqlite", dir.path()).unwrap();
    let app = store.create_app("shop", 0).unwrap().id;
    store
        .add_notifier(app, "webhook", "http://127.0.0.1:9/hook")
        .unwrap();
    let t0 = 1_800_000_000;
    let trigger = NewTrigger {
        metric: "error_rate".into(),
        namespace: "web".into(),
        above: 5.0,
        close_after: 2,
        ..Default::default()
    };
    store.create_trigger(app, &trigger, t0).unwrap();
    let cfg = ProcessorConfig::default();
    let clock = appsignal_server::clock::ManualClock::new(t0);
    let send = |id: &str, minute: i64, errors: u64| {
        let mut p = payload(id);
        p.actions
            .push(action_minute("web", "A#b", minute, &[10.0; 10], errors));
        apply_payload(&store, &cfg, app, &p, minute).unwrap();
    };
    // Minute t0: 50 % errors.
    send("m0", t0, 5);
    use appsignal_server::clock::Clock;
    // The minute ends at t0+60; 179 s later it is not yet evaluated.
    clock.set(t0 + 60 + 179);
    evaluate(&store, clock.now_unix(), 180).unwrap();
    assert_eq!(open_alerts(&store), 0);
    clock.set(t0 + 60 + 180);
    evaluate(&store, clock.now_unix(), 180).unwrap();
    assert_eq!(open_alerts(&store), 1);
    assert_eq!(
        scalar(
            &store,
            "SELECT COUNT(*) FROM outbox WHERE kind = 'alert_opened'",
            &[]
        ),
        1
    );

    // One OK minute does not close it (close_after = 2) ...
    send("m1", t0 + 60, 0);
    clock.advance(60);
    evaluate(&store, clock.now_unix(), 180).unwrap();
    assert_eq!(open_alerts(&store), 1);
    // ... a breach in between resets the streak ...
    send("m2", t0 + 120, 3);
    clock.advance(60);
    evaluate(&store, clock.now_unix(), 180).unwrap();
    assert_eq!(open_alerts(&store), 1);
    send("m3", t0 + 180, 0);
    clock.advance(60);
    evaluate(&store, clock.now_unix(), 180).unwrap();
    assert_eq!(open_alerts(&store), 1);
    // ... and the second consecutive OK minute closes it.
    send("m4", t0 + 240, 0);
    clock.advance(60);
    evaluate(&store, clock.now_unix(), 180).unwrap();
    assert_eq!(open_alerts(&store), 0);
    assert_eq!(scalar(&store, "SELECT COUNT(*) FROM alerts", &[]), 1);
    assert_eq!(
        scalar(
            &store,
            "SELECT COUNT(*) FROM outbox WHERE kind = 'alert_closed'",
            &[]
        ),
        1
    );
    assert_eq!(
        scalar(&store, "SELECT CAST(peak_value AS BIGINT) FROM alerts", &[]),
        50
    );
}

#[test]
fn data_older_than_the_look_back_window_is_ignored() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open("sqlite", dir.path()).unwrap();
    let app = store.create_app("shop", 0).unwrap().id;
    let t0 = 1_800_000_000;
    let trigger = NewTrigger {
        metric: "host".into(),
        name: "cpu".into(),
        above: 90.0,
        close_after: 1,
        ..Default::default()
    };
    store.create_trigger(app, &trigger, t0).unwrap();
    let mut p = payload("cpu");
    p.metrics.push(gauge(
        "cpu",
        MetricSource::Host,
        &[("hostname", "web-1")],
        t0,
        99.0,
    ));
    apply_payload(&store, &ProcessorConfig::default(), app, &p, t0).unwrap();
    // First evaluation 10 minutes later: minute t0 is outside the 180 s look-back.
    evaluate(&store, t0 + 600, 180).unwrap();
    assert_eq!(open_alerts(&store), 0);

    let mut p = payload("cpu2");
    let m = t0 + 600;
    p.metrics.push(gauge(
        "cpu",
        MetricSource::Host,
        &[("hostname", "web-1")],
        m,
        97.0,
    ));
    apply_payload(&store, &ProcessorConfig::default(), app, &p, m).unwrap();
    evaluate(&store, m + 60 + 180, 180).unwrap();
    assert_eq!(open_alerts(&store), 1);
}

#[test]
fn host_triggers_add_up_the_agents_cpu_states_and_a_tag_picks_one_series() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open("sqlite", dir.path()).unwrap();
    let app = store.create_app("shop", 0).unwrap().id;
    let t0 = 1_800_000_000;
    let host = |name: &str, tag: &str, above: f64| NewTrigger {
        metric: "host".into(),
        name: name.into(),
        tag: tag.into(),
        above,
        close_after: 1,
        ..Default::default()
    };
    // The agent splits cpu by state: 50 + 30 + 15 + 0 = 95 % busy on web-1, 20 % on web-2.
    let cpu_trigger = store
        .create_trigger(app, &host("cpu", "", 90.0), t0)
        .unwrap();
    // memory {state=used} is 900 MB; free (3000 MB) must not count.
    let used_trigger = store
        .create_trigger(app, &host("memory", "state=used", 1000.0), t0)
        .unwrap();
    let free_trigger = store
        .create_trigger(app, &host("memory", "state=free", 1000.0), t0)
        .unwrap();
    assert!(store
        .create_trigger(app, &host("memory", "used", 1.0), t0)
        .unwrap_err()
        .to_string()
        .contains("KEY=VALUE"));
    let mut p = payload("hosts");
    for (hostname, state, value) in [
        ("web-1", "user", 50.0),
        ("web-1", "system", 30.0),
        ("web-1", "iowait", 15.0),
        ("web-1", "steal", 0.0),
        ("web-2", "user", 20.0),
    ] {
        p.metrics.push(gauge(
            "cpu",
            MetricSource::Host,
            &[("hostname", hostname), ("state", state)],
            t0,
            value,
        ));
    }
    for (state, value) in [("used", 900.0), ("free", 3000.0)] {
        p.metrics.push(gauge(
            "memory",
            MetricSource::Host,
            &[("hostname", "web-1"), ("state", state)],
            t0,
            value,
        ));
    }
    apply_payload(&store, &ProcessorConfig::default(), app, &p, t0).unwrap();
    evaluate(&store, t0 + 60 + 180, 180).unwrap();
    let open_for = |trigger: i64| {
        scalar(
            &store,
            "SELECT COUNT(*) FROM alerts WHERE state = 'open' AND trigger_id = ?1",
            &[trigger.into()],
        )
    };
    assert_eq!(open_for(cpu_trigger), 1);
    assert_eq!(
        scalar(
            &store,
            "SELECT CAST(last_value AS BIGINT) FROM alerts WHERE trigger_id = ?1",
            &[cpu_trigger.into()]
        ),
        95
    );
    assert_eq!(open_for(used_trigger), 0);
    assert_eq!(open_for(free_trigger), 1);
}
