//! The benchmarks. Each returns rows of (figure, baseline measured in the same run).

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use appsignal_ext_core::sql::{obfuscate_into, Dialect};
use appsignal_ext_core::transaction::{BodyFormat, Transaction};
use appsignal_proto::frame::{encode_frame, FrameDecoder};
use appsignal_proto::v1::{self, ClientBatch, Event, Payload};
use crossbeam_channel::bounded;
use prost::Message;

use crate::aggregate::Aggregator;
use crate::clock::SystemClock;
use crate::harness::{median_ns, timed, Row, Scale};

fn row(name: &str, value: f64, unit: &'static str, baseline: &str, baseline_value: f64) -> Row {
    Row {
        name: name.to_string(),
        value,
        unit,
        baseline_name: baseline.to_string(),
        baseline_value,
        derived: None,
    }
}

/// A transaction as the worker writes it: a controller event and SQL children.
pub fn sample_transaction(client: u64, i: u64, events: u64, now_ns: i64) -> v1::Transaction {
    v1::Transaction {
        id: format!("c{client}-t{i}-0123456789abcdef"),
        namespace: "web".into(),
        action: format!("LoadController#action{}", i % 20),
        start_time_unix_ns: now_ns,
        duration_ns: 1_000_000 + (i % 100) * 37_000,
        events: (0..events)
            .map(|e| Event {
                name: if e == 0 {
                    "process_action.action_controller".into()
                } else {
                    "sql.active_record".into()
                },
                title: if e == 0 {
                    String::new()
                } else {
                    "User Load".into()
                },
                body: if e == 0 {
                    String::new()
                } else {
                    "SELECT \"users\".* FROM \"users\" WHERE \"users\".\"id\" = ? LIMIT ?".into()
                },
                body_format: i32::from(e > 0),
                duration_ns: 100_000,
                child_duration_ns: if e == 0 { 50_000 * (events - 1) } else { 0 },
                depth: u32::from(e > 0),
                start_offset_ns: e * 1000,
            })
            .collect(),
        ..Default::default()
    }
}

pub fn now_unix_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0)
}

/// `start_event` + `finish_event` on a core transaction, against the floor of two
/// clock reads and a Vec push.
pub fn event_push(scale: Scale) -> Vec<Row> {
    let event = median_ns(scale, 2_000_000, |n| {
        let mut t = Transaction::new("web", 0);
        let start = Instant::now();
        for i in 0..n {
            if i % 1_000 == 999 {
                t = Transaction::new("web", 0);
            }
            t.start_event();
            t.finish_event(
                black_box("sql.active_record"),
                black_box("User Load"),
                "",
                BodyFormat::Plain,
            );
        }
        let elapsed = start.elapsed();
        black_box(t.events().len());
        elapsed
    });
    let floor = median_ns(scale, 2_000_000, |n| {
        let mut events: Vec<(Instant, Instant)> = Vec::with_capacity(1_000);
        timed(n, |i| {
            if i % 1_000 == 999 {
                events = Vec::with_capacity(1_000);
            }
            let start = Instant::now();
            events.push((start, black_box(Instant::now())));
        })
    });
    vec![row(
        "event push (start+finish)",
        event,
        "ns/event",
        "2 clock reads + Vec push",
        floor,
    )]
}

/// New transaction, 3 events, finish, Box, `try_send` on a bounded channel: what
/// `complete` costs the app thread, against sending an empty boxed record.
pub fn transaction_finish_and_send(scale: Scale) -> Vec<Row> {
    let iterations = scale.iterations(200_000);
    let (tx, rx) = bounded::<Box<v1::Transaction>>(iterations as usize + 1_000);
    let full = median_ns(scale, 200_000, |n| {
        let elapsed = timed(n, |_| {
            let mut t = Transaction::new("http_request", 0);
            t.set_action("Bench#run");
            for _ in 0..3 {
                t.start_event();
                t.finish_event("event.bench", "", "", BodyFormat::Plain);
            }
            let _ = tx.try_send(Box::new(t.finish()));
        });
        rx.try_iter().for_each(drop);
        elapsed
    });
    let floor = median_ns(scale, 200_000, |n| {
        let elapsed = timed(n, |_| {
            let _ = tx.try_send(Box::new(v1::Transaction::default()));
        });
        rx.try_iter().for_each(drop);
        elapsed
    });
    vec![row(
        "transaction 3 events + finish + send",
        full,
        "ns/tx",
        "empty Box + channel send",
        floor,
    )]
}

fn batch_of(transactions: u64, events: u64) -> ClientBatch {
    let now = now_unix_ns();
    ClientBatch {
        transactions: (0..transactions)
            .map(|i| sample_transaction(0, i, events, now))
            .collect(),
        ..Default::default()
    }
}

/// Frame encoding of a 16-transaction batch (4 events each), per transaction,
/// against copying the same bytes.
pub fn frame_encode(scale: Scale) -> Vec<Row> {
    const PER_FRAME: u64 = 16;
    let batch = batch_of(PER_FRAME, 4);
    let mut wire = Vec::with_capacity(64 * 1024);
    encode_frame(&batch, &mut wire);
    let bytes = wire.clone();
    let encode = median_ns(scale, 50_000, |n| {
        timed(n, |_| {
            wire.clear();
            encode_frame(black_box(&batch), &mut wire);
        })
    }) / PER_FRAME as f64;
    let copy = median_ns(scale, 50_000, |n| {
        timed(n, |_| {
            wire.clear();
            wire.extend_from_slice(black_box(&bytes));
        })
    }) / PER_FRAME as f64;
    vec![row(
        "frame encode (16 tx x 4 events)",
        encode,
        "ns/tx",
        "memcpy of the frame",
        copy,
    )]
}

/// What the agent does per event: decode frames and aggregate them, against decoding
/// alone. The derived figure is events per second on one core.
pub fn agent_decode_and_aggregate(scale: Scale) -> Vec<Row> {
    const EVENTS: u64 = 4;
    const PER_FRAME: u64 = 16;
    const FRAMES: u64 = 256;
    let now = now_unix_ns();
    let mut wire = Vec::new();
    for f in 0..FRAMES {
        let batch = ClientBatch {
            transactions: (0..PER_FRAME)
                .map(|i| sample_transaction(f % 4, f * PER_FRAME + i, EVENTS, now))
                .collect(),
            ..Default::default()
        };
        encode_frame(&batch, &mut wire);
    }
    let events_per_pass = (FRAMES * PER_FRAME * EVENTS) as f64;
    let passes = (scale.iterations(20) as usize).max(1);
    let mut aggregator = Aggregator::new(Arc::new(SystemClock));
    let mut per_event = |aggregate: bool| -> f64 {
        let mut samples: Vec<f64> = (0..scale.rounds.max(1) + 1)
            .map(|_| {
                let mut elapsed = Duration::ZERO;
                for _ in 0..passes {
                    let start = Instant::now();
                    let mut decoder = FrameDecoder::new();
                    decoder.push(&wire);
                    while let Ok(Some(batch)) = decoder.next_frame() {
                        if aggregate {
                            aggregator.apply(batch);
                        } else {
                            black_box(batch);
                        }
                    }
                    elapsed += start.elapsed();
                    // Taking is the transmission's job, every interval, not per event.
                    black_box(aggregator.take());
                }
                elapsed.as_nanos() as f64 / (events_per_pass * passes as f64)
            })
            .collect();
        samples.remove(0); // warm-up
        samples.sort_by(f64::total_cmp);
        samples[samples.len() / 2]
    };
    let full = per_event(true);
    let decode = per_event(false);
    let mut r = row(
        "agent decode + aggregate (4 events/tx)",
        full,
        "ns/event",
        "prost decode only",
        decode,
    );
    r.derived = Some(format!("{:.2} M events/s/core", 1e3 / full));
    vec![r]
}

/// One payload of 10,000 transactions, all kept as samples (the worst case: a
/// payload of errors): protobuf encode + gzip, against encode alone.
pub fn payload_encode_and_gzip(scale: Scale) -> Vec<Row> {
    let now = now_unix_ns();
    let payload = Payload {
        payload_id: "bench".into(),
        hostname: "bench-host".into(),
        samples: (0..10_000)
            .map(|i| sample_transaction(0, i, 4, now))
            .collect(),
        ..Default::default()
    };
    let median_of_rounds = |f: &mut dyn FnMut()| -> f64 {
        f(); // warm-up
        let mut samples: Vec<f64> = (0..scale.rounds.max(1))
            .map(|_| {
                let start = Instant::now();
                f();
                start.elapsed().as_nanos() as f64
            })
            .collect();
        samples.sort_by(f64::total_cmp);
        samples[samples.len() / 2]
    };
    let gzip = median_of_rounds(&mut || {
        black_box(
            crate::payload::gzip(black_box(&payload))
                .map(|b| b.len())
                .ok(),
        );
    });
    let encode = median_of_rounds(&mut || {
        black_box(black_box(&payload).encode_to_vec().len());
    });
    let size = payload.encoded_len();
    let mut r = row(
        "payload of 10k tx: encode + gzip",
        gzip / 1e6,
        "ms/payload",
        "encode only",
        encode / 1e6,
    );
    r.derived = Some(format!("{:.1} MB raw", size as f64 / 1e6));
    vec![r]
}

const QUERIES: &[(&str, Dialect, &str)] = &[
    (
        "SQL obfuscation: AR find (pg)",
        Dialect::Postgres,
        r#"SELECT "users".* FROM "users" WHERE "users"."id" = $1 LIMIT $2"#,
    ),
    (
        "SQL obfuscation: inlined literals (mysql)",
        Dialect::MySql,
        "SELECT `users`.* FROM `users` WHERE `users`.`email` = 'bob@example.com' AND `users`.`age` > 30 LIMIT 1",
    ),
    (
        "SQL obfuscation: IN list of 20 (pg)",
        Dialect::Postgres,
        r#"SELECT "posts".* FROM "posts" WHERE "posts"."id" IN (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20)"#,
    ),
];

/// Per query, against copying the query into the same buffer.
pub fn sql_obfuscation(scale: Scale) -> Vec<Row> {
    let mut buffer = String::with_capacity(1024);
    QUERIES
        .iter()
        .map(|&(name, dialect, sql)| {
            let obfuscate = median_ns(scale, 100_000, |n| {
                timed(n, |_| {
                    obfuscate_into(black_box(sql), dialect, &mut buffer);
                    black_box(&buffer);
                })
            });
            let copy = median_ns(scale, 100_000, |n| {
                timed(n, |_| {
                    buffer.clear();
                    buffer.push_str(black_box(sql));
                    black_box(&buffer);
                })
            });
            row(name, obfuscate, "ns/query", "copy of the query", copy)
        })
        .collect()
}
