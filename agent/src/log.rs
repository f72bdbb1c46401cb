//! The agent's own log: `[2026-11-24T12:00:00Z (agent) #1234][INFO] message`.
//!
//! The agent cannot report problems over the socket (it is one-way), so this file is
//! the only place a user can see why data is missing. It is size-capped with one
//! rotation so a chatty failure cannot fill a disk, opened with `O_NOFOLLOW` so a
//! symlink planted at its path cannot redirect writes, and every line is scrubbed of
//! the push API key.

use appsignal_proto::civil_time::{unix_now_secs, CivilTime};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

/// Rotate to `appsignal.log.1` once the file passes this size.
pub const MAX_LOG_BYTES: u64 = 5 * 1024 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Error = 1,
    Warn = 2,
    Info = 3,
    Debug = 4,
    Trace = 5,
}

impl Level {
    pub fn parse(raw: &str) -> Option<Level> {
        match raw.to_ascii_lowercase().as_str() {
            "error" => Some(Level::Error),
            "warn" | "warning" => Some(Level::Warn),
            "info" => Some(Level::Info),
            "debug" => Some(Level::Debug),
            "trace" => Some(Level::Trace),
            _ => None,
        }
    }

    fn label(self) -> &'static str {
        match self {
            Level::Error => "ERROR",
            Level::Warn => "WARN",
            Level::Info => "INFO",
            Level::Debug => "DEBUG",
            Level::Trace => "TRACE",
        }
    }
}

struct Sink {
    file: Option<File>,
    written: u64,
}

pub struct Logger {
    path: Option<PathBuf>,
    level: Level,
    max_bytes: u64,
    file_mode: u32,
    secret: String,
    sink: Mutex<Sink>,
}

static LOGGER: OnceLock<Logger> = OnceLock::new();

impl Logger {
    /// A logger writing to `path` (already opened by [`open_log_file`]).
    pub fn to_file(
        path: PathBuf,
        file: File,
        level: Level,
        file_mode: u32,
        secret: &str,
    ) -> Logger {
        let written = file.metadata().map(|m| m.len()).unwrap_or(0);
        Logger {
            path: Some(path),
            level,
            max_bytes: MAX_LOG_BYTES,
            file_mode,
            secret: secret.to_string(),
            sink: Mutex::new(Sink {
                file: Some(file),
                written,
            }),
        }
    }

    #[cfg(test)]
    fn with_max_bytes(mut self, max_bytes: u64) -> Logger {
        self.max_bytes = max_bytes;
        self
    }

    pub fn enabled(&self, level: Level) -> bool {
        level <= self.level
    }

    pub fn write(&self, level: Level, message: &str) {
        if !self.enabled(level) {
            return;
        }
        let line = format_line(
            unix_now_secs(),
            std::process::id(),
            level,
            &scrub(message, &self.secret),
        );
        let Ok(mut sink) = self.sink.lock() else {
            return;
        };
        if sink.written + line.len() as u64 > self.max_bytes {
            self.rotate(&mut sink);
        }
        if let Some(file) = sink.file.as_mut() {
            if file.write_all(line.as_bytes()).is_ok() {
                sink.written += line.len() as u64;
            }
        }
    }

    fn rotate(&self, sink: &mut Sink) {
        let Some(path) = &self.path else { return };
        let mut rotated = path.as_os_str().to_owned();
        rotated.push(".1");
        // rename replaces whatever is at `.1` (even a symlink) without following it.
        let _ = std::fs::rename(path, &rotated);
        sink.file = open_log_file(path, self.file_mode).ok();
        sink.written = 0;
    }
}

/// Installs the process-wide logger; later calls are ignored.
pub fn install(logger: Logger) {
    let _ = LOGGER.set(logger);
}

pub fn enabled(level: Level) -> bool {
    LOGGER.get().is_some_and(|l| l.enabled(level))
}

pub fn write(level: Level, message: &str) {
    if let Some(logger) = LOGGER.get() {
        logger.write(level, message);
    }
}

/// For failures that stop the agent: to stderr too, since nobody may read the file.
pub fn fatal(message: &str) {
    let secret = LOGGER.get().map(|l| l.secret.as_str()).unwrap_or("");
    eprintln!("appsignal-agent: {}", scrub(message, secret));
    write(Level::Error, message);
}

macro_rules! log_at {
    ($level:expr, $($arg:tt)*) => {
        if $crate::log::enabled($level) {
            $crate::log::write($level, &format!($($arg)*));
        }
    };
}
macro_rules! error { ($($arg:tt)*) => { $crate::log::log_at!($crate::log::Level::Error, $($arg)*) }; }
macro_rules! warning { ($($arg:tt)*) => { $crate::log::log_at!($crate::log::Level::Warn, $($arg)*) }; }
macro_rules! info { ($($arg:tt)*) => { $crate::log::log_at!($crate::log::Level::Info, $($arg)*) }; }
macro_rules! debug { ($($arg:tt)*) => { $crate::log::log_at!($crate::log::Level::Debug, $($arg)*) }; }
pub(crate) use {debug, error, info, log_at, warning};

/// Opens a log file for appending without following a symlink at `path`, and only
/// if it is a regular file (a FIFO or device there would block or leak logs).
pub fn open_log_file(path: &Path, mode: u32) -> std::io::Result<File> {
    let file = OpenOptions::new()
        .append(true)
        .create(true)
        .mode(mode)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(path)
        .map_err(|e| {
            if e.raw_os_error() == Some(libc::ELOOP) {
                std::io::Error::new(
                    std::io::ErrorKind::InvalidInput,
                    "it is a symlink, which the agent refuses to follow",
                )
            } else {
                e
            }
        })?;
    let meta = file.metadata()?;
    if !meta.is_file() || meta.nlink() > 1 {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "it is not a regular file with a single link",
        ));
    }
    // The umask trims the creation mode; a file of another user cannot be changed,
    // which is fine as long as it is writable.
    let _ = file.set_permissions(std::fs::Permissions::from_mode(mode));
    Ok(file)
}

/// Where the log goes: `APPSIGNAL_LOG_PATH` (a file, or a directory that gets
/// `appsignal.log`) when usable, else `{working_dir}/appsignal.log`. Returns the
/// path, the open file, and a note to log when the configured path was refused.
pub fn choose_log_file(
    configured: Option<&Path>,
    working_dir: &Path,
    mode: u32,
) -> (Option<(PathBuf, File)>, Option<String>) {
    let mut note = None;
    if let Some(configured) = configured {
        let candidate = match std::fs::symlink_metadata(configured) {
            Ok(meta) if meta.is_dir() => configured.join("appsignal.log"),
            _ => configured.to_path_buf(),
        };
        match open_log_file(&candidate, mode) {
            Ok(file) => return (Some((candidate, file)), None),
            Err(e) => {
                note = Some(format!(
                "APPSIGNAL_LOG_PATH {} is not usable ({e}); logging to {}/appsignal.log instead",
                candidate.display(),
                working_dir.display()
            ))
            }
        }
    }
    let fallback = working_dir.join("appsignal.log");
    match open_log_file(&fallback, mode) {
        Ok(file) => (Some((fallback, file)), note),
        Err(e) => {
            let why = format!(
                "cannot write the log file {} ({e}); check the permissions of the working directory or set APPSIGNAL_LOG_PATH",
                fallback.display()
            );
            (
                None,
                Some(note.map_or(why.clone(), |n| format!("{n}; {why}"))),
            )
        }
    }
}

/// Removes every occurrence of `secret` (the push API key) from a log message.
pub fn scrub(message: &str, secret: &str) -> String {
    if secret.is_empty() {
        message.to_string()
    } else {
        message.replace(secret, "[REDACTED]")
    }
}

pub fn format_line(unix_secs: i64, pid: u32, level: Level, message: &str) -> String {
    format!(
        "[{} (agent) #{pid}][{}] {message}\n",
        iso8601(unix_secs),
        level.label()
    )
}

/// UTC `YYYY-MM-DDTHH:MM:SSZ`.
pub fn iso8601(unix_secs: i64) -> String {
    CivilTime::from_unix(unix_secs).iso8601()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_have_the_agent_format() {
        let line = format_line(1_795_867_200, 1234, Level::Info, "started");
        assert_eq!(line, "[2026-11-28T12:00:00Z (agent) #1234][INFO] started\n");
        assert_eq!(iso8601(0), "1970-01-01T00:00:00Z");
        assert_eq!(iso8601(951_782_400), "2000-02-29T00:00:00Z");
    }

    #[test]
    fn level_filter_and_scrubbing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("appsignal.log");
        let file = open_log_file(&path, 0o644).unwrap();
        let logger = Logger::to_file(path.clone(), file, Level::Warn, 0o644, "sekrit-key");
        logger.write(Level::Info, "hidden");
        logger.write(Level::Warn, "url http://x/?api_key=sekrit-key failed");
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(!text.contains("hidden"));
        assert!(!text.contains("sekrit-key"));
        assert!(text.contains("api_key=[REDACTED] failed"));
    }

    #[test]
    fn the_log_rotates_once_at_its_cap() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("appsignal.log");
        let file = open_log_file(&path, 0o644).unwrap();
        let logger =
            Logger::to_file(path.clone(), file, Level::Info, 0o644, "").with_max_bytes(500);
        for i in 0..100 {
            logger.write(Level::Info, &format!("line {i}"));
        }
        let current = std::fs::metadata(&path).unwrap().len();
        let rotated = std::fs::metadata(dir.path().join("appsignal.log.1"))
            .unwrap()
            .len();
        assert!(current <= 500 && rotated <= 500, "{current} {rotated}");
        assert!(!dir.path().join("appsignal.log.2").exists());
    }

    #[test]
    fn a_symlink_at_the_log_path_is_refused_and_the_fallback_used() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("victim");
        std::fs::write(&target, "untouched").unwrap();
        let link = dir.path().join("planted.log");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        let wd = dir.path().join("wd");
        std::fs::create_dir(&wd).unwrap();
        let (chosen, note) = choose_log_file(Some(&link), &wd, 0o644);
        let (path, _) = chosen.unwrap();
        assert_eq!(path, wd.join("appsignal.log"));
        assert!(note.unwrap().contains("symlink"));
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "untouched");
    }

    #[test]
    fn a_directory_log_path_gets_appsignal_log() {
        let dir = tempfile::tempdir().unwrap();
        let (chosen, note) = choose_log_file(Some(dir.path()), Path::new("/nonexistent"), 0o644);
        assert_eq!(chosen.unwrap().0, dir.path().join("appsignal.log"));
        assert!(note.is_none());
    }
}
