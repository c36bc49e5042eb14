//! `gossipper server -ui_data_dir` (issue #18): the master's `/api/v2`, its users and
//! its console on the server's API listener, beside `/api/v1` and the server's own live
//! trace and calls catalogue, all in one real process:
//!
//! - the bootstrap admin logs in over HTTP; `/health` tells the console it runs inside
//!   `gossipper server` with v1 on; scenarios list; the console's page is served;
//! - `/api/v1` and the server's own `/api/v2` routes refuse a caller without a token
//!   (401) and take the admin's JWT;
//! - a client job started through `/api/v2` (a worker process, as in `gossipper ui`)
//!   places its calls on the server's SIP listener, which answers them: the v1 stats and
//!   `/api/v2/calls` count them;
//! - `-legacy_api_v1=false` switches v1 off (404 naming the flag) and `/health` says so.
//!
//! Every wait has a deadline; every process is killed when its guard drops.

#![allow(clippy::unwrap_used)] // helpers outside #[test] fns: a failed unwrap is a failed test

mod api_support;
mod server_support;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use api_support::{ADMIN_PASSWORD, Resp, temp_data_dir};
use gossipper_e2e::{Proc, Sock, free_port, gossipper_bin, peer_args};
use serde_json::{Value, json};
use server_support::*;

/// Starts `gossipper server -ui_data_dir data` (no `-api_token` unless in `extra`) and
/// waits until SIP and the API are up.
fn start(name: &str, data: &Path, sip_port: u16, api: &str, extra: &[&str]) -> Proc {
    let stat = data.with_extension(format!("{name}.csv"));
    let mut cmd = Command::new(gossipper_bin());
    cmd.arg("server")
        .env_remove("GOSSIPPER_BOOTSTRAP_USERNAME")
        .env_remove("GOSSIPPER_BOOTSTRAP_PASSWORD")
        .env_remove("GOSSIPPER_JWT_SECRET")
        .env_remove("GOSSIPPER_API_TOKEN");
    peer_args(&mut cmd, &stat)
        .args(["-sn", "uas", "-i", "127.0.0.1", "-p", &sip_port.to_string()])
        .args(["-api_addr", api, "-ui_data_dir", data.to_str().unwrap()])
        .args(extra);
    let mut p = spawn_logged(name, &mut cmd, &stat);
    p.wait_bound(Sock::Udp, sip_port);
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(api).is_err() {
        assert!(
            Instant::now() < deadline,
            "{name}: the API never listened on {api}\n{}",
            logs(&stat)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    p
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

fn login(api: &str, path: &str) -> String {
    let r = req(
        api,
        "POST",
        path,
        None,
        Some(&json!({"username": "admin", "password": ADMIN_PASSWORD})),
    );
    assert_eq!(r.status, 200, "POST {path}: {}", r.text());
    r.json()["token"].as_str().unwrap().to_string()
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
    let server = start("server-v2", &data, sip_port, &api, &[]);

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
    ] {
        let r = req(&api, "GET", path, None, None);
        assert_eq!(r.status, 401, "GET {path} without a token: {}", r.text());
    }
    let r = req(&api, "GET", "/api/v1/stats", Some("not-a-jwt"), None);
    assert_eq!(r.status, 401, "{}", r.text());

    // The bootstrap admin logs in (v2, and the same login on v1).
    let jwt = login(&api, "/api/v2/auth/login");
    let jwt1 = login(&api, "/api/v1/auth/login");
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

    // v1 and the server's own v2 routes take the JWT.
    let stats = ok(&api, "/api/v1/stats", &jwt);
    assert_eq!(stats["schema_version"], "gossipper_summary_v1", "{stats}");
    assert!(ok(&api, "/api/v2/sip/trace", &jwt)["messages"].is_array());

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
    drop(server);

    // The same data dir with v1 off: its routes are 404 naming the flag; v2 goes on.
    let sip_port = free_port();
    let api = format!("127.0.0.1:{}", free_port());
    let _server = start(
        "server-v2-no-v1",
        &data,
        sip_port,
        &api,
        &["-legacy_api_v1=false"],
    );
    let health = req(&api, "GET", "/api/v2/health", None, None).json();
    assert_eq!(health["mode"], "server", "{health}");
    assert_eq!(health["legacy_api_v1"], false, "{health}");
    let jwt = login(&api, "/api/v2/auth/login");
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
