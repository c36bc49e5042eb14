//! Stream transports for SIP: TCP (RFC 3261 §18), TLS (rustls) and SIP over WebSocket
//! (RFC 7118, plain and secure), shared by every call of a shard (`t1`, `l1`, `w1`,
//! `ws1`) or one connection per call (`tn`, `ln`, `wn`, `wsn`).
//!
//! Owns: connections and their buffers: framing received bytes into messages
//! (`framer`), TLS settings and certificates (`tls`), the WebSocket handshake rules
//! (`ws`), and the per-shard connection table (`streams`: nonblocking sockets in the shard
//! loop's poller, TLS and WebSocket layered over them by hand). It asks `routing`
//! (sans-IO) which connection a message takes and which calls a lost one fails, and
//! `idle` (sans-IO) when an accepted connection is idle; whether its peer has a live call,
//! it asks the endpoint. Must not: parse SIP beyond framing, or decide anything about
//! calls: received messages go to the endpoint exactly like datagrams, and the
//! endpoint's `TxQueue` comes back to [`Streams::send`]. What happens to connections
//! comes back as [`StreamEvent`]s; a connection lost under calls fails them
//! ([`Carried`]).
//!
//! How a message finds its connection (`routing`): a call names only its peer
//! (`Transmit::dest`). Servers reply on the connection the peer opened (every accepted
//! connection has its own peer address); shared clients use the one connection to the
//! remote; per-call clients pick the connection by `Transmit::flow` (the call number,
//! stamped by the endpoint), and close it when the call's flow ends
//! (`TxQueue::ended_flows`).

pub mod framer;
mod idle;
mod routing;
pub mod setup;
pub mod streams;
pub mod tls;
pub mod ws;

use std::sync::Arc;
use std::time::Duration;

pub use crate::endpoint::{Carried, StreamEvent};
pub use framer::StreamBuffer;
pub use streams::Streams;
pub use tls::TlsSetup;

use crate::config::TransportMode;

/// The longest message accepted on a stream; a longer one closes its connection and
/// counts `stream_too_large`. Fixed, as in SIPp (`SIPP_MAX_MSG_SIZE`, 65536, a build-time
/// constant): no SIPp flag sets it. `-buff_size` sizes socket buffers and
/// `-max_recv_loops` bounds reads per loop turn; neither is a message size.
pub const DEFAULT_MAX_MESSAGE: usize = 64 << 10;

/// The idle timeout of accepted connections (`idle` has the rule): one is closed and
/// counted `stream_idle_closed` when it sent no whole message or keepalive for this long
/// and carries no live call, or when half a message has waited this long for the rest.
/// A peer that connects and sends nothing, or half a message, must not hold a
/// connection for ever; one holding a long call in silence (`-d 90000`) keeps it. SIPp
/// has no such limit; 60 s is well above any retransmission interval (Timer B/F: 32 s).
/// `-stream_idle_timeout` sets it (0: never).
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// What runs on top of TCP.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StreamKind {
    Tcp,
    Tls,
    Ws,
    Wss,
}

impl StreamKind {
    /// The stream kind of a transport mode, `None` for UDP.
    pub fn of(mode: TransportMode) -> Option<StreamKind> {
        Some(match mode {
            TransportMode::UdpShared | TransportMode::UdpPerCall | TransportMode::UdpPerIp => {
                return None;
            }
            TransportMode::TcpShared | TransportMode::TcpPerCall => StreamKind::Tcp,
            TransportMode::TlsShared | TransportMode::TlsPerCall => StreamKind::Tls,
            TransportMode::WsShared | TransportMode::WsPerCall => StreamKind::Ws,
            TransportMode::WssShared | TransportMode::WssPerCall => StreamKind::Wss,
        })
    }

    pub fn uses_tls(self) -> bool {
        matches!(self, StreamKind::Tls | StreamKind::Wss)
    }

    pub fn is_websocket(self) -> bool {
        matches!(self, StreamKind::Ws | StreamKind::Wss)
    }
}

/// A shard's stream settings, fixed for the run.
#[derive(Clone, Debug)]
pub struct StreamSettings {
    pub kind: StreamKind,
    /// One connection per call (client side of tn, ln, wn, wsn).
    pub per_call: bool,
    /// Accepting side: replies go back on the peer's connection.
    pub server: bool,
    pub max_message: usize,
    /// `-max_socket`: the most per-call connections open at once; past it, calls share
    /// the open ones.
    pub max_sockets: Option<usize>,
    /// `-max_reconnect`: how many times a lost shared connection is opened again
    /// (`None`: no limit).
    pub max_reconnect: Option<u32>,
    /// `-reconnect_sleep`: pause before each reconnection.
    pub reconnect_sleep: Duration,
    /// `-reconnect_close` (SIPp default true): calls on a lost shared connection fail.
    pub reconnect_close: bool,
    /// `-ws_path`: the request path of the WebSocket upgrade.
    pub ws_path: String,
    pub tls: Option<TlsSetup>,
    /// Longest wait for a connect or a TLS/WebSocket handshake.
    pub handshake_timeout: Duration,
    /// `-stream_idle_timeout`: accepted connections silent this long with no live call,
    /// or with half a message waiting this long, are closed (`None`: never).
    pub idle_timeout: Option<Duration>,
}

impl StreamSettings {
    /// Settings with the defaults for `kind` (no TLS yet, `/` as WebSocket path).
    pub fn new(kind: StreamKind, per_call: bool, server: bool) -> StreamSettings {
        StreamSettings {
            kind,
            per_call,
            server,
            max_message: DEFAULT_MAX_MESSAGE,
            max_sockets: None,
            max_reconnect: None,
            reconnect_sleep: Duration::ZERO,
            reconnect_close: true,
            ws_path: "/".into(),
            tls: None,
            handshake_timeout: Duration::from_secs(10),
            idle_timeout: Some(DEFAULT_IDLE_TIMEOUT),
        }
    }
}

/// Why the stream transport could not be set up (at preparation, never per message).
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    /// Certificates, keys or TLS settings.
    #[error("{0}")]
    Tls(String),
}

/// Shared settings as the shards hold them.
pub type SharedSettings = Arc<StreamSettings>;

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_stream_code_maps_to_its_kind_and_transport_keyword() {
        let cases = [
            ("t1", StreamKind::Tcp, false, "TCP"),
            ("tn", StreamKind::Tcp, true, "TCP"),
            ("l1", StreamKind::Tls, false, "TLS"),
            ("ln", StreamKind::Tls, true, "TLS"),
            ("w1", StreamKind::Ws, false, "WS"),
            ("wn", StreamKind::Ws, true, "WS"),
            ("ws1", StreamKind::Wss, false, "WSS"),
            ("wsn", StreamKind::Wss, true, "WSS"),
        ];
        for (code, kind, per_call, keyword) in cases {
            let mode = TransportMode::parse(code).expect("code");
            assert_eq!(StreamKind::of(mode), Some(kind), "{code}");
            assert_eq!(mode.is_stream_per_call(), per_call, "{code}");
            assert_eq!(mode.keyword(), keyword, "[transport] for {code}");
        }
        for code in ["u1", "un", "ui"] {
            assert_eq!(
                StreamKind::of(TransportMode::parse(code).expect("code")),
                None,
                "{code}"
            );
        }
    }
}
