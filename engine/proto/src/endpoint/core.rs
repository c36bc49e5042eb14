//! The I/O-free heart of a shard: routes datagrams to calls, creates calls (pacer for
//! clients, first request for servers), fires timers, answers out-of-call requests and
//! counts everything. The glommio loop in `shard::mod` feeds it bytes and instants and
//! sends what it queues.
//!
//! Owns: the call table, the pacer, the shard's counters and RNG. Must not: touch sockets
//! or read the clock.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use super::port_pool::PortPool;
use super::table::{CallHandle, CallTable};
use crate::call::inject::InjectData;
use crate::call::plan::Plan;
use crate::call::vars::Vars;
use crate::call::{Call, Env, KeptPool, Outcome, Progress, ShardCx, ShardEvent, TxQueue};
use crate::load::Pacer;
use crate::rng::Rng;
use crate::scenario::{CommandKind, RecvMatch, Role, Scenario};
use crate::sip::{HeaderName, SipMessage};
use crate::stats::{FailureReason, ShardStats};

/// The pacer's wake-up granularity at high rates.
const PACER_TICK: std::time::Duration = std::time::Duration::from_millis(1);
/// A timewait at least this long ends on `table::LAZY_GRID` (at most 1.7 % late); a
/// shorter one ends exactly.
const LAZY_AT_LEAST: std::time::Duration = std::time::Duration::from_secs(1);

/// Which calls a lost stream connection carried (`ShardCore::fail_calls`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CallsOn {
    /// Every call of the shard (a shared client connection).
    All,
    /// The call with this number (a per-call client connection).
    Flow(u64),
    /// Every call talking to this peer (a connection the peer opened to a server).
    Peer(SocketAddr),
}

/// What the loop should know after feeding the core.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Budget {
    /// Calls this shard may still create (`-m` share); `None`: unlimited.
    pub remaining: Option<u64>,
    /// Concurrent call limit for this shard (`-l` share).
    pub limit: u64,
}

/// A finished call, for call records and -trace_rtt.
#[derive(Clone, Debug)]
pub struct Finished {
    pub number: u64,
    pub call_id: Box<[u8]>,
    pub outcome: Outcome,
    pub duration_us: u64,
    /// The call's media numbers (zeros without media).
    pub media: crate::stats::call_record::CallMedia,
}

impl Finished {
    /// The call's line of call_records.jsonl (schema gossipper_call_record_v1).
    pub fn record_line(&self) -> String {
        let (ok, err) = match self.outcome {
            Outcome::Success => (true, String::new()),
            Outcome::Failed(r) => (false, format!("{r:?}")),
        };
        crate::stats::call_record::call_record_line(
            &String::from_utf8_lossy(&self.call_id),
            self.number,
            ok,
            self.duration_us / 1000,
            &err,
            self.media,
        )
    }
}

pub struct ShardCore {
    pub index: usize,
    pub shards: usize,
    scenario: Arc<Scenario>,
    plan: Plan,
    pub env: Env,
    pub stats: ShardStats,
    rng: Rng,
    globals: Vars,
    inject: InjectData,
    pub tx: TxQueue,
    pub events: Vec<ShardEvent>,
    scratch: Vec<u8>,
    /// Spare message-copy buffers, shared by this shard's calls.
    kept: KeptPool,
    dynamic_id: u64,
    calls: CallTable,
    pub pacer: Pacer,
    pub budget: Budget,
    /// Local sequence of created calls (call numbers interleave across shards).
    created: u64,
    /// -users: ids of users whose call ended and who start again.
    users_waiting: Vec<u64>,
    /// Stop creating calls (soft quit, `-m` reached).
    pub stopping: bool,
    /// The instant of the last tick (a deadline that is due now).
    last_tick: Instant,
    /// Reused buffer for rendering client Call-IDs.
    call_id_buf: String,
    /// Finished calls since the last drain (only collected when someone wants them).
    pub finished: Vec<Finished>,
    pub collect_finished: bool,
    /// Received datagrams (for -trace_msg): (source, range in `rx_log`).
    pub trace_rx: bool,
    pub rx_log: Vec<(SocketAddr, Vec<u8>)>,
    /// RTP of this shard's calls (`None` when the run has no media); driven by
    /// `shard::media_io`.
    pub media: Option<crate::media::MediaEngine>,
    /// `-t un` clients: the local port of each call (`None`: every call uses the shard's
    /// socket). The shell binds the sockets; see `udp_ports_wanted`.
    udp_ports: Option<PortPool>,
    /// Stream servers: the live calls each peer (connection) started, so that a closed
    /// connection fails its calls without a scan of the whole table (`fail_calls`).
    calls_by_peer: Option<HashMap<SocketAddr, HashSet<CallHandle>>>,
}

impl ShardCore {
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
    ) -> ShardCore {
        let sc = &scenario;
        let stats = ShardStats::new(
            sc.commands.len(),
            sc.rtd_names.len(),
            sc.counter_names.len(),
            &sc.response_time_repartition,
            &sc.call_length_repartition,
        );
        let globals = Vars::new(sc.variables.len());
        // The run's start, not the pacer's epoch: a shard's pacer may start a little later
        // (`load::shard_phase`).
        let last_tick = env.start.min(pacer.epoch());
        let calls_by_peer = (sc.role == Role::Server && !env.transport.is_udp()).then(HashMap::new);
        let mut plan = Plan::new(sc);
        plan.fold_sends(sc, &env, false);
        ShardCore {
            index,
            shards,
            env,
            stats,
            rng: Rng::new(seed ^ (index as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)),
            globals,
            inject,
            tx: TxQueue::default(),
            events: Vec::new(),
            scratch: Vec::with_capacity(2048),
            kept: KeptPool::default(),
            dynamic_id: 0,
            calls: CallTable::new(last_tick),
            pacer,
            budget,
            created: 0,
            users_waiting: Vec::new(),
            stopping: false,
            last_tick,
            call_id_buf: String::with_capacity(64),
            finished: Vec::new(),
            collect_finished: false,
            trace_rx: false,
            rx_log: Vec::new(),
            media: None,
            udp_ports: None,
            calls_by_peer,
            plan,
            scenario,
        }
    }

    pub fn live_calls(&self) -> usize {
        self.calls.len()
    }

    /// True when this shard has nothing left to do: no calls, and no more to create.
    pub fn done(&self) -> bool {
        if !self.calls.is_empty() {
            return false;
        }
        self.stopping || (self.scenario.role == Role::Client && self.budget.remaining == Some(0))
    }

    /// The next instant the loop must wake for (timers or the pacer).
    /// This shard places calls (its scenario starts with a send).
    pub fn is_client(&self) -> bool {
        self.scenario.role == Role::Client
    }

    pub fn next_deadline(&self) -> Option<Instant> {
        let may_open = self.scenario.role == Role::Client
            && !self.stopping
            && self.budget.remaining != Some(0)
            // At the call limit the next event is a call ending, not the pacer (else the
            // loop would spin on a deadline in the past).
            && (self.env.users.is_some() || (self.calls.len() as u64) < self.budget.limit);
        let pacer = match (may_open, self.env.users.is_some()) {
            (false, _) => None,
            (true, true) => (!self.users_waiting.is_empty()).then_some(self.last_tick),
            // Above 1,000 calls/s new calls are released in 1 ms bursts, as SIPp does:
            // one loop turn per call would cost more than the call.
            (true, false) => self.pacer.next_due().map(|d| {
                if self.pacer.rate_cps() >= 1000.0 {
                    d.max(self.last_tick + PACER_TICK)
                } else {
                    d
                }
            }),
        };
        // issue 8: the next RTP packet or RTCP report.
        let media = self.media.as_ref().and_then(|m| m.poll_timeout());
        [self.calls.next_timer(), pacer, media]
            .into_iter()
            .flatten()
            .min()
    }

    /// `-t un` for a client: every new call gets its own local UDP port (at most
    /// `max_sockets` open on this shard; past that, calls share them round-robin).
    /// No effect for servers, which answer from the shard's socket as SIPp does.
    pub fn enable_udp_per_call(&mut self, max_sockets: usize) {
        if self.scenario.role == Role::Client {
            self.udp_ports = Some(PortPool::new(max_sockets, self.env.local_port));
            // Calls now render their own `[local_port]`: it can no longer be folded.
            self.plan.fold_sends(&self.scenario, &self.env, true);
        }
    }

    /// `-t un`: how many more bound UDP ports the shell should hand in (`supply_udp_port`)
    /// before the next `handle_tick`, so the calls due at `now` can open. 0 otherwise.
    #[must_use]
    pub fn udp_ports_wanted(&self, now: Instant) -> usize {
        let Some(pool) = &self.udp_ports else {
            return 0;
        };
        if self.stopping {
            return 0;
        }
        let owed = if self.env.users.is_some() {
            self.users_waiting.len() as u64
        } else {
            let room = self.budget.limit.saturating_sub(self.calls.len() as u64);
            self.pacer.due(now).min(room)
        };
        let owed = self.budget.remaining.map_or(owed, |r| owed.min(r));
        pool.wanted(owed.min(10_000) as usize)
    }

    /// `-t un`: the shell bound a socket on `port` for a future call.
    pub fn supply_udp_port(&mut self, port: u16) {
        if let Some(pool) = self.udp_ports.as_mut() {
            pool.supply(port);
        }
    }

    /// `-t un`: the shell could not bind another socket; calls share the open ones.
    pub fn udp_port_bind_failed(&mut self, why: String) {
        if let Some(pool) = self.udp_ports.as_mut() {
            pool.bind_failed();
            self.events.push(ShardEvent::Warning(format!(
                "-t un: {why}; new calls share the {} sockets already open",
                pool.open_count()
            )));
        }
    }

    /// `-t un`: moves the ports whose last call ended into `out`; the shell closes them.
    pub fn take_closed_udp_ports(&mut self, out: &mut Vec<u16>) {
        if let Some(pool) = self.udp_ports.as_mut() {
            pool.take_closed(out);
        }
    }

    /// Sets up -users: `n` users on this shard start a call each as soon as possible.
    pub fn start_users(&mut self, first_user: u64, n: u64) {
        self.users_waiting.extend(first_user..first_user + n);
    }

    // Each argument is a disjoint field of `ShardCore` lent to the call; bundling them in
    // a struct would need this same list, plus a second borrow path for the call table.
    #[allow(clippy::too_many_arguments)]
    fn cx<'a>(
        scenario: &'a Scenario,
        plan: &'a Plan,
        env: &'a Env,
        stats: &'a mut ShardStats,
        rng: &'a mut Rng,
        globals: &'a mut Vars,
        inject: &'a mut InjectData,
        tx: &'a mut TxQueue,
        events: &'a mut Vec<ShardEvent>,
        scratch: &'a mut Vec<u8>,
        kept: &'a mut KeptPool,
        dynamic_id: &'a mut u64,
        wall: SystemTime,
        current: Option<&'a SipMessage<'a>>,
    ) -> ShardCx<'a> {
        ShardCx {
            scenario,
            plan,
            env,
            stats,
            rng,
            globals,
            inject,
            tx,
            events,
            scratch,
            kept,
            dynamic_id,
            wall,
            current,
        }
    }

    /// Runs `f` on call `h` with a borrowed shard context, then books its progress.
    fn with_call(
        &mut self,
        h: CallHandle,
        now: Instant,
        wall: SystemTime,
        current: Option<&SipMessage<'_>>,
        f: impl FnOnce(&mut Call, &mut ShardCx<'_>) -> Progress,
    ) {
        // Borrowed, not cloned: an Arc clone is an atomic increment per message.
        let scenario: &Scenario = &self.scenario;
        let Some(call) = self.calls.get_mut(h) else {
            return;
        };
        // Stream transports with a connection per call route by this (transport::Streams);
        // `-t un` calls by their own local port (shard::udp_per_call).
        self.tx.flow = match call.local_port() {
            Some(port) => u64::from(port),
            None => call.number(),
        };
        let events_before = self.events.len();
        let mut cx = Self::cx(
            scenario,
            &self.plan,
            &self.env,
            &mut self.stats,
            &mut self.rng,
            &mut self.globals,
            &mut self.inject,
            &mut self.tx,
            &mut self.events,
            &mut self.scratch,
            &mut self.kept,
            &mut self.dynamic_id,
            wall,
            current,
        );
        let progress = f(call, &mut cx);
        self.tx.flow = 0;
        // Media actions of this step go to the media engine before the call may end.
        if let Some(m) = self.media.as_mut()
            && self.events.len() > events_before
        {
            m.take_commands(now, call.call_id(), &mut self.events, events_before);
            self.stats.media = m.stats();
        }
        let deadline = call.deadline();
        // Only long waits: a 16.8 ms step would stretch a short timewait noticeably.
        let lazy = call.deadline_is_lazy(scenario)
            && deadline.is_some_and(|d| d.saturating_duration_since(now) >= LAZY_AT_LEAST);
        match progress {
            Progress::Running => self.calls.set_timer(h, deadline, lazy),
            Progress::Finished(outcome) => self.end_call(h, now, outcome),
        }
    }

    fn end_call(&mut self, h: CallHandle, now: Instant, outcome: Outcome) {
        let Some(call) = self.calls.remove(h, now) else {
            return;
        };
        self.unindex_peer(h, call.peer());
        let duration_us = now.saturating_duration_since(call.started_at()).as_micros() as u64;
        let ended = match self.media.as_mut() {
            Some(m) => {
                let ended = m.end_call(call.number()).unwrap_or_default();
                self.stats.media = m.stats();
                ended
            }
            None => Default::default(),
        };
        let media = ended.media;
        // issue 8: a failed rtpcheck fails a call that otherwise succeeded.
        let outcome = match outcome {
            Outcome::Success if ended.rtpcheck_failed => Outcome::Failed(FailureReason::RtpCheck),
            other => other,
        };
        if self.env.transport.is_stream_per_call() {
            self.tx.ended_flows.push(call.number());
        }
        if let (Some(pool), Some(port)) = (self.udp_ports.as_mut(), call.local_port()) {
            pool.release(port);
        }
        match outcome {
            Outcome::Success => {
                self.stats.counters.successful_calls += 1;
                self.stats.call_length.record(duration_us);
            }
            Outcome::Failed(reason) => self.stats.counters.fail(reason),
        }
        self.stats.current_calls = self.calls.len() as u64;
        if self.collect_finished {
            self.finished.push(Finished {
                number: call.number(),
                call_id: call.call_id().into(),
                outcome,
                duration_us,
                media,
            });
        }
        if self.env.users.is_some() && !self.stopping {
            self.users_waiting.push(call_user(&call));
        }
    }

    /// A datagram arrived from `src`.
    pub fn handle_datagram(
        &mut self,
        now: Instant,
        wall: SystemTime,
        bytes: &[u8],
        src: SocketAddr,
    ) {
        if self.trace_rx {
            self.rx_log.push((src, bytes.to_vec()));
        }
        // RFC 5626 keepalives (CRLF) are not messages.
        if bytes.iter().all(|b| *b == b'\r' || *b == b'\n') {
            return;
        }
        let msg = match SipMessage::parse(bytes) {
            Ok(m) => m,
            Err(_) => {
                self.stats.counters.malformed_messages += 1;
                return;
            }
        };
        if let Some(h) = self.calls.find(msg.call_id()) {
            // The peer's SDP tells the media engine where this call's RTP goes.
            if let Some(m) = self.media.as_mut()
                && let Some(c) = self.calls.get_mut(h)
            {
                m.handle_sip(c.number(), msg.call_id(), msg.body());
            }
            self.with_call(h, now, wall, Some(&msg), |call, cx| {
                call.handle_message(now, &msg, src, cx)
            });
            return;
        }
        if self.calls.is_dead(msg.call_id()) {
            self.stats.counters.dead_call_msgs += 1;
            return;
        }
        if self.scenario.role == Role::Server && msg.is_request() && self.first_recv_matches(&msg) {
            if self.stopping {
                self.stats.counters.out_of_call_msgs += 1;
                return;
            }
            let number = self.next_call_number();
            self.stats.counters.incoming_calls += 1;
            let call = Call::new(
                number,
                0,
                msg.call_id(),
                src,
                now,
                &self.scenario,
                &self.env,
            );
            if let Some(m) = self.media.as_mut() {
                m.handle_sip(number, msg.call_id(), msg.body());
            }
            let h = self.calls.insert(call);
            if let Some(ix) = self.calls_by_peer.as_mut() {
                ix.entry(src).or_default().insert(h);
            }
            self.stats.current_calls = self.calls.len() as u64;
            self.stats.note_call_created(self.since_start_us(now));
            self.with_call(h, now, wall, Some(&msg), |call, cx| {
                // A server call starts at its first recv: deliver the request to it.
                match call.start(now, cx) {
                    Progress::Running => call.handle_message(now, &msg, src, cx),
                    done => done,
                }
            });
            return;
        }
        self.out_of_call(&msg, src);
    }

    fn first_recv_matches(&self, msg: &SipMessage<'_>) -> bool {
        let first = self
            .scenario
            .commands
            .iter()
            .find(|c| !matches!(c.kind, CommandKind::Label(_)));
        match first.map(|c| &c.kind) {
            Some(CommandKind::Recv(r)) => match &r.matcher {
                RecvMatch::Request(m) => msg.method() == Some(m.as_bytes()),
                RecvMatch::Regex { request: true, re } => msg
                    .method()
                    .and_then(|m| std::str::from_utf8(m).ok())
                    .is_some_and(|m| re.is_match(m)),
                _ => false,
            },
            _ => false,
        }
    }

    /// A message for no call: answer pings (`pingreply`) and, with `-aa`, INFO, NOTIFY
    /// and UPDATE too; count the rest.
    fn out_of_call(&mut self, msg: &SipMessage<'_>, src: SocketAddr) {
        let method = msg.method().unwrap_or(b"");
        let answer = (method == b"OPTIONS"
            && (self.env.behaviors.pingreply || self.env_auto_answer()))
            || (self.env_auto_answer() && matches!(method, b"INFO" | b"NOTIFY" | b"UPDATE"));
        if !answer {
            self.stats.counters.out_of_call_msgs += 1;
            return;
        }
        let mut out = std::mem::take(&mut self.scratch);
        out.clear();
        out.extend_from_slice(b"SIP/2.0 200 OK\r\n");
        for (name, written, value) in msg.headers() {
            if matches!(
                name,
                HeaderName::Via
                    | HeaderName::From
                    | HeaderName::To
                    | HeaderName::CallId
                    | HeaderName::CSeq
            ) {
                out.extend_from_slice(written);
                out.extend_from_slice(b": ");
                out.extend_from_slice(value);
                out.extend_from_slice(b"\r\n");
            }
        }
        out.extend_from_slice(b"Content-Length: 0\r\n\r\n");
        // Outside a call step: no call's flow (Transmit::flow).
        self.tx.flow = 0;
        self.tx.push(src, &out);
        self.scratch = out;
        self.stats.counters.auto_answered += 1;
    }

    fn env_auto_answer(&self) -> bool {
        self.env.auto_answer
    }

    /// `now` as µs since the run started (every shard shares `env.start`).
    fn since_start_us(&self, now: Instant) -> u64 {
        u64::try_from(now.saturating_duration_since(self.env.start).as_micros()).unwrap_or(u64::MAX)
    }

    fn next_call_number(&mut self) -> u64 {
        self.created += 1;
        (self.created - 1) * self.shards as u64 + self.index as u64 + 1
    }

    /// Fires due timers and opens owed calls.
    pub fn handle_tick(&mut self, now: Instant, wall: SystemTime) {
        let previous_tick = self.last_tick;
        self.last_tick = now;
        self.calls.expire_dead(now);
        // Bounded per turn so a timer storm cannot starve receiving.
        for _ in 0..100_000 {
            let Some(h) = self.calls.pop_due(now) else {
                break;
            };
            self.with_call(h, now, wall, None, |call, cx| call.handle_timeout(now, cx));
        }
        if self.scenario.role == Role::Client && !self.stopping {
            self.open_calls(now, previous_tick, wall);
        }
    }

    fn open_calls(&mut self, now: Instant, previous_tick: Instant, wall: SystemTime) {
        let mut owed = if self.env.users.is_some() {
            self.users_waiting.len() as u64
        } else {
            self.pacer.due(now)
        };
        if let Some(r) = self.budget.remaining {
            owed = owed.min(r);
        }
        let room = self.budget.limit.saturating_sub(self.calls.len() as u64);
        let n = if self.env.users.is_some() {
            owed
        } else {
            if owed > room {
                // The pacer owes calls the concurrency limit does not let open: the cap,
                // not the rate, sets the pace for this turn.
                let waited = now.saturating_duration_since(previous_tick).as_micros();
                self.stats.limit_blocked_us += u64::try_from(waited).unwrap_or(u64::MAX);
            }
            owed.min(room)
        };
        let n = n.min(10_000);
        let mut opened = 0;
        while opened < n {
            // `-t un`: a call without a socket waits for the next turn (still owed).
            let port = match self.udp_ports.as_mut() {
                Some(pool) => match pool.assign() {
                    Some(p) => Some(p),
                    None => break,
                },
                None => None,
            };
            let user = self.users_waiting.pop().unwrap_or(0);
            self.open_one(now, wall, user, port);
            opened += 1;
        }
        if self.env.users.is_none() {
            self.pacer.opened(opened);
        }
        if let Some(r) = self.budget.remaining.as_mut() {
            *r -= opened.min(*r);
        }
    }

    fn open_one(&mut self, now: Instant, wall: SystemTime, user: u64, port: Option<u16>) {
        let Some(dest) = self.env.remote else {
            if let (Some(pool), Some(p)) = (self.udp_ports.as_mut(), port) {
                pool.release(p);
            }
            return;
        };
        let number = self.next_call_number();
        let mut call_id = std::mem::take(&mut self.call_id_buf);
        call_id.clear();
        render_call_id(&self.env, number, &mut call_id);
        let mut call = Call::new(
            number,
            user,
            call_id.as_bytes(),
            dest,
            now,
            &self.scenario,
            &self.env,
        );
        if let Some(p) = port {
            call.set_local_port(p);
        }
        self.call_id_buf = call_id;
        let h = self.calls.insert(call);
        self.stats.counters.outgoing_calls += 1;
        self.stats.current_calls = self.calls.len() as u64;
        self.stats.note_call_created(self.since_start_us(now));
        self.with_call(h, now, wall, None, |call, cx| call.start(now, cx));
    }

    /// A stream connection was lost (transport::Streams): the calls it carried fail with
    /// `reason` (SIPp's FailedTcpConnect / FailedTcpClosed). Calls only waiting out their
    /// final `<timewait>` are left to end normally: the peer closing once it is done
    /// with them is not a failure.
    pub fn fail_calls(&mut self, now: Instant, on: CallsOn, reason: FailureReason) {
        let scenario = Arc::clone(&self.scenario);
        let handles: Vec<CallHandle> = match (on, self.calls_by_peer.as_mut()) {
            // The connection is gone: its index entry goes with it.
            (CallsOn::Peer(p), Some(ix)) => ix.remove(&p).into_iter().flatten().collect(),
            _ => self.calls.handles(),
        };
        for h in handles {
            let hit = self.calls.get_mut(h).is_some_and(|c| {
                let carried = match on {
                    CallsOn::All => true,
                    CallsOn::Flow(f) => c.number() == f,
                    CallsOn::Peer(p) => c.peer() == p,
                };
                carried && !c.in_timewait(&scenario)
            });
            if hit {
                self.end_call(h, now, Outcome::Failed(reason));
            }
        }
    }

    /// True when a call of this shard other than one waiting out its final `<timewait>`
    /// is bound to `peer`: the calls whose loss `fail_calls(CallsOn::Peer(peer))` would
    /// fail. An accepted connection carrying one is not idle (`transport::idle`). Asked
    /// at most once per idle timeout per silent connection; without the per-peer index
    /// (client shards) it scans the table as `fail_calls` does.
    pub fn carries_live_calls(&self, peer: SocketAddr) -> bool {
        let live = |c: &Call| c.peer() == peer && !c.in_timewait(&self.scenario);
        match self.calls_by_peer.as_ref() {
            Some(ix) => ix
                .get(&peer)
                .is_some_and(|set| set.iter().any(|h| self.calls.get(*h).is_some_and(live))),
            None => self.calls.iter().any(live),
        }
    }

    /// Drops an ended call from `calls_by_peer`.
    fn unindex_peer(&mut self, h: CallHandle, peer: SocketAddr) {
        if let Some(ix) = self.calls_by_peer.as_mut()
            && let Some(set) = ix.get_mut(&peer)
        {
            set.remove(&h);
            if set.is_empty() {
                ix.remove(&peer);
            }
        }
    }

    /// Ends every call now (hard quit, `-timeout`): each counts as aborted (a failed
    /// call) and gets SIPp's abort messages, a BYE or a CANCEL (`Call::abort_now`).
    pub fn abort_all(&mut self, now: Instant, wall: SystemTime) {
        for h in self.calls.handles() {
            self.with_call(h, now, wall, None, |call, cx| call.abort_now(now, cx));
        }
        if let Some(m) = self.media.as_mut() {
            m.end_all();
            self.stats.media = m.stats();
        }
        self.stats.current_calls = self.calls.len() as u64;
    }
}

fn call_user(call: &Call) -> u64 {
    call.user_id()
}

/// SIPp's `-cid_str` (default `%u-%p@%s`): %u call number, %p pid, %s local IP, %% a
/// percent sign.
pub fn render_call_id(env: &Env, number: u64, out: &mut String) {
    use std::fmt::Write as _;
    let mut chars = env.cid_str.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('u') => {
                let _ = write!(out, "{number}");
            }
            Some('p') => {
                let _ = write!(out, "{}", env.pid);
            }
            Some('s') => out.push_str(&env.local_ip_text),
            Some('%') => out.push('%'),
            Some(other) => {
                out.push('%');
                out.push(other);
            }
            None => out.push('%'),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim;
    use std::time::Duration;

    /// A `-t un` client core (`uac`, 1000 calls/s, 3 calls at most, 2 sockets at most).
    fn un_client(now: Instant) -> ShardCore {
        let local: SocketAddr = "127.0.0.1:5060".parse().unwrap();
        let remote: SocketAddr = "127.0.0.1:5070".parse().unwrap();
        let mut env = sim::env(local, Some(remote), now);
        env.transport = crate::config::TransportMode::UdpPerCall;
        let mut core = ShardCore::new(
            0,
            1,
            sim::builtin("uac"),
            env,
            7,
            InjectData::default(),
            Pacer::new(1000.0, now),
            Budget {
                remaining: Some(3),
                limit: 100,
            },
        );
        core.enable_udp_per_call(2);
        core
    }

    fn via_port(tx: &TxQueue, t: &crate::call::Transmit) -> u16 {
        let text = String::from_utf8_lossy(tx.bytes(t)).to_string();
        let via = text
            .lines()
            .find_map(|l| l.strip_prefix("Via: SIP/2.0/UDP 127.0.0.1:"))
            .unwrap_or_else(|| panic!("no Via in {text}"));
        via.split(';').next().unwrap().parse().unwrap()
    }

    #[test]
    fn un_calls_wait_for_a_socket_then_each_renders_and_sends_from_its_own_port() {
        let t0 = crate::sim::epoch();
        let wall = SystemTime::UNIX_EPOCH;
        let mut core = un_client(t0);
        let later = t0 + Duration::from_millis(3);
        // 3 calls are due but only 2 sockets may open; none is bound yet.
        assert_eq!(core.udp_ports_wanted(later), 2);
        core.handle_tick(later, wall);
        assert!(core.tx.items.is_empty(), "no call opens without a socket");
        assert_eq!(core.live_calls(), 0);

        core.supply_udp_port(4001);
        core.supply_udp_port(4002);
        assert_eq!(core.udp_ports_wanted(later), 0);
        core.handle_tick(later, wall);
        assert_eq!(core.live_calls(), 3, "the third call shares a socket");
        let tx = std::mem::take(&mut core.tx);
        assert_eq!(tx.items.len(), 3);
        let mut ports = Vec::new();
        for t in &tx.items {
            let port = via_port(&tx, t);
            assert_eq!(u64::from(port), t.flow, "sent from the port it renders");
            ports.push(port);
        }
        ports.sort_unstable();
        ports.dedup();
        assert_eq!(ports, vec![4001, 4002]);

        // Ending the calls releases the sockets, each once its last call is gone.
        core.abort_all(later, wall);
        let mut closed = Vec::new();
        core.take_closed_udp_ports(&mut closed);
        closed.sort_unstable();
        assert_eq!(closed, vec![4001, 4002]);
    }

    #[test]
    fn a_hard_quit_cancels_the_unanswered_invites_and_counts_the_calls_as_aborted() {
        let t0 = crate::sim::epoch();
        let wall = SystemTime::UNIX_EPOCH;
        let local: SocketAddr = "127.0.0.1:5060".parse().unwrap();
        let remote: SocketAddr = "127.0.0.1:5070".parse().unwrap();
        let mut core = ShardCore::new(
            0,
            1,
            sim::builtin("uac"),
            sim::env(local, Some(remote), t0),
            7,
            InjectData::default(),
            Pacer::new(1000.0, t0),
            Budget {
                remaining: Some(3),
                limit: 100,
            },
        );
        core.handle_tick(t0 + Duration::from_millis(5), wall);
        assert_eq!(core.live_calls(), 3);
        let _ = std::mem::take(&mut core.tx);
        core.abort_all(t0 + Duration::from_millis(6), wall);
        assert_eq!(core.live_calls(), 0);
        let tx = std::mem::take(&mut core.tx);
        let methods: Vec<String> = tx
            .items
            .iter()
            .map(|t| {
                let text = String::from_utf8_lossy(tx.bytes(t)).to_string();
                text.split(' ').next().unwrap_or("").to_string()
            })
            .collect();
        assert_eq!(methods, ["CANCEL", "CANCEL", "CANCEL"]);
        let c = &core.stats.counters;
        assert_eq!((c.failed_calls, c.aborted_calls, c.fatal_errors), (3, 3, 0));
        assert_eq!(core.stats.current_calls, 0);
    }

    #[test]
    fn un_is_ignored_by_servers_which_answer_from_the_shard_socket() {
        let now = crate::sim::epoch();
        let local: SocketAddr = "127.0.0.1:5060".parse().unwrap();
        let mut core = ShardCore::new(
            0,
            1,
            sim::builtin("uas"),
            sim::env(local, None, now),
            7,
            InjectData::default(),
            Pacer::new(0.0, now),
            Budget {
                remaining: None,
                limit: 100,
            },
        );
        core.enable_udp_per_call(10);
        assert_eq!(core.udp_ports_wanted(now), 0);
        assert!(core.udp_ports.is_none());
    }
}

#[cfg(test)]
mod lazy_timer_tests {
    use crate::endpoint::table::LAZY_GRID;
    use crate::sim::{self, SimNet};
    use std::time::Duration;

    #[test]
    fn timewaits_end_together_on_the_lazy_grid_never_early() {
        let addr = |p: u16| std::net::SocketAddr::from(([127, 0, 0, 1], p));
        let mut net = SimNet::new(9);
        let uas = net.add_server(sim::builtin("uas"), addr(5060));
        let uac = net.add_client(sim::builtin("uac"), addr(5061), addr(5060), 1000.0, 5);
        net.run_until(100_000, |n| n.endpoints[uac].done());
        let epoch = net.epoch();
        let byes: Vec<Duration> = net
            .log
            .iter()
            .filter(|s| s.first_line.starts_with("BYE "))
            .map(|s| s.at + net.delay)
            .collect();
        assert_eq!(byes.len(), 5);
        let core = &net.endpoints[uas];
        assert_eq!(core.live_calls(), 5, "all five wait out the 4 s timewait");
        let next = core.next_deadline().expect("a timewait deadline") - epoch;
        // The uas's 4 s timewait starts when it answers the BYE, which it does on arrival.
        let first_end = byes[0] + Duration::from_secs(4);
        assert!(next >= first_end, "never early: {next:?} < {first_end:?}");
        assert!(
            next < first_end + Duration::from_nanos(LAZY_GRID),
            "at most one grid step late: {next:?}"
        );
        assert_eq!(next.as_nanos() % u128::from(LAZY_GRID), 0, "on the grid");
        // The five BYEs came within 5 ms, so their timewaits end in at most two turns.
        let mut turns = 0;
        net.run_until(1000, |n| {
            turns += 1;
            n.endpoints[uas].live_calls() == 0
        });
        assert!(turns <= 3, "{turns} turns to end five timewaits");
    }

    #[test]
    fn a_short_timewait_ends_exactly() {
        let addr = |p: u16| std::net::SocketAddr::from(([127, 0, 0, 1], p));
        let uas = crate::scenario::builtin::get("uas").expect("the built-in uas");
        assert!(uas.xml.contains("<timewait milliseconds=\"4000\"/>"));
        let uas_xml = uas.xml.replace(
            "<timewait milliseconds=\"4000\"/>",
            "<timewait milliseconds=\"300\"/>",
        );
        let mut net = SimNet::new(9);
        let uas = net.add_server(sim::scenario(&uas_xml), addr(5060));
        let uac = net.add_client(sim::builtin("uac"), addr(5061), addr(5060), 1000.0, 1);
        net.run_until(100_000, |n| n.endpoints[uac].done());
        let bye = net
            .log
            .iter()
            .find(|s| s.first_line.starts_with("BYE "))
            .map(|s| s.at + net.delay)
            .expect("a BYE");
        let next = net.endpoints[uas]
            .next_deadline()
            .expect("the timewait's end");
        assert_eq!(next - net.epoch(), bye + Duration::from_millis(300));
    }
}

#[cfg(test)]
mod live_call_tests {
    use super::*;
    use crate::sim::{self, SimNet};
    use std::time::Duration;

    /// A `-t t1` uas (its calls indexed by peer) and a uac holding its call 90 s in
    /// silence (`-d 90000`), in virtual time.
    #[test]
    fn a_peer_carries_live_calls_until_its_calls_end_or_only_wait_out_their_timewait() {
        let addr = |p: u16| SocketAddr::from(([127, 0, 0, 1], p));
        let (server, client, stranger) = (addr(5060), addr(5061), addr(5062));
        let mut net = SimNet::new(5);
        let mut env = sim::env(server, None, net.epoch());
        env.transport = crate::config::TransportMode::TcpShared;
        let uas = net.add(
            ShardCore::new(
                0,
                1,
                sim::builtin("uas"),
                env,
                11,
                InjectData::default(),
                Pacer::new(0.0, net.epoch()),
                Budget {
                    remaining: None,
                    limit: 100,
                },
            ),
            server,
        );
        let uac = net.add_client(sim::builtin("uac"), client, server, 10.0, 1);
        net.endpoints[uac].env.default_pause_ms = 90_000;
        let at = |n: &SimNet| n.log.last().map_or(Duration::ZERO, |s| s.at);
        net.run_until(10_000, |n| {
            n.log.iter().any(|s| s.first_line.starts_with("ACK "))
        });
        assert!(at(&net) < Duration::from_secs(1));
        assert!(
            net.endpoints[uas].carries_live_calls(client),
            "the call is up"
        );
        assert!(!net.endpoints[uas].carries_live_calls(stranger));

        net.run_until(10_000, |n| {
            n.log.iter().any(|s| s.first_line.starts_with("BYE "))
        });
        assert!(at(&net) >= Duration::from_secs(90));
        net.run_until(10_000, |n| {
            n.log.iter().any(|s| {
                s.first_line.starts_with("SIP/2.0 200")
                    && s.from == server
                    && s.at >= Duration::from_secs(90)
            })
        });
        assert_eq!(net.endpoints[uas].live_calls(), 1, "in its timewait");
        assert!(
            !net.endpoints[uas].carries_live_calls(client),
            "a call waiting out its timewait is not live"
        );
        net.run_until(100_000, |n| n.endpoints[uas].live_calls() == 0);
        assert!(!net.endpoints[uas].carries_live_calls(client));
    }
}

#[cfg(test)]
mod fold_tests {
    use crate::call::plan::Plan;
    use crate::scenario::Scenario;
    use crate::sim::{self, SimNet};
    use std::sync::Arc;

    /// Every datagram of `calls` calls from `client` to `server`, with the sends' run
    /// constants folded (as shards run) or not.
    fn wire(client: Arc<Scenario>, server: Arc<Scenario>, folded: bool) -> Vec<Vec<u8>> {
        let addr = |p: u16| std::net::SocketAddr::from(([127, 0, 0, 1], p));
        let mut net = SimNet::new(3);
        let s = net.add_server(server, addr(5060));
        let c = net.add_client(client, addr(5061), addr(5060), 100.0, 3);
        for i in [s, c] {
            net.endpoints[i].env.keys = vec![("site".into(), "lab-7".into())];
            let core = &mut net.endpoints[i];
            core.plan = Plan::new(&core.scenario);
            if folded {
                core.plan.fold_sends(&core.scenario, &core.env, false);
            }
        }
        net.run_until(1_000_000, |n| {
            n.endpoints[c].done() && n.endpoints[s].live_calls() == 0
        });
        let c = &net.endpoints[c].stats.counters;
        assert_eq!((c.successful_calls, c.failed_calls), (3, 0), "{c:?}");
        net.log.iter().map(|s| s.bytes.clone()).collect()
    }

    /// `xml` loaded with `-key site …` allowed.
    fn with_key_site(xml: &str) -> Arc<Scenario> {
        let keys = ["site".to_string()];
        let options = crate::scenario::LoadOptions {
            keys: &keys,
            ..Default::default()
        };
        Arc::new(crate::scenario::load(xml.as_bytes(), "edge.xml", &options).expect("loads"))
    }

    #[test]
    fn folding_run_constants_changes_no_byte_on_the_wire() {
        // A client whose INVITE has a line-dropping keyword followed by constants on the
        // same line (no last message yet: the line is cut where the next literal ends it),
        // a -key value, and constants everywhere else.
        let uac = crate::scenario::builtin::get("uac")
            .expect("the built-in uac")
            .xml;
        let edge = uac.replacen(
            "Max-Forwards: 70",
            "[last_Via:] [local_ip]:[local_port] x [transport]\n    X-Site: [site] [pid]\n    Max-Forwards: 70",
            1,
        );
        assert_ne!(edge, uac, "the built-in uac has a Max-Forwards line");
        let pairs = [
            (sim::builtin("uac"), sim::builtin("uas")),
            (sim::builtin("regexp"), sim::builtin("uas")),
            (sim::builtin("branchc"), sim::builtin("branchs")),
            (with_key_site(&edge), sim::builtin("uas")),
        ];
        for (client, server) in pairs {
            let name = client.name.clone();
            let plain = wire(client.clone(), server.clone(), false);
            let folded = wire(client, server, true);
            assert!(plain.len() >= 18, "{name}: {} datagrams", plain.len());
            for (a, b) in plain.iter().zip(&folded) {
                assert_eq!(
                    String::from_utf8_lossy(a),
                    String::from_utf8_lossy(b),
                    "{name}"
                );
            }
            assert_eq!(plain.len(), folded.len(), "{name}");
        }
    }

    #[test]
    fn folding_leaves_fewer_segments_and_keeps_per_call_keywords() {
        let sc = sim::builtin("uac");
        let env = sim::env(
            "127.0.0.1:5061".parse().expect("an address"),
            Some("127.0.0.1:5060".parse().expect("an address")),
            crate::sim::epoch(),
        );
        let mut plan = Plan::new(&sc);
        plan.fold_sends(&sc, &env, false);
        let crate::scenario::CommandKind::Send(invite) = &sc.commands[0].kind else {
            panic!("the uac starts with a send");
        };
        let folded = plan.send_template(0, &invite.template);
        assert!(
            folded.segments.len() * 2 < invite.template.segments.len(),
            "{} -> {} segments",
            invite.template.segments.len(),
            folded.segments.len()
        );
        let kept = |t: &crate::scenario::Template, k: fn(&crate::scenario::Keyword) -> bool| {
            t.segments
                .iter()
                .filter(|s| matches!(s, crate::scenario::Segment::Keyword(kw) if k(kw)))
                .count()
        };
        use crate::scenario::Keyword as K;
        let per_call = |k: &K| matches!(k, K::CallId | K::Branch(_) | K::CallNumber | K::Len(_));
        assert_eq!(kept(folded, per_call), kept(&invite.template, per_call));
        // -t un: each call renders its own port.
        plan.fold_sends(&sc, &env, true);
        let port = |k: &K| matches!(k, K::LocalPort(_));
        assert_eq!(
            kept(plan.send_template(0, &invite.template), port),
            kept(&invite.template, port)
        );
        assert!(kept(&invite.template, port) > 0);
    }
}
