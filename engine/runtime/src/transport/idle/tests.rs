//! The idle rule and the sweep schedule in virtual time: `now` is an argument, nothing
//! sleeps or reads the clock after the fixed epoch.

use std::cell::Cell;

use super::*;

/// A fixed epoch: these tests never read the clock again.
#[allow(clippy::disallowed_methods)]
fn epoch() -> Instant {
    Instant::now()
}

const S: fn(u64) -> Duration = Duration::from_secs;
const T: Duration = Duration::from_secs(60);

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

#[test]
fn a_silent_connection_without_a_call_closes_a_timeout_after_it_was_last_heard_from() {
    let t0 = epoch();
    let mut q = Quiet::new(t0);
    q.heard(t0 + S(5));
    assert_eq!(
        q.check(T, t0 + S(64), || false),
        Verdict::Keep { until: t0 + S(65) },
        "not before a timeout of silence"
    );
    assert_eq!(q.check(T, t0 + S(65), || false), Verdict::Close);
}

#[test]
fn calls_are_not_looked_up_before_the_timeout_of_silence() {
    let t0 = epoch();
    let mut q = Quiet::new(t0);
    let asked = Cell::new(0);
    let live = || {
        asked.set(asked.get() + 1);
        true
    };
    for s in [0, 30, 59] {
        assert!(matches!(q.check(T, t0 + S(s), live), Verdict::Keep { .. }));
    }
    assert_eq!(
        asked.get(),
        0,
        "a connection heard from recently costs no call lookup"
    );
    assert!(matches!(q.check(T, t0 + S(60), live), Verdict::Keep { .. }));
    assert_eq!(asked.get(), 1);
}

/// `sipp -sn uac -t t1 -d 90000` against our uas: nothing is said between the ACK and
/// the BYE, 90 s later.
#[test]
fn a_silent_connection_with_a_live_call_is_kept_and_closes_a_timeout_after_the_call_ends() {
    let t0 = epoch();
    let mut q = Quiet::new(t0);
    q.heard(t0 + S(1)); // INVITE .. ACK
    assert_eq!(
        q.check(T, t0 + S(61), || true),
        Verdict::Keep { until: t0 + S(121) },
        "a live call keeps it for another timeout"
    );
    assert_eq!(
        q.check(T, t0 + S(121), || true),
        Verdict::Keep { until: t0 + S(181) }
    );
    // The call ends at 130 s (say by its own timer: nothing arrives); the look at 121 s
    // restarted the clock, so the connection goes at 181 s, not before.
    assert_eq!(
        q.check(T, t0 + S(180), || false),
        Verdict::Keep { until: t0 + S(181) }
    );
    assert_eq!(q.check(T, t0 + S(181), || false), Verdict::Close);
}

#[test]
fn a_message_left_half_sent_for_the_timeout_closes_the_connection_whatever_its_calls() {
    let t0 = epoch();
    let mut q = Quiet::new(t0);
    q.heard(t0 + S(1));
    // The first bytes of a message at 10 s; more of it (still not whole) at 40 s: its
    // wait counts from 10 s.
    q.pending(t0 + S(10), true);
    q.pending(t0 + S(40), true);
    assert_eq!(
        q.check(T, t0 + S(61), || true),
        Verdict::Keep { until: t0 + S(70) },
        "kept for its call until the half message has waited a timeout"
    );
    assert_eq!(q.check(T, t0 + S(70), || true), Verdict::Close);
}

#[test]
fn a_message_completed_in_time_clears_the_half_sent_wait() {
    let t0 = epoch();
    let mut q = Quiet::new(t0);
    q.pending(t0 + S(10), true);
    // The rest arrives with the start of the next message: that one waits from 50 s.
    q.heard(t0 + S(50));
    q.pending(t0 + S(50), true);
    assert_eq!(
        q.check(T, t0 + S(100), || true),
        Verdict::Keep { until: t0 + S(110) }
    );
    // The rest of it, alone.
    q.heard(t0 + S(105));
    q.pending(t0 + S(105), false);
    assert_eq!(
        q.check(T, t0 + S(110), || false),
        Verdict::Keep { until: t0 + S(165) }
    );
    assert_eq!(q.check(T, t0 + S(165), || false), Verdict::Close);
}

#[test]
fn time_never_moves_back() {
    let t0 = epoch();
    let mut q = Quiet::new(t0 + S(10));
    q.heard(t0);
    assert_eq!(
        q.check(T, t0 + S(69), || false),
        Verdict::Keep { until: t0 + S(70) }
    );
}

/// One simulated connection of the drive below.
struct Sim {
    quiet: Quiet,
    open: bool,
    closed_at: Option<Instant>,
    /// Sends a whole message every this many seconds.
    talks_every: Option<u64>,
    last_talk: Instant,
    /// Carries a live call until this instant.
    call_until: Option<Instant>,
}

impl Sim {
    fn new(t0: Instant, talks_every: Option<u64>, call_until: Option<u64>) -> Sim {
        Sim {
            quiet: Quiet::new(t0),
            open: true,
            closed_at: None,
            talks_every,
            last_talk: t0,
            call_until: call_until.map(|s| t0 + S(s)),
        }
    }

    fn next_talk(&self) -> Option<Instant> {
        self.talks_every
            .filter(|_| self.open)
            .map(|e| self.last_talk + S(e))
    }
}

/// Virtual time, sweep and rule together: each connection closes in its window, and
/// the sweep never wakes more often than its granularity.
#[test]
fn driven_in_virtual_time_each_connection_closes_in_its_window() {
    let t0 = epoch();
    let mut idle = IdleSweep::new(T);
    let mut conns = [
        // A talker (every 50 s): never closed.
        Sim::new(t0, Some(50), None),
        // Silent, no call: closed in [60, 66] s.
        Sim::new(t0, None, None),
        // Silent, holds a live call until 150 s: closed a timeout (+ rounding) after
        // the last look that saw the call.
        Sim::new(t0, None, Some(150)),
        // Half a message at once, and a live call for ever: closed in [60, 66] s.
        Sim::new(t0, None, Some(100_000)),
    ];
    conns[3].quiet.pending(t0, true);
    idle.accepted(t0);
    let mut now = t0;
    let mut sweeps = 0;
    for _ in 0..10_000 {
        let talk = conns.iter().filter_map(Sim::next_talk).min();
        now = match (idle.poll_timeout(), talk) {
            (Some(s), Some(t)) => s.min(t),
            (s, t) => s.or(t).expect("the talker keeps the drive going"),
        };
        if now > t0 + S(600) {
            break;
        }
        for c in conns.iter_mut().filter(|c| c.next_talk() == Some(now)) {
            c.last_talk = now;
            c.quiet.heard(now);
        }
        if idle.due(now) {
            sweeps += 1;
            let mut earliest = None::<Instant>;
            for c in conns.iter_mut().filter(|c| c.open) {
                let live = c.call_until.is_some_and(|u| now < u);
                match c.quiet.check(T, now, || live) {
                    Verdict::Close => {
                        c.open = false;
                        c.closed_at = Some(now);
                    }
                    Verdict::Keep { until } => {
                        earliest = Some(earliest.map_or(until, |e| e.min(until)));
                    }
                }
            }
            idle.swept(now, earliest);
        }
    }
    assert!(now > t0 + S(600), "the drive reached 10 minutes");
    assert!(conns[0].open, "the talker stays open");
    let within = |c: &Sim, from: u64, to: u64| {
        let at = c.closed_at.expect("closed") - t0;
        assert!(
            at >= S(from) && at <= S(to),
            "closed at {at:?}, not in [{from}, {to}] s"
        );
    };
    within(&conns[1], 60, 66);
    // The looks at 60 and 120 s see the call; the next, at 180 s, does not.
    within(&conns[2], 180, 186);
    within(&conns[3], 60, 66);
    // The talker is heard every 50 s, so sweeps come about once per expiry.
    assert!(sweeps <= 30, "{sweeps} sweeps in 10 minutes");
}
