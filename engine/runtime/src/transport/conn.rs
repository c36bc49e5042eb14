//! One shard's WebSocket connections (`w1`, `wn`, `ws1`, `wsn`) inside its glommio
//! executor: opening (connect, TLS for `wss`, WebSocket handshake), accepting, and a
//! reader and a writer task per connection. TCP and TLS go through `polled`, without
//! tasks. Which connection a `Transmit` takes, and which calls a lost connection fails,
//! are `routing`'s rules, which both ask. It also defines the events both report.
//!
//! Owns: WebSocket sockets and their tasks. Must not: parse SIP or touch calls; it hands
//! whole messages (one per WebSocket message) to its [`StreamHost`] and reports what
//! happened to connections as [`StreamEvent`]s (the host counts them).
//!
//! Drive: the shard calls [`Streams::send`] with every `TxQueue` it drains (that only
//! appends to outboxes and wakes writers: it never waits). Reader tasks call
//! `StreamHost::on_message` for each message, then `on_batch_end` once per read.
//! Bad input (a WebSocket protocol error, a message over the limit) closes that one
//! connection only. An accepted connection must finish its handshakes within the
//! handshake timeout, and is closed by the idle timeout under `transport::idle`'s rule
//! (`IdleClosed`: silent with no live call, which it asks [`StreamHost`], or half a
//! message waiting): its reader applies the rule on one timer ticking every quarter of
//! the timeout, so a message costs no timer update and no clock read.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::pin::Pin;
use std::rc::{Rc, Weak};
use std::task::{Context, Poll};
use std::time::Duration;

use async_tungstenite::tungstenite::{Error as WsError, Message};
use futures_util::future::{Either, select};
use futures_util::io::{AsyncRead, AsyncWrite};
use futures_util::{StreamExt, pin_mut};
use glommio::channels::local_channel::{self, LocalReceiver, LocalSender};
use glommio::net::{TcpListener, TcpStream};

use super::idle::{Quiet, Verdict};
use super::routing::{Carried, Route, Routes, Unroutable};
use super::{SharedSettings, StreamKind, ws};
use crate::call::TxQueue;

/// What a connection did, for the host's counters and warnings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StreamEvent {
    /// We opened a connection to `peer` (after its handshakes).
    Opened { peer: SocketAddr },
    /// A peer connected to us (after its handshakes).
    Accepted { peer: SocketAddr },
    /// Connecting to `peer` failed.
    ConnectFailed { peer: SocketAddr, reason: String },
    /// The TLS or WebSocket handshake with `peer` failed.
    HandshakeFailed { peer: SocketAddr, reason: String },
    /// A message over the size limit closed the connection.
    TooLarge { peer: SocketAddr },
    /// Bytes that are not SIP, or a message cut by the peer's close, closed the connection.
    BadInput { peer: SocketAddr },
    /// An accepted connection was idle (`transport::idle`'s rule: silent for the idle
    /// timeout with no live call, or half a message waiting as long) and was closed.
    IdleClosed { peer: SocketAddr },
    /// Messages that could not be sent (no connection, reconnections exhausted, write
    /// failure).
    SendFailed { peer: SocketAddr, messages: u64 },
    /// A connection ended while calls still used it: fail the calls it `carried`.
    /// `opened` tells a lost connection (FailedTcpClosed) from one never opened
    /// (FailedTcpConnect).
    Lost {
        peer: SocketAddr,
        carried: Carried,
        opened: bool,
    },
}

/// The shard side of the transport.
pub trait StreamHost {
    /// One whole SIP message from `peer`.
    fn on_message(&self, bytes: &[u8], peer: SocketAddr);
    /// The messages of one read were delivered: run timers and send what was queued.
    fn on_batch_end(&self);
    /// True when a live call (not only waiting out its final `<timewait>`) is bound to
    /// `peer`: its accepted connection is not idle, however silent. Asked at most once
    /// per idle timeout per silent connection.
    fn carries_live_calls(&self, peer: SocketAddr) -> bool;
    /// Something happened to a connection.
    fn on_event(&self, event: StreamEvent);
}

/// What a shard thread starts with (built by the runner; `Send`).
#[derive(Debug)]
pub struct StreamPlan {
    pub settings: SharedSettings,
    /// A bound, listening socket (servers, and per-call clients that accept requests).
    pub listener: Option<std::net::TcpListener>,
    /// A shared client's connection to the remote, opened while preparing so that
    /// `[local_port]` is its port (its TLS/WebSocket handshake runs in the shard).
    pub connected: Option<std::net::TcpStream>,
}

trait Io: AsyncRead + AsyncWrite + Unpin {}
impl<T: AsyncRead + AsyncWrite + Unpin> Io for T {}
type BoxIo = Box<dyn Io>;

/// An accepted connection's bytes (decrypted, for `wss`), noting in `arrived` that some
/// came in: the reader clears it at each whole message, so while it is set part of a message
/// waits for the rest (the idle rule's half-sent message). Bytes that came in the same
/// read as the whole message before them are not noted; such a connection is held to the
/// silence rule.
struct Noted {
    io: BoxIo,
    arrived: Rc<Cell<bool>>,
}

impl AsyncRead for Noted {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<std::io::Result<usize>> {
        let read = Pin::new(&mut self.io).poll_read(cx, buf);
        if matches!(read, Poll::Ready(Ok(n)) if n > 0) {
            self.arrived.set(true);
        }
        read
    }
}

impl AsyncWrite for Noted {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_close(cx)
    }
}

/// An accepted connection's idle timeout and its `Noted` flag.
struct IdleWatch {
    timeout: Duration,
    arrived: Rc<Cell<bool>>,
}

/// Messages waiting for a connection's writer: their bytes, one after the other, and
/// their lengths (each goes in a WebSocket message of its own).
#[derive(Debug, Default)]
struct Outbox {
    bytes: Vec<u8>,
    frames: Vec<usize>,
}

impl Outbox {
    fn clear(&mut self) {
        self.bytes.clear();
        self.frames.clear();
    }
}

struct Conn {
    id: u64,
    peer: SocketAddr,
    outbox: RefCell<Outbox>,
    /// Wakes the writer (capacity 1: a pending wake is enough).
    wake: LocalSender<()>,
    /// Stops the reader.
    stop: LocalSender<()>,
    /// No more messages go to it: the writer drains, shuts down and the reader stops.
    closing: Cell<bool>,
    /// The writer is in the middle of a write.
    busy: Cell<bool>,
}

impl Conn {
    fn close(&self) {
        self.closing.set(true);
        let _ = self.wake.try_send(());
    }
}

/// The task ends of a connection's channels.
struct Receivers {
    wake: LocalReceiver<()>,
    stop: LocalReceiver<()>,
}

/// How a connection comes to be.
enum Establish {
    Connect { reconnect: bool },
    Accepted(TcpStream),
    Adopted(TcpStream),
}

/// Why a reader stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ReadEnd {
    /// Asked to stop, or the peer closed cleanly.
    Closed,
    TooLarge,
    BadInput,
    /// A socket error.
    Failed,
    /// An accepted connection sent nothing whole for the idle timeout.
    Idle,
}

struct Table {
    conns: HashMap<u64, Rc<Conn>>,
    /// Connection ids, and which connection each message takes.
    routes: Routes,
}

/// The connections of one shard.
pub struct Streams {
    settings: SharedSettings,
    host: Rc<dyn StreamHost>,
    table: RefCell<Table>,
    me: Weak<Streams>,
}

impl Streams {
    /// Starts the transport (a WebSocket kind: TCP and TLS run `polled`): the accept
    /// loop and the adopted connection, if any.
    pub fn start(
        plan: StreamPlan,
        host: Rc<dyn StreamHost>,
        adopt: impl Fn(std::net::TcpStream) -> TcpStream,
        listen: impl Fn(std::net::TcpListener) -> TcpListener,
    ) -> Rc<Streams> {
        debug_assert!(plan.settings.kind.is_websocket(), "TCP and TLS run polled");
        let streams = Rc::new_cyclic(|me| Streams {
            table: RefCell::new(Table {
                conns: HashMap::new(),
                routes: Routes::new(&plan.settings),
            }),
            settings: plan.settings,
            host,
            me: me.clone(),
        });
        if let Some(l) = plan.listener {
            let listener = listen(l);
            let s = Rc::clone(&streams);
            glommio::spawn_local(async move { s.accept_loop(listener).await }).detach();
        }
        if let Some(c) = plan.connected {
            let tcp = adopt(c);
            if let Ok(peer) = tcp.peer_addr() {
                let id = streams.table.borrow_mut().routes.adopt(peer);
                let (conn, rx) = streams.register(id, peer);
                streams.spawn_conn(conn, rx, Establish::Adopted(tcp));
            }
        }
        streams
    }

    fn rc(&self) -> Option<Rc<Streams>> {
        self.me.upgrade()
    }

    /// Queues every message of `tx` on its connection (opening connections as needed),
    /// then closes the connections of flows that ended. Never waits.
    pub fn send(&self, tx: &TxQueue) {
        let mut unroutable = Unroutable::default();
        for t in &tx.items {
            let Some(conn) = self.route(t.dest, t.flow) else {
                self.host.on_event(StreamEvent::SendFailed {
                    peer: t.dest,
                    messages: 1,
                });
                // No connection and no reconnection left: the call cannot go on.
                unroutable.add(t.dest, t.flow);
                continue;
            };
            {
                let mut o = conn.outbox.borrow_mut();
                o.bytes.extend_from_slice(tx.bytes(t));
                o.frames.push(t.len);
            }
            let _ = conn.wake.try_send(());
        }
        for f in &tx.ended_flows {
            self.end_flow(*f);
        }
        if let Some(lost) = unroutable.into_lost() {
            self.host.on_event(lost);
        }
    }

    /// True when no connection has bytes waiting or being written.
    pub fn idle(&self) -> bool {
        self.table
            .borrow()
            .conns
            .values()
            .all(|c| c.outbox.borrow().bytes.is_empty() && !c.busy.get())
    }

    /// Open connections (for tests and the screen).
    pub fn open_connections(&self) -> usize {
        self.table.borrow().conns.len()
    }

    /// The connection a message to `dest` of `flow` goes on (opening it if needed), or
    /// `None` when none may be opened.
    fn route(&self, dest: SocketAddr, flow: u64) -> Option<Rc<Conn>> {
        let route = {
            let t = &mut *self.table.borrow_mut();
            let conns = &t.conns;
            let usable = |id| conns.get(&id).is_some_and(|c: &Rc<Conn>| !c.closing.get());
            t.routes.route(dest, flow, usable)
        };
        match route {
            Route::Existing(id) => self.table.borrow().conns.get(&id).cloned(),
            Route::Open { id, reconnect } => {
                let (c, rx) = self.register(id, dest);
                self.spawn_conn(Rc::clone(&c), rx, Establish::Connect { reconnect });
                Some(c)
            }
            Route::Refused => None,
        }
    }

    /// A call ended: its per-call connection closes once no other call uses it.
    fn end_flow(&self, flow: u64) {
        let conn = {
            let mut t = self.table.borrow_mut();
            let Some(id) = t.routes.end_flow(flow) else {
                return;
            };
            t.conns.get(&id).cloned()
        };
        if let Some(c) = conn {
            c.close();
        }
    }

    /// Connection `id` (its routing is registered already), with its channels.
    fn register(&self, id: u64, peer: SocketAddr) -> (Rc<Conn>, Receivers) {
        let (wake, wake_rx) = local_channel::new_bounded(1);
        let (stop, stop_rx) = local_channel::new_bounded(1);
        let conn = Rc::new(Conn {
            id,
            peer,
            outbox: RefCell::new(Outbox::default()),
            wake,
            stop,
            closing: Cell::new(false),
            busy: Cell::new(false),
        });
        self.table.borrow_mut().conns.insert(id, Rc::clone(&conn));
        (
            conn,
            Receivers {
                wake: wake_rx,
                stop: stop_rx,
            },
        )
    }

    fn spawn_conn(&self, conn: Rc<Conn>, rx: Receivers, how: Establish) {
        let Some(me) = self.rc() else { return };
        glommio::spawn_local(async move {
            let opened = me.run_conn(&conn, how, rx.wake, rx.stop).await;
            conn.closing.set(true);
            // Calls that still needed it fail (SIPp's `close_calls`).
            let carried = {
                let mut t = me.table.borrow_mut();
                t.conns.remove(&conn.id);
                t.routes.close(conn.id, opened)
            };
            if let Some(carried) = carried {
                me.host.on_event(StreamEvent::Lost {
                    peer: conn.peer,
                    carried,
                    opened,
                });
            }
            let lost = conn.outbox.borrow().frames.len() as u64;
            if lost > 0 {
                me.host.on_event(StreamEvent::SendFailed {
                    peer: conn.peer,
                    messages: lost,
                });
            }
        })
        .detach();
    }

    async fn accept_loop(self: Rc<Self>, listener: TcpListener) {
        loop {
            match listener.accept().await {
                Ok(tcp) => {
                    let Ok(peer) = tcp.peer_addr() else { continue };
                    let id = self.table.borrow_mut().routes.accept(peer);
                    let (conn, rx) = self.register(id, peer);
                    self.spawn_conn(conn, rx, Establish::Accepted(tcp));
                }
                Err(_) => glommio::timer::sleep(Duration::from_millis(10)).await,
            }
        }
    }

    /// Opens (or takes) the socket, runs the handshakes (TLS for `wss`, then WebSocket),
    /// then reads and writes until the connection ends.
    /// Returns whether the connection was ever open (handshakes done).
    async fn run_conn(
        self: &Rc<Self>,
        conn: &Rc<Conn>,
        how: Establish,
        wake: LocalReceiver<()>,
        stop: LocalReceiver<()>,
    ) -> bool {
        let st = SharedSettings::clone(&self.settings);
        let peer = conn.peer;
        let (tcp, accepted) = match how {
            Establish::Accepted(t) => (t, true),
            Establish::Adopted(t) => (t, false),
            Establish::Connect { reconnect } => {
                if reconnect && !st.reconnect_sleep.is_zero() {
                    glommio::timer::sleep(st.reconnect_sleep).await;
                }
                match TcpStream::connect_timeout(peer, st.handshake_timeout).await {
                    Ok(t) => (t, false),
                    Err(e) => {
                        self.host.on_event(StreamEvent::ConnectFailed {
                            peer,
                            reason: e.to_string(),
                        });
                        return false;
                    }
                }
            }
        };
        let _ = tcp.set_nodelay(true);
        let io = match with_timeout(st.handshake_timeout, self.secure(tcp, accepted)).await {
            Ok(io) => io,
            Err(reason) => {
                self.host
                    .on_event(StreamEvent::HandshakeFailed { peer, reason });
                return false;
            }
        };
        let idle = st
            .idle_timeout
            .filter(|_| accepted)
            .map(|timeout| IdleWatch {
                timeout,
                arrived: Rc::new(Cell::new(false)),
            });
        let io: BoxIo = match &idle {
            Some(w) => Box::new(Noted {
                io,
                arrived: Rc::clone(&w.arrived),
            }),
            None => io,
        };
        let ws = if accepted {
            // Bounded like the TLS handshake: a peer that never finishes its upgrade
            // request does not keep the connection.
            let upgrade = async {
                async_tungstenite::accept_hdr_async_with_config(
                    io,
                    ws::answer,
                    Some(ws::config(st.max_message)),
                )
                .await
                .map_err(|e| e.to_string())
            };
            with_timeout(st.handshake_timeout, upgrade).await
        } else {
            match ws::client_request(st.kind == StreamKind::Wss, peer, &st.ws_path) {
                Ok(req) => async_tungstenite::client_async_with_config(
                    req,
                    io,
                    Some(ws::config(st.max_message)),
                )
                .await
                .map(|(ws, _)| ws)
                .map_err(|e| e.to_string()),
                Err(e) => Err(e),
            }
        };
        let ws = match ws {
            Ok(ws) => ws,
            Err(reason) => {
                self.host
                    .on_event(StreamEvent::HandshakeFailed { peer, reason });
                return false;
            }
        };
        self.host.on_event(if accepted {
            StreamEvent::Accepted { peer }
        } else {
            StreamEvent::Opened { peer }
        });
        let (tx, rx) = ws.split();
        let writer = glommio::spawn_local(write_ws(Rc::clone(conn), tx, wake));
        let end = self.read_ws(conn, rx, stop, idle).await;
        self.report_end(peer, end);
        conn.close();
        let _ = writer.await;
        true
    }

    fn report_end(&self, peer: SocketAddr, end: ReadEnd) {
        match end {
            ReadEnd::TooLarge => self.host.on_event(StreamEvent::TooLarge { peer }),
            ReadEnd::BadInput => self.host.on_event(StreamEvent::BadInput { peer }),
            ReadEnd::Idle => self.host.on_event(StreamEvent::IdleClosed { peer }),
            ReadEnd::Closed | ReadEnd::Failed => {}
        }
    }

    /// `wss`: TLS under the WebSocket; `ws`: the TCP stream as it is.
    async fn secure(&self, tcp: TcpStream, accepted: bool) -> Result<BoxIo, String> {
        if !self.settings.kind.uses_tls() {
            return Ok(Box::new(tcp));
        }
        let Some(tls) = self.settings.tls.as_ref() else {
            return Err("TLS is not configured".into());
        };
        if accepted {
            let acceptor = futures_rustls::TlsAcceptor::from(std::sync::Arc::clone(&tls.server));
            acceptor
                .accept(tcp)
                .await
                .map(|s| Box::new(s) as BoxIo)
                .map_err(|e| e.to_string())
        } else {
            let connector = futures_rustls::TlsConnector::from(std::sync::Arc::clone(&tls.client));
            connector
                .connect(tls.server_name.clone(), tcp)
                .await
                .map(|s| Box::new(s) as BoxIo)
                .map_err(|e| e.to_string())
        }
    }

    /// Reads messages until the connection ends. With `idle` (accepted connections), a
    /// tick every quarter of the timeout applies `transport::idle`'s rule: the tick's
    /// instant stands for `now`, a message since the previous tick counts as heard at it,
    /// and a set `Noted` flag as half a message waiting since it. The first tick starts
    /// the idle clock, so a silent connection without calls closes between the timeout
    /// and 1.25 × the timeout after its last message (or its accept).
    async fn read_ws(
        &self,
        conn: &Conn,
        mut rx: async_tungstenite::WebSocketReceiver<BoxIo>,
        stop: LocalReceiver<()>,
        idle: Option<IdleWatch>,
    ) -> ReadEnd {
        // Without an idle timeout the tick comes once a day and changes nothing.
        let quarter = idle
            .as_ref()
            .map_or(Duration::from_secs(86_400), |w| w.timeout / 4);
        let mut tick = glommio::timer::Timer::new(quarter);
        let mut quiet: Option<Quiet> = None;
        let mut heard = false;
        if let Some(w) = &idle {
            // The upgrade request's bytes are not half a message.
            w.arrived.set(false);
        }
        loop {
            let next = {
                let next = rx.next();
                let stopped = stop.recv();
                pin_mut!(next, stopped);
                match select(next, select(stopped, &mut tick)).await {
                    Either::Left((m, _)) => m,
                    Either::Right((Either::Left(_), _)) => return ReadEnd::Closed,
                    Either::Right((Either::Right((at, _)), _)) => {
                        if let Some(w) = &idle {
                            let q = quiet.get_or_insert(Quiet::new(at));
                            if std::mem::take(&mut heard) {
                                q.heard(at);
                            }
                            q.pending(at, w.arrived.get());
                            let live = || self.host.carries_live_calls(conn.peer);
                            if q.check(w.timeout, at, live) == Verdict::Close {
                                return ReadEnd::Idle;
                            }
                        }
                        tick.reset(quarter);
                        continue;
                    }
                }
            };
            if let (Some(w), Some(Ok(_))) = (&idle, &next) {
                // A whole message, ping or pong: heard, and nothing half-sent.
                heard = true;
                w.arrived.set(false);
            }
            match next {
                None | Some(Ok(Message::Close(_))) => return ReadEnd::Closed,
                Some(Ok(Message::Text(t))) => self.host.on_message(t.as_bytes(), conn.peer),
                Some(Ok(Message::Binary(b))) => self.host.on_message(&b, conn.peer),
                // Pings and pongs keep the connection alive.
                Some(Ok(_)) => continue,
                Some(Err(WsError::Capacity(_))) => return ReadEnd::TooLarge,
                Some(Err(WsError::Protocol(_) | WsError::Utf8(_))) => return ReadEnd::BadInput,
                Some(Err(_)) => return ReadEnd::Failed,
            }
            self.host.on_batch_end();
        }
    }
}

/// Writes a WebSocket connection's outbox, one message per frame, until it closes.
async fn write_ws(
    conn: Rc<Conn>,
    mut tx: async_tungstenite::WebSocketSender<BoxIo>,
    wake: LocalReceiver<()>,
) {
    let mut local = Outbox::default();
    loop {
        std::mem::swap(&mut *conn.outbox.borrow_mut(), &mut local);
        if !local.frames.is_empty() {
            conn.busy.set(true);
            let mut at = 0;
            let mut ok = true;
            for len in &local.frames {
                let bytes = local.bytes.get(at..at + len).unwrap_or_default();
                at += len;
                let msg = match std::str::from_utf8(bytes) {
                    Ok(text) => Message::text(text),
                    Err(_) => Message::binary(bytes.to_vec()),
                };
                if tx.send(msg).await.is_err() {
                    ok = false;
                    break;
                }
            }
            conn.busy.set(false);
            local.clear();
            if !ok {
                break;
            }
            continue;
        }
        if conn.closing.get() || wake.recv().await.is_none() {
            break;
        }
    }
    let _ = tx.close(None).await;
    let _ = conn.stop.try_send(());
}

/// `fut`, or an error once `limit` passed.
async fn with_timeout<T>(
    limit: Duration,
    fut: impl std::future::Future<Output = Result<T, String>>,
) -> Result<T, String> {
    let timer = glommio::timer::sleep(limit);
    pin_mut!(fut, timer);
    match select(fut, timer).await {
        Either::Left((r, _)) => r,
        Either::Right(_) => Err(format!("no answer within {} ms", limit.as_millis())),
    }
}
