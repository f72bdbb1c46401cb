//! Bounded reading: the request body is read frame by frame and abandoned past the limit or
//! the deadline, and gzip is inflated in a streaming loop that stops at the output limit, so
//! neither a huge upload nor a gzip bomb can grow memory beyond the limits.

use axum::body::Body;
use bytes::{Bytes, BytesMut};
use flate2::read::GzDecoder;
use http_body_util::BodyExt;
use std::io::Read;
use std::time::Duration;

#[derive(Debug, PartialEq, Eq)]
pub enum ReadError {
    TooLarge,
    Timeout,
    Broken,
}

pub async fn read_limited(body: Body, max: usize, timeout: Duration) -> Result<Bytes, ReadError> {
    let read = async move {
        let mut body = body;
        let mut out = BytesMut::new();
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|_| ReadError::Broken)?;
            if let Ok(data) = frame.into_data() {
                if out.len() + data.len() > max {
                    return Err(ReadError::TooLarge);
                }
                out.extend_from_slice(&data);
            }
        }
        Ok(out.freeze())
    };
    tokio::time::timeout(timeout, read)
        .await
        .map_err(|_| ReadError::Timeout)?
}

#[derive(Debug, PartialEq, Eq)]
pub enum GunzipError {
    TooLarge,
    Corrupt,
}

pub fn gunzip_limited(input: &[u8], max: usize) -> Result<Vec<u8>, GunzipError> {
    let mut decoder = GzDecoder::new(input);
    let mut out = Vec::with_capacity(input.len().saturating_mul(4).min(max));
    let mut chunk = [0u8; 64 * 1024];
    loop {
        let n = decoder.read(&mut chunk).map_err(|_| GunzipError::Corrupt)?;
        if n == 0 {
            return Ok(out);
        }
        if out.len() + n > max {
            return Err(GunzipError::TooLarge);
        }
        out.extend_from_slice(&chunk[..n]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::write::GzEncoder;
    use std::io::Write;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut e = GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn gunzip_stops_at_the_limit_and_rejects_garbage() {
        assert_eq!(gunzip_limited(&gzip(b"hello"), 10).unwrap(), b"hello");
        assert_eq!(
            gunzip_limited(&gzip(&[0u8; 1000]), 999),
            Err(GunzipError::TooLarge)
        );
        assert_eq!(
            gunzip_limited(b"not gzip at all", 100),
            Err(GunzipError::Corrupt)
        );
    }
}
