//! Notifications end to end: a local webhook receiver (failing once, to prove retries) and a
//! local SMTP receiver; at most one notification per incident per interval.

mod common;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use axum::Router;
use common::*;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

#[derive(Default)]
struct Received {
    bodies: Vec<serde_json::Value>,
    calls: usize,
}

async fn hook(State(r): State<Arc<Mutex<Received>>>, body: String) -> StatusCode {
    let mut r = r.lock().unwrap();
    r.calls += 1;
    if r.calls == 1 {
        return StatusCode::INTERNAL_SERVER_ERROR; // the sender must retry
    }
    r.bodies.push(serde_json::from_str(&body).unwrap());
    StatusCode::OK
}

/// Accepts one SMTP session per connection and records each message's DATA.
async fn smtp_receiver(listener: tokio::net::TcpListener, mails: Arc<Mutex<Vec<String>>>) {
    while let Ok((stream, _)) = listener.accept().await {
        let mails = mails.clone();
        tokio::spawn(async move {
            let (r, mut w) = stream.into_split();
            let mut r = BufReader::new(r);
            w.write_all(b"220 test\r\n").await.unwrap();
            let mut line = String::new();
            loop {
                line.clear();
                if r.read_line(&mut line).await.unwrap() == 0 {
                    return;
                }
                let cmd = line.trim_end().to_ascii_uppercase();
                if cmd.starts_with("DATA") {
                    w.write_all(b"354 go\r\n").await.unwrap();
                    let mut data = String::new();
                    loop {
                        line.clear();
                        r.read_line(&mut line).await.unwrap();
                        if line == ".\r\n" {
                            break;
                        }
                        data.push_str(&line);
                    }
                    mails.lock().unwrap().push(data);
                    w.write_all(b"250 queued\r\n").await.unwrap();
                } else if cmd.starts_with("QUIT") {
                    w.write_all(b"221 bye\r\n").await.unwrap();
                    return;
                } else {
                    w.write_all(b"250 ok\r\n").await.unwrap();
                }
            }
        });
    }
}

#[tokio::test]
async fn incidents_and_deploys_notify_webhook_and_email_once_per_interval_with_retries() {
    let received = Arc::new(Mutex::new(Received::default()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hook_addr = listener.local_addr().unwrap();
    let app = Router::new()
        .route("/hook", post(hook))
        .with_state(received.clone());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let smtp_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let smtp_addr = smtp_listener.local_addr().unwrap();
    let mails = Arc::new(Mutex::new(Vec::new()));
    tokio::spawn(smtp_receiver(smtp_listener, mails.clone()));

    let s = TestServer::start_with(|c| c.smtp.server = smtp_addr.to_string()).await;
    s.running
        .store
        .add_notifier(s.app_id, "webhook", &format!("http://{hook_addr}/hook"))
        .unwrap();
    s.running
        .store
        .add_notifier(s.app_id, "email", "ops@example.com")
        .unwrap();

    let m = minute(now());
    let mut p = payload("n-1");
    p.samples.push(transaction(
        "t1",
        "web",
        "UsersController#show",
        m,
        12.0,
        Some("NoMethodError"),
    ));
    p.revisions.push("rev-1".into());
    assert_eq!(s.send(&p).await, 200);
    // The same error again: the incident's count grows, but no second notification.
    let mut q = payload("n-2");
    q.samples.push(transaction(
        "t2",
        "web",
        "UsersController#show",
        m + 1,
        12.0,
        Some("NoMethodError"),
    ));
    assert_eq!(s.send(&q).await, 200);

    wait_until("two webhook deliveries", Duration::from_secs(15), || {
        received.lock().unwrap().bodies.len() >= 2
    })
    .await;
    wait_until("two emails", Duration::from_secs(15), || {
        mails.lock().unwrap().len() >= 2
    })
    .await;
    let store = s.running.store.clone();
    wait_until("second error processed", Duration::from_secs(10), || {
        scalar(
            &store,
            "SELECT count FROM incidents WHERE kind = 'error'",
            &[],
        ) == 2
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;

    let r = std::mem::take(&mut *received.lock().unwrap());
    let kinds: Vec<&str> = r
        .bodies
        .iter()
        .map(|b| b["kind"].as_str().unwrap())
        .collect();
    assert_eq!(r.bodies.len(), 2, "{kinds:?}");
    assert!(kinds.contains(&"error_incident"), "{kinds:?}");
    assert!(kinds.contains(&"deploy"), "{kinds:?}");
    assert!(r.calls >= 3, "the failed first delivery was retried");
    let error = r
        .bodies
        .iter()
        .find(|b| b["kind"] == "error_incident")
        .unwrap();
    assert_eq!(error["app"], "shop");
    assert_eq!(error["data"]["exception"], "NoMethodError");
    let mails = std::mem::take(&mut *mails.lock().unwrap());
    assert_eq!(mails.len(), 2);
    assert!(
        mails
            .iter()
            .any(|m| m.contains("Subject: [shop] NoMethodError in UsersController#show")),
        "{mails:?}"
    );
    s.running.stop().await;
}
