//! The life of a call on the endpoint: creating it (the pacer's owed calls on a client,
//! a first request on a server), lending it the shard for each step, handing its media
//! actions to the media engine, and booking its end (counters, call records, `-users`).
//! Also the requests that belong to no call (`pingreply`, `-aa`).
//!
//! Owns: nothing of its own; these are `Endpoint` methods. Must not: touch sockets or
//! read the clock (`now` and `wall` come with every input).

use std::net::SocketAddr;
use std::time::{Duration, Instant, SystemTime};

use super::Endpoint;
use super::table::CallHandle;
use crate::call::{Call, Env, Outbox, Outcome, Progress, ShardCx, ShardEvent};
use crate::media::MediaEngine;
use crate::scenario::{CommandKind, RecvMatch, Role, Scenario};
use crate::sip::{HeaderName, SipMessage};
use crate::stats::FailureReason;

/// A timewait at least this long ends on `table::LAZY_GRID` (at most 1.7 % late); a
/// shorter one ends exactly.
const LAZY_AT_LEAST: Duration = Duration::from_secs(1);

/// A finished call, for call records and -trace_rtt.
#[derive(Clone, Debug)]
pub struct Finished {
    pub number: u64,
    pub call_id: Box<[u8]>,
    pub outcome: Outcome,
    pub duration_us: u64,
    /// The call's media numbers (zeros without media).
    pub media: crate::stats::media::CallMedia,
    /// The call's WebRTC bridge, what it did (`webrtc="true"` scenarios only).
    pub webrtc: Option<Box<gossipper_media::webrtc::WebrtcStats>>,
    /// The call's From, To, peer and message counts (with `collect_call_sip` only).
    pub sip: Option<Box<super::CallSip>>,
}

impl Finished {
    /// The call's line of call_records.jsonl (schema gossipper_call_record_v1).
    pub fn record_line(&self) -> String {
        let (ok, err) = match self.outcome {
            Outcome::Success => (true, String::new()),
            Outcome::Failed(r) => (false, format!("{r:?}")),
        };
        crate::output::call_record::call_record_line(
            &String::from_utf8_lossy(&self.call_id),
            self.number,
            ok,
            self.duration_us / 1000,
            &err,
            self.media,
            self.webrtc.as_deref(),
        )
    }
}

impl Endpoint {
    /// Runs `f` on call `h` with a borrowed shard context, then books its progress.
    pub(super) fn with_call(
        &mut self,
        h: CallHandle,
        now: Instant,
        wall: SystemTime,
        current: Option<&SipMessage<'_>>,
        f: impl FnOnce(&mut Call, &mut ShardCx<'_>) -> Progress,
    ) {
        self.with_call_in(h, now, wall, current, None, f);
    }

    /// [`Endpoint::with_call`], with the 3PCC command being handled (if any) lent too.
    pub(super) fn with_call_in(
        &mut self,
        h: CallHandle,
        now: Instant,
        wall: SystemTime,
        current: Option<&SipMessage<'_>>,
        command: Option<crate::twin::Command<'_>>,
        f: impl FnOnce(&mut Call, &mut ShardCx<'_>) -> Progress,
    ) {
        let Some(version) = self.calls.version_of(h) else {
            return;
        };
        // A call on a replaced scenario steps on its own version, with its globals.
        let retired = self.retired_index(version);
        if let Some(i) = retired {
            std::mem::swap(&mut self.shard.globals, &mut self.retired[i].globals);
        }
        let run = match retired {
            Some(i) => &self.retired[i].run,
            None => &self.run,
        };
        // Borrowed, not cloned: an Arc clone is an atomic increment per message.
        let scenario: &Scenario = &run.scenario;
        let Some(call) = self.calls.get_mut(h) else {
            return;
        };
        // Stream transports with a connection per call route by this (`transport::Streams`);
        // `-t un` calls by their own local port (the shard's `udp`).
        self.out.tx.flow = match (call.local_port(), call.source_ip()) {
            (Some(port), _) => u64::from(port),
            (None, Some((_, i))) => super::source_ips::PER_IP_FLOW | u64::from(i),
            (None, None) => call.number(),
        };
        let sent_before = self.out.tx.items.len();
        let mut cx = ShardCx {
            run,
            shard: &mut self.shard,
            out: &mut self.out,
            wall,
            current,
            command,
            webrtc: self.webrtc.as_mut(),
            media: self.media.as_mut(),
        };
        let progress = f(call, &mut cx);
        self.out.tx.flow = 0;
        if let Some(notes) = self.call_sip.as_mut() {
            let tx = &self.out.tx;
            let first = tx.items.get(sent_before).map(|t| tx.bytes(t));
            notes.step(h, current, tx.items.len() - sent_before, first);
            if let Progress::Finished(Outcome::Failed(reason)) = progress {
                notes.failed(h, reason, scenario, call.position(), current);
            }
        }
        // Media actions of this step go to the media engine before the call may end.
        if !self.out.media.is_empty()
            && let Some(w) = self.webrtc.as_mut()
        {
            run_webrtc_media(w, &mut self.out, now, call);
        }
        if !self.out.media.is_empty() {
            run_media(self.media.as_mut(), &mut self.out, now, call);
            if let Some(m) = self.media.as_ref() {
                self.shard.stats.media = m.stats();
            }
        }
        let deadline = call.poll_timeout();
        // Only long waits: a 16.8 ms step would stretch a short timewait noticeably.
        let lazy = call.deadline_is_lazy(scenario)
            && deadline.is_some_and(|d| d.saturating_duration_since(now) >= LAZY_AT_LEAST);
        if let Some(i) = retired {
            std::mem::swap(&mut self.shard.globals, &mut self.retired[i].globals);
        }
        match progress {
            Progress::Running => self.calls.set_timer(h, deadline, lazy),
            Progress::Finished(outcome) => self.end_call(h, now, outcome),
        }
    }

    pub(super) fn end_call(&mut self, h: CallHandle, now: Instant, outcome: Outcome) {
        let version = self.calls.version_of(h);
        let Some(call) = self.calls.remove(h, now) else {
            return;
        };
        self.release_version(version);
        self.unindex_peer(h, call.peer());
        let duration_us = now.saturating_duration_since(call.started_at()).as_micros() as u64;
        let ended = match self.media.as_mut() {
            Some(m) => {
                let ended = m.end_call(call.number()).unwrap_or_default();
                self.shard.stats.media = m.stats();
                ended
            }
            None => Default::default(),
        };
        let mut media = ended.media;
        let mut rtpcheck_failed = ended.rtpcheck_failed;
        let webrtc = match self.webrtc.as_mut() {
            Some(w) => {
                let ended = w.end_call(now, call.number());
                self.shard.stats.webrtc = *w.counters();
                ended.map(|e| {
                    rtpcheck_failed |= e.rtpcheck_failed;
                    if e.rtpcheck_failed {
                        self.shard.stats.media.rtpcheck_failed += 1;
                    } else if e.checked {
                        self.shard.stats.media.rtpcheck_passed += 1;
                    }
                    e.stats
                })
            }
            None => None,
        };
        // A WebRTC call's audio in the classic media block (a WebRTC run has no media
        // engine, so the shard's media totals are only these).
        if let Some(s) = webrtc.as_deref() {
            media = crate::webrtc::call_media(s);
            let m = &mut self.shard.stats.media;
            m.rtp_packets_sent += media.rtp_packets_sent;
            m.rtp_octets_sent += media.rtp_octets_sent;
            m.rtp_packets_received += media.rtp_packets_received;
            m.add_call(&media);
        }
        // issue 8: a failed rtpcheck fails a call that otherwise succeeded.
        let outcome = match outcome {
            Outcome::Success if rtpcheck_failed => Outcome::Failed(FailureReason::RtpCheck),
            other => other,
        };
        if self.run.env.transport.is_stream_per_call() {
            self.out.tx.ended_flows.push(call.number());
        }
        if let (Some(pool), Some(port)) = (self.udp_ports.as_mut(), call.local_port()) {
            pool.release(port);
        }
        match outcome {
            Outcome::Success => {
                self.shard.stats.counters.successful_calls += 1;
                self.shard.stats.call_length.record(duration_us);
            }
            Outcome::Failed(reason) => self.shard.stats.counters.fail(reason),
        }
        self.shard.stats.current_calls = self.calls.len() as u64;
        if self.collect_finished {
            let sip = self
                .call_sip
                .as_mut()
                .map(|n| Box::new(n.take(h, call.peer(), outcome)));
            self.finished.push_back(Finished {
                number: call.number(),
                call_id: call.call_id().into(),
                outcome,
                duration_us,
                media,
                webrtc,
                sip,
            });
        }
        if self.run.env.users.is_some() && !self.stopping {
            self.users_waiting.push(call_user(&call));
        }
    }

    /// A parsed message from `src`: to its call, to a new server call, or out of call.
    pub(super) fn handle_message(
        &mut self,
        now: Instant,
        wall: SystemTime,
        msg: &SipMessage<'_>,
        src: SocketAddr,
    ) {
        if let Some(h) = self.calls.find(msg.call_id()) {
            // The peer's SDP tells the media engine where this call's RTP goes.
            let mut srtp_refused = None;
            if let Some(m) = self.media.as_mut()
                && let Some(c) = self.calls.get_mut(h)
            {
                srtp_refused = m.handle_sip(c.number(), msg.call_id(), msg.body());
            }
            if let Some(reason) = srtp_refused {
                self.fail_srtp_call(h, now, wall, msg, &reason);
                return;
            }
            if let Some(w) = self.webrtc.as_mut()
                && let Some(c) = self.calls.get(h)
            {
                w.handle_sip(now, c.number(), msg.body());
                // The call is hanging up: its media stops now, not after its timewait.
                if matches!(msg.method(), Some(b"BYE" | b"CANCEL")) {
                    w.close_media(now, c.number());
                }
            }
            self.with_call(h, now, wall, Some(msg), |call, cx| {
                call.handle_message(now, msg, src, cx)
            });
            self.fail_webrtc_calls(now, wall);
            return;
        }
        if self.calls.is_dead(msg.call_id()) {
            self.shard.stats.counters.dead_call_msgs += 1;
            return;
        }
        if self.run.scenario.role == Role::Server
            && msg.is_request()
            && self.first_recv_matches(msg)
        {
            if self.stopping || self.refusing {
                self.shard.stats.counters.out_of_call_msgs += 1;
                return;
            }
            if self
                .webrtc
                .as_ref()
                .is_some_and(|w| !w.can_take_offer(now, msg.body()) && w.can_bind_more())
            {
                // No call socket for it yet (none bound, or, shared, none where the
                // offer's address is new): the request waits for the shell's next top-up
                // (this turn, before `handle_timeout`). Past the socket cap, or once the
                // shell could bind no more, the call is made and fails as `no_socket`.
                self.webrtc_wait.hold(msg, src);
                return;
            }
            let number = self.next_call_number();
            self.shard.stats.counters.incoming_calls += 1;
            let call = Call::new(
                number,
                0,
                msg.call_id(),
                src,
                now,
                &self.run.scenario,
                &self.run.env,
            );
            let srtp_refused = self
                .media
                .as_mut()
                .and_then(|m| m.handle_sip(number, msg.call_id(), msg.body()));
            let h = self.calls.insert(call);
            if let Some(ix) = self.calls_by_peer.as_mut() {
                ix.entry(src).or_default().insert(h);
            }
            self.shard.stats.current_calls = self.calls.len() as u64;
            self.shard.stats.note_call_created(self.since_start_us(now));
            let no_socket = match self.webrtc.as_mut() {
                Some(w) => {
                    let opened = w.open(now, number, msg.call_id(), h);
                    w.handle_sip(now, number, msg.body());
                    self.shard.stats.webrtc = *w.counters();
                    !opened
                }
                None => false,
            };
            if no_socket {
                self.with_call(h, now, wall, Some(msg), |call, cx| {
                    call.fail(now, FailureReason::Webrtc, cx)
                });
                return;
            }
            if let Some(reason) = srtp_refused {
                self.fail_srtp_call(h, now, wall, msg, &reason);
                return;
            }
            self.with_call(h, now, wall, Some(msg), |call, cx| {
                // A server call starts at its first recv: deliver the request to it.
                match call.start(now, cx) {
                    Progress::Running => call.handle_message(now, msg, src, cx),
                    done => done,
                }
            });
            self.fail_webrtc_calls(now, wall);
            return;
        }
        self.out_of_call(msg, src);
    }

    fn first_recv_matches(&self, msg: &SipMessage<'_>) -> bool {
        let first = self
            .run
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
            && (self.run.env.behaviors.pingreply || self.env_auto_answer()))
            || (self.env_auto_answer() && matches!(method, b"INFO" | b"NOTIFY" | b"UPDATE"));
        if !answer {
            self.shard.stats.counters.out_of_call_msgs += 1;
            return;
        }
        let mut out = std::mem::take(&mut self.shard.scratch);
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
        self.out.tx.flow = 0;
        self.out.tx.push(src, &out);
        self.shard.scratch = out;
        self.shard.stats.counters.auto_answered += 1;
    }

    fn env_auto_answer(&self) -> bool {
        self.run.env.auto_answer
    }

    pub(super) fn next_call_number(&mut self) -> u64 {
        self.created += 1;
        let local = (self.created - 1) * self.shards as u64 + self.index as u64 + 1;
        self.segment.call_number(local)
    }

    pub(super) fn open_calls(&mut self, now: Instant, previous_tick: Instant, wall: SystemTime) {
        let mut owed = if self.run.env.users.is_some() {
            // Users start with the run (the shards may be up before a common start).
            if now < self.run.env.start {
                0
            } else {
                self.users_waiting.len() as u64
            }
        } else {
            self.pacer.due(now)
        };
        if let Some(r) = self.budget.remaining {
            owed = owed.min(r);
        }
        let room = self.budget.limit.saturating_sub(self.calls.len() as u64);
        let n = if self.run.env.users.is_some() {
            owed
        } else {
            if owed > room {
                // The pacer owes calls the concurrency limit does not let open: the cap,
                // not the rate, sets the pace for this turn.
                let waited = now.saturating_duration_since(previous_tick).as_micros();
                self.shard.stats.limit_blocked_us += u64::try_from(waited).unwrap_or(u64::MAX);
            }
            owed.min(room)
        };
        let n = n.min(10_000);
        let mut opened = 0;
        while opened < n {
            // WebRTC: a call without its media socket waits for the next turn too (the
            // shell binds one per due call); past the socket cap, or once binding failed,
            // it opens and fails as `no_socket` rather than wait for ever.
            if self
                .webrtc
                .as_ref()
                .is_some_and(|w| !w.has_free_port() && w.can_bind_more())
            {
                break;
            }
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
        if self.run.env.users.is_none() {
            self.pacer.opened(opened, now);
        }
        if let Some(r) = self.budget.remaining.as_mut() {
            *r -= opened.min(*r);
        }
    }

    fn open_one(&mut self, now: Instant, wall: SystemTime, user: u64, port: Option<u16>) {
        let Some(dest) = self.run.env.remote else {
            if let (Some(pool), Some(p)) = (self.udp_ports.as_mut(), port) {
                pool.release(p);
            }
            return;
        };
        let number = self.next_call_number();
        let mut call_id = std::mem::take(&mut self.call_id_buf);
        call_id.clear();
        render_call_id(&self.run.env, number, &mut call_id);
        let mut call = Call::new(
            number,
            user,
            call_id.as_bytes(),
            dest,
            now,
            &self.run.scenario,
            &self.run.env,
        );
        if let Some(p) = port {
            call.set_local_port(p);
        }
        if let (Some(ips), Some(file)) = (&self.source_ips, self.shard.inject.file(None))
            && let Some((ip, i)) = ips.for_call(file, number, user)
        {
            call.set_source_ip(ip, i);
        }
        self.call_id_buf = call_id;
        let h = self.calls.insert(call);
        self.shard.stats.counters.outgoing_calls += 1;
        self.shard.stats.current_calls = self.calls.len() as u64;
        self.shard.stats.note_call_created(self.since_start_us(now));
        if let (Some(w), Some(c)) = (self.webrtc.as_mut(), self.calls.get(h)) {
            let opened = w.open(now, number, c.call_id(), h);
            self.shard.stats.webrtc = *w.counters();
            if !opened {
                // No socket and none to come (`open_calls`): the call fails at once.
                self.with_call(h, now, wall, None, |call, cx| {
                    call.fail(now, FailureReason::Webrtc, cx)
                });
                return;
            }
        }
        self.with_call(h, now, wall, None, |call, cx| call.start(now, cx));
    }

    /// Fails the calls whose WebRTC bridge failed since the last look.
    /// Fails call `h` for its SRTP (`reason` names why) on the message `msg` that asked
    /// for it, with a warning naming the call.
    fn fail_srtp_call(
        &mut self,
        h: CallHandle,
        now: Instant,
        wall: SystemTime,
        msg: &SipMessage<'_>,
        reason: &str,
    ) {
        if let Some(c) = self.calls.get(h) {
            self.out.events.push_back(ShardEvent::Warning(format!(
                "call {}: {reason}",
                c.number()
            )));
        }
        self.with_call(h, now, wall, Some(msg), |call, cx| {
            call.fail(now, FailureReason::Srtp, cx)
        });
    }

    /// Fails the calls whose SRTP set-up failed in the media engine (DTLS-SRTP), class
    /// `srtp`, each with a warning naming the call and why.
    pub(super) fn fail_media_calls(&mut self, now: Instant, wall: SystemTime) {
        // Bounded: each failure ends a call, which queues no new failure.
        for _ in 0..100_000 {
            let Some((call_id, why)) = self.media.as_mut().and_then(|m| m.poll_failed_call())
            else {
                break;
            };
            let Some(h) = self.calls.find(&call_id) else {
                continue;
            };
            if let Some(c) = self.calls.get(h) {
                self.out
                    .events
                    .push_back(ShardEvent::Warning(format!("call {}: {why}", c.number())));
            }
            self.with_call(h, now, wall, None, |call, cx| {
                call.fail(now, FailureReason::Srtp, cx)
            });
        }
    }

    pub(super) fn fail_webrtc_calls(&mut self, now: Instant, wall: SystemTime) {
        // Bounded: each failure ends a call, which queues no new failure.
        for _ in 0..100_000 {
            let Some((h, _why)) = self.webrtc.as_mut().and_then(|w| w.poll_failed()) else {
                break;
            };
            self.with_call(h, now, wall, None, |call, cx| {
                call.fail(now, FailureReason::Webrtc, cx)
            });
        }
    }
}

/// Hands a call step's media actions to the shard's media engine; one that cannot run
/// becomes a warning naming the call, the action and the reason. Without a media engine
/// (a run without media actions) there is nothing to run them.
fn run_media(media: Option<&mut MediaEngine>, out: &mut Outbox, now: Instant, call: &Call) {
    let Some(m) = media else {
        out.media.clear();
        return;
    };
    for a in out.media.drain(..) {
        let result = match &a.command {
            Ok(cmd) => m.handle_command(now, call.number(), call.call_id(), cmd),
            Err(reason) => Err(reason.clone()),
        };
        if let Err(reason) = result {
            m.note_command_error();
            out.events.push_back(ShardEvent::Warning(format!(
                "call {}: <exec {}=\"{}\">: {reason}",
                call.number(),
                a.verb,
                a.argument
            )));
        }
    }
}

/// Hands a WebRTC call step's media actions to the shard's WebRTC calls; one that cannot
/// run becomes a warning naming the call, the action and the reason.
fn run_webrtc_media(
    w: &mut crate::webrtc::WebrtcCalls,
    out: &mut Outbox,
    now: Instant,
    call: &Call,
) {
    for a in out.media.drain(..) {
        let result = match &a.command {
            Ok(cmd) => w.handle_command(now, call.number(), call.call_id(), cmd),
            Err(reason) => Err(reason.clone()),
        };
        if let Err(reason) = result {
            out.events.push_back(ShardEvent::Warning(format!(
                "call {}: <exec {}=\"{}\">: {reason}",
                call.number(),
                a.verb,
                a.argument
            )));
        }
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
