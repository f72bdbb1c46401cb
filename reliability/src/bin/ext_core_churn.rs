//! Drives the extension core the way an app does: transactions with nested events,
//! SQL bodies, tags, data, breadcrumbs, an error every tenth, and a custom metric,
//! handed to the real reporter (worker thread, channel, SQL obfuscation, framing, the
//! agent socket in WORKING_DIR or connection attempts when no agent listens there),
//! then stopped.
//!
//! Two uses: under `valgrind --leak-check=full` (invalid reads and leaks show there),
//! and the RSS check: with WARMUP > 0 it prints `rss_kb after_warmup=A at_end=B` —
//! the process's VmRSS after WARMUP transactions and after all of them, each taken
//! once the worker has drained the channel.
//!
//! When the channel is full (the worker is behind) the transaction is dropped and
//! counted, as in an app, and the loop pauses briefly so the run measures the whole
//! path rather than the drop counter.
//!
//! Usage: ext-core-churn [TRANSACTIONS] [WORKING_DIR] [WARMUP]

use appsignal_ext_core::config::ReporterConfig;
use appsignal_ext_core::reporter;
use appsignal_ext_core::sql::{self, Dialect};
use appsignal_ext_core::transaction::{BodyFormat, ErrorReport, Transaction};
use appsignal_proto::v1;
use std::path::PathBuf;
use std::time::Duration;

fn main() {
    let mut args = std::env::args().skip(1);
    let count: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(10_000);
    let working_dir = PathBuf::from(
        args.next()
            .unwrap_or_else(|| std::env::temp_dir().display().to_string()),
    );
    let warmup: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(0);
    reporter::start(ReporterConfig {
        agent_path: None,
        working_dir,
        log_path: None,
        agent_env: vec![("APPSIGNAL_APP_NAME".into(), "churn".into())],
        channel_capacity: 1_000,
        language_version: "3.1".into(),
        library_version: "churn".into(),
        revision: String::new(),
    });
    let mut queued = 0u64;
    let mut rss_after_warmup = None;
    for i in 0..count {
        if warmup > 0 && i == warmup {
            reporter::flush(Duration::from_secs(5));
            rss_after_warmup = Some(rss_kb());
        }
        if reporter::send_transaction(transaction(i)) {
            queued += 1;
        } else {
            std::thread::sleep(Duration::from_micros(200));
        }
        let _ = reporter::send_metric(v1::MetricSample {
            name: "churn_counter".into(),
            kind: v1::MetricKind::Counter as i32,
            value: 1.0,
            tags: [("kind".to_string(), format!("k{}", i % 3))].into(),
            time_unix_ms: 0,
        });
        let _ = sql::obfuscate(
            "UPDATE t SET a = 'x' WHERE b IN (1, 2, 3)",
            Dialect::Postgres,
        );
    }
    reporter::flush(Duration::from_secs(5));
    if let Some(after_warmup) = rss_after_warmup {
        println!("rss_kb after_warmup={after_warmup} at_end={}", rss_kb());
    }
    let stats = reporter::stats();
    reporter::stop(Duration::from_millis(500));
    println!("ext-core-churn: {count} transactions, {queued} queued, stats before stop: {stats:?}");
}

fn transaction(i: u64) -> Transaction {
    let mut transaction = Transaction::new("web", reporter::fork_generation());
    transaction.set_action(&format!("Churn#{}", i % 7));
    transaction.start_event();
    transaction.start_event();
    transaction.finish_event(
        "sql.active_record",
        "User Load",
        "SELECT * FROM users WHERE email = 'a@b.c' AND id = 42",
        BodyFormat::Sql,
    );
    transaction.finish_event(
        "process_action.action_controller",
        "",
        "",
        BodyFormat::Plain,
    );
    transaction.start_event(); // left open: dropped at finish
    transaction.set_tag("user", "7");
    transaction.set_metadata("path", "/users/7");
    transaction.set_data_json("params", r#"{"id":"7"}"#);
    transaction.add_breadcrumb("net", "GET", "ok", "{}");
    if i.is_multiple_of(10) {
        transaction.set_error(ErrorReport {
            name: "RuntimeError".into(),
            message: "churn".into(),
            backtrace: vec!["app.rb:1".into(); 3],
            causes: vec![("KeyError".into(), "inner".into(), vec!["app.rb:2".into()])],
        });
    }
    let _ = transaction.id();
    transaction
}

fn rss_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|line| line.strip_prefix("VmRSS:"))
                .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
        })
        .unwrap_or(0)
}
