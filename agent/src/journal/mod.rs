//! Crash safety: every accepted frame is appended (in its wire form) to this
//! agent's current segment, `{working_dir}/journal/{pid}.journal`, in batches
//! without an fsync per frame, so a SIGKILL loses at most the last batch (about
//! 100 ms) of data.
//!
//! Exactly once across crashes rests on two rules:
//! - A segment has one owner at a time, named by the pid at the start of its file
//!   name. A new agent takes a dead agent's segment over by renaming it to
//!   `{pid}.adopted.{nonce}-{n}` (one atomic step) before replaying it.
//! - At each transmission the agent renames its segments to
//!   `{pid}.flushing.{tag}[.{n}]`, where the tag ends the id of the payload built
//!   from them, and removes them once that payload is in `payloads/`. Storing the
//!   payload is the single step that moves the data from the journal to the spool:
//!   a dead agent's flushing segment whose payload is in the spool is deleted, not
//!   replayed.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use appsignal_proto::frame::FrameDecoder;
use appsignal_proto::v1::ClientBatch;

/// Past this size frames are no longer journaled until the next rotation: the
/// journal protects against losing an interval, not against an unbounded burst.
pub const MAX_JOURNAL_BYTES: u64 = 64 * 1024 * 1024;
/// Buffered bytes that are written at once rather than at the next periodic write,
/// so a burst does not sit in memory.
const WRITE_AT: usize = 256 * 1024;

pub struct Journal {
    dir: PathBuf,
    pid: u32,
    file_mode: u32,
    file: Option<File>,
    buffer: Vec<u8>,
    size: u64,
    last_error: Option<std::io::Error>,
    /// Dead agents' segments taken over since the last rotation: their frames are
    /// in the aggregator, so they leave with the next payload.
    adopted: Vec<PathBuf>,
    /// The segments of the payload being built, removed once it is stored.
    flushing: Vec<PathBuf>,
    /// Keeps this process's adopted names apart from those of an earlier process
    /// that had the same pid (containers restart agents under the same pid).
    nonce: u32,
    taken_over: u64,
}

fn open_append(path: &Path, mode: u32) -> std::io::Result<File> {
    let file = OpenOptions::new()
        .append(true)
        .create(true)
        .mode(mode)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(path)?;
    // The umask trims the creation mode.
    let _ = file.set_permissions(std::fs::Permissions::from_mode(mode));
    Ok(file)
}

impl Journal {
    /// A journal that owns nothing yet: take over dead agents' segments (including
    /// any left by an earlier process with this pid) with [`Journal::take_over`],
    /// then [`Journal::start`] the current segment.
    pub fn new(dir: &Path, pid: u32, file_mode: u32) -> Journal {
        use std::hash::{BuildHasher, Hasher};
        let nonce = std::collections::hash_map::RandomState::new()
            .build_hasher()
            .finish() as u32;
        Journal {
            dir: dir.to_path_buf(),
            pid,
            file_mode,
            file: None,
            buffer: Vec::new(),
            size: 0,
            last_error: None,
            adopted: Vec::new(),
            flushing: Vec::new(),
            nonce,
            taken_over: 0,
        }
    }

    /// Opens the current segment. Until it works frames are not crash-safe, but
    /// adopted segments are still tracked and flushed.
    pub fn start(&mut self) -> std::io::Result<()> {
        self.file = Some(open_append(&self.current_path(), self.file_mode)?);
        Ok(())
    }

    #[cfg(test)]
    pub fn open(dir: &Path, pid: u32, file_mode: u32) -> std::io::Result<Journal> {
        let mut journal = Journal::new(dir, pid, file_mode);
        journal.start()?;
        Ok(journal)
    }

    pub fn current_path(&self) -> PathBuf {
        self.dir.join(format!("{}.journal", self.pid))
    }

    /// Makes a dead agent's segment this agent's, in one rename. `NotFound` means
    /// it is gone (another agent took it, or it was removed): do not replay it.
    pub fn take_over(&mut self, segment: &Path) -> std::io::Result<()> {
        self.taken_over += 1;
        let name = format!(
            "{}.adopted.{:08x}-{}",
            self.pid, self.nonce, self.taken_over
        );
        let target = self.dir.join(name);
        std::fs::rename(segment, &target)?;
        self.adopted.push(target);
        Ok(())
    }

    /// Queues whole frames for the next write; returns false when over the cap.
    pub fn append(&mut self, frames: &[u8]) -> bool {
        if self.size + (self.buffer.len() + frames.len()) as u64 > MAX_JOURNAL_BYTES {
            return false;
        }
        self.buffer.extend_from_slice(frames);
        if self.buffer.len() >= WRITE_AT {
            // A failing disk is reported by the periodic write; the bytes are dropped
            // either way, keeping memory bounded.
            let _ = self.write_buffered();
        }
        true
    }

    /// Writes what is buffered. On failure the bytes are dropped (not crash-safe, but
    /// memory stays bounded) and the error returned for logging.
    pub fn write_buffered(&mut self) -> std::io::Result<()> {
        if self.buffer.is_empty() {
            return match self.last_error.take() {
                Some(e) => Err(e),
                None => Ok(()),
            };
        }
        let result = match self.file.as_mut() {
            Some(file) => file.write_all(&self.buffer),
            None => Ok(()),
        };
        self.size += self.buffer.len() as u64;
        self.buffer.clear();
        if let Err(e) = result {
            // Kept for the periodic writer to report when the failure was inline.
            self.last_error = Some(std::io::Error::new(e.kind(), e.to_string()));
            return Err(e);
        }
        Ok(())
    }

    /// Hands every segment holding data of the snapshot being taken to the payload
    /// `tag` names (see the module comment) and starts a new current segment.
    /// `tag` must be file-name safe without dots. On an error the segments that
    /// could not be renamed are removed: their data is in this snapshot, and
    /// replaying it after a crash would count it twice.
    pub fn rotate(&mut self, tag: &str) -> std::io::Result<()> {
        debug_assert!(!tag.contains(['.', '/']), "tag {tag:?}");
        let mut first_error = self.write_buffered().err();
        // Left by a flush that did not finish: their data already went out.
        if let Err(e) = self.finish_flush() {
            first_error.get_or_insert(e);
        }
        self.file = None;
        let current = self.current_path();
        let mut segments: Vec<PathBuf> = Vec::new();
        if current.exists() {
            segments.push(current);
        }
        segments.append(&mut self.adopted);
        for (n, segment) in segments.into_iter().enumerate() {
            let name = match n {
                0 => format!("{}.flushing.{tag}", self.pid),
                n => format!("{}.flushing.{tag}.{n}", self.pid),
            };
            let target = self.dir.join(name);
            match std::fs::rename(&segment, &target) {
                Ok(()) => self.flushing.push(target),
                Err(e) => {
                    let _ = std::fs::remove_file(&segment);
                    first_error.get_or_insert(e);
                }
            }
        }
        self.size = 0;
        let started = self.start();
        match first_error {
            Some(e) => Err(e),
            None => started,
        }
    }

    /// The data of the last rotation is safely in `payloads/`. Returns the first
    /// error: a segment left behind could be replayed after its payload was sent.
    pub fn finish_flush(&mut self) -> std::io::Result<()> {
        let mut first_error = None;
        for segment in self.flushing.drain(..) {
            if let Err(e) = std::fs::remove_file(&segment) {
                if e.kind() != std::io::ErrorKind::NotFound {
                    first_error.get_or_insert(e);
                }
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    /// On a clean exit after the final flush nothing is left to replay.
    pub fn remove(&mut self) {
        self.file = None;
        let _ = std::fs::remove_file(self.current_path());
        let _ = self.finish_flush();
    }
}

/// A segment of an agent that is no longer alive.
pub struct Orphan {
    pub path: PathBuf,
    pub pid: u32,
    /// Its payload is already in the spool: delete it, do not replay it.
    pub committed: bool,
    pub batches: Vec<ClientBatch>,
}

/// What a segment's file name says.
#[derive(Debug, PartialEq, Eq)]
enum SegmentName<'a> {
    /// `{pid}.flushing.{tag}[.{n}]`; no tag: written by an agent before tags.
    Flushing(Option<&'a str>),
    /// `{pid}.adopted.{nonce}-{n}`
    Adopted,
    /// `{pid}.journal`
    Current,
}

fn parse_name(name: &str) -> Option<(u32, SegmentName<'_>)> {
    let mut parts = name.splitn(3, '.');
    let pid = parts.next()?.parse().ok()?;
    let kind = match (parts.next()?, parts.next()) {
        ("flushing", tag) => SegmentName::Flushing(tag.map(|t| t.split('.').next().unwrap_or(t))),
        ("adopted", Some(_)) => SegmentName::Adopted,
        ("journal", None) => SegmentName::Current,
        _ => return None,
    };
    Some((pid, kind))
}

/// Segments of agents no longer alive, oldest data first for each pid (flushing,
/// then adopted, then current). `committed(tag)` says whether the payload a
/// flushing segment was handed to is in the spool. At startup the caller counts its
/// own pid as dead: a segment there is from an earlier process with the same pid.
pub fn orphans(
    dir: &Path,
    is_alive: impl Fn(u32) -> bool,
    committed: impl Fn(&str) -> bool,
) -> Vec<Orphan> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut found: Vec<(u32, u8, PathBuf, bool)> = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let Some((pid, kind)) = parse_name(name) else {
            continue;
        };
        if is_alive(pid) {
            continue;
        }
        let (order, done) = match kind {
            SegmentName::Flushing(tag) => (0, tag.is_some_and(&committed)),
            SegmentName::Adopted => (1, false),
            SegmentName::Current => (2, false),
        };
        found.push((pid, order, entry.path(), done));
    }
    found.sort();
    found
        .into_iter()
        .filter_map(|(pid, _, path, committed)| {
            let batches = if committed {
                Vec::new()
            } else {
                whole_frames(read_nofollow(&path)?)
            };
            Some(Orphan {
                path,
                pid,
                committed,
                batches,
            })
        })
        .collect()
}

fn read_nofollow(path: &Path) -> Option<Vec<u8>> {
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(path)
        .ok()?;
    let mut bytes = Vec::new();
    file.take(MAX_JOURNAL_BYTES + 1)
        .read_to_end(&mut bytes)
        .ok()?;
    Some(bytes)
}

/// Decodes frames up to the first torn or damaged one (a crash mid-write leaves a
/// partial last frame).
fn whole_frames(bytes: Vec<u8>) -> Vec<ClientBatch> {
    let mut decoder = FrameDecoder::new();
    decoder.push(&bytes);
    let mut batches = Vec::new();
    while let Ok(Some(batch)) = decoder.next_frame() {
        batches.push(batch);
    }
    batches
}

#[cfg(test)]
mod tests {
    use super::*;
    use appsignal_proto::frame::encode_frame;
    use appsignal_proto::v1::Transaction;

    fn frame(action: &str) -> Vec<u8> {
        let mut out = Vec::new();
        encode_frame(
            &ClientBatch {
                transactions: vec![Transaction {
                    action: action.into(),
                    ..Default::default()
                }],
                ..Default::default()
            },
            &mut out,
        );
        out
    }

    fn actions(found: &[Orphan]) -> Vec<String> {
        found
            .iter()
            .flat_map(|o| o.batches.iter().map(|b| b.transactions[0].action.clone()))
            .collect()
    }

    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .flatten()
            .map(|e| e.file_name().into_string().unwrap())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn dead_agents_journals_are_replayed_in_order_and_torn_tails_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let mut journal = Journal::open(dir.path(), 100, 0o644).unwrap();
        journal.append(&frame("A#1"));
        journal.rotate("100-1-aa").unwrap();
        journal.append(&frame("A#2"));
        let mut torn = frame("A#3");
        torn.truncate(torn.len() - 1);
        journal.append(&torn);
        journal.write_buffered().unwrap();

        let live = |pid| pid == 100;
        assert!(
            orphans(dir.path(), live, |_| false).is_empty(),
            "a live agent's journal is left alone"
        );
        let found = orphans(dir.path(), |_| false, |_| false);
        assert_eq!(actions(&found), vec!["A#1", "A#2"]);
    }

    #[test]
    fn a_flushing_segment_whose_payload_is_stored_is_not_replayed() {
        let dir = tempfile::tempdir().unwrap();
        let mut journal = Journal::open(dir.path(), 100, 0o644).unwrap();
        journal.append(&frame("A#1"));
        journal.rotate("100-1-aa").unwrap();
        journal.append(&frame("A#2"));
        journal.write_buffered().unwrap();
        // The agent died after storing payload 100-1-aa, before removing the segment.
        let found = orphans(dir.path(), |_| false, |tag| tag == "100-1-aa");
        assert_eq!(actions(&found), vec!["A#2"]);
        assert!(found[0].committed && found[0].batches.is_empty());
    }

    #[test]
    fn adopted_segments_leave_with_the_next_payload() {
        let dir = tempfile::tempdir().unwrap();
        let mut dead = Journal::open(dir.path(), 100, 0o644).unwrap();
        dead.append(&frame("A#1"));
        dead.write_buffered().unwrap();
        drop(dead);

        let mut journal = Journal::new(dir.path(), 200, 0o644);
        for orphan in orphans(dir.path(), |pid| pid == 200, |_| false) {
            journal.take_over(&orphan.path).unwrap();
        }
        journal.start().unwrap();
        assert!(
            orphans(dir.path(), |pid| pid == 200, |_| false).is_empty(),
            "taken over: the segment is the live agent's now"
        );
        let adopted = orphans(dir.path(), |_| false, |_| false);
        assert_eq!(actions(&adopted), vec!["A#1"], "and replayed if it dies");

        journal.append(&frame("A#2"));
        journal.rotate("200-1-bb").unwrap();
        assert_eq!(
            names(dir.path()),
            vec![
                "200.flushing.200-1-bb",
                "200.flushing.200-1-bb.1",
                "200.journal"
            ]
        );
        let committed = orphans(dir.path(), |_| false, |tag| tag == "200-1-bb");
        assert!(committed.iter().all(|o| o.batches.is_empty()));
        journal.finish_flush().unwrap();
        assert_eq!(names(dir.path()), vec!["200.journal"]);
    }

    #[test]
    fn an_earlier_process_with_the_same_pid_is_taken_over_too() {
        let dir = tempfile::tempdir().unwrap();
        let mut earlier = Journal::open(dir.path(), 7, 0o644).unwrap();
        earlier.append(&frame("A#1"));
        earlier.write_buffered().unwrap();
        drop(earlier);

        let mut journal = Journal::new(dir.path(), 7, 0o644);
        let found = orphans(dir.path(), |_| false, |_| false);
        assert_eq!(actions(&found), vec!["A#1"]);
        for orphan in &found {
            journal.take_over(&orphan.path).unwrap();
        }
        journal.start().unwrap();
        journal.rotate("7-1-cc").unwrap();
        journal.finish_flush().unwrap();
        assert_eq!(names(dir.path()), vec!["7.journal"]);
        assert!(orphans(dir.path(), |_| false, |_| false)
            .iter()
            .all(|o| o.batches.is_empty()));
    }

    #[test]
    fn segment_names_are_read_back() {
        assert_eq!(parse_name("12.journal"), Some((12, SegmentName::Current)));
        assert_eq!(
            parse_name("12.flushing.12-3-ab.2"),
            Some((12, SegmentName::Flushing(Some("12-3-ab"))))
        );
        assert_eq!(
            parse_name("12.flushing"),
            Some((12, SegmentName::Flushing(None)))
        );
        assert_eq!(
            parse_name("12.adopted.0a-1"),
            Some((12, SegmentName::Adopted))
        );
        assert_eq!(parse_name("12.journal.tmp"), None);
        assert_eq!(parse_name("x.journal"), None);
    }
}
