//! Merging shards' statistics: every field of `Counters`, `StepCounters`, `MediaStats`
//! and `ShardStats` set, merged, and read back field by field, and the run's peak of
//! calls alive at once across shards that peak at different moments.
//!
//! The struct literals and patterns below name every field: a field added to one of
//! these structs is a compile error here, as it is in `merge`, until its test is written.

use super::*;

/// For a struct made by `counters!`: `a` holds i+1 in its i-th field, `b` 1000·(i+1);
/// merged, each field holds the sum. The fields come from the macro's own list.
fn every_field_is_summed<T: Default>(
    fields: for<'a> fn(&'a mut T) -> Vec<(&'static str, &'a mut u64)>,
    add: fn(&mut T, &T),
) {
    let (mut a, mut b) = (T::default(), T::default());
    for (i, ((_, x), (_, y))) in fields(&mut a).into_iter().zip(fields(&mut b)).enumerate() {
        *x = i as u64 + 1;
        *y = 1000 * (i as u64 + 1);
    }
    add(&mut a, &b);
    let merged = fields(&mut a);
    assert!(!merged.is_empty());
    for (i, (name, v)) in merged.into_iter().enumerate() {
        assert_eq!(*v, 1001 * (i as u64 + 1), "{name}");
    }
}

#[test]
fn every_counter_and_step_counter_is_summed_by_add() {
    every_field_is_summed(Counters::fields_mut, Counters::add);
    every_field_is_summed(StepCounters::fields_mut, StepCounters::add);
}

/// A shard's media numbers, every field set; `k` scales them apart.
fn media(k: u64) -> media::MediaStats {
    let f = k as f64;
    media::MediaStats {
        rtp_packets_sent: k,
        rtp_octets_sent: 2 * k,
        rtp_packets_received: 3 * k,
        rtp_packets_lost: 4 * k,
        rtp_packets_echoed: 5 * k,
        rtp_unexpected_source: 6 * k,
        rtp_malformed: 7 * k,
        srtp_auth_failures: 28 * k,
        srtp_dropped: 29 * k,
        rtp_send_errors: 8 * k,
        rtp_late_skipped: 9 * k,
        rtp_receive_errors: 10 * k,
        rtcp_sender_reports: 11 * k,
        rtcp_receiver_reports: 12 * k,
        rtcp_packets_received: 13 * k,
        rtcp_reception_reports: 14 * k,
        rtcp_max_fraction_lost: 0.01 * f,
        rtcp_max_jitter_ts: 15 * k as u32,
        calls_with_rtp_received: 16 * k,
        calls_with_media: 17 * k,
        per_call_min_rtp_packets_received: 100 - k,
        rtp_recv_max_cumulative_lost: 18 * k,
        rtp_recv_jitter_peak_ts: 19 * k as u32,
        jitter_ms_sum: 1.5 * f,
        mos_sum: 4.0 * f,
        mos_count: k,
        mos_min: 4.5 - 0.1 * f,
        r_factor_sum: 90.0 * f,
        recordings_written: 20 * k,
        recording_errors: 21 * k,
        rtpcheck_passed: 22 * k,
        rtpcheck_failed: 23 * k,
        command_errors: 24 * k,
        sched_within_1ms: 25 * k,
        sched_packets: 26 * k,
        sched_max_late_us: 27 * k,
        // Derived by `merge` from the sums above.
        jitter_ms_avg: 0.0,
        mos_avg: 0.0,
        r_factor_avg: 0.0,
    }
}

#[test]
fn every_media_number_merges_by_its_own_rule() {
    let mut m = media(1);
    m.merge(&media(3));
    let media::MediaStats {
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
        jitter_ms_avg,
        mos_avg,
        r_factor_avg,
    } = m;
    // Counts add up: 1·n + 3·n.
    let sums = [
        (rtp_packets_sent, 1),
        (rtp_octets_sent, 2),
        (rtp_packets_received, 3),
        (rtp_packets_lost, 4),
        (rtp_packets_echoed, 5),
        (rtp_unexpected_source, 6),
        (rtp_malformed, 7),
        (srtp_auth_failures, 28),
        (srtp_dropped, 29),
        (rtp_send_errors, 8),
        (rtp_late_skipped, 9),
        (rtp_receive_errors, 10),
        (rtcp_sender_reports, 11),
        (rtcp_receiver_reports, 12),
        (rtcp_packets_received, 13),
        (rtcp_reception_reports, 14),
        (calls_with_rtp_received, 16),
        (calls_with_media, 17),
        (mos_count, 1),
        (recordings_written, 20),
        (recording_errors, 21),
        (rtpcheck_passed, 22),
        (rtpcheck_failed, 23),
        (command_errors, 24),
        (sched_within_1ms, 25),
        (sched_packets, 26),
    ];
    for (i, (got, n)) in sums.into_iter().enumerate() {
        assert_eq!(got, 4 * n, "summed field #{i}");
    }
    // Sums of reals add up too.
    assert_eq!((jitter_ms_sum, mos_sum, r_factor_sum), (6.0, 16.0, 360.0));
    // Averages are recomputed from the merged sums: over 64 calls with RTP, 4 MOS.
    assert_eq!(
        (jitter_ms_avg, mos_avg, r_factor_avg),
        (6.0 / 64.0, 4.0, 90.0)
    );
    // Worst cases are the worse of the two.
    assert_eq!(rtcp_max_fraction_lost, 0.03);
    assert_eq!(
        (
            rtcp_max_jitter_ts,
            rtp_recv_max_cumulative_lost,
            rtp_recv_jitter_peak_ts,
            sched_max_late_us
        ),
        (45, 54, 57, 81)
    );
    // Best-of-the-worst: the fewest packets of a call, the lowest MOS.
    assert_eq!(per_call_min_rtp_packets_received, 97);
    assert_eq!(mos_min, 4.5 - 0.3);
}

#[test]
fn a_shard_without_media_calls_leaves_the_per_call_minima_alone() {
    let mut m = media(2);
    m.merge(&media::MediaStats::default());
    assert_eq!(m.per_call_min_rtp_packets_received, 98);
    assert_eq!(m.mos_min, 4.5 - 0.2);
    let mut m = media::MediaStats::default();
    m.merge(&media(2));
    assert_eq!(m.per_call_min_rtp_packets_received, 98);
    assert_eq!(m.mos_min, 4.5 - 0.2);
}

/// A shard's statistics with every field set; `k` scales them apart.
fn shard(k: u64) -> ShardStats {
    let mut rtd = TimeStat::new(&[10]);
    rtd.record(1000 * k);
    let mut call_length = TimeStat::new(&[10]);
    call_length.record(2000 * k);
    let counters = Counters {
        outgoing_calls: 10 * k,
        ..Counters::default()
    };
    ShardStats {
        counters,
        steps: vec![StepCounters {
            messages: k,
            retrans: 2 * k,
            timeouts: 3 * k,
            unexpected: 4 * k,
        }],
        rtd: vec![rtd],
        call_length,
        generic_counters: vec![5 * k],
        current_calls: 6 * k,
        peak_calls: 7 * k,
        media: media(k),
        first_call_us: Some(100 * k),
        last_call_us: Some(1000 * k),
        peak_at_us: 500 * k,
        limit_blocked_us: 8 * k,
        scheduler_loops: 9 * k,
        open_sockets: k,
        webrtc: WebrtcCounters {
            connected: 11 * k,
            failed_ice_timeout: k,
            ..WebrtcCounters::default()
        },
    }
}

#[test]
fn every_shard_field_merges_by_its_own_rule() {
    let mut s = shard(1);
    s.merge(&shard(2));
    let ShardStats {
        counters,
        steps,
        rtd,
        call_length,
        generic_counters,
        current_calls,
        peak_calls,
        media: m,
        first_call_us,
        last_call_us,
        peak_at_us,
        limit_blocked_us,
        scheduler_loops,
        open_sockets,
        webrtc,
    } = s;
    assert_eq!((webrtc.connected, webrtc.failed_ice_timeout), (33, 3));
    assert_eq!(counters.outgoing_calls, 30);
    assert_eq!(
        steps,
        [StepCounters {
            messages: 3,
            retrans: 6,
            timeouts: 9,
            unexpected: 12
        }]
    );
    assert_eq!(
        (rtd[0].count, rtd[0].min_us, rtd[0].max_us),
        (2, 1000, 2000)
    );
    assert_eq!(
        (call_length.count, call_length.min_us, call_length.max_us),
        (2, 2000, 4000)
    );
    assert_eq!(generic_counters, [15]);
    // Gauges and counts add up.
    assert_eq!((current_calls, scheduler_loops, open_sockets), (18, 27, 3));
    // The peak is the larger shard's, when that shard reached it: shards peak at
    // different moments, so 7 + 14 calls were never alive at once as far as we know.
    assert_eq!((peak_calls, peak_at_us), (14, 1000));
    let mut expected_media = media(1);
    expected_media.merge(&media(2));
    assert_eq!(m, expected_media);
    // The creation window spans both shards; held back at the same time, not twice.
    assert_eq!((first_call_us, last_call_us), (Some(100), Some(2000)));
    assert_eq!(limit_blocked_us, 16);
}

/// Merges shards whose calls alive are `alive[i]` and whose own peaks so far are
/// `peaks[i]` (reached at `peak_at[i]` µs), as the runner does at `at_us`.
fn merged_at(run: &mut RunPeak, at_us: u64, alive: [u64; 2], peaks: [(u64, u64); 2]) -> ShardStats {
    let mut merged = ShardStats::default();
    for (calls, (peak, peak_at)) in alive.into_iter().zip(peaks) {
        merged.merge(&ShardStats {
            current_calls: calls,
            peak_calls: peak,
            peak_at_us: peak_at,
            ..ShardStats::default()
        });
    }
    run.observe(&mut merged, at_us);
    merged
}

#[test]
fn the_run_peak_is_the_most_calls_seen_alive_at_once_not_the_sum_of_shard_peaks() {
    let mut run = RunPeak::default();
    // Shard 0 peaks at 10 calls at 1 s and drains; shard 1 peaks at 10 at 3 s. At no
    // merge were more than 11 alive at once (10 + 1 at 1 s).
    merged_at(
        &mut run,
        1_000_000,
        [10, 1],
        [(10, 1_000_000), (1, 900_000)],
    );
    merged_at(
        &mut run,
        2_000_000,
        [0, 5],
        [(10, 1_000_000), (5, 2_000_000)],
    );
    let last = merged_at(
        &mut run,
        3_000_000,
        [0, 10],
        [(10, 1_000_000), (10, 3_000_000)],
    );
    assert_eq!((last.peak_calls, last.peak_at_us), (11, 1_000_000));
    assert_eq!(
        run,
        RunPeak {
            calls: 11,
            at_us: 1_000_000
        }
    );
    // A shard's own peak between two merges still counts: a lower bound the sums missed.
    let later = merged_at(
        &mut run,
        4_000_000,
        [0, 0],
        [(10, 1_000_000), (15, 3_500_000)],
    );
    assert_eq!((later.peak_calls, later.peak_at_us), (15, 3_500_000));
}
