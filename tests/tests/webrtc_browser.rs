//! A real browser calls our `webrtc_uas` (issue 16): headless Debian Chromium with a fake
//! audio device runs the JsSIP library (npm `jssip`, in tests/browser) and places one
//! call over SIP-over-WebSocket (`-t w1`), without registering. Chromium's getStats()
//! must count our audio (inbound-rtp) and its own (outbound-rtp), the call must end
//! with the browser's BYE, and our call record must show the Opus call connected with
//! audio both ways.
//!
//! Needs /usr/bin/chromium (or $CHROMIUM), node, and `npm ci` run in tests/browser
//! (scripts/browser-test.sh does it; scripts/test.sh runs that before cargo test).

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use gossipper_e2e::{Proc, Sock, free_port, gossipper_bin, peer_args, run, scratch_dir};
use serde_json::Value;

fn browser_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("browser")
}

#[test]
fn chromium_with_jssip_calls_our_webrtc_uas_over_websocket() {
    let dir = scratch_dir("webrtc-browser");
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    assert!(
        std::path::Path::new(&chromium).exists(),
        "Chromium ({chromium}) is required: apt-get install chromium"
    );
    for module in ["jssip", "esbuild", "playwright-core"] {
        assert!(
            browser_dir().join("node_modules").join(module).exists(),
            "tests/browser/node_modules/{module} is missing: run `npm ci` in tests/browser"
        );
    }
    let port = free_port();
    let mut scmd = Command::new(gossipper_bin());
    scmd.current_dir(&dir)
        .args(["-sn", "webrtc_uas", "-t", "w1", "-i", "127.0.0.1"])
        .args(["-p", &port.to_string(), "-m", "1"])
        .arg("-call_records_jsonl")
        .arg(dir.join("calls.jsonl"));
    peer_args(&mut scmd, &dir.join("server.csv"));
    let mut server = Proc::spawn("webrtc_uas for chromium", &mut scmd);
    server.wait_bound(Sock::TcpListen, port);

    let mut node = Command::new("node");
    node.current_dir(browser_dir())
        .env("CHROMIUM", &chromium)
        .arg("webrtc/call.mjs")
        .arg(format!("ws://127.0.0.1:{port}"))
        .arg(format!("sip:service@127.0.0.1:{port}"))
        .arg("3000");
    let (status, out, err) = run("chromium + jssip", &mut node, Duration::from_secs(90));
    let line = out.lines().last().unwrap_or("");
    let browser: Value = serde_json::from_str(line)
        .unwrap_or_else(|e| panic!("browser result {line:?}: {e}\nstderr:\n{err}"));
    assert!(status.success(), "browser: {browser}\nstderr:\n{err}");
    assert_eq!(browser["confirmed"], true, "{browser}");
    assert_eq!(browser["ended"], true, "{browser}");
    // 3 s of 20 ms packets each way, counted by Chromium.
    let received = browser["packetsReceived"].as_u64().unwrap_or(0);
    let sent = browser["packetsSent"].as_u64().unwrap_or(0);
    assert!(
        received >= 100,
        "Chromium received {received} packets: {browser}"
    );
    assert!(sent >= 100, "Chromium sent {sent} packets: {browser}");

    let (status, sout, serr) = server.wait(Duration::from_secs(30));
    assert_eq!(status.code(), Some(0), "server\n{sout}\n{serr}");
    let text = std::fs::read_to_string(dir.join("calls.jsonl")).expect("call records");
    let rec: Value = serde_json::from_str(text.lines().next().expect("one record")).unwrap();
    assert_eq!(rec["success"], true, "{rec}");
    let w = &rec["webrtc"];
    assert_eq!(w["offer_accepted"], true, "{w}");
    assert_eq!(w["answer_created"], true, "{w}");
    // A browser lists Opus first: we answer and send Opus.
    assert_eq!(w["codec"], "opus", "{w}");
    assert!(w["dtls_connected_ms"].is_u64(), "{w}");
    assert!(
        w["rtp_packets_received"].as_u64().unwrap_or(0) >= 100,
        "{w}"
    );
    assert!(w["rtp_packets_sent"].as_u64().unwrap_or(0) >= 100, "{w}");
    assert!(w["failure"].is_null(), "{w}");
}
