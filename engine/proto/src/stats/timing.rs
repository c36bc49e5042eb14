//! Response-time and call-length accumulators: count, sum, sum of squares, min/max,
//! SIPp's repartition buckets, and a log-linear histogram for percentiles.
//!
//! Owns: the arithmetic only. Values are microseconds. No allocation after `new`.

/// Log-linear histogram over microseconds: 2 significant digits of precision from 1 µs to
/// about 1 hour, in a fixed array, so recording never allocates and merging is a loop.
#[derive(Clone, Debug)]
pub struct Histogram {
    buckets: Box<[u64]>,
    count: u64,
}

/// Sub-buckets per power of two.
const SUB: u32 = 64;
/// Powers of two covered (2^32 µs ≈ 71 minutes).
const POWERS: u32 = 33;

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            buckets: vec![0; (SUB * POWERS) as usize].into_boxed_slice(),
            count: 0,
        }
    }
}

impl Histogram {
    fn index(us: u64) -> usize {
        if us < SUB as u64 {
            return us as usize;
        }
        let power = 63 - us.leading_zeros(); // >= 6
        let shift = power - 6; // keep 6 significant bits
        let sub = (us >> shift) as u32 - SUB; // 0..SUB
        let idx = (shift + 1) * SUB + sub;
        (idx as usize).min((SUB * POWERS) as usize - 1)
    }

    /// The non-empty buckets as `[lowest value µs, count]`, ascending: the whole
    /// histogram, exactly (what `state` lines and `histograms.json` carry).
    pub fn buckets(&self) -> Vec<[u64; 2]> {
        self.buckets
            .iter()
            .enumerate()
            .filter(|(_, n)| **n > 0)
            .map(|(i, n)| [Self::value_of(i), *n])
            .collect()
    }

    /// The histogram of [`Histogram::buckets`]' pairs: each value lands in its bucket
    /// (a value that is no bucket's lowest lands where [`Histogram::record`] puts it).
    pub fn from_buckets(pairs: &[[u64; 2]]) -> Histogram {
        let mut h = Histogram::default();
        for &[value, n] in pairs {
            if let Some(b) = h.buckets.get_mut(Self::index(value)) {
                *b = b.saturating_add(n);
                h.count = h.count.saturating_add(n);
            }
        }
        h
    }

    /// The lowest value that falls into bucket `idx`.
    fn value_of(idx: usize) -> u64 {
        let idx = idx as u32;
        if idx < SUB {
            return idx as u64;
        }
        let shift = idx / SUB - 1;
        let sub = idx % SUB;
        ((SUB + sub) as u64) << shift
    }

    pub fn record(&mut self, us: u64) {
        let i = Self::index(us);
        if let Some(b) = self.buckets.get_mut(i) {
            *b += 1;
            self.count += 1;
        }
    }

    pub fn merge(&mut self, o: &Histogram) {
        for (a, b) in self.buckets.iter_mut().zip(o.buckets.iter()) {
            *a += b;
        }
        self.count += o.count;
    }

    pub fn count(&self) -> u64 {
        self.count
    }

    /// How many values fall at or under each of `edges_us` (ascending), cumulative, as a
    /// Prometheus histogram's `le` buckets count them. A value is taken as its bucket's
    /// lowest value, as [`Histogram::quantile`] reports it, so a value up to 1/64 above
    /// an edge may count under it.
    pub fn counts_at_or_under(&self, edges_us: &[u64]) -> Vec<u64> {
        let mut out = vec![0; edges_us.len()];
        for (i, &n) in self.buckets.iter().enumerate() {
            if n == 0 {
                continue;
            }
            let v = Self::value_of(i);
            if let Some(first) = edges_us.iter().position(|&e| v <= e) {
                for slot in out.iter_mut().skip(first) {
                    *slot += n;
                }
            }
        }
        out
    }

    /// The value at quantile `q` (0..=1) in microseconds, or 0 when empty.
    pub fn quantile(&self, q: f64) -> u64 {
        if self.count == 0 {
            return 0;
        }
        let target = ((q.clamp(0.0, 1.0) * self.count as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (i, b) in self.buckets.iter().enumerate() {
            seen += b;
            if seen >= target {
                return Self::value_of(i);
            }
        }
        Self::value_of(self.buckets.len() - 1)
    }
}

/// One timer's statistics (a response time `rtd`, or the call length).
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct TimeStat {
    pub count: u64,
    pub sum_us: u64,
    /// Sum of squares in ms² (f64 keeps it from overflowing).
    pub sum_sq_ms: f64,
    pub min_us: u64,
    pub max_us: u64,
    pub last_us: u64,
    /// SIPp repartition: bucket upper edges in ms (`value="10,20,…"`).
    pub edges_ms: Vec<u64>,
    /// `edges_ms.len() + 1` counts: `< edge[0]`, …, `>= edge[last]`.
    pub repartition: Vec<u64>,
    #[serde(with = "histogram_buckets")]
    pub histogram: Histogram,
}

/// A [`Histogram`] in JSON: its non-empty buckets, `[[lowest value µs, count], …]`.
mod histogram_buckets {
    use super::Histogram;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub(super) fn serialize<S: Serializer>(h: &Histogram, s: S) -> Result<S::Ok, S::Error> {
        h.buckets().serialize(s)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Histogram, D::Error> {
        let pairs = Vec::<[u64; 2]>::deserialize(d)?;
        Ok(Histogram::from_buckets(&pairs))
    }
}

impl TimeStat {
    pub fn new(edges_ms: &[u64]) -> Self {
        TimeStat {
            edges_ms: edges_ms.to_vec(),
            repartition: vec![0; edges_ms.len() + 1],
            ..Default::default()
        }
    }

    pub fn record(&mut self, us: u64) {
        if self.count == 0 || us < self.min_us {
            self.min_us = us;
        }
        self.max_us = self.max_us.max(us);
        self.count += 1;
        self.sum_us += us;
        let ms = us as f64 / 1000.0;
        self.sum_sq_ms += ms * ms;
        self.last_us = us;
        let ms_int = us / 1000;
        let bucket = self
            .edges_ms
            .iter()
            .position(|&e| ms_int < e)
            .unwrap_or(self.edges_ms.len());
        if let Some(b) = self.repartition.get_mut(bucket) {
            *b += 1;
        }
        self.histogram.record(us);
    }

    pub fn merge(&mut self, o: &TimeStat) {
        if o.count == 0 {
            return;
        }
        if self.count == 0 || o.min_us < self.min_us {
            self.min_us = o.min_us;
        }
        self.max_us = self.max_us.max(o.max_us);
        self.count += o.count;
        self.sum_us += o.sum_us;
        self.sum_sq_ms += o.sum_sq_ms;
        self.last_us = o.last_us;
        for (a, b) in self.repartition.iter_mut().zip(&o.repartition) {
            *a += b;
        }
        self.histogram.merge(&o.histogram);
    }

    /// Mean in microseconds (0 when empty).
    pub fn mean_us(&self) -> f64 {
        if self.count == 0 {
            0.0
        } else {
            self.sum_us as f64 / self.count as f64
        }
    }

    /// Standard deviation in microseconds (population, as SIPp computes it).
    pub fn stdev_us(&self) -> f64 {
        if self.count == 0 {
            return 0.0;
        }
        let n = self.count as f64;
        let mean_ms = self.sum_us as f64 / 1000.0 / n;
        let var = (self.sum_sq_ms / n - mean_ms * mean_ms).max(0.0);
        var.sqrt() * 1000.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_quantiles_are_within_two_percent() {
        let mut h = Histogram::default();
        for v in 1..=100_000u64 {
            h.record(v);
        }
        let p50 = h.quantile(0.5) as f64;
        let p99 = h.quantile(0.99) as f64;
        assert!((p50 - 50_000.0).abs() / 50_000.0 < 0.02, "p50 {p50}");
        assert!((p99 - 99_000.0).abs() / 99_000.0 < 0.02, "p99 {p99}");
    }

    #[test]
    fn buckets_are_the_whole_histogram() {
        let mut h = Histogram::default();
        for v in (0..200_000u64).step_by(37).chain([u64::MAX, 5_000_000_000]) {
            h.record(v);
        }
        let back = Histogram::from_buckets(&h.buckets());
        assert_eq!(back.buckets(), h.buckets());
        assert_eq!(back.count(), h.count());
        for q in [0.0, 0.5, 0.9, 0.99, 0.999, 1.0] {
            assert_eq!(back.quantile(q), h.quantile(q));
        }
    }

    #[test]
    fn counts_at_or_under_are_cumulative_per_edge() {
        let mut h = Histogram::default();
        for us in [500, 1_000, 1_500, 20_000, 2_000_000] {
            h.record(us);
        }
        assert_eq!(
            h.counts_at_or_under(&[1_000, 2_000, 50_000, 1_000_000]),
            vec![2, 3, 4, 4],
            "the last value is above every edge: only in +Inf"
        );
        assert_eq!(Histogram::default().counts_at_or_under(&[1]), vec![0]);
    }

    #[test]
    fn repartition_puts_values_below_each_edge() {
        let mut t = TimeStat::new(&[10, 20]);
        t.record(5_000);
        t.record(10_000);
        t.record(25_000);
        assert_eq!(t.repartition, vec![1, 1, 1]);
        assert_eq!(t.min_us, 5_000);
        assert_eq!(t.max_us, 25_000);
    }
}
