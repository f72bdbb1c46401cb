//! Decides whether an agent for this configuration is running, and starts one when
//! not: `appsignal-agent --daemonize`, which forks the real daemon and exits at once,
//! so the daemon is never our child (no zombie) and outlives the app.

use crate::config::ReporterConfig;
use crate::log::{self, Level};
use appsignal_proto::agent_lock::AgentLock;
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

#[derive(Debug, PartialEq, Eq)]
pub enum AgentStatus {
    /// A live agent owns the lock for this exact configuration and version.
    Running,
    /// None runs; a start was just attempted (or was attempted recently).
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
        }
    }

    pub fn ensure_running(&mut self) -> AgentStatus {
        if self.running_agent_matches() {
            self.launches_without_agent = 0;
            self.seen_running = true;
            return AgentStatus::Running;
        }
        if self.launches_without_agent >= MAX_FAILED_LAUNCHES {
            return AgentStatus::GaveUp;
        }
        let spacing = if self.seen_running {
            RELAUNCH_SPACING
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
        AgentStatus::Starting
    }

    fn running_agent_matches(&self) -> bool {
        match read_lock(&self.config.lock_path()) {
            Some(lock) => {
                lock.version == AGENT_VERSION
                    && lock.config == self.fingerprint
                    && pid_alive(lock.pid)
            }
            None => false,
        }
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

fn pid_alive(pid: u32) -> bool {
    let Ok(pid) = i32::try_from(pid) else {
        return false;
    };
    match nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None) {
        Ok(()) => true,
        // Alive, but another user's (a shared working directory): still an agent.
        Err(nix::errno::Errno::EPERM) => true,
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
            assert_eq!(launcher.ensure_running(), AgentStatus::Starting);
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
        assert_eq!(launcher.ensure_running(), AgentStatus::Starting); // launches
        std::fs::write(cfg.lock_path(), live.render()).unwrap();
        assert_eq!(launcher.ensure_running(), AgentStatus::Running);
        std::fs::write(cfg.lock_path(), dead.render()).unwrap(); // killed
        launcher.last_launch = Some(Instant::now() - Duration::from_millis(1100));
        assert_eq!(launcher.ensure_running(), AgentStatus::Starting);
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
}
