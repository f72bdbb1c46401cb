//! The extension's log: appended to the same file as the Ruby logger, from any thread
//! (the worker cannot call into Ruby). Opened without following symlinks.

use once_cell::sync::Lazy;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

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

/// `2026-11-24T12:00:00Z` without a date crate (civil-from-days, Howard Hinnant).
pub fn utc_timestamp() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
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
