//! Drives the real agent binary: spawn it with a temp working directory, talk to it
//! over its socket, read its log.
#![allow(dead_code)]

use std::io::Write;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use appsignal_proto::frame::encode_frame;
use appsignal_proto::v1::{ClientBatch, ClientHello, ErrorInfo, Event, Payload, Transaction};

pub const KEY: &str = "test-push-api-key-3f9a1c";
pub const BIN: &str = env!("CARGO_BIN_EXE_appsignal-agent");

pub struct Agent {
    pub child: Child,
    pub wd: PathBuf,
}

pub fn base_env(wd: &Path, endpoint: &str) -> Vec<(String, String)> {
    [
        ("APPSIGNAL_PUSH_API_KEY", KEY),
        ("APPSIGNAL_APP_NAME", "agent-test"),
        ("APPSIGNAL_APP_ENV", "test"),
        ("APPSIGNAL_PUSH_API_ENDPOINT", endpoint),
        ("APPSIGNAL_WORKING_DIRECTORY_PATH", wd.to_str().unwrap()),
        ("APPSIGNAL_TRANSMISSION_INTERVAL", "0.5"),
        ("APPSIGNAL_ENABLE_HOST_METRICS", "false"),
        ("APPSIGNAL_HOSTNAME", "test-host"),
        ("APPSIGNAL_LOG_LEVEL", "debug"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

/// `env` with `key` set to `value` (replacing an earlier value).
pub fn with(env: &[(String, String)], key: &str, value: &str) -> Vec<(String, String)> {
    let mut env: Vec<_> = env.iter().filter(|(k, _)| k != key).cloned().collect();
    env.push((key.to_string(), value.to_string()));
    env
}

pub fn command(env: &[(String, String)]) -> Command {
    let mut command = Command::new(BIN);
    command.env_clear();
    command.env("PATH", std::env::var("PATH").unwrap_or_default());
    for (k, v) in env {
        command.env(k, v);
    }
    command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    command
}

impl Agent {
    pub fn start(wd: &Path, endpoint: &str) -> Agent {
        Agent::start_with(wd, &base_env(wd, endpoint))
    }

    pub fn start_with(wd: &Path, env: &[(String, String)]) -> Agent {
        let child = command(env).spawn().expect("spawn agent");
        let agent = Agent {
            child,
            wd: wd.to_path_buf(),
        };
        agent.wait_for_socket();
        agent
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn wait_for_socket(&self) {
        assert!(
            wait_until(Duration::from_secs(10), || lock_pid(&self.wd)
                == Some(self.pid())
                && UnixStream::connect(self.wd.join("agent.socket")).is_ok()),
            "agent did not come up; log:\n{}",
            read_log(&self.wd)
        );
    }

    pub fn connect(&self) -> UnixStream {
        UnixStream::connect(self.wd.join("agent.socket")).expect("connect to agent socket")
    }

    pub fn signal(&self, signal: i32) {
        unsafe_kill(self.pid(), signal);
    }

    /// Waits for exit, returning the exit code (None: killed by a signal or still running).
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn unsafe_kill(pid: u32, signal: i32) {
    let status = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(pid.to_string())
        .status()
        .unwrap();
    assert!(status.success());
}

pub fn lock_pid(wd: &Path) -> Option<u32> {
    let text = std::fs::read_to_string(wd.join("agent.lock")).ok()?;
    appsignal_proto::agent_lock::AgentLock::parse(&text).map(|l| l.pid)
}

pub fn read_log(wd: &Path) -> String {
    std::fs::read_to_string(wd.join("appsignal.log")).unwrap_or_default()
}

pub fn wait_until(timeout: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if done() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    done()
}

/// A transaction starting now, with two events.
pub fn transaction(id: &str, action: &str, duration_ms: u64) -> Transaction {
    let now_ns = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as i64;
    Transaction {
        id: id.to_string(),
        namespace: "web".into(),
        action: action.into(),
        start_time_unix_ns: now_ns,
        duration_ns: duration_ms * 1_000_000,
        events: vec![
            Event {
                name: "process_action.action_controller".into(),
                duration_ns: duration_ms * 1_000_000,
                child_duration_ns: 1_000_000,
                ..Default::default()
            },
            Event {
                name: "sql.active_record".into(),
                body: "SELECT * FROM users WHERE id = ?".into(),
                duration_ns: 1_000_000,
                depth: 1,
                ..Default::default()
            },
        ],
        ..Default::default()
    }
}

pub fn failing(mut t: Transaction, class: &str) -> Transaction {
    t.error = Some(ErrorInfo {
        name: class.into(),
        message: "boom".into(),
        ..Default::default()
    });
    t
}

pub fn hello(pid: u32) -> ClientHello {
    ClientHello {
        pid,
        language: "ruby".into(),
        language_version: "3.1.2".into(),
        library_version: "4.0.0".into(),
        revision: "rev-abc".into(),
    }
}

pub fn send(stream: &mut UnixStream, batch: &ClientBatch) {
    let mut wire = Vec::new();
    encode_frame(batch, &mut wire);
    stream.write_all(&wire).expect("write frame");
}

/// Total transaction count per action over all payloads.
pub fn count_for(payloads: &[Payload], action: &str) -> u64 {
    payloads
        .iter()
        .flat_map(|p| &p.actions)
        .filter(|a| a.action == action)
        .map(|a| a.count)
        .sum()
}

pub fn total_count(payloads: &[Payload]) -> u64 {
    payloads
        .iter()
        .flat_map(|p| &p.actions)
        .map(|a| a.count)
        .sum()
}

pub fn metric_total(payloads: &[Payload], name: &str) -> f64 {
    payloads
        .iter()
        .flat_map(|p| &p.metrics)
        .filter(|m| m.name == name)
        .map(|m| m.value)
        .sum()
}
