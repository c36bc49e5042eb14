//! SIP over WebSocket (RFC 7118) on one polled connection: tungstenite's RFC 6455
//! handshake and framing, run over in-memory buffers instead of a socket, so the shard
//! loop moves the bytes (plain for `ws`, through rustls for `wss`) exactly as it moves
//! TCP's and TLS's, with no task and no waiting.
//!
//! Owns: one connection's WebSocket state (handshake in progress, open, closed), the SIP
//! messages queued before the handshake finished, and whether part of a frame waits for
//! the rest. Must not: touch the socket or TLS (the connection feeds `feed` the bytes it
//! read and sends what `take_output` gives back) or parse SIP: each WebSocket message is
//! one SIP message (RFC 7118 §5). The handshake rules (the `sip` subprotocol, the path)
//! are `transport::ws`'s.

use std::cell::RefCell;
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::rc::Rc;

use tungstenite::handshake::HandshakeError;
use tungstenite::handshake::MidHandshake;
use tungstenite::handshake::client::ClientHandshake;
use tungstenite::handshake::server::ServerHandshake;
use tungstenite::{Error as WsError, Message, WebSocket};

use super::conn::End;
use crate::transport::ws;

/// The bytes between the connection and tungstenite: what was read and not yet taken,
/// and what tungstenite wrote. Shared with the `Pipe` inside tungstenite, so the bytes
/// of a failed handshake (a 400 refusal) survive the handshake object.
#[derive(Debug, Default)]
struct Buffers {
    input: Vec<u8>,
    at: usize,
    output: Vec<u8>,
}

/// The in-memory stream tungstenite runs over: reads what was fed (`WouldBlock` when
/// nothing is left), writes into the output buffer (never blocks).
#[derive(Debug, Clone, Default)]
pub(super) struct Pipe(Rc<RefCell<Buffers>>);

impl Read for Pipe {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let mut b = self.0.borrow_mut();
        let b = &mut *b;
        let avail = b.input.get(b.at..).unwrap_or_default();
        if avail.is_empty() {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        let n = avail.len().min(buf.len());
        buf.get_mut(..n)
            .unwrap_or_default()
            .copy_from_slice(avail.get(..n).unwrap_or_default());
        b.at += n;
        if b.at == b.input.len() {
            b.input.clear();
            b.at = 0;
        }
        Ok(n)
    }
}

impl Write for Pipe {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.borrow_mut().output.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The server's answer to an upgrade (`ws::answer`), as tungstenite's callback type.
type Answer = fn(
    &tungstenite::handshake::server::Request,
    tungstenite::handshake::server::Response,
) -> Result<
    tungstenite::handshake::server::Response,
    tungstenite::handshake::server::ErrorResponse,
>;

enum State {
    Accepting(MidHandshake<ServerHandshake<Pipe, Answer>>),
    Connecting(MidHandshake<ClientHandshake<Pipe>>),
    Open(Box<WebSocket<Pipe>>),
    Closed,
}

/// What one `feed` did.
#[derive(Debug, Default)]
pub(super) struct WsRead {
    /// Whole SIP messages delivered.
    pub(super) delivered: usize,
    /// The handshake finished.
    pub(super) opened: bool,
    /// The handshake failed (why).
    pub(super) handshake_error: Option<String>,
    /// A whole message, ping or pong arrived (the idle rule's "heard").
    pub(super) heard: bool,
    /// The connection cannot go on.
    pub(super) end: Option<End>,
}

/// One connection's WebSocket.
pub(super) struct Ws {
    state: State,
    pipe: Pipe,
    /// SIP messages queued before the handshake finished: their bytes and lengths.
    waiting: Vec<u8>,
    waiting_lens: Vec<usize>,
    /// Bytes came in since the last whole message: part of a frame waits for the rest.
    partial: bool,
}

impl Ws {
    /// The accepting side: waits for the upgrade request.
    pub(super) fn accept(max_message: usize) -> Result<Ws, String> {
        let pipe = Pipe::default();
        let answer: Answer = ws::answer;
        let state = match tungstenite::accept_hdr_with_config(
            pipe.clone(),
            answer,
            Some(ws::config(max_message)),
        ) {
            Err(HandshakeError::Interrupted(mid)) => State::Accepting(mid),
            Ok(_) => return Err("upgrade finished before any request".into()),
            Err(HandshakeError::Failure(e)) => return Err(e.to_string()),
        };
        Ok(Ws::new(state, pipe))
    }

    /// The connecting side: writes the upgrade request to `peer` on `path` now.
    pub(super) fn connect(
        secure: bool,
        peer: SocketAddr,
        path: &str,
        max_message: usize,
    ) -> Result<Ws, String> {
        let req = ws::client_request(secure, peer, path)?;
        let pipe = Pipe::default();
        let state = match tungstenite::client::client_with_config(
            req,
            pipe.clone(),
            Some(ws::config(max_message)),
        ) {
            Err(HandshakeError::Interrupted(mid)) => State::Connecting(mid),
            Ok(_) => return Err("upgrade finished before any answer".into()),
            Err(HandshakeError::Failure(e)) => return Err(e.to_string()),
        };
        Ok(Ws::new(state, pipe))
    }

    fn new(state: State, pipe: Pipe) -> Ws {
        Ws {
            state,
            pipe,
            waiting: Vec::new(),
            waiting_lens: Vec::new(),
            partial: false,
        }
    }

    /// Part of a frame (or of the upgrade request) waits for the rest.
    pub(super) fn partial(&self) -> bool {
        self.partial
    }

    /// Messages wait for the handshake to finish.
    pub(super) fn has_waiting(&self) -> bool {
        !self.waiting_lens.is_empty()
    }

    /// Bytes read from the connection (decrypted, for `wss`): runs the handshake on, and
    /// delivers each whole message to `deliver`.
    pub(super) fn feed(
        &mut self,
        bytes: &[u8],
        peer: SocketAddr,
        deliver: &mut dyn FnMut(&[u8], SocketAddr),
    ) -> WsRead {
        let mut out = WsRead::default();
        if bytes.is_empty() {
            return out;
        }
        self.pipe.0.borrow_mut().input.extend_from_slice(bytes);
        self.partial = true;
        self.handshake(&mut out);
        if out.end.is_none() {
            self.read_messages(peer, deliver, &mut out);
        }
        out
    }

    /// Moves the handshake on with what was fed.
    fn handshake(&mut self, out: &mut WsRead) {
        let state = std::mem::replace(&mut self.state, State::Closed);
        let result = match state {
            State::Accepting(mid) => match mid.handshake() {
                Ok(ws) => Ok(Some(ws)),
                Err(HandshakeError::Interrupted(mid)) => {
                    self.state = State::Accepting(mid);
                    Ok(None)
                }
                Err(HandshakeError::Failure(e)) => Err(e),
            },
            State::Connecting(mid) => match mid.handshake() {
                Ok((ws, _)) => Ok(Some(ws)),
                Err(HandshakeError::Interrupted(mid)) => {
                    self.state = State::Connecting(mid);
                    Ok(None)
                }
                Err(HandshakeError::Failure(e)) => Err(e),
            },
            other => {
                self.state = other;
                Ok(None)
            }
        };
        match result {
            Ok(Some(ws)) => {
                self.state = State::Open(Box::new(ws));
                out.opened = true;
                // The upgrade's bytes are not half a message.
                self.partial = !self.pipe.0.borrow().input.is_empty();
                let waiting = std::mem::take(&mut self.waiting);
                let mut at = 0;
                for len in std::mem::take(&mut self.waiting_lens) {
                    self.send(waiting.get(at..at + len).unwrap_or_default());
                    at += len;
                }
            }
            Ok(None) => {}
            Err(e) => {
                out.handshake_error = Some(e.to_string());
                out.end = Some(End::Failed);
            }
        }
    }

    /// Delivers every whole message tungstenite has; pings are answered (the pong is in
    /// the output).
    fn read_messages(
        &mut self,
        peer: SocketAddr,
        deliver: &mut dyn FnMut(&[u8], SocketAddr),
        out: &mut WsRead,
    ) {
        let State::Open(ws) = &mut self.state else {
            return;
        };
        loop {
            match ws.read() {
                Ok(m) => {
                    out.heard = true;
                    self.partial = !self.pipe.0.borrow().input.is_empty();
                    match m {
                        Message::Text(t) => {
                            deliver(t.as_bytes(), peer);
                            out.delivered += 1;
                        }
                        Message::Binary(b) => {
                            deliver(&b, peer);
                            out.delivered += 1;
                        }
                        Message::Close(_) => {
                            out.end = Some(End::Closed);
                            break;
                        }
                        // Pings (answered by tungstenite), pongs and raw frames keep the
                        // connection alive.
                        Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => {}
                    }
                }
                Err(WsError::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(WsError::ConnectionClosed | WsError::AlreadyClosed) => {
                    out.end = Some(End::Closed);
                    break;
                }
                Err(WsError::Capacity(_)) => {
                    out.end = Some(End::TooLarge);
                    break;
                }
                Err(WsError::Protocol(_) | WsError::Utf8(_)) => {
                    out.end = Some(End::BadInput);
                    break;
                }
                Err(_) => {
                    out.end = Some(End::Failed);
                    break;
                }
            }
        }
        // A ping's pong, queued by tungstenite.
        let _ = ws.flush();
    }

    /// Queues one SIP message as one WebSocket message (text when it is UTF-8, as SIP
    /// is; binary otherwise). Before the handshake finished it waits.
    pub(super) fn send(&mut self, bytes: &[u8]) {
        let State::Open(ws) = &mut self.state else {
            if !matches!(self.state, State::Closed) {
                self.waiting.extend_from_slice(bytes);
                self.waiting_lens.push(bytes.len());
            }
            return;
        };
        let msg = match std::str::from_utf8(bytes) {
            Ok(text) => Message::text(text),
            Err(_) => Message::binary(bytes.to_vec()),
        };
        // The pipe never blocks: a failure here means the WebSocket is closing.
        let _ = ws.send(msg);
    }

    /// Starts a clean close (a Close frame) on an open WebSocket.
    pub(super) fn close(&mut self) {
        if let State::Open(ws) = &mut self.state {
            let _ = ws.close(None);
            let _ = ws.flush();
        }
    }

    /// Appends what tungstenite wrote (handshake, frames, pongs, a close) to `to`.
    pub(super) fn take_output(&mut self, to: &mut Vec<u8>) {
        let mut b = self.pipe.0.borrow_mut();
        to.extend_from_slice(&b.output);
        b.output.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer() -> SocketAddr {
        "127.0.0.1:5060".parse().expect("addr")
    }

    /// A connecting and an accepting WebSocket wired back to back.
    fn pair() -> (Ws, Ws) {
        let mut client = Ws::connect(false, peer(), "/", 64 << 10).expect("client");
        let mut server = Ws::accept(64 << 10).expect("server");
        let mut wire = Vec::new();
        client.take_output(&mut wire);
        assert!(wire.starts_with(b"GET / HTTP/1.1\r\n"));
        let r = server.feed(&wire, peer(), &mut |_, _| panic!("no message yet"));
        assert!(r.opened && r.end.is_none(), "{r:?}");
        let mut answer = Vec::new();
        server.take_output(&mut answer);
        assert!(answer.starts_with(b"HTTP/1.1 101"));
        let r = client.feed(&answer, peer(), &mut |_, _| panic!("no message yet"));
        assert!(r.opened, "{r:?}");
        (client, server)
    }

    #[test]
    fn messages_queued_before_the_upgrade_go_once_it_is_done_one_frame_each() {
        let mut client = Ws::connect(false, peer(), "/sip", 64 << 10).expect("client");
        client.send(b"OPTIONS sip:a SIP/2.0\r\n\r\n");
        client.send(b"OPTIONS sip:b SIP/2.0\r\n\r\n");
        assert!(client.has_waiting());
        let mut server = Ws::accept(64 << 10).expect("server");
        let mut wire = Vec::new();
        client.take_output(&mut wire);
        server.feed(&wire, peer(), &mut |_, _| {});
        let mut answer = Vec::new();
        server.take_output(&mut answer);
        client.feed(&answer, peer(), &mut |_, _| {});
        assert!(!client.has_waiting());
        let mut frames = Vec::new();
        client.take_output(&mut frames);
        // Split at every byte: the messages come out whole, and only once complete.
        let mut got = Vec::new();
        for b in &frames {
            server.feed(std::slice::from_ref(b), peer(), &mut |m, _| {
                got.push(m.to_vec())
            });
        }
        assert_eq!(
            got,
            [
                b"OPTIONS sip:a SIP/2.0\r\n\r\n".to_vec(),
                b"OPTIONS sip:b SIP/2.0\r\n\r\n".to_vec()
            ]
        );
        assert!(!server.partial());
    }

    #[test]
    fn an_upgrade_without_sip_is_refused_with_400_on_the_wire() {
        let mut server = Ws::accept(64 << 10).expect("server");
        let req = b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
        let r = server.feed(req, peer(), &mut |_, _| {});
        assert!(
            r.handshake_error.is_some() && r.end == Some(End::Failed),
            "{r:?}"
        );
        let mut answer = Vec::new();
        server.take_output(&mut answer);
        assert!(answer.starts_with(b"HTTP/1.1 400"), "{answer:?}");
    }

    #[test]
    fn pings_are_answered_oversized_messages_and_garbage_end_the_connection() {
        let (mut client, mut server) = pair();
        // A masked client ping (RFC 6455 §5.5.2) with payload "hi".
        let ping = [0x89, 0x82, 1, 2, 3, 4, b'h' ^ 1, b'i' ^ 2];
        let r = server.feed(&ping, peer(), &mut |_, _| {});
        assert!(r.heard && r.end.is_none(), "{r:?}");
        let mut pong = Vec::new();
        server.take_output(&mut pong);
        assert_eq!(pong.first(), Some(&0x8A), "a pong frame: {pong:?}");

        let mut c = Ws::connect(false, peer(), "/", 64).expect("client");
        let mut small = Ws::accept(64).expect("server");
        let mut w = Vec::new();
        c.take_output(&mut w);
        small.feed(&w, peer(), &mut |_, _| {});
        let mut a = Vec::new();
        small.take_output(&mut a);
        c.feed(&a, peer(), &mut |_, _| {});
        c.send(&[b'x'; 200]);
        let mut big = Vec::new();
        c.take_output(&mut big);
        let r = small.feed(&big, peer(), &mut |_, _| panic!("too large to deliver"));
        assert_eq!(r.end, Some(End::TooLarge), "{r:?}");

        let r = client.feed(&[0xFF, 0x00], peer(), &mut |_, _| {});
        assert_eq!(r.end, Some(End::BadInput), "{r:?}");
    }
}
