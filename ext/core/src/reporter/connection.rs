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
/// Right after a launch the new agent binds its socket within a few hundred
/// milliseconds: retry at least this often then, so it is not left waiting for us.
const MAX_BACKOFF_AFTER_LAUNCH: Duration = Duration::from_millis(100);
const AFTER_LAUNCH: Duration = Duration::from_secs(3);
/// How often an idle connection is checked for a vanished agent. A write finds it at
/// once; this finds it when the app sends nothing, so the agent (which also
/// collects host metrics and retries spooled payloads) is replaced promptly anyway.
const PEER_CHECK_EVERY: Duration = Duration::from_millis(100);

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
    launched_at: Option<Instant>,
    last_peer_check: Instant,
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
            launched_at: None,
            last_peer_check: Instant::now(),
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
        self.drop_if_agent_gone();
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
            AgentStatus::Launched => {
                self.launched_at = Some(Instant::now());
                self.backoff = MIN_BACKOFF;
            }
            AgentStatus::Running | AgentStatus::Starting => {}
        }
        match self.open_stream() {
            Ok(mut stream) => {
                if write_all_nosignal(&mut stream, hello).is_ok() {
                    self.launcher.connected();
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
        let just_launched = self
            .launched_at
            .is_some_and(|at| at.elapsed() < AFTER_LAUNCH);
        let cap = if just_launched {
            MAX_BACKOFF_AFTER_LAUNCH
        } else {
            MAX_BACKOFF
        };
        self.backoff = self.backoff.min(cap);
        self.next_attempt = Instant::now() + self.backoff;
        self.backoff = (self.backoff * 2).min(cap);
    }

    /// Notices an agent that went away while nothing was written: the agent never
    /// writes to the socket, so readable or hung-up means it closed its end.
    fn drop_if_agent_gone(&mut self) {
        let Some(stream) = self.stream.as_ref() else {
            return;
        };
        if self.last_peer_check.elapsed() < PEER_CHECK_EVERY {
            return;
        }
        self.last_peer_check = Instant::now();
        if peer_closed(stream) {
            log::write(Level::Debug, "the agent closed the socket, reconnecting");
            self.backoff = MIN_BACKOFF;
            self.schedule_retry();
            // Due now: the launcher decides at once whether to start a new agent.
            self.next_attempt = Instant::now();
        }
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

/// A zero-timeout poll: any readiness on a socket the agent never writes to (data,
/// end of file, hang-up, error) means the agent is gone or misbehaving.
fn peer_closed(stream: &UnixStream) -> bool {
    use std::os::fd::AsRawFd;
    let mut poll = libc::pollfd {
        fd: stream.as_raw_fd(),
        events: libc::POLLIN | libc::POLLRDHUP,
        revents: 0,
    };
    // SAFETY: one valid pollfd for the duration of the call; timeout 0 never blocks.
    let ready = unsafe { libc::poll(&mut poll, 1, 0) };
    ready > 0 && poll.revents != 0
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::UnixListener;

    fn config(dir: &std::path::Path) -> ReporterConfig {
        ReporterConfig {
            agent_path: None,
            working_dir: dir.to_path_buf(),
            log_path: None,
            agent_env: vec![],
            channel_capacity: 16,
            language_version: String::new(),
            library_version: String::new(),
            revision: String::new(),
        }
    }

    #[test]
    fn an_idle_connection_notices_the_agent_going_away() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = config(dir.path());
        let listener = UnixListener::bind(cfg.socket_path()).unwrap();
        let mut connection = Connection::new(cfg);
        let mut outcome = Outcome::default();
        connection.connect_if_due(b"hello", &mut outcome);
        assert!(outcome.connected);
        let (accepted, _) = listener.accept().unwrap();

        std::thread::sleep(PEER_CHECK_EVERY + Duration::from_millis(20));
        connection.connect_if_due(b"hello", &mut Outcome::default());
        assert!(
            connection.is_connected(),
            "a live agent keeps the connection"
        );

        // The agent dies (its end closes) while the app sends nothing.
        drop(accepted);
        drop(listener);
        std::thread::sleep(PEER_CHECK_EVERY + Duration::from_millis(20));
        connection.connect_if_due(b"hello", &mut Outcome::default());
        assert!(!connection.is_connected(), "the closed peer was noticed");
    }

    #[test]
    fn retries_stay_frequent_right_after_a_launch() {
        let dir = tempfile::tempdir().unwrap();
        let mut connection = Connection::new(config(dir.path()));
        for _ in 0..10 {
            connection.schedule_retry();
        }
        assert_eq!(connection.backoff, MAX_BACKOFF);
        connection.launched_at = Some(Instant::now());
        connection.schedule_retry();
        assert!(connection.next_attempt <= Instant::now() + MAX_BACKOFF_AFTER_LAUNCH);
        assert_eq!(connection.backoff, MAX_BACKOFF_AFTER_LAUNCH);
    }
}
