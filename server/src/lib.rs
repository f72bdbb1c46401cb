//! appsignal-server: the self-hosted Push API, processor and dashboard.
//! Data path: push_api ▶ queue ▶ processor ▶ store ▶ anomaly / notify ▶ dashboard.

pub mod anomaly;
pub mod cli;
pub mod clock;
pub mod dashboard;
pub mod http_listener;
pub mod notify;
pub mod processor;
pub mod push_api;
pub mod queue;
pub mod server;
pub mod store;
