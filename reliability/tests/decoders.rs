//! Property tests of every decoder that takes bytes from another process: the agent's
//! frame decoder (bytes from any local process that can open the socket) and the
//! server's Push API body path (bytes from the network). Promises: no panic, and no
//! allocation driven by a length the input announces rather than by the bytes it has.

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

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(2_000), failure_persistence: None, ..ProptestConfig::default() })]

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
        if let Ok(inflated) = gunzip_limited(&body, 1024 * 1024) {
            let _ = Payload::decode(inflated.as_slice());
        }
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
    // Field 2 (actions), wire type 2, length varint 0xFFFFFFFF, then 3 bytes.
    let body = [0x12u8, 0xff, 0xff, 0xff, 0xff, 0x0f, 1, 2, 3];
    let (result, largest) = largest_allocation_of(|| Payload::decode(&body[..]));
    assert!(result.is_err());
    assert!(largest <= 64 * 1024, "largest allocation {largest}");
}
