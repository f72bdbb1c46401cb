//! `Appsignal::Extension` module functions: start/stop the reporter and a few
//! diagnostics.

use super::guard::{self, guarded};
use appsignal_ext_core::config::ReporterConfig;
use appsignal_ext_core::log::{self, Level};
use appsignal_ext_core::{reporter, sql};
use magnus::{RHash, Ruby};
use std::path::PathBuf;
use std::time::Duration;

/// `start(agent_path, working_dir, log_path, agent_env_pairs, channel_capacity,
/// language_version, library_version, revision)`
#[allow(clippy::too_many_arguments)]
pub fn start(
    agent_path: Option<String>,
    working_dir: String,
    log_path: Option<String>,
    agent_env: Vec<(String, String)>,
    channel_capacity: usize,
    language_version: String,
    library_version: String,
    revision: String,
) -> bool {
    guarded(false, || {
        reporter::start(ReporterConfig {
            agent_path: agent_path.map(PathBuf::from),
            working_dir: PathBuf::from(working_dir),
            log_path: log_path.map(PathBuf::from),
            agent_env,
            channel_capacity,
            language_version,
            library_version,
            revision,
        });
        true
    })
}

pub fn stop(timeout_seconds: f64) {
    guarded((), || reporter::stop(seconds(timeout_seconds)))
}

pub fn flush(timeout_seconds: f64) {
    guarded((), || reporter::flush(seconds(timeout_seconds)))
}

fn seconds(value: f64) -> Duration {
    Duration::from_secs_f64(if value.is_finite() {
        value.clamp(0.0, 60.0)
    } else {
        0.0
    })
}

pub fn is_active() -> bool {
    !guard::is_disabled() && reporter::is_active()
}

pub fn is_disabled() -> bool {
    guard::is_disabled()
}

pub fn stats(ruby: &Ruby) -> Result<RHash, magnus::Error> {
    let hash = ruby.hash_new();
    let Some(stats) = guarded(None, reporter::stats) else {
        return Ok(hash);
    };
    hash.aset(ruby.to_symbol("transactions_sent"), stats.transactions_sent)?;
    hash.aset(
        ruby.to_symbol("transactions_dropped"),
        stats.transactions_dropped,
    )?;
    hash.aset(ruby.to_symbol("metrics_dropped"), stats.metrics_dropped)?;
    hash.aset(ruby.to_symbol("events_truncated"), stats.events_truncated)?;
    hash.aset(ruby.to_symbol("agent_unavailable"), stats.agent_unavailable)?;
    Ok(hash)
}

pub fn agent_version() -> &'static str {
    reporter::AGENT_VERSION
}

/// For `instrument_sql` callers and specs: the text that would leave the process.
/// dialect: 0 generic, 1 postgres, 2 mysql.
pub fn obfuscate_sql(query: String, dialect: i64) -> String {
    guarded(String::from("?"), || {
        let dialect = match dialect {
            1 => sql::Dialect::Postgres,
            2 => sql::Dialect::MySql,
            _ => sql::Dialect::Generic,
        };
        sql::obfuscate(&query, dialect)
    })
}

/// Lets the Ruby side put its lines in the same file with the same format.
pub fn log(level: i64, message: String) {
    guarded((), || {
        let level = match level {
            0 => Level::Error,
            1 => Level::Warn,
            2 => Level::Info,
            _ => Level::Debug,
        };
        log::write(level, &message);
    })
}

/// Test-only switch: proves a panic disables the extension and leaves the app running.
/// Does nothing unless APPSIGNAL_ENABLE_TEST_HOOKS=1.
pub fn trigger_panic_for_tests() -> bool {
    if std::env::var("APPSIGNAL_ENABLE_TEST_HOOKS").as_deref() != Ok("1") {
        return false;
    }
    guarded(false, || {
        panic!("forced by Appsignal::Extension.trigger_panic_for_tests")
    })
}
