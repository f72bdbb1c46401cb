//! Transaction ids: unique without a syscall or a lock on the hot path. Each thread
//! draws from its own xorshift generator seeded once from the clock, the pid and the
//! thread's address.

use std::cell::Cell;
use std::time::{SystemTime, UNIX_EPOCH};

thread_local! {
    static STATE: Cell<u64> = Cell::new(seed());
}

fn seed() -> u64 {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    let local = 0u8;
    let addr = &local as *const u8 as u64;
    let mixed = nanos ^ (u64::from(std::process::id()) << 32) ^ addr.rotate_left(17);
    if mixed == 0 {
        0x9e3779b97f4a7c15
    } else {
        mixed
    }
}

fn next_u64() -> u64 {
    STATE.with(|state| {
        let mut x = state.get();
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        state.set(x);
        x
    })
}

/// Reseeds this thread after a fork, so parent and child do not draw the same ids.
pub fn reseed() {
    STATE.with(|state| state.set(seed() ^ state.get().rotate_left(29)));
}

/// 32 hex characters, like a uuid without dashes.
pub fn new_id() -> String {
    format!("{:016x}{:016x}", next_u64(), next_u64())
}

#[cfg(test)]
mod tests {
    #[test]
    fn ids_are_unique_and_hex() {
        let ids: std::collections::HashSet<_> = (0..10_000).map(|_| super::new_id()).collect();
        assert_eq!(ids.len(), 10_000);
        assert!(ids
            .iter()
            .all(|id| id.len() == 32 && id.chars().all(|c| c.is_ascii_hexdigit())));
    }
}
