//! Thin magnus bindings. Ruby passes positional, already-converted arguments; each
//! entry point runs inside [`guard::guarded`] so a bug here disables the extension
//! instead of crashing the app.

pub mod extension;
pub mod guard;
pub mod metrics;
pub mod transaction;
