//! A shard's stream connections — TCP, TLS and WebSocket (`-t t1`, `tn`, `l1`, `ln`,
//! `w1`, `wn`, `ws1`, `wsn`) — without tasks: nonblocking sockets registered in the shard
//! loop's one poller, like its UDP socket; TLS is rustls and WebSocket tungstenite, both
//! driven by hand over buffers (neither does I/O of its own).
//!
//! Why: through glommio every read and every write is an io_uring operation plus a task
//! wake-up, for each message, and every connection spawns tasks. Here one loop turn reads
//! every ready connection in large chunks, hands the messages to the endpoint, and writes
//! each connection's messages of the turn with one `write` (perf/README.md has the
//! figures).
//!
//! Owns: the connections of one shard; `conn` does one connection's socket I/O,
//! `websocket` its WebSocket. Must not: decide which connection a `Transmit` takes or
//! which calls a lost connection fails (it asks `transport::routing`), or touch calls;
//! what happens to connections comes out as [`StreamEvent`]s, for the endpoint.
//!
//! Drive, once per loop turn, after the poller's wait: `Streams::handle_io` with what
//! the poller found ready (accept, finish connects and handshakes, read; each whole
//! message goes to the caller) → [`Streams::handle_idle`] → the endpoint runs →
//! [`Streams::send`] its `TxQueue` → [`Streams::flush`] → [`Streams::poll_event`] until
//! `None`. Wait no longer than [`Streams::poll_timeout`]. Bad input closes only its
//! connection. Accepted connections are closed by `-stream_idle_timeout` under
//! `transport::idle`'s rule (silent and no live call, or half a message waiting): a sweep
//! whose time comes through `poll_timeout` like any deadline, which asks the caller
//! whether a connection's peer has a live call.

mod conn;
mod websocket;

use std::collections::{HashMap, VecDeque};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::time::Instant;

use self::conn::{Conn, End, State, start_connect};
use self::websocket::Ws;
use super::idle::{IdleSweep, Quiet, Verdict};
use super::routing::{Route, Routes, Unroutable};
use super::{SharedSettings, StreamKind, StreamPlan};
use crate::call::TxQueue;
use crate::endpoint::StreamEvent;
use crate::poller::{Interest, READ, READ_WRITE, Ready, Registry, Token};

/// Connections accepted per turn.
const MAX_ACCEPTS: usize = 256;

/// The stream connections of one shard.
pub struct Streams {
    settings: SharedSettings,
    registry: Registry,
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
    events: VecDeque<StreamEvent>,
    /// TLS: what one socket read brought, before rustls decrypts it.
    scratch: Vec<u8>,
}

impl Streams {
    /// Takes the plan's sockets (listener, shared client connection) into the shard's
    /// poller; a TLS or WebSocket client connection starts its handshake.
    pub(crate) fn start(
        plan: StreamPlan,
        registry: Registry,
        now: Instant,
    ) -> std::io::Result<Streams> {
        let mut p = Streams {
            routes: Routes::new(&plan.settings),
            settings: plan.settings,
            registry,
            listener: None,
            conns: HashMap::new(),
            dirty: Vec::new(),
            pending: Vec::new(),
            doomed: Vec::new(),
            idle: None,
            events: VecDeque::new(),
            scratch: Vec::new(),
        };
        if let Some(l) = plan.listener {
            p.idle = p.settings.idle_timeout.map(IdleSweep::new);
            l.set_nonblocking(true)?;
            p.registry.add(l.as_raw_fd(), Token::Listener, READ)?;
            p.listener = Some(l);
        }
        if let Some(c) = plan.connected {
            let peer = c.peer_addr()?;
            c.set_nonblocking(true)?;
            let _ = c.set_nodelay(true);
            let id = p.routes.adopt(peer);
            let conn = p.new_conn(peer, State::Open, false);
            p.conns.insert(id, conn);
            p.attach(id, c, READ)?;
            p.opened(id, now);
            p.flush();
        }
        Ok(p)
    }

    /// A connection to or from `peer` with the layers of this transport; a WebSocket
    /// exists from the start, so messages queued while connecting wait for its upgrade.
    fn new_conn(&self, peer: SocketAddr, state: State, accepted: bool) -> Conn {
        let st = &self.settings;
        let mut c = Conn::new(peer, state, st.max_message, st.kind.uses_tls());
        c.accepted = accepted;
        if st.kind.is_websocket() {
            let ws = if accepted {
                Ws::accept(st.max_message)
            } else {
                Ws::connect(
                    st.kind == StreamKind::Wss,
                    peer,
                    &st.ws_path,
                    st.max_message,
                )
            };
            match ws {
                Ok(ws) => c.ws = Some(Box::new(ws)),
                Err(reason) => c.ws_error = Some(reason),
            }
        }
        c
    }

    /// Whether a listening socket is open (a server's, or a client's for requests).
    pub fn listening(&self) -> bool {
        self.listener.is_some()
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

    /// Handles what the poller found `ready` and the deadlines due at `now`: accepts,
    /// finishes connects and handshakes, writes what was blocked, and reads; `deliver`
    /// gets each whole message and its peer. Returns the number of messages delivered.
    pub(crate) fn handle_io(
        &mut self,
        now: Instant,
        ready: &[Ready],
        deliver: &mut dyn FnMut(&[u8], SocketAddr),
    ) -> usize {
        self.handle_deadlines(now);
        let mut delivered = 0;
        for r in ready {
            match r.token {
                Token::Listener => self.accept(now),
                Token::Conn(id) => {
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
                _ => {}
            }
        }
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
        self.registry
            .add(sock.as_raw_fd(), Token::Conn(id), interest)?;
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
        // The TLS session or the WebSocket may not exist yet (connecting): the messages
        // wait in `plain` (TLS) or `out` until it does.
        c.queue(bytes);
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
        if reconnect && !sleep.is_zero() {
            let until = now + sleep;
            let conn = self.new_conn(peer, State::Sleeping { until }, false);
            self.conns.insert(id, conn);
            self.pending.push(id);
            return;
        }
        let deadline = now + self.settings.handshake_timeout;
        let conn = self.new_conn(peer, State::Connecting { deadline }, false);
        self.conns.insert(id, conn);
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
        let deadline = now + self.settings.handshake_timeout;
        if let Some(reason) = c.ws_error.take() {
            self.events.push_back(StreamEvent::HandshakeFailed {
                peer: c.peer,
                reason,
            });
            self.doomed.push((id, End::Failed));
            return;
        }
        if !self.settings.kind.uses_tls() {
            if c.ws.is_none() {
                c.state = State::Open;
                self.events.push_back(c.open_event());
                return;
            }
            // WebSocket: the upgrade runs first (a client's request goes out now).
            c.state = State::Handshaking { deadline };
            self.pending.push(id);
            c.pump_ws();
            c.mark_dirty(id, &mut self.dirty);
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
                c.state = State::Handshaking { deadline };
                self.pending.push(id);
                // A client speaks first (ClientHello; for `wss` the upgrade request waits
                // in `plain` for the TLS handshake).
                c.pump_ws();
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
            let mut conn = self.new_conn(peer, State::Open, true);
            // A WebSocket's idle clock starts when its upgrade is done (the handshake
            // timeout bounds the upgrade, and its bytes are not half a message).
            if !self.settings.kind.is_websocket()
                && let Some(idle) = self.idle.as_mut()
            {
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
            if c.accepted
                && c.ws.is_some()
                && let Some(idle) = self.idle.as_mut()
            {
                c.quiet = Some(Quiet::new(now));
                idle.accepted(now);
            }
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
        match c.write_out(&self.registry, id) {
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
            c.close(&self.registry, end);
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
