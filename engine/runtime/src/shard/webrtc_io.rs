//! The I/O side of a shard's WebRTC calls: UDP sockets (ICE, DTLS and SRTP all arrive on
//! one, RFC 7983), bound on demand and registered in the shard's poller. Either a few
//! sockets shared by all the shard's calls (the endpoint routes each datagram to its
//! call), or, when STUN or TURN servers are set, one socket per call like `-t un`.
//!
//! Owns: the sockets by local port, binding them when the endpoint asks
//! (`webrtc_ports_wanted`: shared ones as the calls grow; per call, a client's calls due
//! now, a server's spare plus the first requests that wait), reading them on readiness
//! with recvmmsg, sending what the endpoint queued with one sendmmsg per socket and
//! turn, closing a per-call socket once its call ended and its last datagrams (the
//! DTLS close_notify) went out, and writing the calls' `rtp_record` WAVs. Must not: decide anything about WebRTC (the
//! endpoint's `WebrtcCalls` does) or keep a timer: the bridges' deadlines are in the
//! endpoint's `poll_timeout`.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::AsRawFd;
use std::time::{Instant, SystemTime};

use super::mmsg::{self, RecvBatch, send_all};
use crate::endpoint::Endpoint;
use crate::poller::{Poller, READ, Registry, Token};
use crate::webrtc::WebrtcTx;

/// recvmmsg batches read from one ready call socket per turn (a shared socket carries
/// many calls: 64 batches are 2,048 datagrams, 40 ms of 1,000 calls' audio).
const RECV_ROUNDS: usize = 64;
/// Kernel buffers of a shared socket (a per-call socket keeps the default): a stall of a
/// few ms at 1,000 calls must not drop datagrams.
const SHARED_BUFFER: usize = 4 << 20;
/// Sockets bound per top-up at most (a client's burst is spread over turns past this).
const MAX_BINDS_PER_TURN: usize = 4096;

/// The call sockets of one shard.
pub(crate) struct WebrtcIo {
    ip: IpAddr,
    sockets: HashMap<u16, socket2::Socket>,
    registry: Registry,
    rx: RecvBatch,
    tx: WebrtcTx,
    /// Indices into `tx.items`, grouped by socket for the sends (reused).
    order: Vec<u32>,
}

impl WebrtcIo {
    /// Call sockets bound on `ip` (a concrete address: it is every call's host
    /// candidate), registered through `registry`.
    pub(crate) fn new(ip: IpAddr, registry: Registry) -> WebrtcIo {
        WebrtcIo {
            ip,
            sockets: HashMap::new(),
            registry,
            rx: RecvBatch::default(),
            tx: WebrtcTx::default(),
            order: Vec::new(),
        }
    }

    /// Open call sockets.
    pub(crate) fn open_sockets(&self) -> usize {
        self.sockets.len()
    }

    /// Binds as many call sockets as the endpoint wants now and hands their ports in. A
    /// failure (out of descriptors or ports) is reported once; later calls then fail
    /// with `no_socket`.
    pub(crate) fn top_up(&mut self, ep: &mut Endpoint, now: Instant) {
        let wanted = ep.webrtc_ports_wanted(now).min(MAX_BINDS_PER_TURN);
        let buffer = ep.webrtc_shared().then_some(SHARED_BUFFER);
        for _ in 0..wanted {
            let addr = SocketAddr::new(self.ip, 0);
            match bind(addr, buffer) {
                Ok((s, port)) => {
                    if let Err(e) = self.registry.add(s.as_raw_fd(), Token::Webrtc(port), READ) {
                        ep.handle_webrtc_bind_failure(&format!("cannot watch a UDP socket: {e}"));
                        break;
                    }
                    self.sockets.insert(port, s);
                    ep.handle_webrtc_port(port);
                }
                Err(e) => {
                    ep.handle_webrtc_bind_failure(&format!(
                        "cannot bind a UDP socket on {addr}: {e}"
                    ));
                    break;
                }
            }
        }
    }

    /// Reads the call sockets the poller reported into `ep`. Returns the datagrams read.
    pub(crate) fn receive(
        &mut self,
        ep: &mut Endpoint,
        poller: &Poller,
        now: Instant,
        wall: SystemTime,
    ) -> usize {
        let mut n = 0;
        for r in poller.ready() {
            let Token::Webrtc(port) = r.token else {
                continue;
            };
            let Some(s) = self.sockets.get(&port) else {
                continue;
            };
            let fd = s.as_raw_fd();
            for _ in 0..RECV_ROUNDS {
                let k = match self.rx.recv(fd) {
                    Ok(k) => k,
                    // An ICMP error (the peer's port closed) is reported here: nothing to read.
                    Err(_) => break,
                };
                n += k;
                for i in 0..k {
                    if let Some((bytes, src)) = self.rx.get(i) {
                        ep.handle_webrtc_datagram(now, wall, port, src, bytes);
                    }
                }
                if k < mmsg::BATCH {
                    break;
                }
            }
        }
        n
    }

    /// Sends what the endpoint queued, each datagram from its call's socket (one
    /// sendmmsg per socket and batch, the queue's order kept within a socket), then closes
    /// the sockets whose call ended. What a socket refuses is counted as a send error
    /// (ICE and DTLS retransmit; late SRTP is useless).
    pub(crate) fn send(&mut self, ep: &mut Endpoint) {
        while ep.poll_webrtc_transmit(&mut self.tx) {
            let tx = &self.tx;
            // Grouped by port, in queue order within a port (DTLS flights stay in order).
            self.order.clear();
            self.order.extend(0..tx.items.len() as u32);
            self.order
                .sort_unstable_by_key(|&i| (tx.items.get(i as usize).map_or(0, |t| t.port), i));
            let order = &self.order;
            let item = |k: usize| order.get(k).and_then(|&i| tx.items.get(i as usize));
            let mut lost = 0u64;
            let mut start = 0;
            while start < order.len() {
                let port = item(start).map_or(0, |t| t.port);
                let run = (start..order.len())
                    .take_while(|&k| item(k).is_some_and(|t| t.port == port))
                    .count()
                    .max(1);
                match self.sockets.get(&port) {
                    Some(s) => {
                        let done = send_all(s.as_raw_fd(), run, &|j| match item(start + j) {
                            Some(t) => (tx.bytes(t), t.dest),
                            None => (&[][..], SocketAddr::from(([0, 0, 0, 0], 0))),
                        });
                        lost += (run - done.sent) as u64;
                    }
                    None => lost += run as u64,
                }
                start += run;
            }
            if lost > 0 {
                ep.handle_send_failures(lost);
            }
            self.tx.clear();
        }
        while let Some(port) = ep.poll_closed_webrtc_port() {
            if let Some(s) = self.sockets.remove(&port) {
                let _ = self.registry.remove(s.as_raw_fd());
            }
        }
        // `rtp_record` on WebRTC calls (a WebRTC run has no `MediaIo` to write them).
        while let Some(rec) = ep.poll_recording() {
            let result = super::media_io::write_recording(&rec)
                .map_err(|e| format!("cannot write recording {}: {e}", rec.path.display()));
            ep.handle_recording_written(result);
        }
    }
}

/// A non-blocking UDP socket bound to `addr` (port 0: the kernel picks), and its port;
/// `buffer` sets its kernel buffers (as far as net.core.rmem_max / wmem_max allow).
fn bind(addr: SocketAddr, buffer: Option<usize>) -> std::io::Result<(socket2::Socket, u16)> {
    use socket2::{Domain, Protocol, Socket, Type};
    let s = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    s.set_nonblocking(true)?;
    if let Some(b) = buffer {
        let _ = s.set_recv_buffer_size(b);
        let _ = s.set_send_buffer_size(b);
    }
    s.bind(&addr.into())?;
    let port = s
        .local_addr()?
        .as_socket()
        .map(|a| a.port())
        .ok_or_else(|| std::io::Error::other("the bound socket has no IP address"))?;
    Ok((s, port))
}
