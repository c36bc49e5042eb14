//! What each call's SIP looked like, for the calls catalogue of `gossipper server`: the
//! From and To of its first message, and how many messages it sent and received. Noted
//! at every call step, so the catalogue's rows are complete at any rate (the live trace's
//! capture keeps only so many messages per publish).
//!
//! Owns: [`Notes`], one slot per call-table slot, and [`CallSip`], what a finished call
//! carries out. Only kept while [`super::Endpoint::collect_call_sip`] is on (the server's
//! catalogue); a run without it pays one branch per step and nothing per call (the
//! `Call` struct does not grow). Must not: parse more than the first message of a call.

use std::net::SocketAddr;

use super::table::CallHandle;
use crate::sip::{HeaderName, SipMessage};

/// A finished call's SIP, as the catalogue shows it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CallSip {
    /// The first message's From and To header values (empty when it had none).
    pub from: String,
    pub to: String,
    /// The peer the call talked to.
    pub peer: Option<SocketAddr>,
    /// SIP messages the call sent (retransmissions included) and received (its
    /// retransmissions included).
    pub sent: u32,
    pub received: u32,
}

/// One call-table slot's note: the call of `generation` in that slot.
#[derive(Default)]
struct Note {
    generation: u32,
    live: bool,
    /// From and To taken (from the call's first message).
    fields: bool,
    from: Vec<u8>,
    to: Vec<u8>,
    sent: u32,
    received: u32,
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
            n.from.clear();
            n.to.clear();
            n.sent = 0;
            n.received = 0;
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
        n.from
            .extend_from_slice(first.header(HeaderName::From).unwrap_or_default());
        n.to.extend_from_slice(first.header(HeaderName::To).unwrap_or_default());
    }

    /// What call `h` did, as it ends (its note is freed).
    pub(super) fn take(&mut self, h: CallHandle, peer: SocketAddr) -> CallSip {
        let mut sip = CallSip {
            peer: Some(peer),
            ..CallSip::default()
        };
        if let Some(n) = self.slots.get_mut(h.index as usize)
            && n.live
            && n.generation == h.generation
        {
            n.live = false;
            sip.from = String::from_utf8_lossy(&n.from).into_owned();
            sip.to = String::from_utf8_lossy(&n.to).into_owned();
            sip.sent = n.sent;
            sip.received = n.received;
        }
        sip
    }
}
