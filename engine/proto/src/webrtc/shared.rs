//! Shared call sockets: a few UDP sockets per shard carry the ICE, DTLS and SRTP of many
//! WebRTC calls, and each datagram is routed to its call by the pair (our socket, the
//! peer's address), or, for a connectivity check, by the ICE ufrag in its USERNAME.
//!
//! Owns: the shared ports the shell bound and how many calls each carries, the routes
//! (our port, peer address) → call, the ufrag of each call, and the routes of ended
//! calls kept a while (a late DTLS close_notify is dropped, not handed to a new call on
//! the same pair). Must not: read a clock or touch a socket (`WebrtcCalls` drives it).
//!
//! Why more than one socket: DTLS carries nothing that names its call, so two calls on the
//! same (our socket, peer address) pair cannot be told apart. A peer that gives each call
//! its own port (a browser, rtpengine, an SBC) leaves every pair distinct on one socket;
//! two gossipper instances that each shared a single socket would not. So the offering
//! side spreads its calls evenly over ⌈√calls⌉ sockets, and the answering side puts
//! a call on the first of its sockets where no live (or recently ended) call has one of
//! the offer's candidate addresses as peer: 1,000 calls between two instances use about
//! 32 sockets per side, and against per-call-port peers the offerer stays at ⌈√calls⌉.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use gossipper_media::webrtc::WebrtcFailure;

use super::SdpKind;

/// How long an ended call's route stays reserved (late DTLS and RTCP are dropped).
const QUARANTINE: Duration = Duration::from_secs(2);
/// Peer addresses a call learns at most (a host candidate or two, a peer-reflexive one).
pub(super) const MAX_ROUTES: usize = 8;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Owner {
    Call(u64),
    /// The call ended at this instant; the pair is reserved until `QUARANTINE` after.
    Ended(Instant),
}

/// The shared sockets of one shard. See the module docs.
#[derive(Debug, Default)]
pub(super) struct SharedSockets {
    /// Most sockets the shard binds.
    cap: usize,
    /// Bound ports, in the order the shell handed them in, and the calls on each.
    ports: Vec<u16>,
    calls_on: Vec<u32>,
    routes: HashMap<(u16, SocketAddr), Owner>,
    ufrags: HashMap<Box<[u8]>, u64>,
    expiring: VecDeque<(Instant, u16, SocketAddr)>,
    /// Learnt pairs already owned by another live call (a peer that reuses one address
    /// for many calls toward one of our sockets): the later call's datagrams go astray.
    pub(super) collisions: u64,
}

impl SharedSockets {
    pub(super) fn new(cap: usize) -> SharedSockets {
        SharedSockets {
            cap: cap.max(1),
            ..SharedSockets::default()
        }
    }

    /// The most sockets this pool binds.
    pub(super) fn cap(&self) -> usize {
        self.cap
    }

    /// Ports bound.
    pub(super) fn open(&self) -> usize {
        self.ports.len()
    }

    /// How many more sockets the shell should bind for `live` calls: enough for the
    /// offers (⌈√live⌉) and one spare beyond the used ones for the next
    /// answer, never past the cap.
    pub(super) fn wanted(&self, live: usize) -> usize {
        let used = self.calls_on.iter().filter(|&&n| n > 0).count();
        let target = isqrt_ceil(live + 1).max(used + 1).min(self.cap);
        target.saturating_sub(self.ports.len())
    }

    pub(super) fn supply(&mut self, port: u16) {
        if self.ports.len() < self.cap && !self.ports.contains(&port) {
            self.ports.push(port);
            self.calls_on.push(0);
        }
    }

    /// The socket for a call that offers: the one with the fewest calls among the first
    /// ⌈√live⌉ (the earliest on a tie), so each carries about √live calls.
    pub(super) fn pick_for_offer(&mut self, live: usize) -> Option<u16> {
        let n = isqrt_ceil(live).clamp(1, self.ports.len().max(1));
        let i = (0..n).min_by_key(|&i| (self.calls_on.get(i).copied().unwrap_or(u32::MAX), i))?;
        let port = *self.ports.get(i)?;
        self.take(i);
        Some(port)
    }

    /// The socket for a call that answers an offer with candidates at `peers`: the first
    /// where none of them is the peer of a live or recently ended call; the pairs route
    /// to call `number` at once. `None` when every socket has such a call.
    pub(super) fn pick_for_answer(
        &mut self,
        now: Instant,
        number: u64,
        peers: &[SocketAddr],
    ) -> Option<u16> {
        let i = (0..self.ports.len()).find(|&i| {
            let port = self.ports[i];
            peers.iter().all(|p| !self.reserved(now, port, *p))
        })?;
        self.take(i);
        let port = *self.ports.get(i)?;
        for &p in peers {
            self.learn(number, port, p);
        }
        Some(port)
    }

    /// Whether `pick_for_answer` would find a socket for `peers` now.
    pub(super) fn fits(&self, now: Instant, peers: &[SocketAddr]) -> bool {
        self.ports
            .iter()
            .any(|&port| peers.iter().all(|p| !self.reserved(now, port, *p)))
    }

    fn take(&mut self, i: usize) {
        if let Some(n) = self.calls_on.get_mut(i) {
            *n += 1;
        }
    }

    fn reserved(&self, now: Instant, port: u16, peer: SocketAddr) -> bool {
        match self.routes.get(&(port, peer)) {
            Some(Owner::Call(_)) => true,
            Some(Owner::Ended(at)) => now < *at + QUARANTINE,
            None => false,
        }
    }

    /// Call `number` is reached through checks naming `ufrag`.
    pub(super) fn attach(&mut self, number: u64, ufrag: &str) {
        self.ufrags.insert(ufrag.as_bytes().into(), number);
    }

    /// Call `number` talks with `peer` from `port`: the pair routes to it from now on.
    /// `false` when another live call owns the pair (counted).
    pub(super) fn learn(&mut self, number: u64, port: u16, peer: SocketAddr) -> bool {
        match self.routes.get_mut(&(port, peer)) {
            Some(Owner::Call(n)) if *n == number => true,
            Some(Owner::Call(_)) => {
                self.collisions += 1;
                false
            }
            Some(o @ Owner::Ended(_)) => {
                *o = Owner::Call(number);
                true
            }
            None => {
                self.routes.insert((port, peer), Owner::Call(number));
                true
            }
        }
    }

    /// The call a datagram from `src` on `port` belongs to: a connectivity check by the
    /// ufrag it names (and its sender is learnt), anything else by the pair.
    pub(super) fn route(&mut self, port: u16, src: SocketAddr, bytes: &[u8]) -> Option<u64> {
        if let Some(ufrag) = stun_request_ufrag(bytes)
            && let Some(&number) = self.ufrags.get(ufrag)
        {
            return Some(number);
        }
        match self.routes.get(&(port, src)) {
            Some(Owner::Call(n)) => Some(*n),
            _ => None,
        }
    }

    /// Call `number` ended: its socket has one call less, its pairs are reserved for a
    /// while, its ufrag routes nothing.
    pub(super) fn release(
        &mut self,
        now: Instant,
        number: u64,
        port: u16,
        peers: &[SocketAddr],
        ufrag: Option<&str>,
    ) {
        if let Some(i) = self.ports.iter().position(|&p| p == port)
            && let Some(n) = self.calls_on.get_mut(i)
        {
            *n = n.saturating_sub(1);
        }
        for &peer in peers {
            if let Some(o) = self.routes.get_mut(&(port, peer))
                && *o == Owner::Call(number)
            {
                *o = Owner::Ended(now);
                self.expiring.push_back((now + QUARANTINE, port, peer));
            }
        }
        if let Some(u) = ufrag
            && self.ufrags.get(u.as_bytes()) == Some(&number)
        {
            self.ufrags.remove(u.as_bytes());
        }
    }

    /// Forgets the routes whose quarantine is over.
    pub(super) fn sweep(&mut self, now: Instant) {
        while let Some(&(at, port, peer)) = self.expiring.front() {
            if at > now {
                break;
            }
            self.expiring.pop_front();
            if let Some(Owner::Ended(ended)) = self.routes.get(&(port, peer))
                && *ended + QUARANTINE <= now
            {
                self.routes.remove(&(port, peer));
            }
        }
    }
}

impl super::WebrtcCalls {
    /// Shared sockets: call `number` takes its socket before its first SDP (an offer
    /// spread evenly; an answer where the offer's addresses are not already peers) and
    /// names it as its host candidate. No socket fits: the call fails (`no_socket`).
    pub(super) fn pick_shared_socket(&mut self, now: Instant, number: u64, kind: SdpKind) {
        let live = self.calls.len();
        let (Some(s), Some(e)) = (self.shared.as_mut(), self.calls.get_mut(&number)) else {
            return;
        };
        if e.port != 0 || e.local_sdp.is_some() || e.no_socket {
            return;
        }
        let port = match kind {
            SdpKind::Offer => s.pick_for_offer(live),
            SdpKind::Answer => {
                let Some(offer) = e.remote_offer.as_deref() else {
                    return;
                };
                e.peers = candidate_addrs(offer);
                s.pick_for_answer(now, number, &e.peers)
            }
        };
        let Some(port) = port else {
            e.peers.clear();
            e.last_dest = None;
            e.no_socket = true;
            self.counters.no_socket += 1;
            self.failed.push_back((e.handle, WebrtcFailure::Internal));
            self.warnings.push_back(format!(
                "call {number}: webrtc: every shared socket already has a call with this peer address; the call fails (no_socket)"
            ));
            return;
        };
        e.port = port;
        e.bridge.set_host(SocketAddr::new(self.settings.ip, port));
        let ufrag = e.bridge.local_ufrag();
        s.attach(number, &ufrag);
        e.ufrag = Some(ufrag);
    }
}

/// ⌈√n⌉ (0 for 0).
fn isqrt_ceil(n: usize) -> usize {
    let mut r = (n as f64).sqrt() as usize;
    while r * r < n {
        r += 1;
    }
    while r > 0 && (r - 1) * (r - 1) >= n {
        r -= 1;
    }
    r
}

/// The recipient's ufrag of a STUN Binding request (RFC 8445 §7.2.2: USERNAME is
/// "recipient:sender"), or `None` for anything else. Bounded by the message length.
pub(super) fn stun_request_ufrag(b: &[u8]) -> Option<&[u8]> {
    if b.get(0..2)? != [0x00, 0x01] || b.get(4..8)? != [0x21, 0x12, 0xA4, 0x42] {
        return None;
    }
    let len = usize::from(u16::from_be_bytes([*b.get(2)?, *b.get(3)?]));
    let body = b.get(20..20 + len)?;
    let mut off = 0;
    while off + 4 <= body.len() {
        let kind = u16::from_be_bytes([body[off], body[off + 1]]);
        let alen = usize::from(u16::from_be_bytes([body[off + 2], body[off + 3]]));
        let value = body.get(off + 4..off + 4 + alen)?;
        if kind == 0x0006 {
            let end = value.iter().position(|&c| c == b':').unwrap_or(value.len());
            return value.get(..end);
        }
        off += 4 + ((alen + 3) & !3);
    }
    None
}

/// The `a=candidate` addresses of an SDP (UDP ones), at most `MAX_ROUTES`.
pub(super) fn candidate_addrs(sdp: &str) -> Vec<SocketAddr> {
    let mut out = Vec::new();
    for line in sdp.lines() {
        let Some(c) = line.trim().strip_prefix("a=candidate:") else {
            continue;
        };
        let f: Vec<&str> = c.split_ascii_whitespace().collect();
        let (Some(proto), Some(ip), Some(port)) = (f.get(2), f.get(4), f.get(5)) else {
            continue;
        };
        if !proto.eq_ignore_ascii_case("udp") {
            continue;
        }
        if let (Ok(ip), Ok(port)) = (ip.parse(), port.parse()) {
            let a = SocketAddr::new(ip, port);
            if !out.contains(&a) && out.len() < MAX_ROUTES {
                out.push(a);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(port: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], port))
    }

    #[test]
    fn ceil_sqrt() {
        let got: Vec<usize> = [0, 1, 2, 4, 5, 9, 10, 1000].map(isqrt_ceil).to_vec();
        assert_eq!(got, vec![0, 1, 2, 2, 3, 3, 4, 32]);
    }

    #[test]
    fn a_stun_request_names_its_recipient_ufrag_and_anything_else_names_none() {
        // Binding request, one USERNAME "abcd:wxyz" (9 bytes, padded to 12).
        let mut m = vec![0x00, 0x01, 0x00, 16, 0x21, 0x12, 0xA4, 0x42];
        m.extend_from_slice(&[7; 12]);
        m.extend_from_slice(&[0x00, 0x06, 0x00, 9]);
        m.extend_from_slice(b"abcd:wxyz\0\0\0");
        assert_eq!(stun_request_ufrag(&m), Some(&b"abcd"[..]));
        // A response (0x0101), a truncated message, an RTP packet: none.
        let mut resp = m.clone();
        resp[0] = 0x01;
        assert_eq!(stun_request_ufrag(&resp), None);
        assert_eq!(stun_request_ufrag(&m[..30]), None);
        assert_eq!(stun_request_ufrag(&[0x80, 0, 0, 1]), None);
        // An attribute length past the message: none, no panic.
        let mut bad = m.clone();
        bad[22..24].copy_from_slice(&[0xFF, 0xFF]);
        assert_eq!(stun_request_ufrag(&bad), None);
    }

    #[test]
    fn an_answer_avoids_the_sockets_where_its_peer_address_is_taken_or_just_ended() {
        let t = crate::sim::epoch();
        let mut s = SharedSockets::new(4);
        assert_eq!(s.wanted(0), 1);
        s.supply(5000);
        let peer = [addr(7000)];
        assert_eq!(s.pick_for_answer(t, 1, &peer), Some(5000));
        // The only socket is used: one more is wanted, and until it comes the pair is
        // taken.
        assert_eq!(s.wanted(1), 1);
        assert_eq!(s.pick_for_answer(t, 2, &peer), None);
        s.supply(5002);
        assert_eq!(s.pick_for_answer(t, 2, &peer), Some(5002));
        // Another peer address fits on the first socket.
        assert_eq!(s.pick_for_answer(t, 3, &[addr(7002)]), Some(5000));
        // Routing: by pair, and a check by its ufrag.
        s.attach(1, "abcd");
        assert_eq!(s.route(5000, addr(7000), &[0x80, 0]), Some(1));
        assert_eq!(s.route(5002, addr(7000), &[0x80, 0]), Some(2));
        // Call 1 ends: its pair stays reserved for the quarantine, then is free.
        s.release(t, 1, 5000, &[addr(7000)], Some("abcd"));
        assert_eq!(s.route(5000, addr(7000), &[0x80, 0]), None);
        assert!(s.reserved(t + Duration::from_millis(10), 5000, addr(7000)));
        s.sweep(t + QUARANTINE);
        assert!(!s.reserved(t + QUARANTINE, 5000, addr(7000)));
        // A pair learnt by a live call is not taken by another.
        assert!(s.learn(2, 5002, addr(7000)));
        assert!(!s.learn(4, 5002, addr(7000)));
        assert_eq!(s.collisions, 1);
    }

    #[test]
    fn offers_spread_over_the_square_root_of_the_calls() {
        let mut s = SharedSockets::new(64);
        for p in 0..10 {
            s.supply(6000 + p);
        }
        let ports: Vec<u16> = (0..9).map(|_| s.pick_for_offer(9).unwrap_or(0)).collect();
        assert_eq!(
            ports,
            vec![6000, 6001, 6002, 6000, 6001, 6002, 6000, 6001, 6002]
        );
        assert_eq!(s.wanted(80), 0);
        assert_eq!(s.wanted(120), 1);
    }

    #[test]
    fn candidate_lines_give_their_udp_addresses() {
        let sdp = "v=0\r\na=candidate:1 1 udp 2130706431 127.0.0.1 4000 typ host\r\n\
                   a=candidate:2 1 tcp 1 127.0.0.1 4001 typ host\r\na=candidate:bad\r\n";
        assert_eq!(candidate_addrs(sdp), vec![addr(4000)]);
    }
}
