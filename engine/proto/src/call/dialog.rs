//! Dialog state and message matching of one call: which `recv` step a message matches
//! (the current one, the optional ones after it, an `optional="global"` one; a response
//! only when its CSeq names our last request), and what taking it records: the peer's
//! tag, the INVITE's fate, the transaction it ends, the route set (RFC 3261 §12.1.2).
//!
//! Owns: nothing of its own; `Call` methods. Must not: read a clock or touch a socket.

use std::net::SocketAddr;
use std::time::Instant;

use super::layout::{CSeqNo, CallTime};
use super::token::Token;
use super::{Call, InviteState, Progress, ShardCx, State};
use crate::scenario::{Command, CommandKind, Optional, Recv, RecvMatch};
use crate::sip::{self, HeaderName, SipMessage};

impl Call {
    /// A final response to our INVITE decides how an abort cleans up (BYE after a 2xx,
    /// nothing after a failure), whether a step took it or not.
    pub(super) fn note_invite_answer(&mut self, msg: &SipMessage<'_>) {
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
    }

    /// The first `recv` from `pc` on (skipping optional ones) that `msg` matches, or an
    /// `optional="global"` recv anywhere.
    pub(super) fn find_recv(&self, msg: &SipMessage<'_>, cx: &ShardCx<'_>) -> Option<usize> {
        let commands = &cx.run.scenario.commands;
        let mut i = self.pc;
        let global = cx.run.plan.has_global_recv;
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

    pub(super) fn matches(&self, r: &Recv, msg: &SipMessage<'_>) -> bool {
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

    /// A response belongs to our last request only if its CSeq names that method, or to
    /// our INVITE while it still waits for its final answer (a PRACK or UPDATE sent
    /// during the INVITE transaction: SIPp's pfca_* scenarios take the 200 to the PRACK,
    /// then the 200 to the INVITE). A 2xx to the INVITE once answered stays a
    /// retransmission.
    pub(super) fn response_method_ok(&self, msg: &SipMessage<'_>) -> bool {
        let method = msg.cseq().method;
        match &self.last_request_method {
            Some(m) => {
                method == m.as_bytes()
                    || (method == b"INVITE" && self.invite == InviteState::Pending)
            }
            None => true,
        }
    }

    /// Takes `msg` at recv step `i`.
    pub(super) fn accept(
        &mut self,
        now: Instant,
        i: usize,
        msg: &SipMessage<'_>,
        src: SocketAddr,
        cx: &mut ShardCx<'_>,
    ) -> Progress {
        let _ = src;
        if let Some(step) = cx.shard.stats.steps.get_mut(i) {
            step.messages += 1;
        }
        // Any answer ends the retransmission of what we sent last (Timer A/E stop).
        self.stop_retrans();
        if msg.is_request() {
            let cseq = msg.cseq();
            if msg.method() != Some(b"ACK") {
                let step = u32::try_from(i).unwrap_or(u32::MAX);
                self.last_request = Some((cseq.number, Token::new(cseq.method), step));
                if cseq.method == b"INVITE" {
                    self.invite_cseq = CSeqNo::new(cseq.number);
                }
            } else {
                self.last_ack_cseq = CSeqNo::new(cseq.number);
                // The ACK ends the INVITE server transaction: its response is not needed
                // to answer retransmissions any more (RFC 3261 §17.2.1).
                if let Some(k) = self.kept.as_mut()
                    && k.response_to
                        .as_ref()
                        .is_some_and(|(n, m)| *n == cseq.number && m.as_bytes() == b"INVITE")
                {
                    k.response_to = None;
                    k.response.clear();
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
            self.note_invite_answer(msg);
        }
        if let Some(Command {
            kind: CommandKind::Recv(r),
            ..
        }) = cx.run.scenario.commands.get(i)
            && r.rrs
        {
            self.record_routes(msg);
        }
        self.pc = i;
        self.state = State::Ready;
        self.wait_deadline = CallTime::NONE;
        self.complete_step(now, i, cx)
    }

    /// `rrs="true"`: the route set from Record-Route (reversed for responses, RFC 3261
    /// §12.1.2) and the remote target from Contact.
    pub(super) fn record_routes(&mut self, msg: &SipMessage<'_>) {
        let mut routes: Vec<&[u8]> = Vec::new();
        for v in msg.header_values(b"Record-Route") {
            routes.extend(sip::split_comma_values(v));
        }
        if !msg.is_request() {
            routes.reverse();
        }
        if !routes.is_empty() {
            self.rare_mut().route_set = Some(routes.join(&b", "[..]).into());
        }
        if let Some(c) = msg.header(HeaderName::Contact) {
            self.rare_mut().next_url = Some(sip::uri_of(c).into());
        }
    }
}
