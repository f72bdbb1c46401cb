//! Wall-clock time behind a trait, so minute bucketing, spool expiry and retry
//! backoff are tested by moving a manual clock instead of sleeping.

#[cfg(test)]
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

pub trait Clock: Send + Sync {
    fn now_unix_ms(&self) -> i64;
}

pub type SharedClock = Arc<dyn Clock>;

pub struct SystemClock;

impl Clock for SystemClock {
    fn now_unix_ms(&self) -> i64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0)
    }
}

/// A clock that only moves when told to.
#[cfg(test)]
pub struct ManualClock(AtomicI64);

#[cfg(test)]
impl ManualClock {
    pub fn at(unix_ms: i64) -> Arc<ManualClock> {
        Arc::new(ManualClock(AtomicI64::new(unix_ms)))
    }

    pub fn advance_ms(&self, ms: i64) {
        self.0.fetch_add(ms, Ordering::SeqCst);
    }
}

#[cfg(test)]
impl Clock for ManualClock {
    fn now_unix_ms(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}

/// Start of the minute holding `unix_ms`, in seconds since the epoch.
pub fn minute_of_ms(unix_ms: i64) -> i64 {
    unix_ms.div_euclid(60_000) * 60
}

/// Start of the minute holding `unix_ns`, in seconds since the epoch.
pub fn minute_of_ns(unix_ns: i64) -> i64 {
    unix_ns.div_euclid(60_000_000_000) * 60
}
