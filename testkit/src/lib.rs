//! A small HTTP/1.1 Push API receiver for tests (std threads, no async runtime).
//!
//! It answers `POST /1/transmit` according to its [`Mode`], keeps every decoded
//! `Payload` it accepted, and records every request. `POST /1/auth` answers 200 for
//! the key it was told to accept (any key when none was set), 401 otherwise.
//! Control endpoints for out-of-process users (the Ruby specs):
//! `GET /__payloads` (JSON array), `GET /__requests` (JSON array), `GET /__check_ins`
//! (the NDJSON check-in events received on `/check_ins/json`),
//! `POST /__mode?status=500|hang|accept`.

use appsignal_proto::v1::Payload;
use prost::Message;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Accept,
    Status(u16),
    /// Read the request, then never answer (until the mode changes).
    Hang,
}

#[derive(Clone, Debug)]
pub struct RecordedRequest {
    pub method: String,
    pub path_and_query: String,
    pub headers: Vec<(String, String)>,
    pub status: u16,
    pub body_len: usize,
}

#[derive(Default)]
struct State {
    payloads: Vec<Payload>,
    raw_bodies: Vec<Vec<u8>>,
    check_ins: Vec<serde_json::Value>,
    requests: Vec<RecordedRequest>,
    mode: Option<Mode>,
    accepted_key: Option<String>,
}

#[derive(Clone)]
pub struct PushReceiver {
    port: u16,
    state: Arc<Mutex<State>>,
}

impl PushReceiver {
    /// Binds 127.0.0.1 on a free port and serves in background threads.
    pub fn start() -> PushReceiver {
        Self::bind("127.0.0.1:0").expect("bind 127.0.0.1:0")
    }

    pub fn bind(addr: &str) -> std::io::Result<PushReceiver> {
        let listener = TcpListener::bind(addr)?;
        let port = listener.local_addr()?.port();
        let receiver = PushReceiver {
            port,
            state: Arc::new(Mutex::new(State::default())),
        };
        let serving = receiver.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let conn = serving.clone();
                std::thread::spawn(move || conn.serve(stream));
            }
        });
        Ok(receiver)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn set_mode(&self, mode: Mode) {
        self.lock().mode = Some(mode);
    }

    /// Only this key passes `/1/auth` and `/1/transmit` (401 for others).
    pub fn accept_only_key(&self, key: &str) {
        self.lock().accepted_key = Some(key.to_string());
    }

    pub fn payloads(&self) -> Vec<Payload> {
        self.lock().payloads.clone()
    }

    /// The gzip'd bodies exactly as received, for byte-level leak checks.
    pub fn raw_bodies(&self) -> Vec<Vec<u8>> {
        self.lock().raw_bodies.clone()
    }

    /// Check-in events received on `/check_ins/json` (NDJSON, one event per line).
    pub fn check_ins(&self) -> Vec<serde_json::Value> {
        self.lock().check_ins.clone()
    }

    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.lock().requests.clone()
    }

    /// Polls until `done` holds for the accepted payloads or `timeout` passes.
    pub fn wait_for(&self, timeout: Duration, done: impl Fn(&[Payload]) -> bool) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if done(&self.lock().payloads) {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn serve(&self, stream: TcpStream) {
        let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
        let mut reader = BufReader::new(match stream.try_clone() {
            Ok(s) => s,
            Err(_) => return,
        });
        let mut writer = stream;
        while let Some(request) = read_request(&mut reader) {
            let (status, body, content_type) = self.answer(&request);
            if status == 0 {
                // Hang: keep the connection open without answering.
                std::thread::sleep(Duration::from_secs(3600));
                return;
            }
            let head = format!(
                "HTTP/1.1 {status} {}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\r\n",
                reason(status),
                body.len()
            );
            if writer
                .write_all(head.as_bytes())
                .and_then(|_| writer.write_all(&body))
                .is_err()
            {
                return;
            }
        }
    }

    fn answer(&self, request: &Request) -> (u16, Vec<u8>, &'static str) {
        let path = request.target.split('?').next().unwrap_or("");
        let query = request.target.split_once('?').map(|(_, q)| q).unwrap_or("");
        match (request.method.as_str(), path) {
            ("GET", "/__payloads") => {
                let json = serde_json::to_vec(&self.payloads()).unwrap_or_default();
                (200, json, "application/json")
            }
            ("GET", "/__requests") => {
                let list: Vec<_> = self
                    .requests()
                    .into_iter()
                    .map(|r| {
                        serde_json::json!({"method": r.method, "path_and_query": r.path_and_query,
                            "status": r.status, "body_len": r.body_len,
                            "headers": r.headers.iter().map(|(k, v)| vec![k.clone(), v.clone()]).collect::<Vec<_>>()})
                    })
                    .collect();
                (
                    200,
                    serde_json::to_vec(&list).unwrap_or_default(),
                    "application/json",
                )
            }
            ("GET", "/__check_ins") => (
                200,
                serde_json::to_vec(&self.check_ins()).unwrap_or_default(),
                "application/json",
            ),
            ("POST", "/check_ins/json") => {
                let status = self.check_in(request, query);
                self.record(request, status);
                (status, Vec::new(), "text/plain")
            }
            ("GET", "/__raw_bodies_hex") => {
                let list: Vec<String> = self.raw_bodies().iter().map(|b| hex(b)).collect();
                (
                    200,
                    serde_json::to_vec(&list).unwrap_or_default(),
                    "application/json",
                )
            }
            ("POST", "/__mode") => {
                let mode = match query_value(query, "status").as_deref() {
                    Some("hang") => Mode::Hang,
                    Some("accept") | None => Mode::Accept,
                    Some(code) => Mode::Status(code.parse().unwrap_or(500)),
                };
                self.set_mode(mode);
                (200, b"ok".to_vec(), "text/plain")
            }
            ("POST", "/1/auth") => {
                let status = if self.key_ok(query) { 200 } else { 401 };
                self.record(request, status);
                (status, Vec::new(), "text/plain")
            }
            ("POST", "/1/transmit") => {
                let status = self.transmit(request, query);
                self.record(request, status);
                (status, Vec::new(), "text/plain")
            }
            _ => (404, b"not found".to_vec(), "text/plain"),
        }
    }

    fn key_ok(&self, query: &str) -> bool {
        let accepted = self.lock().accepted_key.clone();
        match (accepted, query_value(query, "api_key")) {
            (None, Some(key)) => !key.is_empty(),
            (Some(accepted), Some(key)) => accepted == key,
            (_, None) => false,
        }
    }

    fn check_in(&self, request: &Request, query: &str) -> u16 {
        if let Some(Mode::Status(code)) = self.lock().mode {
            return code;
        }
        if !self.key_ok(query) {
            return 401;
        }
        let text = String::from_utf8_lossy(&request.body);
        let mut events = Vec::new();
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            match serde_json::from_str::<serde_json::Value>(line) {
                Ok(event) => events.push(event),
                Err(_) => return 400,
            }
        }
        self.lock().check_ins.extend(events);
        200
    }

    fn transmit(&self, request: &Request, query: &str) -> u16 {
        match self.lock().mode.unwrap_or(Mode::Accept) {
            Mode::Hang => return 0,
            Mode::Status(code) => return code,
            Mode::Accept => {}
        }
        if !self.key_ok(query) {
            return 401;
        }
        let mut decompressed = Vec::new();
        let gzip = request
            .header("content-encoding")
            .is_some_and(|v| v.eq_ignore_ascii_case("gzip"));
        let bytes = if gzip {
            if flate2::read::GzDecoder::new(&request.body[..])
                .read_to_end(&mut decompressed)
                .is_err()
            {
                return 400;
            }
            &decompressed[..]
        } else {
            &request.body[..]
        };
        match Payload::decode(bytes) {
            Ok(payload) => {
                let mut state = self.lock();
                state.payloads.push(payload);
                state.raw_bodies.push(request.body.clone());
                200
            }
            Err(_) => 400,
        }
    }

    fn record(&self, request: &Request, status: u16) {
        self.lock().requests.push(RecordedRequest {
            method: request.method.clone(),
            path_and_query: request.target.clone(),
            headers: request.headers.clone(),
            status,
            body_len: request.body.len(),
        });
    }
}

struct Request {
    method: String,
    target: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Request {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

fn read_request(reader: &mut BufReader<TcpStream>) -> Option<Request> {
    let mut line = String::new();
    if reader.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_string();
    let target = parts.next()?.to_string();
    let mut headers = Vec::new();
    loop {
        let mut header = String::new();
        reader.read_line(&mut header).ok()?;
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((k, v)) = header.split_once(':') {
            headers.push((k.trim().to_string(), v.trim().to_string()));
        }
    }
    let len = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse::<usize>().ok())
        .unwrap_or(0);
    let mut body = vec![0; len.min(64 * 1024 * 1024)];
    reader.read_exact(&mut body).ok()?;
    Some(Request {
        method,
        target,
        headers,
        body,
    })
}

fn query_value(query: &str, key: &str) -> Option<String> {
    query.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (k == key).then(|| percent_decode(v))
    })
}

fn percent_decode(value: &str) -> String {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => match value
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
            {
                Some(b) => {
                    out.push(b);
                    i += 3;
                    continue;
                }
                None => out.push(b'%'),
            },
            b'+' => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        404 => "Not Found",
        413 => "Payload Too Large",
        429 => "Too Many Requests",
        _ => "Status",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_decoding_handles_escapes_and_plus() {
        assert_eq!(percent_decode("a%20b+c%2Fd"), "a b c/d");
        assert_eq!(percent_decode("100%"), "100%");
    }
}
