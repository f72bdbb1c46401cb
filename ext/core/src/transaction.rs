//! One transaction (a request, a job, a `monitor` block): a flat Vec of events pushed
//! as they finish, plus the data the app attached. Owned by one Ruby fiber; nothing
//! here takes a lock or makes a syscall beyond reading the vDSO clocks.

use crate::ids;
use crate::limits::{self, truncate_in_place};
use crate::sample_gate::SampleGate;
use appsignal_proto::v1;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

pub use v1::BodyFormat;

/// An event that has started and not finished yet. Its name is only known at the
/// end (Ruby passes it to `finish_event`), which keeps `start_event` argument-free.
struct OpenEvent {
    start_offset_ns: u64,
    child_duration_ns: u64,
}

pub struct Transaction {
    record: v1::Transaction,
    started: Instant,
    open_events: Vec<OpenEvent>,
    /// The fork generation this transaction was started in: one started before a
    /// fork is not reported by the child (the parent reports it).
    generation: u64,
}

/// What one error contributes to a transaction.
pub struct ErrorReport {
    pub name: String,
    pub message: String,
    pub backtrace: Vec<String>,
    /// The `cause` chain, outermost first: (class, message, backtrace).
    pub causes: Vec<(String, String, Vec<String>)>,
}

impl Transaction {
    pub fn new(namespace: &str, generation: u64) -> Transaction {
        let wall = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos() as i64)
            .unwrap_or(0);
        Transaction {
            // The id is drawn lazily (see `id`), usually on the reporter thread.
            record: v1::Transaction {
                namespace: namespace.to_string(),
                start_time_unix_ns: wall,
                ..Default::default()
            },
            started: Instant::now(),
            open_events: Vec::new(),
            generation,
        }
    }

    pub fn id(&mut self) -> &str {
        if self.record.id.is_empty() {
            self.record.id = ids::new_id();
        }
        &self.record.id
    }

    pub fn generation(&self) -> u64 {
        self.generation
    }

    pub fn namespace(&self) -> &str {
        &self.record.namespace
    }

    pub fn action(&self) -> &str {
        &self.record.action
    }

    pub fn has_error(&self) -> bool {
        self.record.error.is_some()
    }

    pub fn events(&self) -> &[v1::Event] {
        &self.record.events
    }

    /// Whether the agent could keep this transaction, finished now, as a sample:
    /// when not, its sample data need not be written (see [`crate::sample_gate`]).
    pub fn could_be_sampled(&self, gate: &SampleGate, now: Instant) -> bool {
        let duration_ns = now.saturating_duration_since(self.started).as_nanos() as u64;
        self.has_error() || gate.admit(self.namespace(), self.action(), duration_ns, now)
    }

    fn elapsed_ns(&self) -> u64 {
        self.started.elapsed().as_nanos() as u64
    }

    pub fn start_event(&mut self) {
        let start_offset_ns = self.elapsed_ns();
        self.open_events.push(OpenEvent {
            start_offset_ns,
            child_duration_ns: 0,
        });
    }

    /// Closes the innermost open event. Unbalanced calls (no open event) are ignored.
    pub fn finish_event(&mut self, name: &str, title: &str, body: &str, body_format: BodyFormat) {
        let Some(open) = self.open_events.pop() else {
            return;
        };
        let duration_ns = self.elapsed_ns().saturating_sub(open.start_offset_ns);
        if let Some(parent) = self.open_events.last_mut() {
            parent.child_duration_ns += duration_ns;
        }
        self.push_event(
            name,
            title,
            body,
            body_format,
            open.start_offset_ns,
            duration_ns,
            open.child_duration_ns,
        );
    }

    /// Records an event whose timing was measured elsewhere (e.g. an
    /// ActiveSupport::Notifications event), `start_offset_ns` from this transaction's start.
    pub fn record_event(
        &mut self,
        name: &str,
        title: &str,
        body: &str,
        body_format: BodyFormat,
        start_offset_ns: u64,
        duration_ns: u64,
    ) {
        if let Some(parent) = self.open_events.last_mut() {
            parent.child_duration_ns += duration_ns;
        }
        self.push_event(
            name,
            title,
            body,
            body_format,
            start_offset_ns,
            duration_ns,
            0,
        );
    }

    /// Nanoseconds since this transaction started, for callers that time events themselves.
    pub fn offset_now_ns(&self) -> u64 {
        self.elapsed_ns()
    }

    #[allow(clippy::too_many_arguments)]
    fn push_event(
        &mut self,
        name: &str,
        title: &str,
        body: &str,
        body_format: BodyFormat,
        start_offset_ns: u64,
        duration_ns: u64,
        child_duration_ns: u64,
    ) {
        if self.record.events.len() >= limits::MAX_EVENTS {
            self.record.events_dropped = self.record.events_dropped.saturating_add(1);
            return;
        }
        let mut title = title.to_string();
        truncate_in_place(&mut title, limits::MAX_TITLE_BYTES);
        let mut body = body.to_string();
        truncate_in_place(&mut body, limits::MAX_BODY_BYTES);
        self.record.events.push(v1::Event {
            name: name.to_string(),
            title,
            body,
            body_format: body_format as i32,
            start_offset_ns,
            duration_ns,
            depth: self.open_events.len() as u32,
            child_duration_ns,
        });
    }

    pub fn set_action(&mut self, action: &str) {
        self.record.action = action.to_string();
    }

    pub fn set_namespace(&mut self, namespace: &str) {
        self.record.namespace = namespace.to_string();
    }

    pub fn set_tag(&mut self, key: &str, value: &str) {
        if self.record.tags.len() >= limits::MAX_TAGS && !self.record.tags.contains_key(key) {
            return;
        }
        let mut value = value.to_string();
        truncate_in_place(&mut value, limits::MAX_TAG_VALUE_BYTES);
        self.record.tags.insert(key.to_string(), value);
    }

    pub fn set_metadata(&mut self, key: &str, value: &str) {
        let mut value = value.to_string();
        truncate_in_place(&mut value, limits::MAX_TAG_VALUE_BYTES);
        self.record.metadata.insert(key.to_string(), value);
    }

    pub fn set_header(&mut self, key: &str, value: &str) {
        let mut value = value.to_string();
        truncate_in_place(&mut value, limits::MAX_TAG_VALUE_BYTES);
        self.record.headers.insert(key.to_string(), value);
    }

    /// Sets one of the JSON data blobs; `kind` is "params", "session_data" or "custom_data".
    /// Returns false for an unknown kind.
    pub fn set_data_json(&mut self, kind: &str, json: &str) -> bool {
        let slot = match kind {
            "params" => &mut self.record.params_json,
            "session_data" => &mut self.record.session_data_json,
            "custom_data" => &mut self.record.custom_data_json,
            _ => return false,
        };
        // A cut JSON document would not parse; past the limit, keep a marker instead.
        *slot = if json.len() > limits::MAX_DATA_BYTES {
            format!("{{\"_appsignal_truncated\":{}}}", json.len())
        } else {
            json.to_string()
        };
        true
    }

    pub fn add_breadcrumb(
        &mut self,
        category: &str,
        action: &str,
        message: &str,
        metadata_json: &str,
    ) {
        if self.record.breadcrumbs.len() >= limits::MAX_BREADCRUMBS {
            self.record.breadcrumbs.remove(0);
        }
        let time_unix_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0);
        self.record.breadcrumbs.push(v1::Breadcrumb {
            category: category.to_string(),
            action: action.to_string(),
            message: message.to_string(),
            metadata_json: metadata_json.to_string(),
            time_unix_ms,
        });
    }

    /// Time the request or job waited before it started, from a wall-clock
    /// enqueue/arrival time in milliseconds since the epoch.
    pub fn set_queue_start(&mut self, queue_start_unix_ms: i64) {
        let start_ms = self.record.start_time_unix_ns / 1_000_000;
        let waited_ms = start_ms - queue_start_unix_ms;
        // Clock skew between hosts can put the queue start in the future, and a bogus
        // header can put it decades back: ignore both rather than report nonsense.
        if (0..24 * 3600 * 1000).contains(&waited_ms) {
            self.record.queue_duration_ns = waited_ms as u64 * 1_000_000;
        }
    }

    pub fn set_error(&mut self, error: ErrorReport) {
        let trim = |mut lines: Vec<String>| {
            lines.truncate(limits::MAX_BACKTRACE_LINES);
            lines
        };
        self.record.error = Some(v1::ErrorInfo {
            name: error.name,
            message: error.message,
            backtrace: trim(error.backtrace),
            causes: error
                .causes
                .into_iter()
                .map(|(name, message, backtrace)| v1::ErrorCause {
                    name,
                    message,
                    backtrace: trim(backtrace),
                })
                .collect(),
        });
    }

    /// Closes the transaction: still-open events are dropped (their block never
    /// returned to us), the duration is fixed.
    pub fn finish(mut self) -> v1::Transaction {
        self.record.duration_ns = self.elapsed_ns();
        self.open_events.clear();
        self.record
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_events_are_pushed_as_they_finish_with_depth_and_child_time() {
        let mut t = Transaction::new("web", 0);
        t.start_event();
        t.start_event();
        std::thread::sleep(std::time::Duration::from_millis(2));
        t.finish_event(
            "sql.active_record",
            "User Load",
            "SELECT 1",
            BodyFormat::Sql,
        );
        t.finish_event(
            "process_action.action_controller",
            "",
            "",
            BodyFormat::Plain,
        );
        t.set_action("UsersController#show");
        let record = t.finish();
        let names: Vec<_> = record.events.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(
            names,
            ["sql.active_record", "process_action.action_controller"]
        );
        let (inner, outer) = (&record.events[0], &record.events[1]);
        assert_eq!((inner.depth, outer.depth), (1, 0));
        assert!(inner.duration_ns >= 2_000_000);
        assert_eq!(outer.child_duration_ns, inner.duration_ns);
        assert!(outer.start_offset_ns <= inner.start_offset_ns);
        assert!(record.duration_ns >= outer.duration_ns);
        assert_eq!(record.action, "UsersController#show");
        assert!(
            record.id.is_empty(),
            "ids are drawn lazily, on the reporter thread"
        );
    }

    #[test]
    fn unbalanced_finish_is_ignored_and_open_events_are_dropped() {
        let mut t = Transaction::new("web", 0);
        t.finish_event("orphan", "", "", BodyFormat::Plain);
        t.start_event();
        let record = t.finish();
        assert!(record.events.is_empty());
    }

    #[test]
    fn events_beyond_the_cap_are_counted_not_kept() {
        let mut t = Transaction::new("web", 0);
        for _ in 0..limits::MAX_EVENTS + 5 {
            t.start_event();
            t.finish_event("e", "", "", BodyFormat::Plain);
        }
        let record = t.finish();
        assert_eq!(record.events.len(), limits::MAX_EVENTS);
        assert_eq!(record.events_dropped, 5);
    }

    #[test]
    fn long_titles_and_oversized_data_are_cut() {
        let mut t = Transaction::new("web", 0);
        t.start_event();
        t.finish_event("e", &"x".repeat(5_000), "", BodyFormat::Plain);
        assert!(t.set_data_json("params", &"y".repeat(limits::MAX_DATA_BYTES + 1)));
        assert!(!t.set_data_json("unknown", "{}"));
        let record = t.finish();
        assert_eq!(record.events[0].title.len(), limits::MAX_TITLE_BYTES);
        assert!(record.params_json.starts_with("{\"_appsignal_truncated\""));
    }

    #[test]
    fn queue_start_in_the_future_or_far_past_is_ignored() {
        let mut t = Transaction::new("web", 0);
        let start_ms = t.record.start_time_unix_ns / 1_000_000;
        t.set_queue_start(start_ms + 10_000);
        assert_eq!(t.record.queue_duration_ns, 0);
        t.set_queue_start(0);
        assert_eq!(t.record.queue_duration_ns, 0);
        t.set_queue_start(start_ms - 25);
        assert_eq!(t.record.queue_duration_ns, 25_000_000);
    }
}
