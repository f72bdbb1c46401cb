//! Property tests of every decoder that takes bytes from another process: the agent's
//! frame decoder (bytes from any local process that can open the socket) and the
//! server's Push API body path (bytes from the network). Promises: no panic, and no
//! allocation driven by a length the input announces rather than by the bytes it has:
//! a counting global allocator records the largest allocation of each case, and each
//! property bounds it relative to the input's size.
//!
//! Scenario 6 of the reliability suite: 2 000 cases per property in the normal run,
//! millions with `RELIABILITY_LONG=1` (see reliability/README.md).

use appsignal_proto::frame::{encode_frame, FrameDecoder, FrameError, MAX_FRAME_LEN};
use appsignal_proto::v1::{self, ClientBatch, Payload};
use appsignal_reliability::cases;
use appsignal_server::push_api::body::{gunzip_limited, GunzipError};
use flate2::write::GzEncoder;
use proptest::prelude::*;
use prost::Message;
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::io::Write;

/// Records the largest single allocation made on this thread while armed.
struct LargestAllocation;

thread_local! {
    static ARMED: Cell<bool> = const { Cell::new(false) };
    static LARGEST: Cell<usize> = const { Cell::new(0) };
}

unsafe impl GlobalAlloc for LargestAllocation {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        System.alloc(layout)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout)
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note(new_size);
        System.realloc(ptr, layout, new_size)
    }
}

fn note(size: usize) {
    let _ = ARMED.try_with(|armed| {
        if armed.get() {
            let _ = LARGEST.try_with(|largest| largest.set(largest.get().max(size)));
        }
    });
}

#[global_allocator]
static ALLOCATOR: LargestAllocation = LargestAllocation;

/// Runs `f` and returns its result with the largest single allocation it made.
fn largest_allocation_of<T>(f: impl FnOnce() -> T) -> (T, usize) {
    LARGEST.with(|l| l.set(0));
    ARMED.with(|a| a.set(true));
    let value = f();
    ARMED.with(|a| a.set(false));
    (value, LARGEST.with(|l| l.get()))
}

/// Feeds `chunks` to a decoder and takes frames out after each; returns the frames
/// and whether the stream ended in an error (the connection would be closed).
fn drain(chunks: &[Vec<u8>]) -> (Vec<ClientBatch>, bool) {
    let mut decoder = FrameDecoder::new();
    let mut frames = Vec::new();
    for chunk in chunks {
        decoder.push(chunk);
        loop {
            match decoder.next_frame() {
                Ok(Some(frame)) => frames.push(frame),
                Ok(None) => break,
                Err(_) => return (frames, true),
            }
        }
    }
    (frames, false)
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(data).unwrap();
    encoder.finish().unwrap()
}

fn transaction_strategy() -> impl Strategy<Value = v1::Transaction> {
    (
        ".{0,40}",
        ".{0,20}",
        any::<u64>(),
        proptest::collection::vec((".{0,30}", any::<u64>()), 0..6),
    )
        .prop_map(|(action, namespace, duration_ns, events)| v1::Transaction {
            id: format!("{duration_ns:x}"),
            action,
            namespace,
            duration_ns,
            events: events
                .into_iter()
                .map(|(name, duration_ns)| v1::Event {
                    name,
                    duration_ns,
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        })
}

fn split_points(len: usize, cuts: &[usize]) -> Vec<usize> {
    let mut points: Vec<usize> = cuts.iter().map(|c| c % (len + 1)).collect();
    points.push(0);
    points.push(len);
    points.sort_unstable();
    points.dedup();
    points
}

fn chunked(bytes: &[u8], cuts: &[usize]) -> Vec<Vec<u8>> {
    split_points(bytes.len(), cuts)
        .windows(2)
        .map(|w| bytes[w[0]..w[1]].to_vec())
        .collect()
}

/// A small deterministic generator (splitmix64) for the mutation fuzzers below: each
/// proptest case is one seed, so a failure prints the seed that reproduces it, and a
/// case costs what the decoder costs rather than what building a value tree of
/// thousands of bytes costs in a debug build (which made a million cases take hours).
struct Noise(u64);

impl Noise {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.next() as u8).collect()
    }

    fn text(&mut self, max: usize) -> String {
        const ALPHABET: &[u8] = b"abcXYZ#/_:. 0189'\"\x00\xc3\xa9";
        let len = self.below(max + 1);
        let bytes: Vec<u8> = (0..len)
            .map(|_| ALPHABET[self.below(ALPHABET.len())])
            .collect();
        String::from_utf8_lossy(&bytes).into_owned()
    }

    fn transaction(&mut self) -> v1::Transaction {
        v1::Transaction {
            id: self.text(12),
            namespace: self.text(8),
            action: self.text(24),
            duration_ns: self.next(),
            events: (0..self.below(5))
                .map(|_| v1::Event {
                    name: self.text(16),
                    body: self.text(40),
                    duration_ns: self.next() >> 20,
                    ..Default::default()
                })
                .collect(),
            tags: (0..self.below(3))
                .map(|_| (self.text(6), self.text(6)))
                .collect(),
            error: (self.below(4) == 0).then(|| v1::ErrorInfo {
                name: self.text(10),
                message: self.text(30),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn batch(&mut self) -> ClientBatch {
        ClientBatch {
            transactions: (0..self.below(4)).map(|_| self.transaction()).collect(),
            metrics: (0..self.below(3))
                .map(|_| v1::MetricSample {
                    name: self.text(12),
                    kind: self.below(4) as i32,
                    value: self.next() as f64,
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        }
    }

    fn payload(&mut self) -> Payload {
        Payload {
            payload_id: self.text(12),
            hostname: self.text(8),
            actions: (0..self.below(4))
                .map(|_| v1::ActionMinute {
                    namespace: self.text(6),
                    action: self.text(20),
                    count: self.next() >> 40,
                    ..Default::default()
                })
                .collect(),
            samples: (0..self.below(3)).map(|_| self.transaction()).collect(),
            metrics: (0..self.below(3))
                .map(|_| v1::MetricMinute {
                    name: self.text(12),
                    value: self.next() as f64,
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        }
    }

    /// Byte-level mutations a fuzzer would make: flips, inserts, deletes, varint
    /// bombs, truncation, duplicated slices.
    fn mutate(&mut self, bytes: &mut Vec<u8>) {
        for _ in 0..1 + self.below(6) {
            let len = bytes.len();
            match self.below(6) {
                0 if len > 0 => {
                    let at = self.below(len);
                    bytes[at] ^= 1 << self.below(8);
                }
                1 => {
                    let at = self.below(len + 1);
                    let byte = self.next() as u8;
                    bytes.insert(at, byte);
                }
                2 if len > 0 => {
                    let at = self.below(len);
                    bytes.remove(at);
                }
                3 => {
                    let at = self.below(len + 1);
                    let bomb = [0xff, 0xff, 0xff, 0xff, 0x0f];
                    bytes.splice(at..at, bomb);
                }
                4 if len > 0 => bytes.truncate(self.below(len)),
                5 if len > 1 => {
                    let from = self.below(len);
                    let to = from + self.below(len - from).min(64);
                    let slice = bytes[from..to].to_vec();
                    let at = self.below(len + 1);
                    bytes.splice(at..at, slice);
                }
                _ => {}
            }
        }
    }

    /// A socket stream: valid frames, frames with mutated bodies behind an honest
    /// length, mutated frames (length included), and random lengths with random bytes.
    fn stream(&mut self) -> Vec<u8> {
        let mut stream = Vec::new();
        for _ in 0..1 + self.below(4) {
            match self.below(4) {
                0 => encode_frame(&self.batch(), &mut stream),
                1 => {
                    let mut body = self.batch().encode_to_vec();
                    self.mutate(&mut body);
                    stream.extend_from_slice(&(body.len() as u32).to_be_bytes());
                    stream.extend_from_slice(&body);
                }
                2 => {
                    let mut frame = Vec::new();
                    encode_frame(&self.batch(), &mut frame);
                    self.mutate(&mut frame);
                    stream.extend_from_slice(&frame);
                }
                _ => {
                    let announced = if self.below(2) == 0 {
                        self.below(1024) as u32
                    } else {
                        self.next() as u32
                    };
                    stream.extend_from_slice(&announced.to_be_bytes());
                    let len = self.below(512);
                    stream.extend_from_slice(&self.bytes(len));
                }
            }
        }
        stream
    }

    /// A Push API body: a Payload, mutated or not, gzip'd or not, the gzip mutated or not.
    fn push_body(&mut self) -> Vec<u8> {
        let mut body = self.payload().encode_to_vec();
        if self.below(2) == 0 {
            self.mutate(&mut body);
        }
        if self.below(2) == 0 {
            body = gzip(&body);
            if self.below(2) == 0 {
                self.mutate(&mut body);
            }
        }
        body
    }

    fn cuts(&mut self) -> Vec<usize> {
        (0..self.below(8)).map(|_| self.next() as usize).collect()
    }
}

/// The most a decoded message can allocate per input byte: a repeated field of empty
/// messages costs 2 bytes on the wire (key, zero length) and one struct in memory, and
/// a growing Vec may hold twice what it uses. So the bound is linear in the bytes that
/// arrived, with this factor; it is never driven by a length the bytes announce.
fn amplification_bound(input_len: usize) -> usize {
    std::mem::size_of::<v1::Transaction>() * input_len + 64 * 1024
}

// Short run: 2 000 cases per property. Long run (RELIABILITY_LONG=1): 2 000 000 for
// each seeded mutation fuzzer (a case costs about the decoder's work), 100 000 for the
// properties whose inputs proptest builds byte by byte (slow in a debug build).
fn config(long_cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases: cases(2_000, long_cases),
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config(2_000_000))]

    #[test]
    fn mutated_socket_streams_never_panic_and_allocate_linearly_in_what_arrived(seed in any::<u64>()) {
        let mut noise = Noise(seed);
        let stream = noise.stream();
        let chunks = chunked(&stream, &noise.cuts());
        let (_, largest) = largest_allocation_of(|| drain(&chunks));
        let bound = amplification_bound(stream.len());
        prop_assert!(largest <= bound, "allocated {largest} for {} input bytes (bound {bound})", stream.len());
    }

    #[test]
    fn mutated_push_api_bodies_never_panic_and_allocate_linearly_in_what_was_inflated(seed in any::<u64>()) {
        let mut noise = Noise(seed);
        let body = noise.push_body();
        let limit = 1024 * 1024;
        let (inflated_len, largest) = largest_allocation_of(|| {
            // The server's path (push_api::transmit): gunzip bounded, then decode.
            let bytes = match gunzip_limited(&body, limit) {
                Ok(inflated) => inflated,
                Err(_) => body.clone(),
            };
            let _ = Payload::decode(bytes.as_slice());
            bytes.len()
        });
        let bound = amplification_bound(inflated_len).max(2 * limit + 128 * 1024);
        prop_assert!(largest <= bound, "allocated {largest} for {} bytes inflated to {inflated_len} (bound {bound})", body.len());
    }
}

proptest! {
    #![proptest_config(config(100_000))]

    #[test]
    fn arbitrary_bytes_never_panic_nor_allocate_beyond_what_arrived(
        bytes in proptest::collection::vec(any::<u8>(), 0..4096),
        cuts in proptest::collection::vec(any::<usize>(), 0..8),
    ) {
        let chunks = chunked(&bytes, &cuts);
        let (_, largest) = largest_allocation_of(|| drain(&chunks));
        // Buffers grow with the bytes pushed, never with a length the bytes announce.
        prop_assert!(largest <= 2 * bytes.len() + 64 * 1024, "allocated {largest} for {} input bytes", bytes.len());
    }

    #[test]
    fn an_announced_length_is_never_allocated_before_the_bytes_arrive(
        announced in 0u32..=u32::MAX,
        tail in proptest::collection::vec(any::<u8>(), 0..256),
    ) {
        let mut bytes = announced.to_be_bytes().to_vec();
        bytes.extend_from_slice(&tail);
        let mut decoder = FrameDecoder::new();
        let (result, largest) = largest_allocation_of(|| {
            decoder.push(&bytes);
            decoder.next_frame()
        });
        prop_assert!(largest <= 64 * 1024, "allocated {largest} bytes for a frame announcing {announced}");
        if announced as usize > MAX_FRAME_LEN {
            let too_large = matches!(result, Err(FrameError::TooLarge { .. }));
            prop_assert!(too_large);
        } else if (announced as usize) > tail.len() {
            prop_assert!(matches!(result, Ok(None)), "an incomplete frame must wait for more bytes");
        }
    }

    #[test]
    fn a_length_delimited_field_announcing_any_length_allocates_only_what_arrived(
        field in 1u64..16,
        nested in any::<bool>(),
        announced in any::<u64>(),
        tail in proptest::collection::vec(any::<u8>(), 0..256),
    ) {
        let mut field_bytes = Vec::new();
        prost::encoding::encode_key(field as u32, prost::encoding::WireType::LengthDelimited, &mut field_bytes);
        prost::encoding::encode_varint(announced, &mut field_bytes);
        field_bytes.extend_from_slice(&tail);
        // Either at the top level or inside a well-formed ActionMinute (field 5) whose
        // own length is honest, so the lie is one level down.
        let body = if nested {
            let mut outer = Vec::new();
            prost::encoding::encode_key(5, prost::encoding::WireType::LengthDelimited, &mut outer);
            prost::encoding::encode_varint(field_bytes.len() as u64, &mut outer);
            outer.extend_from_slice(&field_bytes);
            outer
        } else {
            field_bytes
        };
        let (result, largest) = largest_allocation_of(|| Payload::decode(body.as_slice()));
        prop_assert!(largest <= 64 * 1024, "allocated {largest} for a field announcing {announced} bytes");
        if announced > tail.len() as u64 {
            prop_assert!(result.is_err(), "a length past the end of the body must be rejected");
        }
    }

    #[test]
    fn push_api_bodies_of_arbitrary_bytes_never_panic(
        bytes in proptest::collection::vec(any::<u8>(), 0..4096),
    ) {
        // The server's path: gunzip with a bounded output, then decode a Payload.
        let (_, largest) = largest_allocation_of(|| {
            if let Ok(inflated) = gunzip_limited(&bytes, 1024 * 1024) {
                let _ = Payload::decode(inflated.as_slice());
            }
            let _ = Payload::decode(bytes.as_slice());
        });
        prop_assert!(largest <= 4 * bytes.len() + 128 * 1024, "allocated {largest} for {} bytes", bytes.len());
    }
}

proptest! {
    #![proptest_config(config(100_000))]

    #[test]
    fn valid_frames_split_anywhere_decode_to_what_was_encoded(
        batches in proptest::collection::vec(proptest::collection::vec(transaction_strategy(), 0..5), 1..5),
        cuts in proptest::collection::vec(any::<usize>(), 0..12),
    ) {
        let sent: Vec<ClientBatch> =
            batches.into_iter().map(|transactions| ClientBatch { transactions, ..Default::default() }).collect();
        let mut stream = Vec::new();
        for batch in &sent {
            encode_frame(batch, &mut stream);
        }
        let (received, failed) = drain(&chunked(&stream, &cuts));
        prop_assert!(!failed);
        prop_assert_eq!(received, sent);
    }

    #[test]
    fn a_valid_stream_with_garbage_after_it_keeps_every_whole_frame(
        transactions in proptest::collection::vec(transaction_strategy(), 1..4),
        garbage in proptest::collection::vec(any::<u8>(), 1..512),
    ) {
        let batch = ClientBatch { transactions, ..Default::default() };
        let mut stream = Vec::new();
        encode_frame(&batch, &mut stream);
        stream.extend_from_slice(&garbage);
        let (received, _) = drain(&[stream]);
        prop_assert_eq!(received.first(), Some(&batch));
    }

    #[test]
    fn corrupted_gzip_of_a_real_payload_is_rejected_or_decoded_never_a_panic(
        actions in proptest::collection::vec(".{0,30}", 0..8),
        flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..8),
    ) {
        let payload = Payload {
            payload_id: "p".into(),
            actions: actions.into_iter().map(|action| v1::ActionMinute { action, count: 1, ..Default::default() }).collect(),
            ..Default::default()
        };
        let mut body = gzip(&payload.encode_to_vec());
        for (at, value) in flips {
            let len = body.len();
            body[at % len] ^= value;
        }
        let limit = 1024 * 1024;
        let (_, largest) = largest_allocation_of(|| {
            if let Ok(inflated) = gunzip_limited(&body, limit) {
                let _ = Payload::decode(inflated.as_slice());
            }
        });
        prop_assert!(largest <= 2 * limit + 128 * 1024, "allocated {largest} with a {limit}-byte output limit");
    }
}

#[test]
fn a_gzip_bomb_stops_at_the_output_limit_without_allocating_its_size() {
    let bomb = gzip(&vec![0u8; 64 * 1024 * 1024]);
    let limit = 1024 * 1024;
    let (result, largest) = largest_allocation_of(|| gunzip_limited(&bomb, limit));
    println!(
        "gzip bomb: {} bytes inflating to 64 MiB; largest allocation {largest} bytes",
        bomb.len()
    );
    assert_eq!(result, Err(GunzipError::TooLarge));
    assert!(
        largest <= 2 * limit,
        "largest allocation {largest} for a {limit}-byte limit"
    );
}

#[test]
fn a_protobuf_field_announcing_gigabytes_is_rejected_without_allocating_them() {
    // Field 5 (actions), wire type 2, length varint 0xFFFFFFFF, then 3 bytes.
    let body = [0x2au8, 0xff, 0xff, 0xff, 0xff, 0x0f, 1, 2, 3];
    let (result, largest) = largest_allocation_of(|| Payload::decode(&body[..]));
    assert!(result.is_err());
    assert!(largest <= 64 * 1024, "largest allocation {largest}");
}

/// Not a bug in the decoders, but the figure that sizes every limit above them: how
/// much memory a body of repeated empty messages costs per byte. The property bounds
/// use it; the README reports what it means at the agent's frame limit and the
/// server's decompressed-payload limit.
#[test]
fn repeated_empty_messages_cost_one_struct_per_two_bytes() {
    // 64 KiB of `samples` (field 6) entries, each `0x32 0x00`: an empty Transaction.
    let body: Vec<u8> = [0x32u8, 0x00].repeat(32 * 1024);
    let (decoded, largest) = largest_allocation_of(|| Payload::decode(body.as_slice()));
    let samples = decoded.expect("valid protobuf").samples.len();
    let factor = largest as f64 / body.len() as f64;
    println!(
        "amplification: {} bytes of empty samples decode to {samples} Transactions \
         ({} bytes each); largest allocation {largest} bytes = {factor:.0}x the input. \
         At the agent's {MAX_FRAME_LEN}-byte frame limit that is up to {} MiB; at the \
         server's default 50 MiB decompressed limit, up to {} MiB",
        body.len(),
        std::mem::size_of::<v1::Transaction>(),
        (factor * MAX_FRAME_LEN as f64) as u64 >> 20,
        (factor * 50.0 * 1024.0 * 1024.0) as u64 >> 20,
    );
    assert_eq!(samples, 32 * 1024);
    assert!(largest <= amplification_bound(body.len()));
}
