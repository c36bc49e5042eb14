//! The endpoint: everything one shard decides, without its I/O (quinn-proto's
//! `Endpoint`, str0m's `Rtc`). It routes datagrams to calls by Call-ID, creates calls
//! (the pacer for clients, a first request for servers), fires their timers, answers
//! out-of-call requests, runs the shard's media engine and counts everything.
//!
//! Owns: the call table and timer wheel (`table`, `timers`), the pacer, the shard's
//! counters and RNG, the `-t un` port pool (`port_pool`), the media engine, the WebRTC
//! calls (`crate::webrtc`, and `webrtc_wait` for first requests waiting for a call
//! socket), and the output queues. Must not: touch sockets, files or the clock; the runtime's shard loop
//! (`gossipper_engine::shard`) owns it by value and drives it.
//!
//! # Drive
//!
//! Methods come in four kinds (STYLE.md §3): getters, `handle_*` inputs (each takes
//! `now`), commands (verbs: [`Endpoint::stop`], [`Endpoint::abort_all`],
//! [`Endpoint::set_rate`]…) and `poll_*` outputs. After any input or command, drain the
//! outputs in this order before the next input:
//!
//! 1. [`Endpoint::poll_transmit`] until `false`: SIP datagrams (and, for per-call stream
//!    transports, the flows that ended) in one batch;
//! 2. [`Endpoint::poll_rtp_transmit`] until `false`, then [`Endpoint::poll_recording`]:
//!    RTP/RTCP datagrams and finished WAV recordings (runs with media only);
//! 3. [`Endpoint::poll_closed_udp_port`] (`-t un`): sockets whose last call ended;
//!    [`Endpoint::poll_webrtc_transmit`] until `false`, then
//!    [`Endpoint::poll_closed_webrtc_port`] (WebRTC: the call sockets' datagrams, then
//!    the sockets whose call ended);
//! 4. [`Endpoint::poll_event`] until `None`: run events and finished calls;
//! 5. [`Endpoint::poll_timeout`]: the next instant to call [`Endpoint::handle_timeout`].
//!
//! ```text
//! loop {
//!     let (now, wall) = clock();                     // the shell's one clock read
//!     for (bytes, from) in datagrams { ep.handle_datagram(now, wall, bytes, from) }
//!     ep.handle_timeout(now, wall);                  // due timers, new calls, media
//!     while ep.poll_transmit(&mut batch) { send(&batch); batch.clear() }
//!     while let Some(e) = ep.poll_event() { publish(e) }
//!     sleep_until(ep.poll_timeout());                 // or until a socket is readable
//! }
//! ```
//!
//! A stream transport reports what happened to its connections through
//! [`Endpoint::handle_stream_event`] (`connections`), which counts it and fails the calls
//! a lost connection carried.

mod call_sip;
mod calls;
mod connections;
pub mod dead_calls;
mod gateway;
pub mod port_pool;
pub mod source_ips;
pub mod table;
pub mod timers;
mod twin;
mod versions;
mod webrtc_wait;

#[cfg(test)]
mod tests;

use std::collections::{HashMap, HashSet, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

pub use self::call_sip::CallSip;
pub use self::calls::{Finished, render_call_id};
pub use self::connections::{CallsOn, Carried, StreamEvent};
use self::port_pool::PortPool;
use self::table::{CallHandle, CallTable};
pub use self::versions::ReplaceError;
use crate::call::inject::InjectData;
use crate::call::plan::Plan;
use crate::call::vars::{Value, Vars};
use crate::call::{Env, KeptPool, Outbox, Run, ShardEvent, ShardState, TxQueue};
use crate::load::Pacer;
use crate::media::{MediaEngine, MediaTx, PendingRecording};
use crate::rng::Rng;
use crate::scenario::{Role, Scenario};
use crate::segment::Segment;
use crate::sip::SipMessage;
use crate::stats::ShardStats;
use crate::webrtc::{WebrtcCalls, WebrtcTx};

/// What the endpoint may still do, fixed by the runner for this shard.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Budget {
    /// Calls this shard may still create (`-m` share); `None`: unlimited.
    pub remaining: Option<u64>,
    /// Concurrent call limit for this shard (`-l` share).
    pub limit: u64,
}

/// What [`Endpoint::poll_event`] hands out.
#[derive(Clone, Debug)]
pub enum Event {
    /// Something a call asked for (logs, warnings, shell commands, run control).
    Shard(ShardEvent),
    /// A call ended (only with [`Endpoint::collect_finished`] on).
    Finished(Finished),
}

/// The I/O-free heart of a shard. See the module docs for the drive order.
pub struct Endpoint {
    index: usize,
    shards: usize,
    /// The scenario, its plan and the shard's environment, lent to every call step.
    pub(crate) run: Run,
    /// Counters, RNG, globals, injection data and buffers, lent to every call step.
    pub(crate) shard: ShardState,
    /// Where call steps (and the endpoint) put what goes out.
    out: Outbox,
    calls: CallTable,
    pacer: Pacer,
    pub(crate) budget: Budget,
    /// Local sequence of created calls (call numbers interleave across shards).
    created: u64,
    /// The run's segment this shard belongs to (call numbers interleave across them).
    segment: Segment,
    /// -users: ids of users whose call ended and who start again.
    users_waiting: Vec<u64>,
    /// Stop creating calls (soft quit, `-m` reached).
    stopping: bool,
    /// The pause wish (`set_paused`), kept apart from `refusing`.
    paused: bool,
    /// Takes no new calls (`set_accepting`).
    refusing: bool,
    /// The instant of the last `handle_timeout` (a deadline that is due now).
    last_tick: Instant,
    /// Reused buffer for rendering client Call-IDs.
    call_id_buf: String,
    /// Finished calls not polled yet (only collected when someone wants them).
    finished: VecDeque<Finished>,
    collect_finished: bool,
    /// Each call's From, To and message counts, for its `Finished` (`collect_call_sip`).
    call_sip: Option<call_sip::Notes>,
    /// RTP of this shard's calls (`None` when the run has no media).
    media: Option<MediaEngine>,
    /// `-t un` clients: the local port of each call (`None`: every call uses the shard's
    /// socket). The shell binds the sockets; see `udp_ports_wanted`.
    /// `-t ui` clients: the source address of each call (from its injection row); the
    /// shell binds one socket per address.
    source_ips: Option<source_ips::SourceIps>,
    udp_ports: Option<PortPool>,
    /// Stream servers: the live calls each peer (connection) started, so that a closed
    /// connection fails its calls without a scan of the whole table (`fail_calls`).
    calls_by_peer: Option<HashMap<SocketAddr, HashSet<CallHandle>>>,
    /// `webrtc="true"` scenarios: a bridge and a UDP socket per call (the shell binds
    /// the sockets; see `webrtc_ports_wanted`).
    webrtc: Option<WebrtcCalls>,
    /// WebRTC servers: first requests that found no call socket, until the shell binds
    /// more.
    webrtc_wait: webrtc_wait::Waiting,
    /// The scenario version new calls start on (`versions`).
    version: u32,
    /// Older scenario versions that still carry calls.
    retired: Vec<versions::Retired>,
    /// The REGISTER gateway's account, on the shard that owns its Call-ID.
    gateway: Option<Box<gateway::Gateway>>,
}

/// The `<Global>` variable named `name` (`-set`), if the scenario declares one.
pub fn global_id(sc: &Scenario, name: &str) -> Option<crate::scenario::VarId> {
    sc.globals.iter().copied().find(|id| {
        sc.variables
            .get(usize::from(id.0))
            .is_some_and(|v| v == name)
    })
}

impl Endpoint {
    /// Shard `index` of `shards`, running `scenario` in `env`. `seed` (mixed with the
    /// index) seeds Call-IDs, tags and random choices; `pacer` and `budget` are this
    /// shard's share of the run's rate and limits.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        index: usize,
        shards: usize,
        scenario: Arc<Scenario>,
        env: Env,
        seed: u64,
        inject: InjectData,
        pacer: Pacer,
        budget: Budget,
    ) -> Endpoint {
        let sc = &scenario;
        let mut globals = Vars::new(sc.variables.len());
        for (name, value) in &env.set_vars {
            if let Some(id) = global_id(sc, name) {
                globals.set(id, Value::Str(value.as_bytes().into()));
            }
        }
        // The run's start, not the pacer's epoch: a shard's pacer may start a little later
        // (`load::shard_phase`).
        let last_tick = env.start.min(pacer.epoch());
        let calls_by_peer = (sc.role == Role::Server && !env.transport.is_udp()).then(HashMap::new);
        let mut plan = Plan::new(sc);
        plan.fold_sends(sc, &env, false);
        Endpoint {
            index,
            shards,
            shard: ShardState {
                stats: ShardStats::for_scenario(sc),
                rng: Rng::new(seed ^ (index as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)),
                globals,
                inject,
                scratch: Vec::with_capacity(2048),
                kept: KeptPool::default(),
                dynamic_id: 0,
            },
            out: Outbox::default(),
            calls: CallTable::new(last_tick),
            pacer,
            budget,
            created: 0,
            segment: Segment::WHOLE,
            users_waiting: Vec::new(),
            stopping: false,
            paused: false,
            refusing: false,
            last_tick,
            call_id_buf: String::with_capacity(64),
            finished: VecDeque::new(),
            collect_finished: false,
            call_sip: None,
            media: None,
            udp_ports: None,
            source_ips: None,
            calls_by_peer,
            webrtc: None,
            webrtc_wait: webrtc_wait::Waiting::default(),
            version: 0,
            retired: Vec::new(),
            gateway: None,
            run: Run {
                scenario,
                plan,
                env,
            },
        }
    }

    // ---------------------------------------------------------------- setup commands

    /// Gives the shard its media engine (runs with media only).
    pub fn set_media(&mut self, media: MediaEngine) {
        self.media = Some(media);
    }

    /// Gives the shard its WebRTC calls (`webrtc="true"` scenarios only).
    pub fn set_webrtc(&mut self, webrtc: WebrtcCalls) {
        self.webrtc = Some(webrtc);
    }

    /// Whether finished calls come out of [`Endpoint::poll_event`] (call records and
    /// -trace_rtt want them; collecting costs a little per call).
    pub fn collect_finished(&mut self, on: bool) {
        self.collect_finished = on;
    }

    /// Whether each finished call carries its SIP (`Finished::sip`: From, To, peer,
    /// message counts; the server's calls catalogue). Costs a note per call step and a
    /// slot per concurrent call, one From/To buffer per call); only with `collect_finished`.
    pub fn collect_call_sip(&mut self, on: bool) {
        self.call_sip = on.then(call_sip::Notes::default);
    }

    /// Makes this shard part of segment `segment` of a run split over workers: its
    /// call numbers become the run's (`Segment::call_number`).
    pub fn set_segment(&mut self, segment: Segment) {
        self.segment = segment;
    }

    /// Sets up -users: `n` users on this shard start a call each as soon as possible.
    pub fn start_users(&mut self, first_user: u64, n: u64) {
        self.users_waiting.extend(first_user..first_user + n);
    }

    /// `-t un` for a client: every new call gets its own local UDP port (at most
    /// `max_sockets` open on this shard; past that, calls share them round-robin).
    /// No effect for servers, which answer from the shard's socket as SIPp does.
    pub fn enable_udp_per_call(&mut self, max_sockets: usize) {
        if self.run.scenario.role == Role::Client {
            self.udp_ports = Some(PortPool::new(max_sockets, self.run.env.local_port));
            // Calls now render their own `[local_port]`: it can no longer be folded.
            self.run
                .plan
                .fold_sends(&self.run.scenario, &self.run.env, true);
        }
    }

    /// `-t ui` clients: each call leaves from the address in field `field` of its row of
    /// the default injection file. Returns the distinct addresses, in the order the shell
    /// binds their sockets (flow `PER_IP_FLOW | index`); the error names the file, line
    /// and value that is not an address.
    pub fn enable_udp_per_ip(&mut self, field: usize) -> Result<Vec<std::net::IpAddr>, String> {
        if self.run.scenario.role != Role::Client {
            return Err("-t ui: a server answers from the address it is called on; use u1".into());
        }
        let file =
            self.shard.inject.file(None).ok_or(
                "-t ui needs an injection file (-inf) whose rows give each call's address",
            )?;
        let ips = source_ips::SourceIps::of(file, field, self.run.env.local_ip.is_ipv6())?;
        let list = ips.addresses().to_vec();
        self.source_ips = Some(ips);
        // Calls now render their own `[local_ip]`: it can no longer be folded.
        self.run
            .plan
            .fold_sends(&self.run.scenario, &self.run.env, true);
        Ok(list)
    }

    /// Queues a warning for the run's log (a note from the shell about its setup).
    pub fn warn(&mut self, text: String) {
        self.out.events.push_back(ShardEvent::Warning(text));
    }

    // ---------------------------------------------------------------- getters

    /// This shard's index.
    pub fn index(&self) -> usize {
        self.index
    }

    /// How many shards the run has.
    pub fn shards(&self) -> usize {
        self.shards
    }

    /// The shard's environment (its addresses, transport, settings).
    pub fn env(&self) -> &Env {
        &self.run.env
    }

    /// The shard's counters (media counters included).
    pub fn stats(&self) -> &ShardStats {
        &self.shard.stats
    }

    pub fn live_calls(&self) -> usize {
        self.calls.len()
    }

    /// This shard places calls (its scenario starts with a send).
    pub fn is_client(&self) -> bool {
        self.run.scenario.role == Role::Client
    }

    /// The current target rate of this shard, calls per second.
    pub fn rate_cps(&self) -> f64 {
        self.pacer.rate_cps()
    }

    /// True when this shard has nothing left to do: no calls, and no more to create.
    pub fn done(&self) -> bool {
        if !self.calls.is_empty() || self.gateway_busy() {
            return false;
        }
        self.stopping || (self.is_client() && self.budget.remaining == Some(0))
    }

    /// `-t un`: how many more bound UDP ports the shell should hand in
    /// ([`Endpoint::handle_udp_port`]) before the next `handle_timeout`, so the calls due
    /// at `now` can open. 0 otherwise.
    #[must_use]
    pub fn udp_ports_wanted(&self, now: Instant) -> usize {
        let Some(pool) = &self.udp_ports else {
            return 0;
        };
        if self.stopping {
            return 0;
        }
        let owed = if self.run.env.users.is_some() {
            self.users_waiting.len() as u64
        } else {
            let room = self.budget.limit.saturating_sub(self.calls.len() as u64);
            self.pacer.due(now).min(room)
        };
        let owed = self.budget.remaining.map_or(owed, |r| owed.min(r));
        pool.wanted(owed.min(10_000) as usize)
    }

    /// WebRTC: how many more call sockets the shell should bind and hand in
    /// ([`Endpoint::handle_webrtc_port`]) before the next input: for a client, the calls
    /// due at `now`; for a server, one for the call the next message may open (the shell
    /// asks again before each message). 0 without WebRTC.
    #[must_use]
    pub fn webrtc_ports_wanted(&self, now: Instant) -> usize {
        let Some(w) = &self.webrtc else {
            return 0;
        };
        if self.stopping {
            return 0;
        }
        if !self.is_client() {
            // A spare for the next first request, and one for each that waits.
            return w.ports_wanted_answering(self.webrtc_wait.len().min(10_000));
        }
        let owed = if self.run.env.users.is_some() {
            self.users_waiting.len() as u64
        } else {
            let room = self.budget.limit.saturating_sub(self.calls.len() as u64);
            self.pacer.due(now).min(room)
        };
        let owed = self.budget.remaining.map_or(owed, |r| owed.min(r));
        w.ports_wanted(owed.min(10_000) as usize)
    }

    /// WebRTC: whether calls share sockets (routed by peer address and ICE ufrag).
    pub fn webrtc_shared(&self) -> bool {
        self.webrtc.as_ref().is_some_and(WebrtcCalls::is_shared)
    }

    /// WebRTC call sockets open (used and spare).
    pub fn webrtc_sockets(&self) -> usize {
        self.webrtc.as_ref().map_or(0, WebrtcCalls::open_sockets)
    }

    // ---------------------------------------------------------------- commands

    /// Sets this shard's target rate (a ramp, a key, the API).
    pub fn set_rate(&mut self, rate_cps: f64, now: Instant) {
        self.pacer.set_rate(rate_cps, now);
    }

    /// Pauses or resumes placing calls.
    pub fn set_paused(&mut self, paused: bool, now: Instant) {
        self.paused = paused;
        self.pacer.set_paused(paused || self.refusing, now);
    }

    /// Takes new calls or not (`gossipper server`'s `/api/v1/transports`): a server that
    /// refuses drops the first requests of new calls (counted as out-of-call messages:
    /// the caller sees no answer, as from a closed listener); a client places none (as
    /// if paused, apart from the pause wish). Calls in flight go on either way.
    pub fn set_accepting(&mut self, accepting: bool, now: Instant) {
        self.refusing = !accepting;
        self.pacer.set_paused(self.paused || self.refusing, now);
    }

    /// Whether the endpoint takes new calls ([`Endpoint::set_accepting`]).
    pub fn accepting(&self) -> bool {
        !self.refusing
    }

    /// Stops creating calls (soft quit): the calls in flight finish.
    pub fn stop(&mut self) {
        self.stopping = true;
    }

    /// Ends every call now (hard quit, `-timeout`): each counts as aborted (a failed
    /// call) and gets SIPp's abort messages, a BYE or a CANCEL (`Call::abort`).
    pub fn abort_all(&mut self, now: Instant, wall: SystemTime) {
        for h in self.calls.handles() {
            self.with_call(h, now, wall, None, |call, cx| call.abort(now, cx));
        }
        if let Some(m) = self.media.as_mut() {
            m.end_all();
            self.shard.stats.media = m.stats();
        }
        self.shard.stats.current_calls = self.calls.len() as u64;
    }

    // ---------------------------------------------------------------- inputs

    /// A SIP datagram (or a whole message cut from a stream) arrived from `src`.
    pub fn handle_datagram(
        &mut self,
        now: Instant,
        wall: SystemTime,
        bytes: &[u8],
        src: SocketAddr,
    ) {
        // RFC 5626 keepalives (CRLF) are not messages.
        if bytes.iter().all(|b| *b == b'\r' || *b == b'\n') {
            return;
        }
        // Parsed in place: a move copies the ~1.4 KB header table.
        let mut slot = None;
        let msg = match SipMessage::parse_into(bytes, &mut slot) {
            Ok(m) => {
                if m.is_lenient() {
                    self.shard.stats.counters.lenient_parses += 1;
                }
                m
            }
            Err(_) => {
                self.shard.stats.counters.malformed_messages += 1;
                return;
            }
        };
        if self.gateway_takes(now, msg) {
            return;
        }
        self.handle_message(now, wall, msg, src);
    }

    /// Fires due timers, opens owed calls and runs the media engine's timers. Harmless
    /// when called early or twice.
    pub fn handle_timeout(&mut self, now: Instant, wall: SystemTime) {
        self.shard.stats.scheduler_loops += 1;
        let previous_tick = self.last_tick;
        self.last_tick = now;
        self.calls.expire_dead(now);
        self.release_webrtc_waiting(now, wall);
        // Bounded per turn so a timer storm cannot starve receiving.
        for _ in 0..100_000 {
            let Some(h) = self.calls.pop_due(now) else {
                break;
            };
            self.with_call(h, now, wall, None, |call, cx| call.handle_timeout(now, cx));
        }
        if self.is_client() && !self.stopping {
            self.open_calls(now, previous_tick, wall);
        }
        if let Some(m) = self.media.as_mut() {
            m.handle_timeout(now, wall);
            self.sync_media();
            self.fail_media_calls(now, wall);
        }
        if let Some(w) = self.webrtc.as_mut() {
            w.handle_timeout(now);
            // A WebRTC run has no media engine: its frames' punctuality is the shard's.
            let s = w.schedule();
            let m = &mut self.shard.stats.media;
            (m.sched_packets, m.sched_within_1ms, m.sched_max_late_us) =
                (s.frames, s.within_1ms, s.max_late_us);
        }
        self.fail_webrtc_calls(now, wall);
        self.gateway_timeout(now);
    }

    /// `n` datagrams the socket would not take (they are lost).
    pub fn handle_send_failures(&mut self, n: u64) {
        self.shard.stats.counters.send_errors += n;
    }

    /// `-t un`: the shell bound a socket on `port` for a future call.
    pub fn handle_udp_port(&mut self, port: u16) {
        if let Some(pool) = self.udp_ports.as_mut() {
            pool.supply(port);
        }
    }

    /// `-t un`: the shell could not bind another socket; calls share the open ones.
    pub fn handle_udp_bind_failure(&mut self, why: &str) {
        if let Some(pool) = self.udp_ports.as_mut() {
            pool.bind_failed();
            let text = format!(
                "-t un: {why}; new calls share the {} sockets already open",
                pool.open_count()
            );
            self.out.events.push_back(ShardEvent::Warning(text));
        }
    }

    /// WebRTC: the shell bound a call socket on `port`.
    pub fn handle_webrtc_port(&mut self, port: u16) {
        if let Some(w) = self.webrtc.as_mut() {
            w.supply(port);
        }
    }

    /// WebRTC: the shell could not bind another call socket; calls that find none fail
    /// (counted as `no_socket`).
    pub fn handle_webrtc_bind_failure(&mut self, why: &str) {
        if let Some(w) = self.webrtc.as_mut() {
            w.bind_failed();
            let text = format!(
                "webrtc: {why}; new calls get no media socket past the {} open",
                w.open_sockets()
            );
            self.out.events.push_back(ShardEvent::Warning(text));
        }
    }

    /// WebRTC: a datagram arrived on the call socket bound to `port`.
    pub fn handle_webrtc_datagram(
        &mut self,
        now: Instant,
        wall: SystemTime,
        port: u16,
        src: SocketAddr,
        bytes: &[u8],
    ) {
        if let Some(w) = self.webrtc.as_mut() {
            w.handle_datagram(now, port, src, bytes);
            self.shard.stats.webrtc = *w.counters();
            self.fail_webrtc_calls(now, wall);
        }
    }

    /// A datagram arrived on the shard's media port.
    pub fn handle_rtp(&mut self, now: Instant, src: SocketAddr, bytes: &[u8]) {
        if let Some(m) = self.media.as_mut() {
            m.handle_datagram(now, src, bytes);
        }
    }

    /// Receiving on the media port failed (an ICMP error reported on the socket).
    pub fn handle_rtp_receive_error(&mut self) {
        if let Some(m) = self.media.as_mut() {
            m.note_receive_error();
            self.sync_media();
        }
    }

    /// `n` RTP/RTCP datagrams the media socket would not take (late RTP is useless: they
    /// are not retried).
    pub fn handle_rtp_send_failures(&mut self, n: u64) {
        if let Some(m) = self.media.as_mut() {
            m.note_send_errors(n);
            self.sync_media();
        }
    }

    /// The shell wrote (or failed to write) a recording from
    /// [`Endpoint::poll_recording`]; a failure becomes a warning.
    pub fn handle_recording_written(&mut self, result: Result<(), String>) {
        if let Some(m) = self.media.as_mut() {
            m.note_recording(result);
            self.sync_media();
        } else {
            // A WebRTC run (no media engine): the shard's media totals are its own.
            match result {
                Ok(()) => self.shard.stats.media.recordings_written += 1,
                Err(e) => {
                    self.shard.stats.media.recording_errors += 1;
                    self.out.events.push_back(ShardEvent::Warning(e));
                }
            }
        }
    }

    // ---------------------------------------------------------------- outputs

    /// Moves every queued SIP datagram into `out`, which must be empty (the buffers are
    /// swapped, nothing is copied: one batch per turn, as quinn hands out a GSO batch).
    /// `false` when nothing is queued.
    #[must_use]
    pub fn poll_transmit(&mut self, out: &mut TxQueue) -> bool {
        if self.out.tx.is_empty() && self.out.tx.ended_flows.is_empty() {
            return false;
        }
        debug_assert!(out.is_empty(), "poll_transmit wants an empty queue");
        std::mem::swap(&mut self.out.tx, out);
        true
    }

    /// `-send_media_report`: this turn's RTCP reports, in clear, to `f` (see
    /// `MediaEngine::drain_report_copies`).
    pub fn drain_report_copies(&mut self, f: &mut dyn FnMut(crate::media::ReportCopy<'_>)) {
        if let Some(m) = self.media.as_mut() {
            m.drain_report_copies(f);
        }
    }

    /// Moves every queued RTP/RTCP datagram into `out` (empty; swapped, as
    /// [`Endpoint::poll_transmit`]). `false` when none is queued.
    #[must_use]
    pub fn poll_rtp_transmit(&mut self, out: &mut MediaTx) -> bool {
        match self.media.as_mut() {
            Some(m) => m.poll_transmit(out),
            None => false,
        }
    }

    /// WebRTC: moves every queued datagram of the call sockets into `out` (empty;
    /// swapped). `false` when none is queued.
    #[must_use]
    pub fn poll_webrtc_transmit(&mut self, out: &mut WebrtcTx) -> bool {
        match self.webrtc.as_mut() {
            Some(w) => w.poll_transmit(out),
            None => false,
        }
    }

    /// WebRTC: a call socket whose call ended; the shell closes it (after sending what
    /// [`Endpoint::poll_webrtc_transmit`] gave this turn).
    #[must_use]
    pub fn poll_closed_webrtc_port(&mut self) -> Option<u16> {
        self.webrtc.as_mut()?.poll_closed_port()
    }

    /// A finished recording to write (WAV); report the result with
    /// [`Endpoint::handle_recording_written`].
    #[must_use]
    pub fn poll_recording(&mut self) -> Option<PendingRecording> {
        if let Some(r) = self.media.as_mut().and_then(MediaEngine::poll_recording) {
            return Some(r);
        }
        self.webrtc.as_mut()?.poll_recording()
    }

    /// `-t un`: a port whose last call ended; the shell closes its socket.
    #[must_use]
    pub fn poll_closed_udp_port(&mut self) -> Option<u16> {
        self.udp_ports.as_mut()?.poll_closed()
    }

    /// The next run event or finished call.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<Event> {
        if let Some(w) = self.media.as_mut().and_then(MediaEngine::poll_warning) {
            return Some(Event::Shard(ShardEvent::Warning(w)));
        }
        if let Some(w) = self.webrtc.as_mut().and_then(WebrtcCalls::poll_warning) {
            return Some(Event::Shard(ShardEvent::Warning(w)));
        }
        if let Some(e) = self.out.events.pop_front() {
            return Some(Event::Shard(e));
        }
        self.finished.pop_front().map(Event::Finished)
    }

    /// The next instant [`Endpoint::handle_timeout`] has work (a call's timer, the
    /// pacer, the media engine).
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        let may_open = self.is_client()
            && !self.stopping
            && self.budget.remaining != Some(0)
            // At the call limit the next event is a call ending, not the pacer (else the
            // loop would spin on a deadline in the past).
            && (self.run.env.users.is_some() || (self.calls.len() as u64) < self.budget.limit);
        let pacer = match (may_open, self.run.env.users.is_some()) {
            (false, _) => None,
            (true, true) => {
                (!self.users_waiting.is_empty()).then_some(self.last_tick.max(self.run.env.start))
            }
            // Above 1,000 calls/s new calls are released in 1 ms bursts, as SIPp does
            // (the pacer's `next_due` names the next burst's instant, counted from the
            // last burst, not from this shard's last turn: a turn between two bursts, a
            // control change's wake-up or a call's timer, does not push the next one back).
            (true, false) => self.pacer.next_due(),
        };
        let media = self.media.as_ref().and_then(MediaEngine::poll_timeout);
        let webrtc = self.webrtc.as_ref().and_then(WebrtcCalls::poll_timeout);
        let gateway = self.gateway_deadline();
        [self.calls.next_timer(), pacer, media, webrtc, gateway]
            .into_iter()
            .flatten()
            .min()
    }

    /// WebRTC servers: the first requests that waited for a call socket go in, as far as
    /// the sockets the shell bound since allow.
    fn release_webrtc_waiting(&mut self, now: Instant, wall: SystemTime) {
        // Each held request is tried once per turn (one that still finds no socket is
        // held again, at the back).
        for _ in 0..self.webrtc_wait.len() {
            if !self.webrtc.as_ref().is_some_and(WebrtcCalls::has_free_port) {
                break;
            }
            let Some((bytes, src)) = self.webrtc_wait.pop() else {
                break;
            };
            self.handle_datagram(now, wall, &bytes, src);
        }
    }

    /// Copies the media engine's counters into the shard's.
    fn sync_media(&mut self) {
        if let Some(m) = self.media.as_ref() {
            self.shard.stats.media = m.stats();
        }
    }

    /// `now` as µs since the run started (every shard shares `env.start`).
    fn since_start_us(&self, now: Instant) -> u64 {
        u64::try_from(
            now.saturating_duration_since(self.run.env.start)
                .as_micros(),
        )
        .unwrap_or(u64::MAX)
    }
}

/// The shard that owns the call `call_id` among `shards` (the UDP server hand-off):
/// FNV-1a, the same in every shard.
pub fn owner(call_id: &[u8], shards: usize) -> usize {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in call_id {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    (h % shards.max(1) as u64) as usize
}
