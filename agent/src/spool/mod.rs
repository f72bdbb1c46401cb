//! `{working_dir}/payloads/`: every payload is written here (gzip'd, as sent)
//! before it is posted, and removed once accepted. A payload the Push API could not
//! take is retried at later intervals with backoff, for up to 30 minutes after it was
//! created. The directory is bounded in files and bytes, oldest dropped first.
//! A new agent sends what an old one left here.
//!
//! File names are `{created_unix_ms:013}-{payload_id}.pb.gz`, so a listing sorted by
//! name is oldest first and the age is known without reading the file.

use std::collections::HashMap;
use std::fs::OpenOptions;
use std::io::{Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::clock::SharedClock;

const SUFFIX: &str = ".pb.gz";

#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_files: usize,
    pub max_bytes: u64,
    pub max_age_ms: i64,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_files: 100,
            max_bytes: 20 * 1024 * 1024,
            max_age_ms: 30 * 60 * 1000,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub name: String,
    pub path: PathBuf,
    pub created_ms: i64,
    pub size: u64,
}

struct Retry {
    failures: u32,
    next_due_ms: i64,
}

pub struct Spool {
    dir: PathBuf,
    file_mode: u32,
    limits: Limits,
    clock: SharedClock,
    retries: HashMap<String, Retry>,
}

impl Spool {
    pub fn new(dir: &Path, file_mode: u32, limits: Limits, clock: SharedClock) -> Spool {
        Spool {
            dir: dir.to_path_buf(),
            file_mode,
            limits,
            clock,
            retries: HashMap::new(),
        }
    }

    /// Writes a payload under a temporary name, then renames it into place, so a
    /// reader never sees half a payload.
    pub fn store(&self, created_ms: i64, payload_id: &str, bytes: &[u8]) -> std::io::Result<Entry> {
        let safe_id: String = payload_id
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        let name = format!("{created_ms:013}-{safe_id}{SUFFIX}");
        let path = self.dir.join(&name);
        let temp = self.dir.join(format!(".{name}.tmp"));
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(self.file_mode)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(&temp)?;
        // The umask trims the creation mode.
        let _ = file.set_permissions(std::fs::Permissions::from_mode(self.file_mode));
        let written = file.write_all(bytes).and_then(|_| file.sync_data());
        drop(file);
        if let Err(e) = written.and_then(|_| std::fs::rename(&temp, &path)) {
            let _ = std::fs::remove_file(&temp);
            return Err(e);
        }
        Ok(Entry {
            name,
            path,
            created_ms,
            size: bytes.len() as u64,
        })
    }

    /// Whether a payload whose id ends with `-{tag}` is here: the data of the journal
    /// segments named by `tag` is then in the spool (see `journal`).
    pub fn holds(&self, tag: &str) -> bool {
        let ending = format!("-{tag}{SUFFIX}");
        std::fs::read_dir(&self.dir).is_ok_and(|listing| {
            listing.flatten().any(|item| {
                item.file_name()
                    .to_str()
                    .is_some_and(|n| n.ends_with(&ending))
            })
        })
    }

    /// Spooled payloads, oldest first. Anything that is not a regular file with our
    /// naming (a symlink, a directory, a temp file) is ignored.
    pub fn entries(&self) -> Vec<Entry> {
        let Ok(listing) = std::fs::read_dir(&self.dir) else {
            return Vec::new();
        };
        let mut entries: Vec<Entry> = listing
            .flatten()
            .filter_map(|item| {
                let name = item.file_name().into_string().ok()?;
                let created_ms = name.strip_suffix(SUFFIX)?.split('-').next()?.parse().ok()?;
                let meta = item.metadata().ok()?; // does not follow symlinks
                meta.is_file().then(|| Entry {
                    path: item.path(),
                    name,
                    created_ms,
                    size: meta.len(),
                })
            })
            .collect();
        entries.sort_by(|a, b| a.name.cmp(&b.name));
        entries
    }

    pub fn read(&self, entry: &Entry) -> std::io::Result<Vec<u8>> {
        let file = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(&entry.path)?;
        let mut bytes = Vec::new();
        file.take(self.limits.max_bytes).read_to_end(&mut bytes)?;
        Ok(bytes)
    }

    pub fn remove(&mut self, entry: &Entry) {
        let _ = std::fs::remove_file(&entry.path);
        self.retries.remove(&entry.name);
    }

    /// Removes payloads older than the retry window; returns them for logging.
    pub fn expire(&mut self) -> Vec<Entry> {
        let now = self.clock.now_unix_ms();
        let expired: Vec<Entry> = self
            .entries()
            .into_iter()
            .filter(|e| now - e.created_ms > self.limits.max_age_ms)
            .collect();
        for entry in &expired {
            self.remove(entry);
        }
        expired
    }

    /// Drops the oldest payloads until the directory is within its limits.
    pub fn enforce_limits(&mut self) -> Vec<Entry> {
        let mut entries = self.entries();
        let mut total: u64 = entries.iter().map(|e| e.size).sum();
        let mut dropped = Vec::new();
        while !entries.is_empty()
            && (entries.len() > self.limits.max_files || total > self.limits.max_bytes)
        {
            let oldest = entries.remove(0);
            total -= oldest.size;
            self.remove(&oldest);
            dropped.push(oldest);
        }
        dropped
    }

    pub fn is_due(&self, entry: &Entry) -> bool {
        self.retries
            .get(&entry.name)
            .is_none_or(|r| self.clock.now_unix_ms() >= r.next_due_ms)
    }

    /// Backs off in whole intervals: 1, 2, 4, then every 8 intervals.
    pub fn record_failure(&mut self, entry: &Entry, interval_ms: i64) {
        let now = self.clock.now_unix_ms();
        let retry = self.retries.entry(entry.name.clone()).or_insert(Retry {
            failures: 0,
            next_due_ms: now,
        });
        retry.failures += 1;
        let factor = 1i64 << (retry.failures - 1).min(3);
        // A little less than whole intervals so the retry lands on the tick, not after it.
        retry.next_due_ms = now + factor * interval_ms - interval_ms / 4;
    }

    /// The Push API just accepted a payload: everything waiting may go now.
    pub fn reset_backoff(&mut self) {
        self.retries.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;

    fn spool(dir: &Path, clock: SharedClock, limits: Limits) -> Spool {
        Spool::new(dir, 0o644, limits, clock)
    }

    #[test]
    fn payloads_round_trip_oldest_first() {
        let dir = tempfile::tempdir().unwrap();
        let clock = ManualClock::at(1_000_000);
        let spool = spool(dir.path(), clock, Limits::default());
        spool.store(2_000, "host-1-2-ab", b"second").unwrap();
        spool.store(1_000, "host-1-1-cd", b"first").unwrap();
        let entries = spool.entries();
        assert_eq!(entries.len(), 2);
        assert_eq!(spool.read(&entries[0]).unwrap(), b"first");
        assert_eq!(entries[1].created_ms, 2_000);
    }

    #[test]
    fn payloads_expire_after_thirty_minutes() {
        let dir = tempfile::tempdir().unwrap();
        let clock = ManualClock::at(10_000_000);
        let mut spool = spool(dir.path(), clock.clone(), Limits::default());
        spool.store(10_000_000, "a", b"x").unwrap();
        clock.advance_ms(29 * 60 * 1000);
        assert!(spool.expire().is_empty());
        clock.advance_ms(2 * 60 * 1000);
        assert_eq!(spool.expire().len(), 1);
        assert!(spool.entries().is_empty());
    }

    #[test]
    fn the_oldest_are_dropped_past_the_file_and_byte_limits() {
        let dir = tempfile::tempdir().unwrap();
        let clock = ManualClock::at(0);
        let limits = Limits {
            max_files: 3,
            max_bytes: 25,
            max_age_ms: i64::MAX,
        };
        let mut spool = spool(dir.path(), clock, limits);
        for i in 0..5 {
            spool
                .store(1000 + i, &format!("p{i}"), b"0123456789")
                .unwrap();
        }
        let dropped: Vec<i64> = spool
            .enforce_limits()
            .iter()
            .map(|e| e.created_ms)
            .collect();
        assert_eq!(dropped, vec![1000, 1001, 1002]);
        let left: Vec<i64> = spool.entries().iter().map(|e| e.created_ms).collect();
        assert_eq!(left, vec![1003, 1004]);
    }

    #[test]
    fn retries_back_off_in_intervals_until_a_success_resets_them() {
        let dir = tempfile::tempdir().unwrap();
        let clock = ManualClock::at(0);
        let mut spool = spool(dir.path(), clock.clone(), Limits::default());
        let entry = spool.store(0, "a", b"x").unwrap();
        assert!(spool.is_due(&entry));
        let interval = 30_000;
        let mut waits = Vec::new();
        for _ in 0..5 {
            spool.record_failure(&entry, interval);
            let mut waited = 0;
            while !spool.is_due(&entry) {
                clock.advance_ms(interval);
                waited += 1;
            }
            waits.push(waited);
        }
        assert_eq!(waits, vec![1, 2, 4, 8, 8]);
        spool.record_failure(&entry, interval);
        assert!(!spool.is_due(&entry));
        spool.reset_backoff();
        assert!(spool.is_due(&entry));
    }

    #[test]
    fn symlinks_in_the_spool_are_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("target");
        std::fs::write(&target, "secret").unwrap();
        let payloads = dir.path().join("payloads");
        std::fs::create_dir(&payloads).unwrap();
        std::os::unix::fs::symlink(&target, payloads.join("0000000001000-x.pb.gz")).unwrap();
        let spool = spool(&payloads, ManualClock::at(0), Limits::default());
        assert!(spool.entries().is_empty());
    }
}
