//! gossipper's runtime: the thread-per-core shell around `gossipper-proto`.
//!
//! The protocol modules are re-exported from `gossipper_proto` (sans-IO: `sip`,
//! `scenario`, `call`, `endpoint`, `load`, `stats`, `media`); this crate adds what does
//! I/O: the shard loop (`shard`), the stream transports (`transport`), reading the files
//! a run names (`files`) and the runner that binds sockets and starts the shards.

pub use gossipper_proto::{call, config, endpoint, load, media, output, rng, scenario, sip, stats};

pub mod files;
pub(crate) mod poller;
pub mod runner;
pub mod shard;
pub mod transport;
