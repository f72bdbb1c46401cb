//! Retention as the running server applies it, on an injected clock: minutely buckets are
//! rolled into hourly ones after 12 hours, hourly buckets expire after the configured
//! retention (7 days here instead of the default 30), and the dashboard's ranges follow.

mod common;

use appsignal_server::clock::ManualClock;
use appsignal_server::server::RunningServer;
use appsignal_server::store::Store;
use common::*;
use std::sync::atomic::Ordering;
use std::time::Duration;

const T0: i64 = 1_800_000_000; // a whole hour

/// Moves the clock and waits until a pass of the periodic jobs has run at the new time.
async fn advance_to(s: &RunningServer, clock: &ManualClock, to: i64) {
    let before = s.jobs.passes.load(Ordering::SeqCst);
    clock.set(to);
    // The pass that was running may have read the old time: the one after it cannot.
    wait_until(
        "a pass of the periodic jobs",
        Duration::from_secs(10),
        || s.jobs.passes.load(Ordering::SeqCst) >= before + 2,
    )
    .await;
}

fn count(store: &Store, table: &str) -> i64 {
    scalar(
        store,
        &format!("SELECT CAST(COALESCE(SUM(count), 0) AS BIGINT) FROM {table}"),
        &[],
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn minutes_roll_up_after_12_hours_and_hours_expire_after_the_configured_days() {
    let clock = ManualClock::new(T0 + 30);
    let c = clock.clone();
    let s = TestServer::start_with(move |cfg| {
        cfg.clock = c;
        cfg.retention.hourly_secs = 7 * 24 * 3600;
    })
    .await;
    let store = s.running.store.clone();
    let mut p = payload("retention-1");
    p.actions
        .push(action_minute("web", "A#b", T0, &[10.0, 20.0, 30.0], 1));
    p.actions
        .push(action_minute("web", "A#b", T0 + 60, &[40.0], 0));
    assert_eq!(s.send(&p).await, 200);
    wait_until("processed", Duration::from_secs(10), || {
        count(&store, "action_minutes") == 4
    })
    .await;

    let overview = |range: &'static str| {
        let url = s.url(&format!("/apps/{}?range={range}", s.app_id));
        async move { reqwest::get(url).await.unwrap().text().await.unwrap() }
    };
    assert!(overview("1h")
        .await
        .contains("<td class=\"n count\">4</td>"));

    // 12 h after the first minute ended, nothing has moved yet...
    advance_to(&s.running, &clock, T0 + 12 * 3600 + 59).await;
    assert_eq!(count(&store, "action_minutes"), 4);
    assert_eq!(count(&store, "action_hours"), 0);
    // ... a minute later the first minute is in the hour, the second follows after another.
    advance_to(&s.running, &clock, T0 + 12 * 3600 + 60).await;
    assert_eq!(count(&store, "action_minutes"), 1);
    assert_eq!(count(&store, "action_hours"), 3);
    advance_to(&s.running, &clock, T0 + 12 * 3600 + 120).await;
    assert_eq!(count(&store, "action_minutes"), 0);
    assert_eq!(count(&store, "action_hours"), 4);
    assert_eq!(
        scalar(&store, "SELECT error_count FROM action_hours", &[]),
        1
    );
    // The dashboard reads the same clock: outside 1 h and 12 h, inside 7 d (hourly).
    assert!(!overview("1h").await.contains("class=\"action\""));
    assert!(!overview("12h").await.contains("class=\"action\""));
    assert!(overview("7d")
        .await
        .contains("<td class=\"n count\">4</td>"));

    // Kept until the hour is older than the 7 configured days, then deleted.
    advance_to(&s.running, &clock, T0 + 7 * 24 * 3600).await;
    assert_eq!(count(&store, "action_hours"), 4);
    assert_eq!(
        scalar(&store, "SELECT COUNT(*) FROM processed_payloads", &[]),
        1
    );
    advance_to(&s.running, &clock, T0 + 7 * 24 * 3600 + 60).await;
    assert_eq!(count(&store, "action_hours"), 0);
    assert_eq!(count(&store, "action_hour_buckets"), 0);
    // Payload ids are remembered as long as the hours they went into.
    advance_to(&s.running, &clock, T0 + 7 * 24 * 3600 + 120).await;
    assert_eq!(
        scalar(&store, "SELECT COUNT(*) FROM processed_payloads", &[]),
        0
    );
    s.running.stop().await;
}

#[test]
fn retention_days_on_the_command_line_set_the_hourly_retention() {
    use clap::Parser;
    let cli = appsignal_server::cli::Cli::parse_from([
        "appsignal-server",
        "--data",
        "d",
        "--retention-days",
        "90",
    ]);
    let config = appsignal_server::cli::server_config(
        &cli.serve,
        appsignal_server::server::Role::All,
        std::sync::Arc::new(appsignal_server::clock::SystemClock),
    );
    assert_eq!(config.retention.hourly_secs, 90 * 24 * 3600);
    assert_eq!(config.retention.minutely_secs, 12 * 3600);
    let default = appsignal_server::cli::Cli::parse_from(["appsignal-server"]);
    assert_eq!(default.serve.retention_days, 30);
}
