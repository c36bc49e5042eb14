use super::*;
use crate::config::HealthGates;

fn ok(s: &str) -> Threshold {
    parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
}

fn bad(s: &str) -> String {
    match parse(s) {
        Ok(t) => panic!("{s} was accepted as {t:?}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn latency_thresholds_parse_with_units_and_spaces() {
    let t = ok(" p99( response_time ) < 50 ms ");
    assert_eq!(t.text, "p99(response_time)<50ms");
    assert_eq!(
        t.metric,
        Metric::Latency {
            stat: Stat::Percentile(99.0),
            timer: Timer::ResponseTime
        }
    );
    assert_eq!((t.op, t.value), (Op::Lt, 50.0));
    assert_eq!(ok("p99.9(call_length)<=2s").value, 2000.0);
    assert_eq!(ok("avg(invite)>=250us").value, 0.25);
    assert_eq!(
        ok("max(2)==10").metric,
        Metric::Latency {
            stat: Stat::Max,
            timer: Timer::Rtd("2".into())
        }
    );
}

#[test]
fn ratios_rates_counts_and_mos_take_their_units() {
    assert_eq!(ok("success_ratio>=99.5%").value, 0.995);
    assert_eq!(ok("success_ratio>=0.9").value, 0.9);
    let r = ok("rate>=95%");
    assert!(r.relative && (r.value - 0.95).abs() < 1e-12);
    let r = ok("rate>=90cps");
    assert!(!r.relative && r.value == 90.0);
    assert_eq!(ok("failed_calls==0").op, Op::Eq);
    assert_eq!(ok("retrans_ratio<1%").value, 0.01);
    assert_eq!(ok("rtp_loss<0.5%").value, 0.005);
    assert_eq!(ok("mos_min>=3.5").value, 3.5);
    let list = parse_list("p99(response_time)<50ms, failed_calls<=0,").unwrap();
    assert_eq!(list.len(), 2);
}

#[test]
fn malformed_thresholds_are_refused_naming_the_bad_part() {
    for (text, part) in [
        ("p99(response_time)<5Oms", "\"Oms\""),
        ("p99(response_time)50ms", "no comparison"),
        ("p98x(response_time)<5", "\"p98x\""),
        ("p101(response_time)<5", "\"p101\""),
        ("latency<5", "\"latency\""),
        ("response_time<5", "needs a statistic"),
        ("p99(response_time<5", "closing"),
        ("success_ratio>=95", "95%"),
        ("success_ratio>=120%", "over 100"),
        ("failed_calls<=1.5", "whole number"),
        ("failed_calls<=2ms", "count"),
        ("mos_min>=7", "1 to 5"),
        ("rate>=5kps", "\"kps\""),
        ("rate=>5", "\"=>\""),
        ("rate!=5", "\"!=\""),
        ("<5", "no metric"),
        ("rate>=", "no value"),
        ("p99()<5", "names no timer"),
        ("", "empty"),
    ] {
        let e = bad(text);
        assert!(e.contains(part), "{text}: {e} (wanted {part})");
    }
}

#[test]
fn timers_and_rates_are_checked_against_the_scenario() {
    let names = vec!["1".to_string(), "invite".to_string()];
    let ts = |s: &str| vec![ok(s)];
    assert!(check(&ts("p99(response_time)<5"), &names, true).is_ok());
    assert!(check(&ts("p99(invite)<5"), &names, true).is_ok());
    let e = check(&ts("p99(bye)<5"), &names, true)
        .unwrap_err()
        .to_string();
    assert!(e.contains("\"bye\"") && e.contains("1, invite"), "{e}");
    let e = check(&ts("p99(response_time)<5"), &[], true)
        .unwrap_err()
        .to_string();
    assert!(e.contains("no response time"), "{e}");
    let e = check(&ts("rate>=95%"), &names, false)
        .unwrap_err()
        .to_string();
    assert!(e.contains("answers calls"), "{e}");
}

fn timer(values_ms: &[u64]) -> TimeStat {
    let mut t = TimeStat::new(&[]);
    for v in values_ms {
        t.record(v * 1000);
    }
    t
}

fn facts<'a>(names: &'a [String], rtd: &'a [TimeStat], cl: &'a TimeStat) -> Facts<'a> {
    Facts {
        rtd_names: names,
        rtd,
        call_length: cl,
        achieved_cps: Some(2.0),
        target_cps: Some(100.0),
        success_ratio: Some(0.0),
        failed_calls: 16,
        timeouts: 3,
        retrans_ratio: Some(0.25),
        rtp_loss: None,
        mos_min: None,
        mos_avg: None,
        rtcp_max_fraction_lost: Some(0.02),
        rtcp_max_jitter_ts: None,
        rtp_packets_received: 480,
        rtp_min_received_per_call: Some(12),
    }
}

#[test]
fn the_media_metrics_parse_and_judge_what_the_peer_reported() {
    let names = vec!["1".to_string()];
    let rtd = vec![timer(&[1, 2, 3])];
    let cl = timer(&[1]);
    let f = facts(&names, &rtd, &cl);
    let judge = |text: &str| evaluate(&parse(text).unwrap(), &f);
    assert!(judge("rtcp_fraction_lost<=5%").pass);
    assert!(!judge("rtcp_fraction_lost<1%").pass);
    assert_eq!(
        judge("rtcp_fraction_lost<=0.05").limit,
        5.0,
        "a fraction or a %"
    );
    let j = judge("rtcp_jitter_ts<=100");
    assert!(
        !j.pass && j.observed.is_none(),
        "no report: not measured, fails"
    );
    assert!(judge("rtp_packets_recv>=480").pass);
    assert!(!judge("rtp_packets_recv_per_call>=20").pass);
    assert!(parse("rtp_packets_recv>=1.5").is_err());
    assert!(parse("rtcp_fraction_lost<=150%").is_err());
}

#[test]
fn evaluation_reports_observed_values_in_words() {
    let names = vec!["1".to_string()];
    let rtd = vec![timer(&(1..=100).collect::<Vec<_>>())];
    let cl = timer(&[]);
    let f = facts(&names, &rtd, &cl);

    let r = evaluate(&ok("p99(response_time)<50ms"), &f);
    assert!(!r.pass);
    let p99 = r.observed.unwrap();
    assert!((p99 - 99.0).abs() < 2.0, "{p99}");
    assert_eq!((r.limit, r.unit.as_ref()), (50.0, "ms"));
    assert!(r.text.starts_with("p99 response time 9"), "{}", r.text);
    assert!(r.text.ends_with("must be below 50 ms"), "{}", r.text);

    let r = evaluate(&ok("rate>=95%"), &f);
    assert!(!r.pass);
    assert_eq!(r.observed, Some(2.0));
    assert_eq!(
        r.text,
        "achieved rate 2 % of the rate asked for: must be at least 95 % of the rate asked for"
    );

    let r = evaluate(&ok("success_ratio>=95%"), &f);
    assert_eq!(r.text, "success ratio 0 %: must be at least 95 %");
    let r = evaluate(&ok("failed_calls<=20"), &f);
    assert!(r.pass);
    assert_eq!(r.text, "failed calls 16: at most 20, as required");
    let r = evaluate(&ok("retrans_ratio<1%"), &f);
    assert_eq!(r.observed, Some(25.0));
    let r = evaluate(&ok("p99(response_time)<1us"), &f);
    assert!(r.text.ends_with("must be below 0.001 ms"), "{}", r.text);

    // Nothing measured fails, and says so.
    let r = evaluate(&ok("p50(call_length)<5s"), &f);
    assert!(!r.pass && r.observed.is_none());
    assert!(r.text.contains("not measured"), "{}", r.text);
    let r = evaluate(&ok("mos_min>=3.5"), &f);
    assert!(!r.pass && r.text.contains("not measured"));
}

#[test]
fn equality_allows_float_rounding() {
    let names = vec![];
    let cl = timer(&[]);
    let mut f = facts(&names, &[], &cl);
    f.success_ratio = Some(0.1 + 0.2);
    assert!(evaluate(&ok("success_ratio==0.3"), &f).pass);
}

#[test]
fn health_gates_become_the_thresholds_they_mean() {
    let g = HealthGates {
        min_success_ratio: Some(0.95),
        max_failed_calls: Some(0),
        max_timeouts: None,
        max_rtcp_fraction_lost: Some(0.05),
        max_rtcp_jitter_ts: Some(80),
        min_rtp_packets_recv: Some(1000),
        min_rtp_packets_recv_per_call: Some(40),
    };
    let t: Vec<String> = g.thresholds().into_iter().map(|t| t.text).collect();
    assert_eq!(
        t,
        [
            "success_ratio>=95%",
            "failed_calls<=0",
            "rtcp_fraction_lost<=5%",
            "rtcp_jitter_ts<=80",
            "rtp_packets_recv>=1000",
            "rtp_packets_recv_per_call>=40"
        ]
    );
    for text in &t {
        assert_eq!(parse(text).unwrap().text, *text, "the text parses back");
    }
    assert!(HealthGates::default().thresholds().is_empty());
}
