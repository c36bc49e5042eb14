//! A real browser in WebRTC calls with us (issue 16): headless Debian Chromium with a
//! fake audio device runs the JsSIP library (npm `jssip`, in tests/browser).
//!
//! - It calls our `webrtc_uas` over SIP-over-WebSocket (`-t w1`), without registering.
//! - It registers with Kamailio (tests/webrtc, WebSocket + registrar) and answers our
//!   `webrtc_uac`, whose INVITE goes to Kamailio over UDP; the media flows between the
//!   browser and us directly (the `direct` user: no rtpengine).
//!
//! Each time Chromium's getStats() must count our audio (inbound-rtp) and its own
//! (outbound-rtp), the call must end with a BYE, and our call record must show the call
//! connected with audio both ways.
//!
//! Needs /usr/bin/chromium (or $CHROMIUM), node, and `npm ci` run in tests/browser
//! (scripts/browser-test.sh does it; scripts/test.sh runs that before cargo test).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use gossipper_e2e::{Proc, Sock, free_port, gossipper_bin, peer_args, run, scratch_dir};
use serde_json::Value;

/// One browser at a time: two Chromiums and their calls at once starve a 2-core machine.
static ONE_BROWSER: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Packets each side must count in a 3 s call: 1 s of 20 ms audio, so a slow set-up on a
/// busy machine still passes while a call without audio never does.
const MIN_PACKETS: u64 = 50;

fn browser_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("browser")
}

/// Chromium's path, after checking it and the npm modules are there.
fn chromium() -> String {
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    assert!(
        Path::new(&chromium).exists(),
        "Chromium ({chromium}) is required: apt-get install chromium"
    );
    for module in ["jssip", "esbuild", "playwright-core"] {
        assert!(
            browser_dir().join("node_modules").join(module).exists(),
            "tests/browser/node_modules/{module} is missing: run `npm ci` in tests/browser"
        );
    }
    chromium
}

/// The browser's one-line JSON result, checked: the call was confirmed and ended, and
/// Chromium counted at least `min` audio packets each way.
fn check_browser(out: &str, err: &str, min: u64) -> Value {
    let line = out.lines().last().unwrap_or("");
    let browser: Value = serde_json::from_str(line)
        .unwrap_or_else(|e| panic!("browser result {line:?}: {e}\nstderr:\n{err}"));
    assert!(
        browser["error"].is_null(),
        "browser: {browser}\nstderr:\n{err}"
    );
    assert_eq!(browser["confirmed"], true, "{browser}");
    assert_eq!(browser["ended"], true, "{browser}");
    let received = browser["packetsReceived"].as_u64().unwrap_or(0);
    let sent = browser["packetsSent"].as_u64().unwrap_or(0);
    assert!(
        received >= min,
        "Chromium received {received} packets: {browser}"
    );
    assert!(sent >= min, "Chromium sent {sent} packets: {browser}");
    browser
}

/// Our one call record, checked: successful, connected, `min` frames each way.
fn check_record(path: &Path, min: u64) -> Value {
    let text = std::fs::read_to_string(path).expect("call records");
    let rec: Value =
        serde_json::from_str(text.lines().next().expect("one record")).expect("a JSON record");
    assert_eq!(rec["success"], true, "{rec}");
    let w = &rec["webrtc"];
    assert!(w["dtls_connected_ms"].is_u64(), "{w}");
    assert!(
        w["rtp_packets_received"].as_u64().unwrap_or(0) >= min,
        "{w}"
    );
    assert!(w["rtp_packets_sent"].as_u64().unwrap_or(0) >= min, "{w}");
    assert!(w["failure"].is_null(), "{w}");
    rec
}

#[test]
fn chromium_with_jssip_calls_our_webrtc_uas_over_websocket() {
    let _one = ONE_BROWSER.lock().unwrap_or_else(|e| e.into_inner());
    let dir = scratch_dir("webrtc-browser");
    let chromium = chromium();
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
    check_browser(&out, &err, MIN_PACKETS);
    assert!(status.success(), "browser\n{out}\n{err}");
    let (status, sout, serr) = server.wait(Duration::from_secs(30));
    assert_eq!(status.code(), Some(0), "server\n{sout}\n{serr}");
    let rec = check_record(&dir.join("calls.jsonl"), MIN_PACKETS);
    let w = &rec["webrtc"];
    assert_eq!(w["offer_accepted"], true, "{w}");
    assert_eq!(w["answer_created"], true, "{w}");
    // A browser lists Opus first: we answer and send Opus.
    assert_eq!(w["codec"], "opus", "{w}");
}

/// Stops Kamailio (its script's `stop DIR`) when the test ends, passed or not.
struct StopKamailio(PathBuf);

impl Drop for StopKamailio {
    fn drop(&mut self) {
        let _ = Command::new(kamailio_script())
            .arg("stop")
            .arg(&self.0)
            .status();
    }
}

fn kamailio_script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("webrtc/kamailio.sh")
}

#[test]
fn chromium_with_jssip_answers_our_webrtc_uac_through_kamailio() {
    let _one = ONE_BROWSER.lock().unwrap_or_else(|e| e.into_inner());
    let dir = scratch_dir("webrtc-browser-answers");
    let chromium = chromium();
    let (udp, ws, wss) = (free_port(), free_port(), free_port());
    let kdir = dir.join("kamailio");
    let mut k = Command::new(kamailio_script());
    // No plain side and no rtpengine: the `direct` user's calls carry no media rewrite.
    k.arg("start").arg(&kdir).args([
        udp.to_string(),
        ws.to_string(),
        wss.to_string(),
        "sip:127.0.0.1:9".into(),
        format!("127.0.0.1:{}", free_port()),
    ]);
    let (status, out, err) = run("kamailio", &mut k, Duration::from_secs(60));
    assert!(status.success(), "kamailio did not start\n{out}\n{err}");
    let _kamailio = StopKamailio(kdir);

    let ready = dir.join("registered");
    let mut node = Command::new("node");
    node.current_dir(browser_dir())
        .env("CHROMIUM", &chromium)
        .env("READY_FILE", &ready)
        .arg("webrtc/call.mjs")
        .arg("--answer")
        .arg(format!("ws://127.0.0.1:{ws}"))
        .arg("sip:direct-browser@127.0.0.1")
        .arg("60000");
    let browser = Proc::spawn("chromium + jssip answering", &mut node);
    let deadline = std::time::Instant::now() + Duration::from_secs(40);
    while !ready.exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "the browser did not register with Kamailio within 40 s"
        );
        std::thread::sleep(Duration::from_millis(100));
    }

    // webrtc_uac following the Record-Route set, so its ACK and BYE reach the browser
    // through Kamailio.
    let builtin = Command::new(gossipper_bin())
        .args(["-sd", "webrtc_uac"])
        .output()
        .expect("gossipper -sd");
    let xml = String::from_utf8(builtin.stdout)
        .expect("utf-8")
        .replace(
            "<recv response=\"200\" rtd=\"true\"/>",
            "<recv response=\"200\" rtd=\"true\" rrs=\"true\"/>",
        )
        .replace(
            "    ACK sip:[service]@[remote_ip]:[remote_port] SIP/2.0\n",
            "    ACK [next_url] SIP/2.0\n    [routes]\n",
        )
        .replace(
            "    BYE sip:[service]@[remote_ip]:[remote_port] SIP/2.0\n",
            "    BYE [next_url] SIP/2.0\n    [routes]\n",
        );
    assert_eq!(xml.matches("[next_url]").count(), 2, "{xml}");
    std::fs::write(dir.join("uac.xml"), xml).expect("write the scenario");
    let mut uac = Command::new(gossipper_bin());
    uac.current_dir(&dir)
        .arg(format!("127.0.0.1:{udp}"))
        .args(["-sf", "uac.xml", "-s", "direct-browser", "-i", "127.0.0.1"])
        .args(["-m", "1", "-d", "3000"])
        .arg("-call_records_jsonl")
        .arg(dir.join("calls.jsonl"));
    peer_args(&mut uac, &dir.join("client.csv"));
    let (status, out, err) = run(
        "webrtc_uac calling the browser",
        &mut uac,
        Duration::from_secs(60),
    );
    assert_eq!(status.code(), Some(0), "client\n{out}\n{err}");
    let (bstatus, bout, berr) = browser.wait(Duration::from_secs(30));
    let b = check_browser(&bout, &berr, MIN_PACKETS);
    assert!(bstatus.success(), "browser\n{bout}\n{berr}");
    // Our BYE ended it.
    assert_eq!(b["cause"], "Terminated", "{b}");
    let rec = check_record(&dir.join("calls.jsonl"), MIN_PACKETS);
    assert_eq!(rec["webrtc"]["answer_accepted"], true, "{rec}");
}
