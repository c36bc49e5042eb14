//! `gossipper server` and its v1 control API (issue #18), against real SIPp on loopback:
//!
//! - a UAS server (`-sn uas`) answers a bounded SIPp `uac` run: `/api/v1/stats` counts
//!   the calls SIPp counted; every route needs the bearer token (401 without it, or with
//!   a wrong one; after five failures from one address, 429 with Retry-After); a
//!   malformed control body or an unknown engine id gets a 4xx and
//!   changes nothing; routes not built yet answer 501;
//! - a server whose engine is a client (`-sn uac` toward a SIPp UAS): a rate change and
//!   a pause/resume posted to `/api/v1/control` show in our stats and in SIPp's own
//!   per-second CSV;
//! - a UAS server whose scenario is replaced over the API while SIPp's calls are in
//!   flight: none fails, the calls in flight finish on the old scenario and the new
//!   calls run the new one (seen in SIPp's message log); a scenario of the wrong role,
//!   malformed XML, a wrong content type or query get a 4xx and change nothing;
//! - a dynamic client added over the API (a UAC engine in the server's process) calls a
//!   SIPp UAS, shows in the multi-engine stats and control, and stops when deleted (SIPp
//!   sees its calls, then no more); an unknown engine id, a malformed snippet, a
//!   forbidden key or a UAS snippet get a 4xx and change nothing;
//! - a UAS listener turned off and on over the API while SIPp calls: no call is taken
//!   while off (SIPp retransmits), the calls resume when it is back on and none fails;
//!   an unknown listener index or client id, or an empty body, gets a 400 and changes
//!   nothing; a dynamic client that does not accept places no call;
//! - the command line: `server -h` shows its own group first, the root command refuses
//!   the server flags, no token on a non-loopback API address and `-config`'s composite
//!   keys are refused (exit 255), a flat `-config` file sets the ports and the token.
//!
//! Every wait has a deadline; every process is killed when its guard drops.

#![allow(clippy::unwrap_used)] // helpers outside #[test] fns: a failed unwrap is a failed test

mod api_support;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use api_support::{Resp, http};
use gossipper_e2e::{
    Proc, Sock, StatCsv, free_port, gossipper_bin, peer_args, scratch_dir, sipp_bin, tail,
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

/// A scratch dir in memory (`/dev/shm`) when there is one, else the usual one. The
/// timed tests keep their CSVs there: on a disk shared with builds, a once-a-second CSV
/// write can wait for writeback, and such a stall (18 s seen in both SIPp's and our CSV
/// at once, while another engineer's release build ran) starves the phases measured.
fn memory_scratch(name: &str) -> PathBuf {
    let shm = Path::new("/dev/shm");
    if !shm.is_dir() {
        return scratch_dir(name);
    }
    let d = shm.join(format!(
        "gossipper-e2e-{name}-{}-{}",
        std::process::id(),
        free_port()
    ));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Starts `cmd` with its stdout and stderr in files beside `stat` (`<stem>.out`,
/// `<stem>.err`), not pipes: a long-running peer that writes more than a pipe holds
/// (SIPp prints every unexpected message on stderr) must not block on a reader that only
/// comes at its exit.
fn spawn_logged(name: &str, cmd: &mut Command, stat: &Path) -> Proc {
    let log = |ext: &str| std::fs::File::create(stat.with_extension(ext)).unwrap();
    let child = cmd
        .stdin(Stdio::null())
        .stdout(log("out"))
        .stderr(log("err"))
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
    Proc {
        child,
        name: name.to_string(),
    }
}

/// What a peer logged, for failure messages.
fn logs(stat: &Path) -> String {
    let read = |ext: &str| std::fs::read_to_string(stat.with_extension(ext)).unwrap_or_default();
    format!(
        "stdout:\n{}\nstderr:\n{}",
        tail(&read("out")),
        tail(&read("err"))
    )
}

/// Starts `gossipper server` with the token on `api`, waits until SIP and the API are up.
fn start_server(name: &str, sip_port: u16, api: &str, stat: &Path, extra: &[&str]) -> Proc {
    let mut cmd = Command::new(gossipper_bin());
    cmd.arg("server");
    peer_args(&mut cmd, stat)
        .args(extra)
        .args(["-i", "127.0.0.1", "-p", &sip_port.to_string()])
        .args(["-api_addr", api, "-api_token", TOKEN]);
    let mut p = spawn_logged(name, &mut cmd, stat);
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

    // What is not built yet says so.
    let r = call(&api, "GET", "/api/v1/live", Some(&bearer()), None);
    assert_eq!(r.status, 501, "GET /api/v1/live: {}", r.text());
    assert!(r.error().contains("not built yet"), "{}", r.text());
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

/// SIPp's per-period rows as (seconds since the previous row, new calls in it), from the
/// epoch in `CurrentTime` and the cumulative `IncomingCall(C)`: rates from the real
/// length of each period, which stretches when the machine is busy.
fn sipp_periods(csv: &StatCsv) -> Vec<(f64, u64)> {
    let col = |name: &str| csv.header.iter().position(|h| h == name).unwrap();
    let (time, calls) = (col("CurrentTime"), col("IncomingCall(C)"));
    let rows: Vec<(f64, u64)> = csv
        .rows
        .iter()
        .map(|r| {
            // "2026-12-07\t13:25:06.450534\t1796649906.450534": the epoch is last.
            let epoch = r[time]
                .split('\t')
                .next_back()
                .unwrap()
                .trim()
                .parse()
                .unwrap();
            (epoch, r[calls].trim().parse().unwrap())
        })
        .collect();
    rows.windows(2)
        .map(|w| (w[1].0 - w[0].0, w[1].1.saturating_sub(w[0].1)))
        .collect()
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

/// The built-in uas, as the server's `-sf` file starts with.
const UAS_XML: &str = include_str!("../../assets/scenarios/uas.xml");

/// The uas whose every reply carries `X-Version: 2`.
fn uas_v2() -> String {
    let contact = "Contact: <sip:[local_ip]:[local_port];transport=[transport]>";
    let v2 = UAS_XML
        .replace(contact, &format!("{contact}\n    X-Version: 2"))
        .replace("Basic UAS responder", "UAS v2");
    assert_eq!(v2.matches("X-Version: 2").count(), 3);
    v2
}

/// A request with the token and a content type.
fn send_xml(api: &str, method: &str, path: &str, ctype: &str, body: &str) -> Resp {
    let headers = vec![
        ("Authorization".to_string(), bearer()),
        ("Content-Type".to_string(), ctype.to_string()),
    ];
    http(api, method, path, &headers, Some(body.as_bytes()))
}

/// Per Call-ID, whether each message SIPp received carried `X-Version: 2` (from its
/// `-trace_msg` log).
fn marks_by_call(log: &str) -> std::collections::BTreeMap<String, Vec<bool>> {
    let mut out: std::collections::BTreeMap<String, Vec<bool>> = Default::default();
    for entry in log.split("-----------------------------------------------") {
        if !entry.contains("message received") {
            continue;
        }
        let call_id = entry.lines().find_map(|l| {
            let (name, value) = l.split_once(':')?;
            matches!(name.trim().to_ascii_lowercase().as_str(), "call-id" | "i")
                .then(|| value.trim().to_string())
        });
        if let Some(id) = call_id {
            out.entry(id)
                .or_default()
                .push(entry.contains("X-Version: 2"));
        }
    }
    out
}

#[test]
fn a_uas_scenario_replaced_live_keeps_the_calls_in_flight_and_refuses_bad_input() {
    const CALLS: u64 = 60;
    let dir = memory_scratch("server-v1-replace");
    let sf = dir.join("uas.xml");
    std::fs::write(&sf, UAS_XML).unwrap();
    let sip_port = free_port();
    let api = format!("127.0.0.1:{}", free_port());
    let mut server = start_server(
        "gossipper server (-sf)",
        sip_port,
        &api,
        &dir.join("server.csv"),
        &["-sf", sf.to_str().unwrap()],
    );
    server.wait_bound(Sock::Udp, sip_port);
    let first = get(&api, "/api/v1/scenario");
    assert_eq!(first["scenario_file"], sf.to_str().unwrap(), "{first:#}");
    assert_eq!(first["builtin"], false);

    // Bad input: a 4xx naming the problem, and nothing changes (neither what runs nor
    // the -sf file).
    let uac = include_str!("../../assets/scenarios/uac.xml");
    let broken = "<scenario name=\"x\">\n  <recv request=\"INVITE\"/>\n  <send>\n</scenario>\n";
    let exec = "<scenario name=\"e\">\n  <recv request=\"INVITE\"><action><exec command=\"true\"/></action></recv>\n</scenario>\n";
    for (method, path, ctype, body, status, says) in [
        (
            "PUT",
            "/api/v1/scenario?apply=true",
            "application/xml",
            uac,
            409,
            "role",
        ),
        (
            "POST",
            "/api/v1/scenario/apply",
            "application/xml",
            uac,
            409,
            "role",
        ),
        (
            "PUT",
            "/api/v1/scenario?apply=true",
            "application/xml",
            broken,
            400,
            "request.xml:4:1:",
        ),
        (
            "PUT",
            "/api/v1/scenario?apply=true",
            "text/xml",
            exec,
            403,
            "-allow_exec",
        ),
        (
            "PUT",
            "/api/v1/scenario",
            "application/xml",
            "",
            400,
            "empty",
        ),
        (
            "PUT",
            "/api/v1/scenario?apply=maybe",
            "application/xml",
            UAS_XML,
            400,
            "apply=maybe",
        ),
        (
            "PUT",
            "/api/v1/scenario?force=1",
            "application/xml",
            UAS_XML,
            400,
            "force",
        ),
        (
            "POST",
            "/api/v1/scenario/apply",
            "application/json",
            "{}",
            415,
            "application/xml",
        ),
    ] {
        let r = send_xml(&api, method, path, ctype, body);
        assert_eq!(r.status, status, "{method} {path}: {}", r.text());
        assert!(r.error().contains(says), "{method} {path}: {}", r.text());
        assert_eq!(
            get(&api, "/api/v1/scenario"),
            first,
            "after {method} {path}"
        );
        assert_eq!(std::fs::read_to_string(&sf).unwrap(), UAS_XML);
    }

    // SIPp calls at 15/s and holds each call 2 s: about 30 in flight at any time.
    let sipp_csv = dir.join("sipp.csv");
    let sipp_log = dir.join("sipp_messages.log");
    let mut cmd = Command::new(sipp_bin());
    peer_args(&mut cmd, &sipp_csv)
        .args(["-sn", "uac", "-i", "127.0.0.1"])
        .args(["-p", &free_port().to_string()])
        .args(["-r", "15", "-d", "2000", "-m", &CALLS.to_string()])
        .args(["-trace_msg", "-message_file", sipp_log.to_str().unwrap()])
        .arg(format!("127.0.0.1:{sip_port}"));
    let sipp = spawn_logged("sipp uac", &mut cmd, &sipp_csv);

    // Replaced once a third of the calls are placed, with calls in flight.
    let at = stats_until(&api, Duration::from_secs(30), |s| {
        n(s, "total_calls") >= CALLS / 3 && n(s, "active_calls") >= 5
    });
    let v2 = uas_v2();
    let r = send_xml(
        &api,
        "PUT",
        "/api/v1/scenario?apply=true",
        "application/xml",
        &v2,
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        r.json(),
        serde_json::json!({"written": true, "applied": true})
    );
    let after = get(&api, "/api/v1/scenario");
    assert_eq!(after["xml"], v2.as_str(), "GET shows the new scenario");
    assert_eq!(after["scenario_file"], sf.to_str().unwrap());
    assert_eq!(std::fs::read_to_string(&sf).unwrap(), v2, "-sf written");

    let (status, _, _) = sipp.wait(Duration::from_secs(90));
    assert_eq!(status.code(), Some(0), "sipp uac:\n{}", logs(&sipp_csv));
    let csv = StatCsv::read(&sipp_csv);
    assert_eq!(csv.last("SuccessfulCall(C)"), CALLS, "SIPp's successes");
    assert_eq!(csv.last("FailedCall(C)"), 0, "SIPp's failures");

    // Each call ran on one scenario only: those in flight at the swap on the old one to
    // their end (their BYE answered after it, unmarked), the later ones on the new one.
    let marks = marks_by_call(&std::fs::read_to_string(&sipp_log).unwrap());
    assert_eq!(marks.len() as u64, CALLS, "calls in SIPp's message log");
    let old = marks.values().filter(|m| m.iter().all(|x| !x)).count() as u64;
    let new = marks.values().filter(|m| m.iter().all(|x| *x)).count() as u64;
    eprintln!(
        "replaced after {} calls ({} in flight): {old} calls on the old scenario, {new} on the new one",
        n(&at, "total_calls"),
        n(&at, "active_calls")
    );
    assert_eq!(old + new, CALLS, "a call mixed both scenarios: {marks:?}");
    assert!(
        old >= n(&at, "total_calls") && new >= CALLS / 3,
        "{old} calls on the old scenario, {new} on the new one (swap after {})",
        n(&at, "total_calls")
    );

    // Our side agrees: every call answered, none failed.
    let s = stats_until(&api, Duration::from_secs(60), |s| {
        n(s, "success_calls") + n(s, "failed_calls") >= CALLS && n(s, "active_calls") == 0
    });
    assert_eq!(
        (n(&s, "success_calls"), n(&s, "failed_calls")),
        (CALLS, 0),
        "{s:#}"
    );

    // Without a body, /scenario/apply reads the -sf file again.
    let r = call(
        &api,
        "POST",
        "/api/v1/scenario/apply",
        Some(&bearer()),
        None,
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        r.json(),
        serde_json::json!({"written": false, "applied": true})
    );
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_dynamic_client_calls_sipp_until_deleted_and_bad_snippets_change_nothing() {
    let dir = memory_scratch("server-v1-clients");
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
    let server = start_server(
        "gossipper server",
        free_port(),
        &api,
        &dir.join("server.csv"),
        &["-sn", "uas"],
    );
    let post = |body: &str| call(&api, "POST", "/api/v1/clients", Some(&bearer()), Some(body));
    let none = serde_json::json!({"clients": []});
    assert_eq!(get(&api, "/api/v1/clients"), none);

    // Bad snippets: a 4xx naming the problem, no client started.
    let remote = format!("127.0.0.1:{sipp_port}");
    for (body, status, says) in [
        ("{\"remote_addr\":".to_string(), 400, "invalid JSON"),
        ("[1,2]".to_string(), 400, "JSON object"),
        (
            format!(r#"{{"remote_addr":"{remote}","api_token":"x"}}"#),
            400,
            "\"api_token\" is forbidden",
        ),
        (
            format!(r#"{{"remote_addr":"{remote}","listeners":[]}}"#),
            400,
            "\"listeners\" is forbidden",
        ),
        (
            format!(r#"{{"remote_addr":"{remote}","summary_json":"s.json"}}"#),
            400,
            "\"summary_json\"",
        ),
        (
            format!(r#"{{"remote_addr":"{remote}","rate":"fast"}}"#),
            400,
            "fast",
        ),
        (r#"{"rate":2}"#.to_string(), 400, "remote_addr"),
        (
            format!(r#"{{"remote_addr":"{remote}","scenario_name":"uas"}}"#),
            400,
            "UAC",
        ),
    ] {
        let r = post(&body);
        assert_eq!(r.status, status, "POST clients {body}: {}", r.text());
        assert!(
            r.error().contains(says),
            "POST clients {body}: {}",
            r.text()
        );
        assert_eq!(get(&api, "/api/v1/clients"), none, "after {body}");
    }
    let single = get(&api, "/api/v1/stats");
    assert_eq!(
        single["schema_version"], "gossipper_summary_v1",
        "one engine: a bare summary"
    );

    // A client at 10 calls/s toward SIPp.
    let r = post(&format!(
        r#"{{"remote_addr":"{remote}","scenario_name":"uac","local_ip":"127.0.0.1","rate":10}}"#
    ));
    assert_eq!(r.status, 201, "{}", r.text());
    let id = r.json()["id"].as_str().unwrap().to_string();
    assert_eq!(r.json(), serde_json::json!({"id": id, "started": true}));
    let listed = get(&api, "/api/v1/clients");
    assert_eq!(listed["clients"][0]["id"], id.as_str(), "{listed:#}");
    assert_eq!(listed["clients"][0]["running"], true, "{listed:#}");

    // Stats and control now list both engines.
    let engine = |s: &Value, id: &str| -> Value {
        s["engines"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["id"] == id)
            .unwrap_or_else(|| panic!("no engine {id}: {s:#}"))
            .clone()
    };
    let s = stats_until(&api, Duration::from_secs(30), |s| {
        s["multi"] == true && n(&engine(s, &id)["stats"], "success_calls") >= 10
    });
    assert_eq!(s["dynamic_client_ids"], serde_json::json!([id]), "{s:#}");
    assert_eq!(
        n(&engine(&s, "primary")["stats"], "total_calls"),
        0,
        "{s:#}"
    );
    assert_eq!(n(&engine(&s, &id)["stats"], "failed_calls"), 0, "{s:#}");

    let before = get(&api, "/api/v1/control");
    assert_eq!(before["multi"], true, "{before:#}");
    assert_eq!(engine(&before, &id)["rate"], 10.0, "{before:#}");
    for (body, status) in [
        (r#"{"rate":3,"engine_id":"client-99"}"#.to_string(), 400),
        (
            format!(r#"{{"rate":3,"engine_id":"{id}","id":"primary"}}"#),
            400,
        ),
        (r#"{"rate":3,"engine_id":"primary"}"#.to_string(), 409),
    ] {
        let r = post_control(&api, &body);
        assert_eq!(r.status, status, "POST control {body}: {}", r.text());
        assert_eq!(get(&api, "/api/v1/control"), before, "after {body}");
    }
    // Without an engine id: every engine that places calls (the UAS places none).
    let r = post_control(&api, r#"{"rate":12}"#);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(engine(&r.json(), &id)["rate"], 12.0, "{}", r.text());
    assert_eq!(
        engine(&r.json(), "primary")["rate"],
        before["engines"][0]["rate"]
    );

    // Not accepting: the client places no call until it accepts again.
    let transports = |body: &str| {
        call(
            &api,
            "POST",
            "/api/v1/transports",
            Some(&bearer()),
            Some(body),
        )
    };
    let r = transports(&format!(
        r#"{{"clients":[{{"id":"{id}","accepting":false}}]}}"#
    ));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["clients"][0]["accepting"], false, "{}", r.text());
    let placed = |s: &Value| n(&engine(s, &id)["stats"], "total_calls");
    // The snapshot is one runner tick behind: wait past it.
    std::thread::sleep(Duration::from_millis(400));
    let a = get(&api, "/api/v1/stats");
    std::thread::sleep(Duration::from_millis(1200));
    let b = get(&api, "/api/v1/stats");
    assert_eq!(placed(&a), placed(&b), "calls placed while not accepting");
    let r = transports(&format!(
        r#"{{"clients":[{{"id":"{id}","accepting":true}}]}}"#
    ));
    assert_eq!(r.status, 200, "{}", r.text());
    stats_until(&api, Duration::from_secs(10), |s| placed(s) > placed(&b));

    // Deleted: no new calls; its calls in flight end; the server is single again.
    let r = call(
        &api,
        "DELETE",
        "/api/v1/clients?id=nope",
        Some(&bearer()),
        None,
    );
    assert_eq!(r.status, 404, "{}", r.text());
    let r = call(&api, "DELETE", "/api/v1/clients", Some(&bearer()), None);
    assert_eq!(r.status, 400, "{}", r.text());
    let last = get(&api, "/api/v1/stats");
    let placed_before = n(&engine(&last, &id)["stats"], "total_calls");
    let r = call(
        &api,
        "DELETE",
        &format!("/api/v1/clients?id={id}"),
        Some(&bearer()),
        None,
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(get(&api, "/api/v1/clients"), none);
    let after = get(&api, "/api/v1/stats");
    assert_eq!(after["schema_version"], "gossipper_summary_v1", "{after:#}");

    // A second client, still calling when the server is told to quit: it is stopped
    // with the server, its calls ended, and the server exits.
    let r = post(&format!(
        r#"{{"remote_addr":"{remote}","scenario_name":"uac","local_ip":"127.0.0.1","rate":10}}"#
    ));
    assert_eq!(r.status, 201, "{}", r.text());
    let second = r.json()["id"].as_str().unwrap().to_string();
    assert_ne!(second, id, "ids are not reused");
    stats_until(&api, Duration::from_secs(30), |s| {
        s["multi"] == true && n(&engine(s, &second)["stats"], "success_calls") >= 5
    });
    let (_, _, _) = server.quit(Duration::from_secs(30));
    let err = std::fs::read_to_string(dir.join("server.err")).unwrap_or_default();
    assert!(
        err.contains(&format!("dynamic client {second} started")),
        "server stderr:\n{}",
        tail(&err)
    );

    // SIPp saw the clients' calls, none failed, then no more (after its 4 s timewaits).
    std::thread::sleep(Duration::from_secs(5));
    let (status, _, _) = sipp.quit(Duration::from_secs(30));
    assert_eq!(status.code(), Some(0), "sipp uas:\n{}", logs(&sipp_csv));
    let csv = StatCsv::read(&sipp_csv);
    let got = csv.last("SuccessfulCall(C)");
    assert!(
        got >= placed_before.max(10),
        "SIPp answered {got}, we placed {placed_before}+"
    );
    assert_eq!(csv.last("FailedCall(C)"), 0, "SIPp's failures");
    let periods = sipp_periods(&csv);
    let quiet: Vec<_> = periods.iter().rev().take_while(|p| p.1 == 0).collect();
    assert!(
        quiet.iter().map(|p| p.0).sum::<f64>() >= 1.5,
        "SIPp still got calls after the delete: {periods:?}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_uas_listener_turned_off_takes_no_call_until_turned_on_again() {
    const CALLS: u64 = 50;
    let dir = memory_scratch("server-v1-listener");
    let sip_port = free_port();
    let api = format!("127.0.0.1:{}", free_port());
    let server = start_server(
        "gossipper server",
        sip_port,
        &api,
        &dir.join("server.csv"),
        &["-sn", "uas"],
    );
    let post = |body: &str| {
        call(
            &api,
            "POST",
            "/api/v1/transports",
            Some(&bearer()),
            Some(body),
        )
    };
    let first = get(&api, "/api/v1/transports");
    assert_eq!(
        first,
        serde_json::json!({
            "listeners": [{"index": 0, "enabled": true, "transport": "udp", "port": sip_port}],
            "clients": [],
        })
    );
    for (body, says) in [
        (r#"{"index":1,"enabled":false}"#, "no listener 1"),
        (
            r#"{"listeners":[{"index":0,"enabled":false},{"index":3,"enabled":true}]}"#,
            "no listener 3",
        ),
        (
            r#"{"clients":[{"id":"client-7","accepting":false}]}"#,
            "client-7",
        ),
        (r#"{"index":0}"#, "both index and enabled"),
        (r#"{}"#, "nothing to change"),
        (r#"{"index":0,"enabled":"no"}"#, "invalid JSON"),
        (r#"{"index":0,"enabled":false,"port":5}"#, "port"),
    ] {
        let r = post(body);
        assert_eq!(r.status, 400, "POST transports {body}: {}", r.text());
        assert!(
            r.error().contains(says),
            "POST transports {body}: {}",
            r.text()
        );
        assert_eq!(get(&api, "/api/v1/transports"), first, "after {body}");
    }

    // SIPp calls at 10/s.
    let sipp_csv = dir.join("sipp.csv");
    let mut cmd = Command::new(sipp_bin());
    peer_args(&mut cmd, &sipp_csv)
        .args(["-sn", "uac", "-i", "127.0.0.1"])
        .args(["-p", &free_port().to_string()])
        .args(["-r", "10", "-m", &CALLS.to_string()])
        .arg(format!("127.0.0.1:{sip_port}"));
    let sipp = spawn_logged("sipp uac", &mut cmd, &sipp_csv);
    stats_until(&api, Duration::from_secs(30), |s| n(s, "total_calls") >= 10);

    // Off: no call is taken (the snapshot is one runner tick behind: wait past it).
    let r = post(r#"{"index":0,"enabled":false}"#);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["listeners"][0]["enabled"], false, "{}", r.text());
    std::thread::sleep(Duration::from_millis(400));
    let a = get(&api, "/api/v1/stats");
    std::thread::sleep(Duration::from_millis(1500));
    let b = get(&api, "/api/v1/stats");
    assert_eq!(
        n(&a, "total_calls"),
        n(&b, "total_calls"),
        "calls taken while the listener was off"
    );

    // On again: SIPp's retransmitted INVITEs and its new calls are answered.
    let r = post(r#"{"listeners":[{"index":0,"enabled":true}]}"#);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["listeners"][0]["enabled"], true);
    let (status, _, _) = sipp.wait(Duration::from_secs(90));
    assert_eq!(status.code(), Some(0), "sipp uac:\n{}", logs(&sipp_csv));
    let csv = StatCsv::read(&sipp_csv);
    assert_eq!(csv.last("SuccessfulCall(C)"), CALLS, "SIPp's successes");
    assert_eq!(csv.last("FailedCall(C)"), 0, "SIPp's failures");
    assert!(
        csv.last("Retransmissions(C)") > 0,
        "SIPp retransmitted nothing: the listener never looked off"
    );
    let s = stats_until(&api, Duration::from_secs(60), |s| {
        n(s, "success_calls") >= CALLS && n(s, "active_calls") == 0
    });
    assert_eq!(
        (n(&s, "total_calls"), n(&s, "failed_calls")),
        (CALLS, 0),
        "{s:#}"
    );
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}
