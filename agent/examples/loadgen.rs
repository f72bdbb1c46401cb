//! Load generator: drives a real agent binary with many frames and reports ingest
//! throughput per agent CPU second and the agent's memory.
//!
//! ```text
//! cargo build --release -p appsignal-agent --examples
//! target/release/examples/loadgen target/release/appsignal-agent [clients] [frames_per_client] [transactions_per_frame] [events_per_transaction]
//! ```

use std::io::Write;
use std::os::unix::net::UnixStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use appsignal_proto::frame::encode_frame;
use appsignal_proto::v1::{ClientBatch, ClientHello, Event, Transaction};
use appsignal_testkit::PushReceiver;

fn arg(n: usize, default: u64) -> u64 {
    std::env::args()
        .nth(n)
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// utime + stime of a process, in seconds.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after_comm = stat.rsplit_once(')').map(|(_, rest)| rest).unwrap_or("");
    let fields: Vec<&str> = after_comm.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // Fields after the comm: state is index 0, utime 11, stime 12.
    (ticks(11) + ticks(12)) / 100.0
}

fn status_kb(pid: u32, key: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(key)?.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

fn frame(client: u64, transactions: u64, events: u64) -> Vec<u8> {
    let now_ns = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0);
    let batch = ClientBatch {
        hello: None,
        transactions: (0..transactions)
            .map(|i| Transaction {
                id: format!("c{client}-t{i}-0123456789abcdef"),
                namespace: "web".into(),
                action: format!("LoadController#action{}", i % 20),
                start_time_unix_ns: now_ns,
                duration_ns: 1_000_000 + i * 37_000,
                events: (0..events)
                    .map(|e| Event {
                        name: if e == 0 {
                            "process_action.action_controller".into()
                        } else {
                            "sql.active_record".into()
                        },
                        title: String::new(),
                        body: if e == 0 {
                            String::new()
                        } else {
                            "SELECT * FROM users WHERE id = ?".into()
                        },
                        duration_ns: 100_000,
                        depth: u32::from(e > 0),
                        start_offset_ns: e * 1000,
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    };
    let mut wire = Vec::new();
    encode_frame(&batch, &mut wire);
    wire
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let Some(agent_bin) = std::env::args().nth(1) else {
        return Err("usage: loadgen PATH_TO_AGENT [clients] [frames_per_client] [transactions_per_frame] [events_per_transaction]".into());
    };
    let clients = arg(2, 2);
    let frames = arg(3, 5_000);
    let per_frame = arg(4, 16);
    let events = arg(5, 4);

    let receiver = PushReceiver::start();
    let wd = std::env::temp_dir().join(format!("appsignal-loadgen-{}", std::process::id()));
    let mut agent = Command::new(&agent_bin)
        .env("APPSIGNAL_PUSH_API_KEY", "loadgen-key")
        .env("APPSIGNAL_APP_NAME", "loadgen")
        .env("APPSIGNAL_APP_ENV", "bench")
        .env("APPSIGNAL_PUSH_API_ENDPOINT", receiver.endpoint())
        .env("APPSIGNAL_WORKING_DIRECTORY_PATH", &wd)
        .env("APPSIGNAL_TRANSMISSION_INTERVAL", "1")
        .env("APPSIGNAL_ENABLE_HOST_METRICS", "false")
        .stdout(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start {agent_bin}: {e}"))?;
    let pid = agent.id();
    let socket = wd.join("agent.socket");
    let deadline = Instant::now() + Duration::from_secs(10);
    while UnixStream::connect(&socket).is_err() {
        if Instant::now() >= deadline {
            let _ = agent.kill();
            return Err(format!("agent did not open {}", socket.display()).into());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(200));
    let idle_rss = status_kb(pid, "VmRSS:");

    let cpu_before = cpu_seconds(pid);
    let started = Instant::now();
    let writers: Vec<_> = (0..clients)
        .map(|c| {
            let socket = socket.clone();
            std::thread::spawn(move || -> std::io::Result<u64> {
                let wire = frame(c, per_frame, events);
                let mut stream = UnixStream::connect(&socket)?;
                let mut hello = Vec::new();
                encode_frame(
                    &ClientBatch {
                        hello: Some(ClientHello {
                            pid: c as u32,
                            language: "ruby".into(),
                            library_version: "loadgen".into(),
                            ..Default::default()
                        }),
                        ..Default::default()
                    },
                    &mut hello,
                );
                stream.write_all(&hello)?;
                // 64 frames per write, as the extension batches its writes.
                let chunk: Vec<u8> = wire.repeat(64);
                let mut sent = 0;
                while sent < frames {
                    let n = (frames - sent).min(64);
                    stream.write_all(&chunk[..wire.len() * n as usize])?;
                    sent += n;
                }
                Ok(wire.len() as u64 * frames)
            })
        })
        .collect();
    let bytes: u64 = writers
        .into_iter()
        .map(|w| w.join().ok().and_then(Result::ok).unwrap_or(0))
        .sum();
    let expected = clients * frames * per_frame;
    let got_all = receiver.wait_for(Duration::from_secs(120), |payloads| {
        payloads
            .iter()
            .flat_map(|p| &p.actions)
            .map(|a| a.count)
            .sum::<u64>()
            >= expected
    });
    let wall = started.elapsed().as_secs_f64();
    let cpu = cpu_seconds(pid) - cpu_before;
    let peak_rss = status_kb(pid, "VmHWM:");
    let rss = status_kb(pid, "VmRSS:");
    let _ = Command::new("kill").arg(pid.to_string()).status();
    let _ = agent.wait();
    let _ = std::fs::remove_dir_all(&wd);

    let transactions = expected as f64;
    let event_count = transactions * events as f64;
    println!("all transactions accounted for: {got_all}");
    println!(
        "{clients} clients x {frames} frames x {per_frame} transactions x {events} events = {transactions} transactions, {event_count} events, {:.1} MB of frames",
        bytes as f64 / 1e6
    );
    println!(
        "wall {wall:.2} s (includes waiting for the next 1 s transmission), agent CPU {cpu:.2} s"
    );
    println!(
        "per agent CPU second: {:.0} transactions, {:.0} events, {:.1} MB of frames",
        transactions / cpu,
        event_count / cpu,
        bytes as f64 / 1e6 / cpu
    );
    println!("agent RSS: idle {idle_rss} kB, after load {rss} kB, peak {peak_rss} kB");
    Ok(())
}
