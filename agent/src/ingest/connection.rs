//! One extension connection: bytes to frames to the pipeline.

use std::sync::Arc;

use appsignal_proto::frame::FrameDecoder;
use tokio::io::AsyncReadExt;
use tokio::net::UnixStream;
use tokio::sync::Notify;

use crate::health::{self, Health};
use crate::log::{debug, warning};
use crate::pipeline::SharedPipeline;
use crate::shutdown::Shutdown;

const READ_BUFFER: usize = 256 * 1024;

pub async fn read_frames(
    mut stream: UnixStream,
    pipeline: SharedPipeline,
    health: Arc<Health>,
    flush_now: Arc<Notify>,
    shutdown: Shutdown,
) {
    let mut decoder = FrameDecoder::new();
    // The same bytes the decoder holds, kept to journal whole frames in wire form.
    let mut raw = Vec::new();
    let mut buffer = vec![0u8; READ_BUFFER];
    let mut batches = Vec::new();
    let mut client_pid = 0;
    loop {
        let read = tokio::select! {
            _ = shutdown.wait() => return,
            read = stream.read(&mut buffer) => read,
        };
        let n = match read {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) => {
                debug!("client connection (pid {client_pid}) failed: {e}");
                break;
            }
        };
        decoder.push(&buffer[..n]);
        raw.extend_from_slice(&buffer[..n]);
        let mut malformed = None;
        loop {
            match decoder.next_frame() {
                Ok(Some(batch)) => {
                    if let Some(hello) = &batch.hello {
                        client_pid = hello.pid;
                    }
                    batches.push(batch);
                }
                Ok(None) => break,
                Err(e) => {
                    malformed = Some(e);
                    break;
                }
            }
        }
        let whole = raw.len() - decoder.pending_len();
        if !batches.is_empty() {
            health::add(&health.frames_received, batches.len() as u64);
            let over_threshold = {
                let mut state = pipeline.lock();
                if let Some(journal) = state.journal.as_mut() {
                    if !journal.append(&raw[..whole]) {
                        health::add(&health.journal_bytes_skipped, whole as u64);
                    }
                }
                for batch in batches.drain(..) {
                    state.aggregator.apply(batch);
                }
                state.aggregator.over_threshold()
            };
            if over_threshold {
                flush_now.notify_one();
            }
        }
        raw.drain(..whole);
        if let Some(e) = malformed {
            health::add(&health.frames_malformed, 1);
            warning!("closing client connection (pid {client_pid}): malformed frame: {e}");
            return;
        }
    }
    debug!("client disconnected (pid {client_pid})");
}
