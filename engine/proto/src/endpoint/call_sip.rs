//! What each call's SIP looked like, for the calls catalogue of `gossipper server`: the
//! From and To of its first message, and how many messages it sent and received. Noted
//! at every call step, so the catalogue's rows are complete at any rate (the live trace's
//! capture keeps only so many messages per publish).
//!
//! Owns: [`Notes`], one slot per call-table slot, and [`CallSip`], what a finished call
//! carries out, with the debug line of a failed call (why, at which scenario element,
//! on which message: `failure`). Only kept while [`super::Endpoint::collect_call_sip`] is
//! on (the server's catalogue); a run without it pays one branch per step and nothing per
//! call (the `Call` struct does not grow). With it, a call costs a note per step, one
//! //! buffer for its From and To (moved out with it) and its `Box<CallSip>`. Must not: parse
//! more than the first message of a call.

use std::net::SocketAddr;

use super::table::CallHandle;
use crate::call::Outcome;
use crate::scenario::{CommandKind, RecvMatch, Scenario};
use crate::sip::{HeaderName, SipMessage};
use crate::stats::FailureReason;

/// A finished call's SIP, as the catalogue shows it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CallSip {
    /// The first message's From and To header values, one after the other (`from()`,
    /// `to()`; empty when it had none): the note's own buffer, moved out, not copied.
    from_to: Vec<u8>,
    from_len: usize,
    /// The peer the call talked to.
    pub peer: Option<SocketAddr>,
    /// SIP messages the call sent (retransmissions included) and received (its
    /// retransmissions included).
    pub sent: u32,
    pub received: u32,
    /// Why the call failed, where in the scenario and on which message (failed calls
    /// only): the live trace's debug record of the call.
    pub failure: Option<String>,
}

impl CallSip {
    /// A call's SIP with these From and To values (the other fields zero).
    pub fn with_fields(from: &str, to: &str) -> CallSip {
        CallSip {
            from_to: [from.as_bytes(), to.as_bytes()].concat(),
            from_len: from.len(),
            ..CallSip::default()
        }
    }

    /// The first message's From header value.
    pub fn from(&self) -> &[u8] {
        self.from_to.get(..self.from_len).unwrap_or_default()
    }

    /// The first message's To header value.
    pub fn to(&self) -> &[u8] {
        self.from_to.get(self.from_len..).unwrap_or_default()
    }
}

/// One call-table slot's note: the call of `generation` in that slot.
#[derive(Default)]
struct Note {
    generation: u32,
    live: bool,
    /// From and To taken (from the call's first message).
    fields: bool,
    /// From then To (a slot whose buffer went out with its last call gets a new one at
    /// its next call's first message: one allocation per call).
    from_to: Vec<u8>,
    from_len: usize,
    sent: u32,
    received: u32,
    /// Set by `failed` (one per call: allocated only when a call fails).
    failure: Option<String>,
}

/// The notes of the live calls, indexed like the call table's slots.
#[derive(Default)]
pub(super) struct Notes {
    slots: Vec<Note>,
}

impl Notes {
    /// Notes one step of call `h`: `received` is the message it was handed (if any),
    /// `sent` the messages it queued (the first one's bytes in `first_sent`).
    pub(super) fn step(
        &mut self,
        h: CallHandle,
        received: Option<&SipMessage<'_>>,
        sent: usize,
        first_sent: Option<&[u8]>,
    ) {
        let i = h.index as usize;
        if self.slots.len() <= i {
            self.slots.resize_with(i + 1, Note::default);
        }
        let n = &mut self.slots[i];
        if !n.live || n.generation != h.generation {
            n.generation = h.generation;
            n.live = true;
            n.fields = false;
            n.from_to.clear();
            n.from_len = 0;
            n.sent = 0;
            n.received = 0;
            n.failure = None;
        }
        n.sent = n.sent.saturating_add(sent as u32);
        if received.is_some() {
            n.received = n.received.saturating_add(1);
        }
        if n.fields {
            return;
        }
        // The call's first message: the one it received, else the first it sent.
        let parsed;
        let first = match (received, first_sent) {
            (Some(m), _) => m,
            (None, Some(bytes)) => match SipMessage::parse(bytes) {
                Ok(m) => {
                    parsed = m;
                    &parsed
                }
                Err(_) => return,
            },
            (None, None) => return,
        };
        n.fields = true;
        let from = first.header(HeaderName::From).unwrap_or_default();
        let to = first.header(HeaderName::To).unwrap_or_default();
        n.from_to.reserve_exact(from.len() + to.len());
        n.from_to.extend_from_slice(from);
        n.from_to.extend_from_slice(to);
        n.from_len = from.len();
    }

    /// Notes why call `h` failed in the step just noted: `reason`, at element `pc` of
    /// `sc`, on `received` (the message that step was handed, if any).
    pub(super) fn failed(
        &mut self,
        h: CallHandle,
        reason: FailureReason,
        sc: &Scenario,
        pc: usize,
        received: Option<&SipMessage<'_>>,
    ) {
        let Some(n) = self.slots.get_mut(h.index as usize) else {
            return;
        };
        if !n.live || n.generation != h.generation {
            return;
        }
        let mut line = format!("call failed: {reason:?}");
        if let Some(c) = sc.commands.get(pc) {
            line += &format!(
                " at element {pc} ({}, line {})",
                element(&c.kind),
                c.pos.line
            );
        }
        if let Some(m) = received {
            let first = String::from_utf8_lossy(m.first_line());
            line += &format!(", on \"{}\"", first.chars().take(120).collect::<String>());
        }
        n.failure = Some(line);
    }

    /// What call `h` did, as it ends with `outcome` (its note is freed). A failure no step
    /// explained (a lost connection, a failed RTP check) gets a line of its own.
    pub(super) fn take(&mut self, h: CallHandle, peer: SocketAddr, outcome: Outcome) -> CallSip {
        let mut sip = CallSip {
            peer: Some(peer),
            ..CallSip::default()
        };
        if let Some(n) = self.slots.get_mut(h.index as usize)
            && n.live
            && n.generation == h.generation
        {
            n.live = false;
            sip.from_to = std::mem::take(&mut n.from_to);
            sip.from_len = n.from_len;
            sip.sent = n.sent;
            sip.received = n.received;
            sip.failure = n.failure.take();
        }
        if let Outcome::Failed(reason) = outcome {
            let why = format!("call failed: {reason:?}");
            // The outcome may differ from the step's (a failed RTP check fails a call
            // its scenario passed).
            if !sip.failure.as_deref().is_some_and(|f| f.starts_with(&why)) {
                sip.failure = Some(why);
            }
        } else {
            sip.failure = None;
        }
        sip
    }
}

/// A scenario element as its XML names it: `<recv response="180">`, `<send>`.
fn element(kind: &CommandKind) -> String {
    match kind {
        CommandKind::Send(_) => "<send>".into(),
        CommandKind::Recv(r) => match &r.matcher {
            RecvMatch::Response(code) => format!("<recv response=\"{code}\">"),
            RecvMatch::Request(m) => format!("<recv request=\"{m}\">"),
            RecvMatch::Regex { request: true, .. } => "<recv request=…>".into(),
            RecvMatch::Regex { request: false, .. } => "<recv response=…>".into(),
        },
        CommandKind::Pause(_) => "<pause>".into(),
        CommandKind::Nop => "<nop>".into(),
        CommandKind::Label(l) => format!("<label id=\"{l}\">"),
        other => {
            let name = format!("{other:?}");
            let name = name.split(['(', ' ', '{']).next().unwrap_or("").to_owned();
            format!("<{}>", name.to_lowercase())
        }
    }
}
