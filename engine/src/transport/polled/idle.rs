//! The idle timeout of accepted connections (`-stream_idle_timeout`): a peer that opens
//! a connection and sends nothing, or half a message, must not keep it for ever.
//!
//! Owns: when the next look for idle connections is due, and whether a connection heard
//! from at a given time is idle at `now`. A connection counts as heard from when it is
//! accepted and each time a whole message or a keepalive (CRLFCRLF) arrives; partial
//! bytes do not count. Must not: read a clock (`Polled` passes the shard's `now`) or
//! touch a socket.
//!
//! Why a sweep and not a deadline per connection: a deadline moved on every message
//! would cost the hot path a timer update per message. Instead the sweep runs when the
//! earliest possible expiry is due, rounded up to a granularity of a tenth of the
//! timeout (at most ten sweeps per timeout however busy the connections are), and
//! closes what is due; the shard's wait never sleeps past [`IdleSweep::poll_timeout`].
//! A connection therefore closes between `timeout` and `timeout × 1.1` after it was
//! last heard from (rounding up, never down, as the shard's timer wheel does).

use std::time::{Duration, Instant};

/// The sweep schedule of one shard's accepted connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct IdleSweep {
    timeout: Duration,
    /// The next sweep; `None` while no accepted connection is open.
    next: Option<Instant>,
}

impl IdleSweep {
    pub(super) fn new(timeout: Duration) -> IdleSweep {
        IdleSweep {
            timeout,
            next: None,
        }
    }

    /// A connection was accepted at `now`: the sweep comes by its expiry.
    pub(super) fn accepted(&mut self, now: Instant) {
        let expiry = now + self.timeout;
        self.next = Some(self.next.map_or(expiry, |n| n.min(expiry)));
    }

    /// The sweep is due at `now`.
    #[must_use]
    pub(super) fn due(&self, now: Instant) -> bool {
        self.next.is_some_and(|n| n <= now)
    }

    /// A connection last heard from at `heard_at` is idle at `now`.
    #[must_use]
    pub(super) fn expired(&self, heard_at: Instant, now: Instant) -> bool {
        heard_at + self.timeout <= now
    }

    /// When a connection last heard from at `heard_at` expires.
    #[must_use]
    pub(super) fn expiry(&self, heard_at: Instant) -> Instant {
        heard_at + self.timeout
    }

    /// A sweep at `now` ended; `earliest` is the soonest expiry of the connections left
    /// (`None`: none left).
    pub(super) fn swept(&mut self, now: Instant, earliest: Option<Instant>) {
        let granularity = (self.timeout / 10).max(Duration::from_millis(1));
        self.next = earliest.map(|e| e.max(now + granularity));
    }

    /// When the shard must wake for the next sweep.
    #[must_use]
    pub(super) fn poll_timeout(&self) -> Option<Instant> {
        self.next
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fixed epoch: these tests never read the clock again.
    #[allow(clippy::disallowed_methods)]
    fn epoch() -> Instant {
        Instant::now()
    }

    const S: fn(u64) -> Duration = Duration::from_secs;

    #[test]
    fn nothing_is_scheduled_until_a_connection_is_accepted() {
        let t0 = epoch();
        let mut idle = IdleSweep::new(S(60));
        assert_eq!(idle.poll_timeout(), None);
        assert!(!idle.due(t0 + S(3600)));
        idle.accepted(t0);
        assert_eq!(idle.poll_timeout(), Some(t0 + S(60)));
        idle.accepted(t0 + S(10));
        assert_eq!(
            idle.poll_timeout(),
            Some(t0 + S(60)),
            "the earlier expiry stays"
        );
        assert!(!idle.due(t0 + S(59)));
        assert!(idle.due(t0 + S(60)));
    }

    #[test]
    fn a_connection_expires_a_timeout_after_it_was_last_heard_from() {
        let t0 = epoch();
        let idle = IdleSweep::new(S(60));
        assert!(!idle.expired(t0, t0 + S(59)));
        assert!(idle.expired(t0, t0 + S(60)));
        assert_eq!(idle.expiry(t0 + S(5)), t0 + S(65));
    }

    #[test]
    fn sweeps_follow_the_earliest_expiry_but_never_more_often_than_the_granularity() {
        let t0 = epoch();
        let mut idle = IdleSweep::new(S(60));
        idle.accepted(t0);
        idle.swept(t0 + S(60), Some(t0 + S(90)));
        assert_eq!(idle.poll_timeout(), Some(t0 + S(90)));
        // A connection heard from just before the sweep would expire almost at once
        // again: the next sweep waits a tenth of the timeout (rounded up, never down).
        idle.swept(t0 + S(90), Some(t0 + S(90) + Duration::from_millis(1)));
        assert_eq!(idle.poll_timeout(), Some(t0 + S(96)));
        idle.swept(t0 + S(96), None);
        assert_eq!(idle.poll_timeout(), None, "no connection left: no wake-up");
    }

    /// Virtual time: a peer that sends a message every 50 s is never closed; a silent
    /// one is closed within [timeout, 1.1 × timeout] of its accept, whatever the steps.
    #[test]
    fn driven_in_virtual_time_only_silent_connections_close_and_on_time() {
        let t0 = epoch();
        let timeout = S(60);
        let mut idle = IdleSweep::new(timeout);
        // (heard_at, open, talks)
        let mut conns = [(t0, true, true), (t0, true, false)];
        idle.accepted(t0);
        let mut closed_at = None;
        let mut now = t0;
        for _ in 0..10_000 {
            // Jump to the earlier of the next sweep and the next message (every 50 s).
            let next_talk = conns[0].0 + S(50);
            now = idle.poll_timeout().map_or(next_talk, |s| s.min(next_talk));
            if now > t0 + S(600) {
                break;
            }
            if now == next_talk {
                conns[0].0 = now;
            }
            if idle.due(now) {
                let mut earliest = None::<Instant>;
                for c in conns.iter_mut().filter(|c| c.1) {
                    if idle.expired(c.0, now) {
                        c.1 = false;
                        if !c.2 {
                            closed_at = Some(now);
                        }
                    } else {
                        let e = idle.expiry(c.0);
                        earliest = Some(earliest.map_or(e, |x| x.min(e)));
                    }
                }
                idle.swept(now, earliest);
            }
        }
        assert!(now > t0 + S(600), "the drive reached 10 minutes");
        assert!(conns[0].1, "the talking connection stays open");
        let closed = closed_at.expect("the silent connection closed");
        assert!(closed >= t0 + timeout && closed <= t0 + timeout + timeout / 10);
    }
}
