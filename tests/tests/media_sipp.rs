//! RTP media against real SIPp on 127.0.0.1, both directions: `sipp -sn uac_pcap` plays
//! SIPp's captures to our UAS running `-rtp_echo`; our built-in `uac_pcap` plays our
//! embedded captures to `sipp -sn uas -rtp_echo`, counts every packet back and records
//! each call with `-record_wav_dir` (a scenario without media actions); a WAV
//! played through SIPp's echo is recorded and matches the source within G.711
//! quantisation; a missing or malformed media file fails the scenario load, naming it.
//!
//! Each side's numbers come from its own output: SIPp's -trace_stat CSV, our
//! summary.json and call_records.jsonl.

mod media_support;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use gossipper_e2e::{
    Proc, Sock, finish_pair, free_port, gossipper_bin, run, scratch_dir, sipp_bin, tail,
};
use gossipper_media::G711Law;
use media_support::*;

const CALLS: u64 = 3;

/// Our UAS with `-rtp_echo` answers `sipp -sn uac_pcap`; SIPp replays its own pcaps
/// (from its package's share directory, copied into the scratch dir at test time).
#[test]
fn sipp_uac_pcap_against_our_uas_with_rtp_echo() {
    let dir = scratch_dir("media-sipp-uac-pcap");
    let share = Path::new("/usr/share/sip-tester");
    std::fs::create_dir_all(dir.join("pcap")).unwrap();
    for f in ["g711a.pcap", "dtmf_2833_1.pcap"] {
        std::fs::copy(share.join(f), dir.join("pcap").join(f))
            .unwrap_or_else(|e| panic!("SIPp's {f} (sip-tester package): {e}"));
    }
    let (sport, cport, smp, cmp) = (free_port(), free_port(), media_port(), media_port());
    let mut ours = Command::new(gossipper_bin());
    ours.current_dir(&dir).args([
        "-sn",
        "uas",
        "-rtp_echo",
        "-mp",
        &smp.to_string(),
        "-m",
        &CALLS.to_string(),
    ]);
    ours.args([
        "-summary_json",
        "summary.json",
        "-call_records_jsonl",
        "calls.jsonl",
    ]);
    common(&mut ours, sport, &dir.join("server.csv"));
    let mut server = Proc::spawn("our uas -rtp_echo", &mut ours);
    server.wait_bound(Sock::Udp, sport);
    let mut sipp = Command::new(sipp_bin());
    sipp.current_dir(&dir)
        .arg(format!("127.0.0.1:{sport}"))
        .args([
            "-sn",
            "uac_pcap",
            "-mp",
            &cmp.to_string(),
            "-m",
            &CALLS.to_string(),
            "-r",
            "10",
        ]);
    common(&mut sipp, cport, &dir.join("client.csv"));
    let client = Proc::spawn("sipp -sn uac_pcap", &mut sipp);
    finish_pair(
        "sipp uac_pcap vs our uas",
        client,
        server,
        &dir.join("client.csv"),
        &dir.join("server.csv"),
        CALLS,
        Duration::from_secs(60),
    );

    let media = &json(&dir.join("summary.json"))["media"];
    let received = media["rtp_packets_received"].as_u64().unwrap();
    assert!(
        received >= CALLS * 200,
        "SIPp's g711a.pcap is ~250 packets a call: {media}"
    );
    assert_eq!(
        media["rtp_packets_echoed"].as_u64(),
        Some(received),
        "every packet echoed: {media}"
    );
    assert_eq!(
        media["rtp_packets_sent"].as_u64(),
        Some(received),
        "{media}"
    );
    assert_eq!(media["rtp_malformed"].as_u64(), Some(0), "{media}");
    let calls = records(&dir.join("calls.jsonl"));
    assert_eq!(calls.len() as u64, CALLS);
    for call in &calls {
        let m = &call["media"];
        assert_eq!(call["success"], true, "{call}");
        assert!(
            m["RTPPacketsReceived"].as_u64().unwrap() >= 200,
            "each call got its replay: {call}"
        );
        assert_eq!(m["RTPPacketsReceived"], m["RTPPacketsSent"], "{call}");
        assert!(m["MOS"].as_f64().unwrap() > 4.0, "{call}");
    }
}

/// Our built-in `uac_pcap` (embedded captures) against `sipp -sn uas -rtp_echo`: every
/// packet we play comes back, per call, and `-record_wav_dir` writes one WAV per call.
#[test]
fn our_uac_pcap_against_sipp_uas_with_rtp_echo() {
    let dir = scratch_dir("media-our-uac-pcap");
    let (sport, cport, smp) = (free_port(), free_port(), media_port());
    let mut sipp = Command::new(sipp_bin());
    sipp.current_dir(&dir).args([
        "-sn",
        "uas",
        "-rtp_echo",
        "-mp",
        &smp.to_string(),
        "-m",
        &CALLS.to_string(),
    ]);
    common(&mut sipp, sport, &dir.join("server.csv"));
    let mut server = Proc::spawn("sipp -sn uas -rtp_echo", &mut sipp);
    server.wait_bound(Sock::Udp, sport);
    let mut ours = Command::new(gossipper_bin());
    ours.current_dir(&dir)
        .arg(format!("127.0.0.1:{sport}"))
        .args(["-sn", "uac_pcap", "-m", &CALLS.to_string(), "-r", "10"])
        .args([
            "-summary_json",
            "summary.json",
            "-call_records_jsonl",
            "calls.jsonl",
            "-record_wav_dir",
            "recs",
        ]);
    common(&mut ours, cport, &dir.join("client.csv"));
    let client = Proc::spawn("our uac_pcap", &mut ours);
    finish_pair(
        "our uac_pcap vs sipp uas",
        client,
        server,
        &dir.join("client.csv"),
        &dir.join("server.csv"),
        CALLS,
        Duration::from_secs(60),
    );

    // Our tone capture is 200 packets, our DTMF capture 32. A packet more than 200 ms
    // behind schedule (a starved shard on a loaded machine) is skipped and counted.
    let per_call = 232;
    let media = &json(&dir.join("summary.json"))["media"];
    let sent = media["rtp_packets_sent"].as_u64().unwrap();
    let skipped = media["rtp_late_skipped"].as_u64().unwrap();
    assert_eq!(
        sent + skipped,
        CALLS * per_call,
        "every packet sent or counted as skipped: {media}"
    );
    assert!(skipped <= CALLS * per_call / 10, "{media}");
    assert_eq!(
        media["rtp_packets_received"].as_u64(),
        Some(sent),
        "every packet echoed back: {media}"
    );
    assert_eq!(media["rtp_unexpected_source"].as_u64(), Some(0), "{media}");
    assert_eq!(media["rtp_send_errors"].as_u64(), Some(0), "{media}");
    assert!(
        media["rtcp_receiver_reports"].as_u64().unwrap() > 0,
        "{media}"
    );
    assert_eq!(media["recordings_written"].as_u64(), Some(CALLS), "{media}");
    let calls = records(&dir.join("calls.jsonl"));
    assert_eq!(calls.len() as u64, CALLS);
    let tone = tone_capture_pcm();
    for call in calls {
        let m = &call["media"];
        assert!(
            m["RTPPacketsSent"].as_u64().unwrap() > per_call * 9 / 10,
            "{call}"
        );
        assert_eq!(m["RTPPacketsReceived"], m["RTPPacketsSent"], "{call}");
        // A loopback echo loses nothing but what a stalled sender skipped, and a call
        // that lost nothing sounds as its sibling test's do (SIPp's replay through our
        // echo): MOS above 4.
        let lost = m["RTPPacketsLost"].as_u64().unwrap();
        assert!(lost <= skipped, "{lost} lost, {skipped} skipped: {call}");
        if lost == 0 {
            assert!(m["MOS"].as_f64().unwrap() > 4.0, "{call}");
        }
        // Mono, what came back: the 4 s A-law tone (the DTMF events are not audio),
        // sample for sample.
        let id = call["call_id"].as_str().unwrap();
        let (channels, samples) = wav(&dir.join("recs").join(format!("{id}.wav")));
        assert_eq!(channels, 1, "mono");
        assert_recording_is(id, &samples, &tone, skipped);
    }
    let wavs = std::fs::read_dir(dir.join("recs")).unwrap().count() as u64;
    assert_eq!(wavs, CALLS, "one WAV per call");
}

/// Our side: streams `stream` (an `<exec>` attribute) through an echo, records both
/// directions and checks the packets.
fn wav_scenario(stream: &str) -> String {
    media_support::media_uac_scenario(
        "WAV through an echo, recorded",
        "SIPpTag09",
        "m=audio [media_port] RTP/AVP 0
         a=rtpmap:0 PCMU/8000",
        &format!(
            r#"      <exec rtp_record="start"/>
      <exec {stream}/>
      <exec rtpcheck="min_packets=150 direction=both"/>"#
        ),
    )
}

/// A WAV played (PCM → µ-law) through SIPp's echo and recorded on receive equals the
/// source after one G.711 round trip, sample for sample, once aligned.
#[test]
fn a_wav_played_through_sipp_echo_is_recorded_within_g711_quantisation() {
    let dir = scratch_dir("media-wav-record");
    let asset = Path::new(env!("CARGO_MANIFEST_DIR")).join("../assets/media/tone_440_8k.wav");
    std::fs::copy(&asset, dir.join("tone.wav")).unwrap();
    std::fs::write(
        dir.join("wav.xml"),
        wav_scenario(r#"rtp_stream="tone.wav,1,0""#),
    )
    .unwrap();
    let (sport, cport, smp) = (free_port(), free_port(), media_port());
    let mut sipp = Command::new(sipp_bin());
    sipp.current_dir(&dir).args([
        "-sn",
        "uas",
        "-rtp_echo",
        "-mp",
        &smp.to_string(),
        "-m",
        "1",
    ]);
    common(&mut sipp, sport, &dir.join("server.csv"));
    let mut server = Proc::spawn("sipp -sn uas -rtp_echo", &mut sipp);
    server.wait_bound(Sock::Udp, sport);
    let mut ours = Command::new(gossipper_bin());
    ours.current_dir(&dir)
        .arg(format!("127.0.0.1:{sport}"))
        .args([
            "-sf",
            "wav.xml",
            "-m",
            "1",
            "-cid_str",
            "wavcall-%u",
            "-summary_json",
            "summary.json",
        ]);
    common(&mut ours, cport, &dir.join("client.csv"));
    let (cstatus, cout, cerr) =
        Proc::spawn("our WAV client", &mut ours).wait(Duration::from_secs(60));
    let _ = server.wait(Duration::from_secs(30));
    assert_eq!(
        cstatus.code(),
        Some(0),
        "our exit\n{}\n{}",
        tail(&cout),
        tail(&cerr)
    );
    let media = &json(&dir.join("summary.json"))["media"];
    assert_eq!(
        media["rtp_late_skipped"].as_u64(),
        Some(0),
        "a stalled shard skips packets; this test needs all: {media}"
    );
    assert_eq!(
        media["rtp_packets_sent"].as_u64(),
        Some(200),
        "4 s of 20 ms frames: {media}"
    );
    assert_eq!(media["rtp_packets_received"].as_u64(), Some(200), "{media}");
    assert_eq!(media["recordings_written"].as_u64(), Some(1), "{media}");
    assert_eq!(media["rtpcheck_passed"].as_u64(), Some(1), "{media}");

    let source = wav_samples(&dir.join("tone.wav"));
    let rec = wav_samples(&dir.join("recordings/wavcall-1.wav"));
    let law = G711Law::MuLaw;
    let expect: Vec<i16> = source.iter().map(|s| law.decode(law.encode(*s))).collect();
    // The recording starts at rtp_record; the echo arrives a few ms later. Nothing was
    // skipped (checked above): every sample equals the G.711 round trip of the source.
    assert_recording_is("wavcall-1.wav", &rec, &expect, 0);
}

/// A missing pcap and a malformed WAV fail when the scenario loads, naming the file.
#[test]
fn missing_or_malformed_media_files_fail_the_load_naming_the_file() {
    let dir = scratch_dir("media-bad-files");
    std::fs::write(dir.join("broken.wav"), b"RIFF\x10\x00\x00\x00WAVEjunkjunk").unwrap();
    for (action, file) in [
        (
            r#"play_pcap_audio="pcap/nothere.pcap""#,
            "pcap/nothere.pcap",
        ),
        (r#"rtp_stream="broken.wav,1,8""#, "broken.wav"),
    ] {
        let xml = wav_scenario(action);
        std::fs::write(dir.join("bad.xml"), xml).unwrap();
        let mut cmd = Command::new(gossipper_bin());
        cmd.current_dir(&dir)
            .args(["127.0.0.1:9", "-sf", "bad.xml", "-m", "1", "-nostdin"]);
        let (status, out, err) = run(
            "gossipper with a bad media file",
            &mut cmd,
            Duration::from_secs(20),
        );
        assert_ne!(status.code(), Some(0), "must fail\n{out}\n{err}");
        assert!(
            err.contains(file) || out.contains(file),
            "the error names {file}:\n{}\n{}",
            tail(&out),
            tail(&err)
        );
        assert!(!dir.join("summary.json").exists());
    }
}
