//! Test-only fault injection. `APPSIGNAL_AGENT_CRASH_AT=<point>` (or `<point>@<n>`
//! for the n-th time) makes the agent SIGKILL itself when it reaches that point, so
//! tests can stop it exactly between two steps where a crash could count data twice
//! or lose it, instead of hoping a kill from outside lands there. Unset (always, in
//! production) each point costs one check of an already-read value.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

pub const ENV: &str = "APPSIGNAL_AGENT_CRASH_AT";

/// Every point, so a test can run each one and a typo in the variable is caught.
pub const POINTS: &[&str] = &[
    "flush:after_rotate",
    "flush:after_store",
    "flush:after_finish",
    "send:after_accept",
    "adopt:after_take",
];

struct Target {
    point: String,
    nth: u64,
    seen: AtomicU64,
}

fn target() -> Option<&'static Target> {
    static TARGET: OnceLock<Option<Target>> = OnceLock::new();
    TARGET
        .get_or_init(|| {
            let value = std::env::var(ENV).ok()?;
            let (point, nth) = match value.split_once('@') {
                Some((point, nth)) => (point.to_string(), nth.parse().ok()?),
                None => (value, 1),
            };
            Some(Target {
                point,
                nth,
                seen: AtomicU64::new(0),
            })
        })
        .as_ref()
}

/// Unknown points in the variable, for a clear startup error.
pub fn unknown_point() -> Option<String> {
    let target = target()?;
    (!POINTS.contains(&target.point.as_str())).then(|| target.point.clone())
}

pub fn reached(point: &'static str) {
    debug_assert!(POINTS.contains(&point), "unlisted crash point {point}");
    let Some(target) = target() else { return };
    if target.point == point && target.seen.fetch_add(1, Ordering::Relaxed) + 1 == target.nth {
        // SAFETY: signalling our own pid; SIGKILL never returns control to us.
        unsafe {
            libc::kill(libc::getpid(), libc::SIGKILL);
        }
    }
}
