//! A size limit on input bytes does not bound what decoding them costs: an empty
//! repeated message is 2 bytes on the wire and a few hundred bytes once decoded, so a
//! 1 MB body of them decodes into ~200 MB. Before decoding untrusted bytes, the
//! agent and the server estimate what decoding would allocate, without allocating,
//! and refuse bodies over a budget.
//!
//! The walk needs no schema: every length-delimited field that parses as a message
//! is counted as one (a string that happens to parse is counted too, which only
//! errs on the safe side), and so is every empty one. Each message is charged at
//! least the size of the largest generated struct found at its depth.

/// Nesting deeper than this is counted as opaque bytes. The schema is four levels
/// deep; the limit keeps the walk linear in the input.
const MAX_DEPTH: u32 = 8;

/// Bytes charged per message by depth below the top-level message: `Transaction`
/// (392 bytes) and the other items of a batch or payload; then events, errors,
/// histograms and map entries of strings; then causes and histogram buckets. A
/// test below keeps these above the generated structs' sizes.
const DEPTH_1_BYTES: usize = 512;
const DEPTH_2_BYTES: usize = 128;
const DEEPER_BYTES: usize = 96;

/// Honest bodies decode into at most ~20 times their size (a histogram bucket
/// is 6 bytes on the wire and charged 96); bodies of empty messages into 50–250.
pub const MAX_AMPLIFICATION: usize = 32;
/// Small bodies may always decode this much.
const FLOOR_BYTES: usize = 4 * 1024 * 1024;

#[derive(Debug, PartialEq, Eq)]
pub struct OverBudget {
    pub budget_bytes: usize,
}

impl std::fmt::Display for OverBudget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the body would decode into more than {} bytes of messages",
            self.budget_bytes
        )
    }
}

impl std::error::Error for OverBudget {}

/// What a body of `wire_len` bytes may decode into: [`MAX_AMPLIFICATION`] times its
/// size, never more than `ceiling`.
pub fn budget_for(wire_len: usize, ceiling: usize) -> usize {
    wire_len
        .saturating_mul(MAX_AMPLIFICATION)
        .max(FLOOR_BYTES)
        .min(ceiling)
}

/// Estimates the bytes of structs nested in `bytes` (the top-level message not
/// included) and fails as soon as the estimate passes `budget_bytes`. Bytes that are
/// not valid protobuf are left for the decoder to reject: this only counts what it
/// can walk.
pub fn check(bytes: &[u8], budget_bytes: usize) -> Result<usize, OverBudget> {
    let mut counter = Counter {
        charged: 0,
        budget: budget_bytes,
    };
    // The top level is a message by definition; a parse failure there is the
    // decoder's to report.
    let _ = counter.walk(bytes, 0);
    if counter.charged > counter.budget {
        return Err(OverBudget { budget_bytes });
    }
    Ok(counter.charged)
}

fn charge_at(depth: u32) -> usize {
    match depth {
        0 | 1 => DEPTH_1_BYTES,
        2 => DEPTH_2_BYTES,
        _ => DEEPER_BYTES,
    }
}

struct Counter {
    charged: usize,
    budget: usize,
}

/// Why a walk stopped: the bytes are not a message, or the budget ran out.
enum Stop {
    NotAMessage,
    OverBudget,
}

impl Counter {
    /// Walks `bytes` as a message's fields, counting nested messages.
    fn walk(&mut self, mut bytes: &[u8], depth: u32) -> Result<(), Stop> {
        while !bytes.is_empty() {
            let key = read_varint(&mut bytes).ok_or(Stop::NotAMessage)?;
            if key >> 3 == 0 {
                return Err(Stop::NotAMessage);
            }
            match key & 7 {
                0 => {
                    read_varint(&mut bytes).ok_or(Stop::NotAMessage)?;
                }
                1 => bytes = bytes.get(8..).ok_or(Stop::NotAMessage)?,
                5 => bytes = bytes.get(4..).ok_or(Stop::NotAMessage)?,
                2 => {
                    let len = read_varint(&mut bytes).ok_or(Stop::NotAMessage)?;
                    let len = usize::try_from(len).map_err(|_| Stop::NotAMessage)?;
                    let field = bytes.get(..len).ok_or(Stop::NotAMessage)?;
                    bytes = &bytes[len..];
                    self.nested(field, depth + 1)?;
                }
                _ => return Err(Stop::NotAMessage),
            }
        }
        Ok(())
    }

    /// A length-delimited field: counted when it is empty or walks as a message;
    /// what its own fields counted is kept only in that case.
    fn nested(&mut self, field: &[u8], depth: u32) -> Result<(), Stop> {
        if depth > MAX_DEPTH {
            return Ok(());
        }
        let before = self.charged;
        match self.walk(field, depth) {
            Ok(()) => {
                self.charged += charge_at(depth);
                if self.charged > self.budget {
                    return Err(Stop::OverBudget);
                }
                Ok(())
            }
            Err(Stop::NotAMessage) => {
                self.charged = before;
                Ok(())
            }
            Err(Stop::OverBudget) => Err(Stop::OverBudget),
        }
    }
}

fn read_varint(bytes: &mut &[u8]) -> Option<u64> {
    let mut value = 0u64;
    for (i, byte) in bytes.iter().enumerate().take(10) {
        value |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            *bytes = &bytes[i + 1..];
            return Some(value);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::v1::*;
    use prost::Message;
    use std::mem::size_of;

    #[test]
    fn charges_are_above_the_generated_structs_at_each_depth() {
        let depth_1 = [
            size_of::<Transaction>(),
            size_of::<ActionMinute>(),
            size_of::<MetricMinute>(),
            size_of::<MetricSample>(),
            size_of::<ClientHello>(),
            size_of::<ClientHealth>(),
        ];
        let depth_2 = [
            size_of::<Event>(),
            size_of::<EventMinute>(),
            size_of::<ErrorInfo>(),
            size_of::<Breadcrumb>(),
            size_of::<Histogram>(),
            2 * size_of::<String>() + 16, // a map<string, string> entry in its tree node
        ];
        let deeper = [
            size_of::<ErrorCause>(),
            size_of::<Histogram>(),
            size_of::<(i32, u64)>() + 8,
        ];
        assert!(depth_1.iter().all(|&s| s <= DEPTH_1_BYTES), "{depth_1:?}");
        assert!(depth_2.iter().all(|&s| s <= DEPTH_2_BYTES), "{depth_2:?}");
        assert!(deeper.iter().all(|&s| s <= DEEPER_BYTES), "{deeper:?}");
    }

    #[test]
    fn charges_nested_messages_and_empty_ones() {
        let transaction = Transaction {
            action: "Home#index".into(),
            events: vec![Event::default(), Event::default()],
            ..Default::default()
        };
        let payload = Payload {
            hostname: "web-1".into(),
            samples: vec![transaction, Transaction::default()],
            ..Default::default()
        };
        // 2 samples + 2 events; the strings do not parse as messages.
        let expected = 2 * DEPTH_1_BYTES + 2 * DEPTH_2_BYTES;
        assert_eq!(check(&payload.encode_to_vec(), usize::MAX), Ok(expected));
        assert!(check(&payload.encode_to_vec(), expected - 1).is_err());
    }

    #[test]
    fn a_body_of_empty_messages_is_over_its_budget_and_an_honest_one_is_not() {
        let empty = Payload {
            samples: vec![Transaction::default(); 5_000],
            ..Default::default()
        }
        .encode_to_vec();
        assert_eq!(empty.len(), 10_000);
        // Within the floor every small body gets.
        let budget = budget_for(empty.len(), usize::MAX);
        assert_eq!(check(&empty, budget), Ok(5_000 * DEPTH_1_BYTES));
        let big_empty = Payload {
            samples: vec![Transaction::default(); 100_000],
            ..Default::default()
        }
        .encode_to_vec();
        let budget = budget_for(big_empty.len(), usize::MAX);
        assert_eq!(
            check(&big_empty, budget),
            Err(OverBudget {
                budget_bytes: budget
            })
        );

        // Thousands of actions with wide histograms: bucket-heavy, the worst honest case.
        let buckets = (-88..88).map(|k| (k, 1_000)).collect();
        let action = ActionMinute {
            action: "PostsController#index".into(),
            duration_ms: Some(Histogram {
                buckets,
                zero_count: 0,
            }),
            ..Default::default()
        };
        let honest = Payload {
            actions: vec![action; 5_000],
            ..Default::default()
        }
        .encode_to_vec();
        assert!(check(&honest, budget_for(honest.len(), usize::MAX)).is_ok());
    }

    #[test]
    fn garbage_is_left_to_the_decoder() {
        assert_eq!(check(b"\xff\xff\xff", 0), Ok(0));
        assert_eq!(check(b"", 0), Ok(0));
    }

    #[test]
    fn deep_nesting_stays_linear_and_bounded() {
        // Each level wraps the previous one as field 1; beyond MAX_DEPTH it is opaque.
        let mut bytes = Vec::new();
        for _ in 0..64 {
            let mut outer = vec![0x0a];
            let mut len = bytes.len();
            loop {
                let byte = (len & 0x7f) as u8;
                len >>= 7;
                if len == 0 {
                    outer.push(byte);
                    break;
                }
                outer.push(byte | 0x80);
            }
            outer.extend_from_slice(&bytes);
            bytes = outer;
        }
        let expected = DEPTH_1_BYTES + DEPTH_2_BYTES + 6 * DEEPER_BYTES;
        assert_eq!(check(&bytes, usize::MAX), Ok(expected));
    }
}
