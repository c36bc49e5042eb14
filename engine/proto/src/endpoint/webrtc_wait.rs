//! WebRTC servers: the first requests of new calls that arrived when no call socket was
//! bound, held until the shell binds more (the same turn: the shell tops up between
//! receiving and `handle_timeout`). A burst of INVITEs larger than the spare sockets
//! thus waits a moment instead of failing.
//!
//! Owns: copies of the held requests, at most [`MAX_WAITING`], and their Call-IDs (a
//! retransmission of a held request is dropped, not held twice). Must not: parse or
//! route anything: the endpoint hands the requests back in through `handle_datagram`.

use std::collections::{HashSet, VecDeque};
use std::net::SocketAddr;

use crate::sip::SipMessage;

/// Requests held at most; past it, new ones are dropped (the peer retransmits over UDP).
pub(super) const MAX_WAITING: usize = 10_000;

/// Held first requests, oldest first.
#[derive(Debug, Default)]
pub(super) struct Waiting {
    queue: VecDeque<(Box<[u8]>, SocketAddr)>,
    ids: HashSet<Box<[u8]>>,
}

impl Waiting {
    /// Holds `msg` from `src`, unless a request of its call is held already.
    pub(super) fn hold(&mut self, msg: &SipMessage<'_>, src: SocketAddr) {
        if self.queue.len() >= MAX_WAITING || self.ids.contains(msg.call_id()) {
            return;
        }
        self.ids.insert(msg.call_id().into());
        self.queue.push_back((msg.raw().into(), src));
    }

    /// The oldest held request.
    pub(super) fn pop(&mut self) -> Option<(Box<[u8]>, SocketAddr)> {
        let (bytes, src) = self.queue.pop_front()?;
        if let Ok(m) = SipMessage::parse(&bytes) {
            self.ids.remove(m.call_id());
        }
        Some((bytes, src))
    }

    pub(super) fn len(&self) -> usize {
        self.queue.len()
    }
}
