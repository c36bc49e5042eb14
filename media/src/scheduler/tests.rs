//! Scheduler tests: virtual time only, plus one benchmark-style test that prints the cost
//! per packet (run it with `--release -- --nocapture scheduler_cost` for a real figure).

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::*;
use crate::g711::G711Law;
use crate::pcap_source::PcapPayloads;
use crate::rtp::RtpPacket;
use crate::stream::{Loops, StreamConfig, StreamSource, StreamState};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn silence(now: Instant, ssrc: u32, duration: Option<Duration>) -> RtpStream {
    RtpStream::new(
        now,
        StreamConfig::new(ssrc, 0),
        StreamSource::Silence {
            law: G711Law::MuLaw,
            duration,
        },
    )
}

/// Takes every packet due at `now` (`handle_timeout`, then `poll_transmit` until
/// `None`), handing each to `f`; returns how many.
fn drain(s: &mut RtpScheduler, now: Instant, f: &mut dyn FnMut(StreamHandle, &[u8])) -> usize {
    s.handle_timeout(now);
    let mut buf = Vec::new();
    let mut n = 0;
    while let Some(t) = s.poll_transmit(now, &mut buf) {
        f(t.stream, &buf[..t.len]);
        n += 1;
    }
    n
}

/// Polls every `step` from `from` to `to`, returning (time, ssrc) per packet.
fn run(s: &mut RtpScheduler, from: Instant, to: Instant, step: Duration) -> Vec<(Instant, u32)> {
    let mut got = Vec::new();
    let mut t = from;
    while t <= to {
        drain(s, t, &mut |_, b| {
            got.push((t, RtpPacket::parse(b).unwrap().header.ssrc))
        });
        t += step;
    }
    got
}

#[test]
fn packets_leave_at_their_deadline_never_early() {
    let t0 = Instant::now();
    let mut s = RtpScheduler::new(t0);
    let starts = [0u64, 3_300, 7_250, 19_999];
    for (i, us) in starts.iter().enumerate() {
        s.insert(silence(t0 + Duration::from_micros(*us), i as u32, None));
    }
    let got = run(&mut s, t0, t0 + ms(199), Duration::from_micros(50));
    for (i, us) in starts.iter().enumerate() {
        let times: Vec<_> = got
            .iter()
            .filter(|g| g.1 == i as u32)
            .map(|g| g.0 - t0)
            .collect();
        let expected = (199_000 - us) / 20_000 + 1;
        assert_eq!(times.len() as u64, expected, "stream {i}");
        for (k, at) in times.iter().enumerate() {
            let due = Duration::from_micros(*us) + ms(20 * k as u64);
            assert!(
                *at >= due,
                "early: stream {i} packet {k} at {at:?}, due {due:?}"
            );
            assert!(
                *at - due < Duration::from_micros(50),
                "late: stream {i} packet {k}"
            );
        }
    }
    assert_eq!(s.lateness().total(), 39);
    assert_eq!(s.lateness().within_1ms, 39);
}

#[test]
fn poll_timeout_is_exact_in_the_current_tick_and_none_when_idle() {
    let t0 = Instant::now();
    let mut s = RtpScheduler::new(t0);
    assert_eq!(s.poll_timeout(), None);
    let h = s.insert(silence(t0 + Duration::from_micros(400), 1, None));
    assert_eq!(s.poll_timeout(), Some(t0 + Duration::from_micros(400)));
    assert_eq!(
        drain(&mut s, t0 + Duration::from_micros(100), &mut |_, _| {}),
        0
    );
    assert_eq!(
        drain(&mut s, t0 + Duration::from_micros(400), &mut |_, _| {}),
        1
    );
    // next deadline 20.4 ms: a later slot, so the timeout is that slot's start (20 ms)
    assert_eq!(s.poll_timeout(), Some(t0 + ms(20)));
    assert_eq!(drain(&mut s, t0 + ms(20), &mut |_, _| {}), 0);
    assert_eq!(s.poll_timeout(), Some(t0 + Duration::from_micros(20_400)));
    s.pause(h, t0 + ms(21)).unwrap();
    let _ = drain(&mut s, t0 + ms(21), &mut |_, _| {});
    // only stale entries may remain; polling past them empties the wheel
    let _ = drain(&mut s, t0 + ms(100), &mut |_, _| {});
    assert_eq!(s.poll_timeout(), None);
}

#[test]
fn removed_handles_go_stale_and_slots_are_reused() {
    let t0 = Instant::now();
    let mut s = RtpScheduler::new(t0);
    let a = s.insert(silence(t0, 1, None));
    let removed = s.remove(a).unwrap();
    assert_eq!(removed.ssrc(), 1);
    assert_eq!(s.len(), 0);
    let b = s.insert(silence(t0 + ms(5), 2, None));
    assert_eq!(a.index(), b.index());
    assert_ne!(a, b);
    assert!(s.stream(a).is_none());
    assert_eq!(s.pause(a, t0), Err(SchedulerError::UnknownStream));
    assert!(s.remove(a).is_none());
    // the old entry of `a` (due at t0) must not fire `b` early
    let got = run(&mut s, t0, t0 + ms(30), ms(1));
    assert_eq!(
        got.iter().map(|g| (g.0 - t0, g.1)).collect::<Vec<_>>(),
        vec![(ms(5), 2), (ms(25), 2)]
    );
}

#[test]
fn commands_pause_resume_stop_and_finishing_reports_an_event() {
    let t0 = Instant::now();
    let mut s = RtpScheduler::new(t0);
    let a = s.insert(silence(t0, 1, None));
    let b = s.insert(silence(t0, 2, Some(ms(60))));
    let c = s.insert(silence(t0, 3, None));
    assert_eq!(drain(&mut s, t0, &mut |_, _| {}), 3);
    s.pause(a, t0 + ms(10)).unwrap();
    s.stop(c).unwrap();
    let got = run(&mut s, t0 + ms(10), t0 + ms(100), ms(1));
    assert!(got.iter().all(|g| g.1 == 2));
    assert_eq!(got.len(), 2); // b sent at 0 was before; 20 and 40 here
    assert_eq!(s.poll_event(), Some(SchedulerEvent::StreamFinished(b)));
    assert_eq!(s.poll_event(), None);
    assert_eq!(s.stream(c).unwrap().state(), StreamState::Finished);
    s.resume(a, t0 + ms(100)).unwrap();
    let got = run(&mut s, t0 + ms(100), t0 + ms(150), ms(1));
    assert_eq!(got.iter().filter(|g| g.1 == 1).count(), 3);
    s.send_dtmf(a, t0 + ms(150), "9").unwrap();
    assert_eq!(
        s.send_dtmf(c, t0 + ms(150), "9"),
        Err(SchedulerError::Stream(crate::stream::StreamError::Finished))
    );
    assert!(s.stats(a).unwrap().packets >= 3);
}

#[test]
fn gaps_longer_than_a_wheel_turn_fire_on_time() {
    let t0 = Instant::now();
    let p = Arc::new(PcapPayloads::from_parts([
        (ms(0), &[0x80u8; 12][..]),
        (ms(2500), &[0x80u8; 12][..]),
    ]));
    let mut cfg = StreamConfig::new(1, 0);
    cfg.loops = Loops::Count(1);
    let mut s = RtpScheduler::with_wheel(t0, ms(1), 256);
    s.insert(RtpStream::new(t0, cfg, StreamSource::Pcap(p)));
    let got = run(&mut s, t0, t0 + ms(3000), ms(1));
    assert_eq!(
        got.iter().map(|g| g.0 - t0).collect::<Vec<_>>(),
        vec![ms(0), ms(2500)]
    );
    assert!(matches!(
        s.poll_event(),
        Some(SchedulerEvent::StreamFinished(_))
    ));
}

#[test]
fn a_stall_longer_than_the_wheel_still_fires_every_stream() {
    let t0 = Instant::now();
    let mut s = RtpScheduler::with_wheel(t0, ms(1), 64);
    for i in 0..50 {
        s.insert(silence(t0 + ms(i), i as u32, None));
    }
    let mut n = 0;
    let _ = drain(&mut s, t0 + ms(5000), &mut |_, _| n += 1);
    // each stream sends only the packets due in [4800, 5000] ms (at most MAX_CATCH_UP
    // late): 11 when its phase hits both ends (i % 20 == 0), else 10
    assert_eq!(n, 3 * 11 + 47 * 10);
    let got = run(&mut s, t0 + ms(5001), t0 + ms(5100), ms(1));
    for i in 0..50 {
        assert_eq!(
            got.iter().filter(|g| g.1 == i).count(),
            5,
            "stream {i}: {:?}",
            got.iter()
                .filter(|g| g.1 == i)
                .map(|g| g.0 - t0)
                .collect::<Vec<_>>()
        );
    }
    assert!(s.lateness().later > 0);
}

/// Benchmark-style: 10,000 concurrent 20 ms streams for 2 s of virtual time, polled every
/// 250 µs. Checks every packet went out and prints the wall-clock cost per packet.
#[test]
fn scheduler_cost_for_10k_streams() {
    const STREAMS: u32 = 10_000;
    let t0 = Instant::now();
    let mut s = RtpScheduler::new(t0);
    for i in 0..STREAMS {
        // spread the starts over one 20 ms period
        let offset = Duration::from_nanos(u64::from(i) * 20_000_000 / u64::from(STREAMS));
        s.insert(silence(t0 + offset, i, None));
    }
    let step = Duration::from_micros(250);
    let mut packets = 0u64;
    let mut bytes = 0u64;
    let end = t0 + ms(2000);
    // packets due before the last poll (the one just before `end`)
    let last_poll = end - step;
    let expected: u64 = (0..STREAMS)
        .map(|i| {
            let offset = Duration::from_nanos(u64::from(i) * 20_000_000 / u64::from(STREAMS));
            ((last_poll - t0 - offset).as_nanos() / 20_000_000 + 1) as u64
        })
        .sum();
    let wall = Instant::now();
    let mut t = t0;
    while t < end {
        packets += drain(&mut s, t, &mut |_, b: &[u8]| bytes += b.len() as u64) as u64;
        t += step;
    }
    let elapsed = wall.elapsed();
    assert_eq!(packets, expected);
    assert_eq!(bytes, packets * 172);
    let late = s.lateness();
    assert_eq!(late.within_1ms, packets, "{late:?}");
    assert!(late.max < step);
    let ns = elapsed.as_nanos() as f64 / packets as f64;
    eprintln!(
        "scheduler: {packets} packets from {STREAMS} streams in {elapsed:?} wall = {ns:.0} ns/packet \
         ({:.1} % of one core at 500k packets/s)",
        ns * 500_000.0 / 1e7
    );
}
