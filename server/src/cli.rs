//! The command line (a fixed contract, see DESIGN.md): `serve` (default), `process`,
//! `app create`, `trigger create`, `notifier add`.

use crate::clock::{SharedClock, SystemClock};
use crate::notify::SmtpConfig;
use crate::processor::rollup::RetentionConfig;
use crate::processor::ProcessorConfig;
use crate::push_api::Limits;
use crate::server::{self, Role, ServerConfig};
use crate::store::admin::NewTrigger;
use anyhow::{anyhow, Result};
use clap::{Args, Parser, Subcommand, ValueEnum};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

#[derive(Parser, Debug)]
#[command(
    name = "appsignal-server",
    version,
    about = "Self-hosted AppSignal Push API, processor and dashboard"
)]
#[command(args_conflicts_with_subcommands = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    /// `serve` options, for running without a subcommand.
    #[command(flatten)]
    pub serve: ServeArgs,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Serve the Push API and dashboard (and process, unless --role says otherwise).
    Serve(ServeArgs),
    /// Only process queued payloads (same as `serve --role processor`).
    Process(ServeArgs),
    /// Manage apps.
    #[command(subcommand)]
    App(AppCommand),
    /// Manage anomaly detection triggers.
    #[command(subcommand)]
    Trigger(TriggerCommand),
    /// Manage notifiers.
    #[command(subcommand)]
    Notifier(NotifierCommand),
}

#[derive(Args, Debug, Clone)]
pub struct StoreArgs {
    /// Data directory (SQLite store and queue).
    #[arg(long, default_value = "data")]
    pub data: PathBuf,
    /// `sqlite` (in --data) or `postgres://USER@HOST:PORT/DB[?schema=NAME]`.
    #[arg(long, default_value = "sqlite")]
    pub store: String,
}

#[derive(ValueEnum, Debug, Clone, Copy)]
pub enum RoleArg {
    All,
    Api,
    Processor,
}

#[derive(Args, Debug, Clone)]
pub struct ServeArgs {
    #[arg(long, default_value = "127.0.0.1:8099")]
    pub listen: SocketAddr,
    #[command(flatten)]
    pub store: StoreArgs,
    /// `sqlite` (in --data) or `nats://HOST:PORT` (JetStream).
    #[arg(long, default_value = "sqlite")]
    pub queue: String,
    /// JetStream stream name (one per deployment).
    #[arg(long, default_value = "APPSIGNAL")]
    pub nats_stream: String,
    #[arg(long, value_enum, default_value = "all")]
    pub role: RoleArg,
    /// Concurrent processor workers in this process.
    #[arg(long, default_value_t = 1)]
    pub workers: usize,
    /// Seconds to wait after a minute ends before anomaly detection evaluates it.
    #[arg(long, default_value_t = crate::anomaly::DEFAULT_WAIT_SECS)]
    pub anomaly_wait: i64,
    /// A sample at least this slow (ms) opens a performance incident.
    #[arg(long, default_value_t = 1000.0)]
    pub slow_threshold_ms: f64,
    /// At most one notification per incident per this many seconds.
    #[arg(long, default_value_t = 3600)]
    pub notify_interval: i64,
    /// Days to keep hourly buckets.
    #[arg(long, default_value_t = 30)]
    pub retention_days: i64,
    /// Largest accepted request body (bytes).
    #[arg(long, default_value_t = 10 * 1024 * 1024)]
    pub max_body_bytes: usize,
    /// Largest accepted decompressed payload (bytes).
    #[arg(long, default_value_t = 50 * 1024 * 1024)]
    pub max_payload_bytes: usize,
    /// Seconds allowed to upload one request body.
    #[arg(long, default_value_t = 30)]
    pub read_timeout: u64,
    /// Seconds a client may take to send its request headers.
    #[arg(long, default_value_t = 10)]
    pub header_timeout: u64,
    /// Periodic jobs (roll-up, anomaly detection, notifications) interval in ms.
    #[arg(long, default_value_t = 1000)]
    pub job_interval_ms: u64,
    /// SMTP relay `HOST:PORT` for email notifiers.
    #[arg(long, default_value = "")]
    pub smtp: String,
    #[arg(long, default_value = "appsignal-server@localhost")]
    pub smtp_from: String,
}

#[derive(Subcommand, Debug)]
pub enum AppCommand {
    /// Create an app; prints its push API key as the last line.
    Create {
        name: String,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// List apps and their keys.
    List {
        #[command(flatten)]
        store: StoreArgs,
    },
}

#[derive(Subcommand, Debug)]
pub enum TriggerCommand {
    /// Create a trigger, e.g. `--metric error_rate --namespace web --above 5`.
    Create {
        #[arg(long)]
        app: String,
        /// error_rate (%), mean_duration (ms), throughput (per minute), gauge, host.
        #[arg(long)]
        metric: String,
        #[arg(long, default_value = "")]
        namespace: String,
        #[arg(long, default_value = "")]
        action: String,
        /// Metric name for gauge and host triggers (e.g. cpu).
        #[arg(long, default_value = "")]
        name: String,
        #[arg(long, default_value = "")]
        hostname: String,
        /// Only the series with this tag, KEY=VALUE (e.g. `--name memory --tag state=used`).
        /// Without it a host trigger adds up the host's series (cpu: user+system+iowait+steal).
        #[arg(long, default_value = "")]
        tag: String,
        #[arg(long)]
        above: f64,
        /// Consecutive OK minutes before an alert closes.
        #[arg(long, default_value_t = 3)]
        close_after: i64,
        #[command(flatten)]
        store: StoreArgs,
    },
}

#[derive(Subcommand, Debug)]
pub enum NotifierCommand {
    /// Add a webhook or email notifier.
    Add {
        #[arg(long)]
        app: String,
        #[arg(long)]
        webhook: Option<String>,
        #[arg(long)]
        email: Option<String>,
        #[command(flatten)]
        store: StoreArgs,
    },
}

pub fn server_config(args: &ServeArgs, role: Role, clock: SharedClock) -> ServerConfig {
    ServerConfig {
        listen: args.listen,
        data_dir: args.store.data.clone(),
        store: args.store.store.clone(),
        queue: args.queue.clone(),
        nats_stream: args.nats_stream.clone(),
        role,
        workers: args.workers,
        anomaly_wait_secs: args.anomaly_wait,
        job_interval: Duration::from_millis(args.job_interval_ms.max(10)),
        processor: ProcessorConfig {
            slow_threshold_ms: args.slow_threshold_ms,
            notify_interval_secs: args.notify_interval,
            ..ProcessorConfig::default()
        },
        retention: RetentionConfig {
            hourly_secs: args.retention_days * 24 * 3600,
            ..RetentionConfig::default()
        },
        limits: Limits {
            max_body_bytes: args.max_body_bytes,
            max_decompressed_bytes: args.max_payload_bytes,
            read_timeout: Duration::from_secs(args.read_timeout),
            header_timeout: Duration::from_secs(args.header_timeout),
        },
        smtp: SmtpConfig {
            server: args.smtp.clone(),
            from: args.smtp_from.clone(),
        },
        clock,
    }
}

async fn serve(args: ServeArgs, role: Role) -> Result<()> {
    let config = server_config(&args, role, Arc::new(SystemClock));
    let running = server::start(config).await?;
    match running.addr {
        Some(addr) => println!(
            "appsignal-server: dashboard at http://{addr}/ (Push API: http://{addr}/1/transmit)"
        ),
        None => println!("appsignal-server: processor running"),
    }
    shutdown_signal().await;
    running.stop().await;
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        if let Ok(mut term) =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            tokio::select! {
                _ = ctrl_c => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = ctrl_c.await;
}

fn now() -> i64 {
    crate::clock::Clock::now_unix(&SystemClock)
}

pub async fn run(cli: Cli) -> Result<()> {
    match cli.command {
        None => serve(cli.serve, Role::All).await,
        Some(Command::Serve(args)) => {
            let role = match args.role {
                RoleArg::All => Role::All,
                RoleArg::Api => Role::Api,
                RoleArg::Processor => Role::Processor,
            };
            serve(args, role).await
        }
        Some(Command::Process(args)) => serve(args, Role::Processor).await,
        Some(Command::App(AppCommand::Create { name, store })) => {
            let store = server::open_store(&store.store, &store.data).await?;
            let app = tokio::task::spawn_blocking(move || store.create_app(&name, now())).await??;
            println!("Created app {} (id {}). Push API key:", app.name, app.id);
            println!("{}", app.api_key);
            Ok(())
        }
        Some(Command::App(AppCommand::List { store })) => {
            let store = server::open_store(&store.store, &store.data).await?;
            for app in tokio::task::spawn_blocking(move || store.apps()).await?? {
                println!("{}\t{}\t{}", app.id, app.name, app.api_key);
            }
            Ok(())
        }
        Some(Command::Trigger(TriggerCommand::Create {
            app,
            metric,
            namespace,
            action,
            name,
            hostname,
            tag,
            above,
            close_after,
            store,
        })) => {
            let store = server::open_store(&store.store, &store.data).await?;
            let trigger = NewTrigger {
                metric,
                namespace,
                action,
                name,
                hostname,
                tag,
                above,
                close_after,
            };
            let id = tokio::task::spawn_blocking(move || {
                let app = store.app_by_name(&app)?;
                store.create_trigger(app.id, &trigger, now())
            })
            .await??;
            println!("Created trigger {id}");
            Ok(())
        }
        Some(Command::Notifier(NotifierCommand::Add {
            app,
            webhook,
            email,
            store,
        })) => {
            let (kind, target) = match (webhook, email) {
                (Some(url), None) => ("webhook", url),
                (None, Some(address)) => ("email", address),
                _ => {
                    return Err(anyhow!(
                        "give exactly one of --webhook URL or --email ADDRESS"
                    ))
                }
            };
            let store = server::open_store(&store.store, &store.data).await?;
            let id = tokio::task::spawn_blocking(move || {
                let app = store.app_by_name(&app)?;
                store.add_notifier(app.id, kind, &target)
            })
            .await??;
            println!("Added {kind} notifier {id}");
            Ok(())
        }
    }
}
