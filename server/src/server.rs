//! Wires the pieces together for one process: the HTTP listener (Push API + dashboard), the
//! processor workers and the periodic jobs, depending on the role.

use crate::anomaly;
use crate::clock::{floor_minute, SharedClock};
use crate::dashboard::{self, Dashboard};
use crate::http_listener;
use crate::notify::{self, SmtpConfig};
use crate::processor::rollup::{self, RetentionConfig};
use crate::processor::worker::{self, ProcessorStats};
use crate::processor::ProcessorConfig;
use crate::push_api::{self, Limits, PushApi};
use crate::queue::Queue;
use crate::store::Store;
use anyhow::{Context, Result};
use axum::routing::post;
use axum::Router;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Push API, dashboard, processor and periodic jobs in one process (the default).
    All,
    /// Push API and dashboard only; processing happens in `process` processes.
    Api,
    /// Processor and periodic jobs only, no HTTP.
    Processor,
}

#[derive(Clone)]
pub struct ServerConfig {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    pub store: String,
    pub queue: String,
    pub nats_stream: String,
    pub role: Role,
    pub workers: usize,
    pub anomaly_wait_secs: i64,
    pub job_interval: Duration,
    pub processor: ProcessorConfig,
    pub retention: RetentionConfig,
    pub limits: Limits,
    pub smtp: SmtpConfig,
    pub clock: SharedClock,
}

pub struct RunningServer {
    /// Where HTTP listens (None for the processor role).
    pub addr: Option<SocketAddr>,
    pub store: Store,
    pub push_api: Option<Arc<PushApi>>,
    pub stats: Arc<ProcessorStats>,
    pub jobs: Arc<JobStats>,
    shutdown: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl RunningServer {
    pub async fn stop(self) {
        let _ = self.shutdown.send(true);
        for task in self.tasks {
            let _ = tokio::time::timeout(Duration::from_secs(5), task).await;
        }
    }
}

/// Progress of the periodic jobs, so tests that move the clock know when the jobs have seen
/// the time they set (a pass that started after the move has finished).
#[derive(Default)]
pub struct JobStats {
    /// Finished passes over all jobs.
    pub passes: AtomicU64,
    /// Roll-ups run (one per minute of the clock).
    pub rollups: AtomicU64,
}

pub async fn open_store(store: &str, data_dir: &std::path::Path) -> Result<Store> {
    let (spec, dir) = (store.to_string(), data_dir.to_path_buf());
    tokio::task::spawn_blocking(move || Store::open(&spec, &dir)).await?
}

pub async fn start(config: ServerConfig) -> Result<RunningServer> {
    let store = open_store(&config.store, &config.data_dir).await?;
    let queue = Queue::open(
        &config.queue,
        &config.data_dir,
        &config.nats_stream,
        config.clock.clone(),
    )
    .await?;
    let (shutdown, shutdown_rx) = watch::channel(false);
    let stats = Arc::new(ProcessorStats::default());
    let jobs = Arc::new(JobStats::default());
    let mut tasks = Vec::new();
    let mut addr = None;
    let mut push = None;

    if config.role != Role::Processor {
        let api = Arc::new(PushApi::new(
            store.clone(),
            queue.clone(),
            config.limits.clone(),
        ));
        push = Some(api.clone());
        let push_routes = Router::new()
            .route("/1/transmit", post(push_api::transmit))
            .route("/1/auth", post(push_api::auth).get(push_api::auth))
            .with_state(api);
        let dash = Arc::new(Dashboard {
            store: store.clone(),
            clock: config.clock.clone(),
        });
        let app = push_routes.merge(dashboard::router(dash));
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .with_context(|| format!("cannot listen on --listen {}", config.listen))?;
        addr = Some(listener.local_addr()?);
        tasks.push(tokio::spawn(http_listener::serve(
            listener,
            app,
            config.limits.header_timeout,
            shutdown_rx.clone(),
        )));
    }

    if config.role != Role::Api {
        for _ in 0..config.workers.max(1) {
            tasks.push(tokio::spawn(worker::run(
                queue.clone(),
                store.clone(),
                config.processor.clone(),
                config.clock.clone(),
                stats.clone(),
                shutdown_rx.clone(),
            )));
        }
        tasks.push(tokio::spawn(run_jobs(
            store.clone(),
            config.clone(),
            jobs.clone(),
            shutdown_rx.clone(),
        )));
    }

    Ok(RunningServer {
        addr,
        store,
        push_api: push,
        stats,
        jobs,
        shutdown,
        tasks,
    })
}

/// Roll-up, anomaly detection and notification sending, on the injected clock.
async fn run_jobs(
    store: Store,
    config: ServerConfig,
    jobs: Arc<JobStats>,
    mut shutdown: watch::Receiver<bool>,
) {
    let http = reqwest::Client::new();
    let mut rolled_minute = None;
    loop {
        let now = config.clock.now_unix();
        // Once per minute of the clock: the roll-up cutoff moves by whole minutes.
        if rolled_minute != Some(floor_minute(now)) {
            rolled_minute = Some(floor_minute(now));
            let (s, r) = (store.clone(), config.retention.clone());
            match tokio::task::spawn_blocking(move || rollup::compact(&s, &r, now)).await {
                Ok(Err(e)) => eprintln!("appsignal-server: roll-up failed: {e:#}"),
                Err(e) => eprintln!("appsignal-server: roll-up task died: {e}"),
                Ok(Ok(_)) => {
                    jobs.rollups.fetch_add(1, Ordering::SeqCst);
                }
            }
        }
        let (s, wait) = (store.clone(), config.anomaly_wait_secs);
        match tokio::task::spawn_blocking(move || anomaly::evaluate(&s, now, wait)).await {
            Ok(Err(e)) => eprintln!("appsignal-server: anomaly detection failed: {e:#}"),
            Err(e) => eprintln!("appsignal-server: anomaly task died: {e}"),
            Ok(Ok(())) => {}
        }
        if let Err(e) = notify::drain(&store, &http, &config.smtp, now).await {
            eprintln!("appsignal-server: sending notifications failed: {e:#}");
        }
        jobs.passes.fetch_add(1, Ordering::SeqCst);
        tokio::select! {
            _ = tokio::time::sleep(config.job_interval) => {}
            _ = shutdown.changed() => return,
        }
    }
}
