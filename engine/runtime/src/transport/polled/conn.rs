//! One polled connection: its socket, TLS session and buffers, and its nonblocking reads
//! and writes within one loop turn.
//!
//! Owns: the bytes in and out of one socket. Must not: route messages or decide what a
//! connection's end means for calls (the parent `Polled` asks `transport::routing`, from
//! the `End` and `ReadOutcome` it gets back).

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::os::fd::AsRawFd;
use std::time::Instant;

use super::super::conn::StreamEvent;
use super::super::framer::{FrameError, StreamBuffer};
use super::super::idle::Quiet;
use crate::shard::os::{Epoll, Interest};

/// Reads per connection per turn; level-triggered epoll reports the rest next turn.
const MAX_READS: usize = 8;
/// Bytes read from a TLS socket at once (then handed to rustls).
pub(super) const TLS_READ: usize = 64 << 10;

pub(super) const READ: Interest = Interest {
    read: true,
    write: false,
};
pub(super) const READ_WRITE: Interest = Interest {
    read: true,
    write: true,
};

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
    /// TLS handshake in progress.
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
    /// The TLS handshake finished during this read.
    pub(super) opened: bool,
    /// The TLS handshake failed (the reason, for the warning).
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
    /// The TLS session (TLS transports only).
    pub(super) tls: Option<Box<rustls::Connection>>,
    /// TLS: messages not encrypted yet (they wait for the handshake).
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
    pub(super) fn new(peer: SocketAddr, state: State, max: usize) -> Conn {
        Conn {
            sock: None,
            peer,
            state,
            accepted: false,
            quiet: None,
            tls: None,
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
        !self.rx.only_keepalives()
    }

    /// Nothing waits to be written.
    pub(super) fn idle(&self) -> bool {
        self.out.is_empty() && self.plain.is_empty()
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

    /// Queues one message: on the wire as is, or (`tls`) to be encrypted.
    pub(super) fn queue(&mut self, bytes: &[u8], tls: bool) {
        if tls {
            self.plain.extend_from_slice(bytes);
        } else {
            self.out.extend_from_slice(bytes);
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
        } else {
            self.read_plain(deliver)
        };
        // RFC 5626 §4.4.1: a CRLF pong per CRLFCRLF ping.
        let pongs = self.rx.take_pings();
        out.heard = out.delivered > 0 || pongs > 0;
        if pongs > 0 && out.end.is_none() {
            let buf = if self.tls.is_some() {
                &mut self.plain
            } else {
                &mut self.out
            };
            for _ in 0..pongs {
                buf.extend_from_slice(b"\r\n");
            }
            out.wants_write = true;
        }
        out
    }

    fn read_plain(&mut self, deliver: &mut dyn FnMut(&[u8], SocketAddr)) -> ReadOutcome {
        let mut out = ReadOutcome::default();
        let Some(sock) = self.sock.as_mut() else {
            return out;
        };
        for _ in 0..MAX_READS {
            let space = self.rx.read_space();
            let room = space.len();
            let n = match sock.read(space) {
                Ok(0) => {
                    self.rx.filled(0);
                    out.end = Some(closed_end(&self.rx));
                    break;
                }
                Ok(n) => n,
                Err(e) if e.kind() == ErrorKind::Interrupted => {
                    self.rx.filled(0);
                    continue;
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    self.rx.filled(0);
                    break;
                }
                Err(_) => {
                    self.rx.filled(0);
                    out.end = Some(End::Failed);
                    break;
                }
            };
            self.rx.filled(n);
            out.end = frames(&mut self.rx, self.peer, deliver, &mut out.delivered);
            // A short read drained the socket.
            if out.end.is_some() || n < room {
                break;
            }
        }
        out
    }

    /// TLS: reads large chunks, lets rustls decrypt them (finishing the handshake on the
    /// way) and frames the plaintext.
    fn read_tls(
        &mut self,
        scratch: &mut Vec<u8>,
        deliver: &mut dyn FnMut(&[u8], SocketAddr),
    ) -> ReadOutcome {
        let mut out = ReadOutcome::default();
        if scratch.len() < TLS_READ {
            scratch.resize(TLS_READ, 0);
        }
        let (Some(sock), Some(tls)) = (self.sock.as_mut(), self.tls.as_mut()) else {
            return out;
        };
        let mut eof = false;
        'reads: for _ in 0..MAX_READS {
            let n = match sock.read(scratch) {
                Ok(0) => {
                    eof = true;
                    break;
                }
                Ok(n) => n,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(_) => {
                    out.end = Some(End::Failed);
                    break;
                }
            };
            let mut wire = scratch.get(..n).unwrap_or_default();
            while !wire.is_empty() {
                // Taking nothing would loop forever (rustls cannot buffer a record).
                if !matches!(tls.read_tls(&mut wire), Ok(k) if k > 0) {
                    out.end = Some(End::Failed);
                    break 'reads;
                }
                let io = match tls.process_new_packets() {
                    Ok(io) => io,
                    Err(e) => {
                        if matches!(self.state, State::Handshaking { .. }) {
                            out.handshake_error = Some(e.to_string());
                            out.end = Some(End::Failed);
                        } else {
                            out.end = Some(End::BadInput);
                        }
                        break 'reads;
                    }
                };
                if matches!(self.state, State::Handshaking { .. }) && !tls.is_handshaking() {
                    self.state = State::Open;
                    out.opened = true;
                }
                if io.plaintext_bytes_to_read() > 0 {
                    loop {
                        let space = self.rx.read_space();
                        match tls.reader().read(space) {
                            Ok(0) => {
                                self.rx.filled(0);
                                eof = true;
                                break;
                            }
                            Ok(k) => {
                                self.rx.filled(k);
                                out.end =
                                    frames(&mut self.rx, self.peer, deliver, &mut out.delivered);
                                if out.end.is_some() {
                                    break 'reads;
                                }
                            }
                            // WouldBlock: all plaintext taken.
                            Err(_) => {
                                self.rx.filled(0);
                                break;
                            }
                        }
                    }
                }
                if io.peer_has_closed() {
                    eof = true;
                }
            }
            if eof || n < TLS_READ {
                break;
            }
        }
        // Handshake messages, session tickets, alerts; messages that waited for the
        // handshake.
        out.wants_write =
            tls.wants_write() || (self.state == State::Open && !self.plain.is_empty());
        if out.end.is_none() && eof {
            out.end = Some(closed_end(&self.rx));
        }
        out
    }

    /// Writes what is queued until done or the socket is full (TLS: encrypts `plain`
    /// first, once the handshake is done), and watches for room only while bytes wait.
    /// `Err` when the socket failed; `Ok(true)` when everything is written.
    pub(super) fn write_out(&mut self, epoll: &Epoll, id: u64) -> Result<bool, ()> {
        let Some(sock) = self.sock.as_mut() else {
            return Ok(false);
        };
        if let Some(tls) = self.tls.as_mut() {
            if self.state == State::Open && !self.plain.is_empty() {
                // No buffer limit is set: rustls takes it all.
                let _ = tls.writer().write_all(&self.plain);
                self.plain.clear();
            }
            while tls.wants_write() {
                if tls.write_tls(&mut self.out).is_err() {
                    break;
                }
            }
        }
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
            if epoll.modify(sock.as_raw_fd(), id, interest).is_ok() {
                self.writing = !written;
            }
        }
        Ok(written && self.plain.is_empty())
    }

    /// Closes the socket: stops watching it and, for TLS, sends close_notify (after a
    /// clean end) or the alert of a failed handshake, best effort.
    pub(super) fn close(&mut self, epoll: &Epoll, end: End) {
        let Some(mut sock) = self.sock.take() else {
            return;
        };
        let _ = epoll.remove(sock.as_raw_fd());
        let open = self.state == State::Open;
        if let Some(tls) = self.tls.as_mut() {
            if open && matches!(end, End::Closed | End::Idle) {
                tls.send_close_notify();
            }
            let mut last = Vec::new();
            while tls.wants_write() && tls.write_tls(&mut last).is_ok() {}
            let _ = sock.write(&last);
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

/// How a connection the peer closed ends: a message it started and never finished is
/// bad input.
fn closed_end(rx: &StreamBuffer) -> End {
    if rx.only_keepalives() {
        End::Closed
    } else {
        End::BadInput
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
