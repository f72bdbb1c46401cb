//! Load generator: measures payloads/s accepted by the Push API and transactions/s processed.
//!
//! cargo run --release -p appsignal-server --example push_load -- \
//!   http://127.0.0.1:8099 API_KEY STORE DATA [PAYLOADS] [CONCURRENCY] [MODE]
//! STORE/DATA are the server's --store/--data, read to see when processing finished.
//! MODE: `both` (default) sends and waits until all are processed; `push` only sends (run
//! the server with `--role api` to measure the Push API alone); `drain` sends nothing and
//! times the processors from the first payload they finish until PAYLOADS more are done
//! (start it, then start the `process` processes).

use appsignal_proto::histogram;
use appsignal_proto::v1::{ActionMinute, Histogram, Payload, Transaction};
use appsignal_server::store::Store;
use flate2::write::GzEncoder;
use prost::Message;
use std::io::Write;
use std::time::{Duration, Instant};

fn build(i: usize, minute: i64) -> Vec<u8> {
    // 20 actions × 50 transactions and 5 samples: 1,000 transactions per payload, about what
    // a busy app instance sends every 30 s.
    let mut p = Payload {
        payload_id: format!("load-{}-{i}", std::process::id()),
        hostname: "load".into(),
        ..Default::default()
    };
    for a in 0..20 {
        let mut h = Histogram::default();
        for d in 0..50 {
            histogram::record(&mut h, 5.0 + d as f64);
        }
        p.actions.push(ActionMinute {
            namespace: "web".into(),
            action: format!("Controller{a}#show"),
            minute_unix: minute,
            count: 50,
            error_count: 1,
            total_duration_ms: 1475.0,
            min_duration_ms: 5.0,
            max_duration_ms: 54.0,
            duration_ms: Some(h),
            ..Default::default()
        });
    }
    for s in 0..5 {
        p.samples.push(Transaction {
            id: format!("load-{}-{i}-{s}", std::process::id()),
            namespace: "web".into(),
            action: format!("Controller{s}#show"),
            start_time_unix_ns: minute * 1_000_000_000,
            duration_ns: 20_000_000,
            ..Default::default()
        });
    }
    let mut e = GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let _ = e.write_all(&p.encode_to_vec());
    e.finish().unwrap_or_default()
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let [_, endpoint, key, store, data, ..] = args.as_slice() else {
        anyhow::bail!("usage: push_load ENDPOINT API_KEY STORE DATA [PAYLOADS] [CONCURRENCY]");
    };
    let total: usize = args.get(5).and_then(|v| v.parse().ok()).unwrap_or(2000);
    let concurrency: usize = args.get(6).and_then(|v| v.parse().ok()).unwrap_or(16);
    let mode = args.get(7).map(String::as_str).unwrap_or("both");
    let store = tokio::task::block_in_place(|| Store::open(store, std::path::Path::new(data)))?;
    let before = processed(&store);
    if mode == "drain" {
        return drain(&store, before, total).await;
    }
    let minute = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs() as i64
        / 60
        * 60;
    let bodies: Vec<Vec<u8>> = (0..total).map(|i| build(i, minute)).collect();
    let url = format!("{endpoint}/1/transmit?api_key={key}&name=load&environment=bench&hostname=load&gem_version=0");
    let client = reqwest::Client::new();
    let start = Instant::now();
    let mut tasks = Vec::new();
    let chunks: Vec<Vec<Vec<u8>>> = bodies
        .chunks(total.div_ceil(concurrency))
        .map(|c| c.to_vec())
        .collect();
    for chunk in chunks {
        let (client, url) = (client.clone(), url.clone());
        tasks.push(tokio::spawn(async move {
            let mut ok = 0usize;
            for body in chunk {
                let r = client
                    .post(&url)
                    .header("content-type", "application/x-protobuf")
                    .header("content-encoding", "gzip")
                    .body(body)
                    .send()
                    .await;
                if r.map(|r| r.status().is_success()).unwrap_or(false) {
                    ok += 1;
                }
            }
            ok
        }));
    }
    let mut accepted = 0;
    for t in tasks {
        accepted += t.await?;
    }
    let push_secs = start.elapsed().as_secs_f64();
    println!(
        "accepted {accepted}/{total} payloads in {push_secs:.2}s: {:.0} payloads/s",
        accepted as f64 / push_secs
    );
    if mode == "push" {
        return Ok(());
    }
    loop {
        let done = processed(&store) - before;
        if done >= accepted as i64 || start.elapsed() > Duration::from_secs(600) {
            let secs = start.elapsed().as_secs_f64();
            println!(
                "processed {done} payloads ({} transactions) in {secs:.2}s from first send: {:.0} payloads/s, {:.0} transactions/s",
                done * 1000,
                done as f64 / secs,
                done as f64 * 1000.0 / secs
            );
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Times the processors alone: from the first payload they finish to `total` more.
async fn drain(store: &Store, before: i64, total: usize) -> anyhow::Result<()> {
    println!("drain: {before} processed so far; waiting for {total} more");
    let mut first = None;
    loop {
        let done = processed(store) - before;
        if done > 0 && first.is_none() {
            first = Some((Instant::now(), done));
        }
        if let Some((start, at_start)) = first {
            if done >= total as i64 {
                let secs = start.elapsed().as_secs_f64();
                let n = (done - at_start) as f64;
                println!(
                    "processed {} payloads ({} transactions) in {secs:.2}s: {:.0} payloads/s, {:.0} transactions/s",
                    done - at_start,
                    (done - at_start) * 1000,
                    n / secs,
                    n * 1000.0 / secs
                );
                return Ok(());
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn processed(store: &Store) -> i64 {
    // The store is blocking; PostgreSQL's client must not block an async thread.
    tokio::task::block_in_place(|| {
        store
            .db
            .read("SELECT COUNT(*) FROM processed_payloads", &[])
            .ok()
            .and_then(|r| r.first().and_then(|r| r.i64(0).ok()))
            .unwrap_or(0)
    })
}
