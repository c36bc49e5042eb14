//! gossipper's protocol engine, sans-IO: a SIPp-compatible SIP scenario engine as plain
//! state machines fed `(now, input)`. No sockets, clocks, threads or file reads here
//! (`clippy.toml` beside this crate's manifest forbids them); `gossipper-engine` (the
//! runtime, `engine/runtime`) owns those and drives this crate.

pub mod call;
pub mod config;
pub mod endpoint;
pub mod files;
pub mod load;
pub mod media;
pub mod output;
pub mod rng;
pub mod scenario;
#[cfg(any(test, feature = "sim"))]
pub mod sim;
pub mod sip;
pub mod stats;
