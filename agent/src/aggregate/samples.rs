//! Which whole transactions travel as samples: per interval the few slowest per
//! action, and erroring ones capped per (action, error class), so one hot error
//! cannot crowd out everything else. Kept next to the action's aggregates so one
//! map lookup serves both.

use appsignal_proto::v1::Transaction;
use prost::Message;

use super::fast_hash::FastMap;

pub const SLOWEST_PER_ACTION: usize = 3;
pub const ERRORS_PER_ACTION_AND_CLASS: usize = 10;

/// Totals over all actions, for the size trigger.
#[derive(Default)]
pub struct SampleTally {
    pub count: usize,
    pub bytes: usize,
    pub dropped_errors: u64,
}

#[derive(Default)]
pub struct ActionSamples {
    slowest: Vec<Transaction>,
    errors: FastMap<String, Vec<Transaction>>,
}

impl ActionSamples {
    /// Keeps `transaction` if it is among the slowest or a not-yet-capped error.
    pub fn offer(&mut self, transaction: Transaction, tally: &mut SampleTally) {
        if let Some(error) = &transaction.error {
            let bucket = match self.errors.get_mut(error.name.as_str()) {
                Some(bucket) => bucket,
                None => self.errors.entry(error.name.clone()).or_default(),
            };
            if bucket.len() < ERRORS_PER_ACTION_AND_CLASS {
                tally.bytes += transaction.encoded_len();
                tally.count += 1;
                bucket.push(transaction);
            } else {
                tally.dropped_errors += 1;
            }
            return;
        }
        if self.slowest.len() < SLOWEST_PER_ACTION {
            tally.bytes += transaction.encoded_len();
            tally.count += 1;
            self.slowest.push(transaction);
            return;
        }
        let Some((fastest_index, fastest)) = self
            .slowest
            .iter()
            .enumerate()
            .min_by_key(|(_, t)| t.duration_ns)
        else {
            return;
        };
        if transaction.duration_ns > fastest.duration_ns {
            tally.bytes =
                tally.bytes.saturating_sub(fastest.encoded_len()) + transaction.encoded_len();
            self.slowest[fastest_index] = transaction;
        }
    }

    /// Slowest first, then errors grouped by class.
    pub fn drain_into(mut self, out: &mut Vec<Transaction>) {
        self.slowest
            .sort_by_key(|t| std::cmp::Reverse(t.duration_ns));
        out.append(&mut self.slowest);
        let mut errors: Vec<_> = self.errors.into_iter().collect();
        errors.sort_by(|a, b| a.0.cmp(&b.0));
        for (_, transactions) in errors {
            out.extend(transactions);
        }
    }
}
