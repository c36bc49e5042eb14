//! The RTP and RTCP health gates (issue #19 item 4: the Go gossipper's
//! `-health_max_rtcp_fraction_lost`, `-health_max_rtcp_jitter_ts`,
//! `-health_min_rtp_packets_recv`, `-health_min_rtp_packets_recv_per_call`), judged on what
//! really came back: our `uac_pcap` against our own UAS with `-rtp_echo`, which reports
//! what it receives in RTCP to our RTP port + 1 (RFC 3550's default; we listen there), and
//! against SIPp's echo, which sends no RTCP. Each gate shows in summary.json's `health` and
//! `thresholds`, and a failed one makes the exit code 2.

mod media_support;

use std::process::Command;
use std::time::Duration;

use gossipper_e2e::{
    Proc, Sock, finish_pair, free_port, gossipper_bin, run, scratch_dir, sipp_bin, tail,
};
use media_support::*;

const CALLS: u64 = 2;

const GATES: [&str; 8] = [
    "-health_max_rtcp_fraction_lost",
    "0.01",
    "-health_max_rtcp_jitter_ts",
    "800",
    "-health_min_rtp_packets_recv",
    "300",
    "-health_min_rtp_packets_recv_per_call",
    "150",
];

#[test]
fn the_gates_pass_on_a_clean_echo_with_rtcp_from_the_peer() {
    let dir = scratch_dir("media-health-ours");
    let (sport, cport) = (free_port(), free_port());
    let mut uas = Command::new(gossipper_bin());
    uas.current_dir(&dir).args([
        "-sn",
        "uas",
        "-rtp_echo",
        "-mp",
        &media_port().to_string(),
        "-m",
        &CALLS.to_string(),
    ]);
    common(&mut uas, sport, &dir.join("server.csv"));
    let mut server = Proc::spawn("our uas -rtp_echo", &mut uas);
    server.wait_bound(Sock::Udp, sport);
    let mut uac = Command::new(gossipper_bin());
    uac.current_dir(&dir)
        .arg(format!("127.0.0.1:{sport}"))
        .args(["-sn", "uac_pcap", "-m", &CALLS.to_string(), "-r", "10"])
        .args(["-mp", &media_port().to_string(), "-summary_json", "s.json"])
        .args(GATES);
    common(&mut uac, cport, &dir.join("client.csv"));
    let client = Proc::spawn("our uac_pcap with media gates", &mut uac);
    finish_pair(
        "uac_pcap vs our echo",
        client,
        server,
        &dir.join("client.csv"),
        &dir.join("server.csv"),
        CALLS,
        Duration::from_secs(60),
    );
    let s = json(&dir.join("s.json"));
    let m = &s["media"];
    // Our UAS's receiver reports reached our RTCP socket and were read.
    assert!(
        m["rtcp_reception_reports"].as_u64().unwrap() > 0,
        "no RTCP report from the peer: {m}"
    );
    assert_eq!(s["health"]["active"], true, "{s}");
    assert_eq!(s["health"]["pass"], true, "{}", s["health"]);
    let names: Vec<&str> = s["thresholds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["threshold"].as_str().unwrap())
        .collect();
    for want in [
        "rtcp_fraction_lost<=1%",
        "rtcp_jitter_ts<=800",
        "rtp_packets_recv>=300",
        "rtp_packets_recv_per_call>=150",
    ] {
        assert!(names.contains(&want), "{want} not in {names:?}");
    }
}

#[test]
fn a_peer_without_rtcp_or_with_too_few_packets_fails_the_gates_with_exit_2() {
    let dir = scratch_dir("media-health-sipp");
    let (sport, cport) = (free_port(), free_port());
    let mut sipp = Command::new(sipp_bin());
    sipp.current_dir(&dir).args([
        "-sn",
        "uas",
        "-rtp_echo",
        "-mp",
        &media_port().to_string(),
        "-m",
        "1",
    ]);
    common(&mut sipp, sport, &dir.join("server.csv"));
    let mut server = Proc::spawn("sipp uas -rtp_echo", &mut sipp);
    server.wait_bound(Sock::Udp, sport);
    let (status, out, err) = run(
        "uac_pcap with gates SIPp cannot meet",
        Command::new(gossipper_bin())
            .current_dir(&dir)
            .arg(format!("127.0.0.1:{sport}"))
            .args(["-sn", "uac_pcap", "-m", "1", "-i", "127.0.0.1", "-p"])
            .arg(cport.to_string())
            .args(["-mp", &media_port().to_string(), "-nostdin", "-cp"])
            .arg(free_port().to_string())
            .args(["-summary_json", "s.json"])
            .args([
                "-health_max_rtcp_jitter_ts",
                "800",
                "-health_min_rtp_packets_recv_per_call",
                "100000",
            ]),
        Duration::from_secs(60),
    );
    drop(server);
    assert_eq!(status.code(), Some(2), "{}\n{}", tail(&out), tail(&err));
    let s = json(&dir.join("s.json"));
    assert_eq!(s["success_calls"], 1, "the call itself succeeded: {s}");
    let reasons = s["health"]["reasons"].to_string();
    assert!(
        reasons.contains("rtcp_jitter_ts: no RTCP report received"),
        "{reasons}"
    );
    assert!(
        reasons.contains("rtp_packets_recv_per_call") && reasons.contains("below minimum 100000"),
        "{reasons}"
    );
}
