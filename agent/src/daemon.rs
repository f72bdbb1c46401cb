//! `--daemonize`: detach from the app that started the agent. This must run before
//! any thread exists (no tokio yet): fork copies only the calling thread.

use std::os::fd::AsRawFd;

use nix::unistd::{dup2, fork, setsid, ForkResult};

pub enum Side {
    /// The original process: exit 0 at once, the extension waits only for this.
    Parent,
    /// The daemon: own session, stdio on /dev/null.
    Child,
}

pub fn detach() -> Result<Side, String> {
    // SAFETY: the process is single-threaded here (called before any thread or
    // runtime is started), so the child cannot inherit a lock held by another thread.
    match unsafe { fork() } {
        Err(e) => Err(format!(
            "cannot fork the agent into the background: {e}; check the process limit (ulimit -u)"
        )),
        Ok(ForkResult::Parent { .. }) => Ok(Side::Parent),
        Ok(ForkResult::Child) => {
            // Leave the app's session so its terminal or process group signals do not
            // reach the agent.
            let _ = setsid();
            if let Ok(null) = std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .open("/dev/null")
            {
                for target in 0..=2 {
                    let _ = dup2(null.as_raw_fd(), target);
                }
            }
            Ok(Side::Child)
        }
    }
}
