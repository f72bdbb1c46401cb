//! The worker's side of the agent socket. Frames wait in a bounded backlog while the
//! agent is away (restarting, being replaced), so a short outage loses nothing; past
//! the bound the oldest frames go first and their transactions are counted as dropped.

use super::agent_launcher::{AgentLauncher, AgentStatus};
use crate::config::ReporterConfig;
use crate::log::{self, Level};
use std::collections::VecDeque;
use std::os::unix::fs::FileTypeExt;
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Bytes of frames kept while the agent is unreachable.
pub const BACKLOG_MAX_BYTES: usize = 16 * 1024 * 1024;
const WRITE_TIMEOUT: Duration = Duration::from_secs(2);
const MIN_BACKOFF: Duration = Duration::from_millis(20);
const MAX_BACKOFF: Duration = Duration::from_secs(2);

pub struct QueuedFrame {
    pub bytes: Vec<u8>,
    pub transactions: u64,
}

pub struct Connection {
    socket_path: PathBuf,
    stream: Option<UnixStream>,
    backlog: VecDeque<QueuedFrame>,
    backlog_bytes: usize,
    next_attempt: Instant,
    backoff: Duration,
    launcher: AgentLauncher,
    gave_up: bool,
    logged_unreachable: bool,
}

/// What happened to frames this call: how many transactions went out, how many were dropped.
#[derive(Default, Debug, PartialEq, Eq)]
pub struct Outcome {
    pub sent: u64,
    pub dropped: u64,
    /// True when this call opened a new connection (the caller sends its hello first).
    pub connected: bool,
}

impl Connection {
    pub fn new(config: ReporterConfig) -> Connection {
        Connection {
            socket_path: config.socket_path(),
            stream: None,
            backlog: VecDeque::new(),
            backlog_bytes: 0,
            next_attempt: Instant::now(),
            backoff: MIN_BACKOFF,
            launcher: AgentLauncher::new(config),
            gave_up: false,
            logged_unreachable: false,
        }
    }

    pub fn is_connected(&self) -> bool {
        self.stream.is_some()
    }

    pub fn gave_up(&self) -> bool {
        self.gave_up
    }

    pub fn backlog_len(&self) -> usize {
        self.backlog.len()
    }

    pub fn enqueue(&mut self, frame: QueuedFrame, outcome: &mut Outcome) {
        if self.gave_up {
            outcome.dropped += frame.transactions;
            return;
        }
        self.backlog_bytes += frame.bytes.len();
        self.backlog.push_back(frame);
        while self.backlog_bytes > BACKLOG_MAX_BYTES {
            match self.backlog.pop_front() {
                Some(old) => {
                    self.backlog_bytes -= old.bytes.len();
                    outcome.dropped += old.transactions;
                }
                None => break,
            }
        }
    }

    /// Opens the socket when due. `hello` is written first on a fresh connection.
    pub fn connect_if_due(&mut self, hello: &[u8], outcome: &mut Outcome) {
        if self.stream.is_some() || self.gave_up || Instant::now() < self.next_attempt {
            return;
        }
        match self.launcher.ensure_running() {
            AgentStatus::GaveUp => {
                self.gave_up = true;
                outcome.dropped += self.backlog.iter().map(|f| f.transactions).sum::<u64>();
                self.backlog.clear();
                self.backlog_bytes = 0;
                return;
            }
            AgentStatus::Running | AgentStatus::Starting => {}
        }
        match self.open_stream() {
            Ok(mut stream) => {
                if write_all_nosignal(&mut stream, hello).is_ok() {
                    self.stream = Some(stream);
                    self.backoff = MIN_BACKOFF;
                    self.logged_unreachable = false;
                    outcome.connected = true;
                } else {
                    self.schedule_retry();
                }
            }
            Err(e) => {
                if !self.logged_unreachable {
                    log::write(
                        Level::Debug,
                        &format!(
                            "agent socket {} not reachable yet: {e}",
                            self.socket_path.display()
                        ),
                    );
                    self.logged_unreachable = true;
                }
                self.schedule_retry();
            }
        }
    }

    fn open_stream(&self) -> std::io::Result<UnixStream> {
        // Only a real socket: a symlink planted at the path would redirect our data.
        let meta = std::fs::symlink_metadata(&self.socket_path)?;
        if !meta.file_type().is_socket() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "path is not a Unix socket",
            ));
        }
        let stream = UnixStream::connect(&self.socket_path)?;
        stream.set_write_timeout(Some(WRITE_TIMEOUT))?;
        Ok(stream)
    }

    fn schedule_retry(&mut self) {
        self.stream = None;
        self.next_attempt = Instant::now() + self.backoff;
        self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
    }

    /// Writes queued frames in order until the backlog is empty or a write fails.
    pub fn flush(&mut self, outcome: &mut Outcome) {
        while let Some(frame) = self.backlog.front() {
            let Some(stream) = self.stream.as_mut() else {
                return;
            };
            match write_all_nosignal(stream, &frame.bytes) {
                Ok(()) => {
                    outcome.sent += frame.transactions;
                    self.backlog_bytes -= frame.bytes.len();
                    self.backlog.pop_front();
                }
                Err(e) => {
                    // The frame stays queued: a partial write is discarded by the agent
                    // with the connection, so resending it whole on the next one is safe.
                    log::write(
                        Level::Debug,
                        &format!("agent socket write failed, reconnecting: {e}"),
                    );
                    self.schedule_retry();
                    return;
                }
            }
        }
    }
}

/// `write_all` with MSG_NOSIGNAL: a vanished agent must give us EPIPE, never a
/// SIGPIPE delivered to the host app.
fn write_all_nosignal(stream: &mut UnixStream, mut bytes: &[u8]) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    while !bytes.is_empty() {
        // SAFETY: the pointer and length describe a live slice; the fd is owned by `stream`.
        let written = unsafe {
            libc::send(
                stream.as_raw_fd(),
                bytes.as_ptr().cast(),
                bytes.len(),
                libc::MSG_NOSIGNAL,
            )
        };
        if written < 0 {
            let error = std::io::Error::last_os_error();
            if error.kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return Err(error);
        }
        bytes = &bytes[written as usize..];
    }
    Ok(())
}
