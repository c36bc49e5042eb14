//! [`super::ShardStats`] as JSON, whole: the `state` line a segment's worker sends each
//! stats interval, which the worker that fans a job out over N segments merges as the
//! runner merges shards (`ShardStats::merge`), so the job's numbers are those of one
//! run, exactly (histograms added bucket by bucket, never percentiles averaged).
//!
//! Owns: the media block with the sums behind its averages, which summary.json's `media`
//! block leaves out (`MediaStats`' `#[serde(skip)]` fields). Must not: do I/O.

/// `MediaStats` with every field (the `#[serde(with)]` of `ShardStats::media`).
pub(super) mod media {
    use super::super::media::MediaStats;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    /// The sums and counts `MediaStats` does not serialise.
    #[derive(Serialize, Deserialize, Default)]
    #[serde(default)]
    struct Hidden {
        rtp_receive_errors: u64,
        command_errors: u64,
        calls_with_media: u64,
        jitter_ms_sum: f64,
        mos_sum: f64,
        mos_count: u64,
        r_factor_sum: f64,
    }

    #[derive(Serialize, Deserialize, Default)]
    #[serde(default)]
    struct Whole {
        shown: MediaStats,
        hidden: Hidden,
    }

    pub(in super::super) fn serialize<S: Serializer>(
        m: &MediaStats,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        Whole {
            shown: *m,
            hidden: Hidden {
                rtp_receive_errors: m.rtp_receive_errors,
                command_errors: m.command_errors,
                calls_with_media: m.calls_with_media,
                jitter_ms_sum: m.jitter_ms_sum,
                mos_sum: m.mos_sum,
                mos_count: m.mos_count,
                r_factor_sum: m.r_factor_sum,
            },
        }
        .serialize(s)
    }

    pub(in super::super) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<MediaStats, D::Error> {
        let Whole { shown, hidden } = Whole::deserialize(d)?;
        Ok(MediaStats {
            rtp_receive_errors: hidden.rtp_receive_errors,
            command_errors: hidden.command_errors,
            calls_with_media: hidden.calls_with_media,
            jitter_ms_sum: hidden.jitter_ms_sum,
            mos_sum: hidden.mos_sum,
            mos_count: hidden.mos_count,
            r_factor_sum: hidden.r_factor_sum,
            ..shown
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::{ShardStats, media::MediaStats};

    #[test]
    fn a_shard_state_round_trips_and_merges_as_the_shards_would() {
        let mut a = ShardStats::new(3, 1, 1, &[10, 20], &[100]);
        let mut b = a.clone();
        for us in [900, 1_500, 12_000, 250_000] {
            a.rtd[0].record(us);
        }
        for us in [700, 40_000] {
            b.rtd[0].record(us);
        }
        a.counters.outgoing_calls = 4;
        b.counters.outgoing_calls = 2;
        a.steps[1].retrans = 3;
        a.media = MediaStats {
            rtp_packets_sent: 9,
            mos_sum: 8.5,
            mos_count: 2,
            ..MediaStats::default()
        };
        let text = serde_json::to_string(&a).unwrap();
        let back: ShardStats = serde_json::from_str(&text).unwrap();
        assert_eq!(
            back.rtd[0].histogram.buckets(),
            a.rtd[0].histogram.buckets()
        );
        assert_eq!(back.rtd[0].count, 4);
        assert_eq!(back.counters, a.counters);
        assert_eq!(back.steps, a.steps);
        assert_eq!(
            back.media.mos_count, 2,
            "the sums behind the averages travel"
        );
        let (mut direct, mut via_json) = (a.clone(), back);
        direct.merge(&b);
        via_json.merge(&serde_json::from_str(&serde_json::to_string(&b).unwrap()).unwrap());
        assert_eq!(
            via_json.rtd[0].histogram.buckets(),
            direct.rtd[0].histogram.buckets()
        );
        assert_eq!(
            via_json.rtd[0].histogram.quantile(0.99),
            direct.rtd[0].histogram.quantile(0.99)
        );
        assert_eq!(via_json.counters.outgoing_calls, 6);
    }
}
