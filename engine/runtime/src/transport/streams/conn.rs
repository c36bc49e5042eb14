//! One polled connection: its socket, TLS session, WebSocket and buffers, and its
//! nonblocking reads and writes within one loop turn. The layers: socket ↔ TLS (rustls,
//! `l*`, `ws*`) ↔ WebSocket (`websocket`, `w*`, `ws*`) ↔ SIP; without WebSocket the SIP
//! messages are framed by Content-Length (`framer`).
//!
//! Owns: the bytes in and out of one socket. Must not: route messages or decide what a
//! connection's end means for calls (the parent `Streams` asks `transport::routing`, from
//! the `End` and `ReadOutcome` it gets back).

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::os::fd::AsRawFd;
use std::time::Instant;

use super::super::framer::{FrameError, StreamBuffer};
use super::super::idle::Quiet;
use super::websocket::Ws;
use crate::endpoint::StreamEvent;
use crate::poller::{READ, READ_WRITE, Registry, Token};

/// Reads per connection per turn; level-triggered epoll reports the rest next turn.
const MAX_READS: usize = 8;
/// Bytes read from a TLS or WebSocket socket at once (then handed to rustls or
/// tungstenite).
pub(super) const CHUNK: usize = 64 << 10;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum State {
    /// Waiting out -reconnect_sleep before connecting.
    Sleeping {
        until: Instant,
    },
    /// Connect in progress (writable when it is done).
    Connecting {
        deadline: Instant,
    },
    /// TLS or WebSocket handshake in progress.
    Handshaking {
        deadline: Instant,
    },
    Open,
}

/// Why a connection ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum End {
    /// Closed by us or cleanly by the peer.
    Closed,
    TooLarge,
    BadInput,
    /// A socket error, or a connect or handshake that failed.
    Failed,
    /// An accepted connection was idle for `-stream_idle_timeout` (`transport::idle`).
    Idle,
}

/// What one `Conn::read` did.
#[derive(Debug, Default)]
pub(super) struct ReadOutcome {
    /// Whole messages handed to the caller.
    pub(super) delivered: usize,
    /// The connection cannot go on.
    pub(super) end: Option<End>,
    /// The last handshake (TLS, or WebSocket) finished during this read.
    pub(super) opened: bool,
    /// A handshake failed (the reason, for the warning).
    pub(super) handshake_error: Option<String>,
    /// Bytes are waiting to be written (handshake replies, pongs, queued messages).
    pub(super) wants_write: bool,
    /// A whole message or a keepalive arrived (the idle timeout starts again).
    pub(super) heard: bool,
}

/// One connection (see the fields for its buffers).
pub(super) struct Conn {
    pub(super) sock: Option<TcpStream>,
    pub(super) peer: SocketAddr,
    pub(super) state: State,
    /// A peer connected to us (reported as `Accepted` once open).
    pub(super) accepted: bool,
    /// An accepted connection under the idle timeout: its idle clock.
    pub(super) quiet: Option<Quiet>,
    /// TLS runs under this connection (`l*`, `ws*`).
    secure: bool,
    /// The TLS session (TLS transports only).
    pub(super) tls: Option<Box<rustls::Connection>>,
    /// The TLS handshake is done: `plain` goes through rustls.
    pub(super) tls_ready: bool,
    /// The WebSocket (WebSocket transports only).
    pub(super) ws: Option<Box<Ws>>,
    /// Why the WebSocket could not be set up (reported when the connection opens).
    pub(super) ws_error: Option<String>,
    /// TLS: bytes not encrypted yet (they wait for the handshake).
    pub(super) plain: Vec<u8>,
    rx: StreamBuffer,
    /// Bytes for the wire (encrypted for TLS); `out[..out_at]` is written.
    pub(super) out: Vec<u8>,
    out_at: usize,
    /// Messages queued and not written yet (lost if the connection dies).
    pub(super) out_msgs: u64,
    /// EPOLLOUT is armed (the socket was full).
    pub(super) writing: bool,
    /// On the dirty list already.
    pub(super) dirty: bool,
    /// No more messages go to it; it closes once everything is written.
    pub(super) closing: bool,
}

impl Conn {
    /// A connection to or from `peer`; `secure`: TLS runs under it (its bytes wait in
    /// `plain` until the TLS session exists and its handshake is done).
    pub(super) fn new(peer: SocketAddr, state: State, max: usize, secure: bool) -> Conn {
        Conn {
            secure,
            sock: None,
            peer,
            state,
            accepted: false,
            quiet: None,
            tls: None,
            tls_ready: false,
            ws: None,
            ws_error: None,
            plain: Vec::new(),
            rx: StreamBuffer::new(max),
            out: Vec::new(),
            out_at: 0,
            out_msgs: 0,
            writing: false,
            dirty: false,
            closing: false,
        }
    }

    /// Connected (and maybe still in its TLS handshake).
    pub(super) fn live(&self) -> bool {
        matches!(self.state, State::Open | State::Handshaking { .. })
    }

    /// Part of a message waits for the rest (keepalive CR/LF bytes do not count).
    pub(super) fn partial(&self) -> bool {
        match &self.ws {
            Some(ws) => ws.partial(),
            None => !self.rx.only_keepalives(),
        }
    }

    /// Nothing waits to be written.
    pub(super) fn idle(&self) -> bool {
        self.out.is_empty()
            && self.plain.is_empty()
            && !self.ws.as_ref().is_some_and(|w| w.has_waiting())
    }

    /// Where bytes for the wire go before TLS (or the wire itself without TLS).
    fn wire_plain(&mut self) -> &mut Vec<u8> {
        if self.secure {
            &mut self.plain
        } else {
            &mut self.out
        }
    }

    /// Moves what the WebSocket wrote (handshake, frames, pongs) towards the wire.
    pub(super) fn pump_ws(&mut self) {
        if let Some(mut ws) = self.ws.take() {
            ws.take_output(self.wire_plain());
            self.ws = Some(ws);
        }
    }

    /// Puts the connection on the dirty list (once).
    pub(super) fn mark_dirty(&mut self, id: u64, dirty: &mut Vec<u64>) {
        if !self.dirty {
            self.dirty = true;
            dirty.push(id);
        }
    }

    /// The event of a connection that just opened (after its handshake).
    pub(super) fn open_event(&self) -> StreamEvent {
        let peer = self.peer;
        if self.accepted {
            StreamEvent::Accepted { peer }
        } else {
            StreamEvent::Opened { peer }
        }
    }

    /// Queues one message: in a WebSocket frame, to be encrypted, or on the wire as is.
    pub(super) fn queue(&mut self, bytes: &[u8]) {
        match self.ws.as_mut() {
            Some(ws) => {
                ws.send(bytes);
                self.pump_ws();
            }
            None => self.wire_plain().extend_from_slice(bytes),
        }
        self.out_msgs += 1;
    }

    /// Reads what the socket has (a few chunks at most) and delivers each whole message.
    pub(super) fn read(
        &mut self,
        scratch: &mut Vec<u8>,
        deliver: &mut dyn FnMut(&[u8], SocketAddr),
    ) -> ReadOutcome {
        let mut out = if self.tls.is_some() {
            self.read_tls(scratch, deliver)
        } else if self.ws.is_some() {
            self.read_chunks(scratch, deliver)
        } else {
            self.read_plain(deliver)
        };
        if self.ws.is_some() {
            // WebSocket pings are answered by the WebSocket (its pong is in its output).
            self.pump_ws();
            out.wants_write |= !self.plain.is_empty() || !self.out.is_empty();
            return out;
        }
        // RFC 5626 §4.4.1: a CRLF pong per CRLFCRLF ping.
        let pongs = self.rx.take_pings();
        out.heard = out.delivered > 0 || pongs > 0;
        if pongs > 0 && out.end.is_none() {
            let buf = self.wire_plain();
            for _ in 0..pongs {
                buf.extend_from_slice(b"\r\n");
            }
            out.wants_write = true;
        }
        out
    }

    fn read_plain(&mut self, deliver: &mut dyn FnMut(&[u8], SocketAddr)) -> ReadOutcome {
        let mut out = ReadOutcome::default();
        for _ in 0..MAX_READS {
            let Some(sock) = self.sock.as_mut() else {
                return out;
            };
            let space = self.rx.read_space();
            let room = space.len();
            let got = read_some(sock, space);
            self.rx.filled(if let Got::Bytes(n) = got { n } else { 0 });
            let Some(n) = self.took(got, &mut out) else {
                break;
            };
            out.end = frames(&mut self.rx, self.peer, deliver, &mut out.delivered);
            // A short read drained the socket.
            if out.end.is_some() || n < room {
                break;
            }
        }
        out
    }

    /// WebSocket without TLS: reads large chunks and hands them to the WebSocket.
    fn read_chunks(
        &mut self,
        scratch: &mut Vec<u8>,
        deliver: &mut dyn FnMut(&[u8], SocketAddr),
    ) -> ReadOutcome {
        let mut out = ReadOutcome::default();
        chunk(scratch);
        for _ in 0..MAX_READS {
            let Some(sock) = self.sock.as_mut() else {
                return out;
            };
            let got = read_some(sock, scratch);
            let Some(n) = self.took(got, &mut out) else {
                break;
            };
            self.feed_ws(scratch.get(..n).unwrap_or_default(), deliver, &mut out);
            if out.end.is_some() || n < CHUNK {
                break;
            }
        }
        out
    }

    /// Hands plaintext to the WebSocket; books what it did into `out`.
    fn feed_ws(
        &mut self,
        bytes: &[u8],
        deliver: &mut dyn FnMut(&[u8], SocketAddr),
        out: &mut ReadOutcome,
    ) {
        let Some(ws) = self.ws.as_mut() else {
            return;
        };
        let r = ws.feed(bytes, self.peer, deliver);
        out.delivered += r.delivered;
        out.heard |= r.heard;
        if r.opened && matches!(self.state, State::Handshaking { .. }) {
            self.state = State::Open;
            out.opened = true;
        }
        if let Some(reason) = r.handshake_error {
            out.handshake_error = Some(reason);
        }
        if out.end.is_none() {
            out.end = r.end;
        }
    }

    /// TLS: reads large chunks, lets rustls decrypt them (finishing the handshake on the
    /// way) and frames the plaintext.
    fn read_tls(
        &mut self,
        scratch: &mut Vec<u8>,
        deliver: &mut dyn FnMut(&[u8], SocketAddr),
    ) -> ReadOutcome {
        let mut out = ReadOutcome::default();
        chunk(scratch);
        let mut eof = false;
        'reads: for _ in 0..MAX_READS {
            let Some(sock) = self.sock.as_mut() else {
                return out;
            };
            let got = read_some(sock, scratch);
            let Some(n) = self.took(got, &mut out) else {
                break;
            };
            let mut wire = scratch.get(..n).unwrap_or_default();
            while !wire.is_empty() {
                let Some(tls) = self.tls.as_mut() else {
                    return out;
                };
                // Taking nothing would loop forever (rustls cannot buffer a record).
                if !matches!(tls.read_tls(&mut wire), Ok(k) if k > 0) {
                    out.end = Some(End::Failed);
                    break 'reads;
                }
                let io = match tls.process_new_packets() {
                    Ok(io) => io,
                    Err(e) => {
                        if !self.tls_ready {
                            out.handshake_error = Some(e.to_string());
                            out.end = Some(End::Failed);
                        } else {
                            out.end = Some(End::BadInput);
                        }
                        break 'reads;
                    }
                };
                if !self.tls_ready && !tls.is_handshaking() {
                    self.tls_ready = true;
                    // Without a WebSocket to upgrade, the connection is open now.
                    if self.ws.is_none() {
                        self.state = State::Open;
                        out.opened = true;
                    }
                }
                if io.plaintext_bytes_to_read() > 0 {
                    eof |= self.take_plaintext(deliver, &mut out);
                    if out.end.is_some() {
                        break 'reads;
                    }
                }
                if io.peer_has_closed() {
                    eof = true;
                }
            }
            if eof || n < CHUNK {
                break;
            }
        }
        // Handshake messages, session tickets, alerts; messages that waited for the
        // handshake.
        out.wants_write = self.tls.as_ref().is_some_and(|t| t.wants_write())
            || (self.tls_ready && !self.plain.is_empty());
        if out.end.is_none() && eof {
            out.end = Some(self.closed_end());
        }
        out
    }

    /// Takes the plaintext rustls decrypted: to the WebSocket, or framed as SIP straight
    /// from rustls into the receive buffer. True when the peer's TLS stream ended.
    fn take_plaintext(
        &mut self,
        deliver: &mut dyn FnMut(&[u8], SocketAddr),
        out: &mut ReadOutcome,
    ) -> bool {
        if self.ws.is_some() {
            let mut chunk = [0u8; 16 << 10];
            loop {
                let Some(tls) = self.tls.as_mut() else {
                    return false;
                };
                match tls.reader().read(&mut chunk) {
                    Ok(0) => return true,
                    Ok(k) => {
                        self.feed_ws(chunk.get(..k).unwrap_or_default(), deliver, out);
                        if out.end.is_some() {
                            return false;
                        }
                    }
                    // WouldBlock: all plaintext taken.
                    Err(_) => return false,
                }
            }
        }
        let Some(tls) = self.tls.as_mut() else {
            return false;
        };
        loop {
            let space = self.rx.read_space();
            match tls.reader().read(space) {
                Ok(0) => {
                    self.rx.filled(0);
                    return true;
                }
                Ok(k) => {
                    self.rx.filled(k);
                    out.end = frames(&mut self.rx, self.peer, deliver, &mut out.delivered);
                    if out.end.is_some() {
                        return false;
                    }
                }
                // WouldBlock: all plaintext taken.
                Err(_) => {
                    self.rx.filled(0);
                    return false;
                }
            }
        }
    }

    /// The bytes a read brought, or `None` when the reads of this turn stop there (and
    /// why, in `out.end`, when the connection cannot go on).
    fn took(&self, got: Got, out: &mut ReadOutcome) -> Option<usize> {
        match got {
            Got::Bytes(n) => Some(n),
            Got::Eof => {
                out.end = Some(self.closed_end());
                None
            }
            Got::Nothing => None,
            Got::Failed => {
                out.end = Some(End::Failed);
                None
            }
        }
    }

    /// How a connection the peer closed ends: a message it started and never finished is
    /// bad input.
    fn closed_end(&self) -> End {
        if self.partial() {
            End::BadInput
        } else {
            End::Closed
        }
    }

    /// Writes what is queued until done or the socket is full (TLS: encrypts `plain`
    /// first, once the handshake is done), and watches for room only while bytes wait.
    /// `Err` when the socket failed; `Ok(true)` when everything is written.
    pub(super) fn write_out(&mut self, registry: &Registry, id: u64) -> Result<bool, ()> {
        self.encrypt();
        let Some(sock) = self.sock.as_mut() else {
            return Ok(false);
        };
        while self.out_at < self.out.len() {
            match sock.write(self.out.get(self.out_at..).unwrap_or_default()) {
                Ok(0) => return Err(()),
                Ok(n) => self.out_at += n,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(_) => return Err(()),
            }
        }
        let written = self.out_at >= self.out.len();
        if written {
            self.out.clear();
            self.out_at = 0;
            if self.plain.is_empty() {
                self.out_msgs = 0;
            }
        }
        if written == self.writing {
            let interest = if written { READ } else { READ_WRITE };
            if registry
                .modify(sock.as_raw_fd(), Token::Conn(id), interest)
                .is_ok()
            {
                self.writing = !written;
            }
        }
        Ok(written && self.plain.is_empty())
    }

    /// TLS: hands `plain` to rustls once the handshake is done (no buffer limit is set:
    /// rustls takes it all) and moves its records to `out`.
    fn encrypt(&mut self) {
        let Some(tls) = self.tls.as_mut() else {
            return;
        };
        if self.tls_ready && !self.plain.is_empty() {
            let _ = tls.writer().write_all(&self.plain);
            self.plain.clear();
        }
        while tls.wants_write() {
            if tls.write_tls(&mut self.out).is_err() {
                break;
            }
        }
    }

    /// Closes the socket: stops watching it and, after a clean end, says goodbye (a
    /// WebSocket Close frame, TLS close_notify), or sends the alert of a failed
    /// handshake, with what was still queued, best effort.
    pub(super) fn close(&mut self, registry: &Registry, end: End) {
        let Some(sock) = self.sock.as_ref() else {
            return;
        };
        let _ = registry.remove(sock.as_raw_fd());
        let open = self.state == State::Open;
        let clean = open && matches!(end, End::Closed | End::Idle);
        if clean && let Some(ws) = self.ws.as_mut() {
            ws.close();
        }
        self.pump_ws();
        self.encrypt();
        if clean && let Some(tls) = self.tls.as_mut() {
            tls.send_close_notify();
        }
        // The close_notify, or the alert of a failed handshake.
        self.encrypt();
        let Some(mut sock) = self.sock.take() else {
            return;
        };
        if let Some(rest) = self.out.get(self.out_at..)
            && !rest.is_empty()
        {
            let _ = sock.write(rest);
        }
        if open {
            let _ = sock.shutdown(Shutdown::Write);
        }
    }

    /// Messages that will never be written (the connection is gone).
    pub(super) fn unsent(&self) -> u64 {
        if self.out_at < self.out.len() || !self.plain.is_empty() {
            self.out_msgs
        } else {
            0
        }
    }
}

/// What one nonblocking read brought.
enum Got {
    Bytes(usize),
    /// The peer closed its side.
    Eof,
    /// Nothing more now.
    Nothing,
    /// The socket failed.
    Failed,
}

/// Reads once into `buf` (again when interrupted).
fn read_some(sock: &mut TcpStream, buf: &mut [u8]) -> Got {
    loop {
        return match sock.read(buf) {
            Ok(0) => Got::Eof,
            Ok(n) => Got::Bytes(n),
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) if e.kind() == ErrorKind::WouldBlock => Got::Nothing,
            Err(_) => Got::Failed,
        };
    }
}

/// Grows the shared read buffer to one chunk.
fn chunk(scratch: &mut Vec<u8>) {
    if scratch.len() < CHUNK {
        scratch.resize(CHUNK, 0);
    }
}

/// Delivers every whole message in `rx`; `Some` when the stream cannot go on.
fn frames(
    rx: &mut StreamBuffer,
    peer: SocketAddr,
    deliver: &mut dyn FnMut(&[u8], SocketAddr),
    delivered: &mut usize,
) -> Option<End> {
    loop {
        match rx.next_frame() {
            Ok(Some(m)) => {
                deliver(m, peer);
                *delivered += 1;
            }
            Ok(None) => return None,
            Err(FrameError::TooLarge) => return Some(End::TooLarge),
            Err(FrameError::BadInput) => return Some(End::BadInput),
        }
    }
}

/// A nonblocking TCP socket connecting to `peer` (the connect completes later).
pub(super) fn start_connect(peer: SocketAddr) -> std::io::Result<TcpStream> {
    use socket2::{Domain, Protocol, Socket, Type};
    let s = Socket::new(Domain::for_address(peer), Type::STREAM, Some(Protocol::TCP))?;
    s.set_nonblocking(true)?;
    match s.connect(&peer.into()) {
        Ok(()) => {}
        Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => {}
        Err(e) => return Err(e),
    }
    Ok(s.into())
}
