//! `summary.json` (schema `gossipper_summary_v1`, `spec/gossipper-reference.md` §5.8) and
//! the health gates that decide exit code 2.
//!
//! Owns: the summary's field names (kept from the Go gossipper so its consumers keep
//! working: integer-nanosecond durations, `le_10ms…` buckets, `failure_classes`, `health`,
//! `findings`) plus our additions (`*_ms` float siblings, percentiles, `seed`, and a `sipp`
//! block with every SIPp counter by its CSV name, a `transport` block of stream connection
//! counters). Must not: read clocks or write files.
//!
//! Schema revisions stay within `gossipper_summary_v1` and only add fields, so a reader of
//! an older revision keeps working; `schema_revision` says which ones are there:
//! - 1: the fields above.
//! - 2: `scenario` (name, role), `messages` (SIPp's per-message table), `target` and
//!   `achieved` (what was asked and what was done, the rate averaged over the window in
//!   which calls were created), `thresholds` (each with its observed value and a
//!   sentence), `verdict` (`pass` / `fail` / `no_thresholds`, never `pass` by default),
//!   and `distribution` in each latency object (1-2-5 buckets from 10 µs up).
//!   `health.pass` is `null` when no gate is configured (it was `true`), and `false` when
//!   every call failed. `failure_classes` may hold `aborted`: calls in flight when the
//!   run stopped at once (SIGINT, SIGTERM, a hard quit).
//!
//! Latency objects and their buckets are in `latency`.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::time::SystemTime;

use serde::ser::SerializeMap;
use serde::{Deserialize, Serialize};

use super::csv::sipp_counters;
use super::format::rfc3339;
use super::messages::{MessageRow, message_rows};
use super::run_info::RunInfo;
use super::target::{Achieved, Target};
use super::verdict::{self, Verdict, VerdictInput};
use crate::config::HealthGates;
use crate::scenario::Role;
use crate::stats::thresholds::{self, Threshold, ThresholdResult};
use crate::stats::{Counters, FailureReason, ShardStats};

mod latency;

pub use latency::{DistributionBucket, Latency, LatencyBucket, latency};

/// The schema this module writes.
pub const SCHEMA_VERSION: &str = "gossipper_summary_v1";
/// The revision of additive fields within it (see the module doc).
pub const SCHEMA_REVISION: u32 = 2;

/// Name/value pairs serialised as a JSON object in their given order (SIPp's CSV order),
/// and read back in the file's order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OrderedCounters(pub Vec<(Cow<'static, str>, u64)>);

impl OrderedCounters {
    /// The counters as `sipp_counters` names them.
    pub fn of(pairs: Vec<(&'static str, u64)>) -> OrderedCounters {
        OrderedCounters(
            pairs
                .into_iter()
                .map(|(k, v)| (Cow::Borrowed(k), v))
                .collect(),
        )
    }
}

impl Serialize for OrderedCounters {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            m.serialize_entry(k, v)?;
        }
        m.end()
    }
}

impl<'de> Deserialize<'de> for OrderedCounters {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct InOrder;
        impl<'de> serde::de::Visitor<'de> for InOrder {
            type Value = OrderedCounters;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an object of counters")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<OrderedCounters, A::Error> {
                let mut out = Vec::new();
                while let Some((k, v)) = map.next_entry::<String, u64>()? {
                    out.push((Cow::Owned(k), v));
                }
                Ok(OrderedCounters(out))
            }
        }
        d.deserialize_map(InOrder)
    }
}

/// The health verdict (`health` in summary.json; also decides exit code 2).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Health {
    /// Whether any gate is configured.
    pub active: bool,
    /// Whether every configured gate passed; `null` when none is configured (nothing
    /// was judged), `false` when every call failed.
    pub pass: Option<bool>,
    /// One plain-language line per failed gate (worded as the Go gossipper's).
    pub reasons: Vec<String>,
}

impl Health {
    /// Gates were configured and one failed.
    pub fn failed(&self) -> bool {
        self.pass == Some(false)
    }
}

/// The numbers the health gates look at.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct HealthFacts {
    /// Successful calls over calls created.
    pub success_ratio: f64,
    /// Failed calls.
    pub failed_calls: u64,
    /// SIP timeouts.
    pub timeouts: u64,
    /// Successful calls.
    pub successful_calls: u64,
    /// RTCP report blocks peers sent about our streams, and the worst they reported.
    pub rtcp_reception_reports: u64,
    pub rtcp_max_fraction_lost: f64,
    pub rtcp_max_jitter_ts: u32,
    /// RTP packets received, and the fewest one call with media received (`None`
    /// until such a call ended).
    pub rtp_packets_received: u64,
    pub rtp_min_received_per_call: Option<u64>,
}

impl HealthFacts {
    /// The facts of a finished (or running) run.
    pub fn of(stats: &ShardStats) -> HealthFacts {
        let c = &stats.counters;
        let m = &stats.media;
        HealthFacts {
            success_ratio: success_ratio(c),
            failed_calls: c.failed_calls,
            timeouts: c.timeouts,
            successful_calls: c.successful_calls,
            rtcp_reception_reports: m.rtcp_reception_reports,
            rtcp_max_fraction_lost: m.rtcp_max_fraction_lost,
            rtcp_max_jitter_ts: m.rtcp_max_jitter_ts,
            rtp_packets_received: m.rtp_packets_received,
            rtp_min_received_per_call: (m.calls_with_media > 0)
                .then_some(m.per_call_min_rtp_packets_received),
        }
    }
}

/// Checks the gates the way the Go gossipper does (reasons worded the same): a minimum
/// success ratio (with 1e-9 slack), and maxima for failed calls and timeouts.
pub fn evaluate_health(gates: &HealthGates, f: &HealthFacts) -> Health {
    let mut reasons = Vec::new();
    if let Some(min) = gates.min_success_ratio
        && min > 0.0
        && f.success_ratio + 1e-9 < min
    {
        reasons.push(format!(
            "success_ratio {:.4} below minimum {:.4}",
            f.success_ratio, min
        ));
    }
    if let Some(max) = gates.max_failed_calls
        && f.failed_calls > max
    {
        reasons.push(format!(
            "failed_calls {} exceeds maximum {}",
            f.failed_calls, max
        ));
    }
    if let Some(max) = gates.max_timeouts
        && f.timeouts > max
    {
        reasons.push(format!("timeouts {} exceeds maximum {}", f.timeouts, max));
    }
    // The media gates: an RTCP gate with no report to judge fails (nothing proves the
    // peer's view), as a threshold with nothing measured does.
    if let Some(max) = gates.max_rtcp_fraction_lost {
        if f.rtcp_reception_reports == 0 {
            reasons.push("rtcp_fraction_lost: no RTCP report received".into());
        } else if f.rtcp_max_fraction_lost > max + 1e-9 {
            reasons.push(format!(
                "rtcp_fraction_lost {:.4} exceeds maximum {:.4}",
                f.rtcp_max_fraction_lost, max
            ));
        }
    }
    if let Some(max) = gates.max_rtcp_jitter_ts {
        if f.rtcp_reception_reports == 0 {
            reasons.push("rtcp_jitter_ts: no RTCP report received".into());
        } else if u64::from(f.rtcp_max_jitter_ts) > max {
            reasons.push(format!(
                "rtcp_jitter_ts {} exceeds maximum {}",
                f.rtcp_max_jitter_ts, max
            ));
        }
    }
    if let Some(min) = gates.min_rtp_packets_recv
        && f.rtp_packets_received < min
    {
        reasons.push(format!(
            "rtp_packets_recv {} below minimum {}",
            f.rtp_packets_received, min
        ));
    }
    if let Some(min) = gates.min_rtp_packets_recv_per_call {
        match f.rtp_min_received_per_call {
            None => reasons.push("rtp_packets_recv_per_call: no call with media ended".into()),
            Some(n) if n < min => {
                reasons.push(format!("rtp_packets_recv_per_call {n} below minimum {min}"))
            }
            Some(_) => {}
        }
    }
    let active = gates.min_success_ratio.is_some_and(|m| m > 0.0)
        || gates.max_failed_calls.is_some()
        || gates.max_timeouts.is_some()
        || gates.has_media_gates();
    if active && f.successful_calls == 0 && f.failed_calls > 0 && reasons.is_empty() {
        reasons.push(format!("every call failed ({})", f.failed_calls));
    }
    Health {
        active,
        pass: active.then_some(reasons.is_empty()),
        reasons,
    }
}

/// The whole summary.json document. Read back too (`report.html` is drawn from it, by the
/// worker at the end of a job and by its `report-html` tool from a file): every field
/// takes its default when missing, so a file of an older revision reads (check
/// `schema_revision` before trusting a revision-2 field), and unknown fields are ignored.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Summary {
    /// Always `gossipper_summary_v1`.
    pub schema_version: Cow<'static, str>,
    /// `Gossipper X.Y.Z`.
    pub tool_version: String,
    /// RFC 3339.
    pub started_at: String,
    /// RFC 3339.
    pub finished_at: String,
    /// Run length in ns.
    pub duration: u64,
    /// Run length in ms.
    pub duration_ms: f64,
    /// Calls created (incoming + outgoing).
    pub total_calls: u64,
    /// Successful calls.
    pub success_calls: u64,
    /// Failed calls.
    pub failed_calls: u64,
    /// Calls still alive.
    pub active_calls: u64,
    /// `success_calls / total_calls` (0 without calls).
    pub success_ratio: f64,
    /// Calls created per second over the whole run.
    pub calls_per_second: f64,
    /// Retransmissions sent.
    pub retransmits: u64,
    /// SIP timeouts.
    pub timeouts: u64,
    /// Mean call length in ns.
    pub average_call_latency: u64,
    /// Mean call length in ms.
    pub average_call_latency_ms: f64,
    /// Mean of the first response time (the INVITE round trip in the built-ins) in ns.
    pub average_invite_rtt: u64,
    /// Same in ms.
    pub average_invite_rtt_ms: f64,
    /// Call lengths, when any call finished.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub call_length: Option<Latency>,
    /// The first response time, when measured.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub invite_rtt: Option<Latency>,
    /// Media counters.
    pub media: crate::stats::media::MediaStats,
    /// Every measured response time by name.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub rtd: BTreeMap<String, Latency>,
    /// Scenario counters by name.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub counters: BTreeMap<String, u64>,
    /// Failed calls by class (`timeout`, `unexpected_sip`, `transport_error`,
    /// `scenario_error`, …); classes with no failure are left out, as in Go.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub failure_classes: BTreeMap<String, u64>,
    /// The health gates' verdict.
    pub health: Health,
    /// Plain-language lines.
    pub findings: Vec<String>,
    /// The RNG seed, to replay the run.
    pub seed: u64,
    /// Every cumulative SIPp counter by its -trace_stat name.
    pub sipp: OrderedCounters,
    /// What the engine discarded or absorbed, each with its counter (STYLE.md §5: no
    /// silent drops).
    pub discards: Discards,
    /// Stream transport counters (TCP, TLS, WebSocket); zeros over UDP.
    pub transport: TransportSummary,
    /// Calls created by each shard, in shard order: shows how the load spread over cores.
    pub shard_calls: Vec<u64>,
    /// WebRTC calls (`webrtc="true"` scenarios only): set-ups, and failures by cause.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub webrtc: Option<WebrtcSummary>,
    /// Revision of the additive fields ([`SCHEMA_REVISION`]).
    pub schema_revision: u32,
    /// The scenario: `{name, role}` (role `client` or `server`).
    pub scenario: ScenarioSummary,
    /// SIPp's per-message table: one row per step of the scenario screen.
    pub messages: Vec<MessageRow>,
    /// What the run was asked to do.
    pub target: Target,
    /// What it did.
    pub achieved: Achieved,
    /// Every threshold (the health gates included) with its verdict.
    pub thresholds: Vec<ThresholdResult>,
    /// The run's verdict.
    pub verdict: Verdict,
}

/// The scenario a run played.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ScenarioSummary {
    /// `<scenario name=…>`.
    pub name: String,
    /// `client` (places calls) or `server` (answers them).
    pub role: Role,
}

impl Default for ScenarioSummary {
    fn default() -> Self {
        ScenarioSummary {
            name: String::new(),
            role: Role::Client,
        }
    }
}

/// What happened to stream connections (`-t t1`, `tn`, `l1`, `ln`, `w1`, …).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct TransportSummary {
    /// Connections we opened (after their TLS/WebSocket handshakes).
    pub connections_opened: u64,
    /// Connections peers opened to us (after their handshakes).
    pub connections_accepted: u64,
    /// Connections that could not be opened.
    pub connect_failures: u64,
    /// TLS or WebSocket handshakes that failed.
    pub handshake_failures: u64,
    /// Connections closed for bytes that cannot be framed as SIP (or a message cut by
    /// the peer's close).
    pub closed_bad_input: u64,
    /// Connections closed for a message over the stream size limit.
    pub stream_too_large: u64,
    /// Accepted connections closed by the idle timeout (silent with no live call, or half
    /// a message unfinished).
    pub stream_idle_closed: u64,
    /// Calls failed because their connection closed (SIPp's FailedTcpClosed).
    pub calls_failed_closed: u64,
    /// Calls failed because no connection could be opened (FailedTcpConnect).
    pub calls_failed_connect: u64,
}

impl TransportSummary {
    /// The transport counters of a run.
    pub fn of(c: &Counters) -> TransportSummary {
        TransportSummary {
            connections_opened: c.connections_opened,
            connections_accepted: c.connections_accepted,
            connect_failures: c.connect_failures,
            handshake_failures: c.tls_handshake_failures,
            closed_bad_input: c.connections_closed_bad_input,
            stream_too_large: c.stream_too_large,
            stream_idle_closed: c.stream_idle_closed,
            calls_failed_closed: c.failed_tcp_closed,
            calls_failed_connect: c.failed_tcp_connect,
        }
    }
}

/// Messages that did not become call steps.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Discards {
    /// Datagrams or frames that did not parse as SIP.
    pub malformed_messages: u64,
    /// Not discarded: messages RFC 3261 refuses but SIPp accepts (a request line with an
    /// empty Request-URI, as SIPp sends `ACK  SIP/2.0`), taken and matched to their call.
    pub lenient_parses: u64,
    /// Messages for calls that had already ended.
    pub dead_call_msgs: u64,
    /// Messages for no call that could not start one.
    pub out_of_call_msgs: u64,
    /// Retransmissions from the peer answered from our last message.
    pub absorbed_retransmissions: u64,
    /// Datagrams the socket refused to send.
    pub send_errors: u64,
}

/// summary.json's `webrtc` block.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct WebrtcSummary {
    /// Calls that got a bridge.
    pub calls: u64,
    /// Calls whose ICE and DTLS came up.
    pub connected: u64,
    /// Datagrams on a WebRTC socket that no live call owned (a late close_notify, a
    /// stranger).
    pub stray_datagrams: u64,
    /// Shared sockets: a peer address learnt by a call while another live call of the same
    /// socket already had it (that call's datagrams went to the first).
    pub route_collisions: u64,
    /// Set-up failures by cause (`ice_timeout`, `dtls_timeout`, `dtls_failure`,
    /// `fingerprint_mismatch`, `missing_fingerprint`, `remote_sdp`,
    /// `srtp_undecryptable`, `turn`, `internal`, `no_socket`); causes that never happened are
    /// left out.
    pub failures: BTreeMap<String, u64>,
}

impl WebrtcSummary {
    /// The block, when the run had WebRTC calls (or failed to give one a socket).
    pub fn of(w: &crate::stats::WebrtcCounters) -> Option<WebrtcSummary> {
        if w.calls == 0 && w.no_socket == 0 {
            return None;
        }
        Some(WebrtcSummary {
            calls: w.calls,
            connected: w.connected,
            stray_datagrams: w.stray_datagrams,
            route_collisions: w.route_collisions,
            failures: w
                .failures()
                .into_iter()
                .map(|(k, n)| (k.to_owned(), n))
                .collect(),
        })
    }
}

/// What `summary` needs.
#[derive(Clone, Copy, Debug)]
pub struct SummaryInput<'a> {
    /// The run's facts (start time, rtd and counter names).
    pub info: &'a RunInfo,
    /// The final merged statistics.
    pub stats: &'a ShardStats,
    /// When the run ended.
    pub finished_at: SystemTime,
    /// `Gossipper X.Y.Z`.
    pub tool_version: &'a str,
    /// The run's RNG seed.
    pub seed: u64,
    /// The configured gates.
    pub gates: &'a HealthGates,
    /// Media counters (zeros without media).
    pub media: crate::stats::media::MediaStats,
    /// Calls created by each shard (`RunReport::shard_calls`).
    pub shard_calls: &'a [u64],
    /// The run's thresholds (the gates are added to them).
    pub thresholds: &'a [Threshold],
}

fn success_ratio(c: &Counters) -> f64 {
    let total = c.incoming_calls + c.outgoing_calls;
    if total == 0 {
        0.0
    } else {
        c.successful_calls as f64 / total as f64
    }
}

/// Failed calls by Go failure class. Failures no SIPp column explains count as
/// `scenario_error`.
pub fn failure_classes(c: &Counters) -> BTreeMap<String, u64> {
    let by_reason = [
        (
            FailureReason::CannotSendMessage,
            c.failed_cannot_send_message,
        ),
        (FailureReason::MaxUdpRetrans, c.failed_max_udp_retrans),
        (FailureReason::TcpConnect, c.failed_tcp_connect),
        (FailureReason::TcpClosed, c.failed_tcp_closed),
        (
            FailureReason::UnexpectedMessage,
            c.failed_unexpected_message,
        ),
        (FailureReason::CallRejected, c.failed_call_rejected),
        (FailureReason::CmdNotSent, c.failed_cmd_not_sent),
        (
            FailureReason::RegexpDoesntMatch,
            c.failed_regexp_doesnt_match,
        ),
        (
            FailureReason::RegexpShouldntMatch,
            c.failed_regexp_shouldnt_match,
        ),
        (
            FailureReason::RegexpHdrNotFound,
            c.failed_regexp_hdr_not_found,
        ),
        (
            FailureReason::OutboundCongestion,
            c.failed_outbound_congestion,
        ),
        (FailureReason::TimeoutOnRecv, c.failed_timeout_on_recv),
        (FailureReason::TimeoutOnSend, c.failed_timeout_on_send),
        (FailureReason::TestDoesntMatch, c.failed_test_doesnt_match),
        (
            FailureReason::TestShouldntMatch,
            c.failed_test_shouldnt_match,
        ),
        (
            FailureReason::StrcmpDoesntMatch,
            c.failed_strcmp_doesnt_match,
        ),
        (
            FailureReason::StrcmpShouldntMatch,
            c.failed_strcmp_shouldnt_match,
        ),
        (FailureReason::Aborted, c.aborted_calls),
        (FailureReason::Webrtc, c.failed_webrtc),
        (FailureReason::Srtp, c.failed_srtp),
    ];
    let mut out = BTreeMap::new();
    let mut explained = 0u64;
    for (reason, n) in by_reason {
        if n > 0 {
            *out.entry(reason.class().to_string()).or_insert(0) += n;
            explained += n;
        }
    }
    let rest = c.failed_calls.saturating_sub(explained);
    if rest > 0 {
        *out.entry("scenario_error".to_string()).or_insert(0) += rest;
    }
    out
}

/// Go's findings: the health verdict, a calls line, timeouts, the top three failure
/// classes.
fn findings(s: &Summary) -> Vec<String> {
    let mut lines = Vec::new();
    if !s.health.reasons.is_empty() {
        lines.push(format!(
            "Health check: FAIL — {}",
            s.health.reasons.join("; ")
        ));
    } else if s.health.active {
        lines.push("Health check: PASS".into());
    }
    if s.total_calls == 0 {
        lines.push("No calls were started.".into());
        return lines;
    }
    let finished = s.success_calls + s.failed_calls;
    let pct = 100.0 * s.success_calls as f64 / s.total_calls as f64;
    lines.push(format!(
        "Calls: total={} finished={finished} success={} failed={} (success {pct:.1}% of total).",
        s.total_calls, s.success_calls, s.failed_calls
    ));
    if s.timeouts > 0 {
        lines.push(format!("SIP timeouts: {}", s.timeouts));
    }
    if !s.failure_classes.is_empty() {
        let mut list: Vec<(&String, &u64)> = s.failure_classes.iter().collect();
        list.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        let parts: Vec<String> = list
            .iter()
            .take(3)
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        lines.push(format!("Top failure classes: {}", parts.join(", ")));
    }
    lines
}

/// The summary of a finished run of `spec`: what the SIPp command line and the worker
/// both write (the media block from `stats`, the seed, gates and thresholds from `spec`).
pub fn of_run(
    info: &RunInfo,
    spec: &crate::config::JobSpec,
    stats: &ShardStats,
    finished_at: SystemTime,
    shard_calls: &[u64],
) -> Summary {
    summary(&SummaryInput {
        info,
        stats,
        finished_at,
        tool_version: TOOL_VERSION,
        seed: spec.seed,
        gates: &spec.health,
        media: stats.media,
        shard_calls,
        thresholds: &spec.thresholds,
    })
}

/// Builds the summary of a run.
pub fn summary(i: &SummaryInput<'_>) -> Summary {
    let c = &i.stats.counters;
    let start = i.info.run.start;
    let run_ns = u64::try_from(
        i.finished_at
            .duration_since(start)
            .unwrap_or_default()
            .as_nanos(),
    )
    .unwrap_or(u64::MAX);
    let total = c.incoming_calls + c.outgoing_calls;
    let secs = run_ns as f64 / 1e9;
    let call_length = latency(&i.stats.call_length);
    let invite_rtt = i.stats.rtd.first().and_then(latency);
    let rtd = i
        .info
        .rtd_names
        .iter()
        .zip(&i.stats.rtd)
        .filter_map(|(name, t)| latency(t).map(|l| (name.clone(), l)))
        .collect();
    let counters = i
        .info
        .counter_names
        .iter()
        .zip(&i.stats.generic_counters)
        .map(|(name, v)| (name.clone(), *v))
        .collect();
    let health = evaluate_health(i.gates, &HealthFacts::of(i.stats));
    let target = Target::of(i.info);
    let achieved = Achieved::of(i.stats);
    let facts = threshold_facts(i, &target, &achieved);
    let thresholds: Vec<ThresholdResult> = i
        .gates
        .thresholds()
        .iter()
        .chain(i.thresholds)
        .map(|t| thresholds::evaluate(t, &facts))
        .collect();
    let verdict = verdict::verdict(&VerdictInput {
        target: &target,
        achieved: &achieved,
        thresholds: &thresholds,
        success_calls: c.successful_calls,
        failed_calls: c.failed_calls,
        active_calls: i.stats.current_calls,
    });
    let mut s = Summary {
        schema_version: SCHEMA_VERSION.into(),
        tool_version: i.tool_version.to_string(),
        started_at: rfc3339(start),
        finished_at: rfc3339(i.finished_at),
        duration: run_ns,
        duration_ms: run_ns as f64 / 1e6,
        total_calls: total,
        success_calls: c.successful_calls,
        failed_calls: c.failed_calls,
        active_calls: i.stats.current_calls,
        success_ratio: success_ratio(c),
        calls_per_second: if secs > 0.0 { total as f64 / secs } else { 0.0 },
        retransmits: c.retransmissions,
        timeouts: c.timeouts,
        average_call_latency: call_length.as_ref().map_or(0, |l| l.average),
        average_call_latency_ms: call_length.as_ref().map_or(0.0, |l| l.average_ms),
        average_invite_rtt: invite_rtt.as_ref().map_or(0, |l| l.average),
        average_invite_rtt_ms: invite_rtt.as_ref().map_or(0.0, |l| l.average_ms),
        call_length,
        invite_rtt,
        media: i.media,
        rtd,
        counters,
        failure_classes: failure_classes(c),
        health,
        findings: Vec::new(),
        seed: i.seed,
        sipp: OrderedCounters::of(sipp_counters(c)),
        discards: Discards {
            malformed_messages: c.malformed_messages,
            lenient_parses: c.lenient_parses,
            dead_call_msgs: c.dead_call_msgs,
            out_of_call_msgs: c.out_of_call_msgs,
            absorbed_retransmissions: c.absorbed_retransmissions,
            send_errors: c.send_errors,
        },
        transport: TransportSummary::of(c),
        shard_calls: i.shard_calls.to_vec(),
        webrtc: WebrtcSummary::of(&i.stats.webrtc),
        schema_revision: SCHEMA_REVISION,
        scenario: ScenarioSummary {
            name: i.info.scenario_name.clone(),
            role: target.role,
        },
        messages: message_rows(i.info, Some(i.stats)),
        target,
        achieved,
        thresholds,
        verdict,
    };
    s.findings = findings(&s);
    s
}

/// The numbers thresholds are judged on.
fn threshold_facts<'a>(
    i: &SummaryInput<'a>,
    target: &Target,
    achieved: &Achieved,
) -> thresholds::Facts<'a> {
    let c = &i.stats.counters;
    let m = &i.stats.media;
    let expected = m.rtp_packets_received + m.rtp_packets_lost;
    let total = c.incoming_calls + c.outgoing_calls;
    thresholds::Facts {
        rtd_names: &i.info.rtd_names,
        rtd: &i.stats.rtd,
        call_length: &i.stats.call_length,
        achieved_cps: achieved.rate_cps,
        target_cps: target.rate_cps,
        success_ratio: (total > 0).then(|| success_ratio(c)),
        failed_calls: c.failed_calls,
        timeouts: c.timeouts,
        retrans_ratio: (c.messages_sent > 0)
            .then(|| c.retransmissions as f64 / c.messages_sent as f64),
        rtp_loss: (expected > 0).then(|| m.rtp_packets_lost as f64 / expected as f64),
        mos_min: (m.mos_count > 0).then_some(m.mos_min),
        mos_avg: (m.mos_count > 0).then_some(m.mos_avg),
        rtcp_max_fraction_lost: (m.rtcp_reception_reports > 0).then_some(m.rtcp_max_fraction_lost),
        rtcp_max_jitter_ts: (m.rtcp_reception_reports > 0).then_some(m.rtcp_max_jitter_ts),
        rtp_packets_received: m.rtp_packets_received,
        rtp_min_received_per_call: (m.calls_with_media > 0)
            .then_some(m.per_call_min_rtp_packets_received),
    }
}

/// `tool_version` of summaries written by this build (the workspace shares one version).
pub const TOOL_VERSION: &str = concat!("Gossipper ", env!("CARGO_PKG_VERSION"));

/// summary.json text: indented by two spaces like Go's `MarshalIndent`, ending in `\n`.
pub fn to_json(s: &Summary) -> String {
    // Plain structs with string keys and finite-or-null floats cannot fail to serialise.
    let mut out = serde_json::to_string_pretty(s).expect("summary serialises");
    out.push('\n');
    out
}

#[cfg(test)]
mod tests;
