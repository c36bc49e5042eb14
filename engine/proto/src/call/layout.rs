//! What one call keeps between steps, laid out for memory per idle call (issue #3: at
//! most 1 KiB per held call, 100,000 held). `Call` itself holds what every call reads
//! while it waits; copies of messages live in `Kept`, attached while a retransmission or
//! a later step needs them and otherwise spare in the shard's `KeptPool`; state that few
//! scenarios use lives in `Rare`, allocated only by the calls that use it.
//!
//! Owns: storage only. Must not: interpret the scenario (the call decides what to keep,
//! helped by `plan::Plan`).

use std::net::{SocketAddr, SocketAddrV4, SocketAddrV6};
use std::time::{Duration, Instant};

use super::token::Token;
use super::vars::Vars;
use super::{Call, ShardCx};

/// UDP retransmission of the last message sent (RFC 3261 §17.1.1.2 / §17.1.2.2).
#[derive(Clone, Copy, Debug)]
pub(super) struct Retrans {
    pub(super) next_at: Instant,
    pub(super) interval: Duration,
    pub(super) count: u32,
    pub(super) max: u32,
    /// INVITE requests double without a cap (Timer A); everything else stops at T2.
    pub(super) capped: bool,
    /// The step that sent it (for the screen's Retrans/Timeout columns).
    pub(super) step: usize,
}

/// Message copies, kept only while something will read them. Each buffer is empty when
/// it holds nothing; its capacity is kept while the box is attached to a call or spare
/// in a `KeptPool`.
#[derive(Debug, Default)]
pub(super) struct Kept {
    /// The last message received, when a later run of the call reads it
    /// (`Plan::keep_last_recv`); while the call runs on a message, that message is
    /// read from `ShardCx::current` instead and copied here only when the call waits.
    pub(super) last_recv: Vec<u8>,
    /// The last message sent, kept while it may be retransmitted (or, for an INVITE,
    /// cancelled).
    pub(super) last_sent: Vec<u8>,
    pub(super) retrans: Option<Retrans>,
    /// The request (CSeq number, method) that our last response answers, kept to answer
    /// its retransmissions; the response is `response`.
    pub(super) response_to: Option<(u32, Token)>,
    pub(super) response: Vec<u8>,
}

impl Kept {
    /// Whether it holds nothing a call will read.
    pub(super) fn is_empty(&self) -> bool {
        self.last_recv.is_empty()
            && self.last_sent.is_empty()
            && self.retrans.is_none()
            && self.response_to.is_none()
    }

    /// Frees the capacity of the buffers that hold nothing (the box stays with a call
    /// that pauses).
    pub(super) fn shrink(&mut self) {
        for b in [&mut self.last_recv, &mut self.last_sent, &mut self.response] {
            if b.is_empty() && b.capacity() > 0 {
                *b = Vec::new();
            }
        }
    }

    fn capacity(&self) -> usize {
        self.last_recv.capacity() + self.last_sent.capacity() + self.response.capacity()
    }

    fn clear(&mut self) {
        self.last_recv.clear();
        self.last_sent.clear();
        self.retrans = None;
        self.response_to = None;
        self.response.clear();
    }
}

/// Spare `Kept` boxes of one shard, buffers included. A call takes one when it first
/// keeps a message copy and gives it back when it waits without any or ends, so calls
/// in set-up reuse each other's buffers: no allocation per call for them, and no holes
/// left between the calls that stay (memory per held call, issue #3). Bounded in bytes.
#[derive(Debug, Default)]
pub struct KeptPool {
    // Boxes, not `Kept`s: a call holds its copies boxed (8 bytes while idle), and moving
    // one in or out of the pool must not allocate.
    #[allow(clippy::vec_box)]
    spare: Vec<Box<Kept>>,
    /// Buffer capacity held in `spare`.
    bytes: usize,
}

/// At most this much buffer capacity waits in a pool (hundreds of calls in set-up at
/// once; beyond, boxes go back to the allocator).
const POOL_BYTES: usize = 1 << 20;
/// A box whose buffers grew past this (a huge message) is not kept.
const POOL_MAX_BOX: usize = 64 * 1024;

impl KeptPool {
    pub(super) fn take(&mut self) -> Box<Kept> {
        match self.spare.pop() {
            Some(k) => {
                self.bytes -= k.capacity();
                k
            }
            None => Box::default(),
        }
    }

    pub(super) fn put(&mut self, mut k: Box<Kept>) {
        k.clear();
        let cap = k.capacity();
        if cap <= POOL_MAX_BOX && self.bytes + cap <= POOL_BYTES {
            self.bytes += cap;
            self.spare.push(k);
        }
    }
}

/// State that only some scenarios or modes use.
#[derive(Debug, Default)]
pub(super) struct Rare {
    /// `-users`: the user this call runs for.
    pub(super) user_id: u64,
    /// `-t un` clients: the port of this call's own socket (`[local_port]`); `None`:
    /// the shard's socket (`Env::local_port`).
    pub(super) local_port: Option<u16>,
    /// `-t ui` clients: the address this call leaves from and its socket's index
    /// (`endpoint::source_ips`); `None`: the shard's address.
    pub(super) source_ip: Option<(std::net::IpAddr, u32)>,
    /// The scenario's call variables.
    pub(super) vars: Vars,
    /// `rrs="true"`: the route set and the remote target.
    pub(super) route_set: Option<Box<[u8]>>,
    pub(super) next_url: Option<Box<[u8]>>,
    /// Start times of response-time timers 2 and up (timer 1 is in `Call`).
    pub(super) rtd_more: Vec<CallTime>,
    /// The last ACK's bytes, when its template does not render the same bytes again
    /// (`Plan::rerenders`).
    pub(super) ack: Vec<u8>,
}

/// An instant in a call's life as nanoseconds after the call started, or none: 8 bytes
/// instead of an `Option<Instant>`'s 16 (response-time timer starts, the wait deadline).
/// One before the call started is kept as its start.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct CallTime(u64);

impl CallTime {
    pub(super) const NONE: CallTime = CallTime(u64::MAX);
    /// When the call started.
    pub(super) const START: CallTime = CallTime(0);

    pub(super) fn at(t: Instant, call_start: Instant) -> CallTime {
        let ns = t.saturating_duration_since(call_start).as_nanos();
        CallTime(u64::try_from(ns).unwrap_or(u64::MAX - 1).min(u64::MAX - 1))
    }

    pub(super) fn instant(self, call_start: Instant) -> Option<Instant> {
        (self != CallTime::NONE).then(|| call_start + Duration::from_nanos(self.0))
    }
}

/// A CSeq number the call took, or none. CSeq numbers are below 2^31 (RFC 3261
/// §8.1.1.5), so `u32::MAX` marks none: 4 bytes instead of an `Option<u32>`'s 8.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct CSeqNo(u32);

impl CSeqNo {
    pub(super) const NONE: CSeqNo = CSeqNo(u32::MAX);

    pub(super) fn new(n: u32) -> CSeqNo {
        CSeqNo(n)
    }

    /// Whether this is `n` (never for none).
    pub(super) fn is(self, n: u32) -> bool {
        self != CSeqNo::NONE && self.0 == n
    }
}

/// The ACK we sent last, by its step and the `[cseq]` it carried: rendered again for a
/// repeated 2xx (RFC 3261 §13.2.2.4) or an aborted call's BYE when `Plan::rerenders`
/// says the step renders the same bytes, else read from `Rare::ack`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct SentAck {
    step: u32,
    pub(super) cseq: u32,
}

impl SentAck {
    pub(super) const NONE: SentAck = SentAck {
        step: u32::MAX,
        cseq: 0,
    };

    pub(super) fn new(step: usize, cseq: u32) -> SentAck {
        match u32::try_from(step) {
            Ok(step) if step != u32::MAX => SentAck { step, cseq },
            _ => SentAck::NONE,
        }
    }

    pub(super) fn step(self) -> Option<usize> {
        (self.step != u32::MAX).then_some(self.step as usize)
    }
}

/// The peer's address: IPv4 inline, IPv6 boxed (16 bytes instead of a `SocketAddr`'s 32
/// in every call; an IPv6 call pays one small allocation).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Peer {
    V4(SocketAddrV4),
    V6(Box<SocketAddrV6>),
}

impl Peer {
    pub(super) fn new(a: SocketAddr) -> Peer {
        match a {
            SocketAddr::V4(a) => Peer::V4(a),
            SocketAddr::V6(a) => Peer::V6(Box::new(a)),
        }
    }

    pub(super) fn addr(&self) -> SocketAddr {
        match self {
            Peer::V4(a) => SocketAddr::V4(*a),
            Peer::V6(a) => SocketAddr::V6(**a),
        }
    }
}

/// Where each piece of a call's state lives, read and written through these.
impl Call {
    pub(super) fn rare_mut(&mut self) -> &mut Rare {
        self.rare.get_or_insert_with(Box::default)
    }

    /// The message copies, taking a spare box from the shard's pool if needed.
    pub(super) fn kept_mut(&mut self, pool: &mut KeptPool) -> &mut Kept {
        self.kept.get_or_insert_with(|| pool.take())
    }

    pub(super) fn retrans(&self) -> Option<Retrans> {
        self.kept.as_ref().and_then(|k| k.retrans)
    }

    pub(super) fn stop_retrans(&mut self) {
        if let Some(k) = self.kept.as_mut() {
            k.retrans = None;
        }
    }

    /// The last message sent, while it is kept (empty otherwise).
    pub(super) fn last_sent(&self) -> &[u8] {
        self.kept.as_ref().map_or(&[], |k| &k.last_sent)
    }

    /// The stored copy of the last message received (see `last_recv`).
    pub(super) fn stored_last_recv(&self) -> &[u8] {
        self.kept.as_ref().map_or(&[], |k| &k.last_recv)
    }

    /// The last message received: the one being handled when there is one (it is copied
    /// into the call only if it is still needed when the call waits), else the copy.
    pub(super) fn last_recv<'s>(&'s self, cx: &'s ShardCx<'_>) -> &'s [u8] {
        match cx.current {
            Some(m) => m.raw(),
            None => self.stored_last_recv(),
        }
    }

    /// The peer's address.
    pub(super) fn dest(&self) -> SocketAddr {
        self.dest.addr()
    }

    /// `rrs="true"`: the route set (`[routes]`).
    pub(super) fn route_set(&self) -> Option<&[u8]> {
        self.rare.as_ref().and_then(|r| r.route_set.as_deref())
    }

    /// `rrs="true"`: the remote target (`[next_url]`).
    pub(super) fn next_url(&self) -> Option<&[u8]> {
        self.rare.as_ref().and_then(|r| r.next_url.as_deref())
    }

    pub(super) fn wait_deadline(&self) -> Option<Instant> {
        self.wait_deadline.instant(self.started_at)
    }

    /// When response-time timer `slot` started (`None`: not running).
    pub(super) fn rtd_start(&self, slot: usize) -> Option<Instant> {
        let start = match slot {
            0 => self.rtd0,
            n => *self.rare.as_ref()?.rtd_more.get(n - 1)?,
        };
        start.instant(self.started_at)
    }

    pub(super) fn set_rtd_start(&mut self, slot: usize, start: CallTime, cx: &ShardCx<'_>) {
        if slot >= cx.run.scenario.rtd_names.len() {
            return;
        }
        match slot {
            0 => self.rtd0 = start,
            n => {
                if let Some(s) = self.rare_mut().rtd_more.get_mut(n - 1) {
                    *s = start;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compact_forms_give_back_what_they_hold() {
        let v6: SocketAddr = "[2001:db8::1]:5060".parse().unwrap();
        let v4: SocketAddr = "10.0.0.1:5060".parse().unwrap();
        assert_eq!(Peer::new(v6).addr(), v6);
        assert_eq!(Peer::new(v4).addr(), v4);
        assert_eq!(std::mem::size_of::<Peer>(), 16);
        let start = crate::sim::epoch();
        let later = start + Duration::from_nanos(1_234_567_891);
        assert_eq!(CallTime::at(later, start).instant(start), Some(later));
        assert_eq!(CallTime::START.instant(start), Some(start));
        assert_eq!(CallTime::NONE.instant(start), None);
        assert!(CSeqNo::new(7).is(7) && !CSeqNo::new(7).is(8) && !CSeqNo::NONE.is(u32::MAX));
        assert_eq!(SentAck::new(5, 2).step(), Some(5));
        assert_eq!(SentAck::NONE.step(), None);
    }

    #[test]
    fn the_pool_reuses_boxes_with_their_buffers_and_stays_bounded() {
        let mut pool = KeptPool::default();
        let mut k = pool.take();
        k.last_sent.extend_from_slice(&[0u8; 500]);
        k.retrans = None;
        pool.put(k);
        let k = pool.take();
        assert!(k.is_empty(), "given back cleared");
        assert!(k.last_sent.capacity() >= 500, "with its buffer");
        pool.put(k);
        for _ in 0..10_000 {
            let mut k = Box::<Kept>::default();
            k.response.reserve(1000);
            pool.put(k);
        }
        assert!(pool.bytes <= POOL_BYTES);
        assert!(pool.spare.len() < 10_000);
    }
}
