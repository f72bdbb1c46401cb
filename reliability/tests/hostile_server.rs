//! Scenario 7: hostile input at the real `appsignal-server` binary (built by
//! `cargo build -p appsignal-server`), over raw TCP so every lie is possible: gzip bombs,
//! protobuf fields announcing gigabytes, declared and undeclared oversized bodies, wrong
//! content types and encodings, bad keys, slow bodies and many slow connections.
//!
//! Promises: each gets a clear 4xx (never a 5xx, a hang or a crash), a valid payload is
//! still accepted in the middle of it all, and the server's RSS stays flat: after one
//! warm-up round of every attack, further rounds grow VmRSS by less than a stated bound,
//! and the peak (VmHWM) stays far below what inflating the bombs would take.

use appsignal_proto::v1::{self, Payload};
use appsignal_reliability::{proc_status_kb, scale, workspace_binary, ChildGuard};
use flate2::write::GzEncoder;
use prost::Message;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

/// Limits the server runs with: the defaults for bodies and payloads, a short body
/// read timeout so slow bodies end within the test.
const MAX_BODY: usize = 10 * 1024 * 1024;
const MAX_PAYLOAD: usize = 50 * 1024 * 1024;
const READ_TIMEOUT_SECS: u64 = 2;

/// Rounds of every attack before RSS is taken as the baseline: the allocator keeps
/// freed decompression buffers (up to MAX_PAYLOAD) in the arenas of the threads that
/// used them, so RSS climbs for the first few rounds (measured: +26 MB per round for 3
/// rounds on 2 cores), then stays put.
const WARMUP_ROUNDS: usize = 5;
/// Growth of VmRSS allowed after the warm-up rounds. Generous: a late arena can still
/// keep one more buffer (measured once: +9.8 MB from round 5 to 40, then under 0.1 MB
/// over the last 20 rounds). Keeping 1 % of each bomb's inflated size per request
/// exceeds it within four rounds.
const RSS_GROWTH_BOUND_KB: u64 = 32 * 1024;
/// Peak RSS allowed: one bomb fully inflated would be 1 GiB.
const PEAK_BOUND_KB: u64 = 400 * 1024;

struct Server {
    process: ChildGuard,
    addr: SocketAddr,
    key: String,
    _data: TempDir,
}

struct TempDir(PathBuf);

impl TempDir {
    fn new(prefix: &str) -> TempDir {
        let path = std::env::temp_dir().join(format!("{prefix}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("create temp dir");
        TempDir(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl Server {
    fn start() -> Server {
        Server::start_with(MAX_PAYLOAD)
    }

    fn start_with(max_payload: usize) -> Server {
        let binary = workspace_binary("appsignal-server", "appsignal-server");
        let data = TempDir::new("hostile-server");
        let created = Command::new(&binary)
            .args(["app", "create", "hostile", "--data"])
            .arg(&data.0)
            .output()
            .expect("run appsignal-server app create");
        assert!(
            created.status.success(),
            "app create failed: {}",
            String::from_utf8_lossy(&created.stderr)
        );
        let key = String::from_utf8_lossy(&created.stdout)
            .lines()
            .last()
            .expect("app create printed no key")
            .trim()
            .to_string();
        let mut child = Command::new(&binary)
            .args(["serve", "--listen", "127.0.0.1:0", "--data"])
            .arg(&data.0)
            .args(["--read-timeout", &READ_TIMEOUT_SECS.to_string()])
            .args(["--header-timeout", &READ_TIMEOUT_SECS.to_string()])
            .args(["--max-body-bytes", &MAX_BODY.to_string()])
            .args(["--max-payload-bytes", &max_payload.to_string()])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn appsignal-server serve");
        let stdout = child.stdout.take().expect("server stdout");
        let process = ChildGuard(child);
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("read the server's first line");
        // "appsignal-server: dashboard at http://127.0.0.1:PORT/ (Push API: ...)"
        let addr = line
            .split("http://")
            .nth(1)
            .and_then(|rest| rest.split('/').next())
            .and_then(|a| a.parse().ok())
            .unwrap_or_else(|| panic!("no listen address in the server's output: {line:?}"));
        Server {
            process,
            addr,
            key,
            _data: data,
        }
    }

    fn transmit_path(&self) -> String {
        format!(
            "/1/transmit?api_key={}&name=hostile&environment=test&hostname=h",
            self.key
        )
    }

    fn rss_kb(&self) -> u64 {
        proc_status_kb(self.process.pid(), "VmRSS")
    }

    fn peak_kb(&self) -> u64 {
        proc_status_kb(self.process.pid(), "VmHWM")
    }

    fn connect(&self) -> TcpStream {
        let stream = TcpStream::connect(self.addr).expect("connect to the server");
        // A safety net so a server that never answers fails the test instead of hanging it.
        stream
            .set_read_timeout(Some(Duration::from_secs(60)))
            .and_then(|_| stream.set_write_timeout(Some(Duration::from_secs(60))))
            .expect("set socket timeouts");
        stream
    }
}

/// Sends one request with `Connection: close` and returns the status code and body.
fn request(server: &Server, path: &str, headers: &[(&str, String)], body: &[u8]) -> (u16, String) {
    let mut stream = server.connect();
    let mut head = format!("POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n");
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    // The server may answer and close before taking the whole body (e.g. 413 on the
    // declared length); a failed write is then expected, the answer is what counts.
    let _ = stream
        .write_all(head.as_bytes())
        .and_then(|_| stream.write_all(body));
    read_response(&mut stream)
}

fn read_response(stream: &mut TcpStream) -> (u16, String) {
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response);
    let text = String::from_utf8_lossy(&response).to_string();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no HTTP status in the answer: {text:?}"));
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.trim().to_string())
        .unwrap_or_default();
    (status, body)
}

fn protobuf_headers(len: usize, gzip: bool) -> Vec<(&'static str, String)> {
    let mut headers = vec![
        ("Content-Type", "application/x-protobuf".to_string()),
        ("Content-Length", len.to_string()),
    ];
    if gzip {
        headers.push(("Content-Encoding", "gzip".to_string()));
    }
    headers
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::new(), flate2::Compression::best());
    encoder.write_all(data).expect("gzip");
    encoder.finish().expect("gzip")
}

/// `size` zero bytes gzip'd, built chunk by chunk (never held inflated).
fn gzip_bomb(size: usize) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::new(), flate2::Compression::best());
    let zeros = vec![0u8; 1024 * 1024];
    for _ in 0..size / zeros.len() {
        encoder.write_all(&zeros).expect("gzip");
    }
    encoder.finish().expect("gzip")
}

/// HTTP/1.1 chunked transfer coding of `data` in chunks of `size`.
fn chunked(data: &[u8], size: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + data.len() / size * 10 + 8);
    for chunk in data.chunks(size) {
        out.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
        out.extend_from_slice(chunk);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"0\r\n\r\n");
    out
}

fn valid_payload(id: &str) -> Vec<u8> {
    Payload {
        payload_id: id.to_string(),
        hostname: "h".into(),
        actions: vec![v1::ActionMinute {
            namespace: "web".into(),
            action: "Hostile#control".into(),
            count: 1,
            ..Default::default()
        }],
        ..Default::default()
    }
    .encode_to_vec()
}

/// A Payload whose `actions` field (5) announces `announced` bytes and carries 3.
fn lying_length(announced: u64) -> Vec<u8> {
    let mut body = Vec::new();
    prost::encoding::encode_key(5, prost::encoding::WireType::LengthDelimited, &mut body);
    prost::encoding::encode_varint(announced, &mut body);
    body.extend_from_slice(&[1, 2, 3]);
    body
}

struct Attack {
    name: &'static str,
    path: String,
    headers: Vec<(&'static str, String)>,
    body: Vec<u8>,
    expected: u16,
}

fn attacks(server: &Server, bomb: &[u8]) -> Vec<Attack> {
    let ok = gzip(&valid_payload("attack-body"));
    let transmit = server.transmit_path();
    let mut list = vec![
        Attack {
            name: "gzip bomb (1 GiB of zeros)",
            path: transmit.clone(),
            headers: protobuf_headers(bomb.len(), true),
            body: bomb.to_vec(),
            expected: 413,
        },
        Attack {
            name: "protobuf field announcing 4 GiB, identity",
            path: transmit.clone(),
            headers: protobuf_headers(lying_length(u32::MAX as u64).len(), false),
            body: lying_length(u32::MAX as u64),
            expected: 400,
        },
        Attack {
            name: "protobuf field announcing 2^63 bytes, gzip'd",
            path: transmit.clone(),
            headers: protobuf_headers(gzip(&lying_length(1 << 63)).len(), true),
            body: gzip(&lying_length(1 << 63)),
            expected: 400,
        },
        Attack {
            name: "Content-Length of 1 TB declared",
            path: transmit.clone(),
            headers: protobuf_headers(1 << 40, true),
            body: ok.clone(),
            expected: 413,
        },
        Attack {
            name: "body over --max-body-bytes",
            path: transmit.clone(),
            headers: protobuf_headers(MAX_BODY + 1, false),
            body: vec![0x0a; MAX_BODY + 1],
            expected: 413,
        },
        Attack {
            name: "chunked body over --max-body-bytes, no length",
            path: transmit.clone(),
            headers: vec![
                ("Content-Type", "application/x-protobuf".into()),
                ("Transfer-Encoding", "chunked".into()),
            ],
            body: chunked(&vec![0x0a; MAX_BODY + 1024 * 1024], 64 * 1024),
            expected: 413,
        },
        Attack {
            name: "Content-Type application/json",
            path: transmit.clone(),
            headers: vec![
                ("Content-Type", "application/json".into()),
                ("Content-Encoding", "gzip".into()),
                ("Content-Length", ok.len().to_string()),
            ],
            body: ok.clone(),
            expected: 415,
        },
        Attack {
            name: "Content-Encoding br",
            path: transmit.clone(),
            headers: vec![
                ("Content-Type", "application/x-protobuf".into()),
                ("Content-Encoding", "br".into()),
                ("Content-Length", ok.len().to_string()),
            ],
            body: ok.clone(),
            expected: 415,
        },
        Attack {
            name: "gzip header then garbage",
            path: transmit.clone(),
            headers: protobuf_headers(12, true),
            body: vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff, 0xde, 0xad],
            expected: 400,
        },
        Attack {
            name: "valid gzip of non-protobuf bytes",
            path: transmit.clone(),
            headers: protobuf_headers(gzip(b"\xff\xff\xff\xff\xff").len(), true),
            body: gzip(b"\xff\xff\xff\xff\xff"),
            expected: 400,
        },
        Attack {
            name: "unknown api_key",
            path: "/1/transmit?api_key=not-a-key".into(),
            headers: protobuf_headers(ok.len(), true),
            body: ok.clone(),
            expected: 401,
        },
        Attack {
            name: "no api_key",
            path: "/1/transmit".into(),
            headers: protobuf_headers(ok.len(), true),
            body: ok.clone(),
            expected: 401,
        },
        Attack {
            name: "api_key of 64 KiB",
            path: format!("/1/transmit?api_key={}", "k".repeat(64 * 1024)),
            headers: protobuf_headers(ok.len(), true),
            body: ok.clone(),
            expected: 0, // any 4xx: 401 or 414/431 for the long line
        },
        Attack {
            name: "api_key with SQL and percent-encoding",
            path: "/1/transmit?api_key=%27%20OR%201%3D1%20--%00".into(),
            headers: protobuf_headers(ok.len(), true),
            body: ok.clone(),
            expected: 401,
        },
    ];
    list.push(Attack {
        name: "auth with a bad key",
        path: "/1/auth?api_key=nope".into(),
        headers: vec![("Content-Length", "0".into())],
        body: Vec::new(),
        expected: 401,
    });
    list
}

fn run_round(server: &Server, attacks: &[Attack], report: bool) {
    for attack in attacks {
        let (status, body) = request(server, &attack.path, &attack.headers, &attack.body);
        if report {
            println!("  {:<48} -> {status} {body}", attack.name);
        }
        if attack.expected == 0 {
            assert!(
                (400..500).contains(&status),
                "{}: expected a 4xx, got {status} {body}",
                attack.name
            );
        } else {
            assert_eq!(
                status, attack.expected,
                "{}: expected {}, got {status} {body}",
                attack.name, attack.expected
            );
        }
    }
}

fn assert_control_accepted(server: &Server, id: &str) {
    let body = gzip(&valid_payload(id));
    let (status, text) = request(
        server,
        &server.transmit_path(),
        &protobuf_headers(body.len(), true),
        &body,
    );
    assert_eq!(status, 200, "a valid payload was refused: {status} {text}");
}

#[test]
fn hostile_requests_get_a_clear_4xx_and_server_memory_stays_flat() {
    let server = Server::start();
    let rounds = scale(10, 40);
    let bomb = gzip_bomb(1024 * 1024 * 1024);
    let attacks = attacks(&server, &bomb);
    assert_control_accepted(&server, "control-before");
    let rss_start = server.rss_kb();
    println!(
        "hostile input: {} attacks per round, gzip bomb {} bytes -> 1 GiB",
        attacks.len(),
        bomb.len()
    );
    run_round(&server, &attacks, true);
    let mut series = vec![server.rss_kb()];
    for _ in 1..rounds {
        run_round(&server, &attacks, false);
        series.push(server.rss_kb());
    }
    assert_control_accepted(&server, "control-after");
    let peak = server.peak_kb();
    let after_warmup = series[WARMUP_ROUNDS - 1];
    let end = series[series.len() - 1];
    println!("server VmRSS after each round (kB): {series:?}");
    println!(
        "server VmRSS: {rss_start} kB at start, {after_warmup} kB after {WARMUP_ROUNDS} warm-up \
         rounds, {end} kB after {rounds} rounds ({} requests, {:+} kB since warm-up); peak \
         VmHWM {peak} kB",
        rounds * attacks.len(),
        end as i64 - after_warmup as i64
    );
    let growth = end.saturating_sub(after_warmup);
    assert!(
        growth < RSS_GROWTH_BOUND_KB,
        "server RSS grew by {growth} kB over {} rounds after warm-up (bound {RSS_GROWTH_BOUND_KB} kB)",
        rounds - WARMUP_ROUNDS
    );
    assert!(
        peak < PEAK_BOUND_KB,
        "server peak RSS {peak} kB (bound {PEAK_BOUND_KB} kB): a bomb was inflated?"
    );
}

/// Opens a request with a declared body and sends only `sent` bytes of it.
fn slow_body_connection(server: &Server, declared: usize, sent: usize) -> TcpStream {
    let mut stream = server.connect();
    let head = format!(
        "POST {} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\
         Content-Type: application/x-protobuf\r\nContent-Length: {declared}\r\n\r\n",
        server.transmit_path()
    );
    stream
        .write_all(head.as_bytes())
        .and_then(|_| stream.write_all(&vec![0x0a; sent]))
        .expect("write the start of a slow body");
    stream
}

/// Sends half of a request line and a few header bytes, then stalls.
fn slow_header_connection(server: &Server) -> TcpStream {
    let mut stream = server.connect();
    stream
        .write_all(b"POST /1/transmit HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: a")
        .expect("write the start of slow headers");
    stream
}

#[test]
fn slow_bodies_time_out_with_408_and_many_slow_connections_do_not_starve_the_server() {
    let server = Server::start();
    let connections = scale(200, 1000);
    assert_control_accepted(&server, "slow-control-before");
    let rss_start = server.rss_kb();

    // One body trickled a byte at a time: it must end with 408 (READ_TIMEOUT_SECS),
    // whatever the pace, not wait for the rest.
    let mut trickle = slow_body_connection(&server, 1000, 1);
    for _ in 0..5 {
        std::thread::sleep(Duration::from_millis(100));
        if trickle.write_all(&[0x0a]).is_err() {
            break;
        }
    }
    let (status, text) = read_response(&mut trickle);
    println!("slow body (1 byte per 100 ms of a declared 1000): {status} {text}");
    assert_eq!(status, 408, "a trickled body must time out with 408");

    // Many stalled bodies and stalled headers at once.
    let mut slow_bodies: Vec<TcpStream> = (0..connections)
        .map(|_| slow_body_connection(&server, 4 * 1024 * 1024, 512))
        .collect();
    let slow_headers: Vec<TcpStream> = (0..connections)
        .map(|_| slow_header_connection(&server))
        .collect();
    let headers_stalled_at = std::time::Instant::now();
    // While they are all open, a real agent's request still goes through.
    assert_control_accepted(&server, "slow-control-during");
    let rss_during = server.rss_kb();

    let mut answers = std::collections::BTreeMap::new();
    for stream in &mut slow_bodies {
        let (status, _) = read_response(stream);
        *answers.entry(status).or_insert(0usize) += 1;
    }
    println!("{connections} stalled bodies answered: {answers:?}");
    assert_eq!(
        answers.get(&408),
        Some(&connections),
        "every stalled body must end with 408"
    );
    drop(slow_bodies);

    // Stalled headers: the server closes them once its header timeout has passed,
    // and they cost no memory worth speaking of.
    let header_deadline = Duration::from_secs(READ_TIMEOUT_SECS) + Duration::from_secs(1);
    if let Some(left) = header_deadline.checked_sub(headers_stalled_at.elapsed()) {
        std::thread::sleep(left);
    }
    let closed = slow_headers
        .iter()
        .filter(|stream| {
            let _ = stream.set_read_timeout(Some(Duration::from_millis(10)));
            let mut byte = [0u8; 1];
            let mut reader: &TcpStream = stream;
            reader.read(&mut byte).is_ok()
        })
        .count();
    println!(
        "{connections} stalled header connections: {closed} closed by the server after its \
         {READ_TIMEOUT_SECS} s header timeout"
    );
    assert_eq!(
        closed, connections,
        "every connection stalled inside its headers must be closed after the header timeout"
    );
    assert_control_accepted(&server, "slow-control-after");
    let rss_end = server.rss_kb();
    drop(slow_headers);
    println!(
        "server VmRSS: {rss_start} kB before, {rss_during} kB with {} slow connections open, \
         {rss_end} kB after",
        2 * connections
    );
    let growth = rss_during.max(rss_end).saturating_sub(rss_start);
    // Generous: 64 kB per connection would already be a problem at 1 000 connections.
    let bound = 32 * 1024 + 64 * connections as u64;
    assert!(
        growth < bound,
        "server RSS grew by {growth} kB with {} slow connections (bound {bound} kB)",
        2 * connections
    );
}

/// Known failure, kept out of the normal run until the server bounds it (see
/// reliability/README.md): a valid key and a 1 KiB gzip body of repeated empty samples
/// (`0x32 0x00`, 2 bytes each) inflate to a 1 MiB Payload that decodes into 512 Ki
/// `Transaction` structs of 392 bytes: about 200 MB, over 300 MB at the peak while the
/// Vec doubles. At the default 50 MiB limit that is about 10 GB. Run it with
/// `cargo nextest run -p appsignal-reliability --run-ignored only`.
#[test]
fn repeated_empty_messages_do_not_amplify_server_memory() {
    let max_payload = 1024 * 1024;
    let server = Server::start_with(max_payload);
    let body = gzip(&[0x32u8, 0x00].repeat(max_payload / 2));
    let peak_before = server.peak_kb();
    let (status, text) = request(
        &server,
        &server.transmit_path(),
        &protobuf_headers(body.len(), true),
        &body,
    );
    let peak_after = server.peak_kb();
    let growth = peak_after.saturating_sub(peak_before);
    println!(
        "{} bytes of gzip ({max_payload} inflated, {} empty samples): {status} {text}; \
         server peak VmHWM {peak_before} kB -> {peak_after} kB (+{growth} kB)",
        body.len(),
        max_payload / 2
    );
    let bound = 64 * 1024;
    assert!(
        growth < bound,
        "a {}-byte body grew the server's peak RSS by {growth} kB (bound {bound} kB)",
        body.len()
    );
}
