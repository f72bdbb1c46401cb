//! Scenario 10: memory. The extension core (`ext-core-churn`, the real reporter
//! writing to a real `appsignal-agent`) under valgrind memcheck, its RSS over many
//! transactions, and the public Ruby API under `GC.stress` with the compiled extension
//! (`reliability/ruby/gc_stress.rb`).

use appsignal_reliability::{scale, workspace_binary, workspace_root, ChildGuard};
use appsignal_testkit::PushReceiver;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const CHURN: &str = env!("CARGO_BIN_EXE_ext-core-churn");

/// VmRSS growth allowed between the warm-up point and the end of the run. A leak of
/// 8 bytes per transaction is 8 MB over the long run's 1 M transactions; anything the
/// extension keeps per transaction (an event, a string) is far more.
const RSS_GROWTH_BOUND_KB: u64 = 4 * 1024;

struct WorkDir(PathBuf);

impl WorkDir {
    /// Short: Unix socket paths are limited to 108 bytes.
    fn new(tag: &str) -> WorkDir {
        let path = PathBuf::from(format!("/tmp/rel-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("create working dir");
        WorkDir(path)
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A real agent in the foreground, transmitting every second to `receiver`.
fn start_agent(working_dir: &Path, receiver: &PushReceiver) -> ChildGuard {
    let agent = workspace_binary("appsignal-agent", "appsignal-agent");
    let child = Command::new(agent)
        .env("APPSIGNAL_PUSH_API_KEY", "churn-key")
        .env("APPSIGNAL_APP_NAME", "churn")
        .env("APPSIGNAL_APP_ENV", "test")
        .env("APPSIGNAL_PUSH_API_ENDPOINT", receiver.endpoint())
        .env("APPSIGNAL_WORKING_DIRECTORY_PATH", working_dir)
        .env("APPSIGNAL_TRANSMISSION_INTERVAL", "1")
        .env("APPSIGNAL_ENABLE_HOST_METRICS", "false")
        .env("APPSIGNAL_LOG_PATH", working_dir)
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn appsignal-agent");
    let mut guard = ChildGuard(child);
    let socket = working_dir.join("agent.socket");
    let deadline = Instant::now() + Duration::from_secs(20);
    while UnixStream::connect(&socket).is_err() {
        if let Ok(Some(status)) = guard.0.try_wait() {
            panic!("appsignal-agent exited ({status}) before listening on {socket:?}");
        }
        assert!(
            Instant::now() < deadline,
            "appsignal-agent did not listen on {socket:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    guard
}

fn run(command: &mut Command) -> Output {
    let output = command.output().expect("run command");
    assert!(
        output.status.success(),
        "{command:?} failed ({}):\n{}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// `transactions_sent: N` from the churn binary's final stats line.
fn transactions_sent(stdout: &str) -> u64 {
    stdout
        .split("transactions_sent: ")
        .nth(1)
        .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no transactions_sent in the churn output: {stdout}"))
}

/// Waits until the receiver has every transaction the extension wrote to the agent.
fn churn_transactions_received(receiver: &PushReceiver, expected: u64) -> u64 {
    let count = |payloads: &[appsignal_proto::v1::Payload]| -> u64 {
        payloads
            .iter()
            .flat_map(|p| &p.actions)
            .filter(|a| a.action.starts_with("Churn#"))
            .map(|a| a.count)
            .sum()
    };
    receiver.wait_for(Duration::from_secs(60), |p| count(p) >= expected);
    count(&receiver.payloads())
}

#[test]
fn ext_core_under_valgrind_has_no_invalid_accesses_and_no_definite_leaks() {
    let transactions = scale(2_000u64, 50_000);
    let valgrind = Command::new("valgrind").arg("--version").output();
    assert!(
        valgrind.is_ok_and(|o| o.status.success()),
        "valgrind is not installed: run script/setup (apt-get install valgrind)"
    );
    let dir = WorkDir::new("vg");
    let receiver = PushReceiver::start();
    let _agent = start_agent(&dir.0, &receiver);
    let output = Command::new("valgrind")
        .args([
            "--tool=memcheck",
            "--leak-check=full",
            "--errors-for-leak-kinds=definite",
            "--error-exitcode=99",
        ])
        .arg(CHURN)
        .arg(transactions.to_string())
        .arg(&dir.0)
        .output()
        .expect("run valgrind");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let report = String::from_utf8_lossy(&output.stderr);
    let summary: Vec<&str> = report
        .lines()
        .filter(|l| {
            l.contains("definitely lost:")
                || l.contains("indirectly lost:")
                || l.contains("possibly lost:")
                || l.contains("ERROR SUMMARY")
                || l.contains("total heap usage")
        })
        .collect();
    println!("valgrind memcheck, ext-core-churn {transactions}: {stdout}");
    for line in &summary {
        println!("  {line}");
    }
    assert!(
        output.status.success(),
        "valgrind found errors (exit {}):\n{report}",
        output.status
    );
    assert!(
        report.contains("ERROR SUMMARY: 0 errors"),
        "memcheck reported errors:\n{report}"
    );
    assert!(
        report.contains("definitely lost: 0 bytes")
            || report.contains("All heap blocks were freed"),
        "memcheck reported definite leaks:\n{report}"
    );
    assert!(
        transactions_sent(&stdout) > 0,
        "no transaction reached the agent under valgrind: {stdout}"
    );
}

#[test]
fn ext_core_rss_is_flat_over_many_transactions() {
    let transactions = scale(100_000u64, 1_000_000);
    let warmup = transactions / 10;
    let dir = WorkDir::new("rss");
    let receiver = PushReceiver::start();
    let _agent = start_agent(&dir.0, &receiver);
    let started = Instant::now();
    let output = run(Command::new(CHURN)
        .arg(transactions.to_string())
        .arg(&dir.0)
        .arg(warmup.to_string()));
    let elapsed = started.elapsed();
    let stdout = String::from_utf8_lossy(&output.stdout).to_string();
    let field = |name: &str| -> u64 {
        stdout
            .split(&format!("{name}="))
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no {name} in the churn output: {stdout}"))
    };
    let (after_warmup, at_end) = (field("after_warmup"), field("at_end"));
    let sent = transactions_sent(&stdout);
    let received = churn_transactions_received(&receiver, sent);
    println!(
        "ext core RSS: {after_warmup} kB after {warmup} transactions, {at_end} kB after \
         {transactions} ({:+} kB); {sent} written to the agent, {received} decoded by the \
         receiver; {:.1} s",
        at_end as i64 - after_warmup as i64,
        elapsed.as_secs_f64()
    );
    assert!(
        sent >= transactions / 2,
        "only {sent} of {transactions} transactions reached the agent: the run measured drops, not the path"
    );
    assert_eq!(
        received, sent,
        "the receiver decoded {received} transactions, the extension wrote {sent}"
    );
    let growth = at_end.saturating_sub(after_warmup);
    assert!(
        growth < RSS_GROWTH_BOUND_KB,
        "RSS grew by {growth} kB between transaction {warmup} and {transactions} (bound {RSS_GROWTH_BOUND_KB} kB)"
    );
}

#[test]
fn public_ruby_api_under_gc_stress_keeps_working_and_delivers() {
    let transactions = scale(16u32, 100);
    let root = workspace_root();
    let extension = root.join("lib/appsignal_extension.so");
    assert!(
        extension.is_file(),
        "{} is missing: run `rake compile` first",
        extension.display()
    );
    let output = Command::new("ruby")
        .current_dir(&root)
        .args(["-Ilib", "reliability/ruby/gc_stress.rb"])
        .arg(transactions.to_string())
        .output()
        .expect("run ruby (is it installed? script/setup)");
    let stdout = String::from_utf8_lossy(&output.stdout);
    print!("{stdout}");
    assert!(
        output.status.success(),
        "reliability/ruby/gc_stress.rb failed ({}):\n{stdout}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("gc_stress: ok"), "{stdout}");
}
