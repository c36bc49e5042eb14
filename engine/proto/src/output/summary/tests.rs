use super::*;
use crate::output::run_info::tests::uac_info;
use crate::stats::TimeStat;
use std::time::Duration;

fn finished_run() -> (RunInfo, ShardStats) {
    let mut info = uac_info();
    info.counter_names = vec!["okc".into()];
    let mut s = info.empty_stats();
    s.counters.outgoing_calls = 100;
    s.counters.successful_calls = 90;
    s.counters.fail(FailureReason::TimeoutOnRecv);
    s.counters.fail(FailureReason::MaxUdpRetrans);
    s.counters.fail(FailureReason::UnexpectedMessage);
    s.counters.failed_calls += 7; // failures no SIPp column explains
    s.counters.timeouts = 4;
    s.counters.retransmissions = 12;
    s.current_calls = 0;
    s.generic_counters = vec![42];
    for v in 1..=1000u64 {
        s.rtd[0].record(v * 1000); // 1 ms .. 1000 ms
    }
    s.call_length.record(4_000_000);
    (info, s)
}

fn build(info: &RunInfo, s: &ShardStats, gates: &HealthGates) -> Summary {
    summary(&SummaryInput {
        info,
        stats: s,
        finished_at: info.run.start + Duration::from_millis(10_500),
        tool_version: "Gossipper 0.1.0",
        seed: 7,
        gates,
        media: crate::stats::media::MediaStats::default(),
        shard_calls: &[3, 2],
        thresholds: &[],
    })
}

#[test]
fn summary_json_keeps_the_go_field_names() {
    let (info, s) = finished_run();
    let json = to_json(&build(&info, &s, &HealthGates::default()));
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    for key in [
        "schema_version",
        "tool_version",
        "started_at",
        "finished_at",
        "duration",
        "total_calls",
        "success_calls",
        "failed_calls",
        "active_calls",
        "success_ratio",
        "calls_per_second",
        "retransmits",
        "timeouts",
        "average_call_latency",
        "average_invite_rtt",
        "call_length",
        "invite_rtt",
        "media",
        "rtd",
        "counters",
        "failure_classes",
        "health",
        "findings",
        "duration_ms",
        "seed",
        "sipp",
    ] {
        assert!(v.get(key).is_some(), "missing {key}");
    }
    assert_eq!(v["schema_version"], "gossipper_summary_v1");
    assert_eq!(v["duration"], 10_500_000_000u64);
    assert_eq!(v["duration_ms"], 10_500.0);
    assert_eq!(v["started_at"], "2026-11-26T09:46:59.487723Z");
    assert_eq!(v["total_calls"], 100);
    assert_eq!(v["success_ratio"], 0.9);
    assert_eq!(v["retransmits"], 12);
    assert_eq!(v["counters"]["okc"], 42);
    assert_eq!(v["media"]["rtp_packets_sent"], 0);
    assert_eq!(v["sipp"]["SuccessfulCall"], 90);
    assert_eq!(v["sipp"]["FailedMaxUDPRetrans"], 1);
    assert_eq!(v["seed"], 7);
    let rtt = &v["invite_rtt"];
    for key in [
        "count",
        "average",
        "min",
        "max",
        "last",
        "stddev",
        "buckets",
        "p50_ms",
        "p90_ms",
        "p99_ms",
        "p999_ms",
        "average_ms",
    ] {
        assert!(rtt.get(key).is_some(), "invite_rtt lacks {key}");
    }
    assert_eq!(rtt["min"], 1_000_000);
    assert_eq!(rtt["max"], 1_000_000_000u64);
    assert_eq!(v["rtd"]["1"]["count"], 1000);
    // The SIPp block lists counters in CSV order.
    let sipp_pos = |k: &str| json.find(&format!("\"{k}\"")).unwrap();
    assert!(sipp_pos("IncomingCall") < sipp_pos("WatchdogMinor"));
}

#[test]
fn shard_calls_are_listed_in_shard_order() {
    let (info, s) = finished_run();
    let json = to_json(&build(&info, &s, &HealthGates::default()));
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["shard_calls"], serde_json::json!([3, 2]));
}

#[test]
fn the_transport_block_carries_every_stream_counter() {
    let (info, mut s) = finished_run();
    let c = &mut s.counters;
    c.connections_opened = 1;
    c.connections_accepted = 2;
    c.connect_failures = 3;
    c.tls_handshake_failures = 4;
    c.connections_closed_bad_input = 5;
    c.stream_too_large = 6;
    c.stream_idle_closed = 7;
    c.fail(FailureReason::TcpClosed);
    c.fail(FailureReason::TcpConnect);
    c.fail(FailureReason::TcpConnect);
    let json = to_json(&build(&info, &s, &HealthGates::default()));
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    let t = &v["transport"];
    assert_eq!(t["connections_opened"], 1);
    assert_eq!(t["connections_accepted"], 2);
    assert_eq!(t["connect_failures"], 3);
    assert_eq!(t["handshake_failures"], 4);
    assert_eq!(t["closed_bad_input"], 5);
    assert_eq!(t["stream_too_large"], 6);
    assert_eq!(t["stream_idle_closed"], 7);
    assert_eq!(t["calls_failed_closed"], 1);
    assert_eq!(t["calls_failed_connect"], 2);
    assert_eq!(
        v["sipp"]["FailedTcpConnect"], 2,
        "the SIPp block is unchanged"
    );
}

#[test]
fn percentiles_come_from_the_histogram() {
    let (info, s) = finished_run();
    let l = build(&info, &s, &HealthGates::default())
        .invite_rtt
        .unwrap();
    let near = |got: f64, want: f64| (got - want).abs() / want < 0.02;
    assert!(near(l.p50_ms, 500.0), "p50 {}", l.p50_ms);
    assert!(near(l.p90_ms, 900.0), "p90 {}", l.p90_ms);
    assert!(near(l.p99_ms, 990.0), "p99 {}", l.p99_ms);
    assert!(near(l.p999_ms, 999.0), "p999 {}", l.p999_ms);
    assert!(near(l.average_ms, 500.5));
}

#[test]
fn go_buckets_count_whole_milliseconds_at_or_below_each_edge() {
    let (info, s) = finished_run();
    let l = build(&info, &s, &HealthGates::default())
        .invite_rtt
        .unwrap();
    let labels: Vec<&str> = l.buckets.iter().map(|b| b.label.as_str()).collect();
    assert_eq!(
        labels,
        [
            "le_10ms",
            "le_20ms",
            "le_50ms",
            "le_100ms",
            "le_200ms",
            "le_500ms",
            "le_1000ms",
            "le_2000ms",
            "le_5000ms",
            "gt_5000ms"
        ]
    );
    let counts: Vec<u64> = l.buckets.iter().map(|b| b.count).collect();
    // 1..=1000 ms in 1 ms steps: every edge is hit exactly, so the histogram's
    // two-digit precision may move a value across an edge (±1 % of the total).
    let want = [10u64, 10, 30, 50, 100, 300, 500, 0, 0, 0];
    for (got, want) in counts.iter().zip(want) {
        assert!(got.abs_diff(want) <= 1 + want / 100, "{counts:?}");
    }
    assert_eq!(counts.iter().sum::<u64>(), 1000);

    // Values away from the edges land exactly.
    let mut t = TimeStat::new(&[]);
    for us in [5_000, 15_400, 3_000_000, 7_000_000, 7_500_000] {
        t.record(us);
    }
    let counts: Vec<u64> = latency(&t)
        .unwrap()
        .buckets
        .iter()
        .map(|b| b.count)
        .collect();
    assert_eq!(counts, [1, 1, 0, 0, 0, 0, 0, 0, 1, 2]);
}

#[test]
fn failure_classes_follow_failure_reason_class() {
    let (info, s) = finished_run();
    let sum = build(&info, &s, &HealthGates::default());
    assert_eq!(sum.failed_calls, 10);
    assert_eq!(sum.failure_classes.get("timeout"), Some(&2));
    assert_eq!(sum.failure_classes.get("unexpected_sip"), Some(&1));
    assert_eq!(sum.failure_classes.get("scenario_error"), Some(&7));
    assert_eq!(sum.failure_classes.get("transport_error"), None);
    assert!(
        sum.findings
            .iter()
            .any(|f| f == "Top failure classes: scenario_error=7, timeout=2, unexpected_sip=1")
    );
    assert!(sum.findings.iter().any(
        |f| f == "Calls: total=100 finished=100 success=90 failed=10 (success 90.0% of total)."
    ));
}

#[test]
fn health_passes_without_gates_and_reports_each_failed_gate() {
    let facts = HealthFacts {
        success_ratio: 0.9,
        failed_calls: 10,
        timeouts: 4,
        successful_calls: 90,
        ..Default::default()
    };
    let none = evaluate_health(&HealthGates::default(), &facts);
    assert_eq!(
        none,
        Health {
            active: false,
            pass: None,
            reasons: vec![]
        }
    );

    let gates = HealthGates {
        min_success_ratio: Some(0.95),
        max_failed_calls: Some(10),
        max_timeouts: Some(3),
        ..Default::default()
    };
    let h = evaluate_health(&gates, &facts);
    assert!(h.active);
    assert_eq!(h.pass, Some(false));
    assert_eq!(
        h.reasons,
        [
            "success_ratio 0.9000 below minimum 0.9500",
            "timeouts 4 exceeds maximum 3"
        ]
    );

    let ok = HealthGates {
        min_success_ratio: Some(0.9),
        max_failed_calls: Some(10),
        max_timeouts: None,
        ..Default::default()
    };
    assert_eq!(
        evaluate_health(&ok, &facts).pass,
        Some(true),
        "equal to the limit passes"
    );

    let zero = HealthGates {
        max_failed_calls: Some(0),
        ..Default::default()
    };
    assert!(
        evaluate_health(&zero, &facts).failed(),
        "max 0 fails on any failure"
    );
}

#[test]
fn the_media_gates_judge_rtcp_reports_and_rtp_counts() {
    let base = HealthFacts {
        success_ratio: 1.0,
        successful_calls: 4,
        rtp_packets_received: 400,
        rtp_min_received_per_call: Some(90),
        ..Default::default()
    };
    let gates = HealthGates {
        max_rtcp_fraction_lost: Some(0.02),
        max_rtcp_jitter_ts: Some(160),
        min_rtp_packets_recv: Some(500),
        min_rtp_packets_recv_per_call: Some(100),
        ..Default::default()
    };
    let h = evaluate_health(&gates, &base);
    assert!(h.active && h.failed());
    assert_eq!(
        h.reasons,
        [
            "rtcp_fraction_lost: no RTCP report received",
            "rtcp_jitter_ts: no RTCP report received",
            "rtp_packets_recv 400 below minimum 500",
            "rtp_packets_recv_per_call 90 below minimum 100"
        ]
    );
    let reported = HealthFacts {
        rtcp_reception_reports: 8,
        rtcp_max_fraction_lost: 0.01,
        rtcp_max_jitter_ts: 200,
        rtp_packets_received: 500,
        rtp_min_received_per_call: Some(100),
        ..base
    };
    assert_eq!(
        evaluate_health(&gates, &reported).reasons,
        ["rtcp_jitter_ts 200 exceeds maximum 160"]
    );
}

#[test]
fn health_verdict_opens_the_findings() {
    let (info, s) = finished_run();
    let gates = HealthGates {
        max_failed_calls: Some(5),
        ..Default::default()
    };
    let sum = build(&info, &s, &gates);
    assert_eq!(
        sum.findings[0],
        "Health check: FAIL — failed_calls 10 exceeds maximum 5"
    );
    let gates = HealthGates {
        max_failed_calls: Some(50),
        ..Default::default()
    };
    assert_eq!(build(&info, &s, &gates).findings[0], "Health check: PASS");
}

#[test]
fn revision_2_adds_the_table_target_thresholds_and_verdict() {
    let (mut info, mut s) = finished_run();
    info.uses_default_pause = true;
    info.run.default_pause_ms = 1000;
    s.steps[0].messages = 100;
    s.steps[0].retrans = 12;
    s.first_call_us = Some(500_000);
    s.last_call_us = Some(10_400_000);
    let thresholds = [
        crate::stats::thresholds::parse("p99(response_time)<500ms").unwrap(),
        crate::stats::thresholds::parse("rate>=95%").unwrap(),
    ];
    let gates = HealthGates {
        max_failed_calls: Some(50),
        ..Default::default()
    };
    let sum = summary(&SummaryInput {
        info: &info,
        stats: &s,
        finished_at: info.run.start + Duration::from_millis(10_500),
        tool_version: "Gossipper 0.1.0",
        seed: 7,
        gates: &gates,
        media: crate::stats::media::MediaStats::default(),
        shard_calls: &[100],
        thresholds: &thresholds,
    });
    let v: serde_json::Value = serde_json::from_str(&to_json(&sum)).unwrap();
    assert_eq!(v["schema_version"], "gossipper_summary_v1");
    assert_eq!(v["schema_revision"], 2);
    assert_eq!(v["scenario"]["name"], "Basic Sipstone UAC");
    assert_eq!(v["scenario"]["role"], "client");
    assert_eq!(v["messages"][0]["label"], "INVITE");
    assert_eq!(v["messages"][0]["messages"], 100);
    assert_eq!(v["messages"][0]["retrans"], 12);
    assert_eq!(v["messages"].as_array().unwrap().len(), 9);
    assert_eq!(v["target"]["rate_cps"], 10.0);
    assert_eq!(v["target"]["calls"], 20);
    assert_eq!(v["target"]["hold_ms"], 1000);
    assert_eq!(v["achieved"]["calls"], 100);
    assert_eq!(v["achieved"]["window"]["from_s"], 0.5);
    // 99 intervals in 9.9 s: the hold tail does not dilute the rate.
    let rate = v["achieved"]["rate_cps"].as_f64().unwrap();
    assert!((rate - 10.0).abs() < 1e-9, "{rate}");
    let th: Vec<&str> = v["thresholds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["threshold"].as_str().unwrap())
        .collect();
    assert_eq!(
        th,
        ["failed_calls<=50", "p99(response_time)<500ms", "rate>=95%"]
    );
    assert_eq!(v["thresholds"][1]["pass"], false, "p99 is 990 ms");
    assert_eq!(v["thresholds"][2]["pass"], true);
    assert_eq!(v["verdict"]["status"], "fail");
    assert_eq!(
        v["verdict"]["target_reached"], true,
        "100 calls of 20 asked for"
    );
    assert!(
        v["verdict"]["reasons"][0]
            .as_str()
            .unwrap()
            .starts_with("p99 response time 9"),
        "{}",
        v["verdict"]
    );
}

#[test]
fn health_is_not_a_pass_when_nothing_was_judged_or_every_call_failed() {
    let info = uac_info();
    let mut s = info.empty_stats();
    s.counters.outgoing_calls = 16;
    for _ in 0..16 {
        s.counters.fail(FailureReason::MaxUdpRetrans);
    }
    let sum = build(&info, &s, &HealthGates::default());
    let v: serde_json::Value = serde_json::from_str(&to_json(&sum)).unwrap();
    assert_eq!(v["health"]["active"], false);
    assert!(v["health"]["pass"].is_null(), "{}", v["health"]);
    assert_eq!(v["verdict"]["status"], "fail");
    assert_eq!(v["verdict"]["reasons"][0], "every call failed (16 of 16)");
    let lax = HealthGates {
        max_failed_calls: Some(100),
        ..Default::default()
    };
    let h = build(&info, &s, &lax).health;
    assert_eq!(h.pass, Some(false));
    assert_eq!(h.reasons, ["every call failed (16)"]);
}

#[test]
fn the_distribution_spreads_sub_millisecond_values() {
    let mut t = TimeStat::new(&[]);
    for us in [60, 80, 150, 150, 300, 900, 1_500] {
        t.record(us);
    }
    let d = latency(&t).unwrap().distribution;
    let got: Vec<(f64, u64)> = d.iter().map(|b| (b.le_ms, b.count)).collect();
    assert_eq!(
        got,
        [(0.1, 2), (0.2, 2), (0.5, 1), (1.0, 1), (2.0, 1)],
        "from the bucket of the smallest value to that of the largest"
    );
    let mut one = TimeStat::new(&[]);
    one.record(4_000_000_000);
    let d = latency(&one).unwrap().distribution;
    assert_eq!(d.len(), 1);
    assert_eq!(d[0].count, 1, "values past the last edge are kept");
}

#[test]
fn an_idle_run_has_no_latency_objects() {
    let info = uac_info();
    let s = info.empty_stats();
    let sum = build(&info, &s, &HealthGates::default());
    assert!(sum.call_length.is_none());
    assert!(sum.invite_rtt.is_none());
    assert_eq!(sum.findings, ["No calls were started."]);
    let v: serde_json::Value = serde_json::from_str(&to_json(&sum)).unwrap();
    assert!(v.get("call_length").is_none());
    assert_eq!(v["success_ratio"], 0.0);
}

#[test]
fn summary_json_reads_back_as_the_summary_it_was_written_from() {
    let (info, s) = finished_run();
    let sum = build(&info, &s, &HealthGates::default());
    let text = to_json(&sum);
    let back: Summary = serde_json::from_str(&text).unwrap();
    assert_eq!(back, sum);
    // An older revision reads, its missing fields at their defaults.
    let old: Summary =
        serde_json::from_str(r#"{"total_calls":3,"health":{"pass":true},"extra":1}"#).unwrap();
    assert_eq!((old.total_calls, old.schema_revision), (3, 0));
    assert_eq!(old.health.pass, Some(true));
}
