//! k6-style thresholds: `p99(response_time)<50ms`, `rate>=95%`, `success_ratio>=99.5%`,
//! `failed_calls==0`, … parsed once from text (the command line's `-threshold`, the
//! API's `thresholds`) and judged against a finished run's numbers.
//!
//! Owns: the grammar, its errors (each names the part at fault), and the verdict of one
//! threshold with a sentence a tester can read. Must not: read clocks or files; the
//! caller hands in the numbers ([`Facts`]).
//!
//! Grammar (spaces between tokens are ignored):
//!
//! ```text
//! threshold := metric op value
//! metric    := stat "(" timer ")" | "rate" | "success_ratio" | "failed_calls" | "timeouts"
//!            | "retrans_ratio" | "rtp_loss" | "mos_min" | "mos_avg"
//! stat      := "p" NUMBER (p50, p90, p95, p99, p99.9 …) | "avg" | "min" | "max"
//! timer     := "response_time" (the scenario's first rtd) | an rtd name | "call_length"
//! op        := "<" | "<=" | ">" | ">=" | "=="
//! value     := NUMBER [unit]
//! ```
//!
//! Units: times take `ms` (the default), `s` or `us`; ratios take `%` or a fraction
//! (`99.5%` = `0.995`); `rate` takes calls per second (`cps`, the default) or `%` of the
//! target rate (`rate>=95%`: the achieved rate is at least 95 % of the one asked for);
//! counts take whole numbers; MOS is a number from 1 to 5.

use serde::Serialize;

use super::TimeStat;

/// One parsed threshold.
#[derive(Clone, Debug, PartialEq)]
pub struct Threshold {
    /// The text as written, spaces removed (`p99(response_time)<50ms`).
    pub text: String,
    /// What is measured.
    pub metric: Metric,
    /// How it compares.
    pub op: Op,
    /// The limit in the metric's base unit: ms for times, a fraction for ratios (and for
    /// a rate relative to the target), calls per second for an absolute rate.
    pub value: f64,
    /// `rate` compared with the target rate (`rate>=95%`), not in calls per second.
    pub relative: bool,
}

/// What a threshold measures.
#[derive(Clone, Debug, PartialEq)]
pub enum Metric {
    /// A statistic of a timer.
    Latency { stat: Stat, timer: Timer },
    /// Calls created per second over the creation window.
    Rate,
    /// Successful calls over calls created.
    SuccessRatio,
    /// Failed calls.
    FailedCalls,
    /// SIP timeouts.
    Timeouts,
    /// Retransmissions over messages sent.
    RetransRatio,
    /// RTP packets lost over packets expected.
    RtpLoss,
    /// Lowest per-call MOS.
    MosMin,
    /// Mean per-call MOS.
    MosAvg,
    /// The largest fraction lost a peer reported about our streams in RTCP (0..1).
    RtcpFractionLost,
    /// The largest interarrival jitter a peer reported about our streams in RTCP, in RTP
    /// timestamp units.
    RtcpJitterTs,
    /// RTP packets received in the whole run.
    RtpPacketsRecv,
    /// The fewest RTP packets one call with media received.
    RtpPacketsRecvPerCall,
}

/// A statistic of a timer.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Stat {
    /// Percentile, 0 < p ≤ 100.
    Percentile(f64),
    Avg,
    Min,
    Max,
}

/// A timer of the scenario.
#[derive(Clone, Debug, PartialEq)]
pub enum Timer {
    /// The first response time (`rtd`) of the scenario.
    ResponseTime,
    /// A response time by its `rtd` name.
    Rtd(String),
    /// The call length.
    CallLength,
}

/// A comparison.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Lt,
    Le,
    Gt,
    Ge,
    Eq,
}

impl Op {
    /// The operator as written.
    pub fn as_str(self) -> &'static str {
        match self {
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Gt => ">",
            Op::Ge => ">=",
            Op::Eq => "==",
        }
    }

    fn words(self) -> &'static str {
        match self {
            Op::Lt => "below",
            Op::Le => "at most",
            Op::Gt => "above",
            Op::Ge => "at least",
            Op::Eq => "exactly",
        }
    }

    fn holds(self, observed: f64, limit: f64) -> bool {
        match self {
            Op::Lt => observed < limit,
            Op::Le => observed <= limit,
            Op::Gt => observed > limit,
            Op::Ge => observed >= limit,
            // Ratios are computed: compare with a little slack for float rounding.
            Op::Eq => (observed - limit).abs() <= 1e-9 * limit.abs().max(1.0),
        }
    }
}

/// A threshold that cannot be used, naming the part at fault.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("\"{threshold}\": {reason}")]
pub struct ThresholdError {
    /// The threshold as written.
    pub threshold: String,
    /// What is wrong, quoting the bad part.
    pub reason: String,
}

/// A threshold is written (in a spec file) as its text and read back through [`parse`].
impl Serialize for Threshold {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.text)
    }
}

impl<'de> serde::Deserialize<'de> for Threshold {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        parse(&text).map_err(serde::de::Error::custom)
    }
}

const KNOWN: &str = "p99(response_time), p90(call_length), avg(<rtd name>), rate, success_ratio, \
                     failed_calls, timeouts, retrans_ratio, rtp_loss, mos_min, mos_avg, \
                     rtcp_fraction_lost, rtcp_jitter_ts, rtp_packets_recv, rtp_packets_recv_per_call";

/// Parses one threshold.
pub fn parse(text: &str) -> Result<Threshold, ThresholdError> {
    let s: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    let err = |reason: String| ThresholdError {
        threshold: s.clone(),
        reason,
    };
    if s.is_empty() {
        return Err(err("is empty".into()));
    }
    let Some(at) = s.find(['<', '>', '=', '!']) else {
        return Err(err(
            "has no comparison: write one of <, <=, >, >=, == between the metric and the value"
                .into(),
        ));
    };
    let (left, rest) = s.split_at(at);
    let op_len = rest
        .chars()
        .take_while(|c| matches!(c, '<' | '>' | '=' | '!'))
        .count();
    let (op_text, value_text) = rest.split_at(op_len);
    let op = match op_text {
        "<" => Op::Lt,
        "<=" => Op::Le,
        ">" => Op::Gt,
        ">=" => Op::Ge,
        "==" => Op::Eq,
        other => {
            return Err(err(format!(
                "\"{other}\" is not a comparison (<, <=, >, >=, ==)"
            )));
        }
    };
    if left.is_empty() {
        return Err(err(format!("has no metric before \"{op_text}\" ({KNOWN})")));
    }
    let metric = parse_metric(left).map_err(err)?;
    if value_text.is_empty() {
        return Err(err(format!("has no value after \"{op_text}\"")));
    }
    let (value, relative) = parse_value(&metric, value_text).map_err(err)?;
    Ok(Threshold {
        text: s.clone(),
        metric,
        op,
        value,
        relative,
    })
}

/// Parses a comma-separated list (`-threshold 'p99(response_time)<50ms,failed_calls==0'`).
pub fn parse_list(text: &str) -> Result<Vec<Threshold>, ThresholdError> {
    text.split(',')
        .filter(|t| !t.trim().is_empty())
        .map(parse)
        .collect()
}

fn parse_metric(m: &str) -> Result<Metric, String> {
    if let Some(open) = m.find('(') {
        let stat_text = &m[..open];
        let Some(timer_text) = m[open + 1..].strip_suffix(')') else {
            return Err(format!("\"{m}\" lacks its closing \")\""));
        };
        let stat = match stat_text {
            "avg" | "mean" => Stat::Avg,
            "min" => Stat::Min,
            "max" => Stat::Max,
            "med" => Stat::Percentile(50.0),
            p if p.starts_with('p') => {
                let n: f64 = p[1..].parse().map_err(|_| bad_stat(p))?;
                if !(n > 0.0 && n <= 100.0) {
                    return Err(format!(
                        "\"{p}\": a percentile is between p0 and p100 (p50, p99, p99.9)"
                    ));
                }
                Stat::Percentile(n)
            }
            other => return Err(bad_stat(other)),
        };
        let timer = match timer_text {
            "" => {
                return Err(format!(
                    "\"{m}\" names no timer (response_time, call_length or an rtd name)"
                ));
            }
            "response_time" => Timer::ResponseTime,
            "call_length" => Timer::CallLength,
            name if name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')) =>
            {
                Timer::Rtd(name.to_string())
            }
            other => return Err(format!("\"{other}\" is not a timer name")),
        };
        return Ok(Metric::Latency { stat, timer });
    }
    Ok(match m {
        "rate" => Metric::Rate,
        "success_ratio" => Metric::SuccessRatio,
        "failed_calls" => Metric::FailedCalls,
        "timeouts" => Metric::Timeouts,
        "retrans_ratio" => Metric::RetransRatio,
        "rtp_loss" => Metric::RtpLoss,
        "mos_min" => Metric::MosMin,
        "mos_avg" => Metric::MosAvg,
        "rtcp_fraction_lost" => Metric::RtcpFractionLost,
        "rtcp_jitter_ts" => Metric::RtcpJitterTs,
        "rtp_packets_recv" => Metric::RtpPacketsRecv,
        "rtp_packets_recv_per_call" => Metric::RtpPacketsRecvPerCall,
        "response_time" | "call_length" => {
            return Err(format!(
                "\"{m}\" needs a statistic: p99({m}), p50({m}), avg({m}), max({m})"
            ));
        }
        other => return Err(format!("unknown metric \"{other}\" ({KNOWN})")),
    })
}

fn bad_stat(s: &str) -> String {
    format!("unknown statistic \"{s}\" (p50, p90, p99, p99.9, avg, min, max)")
}

/// Splits `50ms` into `(50, "ms")`.
fn split_number(v: &str) -> Result<(f64, &str), String> {
    let end = v
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(v.len());
    let (num, unit) = v.split_at(end);
    let n: f64 = num
        .parse()
        .map_err(|_| format!("\"{v}\" does not start with a number"))?;
    if !n.is_finite() {
        return Err(format!("\"{v}\" is not a finite number"));
    }
    Ok((n, unit))
}

fn parse_value(metric: &Metric, v: &str) -> Result<(f64, bool), String> {
    let (n, unit) = split_number(v)?;
    let ratio = |n: f64, unit: &str| -> Result<f64, String> {
        match unit {
            "%" if n <= 100.0 => Ok(n / 100.0),
            "%" => Err(format!("\"{v}\" is over 100 %")),
            "" if n <= 1.0 => Ok(n),
            "" => Err(format!(
                "\"{v}\" is not a ratio: write {n}% or a fraction such as 0.95"
            )),
            other => Err(format!("\"{other}\" is not a unit for a ratio (% or none)")),
        }
    };
    Ok(match metric {
        Metric::Latency { .. } => {
            let ms = match unit {
                "" | "ms" => n,
                "s" => n * 1000.0,
                "us" | "µs" => n / 1000.0,
                other => {
                    return Err(format!(
                        "\"{other}\" is not a unit of time (ms, s or us) in \"{v}\""
                    ));
                }
            };
            (ms, false)
        }
        Metric::Rate => match unit {
            "%" => (n / 100.0, true),
            "" | "cps" | "/s" => (n, false),
            other => {
                return Err(format!(
                    "\"{other}\" is not a unit for rate (cps, or % of the target rate)"
                ));
            }
        },
        Metric::SuccessRatio
        | Metric::RetransRatio
        | Metric::RtpLoss
        | Metric::RtcpFractionLost => (ratio(n, unit)?, false),
        Metric::FailedCalls
        | Metric::Timeouts
        | Metric::RtcpJitterTs
        | Metric::RtpPacketsRecv
        | Metric::RtpPacketsRecvPerCall => {
            if !unit.is_empty() {
                return Err(format!("\"{v}\" is a count: write a whole number"));
            }
            if n.fract() != 0.0 {
                return Err(format!("\"{v}\" is not a whole number"));
            }
            (n, false)
        }
        Metric::MosMin | Metric::MosAvg => {
            if !unit.is_empty() || !(1.0..=5.0).contains(&n) {
                return Err(format!("\"{v}\": a MOS is a number from 1 to 5"));
            }
            (n, false)
        }
    })
}

/// Refuses thresholds that cannot apply to this run: a timer the scenario does not
/// measure, or a rate threshold on a scenario that places no calls.
pub fn check(
    thresholds: &[Threshold],
    rtd_names: &[String],
    places_calls: bool,
) -> Result<(), ThresholdError> {
    for t in thresholds {
        let err = |reason: String| ThresholdError {
            threshold: t.text.clone(),
            reason,
        };
        match &t.metric {
            Metric::Latency {
                timer: Timer::ResponseTime,
                ..
            } if rtd_names.is_empty() => {
                return Err(err(
                    "the scenario measures no response time (no rtd= on a recv)".into(),
                ));
            }
            Metric::Latency {
                timer: Timer::Rtd(name),
                ..
            } if !rtd_names.contains(name) => {
                let known = if rtd_names.is_empty() {
                    "it measures none".to_string()
                } else {
                    format!("it has {}", rtd_names.join(", "))
                };
                return Err(err(format!(
                    "the scenario has no response time \"{name}\" ({known}; response_time is the first)"
                )));
            }
            Metric::Rate if !places_calls => {
                return Err(err(
                    "this scenario answers calls and has no target rate".into()
                ));
            }
            _ => {}
        }
    }
    Ok(())
}

/// The numbers thresholds are judged on.
#[derive(Clone, Copy, Debug)]
pub struct Facts<'a> {
    /// rtd names, indexed like `rtd`.
    pub rtd_names: &'a [String],
    pub rtd: &'a [TimeStat],
    pub call_length: &'a TimeStat,
    /// Calls created per second over the creation window (`None` under two calls).
    pub achieved_cps: Option<f64>,
    /// The rate asked for (`None`: a server).
    pub target_cps: Option<f64>,
    /// `None` without calls.
    pub success_ratio: Option<f64>,
    pub failed_calls: u64,
    pub timeouts: u64,
    /// `None` when nothing was sent.
    pub retrans_ratio: Option<f64>,
    /// `None` without RTP received.
    pub rtp_loss: Option<f64>,
    pub mos_min: Option<f64>,
    pub mos_avg: Option<f64>,
    /// RTCP reports from peers about our streams: `None` without any report block.
    pub rtcp_max_fraction_lost: Option<f64>,
    pub rtcp_max_jitter_ts: Option<u32>,
    pub rtp_packets_received: u64,
    /// `None` until a call with media ended.
    pub rtp_min_received_per_call: Option<u64>,
}

/// The verdict of one threshold (in summary.json's `thresholds`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, serde::Deserialize)]
#[serde(default)]
pub struct ThresholdResult {
    /// As written, spaces removed.
    pub threshold: String,
    /// What was measured, in `unit` (`null`: not measured, which fails).
    pub observed: Option<f64>,
    /// The limit in `unit`.
    pub limit: f64,
    /// `ms`, `%`, `calls/s`, `calls` or empty (MOS).
    pub unit: std::borrow::Cow<'static, str>,
    /// Whether it held.
    pub pass: bool,
    /// A sentence: what was measured and what it had to be.
    pub text: String,
}

fn timer_stat(t: &TimeStat, stat: Stat) -> Option<f64> {
    if t.count == 0 {
        return None;
    }
    let us = match stat {
        Stat::Percentile(p) => t.histogram.quantile(p / 100.0) as f64,
        Stat::Avg => t.mean_us(),
        Stat::Min => t.min_us as f64,
        Stat::Max => t.max_us as f64,
    };
    Some(us / 1000.0)
}

fn stat_name(stat: Stat) -> String {
    match stat {
        Stat::Percentile(p) => format!("p{p}"),
        Stat::Avg => "average".into(),
        Stat::Min => "minimum".into(),
        Stat::Max => "maximum".into(),
    }
}

/// A number for a sentence: up to `d` decimals (more for a value that would round to
/// zero, up to 6), trailing zeros dropped.
pub(crate) fn show(v: f64, d: usize) -> String {
    let mut d = d;
    while d < 6 && v != 0.0 && v.abs() < 10f64.powi(-i32::try_from(d).unwrap_or(6)) {
        d += 1;
    }
    let s = format!("{v:.d$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

/// Judges one threshold.
pub fn evaluate(t: &Threshold, f: &Facts<'_>) -> ThresholdResult {
    // (what, observed in display unit, limit in display unit, unit, decimals)
    let pct = |x: Option<f64>| x.map(|v| v * 100.0);
    let (what, observed, limit, unit, d): (String, Option<f64>, f64, &'static str, usize) =
        match &t.metric {
            Metric::Latency { stat, timer } => {
                let (name, ts) = match timer {
                    Timer::ResponseTime => ("response time".to_string(), f.rtd.first()),
                    Timer::CallLength => ("call length".to_string(), Some(f.call_length)),
                    Timer::Rtd(n) => (
                        format!("response time {n}"),
                        f.rtd_names
                            .iter()
                            .position(|x| x == n)
                            .and_then(|i| f.rtd.get(i)),
                    ),
                };
                (
                    format!("{} {name}", stat_name(*stat)),
                    ts.and_then(|ts| timer_stat(ts, *stat)),
                    t.value,
                    "ms",
                    2,
                )
            }
            Metric::Rate if t.relative => (
                "achieved rate".into(),
                match (f.achieved_cps, f.target_cps) {
                    (Some(a), Some(tg)) if tg > 0.0 => Some(100.0 * a / tg),
                    _ => None,
                },
                t.value * 100.0,
                "% of target",
                1,
            ),
            Metric::Rate => (
                "achieved rate".into(),
                f.achieved_cps,
                t.value,
                "calls/s",
                2,
            ),
            Metric::SuccessRatio => (
                "success ratio".into(),
                pct(f.success_ratio),
                t.value * 100.0,
                "%",
                2,
            ),
            Metric::RetransRatio => (
                "retransmission ratio".into(),
                pct(f.retrans_ratio),
                t.value * 100.0,
                "%",
                2,
            ),
            Metric::RtpLoss => ("RTP loss".into(), pct(f.rtp_loss), t.value * 100.0, "%", 2),
            Metric::FailedCalls => (
                "failed calls".into(),
                Some(f.failed_calls as f64),
                t.value,
                "calls",
                0,
            ),
            Metric::Timeouts => (
                "SIP timeouts".into(),
                Some(f.timeouts as f64),
                t.value,
                "calls",
                0,
            ),
            Metric::MosMin => ("lowest MOS".into(), f.mos_min, t.value, "", 2),
            Metric::MosAvg => ("average MOS".into(), f.mos_avg, t.value, "", 2),
            Metric::RtcpFractionLost => (
                "largest RTCP fraction lost".into(),
                pct(f.rtcp_max_fraction_lost),
                t.value * 100.0,
                "%",
                2,
            ),
            Metric::RtcpJitterTs => (
                "largest RTCP jitter".into(),
                f.rtcp_max_jitter_ts.map(f64::from),
                t.value,
                "timestamp units",
                0,
            ),
            Metric::RtpPacketsRecv => (
                "RTP packets received".into(),
                Some(f.rtp_packets_received as f64),
                t.value,
                "packets",
                0,
            ),
            Metric::RtpPacketsRecvPerCall => (
                "fewest RTP packets received by a call".into(),
                f.rtp_min_received_per_call.map(|n| n as f64),
                t.value,
                "packets",
                0,
            ),
        };
    let pass = observed.is_some_and(|o| t.op.holds(o, limit));
    let with_unit = |v: f64| match unit {
        "" | "calls" => show(v, d),
        "%" | "% of target" => format!("{} %", show(v, d)),
        u => format!("{} {u}", show(v, d)),
    };
    let limit_text = match unit {
        "% of target" => format!("{} % of the rate asked for", show(limit, d)),
        _ => with_unit(limit),
    };
    let text = match observed {
        None => format!(
            "{what}: not measured in this run, so it cannot be {} {limit_text} ({})",
            t.op.words(),
            t.text
        ),
        Some(o) => {
            let shown = match unit {
                "% of target" => format!("{} % of the rate asked for", show(o, d)),
                _ => with_unit(o),
            };
            if pass {
                format!("{what} {shown}: {} {limit_text}, as required", t.op.words())
            } else {
                format!("{what} {shown}: must be {} {limit_text}", t.op.words())
            }
        }
    };
    ThresholdResult {
        threshold: t.text.clone(),
        observed,
        limit,
        unit: if unit == "% of target" { "%" } else { unit }.into(),
        pass,
        text,
    }
}

impl std::fmt::Display for Threshold {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

#[cfg(test)]
mod tests;
