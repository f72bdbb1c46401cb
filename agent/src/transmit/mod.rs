//! Every interval: take the pipeline's snapshot, write it as a payload to the
//! spool, and post what the spool holds to the Push API.
//!
//! Timing: the first transmission is one interval after the agent started and then
//! every interval from there, so the moment within the minute is set by when the
//! agent started (agents on many hosts do not all post at :00 and :30). A late tick
//! is skipped rather than bunched, keeping that phase. When the pending data passes
//! the aggregator's size threshold a payload goes out early (at most once a second).

pub mod payload;
pub mod push;

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::{Instant, MissedTickBehavior};

use crate::clock::{minute_of_ms, SharedClock};
use crate::health::{self, Counts, Health};
use crate::log::{debug, error, info, warning};
use crate::pipeline::SharedPipeline;
use crate::shutdown::Shutdown;
use crate::spool::{Entry, Spool};
use push::{Outcome, PushClient};

/// Bounds of the timeout for one POST in normal operation: two thirds of the
/// interval, so a hanging Push API delays at most one transmission.
const MIN_SEND_TIMEOUT: Duration = Duration::from_secs(5);
const MAX_SEND_TIMEOUT: Duration = Duration::from_secs(20);
/// Timeout for the last POST while shutting down: the data is already on disk.
const FINAL_SEND_TIMEOUT: Duration = Duration::from_secs(3);
/// Spooled payloads sent per round, so a long backlog cannot stall a tick.
const MAX_SENDS_PER_ROUND: usize = 20;
/// Minimum spacing of size-triggered payloads.
const MIN_EARLY_SPACING: Duration = Duration::from_secs(1);

pub struct Transmitter {
    pub pipeline: SharedPipeline,
    pub health: Arc<Health>,
    pub spool: Spool,
    pub push: PushClient,
    pub clock: SharedClock,
    pub hostname: String,
    pub interval: Duration,
    pub revision: Option<String>,
    /// Where journals of agents that may die while this one runs are found.
    pub journal_dir: Option<std::path::PathBuf>,
    /// Whether payloads go to the Push API (not with `APPSIGNAL_OTLP_ONLY`).
    pub push_enabled: bool,
    /// OTLP export of traces and metrics, when `APPSIGNAL_OTLP_ENDPOINT` is set.
    pub otlp: Option<crate::otlp::export::Exporter>,
    last_logged: Counts,
    last_reported: Counts,
    payloads_built: u64,
}

impl Transmitter {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        pipeline: SharedPipeline,
        health: Arc<Health>,
        spool: Spool,
        push: PushClient,
        clock: SharedClock,
        hostname: String,
        interval: Duration,
        revision: Option<String>,
    ) -> Transmitter {
        Transmitter {
            pipeline,
            health,
            spool,
            push,
            clock,
            hostname,
            interval,
            revision,
            journal_dir: None,
            push_enabled: true,
            otlp: None,
            last_logged: Counts::default(),
            last_reported: Counts::default(),
            payloads_built: 0,
        }
    }

    pub async fn run(mut self, flush_now: Arc<Notify>, shutdown: Shutdown) {
        let mut ticker = tokio::time::interval_at(Instant::now() + self.interval, self.interval);
        ticker.set_missed_tick_behavior(MissedTickBehavior::Skip);
        let mut last_flush = Instant::now();
        loop {
            let mut early = false;
            tokio::select! {
                _ = shutdown.wait() => break,
                _ = ticker.tick() => {}
                _ = flush_now.notified() => {
                    let ready_at = last_flush + MIN_EARLY_SPACING;
                    tokio::select! {
                        _ = shutdown.wait() => break,
                        _ = tokio::time::sleep_until(ready_at) => {}
                    }
                    early = true;
                }
            }
            last_flush = Instant::now();
            // Spans fill up long before the aggregates do: sending them must not make
            // the Push API get a payload every second.
            if early && !self.pipeline.lock().aggregator.payload_due() {
                debug!("pending spans passed their size threshold: exporting them early");
                self.export_spans_early().await;
                continue;
            }
            if early {
                debug!("pending data passed the size threshold: transmitting early");
            }
            self.flush(false).await;
        }
        self.flush(true).await;
    }

    /// Takes what is pending, spools it, and sends what the spool holds.
    pub async fn flush(&mut self, last: bool) {
        let now_ms = self.clock.now_unix_ms();
        // An agent that crashed after this one started (an old one being replaced)
        // left data nobody else will pick up.
        let orphans = self
            .journal_dir
            .as_deref()
            .map(|dir| {
                crate::journal::orphans(dir, crate::lock::pid_alive, |tag| self.spool.holds(tag))
            })
            .unwrap_or_default();
        // Named before the snapshot: the journal segments it takes are handed to it.
        let id = payload::payload_id(&self.hostname, std::process::id(), self.payloads_built + 1);
        let (snapshot, spans, client_totals, gem_version) = {
            let mut state = self.pipeline.lock();
            state.adopt(orphans);
            if let Some(journal) = state.journal.as_mut() {
                if let Err(e) = journal.rotate(&id.tag) {
                    warning!("cannot rotate the journal: {e}; data since the last transmission is not crash-safe");
                }
            }
            if let Some(revision) = &self.revision {
                state.aggregator.add_revision(revision);
            }
            let totals = state.aggregator.client_totals();
            let gem_version = state.aggregator.library_version().to_string();
            let spans = state.aggregator.take_spans();
            (state.aggregator.take(), spans, totals, gem_version)
        };
        crate::crash_point::reached("flush:after_rotate");
        // The Push API payload takes the snapshot; OTLP wants the same metric minutes.
        let otlp_metrics = match self.otlp {
            Some(_) => snapshot.metrics.clone(),
            None => Vec::new(),
        };
        let counts = self.health.counts();
        let logged_counts = counts.since(&self.last_logged);
        self.last_logged = counts;
        // Reported as metrics only with a payload, so idle intervals are not lost.
        let interval_counts = counts.since(&self.last_reported);
        info!(
            "interval: transactions={} {} transactions_dropped_by_extension={}",
            snapshot.transactions,
            logged_counts
                .pairs()
                .iter()
                .map(|(name, value)| format!("{name}={value}"))
                .collect::<Vec<_>>()
                .join(" "),
            client_totals.transactions_dropped
        );
        if snapshot.error_samples_skipped > 0 {
            debug!(
                "{} erroring transactions were not kept as samples (cap per action and error class)",
                snapshot.error_samples_skipped
            );
        }

        let mut fresh = None;
        if self.push_enabled && (!snapshot.is_empty() || interval_counts.has_ingest_news()) {
            let agent_metrics = health::metric_minutes(
                &interval_counts,
                &client_totals,
                &self.hostname,
                minute_of_ms(now_ms),
            );
            self.last_reported = counts;
            self.payloads_built += 1;
            let id = id.id;
            let built = payload::build(snapshot, agent_metrics, id.clone(), &self.hostname, now_ms);
            match payload::gzip(&built) {
                Ok(bytes) => match self.spool.store(now_ms, &id, &bytes) {
                    Ok(entry) => {
                        crate::crash_point::reached("flush:after_store");
                        fresh = Some(entry)
                    }
                    Err(e) => {
                        error!(
                            "cannot write payload {id} to the payloads directory: {e}; check the permissions of APPSIGNAL_WORKING_DIRECTORY_PATH; sending it without a copy on disk"
                        );
                        self.send_unspooled(bytes, &gem_version, last).await;
                    }
                },
                Err(e) => error!("cannot compress payload {id}: {e}; it is lost"),
            }
        }
        // The journal's data now lives in payloads/ (or was sent, or is lost for a
        // reason already logged); replaying it would count it twice.
        if let Some(journal) = self.pipeline.lock().journal.as_mut() {
            if let Err(e) = journal.finish_flush() {
                warning!("cannot remove a transmitted journal segment: {e}; if this agent dies, that data may be counted twice");
            }
        }
        crate::crash_point::reached("flush:after_finish");
        // Side by side: a hanging Push API must not hold up the OTLP export, nor the
        // other way round (and a shutdown waits for one timeout, not two).
        let timeout = self.send_timeout(last);
        let mut otlp = self.otlp.take();
        let export = async {
            if let Some(otlp) = otlp.as_mut() {
                let spans = spans.unwrap_or_default();
                otlp.export(spans, &otlp_metrics, now_ms, timeout, last)
                    .await;
            }
        };
        let push_enabled = self.push_enabled;
        let push = async {
            if push_enabled {
                self.send_spooled(fresh, &gem_version, last).await;
            }
        };
        tokio::join!(push, export);
        self.otlp = otlp;
    }

    /// Only the spans, between intervals; the aggregates wait for their interval.
    async fn export_spans_early(&mut self) {
        let Some(spans) = self.pipeline.lock().aggregator.take_spans() else {
            return;
        };
        let now_ms = self.clock.now_unix_ms();
        let timeout = self.send_timeout(false);
        if let Some(otlp) = self.otlp.as_mut() {
            otlp.export(spans, &[], now_ms, timeout, false).await;
        }
    }

    fn send_timeout(&self, last: bool) -> Duration {
        if last {
            FINAL_SEND_TIMEOUT
        } else {
            (self.interval * 2 / 3).clamp(MIN_SEND_TIMEOUT, MAX_SEND_TIMEOUT)
        }
    }

    async fn send_unspooled(&mut self, bytes: Vec<u8>, gem_version: &str, last: bool) {
        let timeout = self.send_timeout(last);
        match self.push.send(bytes, gem_version, timeout).await {
            Outcome::Accepted => health::add(&self.health.payloads_sent, 1),
            Outcome::Rejected(why) | Outcome::RetryLater(why) => {
                health::add(&self.health.payloads_dropped, 1);
                error!(
                    "posting to {} failed: {why}; payload dropped",
                    self.push.loggable_url(gem_version)
                );
            }
        }
    }

    async fn send_spooled(&mut self, fresh: Option<Entry>, gem_version: &str, last: bool) {
        for entry in self.spool.expire() {
            health::add(&self.health.payloads_dropped, 1);
            warning!(
                "dropped payload {} from the spool: not accepted within 30 minutes",
                entry.name
            );
        }
        let dropped = self.spool.enforce_limits();
        if !dropped.is_empty() {
            health::add(&self.health.payloads_dropped, dropped.len() as u64);
            warning!(
                "dropped the {} oldest payloads from the spool to stay within its size limit",
                dropped.len()
            );
        }
        let fresh_name = fresh.as_ref().map(|e| e.name.clone());
        let mut queue: Vec<Entry> = Vec::new();
        if let Some(entry) = fresh {
            if entry.path.exists() {
                queue.push(entry);
            }
        }
        if !last {
            queue.extend(
                self.spool
                    .entries()
                    .into_iter()
                    .filter(|e| Some(&e.name) != fresh_name.as_ref()),
            );
        }
        let timeout = self.send_timeout(last);
        let interval_ms = self.interval.as_millis() as i64;
        for entry in queue.into_iter().take(MAX_SENDS_PER_ROUND) {
            let is_fresh = Some(&entry.name) == fresh_name.as_ref();
            if !is_fresh && !self.spool.is_due(&entry) {
                continue;
            }
            let bytes = match self.spool.read(&entry) {
                Ok(bytes) => bytes,
                Err(e) => {
                    debug!("spooled payload {} vanished: {e}", entry.name);
                    continue;
                }
            };
            match self.push.send(bytes, gem_version, timeout).await {
                Outcome::Accepted => {
                    crate::crash_point::reached("send:after_accept");
                    health::add(&self.health.payloads_sent, 1);
                    debug!("payload {} accepted", entry.name);
                    self.spool.remove(&entry);
                    self.spool.reset_backoff();
                }
                Outcome::Rejected(why) => {
                    health::add(&self.health.payloads_dropped, 1);
                    error!(
                        "posting to {} failed: {why}; dropped payload {}",
                        self.push.loggable_url(gem_version),
                        entry.name
                    );
                    self.spool.remove(&entry);
                }
                Outcome::RetryLater(why) => {
                    health::add(&self.health.payloads_failed, 1);
                    if is_fresh {
                        health::add(&self.health.payloads_spooled, 1);
                    }
                    warning!(
                        "posting to {} failed: {why}; payload {} kept in the payloads directory for retry",
                        self.push.loggable_url(gem_version),
                        entry.name
                    );
                    self.spool.record_failure(&entry, interval_ms);
                    // The endpoint is down: the rest would fail the same way.
                    break;
                }
            }
        }
    }
}
