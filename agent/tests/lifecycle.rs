//! Starting, taking over, stopping and surviving crashes, through the real binary.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, Instant};

use appsignal_proto::v1::ClientBatch;
use appsignal_testkit::{Mode, PushReceiver};
use common::*;

fn send_one(agent: &Agent, id: &str, action: &str) {
    let mut stream = agent.connect();
    send(
        &mut stream,
        &ClientBatch {
            hello: Some(hello(9)),
            transactions: vec![transaction(id, action, 5)],
            ..Default::default()
        },
    );
}

#[test]
fn without_a_push_api_key_the_agent_exits_1_and_says_why() {
    let wd = tempfile::tempdir().unwrap();
    let env = with(
        &base_env(wd.path(), "http://127.0.0.1:9"),
        "APPSIGNAL_PUSH_API_KEY",
        "",
    );
    let output = command(&env).output().unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("APPSIGNAL_PUSH_API_KEY"));
    assert!(read_log(wd.path()).contains("APPSIGNAL_PUSH_API_KEY"));
}

#[test]
fn an_unusable_working_directory_exits_non_zero_naming_it() {
    let root = tempfile::tempdir().unwrap();
    let file = root.path().join("not-a-dir");
    std::fs::write(&file, "x").unwrap();
    let wd = file.join("appsignal");
    let env = base_env(&wd, "http://127.0.0.1:9");
    let output = command(&env).output().unwrap();
    assert_ne!(output.status.code(), Some(0));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains(wd.to_str().unwrap()), "{stderr}");
    assert!(
        stderr.contains("APPSIGNAL_WORKING_DIRECTORY_PATH"),
        "{stderr}"
    );
}

#[test]
fn bad_env_values_are_logged_by_name_and_defaults_used() {
    let receiver = PushReceiver::start();
    let wd = tempfile::tempdir().unwrap();
    let env = with(
        &base_env(wd.path(), &receiver.endpoint()),
        "APPSIGNAL_LOG_LEVEL",
        "chatty",
    );
    let _agent = Agent::start_with(wd.path(), &env);
    let log = read_log(wd.path());
    assert!(
        log.contains("APPSIGNAL_LOG_LEVEL=\"chatty\" is not one of"),
        "{log}"
    );
}

#[test]
fn a_second_agent_with_the_same_config_exits_quietly() {
    let receiver = PushReceiver::start();
    let wd = tempfile::tempdir().unwrap();
    let first = Agent::start(wd.path(), &receiver.endpoint());
    let env = base_env(wd.path(), &receiver.endpoint());
    let status = command(&env).status().unwrap();
    assert_eq!(status.code(), Some(0));
    assert_eq!(lock_pid(wd.path()), Some(first.pid()));
    send_one(&first, "s1", "Still#first");
    assert!(
        receiver.wait_for(Duration::from_secs(10), |p| count_for(p, "Still#first")
            == 1)
    );
}

#[test]
fn a_different_config_takes_over_and_the_old_agent_flushes_and_exits() {
    let receiver = PushReceiver::start();
    let wd = tempfile::tempdir().unwrap();
    let mut env = base_env(wd.path(), &receiver.endpoint());
    // Long interval: the old agent only sends because it is replaced.
    env = with(&env, "APPSIGNAL_TRANSMISSION_INTERVAL", "3600");
    let mut old = Agent::start_with(wd.path(), &env);
    send_one(&old, "o1", "Old#pending");
    std::thread::sleep(Duration::from_millis(300));

    let new_env = with(&env, "APPSIGNAL_APP_NAME", "renamed-app");
    let new = Agent::start_with(wd.path(), &new_env);
    assert_ne!(new.pid(), old.pid());
    let status = old
        .wait_exit(Duration::from_secs(5))
        .expect("old agent exits");
    assert!(status.success());
    assert!(
        receiver.wait_for(Duration::from_secs(10), |p| count_for(p, "Old#pending")
            == 1)
    );
    // The new agent still owns the lock and its socket works.
    assert_eq!(lock_pid(wd.path()), Some(new.pid()));
    send_one(&new, "n1", "New#works");
    assert!(wd.path().join("agent.socket").exists());
    assert!(read_log(wd.path()).contains(&format!("agent {} took over", new.pid())));
}

#[test]
fn deleting_agent_lock_makes_the_agent_exit() {
    let receiver = PushReceiver::start();
    let wd = tempfile::tempdir().unwrap();
    let mut agent = Agent::start(wd.path(), &receiver.endpoint());
    std::fs::remove_file(wd.path().join("agent.lock")).unwrap();
    let started = Instant::now();
    let status = agent
        .wait_exit(Duration::from_secs(5))
        .expect("agent exits");
    assert!(status.success());
    assert!(started.elapsed() < Duration::from_secs(4));
}

#[test]
fn deleting_the_working_directory_makes_the_agent_exit() {
    let receiver = PushReceiver::start();
    let root = tempfile::tempdir().unwrap();
    let wd = root.path().join("wd");
    let mut agent = Agent::start(&wd, &receiver.endpoint());
    std::fs::remove_dir_all(&wd).unwrap();
    assert!(agent.wait_exit(Duration::from_secs(5)).is_some());
}

#[test]
fn sigterm_flushes_pending_data_and_removes_lock_and_socket() {
    let receiver = PushReceiver::start();
    let wd = tempfile::tempdir().unwrap();
    let env = with(
        &base_env(wd.path(), &receiver.endpoint()),
        "APPSIGNAL_TRANSMISSION_INTERVAL",
        "3600",
    );
    let mut agent = Agent::start_with(wd.path(), &env);
    send_one(&agent, "t1", "Term#flushed");
    std::thread::sleep(Duration::from_millis(300));
    agent.signal(15);
    let status = agent
        .wait_exit(Duration::from_secs(10))
        .expect("agent exits");
    assert_eq!(status.code(), Some(0));
    assert_eq!(count_for(&receiver.payloads(), "Term#flushed"), 1);
    assert!(!wd.path().join("agent.lock").exists());
    assert!(!wd.path().join("agent.socket").exists());
}

#[test]
fn the_journal_replays_data_after_sigkill() {
    let receiver = PushReceiver::start();
    let wd = tempfile::tempdir().unwrap();
    let env = with(
        &base_env(wd.path(), &receiver.endpoint()),
        "APPSIGNAL_TRANSMISSION_INTERVAL",
        "3600",
    );
    let mut crashed = Agent::start_with(wd.path(), &env);
    for i in 0..5 {
        send_one(&crashed, &format!("j{i}"), "Journal#kept");
    }
    std::thread::sleep(Duration::from_millis(400));
    crashed.signal(9);
    assert!(crashed.wait_exit(Duration::from_secs(5)).is_some());
    assert!(receiver.payloads().is_empty());

    let short = with(&env, "APPSIGNAL_TRANSMISSION_INTERVAL", "0.5");
    let _next = Agent::start_with(wd.path(), &short);
    assert!(
        receiver.wait_for(Duration::from_secs(10), |p| count_for(p, "Journal#kept")
            == 5)
    );
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(
        count_for(&receiver.payloads(), "Journal#kept"),
        5,
        "replayed exactly once"
    );
    assert!(read_log(wd.path()).contains("replaying 5 frames from the journal"));
}

#[test]
fn a_symlink_planted_at_the_log_path_is_not_followed() {
    let receiver = PushReceiver::start();
    let wd = tempfile::tempdir().unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    let victim = elsewhere.path().join("victim");
    std::fs::write(&victim, "precious").unwrap();
    let planted = elsewhere.path().join("agent.log");
    std::os::unix::fs::symlink(&victim, &planted).unwrap();
    let env = with(
        &base_env(wd.path(), &receiver.endpoint()),
        "APPSIGNAL_LOG_PATH",
        planted.to_str().unwrap(),
    );
    let agent = Agent::start_with(wd.path(), &env);
    send_one(&agent, "l1", "Log#safe");
    assert!(receiver.wait_for(Duration::from_secs(10), |p| count_for(p, "Log#safe") == 1));
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
    assert!(read_log(wd.path()).contains("symlink"));
}

#[test]
fn a_symlink_at_the_fallback_log_is_not_followed_either() {
    let receiver = PushReceiver::start();
    let wd = tempfile::tempdir().unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    let victim = elsewhere.path().join("victim");
    std::fs::write(&victim, "precious").unwrap();
    std::os::unix::fs::symlink(&victim, wd.path().join("appsignal.log")).unwrap();
    let agent = Agent::start(wd.path(), &receiver.endpoint());
    send_one(&agent, "l2", "Log#fallback");
    assert!(
        receiver.wait_for(Duration::from_secs(10), |p| count_for(p, "Log#fallback")
            == 1)
    );
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
}

#[test]
fn daemonize_returns_at_once_and_the_daemon_serves() {
    let receiver = PushReceiver::start();
    let wd = tempfile::tempdir().unwrap();
    let env = base_env(wd.path(), &receiver.endpoint());
    let started = Instant::now();
    let status = command(&env).arg("--daemonize").status().unwrap();
    assert_eq!(status.code(), Some(0));
    assert!(started.elapsed() < Duration::from_secs(2));
    assert!(wait_until(Duration::from_secs(10), || lock_pid(wd.path())
        .is_some()
        && std::os::unix::net::UnixStream::connect(
            wd.path().join("agent.socket")
        )
        .is_ok()));
    let daemon_pid = lock_pid(wd.path()).unwrap();
    let mut stream =
        std::os::unix::net::UnixStream::connect(wd.path().join("agent.socket")).unwrap();
    send(
        &mut stream,
        &ClientBatch {
            transactions: vec![transaction("d1", "Daemon#serves", 5)],
            ..Default::default()
        },
    );
    assert!(
        receiver.wait_for(Duration::from_secs(10), |p| count_for(p, "Daemon#serves")
            == 1)
    );
    // Stop it through the documented way: remove the lock.
    std::fs::remove_file(wd.path().join("agent.lock")).unwrap();
    assert!(wait_until(
        Duration::from_secs(5),
        || !std::path::Path::new(&format!("/proc/{daemon_pid}")).exists()
            || std::fs::read_to_string(format!("/proc/{daemon_pid}/stat"))
                .is_ok_and(|s| s.contains(") Z "))
    ));
}

#[test]
fn files_are_private_when_not_world_accessible() {
    let receiver = PushReceiver::start();
    receiver.set_mode(Mode::Accept);
    let root = tempfile::tempdir().unwrap();
    let wd = root.path().join("wd");
    let env = with(
        &base_env(&wd, &receiver.endpoint()),
        "APPSIGNAL_FILES_WORLD_ACCESSIBLE",
        "false",
    );
    let _agent = Agent::start_with(&wd, &env);
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&wd), 0o755);
    assert_eq!(mode(&wd.join("agent.lock")), 0o644);
    let wd2 = root.path().join("wd2");
    let _open = Agent::start(&wd2, &receiver.endpoint());
    assert_eq!(mode(&wd2), 0o777);
    assert_eq!(mode(&wd2.join("agent.lock")), 0o666);
    assert_eq!(mode(&wd2.join("agent.socket")), 0o666);
    assert_eq!(mode(&wd2.join("appsignal.log")), 0o666);
    assert_eq!(mode(&wd.join("appsignal.log")), 0o644);
    let journal = std::fs::read_dir(wd2.join("journal"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap();
    assert_eq!(mode(&journal.path()), 0o666);
}

#[test]
fn a_journal_left_by_an_agent_that_died_later_is_picked_up_while_running() {
    let receiver = PushReceiver::start();
    let wd = tempfile::tempdir().unwrap();
    let _agent = Agent::start(wd.path(), &receiver.endpoint());
    let mut wire = Vec::new();
    for i in 0..3 {
        appsignal_proto::frame::encode_frame(
            &ClientBatch {
                transactions: vec![transaction(&format!("o{i}"), "Orphan#adopted", 5)],
                ..Default::default()
            },
            &mut wire,
        );
    }
    // A pid above the kernel's pid_max default range: certainly not alive.
    std::fs::write(wd.path().join("journal/4194000.journal"), &wire).unwrap();
    assert!(
        receiver.wait_for(Duration::from_secs(10), |p| count_for(p, "Orphan#adopted")
            == 3)
    );
    assert!(!wd.path().join("journal/4194000.journal").exists());
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(count_for(&receiver.payloads(), "Orphan#adopted"), 3);
}
