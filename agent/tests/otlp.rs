//! OTLP/HTTP export from the real agent binary to a local receiver that decodes
//! the protobuf with the `opentelemetry-proto` crate (not the agent's own message
//! definitions, so a wrong field number fails here).

mod common;

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use appsignal_proto::v1::{ClientBatch, Event, MetricKind, MetricSample, Transaction};
use appsignal_testkit::PushReceiver;
use common::*;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, KeyValue};
use opentelemetry_proto::tonic::metrics::v1::metric::Data;
use opentelemetry_proto::tonic::trace::v1::{span::SpanKind, status::StatusCode, Span};
use prost::Message;

#[derive(Clone, Debug)]
struct Received {
    path: String,
    headers: HashMap<String, String>,
    /// Decompressed protobuf.
    body: Vec<u8>,
}

/// HTTP/1.1 with keep-alive, `Content-Length` bodies, one answer status for all.
#[derive(Clone)]
struct OtlpReceiver {
    port: u16,
    status: Arc<AtomicU16>,
    received: Arc<Mutex<Vec<Received>>>,
}

impl OtlpReceiver {
    fn start() -> OtlpReceiver {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let receiver = OtlpReceiver {
            port: listener.local_addr().unwrap().port(),
            status: Arc::new(AtomicU16::new(200)),
            received: Arc::default(),
        };
        let serving = receiver.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let connection = serving.clone();
                std::thread::spawn(move || connection.serve(stream));
            }
        });
        receiver
    }

    fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn set_status(&self, status: u16) {
        self.status.store(status, Ordering::SeqCst);
    }

    fn serve(&self, stream: TcpStream) {
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut writer = stream;
        loop {
            let mut request_line = String::new();
            if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
                return;
            }
            let path = request_line
                .split_whitespace()
                .nth(1)
                .unwrap_or("")
                .to_string();
            let mut headers = HashMap::new();
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 {
                    return;
                }
                let line = line.trim_end();
                if line.is_empty() {
                    break;
                }
                if let Some((k, v)) = line.split_once(':') {
                    headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
                }
            }
            let length: usize = headers
                .get("content-length")
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            let mut raw = vec![0; length];
            if reader.read_exact(&mut raw).is_err() {
                return;
            }
            let body = if headers.get("content-encoding").map(String::as_str) == Some("gzip") {
                let mut out = Vec::new();
                flate2::read::GzDecoder::new(&raw[..])
                    .read_to_end(&mut out)
                    .expect("a gzip body");
                out
            } else {
                raw
            };
            let status = self.status.load(Ordering::SeqCst);
            if status == 200 {
                self.received.lock().unwrap().push(Received {
                    path,
                    headers,
                    body,
                });
            }
            // An empty Export*ServiceResponse: full success.
            let answer = format!(
                "HTTP/1.1 {status} X\r\nContent-Type: application/x-protobuf\r\nContent-Length: 0\r\n\r\n"
            );
            if writer.write_all(answer.as_bytes()).is_err() {
                return;
            }
        }
    }

    fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    fn spans(&self) -> Vec<(Span, HashMap<String, String>)> {
        self.received()
            .iter()
            .filter(|r| r.path == "/v1/traces")
            .flat_map(|r| {
                let request = ExportTraceServiceRequest::decode(&r.body[..])
                    .expect("/v1/traces body is an ExportTraceServiceRequest");
                request.resource_spans.into_iter().flat_map(|rs| {
                    let resource = rs
                        .resource
                        .map(|r| strings(&r.attributes))
                        .unwrap_or_default();
                    rs.scope_spans
                        .into_iter()
                        .flat_map(|ss| ss.spans)
                        .map(move |span| (span, resource.clone()))
                })
            })
            .collect()
    }

    fn metrics(&self) -> Vec<opentelemetry_proto::tonic::metrics::v1::Metric> {
        self.received()
            .iter()
            .filter(|r| r.path == "/v1/metrics")
            .flat_map(|r| {
                ExportMetricsServiceRequest::decode(&r.body[..])
                    .expect("/v1/metrics body is an ExportMetricsServiceRequest")
                    .resource_metrics
            })
            .flat_map(|rm| rm.scope_metrics)
            .flat_map(|sm| sm.metrics)
            .collect()
    }
}

fn value(attributes: &[KeyValue], key: &str) -> Option<any_value::Value> {
    attributes
        .iter()
        .find(|a| a.key == key)
        .and_then(|a| a.value.clone())
        .and_then(|v| v.value)
}

fn string(attributes: &[KeyValue], key: &str) -> Option<String> {
    match value(attributes, key) {
        Some(any_value::Value::StringValue(s)) => Some(s),
        _ => None,
    }
}

fn strings(attributes: &[KeyValue]) -> HashMap<String, String> {
    attributes
        .iter()
        .filter_map(|a| Some((a.key.clone(), string(attributes, &a.key)?)))
        .collect()
}

fn otlp_env(wd: &std::path::Path, push: &str, otlp: &str) -> Vec<(String, String)> {
    let mut env = base_env(wd, push);
    env.push(("APPSIGNAL_OTLP_ENDPOINT".into(), otlp.into()));
    env
}

fn ms(n: u64) -> u64 {
    n * 1_000_000
}

/// `GET /users/:id` [0, 100 ms]: process_action [0,100] > { sql [10,20], render [30,80] > partial [40,50] }.
fn web_transaction(id: &str) -> Transaction {
    let mut t = transaction(id, "GET /users/:id", 100);
    t.metadata = [
        ("method".to_string(), "get".to_string()),
        ("path".to_string(), "/users/7".to_string()),
        ("response_status".to_string(), "200".to_string()),
    ]
    .into();
    let event = |name: &str, start: u64, duration: u64, depth: u32| Event {
        name: name.into(),
        start_offset_ns: ms(start),
        duration_ns: ms(duration),
        depth,
        ..Default::default()
    };
    let mut sql = event("sql.postgres", 10, 10, 1);
    sql.title = "User Load".into();
    sql.body = "SELECT * FROM users WHERE id = ?".into();
    t.events = vec![
        sql,
        event("render_partial.action_view", 40, 10, 2),
        event("render_template.action_view", 30, 50, 1),
        event("process_action.action_controller", 0, 100, 0),
    ];
    t
}

fn spooled(wd: &std::path::Path) -> usize {
    std::fs::read_dir(wd.join("otlp"))
        .map(|d| {
            d.flatten()
                .filter(|e| e.file_name().to_string_lossy().ends_with(".pb.gz"))
                .count()
        })
        .unwrap_or(0)
}

#[test]
fn transactions_become_traces_and_custom_metrics_otlp_metrics_next_to_the_push_api() {
    let push = PushReceiver::start();
    let otlp = OtlpReceiver::start();
    let wd = tempfile::tempdir().unwrap();
    let mut env = otlp_env(
        wd.path(),
        &push.endpoint(),
        &format!("{}/", otlp.endpoint()),
    );
    env.push((
        "APPSIGNAL_OTLP_HEADERS".into(),
        "x-collector-token=tok-123".into(),
    ));
    env.push(("APPSIGNAL_REVISION".into(), "rev-9".into()));
    let agent = Agent::start_with(wd.path(), &env);
    let mut stream = agent.connect();
    let sample = |kind: MetricKind, name: &str, value: f64| MetricSample {
        name: name.into(),
        kind: kind as i32,
        value,
        tags: [("region".to_string(), "eu".to_string())].into(),
        time_unix_ms: 0,
    };
    send(
        &mut stream,
        &ClientBatch {
            hello: Some(hello(42)),
            transactions: vec![
                web_transaction("web-1"),
                failing(transaction("job-1", "Mailer#deliver", 5), "KeyError"),
            ],
            metrics: vec![
                sample(MetricKind::Counter, "signups", 2.0),
                sample(MetricKind::Counter, "signups", 3.0),
                sample(MetricKind::Gauge, "queue_depth", 7.0),
                sample(MetricKind::Distribution, "checkout_ms", 10.0),
                sample(MetricKind::Distribution, "checkout_ms", 30.0),
            ],
            ..Default::default()
        },
    );

    assert!(
        wait_until(Duration::from_secs(10), || otlp.spans().len() >= 8
            && otlp.metrics().len() >= 3),
        "OTLP receiver got {:?}; log:\n{}",
        otlp.received().iter().map(|r| &r.path).collect::<Vec<_>>(),
        read_log(wd.path())
    );
    assert!(
        push.wait_for(Duration::from_secs(10), |p| count_for(p, "GET /users/:id")
            == 1),
        "the Push API still gets payloads"
    );

    for request in otlp.received() {
        assert_eq!(request.headers["content-type"], "application/x-protobuf");
        assert_eq!(request.headers["content-encoding"], "gzip");
        assert_eq!(request.headers["x-collector-token"], "tok-123");
        assert!(
            !request.body.windows(KEY.len()).any(|w| w == KEY.as_bytes()),
            "the push API key must not reach the OTLP receiver"
        );
    }

    let spans = otlp.spans();
    let (_, resource) = &spans[0];
    assert_eq!(resource["service.name"], "agent-test");
    assert_eq!(resource["deployment.environment.name"], "test");
    assert_eq!(resource["host.name"], "test-host");
    assert_eq!(resource["service.version"], "rev-9");
    let spans: Vec<Span> = spans.into_iter().map(|(s, _)| s).collect();
    let by_name = |name: &str| {
        spans.iter().find(|s| s.name == name).unwrap_or_else(|| {
            panic!(
                "no span {name} in {:?}",
                spans.iter().map(|s| &s.name).collect::<Vec<_>>()
            )
        })
    };

    let root = by_name("GET /users/:id");
    assert!(root.parent_span_id.is_empty());
    assert_eq!(root.kind, SpanKind::Server as i32);
    assert_eq!(root.trace_id.len(), 16);
    assert_eq!(root.span_id.len(), 8);
    assert_eq!(root.end_time_unix_nano - root.start_time_unix_nano, ms(100));
    assert_eq!(
        string(&root.attributes, "http.request.method").as_deref(),
        Some("GET")
    );
    assert_eq!(
        string(&root.attributes, "http.route").as_deref(),
        Some("/users/:id")
    );
    assert_eq!(
        string(&root.attributes, "url.path").as_deref(),
        Some("/users/7")
    );
    assert_eq!(
        value(&root.attributes, "http.response.status_code"),
        Some(any_value::Value::IntValue(200))
    );
    assert_eq!(
        string(&root.attributes, "appsignal.namespace").as_deref(),
        Some("web")
    );

    let action = by_name("process_action.action_controller");
    let sql = by_name("sql.postgres");
    let template = by_name("render_template.action_view");
    let partial = by_name("render_partial.action_view");
    assert_eq!(action.parent_span_id, root.span_id);
    assert_eq!(sql.parent_span_id, action.span_id);
    assert_eq!(template.parent_span_id, action.span_id);
    assert_eq!(partial.parent_span_id, template.span_id);
    for child in [action, sql, template, partial] {
        assert_eq!(child.trace_id, root.trace_id);
    }
    assert_eq!(sql.start_time_unix_nano - root.start_time_unix_nano, ms(10));
    assert_eq!(sql.kind, SpanKind::Client as i32);
    assert_eq!(
        string(&sql.attributes, "db.system.name").as_deref(),
        Some("postgresql")
    );
    assert_eq!(
        string(&sql.attributes, "db.query.text").as_deref(),
        Some("SELECT * FROM users WHERE id = ?")
    );
    assert_eq!(
        string(&sql.attributes, "db.operation.name").as_deref(),
        Some("SELECT")
    );

    let job = by_name("Mailer#deliver");
    let status = job
        .status
        .as_ref()
        .expect("an erroring transaction has a status");
    assert_eq!(status.code, StatusCode::Error as i32);
    assert_eq!(status.message, "boom");
    assert_eq!(
        string(&job.attributes, "error.type").as_deref(),
        Some("KeyError")
    );
    let exception = &job.events[0];
    assert_eq!(exception.name, "exception");
    assert_eq!(
        string(&exception.attributes, "exception.type").as_deref(),
        Some("KeyError")
    );
    assert_eq!(
        string(&exception.attributes, "exception.message").as_deref(),
        Some("boom")
    );
    assert_ne!(job.trace_id, root.trace_id, "one trace per transaction");

    let metrics = otlp.metrics();
    let metric = |name: &str| {
        metrics
            .iter()
            .find(|m| m.name == name)
            .unwrap_or_else(|| panic!("no metric {name}"))
    };
    let Some(Data::Sum(signups)) = &metric("signups").data else {
        panic!("signups is not a sum: {:?}", metric("signups"))
    };
    assert!(signups.is_monotonic);
    assert_eq!(signups.aggregation_temporality, 1, "delta");
    let point = &signups.data_points[0];
    assert_eq!(string(&point.attributes, "region").as_deref(), Some("eu"));
    assert!(point.time_unix_nano > point.start_time_unix_nano);
    use opentelemetry_proto::tonic::metrics::v1::number_data_point::Value as Number;
    assert_eq!(point.value, Some(Number::AsDouble(5.0)));
    let Some(Data::Gauge(queue)) = &metric("queue_depth").data else {
        panic!("queue_depth is not a gauge")
    };
    assert_eq!(queue.data_points[0].value, Some(Number::AsDouble(7.0)));
    let Some(Data::Histogram(checkout)) = &metric("checkout_ms").data else {
        panic!("checkout_ms is not a histogram")
    };
    let point = &checkout.data_points[0];
    assert_eq!(
        (point.count, point.sum, point.min, point.max),
        (2, Some(40.0), Some(10.0), Some(30.0))
    );
    assert_eq!(point.bucket_counts.len(), point.explicit_bounds.len() + 1);
    assert_eq!(point.bucket_counts.iter().sum::<u64>(), 2);
    let bucket_of = |v: f64| point.explicit_bounds.iter().position(|b| v <= *b).unwrap();
    assert!(point.bucket_counts[bucket_of(10.0)] >= 1 && point.bucket_counts[bucket_of(30.0)] >= 1);
    assert!(!read_log(wd.path()).contains(KEY));
}

#[test]
fn otlp_only_needs_no_push_api_key_and_sends_nothing_to_the_push_api() {
    let push = PushReceiver::start();
    let otlp = OtlpReceiver::start();
    for only in ["keyless", "APPSIGNAL_OTLP_ONLY"] {
        let wd = tempfile::tempdir().unwrap();
        let mut env = otlp_env(wd.path(), &push.endpoint(), &otlp.endpoint());
        if only == "keyless" {
            env.retain(|(k, _)| k != "APPSIGNAL_PUSH_API_KEY");
        } else {
            env.push(("APPSIGNAL_OTLP_ONLY".into(), "true".into()));
        }
        let agent = Agent::start_with(wd.path(), &env);
        let mut stream = agent.connect();
        let action = format!("Only#{}", only.len());
        send(
            &mut stream,
            &ClientBatch {
                hello: Some(hello(7)),
                transactions: vec![transaction("only-1", &action, 3)],
                ..Default::default()
            },
        );
        assert!(
            wait_until(Duration::from_secs(10), || otlp
                .spans()
                .iter()
                .any(|(s, _)| s.name == action)),
            "{only}: no trace; log:\n{}",
            read_log(wd.path())
        );
        // Another interval or two: nothing may reach the Push API meanwhile.
        std::thread::sleep(Duration::from_millis(1200));
        assert!(
            push.requests().is_empty(),
            "{only}: the Push API got {:?}",
            push.requests()
        );
        assert!(read_log(wd.path()).contains("only (no Push API)"), "{only}");
    }

    // Neither a key nor an endpoint: the agent refuses, saying what to set.
    let wd = tempfile::tempdir().unwrap();
    let mut env = base_env(wd.path(), &push.endpoint());
    env.retain(|(k, _)| k != "APPSIGNAL_PUSH_API_KEY");
    let output = command(&env).output().unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("APPSIGNAL_PUSH_API_KEY") && stderr.contains("APPSIGNAL_OTLP_ENDPOINT"),
        "{stderr}"
    );
}

#[test]
fn unavailable_receivers_get_the_request_again_and_bad_requests_are_dropped() {
    let push = PushReceiver::start();
    let otlp = OtlpReceiver::start();
    otlp.set_status(503);
    let wd = tempfile::tempdir().unwrap();
    let agent = Agent::start_with(
        wd.path(),
        &otlp_env(wd.path(), &push.endpoint(), &otlp.endpoint()),
    );
    let mut stream = agent.connect();
    send(
        &mut stream,
        &ClientBatch {
            hello: Some(hello(9)),
            transactions: vec![transaction("retry-1", "Retry#later", 3)],
            ..Default::default()
        },
    );
    assert!(
        wait_until(Duration::from_secs(10), || spooled(wd.path()) >= 1
            && read_log(wd.path()).contains("for retry")),
        "a 503 keeps the request in otlp/; log:\n{}",
        read_log(wd.path())
    );
    otlp.set_status(200);
    assert!(
        wait_until(Duration::from_secs(15), || otlp
            .spans()
            .iter()
            .any(|(s, _)| s.name == "Retry#later")
            && spooled(wd.path()) == 0),
        "the spooled request is sent once the receiver is back; log:\n{}",
        read_log(wd.path())
    );
    let copies = otlp
        .spans()
        .iter()
        .filter(|(s, _)| s.name == "Retry#later")
        .count();
    assert_eq!(copies, 1, "sent exactly once");

    otlp.set_status(400);
    send(
        &mut stream,
        &ClientBatch {
            transactions: vec![transaction("bad-1", "Bad#request", 3)],
            ..Default::default()
        },
    );
    assert!(
        wait_until(Duration::from_secs(10), || read_log(wd.path())
            .contains("400 Bad Request")),
        "log:\n{}",
        read_log(wd.path())
    );
    assert!(wait_until(Duration::from_secs(5), || spooled(wd.path()) == 0));
    otlp.set_status(200);
    std::thread::sleep(Duration::from_millis(1200));
    assert!(
        !otlp.spans().iter().any(|(s, _)| s.name == "Bad#request"),
        "a 400 is not retried"
    );
}

#[test]
fn a_full_span_buffer_is_exported_early_without_an_early_push_api_payload() {
    let push = PushReceiver::start();
    let otlp = OtlpReceiver::start();
    let wd = tempfile::tempdir().unwrap();
    let mut env = otlp_env(wd.path(), &push.endpoint(), &otlp.endpoint());
    env.retain(|(k, _)| k != "APPSIGNAL_TRANSMISSION_INTERVAL");
    env.push(("APPSIGNAL_TRANSMISSION_INTERVAL".into(), "30".into()));
    let agent = Agent::start_with(wd.path(), &env);
    let mut stream = agent.connect();
    // 3 spans each: 3 000 transactions are 9 000 spans, past 80 % of the 10 000 kept.
    for batch in 0..30 {
        send(
            &mut stream,
            &ClientBatch {
                hello: (batch == 0).then(|| hello(11)),
                transactions: (0..100)
                    .map(|i| transaction(&format!("bulk-{batch}-{i}"), "Bulk#span", 1))
                    .collect(),
                ..Default::default()
            },
        );
    }
    assert!(
        wait_until(Duration::from_secs(10), || otlp
            .spans()
            .iter()
            .filter(|(s, _)| s.name == "Bulk#span")
            .count()
            >= 2_600),
        "spans were not exported before the 30 s interval; log:\n{}",
        read_log(wd.path())
    );
    assert!(
        push.requests().is_empty(),
        "the Push API got a payload early: {:?}",
        push.requests()
    );
    assert!(
        !read_log(wd.path()).contains("were not exported as traces"),
        "nothing may be dropped on the way"
    );
}

#[test]
fn a_hanging_push_api_does_not_hold_up_the_otlp_export() {
    let push = PushReceiver::start();
    push.set_mode(appsignal_testkit::Mode::Hang);
    let otlp = OtlpReceiver::start();
    let wd = tempfile::tempdir().unwrap();
    let agent = Agent::start_with(
        wd.path(),
        &otlp_env(wd.path(), &push.endpoint(), &otlp.endpoint()),
    );
    let mut stream = agent.connect();
    send(
        &mut stream,
        &ClientBatch {
            hello: Some(hello(12)),
            transactions: vec![transaction("hang-1", "Hang#otlp", 1)],
            ..Default::default()
        },
    );
    // The Push API POST of the same interval hangs until its 5 s timeout.
    assert!(
        wait_until(Duration::from_secs(3), || otlp
            .spans()
            .iter()
            .any(|(s, _)| s.name == "Hang#otlp")),
        "the OTLP export waited for the Push API; log:\n{}",
        read_log(wd.path())
    );
    push.set_mode(appsignal_testkit::Mode::Accept);
}
