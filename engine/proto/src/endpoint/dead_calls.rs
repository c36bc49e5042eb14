//! The Call-IDs (their 64-bit hashes) of recently ended calls, so that a late message for
//! one is counted as a dead-call message and not taken for a new call.
//!
//! Owns: that memory and when it forgets. Must not: hash Call-IDs (the table does) or
//! read a clock (`now` comes in).
//!
//! Kept in one set per second of ending, in a ring: an ID is remembered from `WAIT` to
//! `WAIT` + 1 s, and forgetting a second's IDs is one `clear` of a set that keeps its
//! capacity. One map for the whole wait had to double as it filled: at 33,000 calls/s
//! its rehash of ~115,000 entries (with the new table's first-touch page faults) stopped
//! a shard for tens of ms around 3.5 s into a run, long enough for the socket's receive
//! queue to overflow (perf/README.md, issue #21); a set per second is a fifth of the size
//! and grows only in the run's first seconds.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use super::table::NoHash;

/// How long an ended call's ID is remembered, at least. SIPp keeps them 33 s
/// (`-deadcall_wait`); we keep fewer seconds and a cap, so memory stays bounded at high
/// rates.
pub const WAIT: Duration = Duration::from_secs(5);
/// At most this many IDs are remembered; past it, ended calls are not remembered (a
/// late message for one then counts as a new or unexpected message).
pub const MAX: usize = 500_000;
/// The width of one set, in seconds.
const SECOND: u64 = 1;
/// Sets in the ring: the `WAIT` seconds, plus the one being filled.
const SETS: usize = (WAIT.as_secs() / SECOND) as usize + 1;

pub struct DeadCalls {
    epoch: Instant,
    sets: [HashSet<u64, NoHash>; SETS],
    /// The second (after `epoch`) whose set is the newest; older sets hold the seconds
    /// before it, one each, going back round the ring.
    newest: u64,
    len: usize,
}

impl DeadCalls {
    /// An empty memory whose seconds count from `epoch` (no `now` comes before it).
    pub fn new(epoch: Instant) -> DeadCalls {
        DeadCalls {
            epoch,
            sets: Default::default(),
            newest: 0,
            len: 0,
        }
    }

    fn second(&self, now: Instant) -> u64 {
        now.saturating_duration_since(self.epoch).as_secs() / SECOND
    }

    /// Moves the ring to `now`'s second, forgetting the sets that fall out of it.
    pub fn expire(&mut self, now: Instant) {
        let s = self.second(now);
        if s <= self.newest {
            return;
        }
        // A gap of a whole ring or more clears every set once, not once per second.
        let steps = (s - self.newest).min(SETS as u64);
        for k in 1..=steps {
            let set = &mut self.sets[((self.newest + k) % SETS as u64) as usize];
            self.len -= set.len();
            set.clear();
        }
        self.newest = s;
    }

    /// Remembers `key` as ended at `now`.
    pub fn insert(&mut self, key: u64, now: Instant) {
        self.expire(now);
        if self.len >= MAX {
            return;
        }
        if self.sets[(self.newest % SETS as u64) as usize].insert(key) {
            self.len += 1;
        }
    }

    pub fn contains(&self, key: u64) -> bool {
        self.len > 0 && self.sets.iter().any(|s| !s.is_empty() && s.contains(&key))
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(epoch: Instant, ms: u64) -> Instant {
        epoch + Duration::from_millis(ms)
    }

    #[test]
    fn an_id_is_remembered_for_the_wait_and_at_most_a_second_more() {
        let t0 = crate::sim::epoch();
        let mut d = DeadCalls::new(t0);
        d.insert(7, at(t0, 300));
        for ms in [300, 1_000, 4_999, 5_000, 5_299, 5_999] {
            d.expire(at(t0, ms));
            assert!(d.contains(7), "remembered at {ms} ms");
        }
        d.expire(at(t0, 6_000));
        assert!(
            !d.contains(7),
            "forgotten once its second has left the ring"
        );
        assert_eq!(d.len(), 0);
        assert!(d.is_empty());
    }

    #[test]
    fn each_second_is_forgotten_on_its_own() {
        let t0 = crate::sim::epoch();
        let mut d = DeadCalls::new(t0);
        for s in 0..4u64 {
            d.insert(100 + s, at(t0, s * 1_000 + 10));
        }
        assert_eq!(d.len(), 4);
        d.expire(at(t0, 6_500));
        assert!(!d.contains(100));
        assert!(d.contains(101) && d.contains(102) && d.contains(103));
        assert_eq!(d.len(), 3);
        d.expire(at(t0, 8_000));
        assert!(!d.contains(102) && d.contains(103));
        assert_eq!(d.len(), 1);
    }

    #[test]
    fn a_long_silence_forgets_everything_in_one_pass() {
        let t0 = crate::sim::epoch();
        let mut d = DeadCalls::new(t0);
        for k in 0..50 {
            d.insert(k, at(t0, k * 100));
        }
        d.expire(at(t0, 3_600_000));
        assert!(d.is_empty());
        assert!(!(0..50).any(|k| d.contains(k)));
        // And the ring still works from there.
        d.insert(9, at(t0, 3_600_001));
        assert!(d.contains(9));
    }

    #[test]
    fn a_time_before_the_newest_second_files_under_the_newest() {
        let t0 = crate::sim::epoch();
        let mut d = DeadCalls::new(t0);
        d.insert(1, at(t0, 2_500));
        // `now` never runs backwards in the shard, but an earlier one must not corrupt
        // the ring: it is kept at least as long.
        d.insert(2, at(t0, 1_200));
        d.expire(at(t0, 7_999));
        assert!(d.contains(1) && d.contains(2));
        d.expire(at(t0, 8_000));
        assert!(d.is_empty());
    }

    #[test]
    fn the_cap_bounds_memory_and_a_repeat_is_counted_once() {
        let t0 = crate::sim::epoch();
        let mut d = DeadCalls::new(t0);
        d.insert(5, t0);
        d.insert(5, t0);
        assert_eq!(d.len(), 1);
        for k in 0..(MAX as u64 + 10) {
            d.insert(k, t0);
        }
        assert_eq!(d.len(), MAX);
    }
}
