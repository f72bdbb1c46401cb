//! appsignal-agent: receives frames from the AppSignal extension on
//! `{working_dir}/agent.socket`, aggregates them per minute, and posts them to the
//! Push API every transmission interval.
//!
//! Follow one event: `ingest/` (socket, frames) → `aggregate/` (per-minute series,
//! samples) + `journal/` (crash safety) → `transmit/` (payload, HTTP) ↔ `spool/`
//! (payloads kept on disk for retry). `probes/` adds host metrics, `lock.rs` keeps
//! one agent per configuration.

mod aggregate;
mod clock;
mod config;
mod crash_point;
mod daemon;
mod error;
mod health;
mod ingest;
mod journal;
mod lock;
mod log;
mod otlp;
mod pipeline;
mod probes;
mod shutdown;
mod spool;
mod transmit;
mod workdir;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use appsignal_proto::agent_lock::{AgentIdentity, AgentLock};
use tokio::sync::Notify;

use crate::aggregate::Aggregator;
use crate::clock::{SharedClock, SystemClock};
use crate::config::Config;
use crate::error::AgentError;
use crate::health::Health;
use crate::log::{debug, info, warning, Logger};
use crate::pipeline::{Pipeline, Recorder, SharedPipeline};
use crate::shutdown::{Reason, Shutdown};

const USAGE: &str = "usage: appsignal-agent [--daemonize] (configuration comes from APPSIGNAL_* environment variables)";
/// How often the lock and working directory are checked.
const LOCK_CHECK_PERIOD: Duration = Duration::from_secs(1);
/// How often buffered journal bytes are written: the most a SIGKILL can lose.
const JOURNAL_WRITE_PERIOD: Duration = Duration::from_millis(100);

fn main() {
    std::process::exit(run());
}

fn run() -> i32 {
    let mut daemonize = false;
    for arg in std::env::args().skip(1) {
        match arg.as_str() {
            "--daemonize" => daemonize = true,
            "--version" => {
                println!("appsignal-agent {}", env!("CARGO_PKG_VERSION"));
                return 0;
            }
            "--help" | "-h" => {
                println!("{USAGE}");
                return 0;
            }
            other => {
                eprintln!("appsignal-agent: unknown argument {other:?}; {USAGE}");
                return 2;
            }
        }
    }

    let loaded = Config::from_process_env();
    let config = loaded.config;
    let cwd = std::env::current_dir().ok();
    let working_dir = workdir::resolve(
        config.working_directory_path.as_deref(),
        cwd.as_deref(),
        std::env::var_os("DYNO").is_some(),
    );
    if let Err(e) = workdir::prepare(&working_dir, config.dir_mode()) {
        // The fallback log lives in the working directory; only a configured log
        // path can still record why the agent did not start.
        if let Some((path, file)) = config
            .log_path
            .as_deref()
            .and_then(|p| log::choose_log_file(Some(p), &working_dir, config.file_mode()).0)
        {
            log::install(Logger::to_file(
                path,
                file,
                config.log_level,
                config.file_mode(),
                &config.push_api_key,
            ));
        }
        log::fatal(&e.to_string());
        return 1;
    }
    let (log_file, log_note) =
        log::choose_log_file(config.log_path.as_deref(), &working_dir, config.file_mode());
    if let Some((path, file)) = log_file {
        log::install(Logger::to_file(
            path,
            file,
            config.log_level,
            config.file_mode(),
            &config.push_api_key,
        ));
    }
    if let Some(note) = log_note {
        warning!("{note}");
        eprintln!(
            "appsignal-agent: {}",
            log::scrub(&note, &config.push_api_key)
        );
    }
    for warning in loaded.warnings {
        warning!("{warning}");
    }
    if let Some(point) = crash_point::unknown_point() {
        log::fatal(&format!(
            "{} names no crash point: {point:?} (known: {})",
            crash_point::ENV,
            crash_point::POINTS.join(", ")
        ));
        return 1;
    }
    if !config.has_destination() {
        log::fatal(&format!(
            "{}; or set APPSIGNAL_OTLP_ENDPOINT to export over OTLP only",
            AgentError::MissingPushApiKey
        ));
        return 1;
    }

    if daemonize {
        match daemon::detach() {
            Ok(daemon::Side::Parent) => return 0,
            Ok(daemon::Side::Child) => {}
            Err(why) => {
                log::fatal(&why);
                return 1;
            }
        }
    }

    match start(config, working_dir) {
        Ok(()) => 0,
        Err(e) => {
            log::fatal(&e.to_string());
            1
        }
    }
}

fn start(config: Config, working_dir: PathBuf) -> Result<(), AgentError> {
    let pid = std::process::id();
    let clock: SharedClock = Arc::new(SystemClock);
    let working_dir_text = working_dir.to_string_lossy().into_owned();
    let me = AgentLock {
        pid,
        version: env!("CARGO_PKG_VERSION").to_string(),
        config: AgentIdentity {
            app_name: &config.app_name,
            environment: &config.environment,
            push_api_key: &config.push_api_key,
            endpoint: &config.endpoint_as_configured,
            working_dir: &working_dir_text,
            otlp: &config.otlp_as_configured,
        }
        .fingerprint(),
        started_at: (clock.now_unix_ms() / 1000).max(0) as u64,
    };
    let lock_path = lock::lock_path(&working_dir);

    // Check-lock, write-lock and bind-socket happen as one step among starting agents.
    let guard = lock::StartupGuard::acquire(&working_dir).map_err(|source| AgentError::Lock {
        path: lock_path.clone(),
        source,
    })?;
    let existing = lock::read(&lock_path);
    match lock::decide(&existing, &me, lock::pid_alive) {
        lock::Startup::AlreadyRunning { pid: other } => {
            debug!("agent {other} already serves this configuration; exiting");
            return Ok(());
        }
        lock::Startup::TakeOver => match &existing {
            lock::LockRead::Present(old) if lock::pid_alive(old.pid) => info!(
                "taking over from agent {} (version {}, config {})",
                old.pid, old.version, old.config
            ),
            lock::LockRead::Unusable(why) => {
                warning!("{} is unusable ({why}); replacing it", lock_path.display())
            }
            _ => {}
        },
    }
    lock::write_atomically(&lock_path, &me, config.file_mode()).map_err(|source| {
        AgentError::Lock {
            path: lock_path.clone(),
            source,
        }
    })?;
    let listener = ingest::bind(&working_dir, config.file_mode())?;
    drop(guard);

    let hostname = config.hostname.clone().unwrap_or_else(|| {
        nix::unistd::gethostname()
            .ok()
            .and_then(|h| h.into_string().ok())
            .unwrap_or_else(|| "unknown".to_string())
    });
    let destinations = match (&config.otlp_endpoint, config.push_api_enabled()) {
        (None, _) => format!("endpoint {}", config.endpoint),
        (Some(otlp), true) => format!("endpoint {} and OTLP endpoint {otlp}", config.endpoint),
        (Some(otlp), false) => format!("OTLP endpoint {otlp} only (no Push API)"),
    };
    info!(
        "agent {} started: working directory {}, {destinations}, interval {:?}, hostname {hostname}",
        env!("CARGO_PKG_VERSION"),
        working_dir.display(),
        config.transmission_interval
    );

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(AgentError::Runtime)?;
    runtime.block_on(serve(config, working_dir, listener, clock, hostname))
}

async fn serve(
    config: Config,
    working_dir: PathBuf,
    listener: std::os::unix::net::UnixListener,
    clock: SharedClock,
    hostname: String,
) -> Result<(), AgentError> {
    let pid = std::process::id();
    let health = Arc::new(Health::default());
    let spans = config
        .otlp_endpoint
        .as_ref()
        .map(|_| otlp::spans::SpanBuffer::default());
    let pipeline = SharedPipeline::new(Pipeline {
        aggregator: Recorder::new(Aggregator::new(clock.clone()), spans, clock.clone()),
        journal: None,
    });

    let shutdown = Shutdown::new();
    let flush_now = Arc::new(Notify::new());
    let push = transmit::push::PushClient::new(
        &config.endpoint,
        &config.push_api_key,
        &config.app_name,
        &config.environment,
        &hostname,
    )
    .map_err(|why| AgentError::Runtime(std::io::Error::other(why)))?;
    let spool = spool::Spool::new(
        &working_dir.join("payloads"),
        config.file_mode(),
        spool::Limits::default(),
        clock.clone(),
    );
    recover_journals(
        &working_dir.join("journal"),
        &pipeline,
        &spool,
        config.file_mode(),
    );
    let mut transmitter = transmit::Transmitter::new(
        pipeline.clone(),
        health.clone(),
        spool,
        push,
        clock.clone(),
        hostname.clone(),
        config.transmission_interval,
        config.revision.clone(),
    );
    transmitter.journal_dir = Some(working_dir.join("journal"));
    transmitter.push_enabled = config.push_api_enabled();
    if let Some(endpoint) = &config.otlp_endpoint {
        let resource = otlp::export::resource(&otlp::export::Identity {
            app_name: &config.app_name,
            environment: &config.environment,
            hostname: &hostname,
            revision: config.revision.as_deref(),
        });
        let exporter = otlp::export::Exporter::new(
            endpoint,
            config.otlp_headers.clone(),
            resource,
            &working_dir,
            config.dir_mode(),
            config.file_mode(),
            clock.clone(),
            config.transmission_interval,
        )
        .map_err(|why| {
            AgentError::Runtime(std::io::Error::other(format!(
                "OTLP export (APPSIGNAL_OTLP_ENDPOINT) cannot start: {why}"
            )))
        })?;
        transmitter.otlp = Some(exporter);
    }

    tokio::spawn(watch_signals(shutdown.clone()));
    tokio::spawn(watch_lock(working_dir.clone(), pid, shutdown.clone()));
    tokio::spawn(write_journal(pipeline.clone(), shutdown.clone()));
    if config.enable_host_metrics {
        tokio::spawn(probes::run(
            probes::HostProbe::new(&hostname),
            pipeline.clone(),
            clock.clone(),
            config.transmission_interval.min(probes::PROBE_PERIOD) * 9 / 10,
            shutdown.clone(),
        ));
    }
    let ingest_shutdown = shutdown.clone();
    let ingest = tokio::spawn(ingest::serve(
        listener,
        pipeline.clone(),
        health.clone(),
        flush_now.clone(),
        shutdown.clone(),
    ));
    let transmit = tokio::spawn(transmitter.run(flush_now, shutdown.clone()));

    let result = match ingest.await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => {
            ingest_shutdown.trigger(Reason::IngestFailed);
            Err(e)
        }
        Err(_) => Ok(()),
    };
    let reason = shutdown.reason();
    info!(
        "shutting down: {}; sending what is pending",
        reason
            .as_ref()
            .map_or("unknown".to_string(), |r| r.to_string())
    );
    let _ = transmit.await;

    if let Some(journal) = pipeline.lock().journal.as_mut() {
        journal.remove();
    }
    if reason.is_some_and(|r| r.still_owner()) {
        release(&working_dir, pid);
    }
    info!("agent stopped");
    result
}

/// Opens this agent's journal after taking over (and replaying) the segments of
/// agents that died before transmitting them.
fn recover_journals(dir: &Path, pipeline: &SharedPipeline, spool: &spool::Spool, file_mode: u32) {
    let pid = std::process::id();
    // Our own pid counts as dead here: a segment under it is from an earlier process.
    let orphans = journal::orphans(
        dir,
        |other| other != pid && lock::pid_alive(other),
        |tag| spool.holds(tag),
    );
    let mut state = pipeline.lock();
    state.journal = Some(journal::Journal::new(dir, pid, file_mode));
    state.adopt(orphans);
    if let Some(Err(e)) = state.journal.as_mut().map(journal::Journal::start) {
        warning!(
            "cannot open the journal in {}: {e}; data is not crash-safe (check the permissions of the working directory)",
            dir.display()
        );
    }
}

async fn watch_signals(shutdown: Shutdown) {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        warning!(
            "cannot install SIGTERM/SIGINT handlers; the agent will stop without a final flush"
        );
        return;
    };
    let name = tokio::select! {
        _ = term.recv() => "SIGTERM",
        _ = int.recv() => "SIGINT",
    };
    shutdown.trigger(Reason::Signal(name));
}

async fn watch_lock(working_dir: PathBuf, pid: u32, shutdown: Shutdown) {
    let mut ticker = tokio::time::interval(LOCK_CHECK_PERIOD);
    loop {
        tokio::select! {
            _ = shutdown.wait() => return,
            _ = ticker.tick() => {}
        }
        let reason = match lock::check(&working_dir, pid) {
            lock::Watch::Ours => continue,
            lock::Watch::LockGone => Reason::LockGone,
            lock::Watch::WorkingDirGone => Reason::WorkingDirGone,
            lock::Watch::Replaced { by_pid } => Reason::Replaced { by_pid },
        };
        shutdown.trigger(reason);
        return;
    }
}

async fn write_journal(pipeline: SharedPipeline, shutdown: Shutdown) {
    let mut ticker = tokio::time::interval(JOURNAL_WRITE_PERIOD);
    let mut warned = false;
    loop {
        tokio::select! {
            _ = shutdown.wait() => return,
            _ = ticker.tick() => {}
        }
        if let Some(journal) = pipeline.lock().journal.as_mut() {
            if let Err(e) = journal.write_buffered() {
                if !warned {
                    warning!("cannot write the journal: {e}; data is not crash-safe until it works again");
                    warned = true;
                }
            }
        }
    }
}

/// Removes the lock and socket on a clean stop, if they are still this agent's.
fn release(working_dir: &Path, pid: u32) {
    if lock::check(working_dir, pid) == lock::Watch::Ours {
        let _ = std::fs::remove_file(ingest::socket_path(working_dir));
        let _ = std::fs::remove_file(lock::lock_path(working_dir));
    }
}
