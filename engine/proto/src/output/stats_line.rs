//! The numbers of the worker's periodic stdout line (`{"kind":"stats",…}`, one per
//! `stats_interval_ms`), which the master tees into `stats.jsonl` and live subscribers,
//! and of its `plan` line.
//!
//! Owns: the numbers' field names (the binary's line protocol adds `kind`, `job_id` and
//! `ts` around them, and reads them back with these same types). Unlike the Go gossipper's heartbeat-only lines, ours
//! carry the numbers: calls, rate over the interval, retransmissions, timeouts,
//! unexpected messages, response-time percentiles (rtd 1, cumulative histogram; `null`
//! until a response was timed, so a chart shows "–" rather than 0 ms) and the same
//! timer as counts per fixed bucket with count and sum (`response_time_histogram`, what
//! a Prometheus histogram needs), media counters and the mean MOS,
//! every cumulative SIPp counter under `sipp`, SIPp's per-message counts under `steps`
//! (one `[messages, retrans, timeouts, unexpected]` per scenario command, the indices of
//! summary.json's `messages` rows), the peak of open calls, the creation window and how
//! long the concurrency limit held calls back. Before the first one, a `plan` line says
//! what the run will do (scenario, the per-message table's rows, the target). Must not:
//! read clocks or write.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::csv::sipp_counters;
use super::messages::{MessageRow, message_rows};
use super::run_info::RunInfo;
use super::summary::{OrderedCounters, ScenarioSummary};
use super::target::Target;
use crate::stats::ShardStats;
use crate::stats::timing::TimeStat;

/// The numbers of one stats line.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct StatsLine {
    /// The interval this line covers in ms.
    pub interval_ms: u64,
    /// Calls created so far.
    pub calls_created: u64,
    /// Successful calls so far.
    pub calls_succeeded: u64,
    /// Failed calls so far.
    pub calls_failed: u64,
    /// Calls alive now.
    pub calls_active: u64,
    /// Calls created per second during the interval.
    pub cps: f64,
    /// Retransmissions sent so far.
    pub retransmissions: u64,
    /// SIP timeouts so far.
    pub timeouts: u64,
    /// Unexpected messages so far (sum of the scenario screen's Unexpected-Msg column).
    pub unexpected: u64,
    /// Median of the first response time, in ms, since the start (`null` until one).
    pub response_time_p50_ms: Option<f64>,
    /// 90th percentile, ms.
    pub response_time_p90_ms: Option<f64>,
    /// 99th percentile, ms.
    pub response_time_p99_ms: Option<f64>,
    /// RTP packets sent so far.
    pub rtp_packets_sent: u64,
    /// RTP packets received so far.
    pub rtp_packets_received: u64,
    /// RTP packets lost so far.
    pub rtp_packets_lost: u64,
    /// Jitter in ms.
    pub jitter_ms: f64,
    /// Every cumulative SIPp counter by its -trace_stat name.
    pub sipp: OrderedCounters,
    /// Per scenario command: messages, retransmissions, timeouts, unexpected messages.
    pub steps: Vec<[u64; 4]>,
    /// Most calls open at once so far.
    pub peak_calls: u64,
    /// When the first / last call was created, ms after the start (`null` before one).
    pub first_call_ms: Option<f64>,
    pub last_call_ms: Option<f64>,
    /// How long the concurrency limit has held calls back, ms.
    pub limit_blocked_ms: f64,
    /// Mean length of the calls that succeeded so far, ms (`null` before one ended).
    pub call_length_avg_ms: Option<f64>,
    /// The first response time (rtd 1) since the start, bucketed for Prometheus
    /// (`null` when the scenario times none; missing in lines of older workers).
    pub response_time_histogram: Option<LatencyHistogram>,
    /// Mean per-call MOS of the calls that received RTP so far (`null` before one).
    pub mos_avg: Option<f64>,
}

/// Upper edges (ms) of [`LatencyHistogram`]'s buckets: 1 ms to 10 s, 1-2-5 steps.
pub const RESPONSE_TIME_EDGES_MS: [u64; 13] =
    [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10_000];

/// A cumulative-since-start histogram: how many values fell into each bucket, their
/// count and sum, so a scraper's `rate()` over two lines gives the distribution of an
/// interval. Bucket `i` holds the values over `le_ms[i-1]` and at most `le_ms[i]`; the
/// values over the last edge are `count` minus the buckets' sum. Values are taken at the
/// engine histogram's precision (1/64 of the value).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct LatencyHistogram {
    /// Bucket upper edges, ms, ascending.
    pub le_ms: Vec<u64>,
    /// Values per bucket (not cumulative), one per edge.
    pub counts: Vec<u64>,
    /// Every value, the ones over the last edge included.
    pub count: u64,
    /// Sum of every value, ms.
    pub sum_ms: f64,
}

impl LatencyHistogram {
    /// The histogram of a timer, bucketed at [`RESPONSE_TIME_EDGES_MS`].
    pub fn of(t: &TimeStat) -> LatencyHistogram {
        let edges_us = RESPONSE_TIME_EDGES_MS.map(|ms| ms * 1000);
        let cumulative = t.histogram.counts_at_or_under(&edges_us);
        let mut below = 0;
        let counts = cumulative
            .iter()
            .map(|&c| {
                let n = c.saturating_sub(below);
                below = c;
                n
            })
            .collect();
        LatencyHistogram {
            le_ms: RESPONSE_TIME_EDGES_MS.to_vec(),
            counts,
            count: t.count,
            sum_ms: t.sum_us as f64 / 1000.0,
        }
    }
}

/// The run's plan, one line before the first stats line: the scenario, SIPp's
/// per-message table without counts (each row's `index` is its position in a stats
/// line's `steps`) and the target.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PlanLine {
    /// The scenario's name and role.
    pub scenario: ScenarioSummary,
    /// The rows of the per-message table.
    pub messages: Vec<MessageRow>,
    /// What the run was asked to do.
    pub target: Target,
}

impl PlanLine {
    /// The plan of a run.
    pub fn of(info: &RunInfo) -> PlanLine {
        let target = Target::of(info);
        PlanLine {
            scenario: ScenarioSummary {
                name: info.scenario_name.clone(),
                role: target.role,
            },
            messages: message_rows(info, None),
            target,
        }
    }
}

impl StatsLine {
    /// The numbers for the interval from `prev` to `cur` (media from `cur`, zeros
    /// without media).
    pub fn between(prev: &ShardStats, cur: &ShardStats, interval: Duration) -> StatsLine {
        let media = &cur.media;
        let c = &cur.counters;
        let created = c.incoming_calls + c.outgoing_calls;
        let created_before = prev.counters.incoming_calls + prev.counters.outgoing_calls;
        let secs = interval.as_secs_f64();
        let cps = if secs > 0.0 {
            created.saturating_sub(created_before) as f64 / secs
        } else {
            0.0
        };
        let q = |p: f64| {
            cur.rtd
                .first()
                .filter(|t| t.count > 0)
                .map(|t| t.histogram.quantile(p) as f64 / 1000.0)
        };
        let ms = |us: u64| us as f64 / 1000.0;
        StatsLine {
            interval_ms: u64::try_from(interval.as_millis()).unwrap_or(u64::MAX),
            calls_created: created,
            calls_succeeded: c.successful_calls,
            calls_failed: c.failed_calls,
            calls_active: cur.current_calls,
            cps,
            retransmissions: c.retransmissions,
            timeouts: c.timeouts,
            unexpected: cur.steps.iter().map(|s| s.unexpected).sum(),
            response_time_p50_ms: q(0.5),
            response_time_p90_ms: q(0.9),
            response_time_p99_ms: q(0.99),
            rtp_packets_sent: media.rtp_packets_sent,
            rtp_packets_received: media.rtp_packets_received,
            rtp_packets_lost: media.rtp_packets_lost,
            jitter_ms: if media.jitter_ms_avg.is_finite() {
                media.jitter_ms_avg
            } else {
                0.0
            },
            sipp: OrderedCounters::of(sipp_counters(c)),
            steps: cur
                .steps
                .iter()
                .map(|s| [s.messages, s.retrans, s.timeouts, s.unexpected])
                .collect(),
            peak_calls: cur.peak_calls,
            first_call_ms: cur.first_call_us.map(ms),
            last_call_ms: cur.last_call_us.map(ms),
            limit_blocked_ms: ms(cur.limit_blocked_us),
            call_length_avg_ms: (cur.call_length.count > 0)
                .then(|| cur.call_length.mean_us() / 1000.0),
            response_time_histogram: cur.rtd.first().map(LatencyHistogram::of),
            mos_avg: (media.mos_count > 0 && media.mos_avg.is_finite()).then_some(media.mos_avg),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_line_carries_interval_rate_and_cumulative_counters() {
        let mut prev = ShardStats::new(3, 1, 0, &[10], &[10]);
        prev.counters.outgoing_calls = 10;
        let mut cur = prev.clone();
        cur.counters.outgoing_calls = 30;
        cur.counters.successful_calls = 25;
        cur.counters
            .fail(crate::stats::FailureReason::TimeoutOnRecv);
        cur.counters.retransmissions = 4;
        cur.counters.timeouts = 2;
        cur.current_calls = 4;
        cur.steps[1].unexpected = 2;
        cur.steps[2].unexpected = 1;
        for v in 1..=100u64 {
            cur.rtd[0].record(v * 1000);
        }
        let line = StatsLine::between(&prev, &cur, Duration::from_millis(2000));
        let v = serde_json::to_value(&line).unwrap();
        assert_eq!(v["interval_ms"], 2000);
        assert_eq!(v["calls_created"], 30);
        assert_eq!(v["calls_succeeded"], 25);
        assert_eq!(v["calls_failed"], 1);
        assert_eq!(v["calls_active"], 4);
        assert_eq!(v["cps"], 10.0);
        assert_eq!(v["retransmissions"], 4);
        assert_eq!(v["timeouts"], 2);
        assert_eq!(v["unexpected"], 3);
        let p50 = v["response_time_p50_ms"].as_f64().unwrap();
        assert!((p50 - 50.0).abs() < 1.0, "p50 {p50}");
        assert_eq!(v["rtp_packets_lost"], 0);
        assert_eq!(v["jitter_ms"], 0.0);
        assert_eq!(v["sipp"]["OutgoingCall"], 30);
        assert_eq!(v["sipp"]["FailedTimeoutOnRecv"], 1);
        assert_eq!(
            v["steps"],
            serde_json::json!([[0, 0, 0, 0], [0, 0, 0, 2], [0, 0, 0, 1]])
        );
        assert_eq!(v["peak_calls"], 0);
        assert!(v["first_call_ms"].is_null());
    }

    #[test]
    fn the_line_carries_the_window_peak_and_limit() {
        let prev = ShardStats::new(1, 1, 0, &[10], &[10]);
        let mut cur = prev.clone();
        cur.counters.outgoing_calls = 2;
        cur.current_calls = 2;
        cur.note_call_created(250_000);
        cur.note_call_created(1_250_000);
        cur.limit_blocked_us = 1500;
        let v =
            serde_json::to_value(StatsLine::between(&prev, &cur, Duration::from_secs(1))).unwrap();
        assert_eq!(v["first_call_ms"], 250.0);
        assert_eq!(v["last_call_ms"], 1250.0);
        assert_eq!(v["peak_calls"], 2);
        assert_eq!(v["limit_blocked_ms"], 1.5);
        assert!(v["call_length_avg_ms"].is_null());
        cur.call_length.record(2_000_000);
        let v =
            serde_json::to_value(StatsLine::between(&prev, &cur, Duration::from_secs(1))).unwrap();
        assert_eq!(v["call_length_avg_ms"], 2000.0);
    }

    #[test]
    fn the_plan_line_names_the_steps_and_the_target() {
        let info = crate::output::run_info::tests::uac_info();
        let v = serde_json::to_value(PlanLine::of(&info)).unwrap();
        assert_eq!(v["scenario"]["role"], "client");
        assert_eq!(v["messages"][0]["label"], "INVITE");
        assert_eq!(v["messages"][0]["index"], 0);
        assert_eq!(v["messages"][0]["messages"], 0);
        assert_eq!(v["target"]["rate_cps"], 10.0);
        assert_eq!(v["target"]["calls"], 20);
        assert_eq!(v["target"]["concurrency"], 30);
    }

    #[test]
    fn a_line_reads_back_as_written() {
        let mut prev = ShardStats::new(3, 1, 0, &[10], &[10]);
        prev.counters.outgoing_calls = 1;
        let mut cur = prev.clone();
        cur.counters.outgoing_calls = 7;
        cur.rtd[0].record(1500);
        let line = StatsLine::between(&prev, &cur, Duration::from_millis(1000));
        let text = serde_json::to_string(&line).unwrap();
        assert_eq!(serde_json::from_str::<StatsLine>(&text).unwrap(), line);
        let plan = PlanLine::of(&crate::output::run_info::tests::uac_info());
        let text = serde_json::to_string(&plan).unwrap();
        assert_eq!(serde_json::from_str::<PlanLine>(&text).unwrap(), plan);
    }

    #[test]
    fn the_response_time_histogram_counts_per_bucket_since_the_start() {
        let prev = ShardStats::new(1, 1, 0, &[10], &[10]);
        let mut cur = prev.clone();
        for us in [500, 800, 1_500, 30_000, 20_000_000] {
            cur.rtd[0].record(us);
        }
        let line = StatsLine::between(&prev, &cur, Duration::from_secs(1));
        let h = line.response_time_histogram.as_ref().unwrap();
        assert_eq!(h.le_ms, RESPONSE_TIME_EDGES_MS);
        assert_eq!(h.counts, [2, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(h.count, 5, "the 20 s value is over every edge");
        assert!((h.sum_ms - 20_032.8).abs() < 1e-9, "{}", h.sum_ms);
        assert_eq!(line.mos_avg, None, "no media: no MOS");
        cur.media.add_call(&crate::stats::media::CallMedia {
            rtp_packets_received: 10,
            mos: 4.2,
            ..Default::default()
        });
        let line = StatsLine::between(&prev, &cur, Duration::from_secs(1));
        assert_eq!(line.mos_avg, Some(4.2));
    }

    #[test]
    fn an_older_line_without_the_histogram_still_reads() {
        let line: StatsLine = serde_json::from_str(r#"{"calls_created":3}"#).unwrap();
        assert_eq!(line.calls_created, 3);
        assert_eq!(line.response_time_histogram, None);
        assert_eq!(line.mos_avg, None);
    }

    #[test]
    fn a_zero_interval_reports_zero_rate() {
        let s = ShardStats::new(0, 0, 0, &[], &[]);
        let v = serde_json::to_value(StatsLine::between(&s, &s, Duration::ZERO)).unwrap();
        assert_eq!(v["cps"], 0.0);
        assert!(
            v["response_time_p99_ms"].is_null(),
            "no response timed yet: null, not 0 ms"
        );
    }
}
