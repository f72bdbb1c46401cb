//! Framing on the agent socket: each `ClientBatch` is preceded by its length as a
//! 4-byte big-endian unsigned integer. A length above [`MAX_FRAME_LEN`] or bytes that
//! do not decode are a malformed frame: the reader drops the connection.

use crate::decode_budget;
use crate::v1::ClientBatch;
use prost::Message;

/// Largest frame either side accepts. The extension never writes more (it splits
/// batches well below this); anything larger is garbage or hostile.
pub const MAX_FRAME_LEN: usize = 8 * 1024 * 1024;

/// The most one frame may decode into, however small its bytes (see
/// [`crate::decode_budget`]). The extension's frames stay far below it.
pub const MAX_FRAME_DECODED_BYTES: usize = 64 * 1024 * 1024;

/// Size of the length prefix.
pub const HEADER_LEN: usize = 4;

#[derive(Debug, PartialEq, Eq)]
pub enum FrameError {
    /// The length prefix announces more than [`MAX_FRAME_LEN`] bytes.
    TooLarge { announced: usize },
    /// The frame's bytes are not a valid `ClientBatch`.
    Undecodable(String),
    /// The frame would decode into far more memory than its size explains.
    OverDecodeBudget,
}

impl std::fmt::Display for FrameError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FrameError::TooLarge { announced } => write!(
                f,
                "frame announces {announced} bytes, more than the {MAX_FRAME_LEN}-byte limit"
            ),
            FrameError::Undecodable(why) => write!(f, "frame is not a valid ClientBatch: {why}"),
            FrameError::OverDecodeBudget => write!(
                f,
                "frame would decode into far more memory than its size explains"
            ),
        }
    }
}

impl std::error::Error for FrameError {}

/// Appends one framed batch to `out`.
pub fn encode_frame(batch: &ClientBatch, out: &mut Vec<u8>) {
    let len = batch.encoded_len();
    out.reserve(HEADER_LEN + len);
    out.extend_from_slice(&(len as u32).to_be_bytes());
    // Encoding into a Vec cannot run out of space: reserve above grew it.
    let _ = batch.encode(out);
}

/// Incremental decoder for a byte stream: feed it what the socket gave, then take
/// whole frames out.
#[derive(Default)]
pub struct FrameDecoder {
    buffer: Vec<u8>,
    start: usize,
}

impl FrameDecoder {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn push(&mut self, bytes: &[u8]) {
        if self.start > 0 && self.start == self.buffer.len() {
            self.buffer.clear();
            self.start = 0;
        }
        self.buffer.extend_from_slice(bytes);
    }

    /// Bytes received but not yet part of a whole frame.
    pub fn pending_len(&self) -> usize {
        self.buffer.len() - self.start
    }

    /// The next whole frame, `Ok(None)` when more bytes are needed. After an error
    /// the stream cannot be resynchronised: the caller closes the connection.
    pub fn next_frame(&mut self) -> Result<Option<ClientBatch>, FrameError> {
        let available = &self.buffer[self.start..];
        if available.len() < HEADER_LEN {
            self.compact();
            return Ok(None);
        }
        let announced =
            u32::from_be_bytes([available[0], available[1], available[2], available[3]]) as usize;
        if announced > MAX_FRAME_LEN {
            return Err(FrameError::TooLarge { announced });
        }
        if available.len() < HEADER_LEN + announced {
            self.compact();
            return Ok(None);
        }
        let body = &available[HEADER_LEN..HEADER_LEN + announced];
        let budget = decode_budget::budget_for(body.len(), MAX_FRAME_DECODED_BYTES);
        decode_budget::check(body, budget).map_err(|_| FrameError::OverDecodeBudget)?;
        let batch =
            ClientBatch::decode(body).map_err(|e| FrameError::Undecodable(e.to_string()))?;
        self.start += HEADER_LEN + announced;
        Ok(Some(batch))
    }

    fn compact(&mut self) {
        if self.start > 0 {
            self.buffer.drain(..self.start);
            self.start = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::v1::Transaction;

    fn batch(action: &str) -> ClientBatch {
        ClientBatch {
            transactions: vec![Transaction {
                action: action.to_string(),
                namespace: "web".to_string(),
                ..Default::default()
            }],
            ..Default::default()
        }
    }

    #[test]
    fn frames_round_trip_even_when_split_at_every_byte() {
        let mut wire = Vec::new();
        encode_frame(&batch("A#one"), &mut wire);
        encode_frame(&batch("B#two"), &mut wire);
        let mut decoder = FrameDecoder::new();
        let mut actions = Vec::new();
        for byte in &wire {
            decoder.push(std::slice::from_ref(byte));
            while let Some(frame) = decoder.next_frame().unwrap() {
                actions.push(frame.transactions[0].action.clone());
            }
        }
        assert_eq!(actions, vec!["A#one", "B#two"]);
        assert_eq!(decoder.pending_len(), 0);
    }

    #[test]
    fn an_oversized_length_is_rejected_before_buffering_it() {
        let mut decoder = FrameDecoder::new();
        decoder.push(&u32::MAX.to_be_bytes());
        assert_eq!(
            decoder.next_frame(),
            Err(FrameError::TooLarge {
                announced: u32::MAX as usize
            })
        );
    }

    #[test]
    fn garbage_bytes_are_undecodable() {
        let mut decoder = FrameDecoder::new();
        decoder.push(&[0, 0, 0, 3, 0xff, 0xff, 0xff]);
        assert!(matches!(
            decoder.next_frame(),
            Err(FrameError::Undecodable(_))
        ));
    }

    #[test]
    fn a_frame_of_empty_messages_is_refused_before_decoding() {
        // 2 bytes each on the wire, hundreds once decoded: refused unread.
        let batch = ClientBatch {
            transactions: vec![Transaction::default(); 100_000],
            ..Default::default()
        };
        let mut bytes = Vec::new();
        encode_frame(&batch, &mut bytes);
        assert!(bytes.len() < MAX_FRAME_LEN);
        let mut decoder = FrameDecoder::new();
        decoder.push(&bytes);
        assert_eq!(decoder.next_frame(), Err(FrameError::OverDecodeBudget));
    }
}
