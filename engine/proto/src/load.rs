//! The pacer: how many new calls a shard may open now (`-r`, `-rp`, `-l`, `-m`).
//!
//! Owns: the arithmetic of SIPp's call generation (`reference/sipp.md` §6: open
//! `elapsed × rate − already opened` calls per wake-up). Must not: read clocks or create
//! calls; the shard asks `due(now)` each loop turn and opens that many.

use std::time::{Duration, Instant};

/// Above 1,000 calls/s the endpoint releases new calls in bursts this far apart (one
/// loop turn per call would cost more than the call). A rate change carries the calls
/// owed for at most this long before it (`Pacer::set_rate`).
pub const BURST: Duration = Duration::from_millis(1);

/// A per-shard call pacer.
#[derive(Clone, Debug)]
pub struct Pacer {
    /// Calls per second for this shard.
    rate_cps: f64,
    /// When the current rate took effect, and how many calls were opened since.
    epoch: Instant,
    opened_since_epoch: u64,
    /// Calls owed under the previous rate when it changed, due at once (`set_rate`).
    carried: u64,
    paused: bool,
}

impl Pacer {
    pub fn new(rate_cps: f64, now: Instant) -> Pacer {
        Pacer {
            rate_cps: rate_cps.max(0.0),
            epoch: now,
            opened_since_epoch: 0,
            carried: 0,
            paused: false,
        }
    }

    pub fn rate_cps(&self) -> f64 {
        self.rate_cps
    }

    /// When the current rate took effect.
    pub fn epoch(&self) -> Instant {
        self.epoch
    }

    /// Changes the rate from `now` on: the new rate's first call is due at `now`, the
    /// next ones `1 / rate` apart. Calls already opened are not owed again; calls owed
    /// under the old rate during the last [`BURST`] before `now` (the ones a 1 ms burst
    /// still holds back) stay due, so the change neither stalls nor skips the old pace's
    /// last tick. An older backlog (a shard held at the call limit) is dropped.
    pub fn set_rate(&mut self, rate_cps: f64, now: Instant) {
        if (rate_cps - self.rate_cps).abs() > f64::EPSILON {
            let before = self.scheduled_before(now);
            let window = before - self.scheduled_before(now.checked_sub(BURST).unwrap_or(now));
            self.carried = before.saturating_sub(self.opened_since_epoch).min(window);
            self.rate_cps = rate_cps.max(0.0);
            self.epoch = now;
            self.opened_since_epoch = 0;
        }
    }

    /// How many calls of the current rate were due strictly before `t` (none while paused).
    fn scheduled_before(&self, t: Instant) -> u64 {
        if self.paused || self.rate_cps <= 0.0 || t <= self.epoch {
            return 0;
        }
        let elapsed = t.saturating_duration_since(self.epoch).as_secs_f64();
        (elapsed * self.rate_cps - 1e-6).ceil().max(0.0) as u64 + self.carried
    }

    /// Pauses or resumes call creation (SIPp's `p` key). Resuming does not open the
    /// calls missed while paused.
    pub fn set_paused(&mut self, paused: bool, now: Instant) {
        if paused != self.paused {
            self.paused = paused;
            self.epoch = now;
            self.opened_since_epoch = 0;
            self.carried = 0;
        }
    }

    /// How many calls are owed at `now` (none before the epoch: a shard's pacer may start
    /// a little later than the others', so the shards' calls interleave).
    #[must_use]
    pub fn due(&self, now: Instant) -> u64 {
        if self.paused || self.rate_cps <= 0.0 || now < self.epoch {
            return 0;
        }
        let elapsed = now.saturating_duration_since(self.epoch).as_secs_f64();
        // The epsilon keeps float rounding from owing 0 at the very instant `next_due` named.
        let owed = (elapsed * self.rate_cps + 1e-6).floor() as u64 + 1 + self.carried;
        owed.saturating_sub(self.opened_since_epoch)
    }

    /// Records that `n` calls were opened.
    pub fn opened(&mut self, n: u64) {
        self.opened_since_epoch += n;
    }

    /// When the next call falls due (for the shard's sleep), if paced.
    #[must_use]
    pub fn next_due(&self) -> Option<Instant> {
        if self.paused || self.rate_cps <= 0.0 {
            return None;
        }
        let secs = self.opened_since_epoch.saturating_sub(self.carried) as f64 / self.rate_cps;
        Some(self.epoch + std::time::Duration::from_secs_f64(secs.min(1.0e9)))
    }
}

/// Calls per second of `-r rate` per `-rp period_ms` (a period under 1 ms counts as 1 ms).
/// The one place this is computed: the pacer, the screens and the reports all ask here.
pub fn rate_cps(rate: f64, rate_period_ms: u64) -> f64 {
    rate * 1000.0 / rate_period_ms.max(1) as f64
}

/// SIPp's default `-l`: 3 × rate × max(call length, 1 s).
pub fn default_call_limit(rate_cps: f64, call_length_ms: u64) -> u64 {
    let secs = (call_length_ms as f64 / 1000.0).max(1.0);
    (3.0 * rate_cps * secs).ceil().max(1.0) as u64
}

/// When shard `i` of `shards` opens its first call, after the run's start, so that the
/// shards' calls interleave evenly at `rate_cps` in all (each shard paces `rate_cps /
/// shards`): the run's calls are then `1 / rate_cps` apart, as one pacer would space
/// them, instead of arriving `shards` at a time.
pub fn shard_phase(i: usize, rate_cps: f64) -> std::time::Duration {
    if rate_cps > 0.0 && rate_cps.is_finite() {
        std::time::Duration::from_secs_f64(i as f64 / rate_cps)
    } else {
        std::time::Duration::ZERO
    }
}

/// Splits `total` over `shards` as evenly as possible; shard `i` gets its share.
pub fn share(total: u64, shards: usize, i: usize) -> u64 {
    let n = shards.max(1) as u64;
    total / n + u64::from((i as u64) < total % n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn ten_cps_owes_one_call_per_hundred_ms() {
        let t0 = crate::sim::epoch();
        let mut p = Pacer::new(10.0, t0);
        assert_eq!(p.due(t0), 1);
        p.opened(1);
        assert_eq!(p.due(t0 + Duration::from_millis(99)), 0);
        assert_eq!(p.due(t0 + Duration::from_millis(100)), 1);
        assert_eq!(p.due(t0 + Duration::from_millis(1000)), 10);
    }

    #[test]
    fn shares_add_up() {
        let total: u64 = (0..3).map(|i| share(10, 3, i)).sum();
        assert_eq!(total, 10);
        assert_eq!(share(10, 3, 0), 4);
        assert_eq!(default_call_limit(10.0, 0), 30);
    }

    #[test]
    fn shards_interleave_their_calls() {
        let t0 = crate::sim::epoch();
        // Two shards at 5 calls/s each for 10 calls/s in all.
        let a = Pacer::new(5.0, t0 + shard_phase(0, 10.0));
        let b = Pacer::new(5.0, t0 + shard_phase(1, 10.0));
        assert_eq!(
            (a.due(t0), b.due(t0)),
            (1, 0),
            "the second shard starts 100 ms later"
        );
        let at = |ms| t0 + Duration::from_millis(ms);
        assert_eq!(b.due(at(99)), 0);
        assert_eq!(b.due(at(100)), 1);
        assert_eq!(a.due(at(1000)) + b.due(at(1000)), 11);
        assert_eq!(shard_phase(3, 0.0), Duration::ZERO);
    }

    #[test]
    fn rate_change_rebases() {
        let t0 = crate::sim::epoch();
        let mut p = Pacer::new(10.0, t0);
        p.opened(1);
        let t1 = t0 + Duration::from_secs(1);
        p.set_rate(100.0, t1);
        // The 10 calls owed at 10 calls/s (a backlog: none was opened for 1 s) are not
        // carried; the one due exactly at t1 is the new rate's first.
        assert_eq!(p.due(t1), 1);
        assert_eq!(p.due(t1 + Duration::from_millis(500)), 51);
    }

    /// A change mid-burst keeps the old pace's calls of its last millisecond due (10,000
    /// calls/s opened in 1 ms bursts: 0.7 ms after a burst, 6 more are owed).
    #[test]
    fn a_rate_change_carries_the_calls_its_last_burst_held_back() {
        let t0 = crate::sim::epoch();
        let ms = Duration::from_millis(1);
        let mut p = Pacer::new(10_000.0, t0);
        let t1 = t0 + 10 * ms;
        p.opened(p.due(t1));
        assert_eq!(p.due(t1), 0);
        let change = t1 + Duration::from_micros(700);
        // Owed strictly before the change: the 6 at t1 + 0.1 .. 0.6 ms (the one at 0.7 ms
        // is the change's own instant: the new rate's first).
        p.set_rate(20_000.0, change);
        assert_eq!(p.due(change), 6 + 1, "6 carried and the new rate's first");
        p.opened(7);
        assert_eq!(p.next_due(), Some(change + Duration::from_micros(50)));
        assert_eq!(p.due(change + ms), 20);
        // Down: the same, and a pause carries nothing.
        p.opened(20);
        let down = change + ms + Duration::from_micros(500);
        p.set_rate(2_000.0, down);
        assert_eq!(p.due(down), 9 + 1);
        p.set_paused(true, down);
        p.set_paused(false, down);
        assert_eq!(p.due(down), 1);
    }
}
