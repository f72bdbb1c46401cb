//! Wall-clock time behind a trait, so the 180 s anomaly wait and the 12 h roll-up are tested
//! by moving a manual clock instead of sleeping.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

pub trait Clock: Send + Sync {
    /// Seconds since the Unix epoch.
    fn now_unix(&self) -> i64;
}

pub type SharedClock = Arc<dyn Clock>;

pub struct SystemClock;

impl Clock for SystemClock {
    fn now_unix(&self) -> i64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0)
    }
}

/// A clock that only moves when told to.
pub struct ManualClock(AtomicI64);

impl ManualClock {
    pub fn new(now_unix: i64) -> Arc<Self> {
        Arc::new(Self(AtomicI64::new(now_unix)))
    }

    pub fn set(&self, now_unix: i64) {
        self.0.store(now_unix, Ordering::SeqCst);
    }

    pub fn advance(&self, seconds: i64) {
        self.0.fetch_add(seconds, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_unix(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}

pub fn floor_minute(unix: i64) -> i64 {
    unix.div_euclid(60) * 60
}

pub fn floor_hour(unix: i64) -> i64 {
    unix.div_euclid(3600) * 3600
}
