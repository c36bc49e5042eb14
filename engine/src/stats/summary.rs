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
//!   every call failed.
//!
//! Go's latency buckets (`le_10ms` … `gt_5000ms`) are derived from our histogram, which
//! keeps two significant digits: a value within ~1.5 % of a bucket edge may land in the
//! neighbouring bucket.

use std::collections::BTreeMap;
use std::time::SystemTime;

use serde::Serialize;
use serde::ser::SerializeMap;

use super::csv::sipp_counters;
use super::format::rfc3339;
use super::messages::{MessageRow, message_rows};
use super::report::RunInfo;
use super::target::{Achieved, Target};
use super::thresholds::{self, Threshold, ThresholdResult};
use super::verdict::{self, Verdict, VerdictInput};
use super::{Counters, FailureReason, Histogram, ShardStats, TimeStat};
use crate::config::HealthGates;

/// The schema this module writes.
pub const SCHEMA_VERSION: &str = "gossipper_summary_v1";
/// The revision of additive fields within it (see the module doc).
pub const SCHEMA_REVISION: u32 = 2;

/// Upper edges of `distribution` buckets, µs: 1-2-5 steps from 10 µs to 50 min.
const DISTRIBUTION_EDGES_US: [u64; 27] = [
    10,
    20,
    50,
    100,
    200,
    500,
    1_000,
    2_000,
    5_000,
    10_000,
    20_000,
    50_000,
    100_000,
    200_000,
    500_000,
    1_000_000,
    2_000_000,
    5_000_000,
    10_000_000,
    20_000_000,
    50_000_000,
    100_000_000,
    200_000_000,
    500_000_000,
    1_000_000_000,
    2_000_000_000,
    3_000_000_000,
];

/// Go's latency bucket upper edges in ms (`ms <= edge`), then `gt_5000ms`.
const GO_BUCKETS_MS: [u64; 9] = [10, 20, 50, 100, 200, 500, 1000, 2000, 5000];

/// Name/value pairs serialised as a JSON object in their given order (SIPp's CSV order).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OrderedCounters(pub Vec<(&'static str, u64)>);

impl Serialize for OrderedCounters {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            m.serialize_entry(k, v)?;
        }
        m.end()
    }
}

/// One Go latency bucket.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LatencyBucket {
    /// `le_10ms` … `gt_5000ms`.
    pub label: String,
    /// Values in the bucket.
    pub count: u64,
}

/// One bucket of a latency `distribution`: values at most `le_ms` (and above the
/// previous bucket's edge).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DistributionBucket {
    /// Upper edge, ms.
    pub le_ms: f64,
    /// Values in the bucket.
    pub count: u64,
}

/// A latency object (`call_length`, `invite_rtt`, `rtd.<name>`).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Latency {
    /// Number of values.
    pub count: u64,
    /// Mean in ns (Go `time.Duration`).
    pub average: u64,
    /// Minimum in ns.
    pub min: u64,
    /// Maximum in ns.
    pub max: u64,
    /// Last value in ns.
    pub last: u64,
    /// Population standard deviation in ns.
    pub stddev: u64,
    /// Go's fixed buckets.
    pub buckets: Vec<LatencyBucket>,
    /// `average` in ms.
    pub average_ms: f64,
    /// `min` in ms.
    pub min_ms: f64,
    /// `max` in ms.
    pub max_ms: f64,
    /// `last` in ms.
    pub last_ms: f64,
    /// `stddev` in ms.
    pub stddev_ms: f64,
    /// Median in ms (from the histogram).
    pub p50_ms: f64,
    /// 90th percentile in ms.
    pub p90_ms: f64,
    /// 99th percentile in ms.
    pub p99_ms: f64,
    /// 99.9th percentile in ms.
    pub p999_ms: f64,
    /// Revision 2: 1-2-5 buckets (`le_ms` 0.01, 0.02, 0.05 … ms), from the one holding the
    /// smallest value to the one holding the largest, so sub-millisecond values spread
    /// over several bars instead of landing in Go's single `le_10ms`.
    pub distribution: Vec<DistributionBucket>,
}

/// Go's `media` block, plus our receive-side and quality numbers. Zeros without media.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct MediaSummary {
    /// RTP packets sent.
    pub rtp_packets_sent: u64,
    /// RTP payload octets sent.
    pub rtp_octets_sent: u64,
    /// RTP packets received.
    pub rtp_packets_received: u64,
    /// RTCP sender reports sent.
    pub rtcp_sender_reports: u64,
    /// RTCP receiver reports sent.
    pub rtcp_receiver_reports: u64,
    /// RTCP packets received.
    pub rtcp_packets_received: u64,
    /// Report blocks received about our streams.
    pub rtcp_reception_reports: u64,
    /// Largest fraction lost a peer reported about us (0..=1).
    pub rtcp_max_fraction_lost: f64,
    /// Largest jitter a peer reported about us, RTP timestamp units.
    pub rtcp_max_jitter_ts: u32,
    /// RTP packets lost (RFC 3550 cumulative loss, summed over calls).
    pub rtp_packets_lost: u64,
    /// Packets echoed back to their source.
    pub rtp_packets_echoed: u64,
    /// Datagrams on a media port from a source no call expects.
    pub rtp_unexpected_source: u64,
    /// Datagrams on a media port that are neither RTP nor RTCP.
    pub rtp_malformed: u64,
    /// Packets skipped because their stream fell more than 200 ms behind schedule.
    pub rtp_late_skipped: u64,
    /// Media datagrams the socket refused to send.
    pub rtp_send_errors: u64,
    /// Calls that received at least one RTP packet.
    pub media_calls_with_rtp_received: u64,
    /// Fewest RTP packets received by one call with media.
    pub per_call_min_rtp_packets_received: u64,
    /// Largest cumulative loss of one call.
    pub rtp_recv_max_cumulative_lost: u64,
    /// Peak interarrival jitter of any call, RTP timestamp units.
    pub rtp_recv_interarrival_jitter_peak_ts: u32,
    /// Mean of the calls' final interarrival jitter, ms.
    pub jitter_ms_avg: f64,
    /// Mean and lowest per-call MOS (ITU-T G.107 E-model), 0 without received RTP.
    pub mos_avg: f64,
    pub mos_min: f64,
    /// Mean per-call R factor.
    pub r_factor_avg: f64,
    /// WAV recordings written / failed.
    pub recordings_written: u64,
    pub recording_errors: u64,
    /// `rtpcheck` verdicts.
    pub rtpcheck_passed: u64,
    pub rtpcheck_failed: u64,
    /// Packets sent by the RTP scheduler, those sent within 1 ms of their schedule, and
    /// the worst lateness in µs.
    pub scheduled_packets: u64,
    pub scheduled_within_1ms: u64,
    pub scheduled_max_late_us: u64,
}

/// The health verdict (`health` in summary.json; also decides exit code 2).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
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
}

impl HealthFacts {
    /// The facts of a finished (or running) run.
    pub fn of(stats: &ShardStats) -> HealthFacts {
        let c = &stats.counters;
        HealthFacts {
            success_ratio: success_ratio(c),
            failed_calls: c.failed_calls,
            timeouts: c.timeouts,
            successful_calls: c.successful_calls,
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
    let active = gates.min_success_ratio.is_some_and(|m| m > 0.0)
        || gates.max_failed_calls.is_some()
        || gates.max_timeouts.is_some();
    if active && f.successful_calls == 0 && f.failed_calls > 0 && reasons.is_empty() {
        reasons.push(format!("every call failed ({})", f.failed_calls));
    }
    Health {
        active,
        pass: active.then_some(reasons.is_empty()),
        reasons,
    }
}

/// The whole summary.json document.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Summary {
    /// Always `gossipper_summary_v1`.
    pub schema_version: &'static str,
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
    pub media: MediaSummary,
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
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ScenarioSummary {
    /// `<scenario name=…>`.
    pub name: String,
    /// `client` (places calls) or `server` (answers them).
    pub role: &'static str,
}

/// What happened to stream connections (`-t t1`, `tn`, `l1`, `ln`, `w1`, …).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
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
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Discards {
    /// Datagrams or frames that did not parse as SIP.
    pub malformed_messages: u64,
    /// Messages for calls that had already ended.
    pub dead_call_msgs: u64,
    /// Messages for no call that could not start one.
    pub out_of_call_msgs: u64,
    /// Retransmissions from the peer answered from our last message.
    pub absorbed_retransmissions: u64,
    /// Datagrams the socket refused to send.
    pub send_errors: u64,
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
    pub media: MediaSummary,
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

fn ms(us: u64) -> f64 {
    us as f64 / 1000.0
}

fn ns(us: u64) -> u64 {
    us.saturating_mul(1000)
}

/// How many recorded values are at most `x_us`, read from the histogram by bisecting
/// over ranks (the histogram exposes quantiles only).
fn count_at_most(h: &Histogram, x_us: u64) -> u64 {
    let n = h.count();
    let value_at_rank = |k: u64| h.quantile((k as f64 - 0.5) / n as f64);
    let (mut lo, mut hi) = (0u64, n); // invariant: rank lo is <= x (rank 0 trivially)
    while lo < hi {
        let mid = lo + (hi - lo).div_ceil(2);
        if value_at_rank(mid) <= x_us {
            lo = mid
        } else {
            hi = mid - 1
        }
    }
    lo
}

/// The 1-2-5 buckets from the one holding `min_us` to the one holding `max_us`.
fn distribution(t: &TimeStat) -> Vec<DistributionBucket> {
    let h = &t.histogram;
    let edges = &DISTRIBUTION_EDGES_US;
    let top = edges.len() - 1;
    let first = edges.iter().position(|&e| t.min_us <= e).unwrap_or(top);
    let last = edges.iter().position(|&e| t.max_us <= e).unwrap_or(top);
    let mut below = match first.checked_sub(1).and_then(|k| edges.get(k)) {
        Some(&e) => count_at_most(h, e),
        None => 0,
    };
    let mut out = Vec::with_capacity(last.saturating_sub(first) + 1);
    for (i, &edge) in edges.iter().enumerate().skip(first).take(last + 1 - first) {
        // The last bucket takes every value left (the histogram's 1.5 % precision may
        // put a value just over the edge of its neighbour).
        let upto = if i == last {
            h.count()
        } else {
            count_at_most(h, edge)
        };
        out.push(DistributionBucket {
            le_ms: edge as f64 / 1000.0,
            count: upto.saturating_sub(below),
        });
        below = upto;
    }
    out
}

fn go_buckets(h: &Histogram) -> Vec<LatencyBucket> {
    let mut out = Vec::with_capacity(GO_BUCKETS_MS.len() + 1);
    let mut below = 0;
    for edge in GO_BUCKETS_MS {
        // Go compares whole milliseconds: ms <= edge means us < (edge + 1) * 1000.
        let upto = count_at_most(h, (edge + 1) * 1000 - 1);
        out.push(LatencyBucket {
            label: format!("le_{edge}ms"),
            count: upto.saturating_sub(below),
        });
        below = upto;
    }
    out.push(LatencyBucket {
        label: "gt_5000ms".into(),
        count: h.count().saturating_sub(below),
    });
    out
}

/// The latency object of one timer, or `None` when it recorded nothing.
pub fn latency(t: &TimeStat) -> Option<Latency> {
    if t.count == 0 {
        return None;
    }
    let mean = t.mean_us() as u64;
    // Finite and non-negative: the cast saturates.
    let stdev = t.stdev_us() as u64;
    let q = |p: f64| ms(t.histogram.quantile(p));
    Some(Latency {
        count: t.count,
        average: ns(mean),
        min: ns(t.min_us),
        max: ns(t.max_us),
        last: ns(t.last_us),
        stddev: ns(stdev),
        buckets: go_buckets(&t.histogram),
        average_ms: ms(mean),
        min_ms: ms(t.min_us),
        max_ms: ms(t.max_us),
        last_ms: ms(t.last_us),
        stddev_ms: ms(stdev),
        p50_ms: q(0.5),
        p90_ms: q(0.9),
        p99_ms: q(0.99),
        p999_ms: q(0.999),
        distribution: distribution(t),
    })
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
    let thresholds: Vec<ThresholdResult> = thresholds::from_gates(i.gates)
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
        schema_version: SCHEMA_VERSION,
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
        sipp: OrderedCounters(sipp_counters(c)),
        discards: Discards {
            malformed_messages: c.malformed_messages,
            dead_call_msgs: c.dead_call_msgs,
            out_of_call_msgs: c.out_of_call_msgs,
            absorbed_retransmissions: c.absorbed_retransmissions,
            send_errors: c.send_errors,
        },
        transport: TransportSummary::of(c),
        shard_calls: i.shard_calls.to_vec(),
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
        mos_avg: (m.mos_count > 0).then(|| m.mos_avg()),
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
mod tests {
    use super::*;
    use crate::stats::report::tests::uac_info;
    use std::time::Duration;

    fn stats(info: &RunInfo) -> ShardStats {
        ShardStats::new(
            info.steps.len(),
            info.rtd_names.len(),
            info.counter_names.len(),
            &info.rtd_edges_ms,
            &info.call_length_edges_ms,
        )
    }

    fn finished_run() -> (RunInfo, ShardStats) {
        let mut info = uac_info();
        info.counter_names = vec!["okc".into()];
        let mut s = stats(&info);
        s.counters.outgoing_calls = 100;
        s.counters.successful_calls = 90;
        s.counters.fail(FailureReason::TimeoutOnRecv);
        s.counters.fail(FailureReason::MaxUdpRetrans);
        s.counters.fail(FailureReason::UnexpectedMessage);
        s.counters.failed_calls += 7; // failures no SIPp column explains
        s.counters.timeouts = 4;
        s.counters.retransmissions = 12;
        s.current_calls = 0;
        s.generic_counters = vec![42];
        for v in 1..=1000u64 {
            s.rtd[0].record(v * 1000); // 1 ms .. 1000 ms
        }
        s.call_length.record(4_000_000);
        (info, s)
    }

    fn build(info: &RunInfo, s: &ShardStats, gates: &HealthGates) -> Summary {
        summary(&SummaryInput {
            info,
            stats: s,
            finished_at: info.run.start + Duration::from_millis(10_500),
            tool_version: "Gossipper 0.1.0",
            seed: 7,
            gates,
            media: MediaSummary::default(),
            shard_calls: &[3, 2],
            thresholds: &[],
        })
    }

    #[test]
    fn summary_json_keeps_the_go_field_names() {
        let (info, s) = finished_run();
        let json = to_json(&build(&info, &s, &HealthGates::default()));
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        for key in [
            "schema_version",
            "tool_version",
            "started_at",
            "finished_at",
            "duration",
            "total_calls",
            "success_calls",
            "failed_calls",
            "active_calls",
            "success_ratio",
            "calls_per_second",
            "retransmits",
            "timeouts",
            "average_call_latency",
            "average_invite_rtt",
            "call_length",
            "invite_rtt",
            "media",
            "rtd",
            "counters",
            "failure_classes",
            "health",
            "findings",
            "duration_ms",
            "seed",
            "sipp",
        ] {
            assert!(v.get(key).is_some(), "missing {key}");
        }
        assert_eq!(v["schema_version"], "gossipper_summary_v1");
        assert_eq!(v["duration"], 10_500_000_000u64);
        assert_eq!(v["duration_ms"], 10_500.0);
        assert_eq!(v["started_at"], "2026-11-26T09:46:59.487723Z");
        assert_eq!(v["total_calls"], 100);
        assert_eq!(v["success_ratio"], 0.9);
        assert_eq!(v["retransmits"], 12);
        assert_eq!(v["counters"]["okc"], 42);
        assert_eq!(v["media"]["rtp_packets_sent"], 0);
        assert_eq!(v["sipp"]["SuccessfulCall"], 90);
        assert_eq!(v["sipp"]["FailedMaxUDPRetrans"], 1);
        assert_eq!(v["seed"], 7);
        let rtt = &v["invite_rtt"];
        for key in [
            "count",
            "average",
            "min",
            "max",
            "last",
            "stddev",
            "buckets",
            "p50_ms",
            "p90_ms",
            "p99_ms",
            "p999_ms",
            "average_ms",
        ] {
            assert!(rtt.get(key).is_some(), "invite_rtt lacks {key}");
        }
        assert_eq!(rtt["min"], 1_000_000);
        assert_eq!(rtt["max"], 1_000_000_000u64);
        assert_eq!(v["rtd"]["1"]["count"], 1000);
        // The SIPp block lists counters in CSV order.
        let sipp_pos = |k: &str| json.find(&format!("\"{k}\"")).unwrap();
        assert!(sipp_pos("IncomingCall") < sipp_pos("WatchdogMinor"));
    }

    #[test]
    fn shard_calls_are_listed_in_shard_order() {
        let (info, s) = finished_run();
        let json = to_json(&build(&info, &s, &HealthGates::default()));
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(v["shard_calls"], serde_json::json!([3, 2]));
    }

    #[test]
    fn the_transport_block_carries_every_stream_counter() {
        let (info, mut s) = finished_run();
        let c = &mut s.counters;
        c.connections_opened = 1;
        c.connections_accepted = 2;
        c.connect_failures = 3;
        c.tls_handshake_failures = 4;
        c.connections_closed_bad_input = 5;
        c.stream_too_large = 6;
        c.stream_idle_closed = 7;
        c.fail(FailureReason::TcpClosed);
        c.fail(FailureReason::TcpConnect);
        c.fail(FailureReason::TcpConnect);
        let json = to_json(&build(&info, &s, &HealthGates::default()));
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        let t = &v["transport"];
        assert_eq!(t["connections_opened"], 1);
        assert_eq!(t["connections_accepted"], 2);
        assert_eq!(t["connect_failures"], 3);
        assert_eq!(t["handshake_failures"], 4);
        assert_eq!(t["closed_bad_input"], 5);
        assert_eq!(t["stream_too_large"], 6);
        assert_eq!(t["stream_idle_closed"], 7);
        assert_eq!(t["calls_failed_closed"], 1);
        assert_eq!(t["calls_failed_connect"], 2);
        assert_eq!(
            v["sipp"]["FailedTcpConnect"], 2,
            "the SIPp block is unchanged"
        );
    }

    #[test]
    fn percentiles_come_from_the_histogram() {
        let (info, s) = finished_run();
        let l = build(&info, &s, &HealthGates::default())
            .invite_rtt
            .unwrap();
        let near = |got: f64, want: f64| (got - want).abs() / want < 0.02;
        assert!(near(l.p50_ms, 500.0), "p50 {}", l.p50_ms);
        assert!(near(l.p90_ms, 900.0), "p90 {}", l.p90_ms);
        assert!(near(l.p99_ms, 990.0), "p99 {}", l.p99_ms);
        assert!(near(l.p999_ms, 999.0), "p999 {}", l.p999_ms);
        assert!(near(l.average_ms, 500.5));
    }

    #[test]
    fn go_buckets_count_whole_milliseconds_at_or_below_each_edge() {
        let (info, s) = finished_run();
        let l = build(&info, &s, &HealthGates::default())
            .invite_rtt
            .unwrap();
        let labels: Vec<&str> = l.buckets.iter().map(|b| b.label.as_str()).collect();
        assert_eq!(
            labels,
            [
                "le_10ms",
                "le_20ms",
                "le_50ms",
                "le_100ms",
                "le_200ms",
                "le_500ms",
                "le_1000ms",
                "le_2000ms",
                "le_5000ms",
                "gt_5000ms"
            ]
        );
        let counts: Vec<u64> = l.buckets.iter().map(|b| b.count).collect();
        // 1..=1000 ms in 1 ms steps: every edge is hit exactly, so the histogram's
        // two-digit precision may move a value across an edge (±1 % of the total).
        let want = [10u64, 10, 30, 50, 100, 300, 500, 0, 0, 0];
        for (got, want) in counts.iter().zip(want) {
            assert!(got.abs_diff(want) <= 1 + want / 100, "{counts:?}");
        }
        assert_eq!(counts.iter().sum::<u64>(), 1000);

        // Values away from the edges land exactly.
        let mut t = TimeStat::new(&[]);
        for us in [5_000, 15_400, 3_000_000, 7_000_000, 7_500_000] {
            t.record(us);
        }
        let counts: Vec<u64> = latency(&t)
            .unwrap()
            .buckets
            .iter()
            .map(|b| b.count)
            .collect();
        assert_eq!(counts, [1, 1, 0, 0, 0, 0, 0, 0, 1, 2]);
    }

    #[test]
    fn failure_classes_follow_failure_reason_class() {
        let (info, s) = finished_run();
        let sum = build(&info, &s, &HealthGates::default());
        assert_eq!(sum.failed_calls, 10);
        assert_eq!(sum.failure_classes.get("timeout"), Some(&2));
        assert_eq!(sum.failure_classes.get("unexpected_sip"), Some(&1));
        assert_eq!(sum.failure_classes.get("scenario_error"), Some(&7));
        assert_eq!(sum.failure_classes.get("transport_error"), None);
        assert!(
            sum.findings
                .iter()
                .any(|f| f == "Top failure classes: scenario_error=7, timeout=2, unexpected_sip=1")
        );
        assert!(
            sum.findings.iter().any(|f| f
                == "Calls: total=100 finished=100 success=90 failed=10 (success 90.0% of total).")
        );
    }

    #[test]
    fn health_passes_without_gates_and_reports_each_failed_gate() {
        let facts = HealthFacts {
            success_ratio: 0.9,
            failed_calls: 10,
            timeouts: 4,
            successful_calls: 90,
        };
        let none = evaluate_health(&HealthGates::default(), &facts);
        assert_eq!(
            none,
            Health {
                active: false,
                pass: None,
                reasons: vec![]
            }
        );

        let gates = HealthGates {
            min_success_ratio: Some(0.95),
            max_failed_calls: Some(10),
            max_timeouts: Some(3),
        };
        let h = evaluate_health(&gates, &facts);
        assert!(h.active);
        assert_eq!(h.pass, Some(false));
        assert_eq!(
            h.reasons,
            [
                "success_ratio 0.9000 below minimum 0.9500",
                "timeouts 4 exceeds maximum 3"
            ]
        );

        let ok = HealthGates {
            min_success_ratio: Some(0.9),
            max_failed_calls: Some(10),
            max_timeouts: None,
        };
        assert_eq!(
            evaluate_health(&ok, &facts).pass,
            Some(true),
            "equal to the limit passes"
        );

        let zero = HealthGates {
            max_failed_calls: Some(0),
            ..Default::default()
        };
        assert!(
            evaluate_health(&zero, &facts).failed(),
            "max 0 fails on any failure"
        );
    }

    #[test]
    fn health_verdict_opens_the_findings() {
        let (info, s) = finished_run();
        let gates = HealthGates {
            max_failed_calls: Some(5),
            ..Default::default()
        };
        let sum = build(&info, &s, &gates);
        assert_eq!(
            sum.findings[0],
            "Health check: FAIL — failed_calls 10 exceeds maximum 5"
        );
        let gates = HealthGates {
            max_failed_calls: Some(50),
            ..Default::default()
        };
        assert_eq!(build(&info, &s, &gates).findings[0], "Health check: PASS");
    }

    #[test]
    fn revision_2_adds_the_table_target_thresholds_and_verdict() {
        let (mut info, mut s) = finished_run();
        info.uses_default_pause = true;
        info.run.default_pause_ms = 1000;
        s.steps[0].messages = 100;
        s.steps[0].retrans = 12;
        s.first_call_us = Some(500_000);
        s.last_call_us = Some(10_400_000);
        let thresholds = [
            crate::stats::thresholds::parse("p99(response_time)<500ms").unwrap(),
            crate::stats::thresholds::parse("rate>=95%").unwrap(),
        ];
        let gates = HealthGates {
            max_failed_calls: Some(50),
            ..Default::default()
        };
        let sum = summary(&SummaryInput {
            info: &info,
            stats: &s,
            finished_at: info.run.start + Duration::from_millis(10_500),
            tool_version: "Gossipper 0.1.0",
            seed: 7,
            gates: &gates,
            media: MediaSummary::default(),
            shard_calls: &[100],
            thresholds: &thresholds,
        });
        let v: serde_json::Value = serde_json::from_str(&to_json(&sum)).unwrap();
        assert_eq!(v["schema_version"], "gossipper_summary_v1");
        assert_eq!(v["schema_revision"], 2);
        assert_eq!(v["scenario"]["name"], "Basic Sipstone UAC");
        assert_eq!(v["scenario"]["role"], "client");
        assert_eq!(v["messages"][0]["label"], "INVITE");
        assert_eq!(v["messages"][0]["messages"], 100);
        assert_eq!(v["messages"][0]["retrans"], 12);
        assert_eq!(v["messages"].as_array().unwrap().len(), 9);
        assert_eq!(v["target"]["rate_cps"], 10.0);
        assert_eq!(v["target"]["calls"], 20);
        assert_eq!(v["target"]["hold_ms"], 1000);
        assert_eq!(v["achieved"]["calls"], 100);
        assert_eq!(v["achieved"]["window"]["from_s"], 0.5);
        // 99 intervals in 9.9 s: the hold tail does not dilute the rate.
        let rate = v["achieved"]["rate_cps"].as_f64().unwrap();
        assert!((rate - 10.0).abs() < 1e-9, "{rate}");
        let th: Vec<&str> = v["thresholds"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["threshold"].as_str().unwrap())
            .collect();
        assert_eq!(
            th,
            ["failed_calls<=50", "p99(response_time)<500ms", "rate>=95%"]
        );
        assert_eq!(v["thresholds"][1]["pass"], false, "p99 is 990 ms");
        assert_eq!(v["thresholds"][2]["pass"], true);
        assert_eq!(v["verdict"]["status"], "fail");
        assert_eq!(
            v["verdict"]["target_reached"], true,
            "100 calls of 20 asked for"
        );
        assert!(
            v["verdict"]["reasons"][0]
                .as_str()
                .unwrap()
                .starts_with("p99 response time 9"),
            "{}",
            v["verdict"]
        );
    }

    #[test]
    fn health_is_not_a_pass_when_nothing_was_judged_or_every_call_failed() {
        let info = uac_info();
        let mut s = stats(&info);
        s.counters.outgoing_calls = 16;
        for _ in 0..16 {
            s.counters.fail(FailureReason::MaxUdpRetrans);
        }
        let sum = build(&info, &s, &HealthGates::default());
        let v: serde_json::Value = serde_json::from_str(&to_json(&sum)).unwrap();
        assert_eq!(v["health"]["active"], false);
        assert!(v["health"]["pass"].is_null(), "{}", v["health"]);
        assert_eq!(v["verdict"]["status"], "fail");
        assert_eq!(v["verdict"]["reasons"][0], "every call failed (16 of 16)");
        let lax = HealthGates {
            max_failed_calls: Some(100),
            ..Default::default()
        };
        let h = build(&info, &s, &lax).health;
        assert_eq!(h.pass, Some(false));
        assert_eq!(h.reasons, ["every call failed (16)"]);
    }

    #[test]
    fn the_distribution_spreads_sub_millisecond_values() {
        let mut t = TimeStat::new(&[]);
        for us in [60, 80, 150, 150, 300, 900, 1_500] {
            t.record(us);
        }
        let d = latency(&t).unwrap().distribution;
        let got: Vec<(f64, u64)> = d.iter().map(|b| (b.le_ms, b.count)).collect();
        assert_eq!(
            got,
            [(0.1, 2), (0.2, 2), (0.5, 1), (1.0, 1), (2.0, 1)],
            "from the bucket of the smallest value to that of the largest"
        );
        let mut one = TimeStat::new(&[]);
        one.record(4_000_000_000);
        let d = latency(&one).unwrap().distribution;
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].count, 1, "values past the last edge are kept");
    }

    #[test]
    fn an_idle_run_has_no_latency_objects() {
        let info = uac_info();
        let s = stats(&info);
        let sum = build(&info, &s, &HealthGates::default());
        assert!(sum.call_length.is_none());
        assert!(sum.invite_rtt.is_none());
        assert_eq!(sum.findings, ["No calls were started."]);
        let v: serde_json::Value = serde_json::from_str(&to_json(&sum)).unwrap();
        assert!(v.get("call_length").is_none());
        assert_eq!(v["success_ratio"], 0.0);
    }
}
