//! `gossipper server` and its v1 control API (issue #18), against real SIPp on loopback:
//!
//! - a UAS server (`-sn uas`) answers a bounded SIPp `uac` run: `/api/v1/stats` counts
//!   the calls SIPp counted; every route needs the bearer token (401 without it, or with
//!   a wrong one; after five failures from one address, 429 with Retry-After); a
//!   malformed control body or an unknown engine id gets a 4xx and
//!   changes nothing; the route not built yet answers 501;
//! - a server whose engine is a client (`-sn uac` toward a SIPp UAS): a rate change and
//!   a pause/resume posted to `/api/v1/control` show in our stats and in SIPp's own
//!   per-second CSV;
//! - the command line: `server -h` shows its own group first, the root command refuses
//!   the server flags, no token on a non-loopback API address and `-config`'s composite
//!   keys not built yet are refused (exit 255), a flat `-config` file sets the ports and
//!   the token.
//!
//! The live changes (scenario, dynamic clients, transports) are in `server_v1_live.rs`.
//! Every wait has a deadline; every process is killed when its guard drops.

#![allow(clippy::unwrap_used)] // helpers outside #[test] fns: a failed unwrap is a failed test

mod api_support;
mod server_support;

use std::process::Command;
use std::time::{Duration, Instant};

use gossipper_e2e::{
    Proc, Sock, StatCsv, free_port, gossipper_bin, peer_args, scratch_dir, sipp_bin,
};
use serde_json::Value;
use server_support::*;

#[test]
fn a_uas_server_counts_what_sipp_sent_and_guards_its_api() {
    const CALLS: u64 = 40;
    let dir = memory_scratch("server-v1-uas");
    let sip_port = free_port();
    let api = format!("127.0.0.1:{}", free_port());
    let server = start_server(
        "gossipper server",
        sip_port,
        &api,
        &dir.join("server.csv"),
        &["-sn", "uas"],
    );

    // The token, and nothing else, opens the routes (four failures: the fifth from this
    // address would start the throttle, checked at the end).
    for (auth, method, path) in [
        (None, "GET", "/api/v1/health"),
        (
            Some("Bearer wrong-token-0123456789ab"),
            "GET",
            "/api/v1/stats",
        ),
        (Some("Bearer "), "POST", "/api/v1/control"),
        (Some("Basic djEtdGVzdA=="), "PUT", "/api/v1/no-such-route"),
    ] {
        let body = (method != "GET").then_some(r#"{"rate":1}"#);
        let r = call(&api, method, path, auth, body);
        assert_eq!(r.status, 401, "{method} {path} with {auth:?}: {}", r.text());
        assert_eq!(r.error(), "unauthorized");
    }
    assert_eq!(
        get(&api, "/api/v1/health"),
        serde_json::json!({"status": "ok"})
    );
    let lower = call(
        &api,
        "GET",
        "/api/v1/health",
        Some(&format!("bearer {TOKEN}")),
        None,
    );
    assert_eq!(lower.status, 200, "the scheme is case-insensitive");

    // SIPp places a bounded number of calls at a fixed rate.
    let sipp_csv = dir.join("sipp.csv");
    let mut cmd = Command::new(sipp_bin());
    peer_args(&mut cmd, &sipp_csv)
        .args([
            "-sn",
            "uac",
            "-i",
            "127.0.0.1",
            "-p",
            &free_port().to_string(),
        ])
        .args(["-r", "20", "-m", &CALLS.to_string()])
        .arg(format!("127.0.0.1:{sip_port}"));
    let (status, _, _) =
        spawn_logged("sipp uac", &mut cmd, &sipp_csv).wait(Duration::from_secs(60));
    assert_eq!(status.code(), Some(0), "sipp uac:\n{}", logs(&sipp_csv));
    let csv = StatCsv::read(&sipp_csv);
    assert_eq!(csv.last("SuccessfulCall(C)"), CALLS, "SIPp's successes");
    assert_eq!(csv.last("FailedCall(C)"), 0, "SIPp's failures");

    // Our counts are SIPp's.
    // The built-in uas keeps each call 4 s in <timewait> after the BYE.
    let s = stats_until(&api, Duration::from_secs(60), |s| {
        n(s, "success_calls") >= CALLS && n(s, "active_calls") == 0
    });
    assert_eq!(s["schema_version"], "gossipper_summary_v1");
    assert_eq!(n(&s, "total_calls"), CALLS, "{s:#}");
    assert_eq!(n(&s, "success_calls"), CALLS, "{s:#}");
    assert_eq!(n(&s, "failed_calls"), 0, "{s:#}");

    // The scenario it runs.
    let sc = get(&api, "/api/v1/scenario");
    assert_eq!(sc["builtin"], true);
    assert_eq!(sc["scenario_name"], "uas");
    assert_eq!(sc["scenario_file"], "");
    assert!(sc["xml"].as_str().unwrap().contains("<scenario"), "{sc:#}");

    // Control: bad input is a 4xx and changes nothing; rate and pause do not apply to
    // an engine that places no calls (409, not a silent success).
    let before = get(&api, "/api/v1/control");
    assert_eq!(before["paused"], false, "{before:#}");
    for (body, status) in [
        ("{\"rate\": 5", 400),
        ("not json", 400),
        (r#"{"rate":5,"engine_id":"side"}"#, 400),
        (r#"{"pause":true,"id":"nope"}"#, 400),
        (r#"{"rate":-3}"#, 400),
        (r#"{"rate":5,"turbo":true}"#, 400),
        (r#"{"pause":true,"resume":true}"#, 400),
        ("{}", 400),
        (r#"{"rate":5}"#, 409),
        (r#"{"pause":true,"engine_id":"primary"}"#, 409),
    ] {
        let r = post_control(&api, body);
        assert_eq!(r.status, status, "POST control {body}: {}", r.text());
        assert!(!r.error().is_empty());
        assert_eq!(get(&api, "/api/v1/control"), before, "after {body}");
    }

    // The live route: one frame as JSON without an upgrade, a frame every 750 ms over a
    // WebSocket, each with what the GET routes answer.
    let r = call(&api, "GET", "/api/v1/live", Some(&bearer()), None);
    assert_eq!(r.status, 200, "GET /api/v1/live: {}", r.text());
    let one = r.json();
    assert_eq!(n(&one["stats"], "success_calls"), CALLS, "{one}");
    assert_eq!(one["control"], get(&api, "/api/v1/control"), "{one}");
    assert_eq!(one["transports"], get(&api, "/api/v1/transports"), "{one}");
    let frames = live_frames(&api, 3);
    let ts: Vec<u64> = frames.iter().map(|f| f["ts"].as_u64().unwrap()).collect();
    for pair in ts.windows(2) {
        let gap = pair[1] - pair[0];
        assert!((600..=2500).contains(&gap), "frames {gap} ms apart: {ts:?}");
    }
    for f in &frames {
        assert_eq!(n(&f["stats"], "success_calls"), CALLS, "{f}");
        assert_eq!(f["transports"]["listeners"][0]["enabled"], true, "{f}");
    }
    let r = call(&api, "GET", "/api/v1/nope", Some(&bearer()), None);
    assert_eq!(r.status, 404, "{}", r.text());
    let r = call(&api, "DELETE", "/api/v1/stats", Some(&bearer()), None);
    assert_eq!(r.status, 405, "{}", r.text());

    // Still up and still counting the same after all that.
    let again = get(&api, "/api/v1/stats");
    assert_eq!(n(&again, "success_calls"), CALLS);

    // Failed token checks are throttled per address, as the master's logins: the fifth
    // failure within a minute, then 429 with Retry-After, even for the right token.
    let r = call(&api, "GET", "/api/v1/health", Some("Bearer guess-5"), None);
    assert_eq!(r.status, 401, "{}", r.text());
    for auth in [Some("Bearer guess-6"), Some(bearer().as_str())] {
        let r = call(&api, "GET", "/api/v1/health", auth, None);
        assert_eq!(r.status, 429, "{}", r.text());
        let wait: u64 = r.header("retry-after").unwrap().parse().unwrap();
        assert!((1..=60).contains(&wait), "Retry-After {wait}");
    }
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Our calls placed per second between two `/stats` snapshots (their own clock:
/// `duration_ms` is the run's length at the snapshot).
fn rate_between(a: &Value, b: &Value) -> f64 {
    let secs = (b["duration_ms"].as_f64().unwrap() - a["duration_ms"].as_f64().unwrap()) / 1e3;
    assert!(secs > 0.5, "snapshots too close: {secs} s");
    (n(b, "total_calls") - n(a, "total_calls")) as f64 / secs
}

#[test]
fn a_client_engines_rate_and_pause_follow_the_api_and_show_in_sipps_csv() {
    let dir = memory_scratch("server-v1-uac");
    let sipp_port = free_port();
    let sipp_csv = dir.join("sipp.csv");
    let mut cmd = Command::new(sipp_bin());
    peer_args(&mut cmd, &sipp_csv).args([
        "-sn",
        "uas",
        "-i",
        "127.0.0.1",
        "-p",
        &sipp_port.to_string(),
    ]);
    let mut sipp = spawn_logged("sipp uas", &mut cmd, &sipp_csv);
    sipp.wait_bound(Sock::Udp, sipp_port);

    let api = format!("127.0.0.1:{}", free_port());
    let remote = format!("127.0.0.1:{sipp_port}");
    // -m caps the run at far more calls than the phases below place.
    let server = start_server(
        "gossipper server (uac)",
        free_port(),
        &api,
        &dir.join("server.csv"),
        &["-sn", "uac", &remote, "-r", "5", "-m", "1000"],
    );
    let control = get(&api, "/api/v1/control");
    assert_eq!(control["rate"], 5.0, "{control:#}");
    assert_eq!(control["paused"], false, "{control:#}");
    // The stats once the run's own clock (`duration_ms`, the runner's snapshot) has moved
    // `secs` past `from`: rates are measured on it, so a machine that stalls the run (a
    // busy 2-core box) stretches the wait, not the arithmetic.
    let advance = |from: &Value, secs: f64| {
        let t0 = from["duration_ms"].as_f64().unwrap();
        stats_until(&api, Duration::from_secs(60), |s| {
            s["duration_ms"].as_f64().unwrap() >= t0 + secs * 1e3
        })
    };
    let now = || get(&api, "/api/v1/stats");

    // Phase 1: 5 calls/s, measured once calls flow (the API is up before the shards).
    let a = stats_until(&api, Duration::from_secs(30), |s| n(s, "total_calls") >= 2);
    let b = advance(&a, 2.5);
    let r1 = rate_between(&a, &b);
    assert!(
        (2.0..=10.0).contains(&r1),
        "about 5 calls/s at first, got {r1:.1}; SIPp uas:\n{}",
        logs(&sipp_csv)
    );

    // A bad request changes nothing.
    let r = post_control(&api, r#"{"rate":50,"engine_id":"side"}"#);
    assert_eq!(r.status, 400, "{}", r.text());
    assert_eq!(get(&api, "/api/v1/control")["rate"], 5.0);

    // Phase 2: 20 calls/s.
    let r = post_control(&api, r#"{"rate":20}"#);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json(), serde_json::json!({"rate": 20.0, "paused": false}));
    let a = advance(&now(), 0.3);
    let b = advance(&a, 2.5);
    let r2 = rate_between(&a, &b);
    assert!(
        (12.0..=40.0).contains(&r2) && r2 > 2.0 * r1,
        "about 20 calls/s after the change (from {r1:.1}), got {r2:.1}; SIPp uas:\n{}",
        logs(&sipp_csv)
    );

    // Phase 3: paused. No call starts after the pause is acknowledged (the snapshot is
    // at most one runner tick, 50 ms, behind; wait past it).
    let r = post_control(&api, r#"{"pause":true}"#);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["paused"], true);
    let a = advance(&now(), 0.3);
    let b = advance(&a, 3.0);
    assert_eq!(
        n(&b, "total_calls"),
        n(&a, "total_calls"),
        "calls started while paused"
    );

    // Phase 4: resumed at 20/s, then paused again until every call has ended.
    let r = post_control(&api, r#"{"resume":true,"engine_id":"primary"}"#);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["paused"], false);
    let a = advance(&now(), 0.3);
    let b = advance(&a, 2.0);
    let r4 = rate_between(&a, &b);
    assert!(
        (12.0..=40.0).contains(&r4),
        "about 20 calls/s after the resume, got {r4:.1}; SIPp uas:\n{}",
        logs(&sipp_csv)
    );
    assert_eq!(post_control(&api, r#"{"paused":true}"#).status, 200);
    // Wait past the snapshot, then until every call has ended and two reads agree.
    let settled = |s: &Value| {
        n(s, "active_calls") == 0
            && n(s, "success_calls") + n(s, "failed_calls") == n(s, "total_calls")
    };
    let paused = advance(&now(), 0.3);
    let done = stats_until(&api, Duration::from_secs(60), |s| {
        settled(s) && s["duration_ms"].as_f64() > paused["duration_ms"].as_f64()
    });
    let again = advance(&done, 0.3);
    assert!(settled(&again), "{again:#}");
    assert_eq!(
        n(&again, "total_calls"),
        n(&done, "total_calls"),
        "calls placed while paused"
    );
    let placed = n(&done, "total_calls");
    assert_eq!(n(&done, "failed_calls"), 0, "{done:#}");
    // Give SIPp's per-second CSV two more periods of the pause, then end it.
    std::thread::sleep(Duration::from_secs(2));
    let (status, _, _) = sipp.quit(Duration::from_secs(30));
    assert_eq!(status.code(), Some(0), "sipp uas:\n{}", logs(&sipp_csv));
    drop(server);

    // SIPp saw every call we placed, and its CSV shows the rates and the pause.
    let csv = StatCsv::read(&sipp_csv);
    assert_eq!(csv.last("SuccessfulCall(C)"), placed, "SIPp's successes");
    assert_eq!(csv.last("FailedCall(C)"), 0);
    let periods = sipp_periods(&csv);
    let shown: Vec<String> = periods
        .iter()
        .map(|(dt, calls)| format!("{calls}/{dt:.1}s"))
        .collect();
    eprintln!("SIPp's new calls per period: {shown:?} ({placed} placed)");
    let rate = |(dt, calls): (f64, u64)| calls as f64 / dt.max(1e-3);
    let first_busy = periods.iter().position(|p| p.1 > 0).unwrap();
    assert!(
        rate(periods[first_busy]) <= 9.0,
        "about 5/s at first in SIPp's CSV: {shown:?}"
    );
    assert!(
        periods.iter().any(|p| p.0 >= 0.5 && rate(*p) >= 12.0),
        "no period at 20/s in SIPp's CSV: {shown:?}"
    );
    // The pause between the two fast phases: an empty period with calls before and after.
    let busy = |r: &[(f64, u64)]| r.iter().any(|p| p.1 > 0);
    assert!(
        (1..periods.len()).any(|i| periods[i].1 == 0
            && periods[i].0 >= 0.5
            && busy(&periods[..i])
            && busy(&periods[i..])),
        "no paused period between calls in SIPp's CSV: {shown:?}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_server_command_line_help_config_file_and_refusals() {
    let dir = scratch_dir("server-v1-cli");
    let bin = gossipper_bin();
    let run = |args: &[&str]| {
        let mut cmd = Command::new(&bin);
        cmd.args(args);
        Proc::spawn("gossipper", &mut cmd).wait(Duration::from_secs(20))
    };
    // -h: the server's own group first, then the run flags it shares.
    let (status, out, _) = run(&["server", "-h"]);
    assert_eq!(status.code(), Some(0));
    let own = out.find("-api_token").expect("-api_token in server -h");
    assert!(own < out.find("*** Scenario").expect("the run flags too"));
    // The root command refuses the server's flags, naming the mode.
    let (status, _, err) = run(&["-sn", "uas", "-api_addr", "127.0.0.1:1"]);
    assert_eq!(status.code(), Some(255), "{err}");
    assert!(err.contains("gossipper server"), "{err}");
    // No token on an address others can reach: refused before anything starts.
    let (status, _, err) = run(&["server", "-api_addr", "0.0.0.0:0", "-nostdin"]);
    assert_eq!(status.code(), Some(255), "{err}");
    assert!(err.contains("-api_token"), "{err}");
    // Composite keys not built yet are refused by name (the others: server_v2.rs).
    let composite = dir.join("hybrid.json");
    std::fs::write(
        &composite,
        r#"{"server":{"id":"s"},"clients":[],"workloads":[],"rate":1}"#,
    )
    .unwrap();
    let (status, _, err) = run(&["server", "-config", composite.to_str().unwrap()]);
    assert_eq!(status.code(), Some(255), "{err}");
    assert!(err.contains("workloads"), "{err}");

    // A flat profile sets the port, the API and its token; the command line adds to it.
    let sip_port = free_port();
    let api = format!("127.0.0.1:{}", free_port());
    let flat = dir.join("flat.json");
    std::fs::write(
        &flat,
        serde_json::json!({
            "scenario_name": "uas", "local_ip": "127.0.0.1", "local_port": sip_port,
            "api_addr": api, "api_token": TOKEN, "role": "server",
        })
        .to_string(),
    )
    .unwrap();
    let mut cmd = Command::new(&bin);
    peer_args(cmd.arg("server"), &dir.join("server.csv")).args(["-config", flat.to_str().unwrap()]);
    let mut server = Proc::spawn("gossipper server -config", &mut cmd);
    server.wait_bound(Sock::Udp, sip_port);
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(&api).is_err() {
        assert!(Instant::now() < deadline, "the API never listened on {api}");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(call(&api, "GET", "/api/v1/health", None, None).status, 401);
    let sc = get(&api, "/api/v1/scenario");
    assert_eq!(sc["scenario_name"], "uas", "{sc:#}");
}

/// The first `count` frames of `/api/v1/live` over a WebSocket opened with the token.
fn live_frames(api: &str, count: usize) -> Vec<serde_json::Value> {
    use tungstenite::client::IntoClientRequest;
    let mut req = format!("ws://{api}/api/v1/live")
        .into_client_request()
        .unwrap();
    req.headers_mut()
        .insert("Authorization", bearer().parse().unwrap());
    let stream = std::net::TcpStream::connect(api).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let (mut ws, resp) = tungstenite::client(req, stream).unwrap();
    assert_eq!(resp.status().as_u16(), 101);
    (0..count)
        .map(|_| {
            let msg = ws.read().unwrap();
            serde_json::from_str(msg.to_text().unwrap()).unwrap()
        })
        .collect()
}
