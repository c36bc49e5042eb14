//! What the calls of a shard produce, gathered for the endpoint to hand out: datagrams
//! to send (`TxQueue`), events for the runner (`ShardEvent`) and media commands for the
//! shard's media engine.
//!
//! Owns: the reused output buffers of one endpoint. Must not: send, log or run anything;
//! the endpoint drains the `Outbox` through its `poll_*` methods (media commands right
//! after the call step that queued them).

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;

use crate::scenario::MediaAction;

/// Something a call asks the shard to do besides sending (logs, shell commands, run
/// control). Rare: never on the hot path of the built-in scenarios.
#[derive(Clone, Debug, PartialEq)]
pub enum ShardEvent {
    Log(String),
    Warning(String),
    Error(String),
    /// `<exec command=…>` (only when allowed).
    Exec(String),
    /// `int_cmd="stop_gracefully"`: stop creating calls, let the others finish.
    StopGracefully,
    /// `int_cmd="stop_now"`: end the run now (exit code 97).
    StopNow,
    /// A response time was measured (only with -trace_rtt).
    Rtt {
        rtd: u16,
        us: u64,
    },
}

/// One datagram to send: `len` bytes at `start` in `TxQueue::buf`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Transmit {
    pub dest: SocketAddr,
    pub start: usize,
    pub len: usize,
    /// The call that queued it (its number; 0 outside a call step). Stream transports
    /// with a connection per call (tn, ln, wn, wsn) pick the connection by it. A `-t un`
    /// client call stamps its own local port instead (the shard's `udp` picks the
    /// socket by it).
    pub flow: u64,
}

/// Outgoing datagrams of one loop turn, in one reused buffer.
#[derive(Debug, Default)]
pub struct TxQueue {
    pub buf: Vec<u8>,
    pub items: Vec<Transmit>,
    /// Stamped on each pushed `Transmit`: set by the shard around each call step.
    pub flow: u64,
    /// Flows whose call ended since the last drain (filled for per-call stream
    /// transports only, so their connections can close).
    pub ended_flows: Vec<u64>,
}

impl TxQueue {
    pub fn push(&mut self, dest: SocketAddr, bytes: &[u8]) {
        let start = self.buf.len();
        self.buf.extend_from_slice(bytes);
        self.items.push(Transmit {
            dest,
            start,
            len: bytes.len(),
            flow: self.flow,
        });
    }

    pub fn clear(&mut self) {
        self.buf.clear();
        self.items.clear();
        self.ended_flows.clear();
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// The bytes of one queued datagram.
    pub fn bytes(&self, t: &Transmit) -> &[u8] {
        self.buf.get(t.start..t.start + t.len).unwrap_or(&[])
    }
}

/// The endpoint's outputs, lent to each call step (`ShardCx::out`).
#[derive(Debug, Default)]
pub struct Outbox {
    pub tx: TxQueue,
    pub events: VecDeque<ShardEvent>,
    /// Media actions of the current call step, parsed when the scenario loaded (drained
    /// by the endpoint right after the step).
    pub media: Vec<Arc<MediaAction>>,
    /// 3PCC commands for the twin(s) (`<sendCmd>`), in order.
    pub twin: VecDeque<crate::twin::TwinCommand>,
}
