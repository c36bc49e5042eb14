//! What the stream transports (TCP, TLS, WebSocket) report about their connections, and
//! what the endpoint does about it: counts each event (a warning names the peer and the
//! reason where the user needs one), and fails the calls a lost connection carried
//! (SIPp's FailedTcpConnect / FailedTcpClosed).
//!
//! Owns: [`StreamEvent`], [`Carried`] and the per-peer index of a stream server's calls.
//! Must not: touch a connection; the runtime's transport decides what happened, the
//! endpoint what it means.

use std::net::SocketAddr;
use std::time::Instant;

use super::Endpoint;
use super::table::CallHandle;
use crate::call::{Call, Outcome, ShardEvent};
use crate::stats::FailureReason;

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

/// What a connection did, for the endpoint's counters and warnings.
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
    /// An accepted connection was idle (the transport's idle rule: silent for the idle
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

/// Which calls a lost stream connection carried (`Endpoint::fail_calls`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CallsOn {
    /// Every call of the shard (a shared client connection).
    All,
    /// The call with this number (a per-call client connection).
    Flow(u64),
    /// Every call talking to this peer (a connection the peer opened to a server).
    Peer(SocketAddr),
}

impl Endpoint {
    /// Something happened to a stream connection: count it, or fail the calls of a lost
    /// one (their last messages wait in the endpoint's queue).
    pub fn handle_stream_event(&mut self, now: Instant, event: StreamEvent) {
        let n = &mut self.shard.stats.counters;
        let warning = match event {
            StreamEvent::Lost {
                peer,
                carried,
                opened,
            } => {
                let reason = if opened {
                    FailureReason::TcpClosed
                } else {
                    FailureReason::TcpConnect
                };
                match carried {
                    Carried::All => self.fail_calls(now, CallsOn::All, reason),
                    Carried::Peer => self.fail_calls(now, CallsOn::Peer(peer), reason),
                    Carried::Flows(flows) => {
                        for f in flows {
                            self.fail_calls(now, CallsOn::Flow(f), reason);
                        }
                    }
                }
                return;
            }
            StreamEvent::Opened { .. } => {
                n.connections_opened += 1;
                None
            }
            StreamEvent::Accepted { .. } => {
                n.connections_accepted += 1;
                None
            }
            StreamEvent::ConnectFailed { peer, reason } => {
                n.connect_failures += 1;
                Some(format!("cannot connect to {peer}: {reason}"))
            }
            StreamEvent::HandshakeFailed { peer, reason } => {
                n.tls_handshake_failures += 1;
                Some(format!(
                    "{} handshake with {peer} failed: {reason}",
                    self.run.env.transport.keyword()
                ))
            }
            StreamEvent::TooLarge { .. } => {
                n.stream_too_large += 1;
                None
            }
            StreamEvent::BadInput { .. } => {
                n.connections_closed_bad_input += 1;
                None
            }
            StreamEvent::IdleClosed { .. } => {
                n.stream_idle_closed += 1;
                None
            }
            StreamEvent::SendFailed { messages, .. } => {
                n.send_errors += messages;
                None
            }
        };
        if let Some(w) = warning {
            self.out.events.push_back(ShardEvent::Warning(w));
        }
    }

    /// A stream connection was lost (transport::Streams): the calls it carried fail with
    /// `reason` (SIPp's FailedTcpConnect / FailedTcpClosed). Calls only waiting out their
    /// final `<timewait>` are left to end normally: the peer closing once it is done
    /// with them is not a failure.
    fn fail_calls(&mut self, now: Instant, on: CallsOn, reason: FailureReason) {
        let handles: Vec<CallHandle> = match (on, self.calls_by_peer.as_mut()) {
            // The connection is gone: its index entry goes with it.
            (CallsOn::Peer(p), Some(ix)) => ix.remove(&p).into_iter().flatten().collect(),
            _ => self.calls.handles(),
        };
        for h in handles {
            let scenario = self.scenario_of(h);
            let hit = self.calls.get(h).is_some_and(|c| {
                let carried = match on {
                    CallsOn::All => true,
                    CallsOn::Flow(f) => c.number() == f,
                    CallsOn::Peer(p) => c.peer() == p,
                };
                carried && !c.in_timewait(scenario)
            });
            if hit {
                self.end_call(h, now, Outcome::Failed(reason));
            }
        }
    }

    /// True when a call of this shard other than one waiting out its final `<timewait>`
    /// is bound to `peer`: the calls whose loss `fail_calls(CallsOn::Peer(peer))` would
    /// fail. An accepted connection carrying one is not idle (`transport::idle`). Asked
    /// at most once per idle timeout per silent connection; without the per-peer index
    /// (client shards) it scans the table as `fail_calls` does.
    pub fn carries_live_calls(&self, peer: SocketAddr) -> bool {
        let live =
            |c: &Call, v: u32| c.peer() == peer && !c.in_timewait(self.scenario_of_version(v));
        match self.calls_by_peer.as_ref() {
            Some(ix) => ix.get(&peer).is_some_and(|set| {
                set.iter().any(|h| {
                    let v = self.calls.version_of(*h).unwrap_or(self.version);
                    self.calls.get(*h).is_some_and(|c| live(c, v))
                })
            }),
            None => self.calls.iter_versioned().any(|(c, v)| live(c, v)),
        }
    }

    /// Drops an ended call from `calls_by_peer`.
    pub(super) fn unindex_peer(&mut self, h: CallHandle, peer: SocketAddr) {
        if let Some(ix) = self.calls_by_peer.as_mut()
            && let Some(set) = ix.get_mut(&peer)
        {
            set.remove(&h);
            if set.is_empty() {
                ix.remove(&peer);
            }
        }
    }
}
