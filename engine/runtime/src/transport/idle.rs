//! The idle timeout of accepted connections (`-stream_idle_timeout`): a peer that opens
//! a connection and sends nothing, or half a message, must not keep it for ever; a peer
//! that holds a long call in silence must keep it.
//!
//! The rule, applied by [`Quiet::check`]: an accepted connection is closed when
//! (a) it sent no whole message or keepalive (CRLFCRLF, a WebSocket ping) for the
//! timeout *and* carries no live call (no call of its shard bound to its peer, other
//! than calls waiting out their final `<timewait>`), or (b) part of a message has been
//! waiting for the rest for the timeout, whatever its calls: a half-sent message is no
//! dialog. A connection kept for its calls has its idle clock started again at that look,
//! so it closes a timeout (plus the sweep's rounding) after its last call ends, unless
//! it speaks again.
//!
//! Owns: one connection's idle clock ([`Quiet`]) and when the next look at a shard's
//! connections is due ([`IdleSweep`]). Must not: read a clock (the caller passes `now`),
//! touch a socket, or know calls: whether a connection carries a live call is a
//! predicate the caller passes in (the shard asks `Endpoint::carries_live_calls`).
//! Driven by `streams::Streams` (TCP, TLS and WebSocket: one sweep over all connections).
//!
//! Why a sweep and not a deadline per connection: a deadline moved on every message
//! would cost the hot path a timer update per message. A message only stamps its
//! connection's [`Quiet`]; the sweep runs when the earliest possible expiry is due,
//! rounded up to a granularity of a tenth of the timeout (at most ten sweeps per
//! timeout however busy the connections are), and looks only then at calls. A
//! connection therefore closes between `timeout` and `timeout × 1.1` after its idle
//! clock started (rounding up, never down, as the shard's timer wheel does).

use std::time::{Duration, Instant};

/// What a look at one connection decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Keep it: it cannot be idle before `until`.
    Keep { until: Instant },
    /// Close it and count `stream_idle_closed`.
    Close,
}

/// One accepted connection's idle clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Quiet {
    /// When the idle clock started: the accept, the last whole message or keepalive, or
    /// the last look that found the connection carrying a live call.
    since: Instant,
    /// When the incomplete message waiting now began to arrive (`None`: none waits).
    partial_since: Option<Instant>,
}

impl Quiet {
    /// A connection accepted at `now`.
    pub(crate) fn new(now: Instant) -> Quiet {
        Quiet {
            since: now,
            partial_since: None,
        }
    }

    /// A whole message or a keepalive arrived by `now`: the idle clock starts again and
    /// no message is half-sent (bytes after it are reported by `pending`).
    pub(crate) fn heard(&mut self, now: Instant) {
        // Time never moves back.
        self.since = self.since.max(now);
        self.partial_since = None;
    }

    /// After bytes arrived by `now`: whether part of a message waits for the rest. Its
    /// wait is counted from the first time it is seen.
    pub(crate) fn pending(&mut self, now: Instant, partial: bool) {
        if !partial {
            self.partial_since = None;
        } else if self.partial_since.is_none() {
            self.partial_since = Some(now);
        }
    }

    /// Applies the rule (module doc) at `now`. `carries_live_call` is asked only when
    /// the connection has been silent for the timeout with no message half-sent for
    /// as long.
    #[must_use]
    pub(crate) fn check(
        &mut self,
        timeout: Duration,
        now: Instant,
        carries_live_call: impl FnOnce() -> bool,
    ) -> Verdict {
        if self.partial_since.is_some_and(|p| p + timeout <= now) {
            return Verdict::Close;
        }
        if self.since + timeout > now {
            return Verdict::Keep {
                until: self.expiry(timeout),
            };
        }
        if !carries_live_call() {
            return Verdict::Close;
        }
        // A live call keeps it for another timeout: its peer need not speak meanwhile.
        self.since = now;
        Verdict::Keep {
            until: self.expiry(timeout),
        }
    }

    /// The earliest instant `check` may close it, if nothing arrives before.
    fn expiry(&self, timeout: Duration) -> Instant {
        let silent = self.since + timeout;
        self.partial_since
            .map_or(silent, |p| silent.min(p + timeout))
    }
}

/// The sweep schedule of one shard's accepted connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct IdleSweep {
    timeout: Duration,
    /// The next sweep; `None` while no accepted connection is open.
    next: Option<Instant>,
}

impl IdleSweep {
    pub(crate) fn new(timeout: Duration) -> IdleSweep {
        IdleSweep {
            timeout,
            next: None,
        }
    }

    /// The idle timeout.
    pub(crate) fn timeout(&self) -> Duration {
        self.timeout
    }

    /// A connection was accepted at `now`: the sweep comes by its expiry.
    pub(crate) fn accepted(&mut self, now: Instant) {
        let expiry = now + self.timeout;
        self.next = Some(self.next.map_or(expiry, |n| n.min(expiry)));
    }

    /// The sweep is due at `now`.
    #[must_use]
    pub(crate) fn due(&self, now: Instant) -> bool {
        self.next.is_some_and(|n| n <= now)
    }

    /// A sweep at `now` ended; `earliest` is the soonest `Verdict::Keep::until` of the
    /// connections left (`None`: none left).
    pub(crate) fn swept(&mut self, now: Instant, earliest: Option<Instant>) {
        let granularity = (self.timeout / 10).max(Duration::from_millis(1));
        self.next = earliest.map(|e| e.max(now + granularity));
    }

    /// When the shard must wake for the next sweep.
    #[must_use]
    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        self.next
    }
}

#[cfg(test)]
mod tests;
