//! gossipper's protocol engine, sans-IO: a SIPp-compatible SIP scenario engine as plain
//! state machines fed `(now, input)`, whose outputs are polled. It never reads a clock,
//! sleeps, starts a thread, opens a socket or a file (`clippy.toml` beside this crate's
//! manifest forbids each of them); the runtime, `gossipper-engine` (`engine/runtime`),
//! does all of that and drives this crate, one [`endpoint::Endpoint`] per shard.
//!
//! | module | job |
//! |---|---|
//! | [`sip`] | zero-copy SIP parsing and stream framing |
//! | [`scenario`] | SIPp XML compiled once into an immutable program (and its media verbs) |
//! | [`call`] | one call: the scenario interpreter, its transactions and dialog |
//! | [`endpoint`] | a shard's calls, timer wheel, pacer, media engine and counters |
//! | [`media`] | the shard's RTP: streams, routing, RTCP, recordings, `rtpcheck` |
//! | [`webrtc`] | the shard's WebRTC calls: a str0m bridge per call (ICE, DTLS-SRTP), their SDP, audio and media actions |
//! | [`register`] | the REGISTER gateway's account: Digest REGISTER, refresh, keep-alives, Expires 0 |
//! | [`load`] | the pacer and the run's arithmetic (rates, shares, limits) |
//! | [`segment`] | one run split exactly over N workers (`--segment i/N`) |
//! | [`stats`] | the counting: counters, timers, media numbers, thresholds |
//! | [`output`] | what a run reports, and the writers (screens, CSV, summary, traces) |
//! | [`config`] | the one resolved run configuration (`JobSpec`) |
//! | [`files`] | the rule for the files a run names, and the `ReadFiles` seam |
//! | [`rng`] | the seeded per-shard RNG |
//!
//! # Drive loop (one shard)
//!
//! Input goes in through `handle_*` with `now`; output is drained from `poll_*` until
//! `poll_timeout` says when to come back (str0m's and quinn-proto's shape):
//!
//! ```
//! use std::net::SocketAddr;
//! use std::time::{Instant, SystemTime};
//! use gossipper_proto::call::TxQueue;
//! use gossipper_proto::endpoint::{Endpoint, Event};
//!
//! /// What the shell brings: the clock, a socket, and a way to wait.
//! trait Shell {
//!     fn clock(&mut self) -> (Instant, SystemTime);
//!     fn recv(&mut self, buf: &mut [u8]) -> Option<(usize, SocketAddr)>;
//!     fn send(&mut self, batch: &TxQueue);
//!     fn wait(&mut self, until: Option<Instant>);
//! }
//!
//! fn run(ep: &mut Endpoint, shell: &mut impl Shell) {
//!     let (mut buf, mut batch) = (vec![0; 65_535], TxQueue::default());
//!     while !ep.done() {
//!         let (now, wall) = shell.clock(); // the only clock read, once a turn
//!         while let Some((n, from)) = shell.recv(&mut buf) {
//!             ep.handle_datagram(now, wall, &buf[..n], from);
//!         }
//!         ep.handle_timeout(now, wall); // due timers, new calls, media
//!         while ep.poll_transmit(&mut batch) {
//!             shell.send(&batch);
//!             batch.clear();
//!         }
//!         while let Some(e) = ep.poll_event() {
//!             if let Event::Shard(e) = e {
//!                 eprintln!("{e:?}");
//!             }
//!         }
//!         shell.wait(ep.poll_timeout()); // until the next deadline, or input
//!     }
//! }
//! ```
//!
//! Every sub-machine has the same shape, so its parent only forwards: a `Call`
//! (`start`/`handle_message`/`handle_timeout`, `poll_timeout`), the `MediaEngine` and
//! the media crate's `RtpScheduler` (`handle_timeout`, `poll_transmit`, `poll_timeout`).
//! A test drives the same calls in virtual time (`sim`, feature `sim`).

pub mod call;
pub mod config;
pub mod endpoint;
pub mod files;
pub mod load;
pub mod media;
pub mod output;
pub mod register;
pub mod rng;
pub mod scenario;
pub mod segment;
#[cfg(any(test, feature = "sim"))]
pub mod sim;
pub mod sip;
pub mod stats;
pub mod twin;
pub mod webrtc;
