//! What every call of a shard shares: the run's resolved settings (`Env`), and the
//! mutable shard context a call borrows while it runs (`ShardCx`).
//!
//! Owns: plain data. Must not: do I/O; the shard fills `Env` once and lends `ShardCx` by
//! `&mut` for each step (STYLE.md §3: counters are plain data, no atomics, no globals).

use std::net::{IpAddr, SocketAddr};
use std::time::{Instant, SystemTime};

use crate::call::KeptPool;
use crate::call::inject::InjectData;
use crate::call::plan::Plan;
use crate::call::vars::Vars;
use crate::config::{DefaultBehaviors, RetransConfig, TransportMode};
use crate::rng::Rng;
use crate::scenario::Scenario;
use crate::sip::SipMessage;
use crate::stats::ShardStats;

/// A shard's view of the run, fixed for its lifetime.
#[derive(Clone, Debug)]
pub struct Env {
    pub local_ip: IpAddr,
    /// `[local_ip]` as SIPp renders it (IPv6 without brackets).
    pub local_ip_text: String,
    /// The port of this shard's socket (`[local_port]`).
    pub local_port: u16,
    pub media_ip: IpAddr,
    pub media_ip_text: String,
    pub media_port: u16,
    /// The peer for client scenarios (`[remote_ip]`, `[remote_port]`).
    pub remote: Option<SocketAddr>,
    /// `remote`'s address as text, rendered once.
    pub remote_ip_text: String,
    /// `-rsa`: where messages for `remote` actually go (an outbound proxy); the
    /// keywords still name `remote`.
    pub send_to: Option<SocketAddr>,
    /// `[remote_host]`: the text the user gave.
    pub remote_host: String,
    pub transport: TransportMode,
    pub service: String,
    pub pid: u32,
    /// When the run started (for `[clock_tick]`).
    pub start: Instant,
    pub default_pause_ms: u64,
    pub recv_timeout_ms: Option<u64>,
    pub retrans: RetransConfig,
    pub behaviors: DefaultBehaviors,
    pub base_cseq: u32,
    pub cid_str: String,
    pub keys: Vec<(String, String)>,
    pub auth_username: String,
    pub auth_password: String,
    pub users: Option<u64>,
    pub allow_exec_command: bool,
    /// `-aa`: answer INFO, NOTIFY, OPTIONS and UPDATE outside calls.
    pub auto_answer: bool,
    /// `-trace_rtt`: report every response time as a `ShardEvent::Rtt`.
    pub trace_rtt: bool,
}

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
    /// A media command for the media layer (`play_pcap_audio`, `rtp_stream`, …).
    Media {
        call_number: u64,
        verb: String,
        argument: String,
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
    /// client call stamps its own local port instead (`shard::udp_per_call` picks the
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

/// The shard state a call borrows for one step.
pub struct ShardCx<'a> {
    pub scenario: &'a Scenario,
    /// Facts derived from the scenario once per run.
    pub plan: &'a Plan,
    pub env: &'a Env,
    pub stats: &'a mut ShardStats,
    pub rng: &'a mut Rng,
    /// `<Global>` variables (one table per shard).
    pub globals: &'a mut Vars,
    pub inject: &'a mut InjectData,
    pub tx: &'a mut TxQueue,
    pub events: &'a mut Vec<ShardEvent>,
    /// Scratch buffer for rendering (cleared by each user).
    pub scratch: &'a mut Vec<u8>,
    /// Spare message-copy buffers of the shard's calls.
    pub kept: &'a mut KeptPool,
    /// `[dynamic_id]` counter.
    pub dynamic_id: &'a mut u64,
    /// Wall clock sampled once per loop turn (`[timestamp]`, `[date]`, gettimeofday).
    pub wall: SystemTime,
    /// The message being handled, already parsed: the call stores it as its last
    /// received message, so `[last_*]` keywords and ereg read it from here instead of
    /// parsing the stored copy again.
    pub current: Option<&'a SipMessage<'a>>,
}
