//! TCP and TLS (`-t t1`, `tn`, `l1`, `ln`) without tasks: nonblocking sockets that the
//! shard loop polls itself through one epoll set, as it polls its UDP socket; TLS is
//! rustls driven by hand (rustls does no I/O of its own). WebSocket keeps its reader and
//! writer tasks (`transport::conn`).
//!
//! Why: through glommio every read and every write is an io_uring operation plus a task
//! wake-up, for each message, and every connection spawns tasks. Here one loop turn reads
//! every ready connection in large chunks, hands the messages to the core, and writes each
//! connection's messages of the turn with one `write` (perf/README.md has the figures).
//!
//! Owns: the connections of one shard; `conn` does one connection's socket I/O. Must not:
//! decide which connection a `Transmit` takes or which calls a lost connection fails (it
//! asks `transport::routing`, as `transport::conn::Streams` does), or touch calls; what
//! happens to connections comes out as [`StreamEvent`]s.
//!
//! Drive, once per loop turn: [`Polled::wait`] (sleep until a socket is ready or the
//! timeout) → [`Polled::handle_io`] (accept, finish connects and handshakes, read; each
//! whole message goes to the caller) → [`Polled::handle_idle`] → the core runs →
//! [`Polled::send`] the core's `TxQueue` → [`Polled::flush`] → [`Polled::poll_event`]
//! until `None`. Sleep no longer than [`Polled::poll_timeout`]. Bad input closes only
//! its connection, as with tasks. Accepted connections are closed by
//! `-stream_idle_timeout` under `transport::idle`'s rule (silent and no live call, or
//! half a message waiting): a sweep whose time comes through `poll_timeout` like any
//! deadline, which asks the caller whether a connection's peer has a live call.

mod conn;

use std::collections::{HashMap, VecDeque};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::{AsRawFd, RawFd};
use std::sync::Arc;
use std::time::{Duration, Instant};

use self::conn::{Conn, End, READ, READ_WRITE, State, start_connect};
use super::conn::{StreamEvent, StreamPlan};
use super::idle::{IdleSweep, Quiet, Verdict};
use super::routing::{Route, Routes, Unroutable};
use super::{SharedSettings, StreamKind};
use crate::call::TxQueue;
use crate::shard::os::{Epoll, Interest, Ready};

/// The epoll token of the listener; connections count up from 1.
const LISTENER: u64 = u64::MAX;
/// The token of an extra descriptor that only wakes the wait (`watch`).
const WAKE: u64 = u64::MAX - 1;
/// Connections accepted per turn.
const MAX_ACCEPTS: usize = 256;
/// Sockets reported per wait.
const EVENTS: usize = 512;

/// True when this transport runs polled rather than with tasks.
pub fn applies(kind: StreamKind) -> bool {
    matches!(kind, StreamKind::Tcp | StreamKind::Tls)
}

/// The polled connections of one shard.
pub struct Polled {
    settings: SharedSettings,
    epoll: Epoll,
    listener: Option<TcpListener>,
    conns: HashMap<u64, Conn>,
    /// Connection ids, and which connection each message takes.
    routes: Routes,
    /// Connections with bytes to write.
    dirty: Vec<u64>,
    /// Connections sleeping, connecting or handshaking (they have deadlines).
    pending: Vec<u64>,
    /// Connections to close at the end of the current step.
    doomed: Vec<(u64, End)>,
    /// Accepted connections' idle timeout (`None`: `-stream_idle_timeout 0`).
    idle: Option<IdleSweep>,
    ready: Vec<Ready>,
    events: VecDeque<StreamEvent>,
    /// TLS: what one socket read brought, before rustls decrypts it.
    scratch: Vec<u8>,
}

impl Polled {
    /// Takes the plan's sockets (listener, shared client connection) into an epoll set;
    /// a TLS client connection starts its handshake.
    pub fn start(plan: StreamPlan, now: Instant) -> std::io::Result<Polled> {
        let mut p = Polled {
            routes: Routes::new(&plan.settings),
            settings: plan.settings,
            epoll: Epoll::new(EVENTS)?,
            listener: None,
            conns: HashMap::new(),
            dirty: Vec::new(),
            pending: Vec::new(),
            doomed: Vec::new(),
            idle: None,
            ready: Vec::with_capacity(EVENTS),
            events: VecDeque::new(),
            scratch: Vec::new(),
        };
        if let Some(l) = plan.listener {
            p.idle = p.settings.idle_timeout.map(IdleSweep::new);
            l.set_nonblocking(true)?;
            p.epoll.add(l.as_raw_fd(), LISTENER, READ)?;
            p.listener = Some(l);
        }
        if let Some(c) = plan.connected {
            let peer = c.peer_addr()?;
            c.set_nonblocking(true)?;
            let _ = c.set_nodelay(true);
            let id = p.routes.adopt(peer);
            p.conns
                .insert(id, Conn::new(peer, State::Open, p.settings.max_message));
            p.attach(id, c, READ)?;
            p.opened(id, now);
            p.flush();
        }
        Ok(p)
    }

    /// Also wakes `wait` when `fd` becomes readable (the shard's RTP socket).
    pub fn watch(&self, fd: RawFd) -> std::io::Result<()> {
        self.epoll.add(fd, WAKE, READ)
    }

    /// Sleeps until a socket is ready or `timeout` passes (zero: only looks).
    pub fn wait(&mut self, timeout: Duration) {
        self.epoll.wait(&mut self.ready, timeout);
    }

    /// The earliest connect or handshake deadline, reconnection time, or idle sweep.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        let sweep = self.idle.and_then(|i| i.poll_timeout());
        self.pending
            .iter()
            .filter_map(|id| match self.conns.get(id)?.state {
                State::Sleeping { until } => Some(until),
                State::Connecting { deadline } | State::Handshaking { deadline } => Some(deadline),
                State::Open => None,
            })
            .chain(sweep)
            .min()
    }

    /// What happened to connections, oldest first.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<StreamEvent> {
        self.events.pop_front()
    }

    /// True when no connection has bytes waiting to be written.
    pub fn idle(&self) -> bool {
        self.conns.values().all(Conn::idle)
    }

    /// Open connections (including those still connecting).
    pub fn open_connections(&self) -> usize {
        self.conns.len()
    }

    /// Handles what `wait` found ready and the deadlines due at `now`: accepts, finishes
    /// connects and handshakes, writes what was blocked, and reads; `deliver` gets each
    /// whole message and its peer. Returns the number of messages delivered.
    pub fn handle_io(&mut self, now: Instant, deliver: &mut dyn FnMut(&[u8], SocketAddr)) -> usize {
        self.handle_deadlines(now);
        let mut delivered = 0;
        let mut ready = std::mem::take(&mut self.ready);
        for r in ready.drain(..) {
            match r.token {
                LISTENER => self.accept(now),
                WAKE => {}
                id => {
                    let Some(state) = self.conns.get(&id).map(|c| c.state) else {
                        continue;
                    };
                    match state {
                        State::Connecting { .. } if r.write => self.finish_connect(id, now),
                        State::Connecting { .. } | State::Sleeping { .. } => {}
                        State::Handshaking { .. } | State::Open => {
                            if r.write {
                                self.write_out(id);
                            }
                            if r.read {
                                delivered += self.read(id, now, deliver);
                            }
                        }
                    }
                }
            }
        }
        self.ready = ready;
        // Connections that ended go first (not written to again), then handshake
        // replies, pongs and blocked bytes.
        self.reap();
        self.flush();
        delivered
    }

    /// Queues every message of `tx` on its connection (opening connections as needed),
    /// then closes the connections of flows that ended. Writes nothing: see `flush`.
    pub fn send(&mut self, now: Instant, tx: &TxQueue) {
        let mut unroutable = Unroutable::default();
        for t in &tx.items {
            let Some(id) = self.route(now, t.dest, t.flow) else {
                self.events.push_back(StreamEvent::SendFailed {
                    peer: t.dest,
                    messages: 1,
                });
                // No connection and no reconnection left: the call cannot go on.
                unroutable.add(t.dest, t.flow);
                continue;
            };
            self.queue(id, tx.bytes(t));
        }
        for f in &tx.ended_flows {
            self.end_flow(*f);
        }
        if let Some(lost) = unroutable.into_lost() {
            self.events.push_back(lost);
        }
        self.reap();
    }

    /// Writes every connection's queued bytes (one `write` per connection, usually);
    /// what the socket does not take now waits for it to become writable.
    pub fn flush(&mut self) {
        let mut dirty = std::mem::take(&mut self.dirty);
        for id in dirty.drain(..) {
            if let Some(c) = self.conns.get_mut(&id) {
                c.dirty = false;
                if c.live() && !c.writing {
                    self.write_out(id);
                }
            }
        }
        self.dirty = dirty;
        self.reap();
    }

    fn attach(&mut self, id: u64, sock: TcpStream, interest: Interest) -> std::io::Result<()> {
        self.epoll.add(sock.as_raw_fd(), id, interest)?;
        if let Some(c) = self.conns.get_mut(&id) {
            c.writing = interest.write;
            c.sock = Some(sock);
        }
        Ok(())
    }

    fn queue(&mut self, id: u64, bytes: &[u8]) {
        let Some(c) = self.conns.get_mut(&id) else {
            return;
        };
        // TLS: the session may not exist yet (connecting); its messages wait in `plain`.
        c.queue(bytes, self.settings.kind == StreamKind::Tls);
        c.mark_dirty(id, &mut self.dirty);
    }

    /// The connection a message to `dest` of `flow` goes on (opening it if needed), or
    /// `None` when none may be opened.
    fn route(&mut self, now: Instant, dest: SocketAddr, flow: u64) -> Option<u64> {
        let conns = &self.conns;
        let usable = |id| conns.get(&id).is_some_and(|c: &Conn| !c.closing);
        match self.routes.route(dest, flow, usable) {
            Route::Existing(id) => Some(id),
            Route::Open { id, reconnect } => {
                self.open(now, id, dest, reconnect);
                Some(id)
            }
            Route::Refused => None,
        }
    }

    /// New outgoing connection `id` to `peer` (after -reconnect_sleep for a reconnection).
    fn open(&mut self, now: Instant, id: u64, peer: SocketAddr, reconnect: bool) {
        let sleep = self.settings.reconnect_sleep;
        let max = self.settings.max_message;
        if reconnect && !sleep.is_zero() {
            let until = now + sleep;
            self.conns
                .insert(id, Conn::new(peer, State::Sleeping { until }, max));
            self.pending.push(id);
            return;
        }
        let deadline = now + self.settings.handshake_timeout;
        self.conns
            .insert(id, Conn::new(peer, State::Connecting { deadline }, max));
        self.connect(id, deadline);
    }

    /// Starts a nonblocking connect for connection `id`.
    fn connect(&mut self, id: u64, deadline: Instant) {
        let Some(c) = self.conns.get_mut(&id) else {
            return;
        };
        c.state = State::Connecting { deadline };
        let peer = c.peer;
        self.pending.push(id);
        match start_connect(peer) {
            Ok(sock) => {
                if let Err(e) = self.attach(id, sock, READ_WRITE) {
                    self.connect_failed(id, e.to_string());
                }
            }
            Err(e) => self.connect_failed(id, e.to_string()),
        }
    }

    fn connect_failed(&mut self, id: u64, reason: String) {
        if let Some(c) = self.conns.get(&id) {
            self.events.push_back(StreamEvent::ConnectFailed {
                peer: c.peer,
                reason,
            });
        }
        self.doomed.push((id, End::Failed));
    }

    /// The connect of `id` finished (its socket became writable): open, or failed.
    fn finish_connect(&mut self, id: u64, now: Instant) {
        let error = {
            let Some(sock) = self.conns.get(&id).and_then(|c| c.sock.as_ref()) else {
                return;
            };
            match sock.take_error() {
                Ok(None) => sock.peer_addr().err(),
                Ok(Some(e)) | Err(e) => Some(e),
            }
        };
        if let Some(e) = error {
            self.connect_failed(id, e.to_string());
            return;
        }
        if let Some(sock) = self.conns.get(&id).and_then(|c| c.sock.as_ref()) {
            let _ = sock.set_nodelay(true);
        }
        self.pending.retain(|p| *p != id);
        self.opened(id, now);
        // Messages queued while connecting (or the ClientHello) go now; then only reads
        // are watched.
        self.write_out(id);
    }

    /// Connection `id` is connected or accepted: plain TCP is open now, TLS starts its
    /// handshake (it opens when the handshake is done, in `read`).
    fn opened(&mut self, id: u64, now: Instant) {
        let Some(c) = self.conns.get_mut(&id) else {
            return;
        };
        if self.settings.kind != StreamKind::Tls {
            c.state = State::Open;
            self.events.push_back(c.open_event());
            return;
        }
        let session = match self.settings.tls.as_ref() {
            None => Err("TLS is not configured".to_string()),
            Some(t) if c.accepted => rustls::ServerConnection::new(Arc::clone(&t.server))
                .map(rustls::Connection::from)
                .map_err(|e| e.to_string()),
            Some(t) => rustls::ClientConnection::new(Arc::clone(&t.client), t.server_name.clone())
                .map(rustls::Connection::from)
                .map_err(|e| e.to_string()),
        };
        match session {
            Ok(mut tls) => {
                // Messages wait in `plain` until the handshake is done; then rustls takes
                // them all at once.
                tls.set_buffer_limit(None);
                c.tls = Some(Box::new(tls));
                c.state = State::Handshaking {
                    deadline: now + self.settings.handshake_timeout,
                };
                self.pending.push(id);
                // A client speaks first (ClientHello).
                c.mark_dirty(id, &mut self.dirty);
            }
            Err(reason) => {
                self.events.push_back(StreamEvent::HandshakeFailed {
                    peer: c.peer,
                    reason,
                });
                self.doomed.push((id, End::Failed));
            }
        }
    }

    fn handle_deadlines(&mut self, now: Instant) {
        if self.pending.is_empty() {
            return;
        }
        let due: Vec<(u64, State)> = self
            .pending
            .iter()
            .filter_map(|id| self.conns.get(id).map(|c| (*id, c.state)))
            .filter(|(_, s)| match s {
                State::Sleeping { until } => *until <= now,
                State::Connecting { deadline } | State::Handshaking { deadline } => {
                    *deadline <= now
                }
                State::Open => true,
            })
            .collect();
        let ms = self.settings.handshake_timeout.as_millis();
        for (id, state) in due {
            self.pending.retain(|p| *p != id);
            match state {
                State::Sleeping { .. } => {
                    let deadline = now + self.settings.handshake_timeout;
                    self.connect(id, deadline);
                }
                State::Connecting { .. } => {
                    self.connect_failed(id, format!("no answer within {ms} ms"));
                }
                State::Handshaking { .. } => {
                    if let Some(c) = self.conns.get(&id) {
                        self.events.push_back(StreamEvent::HandshakeFailed {
                            peer: c.peer,
                            reason: format!("no answer within {ms} ms"),
                        });
                    }
                    self.doomed.push((id, End::Failed));
                }
                State::Open => {}
            }
        }
        self.pending
            .retain(|id| self.conns.get(id).is_some_and(|c| c.state != State::Open));
        self.reap();
    }

    /// When the idle sweep is due at `now`: closes the accepted connections that are
    /// idle under `transport::idle`'s rule, and schedules the next sweep by the earliest
    /// expiry left. `carries_live_call(peer)` is asked only for connections silent for
    /// the whole timeout: true keeps the connection for another timeout. Call it every
    /// turn after `handle_io` (it returns at once when no sweep is due).
    pub fn handle_idle(&mut self, now: Instant, carries_live_call: &dyn Fn(SocketAddr) -> bool) {
        let Some(mut sweep) = self.idle.filter(|i| i.due(now)) else {
            return;
        };
        let mut earliest: Option<Instant> = None;
        for (id, c) in &mut self.conns {
            let peer = c.peer;
            let Some(quiet) = c.quiet.as_mut() else {
                continue;
            };
            match quiet.check(sweep.timeout(), now, || carries_live_call(peer)) {
                Verdict::Close => self.doomed.push((*id, End::Idle)),
                Verdict::Keep { until } => {
                    earliest = Some(earliest.map_or(until, |e| e.min(until)));
                }
            }
        }
        sweep.swept(now, earliest);
        self.idle = Some(sweep);
        self.reap();
    }

    fn accept(&mut self, now: Instant) {
        for _ in 0..MAX_ACCEPTS {
            let Some(l) = self.listener.as_ref() else {
                return;
            };
            let (sock, peer) = match l.accept() {
                Ok(a) => a,
                // WouldBlock: all taken. Anything else (out of descriptors): next turn.
                Err(_) => return,
            };
            if sock.set_nonblocking(true).is_err() {
                continue;
            }
            let _ = sock.set_nodelay(true);
            let mut conn = Conn::new(peer, State::Open, self.settings.max_message);
            conn.accepted = true;
            if let Some(idle) = self.idle.as_mut() {
                conn.quiet = Some(Quiet::new(now));
                idle.accepted(now);
            }
            let id = self.routes.accept(peer);
            self.conns.insert(id, conn);
            if self.attach(id, sock, READ).is_err() {
                self.conns.remove(&id);
                self.routes.forget(id);
                continue;
            }
            self.opened(id, now);
        }
    }

    /// Reads what connection `id` has and delivers each whole message; reports the end
    /// of its handshake. Returns the number delivered.
    fn read(&mut self, id: u64, now: Instant, deliver: &mut dyn FnMut(&[u8], SocketAddr)) -> usize {
        let Some(c) = self.conns.get_mut(&id) else {
            return 0;
        };
        let got = c.read(&mut self.scratch, deliver);
        // A field or two per read, no timer: the sweep looks at them when it is due.
        let partial = c.quiet.is_some() && c.partial();
        if let Some(q) = c.quiet.as_mut() {
            if got.heard {
                q.heard(now);
            }
            q.pending(now, partial);
        }
        if got.opened {
            self.pending.retain(|p| *p != id);
            self.events.push_back(c.open_event());
        }
        if let Some(reason) = got.handshake_error {
            self.events.push_back(StreamEvent::HandshakeFailed {
                peer: c.peer,
                reason,
            });
        }
        if got.wants_write {
            c.mark_dirty(id, &mut self.dirty);
        }
        if let Some(e) = got.end {
            self.doomed.push((id, e));
        }
        got.delivered
    }

    /// Writes what connection `id` has queued; a closing connection goes once
    /// everything is written.
    fn write_out(&mut self, id: u64) {
        let Some(c) = self.conns.get_mut(&id) else {
            return;
        };
        match c.write_out(&self.epoll, id) {
            Err(()) => self.doomed.push((id, End::Failed)),
            Ok(true) if c.closing => self.doomed.push((id, End::Closed)),
            Ok(_) => {}
        }
    }

    /// A call ended: its per-call connection closes once no other call uses it.
    fn end_flow(&mut self, flow: u64) {
        let Some(id) = self.routes.end_flow(flow) else {
            return;
        };
        let Some(c) = self.conns.get_mut(&id) else {
            return;
        };
        c.closing = true;
        // With bytes still queued, it closes once they are written.
        if c.idle() {
            self.doomed.push((id, End::Closed));
        }
    }

    /// Closes the connections marked during this step and reports their ends.
    fn reap(&mut self) {
        // In the order they were marked: the first reason a connection ended is the one
        // counted.
        for (id, end) in std::mem::take(&mut self.doomed) {
            let Some(mut c) = self.conns.remove(&id) else {
                continue;
            };
            let opened = c.state == State::Open;
            c.close(&self.epoll, end);
            c.closing = true;
            self.pending.retain(|p| *p != id);
            let peer = c.peer;
            match end {
                End::TooLarge => self.events.push_back(StreamEvent::TooLarge { peer }),
                End::BadInput => self.events.push_back(StreamEvent::BadInput { peer }),
                End::Idle => self.events.push_back(StreamEvent::IdleClosed { peer }),
                End::Closed | End::Failed => {}
            }
            // Calls that still needed it fail (SIPp's `close_calls`).
            if let Some(carried) = self.routes.close(id, opened) {
                self.events.push_back(StreamEvent::Lost {
                    peer,
                    carried,
                    opened,
                });
            }
            let unsent = c.unsent();
            if unsent > 0 {
                self.events.push_back(StreamEvent::SendFailed {
                    peer,
                    messages: unsent,
                });
            }
        }
    }
}

#[cfg(test)]
mod tests;
