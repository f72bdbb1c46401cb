//! Drives the extension core the way an app does, for valgrind: transactions with
//! nested events, SQL bodies, tags, data, an error every tenth, handed to the real
//! reporter (worker thread, channel, SQL obfuscation, connection attempts to a
//! working directory without an agent), then stopped. Any invalid read or a leak
//! per transaction shows in `valgrind --leak-check=full`.
//!
//! Usage: ext-core-churn [TRANSACTIONS] [WORKING_DIR]

use appsignal_ext_core::config::ReporterConfig;
use appsignal_ext_core::reporter;
use appsignal_ext_core::sql::{self, Dialect};
use appsignal_ext_core::transaction::{BodyFormat, ErrorReport, Transaction};
use std::path::PathBuf;
use std::time::Duration;

fn main() {
    let mut args = std::env::args().skip(1);
    let count: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(10_000);
    let working_dir = PathBuf::from(
        args.next()
            .unwrap_or_else(|| std::env::temp_dir().display().to_string()),
    );
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
    let mut sent = 0u64;
    for i in 0..count {
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
        if i % 10 == 0 {
            transaction.set_error(ErrorReport {
                name: "RuntimeError".into(),
                message: "churn".into(),
                backtrace: vec!["app.rb:1".into(); 3],
                causes: vec![("KeyError".into(), "inner".into(), vec!["app.rb:2".into()])],
            });
        }
        let _ = transaction.id();
        if reporter::send_transaction(transaction) {
            sent += 1;
        }
        let _ = sql::obfuscate(
            "UPDATE t SET a = 'x' WHERE b IN (1, 2, 3)",
            Dialect::Postgres,
        );
    }
    reporter::stop(Duration::from_millis(500));
    let stats = reporter::stats();
    println!("ext-core-churn: {count} transactions, {sent} queued, stats after stop: {stats:?}");
}
