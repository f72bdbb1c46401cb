//! The reporter's worker thread: takes finished transactions and metrics off the
//! channel, obfuscates SQL bodies, batches them into frames and hands the frames to
//! the connection. Everything slow happens here, never on an app thread.

use super::connection::{Connection, Outcome, QueuedFrame};
use super::Counters;
use crate::config::ReporterConfig;
use crate::sql::{self, Dialect};
use appsignal_proto::frame::{encode_frame, MAX_FRAME_LEN};
use appsignal_proto::v1::{self, BodyFormat, ClientBatch, ClientHealth, ClientHello};
use crossbeam_channel::{Receiver, Sender, TryRecvError};
use prost::Message as _;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long the first item of a batch may wait for company before it is written.
const BATCH_WINDOW: Duration = Duration::from_millis(50);
/// Items per frame: enough to amortise the write, small enough to stay far below
/// the frame size limit for ordinary transactions.
const MAX_BATCH: usize = 256;
/// A frame is sealed before it passes this size, far below [`MAX_FRAME_LEN`]; at
/// this size no honest frame nears the agent's decode budget either
/// (`appsignal_proto::decode_budget`).
const FRAME_BYTES_TARGET: usize = 1024 * 1024;
/// One transaction larger than this loses its last events (counted as dropped).
const MAX_TRANSACTION_BYTES: usize = MAX_FRAME_LEN / 2;
const HEALTH_EVERY: Duration = Duration::from_secs(10);
/// How long a flush (Appsignal.stop, at exit) keeps trying to reach the agent.
const FLUSH_DEADLINE: Duration = Duration::from_secs(2);

pub enum Message {
    Transaction(Box<v1::Transaction>),
    Metric(v1::MetricSample),
    /// Write everything queued so far, then answer.
    Flush(Sender<()>),
    /// Flush, answer, and end the thread.
    Stop(Sender<()>),
}

struct Worker {
    config: ReporterConfig,
    counters: Arc<Counters>,
    connection: Connection,
    pending: ClientBatch,
    /// Encoded bytes of what is pending.
    pending_bytes: usize,
    pending_since: Option<Instant>,
    last_health: Instant,
    scratch: String,
}

/// The worker polls the channel instead of blocking on it: a sender then never has
/// to wake a sleeping receiver, which would cost the app thread a futex syscall
/// (about 1.5 µs measured) on every transaction.
const POLL_INTERVAL: Duration = Duration::from_millis(10);

pub fn run(rx: Receiver<Message>, config: ReporterConfig, counters: Arc<Counters>) {
    let mut worker = Worker::new(config, counters);
    loop {
        let mut stop = None;
        let mut received = 0;
        while stop.is_none() && worker.pending_items() < MAX_BATCH {
            match rx.try_recv() {
                Ok(message) => {
                    received += 1;
                    stop = worker.accept(message);
                }
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => {
                    worker.flush_all();
                    return;
                }
            }
        }
        worker.tick();
        if let Some(ack) = stop {
            let _ = ack.send(());
            return;
        }
        if received == 0 {
            std::thread::sleep(POLL_INTERVAL);
        }
    }
}

impl Worker {
    fn new(config: ReporterConfig, counters: Arc<Counters>) -> Worker {
        Worker {
            connection: Connection::new(config.clone()),
            config,
            counters,
            pending: ClientBatch::default(),
            pending_bytes: 0,
            pending_since: None,
            last_health: Instant::now(),
            scratch: String::new(),
        }
    }

    fn pending_items(&self) -> usize {
        self.pending.transactions.len() + self.pending.metrics.len()
    }

    /// Returns the ack sender when the message asks the thread to stop.
    fn accept(&mut self, message: Message) -> Option<Sender<()>> {
        match message {
            Message::Transaction(mut transaction) => {
                if transaction.id.is_empty() {
                    transaction.id = crate::ids::new_id();
                }
                self.obfuscate_sql(&mut transaction);
                let bytes = fit_in_a_frame(&mut transaction);
                self.counters
                    .events_truncated
                    .fetch_add(u64::from(transaction.events_dropped), Ordering::Relaxed);
                self.make_room(bytes);
                self.pending.transactions.push(*transaction);
            }
            Message::Metric(metric) => {
                self.make_room(metric.encoded_len());
                self.pending.metrics.push(metric);
            }
            Message::Flush(ack) => {
                self.flush_all();
                let _ = ack.send(());
                return None;
            }
            Message::Stop(ack) => {
                self.flush_all();
                return Some(ack);
            }
        }
        self.pending_since.get_or_insert_with(Instant::now);
        None
    }

    /// Seals what is pending first when adding an item of this size would take the
    /// frame past its target size.
    fn make_room(&mut self, bytes: usize) {
        if self.pending_bytes + bytes > FRAME_BYTES_TARGET && self.pending_items() > 0 {
            self.seal_pending();
        }
        self.pending_bytes += bytes;
    }

    /// SQL literals never leave the process: bodies marked SQL are rewritten here,
    /// before anything is encoded.
    fn obfuscate_sql(&mut self, transaction: &mut v1::Transaction) {
        for event in transaction
            .events
            .iter_mut()
            .filter(|e| e.body_format == BodyFormat::Sql as i32)
        {
            let dialect = dialect_for(&event.name);
            self.scratch.clear();
            sql::obfuscate_into(&event.body, dialect, &mut self.scratch);
            std::mem::swap(&mut event.body, &mut self.scratch);
        }
    }

    fn tick(&mut self) {
        let due = self.pending_items() >= MAX_BATCH
            || self
                .pending_since
                .is_some_and(|since| since.elapsed() >= BATCH_WINDOW)
            || (self.last_health.elapsed() >= HEALTH_EVERY && self.connection.is_connected());
        if due {
            self.seal_pending();
        }
        self.deliver();
    }

    fn seal_pending(&mut self) {
        if self.last_health.elapsed() >= HEALTH_EVERY {
            self.pending.health = Some(self.health());
            self.last_health = Instant::now();
        }
        if self.pending_items() == 0 && self.pending.health.is_none() {
            return;
        }
        let batch = std::mem::take(&mut self.pending);
        self.pending_since = None;
        self.pending_bytes = 0;
        let transactions = batch.transactions.len() as u64;
        let mut bytes = Vec::with_capacity(batch.transactions.len() * 512 + 64);
        encode_frame(&batch, &mut bytes);
        let mut outcome = Outcome::default();
        self.connection.enqueue(
            QueuedFrame {
                bytes,
                transactions,
            },
            &mut outcome,
        );
        self.record(&outcome);
    }

    fn deliver(&mut self) {
        let mut outcome = Outcome::default();
        let hello = self.hello_frame();
        self.connection.connect_if_due(&hello, &mut outcome);
        self.connection.flush(&mut outcome);
        self.record(&outcome);
    }

    fn flush_all(&mut self) {
        self.seal_pending();
        let deadline = Instant::now() + FLUSH_DEADLINE;
        loop {
            self.deliver();
            if self.connection.backlog_len() == 0
                || self.connection.gave_up()
                || Instant::now() >= deadline
            {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn record(&self, outcome: &Outcome) {
        self.counters
            .transactions_sent
            .fetch_add(outcome.sent, Ordering::Relaxed);
        self.counters
            .transactions_dropped
            .fetch_add(outcome.dropped, Ordering::Relaxed);
        if self.connection.gave_up() {
            self.counters
                .agent_unavailable
                .store(true, Ordering::Relaxed);
        }
    }

    fn hello_frame(&self) -> Vec<u8> {
        let batch = ClientBatch {
            hello: Some(ClientHello {
                pid: std::process::id(),
                language: "ruby".to_string(),
                language_version: self.config.language_version.clone(),
                library_version: self.config.library_version.clone(),
                revision: self.config.revision.clone(),
            }),
            health: Some(self.health()),
            ..Default::default()
        };
        let mut bytes = Vec::new();
        encode_frame(&batch, &mut bytes);
        bytes
    }

    fn health(&self) -> ClientHealth {
        ClientHealth {
            pid: std::process::id(),
            transactions_sent: self.counters.transactions_sent.load(Ordering::Relaxed),
            transactions_dropped: self.counters.transactions_dropped.load(Ordering::Relaxed),
            metrics_dropped: self.counters.metrics_dropped.load(Ordering::Relaxed),
            events_truncated: self.counters.events_truncated.load(Ordering::Relaxed),
        }
    }
}

/// Which SQL dialect an event's body is in, from the event name the integration used.
/// Drops a transaction's last events until it encodes within
/// [`MAX_TRANSACTION_BYTES`] (2,000 events with 10 KB bodies would not); returns its
/// encoded size.
fn fit_in_a_frame(transaction: &mut v1::Transaction) -> usize {
    let mut len = transaction.encoded_len();
    while len > MAX_TRANSACTION_BYTES && !transaction.events.is_empty() {
        let events = transaction.events.len();
        // Keep the share of events that fits, with some slack for the rest.
        let keep = events * (MAX_TRANSACTION_BYTES / 2) / len;
        let keep = keep.min(events - 1);
        transaction.events.truncate(keep);
        transaction.events_dropped = transaction
            .events_dropped
            .saturating_add(u32::try_from(events - keep).unwrap_or(u32::MAX));
        len = transaction.encoded_len();
    }
    len
}

fn dialect_for(event_name: &str) -> Dialect {
    if event_name.contains("postgres") || event_name.contains("pg") {
        Dialect::Postgres
    } else if event_name.contains("mysql") {
        Dialect::MySql
    } else {
        Dialect::Generic
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn transaction_with_events(events: usize, body_bytes: usize) -> v1::Transaction {
        let event = v1::Event {
            name: "sql.active_record".into(),
            body: "x".repeat(body_bytes),
            ..Default::default()
        };
        v1::Transaction {
            action: "Big#load".into(),
            events: vec![event; events],
            ..Default::default()
        }
    }

    #[test]
    fn an_oversized_transaction_loses_its_last_events_and_counts_them() {
        let mut transaction = transaction_with_events(2_000, 10_000);
        let len = fit_in_a_frame(&mut transaction);
        assert!(len <= MAX_TRANSACTION_BYTES, "{len} bytes");
        assert!(
            transaction.events.len() > 100,
            "kept {}",
            transaction.events.len()
        );
        assert_eq!(
            transaction.events.len() + transaction.events_dropped as usize,
            2_000
        );
    }

    #[test]
    fn an_ordinary_transaction_is_left_alone() {
        let mut transaction = transaction_with_events(30, 200);
        let before = transaction.clone();
        assert_eq!(fit_in_a_frame(&mut transaction), before.encoded_len());
        assert_eq!(transaction, before);
    }
}
