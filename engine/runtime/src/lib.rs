//! gossipper's runtime: the thread-per-core shell that drives `gossipper-proto`.
//!
//! The protocol modules are re-exported from `gossipper_proto` (sans-IO: `sip`,
//! `scenario`, `call`, `endpoint`, `media`, `load`, `stats`, `output`, `config`); this
//! crate adds everything that does I/O:
//!
//! | module | job |
//! |---|---|
//! | [`runner`] | loads and checks a job, binds its sockets, starts a shard per CPU, merges their statistics, steers and stops them |
//! | [`shard`] | one shard: a glommio executor pinned to a CPU, running the shard's event loop |
//! | `poller` | the loop's one wait: an epoll set of every descriptor of the shard |
//! | [`transport`] | TCP, TLS and WebSocket connections, driven by the loop without tasks |
//! | [`files`] | reading the files a run names, under the run's file rule |
//! | `webrtc_setup` | a run's WebRTC settings checked and resolved once (STUN servers, the shared DTLS certificate) |
//!
//! # Run a job
//!
//! ```no_run
//! use gossipper_engine::config::JobSpec;
//! use gossipper_engine::runner::{self, Observer, Tick};
//!
//! struct Print;
//! impl Observer for Print {
//!     fn on_tick(&mut self, t: &Tick<'_>) {
//!         println!("{} calls", t.stats.calls_created());
//!     }
//! }
//! let spec = JobSpec {
//!     remote: Some("127.0.0.1:5060".parse().expect("an address")),
//!     ..JobSpec::default()
//! };
//! let report = runner::prepare(&spec)?.run(&mut Print)?;
//! println!("{} calls succeeded", report.stats.counters.successful_calls);
//! # Ok::<(), runner::RunError>(())
//! ```
//!
//! # A shard's loop (`shard::event_loop`)
//!
//! glommio is the per-core executor: it creates each shard's thread, pins it to its CPU
//! and runs the shard's loop as its one task. The loop owns its `Endpoint` by value and
//! never awaits; each turn:
//!
//! ```text
//! let (now, wall) = clock();                       // shard::clock, the one clock read
//! read what is ready → ep.handle_datagram / handle_rtp / handle_stream_event
//! steer (rate, pause, quit) → ep.set_rate / set_paused / stop / abort_all
//! ep.handle_timeout(now, wall);
//! while ep.poll_transmit(&mut batch) { sendmmsg, or queue on the connections }
//! while ep.poll_rtp_transmit(&mut rtp) { sendmmsg }   then poll_recording → WAV files
//! while let Some(e) = ep.poll_event() { publish to the runner }
//! poller.wait(policy(ep.poll_timeout(), …));        // epoll_pwait2, or a blind sleep
//! ```
//!
//! One descriptor set, one wait: each kind of socket registers under a `poller::Token`
//! of its own, feeds the endpoint on readiness and has its deadlines merged into
//! `Endpoint::poll_timeout`, as the UDP socket of each WebRTC call does
//! (`shard::webrtc_io`, `Token::Webrtc`).

pub use gossipper_proto::{
    call, config, endpoint, load, media, output, register, rng, scenario, segment, sip, stats,
    twin, webrtc,
};

pub mod files;
pub(crate) mod poller;
pub mod runner;
pub mod shard;
pub mod transport;
mod twin_setup;
mod webrtc_setup;
