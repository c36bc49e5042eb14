//! The pacer: how many new calls a shard may open now (`-r`, `-rp`, `-l`, `-m`).
//!
//! Owns: the arithmetic of SIPp's call generation (`reference/sipp.md` §6: open
//! `elapsed × rate − already opened` calls per wake-up). Must not: read clocks or create
//! calls; the shard asks `due(now)` each loop turn and opens that many.

use std::time::{Duration, Instant};

/// From [`BURST_RATE`] calls/s on (per shard) new calls are released in bursts this far
/// apart (one loop turn per call would cost more than the call), as SIPp does.
pub const BURST: Duration = Duration::from_millis(1);
/// The rate (calls/s of one shard) from which calls go in [`BURST`]s.
pub const BURST_RATE: f64 = 1000.0;
/// A rate change counts from the last burst when that was at most this long before it
/// (`Pacer::set_rate`): a shard on time turns every [`BURST`], a busy one a few later.
const RECENT: Duration = Duration::from_millis(4);

/// A per-shard call pacer.
///
/// Calls are scheduled `1 / rate` apart from the epoch (the first at the epoch). From
/// [`BURST_RATE`] on they are released in bursts at least [`BURST`] apart: a burst at `t`
/// opens every call scheduled up to `t`, and none opens in between (`due` owes nothing
/// before the next burst's instant). A rate change applies to the whole interval the next
/// burst covers (`set_rate`), so the first burst after a change has the new rate's size.
#[derive(Clone, Debug)]
pub struct Pacer {
    /// Calls per second for this shard.
    rate_cps: f64,
    /// When the current rate took effect, and how many calls were opened since.
    epoch: Instant,
    opened_since_epoch: u64,
    /// The last instant calls were opened (the last burst, above [`BURST_RATE`]).
    last_burst: Option<Instant>,
    paused: bool,
}

impl Pacer {
    pub fn new(rate_cps: f64, now: Instant) -> Pacer {
        Pacer {
            rate_cps: rate_cps.max(0.0),
            epoch: now,
            opened_since_epoch: 0,
            last_burst: None,
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

    /// Whether calls go in bursts at the current rate.
    fn bursts(&self) -> bool {
        self.rate_cps >= BURST_RATE
    }

    /// Changes the rate at `now` (the shard applies it on the wake-up the change causes,
    /// between two bursts). The new rate counts from the last burst, if that opened calls
    /// of the current pace less than [`RECENT`] before `now`: the interval the next
    /// burst covers began there, so that burst, at its usual instant, opens the new rate's
    /// share of it (20 calls at 20,000 calls/s, 2 at 2,000) and nothing opens at the change
    /// itself; a burst overdue at `now` (a shard that turns late) opens at once with the
    /// new rate's calls since the last burst, as a late burst does without a change. The
    /// old rate's calls scheduled since that burst are not opened (the change moves at
    /// most `RECENT × |new − old|` calls).
    /// Otherwise (no recent burst: a new pace, a slow rate, a shard held at the call
    /// limit) the new rate's first call is due at `now`, the next ones `1 / rate` apart,
    /// and a backlog of the old rate is dropped.
    pub fn set_rate(&mut self, rate_cps: f64, now: Instant) {
        if (rate_cps - self.rate_cps).abs() <= f64::EPSILON {
            return;
        }
        let recent = self.last_burst.filter(|b| {
            !self.paused && *b >= self.epoch && now.saturating_duration_since(*b) <= RECENT
        });
        match recent {
            Some(b) => {
                self.epoch = b;
                // The call scheduled at the new epoch went in that burst.
                self.opened_since_epoch = 1;
            }
            None => {
                self.epoch = now;
                self.opened_since_epoch = 0;
            }
        }
        self.rate_cps = rate_cps.max(0.0);
    }

    /// Pauses or resumes call creation (SIPp's `p` key). Resuming does not open the
    /// calls missed while paused: the first call is due at the resume (at the next
    /// burst's instant if the last burst was less than a [`BURST`] before).
    pub fn set_paused(&mut self, paused: bool, now: Instant) {
        if paused != self.paused {
            self.paused = paused;
            self.epoch = now;
            self.opened_since_epoch = 0;
        }
    }

    /// How many calls are owed at `now` (none before the epoch: a shard's pacer may start
    /// a little later than the others', so the shards' calls interleave; none before the
    /// next burst's instant, above [`BURST_RATE`]).
    #[must_use]
    pub fn due(&self, now: Instant) -> u64 {
        if self.paused || self.rate_cps <= 0.0 || now < self.epoch {
            return 0;
        }
        if self.bursts() && self.last_burst.is_some_and(|b| now < b + BURST) {
            return 0;
        }
        let elapsed = now.saturating_duration_since(self.epoch).as_secs_f64();
        // The epsilon keeps float rounding from owing 0 at the very instant `next_due` named.
        let owed = (elapsed * self.rate_cps + 1e-6).floor() as u64 + 1;
        owed.saturating_sub(self.opened_since_epoch)
    }

    /// Records that `n` calls were opened at `now` (a burst, when `n > 0`).
    pub fn opened(&mut self, n: u64, now: Instant) {
        self.opened_since_epoch += n;
        if n > 0 {
            self.last_burst = Some(now);
        }
    }

    /// When the next call falls due (for the shard's sleep), if paced: above
    /// [`BURST_RATE`], no sooner than one [`BURST`] after the last burst.
    #[must_use]
    pub fn next_due(&self) -> Option<Instant> {
        if self.paused || self.rate_cps <= 0.0 {
            return None;
        }
        let secs = self.opened_since_epoch as f64 / self.rate_cps;
        let at = self.epoch + Duration::from_secs_f64(secs.min(1.0e9));
        match self.last_burst.filter(|_| self.bursts()) {
            Some(b) => Some(at.max(b + BURST)),
            None => Some(at),
        }
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
        p.opened(1, t0);
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
    fn a_rate_change_after_a_quiet_spell_starts_at_the_change() {
        let t0 = crate::sim::epoch();
        let mut p = Pacer::new(10.0, t0);
        p.opened(1, t0);
        let t1 = t0 + Duration::from_secs(1);
        p.set_rate(100.0, t1);
        // The 10 calls owed at 10 calls/s (a backlog: none was opened for 1 s) are not
        // kept; the one due exactly at t1 is the new rate's first.
        assert_eq!(p.due(t1), 1);
        assert_eq!(p.due(t1 + Duration::from_millis(500)), 51);
    }

    /// Opens what is due at each of the pacer's own deadlines up to `end`; returns
    /// (instant, calls) of every burst.
    fn bursts_until(p: &mut Pacer, end: Instant) -> Vec<(Instant, u64)> {
        let mut out = Vec::new();
        for _ in 0..100_000 {
            let Some(t) = p.next_due().filter(|t| *t <= end) else {
                break;
            };
            let n = p.due(t);
            assert!(n > 0, "next_due named {t:?} but nothing is due then");
            p.opened(n, t);
            out.push((t, n));
        }
        out
    }

    /// At 20,000 calls/s the calls go in 1 ms bursts of 20, and none between them.
    #[test]
    fn above_the_burst_rate_calls_go_in_bursts_one_tick_apart() {
        let t0 = crate::sim::epoch();
        let ms = Duration::from_millis(1);
        let mut p = Pacer::new(20_000.0, t0);
        let b = bursts_until(&mut p, t0 + 5 * ms);
        assert_eq!(
            b,
            (0..6)
                .map(|i| (t0 + i * ms, if i == 0 { 1 } else { 20 }))
                .collect::<Vec<_>>()
        );
        for us in [1, 50, 500, 999] {
            assert_eq!(
                p.due(t0 + 5 * ms + Duration::from_micros(us)),
                0,
                "{us} µs after a burst"
            );
        }
        // A late turn (timer slack) opens what is due by then: the pace holds.
        assert_eq!(p.due(t0 + 6 * ms + Duration::from_micros(60)), 21);
    }

    /// A rate change that lands between two bursts (or while a burst is overdue) opens
    /// nothing at the change; the next burst, at its usual instant, has the new rate's size,
    /// and so do the ones after it.
    #[test]
    fn the_first_burst_after_a_rate_change_has_the_new_size() {
        let ms = Duration::from_millis(1);
        for (old, new) in [
            (20_000.0, 2_000.0),
            (2_000.0, 20_000.0),
            (20_000.0, 10_000.0),
            (10_000.0, 20_000.0),
        ] {
            for after_burst_us in [0, 1, 300, 700, 999, 1_030, 1_400, 2_000, 3_900] {
                let t0 = crate::sim::epoch();
                let mut p = Pacer::new(old, t0);
                let last = bursts_until(&mut p, t0 + 10 * ms).last().unwrap().0;
                let change = last + Duration::from_micros(after_burst_us);
                p.set_rate(new, change);
                let case = format!("{old} -> {new}, {after_burst_us} µs after a burst");
                // The shard turns at the change (its wake-up) and never before the present.
                let first_at = p.next_due().unwrap().max(change);
                assert_eq!(first_at, (last + ms).max(change), "{case}");
                if change < last + ms {
                    assert_eq!(p.due(change), 0, "{case}: nothing at the change itself");
                }
                // Overdue (the change came after the burst's instant): the burst at the
                // change holds the new rate's calls since the last burst.
                let n = p.due(first_at);
                let since = ((first_at - last).as_secs_f64() * new + 1e-6).floor() as u64;
                assert_eq!(n, since.max(1), "{case}");
                p.opened(n, first_at);
                let after = bursts_until(&mut p, first_at + 5 * ms);
                assert_eq!(
                    after,
                    (1..=5)
                        .map(|i| (first_at + i * ms, (new / 1000.0) as u64))
                        .collect::<Vec<_>>(),
                    "{case}"
                );
            }
        }
    }

    /// A pause opens nothing from the change on; a resume opens the first call at once
    /// (or at the next burst's instant, within a tick of the last burst), then the pace.
    #[test]
    fn a_pause_stops_at_once_and_a_resume_starts_at_once() {
        let t0 = crate::sim::epoch();
        let ms = Duration::from_millis(1);
        let mut p = Pacer::new(20_000.0, t0);
        let last = bursts_until(&mut p, t0 + 10 * ms).last().unwrap().0;
        let pause = last + Duration::from_micros(400);
        p.set_paused(true, pause);
        assert_eq!(p.next_due(), None);
        assert_eq!(p.due(last + 50 * ms), 0);
        let resume = last + Duration::from_micros(200) + 100 * ms;
        p.set_paused(false, resume);
        assert_eq!(p.due(resume), 1, "the first call at the resume");
        let b = bursts_until(&mut p, resume + 3 * ms);
        assert_eq!(
            b,
            vec![
                (resume, 1),
                (resume + ms, 20),
                (resume + 2 * ms, 20),
                (resume + 3 * ms, 20)
            ]
        );
        // Paused and resumed within one tick: the first call waits for the burst's instant.
        let last = b.last().unwrap().0;
        p.set_paused(true, last + Duration::from_micros(100));
        p.set_paused(false, last + Duration::from_micros(300));
        assert_eq!(p.due(last + Duration::from_micros(300)), 0);
        assert_eq!(p.next_due(), Some(last + ms));
        assert_eq!(
            p.due(last + ms),
            1 + 14,
            "the calls since the resume, 0.3 ms before"
        );
    }
}
