//! Segments: one run split over N workers (processes, namespaces or hosts), worker `i`
//! running segment `i/N`, so that the N segments add up to the run exactly.
//!
//! Owns: the arithmetic of the split. A segment takes:
//!
//! - `rate`, `rate_increase` and `rate_max` divided by N, and its first call `i / rate`
//!   after the common start, so that the N workers' calls interleave as one pacer
//!   would space them (worker `i`'s shard `s` then starts at `(i + s·N) / rate`);
//! - `-m`, `-l`, `-users` and `-max_socket` shared as [`crate::load::share`] shares
//!   shards (the first `total mod N` segments take one more: 10 over 3 is 4, 3, 3);
//! - user ids in blocks (segment `i` starts after the users of segments `0..i`);
//! - call numbers interleaved: the worker's `k`-th call number (1-based, already
//!   interleaved over its shards) becomes `(k − 1)·N + i + 1`, so no number is used
//!   twice and `[call_number]`, the default Call-ID (`%u-%p@%s`) and sequential `-inf`
//!   rows (row `(call_number − 1) mod rows`) are the ones one run would use;
//! - the seed mixed with `i`, so tags and branches differ across workers.
//!
//! Must not: read a clock (the runtime turns `start_at_unix_ms` into its start instant).

use serde::{Deserialize, Serialize};

use crate::config::JobSpec;
use crate::load;

/// The most segments a run may be split into.
pub const MAX_SEGMENTS: u32 = 1024;

/// Segment `index` of `count`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Segment {
    /// 0-based.
    pub index: u32,
    /// How many segments the run has.
    pub count: u32,
}

/// Why a segment cannot be run.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SegmentError {
    /// Not `i/N` with `0 ≤ i < N ≤ MAX_SEGMENTS`.
    #[error("segment {index}/{count}: wants 0 <= index < count <= {MAX_SEGMENTS}")]
    Range {
        /// The index given.
        index: u32,
        /// The count given.
        count: u32,
    },
    /// A total too small to give each segment one (`field` names the setting).
    #[error("{field} {total} cannot be split over {count} segments (each needs at least 1)")]
    TooFew {
        /// The setting, as the spec names it.
        field: &'static str,
        /// Its value.
        total: u64,
        /// The segments.
        count: u32,
    },
    /// Not `i/N`.
    #[error("segment \"{0}\": expected INDEX/COUNT, e.g. 0/3")]
    Syntax(String),
}

impl Segment {
    /// The whole run (what a spec without a segment runs).
    pub const WHOLE: Segment = Segment { index: 0, count: 1 };

    /// Checks `0 ≤ index < count ≤ MAX_SEGMENTS`.
    pub fn new(index: u32, count: u32) -> Result<Segment, SegmentError> {
        if count == 0 || count > MAX_SEGMENTS || index >= count {
            return Err(SegmentError::Range { index, count });
        }
        Ok(Segment { index, count })
    }

    /// Parses `INDEX/COUNT` (`--segment 1/3`).
    pub fn parse(text: &str) -> Result<Segment, SegmentError> {
        let bad = || SegmentError::Syntax(text.chars().take(40).collect());
        let (i, n) = text.split_once('/').ok_or_else(bad)?;
        let i = i.trim().parse().map_err(|_| bad())?;
        let n = n.trim().parse().map_err(|_| bad())?;
        Segment::new(i, n)
    }

    /// This segment's share of `total`.
    pub fn share(self, total: u64) -> u64 {
        load::share(total, self.count as usize, self.index as usize)
    }

    /// The shares of the segments before this one, summed (where its block starts).
    pub fn offset(self, total: u64) -> u64 {
        let n = u64::from(self.count);
        let i = u64::from(self.index);
        i * (total / n) + i.min(total % n)
    }

    /// The run-wide number of this segment's `local`-th call (both 1-based).
    pub fn call_number(self, local: u64) -> u64 {
        local
            .saturating_sub(1)
            .saturating_mul(u64::from(self.count))
            .saturating_add(u64::from(self.index) + 1)
    }

    /// When this segment opens its first call after the common start, for the run's
    /// whole rate `rate_cps`.
    pub fn phase(self, rate_cps: f64) -> std::time::Duration {
        load::shard_phase(self.index as usize, rate_cps)
    }

    /// This segment's seed from the run's.
    pub fn seed(self, seed: u64) -> u64 {
        if self.count <= 1 {
            seed
        } else {
            seed ^ (u64::from(self.index) + 1).wrapping_mul(0xD6E8_FEB8_6659_FD93)
        }
    }

    /// The run configuration this segment runs: `spec`'s rates divided, its limits
    /// shared (see the module doc). A limit smaller than the segment count is refused
    /// (a segment with no call to make, or no user, would wait for nothing).
    pub fn apply(self, spec: &JobSpec) -> Result<JobSpec, SegmentError> {
        Segment::new(self.index, self.count)?;
        let mut out = spec.clone();
        if self.count <= 1 {
            return Ok(out);
        }
        let n = f64::from(self.count);
        let too_few = |field, total: u64| {
            (total < u64::from(self.count)).then_some(SegmentError::TooFew {
                field,
                total,
                count: self.count,
            })
        };
        for (field, value) in [
            ("max_calls", spec.max_calls),
            ("users", spec.users),
            ("call_limit", spec.call_limit),
        ] {
            if let Some(e) = value.and_then(|v| too_few(field, v)) {
                return Err(e);
            }
        }
        out.rate = spec.rate / n;
        out.rate_increase = spec.rate_increase.map(|r| r / n);
        out.rate_max = spec.rate_max.map(|r| r / n);
        out.max_calls = spec.max_calls.map(|m| self.share(m));
        out.call_limit = spec.call_limit.map(|l| self.share(l));
        out.users = spec.users.map(|u| self.share(u));
        out.max_sockets = spec
            .max_sockets
            .map(|m| (self.share(m as u64) as usize).max(1));
        out.seed = self.seed(spec.seed);
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn shares_add_up_to_the_whole_for_every_split() {
        for count in 1..=17u32 {
            for total in (0..200u64).chain([1_000_003, u64::MAX / 3]) {
                let segs: Vec<Segment> = (0..count)
                    .map(|i| Segment::new(i, count).unwrap())
                    .collect();
                let sum: u64 = segs.iter().map(|s| s.share(total)).sum();
                assert_eq!(sum, total, "{total} over {count}");
                // Blocks: each starts where the previous ended, no gap, no overlap.
                let mut at = 0;
                for s in &segs {
                    assert_eq!(
                        s.offset(total),
                        at,
                        "{total} over {count}, segment {}",
                        s.index
                    );
                    at += s.share(total);
                }
                let (lo, hi) = segs
                    .iter()
                    .map(|s| s.share(total))
                    .fold((u64::MAX, 0), |(l, h), v| (l.min(v), h.max(v)));
                assert!(hi - lo <= 1, "even split of {total} over {count}");
            }
        }
        let m: Vec<u64> = (0..3)
            .map(|i| Segment::new(i, 3).unwrap().share(10))
            .collect();
        assert_eq!(m, [4, 3, 3]);
    }

    #[test]
    fn call_numbers_of_all_segments_are_one_run_s_numbers_once_each() {
        for count in 1..=9u32 {
            for per in [1u64, 2, 7, 50] {
                let mut seen = HashSet::new();
                for i in 0..count {
                    let s = Segment::new(i, count).unwrap();
                    for local in 1..=per {
                        assert!(
                            seen.insert(s.call_number(local)),
                            "{i}/{count} #{local} twice"
                        );
                    }
                }
                let all = per * u64::from(count);
                assert_eq!(seen, (1..=all).collect::<HashSet<u64>>(), "{count} × {per}");
            }
        }
    }

    #[test]
    fn rates_divide_exactly_and_the_segments_interleave() {
        for count in 1..=12u32 {
            for rate in [1.0, 10.0, 333.0, 1e5] {
                let spec = JobSpec {
                    rate,
                    rate_increase: Some(rate / 10.0),
                    rate_max: Some(rate * 2.0),
                    ..JobSpec::default()
                };
                let parts: Vec<JobSpec> = (0..count)
                    .map(|i| Segment::new(i, count).unwrap().apply(&spec).unwrap())
                    .collect();
                let sum = |f: &dyn Fn(&JobSpec) -> f64| parts.iter().map(f).sum::<f64>();
                let close = |a: f64, b: f64| (a - b).abs() <= b * 1e-12;
                assert!(close(sum(&|p| p.rate), rate), "{rate} over {count}");
                assert!(close(sum(&|p| p.rate_increase.unwrap()), rate / 10.0));
                assert!(close(sum(&|p| p.rate_max.unwrap()), rate * 2.0));
                // Segment i's k-th call falls at (i + k·N) / rate: one pacer's spacing.
                let cps = spec.rate_cps();
                for i in 0..count {
                    let s = Segment::new(i, count).unwrap();
                    let want = f64::from(i) / cps;
                    assert!((s.phase(cps).as_secs_f64() - want).abs() < 1e-9);
                }
            }
        }
    }

    #[test]
    fn limits_are_shared_and_too_small_ones_refused_by_name() {
        let spec = JobSpec {
            max_calls: Some(10),
            users: Some(7),
            call_limit: Some(5),
            seed: 42,
            ..JobSpec::default()
        };
        let parts: Vec<JobSpec> = (0..3)
            .map(|i| Segment::new(i, 3).unwrap().apply(&spec).unwrap())
            .collect();
        let m: Vec<_> = parts.iter().map(|p| p.max_calls.unwrap()).collect();
        assert_eq!(m, [4, 3, 3]);
        let u: Vec<_> = parts.iter().map(|p| p.users.unwrap()).collect();
        assert_eq!(u, [3, 2, 2]);
        let l: Vec<_> = parts.iter().map(|p| p.call_limit.unwrap()).collect();
        assert_eq!(l, [2, 2, 1]);
        let seeds: HashSet<u64> = parts.iter().map(|p| p.seed).collect();
        assert_eq!(seeds.len(), 3, "each segment its own seed");
        assert_eq!(Segment::WHOLE.apply(&spec).unwrap(), spec);
        let e = Segment::new(0, 11).unwrap().apply(&spec).unwrap_err();
        assert!(matches!(
            e,
            SegmentError::TooFew {
                field: "max_calls",
                total: 10,
                count: 11
            }
        ));
    }

    #[test]
    fn a_segment_reads_as_index_slash_count() {
        assert_eq!(Segment::parse("2/3"), Ok(Segment { index: 2, count: 3 }));
        for bad in ["3/3", "0/0", "1", "a/3", "-1/3", "0/2000"] {
            assert!(Segment::parse(bad).is_err(), "{bad}");
        }
    }
}
