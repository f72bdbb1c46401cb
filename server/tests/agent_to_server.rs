//! The real agent from this repo (`target/.../appsignal-agent`) sending to the server: frames
//! go into the agent's socket as the extension writes them, the agent aggregates and
//! transmits over HTTP, and the server's store and dashboard show exactly what was sent.

mod common;

use appsignal_proto::frame::encode_frame;
use appsignal_proto::v1::{
    ClientBatch, ClientHello, ErrorInfo, Event, MetricKind, MetricSample, Transaction,
};
use appsignal_server::store::Value;
use common::*;
use std::io::Write;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The agent binary next to this test's own build output (`target/<profile>/`), which is
/// where `cargo build -p appsignal-agent` and `cargo nextest run --workspace` put it.
fn agent_binary() -> PathBuf {
    let mut candidates = Vec::new();
    if let Ok(exe) = std::env::current_exe() {
        // target/<profile>/deps/<test> → target/<profile>/appsignal-agent
        if let Some(profile_dir) = exe.parent().and_then(Path::parent) {
            candidates.push(profile_dir.join("appsignal-agent"));
        }
    }
    if let Ok(dir) = std::env::var("CARGO_TARGET_DIR") {
        candidates.push(Path::new(&dir).join("debug").join("appsignal-agent"));
    }
    candidates.push(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../target/debug/appsignal-agent")
            .to_path_buf(),
    );
    candidates
        .iter()
        .find(|p| p.is_file())
        .cloned()
        .unwrap_or_else(|| {
            panic!(
                "the appsignal-agent binary is missing (looked at {candidates:?}); build it first \
                 with `cargo build -p appsignal-agent` (`cargo nextest run --workspace` builds it too)"
            )
        })
}

struct Agent {
    child: Child,
    wd: PathBuf,
}

impl Agent {
    fn log(&self) -> String {
        std::fs::read_to_string(self.wd.join("appsignal.log")).unwrap_or_default()
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_agent(wd: &Path, endpoint: &str, key: &str) -> Agent {
    let child = Command::new(agent_binary())
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("APPSIGNAL_PUSH_API_KEY", key)
        .env("APPSIGNAL_APP_NAME", "shop")
        .env("APPSIGNAL_APP_ENV", "production")
        .env("APPSIGNAL_PUSH_API_ENDPOINT", endpoint)
        .env("APPSIGNAL_WORKING_DIRECTORY_PATH", wd)
        .env("APPSIGNAL_TRANSMISSION_INTERVAL", "0.5")
        .env("APPSIGNAL_ENABLE_HOST_METRICS", "true")
        .env("APPSIGNAL_HOSTNAME", "agent-host")
        .env("APPSIGNAL_LOG_LEVEL", "debug")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn appsignal-agent");
    Agent {
        child,
        wd: wd.to_path_buf(),
    }
}

fn transaction(id: usize, ns: &str, action: &str, ms: u64, error: Option<&str>) -> Transaction {
    let now_ns = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as i64;
    Transaction {
        id: format!("agent-tx-{id}"),
        namespace: ns.into(),
        action: action.into(),
        start_time_unix_ns: now_ns,
        duration_ns: ms * 1_000_000,
        events: vec![
            Event {
                name: "process_action.action_controller".into(),
                duration_ns: ms * 1_000_000,
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
        error: error.map(|class| ErrorInfo {
            name: class.into(),
            message: "boom".into(),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn metric(name: &str, kind: MetricKind, value: f64) -> MetricSample {
    MetricSample {
        name: name.into(),
        kind: kind as i32,
        value,
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_agent_from_this_repo_delivers_to_the_server_and_the_dashboard_shows_it() {
    let s = TestServer::start().await;
    let wd = tempfile::tempdir().unwrap();
    let agent = start_agent(wd.path(), &format!("http://{}", s.addr), &s.key);
    let socket = wd.path().join("agent.socket");
    wait_until("the agent's socket", Duration::from_secs(15), || {
        UnixStream::connect(&socket).is_ok()
    })
    .await;

    // What the extension would write: 30 web requests (3 failing, 1 slow) and 10 jobs,
    // custom metrics, and a revision in the hello.
    let mut transactions = Vec::new();
    for i in 0..30 {
        let error = (i < 3).then_some("RuntimeError");
        let ms = if i == 29 { 1500 } else { 20 };
        transactions.push(transaction(i, "web", "UsersController#show", ms, error));
    }
    for i in 30..40 {
        transactions.push(transaction(
            i,
            "background_job",
            "MailerJob#perform",
            40,
            None,
        ));
    }
    let batch = ClientBatch {
        hello: Some(ClientHello {
            pid: std::process::id(),
            language: "ruby".into(),
            library_version: "4.0.0".into(),
            revision: "rev-from-agent".into(),
            ..Default::default()
        }),
        transactions,
        metrics: vec![
            metric("signups", MetricKind::Counter, 1.0),
            metric("signups", MetricKind::Counter, 2.0),
            metric("queue_depth", MetricKind::Gauge, 7.0),
        ],
        health: None,
    };
    let mut wire = Vec::new();
    encode_frame(&batch, &mut wire);
    let mut stream = UnixStream::connect(wd.path().join("agent.socket")).unwrap();
    stream.write_all(&wire).unwrap();
    drop(stream);

    let store = s.running.store.clone();
    let app = Value::I64(s.app_id);
    let total = |store: &appsignal_server::store::Store| {
        scalar(
            store,
            "SELECT CAST(COALESCE(SUM(count), 0) AS BIGINT) FROM action_minutes WHERE app_id = ?1",
            std::slice::from_ref(&app),
        )
    };
    let start = std::time::Instant::now();
    while total(&store) < 40 {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the server did not get the agent's 40 transactions (has {}); agent log:\n{}",
            total(&store),
            agent.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    wait_until(
        "host metrics from the agent",
        Duration::from_secs(20),
        || {
            scalar(
                &store,
                "SELECT COUNT(*) FROM metric_minutes WHERE source = 1 AND hostname = 'agent-host'",
                &[],
            ) > 0
        },
    )
    .await;
    // Exact counts, and no later payload added to them.
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(total(&store), 40);
    assert_eq!(
        scalar(
            &store,
            "SELECT CAST(SUM(error_count) AS BIGINT) FROM action_minutes WHERE namespace = 'web'",
            &[]
        ),
        3
    );
    assert!(scalar(&store, "SELECT COUNT(*) FROM processed_payloads", &[]) >= 1);

    let get = |path: String| {
        let url = s.url(&path);
        async move { reqwest::get(url).await.unwrap().text().await.unwrap() }
    };
    let overview = get(format!("/apps/{}", s.app_id)).await;
    assert!(
        overview.contains("<td class=\"n count\">30</td>"),
        "{overview}"
    );
    assert!(overview.contains("<td class=\"n count\">10</td>"));
    assert!(overview.contains("<td class=\"n errors\">3</td>"));
    assert!(overview.contains("<td class=\"n error-rate\">10.0</td>"));
    assert!(overview.contains("rev-from-agent"), "deploy marker missing");

    let incidents = get(format!("/apps/{}/incidents", s.app_id)).await;
    assert!(incidents.contains("RuntimeError"), "{incidents}");
    assert!(
        incidents.contains("<td class=\"n count\">3</td>"),
        "{incidents}"
    );
    assert!(incidents.contains("Slow UsersController#show"));

    let samples = get(format!("/apps/{}/samples?ns=web", s.app_id)).await;
    assert!(samples.contains("1500.0"), "the slow sample: {samples}");
    let metrics = get(format!("/apps/{}/metrics", s.app_id)).await;
    assert!(metrics.contains("data-label=\"signups\""), "{metrics}");
    assert!(metrics.contains("data-value=\"3\""), "{metrics}");
    assert!(metrics.contains("data-value=\"7\""), "{metrics}");
    let hosts = get(format!("/apps/{}/hosts", s.app_id)).await;
    assert!(hosts.contains("Host agent-host"), "{hosts}");
    // One graph per metric, one series per tag set, as the agent's probes tag them.
    assert!(hosts.contains("data-title=\"cpu\""), "{hosts}");
    assert!(hosts.contains("data-label=\"cpu {state=user}\""), "{hosts}");

    assert!(
        !agent.log().contains(" 401"),
        "the agent was refused: {}",
        agent.log()
    );
    drop(agent);
    s.running.stop().await;
}
