//! Tests of report.html: self-contained, escaped, every section from a summary built in
//! process or read back from summary.json (an older revision included).

use super::*;
use gossipper_engine::output::run_info::{RunInfo, RunParams};
use gossipper_engine::output::summary::{Latency, LatencyBucket, SummaryInput, summary};
use gossipper_engine::output::verdict::{Verdict, VerdictStatus};
use gossipper_engine::scenario::{self, LoadOptions, builtin};
use gossipper_engine::stats::media::MediaStats;
use gossipper_engine::stats::{FailureReason, ShardStats, thresholds};

/// The run facts of the built-in uac asked for 20 calls toward 127.0.0.1:15060.
fn uac_info() -> RunInfo {
    let xml = builtin::get("uac").expect("uac is built in").xml;
    let sc = scenario::load(xml.as_bytes(), "uac.xml", &LoadOptions::default())
        .expect("the built-in uac loads");
    RunInfo::new(
        &sc,
        RunParams {
            remote: "127.0.0.1:15060".into(),
            max_calls: Some(20),
            start: std::time::SystemTime::UNIX_EPOCH
                + std::time::Duration::from_secs(1_795_686_419),
            ..RunParams::default()
        },
    )
}

fn data() -> Summary {
    Summary {
        tool_version: "Gossipper 0.1.0".into(),
        total_calls: 500,
        success_calls: 499,
        failed_calls: 1,
        success_ratio: 0.998,
        invite_rtt: Some(Latency {
            count: 500,
            p50_ms: 1.5,
            buckets: vec![
                LatencyBucket {
                    label: "le_10ms".into(),
                    count: 490,
                },
                LatencyBucket {
                    label: "gt_5000ms".into(),
                    count: 10,
                },
            ],
            ..Default::default()
        }),
        failure_classes: [("timeout".to_string(), 1)].into_iter().collect(),
        findings: vec!["<script>alert(1)</script>".into()],
        ..Default::default()
    }
}

fn series() -> Vec<SeriesPoint> {
    (0..5)
        .map(|i| SeriesPoint {
            t_s: f64::from(i),
            cps: 100.0,
            active: 3,
            succeeded: 100 * i as u64,
            p50_ms: if i == 0 { f64::NAN } else { 1.0 },
            ..Default::default()
        })
        .collect()
}

#[test]
fn the_page_is_self_contained_and_has_totals_and_charts() {
    let html = render("job-1", &data(), &series());
    assert!(html.starts_with("<!DOCTYPE html>"));
    for needle in [
        "<svg",
        ">500<",
        ">499<",
        "Rates",
        "Retransmissions and timeouts per second",
        "Response time distribution",
        "timeout",
    ] {
        assert!(html.contains(needle), "missing {needle}");
    }
    for external in [
        "<script", "src=", "href=", "@import", "url(", "http:", "https:",
    ] {
        assert!(
            !html.contains(external),
            "page must not load anything: {external}"
        );
    }
}

#[test]
fn run_text_is_escaped() {
    let head = ReportHead {
        title: "<b>x</b>",
        name: "<i>n</i>",
        notes: "a & b",
        request: &[],
    };
    let html = render_with(&head, &data(), &[]);
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(html.contains("&lt;b&gt;x&lt;/b&gt;"));
    assert!(html.contains("&lt;i&gt;n&lt;/i&gt;") && html.contains("a &amp; b"));
    assert!(!html.contains("<script>"));
}

#[test]
fn a_short_run_gets_a_note_instead_of_an_empty_chart() {
    // Timers that measured nothing: each distribution says so instead of drawing.
    let empty = Summary {
        invite_rtt: Some(Latency::default()),
        call_length: Some(Latency::default()),
        ..Default::default()
    };
    let html = render("j", &empty, &[SeriesPoint::default()]);
    assert!(html.contains("Not enough samples"));
    for title in ["Response time distribution", "Call length distribution"] {
        assert!(
            html.contains(&format!(
                "<h2>{title}</h2><p class=\"meta\">No values were measured.</p>"
            )),
            "{title}"
        );
    }
    assert!(!html.contains("<svg"), "no chart drawn from nothing");
    // A summary without those timers has no distribution section at all.
    let html = render("j", &Summary::default(), &[SeriesPoint::default()]);
    assert!(!html.contains("distribution"));
}

#[test]
fn the_view_reads_a_summary_json_and_ignores_unknown_fields() {
    let d = read_summary(br#"{"total_calls":7,"success_calls":7,"extra":{"x":1},"invite_rtt":{"count":7,"p99_ms":3.5},"health":{"active":false,"pass":true}}"#).unwrap();
    assert_eq!(d.total_calls, 7);
    assert_eq!(d.invite_rtt.unwrap().p99_ms, 3.5);
    assert_eq!(d.health.pass, Some(true), "revision 1 files still read");
    assert!(read_summary(b"not json").is_err());
    let html = render(
        "old",
        &read_summary(br#"{"health":{"pass":null}}"#).unwrap(),
        &[],
    );
    assert!(html.contains("NO THRESHOLDS"));
}

#[test]
fn non_finite_numbers_never_reach_the_markup() {
    let d = Summary {
        calls_per_second: f64::NAN,
        success_ratio: f64::INFINITY,
        ..Default::default()
    };
    let pts = [
        SeriesPoint {
            cps: f64::NAN,
            p99_ms: f64::NAN,
            ..Default::default()
        },
        SeriesPoint {
            t_s: 1.0,
            p99_ms: f64::NAN,
            ..Default::default()
        },
    ];
    let html = render("j", &d, &pts);
    assert!(!html.contains("NaN") && !html.contains("inf"));
}

/// A summary of a throttled uac run: every call failed, thresholds set.
fn failing_summary() -> Summary {
    let mut info = uac_info();
    info.uses_default_pause = true;
    info.run.default_pause_ms = 2000;
    info.run.rate = 100.0;
    info.run.call_limit = 2;
    let mut s = ShardStats::new(info.steps.len(), 1, 0, &[10], &[10]);
    s.counters.outgoing_calls = 16;
    for _ in 0..16 {
        s.counters.fail(FailureReason::MaxUdpRetrans);
    }
    s.steps[0].messages = 16;
    s.steps[0].retrans = 96;
    s.steps[0].timeouts = 16;
    for k in 0..16 {
        s.current_calls = 2;
        s.note_call_created(k * 500_000);
    }
    s.current_calls = 0;
    s.limit_blocked_us = 7_000_000;
    for us in [200, 400, 900] {
        s.rtd[0].record(us);
    }
    let th = [thresholds::parse("p99(response_time)<50ms").unwrap()];
    summary(&SummaryInput {
        info: &info,
        stats: &s,
        finished_at: info.run.start + std::time::Duration::from_secs(8),
        tool_version: "Gossipper 0.1.0",
        seed: 1,
        gates: &Default::default(),
        media: MediaStats::default(),
        shard_calls: &[16],
        thresholds: &th,
    })
}

#[test]
fn the_page_shows_the_verdict_target_thresholds_and_messages() {
    let d = failing_summary();
    let head = ReportHead {
        title: "gossipper job j-1",
        name: "nightly smoke",
        notes: "against the staging SBC",
        request: &[("scenario id", "uac".to_string())],
    };
    let html = render_with(&head, &d, &[]);
    for needle in [
        "nightly smoke",
        "against the staging SBC",
        "data-verdict=\"fail\"",
        "every call failed (16 of 16)",
        "target not reached: created 16 of the 20 calls asked for",
        "Target and actual",
        "<td>rate (calls/s)</td><td class=\"l\">100.00</td>",
        "limit 2 (rate × hold needs 200)",
        "the limit held calls back for 7.0 s",
        "scenario id",
        "p99(response_time)&lt;50ms",
        "<b class=\"pass\">pass</b>",
        "INVITE <span class=\"arrow\">──▶</span>",
        "<td>16</td><td>96</td><td>16</td><td></td>",
        "200 <span class=\"arrow\">◀──</span>",
        "E-RTD1",
        "≤0.2",
        "≤1<",
    ] {
        assert!(html.contains(needle), "missing {needle}\n{html}");
    }
}

#[test]
fn every_response_time_of_the_scenario_gets_its_row() {
    let d = read_summary(
        br#"{"rtd":{"invite":{"count":3,"p99_ms":1.5},"register":{"count":2,"p99_ms":7.25}}}"#,
    )
    .unwrap();
    let html = render("j", &d, &[]);
    assert!(
        html.contains("<td>response time invite</td><td>3</td>"),
        "{html}"
    );
    assert!(html.contains("<td>response time register</td><td>2</td>"));
    assert!(html.contains("<td>7.25</td>"));
}

#[test]
fn a_run_without_thresholds_is_not_a_pass() {
    let mut d = failing_summary();
    d.verdict = Verdict {
        status: VerdictStatus::NoThresholds,
        ..Default::default()
    };
    d.thresholds.clear();
    let html = render("j", &d, &[]);
    assert!(html.contains("NO THRESHOLDS"));
    assert!(html.contains("No thresholds were set"));
    assert!(!html.contains(">PASS<"));
}
