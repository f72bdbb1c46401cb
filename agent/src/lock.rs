//! `{working_dir}/agent.lock`: one agent per configuration per working directory.
//!
//! Starting: under an exclusive `flock` on the working directory (so two agents
//! starting at once cannot interleave "check lock, write lock, bind socket"), a live
//! agent with the same version and configuration means this one is a racing
//! duplicate and leaves quietly; anything else is taken over. Running: the lock is
//! checked every second and the agent leaves when it is gone or names another pid.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use appsignal_proto::agent_lock::AgentLock;
use nix::fcntl::{Flock, FlockArg};

pub const LOCK_FILE: &str = "agent.lock";

#[derive(Debug, PartialEq, Eq)]
pub enum LockRead {
    Missing,
    /// Half-written, foreign, or a symlink (never followed).
    Unusable(String),
    Present(AgentLock),
}

pub fn lock_path(working_dir: &Path) -> PathBuf {
    working_dir.join(LOCK_FILE)
}

pub fn read(path: &Path) -> LockRead {
    let opened = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(path);
    let mut file = match opened {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return LockRead::Missing,
        Err(e) if e.raw_os_error() == Some(libc::ELOOP) => {
            return LockRead::Unusable("it is a symlink".to_string())
        }
        Err(e) => return LockRead::Unusable(e.to_string()),
    };
    let mut text = String::new();
    // A lock file is a few dozen bytes; anything large is not ours.
    if let Err(e) = (&mut file).take(4096).read_to_string(&mut text) {
        return LockRead::Unusable(e.to_string());
    }
    match AgentLock::parse(&text) {
        Some(lock) => LockRead::Present(lock),
        None => LockRead::Unusable("it does not parse".to_string()),
    }
}

pub use appsignal_proto::agent_lock::pid_alive;

/// A starting agent's decision about an existing lock.
#[derive(Debug, PartialEq, Eq)]
pub enum Startup {
    /// A live agent serves the same version and configuration: leave it be.
    AlreadyRunning {
        pid: u32,
    },
    TakeOver,
}

pub fn decide(existing: &LockRead, me: &AgentLock, is_alive: impl Fn(u32) -> bool) -> Startup {
    match existing {
        LockRead::Present(lock)
            if lock.pid != me.pid
                && lock.version == me.version
                && lock.config == me.config
                && is_alive(lock.pid) =>
        {
            Startup::AlreadyRunning { pid: lock.pid }
        }
        _ => Startup::TakeOver,
    }
}

/// Writes the lock so readers see either the old or the new file, never half of
/// one: a fresh temp file (`O_EXCL|O_NOFOLLOW`, so nothing planted is followed)
/// renamed over the lock path.
pub fn write_atomically(path: &Path, lock: &AgentLock, file_mode: u32) -> std::io::Result<()> {
    let mut temp = path.as_os_str().to_owned();
    temp.push(format!(".{}.tmp", lock.pid));
    let temp = PathBuf::from(temp);
    let _ = std::fs::remove_file(&temp);
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(file_mode)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(&temp)?;
    file.write_all(lock.render().as_bytes())?;
    // umask may have trimmed the mode; the extension of another user must read it.
    let _ = std::fs::set_permissions(
        &temp,
        std::os::unix::fs::PermissionsExt::from_mode(file_mode),
    );
    drop(file);
    std::fs::rename(&temp, path).inspect_err(|_| {
        let _ = std::fs::remove_file(&temp);
    })
}

/// Holds an exclusive `flock` on the working directory while an agent starts.
pub struct StartupGuard {
    _lock: Flock<File>,
}

impl StartupGuard {
    pub fn acquire(working_dir: &Path) -> std::io::Result<StartupGuard> {
        let dir = File::open(working_dir)?;
        let lock = Flock::lock(dir, FlockArg::LockExclusive)
            .map_err(|(_, errno)| std::io::Error::from(errno))?;
        Ok(StartupGuard { _lock: lock })
    }
}

/// What the once-a-second check found.
#[derive(Debug, PartialEq, Eq)]
pub enum Watch {
    Ours,
    WorkingDirGone,
    LockGone,
    Replaced { by_pid: u32 },
}

pub fn check(working_dir: &Path, my_pid: u32) -> Watch {
    if !working_dir.is_dir() {
        return Watch::WorkingDirGone;
    }
    match read(&lock_path(working_dir)) {
        LockRead::Missing => Watch::LockGone,
        // A half-written lock cannot happen (rename is atomic); anything unreadable
        // was put there by someone else, which means this agent no longer owns it.
        LockRead::Unusable(_) => Watch::LockGone,
        LockRead::Present(lock) if lock.pid == my_pid => Watch::Ours,
        LockRead::Present(lock) => Watch::Replaced { by_pid: lock.pid },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lock(pid: u32, config: &str) -> AgentLock {
        AgentLock {
            pid,
            version: "0.1.0".into(),
            config: config.into(),
            started_at: 1,
        }
    }

    #[test]
    fn same_live_config_is_a_duplicate_anything_else_is_taken_over() {
        let me = lock(2, "abc");
        let alive = |_| true;
        let dead = |_| false;
        let same = LockRead::Present(lock(1, "abc"));
        assert_eq!(
            decide(&same, &me, alive),
            Startup::AlreadyRunning { pid: 1 }
        );
        assert_eq!(decide(&same, &me, dead), Startup::TakeOver);
        assert_eq!(
            decide(&LockRead::Present(lock(1, "xyz")), &me, alive),
            Startup::TakeOver
        );
        let mut older = lock(1, "abc");
        older.version = "0.0.9".into();
        assert_eq!(
            decide(&LockRead::Present(older), &me, alive),
            Startup::TakeOver
        );
        assert_eq!(decide(&LockRead::Missing, &me, alive), Startup::TakeOver);
    }

    #[test]
    fn atomic_write_replaces_a_planted_symlink_without_following_it() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim");
        std::fs::write(&victim, "untouched").unwrap();
        let path = lock_path(dir.path());
        std::os::unix::fs::symlink(&victim, &path).unwrap();
        assert!(matches!(read(&path), LockRead::Unusable(_)));
        write_atomically(&path, &lock(7, "abc"), 0o644).unwrap();
        assert_eq!(read(&path), LockRead::Present(lock(7, "abc")));
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "untouched");
    }

    #[test]
    fn watch_sees_ours_replaced_gone_and_dir_gone() {
        let root = tempfile::tempdir().unwrap();
        let wd = root.path().join("wd");
        std::fs::create_dir(&wd).unwrap();
        assert_eq!(check(&wd, 7), Watch::LockGone);
        write_atomically(&lock_path(&wd), &lock(7, "abc"), 0o644).unwrap();
        assert_eq!(check(&wd, 7), Watch::Ours);
        assert_eq!(check(&wd, 8), Watch::Replaced { by_pid: 7 });
        std::fs::remove_dir_all(&wd).unwrap();
        assert_eq!(check(&wd, 7), Watch::WorkingDirGone);
    }
}
