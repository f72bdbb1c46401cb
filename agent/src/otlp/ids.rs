//! Random trace and span ids. SplitMix64 seeded from the standard library's
//! per-process random hash keys: ids only need to be unique, not secret, and this
//! costs a few nanoseconds per id with no dependency.

use std::hash::{BuildHasher, Hasher};

pub struct IdGenerator {
    state: u64,
}

impl IdGenerator {
    pub fn new() -> IdGenerator {
        let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
        hasher.write_u32(std::process::id());
        if let Ok(since_epoch) = std::time::UNIX_EPOCH.elapsed() {
            hasher.write_u128(since_epoch.as_nanos());
        }
        IdGenerator {
            state: hasher.finish(),
        }
    }

    fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Never all zeros (an invalid id in OTLP).
    fn non_zero(&mut self) -> u64 {
        loop {
            let value = self.next_u64();
            if value != 0 {
                return value;
            }
        }
    }

    pub fn trace_id(&mut self) -> [u8; 16] {
        let mut id = [0u8; 16];
        id[..8].copy_from_slice(&self.non_zero().to_be_bytes());
        id[8..].copy_from_slice(&self.next_u64().to_be_bytes());
        id
    }

    pub fn span_id(&mut self) -> [u8; 8] {
        self.non_zero().to_be_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_non_zero_and_differ() {
        let mut ids = IdGenerator::new();
        let mut other = IdGenerator::new();
        let a = ids.trace_id();
        assert_ne!(a, [0; 16]);
        assert_ne!(a, ids.trace_id());
        assert_ne!(a, other.trace_id());
        let spans: std::collections::HashSet<_> = (0..1000).map(|_| ids.span_id()).collect();
        assert_eq!(spans.len(), 1000);
    }
}
