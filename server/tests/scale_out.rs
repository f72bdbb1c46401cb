//! Scale-out mode with the real services: NATS JetStream as the queue, PostgreSQL as the store,
//! one API process and two processor processes (the shipped binary). Redelivered payloads
//! (same payload_id) must not double count, and both processors must take work.

mod common;

use common::*;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_appsignal-server");

struct Kill(Vec<Child>);
impl Drop for Kill {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn pg_scalar(url: &str, schema: &str, sql: &str) -> i64 {
    let mut c = postgres::Client::connect(url, postgres::NoTls).unwrap();
    c.batch_execute(&format!("SET search_path TO {schema}"))
        .unwrap();
    c.query_one(sql, &[])
        .map(|r| r.get::<_, Option<i64>>(0).unwrap_or(0))
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nats_and_postgres_with_two_processors_do_not_double_count_redeliveries() {
    let schema = unique("t");
    let stream = unique("S").to_uppercase();
    let base = "postgres://postgres@127.0.0.1:5432/test";
    let store = format!("{base}?schema={schema}");
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap().to_string();

    let created = Command::new(BIN)
        .args(["app", "create", "shop", "--store", &store, "--data", &data])
        .output()
        .unwrap();
    assert!(
        created.status.success(),
        "{}",
        String::from_utf8_lossy(&created.stderr)
    );
    let stdout = String::from_utf8(created.stdout).unwrap();
    let key = stdout.lines().last().unwrap().trim().to_string();
    assert!(
        key.len() >= 32 && key.chars().all(|c| c.is_ascii_hexdigit()),
        "{key}"
    );

    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let common_args = [
        "--queue",
        "nats://127.0.0.1:4222",
        "--nats-stream",
        &stream,
        "--store",
        &store,
        "--data",
        &data,
    ];
    let spawn = |args: &[&str]| {
        Command::new(BIN)
            .args(args)
            .args(common_args)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap()
    };
    let mut children = Kill(vec![spawn(&[
        "serve", "--role", "api", "--listen", &listen,
    ])]);
    children.0.push(spawn(&["process"]));
    children.0.push(spawn(&["process"]));

    let client = reqwest::Client::new();
    let auth = format!("http://{listen}/1/auth?api_key={key}");
    let mut up = false;
    for _ in 0..100 {
        if client
            .post(&auth)
            .send()
            .await
            .map(|r| r.status() == 200)
            .unwrap_or(false)
        {
            up = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(up, "API process did not come up");

    let url = format!("http://{listen}/1/transmit?api_key={key}&name=shop&environment=production&hostname=h&gem_version=1");
    let m = minute(now());
    let mut payloads = Vec::new();
    for i in 0..60 {
        let mut p = payload(&format!("{stream}-{i}"));
        p.actions
            .push(action_minute("web", "A#b", m, &[10.0, 20.0, 30.0], 1));
        payloads.push(encode(&p));
    }
    for body in &payloads {
        assert_eq!(post_payload(&url, body.clone()).await, 200);
    }
    // The agent retries a payload whose answer it lost: same payload_id, sent again.
    for body in payloads.iter().take(15) {
        assert_eq!(post_payload(&url, body.clone()).await, 200);
    }

    let count_sql = "SELECT CAST(COALESCE(SUM(count), 0) AS BIGINT) FROM action_minutes";
    let (s2, st2) = (base.to_string(), schema.clone());
    let mut total = 0;
    for _ in 0..200 {
        let (s, st) = (s2.clone(), st2.clone());
        total = tokio::task::spawn_blocking(move || pg_scalar(&s, &st, count_sql))
            .await
            .unwrap();
        if total >= 180 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(total, 180);
    // Let any redelivery land, then check nothing was counted twice.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (s, st) = (s2.clone(), st2.clone());
    let (total, processed, processors, buckets) = tokio::task::spawn_blocking(move || {
        (
            pg_scalar(&s, &st, count_sql),
            pg_scalar(&s, &st, "SELECT COUNT(*) FROM processed_payloads"),
            pg_scalar(
                &s,
                &st,
                "SELECT COUNT(DISTINCT processor) FROM processed_payloads",
            ),
            pg_scalar(
                &s,
                &st,
                "SELECT CAST(SUM(count) AS BIGINT) FROM action_minute_buckets",
            ),
        )
    })
    .await
    .unwrap();
    assert_eq!(total, 180);
    assert_eq!(buckets, 180);
    assert_eq!(processed, 60);
    assert_eq!(
        processors, 2,
        "both processor processes should have taken work"
    );

    // The dashboard served by the API process reads the same store.
    let html = client
        .get(format!("http://{listen}/apps/1"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("<td class=\"n count\">180</td>"), "{html}");
    drop(children);
    // Leave the shared NATS server and database as they were.
    if let Ok(client) = async_nats::connect("nats://127.0.0.1:4222").await {
        let _ = async_nats::jetstream::new(client)
            .delete_stream(&stream)
            .await;
    }
    let _ = tokio::task::spawn_blocking(move || {
        let mut c = postgres::Client::connect(&s2, postgres::NoTls).unwrap();
        c.batch_execute(&format!("DROP SCHEMA {st2} CASCADE"))
            .unwrap();
    })
    .await;
}
