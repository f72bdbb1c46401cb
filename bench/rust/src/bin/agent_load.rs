//! Load generator for the real agent binary: N clients write length-prefixed frames
//! to `agent.socket` as the extension does, a local Push API receiver takes the
//! payloads, and the agent's CPU time and memory are read from /proc.
//!
//! ```text
//! appsignal-agent-load [--quick|--smoke] [--tsv] [--clients N] [--agent PATH]
//! ```
//!
//! Rows: ingest flat out (events per agent CPU second, against the same code run
//! in-process), CPU% at 1k and 10k transactions/s (against the idle agent), RSS.

use std::io::Write;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use appsignal_bench::cases::{agent_decode_and_aggregate, now_unix_ns, sample_transaction};
use appsignal_bench::{Row, Scale};
use appsignal_proto::frame::encode_frame;
use appsignal_proto::v1::{ClientBatch, ClientHello};
use appsignal_testkit::PushReceiver;

const EVENTS_PER_TX: u64 = 4;
/// The extension's worker writes a frame per 50 ms window (or per 256 items).
const WINDOW: Duration = Duration::from_millis(50);
const MAX_PER_FRAME: u64 = 256;

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

struct Options {
    agent: PathBuf,
    clients: u64,
    flat_out_frames: u64,
    paced_seconds: f64,
    scale: Scale,
    tsv: bool,
}

fn options() -> Result<Options> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let has = |flag: &str| args.iter().any(|a| a == flag);
    let value = |flag: &str| {
        args.iter()
            .position(|a| a == flag)
            .and_then(|i| args.get(i + 1).cloned())
    };
    let quick = has("--quick") || std::env::var("BENCH_QUICK").is_ok_and(|v| v == "1");
    let (scale, flat_out_frames, paced_seconds) = if has("--smoke") {
        (Scale::smoke(), 200, 1.0)
    } else if quick {
        (Scale::quick(), 2_000, 3.0)
    } else {
        (Scale::full(), 8_000, 10.0)
    };
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let agent = value("--agent")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target/release/appsignal-agent"));
    let clients = match value("--clients") {
        Some(v) => v.parse()?,
        None => 2,
    };
    Ok(Options {
        agent,
        clients,
        flat_out_frames,
        paced_seconds,
        scale,
        tsv: has("--tsv"),
    })
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
    // After the comm: state is index 0, utime 11, stime 12 (clock ticks of 1/100 s).
    (ticks(11) + ticks(12)) / 100.0
}

fn status_kb(pid: u32, key: &str) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(key)?.split_whitespace().next()?.parse().ok())
        .unwrap_or(0.0)
}

struct Agent {
    child: Child,
    receiver: PushReceiver,
    working_dir: PathBuf,
    socket: PathBuf,
}

impl Agent {
    fn start(binary: &Path) -> Result<Agent> {
        let receiver = PushReceiver::start();
        let working_dir =
            std::env::temp_dir().join(format!("appsignal-agent-load-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&working_dir);
        let child = Command::new(binary)
            .env("APPSIGNAL_PUSH_API_KEY", "load-key")
            .env("APPSIGNAL_APP_NAME", "load")
            .env("APPSIGNAL_APP_ENV", "bench")
            .env("APPSIGNAL_PUSH_API_ENDPOINT", receiver.endpoint())
            .env("APPSIGNAL_WORKING_DIRECTORY_PATH", &working_dir)
            .env("APPSIGNAL_TRANSMISSION_INTERVAL", "1")
            .env("APPSIGNAL_ENABLE_HOST_METRICS", "false")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", binary.display()))?;
        let socket = working_dir.join("agent.socket");
        let mut agent = Agent {
            child,
            receiver,
            working_dir,
            socket,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while UnixStream::connect(&agent.socket).is_err() {
            if Instant::now() >= deadline {
                agent.stop();
                return Err(format!("the agent did not open {}", agent.socket.display()).into());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        std::thread::sleep(Duration::from_millis(200));
        Ok(agent)
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn transactions_received(&self) -> u64 {
        self.receiver
            .payloads()
            .iter()
            .flat_map(|p| &p.actions)
            .map(|a| a.count)
            .sum()
    }

    fn wait_for_transactions(&self, expected: u64) -> bool {
        self.receiver.wait_for(Duration::from_secs(60), |payloads| {
            payloads
                .iter()
                .flat_map(|p| &p.actions)
                .map(|a| a.count)
                .sum::<u64>()
                >= expected
        })
    }

    fn stop(&mut self) {
        // SIGTERM: the agent flushes and exits.
        let _ = Command::new("kill").arg(self.pid().to_string()).status();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.working_dir);
    }
}

fn connect(socket: &Path, client: u64) -> std::io::Result<UnixStream> {
    let mut stream = UnixStream::connect(socket)?;
    let mut hello = Vec::new();
    encode_frame(
        &ClientBatch {
            hello: Some(ClientHello {
                pid: client as u32 + 1,
                language: "ruby".into(),
                library_version: "agent-load".into(),
                ..Default::default()
            }),
            ..Default::default()
        },
        &mut hello,
    );
    stream.write_all(&hello)?;
    Ok(stream)
}

fn frame(client: u64, transactions: u64) -> Vec<u8> {
    let now = now_unix_ns();
    let batch = ClientBatch {
        transactions: (0..transactions)
            .map(|i| sample_transaction(client, i, EVENTS_PER_TX, now))
            .collect(),
        ..Default::default()
    };
    let mut wire = Vec::new();
    encode_frame(&batch, &mut wire);
    wire
}

/// Every client writes `frames` frames of 16 transactions as fast as it can.
/// Returns events per agent CPU second and the agent's peak RSS in MB.
fn flat_out(agent: &Agent, clients: u64, frames: u64) -> Result<(f64, f64)> {
    const PER_FRAME: u64 = 16;
    let pid = agent.pid();
    let cpu_before = cpu_seconds(pid);
    let writers: Vec<_> = (0..clients)
        .map(|c| {
            let socket = agent.socket.clone();
            std::thread::spawn(move || -> std::io::Result<()> {
                let wire = frame(c, PER_FRAME);
                let mut stream = connect(&socket, c)?;
                // 64 frames per write, as the extension batches its writes.
                let chunk = wire.repeat(64);
                let mut sent = 0;
                while sent < frames {
                    let n = (frames - sent).min(64);
                    stream.write_all(&chunk[..wire.len() * n as usize])?;
                    sent += n;
                }
                Ok(())
            })
        })
        .collect();
    for writer in writers {
        writer.join().map_err(|_| "a writer thread panicked")??;
    }
    let expected = clients * frames * PER_FRAME;
    if !agent.wait_for_transactions(expected) {
        return Err(format!(
            "the receiver got {} of {expected} transactions",
            agent.transactions_received()
        )
        .into());
    }
    let cpu = cpu_seconds(pid) - cpu_before;
    let events = (expected * EVENTS_PER_TX) as f64;
    Ok((events / cpu.max(0.01), status_kb(pid, "VmHWM:") / 1024.0))
}

/// `rate` transactions per second for `seconds`, spread over the clients, written
/// once per batch window. Returns the agent's CPU% of one core and its RSS in MB.
fn paced(agent: &Agent, clients: u64, rate: u64, seconds: f64) -> Result<(f64, f64)> {
    let pid = agent.pid();
    let per_window = (rate as f64 * WINDOW.as_secs_f64() / clients as f64).ceil() as u64;
    let windows = (seconds / WINDOW.as_secs_f64()).ceil() as u64;
    let cpu_before = cpu_seconds(pid);
    let started = Instant::now();
    let writers: Vec<_> = (0..clients)
        .map(|c| {
            let socket = agent.socket.clone();
            std::thread::spawn(move || -> std::io::Result<()> {
                let mut wire = Vec::new();
                let mut left = per_window;
                while left > 0 {
                    let n = left.min(MAX_PER_FRAME);
                    wire.extend(frame(c, n));
                    left -= n;
                }
                let mut stream = connect(&socket, c)?;
                let start = Instant::now();
                for w in 0..windows {
                    let due = start + WINDOW * (w as u32 + 1);
                    if let Some(wait) = due.checked_duration_since(Instant::now()) {
                        std::thread::sleep(wait);
                    }
                    stream.write_all(&wire)?;
                }
                Ok(())
            })
        })
        .collect();
    for writer in writers {
        writer.join().map_err(|_| "a writer thread panicked")??;
    }
    let wall = started.elapsed().as_secs_f64();
    let cpu = cpu_seconds(pid) - cpu_before;
    Ok((cpu / wall * 100.0, status_kb(pid, "VmRSS:") / 1024.0))
}

fn idle(agent: &Agent, seconds: f64) -> (f64, f64) {
    let pid = agent.pid();
    let before = cpu_seconds(pid);
    std::thread::sleep(Duration::from_secs_f64(seconds));
    (
        (cpu_seconds(pid) - before) / seconds * 100.0,
        status_kb(pid, "VmRSS:") / 1024.0,
    )
}

fn row(name: String, value: f64, unit: &'static str, baseline: &str, base: f64) -> Row {
    Row {
        name,
        value,
        unit,
        baseline_name: baseline.to_string(),
        baseline_value: base,
        derived: None,
    }
}

fn run(options: &Options) -> Result<Vec<Row>> {
    let mut rows = Vec::new();
    let in_process = agent_decode_and_aggregate(options.scale)
        .first()
        .map(|r| 1e9 / r.value)
        .unwrap_or(f64::NAN);

    let mut agent = Agent::start(&options.agent)?;
    let measured = (|| -> Result<()> {
        let (idle_cpu, idle_rss) = idle(&agent, options.paced_seconds.min(3.0));
        for rate in [1_000, 10_000] {
            let (cpu, rss) = paced(&agent, options.clients, rate, options.paced_seconds)?;
            let mut r = row(
                format!(
                    "agent CPU at {}k tx/s ({EVENTS_PER_TX} events)",
                    rate / 1000
                ),
                cpu,
                "% of a core",
                "idle agent",
                idle_cpu.max(0.01),
            );
            r.derived = Some(format!("RSS {rss:.1} MB"));
            rows.push(r);
        }
        let (events_per_cpu_s, peak_rss) =
            flat_out(&agent, options.clients, options.flat_out_frames)?;
        let mut r = row(
            format!("agent ingest, {} clients flat out", options.clients),
            events_per_cpu_s / 1e6,
            "M ev/CPU-s",
            "same code in-process",
            in_process / 1e6,
        );
        r.derived = Some(format!("peak RSS {peak_rss:.1} MB"));
        rows.push(r);
        let rss_after = status_kb(agent.pid(), "VmRSS:") / 1024.0;
        rows.push(row(
            "agent RSS after load".to_string(),
            rss_after,
            "MB",
            "idle agent",
            idle_rss,
        ));
        Ok(())
    })();
    agent.stop();
    measured?;
    Ok(rows)
}

fn main() {
    let result = options().and_then(|options| {
        let rows = run(&options)?;
        for row in &rows {
            if options.tsv {
                println!("{}", row.to_tsv());
            } else {
                println!(
                    "{:<42} {:>10.2} {:<12} vs {:<22} {:>8.2}  {}",
                    row.name,
                    row.value,
                    row.unit,
                    row.baseline_name,
                    row.baseline_value,
                    row.derived.as_deref().unwrap_or("")
                );
            }
        }
        Ok(())
    });
    if let Err(e) = result {
        eprintln!("appsignal-agent-load: {e}");
        std::process::exit(1);
    }
}
