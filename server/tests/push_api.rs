//! The Push API contract: auth, content checks, bounded bodies, gzip bombs, slow bodies, and
//! "enqueue, then 200".

mod common;

use common::*;
use std::io::{Read, Write};
use std::time::Duration;

#[tokio::test]
async fn auth_answers_200_for_a_known_key_and_401_otherwise() {
    let s = TestServer::start().await;
    let client = reqwest::Client::new();
    let ok = client
        .post(s.url(&format!("/1/auth?api_key={}", s.key)))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    let bad = client
        .post(s.url("/1/auth?api_key=nope"))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 401);
    s.running.stop().await;
}

#[tokio::test]
async fn transmit_rejects_bad_key_bad_type_bad_encoding_and_malformed_bodies() {
    let s = TestServer::start().await;
    let body = encode(&payload("p1"));
    let bad_key = post_payload(&s.url("/1/transmit?api_key=wrong&name=shop"), body.clone()).await;
    assert_eq!(bad_key, 401);

    let client = reqwest::Client::new();
    let wrong_type = client
        .post(s.transmit_url())
        .header("content-type", "application/json")
        .header("content-encoding", "gzip")
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(wrong_type.status(), 415);
    let wrong_encoding = client
        .post(s.transmit_url())
        .header("content-type", "application/x-protobuf")
        .header("content-encoding", "br")
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(wrong_encoding.status(), 415);

    // Valid gzip around bytes that are not a Payload.
    let garbage = post_payload(&s.transmit_url(), gzip(&[0xff, 0xff, 0xff, 0x07, 0x01])).await;
    assert_eq!(garbage, 400);
    // Not gzip at all.
    let not_gzip = post_payload(&s.transmit_url(), b"plain text".to_vec()).await;
    assert_eq!(not_gzip, 400);
    assert_eq!(
        s.running
            .push_api
            .as_ref()
            .unwrap()
            .stats
            .accepted
            .load(std::sync::atomic::Ordering::SeqCst),
        0
    );
    s.running.stop().await;
}

#[tokio::test]
async fn identity_encoding_is_accepted_too() {
    let s = TestServer::start().await;
    let mut p = payload("plain-1");
    p.actions.push(action_minute(
        "web",
        "HomeController#index",
        minute(now()),
        &[5.0],
        0,
    ));
    let status = reqwest::Client::new()
        .post(s.transmit_url())
        .header("content-type", "application/x-protobuf")
        .body(prost::Message::encode_to_vec(&p))
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 200);
    s.running.stop().await;
}

#[tokio::test]
async fn a_gzip_bomb_gets_413_without_inflating_it_all() {
    let s = TestServer::start_with(|c| c.limits.max_decompressed_bytes = 5 * 1024 * 1024).await;
    // 200 MB of zeros compresses to about 200 KB.
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    let zeros = vec![0u8; 1024 * 1024];
    for _ in 0..200 {
        e.write_all(&zeros).unwrap();
    }
    let bomb = e.finish().unwrap();
    assert!(bomb.len() < 1024 * 1024);
    let rss_before = rss_kb();
    let status = post_payload(&s.transmit_url(), bomb).await;
    assert_eq!(status, 413);
    let grown = rss_kb().saturating_sub(rss_before);
    assert!(grown < 60 * 1024, "RSS grew by {grown} kB on a gzip bomb");
    s.running.stop().await;
}

fn rss_kb() -> u64 {
    let mut status = String::new();
    std::fs::File::open("/proc/self/status")
        .unwrap()
        .read_to_string(&mut status)
        .unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

#[tokio::test]
async fn a_body_over_the_limit_gets_413() {
    let s = TestServer::start_with(|c| c.limits.max_body_bytes = 64 * 1024).await;
    let big: Vec<u8> = (0..200_000u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    let status = post_payload(&s.transmit_url(), big).await;
    assert_eq!(status, 413);
    s.running.stop().await;
}

#[tokio::test]
async fn a_slow_body_times_out_with_408() {
    let s = TestServer::start_with(|c| c.limits.read_timeout = Duration::from_millis(500)).await;
    let addr = s.addr;
    let path = s.transmit_url().replace(&format!("http://{addr}"), "");
    let response = tokio::task::spawn_blocking(move || {
        let mut stream = std::net::TcpStream::connect(addr).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        write!(
            stream,
            "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-protobuf\r\nContent-Encoding: gzip\r\nContent-Length: 1000\r\n\r\nabc"
        )
        .unwrap();
        let mut buf = [0u8; 512];
        let n = stream.read(&mut buf).unwrap();
        String::from_utf8_lossy(&buf[..n]).to_string()
    })
    .await
    .unwrap();
    assert!(response.starts_with("HTTP/1.1 408"), "{response}");
    s.running.stop().await;
}

#[tokio::test]
async fn accepted_payloads_are_queued_before_processing() {
    // No processor: the 200 must come from the queue alone.
    let s = TestServer::start_with(|c| c.role = appsignal_server::server::Role::Api).await;
    let mut p = payload("queued-1");
    p.actions
        .push(action_minute("web", "A#b", minute(now()), &[1.0, 2.0], 0));
    assert_eq!(s.send(&p).await, 200);
    let queued = rusqlite::Connection::open(s.dir.path().join("queue.sqlite3"))
        .unwrap()
        .query_row("SELECT COUNT(*) FROM queue", [], |r| r.get::<_, i64>(0))
        .unwrap();
    assert_eq!(queued, 1);
    let processed = scalar(&s.running.store, "SELECT COUNT(*) FROM action_minutes", &[]);
    assert_eq!(processed, 0);
    s.running.stop().await;
}
