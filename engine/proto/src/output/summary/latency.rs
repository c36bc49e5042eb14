//! Latency objects of summary.json (`call_length`, `invite_rtt`, `rtd.<name>`): counts,
//! mean, extremes and percentiles from a timer, with Go's fixed `le_…ms` buckets and our
//! 1-2-5 `distribution`.
//!
//! Owns: those shapes and the bucket arithmetic over the log-linear histogram. Must not:
//! read clocks. Go's buckets (`le_10ms` … `gt_5000ms`) are derived from our histogram,
//! which keeps two significant digits: a value within ~1.5 % of a bucket edge may land in
//! the neighbouring bucket.

use serde::{Deserialize, Serialize};

use crate::stats::{Histogram, TimeStat};

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

/// One Go latency bucket.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct LatencyBucket {
    /// `le_10ms` … `gt_5000ms`.
    pub label: String,
    /// Values in the bucket.
    pub count: u64,
}

/// One bucket of a latency `distribution`: values at most `le_ms` (and above the
/// previous bucket's edge).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct DistributionBucket {
    /// Upper edge, ms.
    pub le_ms: f64,
    /// Values in the bucket.
    pub count: u64,
}

/// A latency object (`call_length`, `invite_rtt`, `rtd.<name>`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
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
