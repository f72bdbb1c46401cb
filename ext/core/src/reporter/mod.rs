//! The reporter: app threads hand finished transactions and metrics to a bounded
//! channel (never blocking: a full channel is a counted drop), and one worker thread
//! per process writes them to the agent.
//!
//! The hot path (`send_transaction`, `send_metric`) reads two atomics and a
//! thread-local cached sender: no lock shared with other threads, no syscall.
//!
//! Forks: a `pthread_atfork` child handler bumps [`FORKS`]. The first reporter call in
//! the child sees it and builds a fresh channel and worker (the parent's worker thread
//! does not exist in the child). Transactions started before the fork belong to the
//! parent, which reports them; the child drops its copies.

mod agent_launcher;
mod connection;
mod worker;

pub use agent_launcher::AGENT_VERSION;

use crate::config::ReporterConfig;
use crate::log::{self, Level};
use crate::transaction::Transaction;
use appsignal_proto::v1;
use crossbeam_channel::{bounded, Sender, TrySendError};
use once_cell::sync::Lazy;
use std::cell::RefCell;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Once};
use std::time::Duration;
use worker::Message;

#[derive(Default, Debug)]
pub struct Counters {
    pub transactions_sent: AtomicU64,
    pub transactions_dropped: AtomicU64,
    pub metrics_dropped: AtomicU64,
    pub events_truncated: AtomicU64,
    /// The agent could not be started: everything is being dropped.
    pub agent_unavailable: AtomicBool,
}

/// A copy of the counters for Ruby (`Appsignal::Extension.stats`) and tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stats {
    pub transactions_sent: u64,
    pub transactions_dropped: u64,
    pub metrics_dropped: u64,
    pub events_truncated: u64,
    pub agent_unavailable: bool,
}

struct Running {
    config: ReporterConfig,
    sender: Sender<Message>,
    counters: Arc<Counters>,
    /// The value of FORKS this reporter was built under.
    forks_seen: u64,
}

static RUNNING: Lazy<Mutex<Option<Running>>> = Lazy::new(|| Mutex::new(None));
static ACTIVE: AtomicBool = AtomicBool::new(false);
/// Bumped by every (re)build of the reporter; thread-local sender caches compare to it.
static GENERATION: AtomicU64 = AtomicU64::new(0);
/// Bumped in the child of every fork (async-signal-safe: a single atomic add).
static FORKS: AtomicU64 = AtomicU64::new(0);
/// The FORKS value the current reporter was built for.
static FORKS_HANDLED: AtomicU64 = AtomicU64::new(0);
static ATFORK: Once = Once::new();

struct CachedSender {
    generation: u64,
    sender: Sender<Message>,
    counters: Arc<Counters>,
}

thread_local! {
    static CACHED_SENDER: RefCell<Option<CachedSender>> = const { RefCell::new(None) };
}

extern "C" fn after_fork_in_child() {
    FORKS.fetch_add(1, Ordering::SeqCst);
}

/// The fork generation new transactions belong to.
pub fn fork_generation() -> u64 {
    FORKS.load(Ordering::Relaxed)
}

pub fn is_active() -> bool {
    ACTIVE.load(Ordering::Relaxed)
}

/// Starts (or restarts with a new configuration) the reporter of this process.
pub fn start(config: ReporterConfig) {
    ATFORK.call_once(|| {
        // SAFETY: registers a handler that only performs an atomic add.
        unsafe {
            libc::pthread_atfork(None, None, Some(after_fork_in_child));
        }
    });
    if let Some(path) = &config.log_path {
        log::open(path);
    }
    let Ok(mut running) = RUNNING.lock() else {
        return;
    };
    if let Some(old) = running.take() {
        stop_running(old, Duration::from_secs(1));
    }
    *running = Some(spawn(config, FORKS.load(Ordering::SeqCst)));
    FORKS_HANDLED.store(FORKS.load(Ordering::SeqCst), Ordering::SeqCst);
    GENERATION.fetch_add(1, Ordering::SeqCst);
    ACTIVE.store(true, Ordering::SeqCst);
}

fn spawn(config: ReporterConfig, forks_seen: u64) -> Running {
    let (sender, receiver) = bounded(config.channel_capacity.max(1));
    let counters = Arc::new(Counters::default());
    let worker_config = config.clone();
    let worker_counters = Arc::clone(&counters);
    let spawned = std::thread::Builder::new()
        .name("appsignal-reporter".to_string())
        .spawn(move || worker::run(receiver, worker_config, worker_counters));
    if let Err(e) = spawned {
        log::write(
            Level::Error,
            &format!("could not start the reporter thread: {e}; nothing will be reported"),
        );
        counters.agent_unavailable.store(true, Ordering::Relaxed);
    }
    log::write(
        Level::Debug,
        &format!(
            "reporter started for working directory {}",
            config.working_dir.display()
        ),
    );
    Running {
        config,
        sender,
        counters,
        forks_seen,
    }
}

/// Flushes what is queued (waiting at most `timeout`) and stops the worker.
pub fn stop(timeout: Duration) {
    ACTIVE.store(false, Ordering::SeqCst);
    GENERATION.fetch_add(1, Ordering::SeqCst);
    let Ok(mut running) = RUNNING.lock() else {
        return;
    };
    if let Some(old) = running.take() {
        stop_running(old, timeout);
    }
}

fn stop_running(running: Running, timeout: Duration) {
    if running.forks_seen != FORKS.load(Ordering::SeqCst) {
        // Built in a parent process: its worker thread does not exist here, and its
        // channel may be mid-operation. Leak it rather than touch it.
        std::mem::forget(running);
        return;
    }
    let (ack_tx, ack_rx) = bounded(1);
    if running
        .sender
        .send_timeout(Message::Stop(ack_tx), timeout)
        .is_ok()
    {
        let _ = ack_rx.recv_timeout(timeout);
    }
}

/// Writes everything queued so far to the agent, waiting at most `timeout`.
pub fn flush(timeout: Duration) {
    let Some(sender) = current_sender() else {
        return;
    };
    let (ack_tx, ack_rx) = bounded(1);
    if sender.send_timeout(Message::Flush(ack_tx), timeout).is_ok() {
        let _ = ack_rx.recv_timeout(timeout);
    }
}

/// Hands a finished transaction to the worker. Never blocks. Returns false when it
/// was dropped (reporter off, channel full, or it predates a fork).
pub fn send_transaction(transaction: Transaction) -> bool {
    if !is_active() || transaction.generation() != FORKS.load(Ordering::Relaxed) {
        return false;
    }
    let record = transaction.finish();
    send(Message::Transaction(Box::new(record)), |c| {
        &c.transactions_dropped
    })
}

pub fn send_metric(metric: v1::MetricSample) -> bool {
    if !is_active() {
        return false;
    }
    send(Message::Metric(metric), |c| &c.metrics_dropped)
}

fn send(message: Message, drop_counter: fn(&Counters) -> &AtomicU64) -> bool {
    with_sender(|sender, counters| match sender.try_send(message) {
        Ok(()) => true,
        Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
            drop_counter(counters).fetch_add(1, Ordering::Relaxed);
            false
        }
    })
    .unwrap_or(false)
}

fn current_sender() -> Option<Sender<Message>> {
    with_sender(|sender, _| sender.clone())
}

/// Runs `f` with this thread's cached sender, refreshed when the reporter was rebuilt
/// or the process forked. Cloning the sender per call would cost an atomic; the
/// cache hands out a reference instead.
fn with_sender<R>(f: impl FnOnce(&Sender<Message>, &Counters) -> R) -> Option<R> {
    if FORKS.load(Ordering::Relaxed) != FORKS_HANDLED.load(Ordering::Relaxed) {
        rebuild_after_fork();
    }
    let generation = GENERATION.load(Ordering::Acquire);
    CACHED_SENDER.with(|cache| {
        let mut cache = cache.try_borrow_mut().ok()?;
        let fresh = matches!(cache.as_ref(), Some(cached) if cached.generation == generation);
        if !fresh {
            let running = RUNNING.lock().ok()?;
            let running = running.as_ref()?;
            let refreshed = CachedSender {
                generation,
                sender: running.sender.clone(),
                counters: Arc::clone(&running.counters),
            };
            // A sender cached before a fork shares the parent's channel memory: forget it.
            if let Some(old) = cache.replace(refreshed) {
                std::mem::forget(old);
            }
        }
        let cached = cache.as_ref()?;
        Some(f(&cached.sender, &cached.counters))
    })
}

fn rebuild_after_fork() {
    let Ok(mut running) = RUNNING.lock() else {
        return;
    };
    let forks = FORKS.load(Ordering::SeqCst);
    if FORKS_HANDLED.load(Ordering::SeqCst) == forks {
        return; // another thread of this child already did it
    }
    crate::ids::reseed();
    if let Some(old) = running.take() {
        let config = old.config.clone();
        std::mem::forget(old);
        if ACTIVE.load(Ordering::SeqCst) {
            *running = Some(spawn(config, forks));
        }
    }
    FORKS_HANDLED.store(forks, Ordering::SeqCst);
    GENERATION.fetch_add(1, Ordering::SeqCst);
}

pub fn stats() -> Option<Stats> {
    let running = RUNNING.lock().ok()?;
    let counters = &running.as_ref()?.counters;
    Some(Stats {
        transactions_sent: counters.transactions_sent.load(Ordering::Relaxed),
        transactions_dropped: counters.transactions_dropped.load(Ordering::Relaxed),
        metrics_dropped: counters.metrics_dropped.load(Ordering::Relaxed),
        events_truncated: counters.events_truncated.load(Ordering::Relaxed),
        agent_unavailable: counters.agent_unavailable.load(Ordering::Relaxed),
    })
}
