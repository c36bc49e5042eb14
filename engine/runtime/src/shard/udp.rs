//! A shard's SIP over UDP: its one socket (`u1`, and servers), for `-t un` clients one
//! socket per call (SIPp's "one socket per call"; the port bookkeeping is the endpoint's
//! `port_pool`), and for `-t ui` clients one socket per source address (bound by the
//! runner; which call uses which is the endpoint's `source_ips`).
//!
//! Owns: the sockets, their registration in the shard's poller, the receive buffers,
//! and the datagrams the kernel had no room for (`parked`, sent first in the next turn:
//! nothing accepted is dropped for a full send buffer, and order is kept). Must not:
//! decide which call uses which port (the endpoint does) or anything about SIP.
//!
//! The connected twin: a shard that talks to one peer (a client's remote, a lone server
//! shard's first caller) opens a second socket on the shard socket's own address and
//! `connect`s it to that peer (SO_REUSEPORT for the bind only). The kernel delivers the
//! peer's datagrams to the twin (a connected socket wins the lookup) and everyone else's to
//! the shard socket; datagrams for the peer leave from the twin without an address, so
//! the kernel skips its per-datagram route lookup (~5 % of a datagram's kernel cost on
//! loopback, `perf/README.md`). Same port, same order: the shard socket is drained first.
//!
//! The twin is not in the shard's epoll set: a socket in a set carries the set's wait
//! entry, and the kernel then runs epoll's callback for every datagram received and for
//! every datagram sent (when it is freed); the loop's waits `ppoll` the twin beside the
//! set instead (`Poller::set_beside`), so the entry exists only while the loop sleeps.
//!
//! Receive: the twin is drained every turn (at most `MAX_DRAIN` recvmmsg batches),
//! readable or not: a framed client does not wake for it and reads once per frame. The
//! shard socket is drained every turn too unless a twin exists and the last wait reported
//! readiness without it (it then hears only strangers). Call sockets are read when the
//! poller reports them. Send: one
//! sendmmsg per socket and run of datagrams (`Transmit::flow` of a `un` call is its local
//! port).

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::{AsRawFd, RawFd};
use std::time::{Duration, Instant, SystemTime};

use super::handoff::Handoff;
use super::mmsg::{self, RecvBatch, send_all, send_all_via};
use super::traces::Traces;
use crate::call::TxQueue;
use crate::endpoint::Endpoint;
use crate::endpoint::source_ips::PER_IP_FLOW;
use crate::poller::{Poller, READ, Registry, Token};

/// recvmmsg batches drained from the shard socket per turn before timers run again.
pub(crate) const MAX_DRAIN: usize = 8;
/// How soon a shard with parked datagrams tries again.
const PARKED_RETRY: Duration = Duration::from_millis(1);
/// The most bytes parked: past this, datagrams count as send errors (a bounded buffer).
const MAX_PARKED_BYTES: usize = 8 << 20;

/// How a shard binds its per-call sockets (`-t un` clients).
#[derive(Clone, Copy, Debug)]
pub struct PerCallSettings {
    /// `-i` (or the unspecified address).
    pub bind_ip: IpAddr,
    /// `-buff_size` when given; else the kernel default (a call socket carries one call).
    pub buff_size: Option<usize>,
    /// This shard's share of `-max_socket`.
    pub max_sockets: usize,
}

/// Whom a shard's connected twin talks to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TwinPeer {
    /// No twin (call sockets, shards sharing a port).
    Never,
    /// This address (a client's remote).
    At(SocketAddr),
    /// The source of the first datagram received (a server shard alone on its port).
    FirstSender,
}

/// The shard socket's twin, connected to the one peer it serves.
struct Twin {
    socket: socket2::Socket,
    peer: SocketAddr,
}

/// The SIP UDP sockets of one shard.
pub(crate) struct SipUdp {
    main: socket2::Socket,
    twin: Option<Twin>,
    /// A twin still to open (`FirstSender` until the first datagram names the peer).
    twin_wanted: TwinPeer,
    /// The shard socket asks for receive timestamps: so does its twin.
    stamps: bool,
    /// The shard socket was bound with SO_REUSEPORT (server shards share their port).
    main_reuses_port: bool,
    /// `-t un`: the per-call sockets by local port, and how to bind more.
    calls: HashMap<u16, socket2::Socket>,
    /// `-t ui`: a socket per source address, by index (`None`: that address is the
    /// shard socket's own).
    per_ip: Vec<Option<socket2::Socket>>,
    per_call: Option<PerCallSettings>,
    registry: Registry,
    rx: RecvBatch,
    /// Datagrams the kernel had no room for, oldest first.
    parked: TxQueue,
    retry_at: Option<Instant>,
}

impl SipUdp {
    /// Takes the shard's bound, non-blocking socket (its receive timestamps enabled by
    /// the caller when it wants them) and registers it.
    pub(crate) fn new(
        main: socket2::Socket,
        per_call: Option<PerCallSettings>,
        per_ip: Vec<Option<socket2::Socket>>,
        registry: Registry,
        twin: TwinPeer,
        stamps: bool,
    ) -> std::io::Result<SipUdp> {
        registry.add(main.as_raw_fd(), Token::Sip, READ)?;
        for (i, s) in per_ip.iter().enumerate() {
            if let Some(s) = s {
                registry.add(s.as_raw_fd(), Token::IpUdp(i as u32), READ)?;
            }
        }
        let twin_wanted = if per_call.is_some() || !per_ip.is_empty() {
            TwinPeer::Never
        } else {
            twin
        };
        let main_reuses_port = main.reuse_port().unwrap_or(false);
        let mut udp = SipUdp {
            main,
            main_reuses_port,
            twin: None,
            twin_wanted,
            stamps,
            calls: HashMap::new(),
            per_ip,
            per_call,
            registry,
            rx: RecvBatch::default(),
            parked: TxQueue::default(),
            retry_at: None,
        };
        if let TwinPeer::At(peer) = twin_wanted {
            udp.open_twin(peer);
        }
        Ok(udp)
    }

    /// Opens the connected twin toward `peer`. Only an optimisation: when the system
    /// refuses any step, the shard socket goes on serving everyone, as before.
    fn open_twin(&mut self, peer: SocketAddr) {
        self.twin_wanted = TwinPeer::Never;
        match self.bind_twin(peer) {
            Ok(socket) => self.twin = Some(Twin { socket, peer }),
            Err(_) => {
                let _ = self.main.set_reuse_port(self.main_reuses_port);
            }
        }
    }

    fn bind_twin(&mut self, peer: SocketAddr) -> std::io::Result<socket2::Socket> {
        use socket2::{Domain, Protocol, Socket, Type};
        let local = self.main.local_addr()?;
        let family = local.as_socket().map_or(Domain::IPV4, Domain::for_address);
        let s = Socket::new(family, Type::DGRAM, Some(Protocol::UDP))?;
        // SO_REUSEPORT on both lets the twin share the address; it is switched off again
        // once bound (unless the shard socket had it), so no other socket can join later.
        self.main.set_reuse_port(true)?;
        s.set_reuse_port(true)?;
        // getsockopt reports twice what was asked (the kernel's bookkeeping share).
        if let Ok(b) = self.main.recv_buffer_size() {
            let _ = s.set_recv_buffer_size(b / 2);
        }
        if let Ok(b) = self.main.send_buffer_size() {
            let _ = s.set_send_buffer_size(b / 2);
        }
        s.set_nonblocking(true)?;
        s.bind(&local)?;
        s.connect(&peer.into())?;
        if !self.main_reuses_port {
            self.main.set_reuse_port(false)?;
            s.set_reuse_port(false)?;
        }
        if self.stamps {
            let _ = super::os::enable_receive_timestamps(s.as_raw_fd());
        }
        // Not in the epoll set: it is read every turn, and the loop's waits wake for it
        // beside the set (`Poller::set_beside`), so the kernel runs no epoll callback
        // per datagram in or out of it.
        Ok(s)
    }

    /// The connected twin, once open.
    pub(crate) fn twin_fd(&self) -> Option<RawFd> {
        self.twin.as_ref().map(|t| t.socket.as_raw_fd())
    }

    /// Open sockets (the shard's and the calls').
    pub(crate) fn open_sockets(&self) -> usize {
        1 + self.calls.len() + self.per_ip.iter().flatten().count()
    }

    /// When parked datagrams should be tried again.
    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        self.retry_at
    }

    /// Whether this shard has sockets it reads only on readiness (`-t un`, `-t ui`).
    pub(crate) fn has_call_sockets(&self) -> bool {
        self.per_call.is_some() || !self.per_ip.is_empty()
    }

    /// Receives what waits on the shard socket (every turn) and on the call sockets the
    /// poller reported, into `ep`; datagrams another shard owns go to the hand-off.
    /// Returns how many were received.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn receive(
        &mut self,
        ep: &mut Endpoint,
        traces: &mut Traces,
        poller: &Poller,
        handoff: Option<&mut Handoff>,
        floor: Instant,
        now: Instant,
        wall: SystemTime,
    ) -> usize {
        let mut at = Received { floor, now, wall };
        let fd = self.main.as_raw_fd();
        // With a twin the shard socket hears only strangers: after a wait that reported
        // readiness without it, it holds nothing (one recvmmsg less per turn).
        let (mut n, first) = if self.twin.is_none() || poller.may_read(Token::Sip) {
            drain(fd, &mut self.rx, ep, traces, handoff, &mut at, MAX_DRAIN)
        } else {
            (0, None)
        };
        if let Some(twin) = &self.twin {
            // After the shard socket: what reached it before the twin existed is older.
            let fd = twin.socket.as_raw_fd();
            n += drain(fd, &mut self.rx, ep, traces, None, &mut at, MAX_DRAIN).0;
        } else if let (TwinPeer::FirstSender, Some(peer)) = (self.twin_wanted, first) {
            self.open_twin(peer);
        }
        // Call sockets are read on readiness (after a blind sleep the loop looks first).
        for r in poller.ready() {
            let fd = match r.token {
                Token::CallUdp(port) => self.calls.get(&port).map(AsRawFd::as_raw_fd),
                Token::IpUdp(i) => self
                    .per_ip
                    .get(i as usize)
                    .and_then(Option::as_ref)
                    .map(AsRawFd::as_raw_fd),
                _ => None,
            };
            if let Some(fd) = fd {
                let mut at = Received::at_once(now, wall);
                n += drain(fd, &mut self.rx, ep, traces, None, &mut at, MAX_DRAIN).0;
            }
        }
        n
    }

    /// `-t un`: binds as many call sockets as the calls due at `now` need and hands their
    /// ports to `ep`. A bind failure (out of descriptors or ports) is reported once, and
    /// calls then share the sockets already open.
    pub(crate) fn top_up(&mut self, ep: &mut Endpoint, now: Instant) {
        let Some(settings) = self.per_call else {
            return;
        };
        for _ in 0..ep.udp_ports_wanted(now) {
            let addr = SocketAddr::new(settings.bind_ip, 0);
            match bind_call_socket(addr, settings.buff_size) {
                Ok((s, port)) => {
                    if let Err(e) = self.registry.add(s.as_raw_fd(), Token::CallUdp(port), READ) {
                        ep.handle_udp_bind_failure(&format!("cannot watch a UDP socket: {e}"));
                        break;
                    }
                    self.calls.insert(port, s);
                    ep.handle_udp_port(port);
                }
                Err(e) => {
                    ep.handle_udp_bind_failure(&format!("cannot bind a UDP socket on {addr}: {e}"));
                    break;
                }
            }
        }
    }

    /// `-t un`: closes the call sockets whose last call ended (after their last datagrams
    /// went out).
    pub(crate) fn close_ended(&mut self, ep: &mut Endpoint) {
        while let Some(port) = ep.poll_closed_udp_port() {
            if let Some(s) = self.calls.remove(&port) {
                let _ = self.registry.remove(s.as_raw_fd());
            }
        }
    }

    /// Sends `batch` (after what is parked), each datagram from the socket of the call
    /// that queued it; what the kernel has no room for is parked. Returns the datagrams
    /// lost (refused with an error, or past the parking limit).
    pub(crate) fn send(&mut self, batch: &TxQueue, now: Instant) -> u64 {
        let mut lost = 0;
        if !self.parked.is_empty() {
            let parked = std::mem::take(&mut self.parked);
            lost += self.send_runs(&parked);
            let mut parked = parked;
            parked.clear();
            if self.parked.is_empty() {
                self.parked = parked;
            }
        }
        if self.parked.is_empty() {
            lost += self.send_runs(batch);
        } else {
            // Still no room: the new datagrams queue behind the parked ones.
            lost += self.park(batch, 0);
        }
        if self.parked.is_empty() {
            self.retry_at = None;
        } else {
            self.retry_at = Some(now + PARKED_RETRY);
        }
        lost
    }

    /// Sends `q` one socket and run of datagrams at a time; parks from the first one a
    /// socket has no room for.
    fn send_runs(&mut self, q: &TxQueue) -> u64 {
        let mut lost = 0;
        let mut start = 0;
        while start < q.items.len() {
            let flow = q.items.get(start).map_or(0, |t| t.flow);
            // Without call sockets every datagram leaves from the shard's: one run.
            let run = if self.calls.is_empty() && self.per_ip.is_empty() {
                q.items.len() - start
            } else {
                q.items
                    .get(start..)
                    .unwrap_or_default()
                    .iter()
                    .take_while(|t| t.flow == flow)
                    .count()
            };
            let items = q.items.get(start..start + run).unwrap_or_default();
            // `send_all` asks only for indices below `run`, the length of `items`.
            let at = |i: usize| (q.bytes(&items[i]), items[i].dest);
            let done = match (&self.twin, self.calls.is_empty() && self.per_ip.is_empty()) {
                // Everything leaves from the twin (same address): the peer's datagrams
                // without a destination, the others with theirs.
                (Some(t), true) => send_all_via(t.socket.as_raw_fd(), Some(t.peer), run, &at),
                _ => send_all(self.socket_of(flow), run, &at),
            };
            lost += done.failed as u64;
            let taken = done.sent + done.failed;
            if taken < run {
                return lost + self.park(q, start + taken);
            }
            start += run;
        }
        lost
    }

    /// Parks the datagrams of `q` from `from` on; returns how many did not fit.
    fn park(&mut self, q: &TxQueue, from: usize) -> u64 {
        let mut lost = 0;
        for t in q.items.get(from..).unwrap_or_default() {
            if self.parked.buf.len() + t.len > MAX_PARKED_BYTES {
                lost += 1;
                continue;
            }
            self.parked.flow = t.flow;
            self.parked.push(t.dest, q.bytes(t));
        }
        self.parked.flow = 0;
        lost
    }

    /// The socket a datagram of `flow` leaves from: a `-t un` call's own, else the
    /// shard's.
    fn socket_of(&self, flow: u64) -> RawFd {
        if flow & PER_IP_FLOW != 0 {
            let i = usize::try_from(flow & !PER_IP_FLOW).unwrap_or(usize::MAX);
            if let Some(Some(s)) = self.per_ip.get(i) {
                return s.as_raw_fd();
            }
            return self.main.as_raw_fd();
        }
        if !self.calls.is_empty()
            && let Ok(port) = u16::try_from(flow)
            && let Some(s) = self.calls.get(&port)
        {
            return s.as_raw_fd();
        }
        self.main.as_raw_fd()
    }
}

/// Receives up to `rounds` recvmmsg batches from `fd` into the endpoint (or the
/// hand-off); returns how many datagrams came.
/// Also returns the first datagram's source.
fn drain(
    fd: RawFd,
    rx: &mut RecvBatch,
    ep: &mut Endpoint,
    traces: &mut Traces,
    mut handoff: Option<&mut Handoff>,
    at: &mut Received,
    rounds: usize,
) -> (usize, Option<SocketAddr>) {
    let mut drained = 0;
    let mut first = None;
    for _ in 0..rounds {
        match rx.recv(fd) {
            // A connected twin reports an ICMP error once (the peer's port was closed a
            // moment): the error is consumed, the datagrams behind it are not.
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => continue,
            Ok(0) | Err(_) => break,
            Ok(k) => {
                drained += k;
                for i in 0..k {
                    if let Some((bytes, from)) = rx.get(i) {
                        first.get_or_insert(from);
                        if let Some(h) = handoff.as_deref_mut()
                            && h.forward(bytes, from)
                        {
                            continue;
                        }
                        let (now, wall) = at.at(rx.received_at(i));
                        traces.received(wall, bytes, from);
                        ep.handle_datagram(now, wall, bytes, from);
                    }
                }
                // A short batch emptied the socket: skip the recvmmsg that would say so.
                if k < mmsg::BATCH {
                    break;
                }
            }
        }
    }
    (drained, first)
}

/// The clocks of one drain: each datagram is handled at its kernel receive time when the
/// socket has them (framed clients), kept within `floor..=now` and in order.
pub(crate) struct Received {
    /// The previous turn's clock reading.
    pub(crate) floor: Instant,
    pub(crate) now: Instant,
    pub(crate) wall: SystemTime,
}

impl Received {
    /// Every datagram handled at `now` (a socket without receive timestamps).
    pub(crate) fn at_once(now: Instant, wall: SystemTime) -> Received {
        Received {
            floor: now,
            now,
            wall,
        }
    }

    /// The instant and wall time to handle a datagram stamped `stamp` at; moves `floor`
    /// up so the next datagram is never handled as received earlier.
    pub(crate) fn at(&mut self, stamp: Option<SystemTime>) -> (Instant, SystemTime) {
        let Some(stamp) = stamp else {
            return (self.now, self.wall);
        };
        let ago = self.wall.duration_since(stamp).unwrap_or_default();
        let at = self
            .now
            .checked_sub(ago)
            .unwrap_or(self.now)
            .max(self.floor)
            .min(self.now); // not clamp(): that would panic if floor were after now
        self.floor = at;
        (
            at,
            self.wall.checked_sub(self.now - at).unwrap_or(self.wall),
        )
    }
}

/// Creates a UDP socket bound to `addr` with the buffer sizes asked for. `reuse_port`
/// lets several shards share one port (server scenarios).
pub fn udp_socket(
    addr: SocketAddr,
    reuse_port: bool,
    buff_size: usize,
) -> std::io::Result<socket2::Socket> {
    use socket2::{Domain, Protocol, Socket, Type};
    let s = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    if reuse_port {
        s.set_reuse_port(true)?;
    }
    let _ = s.set_recv_buffer_size(buff_size);
    let _ = s.set_send_buffer_size(buff_size);
    s.set_nonblocking(true)?;
    s.bind(&addr.into())?;
    Ok(s)
}

/// A non-blocking UDP socket bound to `addr` (port 0: the kernel picks), and its port.
fn bind_call_socket(
    addr: SocketAddr,
    buff_size: Option<usize>,
) -> std::io::Result<(socket2::Socket, u16)> {
    use socket2::{Domain, Protocol, Socket, Type};
    let s = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    if let Some(b) = buff_size {
        let _ = s.set_recv_buffer_size(b);
        let _ = s.set_send_buffer_size(b);
    }
    s.set_nonblocking(true)?;
    s.bind(&addr.into())?;
    let port = s
        .local_addr()?
        .as_socket()
        .map(|a| a.port())
        .ok_or_else(|| std::io::Error::other("the bound socket has no IP address"))?;
    Ok((s, port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn datagrams_are_handled_at_their_arrival_within_the_turn_and_in_order() {
        let floor = gossipper_proto::sim::epoch();
        let now = floor + Duration::from_millis(1);
        let wall = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000);
        let mut r = Received { floor, now, wall };
        let ms = Duration::from_micros;
        // Arrived 300 µs before the drain.
        assert_eq!(r.at(Some(wall - ms(300))), (now - ms(300), wall - ms(300)));
        // Stamped before the previous turn: not earlier than what was handled already.
        assert_eq!(r.at(Some(wall - ms(5_000))).0, now - ms(300));
        // A stamp from the future (clock stepped) is handled now.
        assert_eq!(r.at(Some(wall + ms(50))), (now, wall));
        // No stamp: now.
        assert_eq!(Received::at_once(now, wall).at(None), (now, wall));
    }
}
