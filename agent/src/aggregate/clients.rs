//! What the connected extensions said about themselves: hello (revision, gem
//! version) and their cumulative health counters, latest per process.

use std::collections::{BTreeSet, HashMap};

use appsignal_proto::v1::{ClientHealth, ClientHello};

/// Process ids remembered at most; beyond it the stalest is forgotten, so a host
/// that forks thousands of short-lived workers cannot grow this without bound.
const MAX_CLIENTS: usize = 4096;

#[derive(Default)]
pub struct Clients {
    revisions: BTreeSet<String>,
    pub language: String,
    pub library_version: String,
    health: HashMap<u32, (ClientHealth, i64)>,
}

impl Clients {
    pub fn hello(&mut self, hello: &ClientHello) {
        if !hello.revision.is_empty() {
            self.revisions.insert(hello.revision.clone());
        }
        if !hello.language.is_empty() {
            self.language.clone_from(&hello.language);
        }
        if !hello.library_version.is_empty() {
            self.library_version.clone_from(&hello.library_version);
        }
    }

    pub fn add_revision(&mut self, revision: &str) {
        self.revisions.insert(revision.to_string());
    }

    pub fn health(&mut self, health: ClientHealth, now_ms: i64) {
        if self.health.len() >= MAX_CLIENTS && !self.health.contains_key(&health.pid) {
            if let Some(stalest) = self
                .health
                .iter()
                .min_by_key(|(_, (_, seen))| *seen)
                .map(|(pid, _)| *pid)
            {
                self.health.remove(&stalest);
            }
        }
        self.health.insert(health.pid, (health, now_ms));
    }

    /// Revisions seen since the last call.
    pub fn take_revisions(&mut self) -> Vec<String> {
        std::mem::take(&mut self.revisions).into_iter().collect()
    }

    /// Sum over processes of their latest cumulative counters.
    pub fn totals(&self) -> ClientHealth {
        let mut total = ClientHealth::default();
        for (health, _) in self.health.values() {
            total.transactions_sent += health.transactions_sent;
            total.transactions_dropped += health.transactions_dropped;
            total.metrics_dropped += health.metrics_dropped;
            total.events_truncated += health.events_truncated;
        }
        total
    }
}
