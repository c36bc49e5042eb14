//! `gossipper server` and its v1 control API (issue #18), against real SIPp on loopback:
//!
//! - a UAS server (`-sn uas`) answers a bounded SIPp `uac` run: `/api/v1/stats` counts
//!   the calls SIPp counted; every route needs the bearer token (401 without it, or with
//!   a wrong one); a malformed control body or an unknown engine id gets a 4xx and
//!   changes nothing; routes not built yet answer 501;
//! - a server whose engine is a client (`-sn uac` toward a SIPp UAS): a rate change and
//!   a pause/resume posted to `/api/v1/control` show in our stats and in SIPp's own
//!   per-second CSV;
//! - the command line: `server -h` shows its own group first, the root command refuses
//!   the server flags, no token on a non-loopback API address and `-config`'s composite
//!   keys are refused (exit 255), a flat `-config` file sets the ports and the token.
//!
//! Every wait has a deadline; every process is killed when its guard drops.

#![allow(clippy::unwrap_used)] // helpers outside #[test] fns: a failed unwrap is a failed test

mod api_support;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use api_support::{Resp, http};
use gossipper_e2e::{
    Proc, Sock, StatCsv, free_port, gossipper_bin, peer_args, scratch_dir, sipp_bin,
};
use serde_json::Value;

const TOKEN: &str = "v1-test-token-0123456789";

/// A request to the API with the token (or another `Authorization` value).
fn call(api: &str, method: &str, path: &str, auth: Option<&str>, body: Option<&str>) -> Resp {
    let headers: Vec<(String, String)> = auth
        .map(|a| vec![("Authorization".to_string(), a.to_string())])
        .unwrap_or_default();
    http(api, method, path, &headers, body.map(str::as_bytes))
}

fn bearer() -> String {
    format!("Bearer {TOKEN}")
}

fn get(api: &str, path: &str) -> Value {
    let r = call(api, "GET", path, Some(&bearer()), None);
    assert_eq!(r.status, 200, "GET {path}: {}", r.text());
    r.json()
}

fn post_control(api: &str, body: &str) -> Resp {
    call(api, "POST", "/api/v1/control", Some(&bearer()), Some(body))
}

/// Starts `gossipper server` with the token on `api`, waits until SIP and the API are up.
fn start_server(name: &str, sip_port: u16, api: &str, stat: &Path, extra: &[&str]) -> Proc {
    let mut cmd = Command::new(gossipper_bin());
    cmd.arg("server");
    peer_args(&mut cmd, stat)
        .args(extra)
        .args(["-i", "127.0.0.1", "-p", &sip_port.to_string()])
        .args(["-api_addr", api, "-api_token", TOKEN]);
    let mut p = Proc::spawn(name, &mut cmd);
    if extra.contains(&"uas") {
        p.wait_bound(Sock::Udp, sip_port);
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if std::net::TcpStream::connect(api).is_ok() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{name}: the API never listened on {api}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    p
}

/// Polls `GET /api/v1/stats` until `ok` holds (at most `limit`); returns the last one.
fn stats_until(api: &str, limit: Duration, ok: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + limit;
    loop {
        let s = get(api, "/api/v1/stats");
        if ok(&s) {
            return s;
        }
        assert!(Instant::now() < deadline, "stats never matched: {s:#}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn n(v: &Value, key: &str) -> u64 {
    v[key]
        .as_u64()
        .unwrap_or_else(|| panic!("{key} is not a count: {v:#}"))
}

#[test]
fn a_uas_server_counts_what_sipp_sent_and_guards_its_api() {
    const CALLS: u64 = 40;
    let dir = scratch_dir("server-v1-uas");
    let sip_port = free_port();
    let api = format!("127.0.0.1:{}", free_port());
    let server = start_server(
        "gossipper server",
        sip_port,
        &api,
        &dir.join("server.csv"),
        &["-sn", "uas"],
    );

    // The token, and nothing else, opens every route.
    for auth in [
        None,
        Some("Bearer wrong-token-0123456789ab"),
        Some("Bearer "),
        Some(TOKEN),
        Some("Basic djEtdGVzdA=="),
    ] {
        for (method, path) in [
            ("GET", "/api/v1/health"),
            ("GET", "/api/v1/stats"),
            ("GET", "/api/v1/control"),
            ("POST", "/api/v1/control"),
            ("PUT", "/api/v1/scenario"),
            ("GET", "/api/v1/no-such-route"),
        ] {
            let body = (method != "GET").then_some(r#"{"rate":1}"#);
            let r = call(&api, method, path, auth, body);
            assert_eq!(r.status, 401, "{method} {path} with {auth:?}: {}", r.text());
            assert_eq!(r.error(), "unauthorized");
        }
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
    let (status, out, err) = Proc::spawn("sipp uac", &mut cmd).wait(Duration::from_secs(60));
    assert_eq!(status.code(), Some(0), "sipp uac:\n{out}\n{err}");
    let csv = StatCsv::read(&sipp_csv);
    assert_eq!(csv.last("SuccessfulCall(C)"), CALLS, "SIPp's successes");
    assert_eq!(csv.last("FailedCall(C)"), 0, "SIPp's failures");

    // Our counts are SIPp's.
    let s = stats_until(&api, Duration::from_secs(10), |s| {
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

    // What is not built yet says so.
    for (method, path, body) in [
        ("PUT", "/api/v1/scenario", Some("<scenario/>")),
        ("POST", "/api/v1/scenario/apply", Some("<scenario/>")),
        ("GET", "/api/v1/transports", None),
        ("POST", "/api/v1/clients", Some("{}")),
        ("DELETE", "/api/v1/clients?id=x", None),
        ("GET", "/api/v1/live", None),
    ] {
        let r = call(&api, method, path, Some(&bearer()), body);
        assert_eq!(r.status, 501, "{method} {path}: {}", r.text());
        assert!(r.error().contains("not built yet"), "{}", r.text());
    }
    let r = call(&api, "GET", "/api/v1/nope", Some(&bearer()), None);
    assert_eq!(r.status, 404, "{}", r.text());
    let r = call(&api, "DELETE", "/api/v1/stats", Some(&bearer()), None);
    assert_eq!(r.status, 405, "{}", r.text());

    // Still up and still counting the same after all that.
    let again = get(&api, "/api/v1/stats");
    assert_eq!(n(&again, "success_calls"), CALLS);
    drop(server);
}

/// Per-period increments of SIPp's cumulative column `name`.
fn per_period(csv: &StatCsv, name: &str) -> Vec<u64> {
    let i = csv.header.iter().position(|h| h == name).unwrap();
    let totals: Vec<u64> = csv
        .rows
        .iter()
        .map(|r| r[i].trim().parse().unwrap())
        .collect();
    totals
        .windows(2)
        .map(|w| w[1].saturating_sub(w[0]))
        .collect()
}

#[test]
fn a_client_engines_rate_and_pause_follow_the_api_and_show_in_sipps_csv() {
    let dir = scratch_dir("server-v1-uac");
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
    let mut sipp = Proc::spawn("sipp uas", &mut cmd);
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

    let total = |api: &str| n(&get(api, "/api/v1/stats"), "total_calls");
    // Phase 1: 5 calls/s.
    std::thread::sleep(Duration::from_secs(3));
    let t1 = total(&api);
    assert!(
        (8..=22).contains(&t1),
        "about 15 calls in 3 s at 5/s, got {t1}"
    );

    // A bad request changes nothing.
    let r = post_control(&api, r#"{"rate":50,"engine_id":"side"}"#);
    assert_eq!(r.status, 400, "{}", r.text());
    assert_eq!(get(&api, "/api/v1/control")["rate"], 5.0);

    // Phase 2: 20 calls/s.
    let r = post_control(&api, r#"{"rate":20}"#);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json(), serde_json::json!({"rate": 20.0, "paused": false}));
    let t1 = total(&api);
    std::thread::sleep(Duration::from_secs(3));
    let t2 = total(&api);
    assert!(
        (40..=80).contains(&(t2 - t1)),
        "about 60 calls in 3 s at 20/s, got {}",
        t2 - t1
    );

    // Phase 3: paused. No call starts after the pause is acknowledged (the next
    // snapshot is at most one runner tick, 50 ms, behind).
    let r = post_control(&api, r#"{"pause":true}"#);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["paused"], true);
    std::thread::sleep(Duration::from_millis(200));
    let t3 = total(&api);
    std::thread::sleep(Duration::from_secs(3));
    let t4 = total(&api);
    assert_eq!(t4, t3, "calls started while paused");

    // Phase 4: resumed at 20/s, then paused again until every call has ended.
    let r = post_control(&api, r#"{"resume":true,"engine_id":"primary"}"#);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["paused"], false);
    std::thread::sleep(Duration::from_secs(2));
    let t5 = total(&api);
    assert!(
        t5 >= t4 + 20,
        "about 40 calls in 2 s after resume, got {}",
        t5 - t4
    );
    assert_eq!(post_control(&api, r#"{"paused":true}"#).status, 200);
    // The stats are the runner's last snapshot (every 50 ms): wait past it, then until
    // every call has ended and two reads agree.
    std::thread::sleep(Duration::from_millis(300));
    let settled = |s: &Value| {
        n(s, "active_calls") == 0
            && n(s, "success_calls") + n(s, "failed_calls") == n(s, "total_calls")
    };
    let done = stats_until(&api, Duration::from_secs(15), settled);
    std::thread::sleep(Duration::from_millis(300));
    let again = get(&api, "/api/v1/stats");
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
    let (status, out, err) = sipp.quit(Duration::from_secs(30));
    assert_eq!(status.code(), Some(0), "sipp uas:\n{out}\n{err}");
    drop(server);

    // SIPp saw every call we placed, and its per-second CSV shows the three rates.
    let csv = StatCsv::read(&sipp_csv);
    assert_eq!(csv.last("SuccessfulCall(C)"), placed, "SIPp's successes");
    assert_eq!(csv.last("FailedCall(C)"), 0);
    let per = per_period(&csv, "IncomingCall(C)");
    eprintln!("SIPp's new calls per second: {per:?} ({placed} placed)");
    let first_busy = per.iter().position(|&c| c > 0).unwrap();
    let slow = &per[first_busy..first_busy + 2];
    assert!(
        slow.iter().all(|&c| (2..=9).contains(&c)),
        "5/s at first: {per:?}"
    );
    let fast_at = per
        .iter()
        .position(|&c| c >= 14)
        .unwrap_or_else(|| panic!("no second at 20/s in SIPp's CSV: {per:?}"));
    let pause_at = fast_at
        + per[fast_at..]
            .windows(2)
            .position(|w| w == [0, 0])
            .unwrap_or_else(|| panic!("no paused seconds after the rate change: {per:?}"));
    assert!(
        per[pause_at..].iter().any(|&c| c >= 14),
        "calls at 20/s again after the resume: {per:?}"
    );
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
    // Composite keys are refused by name.
    let composite = dir.join("hybrid.json");
    std::fs::write(&composite, r#"{"server":{"id":"s"},"clients":[],"rate":1}"#).unwrap();
    let (status, _, err) = run(&["server", "-config", composite.to_str().unwrap()]);
    assert_eq!(status.code(), Some(255), "{err}");
    assert!(err.contains("server") && err.contains("clients"), "{err}");

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
