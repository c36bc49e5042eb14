//! The 3PCC twin sockets of a shard: the TCP connections that carry `<sendCmd>` /
//! `<recvCmd>` commands between twin processes (SIPp's `-3pcc`, `-master`/`-slave`).
//!
//! Owns: the twin listener (controller B, passive A, every extended-mode process), the
//! connections (made by the runner before the run for controller A and a master, or
//! accepted here), their framers (`crate::twin::Framer`) and unwritten bytes. Must not:
//! parse commands or decide which call they belong to (the endpoint does).
//!
//! Routing: a command with `dest=` goes to the connection the runner opened to that
//! twin; a command without goes to the first open connection (in twin mode there is
//! one). A command that finds no connection, or whose connection breaks, fails its
//! call (`Endpoint::handle_twin_unsent`).

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant, SystemTime};

use super::traces::{Direction, Traces};
use crate::endpoint::Endpoint;
use crate::poller::{Poller, READ, Registry, Token};
use crate::twin::{FrameError, Framer, TwinCommand};

/// Bytes read from a connection per turn, at most (a flood cannot starve the loop).
const READ_PER_TURN: usize = 256 * 1024;
/// Unwritten bytes a connection may hold before its commands count as not sent.
const MAX_PENDING: usize = 4 << 20;
/// How long connecting to an extended-mode twin may block the loop (once per twin).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);

/// The twin sockets the runner prepared for a shard.
#[derive(Debug, Default)]
pub struct TwinPlan {
    /// Where twins connect to us (bound and listening).
    pub listener: Option<TcpListener>,
    /// Connections the runner opened, by the twin's name (`None`: the one `-3pcc` twin).
    pub connected: Vec<(Option<String>, TcpStream)>,
    /// Extended 3PCC: twins connected to on first use (a command with their `dest=`),
    /// as SIPp does, so that processes may start in any order.
    pub peers: Vec<(String, SocketAddr)>,
}

struct Conn {
    name: Option<String>,
    stream: TcpStream,
    framer: Framer,
    pending: Vec<u8>,
}

/// A shard's twin sockets.
pub(crate) struct TwinIo {
    registry: Registry,
    listener: Option<TcpListener>,
    /// Slot `i` is `Token::Twin(i)`; a closed connection leaves `None`.
    conns: Vec<Option<Conn>>,
    peers: Vec<(String, SocketAddr)>,
    buf: Vec<u8>,
}

impl TwinIo {
    pub(crate) fn new(plan: TwinPlan, registry: Registry) -> std::io::Result<TwinIo> {
        let mut io = TwinIo {
            registry,
            listener: None,
            conns: Vec::new(),
            peers: plan.peers,
            buf: vec![0; 16 * 1024],
        };
        if let Some(l) = plan.listener {
            l.set_nonblocking(true)?;
            io.registry.add(l.as_raw_fd(), Token::TwinListener, READ)?;
            io.listener = Some(l);
        }
        for (name, stream) in plan.connected {
            io.add(name, stream)?;
        }
        Ok(io)
    }

    fn add(&mut self, name: Option<String>, stream: TcpStream) -> std::io::Result<()> {
        stream.set_nonblocking(true)?;
        let _ = stream.set_nodelay(true);
        let slot = self.conns.len();
        self.registry
            .add(stream.as_raw_fd(), Token::Twin(slot as u64), READ)?;
        self.conns.push(Some(Conn {
            name,
            stream,
            framer: Framer::default(),
            pending: Vec::new(),
        }));
        Ok(())
    }

    /// Accepts twins and hands every whole command received to `ep`.
    pub(crate) fn receive(
        &mut self,
        ep: &mut Endpoint,
        poller: &Poller,
        traces: &mut Traces,
        now: Instant,
        wall: SystemTime,
    ) {
        if poller.may_read(Token::TwinListener) {
            self.accept(ep);
        }
        for slot in 0..self.conns.len() {
            if !poller.may_read(Token::Twin(slot as u64)) {
                continue;
            }
            let Some(c) = self.conns[slot].as_mut() else {
                continue;
            };
            let mut read = 0;
            let mut closed = None;
            while read < READ_PER_TURN {
                match c.stream.read(&mut self.buf) {
                    Ok(0) => {
                        closed = Some("closed by the twin".to_string());
                        break;
                    }
                    Ok(n) => {
                        read += n;
                        c.framer.push(&self.buf[..n]);
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == ErrorKind::Interrupted => {}
                    Err(e) => {
                        closed = Some(e.to_string());
                        break;
                    }
                }
            }
            loop {
                match c.framer.next_command() {
                    Ok(Some(cmd)) => {
                        traces.control(wall, Direction::Received, cmd);
                        ep.handle_twin_command(now, wall, cmd);
                    }
                    Ok(None) => break,
                    Err(e @ FrameError::TooLarge) => {
                        closed = Some(e.to_string());
                        break;
                    }
                }
            }
            if let Some(why) = closed {
                self.close(slot, ep, &why, now, wall);
            }
        }
    }

    fn accept(&mut self, ep: &mut Endpoint) {
        loop {
            let Some(l) = self.listener.as_ref() else {
                return;
            };
            match l.accept() {
                Ok((stream, _)) => {
                    if let Err(e) = self.add(None, stream) {
                        ep.warn(format!("3PCC: cannot watch a twin connection: {e}"));
                    }
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => break,
            }
        }
    }

    fn close(&mut self, slot: usize, ep: &mut Endpoint, why: &str, now: Instant, wall: SystemTime) {
        if let Some(c) = self.conns.get_mut(slot).and_then(Option::take) {
            let _ = self.registry.remove(c.stream.as_raw_fd());
            let who = c.name.as_deref().unwrap_or("twin");
            // A twin that ends its run closes its side: only a loss while calls wait
            // for its commands is worth a word.
            let before = ep.stats().counters.failed_calls;
            ep.handle_twin_closed(now, wall);
            let failed = ep.stats().counters.failed_calls - before;
            if failed > 0 || !c.pending.is_empty() {
                ep.warn(format!(
                    "3PCC connection to {who} lost ({why}): {failed} calls waiting for its commands failed"
                ));
            }
        }
    }

    /// Writes the endpoint's commands; those that find no connection fail their call.
    pub(crate) fn send(
        &mut self,
        ep: &mut Endpoint,
        traces: &mut Traces,
        now: Instant,
        wall: SystemTime,
    ) {
        while let Some(cmd) = ep.poll_twin_transmit() {
            let slot = match self.route(&cmd) {
                Some(s) => Some(s),
                None => self.connect_peer(&cmd, ep),
            };
            let Some(c) = slot.and_then(|s| self.conns[s].as_mut()) else {
                ep.handle_twin_unsent(now, wall, &cmd);
                continue;
            };
            if c.pending.len() + cmd.bytes.len() > MAX_PENDING {
                ep.handle_twin_unsent(now, wall, &cmd);
                continue;
            }
            traces.control(wall, Direction::Sent, cmd.text());
            c.pending.extend_from_slice(&cmd.bytes);
        }
        self.flush(ep, now, wall);
    }

    /// Writes what each connection holds, as far as the socket takes it.
    fn flush(&mut self, ep: &mut Endpoint, now: Instant, wall: SystemTime) {
        for slot in 0..self.conns.len() {
            let Some(c) = self.conns[slot].as_mut() else {
                continue;
            };
            let mut failed = None;
            while !c.pending.is_empty() {
                match c.stream.write(&c.pending) {
                    Ok(0) => {
                        failed = Some("write returned 0".to_string());
                        break;
                    }
                    Ok(n) => {
                        c.pending.drain(..n);
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == ErrorKind::Interrupted => {}
                    Err(e) => {
                        failed = Some(e.to_string());
                        break;
                    }
                }
            }
            if let Some(why) = failed {
                self.close(slot, ep, &why, now, wall);
            }
        }
    }

    /// True while a connection still holds unwritten bytes.
    pub(crate) fn has_pending(&self) -> bool {
        self.conns.iter().flatten().any(|c| !c.pending.is_empty())
    }

    /// Extended 3PCC: opens the connection to the twin `cmd` names, first time.
    fn connect_peer(&mut self, cmd: &TwinCommand, ep: &mut Endpoint) -> Option<usize> {
        let name = cmd.dest.as_deref()?;
        let addr = self.peers.iter().find(|(n, _)| n == name)?.1;
        match TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT) {
            Ok(stream) => match self.add(Some(name.to_string()), stream) {
                Ok(()) => Some(self.conns.len() - 1),
                Err(e) => {
                    ep.warn(format!("3PCC: cannot watch the connection to {name}: {e}"));
                    None
                }
            },
            Err(e) => {
                ep.warn(format!(
                    "3PCC: cannot connect to twin {name} at {addr}: {e}"
                ));
                None
            }
        }
    }

    fn route(&self, cmd: &TwinCommand) -> Option<usize> {
        // Twin mode has one twin: `dest=` names nobody else.
        let dest = if self.peers.is_empty() {
            None
        } else {
            cmd.dest.as_deref()
        };
        self.conns.iter().position(|c| {
            c.as_ref()
                .is_some_and(|c| dest.is_none() || c.name.as_deref() == dest)
        })
    }
}
