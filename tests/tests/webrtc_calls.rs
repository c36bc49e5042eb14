//! WebRTC calls (issue 16), gossipper against gossipper on 127.0.0.1: `-sn webrtc_uas`
//! and `-sn webrtc_uac` as real processes, signalling over UDP, TCP and WebSocket, the
//! calls' ICE, DTLS-SRTP and G.711 both ways on a few UDP sockets each side shares.
//!
//! Every test reads both sides' call_records.jsonl and summary.json: the offer made and
//! the answer applied, ICE and DTLS connected, SRTP packets and audio frames sent and
//! received on each side, and no set-up failure. A bad answer (a classic RTP/AVP SDP)
//! fails the call with its cause in the record and in the summary.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use gossipper_e2e::{
    Proc, Sock, finish_pair, free_port, gossipper_bin, peer_args, scratch_dir, udp_sockets,
};
use serde_json::Value;

/// One side's files.
struct Side {
    records: Vec<Value>,
    summary: Value,
}

fn read_side(dir: &Path, who: &str) -> Side {
    let text = std::fs::read_to_string(dir.join(format!("{who}_calls.jsonl")))
        .unwrap_or_else(|e| panic!("{who}: call records: {e}"));
    let records = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{who}: record {l}: {e}")))
        .collect();
    let summary = std::fs::read_to_string(dir.join(format!("{who}_summary.json")))
        .unwrap_or_else(|e| panic!("{who}: summary: {e}"));
    Side {
        records,
        summary: serde_json::from_str(&summary).expect("summary.json parses"),
    }
}

fn side_args<'c>(cmd: &'c mut Command, dir: &Path, who: &str) -> &'c mut Command {
    peer_args(cmd, &dir.join(format!("{who}.csv")))
        .arg("-call_records_jsonl")
        .arg(dir.join(format!("{who}_calls.jsonl")))
        .arg("-summary_json")
        .arg(dir.join(format!("{who}_summary.json")))
}

/// Starts `webrtc_uas` over `transport` for `server_calls` calls and, once it is bound,
/// the client with `client_args` (its scenario, rate, calls, …) against it; both write
/// their CSV, call records and summary into `dir`. Returns (client, server).
fn spawn_pair(
    name: &str,
    dir: &Path,
    transport: &str,
    server_calls: &str,
    client_args: &[&str],
) -> (Proc, Proc) {
    let sport = free_port();
    let mut scmd = Command::new(gossipper_bin());
    scmd.current_dir(dir)
        .args(["-sn", "webrtc_uas", "-t", transport, "-i", "127.0.0.1"])
        .args(["-p", &sport.to_string(), "-m", server_calls]);
    side_args(&mut scmd, dir, "server");
    let mut server = Proc::spawn(&format!("{name} server"), &mut scmd);
    server.wait_bound(Sock::for_transport(transport), sport);
    let mut ccmd = Command::new(gossipper_bin());
    ccmd.current_dir(dir)
        .arg(format!("127.0.0.1:{sport}"))
        .args(["-t", transport, "-i", "127.0.0.1"])
        .args(client_args);
    side_args(&mut ccmd, dir, "client");
    let client = Proc::spawn(&format!("{name} client"), &mut ccmd);
    (client, server)
}

/// Runs `webrtc_uas` and `webrtc_uac` with `calls` calls over `transport`; asserts both
/// exit 0 with every call successful, and returns (client, server).
fn run_pair(name: &str, transport: &str, calls: u64, rate: &str, hold_ms: &str) -> (Side, Side) {
    let dir = scratch_dir(name);
    let m = calls.to_string();
    let (client, server) = spawn_pair(
        name,
        &dir,
        transport,
        &m,
        &["-sn", "webrtc_uac", "-m", &m, "-r", rate, "-d", hold_ms],
    );
    finish_pair(
        name,
        client,
        server,
        &dir.join("client.csv"),
        &dir.join("server.csv"),
        calls,
        Duration::from_secs(60),
    );
    (read_side(&dir, "client"), read_side(&dir, "server"))
}

fn ms(w: &Value, key: &str) -> u64 {
    w[key]
        .as_u64()
        .unwrap_or_else(|| panic!("{key} missing in {w}"))
}

fn count(w: &Value, key: &str) -> u64 {
    w[key].as_u64().unwrap_or(0)
}

/// Every call of `side` set up WebRTC and carried audio both ways; returns the slowest
/// DTLS-connected time (ms after the bridge was made).
fn check_side(name: &str, who: &str, side: &Side, calls: u64, uac: bool) -> u64 {
    assert_eq!(side.records.len() as u64, calls, "{name} {who}: records");
    let mut slowest = 0;
    for r in &side.records {
        assert_eq!(r["success"], true, "{name} {who}: {r}");
        let w = &r["webrtc"];
        assert!(w.is_object(), "{name} {who}: no webrtc block: {r}");
        if uac {
            assert_eq!(w["offer_created"], true, "{name} {who}: {w}");
            assert_eq!(w["answer_accepted"], true, "{name} {who}: {w}");
        } else {
            assert_eq!(w["offer_accepted"], true, "{name} {who}: {w}");
            assert_eq!(w["answer_created"], true, "{name} {who}: {w}");
        }
        let ice = ms(w, "ice_connected_ms");
        let dtls = ms(w, "dtls_connected_ms");
        assert!(ice <= dtls, "{name} {who}: ICE before DTLS: {w}");
        assert!(w["failure"].is_null(), "{name} {who}: {w}");
        // The selected pair comes with str0m's 1 s stats: a longer call has it.
        if ms(w, "closed_ms") > 1500 {
            assert!(w["selected_remote"].is_string(), "{name} {who}: {w}");
        }
        for key in [
            "srtp_packets_sent",
            "srtp_packets_received",
            "srtp_bytes_sent",
            "srtp_bytes_received",
            "rtp_packets_sent",
            "rtp_packets_received",
        ] {
            assert!(count(w, key) > 0, "{name} {who}: {key} = 0: {w}");
        }
        assert!(
            ["PCMU", "PCMA"].contains(&w["codec"].as_str().unwrap_or("")),
            "{name} {who}: {w}"
        );
        // The classic media block carries the audio and a MOS.
        let m = &r["media"];
        assert_eq!(m["RTPPacketsReceived"], w["rtp_packets_received"], "{r}");
        let mos = m["MOS"].as_f64().unwrap_or(0.0);
        assert!(mos > 4.0, "{name} {who}: MOS {mos}: {r}");
        slowest = slowest.max(dtls);
    }
    let media = &side.summary["media"];
    assert!(
        media["mos_min"].as_f64().unwrap_or(0.0) > 4.0,
        "{name} {who}: summary media {media}"
    );
    let s = &side.summary["webrtc"];
    assert_eq!(s["calls"], calls, "{name} {who}: summary {s}");
    assert_eq!(s["connected"], calls, "{name} {who}: summary {s}");
    assert_eq!(
        s["failures"].as_object().map(|m| m.len()),
        Some(0),
        "{name} {who}: summary {s}"
    );
    slowest
}

fn check_pair(name: &str, transport: &str, calls: u64, rate: &str, hold_ms: &str) {
    let (client, server) = run_pair(name, transport, calls, rate, hold_ms);
    let c = check_side(name, "client", &client, calls, true);
    let s = check_side(name, "server", &server, calls, false);
    // A 1 s hold at 20 ms carries ~50 frames; ask for most of them on each side.
    let hold: u64 = hold_ms.parse().unwrap_or(0);
    let expected = hold / 20 / 2;
    for (who, side) in [("client", &client), ("server", &server)] {
        for r in &side.records {
            let got = count(&r["webrtc"], "rtp_packets_received");
            assert!(
                got >= expected,
                "{name} {who}: {got} frames received in a {hold_ms} ms call: {r}"
            );
        }
    }
    eprintln!("{name}: slowest DTLS connected at {c} ms (client), {s} ms (server)");
}

#[test]
fn webrtc_uac_against_webrtc_uas_over_udp() {
    check_pair("webrtc-u1", "u1", 20, "20", "1000");
}

/// More INVITEs at once than a server keeps spare sockets for: the ones without a socket
/// wait for the same turn's binds instead of failing (`endpoint/webrtc_wait.rs`).
#[test]
fn a_burst_of_webrtc_calls_gets_a_socket_each() {
    check_pair("webrtc-u1-burst", "u1", 60, "600", "2500");
}

#[test]
fn webrtc_signalling_over_tcp() {
    check_pair("webrtc-t1", "t1", 10, "20", "1000");
}

#[test]
fn webrtc_signalling_over_websocket() {
    check_pair("webrtc-w1", "w1", 10, "20", "1000");
}

/// A peer that answers a WebRTC offer with plain RTP/AVP (our classic uas): each call
/// fails at the answer, with `remote_sdp` in its record and in the summary's failures.
#[test]
fn a_classic_answer_fails_the_call_with_its_cause() {
    let name = "webrtc-vs-classic";
    let dir = scratch_dir(name);
    let sport = free_port();
    let mut scmd = Command::new(gossipper_bin());
    scmd.current_dir(&dir)
        .args(["-sn", "uas", "-i", "127.0.0.1", "-p", &sport.to_string()]);
    side_args(&mut scmd, &dir, "server");
    let mut server = Proc::spawn(&format!("{name} server"), &mut scmd);
    server.wait_bound(Sock::Udp, sport);
    let mut ccmd = Command::new(gossipper_bin());
    ccmd.current_dir(&dir)
        .arg(format!("127.0.0.1:{sport}"))
        .args([
            "-sn",
            "webrtc_uac",
            "-i",
            "127.0.0.1",
            "-m",
            "3",
            "-r",
            "10",
        ]);
    side_args(&mut ccmd, &dir, "client");
    let client = Proc::spawn(&format!("{name} client"), &mut ccmd);
    let (status, out, err) = client.wait(Duration::from_secs(60));
    let _ = server.quit(Duration::from_secs(10));
    assert_eq!(status.code(), Some(1), "{name}: exit\n{out}\n{err}");
    let c = read_side(&dir, "client");
    assert_eq!(c.records.len(), 3, "{name}: records");
    for r in &c.records {
        assert_eq!(r["success"], false, "{name}: {r}");
        assert_eq!(r["error"], "Webrtc", "{name}: {r}");
        let w = &r["webrtc"];
        assert_eq!(w["offer_created"], true, "{name}: {w}");
        assert_eq!(w["answer_accepted"], false, "{name}: {w}");
        assert_eq!(w["failure"], "remote_sdp", "{name}: {w}");
        assert!(w["failure_detail"].is_string(), "{name}: {w}");
    }
    let s = &c.summary;
    assert_eq!(s["failed_calls"], 3, "{name}: {s}");
    assert_eq!(s["failure_classes"]["webrtc"], 3, "{name}: {s}");
    assert_eq!(s["webrtc"]["failures"]["remote_sdp"], 3, "{name}: {s}");
    assert_eq!(s["webrtc"]["connected"], 0, "{name}: {s}");
}

/// A scenario of our own (`-sf`): webrtc_uac with DTMF keys and an `rtpcheck` after the
/// ACK. The keys go out as RFC 4733 events through the bridge, and the check passes; a
/// second run asking for more audio than a 1 s call carries fails each call with
/// `RtpCheck`.
#[test]
fn dtmf_and_rtpcheck_run_on_webrtc_calls() {
    let builtin = Command::new(gossipper_bin())
        .args(["-sd", "webrtc_uac"])
        .output()
        .expect("gossipper -sd");
    let xml = String::from_utf8(builtin.stdout).expect("utf-8");
    let with = |check: &str| {
        xml.replacen(
            "  <pause/>",
            &format!(
                "  <nop><action><exec send_dtmf=\"123#\"/><exec rtpcheck=\"{check}\"/><exec rtp_record=\"start,,duplex\"/></action></nop>\n  <pause/>"
            ),
            1,
        )
    };
    for (name, check, ok) in [
        ("webrtc-dtmf", "min_packets=20,direction=both", true),
        (
            "webrtc-rtpcheck-fails",
            "min_packets=5000,direction=recv",
            false,
        ),
    ] {
        let dir = scratch_dir(name);
        std::fs::write(dir.join("uac.xml"), with(check)).expect("write the scenario");
        let (client, server) = spawn_pair(
            name,
            &dir,
            "u1",
            "3",
            &["-sf", "uac.xml", "-m", "3", "-r", "10", "-d", "1000"],
        );
        let (status, out, err) = client.wait(Duration::from_secs(60));
        let _ = server.wait(Duration::from_secs(30));
        assert_eq!(
            status.code(),
            Some(if ok { 0 } else { 1 }),
            "{name}\n{out}\n{err}"
        );
        let c = read_side(&dir, "client");
        assert_eq!(c.records.len(), 3, "{name}");
        for r in &c.records {
            let w = &r["webrtc"];
            assert_eq!(w["dtmf_sent"], 4, "{name}: {w}");
            assert!(w["dtls_connected_ms"].is_u64(), "{name}: {w}");
            if ok {
                assert_eq!(r["success"], true, "{name}: {r}");
            } else {
                assert_eq!(r["error"], "RtpCheck", "{name}: {r}");
            }
        }
        let s = &c.summary;
        let (passed, failed) = if ok { (3, 0) } else { (0, 3) };
        assert_eq!(s["media"]["rtpcheck_passed"], passed, "{name}: {s}");
        assert_eq!(s["media"]["rtpcheck_failed"], failed, "{name}: {s}");
        // rtp_record: one stereo WAV per call in recordings/, about 1 s of audio.
        assert_eq!(s["media"]["recordings_written"], 3, "{name}: {s}");
        for r in &c.records {
            let id = r["call_id"].as_str().unwrap_or("");
            let wav = dir.join("recordings").join(format!("{id}.wav"));
            let len = std::fs::metadata(&wav)
                .unwrap_or_else(|e| panic!("{name}: {}: {e}", wav.display()))
                .len();
            // 8 kHz, 16-bit, two channels: 32 kB a second.
            assert!(
                len > 44 + 25_000,
                "{name}: {} is {len} bytes",
                wav.display()
            );
        }
    }
}

/// An 8 kHz mono 16-bit PCM WAV of `samples` samples of a 400 Hz square-ish tone.
fn wav(samples: u32) -> Vec<u8> {
    let data_len = samples * 2;
    let mut w = Vec::with_capacity(44 + data_len as usize);
    w.extend_from_slice(b"RIFF");
    w.extend_from_slice(&(36 + data_len).to_le_bytes());
    w.extend_from_slice(b"WAVEfmt ");
    w.extend_from_slice(&16u32.to_le_bytes());
    w.extend_from_slice(&1u16.to_le_bytes()); // PCM
    w.extend_from_slice(&1u16.to_le_bytes()); // mono
    w.extend_from_slice(&8000u32.to_le_bytes());
    w.extend_from_slice(&16000u32.to_le_bytes());
    w.extend_from_slice(&2u16.to_le_bytes());
    w.extend_from_slice(&16u16.to_le_bytes());
    w.extend_from_slice(b"data");
    w.extend_from_slice(&data_len.to_le_bytes());
    for i in 0..samples {
        let v: i16 = if (i / 10) % 2 == 0 { 6000 } else { -6000 };
        w.extend_from_slice(&v.to_le_bytes());
    }
    w
}

/// `rtp_stream` of a WAV on a WebRTC call (`-sf`): its 50 frames (1 s) go once, in the
/// negotiated law, then the stream stops for the rest of the 2 s call; the answerer
/// receives them.
#[test]
fn a_wav_file_streams_over_webrtc_once_then_stops() {
    let name = "webrtc-wav";
    let dir = scratch_dir(name);
    std::fs::write(dir.join("hello.wav"), wav(8000)).expect("write the WAV");
    let builtin = Command::new(gossipper_bin())
        .args(["-sd", "webrtc_uac"])
        .output()
        .expect("gossipper -sd");
    let xml = String::from_utf8(builtin.stdout).expect("utf-8").replacen(
        "  <pause/>",
        "  <nop><action><exec rtp_stream=\"hello.wav,1,8\"/></action></nop>\n  <pause/>",
        1,
    );
    std::fs::write(dir.join("uac.xml"), xml).expect("write the scenario");
    let (client, server) = spawn_pair(
        name,
        &dir,
        "u1",
        "2",
        &["-sf", "uac.xml", "-m", "2", "-r", "10", "-d", "2000"],
    );
    finish_pair(
        name,
        client,
        server,
        &dir.join("client.csv"),
        &dir.join("server.csv"),
        2,
        Duration::from_secs(60),
    );
    let (c, s) = (read_side(&dir, "client"), read_side(&dir, "server"));
    for r in &c.records {
        let sent = count(&r["webrtc"], "rtp_packets_sent");
        assert_eq!(sent, 50, "{name}: the WAV's 50 frames, once: {r}");
    }
    for r in &s.records {
        let got = count(&r["webrtc"], "rtp_packets_received");
        assert!(
            (45..=50).contains(&got),
            "{name}: {got} frames received: {r}"
        );
    }
}

/// 64 calls up at once, one shard each side: they share a handful of UDP sockets per
/// process (⌈√64⌉ = 8 offering, about as many answering, where a socket per call would
/// be 64), counted in /proc while every call is up, and each call still carries audio
/// both ways, no peer address claimed by two calls.
#[test]
fn concurrent_webrtc_calls_share_a_few_sockets_per_side() {
    let name = "webrtc-shared";
    let calls = 64u64;
    let dir = scratch_dir(name);
    let m = calls.to_string();
    let (client, server) = spawn_pair(
        name,
        &dir,
        "u1",
        &m,
        &[
            "-sn",
            "webrtc_uac",
            "-shards",
            "1",
            "-m",
            &m,
            "-r",
            "400",
            "-d",
            "3000",
        ],
    );
    // 64 calls at 400/s are all up from ~0.2 s to 3 s: count while they are.
    std::thread::sleep(Duration::from_millis(1800));
    let (c_socks, s_socks) = (
        udp_sockets(client.child.id()),
        udp_sockets(server.child.id()),
    );
    finish_pair(
        name,
        client,
        server,
        &dir.join("client.csv"),
        &dir.join("server.csv"),
        calls,
        Duration::from_secs(60),
    );
    let (c, s) = (read_side(&dir, "client"), read_side(&dir, "server"));
    check_side(name, "client", &c, calls, true);
    check_side(name, "server", &s, calls, false);
    // The SIP socket, and the shared media sockets.
    assert!(
        (2..=20).contains(&c_socks) && (2..=20).contains(&s_socks),
        "{name}: UDP sockets with {calls} calls up: client {c_socks}, server {s_socks}"
    );
    for (who, side) in [("client", &c), ("server", &s)] {
        for r in &side.records {
            let got = count(&r["webrtc"], "rtp_packets_received");
            assert!(got >= 100, "{name} {who}: {got} frames in a 3 s call: {r}");
        }
        let w = &side.summary["webrtc"];
        assert_eq!(w["route_collisions"].as_u64(), Some(0), "{name} {who}: {w}");
    }
    eprintln!("{name}: {calls} calls on {c_socks} UDP sockets (client), {s_socks} (server)");
}

/// A client allowed 2 call sockets (`-max_socket 2`, one shard) and asked for 6 calls at
/// once: its calls share the 2 sockets, and all 6 carry WebRTC media.
#[test]
fn the_socket_cap_bounds_the_shared_sockets_not_the_calls() {
    let name = "webrtc-no-socket";
    let dir = scratch_dir(name);
    let (client, server) = spawn_pair(
        name,
        &dir,
        "u1",
        "6",
        &[
            "-sn",
            "webrtc_uac",
            "-shards",
            "1",
            "-max_socket",
            "2",
            "-m",
            "6",
            "-r",
            "100",
            "-d",
            "1000",
        ],
    );
    let (status, out, err) = client.wait(Duration::from_secs(60));
    let _ = server.wait(Duration::from_secs(30));
    assert_eq!(status.code(), Some(0), "{name}\n{out}\n{err}");
    let c = read_side(&dir, "client");
    check_side(name, "client", &c, 6, true);
    let s = &c.summary;
    assert_eq!(s["success_calls"], 6, "{name}: {s}");
    assert_eq!(
        s["webrtc"]["failures"].get("no_socket"),
        None,
        "{name}: {s}"
    );
}
