//! Exactly once across crashes: the agent kills itself (APPSIGNAL_AGENT_CRASH_AT) at
//! each step of a transmission and of a journal replay where a SIGKILL could count
//! data twice or lose it, the next agent takes over, and the Push API must have
//! every transaction once (payloads deduplicated by payload_id, as the Push API
//! does). A kill from outside lands on these steps only now and then; here each one
//! is hit every run.

mod common;

use std::collections::HashSet;
use std::path::Path;
use std::process::Child;
use std::time::Duration;

use appsignal_proto::v1::{ClientBatch, Payload};
use appsignal_testkit::PushReceiver;
use common::*;

const ACTION: &str = "Crash#counted";
const PER_AGENT: usize = 40;

/// Starts an agent and waits until it serves its socket or has exited (a crash
/// point during journal replay is reached before it serves anything).
fn spawn_agent(env: &[(String, String)], wd: &Path) -> (Child, bool) {
    let mut child = command(env).spawn().expect("spawn agent");
    let pid = child.id();
    let mut serving = false;
    wait_until(Duration::from_secs(10), || {
        if child.try_wait().unwrap().is_some() {
            return true;
        }
        serving = lock_pid(wd) == Some(pid)
            && std::os::unix::net::UnixStream::connect(wd.join("agent.socket")).is_ok();
        serving
    });
    (child, serving)
}

/// Sends `PER_AGENT` transactions, each in its own frame, and returns how many.
fn send_all(wd: &Path, tag: &str) -> usize {
    let mut stream = std::os::unix::net::UnixStream::connect(wd.join("agent.socket"))
        .expect("connect to agent socket");
    send(
        &mut stream,
        &ClientBatch {
            hello: Some(hello(std::process::id())),
            ..Default::default()
        },
    );
    for i in 0..PER_AGENT {
        send(
            &mut stream,
            &ClientBatch {
                transactions: vec![transaction(&format!("{tag}-{i}"), ACTION, 3)],
                ..Default::default()
            },
        );
    }
    PER_AGENT
}

fn deduplicated(payloads: Vec<Payload>) -> Vec<Payload> {
    let mut seen = HashSet::new();
    payloads
        .into_iter()
        .filter(|p| seen.insert(p.payload_id.clone()))
        .collect()
}

/// Runs one agent per entry of `crashes` (`None`: no crash point, stopped with
/// SIGTERM at the end) on one working directory and checks the totals.
fn assert_exactly_once(crashes: &[Option<&str>]) {
    let receiver = PushReceiver::start();
    let wd = tempfile::tempdir().unwrap();
    let base = with(
        &base_env(wd.path(), &receiver.endpoint()),
        "APPSIGNAL_TRANSMISSION_INTERVAL",
        "1",
    );
    let mut sent = 0;
    for (n, crash) in crashes.iter().enumerate() {
        let env = match crash {
            Some(point) => with(&base, "APPSIGNAL_AGENT_CRASH_AT", point),
            None => base.clone(),
        };
        let (mut child, serving) = spawn_agent(&env, wd.path());
        // An agent meant to die while replaying journals may still be caught serving.
        let dies_at_start = crash.is_some_and(|p| p.starts_with("adopt:"));
        if serving && !dies_at_start {
            sent += send_all(wd.path(), &format!("a{n}"));
        }
        match crash {
            Some(point) => {
                let exited = wait_until(Duration::from_secs(10), || {
                    child.try_wait().unwrap().is_some()
                });
                assert!(
                    exited,
                    "agent {n} never reached {point}; log:\n{}",
                    read_log(wd.path())
                );
            }
            None => {
                // Payloads left in the spool go out on the next transmission (the
                // final flush at SIGTERM sends only its own).
                receiver.wait_for(Duration::from_secs(10), |p| {
                    count_for(&deduplicated(p.to_vec()), ACTION) >= sent as u64
                });
                unsafe_kill(child.id(), 15);
                let status = child.wait().unwrap();
                assert_eq!(status.code(), Some(0), "log:\n{}", read_log(wd.path()));
            }
        }
    }
    let complete = receiver.wait_for(Duration::from_secs(10), |p| {
        count_for(&deduplicated(p.to_vec()), ACTION) >= sent as u64
    });
    // Give a double count time to show.
    std::thread::sleep(Duration::from_millis(500));
    let received = count_for(&deduplicated(receiver.payloads()), ACTION);
    assert!(complete, "received {received} of {sent}");
    assert_eq!(
        received,
        sent as u64,
        "crashes at {crashes:?}: sent {sent}, received {received}; log:\n{}",
        read_log(wd.path())
    );
    let left: Vec<_> = std::fs::read_dir(wd.path().join("journal"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert!(left.is_empty(), "journal files left: {left:?}");
}

#[test]
fn a_crash_after_rotating_the_journal_replays_the_interval_once() {
    assert_exactly_once(&[Some("flush:after_rotate"), None]);
}

#[test]
fn a_crash_after_storing_the_payload_does_not_replay_its_journal() {
    assert_exactly_once(&[Some("flush:after_store"), None]);
}

#[test]
fn a_crash_after_finishing_the_flush_sends_the_stored_payload_once() {
    assert_exactly_once(&[Some("flush:after_finish"), None]);
}

#[test]
fn a_crash_after_the_push_api_accepted_resends_under_the_same_id() {
    assert_exactly_once(&[Some("send:after_accept"), None]);
}

#[test]
fn a_crash_while_adopting_a_dead_agents_journal_replays_it_once() {
    assert_exactly_once(&[Some("flush:after_rotate"), Some("adopt:after_take"), None]);
}

#[test]
fn adopted_segments_stored_with_a_payload_are_not_replayed() {
    // The second agent adopts the first one's segment and dies after storing the
    // payload that holds both: the third must replay neither.
    assert_exactly_once(&[Some("flush:after_rotate"), Some("flush:after_store"), None]);
}

#[test]
fn crashes_in_a_row_at_every_step_count_each_transaction_once() {
    assert_exactly_once(&[
        Some("flush:after_rotate"),
        Some("adopt:after_take"),
        Some("flush:after_store"),
        Some("flush:after_rotate@2"),
        Some("send:after_accept"),
        Some("flush:after_finish"),
        None,
    ]);
}

#[test]
fn an_unknown_crash_point_stops_the_agent_with_the_list() {
    let receiver = PushReceiver::start();
    let wd = tempfile::tempdir().unwrap();
    let env = with(
        &base_env(wd.path(), &receiver.endpoint()),
        "APPSIGNAL_AGENT_CRASH_AT",
        "flush:after_lunch",
    );
    let output = command(&env).output().unwrap();
    assert_eq!(output.status.code(), Some(1));
    let log = read_log(wd.path());
    assert!(
        log.contains("\"flush:after_lunch\"") && log.contains("flush:after_store"),
        "{log}"
    );
}
