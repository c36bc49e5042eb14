//! `play_pcap_video` and PCAPs of other link layers against real SIPp on 127.0.0.1: our
//! client plays a Linux cooked (SLL) audio capture and a raw-IP video capture to
//! `sipp -rtp_echo` (SIPp echoes audio on `-mp` and video on `-mp`+2) and counts every
//! packet back; the same run records each call in stereo with `-record_wav_dir`
//! `-record_wav_duplex`. A second run shows an `rtpcheck` whose `timeout_ms` expires
//! before its threshold failing the call, in every counter.
//!
//! The captures are generated at test time by our own code (`gossipper_media::asset_gen`),
//! and SIPp answers from a scenario written here that offers `m=video`: its built-in `uas`
//! offers audio only.

mod media_support;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use gossipper_e2e::{
    Proc, Sock, StatCsv, finish_pair, free_port, gossipper_bin, run, scratch_dir, sipp_bin, tail,
};
use gossipper_media::asset_gen::{Link, write_tone_pcap_as, write_video_pcap};
use media_support::*;

const CALLS: u64 = 2;
/// Our tone capture is 200 packets (4 s); the video capture gets 100 frames (4 s).
const AUDIO_PACKETS: u64 = 200;
const VIDEO_PACKETS: u16 = 100;

/// SIPp's side: answers with audio on `-mp` and video on `-mp`+2, where `-rtp_echo`
/// listens.
const SIPP_UAS_AV: &str = r#"<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="uas with audio and video">
  <recv request="INVITE" crlf="true"/>
  <send><![CDATA[
    SIP/2.0 180 Ringing
    [last_Via:]
    [last_From:]
    [last_To:];tag=[pid]AV[call_number]
    [last_Call-ID:]
    [last_CSeq:]
    Contact: <sip:[local_ip]:[local_port];transport=[transport]>
    Content-Length: 0
  ]]></send>
  <send retrans="500"><![CDATA[
    SIP/2.0 200 OK
    [last_Via:]
    [last_From:]
    [last_To:];tag=[pid]AV[call_number]
    [last_Call-ID:]
    [last_CSeq:]
    Contact: <sip:[local_ip]:[local_port];transport=[transport]>
    Content-Type: application/sdp
    Content-Length: [len]

    v=0
    o=user1 53655765 2353687637 IN IP[local_ip_type] [local_ip]
    s=-
    c=IN IP[media_ip_type] [media_ip]
    t=0 0
    m=audio [media_port] RTP/AVP 8
    a=rtpmap:8 PCMA/8000
    m=video [media_port+2] RTP/AVP 96
    a=rtpmap:96 H264/90000
  ]]></send>
  <recv request="ACK" crlf="true"/>
  <recv request="BYE"/>
  <send><![CDATA[
    SIP/2.0 200 OK
    [last_Via:]
    [last_From:]
    [last_To:]
    [last_Call-ID:]
    [last_CSeq:]
    Contact: <sip:[local_ip]:[local_port];transport=[transport]>
    Content-Length: 0
  ]]></send>
</scenario>
"#;

/// Our side: plays both captures at once, then checks the packet counts with `rtpcheck`.
fn our_uac_av(rtpcheck: &str, audio: &str) -> String {
    media_support::media_uac_scenario(
        "pcap link layers and video through an echo",
        "AVC",
        "m=audio [media_port] RTP/AVP 8
         a=rtpmap:8 PCMA/8000
         m=video [rtpstream_video_port] RTP/AVP 96
         a=rtpmap:96 H264/90000",
        &format!(
            r#"      <exec play_pcap_audio="{audio}"/>
      <exec play_pcap_video="video_raw.pcap"/>
      <exec rtpcheck="{rtpcheck}"/>"#
        ),
    )
}

/// Writes the captures and both scenarios into `dir`, with `rtpcheck` as our check.
fn prepare(dir: &Path, rtpcheck: &str) {
    let mut sll = Vec::new();
    write_tone_pcap_as(&mut sll, Link::LinuxSll).expect("SLL capture");
    prepare_with(dir, rtpcheck, "tone_sll.pcap", &sll);
}

/// As `prepare`, with `audio` (named `name`) as the audio capture.
fn prepare_with(dir: &Path, rtpcheck: &str, name: &str, audio: &[u8]) {
    let mut raw = Vec::new();
    write_video_pcap(&mut raw, Link::RawIp, VIDEO_PACKETS).expect("raw-IP capture");
    let uac = our_uac_av(rtpcheck, name);
    let files: [(&str, &[u8]); 4] = [
        (name, audio),
        ("video_raw.pcap", &raw),
        ("uas_av.xml", SIPP_UAS_AV.as_bytes()),
        ("uac_av.xml", uac.as_bytes()),
    ];
    for (name, bytes) in files {
        std::fs::write(dir.join(name), bytes).expect("write to the scratch dir");
    }
}

/// Starts `sipp -sf uas_av.xml -rtp_echo` for `calls` calls; returns it and its port.
fn sipp_uas(dir: &Path, calls: u64) -> (Proc, u16) {
    let (sport, smp) = (free_port(), media_port());
    let mut sipp = Command::new(sipp_bin());
    sipp.current_dir(dir).args([
        "-sf",
        "uas_av.xml",
        "-rtp_echo",
        "-mp",
        &smp.to_string(),
        "-m",
        &calls.to_string(),
    ]);
    common(&mut sipp, sport, &dir.join("server.csv"));
    let mut server = Proc::spawn("sipp -sf uas_av.xml -rtp_echo", &mut sipp);
    server.wait_bound(Sock::Udp, sport);
    (server, sport)
}

fn our_uac(dir: &Path, sport: u16, calls: u64, extra: &[&str]) -> Command {
    let mut ours = Command::new(gossipper_bin());
    ours.current_dir(dir)
        .arg(format!("127.0.0.1:{sport}"))
        .args(["-sf", "uac_av.xml", "-m", &calls.to_string(), "-r", "10"])
        .args([
            "-cid_str",
            "av-%u",
            "-summary_json",
            "summary.json",
            "-call_records_jsonl",
            "calls.jsonl",
        ])
        .args(extra);
    common(&mut ours, free_port(), &dir.join("client.csv"));
    ours
}

/// SLL audio and raw-IP video replays come back from SIPp's echo, packet for packet;
/// `-record_wav_dir -record_wav_duplex` writes one stereo WAV per call.
#[test]
fn sll_audio_and_raw_ip_video_replays_come_back_from_sipp_echo() {
    let dir = scratch_dir("media-pcap-links");
    let per_call = AUDIO_PACKETS + u64::from(VIDEO_PACKETS);
    // A shard starved for 200 ms skips packets (counted): the check leaves room for that.
    prepare(
        &dir,
        &format!("min_packets={} direction=both", per_call * 9 / 10),
    );
    let (server, sport) = sipp_uas(&dir, CALLS);
    let mut ours = our_uac(
        &dir,
        sport,
        CALLS,
        &["-record_wav_dir", "recs", "-record_wav_duplex"],
    );
    let client = Proc::spawn("our uac_av", &mut ours);
    finish_pair(
        "pcap links",
        client,
        server,
        &dir.join("client.csv"),
        &dir.join("server.csv"),
        CALLS,
        Duration::from_secs(60),
    );

    let media = &json(&dir.join("summary.json"))["media"];
    let sent = media["rtp_packets_sent"].as_u64().unwrap();
    let skipped = media["rtp_late_skipped"].as_u64().unwrap();
    assert_eq!(
        sent + skipped,
        CALLS * per_call,
        "both replays, every packet sent or counted as skipped: {media}"
    );
    assert!(skipped <= CALLS * per_call / 20, "{media}");
    assert_eq!(
        media["rtp_packets_received"].as_u64(),
        Some(sent),
        "every packet echoed back: {media}"
    );
    assert_eq!(media["rtp_unexpected_source"].as_u64(), Some(0), "{media}");
    assert_eq!(media["rtp_malformed"].as_u64(), Some(0), "{media}");
    assert_eq!(media["rtpcheck_passed"].as_u64(), Some(CALLS), "{media}");
    assert_eq!(media["rtpcheck_failed"].as_u64(), Some(0), "{media}");
    assert_eq!(media["recordings_written"].as_u64(), Some(CALLS), "{media}");
    let calls = records(&dir.join("calls.jsonl"));
    assert_eq!(calls.len() as u64, CALLS);
    for call in &calls {
        let m = &call["media"];
        assert_eq!(call["success"], true, "{call}");
        assert!(
            m["RTPPacketsSent"].as_u64().unwrap() >= per_call * 19 / 20,
            "{call}"
        );
        assert_eq!(m["RTPPacketsReceived"], m["RTPPacketsSent"], "{call}");
        // One stereo WAV per call, named after its Call-ID: 4 s of A-law tone each way
        // (the video is not audio and is not recorded).
        let id = call["call_id"].as_str().unwrap();
        let (channels, samples) = wav(&dir.join("recs").join(format!("{id}.wav")));
        assert_eq!(channels, 2, "{id}: duplex");
        let frames = samples.len() / 2;
        assert!(
            (31_500..=34_000).contains(&frames),
            "{id}: {frames} sample frames, ~4 s expected"
        );
        let left = samples.iter().step_by(2).filter(|s| **s != 0).count();
        let right = samples
            .iter()
            .skip(1)
            .step_by(2)
            .filter(|s| **s != 0)
            .count();
        assert!(
            left > 30_000 && right > 30_000,
            "{id}: sent {left}, received {right}"
        );
    }
    let wavs = std::fs::read_dir(dir.join("recs")).unwrap().count() as u64;
    assert_eq!(wavs, CALLS, "one file per call");
}

/// An `rtpcheck` whose `timeout_ms` expires before its threshold fails the call, even
/// though the threshold is reached later: FailedCall, the failure class, the media
/// counters and the call record all say so.
#[test]
fn an_rtpcheck_timing_out_before_its_threshold_fails_the_call() {
    let dir = scratch_dir("media-rtpcheck-timeout");
    // 2 s in, ~100 audio + 50 video packets are back; 250 arrive by the end.
    prepare(&dir, "min_packets=250 timeout_ms=2000 direction=recv");
    let (server, sport) = sipp_uas(&dir, 1);
    let mut ours = our_uac(&dir, sport, 1, &[]);
    let (status, out, err) = run("our uac_av, rtpcheck", &mut ours, Duration::from_secs(60));
    let (sstatus, sout, serr) = server.wait(Duration::from_secs(30));
    assert_eq!(
        status.code(),
        Some(1),
        "a failed call exits 1\n{}\n{}",
        tail(&out),
        tail(&err)
    );
    assert_eq!(
        sstatus.code(),
        Some(0),
        "SIPp saw a normal call\n{}\n{}",
        tail(&sout),
        tail(&serr)
    );
    let c = StatCsv::read(&dir.join("client.csv"));
    assert_eq!(
        (c.last("SuccessfulCall(C)"), c.last("FailedCall(C)")),
        (0, 1)
    );
    let summary = json(&dir.join("summary.json"));
    assert_eq!(summary["failed_calls"].as_u64(), Some(1), "{summary}");
    assert_eq!(
        summary["failure_classes"]["scenario_error"].as_u64(),
        Some(1),
        "{summary}"
    );
    let media = &summary["media"];
    assert_eq!(media["rtpcheck_failed"].as_u64(), Some(1), "{media}");
    assert!(
        media["rtp_packets_received"].as_u64().unwrap() >= 250,
        "the threshold was reached, after the timeout: {media}"
    );
    let calls = records(&dir.join("calls.jsonl"));
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0]["success"], false, "{}", calls[0]);
    assert_eq!(calls[0]["error"], "RtpCheck", "{}", calls[0]);
}

/// `-pcap-link` (the Go gossipper's run flag): a raw-IP audio capture whose header claims
/// Ethernet cannot be loaded as it is (the run stops before its first call, naming the
/// file and the flag); with `-pcap-link raw` both captures (the mislabelled audio and the
/// correctly labelled raw-IP video) are decoded as raw IP and come back from SIPp's echo.
#[test]
fn pcap_link_plays_a_capture_whose_header_names_the_wrong_link_type() {
    let dir = scratch_dir("media-pcap-link-flag");
    let mut audio = Vec::new();
    write_tone_pcap_as(&mut audio, Link::RawIp).expect("raw-IP capture");
    // The classic pcap header's link type (bytes 20..24, in the file's byte order).
    let ethernet = match audio[..4] {
        [0xd4, 0xc3, 0xb2, 0xa1] | [0x4d, 0x3c, 0xb2, 0xa1] => 1u32.to_le_bytes(),
        _ => 1u32.to_be_bytes(),
    };
    assert_ne!(audio[20..24], ethernet, "the generated capture is raw IP");
    audio[20..24].copy_from_slice(&ethernet);
    let per_call = AUDIO_PACKETS + u64::from(VIDEO_PACKETS);
    prepare_with(
        &dir,
        &format!("min_packets={} direction=both", per_call * 9 / 10),
        "tone_mislabelled.pcap",
        &audio,
    );

    // Without the flag: refused at load, before any call (no peer needed).
    let mut ours = our_uac(&dir, free_port(), 1, &[]);
    let (status, out, err) = run(
        "mislabelled, no -pcap-link",
        &mut ours,
        Duration::from_secs(30),
    );
    assert_eq!(status.code(), Some(255), "{}\n{}", tail(&out), tail(&err));
    assert!(
        err.contains("tone_mislabelled.pcap") && err.contains("-pcap-link"),
        "the error names the file and the flag: {}",
        tail(&err)
    );
    assert!(!dir.join("calls.jsonl").exists() || records(&dir.join("calls.jsonl")).is_empty());

    // With -pcap-link raw: one call, every packet played and echoed.
    let (server, sport) = sipp_uas(&dir, 1);
    let mut ours = our_uac(&dir, sport, 1, &["-pcap-link", "raw"]);
    let client = Proc::spawn("mislabelled, -pcap-link raw", &mut ours);
    finish_pair(
        "pcap-link raw",
        client,
        server,
        &dir.join("client.csv"),
        &dir.join("server.csv"),
        1,
        Duration::from_secs(60),
    );
    let media = &json(&dir.join("summary.json"))["media"];
    let sent = media["rtp_packets_sent"].as_u64().unwrap();
    let skipped = media["rtp_late_skipped"].as_u64().unwrap();
    assert_eq!(sent + skipped, per_call, "both captures decoded: {media}");
    assert_eq!(
        media["rtp_packets_received"].as_u64(),
        Some(sent),
        "{media}"
    );
    assert_eq!(media["rtpcheck_passed"].as_u64(), Some(1), "{media}");
}
