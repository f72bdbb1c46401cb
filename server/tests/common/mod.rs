//! Shared test helpers: synthetic payloads built from the proto types, gzip, an in-process
//! server on a random port, polling.
#![allow(dead_code)]

pub mod png;

use appsignal_proto::histogram;
use appsignal_proto::v1::{
    ActionMinute, ErrorInfo, Event, EventMinute, Histogram, MetricKind, MetricMinute, MetricSource,
    Payload, Transaction,
};
use appsignal_server::clock::{SharedClock, SystemClock};
use appsignal_server::server::{self, Role, RunningServer, ServerConfig};
use flate2::write::GzEncoder;
use prost::Message;
use std::io::Write;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

static SEQ: AtomicU64 = AtomicU64::new(0);

pub fn unique(prefix: &str) -> String {
    format!(
        "{prefix}_{}_{}_{}",
        std::process::id(),
        SEQ.fetch_add(1, Ordering::SeqCst),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos()
    )
}

pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

pub fn minute(unix: i64) -> i64 {
    unix - unix.rem_euclid(60)
}

/// One ActionMinute with `durations` (ms), of which the first `errors` failed.
pub fn action_minute(
    ns: &str,
    action: &str,
    minute_unix: i64,
    durations: &[f64],
    errors: u64,
) -> ActionMinute {
    let mut h = Histogram::default();
    for d in durations {
        histogram::record(&mut h, *d);
    }
    ActionMinute {
        namespace: ns.into(),
        action: action.into(),
        minute_unix,
        count: durations.len() as u64,
        error_count: errors,
        total_duration_ms: durations.iter().sum(),
        min_duration_ms: durations.iter().cloned().fold(f64::INFINITY, f64::min),
        max_duration_ms: durations.iter().cloned().fold(0.0, f64::max),
        duration_ms: Some(h),
        events: vec![EventMinute {
            name: "sql.active_record".into(),
            count: durations.len() as u64,
            total_duration_ms: durations.iter().sum::<f64>() / 2.0,
            total_exclusive_ms: durations.iter().sum::<f64>() / 2.0,
        }],
        total_queue_ms: 0.0,
    }
}

pub fn transaction(
    id: &str,
    ns: &str,
    action: &str,
    start_unix: i64,
    duration_ms: f64,
    error: Option<&str>,
) -> Transaction {
    let total_ns = (duration_ms * 1e6) as u64;
    Transaction {
        id: id.into(),
        namespace: ns.into(),
        action: action.into(),
        start_time_unix_ns: start_unix * 1_000_000_000,
        duration_ns: total_ns,
        events: vec![
            Event {
                name: "sql.active_record".into(),
                title: "User Load".into(),
                body: "SELECT * FROM users WHERE id = ?".into(),
                start_offset_ns: total_ns / 10,
                duration_ns: total_ns / 4,
                depth: 1,
                ..Default::default()
            },
            Event {
                name: "process_action.action_controller".into(),
                start_offset_ns: 0,
                duration_ns: total_ns,
                depth: 0,
                ..Default::default()
            },
        ],
        error: error.map(|name| ErrorInfo {
            name: name.into(),
            message: "something <b>broke</b>".into(),
            backtrace: vec!["app/controllers/users_controller.rb:12:in `show'".into()],
            causes: vec![],
        }),
        tags: [("user_id".to_string(), "42".to_string())].into(),
        params_json: r#"{"id":"42"}"#.into(),
        metadata: [
            ("method".to_string(), "GET".to_string()),
            ("path".to_string(), "/users/42".to_string()),
        ]
        .into(),
        ..Default::default()
    }
}

pub fn gauge(
    name: &str,
    source: MetricSource,
    tags: &[(&str, &str)],
    minute_unix: i64,
    value: f64,
) -> MetricMinute {
    MetricMinute {
        name: name.into(),
        kind: MetricKind::Gauge as i32,
        tags: tags
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        minute_unix,
        value,
        count: 1,
        min: value,
        max: value,
        histogram: None,
        source: source as i32,
    }
}

pub fn counter(name: &str, minute_unix: i64, value: f64) -> MetricMinute {
    MetricMinute {
        name: name.into(),
        kind: MetricKind::Counter as i32,
        minute_unix,
        value,
        count: 1,
        min: value,
        max: value,
        ..Default::default()
    }
}

pub fn payload(id: &str) -> Payload {
    Payload {
        payload_id: id.into(),
        hostname: "web-1".into(),
        agent_version: "test".into(),
        language: "ruby".into(),
        ..Default::default()
    }
}

pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut e = GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

pub fn encode(p: &Payload) -> Vec<u8> {
    gzip(&p.encode_to_vec())
}

pub fn config(data: &Path, clock: SharedClock) -> ServerConfig {
    let args = appsignal_server::cli::ServeArgs {
        listen: "127.0.0.1:0".parse().unwrap(),
        store: appsignal_server::cli::StoreArgs {
            data: data.to_path_buf(),
            store: "sqlite".into(),
        },
        queue: "sqlite".into(),
        nats_stream: "APPSIGNAL".into(),
        role: appsignal_server::cli::RoleArg::All,
        workers: 1,
        anomaly_wait: 180,
        slow_threshold_ms: 1000.0,
        notify_interval: 3600,
        retention_days: 30,
        max_body_bytes: 10 * 1024 * 1024,
        max_payload_bytes: 50 * 1024 * 1024,
        read_timeout: 30,
        header_timeout: 10,
        job_interval_ms: 50,
        smtp: String::new(),
        smtp_from: "test@localhost".into(),
    };
    appsignal_server::cli::server_config(&args, Role::All, clock)
}

pub struct TestServer {
    pub running: RunningServer,
    pub addr: SocketAddr,
    pub key: String,
    pub app_id: i64,
    pub dir: tempfile::TempDir,
}

impl TestServer {
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    pub async fn start_with(tweak: impl FnOnce(&mut ServerConfig)) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = config(dir.path(), Arc::new(SystemClock));
        tweak(&mut cfg);
        let running = server::start(cfg).await.unwrap();
        let app = running.store.create_app("shop", now()).unwrap();
        let addr = running.addr.unwrap();
        TestServer {
            running,
            addr,
            key: app.api_key,
            app_id: app.id,
            dir,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub fn transmit_url(&self) -> String {
        self.url(&format!("/1/transmit?api_key={}&name=shop&environment=production&hostname=web-1&gem_version=4.0.0", self.key))
    }

    pub async fn send(&self, p: &Payload) -> reqwest::StatusCode {
        post_payload(&self.transmit_url(), encode(p)).await
    }
}

pub async fn post_payload(url: &str, gz: Vec<u8>) -> reqwest::StatusCode {
    reqwest::Client::new()
        .post(url)
        .header("content-type", "application/x-protobuf")
        .header("content-encoding", "gzip")
        .body(gz)
        .send()
        .await
        .unwrap()
        .status()
}

pub async fn wait_until<F: FnMut() -> bool>(what: &str, timeout: Duration, mut check: F) {
    let start = Instant::now();
    while !check() {
        assert!(start.elapsed() < timeout, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A single i64 from the store.
pub fn scalar(
    store: &appsignal_server::store::Store,
    sql: &str,
    params: &[appsignal_server::store::Value],
) -> i64 {
    store
        .db
        .read(sql, params)
        .unwrap()
        .first()
        .map(|r| r.i64(0).unwrap())
        .unwrap_or(0)
}
