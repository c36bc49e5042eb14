//! Prometheus metrics of runs, in the text exposition format 0.0.4: what the master's
//! `GET /metrics` and a run's `-metrics_addr` listener serve.
//!
//! Owns: the metric families (names, types, help), their labels and the format's rules:
//! one `# HELP` and one `# TYPE` line per family with all its samples together, label
//! values escaped (`\` → `\\`, `"` → `\"`, newline → `\n`), help text escaped (`\` and
//! newline), floats as Prometheus reads them (`+Inf`, `-Inf`, `NaN`), and histograms as
//! cumulative `_bucket{le=…}` series with edges in seconds, a `+Inf` bucket equal to
//! `_count`, and `_sum`. Every number comes from a worker's stats line
//! ([`StatsLine`]); counters are cumulative since the run's start, so `rate()` works on
//! them. Must not: do I/O (the master's api and the run's listener serve the text).
//!
//! Families (prefix `gossipper_`): `jobs{status}` (master only), `calls_per_second`,
//! `calls_active`, `calls_created_total`, `calls_succeeded_total`, `calls_failed_total`,
//! `calls_failed_by_reason_total{reason}` (SIPp's Failed* counters without the prefix),
//! `retransmissions_total`, `timeouts_total`, `unexpected_messages_total`,
//! `response_time_seconds` (histogram of the first rtd), and with media
//! `rtp_packets_{sent,received,lost}_total`, `rtp_jitter_seconds` and `mos`.

use std::fmt::Write as _;

use gossipper_engine::output::stats_line::StatsLine;

/// The content type of the text format.
pub(crate) const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// One run's numbers and the labels that tell it apart.
pub(crate) struct RunMetrics<'a> {
    /// Label names and values, in the order they are written.
    pub(crate) labels: Vec<(&'static str, String)>,
    pub(crate) stats: &'a StatsLine,
}

/// A family's type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Type {
    Gauge,
    Counter,
    Histogram,
}

impl Type {
    fn word(self) -> &'static str {
        match self {
            Type::Gauge => "gauge",
            Type::Counter => "counter",
            Type::Histogram => "histogram",
        }
    }
}

/// A family of one number per run.
struct Simple {
    name: &'static str,
    kind: Type,
    help: &'static str,
    value: fn(&StatsLine) -> f64,
}

const SIMPLE: &[Simple] = &[
    Simple {
        name: "gossipper_calls_per_second",
        kind: Type::Gauge,
        help: "Calls created per second over the last stats interval.",
        value: |s| s.cps,
    },
    Simple {
        name: "gossipper_calls_active",
        kind: Type::Gauge,
        help: "Calls open now.",
        value: |s| s.calls_active as f64,
    },
    Simple {
        name: "gossipper_calls_created_total",
        kind: Type::Counter,
        help: "Calls created since the run started.",
        value: |s| s.calls_created as f64,
    },
    Simple {
        name: "gossipper_calls_succeeded_total",
        kind: Type::Counter,
        help: "Calls that succeeded since the run started.",
        value: |s| s.calls_succeeded as f64,
    },
    Simple {
        name: "gossipper_calls_failed_total",
        kind: Type::Counter,
        help: "Calls that failed since the run started.",
        value: |s| s.calls_failed as f64,
    },
    Simple {
        name: "gossipper_retransmissions_total",
        kind: Type::Counter,
        help: "SIP retransmissions sent since the run started.",
        value: |s| s.retransmissions as f64,
    },
    Simple {
        name: "gossipper_timeouts_total",
        kind: Type::Counter,
        help: "SIP timeouts since the run started.",
        value: |s| s.timeouts as f64,
    },
    Simple {
        name: "gossipper_unexpected_messages_total",
        kind: Type::Counter,
        help: "Unexpected SIP messages since the run started.",
        value: |s| s.unexpected as f64,
    },
];

/// Media families, written for the runs that sent or received RTP.
const MEDIA: &[Simple] = &[
    Simple {
        name: "gossipper_rtp_packets_sent_total",
        kind: Type::Counter,
        help: "RTP packets sent since the run started.",
        value: |s| s.rtp_packets_sent as f64,
    },
    Simple {
        name: "gossipper_rtp_packets_received_total",
        kind: Type::Counter,
        help: "RTP packets received since the run started.",
        value: |s| s.rtp_packets_received as f64,
    },
    Simple {
        name: "gossipper_rtp_packets_lost_total",
        kind: Type::Counter,
        help: "RTP packets lost (RFC 3550 cumulative loss of finished calls).",
        value: |s| s.rtp_packets_lost as f64,
    },
    Simple {
        name: "gossipper_rtp_jitter_seconds",
        kind: Type::Gauge,
        help: "Mean RFC 3550 interarrival jitter of the finished calls that received RTP.",
        value: |s| s.jitter_ms / 1000.0,
    },
];

/// The text of one scrape, built family by family.
#[derive(Default)]
pub(crate) struct Exposition {
    out: String,
}

impl Exposition {
    pub(crate) fn new() -> Exposition {
        Exposition::default()
    }

    /// The text (ends in a newline, or is empty).
    pub(crate) fn finish(self) -> String {
        self.out
    }

    fn family(&mut self, name: &str, kind: Type, help: &str) {
        let _ = writeln!(self.out, "# HELP {name} {}", escape_help(help));
        let _ = writeln!(self.out, "# TYPE {name} {}", kind.word());
    }

    /// One sample: `name{labels…,extra} value`.
    fn sample(
        &mut self,
        name: &str,
        labels: &[(&'static str, String)],
        extra: Option<(&str, &str)>,
        value: f64,
    ) {
        self.out.push_str(name);
        let mut pairs = labels
            .iter()
            .map(|(k, v)| (*k, v.as_str()))
            .chain(extra)
            .peekable();
        if pairs.peek().is_some() {
            self.out.push('{');
            for (i, (k, v)) in pairs.enumerate() {
                if i > 0 {
                    self.out.push(',');
                }
                let _ = write!(self.out, "{k}=\"{}\"", escape_label(v));
            }
            self.out.push('}');
        }
        let _ = writeln!(self.out, " {}", number(value));
    }

    /// `gossipper_jobs{status}`: how many jobs the master holds in each state (every
    /// state is written, zeros included, so a dashboard's series never vanish).
    pub(crate) fn jobs_by_status(&mut self, counts: &[(&'static str, u64)]) {
        self.family(
            "gossipper_jobs",
            Type::Gauge,
            "Jobs of the master by status.",
        );
        for (status, n) in counts {
            self.sample("gossipper_jobs", &[], Some(("status", status)), *n as f64);
        }
    }

    /// Every run family for `runs` (nothing when there is no run).
    pub(crate) fn runs(&mut self, runs: &[RunMetrics<'_>]) {
        if runs.is_empty() {
            return;
        }
        for f in SIMPLE {
            self.simple(f, runs.iter());
        }
        self.failed_by_reason(runs);
        self.response_times(runs);
        let media: Vec<&RunMetrics<'_>> = runs.iter().filter(|r| has_media(r.stats)).collect();
        if !media.is_empty() {
            for f in MEDIA {
                self.simple(f, media.iter().copied());
            }
            let with_mos: Vec<(&RunMetrics<'_>, f64)> = media
                .iter()
                .filter_map(|r| r.stats.mos_avg.map(|m| (*r, m)))
                .collect();
            if !with_mos.is_empty() {
                self.family(
                    "gossipper_mos",
                    Type::Gauge,
                    "Mean ITU-T G.107 E-model MOS of the finished calls that received RTP.",
                );
                for (r, mos) in with_mos {
                    self.sample("gossipper_mos", &r.labels, None, mos);
                }
            }
        }
    }

    fn simple<'r, 'a: 'r>(&mut self, f: &Simple, runs: impl Iterator<Item = &'r RunMetrics<'a>>) {
        self.family(f.name, f.kind, f.help);
        for r in runs {
            self.sample(f.name, &r.labels, None, (f.value)(r.stats));
        }
    }

    /// SIPp's `Failed*` counters (not `FailedCall`, the total), by reason.
    fn failed_by_reason(&mut self, runs: &[RunMetrics<'_>]) {
        const NAME: &str = "gossipper_calls_failed_by_reason_total";
        self.family(
            NAME,
            Type::Counter,
            "Failed calls by SIPp failure counter (FailedTimeoutOnRecv is reason=\"TimeoutOnRecv\").",
        );
        for r in runs {
            for (key, n) in &r.stats.sipp.0 {
                if let Some(reason) = key.strip_prefix("Failed")
                    && reason != "Call"
                    && !reason.is_empty()
                {
                    self.sample(NAME, &r.labels, Some(("reason", reason)), *n as f64);
                }
            }
        }
    }

    /// The first response time as a histogram in seconds. A run whose line has no
    /// histogram (its scenario times nothing, or an older worker) is left out.
    fn response_times(&mut self, runs: &[RunMetrics<'_>]) {
        const NAME: &str = "gossipper_response_time_seconds";
        let timed: Vec<_> = runs
            .iter()
            .filter_map(|r| r.stats.response_time_histogram.as_ref().map(|h| (r, h)))
            .collect();
        if timed.is_empty() {
            return;
        }
        self.family(
            NAME,
            Type::Histogram,
            "First response time (the scenario's first rtd) since the run started.",
        );
        let bucket = format!("{NAME}_bucket");
        for (r, h) in timed {
            let mut cumulative = 0u64;
            for (edge_ms, n) in h.le_ms.iter().zip(&h.counts) {
                cumulative = cumulative.saturating_add(*n);
                let le = number(*edge_ms as f64 / 1000.0);
                // A line cut short could say less than its buckets hold: +Inf never
                // goes below the last bucket, as the format requires.
                self.sample(&bucket, &r.labels, Some(("le", &le)), cumulative as f64);
            }
            let count = h.count.max(cumulative);
            self.sample(&bucket, &r.labels, Some(("le", "+Inf")), count as f64);
            self.sample(&format!("{NAME}_sum"), &r.labels, None, h.sum_ms / 1000.0);
            self.sample(&format!("{NAME}_count"), &r.labels, None, count as f64);
        }
    }
}

fn has_media(s: &StatsLine) -> bool {
    s.rtp_packets_sent > 0 || s.rtp_packets_received > 0
}

/// A sample value as the format writes it.
fn number(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v == f64::INFINITY {
        "+Inf".into()
    } else if v == f64::NEG_INFINITY {
        "-Inf".into()
    } else {
        v.to_string()
    }
}

/// A label value: `\`, `"` and newline escaped.
fn escape_label(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

/// Help text: `\` and newline escaped (quotes stay).
fn escape_help(v: &str) -> String {
    v.replace('\\', "\\\\").replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use gossipper_engine::output::stats_line::LatencyHistogram;
    use gossipper_engine::output::summary::OrderedCounters;

    fn line() -> StatsLine {
        StatsLine {
            cps: 99.5,
            calls_active: 3,
            calls_created: 1000,
            calls_succeeded: 990,
            calls_failed: 7,
            retransmissions: 4,
            sipp: OrderedCounters::of(vec![
                ("OutgoingCall", 1000),
                ("FailedCall", 7),
                ("FailedTimeoutOnRecv", 5),
                ("FailedCallRejected", 2),
            ]),
            response_time_histogram: Some(LatencyHistogram {
                le_ms: vec![1, 10, 100],
                counts: vec![2, 5, 0],
                count: 8,
                sum_ms: 1234.5,
            }),
            ..Default::default()
        }
    }

    fn run<'a>(stats: &'a StatsLine, name: &str) -> RunMetrics<'a> {
        RunMetrics {
            labels: vec![("job_id", "j-1".into()), ("job_name", name.into())],
            stats,
        }
    }

    /// The lines of `text` that start with `prefix`.
    fn lines<'t>(text: &'t str, prefix: &str) -> Vec<&'t str> {
        text.lines().filter(|l| l.starts_with(prefix)).collect()
    }

    #[test]
    fn label_values_escape_backslash_quote_and_newline() {
        assert_eq!(escape_label(r#"a\b"c"#), r#"a\\b\"c"#);
        assert_eq!(escape_label("two\nlines"), "two\\nlines");
        assert_eq!(escape_help("a \"q\" \\ \n"), "a \"q\" \\\\ \\n");
        let s = line();
        let mut e = Exposition::new();
        e.runs(&[run(&s, "night \"run\"\\2\nx")]);
        let text = e.finish();
        assert!(
            text.contains(
                "gossipper_calls_active{job_id=\"j-1\",job_name=\"night \\\"run\\\"\\\\2\\nx\"} 3\n"
            ),
            "{text}"
        );
        assert!(
            !text.lines().any(|l| l.is_empty()),
            "a raw newline in a label would split a sample"
        );
    }

    #[test]
    fn the_histogram_has_cumulative_buckets_in_seconds_then_sum_and_count() {
        let s = line();
        let mut e = Exposition::new();
        e.runs(&[run(&s, "n")]);
        let text = e.finish();
        let labels = "job_id=\"j-1\",job_name=\"n\"";
        assert_eq!(
            lines(&text, "gossipper_response_time_seconds"),
            [
                format!("gossipper_response_time_seconds_bucket{{{labels},le=\"0.001\"}} 2"),
                format!("gossipper_response_time_seconds_bucket{{{labels},le=\"0.01\"}} 7"),
                format!("gossipper_response_time_seconds_bucket{{{labels},le=\"0.1\"}} 7"),
                format!("gossipper_response_time_seconds_bucket{{{labels},le=\"+Inf\"}} 8"),
                format!("gossipper_response_time_seconds_sum{{{labels}}} 1.2345"),
                format!("gossipper_response_time_seconds_count{{{labels}}} 8"),
            ]
        );
        assert!(text.contains("# TYPE gossipper_response_time_seconds histogram\n"));
    }

    #[test]
    fn a_family_is_help_then_type_then_every_runs_sample_together() {
        let a = line();
        let mut b = line();
        b.calls_created = 5;
        let mut e = Exposition::new();
        e.jobs_by_status(&[("running", 2), ("failed", 0)]);
        e.runs(&[run(&a, "a"), run(&b, "b")]);
        let text = e.finish();
        let at = text
            .find("# HELP gossipper_calls_created_total ")
            .expect("the family's help");
        let block: Vec<&str> = text[at..].lines().take(4).collect();
        assert_eq!(
            block,
            [
                "# HELP gossipper_calls_created_total Calls created since the run started.",
                "# TYPE gossipper_calls_created_total counter",
                "gossipper_calls_created_total{job_id=\"j-1\",job_name=\"a\"} 1000",
                "gossipper_calls_created_total{job_id=\"j-1\",job_name=\"b\"} 5",
            ]
        );
        assert_eq!(
            lines(&text, "gossipper_jobs"),
            [
                "gossipper_jobs{status=\"running\"} 2",
                "gossipper_jobs{status=\"failed\"} 0"
            ]
        );
        // Each family declared once.
        let types = lines(&text, "# TYPE ");
        let mut names: Vec<&str> = types.iter().map(|l| l.split(' ').nth(2).unwrap()).collect();
        let n = names.len();
        names.dedup();
        assert_eq!(names.len(), n, "{types:?}");
        assert!(text.ends_with('\n'));
    }

    #[test]
    fn failures_are_by_reason_without_the_total_and_media_only_with_rtp() {
        let mut s = line();
        let mut e = Exposition::new();
        e.runs(&[run(&s, "n")]);
        let text = e.finish();
        assert_eq!(
            lines(&text, "gossipper_calls_failed_by_reason_total{"),
            [
                "gossipper_calls_failed_by_reason_total{job_id=\"j-1\",job_name=\"n\",reason=\"TimeoutOnRecv\"} 5",
                "gossipper_calls_failed_by_reason_total{job_id=\"j-1\",job_name=\"n\",reason=\"CallRejected\"} 2",
            ]
        );
        assert!(
            !text.contains("gossipper_rtp_"),
            "no media, no RTP families"
        );
        s.rtp_packets_sent = 500;
        s.rtp_packets_received = 490;
        s.rtp_packets_lost = 10;
        s.jitter_ms = 2.5;
        s.mos_avg = Some(4.1);
        let mut e = Exposition::new();
        e.runs(&[run(&s, "n")]);
        let text = e.finish();
        assert!(
            text.contains("gossipper_rtp_packets_lost_total{job_id=\"j-1\",job_name=\"n\"} 10\n")
        );
        assert!(
            text.contains("gossipper_rtp_jitter_seconds{job_id=\"j-1\",job_name=\"n\"} 0.0025\n")
        );
        assert!(text.contains("gossipper_mos{job_id=\"j-1\",job_name=\"n\"} 4.1\n"));
    }

    #[test]
    fn numbers_use_the_formats_words_for_infinities_and_nan() {
        assert_eq!(number(f64::INFINITY), "+Inf");
        assert_eq!(number(f64::NEG_INFINITY), "-Inf");
        assert_eq!(number(f64::NAN), "NaN");
        assert_eq!(number(0.001), "0.001");
        assert_eq!(number(10.0), "10");
        assert_eq!(Exposition::new().finish(), "");
        let mut e = Exposition::new();
        e.runs(&[]);
        assert_eq!(e.finish(), "", "no run: no family");
    }
}
