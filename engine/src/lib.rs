//! gossipper's engine: a SIPp-compatible SIP scenario engine on a thread-per-core shell.
//!
//! The protocol core (`sip`, `scenario`, `call`, `stats`, the pacer arithmetic in `load`)
//! is sans-IO: plain state machines fed `(now, input)`. Only `shard` does I/O.

pub mod call;
pub mod config;
pub mod files;
pub mod load;
pub mod media;
pub mod rng;
pub mod runner;
pub mod scenario;
pub mod shard;
#[cfg(any(test, feature = "sim"))]
pub mod sim;
pub mod sip;
pub mod stats;
pub mod transport;
