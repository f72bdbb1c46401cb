//! The reporter against a real Unix socket: transactions arrive as decoded frames,
//! a hello opens every connection, and an agent that goes away and comes back loses
//! nothing that fit in the backlog. The reporter is process-global, so this is one
//! test that walks through the scenarios in order.

use appsignal_ext_core::config::ReporterConfig;
use appsignal_ext_core::reporter;
use appsignal_ext_core::transaction::{BodyFormat, Transaction};
use appsignal_proto::frame::FrameDecoder;
use appsignal_proto::v1::ClientBatch;
use std::io::Read;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

fn config(dir: &Path) -> ReporterConfig {
    ReporterConfig {
        agent_path: None,
        working_dir: dir.to_path_buf(),
        log_path: Some(dir.join("appsignal.log")),
        agent_env: vec![],
        channel_capacity: 4,
        language_version: "3.1".into(),
        library_version: "0.1.0".into(),
        revision: "abc123".into(),
    }
}

struct FakeAgent {
    connections: Arc<Mutex<Vec<UnixStream>>>,
    socket: PathBuf,
}

impl FakeAgent {
    /// Like an agent exiting: the socket path goes and every connection closes.
    fn kill(&self) {
        let _ = std::fs::remove_file(&self.socket);
        for stream in self.connections.lock().unwrap().drain(..) {
            let _ = stream.shutdown(std::net::Shutdown::Both);
        }
    }
}

/// A stand-in agent: accepts connections and forwards every decoded batch.
fn fake_agent(dir: &Path) -> (mpsc::Receiver<ClientBatch>, FakeAgent) {
    let socket = dir.join("agent.socket");
    let listener = UnixListener::bind(&socket).unwrap();
    let (tx, rx) = mpsc::channel();
    let connections = Arc::new(Mutex::new(Vec::new()));
    let registry = Arc::clone(&connections);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            registry.lock().unwrap().push(stream.try_clone().unwrap());
            let tx = tx.clone();
            std::thread::spawn(move || {
                let mut decoder = FrameDecoder::new();
                let mut buf = [0u8; 8192];
                while let Ok(n) = stream.read(&mut buf) {
                    if n == 0 {
                        return;
                    }
                    decoder.push(&buf[..n]);
                    while let Ok(Some(batch)) = decoder.next_frame() {
                        let _ = tx.send(batch);
                    }
                }
            });
        }
    });
    (
        rx,
        FakeAgent {
            connections,
            socket,
        },
    )
}

fn finished(action: &str, sql: &str) -> Transaction {
    let mut t = Transaction::new("web", reporter::fork_generation());
    t.set_action(action);
    t.start_event();
    t.finish_event("sql.postgres", "", sql, BodyFormat::Sql);
    t
}

fn collect_actions(
    rx: &mpsc::Receiver<ClientBatch>,
    want: usize,
) -> (Vec<String>, Vec<ClientBatch>) {
    let mut actions = Vec::new();
    let mut batches = Vec::new();
    while actions.len() < want {
        let Ok(batch) = rx.recv_timeout(Duration::from_secs(5)) else {
            break;
        };
        actions.extend(batch.transactions.iter().map(|t| t.action.clone()));
        batches.push(batch);
    }
    (actions, batches)
}

#[test]
fn reporter_delivers_batches_survives_an_agent_restart_and_counts_drops() {
    let dir = tempfile::tempdir().unwrap();
    let (rx, agent) = fake_agent(dir.path());
    reporter::start(config(dir.path()));

    // 1. Delivery: hello first, then the transactions, SQL obfuscated on the way.
    assert!(reporter::send_transaction(finished(
        "A#one",
        "SELECT * FROM users WHERE email = 'secret@example.com'"
    )));
    assert!(reporter::send_transaction(finished("A#two", "SELECT 1")));
    reporter::flush(Duration::from_secs(5));
    let (actions, batches) = collect_actions(&rx, 2);
    assert_eq!(actions, ["A#one", "A#two"]);
    let hello = batches
        .iter()
        .find_map(|b| b.hello.clone())
        .expect("a hello frame");
    assert_eq!(hello.revision, "abc123");
    let bodies: Vec<_> = batches
        .iter()
        .flat_map(|b| &b.transactions)
        .flat_map(|t| &t.events)
        .map(|e| e.body.clone())
        .collect();
    assert!(
        bodies.iter().all(|b| !b.contains("secret@example.com")),
        "literal leaked: {bodies:?}"
    );

    // 2. Agent gone: the socket disappears; transactions wait in the backlog and arrive
    //    once a new agent listens.
    agent.kill();
    assert!(reporter::send_transaction(finished(
        "B#while_away",
        "SELECT 2"
    )));
    std::thread::sleep(Duration::from_millis(300));
    let (rx2, _agent2) = fake_agent(dir.path());
    reporter::flush(Duration::from_secs(5));
    let (actions, _) = collect_actions(&rx2, 1);
    assert_eq!(actions, ["B#while_away"]);

    // 3. A transaction started under another fork generation is not ours to send.
    let stale = Transaction::new("web", reporter::fork_generation() + 1);
    assert!(!reporter::send_transaction(stale));

    // 4. A flood beyond the channel's capacity never blocks; the overflow is counted.
    let mut accepted = 0;
    for i in 0..10_000 {
        if reporter::send_transaction(finished(&format!("C#{i}"), "SELECT 3")) {
            accepted += 1;
        }
    }
    reporter::flush(Duration::from_secs(5));
    let stats = reporter::stats().unwrap();
    assert!(stats.transactions_dropped > 0, "{stats:?}");
    assert_eq!(accepted + stats.transactions_dropped, 10_000);

    // 5. Stopped: nothing is accepted.
    reporter::stop(Duration::from_secs(2));
    assert!(!reporter::send_transaction(finished(
        "D#after_stop",
        "SELECT 4"
    )));
}
