//! What goes to the Push API, and what happens when it does not take it.

mod common;

use std::time::Duration;

use appsignal_proto::v1::ClientBatch;
use appsignal_testkit::{Mode, PushReceiver};
use common::*;

fn send_transactions(agent: &Agent, prefix: &str, action: &str, n: usize) {
    let mut stream = agent.connect();
    send(
        &mut stream,
        &ClientBatch {
            hello: Some(hello(42)),
            transactions: (0..n)
                .map(|i| transaction(&format!("{prefix}-{i}"), action, 5))
                .collect(),
            ..Default::default()
        },
    );
}

fn spooled_files(wd: &std::path::Path) -> usize {
    std::fs::read_dir(wd.join("payloads"))
        .map(|d| {
            d.flatten()
                .filter(|e| e.file_name().to_string_lossy().ends_with(".pb.gz"))
                .count()
        })
        .unwrap_or(0)
}

#[test]
fn the_request_carries_the_documented_query_and_headers() {
    let receiver = PushReceiver::start();
    let wd = tempfile::tempdir().unwrap();
    let agent = Agent::start(wd.path(), &receiver.endpoint());
    send_transactions(&agent, "q", "Q#one", 1);
    assert!(receiver.wait_for(Duration::from_secs(10), |p| !p.is_empty()));
    let request = receiver.requests().into_iter().next().unwrap();
    assert_eq!(request.method, "POST");
    assert!(
        request.path_and_query.starts_with(&format!(
            "/1/transmit?api_key={KEY}&name=agent-test&environment=test&hostname=test-host&gem_version=4.0.0"
        )),
        "{}",
        request.path_and_query
    );
    let header = |name: &str| {
        request
            .headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
    };
    assert_eq!(
        header("content-type").as_deref(),
        Some("application/x-protobuf")
    );
    assert_eq!(header("content-encoding").as_deref(), Some("gzip"));
}

#[test]
fn failed_payloads_are_spooled_and_retried_exactly_once() {
    let receiver = PushReceiver::start();
    receiver.set_mode(Mode::Status(500));
    let wd = tempfile::tempdir().unwrap();
    let agent = Agent::start(wd.path(), &receiver.endpoint());

    send_transactions(&agent, "a", "Retry#first", 10);
    assert!(wait_until(Duration::from_secs(10), || spooled_files(
        wd.path()
    ) >= 1));
    std::thread::sleep(Duration::from_millis(700));
    send_transactions(&agent, "b", "Retry#second", 7);
    assert!(wait_until(Duration::from_secs(10), || spooled_files(
        wd.path()
    ) >= 2));
    assert!(receiver.payloads().is_empty());

    receiver.set_mode(Mode::Accept);
    assert!(
        receiver.wait_for(Duration::from_secs(15), |p| count_for(p, "Retry#first")
            >= 10
            && count_for(p, "Retry#second") >= 7),
        "log:\n{}",
        read_log(wd.path())
    );
    // Give any duplicate a chance to show up before counting.
    std::thread::sleep(Duration::from_secs(2));
    let payloads = receiver.payloads();
    assert_eq!(count_for(&payloads, "Retry#first"), 10);
    assert_eq!(count_for(&payloads, "Retry#second"), 7);
    assert_eq!(spooled_files(wd.path()), 0);
    assert!(receiver.requests().iter().any(|r| r.status == 500));
    let log = read_log(wd.path());
    assert!(
        log.contains("kept in the payloads directory for retry"),
        "{log}"
    );
}

#[test]
fn unauthorized_payloads_are_not_retried_and_the_key_is_named() {
    let receiver = PushReceiver::start();
    receiver.set_mode(Mode::Status(401));
    let wd = tempfile::tempdir().unwrap();
    let agent = Agent::start(wd.path(), &receiver.endpoint());
    send_transactions(&agent, "u", "Auth#denied", 3);
    assert!(wait_until(Duration::from_secs(10), || receiver
        .requests()
        .iter()
        .any(|r| r.status == 401)));
    std::thread::sleep(Duration::from_secs(2));
    let attempts = receiver
        .requests()
        .iter()
        .filter(|r| r.path_and_query.starts_with("/1/transmit"))
        .count();
    assert_eq!(attempts, 1, "a 401 must not be retried");
    assert_eq!(spooled_files(wd.path()), 0);
    let log = read_log(wd.path());
    assert!(log.contains("push API key is wrong"), "{log}");
    assert!(log.contains("APPSIGNAL_PUSH_API_KEY"), "{log}");
}

#[test]
fn too_large_payloads_are_not_retried() {
    let receiver = PushReceiver::start();
    receiver.set_mode(Mode::Status(413));
    let wd = tempfile::tempdir().unwrap();
    let agent = Agent::start(wd.path(), &receiver.endpoint());
    send_transactions(&agent, "l", "Big#one", 3);
    assert!(wait_until(Duration::from_secs(10), || read_log(wd.path())
        .contains("too large")));
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(receiver.requests().len(), 1);
    assert_eq!(spooled_files(wd.path()), 0);
}

#[test]
fn the_push_api_key_never_reaches_the_log() {
    // Nothing listens on this port: every attempt fails and is logged with its URL.
    let wd = tempfile::tempdir().unwrap();
    let agent = Agent::start(wd.path(), "http://127.0.0.1:9");
    send_transactions(&agent, "k", "Key#hidden", 2);
    assert!(wait_until(Duration::from_secs(10), || read_log(wd.path())
        .contains("kept in the payloads directory")));
    let log = read_log(wd.path());
    assert!(
        log.contains("http://127.0.0.1:9/1/transmit?api_key=[REDACTED]&name=agent-test"),
        "{log}"
    );
    assert!(
        !log.contains(KEY),
        "the push API key leaked into the log:\n{log}"
    );
}

#[test]
fn a_new_agent_sends_what_an_old_one_left_in_payloads() {
    let receiver = PushReceiver::start();
    receiver.set_mode(Mode::Status(503));
    let wd = tempfile::tempdir().unwrap();
    let mut old = Agent::start(wd.path(), &receiver.endpoint());
    send_transactions(&old, "o", "Left#behind", 4);
    assert!(wait_until(Duration::from_secs(10), || spooled_files(
        wd.path()
    ) >= 1));
    old.signal(15);
    assert!(old.wait_exit(Duration::from_secs(10)).is_some());
    assert!(receiver.payloads().is_empty());

    receiver.set_mode(Mode::Accept);
    let _new = Agent::start(wd.path(), &receiver.endpoint());
    assert!(
        receiver.wait_for(Duration::from_secs(10), |p| count_for(p, "Left#behind")
            == 4)
    );
    assert!(wait_until(Duration::from_secs(5), || spooled_files(
        wd.path()
    ) == 0));
}

#[test]
fn many_actions_trigger_an_early_transmission() {
    let receiver = PushReceiver::start();
    let wd = tempfile::tempdir().unwrap();
    let mut env = base_env(wd.path(), &receiver.endpoint());
    for (k, v) in env.iter_mut() {
        if k == "APPSIGNAL_TRANSMISSION_INTERVAL" {
            *v = "3600".into();
        }
    }
    let agent = Agent::start_with(wd.path(), &env);
    let mut stream = agent.connect();
    for chunk in 0..6 {
        send(
            &mut stream,
            &ClientBatch {
                transactions: (0..1000)
                    .map(|i| {
                        transaction(&format!("e{chunk}-{i}"), &format!("Many#a{chunk}-{i}"), 1)
                    })
                    .collect(),
                ..Default::default()
            },
        );
    }
    assert!(
        receiver.wait_for(Duration::from_secs(10), |p| !p.is_empty()),
        "an hour-long interval must not hold back 6000 series"
    );
}

#[test]
fn a_hanging_push_api_times_out_and_the_payload_is_retried_once() {
    let receiver = PushReceiver::start();
    receiver.set_mode(Mode::Hang);
    let wd = tempfile::tempdir().unwrap();
    let agent = Agent::start(wd.path(), &receiver.endpoint());
    send_transactions(&agent, "h", "Hang#first", 3);
    assert!(
        wait_until(Duration::from_secs(15), || read_log(wd.path())
            .contains("timed out")),
        "log:\n{}",
        read_log(wd.path())
    );
    // Ingest keeps working while a POST hangs.
    send_transactions(&agent, "h2", "Hang#during", 2);
    receiver.set_mode(Mode::Accept);
    assert!(
        receiver.wait_for(Duration::from_secs(20), |p| count_for(p, "Hang#first") == 3
            && count_for(p, "Hang#during") == 2)
    );
    std::thread::sleep(Duration::from_secs(1));
    let payloads = receiver.payloads();
    assert_eq!(count_for(&payloads, "Hang#first"), 3);
    assert_eq!(count_for(&payloads, "Hang#during"), 2);
}

#[test]
fn sigterm_with_a_hanging_push_api_exits_promptly_and_keeps_the_payload() {
    let receiver = PushReceiver::start();
    receiver.set_mode(Mode::Hang);
    let wd = tempfile::tempdir().unwrap();
    let mut env = base_env(wd.path(), &receiver.endpoint());
    for (k, v) in env.iter_mut() {
        if k == "APPSIGNAL_TRANSMISSION_INTERVAL" {
            *v = "3600".into();
        }
    }
    let mut agent = Agent::start_with(wd.path(), &env);
    send_transactions(&agent, "s", "Stop#kept", 4);
    std::thread::sleep(Duration::from_millis(300));
    let started = std::time::Instant::now();
    agent.signal(15);
    let status = agent
        .wait_exit(Duration::from_secs(10))
        .expect("agent exits");
    assert_eq!(status.code(), Some(0));
    assert!(started.elapsed() < Duration::from_secs(6));
    assert_eq!(spooled_files(wd.path()), 1);

    receiver.set_mode(Mode::Accept);
    let _next = Agent::start(wd.path(), &receiver.endpoint());
    assert!(receiver.wait_for(Duration::from_secs(10), |p| count_for(p, "Stop#kept") == 4));
}
