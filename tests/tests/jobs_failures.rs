//! Jobs that go wrong, against a real `gossipper ui`: a crashing worker, input that
//! cannot run (failing at once, with the reason in `error`), unknown override keys (400),
//! a master restart while a job runs, and jobs whose calls or thresholds fail (status,
//! exit code and the reason, end to end).

#![allow(clippy::unwrap_used)] // helpers outside #[test] fns: a failed unwrap is a failed test

mod api_support;
mod jobs_support;

use std::time::{Duration, Instant};

use api_support::Master;
use jobs_support::*;
use serde_json::json;

#[test]
fn a_worker_that_crashes_leaves_a_failed_job_with_its_log() {
    let m = Master::start("jobs-crash");
    let tk = m.admin_token();
    let tk = tk.as_str();
    server_profile(&m, tk, "uas1", free_udp_port());
    let r = m.req("POST", "/api/v2/servers/uas1/start", Some(tk), None);
    assert_eq!(r.status, 201, "{}", r.text());
    let id = r.json()["id"].as_str().unwrap().to_string();
    let j = wait_job(&m, tk, &id, Duration::from_secs(30), running);
    wait_stats_line(&m, &id);
    let pid = j["pid"].as_u64().unwrap();
    let st = std::process::Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status()
        .unwrap();
    assert!(st.success());
    let j = wait_job(&m, tk, &id, Duration::from_secs(20), finished);
    assert_eq!(j["status"], "failed");
    assert_eq!(j["error"], "worker killed by signal 9", "{j}");
    let log = m.get(&format!("/api/v2/jobs/{id}/artifacts/log"), Some(tk));
    assert_eq!(log.status, 200);
    assert!(
        log.text().contains("server scenario \"uas\""),
        "{}",
        log.text()
    );
    let stats = m.get(&format!("/api/v2/jobs/{id}/artifacts/stats"), Some(tk));
    assert_eq!(stats.status, 200);
    assert!(stats.text().contains("\"kind\":\"started\""));
}

/// Starts a job and returns it once final, checking that it failed fast.
fn fails_fast(m: &Master, tk: &str, path: &str, body: serde_json::Value) -> serde_json::Value {
    let t0 = Instant::now();
    let r = m.json("POST", path, Some(tk), &body);
    assert!(
        matches!(r.status, 201 | 202),
        "{path} {body}: {} {}",
        r.status,
        r.text()
    );
    let v = r.json();
    let id = v["id"]
        .as_str()
        .or(v["job"]["id"].as_str())
        .unwrap()
        .to_string();
    let j = wait_job(m, tk, &id, Duration::from_secs(10), finished);
    assert_eq!(j["status"], "failed", "{j}");
    assert!(t0.elapsed() < Duration::from_secs(10));
    j
}

#[test]
fn input_that_cannot_run_fails_the_job_at_once_with_the_reason() {
    let m = Master::start("jobs-bad");
    let tk = m.admin_token();
    let tk = tk.as_str();
    let port = free_udp_port();
    server_profile(&m, tk, "uas1", port);
    client_profile(&m, tk, "uac1", port, 10.0);

    // Request-level problems are 4xx and create nothing.
    let r = m.json(
        "POST",
        "/api/v2/jobs",
        Some(tk),
        &json!({"profile_id": "uac1", "profile_kind": "client", "engine": {"rtae": 5}}),
    );
    assert_eq!(r.status, 400, "unknown override key: {}", r.text());
    assert!(r.error().contains("rtae"), "{}", r.error());
    let r = m.json(
        "POST",
        "/api/v2/clients/uac1/start",
        Some(tk),
        &json!({"engine": {"total_calls": "many"}}),
    );
    assert_eq!(r.status, 400, "{}", r.text());
    let r = m.json(
        "POST",
        "/api/v2/jobs",
        Some(tk),
        &json!({"profile_id": "nope", "profile_kind": "client"}),
    );
    assert_eq!(r.status, 404);
    let r = m.json(
        "POST",
        "/api/v2/jobs",
        Some(tk),
        &json!({"profile_id": "uac1", "profile_kind": "robot"}),
    );
    assert_eq!(r.status, 400);
    let r = m.json(
        "POST",
        "/api/v2/jobs",
        Some(tk),
        &json!({"profile_id": "uac1", "profile_kind": "client", "bogus": 1}),
    );
    assert_eq!(r.status, 400);
    assert_eq!(m.get("/api/v2/jobs", Some(tk)).json()["total"], 0);

    // A job that cannot run is created failed, with the reason, before any call.
    let j = fails_fast(
        &m,
        tk,
        "/api/v2/jobs",
        json!({"profile_id": "uac1", "profile_kind": "client", "engine": {"transport": "carrier-pigeon"}}),
    );
    assert!(
        j["error"].as_str().unwrap().contains("unknown transport"),
        "{j}"
    );
    assert!(j["pid"].is_null(), "no worker was forked");
    let j = fails_fast(
        &m,
        tk,
        "/api/v2/jobs",
        json!({"profile_id": "uac1", "profile_kind": "client", "scenario_id": "no-such"}),
    );
    assert!(j["error"].as_str().unwrap().contains("no-such"), "{j}");
    let j = fails_fast(
        &m,
        tk,
        "/api/v2/jobs",
        json!({"profile_id": "uac1", "profile_kind": "client", "engine": {"rate": -3}}),
    );
    assert!(j["error"].as_str().unwrap().contains("engine.rate"), "{j}");

    // A stored scenario naming a missing media asset fails before any call.
    let xml = api_support::VALID_XML.replace(
        "<recv response=\"200\"/>",
        "<recv response=\"200\"/>\n  <nop><action><exec play_pcap_audio=\"[[media:pcap/nope]]\"/></action></nop>",
    );
    let r = m.json(
        "POST",
        "/api/v2/scenarios",
        Some(tk),
        &json!({"id": "needs-media", "name": "m", "role": "client", "xml": xml}),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let j = fails_fast(
        &m,
        tk,
        "/api/v2/jobs",
        json!({"profile_id": "uac1", "profile_kind": "client", "scenario_id": "needs-media"}),
    );
    assert!(
        j["error"].as_str().unwrap().contains("[[media:pcap/nope]]"),
        "{j}"
    );

    // A port already taken: the worker fails within a second, saying so.
    let holder = std::net::UdpSocket::bind(("127.0.0.1", port)).unwrap();
    let r = m.req("POST", "/api/v2/servers/uas1/start", Some(tk), None);
    let id = r.json()["id"].as_str().unwrap().to_string();
    let j = wait_job(&m, tk, &id, Duration::from_secs(15), finished);
    drop(holder);
    assert_eq!(j["status"], "failed");
    assert_eq!(j["exit_code"], 254);
    assert!(j["error"].as_str().unwrap().contains("bind"), "{j}");

    // Tools: unknown is 404; one that cannot run (not in this build, or its capture is
    // missing) is 400 naming what is missing, and no job is created.
    assert_eq!(
        m.json(
            "POST",
            "/api/v2/tools/nope/run",
            Some(tk),
            &json!({"args": {}})
        )
        .status,
        404
    );
    let r = m.json(
        "POST",
        "/api/v2/tools/pcap2scenario/run",
        Some(tk),
        &json!({"id": "p2s-missing", "args": {"pcap": "x"}}),
    );
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(r.text().contains("media/pcap/x.pcap"), "{}", r.text());
    let r = m.json(
        "POST",
        "/api/v2/tools/summary-to-pdf/run",
        Some(tk),
        &json!({"id": "pdf-missing", "args": {"in": "x"}}),
    );
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(
        r.text().contains("args.in: no job \\\"x\\\""),
        "{}",
        r.text()
    );
    for id in ["p2s-missing", "pdf-missing"] {
        assert_eq!(m.get(&format!("/api/v2/jobs/{id}"), Some(tk)).status, 404);
    }
}

#[test]
fn a_master_restart_settles_a_running_job_and_keeps_its_artifacts() {
    let mut m = Master::start("jobs-restart");
    let tk = m.admin_token();
    server_profile(&m, &tk, "uas1", free_udp_port());
    let r = m.req("POST", "/api/v2/servers/uas1/start", Some(&tk), None);
    let id = r.json()["id"].as_str().unwrap().to_string();
    let j = wait_job(&m, &tk, &id, Duration::from_secs(30), running);
    wait_stats_line(&m, &id);
    let pid = j["pid"].as_u64().unwrap();
    m.restart();
    let tk = m.admin_token();
    let j = job(&m, &tk, &id);
    assert_eq!(j["status"], "failed", "{j}");
    assert_eq!(j["error"], "master restarted");
    assert!(j["finished_at"].is_string());
    let deadline = Instant::now() + Duration::from_secs(15);
    while alive(pid) {
        assert!(
            Instant::now() < deadline,
            "the orphaned worker {pid} was not stopped"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let detail = m.get(&format!("/api/v2/jobs/{id}"), Some(&tk)).json();
    let kinds: Vec<&str> = detail["artifacts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["kind"].as_str().unwrap())
        .collect();
    assert!(
        kinds.contains(&"stats") && kinds.contains(&"log"),
        "{kinds:?}"
    );
    assert_eq!(
        m.get(&format!("/api/v2/jobs/{id}/artifacts/stats"), Some(&tk))
            .status,
        200
    );
}

/// Starts a job of client profile `profile` with `body` and returns it once finished.
fn client_job(m: &Master, tk: &str, profile: &str, body: serde_json::Value) -> serde_json::Value {
    let r = m.json(
        "POST",
        &format!("/api/v2/clients/{profile}/start"),
        Some(tk),
        &body,
    );
    assert_eq!(r.status, 201, "{body}: {}", r.text());
    let id = r.json()["id"].as_str().unwrap().to_string();
    wait_job(m, tk, &id, Duration::from_secs(60), finished)
}

#[test]
fn a_job_whose_calls_or_gates_fail_ends_failed_with_its_exit_code_and_reason() {
    let m = Master::start("jobs-verdict");
    let tk = m.admin_token();
    let tk = tk.as_str();
    // A UAS answering every INVITE 486 Busy Here.
    let r = m.json(
        "POST",
        "/api/v2/scenarios",
        Some(tk),
        &json!({"id": "busy", "name": "busy", "role": "uas", "xml": api_support::BUSY_UAS_XML}),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let port = free_udp_port();
    let r = m.json(
        "POST",
        "/api/v2/servers",
        Some(tk),
        &json!({"id": "busy-uas", "scenario_ref": "busy",
                "transports": [{"transport": "u1", "local_ip": "127.0.0.1", "local_port": port, "enabled": true}]}),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let r = m.req("POST", "/api/v2/servers/busy-uas/start", Some(tk), None);
    assert_eq!(r.status, 201, "{}", r.text());
    let busy = r.json()["id"].as_str().unwrap().to_string();
    wait_job(&m, tk, &busy, Duration::from_secs(30), running);
    wait_stats_line(&m, &busy);
    client_profile(&m, tk, "uac1", port, 10.0);

    // Failed calls: exit 1, the count in the error.
    let j = client_job(&m, tk, "uac1", json!({"engine": {"total_calls": 3}}));
    assert_eq!(
        (&j["status"], &j["exit_code"], &j["error"]),
        (&json!("failed"), &json!(1), &json!("3 of 3 calls failed")),
        "{j}"
    );
    // A health gate on top: the gate decides, exit 2.
    let j = client_job(
        &m,
        tk,
        "uac1",
        json!({"engine": {"total_calls": 3, "health_max_failed_calls": 0}}),
    );
    assert_eq!(
        (&j["status"], &j["exit_code"], &j["error"]),
        (
            &json!("failed"),
            &json!(2),
            &json!("threshold failed: failed calls 3: must be at most 0")
        ),
        "{j}"
    );
    m.req("POST", "/api/v2/servers/busy-uas/stop", Some(tk), None);
    wait_job(&m, tk, &busy, Duration::from_secs(20), finished);

    // Every call succeeds, but a threshold fails: exit 2, the threshold in the error.
    let port = free_udp_port();
    server_profile(&m, tk, "uas1", port);
    let r = m.req("POST", "/api/v2/servers/uas1/start", Some(tk), None);
    let uas = r.json()["id"].as_str().unwrap().to_string();
    wait_job(&m, tk, &uas, Duration::from_secs(30), running);
    wait_stats_line(&m, &uas);
    client_profile(&m, tk, "uac2", port, 10.0);
    let j = client_job(
        &m,
        tk,
        "uac2",
        json!({"engine": {"total_calls": 3, "thresholds": ["p99(response_time)<1us"]}}),
    );
    assert_eq!(
        (&j["status"], &j["exit_code"]),
        (&json!("failed"), &json!(2)),
        "{j}"
    );
    // The sentence names the threshold, the measured value (it varies) and the limit.
    let error = j["error"].as_str().unwrap();
    assert!(
        error.starts_with("threshold failed: p99 response time ")
            && error.ends_with(" ms: must be below 0.001 ms"),
        "{error}"
    );
    let id = j["id"].as_str().unwrap();
    let s = m
        .get(&format!("/api/v2/jobs/{id}/artifacts/summary"), Some(tk))
        .json();
    assert_eq!(
        (&s["success_calls"], &s["verdict"]["status"]),
        (&json!(3), &json!("fail")),
        "every call succeeded, the run failed its threshold: {s}"
    );
    m.req("POST", "/api/v2/servers/uas1/stop", Some(tk), None);
    wait_job(&m, tk, &uas, Duration::from_secs(20), finished);
}
