//! `-hep_addr` (issue #19 item 6): every SIP message our client sends and receives reaches
//! a real HEP3 collector with the right addresses, ports and timestamps; with
//! `-send_media_report` the RTCP reports of each call follow as HEP type 5, filed under
//! the call's Call-ID.
//!
//! The collector is sngrep (Debian), which listens for HEP (`-L udp:…`), checks the
//! authentication key (`eep.listen.pass`), decodes each packet and writes the SIP messages
//! it carried to a pcap file with their captured addresses and times; tshark (Debian)
//! then reads that file. Neither is written here. (tshark 4.0 has no HEP dissector of its
//! own, so it reads what sngrep decoded.) The timestamps are checked against our own
//! `-trace_shortmsg` lines, which are written from the same clock reading.
#![allow(clippy::unwrap_used)] // helpers outside #[test] fns: a failed unwrap is a failed test

use std::collections::BTreeMap;
use std::net::UdpSocket;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use gossipper_e2e::{
    Proc, Sock, free_port, free_port_block, gossipper_bin, output, run, scratch_dir, sipp_server,
    tail,
};

const CALLS: usize = 3;
/// INVITE, 180, 200, ACK, BYE, 200 per call of the built-in uac against SIPp's uas.
const MESSAGES_PER_CALL: usize = 6;

/// sngrep listening for HEP on a free loopback port, accepting only `password`, writing
/// what it decodes to `pcap`.
fn sngrep_collector(dir: &Path, password: &str, pcap: &Path) -> (Proc, u16) {
    let port = free_port();
    let conf = dir.join("sngrep.conf");
    std::fs::write(&conf, format!("set eep.listen.pass {password}\n")).unwrap();
    let mut cmd = Command::new("sngrep");
    cmd.current_dir(dir)
        .arg("-F")
        .arg("-f")
        .arg(&conf)
        .args(["-N", "-q", "-L", &format!("udp:127.0.0.1:{port}"), "-O"])
        .arg(pcap);
    let mut p = Proc::spawn("sngrep", &mut cmd);
    p.wait_bound(Sock::Udp, port);
    (p, port)
}

/// Stops sngrep the way a user would (SIGTERM), which closes its pcap file.
fn stop(p: Proc) {
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(p.child.id().to_string())
        .status();
    let (_status, out, err) = p.wait(Duration::from_secs(10));
    assert!(
        !err.contains("rror"),
        "sngrep: {}\n{}",
        tail(&out),
        tail(&err)
    );
}

/// One SIP message as tshark reads it from sngrep's pcap.
#[derive(Debug)]
struct Seen {
    time_us: u64,
    src: String,
    dst: String,
    first: String,
    call_id: String,
    cseq: String,
}

fn tshark(pcap: &Path) -> Vec<Seen> {
    let out = output(Command::new("tshark").arg("-r").arg(pcap).args([
        "-T",
        "fields",
        "-E",
        "separator=|",
        "-e",
        "frame.time_epoch",
        "-e",
        "ip.src",
        "-e",
        "udp.srcport",
        "-e",
        "ip.dst",
        "-e",
        "udp.dstport",
        "-e",
        "sip.Method",
        "-e",
        "sip.Status-Code",
        "-e",
        "sip.Call-ID",
        "-e",
        "sip.CSeq",
        "-Y",
        "sip",
    ]));
    assert!(
        out.status.success(),
        "tshark: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split('|').collect();
            assert_eq!(f.len(), 9, "tshark line {l:?}");
            let (secs, frac) = f[0].split_once('.').expect("epoch with a fraction");
            let us = secs.parse::<u64>().unwrap() * 1_000_000
                + frac.get(..6).unwrap().parse::<u64>().unwrap();
            Seen {
                time_us: us,
                src: format!("{}:{}", f[1], f[2]),
                dst: format!("{}:{}", f[3], f[4]),
                first: if f[5].is_empty() {
                    f[6].to_owned()
                } else {
                    f[5].to_owned()
                },
                call_id: f[7].to_owned(),
                cseq: f[8].to_owned(),
            }
        })
        .collect()
}

/// Our `-trace_shortmsg` lines: (epoch µs, S or R, Call-ID, CSeq).
fn shortmsg(path: &Path) -> Vec<(u64, String, String, String)> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.lines()
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            let (secs, frac) = f[2].split_once('.').unwrap();
            let us = secs.parse::<u64>().unwrap() * 1_000_000 + frac.parse::<u64>().unwrap();
            let cseq = f[5].strip_prefix("CSeq:").unwrap_or(f[5]).to_owned();
            (us, f[3].to_owned(), f[4].to_owned(), cseq)
        })
        .collect()
}

#[test]
fn every_sip_message_reaches_a_real_hep_collector_with_its_addresses_and_times() {
    let dir = scratch_dir("hep-export");
    let pcap = dir.join("decoded.pcap");
    let (collector, hep_port) = sngrep_collector(&dir, "s3cret", &pcap);
    let (_uas, uas_port) = sipp_server("sipp uas", &dir, "60s", &["-sn", "uas"]);
    let our_port = free_port();
    let (status, out, err) = run(
        "gossipper uac with -hep_addr",
        Command::new(gossipper_bin()).current_dir(&dir).args([
            &format!("127.0.0.1:{uas_port}"),
            "-sn",
            "uac",
            "-i",
            "127.0.0.1",
            "-p",
            &our_port.to_string(),
            "-m",
            &CALLS.to_string(),
            "-r",
            "10",
            "-nostdin",
            "-cp",
            &free_port().to_string(),
            "-trace_shortmsg",
            "-shortmessage_file",
            "short.log",
            "-hep_addr",
            &format!("127.0.0.1:{hep_port}"),
            "-hep_capture_id",
            "2001",
            "-hep_password",
            "s3cret",
        ]),
        Duration::from_secs(40),
    );
    assert_eq!(status.code(), Some(0), "{}\n{}", tail(&out), tail(&err));
    // sngrep reads its socket as packets come; give the last ones a moment to land.
    std::thread::sleep(Duration::from_millis(500));
    stop(collector);

    let seen = tshark(&pcap);
    let ours = format!("127.0.0.1:{our_port}");
    let theirs = format!("127.0.0.1:{uas_port}");
    assert_eq!(
        seen.len(),
        CALLS * MESSAGES_PER_CALL,
        "messages the collector decoded: {seen:#?}"
    );
    // Each call's messages in order, each with the direction's addresses.
    let mut calls: BTreeMap<&str, Vec<&Seen>> = BTreeMap::new();
    for s in &seen {
        calls.entry(&s.call_id).or_default().push(s);
    }
    assert_eq!(calls.len(), CALLS, "{calls:#?}");
    for (id, msgs) in &calls {
        let firsts: Vec<&str> = msgs.iter().map(|m| m.first.as_str()).collect();
        assert_eq!(
            firsts,
            ["INVITE", "180", "200", "ACK", "BYE", "200"],
            "{id}"
        );
        for m in msgs {
            let from_us = matches!(m.first.as_str(), "INVITE" | "ACK" | "BYE");
            let (src, dst) = if from_us {
                (&ours, &theirs)
            } else {
                (&theirs, &ours)
            };
            assert_eq!((&m.src, &m.dst), (src, dst), "{id}: {m:?}");
        }
    }
    // The times are the ones our own trace wrote for the same messages, to the µs.
    let trace = shortmsg(&dir.join("short.log"));
    assert_eq!(trace.len(), seen.len(), "{trace:?}");
    for (us, dir_flag, call_id, cseq) in &trace {
        let sent = dir_flag == "S";
        let hit = seen.iter().any(|s| {
            s.time_us == *us && s.call_id == *call_id && s.cseq == *cseq && (s.src == ours) == sent
        });
        assert!(
            hit,
            "no HEP copy of {dir_flag} {call_id} {cseq} at {us} µs in {seen:#?}"
        );
    }
}

#[test]
fn a_collector_with_another_key_takes_nothing_and_the_run_still_passes() {
    let dir = scratch_dir("hep-wrong-key");
    let pcap = dir.join("decoded.pcap");
    let (collector, hep_port) = sngrep_collector(&dir, "right", &pcap);
    let (_uas, uas_port) = sipp_server("sipp uas", &dir, "60s", &["-sn", "uas"]);
    let (status, out, err) = run(
        "gossipper uac with a wrong -hep_password",
        Command::new(gossipper_bin()).current_dir(&dir).args([
            &format!("127.0.0.1:{uas_port}"),
            "-sn",
            "uac",
            "-i",
            "127.0.0.1",
            "-m",
            "2",
            "-r",
            "10",
            "-nostdin",
            "-cp",
            &free_port().to_string(),
            "-hep_addr",
            &format!("127.0.0.1:{hep_port}"),
            "-hep_password",
            "wrong",
        ]),
        Duration::from_secs(40),
    );
    assert_eq!(status.code(), Some(0), "{}\n{}", tail(&out), tail(&err));
    std::thread::sleep(Duration::from_millis(500));
    stop(collector);
    // The key travels in every packet and sngrep refuses each one.
    let seen = if pcap.exists() {
        tshark(&pcap)
    } else {
        Vec::new()
    };
    assert!(seen.is_empty(), "accepted with the wrong key: {seen:#?}");
}

#[test]
fn hep_flags_without_a_collector_or_port_are_refused_naming_the_flag() {
    for (args, word) in [
        (&["-hep_capture_id", "5"][..], "-hep_capture_id"),
        (&["-hep_addr", "127.0.0.1"][..], "-hep_addr"),
    ] {
        let out = output(
            Command::new(gossipper_bin())
                .args(["127.0.0.1:5060", "-sn", "uac", "-m", "1"])
                .args(args),
        );
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(255), "{args:?}: {err}");
        assert!(err.contains(word), "{args:?}: {err}");
    }
}

/// One HEP3 packet's chunks (vendor 0) by type; panics on a malformed packet.
fn hep_chunks(p: &[u8]) -> BTreeMap<u16, Vec<u8>> {
    assert_eq!(p.get(..4), Some(&b"HEP3"[..]), "{p:?}");
    assert_eq!(usize::from(u16::from_be_bytes([p[4], p[5]])), p.len());
    let mut out = BTreeMap::new();
    let mut at = 6;
    while at < p.len() {
        let kind = u16::from_be_bytes([p[at + 2], p[at + 3]]);
        let len = usize::from(u16::from_be_bytes([p[at + 4], p[at + 5]]));
        assert!(
            len >= 6 && at + len <= p.len(),
            "chunk {kind} of {len} bytes"
        );
        out.insert(kind, p[at + 6..at + len].to_vec());
        at += len;
    }
    out
}

fn port_of(chunks: &BTreeMap<u16, Vec<u8>>, kind: u16) -> u16 {
    let v = &chunks[&kind];
    u16::from_be_bytes([v[0], v[1]])
}

/// What an RTCP test's run gave: every HEP packet the collector took (as chunks), and the
/// SIP and media ports of SIPp's echo.
struct MediaRun {
    packets: Vec<BTreeMap<u16, Vec<u8>>>,
    uas_port: u16,
    sipp_media: u16,
}

/// Our `uac_pcap` placing `calls` calls through `sipp -sn uas -rtp_echo` with
/// `-send_media_report` and `extra`, its HEP copies read by a plain socket here (sngrep
/// decodes SIP only) and taken apart by the HEP3 chunk layout (type 5 = RTCP, 0x11 =
/// correlation id). The run must exit 0.
fn media_run(dir: &Path, calls: usize, extra: &[&str]) -> MediaRun {
    let collector = UdpSocket::bind("127.0.0.1:0").unwrap();
    collector
        .set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let hep_port = collector.local_addr().unwrap().port();
    // SIPp binds its -mp port and the ones above it (RTCP, video).
    let sipp_media = free_port_block(16);
    let (_uas, uas_port) = sipp_server(
        "sipp uas -rtp_echo",
        dir,
        "60s",
        &["-sn", "uas", "-rtp_echo", "-mp", &sipp_media.to_string()],
    );
    let (status, out, err) = run(
        "gossipper uac_pcap with -send_media_report",
        Command::new(gossipper_bin())
            .current_dir(dir)
            .args([
                &format!("127.0.0.1:{uas_port}"),
                "-sn",
                "uac_pcap",
                "-i",
                "127.0.0.1",
                "-m",
                &calls.to_string(),
                "-r",
                "10",
                "-nostdin",
                "-cp",
                &free_port().to_string(),
                "-hep_addr",
                &format!("127.0.0.1:{hep_port}"),
                "-send_media_report",
            ])
            .args(extra),
        Duration::from_secs(60),
    );
    assert_eq!(status.code(), Some(0), "{}\n{}", tail(&out), tail(&err));
    let mut packets = Vec::new();
    let mut buf = vec![0u8; 65_536];
    while let Ok(n) = collector.recv(&mut buf) {
        packets.push(hep_chunks(&buf[..n]));
    }
    MediaRun {
        packets,
        uas_port,
        sipp_media,
    }
}

#[test]
fn send_media_report_files_each_calls_rtcp_under_its_call_id() {
    const MEDIA_CALLS: usize = 2;
    let dir = scratch_dir("hep-rtcp");
    let MediaRun {
        packets,
        uas_port,
        sipp_media,
    } = media_run(&dir, MEDIA_CALLS, &["-call_records_jsonl", "calls.jsonl"]);
    let call_ids: Vec<String> = std::fs::read_to_string(dir.join("calls.jsonl"))
        .unwrap()
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            v["call_id"].as_str().unwrap().to_owned()
        })
        .collect();
    assert_eq!(call_ids.len(), MEDIA_CALLS);
    let sip = packets.iter().filter(|c| c[&0x000b] == [1]).count();
    assert_eq!(sip, MEDIA_CALLS * MESSAGES_PER_CALL, "SIP copies");
    let rtcp: Vec<_> = packets.iter().filter(|c| c[&0x000b] == [5]).collect();
    for id in &call_ids {
        let mine: Vec<_> = rtcp
            .iter()
            .filter(|c| c.get(&0x0011).map(Vec::as_slice) == Some(id.as_bytes()))
            .collect();
        // Each call replays 4 s of audio (a pcap: its reports are RRs) and reports every
        // 500 ms.
        assert!(mine.len() >= 4, "{} reports for {id}", mine.len());
        for c in mine {
            let report = &c[&0x000f];
            assert_eq!(report[0] >> 6, 2, "RTCP version 2: {report:?}");
            assert!(
                matches!(report[1], 200 | 201),
                "an SR or RR first: {report:?}"
            );
            // From our RTP socket to SIPp's RTCP port (its RTP port + 1), over UDP.
            assert_eq!(c[&0x0002], [17]);
            assert_eq!(c[&0x0004], [127, 0, 0, 1]);
            assert_eq!(port_of(c, 0x0008), sipp_media + 1);
            assert_ne!(port_of(c, 0x0007), uas_port, "not the SIP port");
        }
    }
}

#[test]
fn homer_lake_rtcp_sends_each_report_as_json() {
    let dir = scratch_dir("hep-rtcp-json");
    let run = media_run(&dir, 1, &["-hep_homer_lake_rtcp"]);
    let reports: Vec<serde_json::Value> = run
        .packets
        .iter()
        .filter(|c| c[&0x000b] == [5])
        .map(|c| {
            serde_json::from_slice(&c[&0x000f])
                .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", c[&0x000f]))
        })
        .collect();
    // A 4 s replay reports every 500 ms; a replay's reports are RRs about SIPp's echo.
    assert!(reports.len() >= 4, "{reports:?}");
    for r in &reports {
        assert!(matches!(r["type"].as_u64(), Some(200 | 201)), "{r}");
        assert!(r["ssrc"].as_u64().is_some(), "{r}");
        assert_eq!(
            r["report_count"].as_u64(),
            Some(r["report_blocks"].as_array().unwrap().len() as u64),
            "{r}"
        );
    }
    assert!(
        reports
            .iter()
            .any(|r| r["report_blocks"].as_array().is_some_and(|b| !b.is_empty())),
        "a report about the echoed stream: {reports:?}"
    );
}
