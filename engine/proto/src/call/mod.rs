//! One call: the scenario interpreter for one Call-ID, with its UDP retransmission timers.
//!
//! Owns: the program counter, variables, dialog state (peer tag, route set, last messages)
//! and deadlines, stored as `layout` lays them out (memory per held call is a budget).
//! Must not: read a clock, touch a socket, or look up another call.
//!
//! Drive (by the endpoint): inputs `start`, `handle_message` and `handle_timeout`, and
//! the command `abort`, each take `now` and return `Progress` (running, or finished with
//! its outcome); then `poll_timeout` says when `handle_timeout` has work next (calling it
//! early or twice is harmless). What a step sends, logs or asks of the media engine goes
//! into the endpoint's `Outbox` it borrows (`ShardCx::out`), which the endpoint hands
//! out through its own `poll_transmit` / `poll_event`: a call keeps no output queue of
//! its own, because memory per held call is a budget (`layout`) and a step's outputs leave
//! the endpoint in the same turn.
//!
//! The call's parts: `dialog` (matching a message to a `recv`, and the dialog state taking
//! it records), `txn` (sending a step, its retransmission timers, the peer's
//! retransmissions, abort requests), `actions`, `render` (templates into bytes), `layout`
//! (the memory layout), `context` and `outbox` (what it borrows and where its outputs go).
//!
//! Matching follows SIPp (reference/sipp.md §6): a received message is compared with the
//! current `recv` and the optional ones after it; a message that matches an earlier step
//! is a retransmission. Unlike SIPp, a retransmitted request is recognised however many
//! messages we sent since (RFC 3261 §17.2: the server transaction re-sends its last
//! response), so a lost 180+200 pair does not turn into a failed call.

mod abort;
pub mod actions;
pub mod context;
mod dialog;
pub mod digest;
pub mod inject;
mod layout;
pub mod outbox;
pub mod plan;
mod render;
mod token;
mod txn;
pub mod vars;

#[cfg(test)]
mod tests;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

pub use context::{Env, Run, ShardCx, ShardState};
pub use outbox::{Outbox, ShardEvent, Transmit, TxQueue};

use crate::scenario::{Command, CommandKind, Optional, PauseDuration, RecvMatch, Role};
use crate::sip::SipMessage;
use crate::stats::FailureReason;
use actions::ActionOutcome;
pub use layout::KeptPool;
use layout::{CSeqNo, CallTime, Kept, Peer, Rare, SentAck};
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

/// Our INVITE's progress (client side).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum InviteState {
    None,
    /// Sent, no final response yet: an abort sends CANCEL (the INVITE stays in
    /// `Kept::last_sent` until then).
    Pending,
    /// Answered with a 2xx: an abort sends BYE (built from our ACK).
    Answered,
    /// Answered with a failure: nothing to clean up.
    Rejected,
}

/// One call's state: what every call reads while it waits (`size_of::<Call>()` is
/// pinned by a test); message copies and rarely used state are boxed (`layout`).
#[derive(Debug)]
pub struct Call {
    number: u64,
    call_id: Token<30>,
    pc: usize,
    state: State,
    started_at: Instant,
    /// The peer (`-rsa` aside, where datagrams go).
    dest: Peer,
    /// `[cseq]`: the CSeq of the last request we sent (incremented before each non-ACK).
    cseq: u32,
    /// Method of the last non-ACK request we sent: responses must carry it in CSeq.
    last_request_method: Option<Token>,
    /// The last ACK we sent, re-sent when the 2xx is retransmitted.
    ack: SentAck,
    /// The last request received (CSeq number, method) and the step that took it.
    last_request: Option<(u32, Token, u32)>,
    /// CSeq number of the last ACK taken: a repeated ACK (one per 2xx retransmission,
    /// RFC 3261 §13.2.2.4) is absorbed, not unexpected.
    last_ack_cseq: CSeqNo,
    /// CSeq number of the INVITE we took: its ACK may arrive late (after a BYE that
    /// overtook it) and is then absorbed too.
    invite_cseq: CSeqNo,
    /// Where our own INVITE stands, for SIPp's abort behaviour (CANCEL or BYE).
    invite: InviteState,
    peer_tag: Option<Token>,
    /// Start of response-time timer 1 (the others are in `Rare::rtd_more`).
    rtd0: CallTime,
    /// The end of a pause, or the recv timeout.
    wait_deadline: CallTime,
    /// Message copies (last received, last sent and its retransmission timer, last
    /// response); `None` while the call waits without needing any.
    kept: Option<Box<Kept>>,
    /// Variables, route set, `-users` and `-t un` state, more rtd timers, an ACK that
    /// cannot be rendered again; `None` for calls that use none of them.
    rare: Option<Box<Rare>>,
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
        // Every response-time timer starts with the call.
        let rtds = sc.rtd_names.len();
        let rare = (user_id != 0 || !sc.variables.is_empty() || rtds > 1).then(|| {
            Box::new(Rare {
                user_id,
                vars: Vars::new(sc.variables.len()),
                rtd_more: vec![CallTime::START; rtds.saturating_sub(1)],
                ..Rare::default()
            })
        });
        Call {
            number,
            call_id: Token::new(call_id),
            pc: 0,
            state: State::Ready,
            started_at: now,
            dest: Peer::new(dest),
            cseq: env.base_cseq.wrapping_sub(1),
            last_request_method: None,
            ack: SentAck::NONE,
            last_request: None,
            last_ack_cseq: CSeqNo::NONE,
            invite_cseq: CSeqNo::NONE,
            invite: InviteState::None,
            peer_tag: None,
            rtd0: if rtds > 0 {
                CallTime::START
            } else {
                CallTime::NONE
            },
            wait_deadline: CallTime::NONE,
            kept: None,
            rare,
        }
    }

    /// Gives the call its own local port (`-t un`), before `start`.
    pub fn set_local_port(&mut self, port: u16) {
        self.rare_mut().local_port = Some(port);
    }

    /// Gives the call its own source address (`-t ui`) and that socket's index, before
    /// `start`.
    pub fn set_source_ip(&mut self, ip: std::net::IpAddr, index: u32) {
        self.rare_mut().source_ip = Some((ip, index));
    }

    /// The call's own source address and its socket's index (`-t ui`).
    pub fn source_ip(&self) -> Option<(std::net::IpAddr, u32)> {
        self.rare.as_ref().and_then(|r| r.source_ip)
    }

    /// The call's own local port, when it has one (`-t un`).
    pub fn local_port(&self) -> Option<u16> {
        self.rare.as_ref().and_then(|r| r.local_port)
    }

    pub fn number(&self) -> u64 {
        self.number
    }

    /// The index of the scenario element the call is at (where it failed, once failed).
    pub fn position(&self) -> usize {
        self.pc
    }

    pub fn user_id(&self) -> u64 {
        self.rare.as_ref().map_or(0, |r| r.user_id)
    }

    pub fn call_id(&self) -> &[u8] {
        self.call_id.as_bytes()
    }

    pub fn started_at(&self) -> Instant {
        self.started_at
    }

    /// The peer the call talks to (for a server call, the one that sent its first
    /// request: on a stream transport, the connection it came on).
    pub fn peer(&self) -> SocketAddr {
        self.dest()
    }

    /// True while the call only waits out its final `<timewait>`: the peer expects
    /// nothing more from it, so losing the connection does not fail it.
    pub fn in_timewait(&self, sc: &crate::scenario::Scenario) -> bool {
        self.state == State::Pausing
            && matches!(
                sc.commands.get(self.pc).map(|c| &c.kind),
                Some(CommandKind::Pause(p)) if p.timewait
            )
    }

    /// True while the call waits at a `<recvCmd>` (a lost twin connection fails it).
    pub fn waits_for_command(&self, sc: &crate::scenario::Scenario) -> bool {
        self.state == State::Waiting
            && matches!(
                sc.commands.get(self.pc).map(|c| &c.kind),
                Some(CommandKind::RecvCmd(_))
            )
    }

    /// True when the call's next deadline only ends its final `<timewait>` (no
    /// retransmission pending): nothing is sent then and nobody waits for it, so the
    /// shard may run it a little late, together with others (`CallTable::set_timer`).
    pub fn deadline_is_lazy(&self, sc: &crate::scenario::Scenario) -> bool {
        self.retrans().is_none() && self.in_timewait(sc)
    }

    /// The earliest instant at which `handle_timeout` has work to do.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.state == State::Finished {
            return None;
        }
        let r = self.retrans().map(|r| r.next_at);
        match (r, self.wait_deadline()) {
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
        cx.shard.stats.counters.messages_received += 1;
        if let Some(i) = self.find_recv(msg, cx) {
            return self.accept(now, i, msg, src, cx);
        }
        if self.absorb_retransmission(now, msg, cx) {
            return Progress::Running;
        }
        // Unexpected. A final answer to our INVITE still decides how an abort cleans up.
        self.note_invite_answer(msg);
        if let Some(step) = cx.shard.stats.steps.get_mut(self.pc) {
            step.unexpected += 1;
        }
        if let Some(target) = cx.run.scenario.unexp_main {
            // `msg` becomes the last message received (`cx.current`).
            self.pc = target;
            self.state = State::Ready;
            self.wait_deadline = CallTime::NONE;
            return self.run(now, cx);
        }
        if cx.run.env.behaviors.abort_unexp {
            // SIPp resets the twin's side of a call past its first step, in its own
            // words: it looks for the lower-case `internal-cmd:` only.
            if cx.run.env.twin_abort && self.pc > 0 {
                let mut text = b"call-id: ".to_vec();
                text.extend_from_slice(self.call_id());
                text.extend_from_slice(b"\r\ninternal-cmd: abort_call\r\n\r\n");
                cx.out
                    .twin
                    .push_back(crate::twin::TwinCommand::new(None, self.call_id(), &text));
            }
            cx.out.events.push_back(ShardEvent::Error(format!(
                "Aborting call on unexpected message for Call-Id '{}': while expecting step {}, received '{}'",
                String::from_utf8_lossy(self.call_id()),
                self.pc,
                String::from_utf8_lossy(msg.first_line())
            )));
            self.ack_unexpected_failure(msg, cx);
            return self.finish(now, Outcome::Failed(FailureReason::UnexpectedMessage), cx);
        }
        Progress::Running
    }

    /// A 3PCC command for this call arrived from a twin (`cx.command`): it completes the
    /// `<recvCmd>` the call waits at (optional `recv`s before it may be skipped, as in
    /// SIPp). A command the call does not expect there, or from the wrong twin
    /// (`src=`), fails the call; `Internal-Cmd: abort_call` aborts it.
    pub fn handle_command(&mut self, now: Instant, cx: &mut ShardCx<'_>) -> Progress {
        if self.state == State::Finished {
            return Progress::Finished(Outcome::Success);
        }
        let Some(cmd) = cx.command else {
            return Progress::Running;
        };
        if cmd.is_abort() {
            return self.finish(now, Outcome::Failed(FailureReason::Aborted), cx);
        }
        let commands = &cx.run.scenario.commands;
        let mut found = None;
        for (i, c) in commands.iter().enumerate().skip(self.pc) {
            match &c.kind {
                CommandKind::Label(_) => {}
                CommandKind::Recv(r) if r.optional != crate::scenario::Optional::No => {}
                CommandKind::RecvCmd(r) => {
                    if let Some(src) = &r.src
                        && cmd.from() != Some(src.as_bytes())
                    {
                        cx.out.events.push_back(ShardEvent::Error(format!(
                            "Unexpected sender for the 3PCC command of Call-ID '{}' at step {i}: expected From: {src}, got {}",
                            String::from_utf8_lossy(self.call_id()),
                            cmd.from().map_or("nothing".into(), String::from_utf8_lossy)
                        )));
                        return self.finish(
                            now,
                            Outcome::Failed(FailureReason::UnexpectedMessage),
                            cx,
                        );
                    }
                    found = Some(i);
                    break;
                }
                _ => break,
            }
        }
        let Some(i) = found else {
            if let Some(step) = cx.shard.stats.steps.get_mut(self.pc) {
                step.unexpected += 1;
            }
            cx.out.events.push_back(ShardEvent::Error(format!(
                "Aborting call on unexpected 3PCC command for Call-ID '{}': step {} is not a <recvCmd>",
                String::from_utf8_lossy(self.call_id()),
                self.pc
            )));
            return self.finish(now, Outcome::Failed(FailureReason::UnexpectedMessage), cx);
        };
        if let Some(step) = cx.shard.stats.steps.get_mut(i) {
            step.messages += 1;
        }
        self.wait_deadline = CallTime::NONE;
        self.complete_step(now, i, cx)
    }

    /// Fires whatever is due at `now`: retransmissions, pause ends, recv timeouts.
    pub fn handle_timeout(&mut self, now: Instant, cx: &mut ShardCx<'_>) -> Progress {
        if self.state == State::Finished {
            return Progress::Finished(Outcome::Success);
        }
        if let Some(done) = self.retransmit(now, cx) {
            return done;
        }
        if let Some(d) = self.wait_deadline()
            && d <= now
        {
            self.wait_deadline = CallTime::NONE;
            match self.state {
                State::Pausing => {
                    let i = self.pc;
                    if let Some(step) = cx.shard.stats.steps.get_mut(i) {
                        step.messages += 1;
                    }
                    return self.complete_step(now, i, cx);
                }
                State::Waiting => {
                    if let Some(step) = cx.shard.stats.steps.get_mut(self.pc) {
                        step.timeouts += 1;
                    }
                    cx.shard.stats.counters.timeouts += 1;
                    let ontimeout = cx
                        .run
                        .scenario
                        .commands
                        .get(self.pc)
                        .and_then(|c| c.common.ontimeout);
                    if let Some(target) = ontimeout {
                        self.pc = target;
                        self.state = State::Ready;
                        return self.run(now, cx);
                    }
                    cx.out.events.push_back(ShardEvent::Error(format!(
                        "Aborting call on receive timeout for Call-ID '{}' at step {}",
                        String::from_utf8_lossy(self.call_id()),
                        self.pc
                    )));
                    return self.finish(now, Outcome::Failed(FailureReason::TimeoutOnRecv), cx);
                }
                _ => {}
            }
        }
        Progress::Running
    }

    /// Ends the call now because the run stops (hard quit: SIGINT, SIGTERM, `Q`, a
    /// second `q`): SIPp's abort, with its default behaviours (a BYE after a 2xx, a
    /// CANCEL while the INVITE is unanswered, unless `-nd`). The call counts as aborted.
    pub fn abort(&mut self, now: Instant, cx: &mut ShardCx<'_>) -> Progress {
        self.finish(now, Outcome::Failed(FailureReason::Aborted), cx)
    }

    /// Ends the call now as failed for a reason outside its scenario (its WebRTC bridge
    /// failed), with the same default behaviours as [`Call::abort`].
    pub fn fail(&mut self, now: Instant, reason: FailureReason, cx: &mut ShardCx<'_>) -> Progress {
        self.finish(now, Outcome::Failed(reason), cx)
    }

    /// Runs commands from `pc` until the call waits or ends.
    fn run(&mut self, now: Instant, cx: &mut ShardCx<'_>) -> Progress {
        let commands = &cx.run.scenario.commands;
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
                    if let Some(step) = cx.shard.stats.steps.get_mut(i) {
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
                    self.wait_deadline =
                        CallTime::at(now + Duration::from_millis(ms), self.started_at);
                    self.compact(cx);
                    return Progress::Running;
                }
                CommandKind::Recv(r) => {
                    self.state = State::Waiting;
                    let mut timeout = r.timeout_ms.or(cx.run.env.recv_timeout_ms);
                    if let (Some(t), Some(min)) = (timeout.as_mut(), cx.run.env.recv_bye_min_ms)
                        && r.optional == Optional::No
                        && matches!(&r.matcher, RecvMatch::Request(m) if m.eq_ignore_ascii_case("BYE"))
                    {
                        *t = (*t).max(min);
                    }
                    self.wait_deadline = match timeout {
                        Some(ms) => CallTime::at(now + Duration::from_millis(ms), self.started_at),
                        None => CallTime::NONE,
                    };
                    self.compact(cx);
                    return Progress::Running;
                }
                CommandKind::SendCmd(c) => {
                    let i = self.pc;
                    let mut text = Vec::new();
                    render::render(self, &c.template, i, now, cx, &mut text);
                    cx.out.twin.push_back(crate::twin::TwinCommand::new(
                        c.dest.clone(),
                        self.call_id(),
                        &text,
                    ));
                    if let Some(step) = cx.shard.stats.steps.get_mut(i) {
                        step.messages += 1;
                    }
                    if let Progress::Finished(o) = self.complete_step(now, i, cx) {
                        return Progress::Finished(o);
                    }
                    if self.state != State::Ready {
                        return Progress::Running;
                    }
                }
                CommandKind::RecvCmd(_) => {
                    // Waits like a `recv` (`-recv_timeout` applies), for `handle_command`.
                    self.state = State::Waiting;
                    self.wait_deadline = match cx.run.env.recv_timeout_ms {
                        Some(ms) => CallTime::at(now + Duration::from_millis(ms), self.started_at),
                        None => CallTime::NONE,
                    };
                    self.compact(cx);
                    return Progress::Running;
                }
            }
        }
        cx.out.events.push_back(ShardEvent::Error(
            "scenario loops without waiting; call aborted".into(),
        ));
        self.finish(now, Outcome::Failed(FailureReason::ScenarioError), cx)
    }

    /// The call is about to wait: keeps the message it ran on if a later step reads it,
    /// and lets go of what no later step will read (memory per idle call is a budget: a
    /// load test holds 100,000 of them).
    fn compact(&mut self, cx: &mut ShardCx<'_>) {
        if cx.run.plan.keep_last_recv(self.pc) {
            if let Some(m) = cx.current {
                let k = self.kept_mut(&mut cx.shard.kept);
                k.last_recv.clear();
                k.last_recv.extend_from_slice(m.raw());
            }
        } else if let Some(k) = self.kept.as_mut() {
            k.last_recv.clear();
        }
        // The INVITE is kept while it is unanswered: a CANCEL, or the ACK of a failure
        // no step expected, is derived from it.
        let b = cx.run.env.behaviors;
        let cancel_may_need_it = self.invite == InviteState::Pending && (b.cancel || b.bye);
        if let Some(k) = self.kept.as_mut() {
            if k.retrans.is_none() && !cancel_may_need_it {
                k.last_sent.clear();
            }
            if k.is_empty() {
                if let Some(k) = self.kept.take() {
                    cx.shard.kept.put(k);
                }
            } else if self.state == State::Pausing {
                // A pause may be long (call hold): no spare capacity while it lasts.
                k.shrink();
            }
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
            PauseDuration::Default => cx.run.env.default_pause_ms,
            PauseDuration::Fixed(ms) => *ms,
            PauseDuration::Variable(v) => self.var(*v, cx).as_f64().max(0.0) as u64,
            PauseDuration::Distribution(dist) => {
                actions::sample(dist, &mut cx.shard.rng).max(0.0) as u64
            }
        }
    }

    /// After step `i` completed: rtd timers, counter, actions, then `next` or `pc + 1`.
    fn complete_step(&mut self, now: Instant, i: usize, cx: &mut ShardCx<'_>) -> Progress {
        let Some(cmd) = cx.run.scenario.commands.get(i) else {
            return self.finish(now, Outcome::Success, cx);
        };
        let common = &cmd.common;
        for id in &common.rtd {
            let slot = id.0 as usize;
            if let Some(start) = self.rtd_start(slot) {
                let us = now.saturating_duration_since(start).as_micros() as u64;
                if let Some(t) = cx.shard.stats.rtd.get_mut(slot) {
                    t.record(us);
                }
                if cx.run.env.trace_rtt {
                    cx.out.events.push_back(ShardEvent::Rtt { rtd: id.0, us });
                }
                if !common.repeat_rtd {
                    self.set_rtd_start(slot, CallTime::NONE, cx);
                }
            }
        }
        for id in &common.start_rtd {
            let start = CallTime::at(now, self.started_at);
            self.set_rtd_start(id.0 as usize, start, cx);
        }
        if let Some(c) = common.counter
            && let Some(v) = cx.shard.stats.generic_counters.get_mut(c.0 as usize)
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
        self.wait_deadline = CallTime::NONE;
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
            Some(p) => cx.shard.rng.next_f64() < p,
            None => true,
        }
    }

    fn finish(&mut self, now: Instant, outcome: Outcome, cx: &mut ShardCx<'_>) -> Progress {
        if matches!(outcome, Outcome::Failed(_)) {
            self.send_abort_request(now, cx);
        }
        self.state = State::Finished;
        self.stop_retrans();
        self.wait_deadline = CallTime::NONE;
        // Nothing reads the copies of an ended call: the next calls reuse the buffers.
        if let Some(k) = self.kept.take() {
            cx.shard.kept.put(k);
        }
        Progress::Finished(outcome)
    }

    /// Where this call's datagrams go: the peer, or the `-rsa` address when the peer is
    /// the run's remote host.
    fn wire_dest(&self, env: &Env) -> SocketAddr {
        match env.send_to {
            Some(to) if env.remote == Some(self.dest()) => to,
            _ => self.dest(),
        }
    }

    fn var<'v>(&'v self, id: crate::scenario::VarId, cx: &'v ShardCx<'_>) -> &'v vars::Value {
        static NO_VARS: Vars = Vars::empty();
        if cx.run.scenario.globals.contains(&id) {
            cx.shard.globals.get(id)
        } else {
            self.rare.as_ref().map_or(&NO_VARS, |r| &r.vars).get(id)
        }
    }

    fn set_var(&mut self, id: crate::scenario::VarId, v: vars::Value, cx: &mut ShardCx<'_>) {
        if cx.run.scenario.globals.contains(&id) {
            cx.shard.globals.set(id, v);
        } else if let Some(r) = self.rare.as_mut() {
            // No `Rare`: the scenario has no variables to set.
            r.vars.set(id, v);
        }
    }

    /// The role of the scenario this call runs (for `-aa` and default behaviours).
    pub fn role(cx: &ShardCx<'_>) -> Role {
        cx.run.scenario.role
    }
}
