//! OTLP/HTTP export: every interval the pending spans become one
//! `ExportTraceServiceRequest` for `{endpoint}/v1/traces` and the interval's metric
//! minutes one `ExportMetricsServiceRequest` for `{endpoint}/v1/metrics`, binary
//! protobuf, gzip'd. Like Push API payloads they are written to a spool first,
//! `{working_dir}/otlp/`, and removed once accepted; retryable failures (network,
//! 429, 502, 503, 504, as the OTLP specification lists them) are retried at later
//! intervals with the same backoff, bounds and 30-minute window; other answers drop
//! the request with a log line.

use std::io::Write;
use std::path::Path;
use std::time::Duration;

use appsignal_proto::v1::MetricMinute;
use flate2::write::GzEncoder;
use flate2::Compression;
use prost::Message;

use super::proto::{ExportResponse, InstrumentationScope, KeyValue, Resource};
use super::{metrics, spans};
use crate::clock::SharedClock;
use crate::log::{debug, error, info, warning};
use crate::spool::{Entry, Limits, Spool};
use crate::transmit::push::describe;

pub const SPOOL_DIR: &str = "otlp";
/// Requests sent per round, so a long backlog cannot stall a tick.
const MAX_SENDS_PER_ROUND: usize = 20;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Signal {
    Traces,
    Metrics,
}

impl Signal {
    fn path(self) -> &'static str {
        match self {
            Signal::Traces => "/v1/traces",
            Signal::Metrics => "/v1/metrics",
        }
    }

    fn prefix(self) -> &'static str {
        match self {
            Signal::Traces => "traces",
            Signal::Metrics => "metrics",
        }
    }

    /// From a spool file name `{created_ms}-{signal}-...`.
    fn of_entry(name: &str) -> Option<Signal> {
        let id = name.split_once('-')?.1;
        if id.starts_with("traces-") {
            Some(Signal::Traces)
        } else if id.starts_with("metrics-") {
            Some(Signal::Metrics)
        } else {
            None
        }
    }
}

/// What became of one request.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Accepted; `Some` when the receiver rejected part of it (count, its reason).
    Accepted(Option<(i64, String)>),
    Rejected(String),
    RetryLater(String),
}

pub fn classify(status: u16) -> Option<Outcome> {
    match status {
        200..=299 => None,
        400 => Some(Outcome::Rejected(
            "400 Bad Request: the receiver could not read the request (not retried)".into(),
        )),
        401 | 403 => Some(Outcome::Rejected(format!(
            "{status}: the receiver refused the credentials; check APPSIGNAL_OTLP_HEADERS (not retried)"
        ))),
        404 => Some(Outcome::Rejected(
            "404 Not Found: check APPSIGNAL_OTLP_ENDPOINT, the base URL without /v1/traces (not retried)"
                .into(),
        )),
        429 | 502 | 503 | 504 => Some(Outcome::RetryLater(format!("HTTP {status}"))),
        other => Some(Outcome::Rejected(format!(
            "unexpected status {other} (not retried)"
        ))),
    }
}

/// Where the resource attributes come from.
pub struct Identity<'a> {
    pub app_name: &'a str,
    pub environment: &'a str,
    pub hostname: &'a str,
    pub revision: Option<&'a str>,
}

pub fn resource(identity: &Identity) -> Resource {
    let service = if identity.app_name.is_empty() {
        "unknown_service"
    } else {
        identity.app_name
    };
    let mut attributes = vec![
        KeyValue::string("service.name", service),
        KeyValue::string("host.name", identity.hostname),
        KeyValue::string("telemetry.sdk.name", "appsignal"),
        KeyValue::string("telemetry.sdk.version", env!("CARGO_PKG_VERSION")),
    ];
    if !identity.environment.is_empty() {
        attributes.push(KeyValue::string(
            "deployment.environment.name",
            identity.environment,
        ));
    }
    if let Some(revision) = identity.revision {
        attributes.push(KeyValue::string("service.version", revision));
    }
    Resource { attributes }
}

pub struct Exporter {
    http: reqwest::Client,
    endpoint: String,
    headers: Vec<(String, String)>,
    resource: Resource,
    scope: InstrumentationScope,
    spool: Spool,
    interval_ms: i64,
    built: u64,
}

impl Exporter {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        endpoint: &str,
        headers: Vec<(String, String)>,
        resource: Resource,
        working_dir: &Path,
        dir_mode: u32,
        file_mode: u32,
        clock: SharedClock,
        interval: Duration,
    ) -> Result<Exporter, String> {
        let dir = working_dir.join(SPOOL_DIR);
        ensure_real_dir(&dir, dir_mode)?;
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .user_agent(concat!("appsignal-agent/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("cannot set up the HTTP client: {e}"))?;
        Ok(Exporter {
            http,
            endpoint: endpoint.to_string(),
            headers,
            resource,
            scope: InstrumentationScope {
                name: "appsignal-agent".into(),
                version: env!("CARGO_PKG_VERSION").into(),
            },
            spool: Spool::new(&dir, file_mode, Limits::default(), clock),
            interval_ms: interval.as_millis() as i64,
            built: 0,
        })
    }

    /// Spools this interval's spans and metrics, then sends what the spool holds.
    /// `last`: shutting down, send only the fresh requests (the rest stays for the
    /// next agent).
    pub async fn export(
        &mut self,
        pending: spans::PendingSpans,
        minutes: &[MetricMinute],
        now_ms: i64,
        timeout: Duration,
        last: bool,
    ) {
        if pending.dropped_transactions > 0 {
            warning!(
                "otlp: {} transactions were not exported as traces: more than {} spans or {} bytes of them in one interval",
                pending.dropped_transactions,
                spans::MAX_PENDING_SPANS,
                spans::MAX_PENDING_BYTES
            );
        }
        let mut fresh = Vec::new();
        if pending.spans > 0 {
            let body = gzip(|out| {
                spans::write_traces_request(&self.resource, &self.scope, &pending.encoded, out)
            });
            debug!(
                "otlp: {} spans of {} transactions",
                pending.spans, pending.transactions
            );
            fresh.extend(self.store(Signal::Traces, now_ms, body));
        }
        if !minutes.is_empty() {
            let request = metrics::request(&self.resource, &self.scope, minutes, now_ms);
            debug!(
                "otlp: {} metric data points",
                metrics::data_points(&request)
            );
            let encoded = request.encode_to_vec();
            let body = gzip(|out| out.write_all(&encoded));
            fresh.extend(self.store(Signal::Metrics, now_ms, body));
        }
        self.send_spooled(fresh, timeout, last).await;
    }

    fn store(
        &mut self,
        signal: Signal,
        now_ms: i64,
        body: std::io::Result<Vec<u8>>,
    ) -> Option<Entry> {
        let bytes = match body {
            Ok(bytes) => bytes,
            Err(e) => {
                error!(
                    "otlp: cannot compress the {} request: {e}; it is lost",
                    signal.prefix()
                );
                return None;
            }
        };
        self.built += 1;
        let id = format!("{}-{}-{}", signal.prefix(), std::process::id(), self.built);
        match self.spool.store(now_ms, &id, &bytes) {
            Ok(entry) => Some(entry),
            Err(e) => {
                error!(
                    "otlp: cannot write the {} request to {}: {e}; check the permissions of APPSIGNAL_WORKING_DIRECTORY_PATH; it is lost",
                    signal.prefix(),
                    SPOOL_DIR
                );
                None
            }
        }
    }

    async fn send_spooled(&mut self, fresh: Vec<Entry>, timeout: Duration, last: bool) {
        for entry in self.spool.expire() {
            warning!(
                "otlp: dropped {} from the spool: not accepted within 30 minutes",
                entry.name
            );
        }
        let dropped = self.spool.enforce_limits();
        if !dropped.is_empty() {
            warning!(
                "otlp: dropped the {} oldest requests from the spool to stay within its size limit",
                dropped.len()
            );
        }
        let fresh_names: Vec<String> = fresh.iter().map(|e| e.name.clone()).collect();
        let mut queue: Vec<Entry> = fresh.into_iter().filter(|e| e.path.exists()).collect();
        if !last {
            queue.extend(
                self.spool
                    .entries()
                    .into_iter()
                    .filter(|e| !fresh_names.contains(&e.name)),
            );
        }
        for entry in queue.into_iter().take(MAX_SENDS_PER_ROUND) {
            let is_fresh = fresh_names.contains(&entry.name);
            if !is_fresh && !self.spool.is_due(&entry) {
                continue;
            }
            let Some(signal) = Signal::of_entry(&entry.name) else {
                self.spool.remove(&entry);
                continue;
            };
            let bytes = match self.spool.read(&entry) {
                Ok(bytes) => bytes,
                Err(e) => {
                    debug!("otlp: spooled request {} vanished: {e}", entry.name);
                    continue;
                }
            };
            let url = format!("{}{}", self.endpoint, signal.path());
            match self.post(&url, bytes, timeout).await {
                Outcome::Accepted(partial) => {
                    if let Some((rejected, why)) = partial {
                        warning!(
                            "otlp: {url} accepted {} but rejected {rejected} items: {why}",
                            entry.name
                        );
                    } else {
                        debug!("otlp: {} accepted by {url}", entry.name);
                    }
                    self.spool.remove(&entry);
                    self.spool.reset_backoff();
                }
                Outcome::Rejected(why) => {
                    error!(
                        "otlp: posting to {url} failed: {why}; dropped {}",
                        entry.name
                    );
                    self.spool.remove(&entry);
                }
                Outcome::RetryLater(why) => {
                    warning!(
                        "otlp: posting to {url} failed: {why}; {} kept in {SPOOL_DIR}/ for retry",
                        entry.name
                    );
                    self.spool.record_failure(&entry, self.interval_ms);
                    // The receiver is down: the rest would fail the same way.
                    break;
                }
            }
        }
    }

    async fn post(&self, url: &str, gzipped: Vec<u8>, timeout: Duration) -> Outcome {
        let mut request = self
            .http
            .post(url)
            .header("Content-Type", "application/x-protobuf")
            .header("Content-Encoding", "gzip")
            .timeout(timeout)
            .body(gzipped);
        for (key, value) in &self.headers {
            request = request.header(key.as_str(), value.as_str());
        }
        let response = match request.send().await {
            Ok(response) => response,
            Err(e) => return Outcome::RetryLater(describe(e)),
        };
        if let Some(outcome) = classify(response.status().as_u16()) {
            return outcome;
        }
        let body = response.bytes().await.unwrap_or_default();
        let partial = ExportResponse::decode(&body[..])
            .ok()
            .and_then(|r| r.partial_success)
            .filter(|p| p.rejected > 0 || !p.error_message.is_empty())
            .map(|p| (p.rejected, p.error_message));
        Outcome::Accepted(partial)
    }
}

fn gzip(
    write: impl FnOnce(&mut GzEncoder<Vec<u8>>) -> std::io::Result<()>,
) -> std::io::Result<Vec<u8>> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::fast());
    write(&mut encoder)?;
    encoder.finish()
}

/// The spool directory must be a real directory: a symlink could send data anywhere.
fn ensure_real_dir(path: &Path, dir_mode: u32) -> Result<(), String> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.is_dir() => Ok(()),
        Ok(_) => Err(format!(
            "{} exists and is not a directory (or is a symlink); remove it",
            path.display()
        )),
        Err(_) => {
            std::fs::DirBuilder::new()
                .mode(dir_mode)
                .create(path)
                .map_err(|e| format!("cannot create {} ({e})", path.display()))?;
            let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(dir_mode));
            info!(
                "otlp: created {} for requests waiting to be sent",
                path.display()
            );
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_follow_the_otlp_retry_rules() {
        assert_eq!(classify(200), None);
        for retryable in [429, 502, 503, 504] {
            assert!(
                matches!(classify(retryable), Some(Outcome::RetryLater(_))),
                "{retryable}"
            );
        }
        for dropped in [400, 401, 404, 500, 413] {
            assert!(
                matches!(classify(dropped), Some(Outcome::Rejected(_))),
                "{dropped}"
            );
        }
        assert!(
            matches!(classify(404), Some(Outcome::Rejected(m)) if m.contains("APPSIGNAL_OTLP_ENDPOINT"))
        );
    }

    #[test]
    fn spool_names_say_where_a_request_goes() {
        assert_eq!(
            Signal::of_entry("0001700000000-traces-12-3.pb.gz"),
            Some(Signal::Traces)
        );
        assert_eq!(
            Signal::of_entry("0001700000000-metrics-12-4.pb.gz"),
            Some(Signal::Metrics)
        );
        assert_eq!(Signal::of_entry("0001700000000-other.pb.gz"), None);
    }

    #[test]
    fn the_resource_names_the_service_without_secrets() {
        let resource = resource(&Identity {
            app_name: "Shop",
            environment: "production",
            hostname: "web-1",
            revision: Some("abc"),
        });
        let keys: Vec<_> = resource.attributes.iter().map(|a| a.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "service.name",
                "host.name",
                "telemetry.sdk.name",
                "telemetry.sdk.version",
                "deployment.environment.name",
                "service.version"
            ]
        );
    }
}
