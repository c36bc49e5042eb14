//! One shard's stream connections inside its glommio executor: opening (connect, TLS,
//! WebSocket handshake), accepting, a reader and a writer task per connection, and the
//! table that maps a `Transmit` to its connection. The shard runs WebSocket (`w1`, `wn`,
//! `ws1`, `wsn`) this way; TCP and TLS go through `polled`, which keeps the same
//! routing and loss rules without tasks. It also defines the events both report.
//!
//! Owns: sockets of stream transports and their tasks. Must not: parse SIP beyond
//! framing or touch calls; it hands whole messages to its [`StreamHost`] and reports
//! what happened to connections as [`StreamEvent`]s (the host counts them).
//!
//! Drive: the shard calls [`Streams::send`] with every `TxQueue` it drains (that only
//! appends to outboxes and wakes writers: it never waits). Reader tasks call
//! `StreamHost::on_message` for each message, then `on_batch_end` once per read.
//! Bad input (bytes that cannot be framed, a message over the limit, a message cut by
//! the peer's close) closes that one connection only.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::rc::{Rc, Weak};
use std::time::Duration;

use async_tungstenite::tungstenite::{Error as WsError, Message};
use futures_util::future::{Either, select};
use futures_util::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use futures_util::{StreamExt, pin_mut};
use glommio::channels::local_channel::{self, LocalReceiver, LocalSender};
use glommio::net::{TcpListener, TcpStream};

use super::framer::{FrameError, StreamBuffer};
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

/// The calls a lost connection carried.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Carried {
    /// These calls (flows) of per-call client connections.
    Flows(Vec<u64>),
    /// Every call of the shard: its shared client connection is gone (-reconnect_close,
    /// or no reconnection possible).
    All,
    /// Every call with this peer: a server's connection from (or to) it, or one the peer
    /// opened to a client's listener.
    Peer,
}

/// The shard side of the transport.
pub trait StreamHost {
    /// One whole SIP message from `peer`.
    fn on_message(&self, bytes: &[u8], peer: SocketAddr);
    /// The messages of one read were delivered: run timers and send what was queued.
    fn on_batch_end(&self);
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

/// Bytes waiting for a connection's writer; `frames` keeps message boundaries for
/// WebSocket (one message per frame).
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
    /// We closed it on purpose (its last call ended): losing it fails nothing.
    wanted_close: Cell<bool>,
    /// The writer is in the middle of a write.
    busy: Cell<bool>,
    /// A peer opened it (to a server, or to a client's listener).
    accepted: Cell<bool>,
    per_call: bool,
    /// Flows (calls) routed to it (per-call connections).
    flows: RefCell<Vec<u64>>,
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
}

#[derive(Default)]
struct Table {
    conns: HashMap<u64, Rc<Conn>>,
    next_id: u64,
    by_peer: HashMap<SocketAddr, u64>,
    by_flow: HashMap<u64, u64>,
    per_call_open: usize,
    /// Reconnections of shared client connections so far.
    reconnects: u32,
    /// Peers a shared connection was ever opened to (the next open is a reconnection).
    opened_before: Vec<SocketAddr>,
    round_robin: usize,
}

/// The connections of one shard.
pub struct Streams {
    settings: SharedSettings,
    host: Rc<dyn StreamHost>,
    table: RefCell<Table>,
    me: Weak<Streams>,
}

impl Streams {
    /// Starts the transport: the accept loop and the adopted connection, if any.
    pub fn start(
        plan: StreamPlan,
        host: Rc<dyn StreamHost>,
        adopt: impl Fn(std::net::TcpStream) -> TcpStream,
        listen: impl Fn(std::net::TcpListener) -> TcpListener,
    ) -> Rc<Streams> {
        let streams = Rc::new_cyclic(|me| Streams {
            settings: plan.settings,
            host,
            table: RefCell::new(Table::default()),
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
                let (conn, rx) = streams.register(peer, false);
                streams.table.borrow_mut().opened_before.push(peer);
                streams.table.borrow_mut().by_peer.insert(peer, conn.id);
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
        let mut unroutable: Vec<u64> = Vec::new();
        let mut unroutable_peer = None;
        for t in &tx.items {
            let Some(conn) = self.route(t.dest, t.flow) else {
                self.host.on_event(StreamEvent::SendFailed {
                    peer: t.dest,
                    messages: 1,
                });
                // No connection and no reconnection left: the call cannot go on.
                if t.flow != 0 && !unroutable.contains(&t.flow) {
                    unroutable.push(t.flow);
                }
                unroutable_peer = Some(t.dest);
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
        if let Some(peer) = unroutable_peer
            && !unroutable.is_empty()
        {
            self.host.on_event(StreamEvent::Lost {
                peer,
                carried: Carried::Flows(unroutable),
                opened: false,
            });
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

    fn route(&self, dest: SocketAddr, flow: u64) -> Option<Rc<Conn>> {
        let st = &self.settings;
        if st.per_call && !st.server && flow != 0 {
            let existing = {
                let t = self.table.borrow();
                t.by_flow
                    .get(&flow)
                    .and_then(|id| t.conns.get(id))
                    .filter(|c| !c.closing.get())
                    .cloned()
            };
            if let Some(c) = existing {
                return Some(c);
            }
            let at_limit = st
                .max_sockets
                .is_some_and(|m| self.table.borrow().per_call_open >= m.max(1));
            let conn = if at_limit {
                self.shared_per_call_conn()?
            } else {
                let (c, rx) = self.register(dest, true);
                self.table.borrow_mut().per_call_open += 1;
                self.spawn_conn(Rc::clone(&c), rx, Establish::Connect { reconnect: false });
                c
            };
            conn.flows.borrow_mut().push(flow);
            self.table.borrow_mut().by_flow.insert(flow, conn.id);
            return Some(conn);
        }
        let existing = {
            let t = self.table.borrow();
            t.by_peer
                .get(&dest)
                .and_then(|id| t.conns.get(id))
                .filter(|c| !c.closing.get())
                .cloned()
        };
        if let Some(c) = existing {
            return Some(c);
        }
        // A shared connection that was open before is a reconnection (-max_reconnect).
        let reconnect = {
            let mut t = self.table.borrow_mut();
            let again = t.opened_before.contains(&dest);
            if again {
                if st.max_reconnect.is_some_and(|m| t.reconnects >= m) && !st.server {
                    return None;
                }
                t.reconnects += 1;
            } else {
                t.opened_before.push(dest);
            }
            again
        };
        let (c, rx) = self.register(dest, false);
        self.table.borrow_mut().by_peer.insert(dest, c.id);
        self.spawn_conn(
            Rc::clone(&c),
            rx,
            Establish::Connect {
                reconnect: reconnect && !st.server,
            },
        );
        Some(c)
    }

    /// `-max_socket` reached: the next open per-call connection, in turn.
    fn shared_per_call_conn(&self) -> Option<Rc<Conn>> {
        let mut t = self.table.borrow_mut();
        let open: Vec<&Rc<Conn>> = t
            .conns
            .values()
            .filter(|c| c.per_call && !c.closing.get())
            .collect();
        if open.is_empty() {
            return None;
        }
        let pick = Rc::clone(open[t.round_robin % open.len()]);
        t.round_robin = t.round_robin.wrapping_add(1);
        Some(pick)
    }

    /// A call ended: its per-call connection closes once no other call uses it.
    fn end_flow(&self, flow: u64) {
        let conn = {
            let mut t = self.table.borrow_mut();
            let Some(id) = t.by_flow.remove(&flow) else {
                return;
            };
            t.conns.get(&id).cloned()
        };
        if let Some(c) = conn {
            let empty = {
                let mut flows = c.flows.borrow_mut();
                flows.retain(|f| *f != flow);
                flows.is_empty()
            };
            if empty && c.per_call {
                c.wanted_close.set(true);
                c.close();
            }
        }
    }

    fn register(&self, peer: SocketAddr, per_call: bool) -> (Rc<Conn>, Receivers) {
        let (wake, wake_rx) = local_channel::new_bounded(1);
        let (stop, stop_rx) = local_channel::new_bounded(1);
        let mut t = self.table.borrow_mut();
        t.next_id += 1;
        let conn = Rc::new(Conn {
            id: t.next_id,
            peer,
            outbox: RefCell::new(Outbox::default()),
            wake,
            stop,
            closing: Cell::new(false),
            wanted_close: Cell::new(false),
            busy: Cell::new(false),
            accepted: Cell::new(false),
            per_call,
            flows: RefCell::new(Vec::new()),
        });
        t.conns.insert(conn.id, Rc::clone(&conn));
        (
            conn,
            Receivers {
                wake: wake_rx,
                stop: stop_rx,
            },
        )
    }

    /// Removes a closed connection from every map.
    fn forget(&self, conn: &Conn) {
        let mut t = self.table.borrow_mut();
        t.conns.remove(&conn.id);
        if t.by_peer.get(&conn.peer) == Some(&conn.id) {
            t.by_peer.remove(&conn.peer);
        }
        for f in conn.flows.borrow().iter() {
            if t.by_flow.get(f) == Some(&conn.id) {
                t.by_flow.remove(f);
            }
        }
        if conn.per_call {
            t.per_call_open = t.per_call_open.saturating_sub(1);
        }
    }

    fn spawn_conn(&self, conn: Rc<Conn>, rx: Receivers, how: Establish) {
        let Some(me) = self.rc() else { return };
        glommio::spawn_local(async move {
            let opened = me.run_conn(&conn, how, rx.wake, rx.stop).await;
            conn.closing.set(true);
            me.forget(&conn);
            me.report_lost(&conn, opened);
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
                    let (conn, rx) = self.register(peer, false);
                    conn.accepted.set(true);
                    self.table.borrow_mut().by_peer.insert(peer, conn.id);
                    self.spawn_conn(conn, rx, Establish::Accepted(tcp));
                }
                Err(_) => glommio::timer::sleep(Duration::from_millis(10)).await,
            }
        }
    }

    /// Opens (or takes) the socket, runs the handshakes, then reads and writes until the
    /// connection ends.
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
        if st.kind.is_websocket() {
            let ws = if accepted {
                async_tungstenite::accept_hdr_async_with_config(
                    io,
                    ws::answer,
                    Some(ws::config(st.max_message)),
                )
                .await
                .map_err(|e| e.to_string())
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
            let end = self.read_ws(conn, rx, stop).await;
            self.report_end(peer, end);
            conn.close();
            let _ = writer.await;
        } else {
            self.host.on_event(if accepted {
                StreamEvent::Accepted { peer }
            } else {
                StreamEvent::Opened { peer }
            });
            let (r, w) = io.split();
            let writer = glommio::spawn_local(write_bytes(Rc::clone(conn), w, wake));
            let end = self.read_bytes(conn, r, stop).await;
            self.report_end(peer, end);
            conn.close();
            let _ = writer.await;
        }
        true
    }

    /// A connection ended under calls that still need it (SIPp's `close_calls`).
    fn report_lost(&self, conn: &Conn, opened: bool) {
        if conn.wanted_close.get() {
            return;
        }
        let st = &self.settings;
        // A server's connection, or one a peer opened to a client: the calls with that
        // peer.
        let carried = if st.server || conn.accepted.get() {
            // A handshake that failed carried no call.
            if !opened {
                return;
            }
            Carried::Peer
        } else if conn.per_call {
            let flows = conn.flows.borrow().clone();
            if flows.is_empty() {
                return;
            }
            Carried::Flows(flows)
        } else if st.reconnect_close || !opened || !self.may_reconnect() {
            // Without -reconnect_close the calls wait for the next send to reconnect;
            // when that cannot happen (a reconnection failed, or none is left) they
            // fail now instead of waiting for their timeouts.
            Carried::All
        } else {
            return;
        };
        self.host.on_event(StreamEvent::Lost {
            peer: conn.peer,
            carried,
            opened,
        });
    }

    /// True while -max_reconnect allows another reconnection.
    fn may_reconnect(&self) -> bool {
        self.settings
            .max_reconnect
            .is_none_or(|m| self.table.borrow().reconnects < m)
    }

    fn report_end(&self, peer: SocketAddr, end: ReadEnd) {
        match end {
            ReadEnd::TooLarge => self.host.on_event(StreamEvent::TooLarge { peer }),
            ReadEnd::BadInput => self.host.on_event(StreamEvent::BadInput { peer }),
            ReadEnd::Closed | ReadEnd::Failed => {}
        }
    }

    /// TLS on top of TCP when the transport asks for it.
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

    async fn read_bytes(
        &self,
        conn: &Conn,
        mut r: futures_util::io::ReadHalf<BoxIo>,
        stop: LocalReceiver<()>,
    ) -> ReadEnd {
        let mut buf = StreamBuffer::new(self.settings.max_message);
        loop {
            let read = {
                let space = buf.read_space();
                let read = r.read(space);
                let stopped = stop.recv();
                pin_mut!(read, stopped);
                match select(read, stopped).await {
                    Either::Left((res, _)) => Some(res),
                    Either::Right(_) => None,
                }
            };
            let n = match read {
                None => {
                    buf.filled(0);
                    return ReadEnd::Closed;
                }
                Some(Ok(0)) => {
                    buf.filled(0);
                    // The peer closed; a message it started and never finished is bad input.
                    return if buf.only_keepalives() {
                        ReadEnd::Closed
                    } else {
                        ReadEnd::BadInput
                    };
                }
                Some(Ok(n)) => n,
                Some(Err(_)) => {
                    buf.filled(0);
                    return ReadEnd::Failed;
                }
            };
            buf.filled(n);
            let mut end = None;
            loop {
                match buf.next_frame() {
                    Ok(Some(m)) => self.host.on_message(m, conn.peer),
                    Ok(None) => break,
                    Err(FrameError::TooLarge) => {
                        end = Some(ReadEnd::TooLarge);
                        break;
                    }
                    Err(FrameError::BadInput) => {
                        end = Some(ReadEnd::BadInput);
                        break;
                    }
                }
            }
            self.host.on_batch_end();
            if buf.take_pings() > 0 {
                conn.outbox.borrow_mut().bytes.extend_from_slice(b"\r\n");
                let _ = conn.wake.try_send(());
            }
            if let Some(e) = end {
                return e;
            }
        }
    }

    async fn read_ws(
        &self,
        conn: &Conn,
        mut rx: async_tungstenite::WebSocketReceiver<BoxIo>,
        stop: LocalReceiver<()>,
    ) -> ReadEnd {
        loop {
            let next = {
                let next = rx.next();
                let stopped = stop.recv();
                pin_mut!(next, stopped);
                match select(next, stopped).await {
                    Either::Left((m, _)) => m,
                    Either::Right(_) => return ReadEnd::Closed,
                }
            };
            match next {
                None | Some(Ok(Message::Close(_))) => return ReadEnd::Closed,
                Some(Ok(Message::Text(t))) => self.host.on_message(t.as_bytes(), conn.peer),
                Some(Ok(Message::Binary(b))) => self.host.on_message(&b, conn.peer),
                Some(Ok(_)) => continue,
                Some(Err(WsError::Capacity(_))) => return ReadEnd::TooLarge,
                Some(Err(WsError::Protocol(_) | WsError::Utf8(_))) => return ReadEnd::BadInput,
                Some(Err(_)) => return ReadEnd::Failed,
            }
            self.host.on_batch_end();
        }
    }
}

/// Writes a byte stream's outbox until the connection closes.
async fn write_bytes(
    conn: Rc<Conn>,
    mut w: futures_util::io::WriteHalf<BoxIo>,
    wake: LocalReceiver<()>,
) {
    let mut local = Outbox::default();
    loop {
        std::mem::swap(&mut *conn.outbox.borrow_mut(), &mut local);
        if !local.bytes.is_empty() {
            conn.busy.set(true);
            let ok = w.write_all(&local.bytes).await.is_ok() && w.flush().await.is_ok();
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
    let _ = w.close().await;
    let _ = conn.stop.try_send(());
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
