//! How a shard loop waits between turns: the policy only (`poller` makes the system
//! call), so it is tested without sockets or clocks.
//!
//! A wake-up costs far more than a datagram: on the 2-vCPU VM of reference/sipp.md a
//! timer wake-up costs about 40 µs of CPU and a datagram waking another CPU about 20 µs
//! there plus 20 µs to its sender (`perf/src/bin/wake_cost.rs`), handling a datagram
//! 1–2 µs. So the loop batches, two ways:
//! - A client pacing at least [`FRAMED_RATE`] calls/s, without media, runs in frames: it sleeps until its
//!   next deadline (at most one [`FRAME`], 1 ms) and does not wake for datagrams. Its
//!   response times stay exact because each datagram carries the kernel's receive time
//!   (SO_TIMESTAMPNS); an ACK or BYE leaves at most one frame late, which no RFC 3261
//!   timer notices. Its peer gets one burst per frame instead of a trickle.
//! - Servers and slower clients wake on the first datagram and answer at once. After a
//!   wake that found a trickle (fewer than [`GATHER_BELOW`] datagrams) the loop lets
//!   datagrams gather for [`COALESCE`] before the next turn; a turn that found a whole
//!   burst (a framed peer's, or the rest of it after a gather) goes straight back to
//!   waiting, since a gather after a burst would only cost one more wake-up. (Gathering
//!   again whenever a gather found anything cost a framed client's server a third
//!   wake-up per frame: its burst trickles in over ~100 µs, the first datagram wakes it,
//!   the gather collects the rest, and the next gather found nothing.)
//!
//! - Stream shards (TCP, TLS, WebSocket) that found messages sleep [`STREAM_COALESCE`]
//!   before the next turn so it reads and writes a batch, and otherwise wait for readiness.
//!
//! Measured (`perf/cpu_per_call.sh 10000`: built-in uac → uas, one core each, CPU-µs per
//! call per role): gathering after every busy turn and no frames 28–31; this policy
//! 20–24, and 17–20 once each call's timer is exact (`timers`). Gathering after every
//! wake instead of after a trickle doubles the server's wake-ups (perf/README.md); not
//! gathering again after a gather that caught a burst: the uas's context switches per
//! call 0.19 / 0.14 -> 0.14 / 0.09 at 10,000 calls/s.

use std::time::Duration;

pub use crate::poller::Wait;

/// Clients pacing at least this many calls per second run in frames (the pacer already
/// releases their calls in 1 ms bursts from this rate on).
pub const FRAMED_RATE: f64 = crate::load::BURST_RATE;
/// A framed client's longest sleep: datagrams wait at most this long to be read.
pub const FRAME: Duration = Duration::from_millis(1);
/// A wake-up that found fewer datagrams than this is a trickle worth gathering.
pub const GATHER_BELOW: usize = 4;
/// How long a trickle is left to gather (at most this is added to a response time).
pub const COALESCE: Duration = Duration::from_micros(200);

/// `COALESCE` for TCP, TLS and WebSocket. Longer than UDP's: a stream loses nothing while
/// bytes wait in the socket (flow control), where a UDP receive buffer overflows.
/// Measured at 10,000 calls/s over t1 (uac+uas, perf/README.md): 200 µs gave 16/19 µs of
/// CPU per call and a 0.56 ms INVITE→200 time, 500 µs 13/14 µs and 0.75 ms (SIPp: 3 ms).
pub const STREAM_COALESCE: Duration = Duration::from_micros(500);

/// How a shard's input arrives, for the wait policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
    /// A UDP client pacing at least [`FRAMED_RATE`] calls/s without media: frames.
    Framed,
    /// Any other UDP shard (servers, slower clients, `-t un`, runs with media).
    Datagrams,
    /// TCP, TLS or WebSocket connections.
    Streams,
}

/// How the loop waits between turns (it keeps no state: each turn's count decides).
#[derive(Debug, Default)]
pub struct WaitPolicy;

impl WaitPolicy {
    /// The wait after a turn that received `drained` datagrams or messages, with the
    /// next deadline `until` away (capped by the loop's longest sleep, which input
    /// interrupts).
    pub fn next(&mut self, shape: Shape, drained: usize, until: Duration) -> Wait {
        if until.is_zero() {
            return Wait::Now;
        }
        match shape {
            Shape::Framed => return Wait::Quiet(until.min(FRAME)),
            Shape::Streams if drained > 0 => return Wait::Sleep(until.min(STREAM_COALESCE)),
            Shape::Streams => return Wait::Readable(until),
            Shape::Datagrams => {}
        }
        if drained > 0 && drained < GATHER_BELOW {
            Wait::Sleep(until.min(COALESCE))
        } else {
            Wait::Readable(until)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn a_framed_client_sleeps_to_its_deadline_whatever_it_received() {
        let mut w = WaitPolicy;
        for drained in [0, 1, 50] {
            assert_eq!(w.next(Shape::Framed, drained, MS), Wait::Quiet(MS));
        }
        let far = Duration::from_millis(25);
        assert_eq!(
            w.next(Shape::Framed, 0, far),
            Wait::Quiet(FRAME),
            "a frame at most"
        );
        assert_eq!(w.next(Shape::Datagrams, 0, far), Wait::Readable(far));
        assert_eq!(w.next(Shape::Framed, 3, Duration::ZERO), Wait::Now);
    }

    #[test]
    fn a_trickle_gathers_while_it_stays_a_trickle() {
        let mut w = WaitPolicy;
        assert_eq!(w.next(Shape::Datagrams, 1, MS), Wait::Sleep(COALESCE));
        assert_eq!(
            w.next(Shape::Datagrams, 2, MS),
            Wait::Sleep(COALESCE),
            "still a trickle: again"
        );
        assert_eq!(
            w.next(Shape::Datagrams, 6, MS),
            Wait::Readable(MS),
            "the gather caught the burst: back to waiting"
        );
        assert_eq!(
            w.next(Shape::Datagrams, 0, MS),
            Wait::Readable(MS),
            "nothing"
        );
        assert_eq!(w.next(Shape::Datagrams, 0, MS), Wait::Readable(MS));
    }

    #[test]
    fn a_burst_goes_straight_back_to_waiting() {
        let mut w = WaitPolicy;
        assert_eq!(w.next(Shape::Datagrams, 30, MS), Wait::Readable(MS));
        assert_eq!(w.next(Shape::Datagrams, 0, MS), Wait::Readable(MS));
    }

    #[test]
    fn streams_that_found_messages_coalesce_and_quiet_ones_wait_for_input() {
        let mut w = WaitPolicy;
        let far = Duration::from_millis(25);
        assert_eq!(w.next(Shape::Streams, 3, far), Wait::Sleep(STREAM_COALESCE));
        assert_eq!(w.next(Shape::Streams, 3, MS / 10), Wait::Sleep(MS / 10));
        assert_eq!(w.next(Shape::Streams, 0, far), Wait::Readable(far));
        assert_eq!(w.next(Shape::Streams, 0, Duration::ZERO), Wait::Now);
    }

    #[test]
    fn a_gather_never_outlasts_the_next_deadline() {
        let mut w = WaitPolicy;
        let soon = Duration::from_micros(50);
        assert_eq!(w.next(Shape::Datagrams, 2, soon), Wait::Sleep(soon));
        assert_eq!(w.next(Shape::Datagrams, 2, Duration::ZERO), Wait::Now);
        assert_eq!(
            w.next(Shape::Datagrams, 0, MS),
            Wait::Readable(MS),
            "a due deadline ends the gathering"
        );
    }
}
