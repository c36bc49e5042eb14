//! A real WebRTC gateway between our `webrtc_uac` and plain SIP (issue 16): Kamailio
//! (SIP over WebSocket, Debian's modules) with rtpengine (Debian `rtpengine-daemon`,
//! userspace forwarding) bridging DTLS-SRTP with ICE on our side to plain RTP toward
//! `sipp -sn uas -rtp_echo`. Our calls must set up ICE and DTLS with rtpengine, and the
//! audio SIPp echoes must come back to us through the gateway, counted as our own stream
//! returning (`rtp_echoed_received`). The scripts in tests/webrtc start and stop the
//! gateway (rtpengine.sh installs the daemon when missing).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use gossipper_e2e::{
    Proc, Sock, free_port, free_port_block, gossipper_bin, peer_args, run, scratch_dir, sipp_bin,
};
use serde_json::Value;

const CALLS: u64 = 3;

/// One gateway at a time: rtpengine binds fixed ports besides the ones given (its
/// websocket listener), so two tests of this file cannot run theirs at once.
static GATEWAY: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn one_gateway() -> std::sync::MutexGuard<'static, ()> {
    GATEWAY.lock().unwrap_or_else(|e| e.into_inner())
}

fn script(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("webrtc")
        .join(name)
}

/// Stops a gateway part (its script's `stop DIR`) when the test ends, passed or not.
struct Stop(&'static str, PathBuf);

impl Drop for Stop {
    fn drop(&mut self) {
        let _ = Command::new(script(self.0))
            .arg("stop")
            .arg(&self.1)
            .status();
    }
}

fn start(name: &'static str, dir: &Path, args: &[String]) -> Stop {
    let mut cmd = Command::new(script(name));
    cmd.arg("start").arg(dir).args(args);
    let (status, out, err) = run(name, &mut cmd, Duration::from_secs(120));
    assert!(status.success(), "{name} did not start\n{out}\n{err}");
    Stop(name, dir.to_path_buf())
}

#[test]
fn webrtc_uac_through_kamailio_and_rtpengine_to_sipp_rtp_echo() {
    let _one = one_gateway();
    let dir = scratch_dir("webrtc-gateway");
    let ng = free_port();
    let media = free_port_block(200);
    let _rtpengine = start(
        "rtpengine.sh",
        &dir.join("rtpengine"),
        &[
            ng.to_string(),
            media.to_string(),
            (media + 199).to_string(),
            free_port().to_string(),
        ],
    );

    let sipp_port = free_port();
    let sipp_media = free_port_block(8);
    let mut sipp = Command::new(sipp_bin());
    sipp.current_dir(&dir)
        .args(["-sn", "uas", "-rtp_echo", "-i", "127.0.0.1"])
        .args(["-p", &sipp_port.to_string(), "-mp", &sipp_media.to_string()])
        .args(["-m", &CALLS.to_string()]);
    peer_args(&mut sipp, &dir.join("sipp.csv"));
    let mut sipp = Proc::spawn("sipp uas -rtp_echo", &mut sipp);
    sipp.wait_bound(Sock::Udp, sipp_port);

    let (udp, ws, wss) = (free_port(), free_port(), free_port());
    let _kamailio = start(
        "kamailio.sh",
        &dir.join("kamailio"),
        &[
            udp.to_string(),
            ws.to_string(),
            wss.to_string(),
            format!("sip:127.0.0.1:{sipp_port}"),
            format!("127.0.0.1:{ng}"),
        ],
    );

    let mut uac = Command::new(gossipper_bin());
    uac.current_dir(&dir)
        .arg(format!("127.0.0.1:{ws}"))
        .args(["-sn", "webrtc_uac", "-t", "w1", "-i", "127.0.0.1"])
        .args(["-m", &CALLS.to_string(), "-r", "5", "-d", "2000"])
        .arg("-call_records_jsonl")
        .arg(dir.join("calls.jsonl"));
    peer_args(&mut uac, &dir.join("client.csv"));
    let (status, out, err) =
        Proc::spawn("webrtc_uac via the gateway", &mut uac).wait(Duration::from_secs(90));
    let kamailio_log =
        std::fs::read_to_string(dir.join("kamailio/kamailio.log")).unwrap_or_default();
    let tail = |s: &str| s.lines().rev().take(40).collect::<Vec<_>>().join("\n");
    assert_eq!(
        status.code(),
        Some(0),
        "client\n{}\n{}\nkamailio (last lines, reversed):\n{}",
        tail(&out),
        tail(&err),
        tail(&kamailio_log)
    );
    let (sstatus, sout, _) = sipp.wait(Duration::from_secs(30));
    assert_eq!(sstatus.code(), Some(0), "sipp\n{}", tail(&sout));

    let text = std::fs::read_to_string(dir.join("calls.jsonl")).expect("call records");
    let records: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("a record"))
        .collect();
    assert_eq!(records.len() as u64, CALLS);
    for r in &records {
        assert_eq!(r["success"], true, "{r}");
        let w = &r["webrtc"];
        assert_eq!(w["answer_accepted"], true, "{w}");
        assert!(w["dtls_connected_ms"].is_u64(), "DTLS with rtpengine: {w}");
        let sent = w["rtp_packets_sent"].as_u64().unwrap_or(0);
        let echoed = w["rtp_echoed_received"].as_u64().unwrap_or(0);
        // 2 s of 20 ms frames out, and most of them back through SIPp's echo.
        assert!(sent >= 80, "{w}");
        assert!(echoed >= sent / 2, "echoed {echoed} of {sent}: {w}");
        assert!(w["failure"].is_null(), "{w}");
    }
}

/// SDES-SRTP through the gateway: our `webrtc_uac` (DTLS-SRTP over WS) calls a
/// Request-URI user starting with "sdes", so rtpengine offers `RTP/SAVP` with its own
/// `a=crypto` lines to the plain side, which is our uas with `-media_srtp`: it answers
/// one line through SIPp's keywords and echoes. rtpengine's SRTP and ours must agree both
/// ways: the uas decrypts every packet (no auth failure) and our own audio comes back to
/// the uac through the echo.
#[test]
fn webrtc_uac_through_rtpengine_sdes_to_our_media_srtp_echo() {
    through_rtpengine_to_our_echo("sdes", SDES_UAS);
}

/// DTLS-SRTP for classic calls against an independent implementation: the same path with
/// a Request-URI user starting with "dtls", so rtpengine offers `RTP/SAVP` with
/// `a=fingerprint` and `a=setup:actpass` (no ICE, no `a=crypto`); our uas answers
/// `[srtp_fingerprint]` / `[srtp_setup]` (active), runs the handshake on its media port
/// (rtpengine picks AEAD_AES_256_GCM) and echoes with the exported keys.
#[test]
fn webrtc_uac_through_rtpengine_dtls_to_our_media_srtp_echo() {
    through_rtpengine_to_our_echo("dtls", DTLS_UAS);
}

/// Our `webrtc_uac` to Request-URI user `user` through Kamailio and rtpengine, to our
/// uas `uas_xml` with `-media_srtp` echoing; both sides' numbers checked.
fn through_rtpengine_to_our_echo(user: &str, uas_xml: &str) {
    let _one = one_gateway();
    let dir = scratch_dir(&format!("webrtc-gateway-{user}"));
    let ng = free_port();
    let media = free_port_block(200);
    let _rtpengine = start(
        "rtpengine.sh",
        &dir.join("rtpengine"),
        &[
            ng.to_string(),
            media.to_string(),
            (media + 199).to_string(),
            free_port().to_string(),
        ],
    );
    std::fs::write(dir.join("uas.xml"), uas_xml).expect("write uas.xml");
    let uas_port = free_port();
    let uas_media = free_port_block(8);
    let mut uas = Command::new(gossipper_bin());
    uas.current_dir(&dir)
        .args(["-sf", "uas.xml", "-media_srtp", "-i", "127.0.0.1"])
        .args(["-p", &uas_port.to_string(), "-mp", &uas_media.to_string()])
        .args([
            "-m",
            &CALLS.to_string(),
            "-summary_json",
            "uas_summary.json",
        ]);
    peer_args(&mut uas, &dir.join("uas.csv"));
    let mut uas = Proc::spawn("our uas -media_srtp", &mut uas);
    uas.wait_bound(Sock::Udp, uas_port);

    let (udp, ws, wss) = (free_port(), free_port(), free_port());
    let _kamailio = start(
        "kamailio.sh",
        &dir.join("kamailio"),
        &[
            udp.to_string(),
            ws.to_string(),
            wss.to_string(),
            format!("sip:127.0.0.1:{uas_port}"),
            format!("127.0.0.1:{ng}"),
        ],
    );
    let mut uac = Command::new(gossipper_bin());
    uac.current_dir(&dir)
        .arg(format!("127.0.0.1:{ws}"))
        .args([
            "-sn",
            "webrtc_uac",
            "-t",
            "w1",
            "-i",
            "127.0.0.1",
            "-s",
            user,
        ])
        .args(["-m", &CALLS.to_string(), "-r", "5", "-d", "2000"])
        .arg("-call_records_jsonl")
        .arg(dir.join("calls.jsonl"));
    peer_args(&mut uac, &dir.join("client.csv"));
    let (status, out, err) =
        Proc::spawn("webrtc_uac via rtpengine SDES", &mut uac).wait(Duration::from_secs(90));
    let kamailio_log =
        std::fs::read_to_string(dir.join("kamailio/kamailio.log")).unwrap_or_default();
    let tail = |s: &str| s.lines().rev().take(40).collect::<Vec<_>>().join("\n");
    assert_eq!(
        status.code(),
        Some(0),
        "client\n{}\n{}\nkamailio (last lines, reversed):\n{}",
        tail(&out),
        tail(&err),
        tail(&kamailio_log)
    );
    let (ustatus, uout, uerr) = uas.wait(Duration::from_secs(30));
    assert_eq!(
        ustatus.code(),
        Some(0),
        "uas\n{}\n{}",
        tail(&uout),
        tail(&uerr)
    );
    let summary: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("uas_summary.json")).expect("uas summary"),
    )
    .expect("summary.json parses");
    let m = &summary["media"];
    let n = |k: &str| m[k].as_u64().unwrap_or(0);
    assert!(
        n("rtp_packets_received") >= 50 * CALLS,
        "the uas decrypts rtpengine's SRTP: {m}"
    );
    assert!(n("rtp_packets_echoed") >= 50 * CALLS, "{m}");
    assert_eq!(n("srtp_auth_failures"), 0, "{m}");

    let text = std::fs::read_to_string(dir.join("calls.jsonl")).expect("call records");
    for l in text.lines() {
        let r: Value = serde_json::from_str(l).expect("a record");
        assert_eq!(r["success"], true, "{r}");
        let w = &r["webrtc"];
        let sent = w["rtp_packets_sent"].as_u64().unwrap_or(0);
        let echoed = w["rtp_echoed_received"].as_u64().unwrap_or(0);
        // Back through rtpengine: our echo's SRTP decrypted by rtpengine. 2 s of 20 ms
        // frames is 100; a loaded machine sends fewer, all of them must still return.
        assert!(sent >= 50, "{w}");
        assert!(echoed >= sent / 2, "echoed {echoed} of {sent}: {w}");
    }
}

/// Our uas for the SDES test: answers `RTP/SAVP` with one `a=crypto` line made of SIPp's
/// keywords (they echo the tag and suite of rtpengine's line we took) and echoes.
const SDES_UAS: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<scenario name="SDES echo uas">
  <recv request="INVITE"/>
  <send><![CDATA[
    SIP/2.0 200 OK
    [last_Via:]
    [last_From:]
    [last_To:];tag=[pid]sdes[call_number]
    [last_Call-ID:]
    [last_CSeq:]
    [last_Record-Route:]
    Contact: <sip:[local_ip]:[local_port];transport=[transport]>
    Content-Type: application/sdp
    Content-Length: [len]

    v=0
    o=user1 53655765 2353687637 IN IP[local_ip_type] [local_ip]
    s=-
    c=IN IP[media_ip_type] [media_ip]
    t=0 0
    m=audio [media_port] RTP/SAVP 0 8
    a=crypto:[cryptotag1audio] [cryptosuiteaescm128sha1801audio] inline:[cryptokeyparams1audio]
    a=rtpmap:0 PCMU/8000
    a=rtpmap:8 PCMA/8000
  ]]></send>
  <recv request="ACK"/>
  <nop><action><exec rtp_echo="startaudio"/></action></nop>
  <recv request="BYE"/>
  <send><![CDATA[
    SIP/2.0 200 OK
    [last_Via:]
    [last_From:]
    [last_To:]
    [last_Call-ID:]
    [last_CSeq:]
    Content-Length: 0
  ]]></send>
</scenario>
"#;

/// Our uas for the DTLS test: answers rtpengine's `actpass` as the DTLS client.
const DTLS_UAS: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<scenario name="DTLS-SRTP echo uas">
  <recv request="INVITE"/>
  <send><![CDATA[
    SIP/2.0 200 OK
    [last_Via:]
    [last_From:]
    [last_To:];tag=[pid]dtls[call_number]
    [last_Call-ID:]
    [last_CSeq:]
    [last_Record-Route:]
    Contact: <sip:[local_ip]:[local_port];transport=[transport]>
    Content-Type: application/sdp
    Content-Length: [len]

    v=0
    o=user1 53655765 2353687637 IN IP[local_ip_type] [local_ip]
    s=-
    c=IN IP[media_ip_type] [media_ip]
    t=0 0
    m=audio [media_port] RTP/SAVP 0 8
    a=fingerprint:[srtp_fingerprint]
    a=setup:[srtp_setup]
    a=rtpmap:0 PCMU/8000
    a=rtpmap:8 PCMA/8000
  ]]></send>
  <recv request="ACK"/>
  <nop><action><exec rtp_echo="startaudio"/></action></nop>
  <recv request="BYE"/>
  <send><![CDATA[
    SIP/2.0 200 OK
    [last_Via:]
    [last_From:]
    [last_To:]
    [last_Call-ID:]
    [last_CSeq:]
    Content-Length: 0
  ]]></send>
</scenario>
"#;
