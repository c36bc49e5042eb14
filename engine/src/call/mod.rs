//! One call: the scenario interpreter for one Call-ID, with its UDP retransmission timers.
//!
//! Owns: the program counter, variables, dialog state (peer tag, route set, last messages)
//! and deadlines. Must not: read a clock, touch a socket, or look up another call. The
//! shard feeds it `(now, input)` through `start`, `handle_message` and `handle_timeout`,
//! each of which returns `Progress`; datagrams to send are appended to `ShardCx::tx`, and
//! `deadline()` tells the shard when to call `handle_timeout` next (calling it early or
//! twice is harmless).
//!
//! Matching follows SIPp (reference/sipp.md §6): a received message is compared with the
//! current `recv` and the optional ones after it; a message that matches an earlier step
//! is a retransmission. Unlike SIPp, a retransmitted request is recognised however many
//! messages we sent since (RFC 3261 §17.2: the server transaction re-sends its last
//! response), so a lost 180+200 pair does not turn into a failed call.

mod abort;
pub mod actions;
pub mod digest;
pub mod env;
pub mod inject;
pub mod plan;
mod render;
mod token;
pub mod vars;

#[cfg(test)]
mod tests;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

pub use env::{Env, ShardCx, ShardEvent, Transmit, TxQueue};

use crate::scenario::{Command, CommandKind, Optional, PauseDuration, Recv, RecvMatch, Role};
use crate::sip::{self, HeaderName, SipMessage};
use crate::stats::FailureReason;
use actions::ActionOutcome;
use token::Token;
use vars::Vars;

/// How a call ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Success,
    Failed(FailureReason),
}

/// What the shard should do after a call handled an input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[must_use]
pub enum Progress {
    Running,
    Finished(Outcome),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// About to run `pc`.
    Ready,
    /// Waiting at a `recv` (the deadline, if any, is its timeout).
    Waiting,
    /// In a `pause`/`timewait` until `wait_deadline`.
    Pausing,
    Finished,
}

/// UDP retransmission of the last message sent (RFC 3261 §17.1.1.2 / §17.1.2.2).
#[derive(Clone, Copy, Debug)]
struct Retrans {
    next_at: Instant,
    interval: Duration,
    count: u32,
    max: u32,
    /// INVITE requests double without a cap (Timer A); everything else stops at T2.
    capped: bool,
    /// The step that sent it (for the screen's Retrans/Timeout columns).
    step: usize,
}

/// Our INVITE's progress (client side).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum InviteState {
    None,
    /// Sent, no final response yet: an abort sends CANCEL (the INVITE stays in
    /// `last_sent` until then).
    Pending,
    /// Answered with a 2xx: an abort sends BYE (built from `last_ack`).
    Answered,
    /// Answered with a failure: nothing to clean up.
    Rejected,
}

/// A response kept to answer retransmissions of the request it answers.
#[derive(Debug)]
struct SentResponse {
    /// CSeq number and method of the request.
    cseq: u32,
    method: Token,
    bytes: Vec<u8>,
}

/// One call's state.
#[derive(Debug)]
pub struct Call {
    number: u64,
    user_id: u64,
    call_id: Box<[u8]>,
    pc: usize,
    state: State,
    started_at: Instant,
    dest: SocketAddr,
    vars: Vars,
    /// `[cseq]`: the CSeq of the last request we sent (incremented before each non-ACK).
    cseq: u32,
    /// The last message received (for `[last_*]`, ereg and digest challenges).
    last_recv: Vec<u8>,
    /// The last message sent, kept while it may be retransmitted.
    last_sent: Vec<u8>,
    retrans: Option<Retrans>,
    /// Method of the last non-ACK request we sent: responses must carry it in CSeq.
    last_request_method: Option<Token>,
    /// The ACK we sent for a 2xx, re-sent when the 2xx is retransmitted (empty: none).
    last_ack: Vec<u8>,
    /// The last request received (CSeq number, method) and the step that took it.
    last_request: Option<(u32, Token, usize)>,
    /// CSeq number of the last ACK taken: a repeated ACK (one per 2xx retransmission,
    /// RFC 3261 §13.2.2.4) is absorbed, not unexpected.
    last_ack_cseq: Option<u32>,
    /// CSeq number of the INVITE we took: its ACK may arrive late (after a BYE that
    /// overtook it) and is then absorbed too.
    invite_cseq: Option<u32>,
    /// Where our own INVITE stands, for SIPp's abort behaviour (CANCEL or BYE).
    invite: InviteState,
    /// The last response we sent and the request it answers.
    last_response: Option<SentResponse>,
    peer_tag: Option<Token>,
    route_set: Option<Box<[u8]>>,
    next_url: Option<Box<[u8]>>,
    /// Start instants of response-time timers (`None`: not running).
    rtd_start: Vec<Option<Instant>>,
    wait_deadline: Option<Instant>,
    /// Row of the default injection file, chosen once per call.
    inject_row: Option<usize>,
    /// `-t un` clients: the port of this call's own socket (`[local_port]`); `None`: the
    /// shard's socket (`Env::local_port`).
    local_port: Option<u16>,
}

impl Call {
    /// A new call. `call_id` is SIPp's `-cid_str` rendering for clients, or the received
    /// Call-ID for servers; `dest` is the peer.
    pub fn new(
        number: u64,
        user_id: u64,
        call_id: &[u8],
        dest: SocketAddr,
        now: Instant,
        sc: &crate::scenario::Scenario,
        env: &Env,
    ) -> Call {
        Call {
            number,
            user_id,
            call_id: call_id.into(),
            pc: 0,
            state: State::Ready,
            started_at: now,
            dest,
            vars: Vars::new(sc.variables.len()),
            cseq: env.base_cseq.wrapping_sub(1),
            last_recv: Vec::new(),
            last_sent: Vec::new(),
            retrans: None,
            last_request_method: None,
            last_ack: Vec::new(),
            last_request: None,
            last_ack_cseq: None,
            invite_cseq: None,
            invite: InviteState::None,
            last_response: None,
            peer_tag: None,
            route_set: None,
            next_url: None,
            rtd_start: vec![Some(now); sc.rtd_names.len()],
            wait_deadline: None,
            inject_row: None,
            local_port: None,
        }
    }

    /// Gives the call its own local port (`-t un`), before `start`.
    pub fn set_local_port(&mut self, port: u16) {
        self.local_port = Some(port);
    }

    /// The call's own local port, when it has one (`-t un`).
    pub fn local_port(&self) -> Option<u16> {
        self.local_port
    }

    pub fn number(&self) -> u64 {
        self.number
    }

    pub fn user_id(&self) -> u64 {
        self.user_id
    }

    pub fn call_id(&self) -> &[u8] {
        &self.call_id
    }

    pub fn started_at(&self) -> Instant {
        self.started_at
    }

    /// The earliest instant at which `handle_timeout` has work to do.
    #[must_use]
    pub fn deadline(&self) -> Option<Instant> {
        if self.state == State::Finished {
            return None;
        }
        let r = self.retrans.map(|r| r.next_at);
        match (r, self.wait_deadline) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Runs the scenario from the start until it waits (client calls, and server calls
    /// right after `handle_message` delivered the first request).
    pub fn start(&mut self, now: Instant, cx: &mut ShardCx<'_>) -> Progress {
        self.run(now, cx)
    }

    /// A message for this call arrived from `src`.
    pub fn handle_message(
        &mut self,
        now: Instant,
        msg: &SipMessage<'_>,
        src: SocketAddr,
        cx: &mut ShardCx<'_>,
    ) -> Progress {
        if self.state == State::Finished {
            return Progress::Finished(Outcome::Success);
        }
        cx.stats.counters.messages_received += 1;
        if let Some(i) = self.find_recv(msg, cx) {
            return self.accept(now, i, msg, src, cx);
        }
        if self.absorb_retransmission(msg, cx) {
            return Progress::Running;
        }
        // Unexpected. A final answer to our INVITE still decides how an abort cleans up.
        if !msg.is_request()
            && msg.cseq().method == b"INVITE"
            && let Some(code) = msg.status()
            && code >= 200
        {
            self.invite = if code < 300 {
                InviteState::Answered
            } else {
                InviteState::Rejected
            };
        }
        if let Some(step) = cx.stats.steps.get_mut(self.pc) {
            step.unexpected += 1;
        }
        if let Some(target) = cx.scenario.unexp_main {
            self.store_last_recv(msg);
            self.pc = target;
            self.state = State::Ready;
            self.wait_deadline = None;
            return self.run(now, cx);
        }
        if cx.env.behaviors.abort_unexp {
            cx.events.push(ShardEvent::Error(format!(
                "Aborting call on unexpected message for Call-Id '{}': while expecting step {}, received '{}'",
                String::from_utf8_lossy(&self.call_id),
                self.pc,
                String::from_utf8_lossy(msg.first_line())
            )));
            return self.finish(now, Outcome::Failed(FailureReason::UnexpectedMessage), cx);
        }
        Progress::Running
    }

    /// Fires whatever is due at `now`: retransmissions, pause ends, recv timeouts.
    pub fn handle_timeout(&mut self, now: Instant, cx: &mut ShardCx<'_>) -> Progress {
        if self.state == State::Finished {
            return Progress::Finished(Outcome::Success);
        }
        if let Some(mut r) = self.retrans
            && r.next_at <= now
        {
            if r.count >= r.max {
                self.retrans = None;
                if let Some(step) = cx.stats.steps.get_mut(r.step) {
                    step.timeouts += 1;
                }
                cx.stats.counters.timeouts += 1;
                cx.events.push(ShardEvent::Error(format!(
                    "Aborting call on UDP retransmission timeout for Call-ID '{}'",
                    String::from_utf8_lossy(&self.call_id)
                )));
                return self.finish(now, Outcome::Failed(FailureReason::MaxUdpRetrans), cx);
            }
            r.count += 1;
            r.interval *= 2;
            if r.capped {
                r.interval = r.interval.min(Duration::from_millis(cx.env.retrans.t2_ms));
            }
            r.next_at = now + r.interval;
            self.retrans = Some(r);
            cx.tx.push(self.wire_dest(cx.env), &self.last_sent);
            cx.stats.counters.retransmissions += 1;
            cx.stats.counters.messages_sent += 1;
            if let Some(step) = cx.stats.steps.get_mut(r.step) {
                step.retrans += 1;
            }
        }
        if let Some(d) = self.wait_deadline
            && d <= now
        {
            self.wait_deadline = None;
            match self.state {
                State::Pausing => {
                    let i = self.pc;
                    if let Some(step) = cx.stats.steps.get_mut(i) {
                        step.messages += 1;
                    }
                    return self.complete_step(now, i, cx);
                }
                State::Waiting => {
                    if let Some(step) = cx.stats.steps.get_mut(self.pc) {
                        step.timeouts += 1;
                    }
                    cx.stats.counters.timeouts += 1;
                    let ontimeout = cx
                        .scenario
                        .commands
                        .get(self.pc)
                        .and_then(|c| c.common.ontimeout);
                    if let Some(target) = ontimeout {
                        self.pc = target;
                        self.state = State::Ready;
                        return self.run(now, cx);
                    }
                    cx.events.push(ShardEvent::Error(format!(
                        "Aborting call on receive timeout for Call-ID '{}' at step {}",
                        String::from_utf8_lossy(&self.call_id),
                        self.pc
                    )));
                    return self.finish(now, Outcome::Failed(FailureReason::TimeoutOnRecv), cx);
                }
                _ => {}
            }
        }
        Progress::Running
    }

    /// Ends the call now (run stopped, `-timeout`), counted as failed by the caller.
    pub fn abort(&mut self) {
        self.state = State::Finished;
        self.retrans = None;
        self.wait_deadline = None;
    }

    /// Runs commands from `pc` until the call waits or ends.
    fn run(&mut self, now: Instant, cx: &mut ShardCx<'_>) -> Progress {
        let commands = &cx.scenario.commands;
        // Bounded: a scenario that jumps in a circle without waiting is cut off.
        for _ in 0..10_000 {
            let Some(cmd) = commands.get(self.pc) else {
                return self.finish(now, Outcome::Success, cx);
            };
            if !self.condexec_allows(cmd, cx) {
                self.pc += 1;
                continue;
            }
            match &cmd.kind {
                CommandKind::Label(_) => self.pc += 1,
                CommandKind::Nop => {
                    let i = self.pc;
                    if let Some(step) = cx.stats.steps.get_mut(i) {
                        step.messages += 1;
                    }
                    if let Progress::Finished(o) = self.complete_step(now, i, cx) {
                        return Progress::Finished(o);
                    }
                    if self.state != State::Ready {
                        return Progress::Running;
                    }
                }
                CommandKind::Send(_) => {
                    let i = self.pc;
                    if let Err(reason) = self.send(now, i, cx) {
                        return self.finish(now, Outcome::Failed(reason), cx);
                    }
                    if let Progress::Finished(o) = self.complete_step(now, i, cx) {
                        return Progress::Finished(o);
                    }
                    if self.state != State::Ready {
                        return Progress::Running;
                    }
                }
                CommandKind::Pause(p) => {
                    let ms = self.pause_ms(&p.duration, cx);
                    self.state = State::Pausing;
                    self.wait_deadline = Some(now + Duration::from_millis(ms));
                    self.compact(cx);
                    return Progress::Running;
                }
                CommandKind::Recv(r) => {
                    self.state = State::Waiting;
                    let timeout = r.timeout_ms.or(cx.env.recv_timeout_ms);
                    self.wait_deadline = timeout.map(|ms| now + Duration::from_millis(ms));
                    self.compact(cx);
                    return Progress::Running;
                }
                CommandKind::SendCmd(_) | CommandKind::RecvCmd => {
                    return self.finish(now, Outcome::Failed(FailureReason::CmdNotSent), cx);
                }
            }
        }
        cx.events.push(ShardEvent::Error(
            "scenario loops without waiting; call aborted".into(),
        ));
        self.finish(now, Outcome::Failed(FailureReason::ScenarioError), cx)
    }

    /// Frees what no later step will read while the call waits (memory per idle call is
    /// a budget: a load test holds 100,000 of them).
    fn compact(&mut self, cx: &ShardCx<'_>) {
        if !self.last_recv.is_empty() && !cx.plan.keep_last_recv(self.pc) {
            self.last_recv = Vec::new();
        }
        let cancel_may_need_it = self.invite == InviteState::Pending && cx.env.behaviors.cancel;
        if self.retrans.is_none() && self.last_sent.capacity() > 0 && !cancel_may_need_it {
            self.last_sent = Vec::new();
        }
    }

    fn condexec_allows(&self, cmd: &Command, cx: &ShardCx<'_>) -> bool {
        match cmd.common.condexec {
            None => true,
            Some(v) => self.var(v, cx).as_bool() != cmd.common.condexec_inverse,
        }
    }

    fn pause_ms(&mut self, d: &PauseDuration, cx: &mut ShardCx<'_>) -> u64 {
        match d {
            PauseDuration::Default => cx.env.default_pause_ms,
            PauseDuration::Fixed(ms) => *ms,
            PauseDuration::Variable(v) => self.var(*v, cx).as_f64().max(0.0) as u64,
            PauseDuration::Distribution(dist) => actions::sample(dist, cx.rng).max(0.0) as u64,
        }
    }

    /// After step `i` completed: rtd timers, counter, actions, then `next` or `pc + 1`.
    fn complete_step(&mut self, now: Instant, i: usize, cx: &mut ShardCx<'_>) -> Progress {
        let Some(cmd) = cx.scenario.commands.get(i) else {
            return self.finish(now, Outcome::Success, cx);
        };
        let common = &cmd.common;
        for id in &common.rtd {
            let slot = id.0 as usize;
            if let Some(Some(start)) = self.rtd_start.get(slot).copied() {
                let us = now.saturating_duration_since(start).as_micros() as u64;
                if let Some(t) = cx.stats.rtd.get_mut(slot) {
                    t.record(us);
                }
                if cx.env.trace_rtt {
                    cx.events.push(ShardEvent::Rtt { rtd: id.0, us });
                }
                if !common.repeat_rtd
                    && let Some(s) = self.rtd_start.get_mut(slot)
                {
                    *s = None;
                }
            }
        }
        for id in &common.start_rtd {
            if let Some(s) = self.rtd_start.get_mut(id.0 as usize) {
                *s = Some(now);
            }
        }
        if let Some(c) = common.counter
            && let Some(v) = cx.stats.generic_counters.get_mut(c.0 as usize)
        {
            *v += 1;
        }
        let mut jump = None;
        if !common.actions.is_empty() {
            match actions::run(self, &common.actions, cx) {
                ActionOutcome::Continue => {}
                ActionOutcome::Fail(reason) => {
                    return self.finish(now, Outcome::Failed(reason), cx);
                }
                ActionOutcome::Jump(target) => jump = Some(target),
                ActionOutcome::StopCall => return self.finish(now, Outcome::Success, cx),
            }
        }
        self.state = State::Ready;
        self.wait_deadline = None;
        self.pc = match (jump, common.next) {
            (Some(t), _) => t,
            (None, Some(target)) if self.branch_taken(cmd, cx) => target,
            _ => i + 1,
        };
        self.run(now, cx)
    }

    fn branch_taken(&self, cmd: &Command, cx: &mut ShardCx<'_>) -> bool {
        if let Some(v) = cmd.common.test
            && !self.var(v, cx).as_bool()
        {
            return false;
        }
        match cmd.common.chance {
            Some(p) => cx.rng.next_f64() < p,
            None => true,
        }
    }

    fn finish(&mut self, now: Instant, outcome: Outcome, cx: &mut ShardCx<'_>) -> Progress {
        let _ = now;
        if matches!(outcome, Outcome::Failed(_)) {
            self.send_abort_request(cx);
        }
        self.state = State::Finished;
        self.retrans = None;
        self.wait_deadline = None;
        Progress::Finished(outcome)
    }

    /// SIPp's default behaviours when a client call is aborted: BYE after a 2xx, CANCEL
    /// while the INVITE is unanswered (`-default_behaviors`, off with `-nd`).
    fn send_abort_request(&mut self, cx: &mut ShardCx<'_>) {
        let b = cx.env.behaviors;
        let (src, kind) = match self.invite {
            InviteState::Answered if b.bye && !self.last_ack.is_empty() => (
                &self.last_ack,
                abort::AbortRequest::Bye {
                    cseq: self.cseq.wrapping_add(1),
                },
            ),
            InviteState::Pending if b.cancel && !self.last_sent.is_empty() => {
                (&self.last_sent, abort::AbortRequest::Cancel)
            }
            _ => return,
        };
        let mut branch = Vec::with_capacity(40);
        branch.extend_from_slice(b"z9hG4bK-");
        render::push_num(&mut branch, i64::from(cx.env.pid));
        branch.push(b'-');
        render::push_num(&mut branch, self.number as i64);
        branch.extend_from_slice(b"-abort");
        let mut out = std::mem::take(cx.scratch);
        out.clear();
        if abort::derive(src, kind, &branch, &mut out) {
            cx.tx.push(self.wire_dest(cx.env), &out);
            cx.stats.counters.messages_sent += 1;
        }
        *cx.scratch = out;
        self.invite = InviteState::None;
    }

    /// Renders and queues the `send` at step `i`, and arms its retransmission.
    fn send(&mut self, now: Instant, i: usize, cx: &mut ShardCx<'_>) -> Result<(), FailureReason> {
        let Some(Command {
            kind: CommandKind::Send(s),
            common,
            ..
        }) = cx.scenario.commands.get(i)
        else {
            return Ok(());
        };
        let is_ack = s.method.as_deref() == Some("ACK");
        let is_request = s.method.is_some();
        if is_request && !is_ack {
            self.cseq = self.cseq.wrapping_add(1);
        }
        let mut out = std::mem::take(cx.scratch);
        out.clear();
        render::render(self, &s.template, i, now, cx, &mut out);
        // The start line decides what was sent (a template may begin with a keyword).
        let (method, status) = start_line_kind(&out);
        if method == Some(b"INVITE") {
            self.invite = InviteState::Pending;
            if cx.env.behaviors.cancel {
                // Kept for a CANCEL until a final response (also the retransmission copy).
                self.last_sent.clear();
                self.last_sent.extend_from_slice(&out);
            }
        }
        if let Some(m) = method {
            if m != b"ACK" {
                Token::set(&mut self.last_request_method, m);
            } else {
                self.last_ack.clear();
                self.last_ack.extend_from_slice(&out);
            }
        }
        if status.is_some()
            && let Some((num, ref m, _)) = self.last_request
        {
            // Reuse the buffer of the previous response of this call.
            let mut bytes = self
                .last_response
                .take()
                .map(|r| r.bytes)
                .unwrap_or_default();
            bytes.clear();
            bytes.extend_from_slice(&out);
            self.last_response = Some(SentResponse {
                cseq: num,
                method: m.clone(),
                bytes,
            });
        }
        let dropped = common
            .lost_percent
            .is_some_and(|p| cx.rng.next_f64() * 100.0 < p);
        if !dropped {
            cx.tx.push(self.wire_dest(cx.env), &out);
        }
        cx.stats.counters.messages_sent += 1;
        if let Some(step) = cx.stats.steps.get_mut(i) {
            step.messages += 1;
        }
        // Retransmit on unreliable transports only, and never an ACK (RFC 3261 §17.1.1.2).
        let retrans_ms = s
            .retrans_ms
            .filter(|_| cx.env.transport.is_udp() && cx.env.retrans.enabled && !is_ack);
        match retrans_ms {
            Some(ms) if ms > 0 => {
                let invite_request = method == Some(b"INVITE");
                let invite_txn = invite_request
                    || (status.is_some()
                        && self
                            .last_request
                            .as_ref()
                            .is_some_and(|(_, m, _)| m.as_bytes() == b"INVITE"));
                self.last_sent.clear();
                self.last_sent.extend_from_slice(&out);
                self.retrans = Some(Retrans {
                    next_at: now + Duration::from_millis(ms),
                    interval: Duration::from_millis(ms),
                    count: 0,
                    max: if invite_txn {
                        cx.env.retrans.max_invite_retrans
                    } else {
                        cx.env.retrans.max_non_invite_retrans
                    },
                    capped: !invite_request,
                    step: i,
                });
            }
            _ => {
                if self.retrans.is_some_and(|r| r.step != i) && method.is_some() {
                    // A new request ends the previous transaction's retransmissions.
                    self.retrans = None;
                }
            }
        }
        *cx.scratch = out;
        Ok(())
    }

    /// The first `recv` from `pc` on (skipping optional ones) that `msg` matches, or an
    /// `optional="global"` recv anywhere.
    fn find_recv(&self, msg: &SipMessage<'_>, cx: &ShardCx<'_>) -> Option<usize> {
        let commands = &cx.scenario.commands;
        let mut i = self.pc;
        let global = cx.plan.has_global_recv;
        while let Some(cmd) = commands.get(i) {
            match &cmd.kind {
                CommandKind::Label(_) => {}
                CommandKind::Recv(r) => {
                    if self.matches(r, msg) {
                        return Some(i);
                    }
                    if r.optional == Optional::No {
                        break;
                    }
                }
                _ => break,
            }
            i += 1;
        }
        if !global {
            return None;
        }
        commands
            .iter()
            .enumerate()
            .find_map(|(j, c)| match &c.kind {
                CommandKind::Recv(r) if r.optional == Optional::Global && self.matches(r, msg) => {
                    Some(j)
                }
                _ => None,
            })
    }

    fn matches(&self, r: &Recv, msg: &SipMessage<'_>) -> bool {
        match &r.matcher {
            RecvMatch::Response(code) => {
                msg.status() == Some(*code) && self.response_method_ok(msg)
            }
            RecvMatch::Request(method) => msg.method() == Some(method.as_bytes()),
            RecvMatch::Regex { request, re } => {
                if *request {
                    msg.method()
                        .and_then(|m| std::str::from_utf8(m).ok())
                        .is_some_and(|m| re.is_match(m))
                } else {
                    msg.status().is_some_and(|s| re.is_match(&s.to_string()))
                        && self.response_method_ok(msg)
                }
            }
        }
    }

    /// A response belongs to our last request only if its CSeq names that method.
    fn response_method_ok(&self, msg: &SipMessage<'_>) -> bool {
        match &self.last_request_method {
            Some(m) => msg.cseq().method == m.as_bytes(),
            None => true,
        }
    }

    /// Takes `msg` at recv step `i`.
    fn accept(
        &mut self,
        now: Instant,
        i: usize,
        msg: &SipMessage<'_>,
        src: SocketAddr,
        cx: &mut ShardCx<'_>,
    ) -> Progress {
        let _ = src;
        if let Some(step) = cx.stats.steps.get_mut(i) {
            step.messages += 1;
        }
        // Any answer ends the retransmission of what we sent last (Timer A/E stop).
        self.retrans = None;
        if msg.is_request() {
            let cseq = msg.cseq();
            if msg.method() != Some(b"ACK") {
                self.last_request = Some((cseq.number, Token::new(cseq.method), i));
                if cseq.method == b"INVITE" {
                    self.invite_cseq = Some(cseq.number);
                }
            } else {
                self.last_ack_cseq = Some(cseq.number);
                // The ACK ends the INVITE server transaction: its response is not needed
                // to answer retransmissions any more (RFC 3261 §17.2.1).
                if self
                    .last_response
                    .as_ref()
                    .is_some_and(|r| r.cseq == cseq.number && r.method.as_bytes() == b"INVITE")
                {
                    self.last_response = None;
                }
            }
            if let Some(tag) = msg
                .header(HeaderName::From)
                .and_then(|f| sip::param(f, b"tag"))
            {
                Token::set(&mut self.peer_tag, tag);
            }
        } else {
            if let Some(tag) = msg
                .header(HeaderName::To)
                .and_then(|t| sip::param(t, b"tag"))
            {
                Token::set(&mut self.peer_tag, tag);
            }
            if msg.cseq().method == b"INVITE"
                && let Some(code) = msg.status()
                && code >= 200
            {
                self.invite = if code < 300 {
                    InviteState::Answered
                } else {
                    InviteState::Rejected
                };
            }
        }
        self.store_last_recv(msg);
        if let Some(Command {
            kind: CommandKind::Recv(r),
            ..
        }) = cx.scenario.commands.get(i)
            && r.rrs
        {
            self.record_routes(msg);
        }
        self.pc = i;
        self.state = State::Ready;
        self.wait_deadline = None;
        self.complete_step(now, i, cx)
    }

    fn store_last_recv(&mut self, msg: &SipMessage<'_>) {
        self.last_recv.clear();
        self.last_recv.extend_from_slice(msg.raw());
    }

    /// `rrs="true"`: the route set from Record-Route (reversed for responses, RFC 3261
    /// §12.1.2) and the remote target from Contact.
    fn record_routes(&mut self, msg: &SipMessage<'_>) {
        let mut routes: Vec<&[u8]> = Vec::new();
        for v in msg.header_values(b"Record-Route") {
            routes.extend(sip::split_comma_values(v));
        }
        if !msg.is_request() {
            routes.reverse();
        }
        if !routes.is_empty() {
            self.route_set = Some(routes.join(&b", "[..]).into());
        }
        if let Some(c) = msg.header(HeaderName::Contact) {
            self.next_url = Some(sip::uri_of(c).into());
        }
    }

    /// Recognises a retransmission from the peer and answers it as RFC 3261 says: a
    /// repeated request gets our last response again, a repeated 2xx to INVITE gets our
    /// ACK again. Returns true when `msg` was one.
    fn absorb_retransmission(&mut self, msg: &SipMessage<'_>, cx: &mut ShardCx<'_>) -> bool {
        if msg.is_request() {
            let cseq = msg.cseq();
            if msg.method() == Some(b"ACK") {
                let repeated = self.last_ack_cseq == Some(cseq.number)
                    || self.invite_cseq == Some(cseq.number);
                if repeated {
                    cx.stats.counters.absorbed_retransmissions += 1;
                }
                return repeated;
            }
            let Some((num, ref method, step)) = self.last_request else {
                return false;
            };
            if cseq.number != num || cseq.method != method.as_bytes() {
                return false;
            }
            if let Some(s) = cx.stats.steps.get_mut(step) {
                s.retrans += 1;
            }
            cx.stats.counters.absorbed_retransmissions += 1;
            if let Some(r) = &self.last_response
                && r.cseq == num
                && &r.method == method
            {
                cx.tx.push(self.wire_dest(cx.env), &r.bytes);
                cx.stats.counters.messages_sent += 1;
            }
            return true;
        }
        // A response matching an earlier recv step is a retransmission (or a late
        // provisional): re-ACK a 2xx to INVITE, otherwise absorb it.
        let cseq = msg.cseq();
        let earlier = cx
            .scenario
            .commands
            .iter()
            .take(self.pc)
            .rposition(|c| match &c.kind {
                CommandKind::Recv(r) => match &r.matcher {
                    RecvMatch::Response(code) => msg.status() == Some(*code),
                    RecvMatch::Regex { request: false, re } => {
                        msg.status().is_some_and(|s| re.is_match(&s.to_string()))
                    }
                    _ => false,
                },
                _ => false,
            });
        let Some(step) = earlier else { return false };
        if let Some(s) = cx.stats.steps.get_mut(step) {
            s.retrans += 1;
        }
        cx.stats.counters.absorbed_retransmissions += 1;
        let is_2xx_invite =
            msg.status().is_some_and(|s| (200..300).contains(&s)) && cseq.method == b"INVITE";
        if is_2xx_invite && !self.last_ack.is_empty() {
            cx.tx.push(self.wire_dest(cx.env), &self.last_ack);
            cx.stats.counters.messages_sent += 1;
        }
        true
    }

    /// Where this call's datagrams go: the peer, or the `-rsa` address when the peer is
    /// the run's remote host.
    fn wire_dest(&self, env: &Env) -> SocketAddr {
        match env.send_to {
            Some(to) if env.remote == Some(self.dest) => to,
            _ => self.dest,
        }
    }

    fn var<'v>(&'v self, id: crate::scenario::VarId, cx: &'v ShardCx<'_>) -> &'v vars::Value {
        if cx.scenario.globals.contains(&id) {
            cx.globals.get(id)
        } else {
            self.vars.get(id)
        }
    }

    fn set_var(&mut self, id: crate::scenario::VarId, v: vars::Value, cx: &mut ShardCx<'_>) {
        if cx.scenario.globals.contains(&id) {
            cx.globals.set(id, v);
        } else {
            self.vars.set(id, v);
        }
    }

    /// The role of the scenario this call runs (for `-aa` and default behaviours).
    pub fn role(cx: &ShardCx<'_>) -> Role {
        cx.scenario.role
    }
}

/// Whether a rendered message is a request (its method) or a response (its status).
fn start_line_kind(out: &[u8]) -> (Option<&[u8]>, Option<u16>) {
    let line_end = memchr::memchr(b'\n', out).unwrap_or(out.len());
    let line = out.get(..line_end).unwrap_or(&[]);
    if let Some(rest) = line.strip_prefix(b"SIP/2.0 ") {
        let code = rest
            .get(..3)
            .and_then(|c| std::str::from_utf8(c).ok())
            .and_then(|c| c.parse().ok());
        return (None, code);
    }
    let sp = memchr::memchr(b' ', line).unwrap_or(0);
    if sp == 0 {
        (None, None)
    } else {
        (line.get(..sp), None)
    }
}
