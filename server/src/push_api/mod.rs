//! The Push API: authenticate, read a bounded body, decompress with a bounded output, check
//! it is a `Payload`, enqueue, answer. Nothing is processed here, so a burst of agents never
//! waits on the store.

pub mod body;

use crate::queue::Queue;
use crate::store::Store;
use appsignal_proto::decode_budget;
use appsignal_proto::v1::Payload;
use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use prost::Message;
use serde::Deserialize;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

/// Decoding a payload allocates at most about this much, however small its bytes.
const MAX_DECODED_BYTES: usize = 256 * 1024 * 1024;

#[derive(Debug, Clone)]
pub struct Limits {
    pub max_body_bytes: usize,
    pub max_decompressed_bytes: usize,
    pub read_timeout: Duration,
    /// A client still sending its request headers after this is disconnected.
    pub header_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_body_bytes: 10 * 1024 * 1024,
            max_decompressed_bytes: 50 * 1024 * 1024,
            read_timeout: Duration::from_secs(30),
            header_timeout: Duration::from_secs(10),
        }
    }
}

#[derive(Default)]
pub struct PushStats {
    pub accepted: AtomicU64,
    pub rejected: AtomicU64,
}

pub struct PushApi {
    pub store: Store,
    pub queue: Queue,
    pub limits: Limits,
    pub stats: PushStats,
    /// api_key → app id. Keys never change, so a hit needs no store read; a miss re-reads
    /// the apps (a key created by `app create` in another process shows up then).
    keys: RwLock<HashMap<String, i64>>,
}

#[derive(Debug, Deserialize)]
pub struct TransmitParams {
    #[serde(default)]
    api_key: String,
}

fn reply(status: StatusCode, message: &str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain")],
        format!("{message}\n"),
    )
        .into_response()
}

impl PushApi {
    pub fn new(store: Store, queue: Queue, limits: Limits) -> Self {
        Self {
            store,
            queue,
            limits,
            stats: PushStats::default(),
            keys: RwLock::new(HashMap::new()),
        }
    }

    async fn app_for_key(&self, key: &str) -> Option<i64> {
        if key.is_empty() {
            return None;
        }
        if let Some(id) = self.keys.read().ok().and_then(|k| k.get(key).copied()) {
            return Some(id);
        }
        let store = self.store.clone();
        let apps = tokio::task::spawn_blocking(move || store.apps())
            .await
            .ok()?
            .ok()?;
        let mut keys = self.keys.write().ok()?;
        for app in apps {
            keys.insert(app.api_key, app.id);
        }
        keys.get(key).copied()
    }

    fn reject(&self, status: StatusCode, message: &str) -> Response {
        self.stats.rejected.fetch_add(1, Ordering::Relaxed);
        reply(status, message)
    }
}

pub async fn auth(
    State(api): State<Arc<PushApi>>,
    Query(params): Query<TransmitParams>,
) -> Response {
    match api.app_for_key(&params.api_key).await {
        Some(_) => reply(StatusCode::OK, "ok"),
        None => api.reject(StatusCode::UNAUTHORIZED, "unknown api_key"),
    }
}

pub async fn transmit(
    State(api): State<Arc<PushApi>>,
    Query(params): Query<TransmitParams>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let Some(app_id) = api.app_for_key(&params.api_key).await else {
        return api.reject(StatusCode::UNAUTHORIZED, "unknown api_key");
    };
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/x-protobuf");
    let mime = content_type.split(';').next().unwrap_or("").trim();
    if !matches!(mime, "application/x-protobuf" | "application/octet-stream") {
        return api.reject(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Content-Type must be application/x-protobuf",
        );
    }
    let gzip = match headers
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.trim().to_ascii_lowercase())
        .as_deref()
    {
        None | Some("") | Some("identity") => false,
        Some("gzip") | Some("x-gzip") => true,
        Some(_) => {
            return api.reject(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "Content-Encoding must be gzip or identity",
            )
        }
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > api.limits.max_body_bytes) {
        return api.reject(StatusCode::PAYLOAD_TOO_LARGE, "body too large");
    }
    let raw =
        match body::read_limited(body, api.limits.max_body_bytes, api.limits.read_timeout).await {
            Ok(raw) => raw,
            Err(body::ReadError::TooLarge) => {
                return api.reject(StatusCode::PAYLOAD_TOO_LARGE, "body too large")
            }
            Err(body::ReadError::Timeout) => {
                return api.reject(StatusCode::REQUEST_TIMEOUT, "body read timed out")
            }
            Err(body::ReadError::Broken) => {
                return api.reject(StatusCode::BAD_REQUEST, "body read failed")
            }
        };
    let max_out = api.limits.max_decompressed_bytes;
    let decoded =
        tokio::task::spawn_blocking(move || -> Result<Vec<u8>, (StatusCode, &'static str)> {
            let bytes = if gzip {
                body::gunzip_limited(&raw, max_out).map_err(|e| match e {
                    body::GunzipError::TooLarge => {
                        (StatusCode::PAYLOAD_TOO_LARGE, "decompressed body too large")
                    }
                    body::GunzipError::Corrupt => {
                        (StatusCode::BAD_REQUEST, "body is not valid gzip")
                    }
                })?
            } else {
                raw.to_vec()
            };
            // Bytes are bounded above, but not what they decode into.
            let budget = decode_budget::budget_for(bytes.len(), MAX_DECODED_BYTES);
            decode_budget::check(&bytes, budget).map_err(|_| {
                (
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "payload would decode into far more memory than its size explains",
                )
            })?;
            Payload::decode(bytes.as_slice()).map_err(|_| {
                (
                    StatusCode::BAD_REQUEST,
                    "body is not an appsignal.v1.Payload",
                )
            })?;
            Ok(bytes)
        })
        .await;
    let bytes = match decoded {
        Ok(Ok(bytes)) => bytes,
        Ok(Err((status, message))) => return api.reject(status, message),
        Err(_) => return api.reject(StatusCode::INTERNAL_SERVER_ERROR, "decoder failed"),
    };
    match api.queue.enqueue(app_id, bytes).await {
        Ok(()) => {
            api.stats.accepted.fetch_add(1, Ordering::Relaxed);
            reply(StatusCode::OK, "ok")
        }
        Err(e) => {
            eprintln!("appsignal-server: enqueue failed: {e:#}");
            // 503: the agent keeps the payload and retries later.
            api.reject(
                StatusCode::SERVICE_UNAVAILABLE,
                "queue unavailable, retry later",
            )
        }
    }
}
