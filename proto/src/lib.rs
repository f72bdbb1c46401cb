//! What crosses a process boundary in AppSignal: the protobuf messages generated from
//! `appsignal.proto`, the length-prefixed framing on the agent socket, and the shared
//! histogram scheme that lets agent and server merge latency distributions.

#[allow(clippy::all, missing_docs)]
pub mod v1 {
    include!("appsignal.v1.rs");
}

pub mod agent_lock;
pub mod civil_time;
pub mod decode_budget;
pub mod frame;
pub mod histogram;

pub use prost::Message;
