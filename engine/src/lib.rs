//! gossipper's engine: a SIPp-compatible SIP scenario engine on a thread-per-core shell.
//!
//! The protocol core (`sip`, `scenario`, `call`, `stats`, the pacer arithmetic in `load`)
//! is sans-IO: plain state machines fed `(now, input)`. Only `shard` does I/O.

pub mod config;
pub mod scenario;
pub mod sip;
pub mod stats;
pub mod call;
pub mod rng;
pub mod wallclock;
pub mod load;
pub mod media;
pub mod shard;
pub mod runner;
pub mod transport;
#[cfg(any(test, feature = "sim"))]
pub mod sim;
