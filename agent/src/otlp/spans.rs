//! Every transaction the agent receives as one trace: a root span for the
//! transaction and a child span per event, nested by the events' `depth` and timing.
//!
//! Spans are encoded as they arrive, straight into the bytes of
//! `ScopeSpans.spans` (repeated fields concatenate), so what waits for the next
//! interval is one compact buffer rather than a tree of small allocations. The
//! buffer is bounded: past `MAX_PENDING_SPANS` spans or `MAX_PENDING_BYTES`, whole
//! transactions are dropped and counted.

use std::io::Write;

use appsignal_proto::v1::{BodyFormat, Event, Transaction};
use prost::encoding::{encode_key, encode_varint, encoded_len_varint, key_len, WireType};
use prost::Message;

use super::ids::IdGenerator;
use super::proto::{
    self, InstrumentationScope, KeyValue, Resource, Span, SpanEvent, SpanKind, Status, StatusCode,
};

/// Spans kept per interval (the root spans and their children).
pub const MAX_PENDING_SPANS: usize = 10_000;
/// Encoded bytes kept per interval, whatever the span count: SQL bodies can be long.
pub const MAX_PENDING_BYTES: usize = 4 * 1024 * 1024;
/// Above this share of either bound the transmitter is asked to send early.
const EARLY_SEND_PERCENT: usize = 80;

/// What one interval's transactions became.
#[derive(Default)]
pub struct PendingSpans {
    /// Encoded `ScopeSpans.spans` fields.
    pub encoded: Vec<u8>,
    pub spans: usize,
    pub transactions: u64,
    /// Transactions not kept because the buffer was full.
    pub dropped_transactions: u64,
}

pub struct SpanBuffer {
    pending: PendingSpans,
    ids: IdGenerator,
    /// Reused per transaction.
    scratch: Vec<Span>,
}

impl Default for SpanBuffer {
    fn default() -> Self {
        SpanBuffer {
            pending: PendingSpans::default(),
            ids: IdGenerator::new(),
            scratch: Vec::new(),
        }
    }
}

impl SpanBuffer {
    /// `now_ns` places a transaction that carries no start time.
    pub fn record(&mut self, transaction: &Transaction, now_ns: i64) {
        let span_count = 1 + transaction.events.len();
        if self.pending.spans + span_count > MAX_PENDING_SPANS
            || self.pending.encoded.len() >= MAX_PENDING_BYTES
        {
            self.pending.dropped_transactions += 1;
            return;
        }
        let mut spans = std::mem::take(&mut self.scratch);
        trace_spans(transaction, now_ns, &mut self.ids, &mut spans);
        for span in spans.drain(..) {
            prost::encoding::message::encode(
                proto::SCOPE_SPANS_SPANS,
                &span,
                &mut self.pending.encoded,
            );
        }
        self.scratch = spans;
        self.pending.spans += span_count;
        self.pending.transactions += 1;
    }

    /// Whether the buffer is close enough to its bounds to send now.
    pub fn nearly_full(&self) -> bool {
        self.pending.spans * 100 >= MAX_PENDING_SPANS * EARLY_SEND_PERCENT
            || self.pending.encoded.len() * 100 >= MAX_PENDING_BYTES * EARLY_SEND_PERCENT
    }

    pub fn take(&mut self) -> PendingSpans {
        std::mem::take(&mut self.pending)
    }
}

fn root_kind(namespace: &str) -> SpanKind {
    match namespace {
        "http_request" | "web" => SpanKind::Server,
        "background_job" => SpanKind::Consumer,
        _ => SpanKind::Internal,
    }
}

fn unsigned(ns: i64) -> u64 {
    ns.max(0) as u64
}

/// The root span and one child per event, appended to `out` (root first).
pub fn trace_spans(
    transaction: &Transaction,
    now_ns: i64,
    ids: &mut IdGenerator,
    out: &mut Vec<Span>,
) {
    let duration = i64::try_from(transaction.duration_ns).unwrap_or(i64::MAX);
    let start_ns = if transaction.start_time_unix_ns > 0 {
        transaction.start_time_unix_ns
    } else {
        now_ns.saturating_sub(duration)
    };
    let end_ns = start_ns.saturating_add(duration);
    let trace_id = ids.trace_id().to_vec();
    let root_id = ids.span_id().to_vec();

    let mut attributes = Vec::with_capacity(4 + transaction.tags.len());
    attributes.push(KeyValue::string(
        "appsignal.namespace",
        transaction.namespace.as_str(),
    ));
    if !transaction.id.is_empty() {
        attributes.push(KeyValue::string(
            "appsignal.transaction_id",
            transaction.id.as_str(),
        ));
    }
    let mut tags: Vec<_> = transaction.tags.iter().collect();
    tags.sort();
    for (key, value) in tags {
        attributes.push(KeyValue::string(key, value.as_str()));
    }
    let method = transaction.metadata.get("method");
    if let Some(method) = method {
        attributes.push(KeyValue::string(
            "http.request.method",
            method.to_ascii_uppercase(),
        ));
    }
    let route = transaction
        .metadata
        .get("route")
        .map(String::as_str)
        .or_else(|| route_from_action(&transaction.action));
    if let Some(route) = route {
        attributes.push(KeyValue::string("http.route", route));
    }
    if let Some(path) = transaction.metadata.get("path") {
        attributes.push(KeyValue::string("url.path", path.as_str()));
    }
    if let Some(status) = transaction.metadata.get("response_status") {
        match status.trim().parse::<i64>() {
            Ok(code) => attributes.push(KeyValue::int("http.response.status_code", code)),
            Err(_) => attributes.push(KeyValue::string(
                "http.response.status_code",
                status.as_str(),
            )),
        }
    }
    let (status, events) = match &transaction.error {
        None => (None, Vec::new()),
        Some(error) => {
            attributes.push(KeyValue::string("error.type", error.name.as_str()));
            let mut exception = vec![
                KeyValue::string("exception.type", error.name.as_str()),
                KeyValue::string("exception.message", error.message.as_str()),
            ];
            if !error.backtrace.is_empty() {
                exception.push(KeyValue::string(
                    "exception.stacktrace",
                    error.backtrace.join("\n"),
                ));
            }
            (
                Some(Status {
                    message: error.message.clone(),
                    code: StatusCode::Error as i32,
                }),
                vec![SpanEvent {
                    time_unix_nano: unsigned(end_ns),
                    name: "exception".to_string(),
                    attributes: exception,
                }],
            )
        }
    };
    out.push(Span {
        trace_id: trace_id.clone(),
        span_id: root_id.clone(),
        parent_span_id: Vec::new(),
        name: transaction.action.clone(),
        kind: root_kind(&transaction.namespace) as i32,
        start_time_unix_nano: unsigned(start_ns),
        end_time_unix_nano: unsigned(end_ns),
        attributes,
        events,
        status,
        flags: 0,
    });

    let event_ids: Vec<Vec<u8>> = transaction
        .events
        .iter()
        .map(|_| ids.span_id().to_vec())
        .collect();
    let parents = parents(&transaction.events);
    for (index, event) in transaction.events.iter().enumerate() {
        let event_start =
            start_ns.saturating_add(i64::try_from(event.start_offset_ns).unwrap_or(i64::MAX));
        let event_end =
            event_start.saturating_add(i64::try_from(event.duration_ns).unwrap_or(i64::MAX));
        let parent_id = match parents[index] {
            Some(parent) => event_ids[parent].clone(),
            None => root_id.clone(),
        };
        let (kind, attributes) = event_attributes(event);
        out.push(Span {
            trace_id: trace_id.clone(),
            span_id: event_ids[index].clone(),
            parent_span_id: parent_id,
            name: event.name.clone(),
            kind: kind as i32,
            start_time_unix_nano: unsigned(event_start),
            end_time_unix_nano: unsigned(event_end),
            attributes,
            events: Vec::new(),
            status: None,
            flags: 0,
        });
    }
}

/// Sinatra-style actions are `GET /users/:id`: the part after the method is the route.
fn route_from_action(action: &str) -> Option<&str> {
    let (method, rest) = action.split_once(' ')?;
    (!method.is_empty() && method.bytes().all(|b| b.is_ascii_uppercase()) && rest.starts_with('/'))
        .then_some(rest)
}

fn is_sql(event: &Event) -> bool {
    event.name.starts_with("sql.") || event.body_format == BodyFormat::Sql as i32
}

/// `sql.postgres` → `postgresql`; the database of `sql.active_record` is unknown.
fn db_system(event_name: &str) -> &'static str {
    let library = event_name.rsplit('.').next().unwrap_or("");
    match library {
        "postgres" | "postgresql" | "pg" => "postgresql",
        "mysql" | "mysql2" | "trilogy" => "mysql",
        "sqlite" | "sqlite3" => "sqlite",
        _ => "other_sql",
    }
}

fn event_attributes(event: &Event) -> (SpanKind, Vec<KeyValue>) {
    let mut attributes = Vec::with_capacity(4);
    if is_sql(event) {
        let system = db_system(&event.name);
        // `db.system.name` is the stable convention, `db.system` what older backends read.
        attributes.push(KeyValue::string("db.system.name", system));
        attributes.push(KeyValue::string("db.system", system));
        if !event.body.is_empty() {
            // The extension obfuscated the query before it left the app.
            attributes.push(KeyValue::string("db.query.text", event.body.as_str()));
            if let Some(operation) = sql_operation(&event.body) {
                attributes.push(KeyValue::string("db.operation.name", operation));
            }
        }
        if !event.title.is_empty() {
            attributes.push(KeyValue::string("appsignal.title", event.title.as_str()));
        }
        return (SpanKind::Client, attributes);
    }
    if is_http_client(&event.name) {
        // Titles look like `GET https://example.com/path` or `GET example.com`.
        let mut words = event.title.splitn(2, ' ');
        let method = words.next().unwrap_or("");
        if !method.is_empty() && method.bytes().all(|b| b.is_ascii_uppercase()) {
            attributes.push(KeyValue::string("http.request.method", method));
            if let Some(target) = words.next().map(str::trim).filter(|t| !t.is_empty()) {
                if target.starts_with("http://") || target.starts_with("https://") {
                    attributes.push(KeyValue::string("url.full", target));
                } else {
                    attributes.push(KeyValue::string("server.address", target));
                }
            }
        }
        if !event.title.is_empty() {
            attributes.push(KeyValue::string("appsignal.title", event.title.as_str()));
        }
        return (SpanKind::Client, attributes);
    }
    if !event.title.is_empty() {
        attributes.push(KeyValue::string("appsignal.title", event.title.as_str()));
    }
    if !event.body.is_empty() {
        attributes.push(KeyValue::string("appsignal.body", event.body.as_str()));
    }
    (SpanKind::Internal, attributes)
}

/// The statement's first keyword (`SELECT`, `INSERT`...), when it is one.
fn sql_operation(query: &str) -> Option<String> {
    let word = query.split_whitespace().next()?;
    (word.len() <= 16 && word.bytes().all(|b| b.is_ascii_alphabetic()))
        .then(|| word.to_ascii_uppercase())
}

/// Outgoing HTTP requests as the Ruby integrations name them (`request.net_http`,
/// `request.faraday`, `net_http.request`...).
fn is_http_client(event_name: &str) -> bool {
    event_name.split('.').any(|part| {
        matches!(
            part,
            "net_http" | "faraday" | "excon" | "httpclient" | "http_rb" | "typhoeus"
        )
    })
}

/// For each event, the index of the event it is nested in (`None`: the root).
///
/// Events arrive in the order they finished, so parents come after their
/// children. In start order (a parent before its children when they start
/// together), the most recent event seen at depth `d - 1` is the candidate parent
/// of an event at depth `d`; it must also enclose the event in time, otherwise the
/// nearest enclosing shallower event is taken, and failing that the root.
pub fn parents(events: &[Event]) -> Vec<Option<usize>> {
    let mut order: Vec<usize> = (0..events.len()).collect();
    order.sort_by_key(|&i| {
        let event = &events[i];
        (
            event.start_offset_ns,
            event.depth,
            std::cmp::Reverse(event.duration_ns),
        )
    });
    let end = |i: usize| {
        events[i]
            .start_offset_ns
            .saturating_add(events[i].duration_ns)
    };
    let encloses = |outer: usize, inner: usize| {
        events[outer].start_offset_ns <= events[inner].start_offset_ns && end(inner) <= end(outer)
    };
    let mut open_at_depth: Vec<Option<usize>> = Vec::new();
    let mut out = vec![None; events.len()];
    for index in order {
        let depth = events[index].depth as usize;
        let reachable = depth.min(open_at_depth.len());
        out[index] = (0..reachable)
            .rev()
            .filter_map(|d| open_at_depth[d])
            .find(|&candidate| encloses(candidate, index));
        // Deeper slots belong to events this one cannot contain any more.
        open_at_depth.truncate(reachable);
        open_at_depth.resize(depth, None);
        open_at_depth.push(Some(index));
    }
    out
}

/// `ExportTraceServiceRequest { resource_spans: [ResourceSpans { resource,
/// scope_spans: [ScopeSpans { scope, spans }] }] }` around the already-encoded
/// spans, written through `out` (a gzip encoder) without copying them first.
pub fn write_traces_request(
    resource: &Resource,
    scope: &InstrumentationScope,
    encoded_spans: &[u8],
    out: &mut impl Write,
) -> std::io::Result<()> {
    let mut head = Vec::with_capacity(256);
    let scope_len = scope.encoded_len();
    let scope_spans_len = key_len(proto::SCOPE_SPANS_SCOPE)
        + encoded_len_varint(scope_len as u64)
        + scope_len
        + encoded_spans.len();
    let resource_len = resource.encoded_len();
    let resource_spans_len = key_len(proto::RESOURCE_SPANS_RESOURCE)
        + encoded_len_varint(resource_len as u64)
        + resource_len
        + key_len(proto::RESOURCE_SPANS_SCOPE_SPANS)
        + encoded_len_varint(scope_spans_len as u64)
        + scope_spans_len;
    encode_key(
        proto::EXPORT_TRACE_RESOURCE_SPANS,
        WireType::LengthDelimited,
        &mut head,
    );
    encode_varint(resource_spans_len as u64, &mut head);
    prost::encoding::message::encode(proto::RESOURCE_SPANS_RESOURCE, resource, &mut head);
    encode_key(
        proto::RESOURCE_SPANS_SCOPE_SPANS,
        WireType::LengthDelimited,
        &mut head,
    );
    encode_varint(scope_spans_len as u64, &mut head);
    prost::encoding::message::encode(proto::SCOPE_SPANS_SCOPE, scope, &mut head);
    out.write_all(&head)?;
    out.write_all(encoded_spans)
}

#[cfg(test)]
mod tests {
    use super::*;
    use appsignal_proto::v1::ErrorInfo;

    fn event(name: &str, start_ms: u64, duration_ms: u64, depth: u32) -> Event {
        Event {
            name: name.into(),
            start_offset_ns: start_ms * 1_000_000,
            duration_ns: duration_ms * 1_000_000,
            depth,
            ..Default::default()
        }
    }

    #[test]
    fn parents_follow_depth_and_timing_in_finish_order() {
        // action [0,100] > { sql [10,20], view [30,80] > { sql [40,50], partial [60,70] } }, then
        // a second top-level event [90,95], listed as the extension pushes them: by finish.
        let events = vec![
            event("sql.a", 10, 10, 1),
            event("sql.b", 40, 10, 2),
            event("render_partial", 60, 10, 2),
            event("render_template", 30, 50, 1),
            event("process_action", 0, 100, 0),
            event("cache.read", 100, 5, 0),
        ];
        assert_eq!(
            parents(&events),
            vec![Some(4), Some(3), Some(3), Some(4), None, None]
        );
    }

    #[test]
    fn a_missing_or_non_enclosing_level_falls_back_to_an_enclosing_ancestor() {
        let events = vec![
            // depth 2 directly under a depth-0 event (depth 1 truncated away)
            event("outer", 0, 100, 0),
            event("deep", 10, 5, 2),
            // claims depth 1 but lies outside "outer": a child of the root
            event("stray", 200, 5, 1),
        ];
        assert_eq!(parents(&events), vec![None, Some(0), None]);
    }

    #[test]
    fn a_transaction_becomes_a_root_span_with_children() {
        let transaction = Transaction {
            id: "t-1".into(),
            namespace: "background_job".into(),
            action: "Job#perform".into(),
            start_time_unix_ns: 1_000_000_000,
            duration_ns: 50_000_000,
            events: vec![
                Event {
                    name: "sql.postgres".into(),
                    title: "Load".into(),
                    body: "SELECT ?".into(),
                    start_offset_ns: 5_000_000,
                    duration_ns: 1_000_000,
                    ..Default::default()
                },
                Event {
                    name: "net_http.request".into(),
                    title: "GET example.com".into(),
                    start_offset_ns: 10_000_000,
                    duration_ns: 2_000_000,
                    ..Default::default()
                },
            ],
            error: Some(ErrorInfo {
                name: "KeyError".into(),
                message: "key not found".into(),
                backtrace: vec!["a.rb:1".into(), "b.rb:2".into()],
                ..Default::default()
            }),
            ..Default::default()
        };
        let mut spans = Vec::new();
        trace_spans(&transaction, 0, &mut IdGenerator::new(), &mut spans);
        assert_eq!(spans.len(), 3);
        let root = &spans[0];
        assert_eq!(root.kind, SpanKind::Consumer as i32);
        assert_eq!(
            (root.start_time_unix_nano, root.end_time_unix_nano),
            (1_000_000_000, 1_050_000_000)
        );
        assert_eq!(root.status.as_ref().unwrap().code, StatusCode::Error as i32);
        assert_eq!(root.events[0].name, "exception");
        assert!(spans[1..]
            .iter()
            .all(|s| s.parent_span_id == root.span_id && s.trace_id == root.trace_id));
        assert_eq!(spans[1].kind, SpanKind::Client as i32);
        assert_eq!(spans[1].start_time_unix_nano, 1_005_000_000);
        let keys: Vec<_> = spans[1].attributes.iter().map(|a| a.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "db.system.name",
                "db.system",
                "db.query.text",
                "db.operation.name",
                "appsignal.title"
            ]
        );
        assert_eq!(spans[2].kind, SpanKind::Client as i32);
        let keys: Vec<_> = spans[2].attributes.iter().map(|a| a.key.as_str()).collect();
        assert_eq!(
            keys,
            ["http.request.method", "server.address", "appsignal.title"]
        );
        let root_keys: Vec<_> = root.attributes.iter().map(|a| a.key.as_str()).collect();
        assert!(root_keys.contains(&"error.type"), "{root_keys:?}");
    }

    #[test]
    fn sinatra_actions_give_the_route_and_sql_its_operation() {
        assert_eq!(route_from_action("GET /users/:id"), Some("/users/:id"));
        assert_eq!(route_from_action("UsersController#show"), None);
        assert_eq!(route_from_action("get /x"), None);
        assert_eq!(sql_operation("  select * from t"), Some("SELECT".into()));
        assert_eq!(sql_operation("(SELECT 1)"), None);
        assert!(is_http_client("request.net_http") && !is_http_client("sql.active_record"));
    }

    #[test]
    fn the_buffer_drops_whole_transactions_past_its_bound() {
        let mut buffer = SpanBuffer::default();
        let transaction = Transaction {
            action: "A#b".into(),
            events: vec![Event::default(); 9],
            ..Default::default()
        };
        for _ in 0..(MAX_PENDING_SPANS / 10 + 5) {
            buffer.record(&transaction, 1);
        }
        assert!(buffer.nearly_full());
        let taken = buffer.take();
        assert_eq!(taken.spans, MAX_PENDING_SPANS);
        assert_eq!(taken.transactions as usize, MAX_PENDING_SPANS / 10);
        assert_eq!(taken.dropped_transactions, 5);
        assert!(!buffer.nearly_full());
    }
}
