//! Crash safety: every accepted frame is appended (in its wire form) to
//! `{working_dir}/journal/{pid}.journal` in batches, without an fsync per frame. At
//! each transmission the file is rotated to `{pid}.flushing` and removed once the
//! payload built from it is on disk in `payloads/`. A new agent replays the journals
//! of agents that are no longer alive, so a SIGKILL loses at most the last batch
//! (about 100 ms) of data. Journals are per pid so an agent being replaced, which
//! still flushes its own data, is never replayed twice.

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
    /// Starts this process's journal empty: a file already at its path belongs to an
    /// earlier process with the same pid and must have been read with [`orphans`].
    pub fn open(dir: &Path, pid: u32, file_mode: u32) -> std::io::Result<Journal> {
        let mut journal = Journal {
            dir: dir.to_path_buf(),
            pid,
            file_mode,
            file: None,
            buffer: Vec::new(),
            size: 0,
            last_error: None,
        };
        let _ = std::fs::remove_file(journal.flushing_path());
        let _ = std::fs::remove_file(journal.current_path());
        journal.file = Some(open_append(&journal.current_path(), file_mode)?);
        Ok(journal)
    }

    pub fn current_path(&self) -> PathBuf {
        self.dir.join(format!("{}.journal", self.pid))
    }

    fn flushing_path(&self) -> PathBuf {
        self.dir.join(format!("{}.flushing", self.pid))
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

    /// Closes the current journal as the one being flushed and starts a new one.
    pub fn rotate(&mut self) -> std::io::Result<()> {
        self.write_buffered()?;
        self.file = None;
        std::fs::rename(self.current_path(), self.flushing_path())?;
        self.file = Some(open_append(&self.current_path(), self.file_mode)?);
        self.size = 0;
        Ok(())
    }

    /// The data of the last rotation is safely in `payloads/`.
    pub fn finish_flush(&mut self) {
        let _ = std::fs::remove_file(self.flushing_path());
    }

    /// On a clean exit after the final flush nothing is left to replay.
    pub fn remove(&mut self) {
        self.file = None;
        let _ = std::fs::remove_file(self.current_path());
        self.finish_flush();
    }
}

/// A dead agent's journal: its path and the whole frames it holds, in order.
pub struct Orphan {
    pub path: PathBuf,
    pub pid: u32,
    pub bytes: Vec<u8>,
    pub batches: Vec<ClientBatch>,
}

/// Journals of agents no longer alive, `.flushing` before `.journal` for each pid
/// since it holds older data. At startup the caller counts its own pid as dead: a
/// journal there is from an earlier process that had the same pid.
pub fn orphans(dir: &Path, is_alive: impl Fn(u32) -> bool) -> Vec<Orphan> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut found: Vec<(u32, u8, PathBuf)> = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let Some((pid, suffix)) = name.split_once('.') else {
            continue;
        };
        let order = match suffix {
            "flushing" => 0,
            "journal" => 1,
            _ => continue,
        };
        let Ok(pid) = pid.parse::<u32>() else {
            continue;
        };
        if !is_alive(pid) {
            found.push((pid, order, entry.path()));
        }
    }
    found.sort();
    found
        .into_iter()
        .filter_map(|(pid, _, path)| {
            let bytes = read_nofollow(&path)?;
            let (bytes, batches) = whole_frames(bytes);
            Some(Orphan {
                path,
                pid,
                bytes,
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
/// partial last frame) and returns the bytes of the whole ones with their batches.
fn whole_frames(mut bytes: Vec<u8>) -> (Vec<u8>, Vec<ClientBatch>) {
    let mut decoder = FrameDecoder::new();
    decoder.push(&bytes);
    let mut batches = Vec::new();
    while let Ok(Some(batch)) = decoder.next_frame() {
        batches.push(batch);
    }
    // Whatever the decoder still holds is the torn or damaged tail.
    let consumed = bytes.len() - decoder.pending_len();
    bytes.truncate(consumed);
    (bytes, batches)
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

    #[test]
    fn dead_agents_journals_are_replayed_in_order_and_torn_tails_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let mut journal = Journal::open(dir.path(), 100, 0o644).unwrap();
        journal.append(&frame("A#1"));
        journal.rotate().unwrap();
        journal.append(&frame("A#2"));
        let mut torn = frame("A#3");
        torn.truncate(torn.len() - 1);
        journal.append(&torn);
        journal.write_buffered().unwrap();

        let live = |pid| pid == 100;
        assert!(
            orphans(dir.path(), live).is_empty(),
            "a live agent's journal is left alone"
        );
        let found = orphans(dir.path(), |_| false);
        let actions: Vec<_> = found
            .iter()
            .flat_map(|o| o.batches.iter().map(|b| b.transactions[0].action.clone()))
            .collect();
        assert_eq!(actions, vec!["A#1", "A#2"]);
        assert_eq!(found[1].bytes, frame("A#2"));
    }

    #[test]
    fn finishing_a_flush_removes_the_rotated_journal() {
        let dir = tempfile::tempdir().unwrap();
        let mut journal = Journal::open(dir.path(), 100, 0o644).unwrap();
        journal.append(&frame("A#1"));
        journal.rotate().unwrap();
        journal.finish_flush();
        assert!(orphans(dir.path(), |_| false)
            .iter()
            .all(|o| o.batches.is_empty()));
    }
}
