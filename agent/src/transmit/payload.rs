//! From a snapshot to the gzip'd bytes of one `Payload`.

use std::hash::{BuildHasher, Hasher};
use std::io::Write;

use appsignal_proto::v1::{MetricMinute, Payload};
use flate2::write::GzEncoder;
use flate2::Compression;
use prost::Message;

use crate::aggregate::Snapshot;

/// `hostname-pid-counter-random`: unique across agents and restarts, which is what
/// lets a receiver drop a payload it already has (a retry after a lost answer).
pub struct PayloadId {
    pub id: String,
    /// `pid-counter-random`, the end of `id`: short and file-name safe, it names
    /// the journal segments the payload is built from (see `journal`).
    pub tag: String,
}

pub fn payload_id(hostname: &str, pid: u32, counter: u64) -> PayloadId {
    let random = std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish();
    let tag = format!("{pid}-{counter}-{:08x}", random as u32);
    PayloadId {
        id: format!("{hostname}-{tag}"),
        tag,
    }
}

pub fn build(
    snapshot: Snapshot,
    extra_metrics: Vec<MetricMinute>,
    payload_id: String,
    hostname: &str,
    created_at_unix_ms: i64,
) -> Payload {
    let mut metrics = snapshot.metrics;
    metrics.extend(extra_metrics);
    Payload {
        payload_id,
        hostname: hostname.to_string(),
        agent_version: env!("CARGO_PKG_VERSION").to_string(),
        created_at_unix_ms,
        actions: snapshot.actions,
        samples: snapshot.samples,
        metrics,
        revisions: snapshot.revisions,
        language: snapshot.language,
        library_version: snapshot.library_version,
    }
}

pub fn gzip(payload: &Payload) -> std::io::Result<Vec<u8>> {
    let encoded = payload.encode_to_vec();
    let mut encoder = GzEncoder::new(Vec::with_capacity(encoded.len() / 4), Compression::fast());
    encoder.write_all(&encoded)?;
    encoder.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::read::GzDecoder;
    use std::io::Read;

    #[test]
    fn payloads_gzip_round_trip_and_ids_differ() {
        let payload = build(
            Snapshot::default(),
            Vec::new(),
            payload_id("h", 1, 1).id,
            "h",
            5,
        );
        let mut decoded = Vec::new();
        GzDecoder::new(&gzip(&payload).unwrap()[..])
            .read_to_end(&mut decoded)
            .unwrap();
        assert_eq!(Payload::decode(&decoded[..]).unwrap(), payload);
        assert_ne!(payload_id("h", 1, 1).id, payload_id("h", 1, 1).id);
        let id = payload_id("web-1.example", 42, 7);
        assert!(id.id.ends_with(&format!("-{}", id.tag)));
        assert!(id.tag.starts_with("42-7-") && !id.tag.contains('.'));
    }
}
