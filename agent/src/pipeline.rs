//! The state ingest writes and transmission takes: the aggregator and the journal
//! behind one lock, so a snapshot and the journal rotation always cover exactly the
//! same frames.

use std::sync::{Arc, Mutex, MutexGuard};

use crate::aggregate::Aggregator;
use crate::journal::{Journal, Orphan};
use crate::log::{info, warning};

pub struct Pipeline {
    pub aggregator: Aggregator,
    pub journal: Option<Journal>,
}

impl Pipeline {
    /// Takes dead agents' journals in: their frames into the aggregator and into this
    /// agent's journal (written before the orphan files are removed, so a crash in
    /// between replays twice rather than never).
    pub fn adopt(&mut self, orphans: Vec<Orphan>) {
        if orphans.is_empty() {
            return;
        }
        for orphan in &orphans {
            if orphan.batches.is_empty() {
                continue;
            }
            info!(
                "replaying {} frames from the journal of agent {}",
                orphan.batches.len(),
                orphan.pid
            );
            if let Some(journal) = self.journal.as_mut() {
                journal.append(&orphan.bytes);
            }
        }
        if let Some(journal) = self.journal.as_mut() {
            if let Err(e) = journal.write_buffered() {
                warning!("cannot write the journal: {e}");
            }
        }
        let own = self.journal.as_ref().map(|j| j.current_path());
        for orphan in orphans {
            if Some(&orphan.path) != own.as_ref() {
                let _ = std::fs::remove_file(&orphan.path);
            }
            for batch in orphan.batches {
                self.aggregator.apply(batch);
            }
        }
    }
}

#[derive(Clone)]
pub struct SharedPipeline(Arc<Mutex<Pipeline>>);

impl SharedPipeline {
    pub fn new(pipeline: Pipeline) -> SharedPipeline {
        SharedPipeline(Arc::new(Mutex::new(pipeline)))
    }

    /// A panic while holding the lock cannot leave the aggregator half-updated in a
    /// way worth losing all data over, so a poisoned lock is used as is.
    pub fn lock(&self) -> MutexGuard<'_, Pipeline> {
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}
