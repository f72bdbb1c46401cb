//! What a queue message holds: the app id (8 bytes, big-endian) and the protobuf payload.

pub fn encode(app_id: i64, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + body.len());
    out.extend_from_slice(&app_id.to_be_bytes());
    out.extend_from_slice(body);
    out
}

pub fn decode(bytes: &[u8]) -> Option<(i64, &[u8])> {
    let (head, body) = bytes.split_at_checked(8)?;
    let app_id = i64::from_be_bytes(head.try_into().ok()?);
    Some((app_id, body))
}
