//! `rtpcheck` (`min_packets`, `direction`, `timeout_ms`): counts a call's packets since
//! its media began; the verdict is taken when the timeout expires (the threshold reached
//! or not) or, without a timeout, when the call ends. A failed verdict does not cut the
//! call short: the call runs its scenario to the end and then counts as failed.
//!
//! Owns: nothing of its own; `MediaEngine` methods over each session's `check` and the
//! engine's `checks_due` heap. Must not: read a clock.

use std::cmp::Reverse;
use std::time::Instant;

use super::MediaEngine;
use super::session::Session;

impl MediaEngine {
    /// Packets call `s` sent (finished streams, echoes, and the streams still playing)
    /// and received so far.
    pub(super) fn packet_counts(&self, s: &Session) -> (u64, u64) {
        let playing: u64 = [s.audio, s.video, s.dtmf]
            .into_iter()
            .flatten()
            .filter_map(|h| self.scheduler.stream(h))
            .map(|st| st.stats().packets)
            .sum();
        (s.sent_packets + playing, s.receiver.stats().packets)
    }

    /// Takes the verdict of each `rtpcheck` whose `timeout_ms` has expired.
    pub(super) fn check_timeouts(&mut self, now: Instant) {
        while let Some(&Reverse((at, call))) = self.checks_due.peek() {
            if at > now {
                break;
            }
            self.checks_due.pop();
            let Some(s) = self.sessions.get(&call) else {
                continue;
            };
            // A later rtpcheck of the call replaced this one: its entry is stale.
            if s.check
                .is_none_or(|c| c.deadline != Some(at) || c.verdict.is_some())
            {
                continue;
            }
            let (sent, received) = self.packet_counts(s);
            self.take_verdict(call, sent, received);
        }
    }

    /// Records call `call`'s rtpcheck verdict from these counts (once).
    pub(super) fn take_verdict(&mut self, call: u64, sent: u64, received: u64) {
        let Some(c) = self.sessions.get_mut(&call).and_then(|s| s.check.as_mut()) else {
            return;
        };
        if c.verdict.is_some() {
            return;
        }
        let passed = c.passes(sent, received);
        c.verdict = Some(passed);
        if !passed {
            let (n, direction) = (c.check.min_packets, c.check.direction);
            let when = if c.deadline.is_some() {
                "when its timeout expired"
            } else {
                "at the end of the call"
            };
            self.warnings.push_back(format!(
                "call {call}: rtpcheck failed {when}: {sent} RTP packets sent, {received} received, {n} required ({direction:?})"
            ));
        }
    }
}
