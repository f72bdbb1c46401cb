//! Reliability and security checks that span crates. The tests are in `tests/`;
//! `src/bin/ext_core_churn.rs` drives the extension core for valgrind and the RSS
//! check; `ruby/gc_stress.rb` runs the public API under `GC.stress`.
//!
//! Every scenario has a short version (part of `cargo nextest run --workspace`) and a
//! long one, chosen with `RELIABILITY_LONG=1` (what `rake reliability:rust` sets).

use std::path::{Path, PathBuf};
use std::process::Child;

/// True when the long versions should run (`RELIABILITY_LONG=1`).
pub fn is_long() -> bool {
    std::env::var("RELIABILITY_LONG").is_ok_and(|v| !v.is_empty() && v != "0")
}

/// `short` in the normal run, `long` under `RELIABILITY_LONG=1`.
pub fn scale<T>(short: T, long: T) -> T {
    if is_long() {
        long
    } else {
        short
    }
}

/// Cases per property: `PROPTEST_CASES` when set, else `default` (short run) or
/// `long_default` (`RELIABILITY_LONG=1`).
pub fn cases(default: u32, long_default: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| scale(default, long_default))
}

/// The workspace root (this crate lives in `reliability/`).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"))
}

/// A binary of another workspace package, from `target/debug` (what the workspace
/// test run builds) or `target/release`. Panics with the command that builds it.
pub fn workspace_binary(name: &str, package: &str) -> PathBuf {
    let target = target_dir();
    ["debug", "release"]
        .iter()
        .map(|profile| target.join(profile).join(name))
        .find(|path| path.is_file())
        .unwrap_or_else(|| {
            panic!(
                "{name} is not built in {}: run `cargo build -p {package}` first",
                target.display()
            )
        })
}

/// A field of `/proc/PID/status` in kB (`VmRSS`, `VmHWM`).
pub fn proc_status_kb(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_else(|e| panic!("cannot read /proc/{pid}/status: {e}"));
    status
        .lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
        .unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status"))
}

/// A child process that is killed (SIGKILL, then reaped) when the guard drops, so a
/// failing assertion never leaves a server or agent behind.
pub struct ChildGuard(pub Child);

impl ChildGuard {
    pub fn pid(&self) -> u32 {
        self.0.id()
    }

    /// SIGTERM, then wait up to `grace` before SIGKILL. Returns the exit status.
    pub fn terminate(&mut self, grace: std::time::Duration) -> Option<std::process::ExitStatus> {
        // SAFETY: kill(2) on the pid of a child we spawned and have not reaped.
        unsafe {
            libc_kill(self.0.id() as i32, 15);
        }
        let deadline = std::time::Instant::now() + grace;
        while std::time::Instant::now() < deadline {
            if let Ok(Some(status)) = self.0.try_wait() {
                return Some(status);
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let _ = self.0.kill();
        self.0.wait().ok()
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

extern "C" {
    #[link_name = "kill"]
    fn libc_kill(pid: i32, signal: i32) -> i32;
}
