//! A shard: one thread pinned to one CPU, owning its sockets (UDP, or TCP/TLS/WebSocket
//! connections; a `-t un` client also one UDP socket per call), its RTP socket, and its
//! `Endpoint` — the sans-IO heart that holds its calls, timers and counters. Calls never
//! move between shards.
//!
//! Owns: starting the shard thread on its glommio executor (`spawn`), the run-wide
//! [`Control`] the runner steers shards with, and what a shard hands the runner
//! ([`Published`]). The loop itself is `event_loop`: one wait per turn in `crate::poller`, the
//! I/O sources in `udp`, `media_io`, `handoff` and `transport::streams`, traces in
//! `traces`. The clock is read in `clock` only.
//!
//! Where glommio sits: glommio is the per-core executor. It creates the shard's thread,
//! pins it to its CPU (`Placement::Fixed`) and runs the shard's loop as its one task. The
//! loop never awaits: it does its I/O with non-blocking system calls (recvmmsg, sendmmsg,
//! read, write) and blocks in exactly one place per turn, its poller (epoll_pwait2, a
//! ppoll of the epoll set and the connected UDP twin, or a clock_nanosleep for a gather),
//! so no glommio reactor, timer or io_uring operation runs beside it.

pub mod capture;
mod event_loop;
pub mod handoff;
pub mod hep;
pub mod media_io;
pub mod mmsg;
pub mod os;
pub mod traces;
pub mod twin_io;
pub mod udp;
pub mod wait;
pub mod wake;
pub(crate) mod webrtc_io;

use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime};

use glommio::{LocalExecutorBuilder, Placement};

pub use self::hep::HepSink;
pub use self::traces::ShardTraces;
pub use self::twin_io::TwinPlan;
pub use self::udp::{PerCallSettings, udp_socket};
use crate::call::ShardEvent;
pub use crate::endpoint::{Budget, CallSip, CallsOn, Endpoint, Finished};
use crate::scenario::Scenario;
use crate::stats::ShardStats;
use crate::transport::StreamPlan;

/// Run-wide control, written by the runner (keys, signals, limits) and read by every
/// shard once per loop turn. Atomics only: no lock on the hot path.
#[derive(Debug, Default)]
pub struct Control {
    /// 0 run, 1 soft quit (no new calls, drain), 2 hard quit (abort calls now).
    quit: AtomicU8,
    paused: AtomicBool,
    /// Takes no new calls (`Endpoint::set_accepting`): a listener turned off, or a
    /// client not accepting work (`gossipper server`'s `/api/v1/transports`).
    refusing: AtomicBool,
    /// Total target rate in calls per second, as f64 bits.
    rate_bits: AtomicU64,
    /// Bumped after each `replace_scenario`: a shard that sees a new value (one atomic
    /// load per loop turn) takes the scenario from `next_scenario`, the only lock, taken
    /// once per replacement.
    scenario_epoch: AtomicU64,
    next_scenario: Mutex<Option<Arc<Scenario>>>,
    /// `gossipper server`'s live SIP capture: shards keep what they send and receive
    /// (`capture::Captured`) and publish it. Off unless the server turns it on.
    capturing: AtomicBool,
    /// Wakes the shards after each change, so they apply it at once (`wake`).
    wake: wake::Wake,
}

impl Control {
    pub fn new(rate_cps: f64) -> Control {
        let c = Control::default();
        c.set_rate(rate_cps);
        c
    }
    pub fn soft_quit(&self) {
        let _ = self
            .quit
            .compare_exchange(0, 1, Ordering::Relaxed, Ordering::Relaxed);
        self.wake.signal();
    }
    pub fn hard_quit(&self) {
        self.quit.store(2, Ordering::Relaxed);
        self.wake.signal();
    }
    pub fn quit_level(&self) -> u8 {
        self.quit.load(Ordering::Relaxed)
    }
    pub fn set_paused(&self, p: bool) {
        self.paused.store(p, Ordering::Relaxed);
        self.wake.signal();
    }
    pub fn paused(&self) -> bool {
        self.paused.load(Ordering::Relaxed)
    }
    pub fn set_accepting(&self, accepting: bool) {
        self.refusing.store(!accepting, Ordering::Relaxed);
        self.wake.signal();
    }
    pub fn accepting(&self) -> bool {
        !self.refusing.load(Ordering::Relaxed)
    }
    pub fn set_capturing(&self, on: bool) {
        self.capturing.store(on, Ordering::Relaxed);
        self.wake.signal();
    }
    /// The eventfd a shard watches to wake on a change.
    pub(crate) fn wake_fd(&self) -> Option<std::os::fd::RawFd> {
        self.wake.fd()
    }
    pub fn capturing(&self) -> bool {
        self.capturing.load(Ordering::Relaxed)
    }
    pub fn set_rate(&self, cps: f64) {
        self.rate_bits
            .store(cps.max(0.0).to_bits(), Ordering::Relaxed);
        self.wake.signal();
    }
    pub fn rate(&self) -> f64 {
        f64::from_bits(self.rate_bits.load(Ordering::Relaxed))
    }
    /// Hands every shard `sc` for the calls it creates from now on (calls in flight
    /// finish on theirs: `Endpoint::replace_scenario`). The caller checked `sc` (same
    /// role, loaded under the run's file rules).
    pub fn replace_scenario(&self, sc: Arc<Scenario>) {
        let mut next = self.next_scenario.lock().unwrap_or_else(|e| e.into_inner());
        *next = Some(sc);
        // Under the lock: a shard that sees the new epoch finds this scenario.
        self.scenario_epoch.fetch_add(1, Ordering::Release);
        drop(next);
        self.wake.signal();
    }
    /// How many replacements so far (a shard compares it with the last it took).
    pub fn scenario_epoch(&self) -> u64 {
        self.scenario_epoch.load(Ordering::Acquire)
    }
    /// The newest replacement scenario, if any.
    pub fn next_scenario(&self) -> Option<Arc<Scenario>> {
        self.next_scenario
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

/// What a shard hands to the runner every period.
#[derive(Debug, Default)]
pub struct Published {
    pub stats: ShardStats,
    pub done: bool,
    pub finished: Vec<Finished>,
    pub events: Vec<ShardEvent>,
    /// The SIP messages captured since the runner last took them (`Control::capturing`).
    pub captured: capture::Captured,
    /// Set when the executor could not start or the loop failed.
    pub error: Option<String>,
}

/// The SIP socket(s) of a shard.
pub enum ShardSocket {
    /// One bound UDP socket.
    Udp(socket2::Socket),
    /// Stream connections (and a listener for servers).
    Stream(StreamPlan),
}

/// Everything a shard thread needs.
pub struct ShardPlan {
    pub cpu: Option<usize>,
    pub socket: ShardSocket,
    pub endpoint: Endpoint,
    pub control: Arc<Control>,
    pub published: Arc<Mutex<Published>>,
    pub traces: ShardTraces,
    /// issue 8: this shard's RTP socket and its RTCP socket (port + 1) (`media_io`);
    /// `None` when the run has no media.
    pub media_socket: Option<(socket2::Socket, socket2::Socket)>,
    /// `-t un` clients: bind one more UDP socket per call; the shard socket then carries
    /// only what belongs to no call.
    pub udp_per_call: Option<PerCallSettings>,
    /// `-t ui` clients: a socket per source address, in the endpoint's order (`None`:
    /// the address is the shard socket's own).
    pub udp_per_ip: Vec<Option<socket2::Socket>>,
    /// UDP servers with several shards: route each datagram to the shard that owns its
    /// call (`handoff`), so one peer's calls spread over every shard.
    pub handoff: Option<handoff::Handoff>,
    /// `webrtc="true"` scenarios: the address each call's own UDP socket binds to (and
    /// announces as its host candidate).
    pub webrtc_ip: Option<std::net::IpAddr>,
    /// 3PCC: the twin sockets (`twin_io`); `None` without `-3pcc`/`-master`/`-slave`.
    pub twin: Option<TwinPlan>,
}

/// The one place a shard reads the clocks (STYLE.md §1), once at the top of each turn
/// and once before it waits.
#[allow(clippy::disallowed_methods)]
fn clock() -> (Instant, SystemTime) {
    (Instant::now(), SystemTime::now())
}

/// Starts the shard on its own thread. The handle joins to `Ok(())` when the shard ran.
pub fn spawn(plan: ShardPlan) -> std::io::Result<std::thread::JoinHandle<()>> {
    let name = format!("gossipper-shard-{}", plan.endpoint.index());
    std::thread::Builder::new()
        .name(name.clone())
        .spawn(move || {
            let published = Arc::clone(&plan.published);
            let placement = match plan.cpu {
                Some(cpu) => Placement::Fixed(cpu),
                None => Placement::Unbound,
            };
            let builder = LocalExecutorBuilder::new(placement)
                .name(&name)
                .io_memory(512 << 10);
            let result = builder
                .make()
                .map_err(|e| format!("shard executor failed to start: {e}"))
                .and_then(|ex| ex.run(async move { event_loop::run(plan) }));
            if let Err(e) = result {
                let mut p = published.lock().unwrap_or_else(|e| e.into_inner());
                p.error = Some(e);
                p.done = true;
            }
        })
}
