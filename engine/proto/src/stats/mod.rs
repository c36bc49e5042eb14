//! Run statistics, the counting: per-shard counters and timers (`timing`), media
//! counters (`media`), merged across shards every period, and the thresholds they are
//! judged by (`thresholds`).
//!
//! Owns: the numbers every output shows (screens, -trace_stat CSV, summary.json, worker
//! stats lines). Must not: read clocks, do I/O or format output: the writers are
//! `output`'s. Driven by `call` and the endpoint (which count) and the shard (which
//! publishes a copy every period).
//!
//! Counter names follow SIPp's statistics (`reference/sipp.md` §4.1) so screens and CSV
//! map one to one.

pub mod media;
mod state;
pub mod thresholds;
pub mod timing;

pub use timing::{Histogram, TimeStat};

/// Defines [`Counters`] (and [`StepCounters`]) and its merge from one list of fields:
/// each field is a `u64`
/// counted per shard and summed across shards, so a counter cannot be added to the
/// struct without being merged (issue #22: `add` used to list the fields by hand, and a
/// field left off was silently lost in multi-shard runs). Tests walk the same list
/// (`fields_mut`).
macro_rules! counters {
    (
        $(#[$meta:meta])*
        pub struct $name:ident {
            $( $(#[$field_meta:meta])* pub $field:ident: u64, )*
        }
    ) => {
        $(#[$meta])*
        pub struct $name {
            $( $(#[$field_meta])* pub $field: u64, )*
        }

        impl $name {
            /// Adds every field of `o` into `self` (merging shards).
            pub fn add(&mut self, o: &$name) {
                $( self.$field += o.$field; )*
            }

            /// Every field with its name, for tests that must set each one.
            #[cfg(test)]
            #[allow(dead_code)]
            pub(crate) fn fields_mut(&mut self) -> Vec<(&'static str, &mut u64)> {
                vec![$( (stringify!($field), &mut self.$field), )*]
            }
        }
    };
}

counters! {
    /// Cumulative counters, named as SIPp prints them (CSV column in the comment).
    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
    #[serde(default)]
    pub struct Counters {
        /// IncomingCall: calls created by a received request (server scenarios).
        pub incoming_calls: u64,
        /// OutgoingCall: calls created by the pacer (client scenarios).
        pub outgoing_calls: u64,
        /// SuccessfulCall.
        pub successful_calls: u64,
        /// FailedCall (the sum of the failure reasons below, each call counted once).
        pub failed_calls: u64,
        pub failed_cannot_send_message: u64,
        pub failed_max_udp_retrans: u64,
        pub failed_tcp_connect: u64,
        pub failed_tcp_closed: u64,
        pub failed_unexpected_message: u64,
        pub failed_call_rejected: u64,
        pub failed_cmd_not_sent: u64,
        pub failed_regexp_doesnt_match: u64,
        pub failed_regexp_shouldnt_match: u64,
        pub failed_regexp_hdr_not_found: u64,
        pub failed_outbound_congestion: u64,
        pub failed_timeout_on_recv: u64,
        pub failed_timeout_on_send: u64,
        pub failed_test_doesnt_match: u64,
        pub failed_test_shouldnt_match: u64,
        pub failed_strcmp_doesnt_match: u64,
        pub failed_strcmp_shouldnt_match: u64,
        /// OutOfCallMsgs: messages for no call that could not start one.
        pub out_of_call_msgs: u64,
        /// DeadCallMsgs: messages for a call that already ended.
        pub dead_call_msgs: u64,
        /// Retransmissions we sent.
        pub retransmissions: u64,
        /// AutoAnswered (-aa, default behaviour "pingreply").
        pub auto_answered: u64,
        pub warnings: u64,
        pub fatal_errors: u64,
        pub watchdog_major: u64,
        pub watchdog_minor: u64,
        /// Not in SIPp's CSV: datagrams or stream frames that did not parse.
        pub malformed_messages: u64,
        /// Not in SIPp's CSV: messages RFC 3261 refuses but SIPp accepts, taken as SIPp
        /// does (an empty Request-URI: `SipMessage::is_lenient`).
        pub lenient_parses: u64,
        /// Not in SIPp's CSV: retransmitted requests from the peer that we absorbed by
        /// re-sending our last response.
        pub absorbed_retransmissions: u64,
        /// Not in SIPp's CSV: recv timeouts (FailedTimeoutOnRecv counts only the failed
        /// calls; this counts every expiry, including those sent to `ontimeout`).
        pub timeouts: u64,
        /// Not in SIPp's CSV: messages sent / received by all calls.
        pub messages_sent: u64,
        pub messages_received: u64,
        /// Not in SIPp's CSV: send errors from the socket.
        pub send_errors: u64,
        /// Not in SIPp's CSV (stream transports): messages over the stream size limit; each
        /// closed its connection.
        pub stream_too_large: u64,
        /// Not in SIPp's CSV (stream transports): accepted connections closed by
        /// `-stream_idle_timeout` (silent with no live call, or half a message unfinished).
        pub stream_idle_closed: u64,
        /// Not in SIPp's CSV (stream transports): connections closed for bad input (bytes
        /// that cannot be framed or parsed, a message cut by the peer's close).
        pub connections_closed_bad_input: u64,
        /// Not in SIPp's CSV: TLS or WebSocket handshakes that failed (each is also reported
        /// as a warning with the peer address and the reason).
        pub tls_handshake_failures: u64,
        /// Not in SIPp's CSV: stream connections we opened / accepted.
        pub connections_opened: u64,
        pub connections_accepted: u64,
        /// Not in SIPp's CSV: stream connections that could not be opened.
        pub connect_failures: u64,
        /// Not in SIPp's CSV: calls failed by an `rtpcheck` (too few RTP packets).
        pub failed_rtp_check: u64,
        /// Not in SIPp's CSV: calls in flight aborted when the run stopped at once (hard
        /// quit: SIGINT, SIGTERM, `Q`).
        pub aborted_calls: u64,
        /// Not in SIPp's CSV: calls whose WebRTC bridge failed (ICE, DTLS, SDP; the causes
        /// are in `ShardStats::webrtc`).
        pub failed_webrtc: u64,
        /// Not in SIPp's CSV: calls failed for their SRTP: `-media_reject_srtp` and a peer
        /// SDP asking for SRTP, or `-media_srtp` and an SDP we cannot answer (no usable
        /// `a=crypto`, DTLS-SRTP).
        pub failed_srtp: u64,
    }
}

/// Why a call failed. Each maps to one `Counters` field (SIPp's Failed* columns).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FailureReason {
    CannotSendMessage,
    MaxUdpRetrans,
    TcpConnect,
    TcpClosed,
    UnexpectedMessage,
    CallRejected,
    CmdNotSent,
    RegexpDoesntMatch,
    RegexpShouldntMatch,
    RegexpHdrNotFound,
    OutboundCongestion,
    TimeoutOnRecv,
    TimeoutOnSend,
    TestDoesntMatch,
    TestShouldntMatch,
    StrcmpDoesntMatch,
    StrcmpShouldntMatch,
    /// The scenario itself stopped the call (`<error>` action, a loop that never waits).
    /// Counted in FailedCall only: SIPp has no column.
    ScenarioError,
    /// An `rtpcheck` counted too few RTP packets (gossipper; no SIPp column). Its Go
    /// failure class is `scenario_error`.
    RtpCheck,
    /// In flight when the run stopped at once (gossipper; no SIPp column). Class
    /// `aborted`.
    Aborted,
    /// The call's WebRTC bridge failed (gossipper; no SIPp column). Class `webrtc`.
    Webrtc,
    /// The call's SRTP was refused or could not be set up (gossipper; no SIPp column).
    /// Class `srtp`.
    Srtp,
}

impl FailureReason {
    /// The failure class of the Go gossipper's summary (`failure_classes`).
    pub fn class(self) -> &'static str {
        match self {
            FailureReason::MaxUdpRetrans
            | FailureReason::TimeoutOnRecv
            | FailureReason::TimeoutOnSend => "timeout",
            FailureReason::UnexpectedMessage | FailureReason::CallRejected => "unexpected_sip",
            FailureReason::CannotSendMessage
            | FailureReason::TcpConnect
            | FailureReason::TcpClosed
            | FailureReason::OutboundCongestion
            | FailureReason::CmdNotSent => "transport_error",
            FailureReason::Aborted => "aborted",
            FailureReason::Webrtc => "webrtc",
            FailureReason::Srtp => "srtp",
            _ => "scenario_error",
        }
    }
}

impl Counters {
    /// Counts one failed call under `reason`.
    pub fn fail(&mut self, reason: FailureReason) {
        self.failed_calls += 1;
        let c = match reason {
            FailureReason::CannotSendMessage => &mut self.failed_cannot_send_message,
            FailureReason::MaxUdpRetrans => &mut self.failed_max_udp_retrans,
            FailureReason::TcpConnect => &mut self.failed_tcp_connect,
            FailureReason::TcpClosed => &mut self.failed_tcp_closed,
            FailureReason::UnexpectedMessage => &mut self.failed_unexpected_message,
            FailureReason::CallRejected => &mut self.failed_call_rejected,
            FailureReason::CmdNotSent => &mut self.failed_cmd_not_sent,
            FailureReason::RegexpDoesntMatch => &mut self.failed_regexp_doesnt_match,
            FailureReason::RegexpShouldntMatch => &mut self.failed_regexp_shouldnt_match,
            FailureReason::RegexpHdrNotFound => &mut self.failed_regexp_hdr_not_found,
            FailureReason::OutboundCongestion => &mut self.failed_outbound_congestion,
            FailureReason::TimeoutOnRecv => &mut self.failed_timeout_on_recv,
            FailureReason::TimeoutOnSend => &mut self.failed_timeout_on_send,
            FailureReason::TestDoesntMatch => &mut self.failed_test_doesnt_match,
            FailureReason::TestShouldntMatch => &mut self.failed_test_shouldnt_match,
            FailureReason::StrcmpDoesntMatch => &mut self.failed_strcmp_doesnt_match,
            FailureReason::StrcmpShouldntMatch => &mut self.failed_strcmp_shouldnt_match,
            FailureReason::ScenarioError => &mut self.fatal_errors,
            FailureReason::RtpCheck => &mut self.failed_rtp_check,
            FailureReason::Aborted => &mut self.aborted_calls,
            FailureReason::Webrtc => &mut self.failed_webrtc,
            FailureReason::Srtp => &mut self.failed_srtp,
        };
        *c += 1;
    }
}

counters! {
    /// WebRTC calls of `webrtc="true"` scenarios: set-ups, and their failures by cause
    /// (the names of `WebrtcFailure`; summary.json's `webrtc.failures`).
    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
    #[serde(default)]
    pub struct WebrtcCounters {
        /// Calls that got a bridge (and a socket).
        pub calls: u64,
        /// Calls whose ICE and DTLS came up.
        pub connected: u64,
        /// Calls that could not get a socket (past `-max_socket`, or out of descriptors).
        pub no_socket: u64,
        /// Datagrams on a call socket whose call had ended (or, shared, no call's).
        pub stray_datagrams: u64,
        /// Shared sockets: peer addresses another live call already had (see
        /// `webrtc::shared`).
        pub route_collisions: u64,
        pub failed_remote_sdp: u64,
        pub failed_missing_fingerprint: u64,
        pub failed_ice_timeout: u64,
        pub failed_dtls_timeout: u64,
        pub failed_dtls_failure: u64,
        pub failed_fingerprint_mismatch: u64,
        pub failed_srtp_undecryptable: u64,
        pub failed_turn: u64,
        pub failed_internal: u64,
    }
}

impl WebrtcCounters {
    /// Failures by cause, the causes that happened only, `WebrtcFailure` names.
    pub fn failures(&self) -> Vec<(&'static str, u64)> {
        [
            ("remote_sdp", self.failed_remote_sdp),
            ("missing_fingerprint", self.failed_missing_fingerprint),
            ("ice_timeout", self.failed_ice_timeout),
            ("dtls_timeout", self.failed_dtls_timeout),
            ("dtls_failure", self.failed_dtls_failure),
            ("fingerprint_mismatch", self.failed_fingerprint_mismatch),
            ("srtp_undecryptable", self.failed_srtp_undecryptable),
            ("turn", self.failed_turn),
            ("internal", self.failed_internal),
            ("no_socket", self.no_socket),
        ]
        .into_iter()
        .filter(|(_, n)| *n > 0)
        .collect()
    }
}

counters! {
    /// Per scenario step: the columns of SIPp's scenario screen and -trace_counts.
    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
    #[serde(default)]
    pub struct StepCounters {
        /// Messages sent (send) or received (recv), or calls that went through (pause, nop).
        pub messages: u64,
        pub retrans: u64,
        pub timeouts: u64,
        pub unexpected: u64,
    }
}

/// Everything one shard has counted since the run started. Cumulative only: periodic
/// values are the difference of two snapshots. Serialised whole (histograms as their
/// non-empty buckets, media with the sums behind its averages: `state`), it is the
/// `state` line a segment's worker sends, so N workers merge as N shards do.
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct ShardStats {
    pub counters: Counters,
    /// One entry per scenario command (same index as `Scenario::commands`).
    pub steps: Vec<StepCounters>,
    /// One per `RtdId`.
    pub rtd: Vec<TimeStat>,
    pub call_length: TimeStat,
    /// Scenario `counter=` values, one per `CounterId`.
    pub generic_counters: Vec<u64>,
    /// Calls alive right now.
    pub current_calls: u64,
    /// Highest `current_calls` seen.
    pub peak_calls: u64,
    /// RTP/RTCP counters and per-call quality (zeros without media).
    #[serde(with = "state::media")]
    pub media: media::MediaStats,
    /// When the first and the last call of the run were created, in µs since the run
    /// started (the shards share one start): the window over which the achieved rate is
    /// averaged (`achieved` in summary.json), so the hold tail does not dilute it.
    pub first_call_us: Option<u64>,
    pub last_call_us: Option<u64>,
    /// When `peak_calls` was reached, µs since the run started (the screen's "Peak was N
    /// calls, after X s").
    pub peak_at_us: u64,
    /// How long calls owed by the pacer waited for room under the concurrency limit
    /// (`-l`, `max_concurrent`), µs: the cap throttled the run for this long.
    pub limit_blocked_us: u64,
    /// Shard loop turns (the screen's "scheduler resolution" is period / turns).
    pub scheduler_loops: u64,
    /// Sockets open now (SIP sockets and connections, RTP sockets), a gauge.
    pub open_sockets: u64,
    /// WebRTC set-ups and failures (zeros for classic scenarios).
    pub webrtc: WebrtcCounters,
}

impl ShardStats {
    /// Statistics with nothing counted yet, shaped for `sc` (a step per command, an RTD
    /// per `rtd=`, a counter per `counter=`, its repartition edges).
    pub fn for_scenario(sc: &crate::scenario::Scenario) -> Self {
        ShardStats::new(
            sc.commands.len(),
            sc.rtd_names.len(),
            sc.counter_names.len(),
            &sc.response_time_repartition,
            &sc.call_length_repartition,
        )
    }

    /// Grows the per-step, response-time and counter tables to fit `sc` too (a
    /// scenario replaced while it runs: the tables are indexed by position and never
    /// shrink, so the calls still on the old scenario count where they did).
    pub fn grow_for(&mut self, sc: &crate::scenario::Scenario) {
        if self.steps.len() < sc.commands.len() {
            self.steps
                .resize(sc.commands.len(), StepCounters::default());
        }
        while self.rtd.len() < sc.rtd_names.len() {
            self.rtd.push(TimeStat::new(&sc.response_time_repartition));
        }
        if self.generic_counters.len() < sc.counter_names.len() {
            self.generic_counters.resize(sc.counter_names.len(), 0);
        }
    }

    pub fn new(
        steps: usize,
        rtds: usize,
        counters: usize,
        rtd_edges: &[u64],
        cl_edges: &[u64],
    ) -> Self {
        ShardStats {
            counters: Counters::default(),
            steps: vec![StepCounters::default(); steps],
            rtd: (0..rtds).map(|_| TimeStat::new(rtd_edges)).collect(),
            call_length: TimeStat::new(cl_edges),
            generic_counters: vec![0; counters],
            current_calls: 0,
            peak_calls: 0,
            media: media::MediaStats::default(),
            first_call_us: None,
            last_call_us: None,
            peak_at_us: 0,
            limit_blocked_us: 0,
            scheduler_loops: 0,
            open_sockets: 0,
            webrtc: WebrtcCounters::default(),
        }
    }

    /// Books a call created `at_us` after the run started: the creation window and the
    /// peak of simultaneous calls (`current_calls` must already count it).
    pub fn note_call_created(&mut self, at_us: u64) {
        self.first_call_us.get_or_insert(at_us);
        self.last_call_us = Some(at_us);
        if self.current_calls > self.peak_calls {
            self.peak_calls = self.current_calls;
            self.peak_at_us = at_us;
        }
    }

    /// Calls created (incoming and outgoing).
    pub fn calls_created(&self) -> u64 {
        self.counters.incoming_calls + self.counters.outgoing_calls
    }

    /// Adds `o` into `self` (merging shards). Both must come from the same scenario.
    ///
    /// Every field of `o` is named below, so a field added to `ShardStats` is a compile
    /// error here until its merge is written. The peak of calls alive at once is the
    /// larger of the two shards' peaks: shards peak at different moments, so their sum
    /// overstated it (two shards peaking at 10 a second apart are not 20 calls at once).
    /// That is a lower bound of the run's peak; [`RunPeak`] raises it with the shards'
    /// summed calls at each merge.
    pub fn merge(&mut self, o: &ShardStats) {
        let ShardStats {
            counters,
            steps,
            rtd,
            call_length,
            generic_counters,
            current_calls,
            peak_calls,
            media,
            first_call_us,
            last_call_us,
            peak_at_us,
            limit_blocked_us,
            scheduler_loops,
            open_sockets,
            webrtc,
        } = o;
        self.webrtc.add(webrtc);
        self.counters.add(counters);
        for (a, b) in self.steps.iter_mut().zip(steps) {
            a.add(b);
        }
        for (a, b) in self.rtd.iter_mut().zip(rtd) {
            a.merge(b);
        }
        self.call_length.merge(call_length);
        for (a, b) in self.generic_counters.iter_mut().zip(generic_counters) {
            *a += b;
        }
        // A shard that replaced its scenario may have grown its tables (`grow_for`).
        if steps.len() > self.steps.len() {
            self.steps.extend_from_slice(&steps[self.steps.len()..]);
        }
        if rtd.len() > self.rtd.len() {
            self.rtd.extend_from_slice(&rtd[self.rtd.len()..]);
        }
        if generic_counters.len() > self.generic_counters.len() {
            self.generic_counters
                .extend_from_slice(&generic_counters[self.generic_counters.len()..]);
        }
        self.current_calls += current_calls;
        if *peak_calls > self.peak_calls {
            self.peak_calls = *peak_calls;
            self.peak_at_us = *peak_at_us;
        }
        self.media.merge(media);
        self.first_call_us = match (self.first_call_us, *first_call_us) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        self.last_call_us = self.last_call_us.max(*last_call_us);
        // The shards are held back at the same time: the longest wait, not the sum.
        self.limit_blocked_us = self.limit_blocked_us.max(*limit_blocked_us);
        self.scheduler_loops += scheduler_loops;
        self.open_sockets += open_sockets;
    }
}

/// The run's peak of calls alive at once, across shards, kept by whoever merges the
/// shards' snapshots period after period (the runner, every 50 ms).
///
/// No shard sees the others' calls, so no single snapshot knows the run's peak: each
/// merge offers two lower bounds, the largest single-shard peak (exact with one shard)
/// and the shards' calls alive at that merge, summed. The peak is the largest of these
/// over the run, reached when it was first seen. A burst shorter than a merge period on
/// several shards at once can be missed by up to what each shard's own peak does not
/// show; the sum of per-shard peaks it replaces could double the figure instead.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RunPeak {
    /// Calls alive at once.
    pub calls: u64,
    /// When, µs since the run started.
    pub at_us: u64,
}

impl RunPeak {
    /// Takes in `merged`, the shards merged at `at_us` (µs since the run started), and
    /// writes the run's peak so far into it (`peak_calls`, `peak_at_us`).
    pub fn observe(&mut self, merged: &mut ShardStats, at_us: u64) {
        if merged.peak_calls > self.calls {
            *self = RunPeak {
                calls: merged.peak_calls,
                at_us: merged.peak_at_us,
            };
        }
        if merged.current_calls > self.calls {
            *self = RunPeak {
                calls: merged.current_calls,
                at_us,
            };
        }
        merged.peak_calls = self.calls;
        merged.peak_at_us = self.at_us;
    }
}

#[cfg(test)]
mod merge_tests;
