//! `gossipper server -ui_data_dir` (issue #18): the master's `/api/v2`, its users and
//! its console on the server's API listener, beside `/api/v1` and the server's own live
//! trace and calls catalogue, all in one real process:
//!
//! - the bootstrap admin logs in over HTTP; `/health` tells the console it runs inside
//!   `gossipper server` with v1 on; scenarios list; the console's page is served;
//!   `/gateway/ips` lists this host's addresses, loopback last; the OpenAPI document
//!   of server mode validates and describes the server's own routes, whose replies fit;
//! - `/api/v1` and the server's own `/api/v2` routes refuse a caller without a token
//!   (401) and take the admin's JWT; a change made over v1 is an audit row;
//! - a client job started through `/api/v2` (a worker process, as in `gossipper ui`)
//!   places its calls on the server's SIP listener, which answers them: the v1 stats and
//!   `/api/v2/calls` count them;
//! - with `-ui_data_dir`, v1 is off unless `-legacy_api_v1=true` is given (404 naming the
//!   flag) and `/health` says so;
//! - SIPp's calls to the server's listener are rows of `DIR/calls.sqlite`, which
//!   `/api/v2/calls` pages through, and which a clean stop (SIGTERM) and a new process
//!   on the same data dir keep;
//! - a composite `-config` (API, data dir, `auth{}`, `server{listeners[]}` with a UDP
//!   and a TCP listener, `clients[]` with one UAC toward the TCP one) runs three
//!   engines in one process: SIPp's calls to UDP and the client's to TCP all succeed,
//!   each engine counts its own, every engine's calls are catalogued and traced, a
//!   listener turns off; a bad client entry stops the server before it starts, naming
//!   it.
//!
//! Every wait has a deadline; every process is killed when its guard drops.

#![allow(clippy::unwrap_used)] // helpers outside #[test] fns: a failed unwrap is a failed test

mod api_support;
mod openapi_support;
mod server_support;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use api_support::{Resp, temp_data_dir};
use gossipper_e2e::{Proc, Sock, free_port, gossipper_bin, peer_args, sipp_bin};
use serde_json::{Value, json};
use server_support::*;

/// Starts `gossipper server -ui_data_dir data` (no `-api_token` unless in `extra`) and
/// waits until SIP and the API are up.
fn start(name: &str, data: &Path, sip_port: u16, api: &str, extra: &[&str]) -> Proc {
    let stat = data.with_extension(format!("{name}.csv"));
    let mut cmd = server_command(&stat);
    cmd.args(["-sn", "uas", "-i", "127.0.0.1", "-p", &sip_port.to_string()])
        .args(["-api_addr", api, "-ui_data_dir", data.to_str().unwrap()])
        .args(extra);
    launch(name, &mut cmd, &stat, Some(sip_port), api)
}

fn req(api: &str, method: &str, path: &str, jwt: Option<&str>, body: Option<&Value>) -> Resp {
    let auth = jwt.map(|t| format!("Bearer {t}"));
    let body = body.map(Value::to_string);
    call(api, method, path, auth.as_deref(), body.as_deref())
}

fn ok(api: &str, path: &str, jwt: &str) -> Value {
    let r = req(api, "GET", path, Some(jwt), None);
    assert_eq!(r.status, 200, "GET {path}: {}", r.text());
    r.json()
}

/// Polls `path` until `pred` holds on its JSON (at most `limit`).
fn until(
    api: &str,
    path: &str,
    jwt: &str,
    limit: Duration,
    pred: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = Instant::now() + limit;
    loop {
        let v = ok(api, path, jwt);
        if pred(&v) {
            return v;
        }
        assert!(Instant::now() < deadline, "GET {path} never matched: {v:#}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_server_with_a_data_dir_serves_v2_users_and_console_beside_v1() {
    const CALLS: u64 = 5;
    let data = temp_data_dir("server-v2");
    let sip_port = free_port();
    let api = format!("127.0.0.1:{}", free_port());
    let server = start("server-v2", &data, sip_port, &api, &["-legacy_api_v1=true"]);

    // What the console reads first: open, and it says where it runs.
    let health = req(&api, "GET", "/api/v2/health", None, None).json();
    assert_eq!(health["mode"], "server", "{health}");
    assert_eq!(health["legacy_api_v1"], true, "{health}");
    assert_eq!(health["auth"], "internal", "{health}");

    // Without a token: 401 on v1, on the server's own v2 routes and on the master's.
    for path in [
        "/api/v1/stats",
        "/api/v1/health",
        "/api/v2/sip/trace",
        "/api/v2/calls",
        "/api/v2/scenarios",
        "/api/v2/gateway/ips",
    ] {
        let r = req(&api, "GET", path, None, None);
        assert_eq!(r.status, 401, "GET {path} without a token: {}", r.text());
    }
    let r = req(&api, "GET", "/api/v1/stats", Some("not-a-jwt"), None);
    assert_eq!(r.status, 401, "{}", r.text());

    // The bootstrap admin logs in (v2, and the same login on v1).
    let jwt = login_admin(&api, "/api/v2/auth/login");
    let jwt1 = login_admin(&api, "/api/v1/auth/login");
    assert_eq!(ok(&api, "/api/v2/me", &jwt)["username"], "admin");
    let v1_auth = req(&api, "GET", "/api/v1/auth/status", None, None).json();
    assert_eq!(v1_auth["auth"], "internal", "{v1_auth}");
    let settings = ok(&api, "/api/v2/settings", &jwt);
    assert_eq!(settings["mode"], "server", "{settings}");
    assert_eq!(settings["legacy_api_v1"], true, "{settings}");
    assert!(data.join("settings.sqlite").is_file());

    // The master's routes and the console.
    let builtin = ok(&api, "/api/v2/builtin-scenarios", &jwt);
    assert!(
        builtin["scenarios"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["id"] == "uac"),
        "{builtin}"
    );
    assert!(ok(&api, "/api/v2/scenarios", &jwt1)["scenarios"].is_array());
    let page = req(&api, "GET", "/", None, None);
    assert_eq!(page.status, 200);
    assert!(page.text().contains("<html"), "{}", page.text());

    // The Autodiscover button's source: this host's addresses, loopback last.
    let ips = ok(&api, "/api/v2/gateway/ips", &jwt);
    let list = ips["ips"].as_array().unwrap();
    let lo = list
        .iter()
        .position(|h| h["ip"] == "127.0.0.1")
        .expect("loopback listed");
    assert_eq!(list[lo]["loopback"], true, "{ips}");
    assert!(
        list[..lo].iter().all(|h| h["loopback"] == false),
        "non-loopback first: {ips}"
    );
    assert!(ips["suggested"].is_string(), "{ips}");

    // v1 and the server's own v2 routes take the JWT.
    let stats = ok(&api, "/api/v1/stats", &jwt);
    assert_eq!(stats["schema_version"], "gossipper_summary_v1", "{stats}");
    assert!(ok(&api, "/api/v2/sip/trace", &jwt)["messages"].is_array());

    // A browser opens the trace export by URL with a one-use ticket.
    let r = req(
        &api,
        "POST",
        "/api/v2/auth/ticket",
        Some(&jwt),
        Some(&json!({})),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let ticket = r.json()["ticket"].as_str().unwrap().to_string();
    let url = format!("/api/v2/sip/trace/export?format=text&ticket={ticket}");
    let r = req(&api, "GET", &url, None, None);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        req(&api, "GET", &url, None, None).status,
        401,
        "a ticket opens once"
    );

    // A change made over v1 is audited as the master's own are, by the token's user.
    for enabled in [false, true] {
        let r = req(
            &api,
            "POST",
            "/api/v1/transports",
            Some(&jwt),
            Some(&json!({"index": 0, "enabled": enabled})),
        );
        assert_eq!(r.status, 200, "{}", r.text());
    }
    let audit = ok(&api, "/api/v2/audit", &jwt);
    let rows: Vec<&Value> = audit["audit"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["action"] == "v1.transports")
        .collect();
    assert_eq!(rows.len(), 2, "{audit:#}");
    assert_eq!(rows[0]["username"], "admin", "{audit:#}");
    assert_eq!(rows[0]["target"], "/api/v1/transports", "{audit:#}");

    // A client job through /api/v2 (a worker process) calls this server's listener.
    let r = req(
        &api,
        "POST",
        "/api/v2/clients",
        Some(&jwt),
        Some(&json!({"id": "toward-self", "scenario_ref": "uac",
            "remote_ip": "127.0.0.1", "remote_port": sip_port, "rate": 10.0,
            "transports": [{"transport": "u1", "local_ip": "127.0.0.1", "enabled": true}]})),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let r = req(
        &api,
        "POST",
        "/api/v2/clients/toward-self/start",
        Some(&jwt),
        Some(&json!({"engine": {"total_calls": CALLS}})),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let job_id = r.json()["id"].as_str().unwrap().to_string();
    let job = until(
        &api,
        &format!("/api/v2/jobs/{job_id}"),
        &jwt,
        Duration::from_secs(60),
        |j| j["job"]["finished_at"].is_string(),
    );
    assert_eq!(job["job"]["status"], "succeeded", "{job:#}");

    // The server answered them: v1 counts them, the catalogue lists them as inbound.
    let auth = format!("Bearer {jwt}");
    let deadline = Instant::now() + Duration::from_secs(30);
    let stats = loop {
        let s = call(&api, "GET", "/api/v1/stats", Some(&auth), None).json();
        if n(&s, "success_calls") >= CALLS || Instant::now() > deadline {
            break s;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(n(&stats, "success_calls"), CALLS, "{stats:#}");
    assert_eq!(n(&stats, "failed_calls"), 0, "{stats:#}");
    let calls = until(&api, "/api/v2/calls", &jwt, Duration::from_secs(30), |c| {
        c["calls"].as_array().unwrap().len() as u64 >= CALLS
    });
    for c in calls["calls"].as_array().unwrap() {
        assert_eq!(c["direction"], "inbound", "{c}");
        assert_eq!(c["state"], "ended", "{c}");
    }

    // The OpenAPI document of server mode: valid, with the server's own routes, whose
    // real replies fit their schemas.
    let doc = req(&api, "GET", "/api/v2/openapi.json", None, None).json();
    assert_eq!(doc["info"]["title"], "gossipper server");
    openapi_support::spec_validator(&doc, "server")
        .unwrap_or_else(|e| panic!("openapi-spec-validator: {e}"));
    let id = calls["calls"][0]["call_id"]
        .as_str()
        .unwrap()
        .replace('@', "%40");
    for (pattern, path) in [
        ("/calls", "/api/v2/calls".to_string()),
        ("/calls/{id}", format!("/api/v2/calls/{id}")),
        ("/sip/trace", "/api/v2/sip/trace".to_string()),
        (
            "/sip/trace/capture",
            "/api/v2/sip/trace/capture".to_string(),
        ),
        ("/gateway/ips", "/api/v2/gateway/ips".to_string()),
    ] {
        let got = ok(&api, &path, &jwt);
        let op = openapi_support::operation(&doc, "GET", pattern);
        let schema =
            &openapi_support::reply(op, 200).unwrap()["content"]["application/json"]["schema"];
        let mut errs = Vec::new();
        openapi_support::check(&doc, schema, &got, pattern, &mut errs);
        assert!(errs.is_empty(), "GET {pattern}: {errs:?}");
    }
    drop(server);

    // The same data dir without -legacy_api_v1: v1 is off, as with the Go tool, its routes
    // 404 naming the flag; v2 goes on.
    let sip_port = free_port();
    let api = format!("127.0.0.1:{}", free_port());
    let _server = start("server-v2-no-v1", &data, sip_port, &api, &[]);
    let health = req(&api, "GET", "/api/v2/health", None, None).json();
    assert_eq!(health["mode"], "server", "{health}");
    assert_eq!(health["legacy_api_v1"], false, "{health}");
    let jwt = login_admin(&api, "/api/v2/auth/login");
    let r = req(&api, "GET", "/api/v1/stats", Some(&jwt), None);
    assert_eq!(r.status, 404, "{}", r.text());
    assert!(r.error().contains("legacy_api_v1"), "{}", r.text());
    let jobs = ok(&api, "/api/v2/jobs", &jwt);
    assert!(
        jobs["jobs"]
            .as_array()
            .unwrap()
            .iter()
            .any(|j| j["id"] == job_id.as_str()),
        "the job of the first run is in the data dir: {jobs}"
    );
    let _ = std::fs::remove_dir_all(&data);
}

/// One number a query of the SQLite file gives (read-only, the server stopped).
fn sqlite(file: &Path, query: &str) -> String {
    let conn =
        rusqlite::Connection::open_with_flags(file, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    let n: i64 = conn
        .query_row(query, [], |r| r.get(0))
        .unwrap_or_else(|e| panic!("{query}: {e}"));
    n.to_string()
}

#[test]
fn sipps_calls_are_rows_of_calls_sqlite_that_survive_a_restart() {
    const CALLS: u64 = 12;
    let data = temp_data_dir("server-cdr");
    let sip_port = free_port();
    let api = format!("127.0.0.1:{}", free_port());
    let server = start(
        "server-cdr",
        &data,
        sip_port,
        &api,
        &["-legacy_api_v1=true"],
    );
    let jwt = login_admin(&api, "/api/v2/auth/login");

    // SIPp places a bounded number of calls on the server's listener.
    let sipp_csv = data.with_extension("sipp.csv");
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

    // The rows come from calls.sqlite (the reply names it), newest first, paged.
    let page = until(
        &api,
        "/api/v2/calls?limit=5",
        &jwt,
        Duration::from_secs(30),
        |c| c["total"].as_u64() >= Some(CALLS),
    );
    assert_eq!(page["store"], "calls.sqlite", "{page:#}");
    assert_eq!(page["total"], CALLS, "{page:#}");
    assert_eq!(page["dropped"], 0, "{page:#}");
    assert_eq!(page["calls"].as_array().unwrap().len(), 5);
    let rest = ok(&api, "/api/v2/calls?limit=100&offset=5", &jwt);
    assert_eq!(rest["calls"].as_array().unwrap().len() as u64, CALLS - 5);
    let first = &page["calls"][0];
    assert_eq!(first["direction"], "inbound", "{first}");
    assert_eq!(first["state"], "ended", "{first}");
    assert!(first["from"].as_str().unwrap().contains("sip:"), "{first}");
    for bad in ["limit=0", "limit=1001", "offset=-1", "page=2"] {
        let r = req(
            &api,
            "GET",
            &format!("/api/v2/calls?{bad}"),
            Some(&jwt),
            None,
        );
        assert_eq!(r.status, 400, "{bad}: {}", r.text());
    }

    // A clean stop (SIGTERM), then a new process on the same data dir.
    let pid = server.child.id();
    let _ = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status();
    let (status, _, _) = server.wait(Duration::from_secs(30));
    assert!(
        status.code().is_some(),
        "the server exits by itself on SIGTERM, not killed by it: {status:?}"
    );
    let file = data.join("calls.sqlite");
    assert_eq!(
        sqlite(&file, "SELECT COUNT(*) FROM calls"),
        CALLS.to_string()
    );
    assert_eq!(
        sqlite(
            &file,
            "SELECT COUNT(*) FROM calls WHERE state = 'ended' AND direction = 'inbound'"
        ),
        CALLS.to_string()
    );

    let api = format!("127.0.0.1:{}", free_port());
    let _server = start(
        "server-cdr-again",
        &data,
        free_port(),
        &api,
        &["-legacy_api_v1=true"],
    );
    let jwt = login_admin(&api, "/api/v2/auth/login");
    let all = ok(&api, "/api/v2/calls", &jwt);
    assert_eq!(all["total"], CALLS, "after the restart: {all:#}");
    let id = all["calls"][0]["call_id"]
        .as_str()
        .unwrap()
        .replace('@', "%40");
    let one = ok(&api, &format!("/api/v2/calls/{id}"), &jwt);
    assert_eq!(one["state"], "ended", "{one:#}");

    // Clearing empties the file too.
    let r = req(&api, "POST", "/api/v2/calls/clear", Some(&jwt), None);
    assert_eq!(r.status, 200, "{}", r.text());
    until(&api, "/api/v2/calls", &jwt, Duration::from_secs(10), |c| {
        c["total"] == 0
    });
    let _ = std::fs::remove_dir_all(&data);
}

#[test]
fn a_composite_config_runs_two_listeners_and_a_client_in_one_server() {
    const SIPP_CALLS: u64 = 6;
    const CLIENT_CALLS: u64 = 5;
    let data = temp_data_dir("server-hybrid");
    std::fs::create_dir_all(&data).unwrap();
    let (udp, tcp) = (free_port(), free_port());
    let api = format!("127.0.0.1:{}", free_port());
    // The file carries the API, the data dir and v1; the server answers on UDP and TCP;
    // its client calls the TCP listener.
    let file = data.join("hybrid.json");
    std::fs::write(
        &file,
        json!({
            "api_addr": api,
            "ui_data_dir": data.join("ui").to_str().unwrap(),
            "legacy_api_v1": true,
            "scenario_history_keep": 3,
            "auth": {"type": "internal", "sqlite_path": "auth/settings.sqlite",
                     "jwt_secret": "hybrid-secret-0123456789"},
            "server": {"id": "lab", "role": "server", "scenario_name": "uas",
                "listeners": [
                    {"transport": "u1", "local_ip": "127.0.0.1", "local_port": udp},
                    {"transport": "t1", "local_ip": "127.0.0.1", "local_port": tcp}]},
            "clients": [{"id": "c1", "scenario_name": "uac", "transport": "t1",
                "local_ip": "127.0.0.1", "remote_addr": format!("127.0.0.1:{tcp}"),
                "rate": 10, "total_calls": CLIENT_CALLS}]
        })
        .to_string(),
    )
    .unwrap();
    let stat = data.join("server.csv");
    let mut cmd = Command::new(gossipper_bin());
    cmd.arg("server")
        .env_remove("GOSSIPPER_BOOTSTRAP_USERNAME")
        .env_remove("GOSSIPPER_BOOTSTRAP_PASSWORD")
        .env_remove("GOSSIPPER_JWT_SECRET")
        .env_remove("GOSSIPPER_API_TOKEN");
    peer_args(&mut cmd, &stat).args(["-config", file.to_str().unwrap()]);
    let mut server = spawn_logged("gossipper server -config hybrid", &mut cmd, &stat);
    server.wait_bound(Sock::Udp, udp);
    server.wait_bound(Sock::TcpListen, tcp);
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(&api).is_err() {
        assert!(
            Instant::now() < deadline,
            "no API on {api}\n{}",
            logs(&stat)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let jwt = login_admin(&api, "/api/v2/auth/login");
    // auth{} put the users where it said (relative to the file), not in the data dir.
    assert!(data.join("auth/settings.sqlite").is_file());
    assert!(!data.join("ui/settings.sqlite").exists());

    // Both listeners, index 0 (the primary engine's) and 1.
    let t = ok(&api, "/api/v1/transports", &jwt);
    let rows: Vec<(u64, &str, u64)> = t["listeners"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["index"].as_u64().unwrap(),
                l["transport"].as_str().unwrap(),
                l["port"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        rows,
        [(0, "udp", u64::from(udp)), (1, "tcp", u64::from(tcp))],
        "{t:#}"
    );

    // SIPp calls the UDP listener.
    let sipp_csv = data.join("sipp.csv");
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
        .args(["-r", "20", "-m", &SIPP_CALLS.to_string()])
        .arg(format!("127.0.0.1:{udp}"));
    let (status, _, _) =
        spawn_logged("sipp uac", &mut cmd, &sipp_csv).wait(Duration::from_secs(60));
    assert_eq!(status.code(), Some(0), "sipp uac:\n{}", logs(&sipp_csv));

    // Three engines: the primary answered SIPp, the TCP listener answered the client.
    let stats = until(&api, "/api/v1/stats", &jwt, Duration::from_secs(60), |s| {
        s["engines"].as_array().is_some_and(|e| {
            e.iter().all(|e| {
                let target = if e["id"] == "primary" {
                    SIPP_CALLS
                } else {
                    CLIENT_CALLS
                };
                e["stats"]["success_calls"].as_u64() == Some(target)
            })
        })
    });
    assert_eq!(stats["multi"], true, "{stats:#}");
    let ids: Vec<&str> = stats["engines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["primary", "listener-1", "c1"], "{stats:#}");
    assert_eq!(stats["dynamic_client_ids"], json!(["c1"]));
    for e in stats["engines"].as_array().unwrap() {
        assert_eq!(e["stats"]["failed_calls"], 0, "{e:#}");
    }
    let clients = ok(&api, "/api/v1/clients", &jwt);
    assert_eq!(clients["clients"][0]["id"], "c1", "{clients:#}");

    // A listener answers calls: rate and pause are refused for it, changing nothing.
    let r = req(
        &api,
        "POST",
        "/api/v1/control",
        Some(&jwt),
        Some(&json!({"pause": true, "engine_id": "listener-1"})),
    );
    assert_eq!(r.status, 409, "{}", r.text());

    // Every engine's calls are in the catalogue (and calls.sqlite): both listeners'
    // inbound, the client's outbound (its calls to the TCP listener are two rows).
    let want = SIPP_CALLS + 2 * CLIENT_CALLS;
    let calls = until(&api, "/api/v2/calls", &jwt, Duration::from_secs(30), |c| {
        c["total"].as_u64() == Some(want)
    });
    assert_eq!(calls["store"], "calls.sqlite", "{calls:#}");
    let rows = calls["calls"].as_array().unwrap();
    let count = |dir: &str| rows.iter().filter(|c| c["direction"] == dir).count() as u64;
    assert_eq!(count("inbound"), SIPP_CALLS + CLIENT_CALLS, "{calls:#}");
    assert_eq!(count("outbound"), CLIENT_CALLS, "{calls:#}");
    assert!(rows.iter().all(|c| c["state"] == "ended"), "{calls:#}");
    // The client's SIP is in the live trace too, under its scenario's name.
    let trace = ok(&api, "/api/v2/sip/trace?limit=500", &jwt);
    assert!(
        trace["messages"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["dir"] == "send" && m["method"] == "INVITE"),
        "no INVITE sent by the client in the trace: {trace:#}"
    );

    // A live replacement reaches the extra listener too: its next calls are answered by
    // the new scenario, whose 200 carries a header the built-in's does not.
    let r = call(
        &api,
        "POST",
        "/api/v1/scenario/apply",
        Some(&format!("Bearer {jwt}")),
        Some(REPLACED_UAS),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["applied"], true, "{}", r.text());
    let sipp_tcp_csv = data.join("sipp-tcp.csv");
    let mut cmd = Command::new(sipp_bin());
    peer_args(&mut cmd, &sipp_tcp_csv)
        .args(["-sn", "uac", "-t", "t1", "-i", "127.0.0.1"])
        .args(["-p", &free_port().to_string(), "-r", "10", "-m", "2"])
        .arg(format!("127.0.0.1:{tcp}"));
    let (status, _, _) =
        spawn_logged("sipp uac t1", &mut cmd, &sipp_tcp_csv).wait(Duration::from_secs(60));
    assert_eq!(
        status.code(),
        Some(0),
        "sipp uac t1:\n{}",
        logs(&sipp_tcp_csv)
    );
    let replaced = |t: &Value| {
        t["messages"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| {
                m["transport"] == "tcp"
                    && m["dir"] == "send"
                    && m["status"] == 200
                    && m["method"] == "INVITE"
                    && m["raw"].as_str().unwrap_or("").contains("X-Replaced: yes")
            })
            .count()
    };
    let trace = until(
        &api,
        "/api/v2/sip/trace?limit=500",
        &jwt,
        Duration::from_secs(10),
        |t| replaced(t) == 2,
    );
    assert_eq!(replaced(&trace), 2, "{trace:#}");

    // The TCP listener turned off: its state says so, the UDP one is still on.
    let r = req(
        &api,
        "POST",
        "/api/v1/transports",
        Some(&jwt),
        Some(&json!({"index": 1, "enabled": false})),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let t = r.json();
    assert_eq!(t["listeners"][0]["enabled"], true, "{t:#}");
    assert_eq!(t["listeners"][1]["enabled"], false, "{t:#}");
    let r = req(
        &api,
        "POST",
        "/api/v1/transports",
        Some(&jwt),
        Some(&json!({"index": 2, "enabled": false})),
    );
    assert_eq!(r.status, 400, "{}", r.text());
    drop(server);

    // A client snippet with a bad key stops the server before it starts, naming it.
    std::fs::write(
        &file,
        json!({"api_addr": format!("127.0.0.1:{}", free_port()),
               "clients": [{"remote_addr": "127.0.0.1:5060", "summary_json": "x.json"}]})
        .to_string(),
    )
    .unwrap();
    let mut cmd = Command::new(gossipper_bin());
    cmd.args(["server", "-config", file.to_str().unwrap()]);
    let (status, _, err) = Proc::spawn("bad hybrid", &mut cmd).wait(Duration::from_secs(20));
    assert_eq!(status.code(), Some(255), "{err}");
    assert!(
        err.contains("clients[0]") && err.contains("summary_json"),
        "{err}"
    );
    // auth{} and the data dir's flags need the data dir.
    std::fs::write(&file, r#"{"auth":{"type":"internal"}}"#).unwrap();
    let mut cmd = Command::new(gossipper_bin());
    cmd.args([
        "server",
        "-config",
        file.to_str().unwrap(),
        "-api_addr",
        "127.0.0.1:0",
    ]);
    let (status, _, err) = Proc::spawn("auth alone", &mut cmd).wait(Duration::from_secs(20));
    assert_eq!(status.code(), Some(255), "{err}");
    assert!(err.contains("auth needs ui_data_dir"), "{err}");
    let mut cmd = Command::new(gossipper_bin());
    cmd.args([
        "server",
        "-scenario_history_keep",
        "3",
        "-api_addr",
        "127.0.0.1:0",
    ]);
    let (status, _, err) = Proc::spawn("keep alone", &mut cmd).wait(Duration::from_secs(20));
    assert_eq!(status.code(), Some(255), "{err}");
    assert!(err.contains("needs -ui_data_dir"), "{err}");
    let _ = std::fs::remove_dir_all(&data);
}

/// A UAS whose 200 to the INVITE carries `X-Replaced: yes`.
const REPLACED_UAS: &str = r#"<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="replaced uas">
  <recv request="INVITE"/>
  <send><![CDATA[
SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:];tag=[pid]R[call_number]
[last_Call-ID:]
[last_CSeq:]
Contact: <sip:[local_ip]:[local_port];transport=[transport]>
X-Replaced: yes
Content-Length: 0

]]></send>
  <recv request="ACK"/>
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
