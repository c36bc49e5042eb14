//! What a call borrows from its shard for one step (`ShardCx`): the run's fixed facts
//! (`Run`: the compiled scenario, its plan and the shard's `Env`), the state the shard's
//! calls share (`ShardState`: counters, RNG, globals, injection data, buffers), and the
//! endpoint's `Outbox` that the step's outputs go into.
//!
//! Owns: plain data. Must not: do I/O; the endpoint fills `Run` once and lends `ShardCx`
//! by `&mut` for each step (STYLE.md §3: counters are plain data, no atomics, no globals).

use std::net::{IpAddr, SocketAddr};
use std::time::{Instant, SystemTime};

use std::sync::Arc;

use super::outbox::Outbox;
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
    /// `-recv_bye_timeout_ms`: a mandatory `recv` of BYE with a timeout waits at least
    /// this long.
    pub recv_bye_min_ms: Option<u64>,
    /// `-set name value`: initial values of `<Global>` variables (checked declared).
    pub set_vars: Vec<(String, String)>,
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
    /// `-3pcc` (twin mode): a call aborted on an unexpected message tells the twin
    /// (`Internal-Cmd: abort_call`), as SIPp does; not in extended mode.
    pub twin_abort: bool,
}

/// What the calls of a shard read and never change: fixed when the endpoint is built.
#[derive(Debug)]
pub struct Run {
    /// The compiled scenario.
    pub scenario: Arc<Scenario>,
    /// Facts derived from the scenario once per run (folded send templates).
    pub plan: Plan,
    pub env: Env,
}

/// The state a shard's calls share and change, one step at a time.
#[derive(Debug)]
pub struct ShardState {
    pub stats: ShardStats,
    pub rng: Rng,
    /// `<Global>` variables (one table per shard).
    pub globals: Vars,
    pub inject: InjectData,
    /// Scratch buffer for rendering (cleared by each user).
    pub scratch: Vec<u8>,
    /// Spare message-copy buffers of the shard's calls.
    pub kept: KeptPool,
    /// `[dynamic_id]` counter.
    pub dynamic_id: u64,
}

/// What a call borrows for one step: three parts, each borrowed whole, so the endpoint
/// lends them next to its call table without listing fields.
pub struct ShardCx<'a> {
    pub run: &'a Run,
    pub shard: &'a mut ShardState,
    /// Where the step's datagrams, events and media commands go.
    pub out: &'a mut Outbox,
    /// Wall clock sampled once per loop turn (`[timestamp]`, `[date]`, gettimeofday).
    pub wall: SystemTime,
    /// The message being handled, already parsed: the call stores it as its last
    /// received message, so `[last_*]` keywords and ereg read it from here instead of
    /// parsing the stored copy again.
    pub current: Option<&'a SipMessage<'a>>,
    /// The 3PCC command being handled (`<recvCmd>`): its actions read it instead of a
    /// SIP message (SIPp runs them on the command text).
    pub command: Option<crate::twin::Command<'a>>,
    /// The shard's WebRTC calls (`webrtc="true"` scenarios): `[webrtc_offer]` and
    /// `[webrtc_answer]` render from here.
    pub webrtc: Option<&'a mut crate::webrtc::WebrtcCalls>,
    /// The shard's classic media: SIPp's SRTP keywords (`[cryptokeyparams1audio]`…)
    /// render the call's keys from here (`-media_srtp`).
    pub media: Option<&'a mut crate::media::MediaEngine>,
}
