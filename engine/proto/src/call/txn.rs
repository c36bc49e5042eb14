//! Transactions (RFC 3261 §17) of one call: sending a step's message and arming its
//! retransmission (Timer A/E, G), re-sending it when due, recognising the peer's
//! retransmissions and answering them (the last response again, the ACK again), and
//! SIPp's abort requests (CANCEL, BYE).
//!
//! Owns: nothing of its own; `Call` methods over the copies `layout` keeps. Must not: read
//! a clock (`now` comes with every input) or touch a socket (messages go to the
//! endpoint's `Outbox`).

use std::time::{Duration, Instant};

use super::layout::{Retrans, SentAck};
use super::render;
use super::token::Token;
use super::{Call, InviteState, Outcome, Progress, ShardCx, ShardEvent, abort};
use crate::scenario::{Command, CommandKind, RecvMatch};
use crate::sip::{HeaderName, SipMessage};
use crate::stats::FailureReason;

impl Call {
    /// Timer A/E (and G for responses): re-sends the last message when its timer is
    /// due, doubling the interval (capped at T2 outside INVITE, RFC 3261 §17.1.2.2), and
    /// gives up after the scenario's retransmission limit. `Some` when the call ended.
    pub(super) fn retransmit(&mut self, now: Instant, cx: &mut ShardCx<'_>) -> Option<Progress> {
        if let Some(mut r) = self.retrans()
            && r.next_at <= now
        {
            if r.count >= r.max {
                self.stop_retrans();
                if let Some(step) = cx.shard.stats.steps.get_mut(r.step) {
                    step.timeouts += 1;
                }
                cx.shard.stats.counters.timeouts += 1;
                cx.out.events.push_back(ShardEvent::Error(format!(
                    "Aborting call on UDP retransmission timeout for Call-ID '{}'",
                    String::from_utf8_lossy(self.call_id())
                )));
                return Some(self.finish(now, Outcome::Failed(FailureReason::MaxUdpRetrans), cx));
            }
            r.count += 1;
            r.interval *= 2;
            if r.capped {
                r.interval = r
                    .interval
                    .min(Duration::from_millis(cx.run.env.retrans.t2_ms));
            }
            r.next_at = now + r.interval;
            if let Some(k) = self.kept.as_mut() {
                k.retrans = Some(r);
            }
            cx.out
                .tx
                .push(self.wire_dest(&cx.run.env), self.last_sent());
            cx.shard.stats.counters.retransmissions += 1;
            cx.shard.stats.counters.messages_sent += 1;
            if let Some(step) = cx.shard.stats.steps.get_mut(r.step) {
                step.retrans += 1;
            }
        }
        None
    }

    /// Renders and queues the `send` at step `i`, and arms its retransmission.
    pub(super) fn send(
        &mut self,
        now: Instant,
        i: usize,
        cx: &mut ShardCx<'_>,
    ) -> Result<(), FailureReason> {
        let Some(Command {
            kind: CommandKind::Send(s),
            common,
            ..
        }) = cx.run.scenario.commands.get(i)
        else {
            return Ok(());
        };
        let is_ack = s.method.as_deref() == Some("ACK");
        let is_request = s.method.is_some();
        if is_request && !is_ack {
            self.cseq = self.cseq.wrapping_add(1);
        }
        let mut out = std::mem::take(&mut cx.shard.scratch);
        out.clear();
        let plan = &cx.run.plan;
        render::render(
            self,
            plan.send_template(i, &s.template),
            i,
            now,
            cx,
            &mut out,
        );
        // The start line decides what was sent (a template may begin with a keyword).
        let (method, status) = start_line_kind(&out);
        if method == Some(b"INVITE") {
            self.invite = InviteState::Pending;
            if cx.run.env.behaviors.cancel {
                // Kept for a CANCEL until a final response (also the retransmission copy).
                let k = self.kept_mut(&mut cx.shard.kept);
                k.last_sent.clear();
                k.last_sent.extend_from_slice(&out);
            }
        }
        if let Some(m) = method {
            if m != b"ACK" {
                Token::set(&mut self.last_request_method, m);
            } else {
                self.ack = SentAck::new(i, self.cseq);
                if cx.run.plan.rerenders(i) {
                    if let Some(r) = self.rare.as_mut() {
                        r.ack = Vec::new();
                    }
                } else {
                    let ack = &mut self.rare_mut().ack;
                    ack.clear();
                    ack.extend_from_slice(&out);
                }
            }
        }
        if status.is_some()
            && let Some((num, ref m, _)) = self.last_request
        {
            let method = m.clone();
            let k = self.kept_mut(&mut cx.shard.kept);
            k.response_to = Some((num, method));
            k.response.clear();
            k.response.extend_from_slice(&out);
        }
        let dropped = common
            .lost_percent
            .is_some_and(|p| cx.shard.rng.next_f64() * 100.0 < p);
        if !dropped {
            cx.out.tx.push(self.wire_dest(&cx.run.env), &out);
        }
        cx.shard.stats.counters.messages_sent += 1;
        if let Some(step) = cx.shard.stats.steps.get_mut(i) {
            step.messages += 1;
        }
        // Retransmit on unreliable transports only, and never an ACK (RFC 3261 §17.1.1.2).
        let retrans_ms = s
            .retrans_ms
            .filter(|_| cx.run.env.transport.is_udp() && cx.run.env.retrans.enabled && !is_ack);
        match retrans_ms {
            Some(ms) if ms > 0 => {
                let invite_request = method == Some(b"INVITE");
                let invite_txn = invite_request
                    || (status.is_some()
                        && self
                            .last_request
                            .as_ref()
                            .is_some_and(|(_, m, _)| m.as_bytes() == b"INVITE"));
                let k = self.kept_mut(&mut cx.shard.kept);
                k.last_sent.clear();
                k.last_sent.extend_from_slice(&out);
                k.retrans = Some(Retrans {
                    next_at: now + Duration::from_millis(ms),
                    interval: Duration::from_millis(ms),
                    count: 0,
                    max: if invite_txn {
                        cx.run.env.retrans.max_invite_retrans
                    } else {
                        cx.run.env.retrans.max_non_invite_retrans
                    },
                    capped: !invite_request,
                    step: i,
                });
            }
            _ => {
                if self.retrans().is_some_and(|r| r.step != i) && method.is_some() {
                    // A new request ends the previous transaction's retransmissions.
                    self.stop_retrans();
                }
            }
        }
        cx.shard.scratch = out;
        Ok(())
    }

    /// Recognises a retransmission from the peer and answers it as RFC 3261 says: a
    /// repeated request gets our last response again, a repeated 2xx to INVITE gets our
    /// ACK again. Returns true when `msg` was one.
    pub(super) fn absorb_retransmission(
        &mut self,
        now: Instant,
        msg: &SipMessage<'_>,
        cx: &mut ShardCx<'_>,
    ) -> bool {
        if msg.is_request() {
            let cseq = msg.cseq();
            if msg.method() == Some(b"ACK") {
                let repeated =
                    self.last_ack_cseq.is(cseq.number) || self.invite_cseq.is(cseq.number);
                if repeated {
                    cx.shard.stats.counters.absorbed_retransmissions += 1;
                }
                return repeated;
            }
            let Some((num, ref method, step)) = self.last_request else {
                return false;
            };
            if cseq.number != num || cseq.method != method.as_bytes() {
                return false;
            }
            if let Some(s) = cx.shard.stats.steps.get_mut(step as usize) {
                s.retrans += 1;
            }
            cx.shard.stats.counters.absorbed_retransmissions += 1;
            if let Some(k) = self.kept.as_ref()
                && let Some((n, m)) = &k.response_to
                && *n == num
                && m == method
            {
                cx.out.tx.push(self.wire_dest(&cx.run.env), &k.response);
                cx.shard.stats.counters.messages_sent += 1;
            }
            return true;
        }
        // A response matching an earlier recv step is a retransmission (or a late
        // provisional): re-ACK a 2xx to INVITE, otherwise absorb it.
        let cseq = msg.cseq();
        let earlier = cx
            .run
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
        if let Some(s) = cx.shard.stats.steps.get_mut(step) {
            s.retrans += 1;
        }
        cx.shard.stats.counters.absorbed_retransmissions += 1;
        let is_2xx_invite =
            msg.status().is_some_and(|s| (200..300).contains(&s)) && cseq.method == b"INVITE";
        if is_2xx_invite {
            let mut out = std::mem::take(&mut cx.shard.scratch);
            out.clear();
            if self.render_ack(now, cx, &mut out) {
                cx.out.tx.push(self.wire_dest(&cx.run.env), &out);
                cx.shard.stats.counters.messages_sent += 1;
            }
            cx.shard.scratch = out;
        }
        true
    }

    /// SIPp's default behaviours when a client call is aborted: BYE after a 2xx, CANCEL
    /// while the INVITE is unanswered (`-default_behaviors`, off with `-nd`).
    pub(super) fn send_abort_request(&mut self, now: Instant, cx: &mut ShardCx<'_>) {
        let b = cx.run.env.behaviors;
        // Rare (a failed call): the ACK is rendered again into its own buffer.
        let mut ack = Vec::new();
        let have_ack = match self.invite {
            InviteState::Answered if b.bye => self.render_ack(now, cx, &mut ack),
            _ => false,
        };
        let (src, kind) = match self.invite {
            InviteState::Answered if have_ack => (
                &ack[..],
                abort::AbortRequest::Bye {
                    cseq: self.cseq.wrapping_add(1),
                },
            ),
            InviteState::Pending if b.cancel && !self.last_sent().is_empty() => {
                (self.last_sent(), abort::AbortRequest::Cancel)
            }
            _ => return,
        };
        let mut branch = Vec::with_capacity(40);
        branch.extend_from_slice(b"z9hG4bK-");
        render::push_num(&mut branch, i64::from(cx.run.env.pid));
        branch.push(b'-');
        render::push_num(&mut branch, self.number as i64);
        branch.extend_from_slice(b"-abort");
        let mut out = std::mem::take(&mut cx.shard.scratch);
        out.clear();
        if abort::derive(src, kind, &branch, &mut out) {
            cx.out.tx.push(self.wire_dest(&cx.run.env), &out);
            cx.shard.stats.counters.messages_sent += 1;
        }
        cx.shard.scratch = out;
        self.invite = InviteState::None;
    }

    /// An unexpected final failure (3xx-6xx) to our INVITE is ACKed before the call is
    /// aborted, as SIPp's abort does for 4xx and up and as the INVITE client transaction
    /// must (RFC 3261 §17.1.1.3): without it the peer retransmits the failure until its
    /// Timer H (32 s). The ACK is built from the INVITE (its Request-URI, top Via with
    /// the same branch, From, Call-ID, Route, CSeq number) with the response's To (its
    /// tag). On with `-default_behaviors` `bye` (off with `-nd`).
    pub(super) fn ack_unexpected_failure(&mut self, msg: &SipMessage<'_>, cx: &mut ShardCx<'_>) {
        if !cx.run.env.behaviors.bye
            || msg.is_request()
            || msg.cseq().method != b"INVITE"
            || !msg.status().is_some_and(|s| (300..700).contains(&s))
        {
            return;
        }
        let Some(to) = msg.header(HeaderName::To) else {
            return;
        };
        let mut out = std::mem::take(&mut cx.shard.scratch);
        out.clear();
        if abort::derive_ack(self.last_sent(), to, &mut out) {
            cx.out.tx.push(self.wire_dest(&cx.run.env), &out);
            cx.shard.stats.counters.messages_sent += 1;
        }
        cx.shard.scratch = out;
    }

    /// Appends the last ACK we sent to `out`: its kept bytes, or its step rendered
    /// again with the `[cseq]` it carried (`Plan::rerenders`). False when we sent none.
    pub(super) fn render_ack(
        &mut self,
        now: Instant,
        cx: &mut ShardCx<'_>,
        out: &mut Vec<u8>,
    ) -> bool {
        if let Some(r) = self.rare.as_ref()
            && !r.ack.is_empty()
        {
            out.extend_from_slice(&r.ack);
            return true;
        }
        let Some(i) = self.ack.step() else {
            return false;
        };
        let Some(Command {
            kind: CommandKind::Send(s),
            ..
        }) = cx.run.scenario.commands.get(i)
        else {
            return false;
        };
        let cseq = std::mem::replace(&mut self.cseq, self.ack.cseq);
        let plan = &cx.run.plan;
        render::render(self, plan.send_template(i, &s.template), i, now, cx, out);
        self.cseq = cseq;
        true
    }
}

/// Whether a rendered message is a request (its method) or a response (its status).
fn start_line_kind(out: &[u8]) -> (Option<&[u8]>, Option<u16>) {
    let line_end = memchr::memchr(b'\n', out).unwrap_or(out.len());
    let line = out.get(..line_end).unwrap_or(&[]);
    if let Some(rest) = line.strip_prefix(b"SIP/2.0 ") {
        let code = match rest.first_chunk::<3>() {
            // Three digits (every status line we render): no UTF-8 check, no `str::parse`.
            Some(&[a, b, c]) if [a, b, c].iter().all(u8::is_ascii_digit) => {
                Some(u16::from(a - b'0') * 100 + u16::from(b - b'0') * 10 + u16::from(c - b'0'))
            }
            _ => rest
                .get(..3)
                .and_then(|c| std::str::from_utf8(c).ok())
                .and_then(|c| c.parse().ok()),
        };
        return (None, code);
    }
    let sp = memchr::memchr(b' ', line).unwrap_or(0);
    if sp == 0 {
        (None, None)
    } else {
        (line.get(..sp), None)
    }
}
