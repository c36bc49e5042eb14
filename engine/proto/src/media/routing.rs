//! Which call a media datagram belongs to, and where a call's media goes: the peer's
//! addresses learnt from the SDP of the call's SIP messages (a later SDP re-targets the
//! streams already playing), and the demultiplexing of what arrives on the shard's one
//! media port — our own SSRC coming back (an echo), a peer's SSRC bound to its call, the
//! SDP address, RTCP from the RTP port + 1, and symmetric-RTP latching to the oldest call
//! still waiting for media from that IP.
//!
//! A later SDP of the call (re-INVITE, UPDATE, a 200 to our re-INVITE) that moves the
//! peer's audio, video or image address re-targets the streams already playing from the
//! next packet on; echoes always go back to each packet's source, so they follow the
//! peer by themselves. A moved audio address also lets the call latch to a new source.
//!
//! Demultiplexing: every stream we send carries its own SSRC (pcap replays are rewritten
//! to it; SIPp keeps the capture's, which makes concurrent replays indistinguishable), so
//! an echoed packet is matched to its call by SSRC. Other packets match by source address
//! (the SDP's `m=audio` address), or latch to the oldest call still waiting for media
//! from that IP (SIPp plays pcaps from its `-mp` port whatever its SDP says). Anything
//! else is counted as `rtp_unexpected_source` and dropped (or echoed with `-rtp_echo`).
//!
//! Owns: nothing of its own; `MediaEngine` methods over its routing maps (`by_source`,
//! `by_ssrc`, `by_peer_ssrc`, `unbound`, `awaiting`). Must not: read a clock or touch a
//! socket.

use std::net::SocketAddr;

use gossipper_media::rtp::looks_like_rtcp;

use super::{LATCH_SCAN, MediaEngine, sdp};

/// Calls whose key an unclaimed SRTCP packet is tried with.
const SRTCP_TRIALS: usize = 64;

/// The big-endian word at `at`.
fn be32(b: &[u8], at: usize) -> Option<u32> {
    let w = b.get(at..at + 4)?;
    Some(u32::from_be_bytes([w[0], w[1], w[2], w[3]]))
}

/// The SSRC the first report block of an RTCP SR or RR speaks about (RFC 3550 §6.4): the
/// block follows the 8-byte header and, in an SR, its 20 bytes of sender info.
fn first_report_block_ssrc(b: &[u8]) -> Option<u32> {
    let count = b.first()? & 0x1f;
    match (count, b.get(1)?) {
        (0, _) => None,
        (_, 201) => be32(b, 8),
        (_, 200) => be32(b, 28),
        _ => None,
    }
}
use crate::scenario::media::PcapTarget;

impl MediaEngine {
    /// A SIP message of call `call` (Call-ID `call_id`) passed by: learn the peer's media
    /// addresses from its SDP, if it has one. A changed address re-targets the streams
    /// already playing (re-INVITE, UPDATE).
    ///
    /// Its SRTP (`-media_srtp`, `-media_reject_srtp`) is settled first: `Some(reason)`
    /// when the call must fail (SRTP refused, or asked in a way we cannot answer).
    pub fn handle_sip(&mut self, call: u64, call_id: &[u8], body: &[u8]) -> Option<String> {
        if body.is_empty() {
            return None;
        }
        if let Some(reason) = self.srtp_sdp(call, call_id, body) {
            return Some(reason);
        }
        let remote = sdp::read(body)?;
        if remote.is_empty() {
            return None;
        }
        let s = self.session(call, call_id);
        let old = std::mem::replace(&mut s.remote, remote);
        if old == remote {
            return None;
        }
        let moved = old.audio.is_some() && old.audio != remote.audio;
        let mut unlatched = None;
        if moved {
            // The peer moved: forget the source we latched to and wait for the new one.
            s.received_at_move = s.receiver.stats().packets;
            unlatched = s.latched.take();
        }
        if let Some(l) = unlatched
            && self.by_source.get(&l) == Some(&call)
        {
            self.by_source.remove(&l);
        }
        let s = self.session(call, call_id);
        let waiting = s.waiting_for_media();
        let streams = [s.audio, s.video, s.dtmf];
        for h in streams.into_iter().flatten() {
            let Some(Some(o)) = self.owners.get_mut(h.index() as usize) else {
                continue;
            };
            let dest = match o.target {
                PcapTarget::Audio => remote.audio,
                PcapTarget::Video => remote.video,
                PcapTarget::Image => remote.image,
            };
            // A stream the new SDP drops (port 0) keeps its address: the scenario stops it.
            if let Some(d) = dest {
                o.dest = d;
            }
        }
        if let Some(a) = old.audio
            && self.by_source.get(&a) == Some(&call)
        {
            self.by_source.remove(&a);
        }
        if let Some(a) = remote.audio {
            self.by_source.insert(a, call);
            // A call already bound to a stream of this peer needs no place in the queue; a
            // repeated entry (re-INVITE) is skipped when its turn comes.
            if self
                .sessions
                .get(&call)
                .is_some_and(|s| s.peer_ssrcs.is_empty())
            {
                self.unbound.entry(a).or_default().push_back(call);
                self.prune_unbound(a);
            }
            if waiting && (old.audio.is_none() || moved) {
                self.awaiting.push_back(call);
            }
        }
        None
    }

    /// Finds the call a datagram from `src` belongs to.
    pub(super) fn route(&mut self, src: SocketAddr, bytes: &[u8]) -> Option<u64> {
        let rtcp = looks_like_rtcp(bytes);
        if rtcp {
            return self.route_rtcp(src, bytes);
        }
        // RTP carries its SSRC at 8..12, RTCP its sender's at 4..8.
        let peer_ssrc = bytes
            .get(if rtcp { 4..8 } else { 8..12 })
            .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]));
        // Our own SSRC coming back (an echo): the surest match.
        if let Some(ssrc) = peer_ssrc.filter(|_| !rtcp)
            && let Some(&call) = self.by_ssrc.get(&ssrc)
        {
            return Some(call);
        }
        if let Some(ssrc) = peer_ssrc
            && let Some(&call) = self.by_peer_ssrc.get(&(src, ssrc))
        {
            return Some(call);
        }
        if let Some(&call) = self.by_source.get(&src) {
            // A new RTP stream from an address several calls share: it belongs to the
            // oldest of them that has no stream yet.
            if let Some(ssrc) = peer_ssrc.filter(|_| !rtcp) {
                let owner = self.take_unbound(src).unwrap_or(call);
                self.bind_peer_ssrc(src, ssrc, owner);
                return Some(owner);
            }
            return Some(call);
        }
        self.latch(src)
    }

    /// The call an RTCP report from `src` belongs to. Many calls may share the peer's
    /// address (a load generator's one media port), so the address alone would pick any
    /// of them: the sender's SSRC once bound to a call, else a report block about one of
    /// our own streams (which then binds the sender), else — SRTCP, whose blocks are
    /// encrypted — `None`, and `srtcp_owner` finds the call whose key opens it. Plain RTCP
    /// from an address one call alone uses falls back to that call. Reports never latch.
    fn route_rtcp(&mut self, src: SocketAddr, bytes: &[u8]) -> Option<u64> {
        let sender = be32(bytes, 4)?;
        if let Some(&call) = self.by_peer_ssrc.get(&(src, sender)) {
            return Some(call);
        }
        if let Some(block) = first_report_block_ssrc(bytes)
            && let Some(&call) = self.by_ssrc.get(&block)
        {
            self.bind_peer_ssrc(src, sender, call);
            return Some(call);
        }
        // RTCP usually comes from the RTP port + 1.
        let rtp = SocketAddr::new(src.ip(), src.port().wrapping_sub(1));
        let call = self
            .by_source
            .get(&src)
            .or_else(|| self.by_source.get(&rtp))
            .copied()?;
        // An SRTP call's reports are claimed by key, not by address.
        let keyed = self
            .sessions
            .get(&call)
            .and_then(|s| s.srtp.as_deref())
            .is_some_and(|k| k.active());
        (!keyed).then_some(call)
    }

    /// SRTCP nobody's routing claimed: the live call among those whose peer sends from
    /// `src` (or `src` − 1) whose key authenticates it — at most [`SRTCP_TRIALS`] tried,
    /// once per peer SSRC, as the sender is bound to its call on success. Returns the
    /// call and the plaintext's length in `plain`.
    pub(super) fn srtcp_owner(
        &mut self,
        src: SocketAddr,
        bytes: &[u8],
        plain: &mut [u8],
    ) -> Option<(u64, usize)> {
        let sender = be32(bytes, 4)?;
        let rtp = SocketAddr::new(src.ip(), src.port().wrapping_sub(1));
        let buf = plain.get_mut(..bytes.len())?;
        let candidates: Vec<u64> = self
            .sessions
            .iter()
            .filter(|(_, s)| s.remote.audio.is_some_and(|a| a == src || a == rtp))
            .map(|(c, _)| *c)
            .take(SRTCP_TRIALS)
            .collect();
        for call in candidates {
            let Some(rx) = self
                .sessions
                .get_mut(&call)
                .and_then(|s| s.srtp.as_deref_mut())
                .and_then(|k| k.rx())
            else {
                continue;
            };
            buf.copy_from_slice(bytes);
            if let Ok(n) = rx.unprotect_rtcp(buf) {
                self.bind_peer_ssrc(src, sender, call);
                return Some((call, n));
            }
        }
        None
    }

    /// The oldest live call that named `addr` in its SDP and has no peer SSRC yet.
    pub(super) fn take_unbound(&mut self, addr: SocketAddr) -> Option<u64> {
        let queue = self.unbound.get_mut(&addr)?;
        let mut found = None;
        while let Some(call) = queue.pop_front() {
            if self
                .sessions
                .get(&call)
                .is_some_and(|s| s.peer_ssrcs.is_empty())
            {
                found = Some(call);
                break;
            }
        }
        if queue.is_empty() {
            self.unbound.remove(&addr);
        }
        found
    }

    /// Drops ended or already bound calls from the front of `addr`'s queue. Calls mostly
    /// end in the order they started, so this keeps the queue to the calls still waiting
    /// for a stream, at O(1) per call (a scan on every call end would be O(live calls)).
    pub(super) fn prune_unbound(&mut self, addr: SocketAddr) {
        let Some(queue) = self.unbound.get_mut(&addr) else {
            return;
        };
        while let Some(&front) = queue.front() {
            if self
                .sessions
                .get(&front)
                .is_some_and(|s| s.peer_ssrcs.is_empty())
            {
                break;
            }
            queue.pop_front();
        }
        if queue.is_empty() {
            self.unbound.remove(&addr);
        }
    }

    pub(super) fn bind_peer_ssrc(&mut self, src: SocketAddr, ssrc: u32, call: u64) {
        if let Some(s) = self.sessions.get_mut(&call) {
            s.peer_ssrcs.push((src, ssrc));
            self.by_peer_ssrc.insert((src, ssrc), call);
        }
    }

    /// Symmetric-RTP latching: the oldest call waiting for media from this IP adopts `src`.
    pub(super) fn latch(&mut self, src: SocketAddr) -> Option<u64> {
        let mut found = None;
        let mut i = 0;
        while i < self.awaiting.len().min(LATCH_SCAN) {
            let Some(&call) = self.awaiting.get(i) else {
                break;
            };
            let waiting = self.sessions.get(&call).filter(|s| s.waiting_for_media());
            match waiting {
                None => {
                    self.awaiting.remove(i);
                }
                Some(s) if s.remote.audio.is_some_and(|a| a.ip() == src.ip()) => {
                    found = Some(call);
                    self.awaiting.remove(i);
                    break;
                }
                Some(_) => i += 1,
            }
        }
        let call = found?;
        if let Some(s) = self.sessions.get_mut(&call) {
            s.latched = Some(src);
        }
        self.by_source.insert(src, call);
        Some(call)
    }
}
