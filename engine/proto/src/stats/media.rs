//! Media counters of a shard (RTP, RTCP, echo, recordings, quality), merged like the other
//! counters; serialised as is, they are the summary's `media` block. A finished call's
//! own numbers are a [`CallMedia`] (its call record's `media` object).
//!
//! Owns: plain cumulative numbers. Must not: read clocks or do I/O. Filled by the
//! shard's `media::MediaEngine` (its totals are copied here once per loop turn) and merged
//! across shards by `ShardStats::merge`.

use serde::{Deserialize, Serialize};

/// Per-call media counters, serialised with Go's PascalCase names (our additions keep
/// the style, and `call_records.jsonl` writes them as they are). Zeros for a call
/// without media.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct CallMedia {
    /// RTP packets sent.
    #[serde(rename = "RTPPacketsSent")]
    pub rtp_packets_sent: u64,
    /// RTP payload octets sent.
    #[serde(rename = "RTPOctetsSent")]
    pub rtp_octets_sent: u64,
    /// RTP packets received.
    #[serde(rename = "RTPPacketsReceived")]
    pub rtp_packets_received: u64,
    /// RTCP sender reports sent.
    #[serde(rename = "RTCPSenderReports")]
    pub rtcp_sender_reports: u64,
    /// RFC 3550 cumulative packets lost on receive.
    #[serde(rename = "RTPPacketsLost")]
    pub rtp_packets_lost: u64,
    /// Final RFC 3550 interarrival jitter, ms.
    #[serde(rename = "JitterMs")]
    pub jitter_ms: f64,
    /// Peak interarrival jitter, RTP timestamp units.
    #[serde(rename = "JitterPeakTs")]
    pub jitter_peak_ts: u32,
    /// ITU-T G.107 E-model estimate (0 when nothing was received).
    #[serde(rename = "MOS")]
    pub mos: f64,
    #[serde(rename = "RFactor")]
    pub r_factor: f64,
}

/// Cumulative media numbers of one shard (or of the run, once merged). Serialised as is,
/// it is summary.json's `media` block (Go's, plus our receive-side and quality numbers;
/// zeros without media): the fields are in that block's order, under its names, and the
/// accumulators behind its averages are not written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct MediaStats {
    /// RTP packets sent (streams, pcap replays, DTMF and echoed packets).
    pub rtp_packets_sent: u64,
    /// RTP payload octets sent (RFC 3550 sender octet count).
    pub rtp_octets_sent: u64,
    /// RTP packets received and accepted (echoed packets included).
    pub rtp_packets_received: u64,
    /// RTCP sender / receiver reports we sent.
    pub rtcp_sender_reports: u64,
    pub rtcp_receiver_reports: u64,
    /// RTCP compound packets received.
    pub rtcp_packets_received: u64,
    /// Report blocks received about our own streams.
    pub rtcp_reception_reports: u64,
    /// Largest fraction lost a peer reported about us (0..=1).
    pub rtcp_max_fraction_lost: f64,
    /// Largest interarrival jitter a peer reported about us, timestamp units.
    pub rtcp_max_jitter_ts: u32,
    /// RTP packets lost, from each finished call's RFC 3550 cumulative loss.
    pub rtp_packets_lost: u64,
    /// Packets echoed back to their source (`-rtp_echo`, `rtp_stream="echo"`).
    pub rtp_packets_echoed: u64,
    /// Datagrams on a media port that no call expects (counted, then dropped or echoed).
    pub rtp_unexpected_source: u64,
    /// Datagrams on a media port that are neither RTP nor RTCP.
    pub rtp_malformed: u64,
    /// SRTP/SRTCP packets whose authentication tag did not match (`-media_srtp`: a wrong
    /// key, tampering or garbage); dropped.
    pub srtp_auth_failures: u64,
    /// Other SRTP/SRTCP packets dropped: replayed, too old, truncated, key expired, or
    /// not protected because the call's key is spent.
    pub srtp_dropped: u64,
    /// Packets a stream skipped because it fell more than 200 ms behind (a stalled shard).
    pub rtp_late_skipped: u64,
    /// Datagrams the media socket refused to send.
    pub rtp_send_errors: u64,
    /// Calls that received at least one RTP packet.
    #[serde(rename = "media_calls_with_rtp_received")]
    pub calls_with_rtp_received: u64,
    /// Fewest RTP packets received by a call with media (0 until one ended).
    pub per_call_min_rtp_packets_received: u64,
    /// Largest RFC 3550 cumulative loss of one call.
    pub rtp_recv_max_cumulative_lost: u64,
    /// Peak interarrival jitter of any call, timestamp units.
    #[serde(rename = "rtp_recv_interarrival_jitter_peak_ts")]
    pub rtp_recv_jitter_peak_ts: u32,
    /// Mean final jitter of the calls that received RTP, ms (0 without).
    pub jitter_ms_avg: f64,
    /// Mean and lowest per-call MOS (ITU-T G.107 E-model) of the calls that received
    /// RTP (0 without).
    pub mos_avg: f64,
    pub mos_min: f64,
    /// Mean per-call R factor (same calls).
    pub r_factor_avg: f64,
    /// WAV recordings written / that failed to write.
    pub recordings_written: u64,
    pub recording_errors: u64,
    /// `rtpcheck` verdicts at call end.
    pub rtpcheck_passed: u64,
    pub rtpcheck_failed: u64,
    /// Packets sent by the RTP scheduler, those that left within 1 ms of their schedule,
    /// and the worst lateness, µs.
    #[serde(rename = "scheduled_packets")]
    pub sched_packets: u64,
    #[serde(rename = "scheduled_within_1ms")]
    pub sched_within_1ms: u64,
    #[serde(rename = "scheduled_max_late_us")]
    pub sched_max_late_us: u64,
    /// Receive calls on the media socket that failed (ICMP errors reported late).
    #[serde(skip)]
    pub rtp_receive_errors: u64,
    /// Media commands that could not run (no SDP address, unknown verb, stale stream…).
    #[serde(skip)]
    pub command_errors: u64,
    /// Calls that had media (a stream, a replay, a recording or RTP received).
    #[serde(skip)]
    pub calls_with_media: u64,
    /// Behind the averages: sums over the calls that received RTP, and their count.
    #[serde(skip)]
    pub jitter_ms_sum: f64,
    #[serde(skip)]
    pub mos_sum: f64,
    #[serde(skip)]
    pub mos_count: u64,
    #[serde(skip)]
    pub r_factor_sum: f64,
}

impl MediaStats {
    /// Adds `o` into `self` (merging shards). Every field of `o` is named below, so a
    /// field added to `MediaStats` is a compile error here until its merge is written.
    pub fn merge(&mut self, o: &MediaStats) {
        let MediaStats {
            rtp_packets_sent,
            rtp_octets_sent,
            rtp_packets_received,
            rtp_packets_lost,
            rtp_packets_echoed,
            rtp_unexpected_source,
            rtp_malformed,
            srtp_auth_failures,
            srtp_dropped,
            rtp_send_errors,
            rtp_late_skipped,
            rtp_receive_errors,
            rtcp_sender_reports,
            rtcp_receiver_reports,
            rtcp_packets_received,
            rtcp_reception_reports,
            rtcp_max_fraction_lost,
            rtcp_max_jitter_ts,
            calls_with_rtp_received,
            calls_with_media,
            per_call_min_rtp_packets_received,
            rtp_recv_max_cumulative_lost,
            rtp_recv_jitter_peak_ts,
            jitter_ms_sum,
            mos_sum,
            mos_count,
            mos_min,
            r_factor_sum,
            recordings_written,
            recording_errors,
            rtpcheck_passed,
            rtpcheck_failed,
            command_errors,
            sched_within_1ms,
            sched_packets,
            sched_max_late_us,
            // Derived from the sums below by `average`.
            jitter_ms_avg: _,
            mos_avg: _,
            r_factor_avg: _,
        } = *o;
        // The fewest packets of a call, over the calls that had media on either side.
        let min_of = |calls: u64, min: u64| if calls == 0 { u64::MAX } else { min };
        let per_call_min = min_of(
            self.calls_with_media,
            self.per_call_min_rtp_packets_received,
        )
        .min(min_of(calls_with_media, per_call_min_rtp_packets_received));
        let per_call_min = if per_call_min == u64::MAX {
            0
        } else {
            per_call_min
        };
        self.mos_min = match (self.mos_count > 0, mos_count > 0) {
            (true, true) => self.mos_min.min(mos_min),
            (false, true) => mos_min,
            _ => self.mos_min,
        };
        self.rtp_packets_sent += rtp_packets_sent;
        self.rtp_octets_sent += rtp_octets_sent;
        self.rtp_packets_received += rtp_packets_received;
        self.rtp_packets_lost += rtp_packets_lost;
        self.rtp_packets_echoed += rtp_packets_echoed;
        self.rtp_unexpected_source += rtp_unexpected_source;
        self.rtp_malformed += rtp_malformed;
        self.srtp_auth_failures += srtp_auth_failures;
        self.srtp_dropped += srtp_dropped;
        self.rtp_send_errors += rtp_send_errors;
        self.rtp_receive_errors += rtp_receive_errors;
        self.rtp_late_skipped += rtp_late_skipped;
        self.rtcp_sender_reports += rtcp_sender_reports;
        self.rtcp_receiver_reports += rtcp_receiver_reports;
        self.rtcp_packets_received += rtcp_packets_received;
        self.rtcp_reception_reports += rtcp_reception_reports;
        self.rtcp_max_fraction_lost = self.rtcp_max_fraction_lost.max(rtcp_max_fraction_lost);
        self.rtcp_max_jitter_ts = self.rtcp_max_jitter_ts.max(rtcp_max_jitter_ts);
        self.calls_with_rtp_received += calls_with_rtp_received;
        self.calls_with_media += calls_with_media;
        self.per_call_min_rtp_packets_received = per_call_min;
        self.rtp_recv_max_cumulative_lost = self
            .rtp_recv_max_cumulative_lost
            .max(rtp_recv_max_cumulative_lost);
        self.rtp_recv_jitter_peak_ts = self.rtp_recv_jitter_peak_ts.max(rtp_recv_jitter_peak_ts);
        self.jitter_ms_sum += jitter_ms_sum;
        self.mos_sum += mos_sum;
        self.mos_count += mos_count;
        self.r_factor_sum += r_factor_sum;
        self.recordings_written += recordings_written;
        self.recording_errors += recording_errors;
        self.rtpcheck_passed += rtpcheck_passed;
        self.rtpcheck_failed += rtpcheck_failed;
        self.command_errors += command_errors;
        self.sched_within_1ms += sched_within_1ms;
        self.sched_packets += sched_packets;
        self.sched_max_late_us = self.sched_max_late_us.max(sched_max_late_us);
        self.average();
    }

    /// Books one finished call's media numbers into the shard totals.
    pub fn add_call(&mut self, c: &CallMedia) {
        self.calls_with_media += 1;
        let first = self.calls_with_media == 1;
        self.per_call_min_rtp_packets_received = if first {
            c.rtp_packets_received
        } else {
            self.per_call_min_rtp_packets_received
                .min(c.rtp_packets_received)
        };
        self.rtp_packets_lost += c.rtp_packets_lost;
        self.rtp_recv_max_cumulative_lost =
            self.rtp_recv_max_cumulative_lost.max(c.rtp_packets_lost);
        if c.rtp_packets_received > 0 {
            self.calls_with_rtp_received += 1;
            self.jitter_ms_sum += c.jitter_ms;
            self.mos_min = if self.mos_count == 0 {
                c.mos
            } else {
                self.mos_min.min(c.mos)
            };
            self.mos_sum += c.mos;
            self.mos_count += 1;
            self.r_factor_sum += c.r_factor;
        }
        self.average();
    }

    /// Brings the averages up to date with the sums.
    fn average(&mut self) {
        let mean = |sum: f64, n: u64| if n == 0 { 0.0 } else { sum / n as f64 };
        self.jitter_ms_avg = mean(self.jitter_ms_sum, self.calls_with_rtp_received);
        self.mos_avg = mean(self.mos_sum, self.mos_count);
        self.r_factor_avg = mean(self.r_factor_sum, self.mos_count);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(received: u64, lost: u64, jitter_ms: f64, mos: f64) -> CallMedia {
        CallMedia {
            rtp_packets_received: received,
            rtp_packets_lost: lost,
            jitter_ms,
            mos,
            r_factor: mos * 20.0,
            ..Default::default()
        }
    }

    #[test]
    fn calls_fold_into_min_mean_and_peak() {
        let mut s = MediaStats::default();
        s.add_call(&call(100, 2, 1.0, 4.4));
        s.add_call(&call(50, 7, 3.0, 4.0));
        s.add_call(&call(0, 0, 0.0, 0.0));
        assert_eq!(s.calls_with_media, 3);
        assert_eq!(s.calls_with_rtp_received, 2);
        assert_eq!(s.per_call_min_rtp_packets_received, 0);
        assert_eq!(s.rtp_packets_lost, 9);
        assert_eq!(s.rtp_recv_max_cumulative_lost, 7);
        assert!((s.mos_avg - 4.2).abs() < 1e-9);
        assert!((s.jitter_ms_avg - 2.0).abs() < 1e-9);
        assert_eq!(s.mos_min, 4.0);
    }

    #[test]
    fn merging_shards_keeps_minimums_of_shards_that_had_calls() {
        let mut a = MediaStats::default();
        a.add_call(&call(80, 0, 1.0, 4.3));
        a.rtp_packets_sent = 10;
        let b = MediaStats {
            rtp_packets_sent: 5,
            ..Default::default()
        };
        let mut merged = MediaStats::default();
        merged.merge(&b);
        merged.merge(&a);
        assert_eq!(merged.rtp_packets_sent, 15);
        assert_eq!(merged.per_call_min_rtp_packets_received, 80);
        assert_eq!(merged.mos_min, 4.3);
        let mut c = MediaStats::default();
        c.add_call(&call(20, 1, 2.0, 3.9));
        merged.merge(&c);
        assert_eq!(merged.per_call_min_rtp_packets_received, 20);
        assert_eq!(merged.mos_min, 3.9);
        assert_eq!(merged.mos_count, 2);
    }

    #[test]
    fn an_empty_run_reports_zeros_not_sentinels() {
        let mut s = MediaStats::default();
        s.merge(&MediaStats::default());
        assert_eq!(s.per_call_min_rtp_packets_received, 0);
        assert_eq!(s.mos_min, 0.0);
        assert_eq!(s.mos_avg, 0.0);
        let json = serde_json::to_value(s).expect("serialises");
        assert_eq!(json["per_call_min_rtp_packets_received"], 0);
        assert!(
            json.get("mos_sum").is_none(),
            "accumulators are not written"
        );
        assert_eq!(json["scheduled_packets"], 0);
    }
}
