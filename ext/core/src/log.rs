//! The extension's log: appended to the same file as the Ruby logger, from any thread
//! (the worker cannot call into Ruby). Opened without following symlinks.

use appsignal_proto::civil_time::{unix_now_secs, CivilTime};
use once_cell::sync::Lazy;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::sync::Mutex;

static LOG_FILE: Lazy<Mutex<Option<File>>> = Lazy::new(|| Mutex::new(None));

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Error,
    Warn,
    Info,
    Debug,
}

impl Level {
    fn label(self) -> &'static str {
        match self {
            Level::Error => "ERROR",
            Level::Warn => "WARN",
            Level::Info => "INFO",
            Level::Debug => "DEBUG",
        }
    }
}

pub fn open(path: &Path) {
    let file = OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o666)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(path)
        .ok();
    if let Ok(mut guard) = LOG_FILE.lock() {
        *guard = file;
    }
}

pub fn write(level: Level, message: &str) {
    let Ok(mut guard) = LOG_FILE.lock() else {
        return;
    };
    let Some(file) = guard.as_mut() else { return };
    let line = format!(
        "[{} (extension) #{}][{}] {}\n",
        utc_timestamp(),
        std::process::id(),
        level.label(),
        message
    );
    let _ = file.write_all(line.as_bytes());
}

/// `2026-11-24T12:00:00Z`, now.
pub fn utc_timestamp() -> String {
    CivilTime::from_unix(unix_now_secs()).iso8601()
}

#[cfg(test)]
mod tests {
    #[test]
    fn timestamp_has_iso_shape() {
        let ts = super::utc_timestamp();
        assert_eq!(ts.len(), 20);
        assert!(ts.starts_with("20") && ts.ends_with('Z'));
    }
}
