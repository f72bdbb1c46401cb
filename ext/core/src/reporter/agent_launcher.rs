//! Decides whether an agent for this configuration is running, and starts one when
//! not: `appsignal-agent --daemonize`, which forks the real daemon and exits at once,
//! so the daemon is never our child (no zombie) and outlives the app.

use crate::config::ReporterConfig;
use crate::log::{self, Level};
use appsignal_proto::agent_lock::{pid_alive, AgentLock};
use std::fs::OpenOptions;
use std::io::Read;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

pub const AGENT_VERSION: &str = env!("CARGO_PKG_VERSION");
/// No more than one start attempt in this span: a failing agent is not hammered.
const LAUNCH_SPACING: Duration = Duration::from_secs(5);
/// The spacing after a launch that produced a running agent: one that was killed or
/// crashed later is replaced within about a second, not after up to five.
const RELAUNCH_SPACING: Duration = Duration::from_secs(1);
/// Start attempts that produced no agent before the extension gives up.
const MAX_FAILED_LAUNCHES: u32 = 3;
/// An agent gone within this many seconds of its start crashed at start (a killed
/// agent is replaced at once, but one that keeps crashing is not restarted every
/// second by every app process).
const QUICK_EXIT_SECS: u64 = 2;
/// The relaunch spacing doubles with each quick exit in a row, up to this.
const MAX_RELAUNCH_SPACING: Duration = Duration::from_secs(60);

#[derive(Debug, PartialEq, Eq)]
pub enum AgentStatus {
    /// A live agent owns the lock for this exact configuration and version.
    Running,
    /// None runs; this call just started one.
    Launched,
    /// None runs; a start was attempted recently (the spacing holds the next one).
    Starting,
    /// Starting failed repeatedly, or no agent binary: do not try again.
    GaveUp,
}

pub struct AgentLauncher {
    config: ReporterConfig,
    fingerprint: String,
    last_launch: Option<Instant>,
    launches_without_agent: u32,
    /// The agent started by `last_launch` (or found at start) was seen running.
    seen_running: bool,
    /// `last_launch` in Unix seconds, to compare with a lock's `started_at`.
    last_launch_unix: u64,
    /// Agents in a row that were gone within `QUICK_EXIT_SECS` of their start.
    quick_exits: u32,
    /// The last dead agent counted, so one death is counted once.
    last_dead_pid: Option<u32>,
}

impl AgentLauncher {
    pub fn new(config: ReporterConfig) -> AgentLauncher {
        let fingerprint = config.fingerprint();
        AgentLauncher {
            config,
            fingerprint,
            last_launch: None,
            launches_without_agent: 0,
            seen_running: false,
            last_launch_unix: 0,
            quick_exits: 0,
            last_dead_pid: None,
        }
    }

    pub fn ensure_running(&mut self) -> AgentStatus {
        if let Some(lock) = self.our_lock() {
            // A dead agent whose lock is newer than our last launch came from that
            // launch (or another process's): it ran, so the launch did not fail, even
            // if the worker never got to connect to it before it died.
            let started_since_launch =
                self.last_launch.is_some() && lock.started_at >= self.last_launch_unix;
            let alive = pid_alive(lock.pid);
            if alive || started_since_launch {
                self.launches_without_agent = 0;
                self.seen_running = true;
            }
            if alive {
                return AgentStatus::Running;
            }
            if self.seen_running {
                self.count_exit(&lock);
            }
        }
        if self.launches_without_agent >= MAX_FAILED_LAUNCHES {
            return AgentStatus::GaveUp;
        }
        let spacing = if self.seen_running {
            self.relaunch_spacing()
        } else {
            LAUNCH_SPACING
        };
        if self.last_launch.is_some_and(|at| at.elapsed() < spacing) {
            return AgentStatus::Starting;
        }
        let Some(agent_path) = self.config.agent_path.clone() else {
            return AgentStatus::Starting;
        };
        self.last_launch = Some(Instant::now());
        self.last_launch_unix = unix_now();
        self.launches_without_agent += 1;
        self.seen_running = false;
        self.launch(&agent_path);
        if self.launches_without_agent >= MAX_FAILED_LAUNCHES && !self.running_agent_matches() {
            log::write(
                Level::Error,
                &format!(
                    "the AppSignal agent did not start after {MAX_FAILED_LAUNCHES} attempts; check that the working \
                     directory {} is writable (APPSIGNAL_WORKING_DIRECTORY_PATH) and see the agent's lines in this log",
                    self.config.working_dir.display()
                ),
            );
        }
        AgentStatus::Launched
    }

    /// Counts an agent that ran and is gone, once, by how long it lived.
    fn count_exit(&mut self, lock: &AgentLock) {
        if self.last_dead_pid == Some(lock.pid) {
            return;
        }
        self.last_dead_pid = Some(lock.pid);
        let lived = unix_now().saturating_sub(lock.started_at);
        if lived >= QUICK_EXIT_SECS {
            self.quick_exits = 0;
            return;
        }
        self.quick_exits += 1;
        if self.quick_exits == 3 {
            log::write(
                Level::Error,
                &format!(
                    "the AppSignal agent keeps exiting right after it starts ({} times in a row); restarts are \
                     spaced out more each time, up to {} s; see the agent's lines in this log for why",
                    self.quick_exits,
                    MAX_RELAUNCH_SPACING.as_secs()
                ),
            );
        }
    }

    /// One second after an agent that ran is gone; after quick exits in a row 1, 2,
    /// 4... s, up to `MAX_RELAUNCH_SPACING`.
    fn relaunch_spacing(&self) -> Duration {
        let doublings = self.quick_exits.saturating_sub(1).min(6);
        (RELAUNCH_SPACING * 2u32.pow(doublings)).min(MAX_RELAUNCH_SPACING)
    }

    /// The worker connected to the agent's socket. An agent that was up by the time
    /// its launch returned is connected to without another `ensure_running`, so this
    /// is where the launcher learns the agent ran: without it, the agent's death was
    /// treated as a failed start and its replacement waited for `LAUNCH_SPACING`.
    pub fn connected(&mut self) {
        self.seen_running = true;
        self.launches_without_agent = 0;
    }

    fn running_agent_matches(&self) -> bool {
        self.our_lock().is_some_and(|lock| pid_alive(lock.pid))
    }

    /// The lock, when it is for this exact configuration and version.
    fn our_lock(&self) -> Option<AgentLock> {
        read_lock(&self.config.lock_path())
            .filter(|lock| lock.version == AGENT_VERSION && lock.config == self.fingerprint)
    }

    fn launch(&self, agent_path: &Path) {
        let spawned = Command::new(agent_path)
            .arg("--daemonize")
            .envs(
                self.config
                    .agent_env
                    .iter()
                    .map(|(k, v)| (k.as_str(), v.as_str())),
            )
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        let mut child = match spawned {
            Ok(child) => child,
            Err(e) => {
                log::write(
                    Level::Error,
                    &format!(
                        "could not start the AppSignal agent at {}: {e}",
                        agent_path.display()
                    ),
                );
                return;
            }
        };
        // The daemonizing parent exits right after its fork; reap it so it is no zombie.
        let deadline = Instant::now() + Duration::from_secs(2);
        loop {
            match child.try_wait() {
                Ok(Some(status)) => {
                    if !status.success() {
                        log::write(
                            Level::Warn,
                            &format!("the AppSignal agent exited at start with {status}"),
                        );
                    }
                    return;
                }
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(5))
                }
                _ => return,
            }
        }
    }
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn read_lock(path: &Path) -> Option<AgentLock> {
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(path)
        .ok()?;
    let mut text = String::new();
    file.take(4096).read_to_string(&mut text).ok()?;
    AgentLock::parse(&text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use appsignal_proto::agent_lock::is_zombie;

    fn config(dir: &Path, agent_path: Option<std::path::PathBuf>) -> ReporterConfig {
        ReporterConfig {
            agent_path,
            working_dir: dir.to_path_buf(),
            log_path: None,
            agent_env: vec![
                ("APPSIGNAL_APP_NAME".into(), "app".into()),
                ("APPSIGNAL_PUSH_API_KEY".into(), "k".into()),
            ],
            channel_capacity: 16,
            language_version: String::new(),
            library_version: String::new(),
            revision: String::new(),
        }
    }

    #[test]
    fn a_live_agent_with_our_fingerprint_is_reused() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = config(dir.path(), None);
        let lock = AgentLock {
            pid: std::process::id(),
            version: AGENT_VERSION.into(),
            config: cfg.fingerprint(),
            started_at: 0,
        };
        std::fs::write(cfg.lock_path(), lock.render()).unwrap();
        assert_eq!(
            AgentLauncher::new(cfg).ensure_running(),
            AgentStatus::Running
        );
    }

    #[test]
    fn another_configuration_or_a_dead_pid_is_not_reused() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = config(dir.path(), None);
        let foreign = AgentLock {
            pid: std::process::id(),
            version: AGENT_VERSION.into(),
            config: "other".into(),
            started_at: 0,
        };
        std::fs::write(cfg.lock_path(), foreign.render()).unwrap();
        assert_eq!(
            AgentLauncher::new(cfg.clone()).ensure_running(),
            AgentStatus::Starting
        );
        let dead = AgentLock {
            pid: 0x7fff_fff0,
            version: AGENT_VERSION.into(),
            config: cfg.fingerprint(),
            started_at: 0,
        };
        std::fs::write(cfg.lock_path(), dead.render()).unwrap();
        assert_eq!(
            AgentLauncher::new(cfg).ensure_running(),
            AgentStatus::Starting
        );
    }

    #[test]
    fn an_agent_that_never_comes_up_makes_the_launcher_give_up() {
        let dir = tempfile::tempdir().unwrap();
        let mut launcher = AgentLauncher::new(config(dir.path(), Some("/bin/false".into())));
        for _ in 0..MAX_FAILED_LAUNCHES {
            launcher.last_launch = None; // skip the spacing, not the counting
            assert_eq!(launcher.ensure_running(), AgentStatus::Launched);
        }
        assert_eq!(launcher.ensure_running(), AgentStatus::GaveUp);
    }

    #[test]
    fn an_agent_that_ran_and_died_is_replaced_after_one_second_not_five() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = config(dir.path(), Some("/bin/true".into()));
        let live = AgentLock {
            pid: std::process::id(),
            version: AGENT_VERSION.into(),
            config: cfg.fingerprint(),
            started_at: 0,
        };
        let dead = AgentLock {
            pid: 0x7fff_fff0,
            ..live.clone()
        };
        let mut launcher = AgentLauncher::new(cfg.clone());
        std::fs::write(cfg.lock_path(), dead.render()).unwrap();
        assert_eq!(launcher.ensure_running(), AgentStatus::Launched);
        std::fs::write(cfg.lock_path(), live.render()).unwrap();
        assert_eq!(launcher.ensure_running(), AgentStatus::Running);
        std::fs::write(cfg.lock_path(), dead.render()).unwrap(); // killed
        launcher.last_launch = Some(Instant::now() - Duration::from_millis(1100));
        assert_eq!(launcher.ensure_running(), AgentStatus::Launched);
        assert!(
            launcher.last_launch.unwrap().elapsed() < Duration::from_millis(500),
            "relaunched at once"
        );
        // This launch produced nothing: the next one waits the full spacing.
        launcher.last_launch = Some(Instant::now() - Duration::from_millis(1100));
        let before = launcher.last_launch;
        assert_eq!(launcher.ensure_running(), AgentStatus::Starting);
        assert_eq!(
            launcher.last_launch, before,
            "no relaunch before LAUNCH_SPACING when the agent never ran"
        );
    }

    #[test]
    fn an_agent_connected_to_at_once_after_its_launch_is_replaced_after_one_second() {
        // The agent was up before `launch` returned: the worker connected without
        // asking the launcher again. Its death is not a failed start.
        let dir = tempfile::tempdir().unwrap();
        let cfg = config(dir.path(), Some("/bin/true".into()));
        let mut launcher = AgentLauncher::new(cfg);
        assert_eq!(launcher.ensure_running(), AgentStatus::Launched);
        launcher.connected();
        launcher.last_launch = Some(Instant::now() - Duration::from_millis(1100));
        assert_eq!(launcher.ensure_running(), AgentStatus::Launched);
    }

    #[test]
    fn an_agent_that_started_after_the_launch_and_died_unseen_is_replaced_after_one_second() {
        // The worker never connected to it (it died first, or the worker was busy):
        // its lock, newer than the launch, is the evidence that the launch worked.
        let dir = tempfile::tempdir().unwrap();
        let cfg = config(dir.path(), Some("/bin/true".into()));
        let mut launcher = AgentLauncher::new(cfg.clone());
        assert_eq!(launcher.ensure_running(), AgentStatus::Launched);
        let dead_but_newer = AgentLock {
            pid: 0x7fff_fff0,
            version: AGENT_VERSION.into(),
            config: cfg.fingerprint(),
            started_at: unix_now(),
        };
        std::fs::write(cfg.lock_path(), dead_but_newer.render()).unwrap();
        launcher.last_launch = Some(Instant::now() - Duration::from_millis(1100));
        assert_eq!(launcher.ensure_running(), AgentStatus::Launched);
    }

    #[test]
    fn an_agent_that_keeps_exiting_at_start_is_restarted_less_and_less_often() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = config(dir.path(), Some("/bin/true".into()));
        let mut launcher = AgentLauncher::new(cfg.clone());
        launcher.connected();
        let died = |pid: u32, lived: u64| AgentLock {
            pid,
            version: AGENT_VERSION.into(),
            config: cfg.fingerprint(),
            started_at: unix_now() - lived,
        };
        let mut spacings = Vec::new();
        for pid in 0x7fff_ff00..0x7fff_ff05 {
            std::fs::write(cfg.lock_path(), died(pid, 0).render()).unwrap();
            // Just under the spacing the previous exits call for: not yet.
            let spacing = launcher.relaunch_spacing();
            launcher.last_launch = Some(Instant::now() - spacing + Duration::from_millis(300));
            assert_eq!(launcher.ensure_running(), AgentStatus::Starting);
            spacings.push(launcher.relaunch_spacing().as_secs());
            launcher.last_launch = Some(Instant::now() - launcher.relaunch_spacing());
            assert_eq!(launcher.ensure_running(), AgentStatus::Launched);
            launcher.connected();
        }
        assert_eq!(spacings, vec![1, 2, 4, 8, 16]);

        // An agent that ran for a while and was killed is replaced after a second.
        std::fs::write(cfg.lock_path(), died(0x7fff_ff10, 3).render()).unwrap();
        launcher.last_launch = Some(Instant::now() - Duration::from_millis(1100));
        assert_eq!(launcher.ensure_running(), AgentStatus::Launched);
        assert_eq!(launcher.relaunch_spacing(), RELAUNCH_SPACING);
    }

    #[test]
    fn a_symlinked_lock_is_not_read() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = config(dir.path(), None);
        let target = dir.path().join("elsewhere");
        let lock = AgentLock {
            pid: std::process::id(),
            version: AGENT_VERSION.into(),
            config: cfg.fingerprint(),
            started_at: 0,
        };
        std::fs::write(&target, lock.render()).unwrap();
        std::os::unix::fs::symlink(&target, cfg.lock_path()).unwrap();
        assert_eq!(
            AgentLauncher::new(cfg).ensure_running(),
            AgentStatus::Starting
        );
    }

    #[test]
    fn a_zombie_agent_is_dead_and_replaced() {
        // A SIGKILLed agent stays a zombie until init reaps it, which some inits do
        // only every few seconds; signal 0 still reaches it.
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        let deadline = Instant::now() + Duration::from_secs(10);
        while !is_zombie(pid as i32) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        assert!(is_zombie(pid as i32), "child {pid} never became a zombie");
        assert!(!pid_alive(pid));
        assert!(pid_alive(std::process::id()));

        let dir = tempfile::tempdir().unwrap();
        let cfg = config(dir.path(), Some("/bin/true".into()));
        let zombie = AgentLock {
            pid,
            version: AGENT_VERSION.into(),
            config: cfg.fingerprint(),
            started_at: 0,
        };
        std::fs::write(cfg.lock_path(), zombie.render()).unwrap();
        assert_eq!(
            AgentLauncher::new(cfg).ensure_running(),
            AgentStatus::Launched
        );
        child.wait().unwrap();
    }
}
