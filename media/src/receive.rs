//! Receive-side statistics for one call's media port: RFC 3550 A.1 extended sequence
//! numbers, A.3 expected/lost and interval fraction lost, A.8 interarrival jitter, plus
//! the RTCP we get back (SR for LSR/DLSR, report blocks about our stream, round trip).
//!
//! Owns: per-source counters and the report block we would send. Peer input never returns
//! `Err`: malformed packets, packets from an unexpected address and SSRC changes are
//! counted and the receiver carries on. Must not read a clock (arrival time is the `now`
//! passed in) or allocate per packet. Driven by the shard for each datagram on the port:
//! `handle_rtp` or `handle_rtcp` (demultiplex with `rtp::looks_like_rtcp`), then
//! `report_block` when it builds an SR/RR.
//!
//! Departure from A.1: there is no probation (MIN_SEQUENTIAL = 0), so the first packet of
//! a source counts. A load tester must count a one-packet stream; the MAX_DROPOUT /
//! MAX_MISORDER restart rule is kept.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::rtp::{ReportBlock, RtcpPacket, RtpPacket, rtcp_packets};

const RTP_SEQ_MOD: u32 = 1 << 16;
const MAX_DROPOUT: u16 = 3000;
const MAX_MISORDER: u16 = 100;

/// Which source addresses are accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourcePolicy {
    /// Any address (SIPp's behaviour).
    Any,
    /// Only this address (from the SDP); others are counted and dropped.
    Fixed(SocketAddr),
    /// The first address seen becomes the only one accepted (symmetric RTP).
    LatchFirst,
}

/// What happened to one datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Received<'a> {
    /// An RTP packet, counted; the parsed packet borrows the datagram.
    Accepted(RtpPacket<'a>),
    /// Counted as `duplicate_or_late`: a sequence number already passed.
    Late(RtpPacket<'a>),
    /// Counted as `bad_sequence`: a jump beyond MAX_DROPOUT, waiting for confirmation.
    BadSequence,
    /// Counted as `unexpected_source`, dropped.
    UnexpectedSource,
    /// Counted as `malformed`, dropped.
    Malformed,
}

/// Counters for the summary and for quality estimates.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ReceiveStats {
    /// RTP packets accepted (including late ones).
    pub packets: u64,
    /// Datagram bytes of accepted packets.
    pub bytes: u64,
    /// Packets whose sequence number was already passed (duplicates or reordered).
    pub duplicate_or_late: u64,
    /// Packets dropped by the MAX_DROPOUT rule.
    pub bad_sequence: u64,
    /// Datagrams from an address the policy rejects.
    pub unexpected_source: u64,
    /// Datagrams that are not RTP (or RTCP, in `handle_rtcp`).
    pub malformed: u64,
    /// Times the sender's SSRC changed.
    pub ssrc_changes: u64,
    /// Packets expected from sequence numbers, over all SSRCs (RFC 3550 A.3).
    pub expected: u64,
    /// Cumulative lost: expected − received (negative with duplicates).
    pub lost: i64,
    /// Current interarrival jitter, in timestamp units (A.8).
    pub jitter_ts: u32,
    /// Largest interarrival jitter seen.
    pub jitter_peak_ts: u32,
    /// RTCP compound packets received.
    pub rtcp_packets: u64,
    /// Sender reports received.
    pub rtcp_sender_reports: u64,
    /// Receiver reports received.
    pub rtcp_receiver_reports: u64,
    /// Report blocks about our own stream.
    pub rtcp_reception_reports: u64,
    /// Largest fraction lost the peer reported about us (0..=1).
    pub remote_max_fraction_lost: f64,
    /// Largest jitter the peer reported about us, in timestamp units.
    pub remote_max_jitter_ts: u32,
    /// Last round-trip time from LSR/DLSR.
    pub rtt: Option<Duration>,
}

impl ReceiveStats {
    /// Cumulative loss as a fraction of expected packets (0..=1).
    #[must_use]
    pub fn loss_fraction(&self) -> f64 {
        if self.expected == 0 || self.lost <= 0 {
            0.0
        } else {
            (self.lost as f64 / self.expected as f64).min(1.0)
        }
    }
}

/// Sequence and jitter state of the current SSRC.
#[derive(Debug, Clone, Copy)]
struct SourceState {
    ssrc: u32,
    max_seq: u16,
    cycles: u32,
    base_seq: u32,
    bad_seq: u32,
    received: u64,
    expected_prior: u64,
    received_prior: u64,
    /// Last transit time (arrival − timestamp), wrapping, in timestamp units.
    transit: Option<i32>,
    last_timestamp: u32,
    /// Jitter × 16 (A.8 integer form).
    jitter16: u32,
    /// Last SR from this source: compact NTP and when it arrived.
    last_sr: Option<(u32, Instant)>,
}

impl SourceState {
    fn new(ssrc: u32, seq: u16) -> SourceState {
        SourceState {
            ssrc,
            max_seq: seq,
            cycles: 0,
            base_seq: u32::from(seq),
            bad_seq: RTP_SEQ_MOD + 1,
            received: 0,
            expected_prior: 0,
            received_prior: 0,
            transit: None,
            last_timestamp: 0,
            jitter16: 0,
            last_sr: None,
        }
    }

    fn extended_max(&self) -> u64 {
        u64::from(self.cycles) + u64::from(self.max_seq)
    }

    fn expected(&self) -> u64 {
        (self.extended_max() + 1).saturating_sub(u64::from(self.base_seq))
    }

    /// RFC 3550 A.1 `update_seq` without probation. Returns how the packet counts.
    fn update_seq(&mut self, seq: u16) -> SeqVerdict {
        let udelta = seq.wrapping_sub(self.max_seq);
        if udelta < MAX_DROPOUT {
            if seq < self.max_seq {
                self.cycles = self.cycles.wrapping_add(RTP_SEQ_MOD);
            }
            self.max_seq = seq;
            SeqVerdict::InOrder
        } else if u32::from(udelta) <= RTP_SEQ_MOD - u32::from(MAX_MISORDER) {
            if u32::from(seq) == self.bad_seq {
                // Two sequential packets after a big jump: the sender restarted.
                SeqVerdict::Restart
            } else {
                self.bad_seq = (u32::from(seq) + 1) & (RTP_SEQ_MOD - 1);
                SeqVerdict::Bad
            }
        } else {
            SeqVerdict::Late
        }
    }
}

enum SeqVerdict {
    InOrder,
    Restart,
    Late,
    Bad,
}

/// Receive side of one call's RTP port. See the module docs for how it is driven.
#[derive(Debug, Clone)]
pub struct RtpReceiver {
    policy: SourcePolicy,
    latched: Option<SocketAddr>,
    clock_rate: u32,
    epoch: Option<Instant>,
    source: Option<SourceState>,
    /// Expected/received folded in from earlier SSRCs.
    earlier_expected: u64,
    earlier_received: u64,
    local_ssrc: Option<u32>,
    /// SRs we sent: (compact NTP, when), newest last; for round-trip times.
    sent_srs: [Option<(u32, Instant)>; 4],
    stats: ReceiveStats,
}

impl RtpReceiver {
    /// A receiver for a stream with `clock_rate` Hz timestamps (8000 for G.711).
    #[must_use]
    pub fn new(policy: SourcePolicy, clock_rate: u32) -> RtpReceiver {
        RtpReceiver {
            policy,
            latched: None,
            clock_rate: clock_rate.max(1),
            epoch: None,
            source: None,
            earlier_expected: 0,
            earlier_received: 0,
            local_ssrc: None,
            sent_srs: [None; 4],
            stats: ReceiveStats::default(),
        }
    }

    /// Changes the accepted source (a re-INVITE moved the media).
    pub fn set_policy(&mut self, policy: SourcePolicy) {
        self.policy = policy;
        self.latched = None;
    }

    /// Our own SSRC, so RTCP report blocks about our stream are recognised.
    pub fn set_local_ssrc(&mut self, ssrc: u32) {
        self.local_ssrc = Some(ssrc);
    }

    /// The counters so far.
    #[must_use]
    pub fn stats(&self) -> ReceiveStats {
        self.stats
    }

    /// The SSRC currently received, if any.
    #[must_use]
    pub fn remote_ssrc(&self) -> Option<u32> {
        self.source.map(|s| s.ssrc)
    }

    fn source_ok(&mut self, src: SocketAddr) -> bool {
        match self.policy {
            SourcePolicy::Any => true,
            SourcePolicy::Fixed(a) => a == src,
            SourcePolicy::LatchFirst => *self.latched.get_or_insert(src) == src,
        }
    }

    /// Accounts one datagram received on the RTP port from `src` at `now`.
    pub fn handle_rtp<'a>(
        &mut self,
        now: Instant,
        src: SocketAddr,
        datagram: &'a [u8],
    ) -> Received<'a> {
        if !self.source_ok(src) {
            self.stats.unexpected_source += 1;
            return Received::UnexpectedSource;
        }
        let Ok(pkt) = RtpPacket::parse(datagram) else {
            self.stats.malformed += 1;
            return Received::Malformed;
        };
        let h = pkt.header;
        let mut fresh_source = false;
        let source = match &mut self.source {
            Some(s) if s.ssrc == h.ssrc => s,
            other => {
                if let Some(old) = other {
                    self.stats.ssrc_changes += 1;
                    self.earlier_expected += old.expected();
                    self.earlier_received += old.received;
                }
                fresh_source = true;
                other.insert(SourceState::new(h.ssrc, h.sequence))
            }
        };
        let verdict = if fresh_source {
            SeqVerdict::InOrder
        } else {
            source.update_seq(h.sequence)
        };
        match verdict {
            SeqVerdict::Bad => {
                self.stats.bad_sequence += 1;
                return Received::BadSequence;
            }
            SeqVerdict::Restart => {
                // Fold the old run into the totals; keep jitter and the last SR.
                self.earlier_expected += source.expected();
                self.earlier_received += source.received;
                let fresh = SourceState {
                    jitter16: source.jitter16,
                    last_sr: source.last_sr,
                    transit: source.transit,
                    last_timestamp: source.last_timestamp,
                    ..SourceState::new(source.ssrc, h.sequence)
                };
                *source = fresh;
            }
            SeqVerdict::InOrder | SeqVerdict::Late => {}
        }
        source.received += 1;
        // A.8 jitter, skipping packets that repeat the previous timestamp (RFC 4733
        // event updates and retransmits share their start timestamp).
        let epoch = *self.epoch.get_or_insert(now);
        let elapsed = now.saturating_duration_since(epoch);
        let arrival = (elapsed.as_nanos() * u128::from(self.clock_rate) / 1_000_000_000) as u32;
        if source.transit.is_none() || h.timestamp != source.last_timestamp {
            let transit = arrival.wrapping_sub(h.timestamp) as i32;
            if let Some(prev) = source.transit {
                let d = transit.wrapping_sub(prev).unsigned_abs();
                // jitter16 += |d| - jitter16/16, rounded, as in RFC 3550 A.8.
                source.jitter16 = source
                    .jitter16
                    .wrapping_add(d.min(u32::MAX >> 5))
                    .wrapping_sub((source.jitter16 + 8) >> 4);
            }
            source.transit = Some(transit);
            source.last_timestamp = h.timestamp;
        }
        let jitter = source.jitter16 >> 4;
        let expected = self.earlier_expected + source.expected();
        let received = self.earlier_received + source.received;
        self.stats.packets += 1;
        self.stats.bytes += datagram.len() as u64;
        self.stats.expected = expected;
        self.stats.lost = i64::try_from(expected).unwrap_or(i64::MAX)
            - i64::try_from(received).unwrap_or(i64::MAX);
        self.stats.jitter_ts = jitter;
        self.stats.jitter_peak_ts = self.stats.jitter_peak_ts.max(jitter);
        match verdict {
            SeqVerdict::Late => {
                self.stats.duplicate_or_late += 1;
                Received::Late(pkt)
            }
            _ => Received::Accepted(pkt),
        }
    }

    /// Records that we sent an SR with this compact NTP timestamp at `now`, so a report
    /// block echoing it gives a round-trip time.
    pub fn note_sender_report_sent(&mut self, now: Instant, compact_ntp: u32) {
        self.sent_srs.rotate_left(1);
        self.sent_srs[3] = Some((compact_ntp, now));
    }

    /// Accounts one RTCP datagram from `src`.
    pub fn handle_rtcp(&mut self, now: Instant, src: SocketAddr, datagram: &[u8]) {
        let ok = match self.policy {
            SourcePolicy::Any => true,
            // RTCP comes from port+1 (or the same port with rtcp-mux): match the IP only.
            SourcePolicy::Fixed(a) => a.ip() == src.ip(),
            SourcePolicy::LatchFirst => self.latched.is_none_or(|a| a.ip() == src.ip()),
        };
        if !ok {
            self.stats.unexpected_source += 1;
            return;
        }
        self.stats.rtcp_packets += 1;
        for pkt in rtcp_packets(datagram) {
            let blocks = match pkt {
                Err(_) => {
                    self.stats.malformed += 1;
                    return;
                }
                Ok(RtcpPacket::SenderReport { ssrc, info, blocks }) => {
                    self.stats.rtcp_sender_reports += 1;
                    if let Some(s) = self.source.as_mut().filter(|s| s.ssrc == ssrc) {
                        s.last_sr = Some((info.compact_ntp(), now));
                    }
                    blocks
                }
                Ok(RtcpPacket::ReceiverReport { blocks, .. }) => {
                    self.stats.rtcp_receiver_reports += 1;
                    blocks
                }
                Ok(RtcpPacket::Other { .. }) => continue,
            };
            for b in blocks {
                if self.local_ssrc.is_some_and(|l| l != b.ssrc) {
                    continue;
                }
                self.stats.rtcp_reception_reports += 1;
                let frac = f64::from(b.fraction_lost) / 256.0;
                self.stats.remote_max_fraction_lost = self.stats.remote_max_fraction_lost.max(frac);
                self.stats.remote_max_jitter_ts = self.stats.remote_max_jitter_ts.max(b.jitter);
                if b.last_sr != 0
                    && let Some((_, sent)) = self
                        .sent_srs
                        .iter()
                        .flatten()
                        .find(|(ntp, _)| *ntp == b.last_sr)
                {
                    let dlsr = Duration::from_nanos(
                        u64::from(b.delay_since_last_sr) * 1_000_000_000 / 65_536,
                    );
                    self.stats.rtt =
                        Some(now.saturating_duration_since(*sent).saturating_sub(dlsr));
                }
            }
        }
    }

    /// The report block about the current source for our next SR/RR (RFC 3550 §6.4.1,
    /// A.3), or `None` before any packet. Starts a new interval for the fraction lost.
    pub fn report_block(&mut self, now: Instant) -> Option<ReportBlock> {
        let s = self.source.as_mut()?;
        let expected = s.expected();
        let expected_interval = expected.saturating_sub(s.expected_prior);
        let received_interval = s.received.saturating_sub(s.received_prior);
        s.expected_prior = expected;
        s.received_prior = s.received;
        let lost_interval = expected_interval.saturating_sub(received_interval);
        let fraction_lost = if expected_interval == 0 || lost_interval == 0 {
            0
        } else {
            // lost_interval <= expected_interval, so the quotient is at most 256; clamp.
            ((lost_interval << 8) / expected_interval).min(255) as u8
        };
        let lost = i64::try_from(expected).unwrap_or(i64::MAX)
            - i64::try_from(s.received).unwrap_or(i64::MAX);
        let (last_sr, delay_since_last_sr) = match s.last_sr {
            Some((ntp, at)) => {
                let d = now.saturating_duration_since(at);
                let units = d.as_nanos() * 65_536 / 1_000_000_000;
                (ntp, u32::try_from(units).unwrap_or(u32::MAX))
            }
            None => (0, 0),
        };
        Some(ReportBlock {
            ssrc: s.ssrc,
            fraction_lost,
            cumulative_lost: i32::try_from(lost.clamp(-0x80_0000, 0x7F_FFFF)).unwrap_or(0),
            highest_sequence: (s.extended_max() & 0xFFFF_FFFF) as u32,
            jitter: s.jitter16 >> 4,
            last_sr,
            delay_since_last_sr,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rtp::{
        RtpHeader, SenderInfo, write_receiver_report, write_rtp, write_sender_report,
    };

    fn addr(port: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], port))
    }

    fn pkt(seq: u16, ts: u32, ssrc: u32) -> Vec<u8> {
        let mut b = vec![0u8; 172];
        let h = RtpHeader {
            marker: false,
            payload_type: 0,
            sequence: seq,
            timestamp: ts,
            ssrc,
        };
        let n = write_rtp(&h, &[0xFF; 160], &mut b).unwrap();
        b.truncate(n);
        b
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn a_perfect_stream_has_no_loss_and_no_jitter() {
        let t0 = Instant::now();
        let mut r = RtpReceiver::new(SourcePolicy::Any, 8000);
        for i in 0..100u16 {
            let b = pkt(65500u16.wrapping_add(i), 1000 + 160 * u32::from(i), 9);
            assert!(matches!(
                r.handle_rtp(t0 + ms(20 * u64::from(i)), addr(4000), &b),
                Received::Accepted(_)
            ));
        }
        let s = r.stats();
        assert_eq!(
            (s.packets, s.expected, s.lost, s.jitter_ts),
            (100, 100, 0, 0)
        );
        let rb = r.report_block(t0 + ms(2000)).unwrap();
        assert_eq!(rb.highest_sequence, 65536 + 63); // wrapped once: 65500 + 99 - 65536
        assert_eq!((rb.fraction_lost, rb.cumulative_lost, rb.ssrc), (0, 0, 9));
    }

    #[test]
    fn gaps_count_as_loss_and_the_interval_fraction_resets() {
        let t0 = Instant::now();
        let mut r = RtpReceiver::new(SourcePolicy::Any, 8000);
        for i in (0..40u16).filter(|i| i % 4 != 3) {
            let _ = r.handle_rtp(
                t0 + ms(20 * u64::from(i)),
                addr(1),
                &pkt(i, 160 * u32::from(i), 1),
            );
        }
        let s = r.stats();
        assert_eq!(s.expected, 39); // 0..=38 (39 is lost but never seen past)
        assert_eq!(s.lost, 9);
        assert!((s.loss_fraction() - 9.0 / 39.0).abs() < 1e-9);
        let rb = r.report_block(t0).unwrap();
        assert_eq!(rb.fraction_lost, (9 * 256 / 39) as u8);
        assert_eq!(rb.cumulative_lost, 9);
        let _ = r.handle_rtp(t0, addr(1), &pkt(40, 6400, 1));
        assert_eq!(r.report_block(t0).unwrap().fraction_lost, (256 / 2) as u8); // 39 lost, 40 got
    }

    #[test]
    fn jitter_follows_rfc_3550_a8_for_alternating_delay() {
        let t0 = Instant::now();
        let mut r = RtpReceiver::new(SourcePolicy::Any, 8000);
        // every other packet arrives 10 ms (80 units) late: |D| = 80 each time
        for i in 0..400u16 {
            let late = if i % 2 == 1 { 10 } else { 0 };
            let _ = r.handle_rtp(
                t0 + ms(20 * u64::from(i) + late),
                addr(1),
                &pkt(i, 160 * u32::from(i), 1),
            );
        }
        // J converges to 80
        let j = r.stats().jitter_ts;
        assert!((78..=80).contains(&j), "{j}");
        assert!(r.stats().jitter_peak_ts >= j);
    }

    #[test]
    fn repeated_timestamps_do_not_inflate_jitter() {
        let t0 = Instant::now();
        let mut r = RtpReceiver::new(SourcePolicy::Any, 8000);
        // a DTMF event: eight packets with one timestamp, 20 ms apart
        for i in 0..8u16 {
            let _ = r.handle_rtp(t0 + ms(20 * u64::from(i)), addr(1), &pkt(i, 480, 1));
        }
        let _ = r.handle_rtp(t0 + ms(160), addr(1), &pkt(8, 480 + 8 * 160, 1));
        assert_eq!(r.stats().jitter_ts, 0);
    }

    #[test]
    fn unexpected_sources_and_garbage_are_counted_not_fatal() {
        let t0 = Instant::now();
        let mut r = RtpReceiver::new(SourcePolicy::Fixed(addr(4000)), 8000);
        assert_eq!(
            r.handle_rtp(t0, addr(4001), &pkt(1, 0, 1)),
            Received::UnexpectedSource
        );
        assert_eq!(r.handle_rtp(t0, addr(4000), b"hello"), Received::Malformed);
        assert!(matches!(
            r.handle_rtp(t0, addr(4000), &pkt(1, 0, 1)),
            Received::Accepted(_)
        ));
        let s = r.stats();
        assert_eq!((s.unexpected_source, s.malformed, s.packets), (1, 1, 1));

        let mut l = RtpReceiver::new(SourcePolicy::LatchFirst, 8000);
        assert!(matches!(
            l.handle_rtp(t0, addr(5), &pkt(1, 0, 1)),
            Received::Accepted(_)
        ));
        assert_eq!(
            l.handle_rtp(t0, addr(6), &pkt(2, 160, 1)),
            Received::UnexpectedSource
        );
        l.handle_rtcp(
            t0,
            SocketAddr::from(([10, 0, 0, 1], 7)),
            &[0x80, 201, 0, 1, 0, 0, 0, 1],
        );
        assert_eq!(l.stats().unexpected_source, 2);
    }

    #[test]
    fn duplicates_and_big_jumps_follow_a1() {
        let t0 = Instant::now();
        let mut r = RtpReceiver::new(SourcePolicy::Any, 8000);
        for i in 0..10u16 {
            let _ = r.handle_rtp(t0, addr(1), &pkt(i, 0, 1));
        }
        assert!(matches!(
            r.handle_rtp(t0, addr(1), &pkt(5, 0, 1)),
            Received::Late(_)
        ));
        assert_eq!(r.stats().lost, -1);
        // a jump of 20000 is held back until the next sequential packet confirms it
        assert_eq!(
            r.handle_rtp(t0, addr(1), &pkt(20_000, 0, 1)),
            Received::BadSequence
        );
        assert!(matches!(
            r.handle_rtp(t0, addr(1), &pkt(20_001, 0, 1)),
            Received::Accepted(_)
        ));
        assert!(matches!(
            r.handle_rtp(t0, addr(1), &pkt(20_002, 0, 1)),
            Received::Accepted(_)
        ));
        assert_eq!(r.stats().bad_sequence, 1);
        assert_eq!(r.report_block(t0).unwrap().highest_sequence, 20_002);
    }

    #[test]
    fn ssrc_change_keeps_cumulative_counts() {
        let t0 = Instant::now();
        let mut r = RtpReceiver::new(SourcePolicy::Any, 8000);
        for i in [0u16, 1, 3] {
            let _ = r.handle_rtp(t0, addr(1), &pkt(i, 0, 1));
        }
        for i in [100u16, 101] {
            let _ = r.handle_rtp(t0, addr(1), &pkt(i, 0, 2));
        }
        let s = r.stats();
        assert_eq!(
            (s.ssrc_changes, s.expected, s.lost, s.packets),
            (1, 6, 1, 5)
        );
        assert_eq!(r.remote_ssrc(), Some(2));
    }

    #[test]
    fn rtcp_gives_lsr_dlsr_remote_loss_and_round_trip_time() {
        let t0 = Instant::now();
        let mut r = RtpReceiver::new(SourcePolicy::Any, 8000);
        r.set_local_ssrc(77);
        let _ = r.handle_rtp(t0, addr(1), &pkt(1, 0, 5));
        // the peer's SR
        let mut b = [0u8; 128];
        let info = SenderInfo {
            ntp_timestamp: 0xAAAA_BBBB_CCCC_DDDD,
            ..Default::default()
        };
        let n = write_sender_report(&mut b, 5, &info, &[]).unwrap();
        r.handle_rtcp(t0 + ms(100), addr(2), &b[..n]);
        let rb = r.report_block(t0 + ms(600)).unwrap();
        assert_eq!(rb.last_sr, 0xBBBB_CCCC);
        assert_eq!(rb.delay_since_last_sr, 32_768); // 0.5 s in 1/65536 s
        // our SR went out at t0; the peer answers at t0+300 ms after holding it 100 ms
        r.note_sender_report_sent(t0, 0x1234_5678);
        let block = ReportBlock {
            ssrc: 77,
            fraction_lost: 64,
            jitter: 33,
            last_sr: 0x1234_5678,
            delay_since_last_sr: 6554, // ≈100 ms
            ..Default::default()
        };
        let other = ReportBlock {
            ssrc: 1234,
            fraction_lost: 255,
            ..Default::default()
        };
        let n = write_receiver_report(&mut b, 5, &[block, other]).unwrap();
        r.handle_rtcp(t0 + ms(300), addr(2), &b[..n]);
        let s = r.stats();
        assert_eq!(
            (
                s.rtcp_packets,
                s.rtcp_sender_reports,
                s.rtcp_receiver_reports,
                s.rtcp_reception_reports
            ),
            (2, 1, 1, 1)
        );
        assert!((s.remote_max_fraction_lost - 0.25).abs() < 1e-9);
        assert_eq!(s.remote_max_jitter_ts, 33);
        let rtt = s.rtt.unwrap();
        assert!(rtt > ms(199) && rtt < ms(201), "{rtt:?}");
        r.handle_rtcp(t0, addr(2), &[0x80, 200, 0, 40]);
        assert_eq!(r.stats().malformed, 1);
    }
}
