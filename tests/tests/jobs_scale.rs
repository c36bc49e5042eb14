//! Many jobs and the job kinds beyond profiles, against a real `gossipper ui`: 20 jobs at
//! once, a sipstress-style load test against a running UAS (with identity headers), a
//! soak load test stopped by hand, and the report-html tool job.

#![allow(clippy::unwrap_used)] // helpers outside #[test] fns: a failed unwrap is a failed test

mod api_support;
mod jobs_support;

use std::time::Duration;

use api_support::Master;
use jobs_support::*;
use serde_json::json;

fn start_server(m: &Master, tk: &str, port: u16) -> String {
    server_profile(m, tk, "uas1", port);
    let r = m.json(
        "POST",
        "/api/v2/servers/uas1/start",
        Some(tk),
        &json!({"engine": {"shards": 1}}),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let id = r.json()["id"].as_str().unwrap().to_string();
    wait_job(m, tk, &id, Duration::from_secs(30), running);
    wait_stats_line(m, &id);
    id
}

#[test]
fn twenty_jobs_at_once_all_complete() {
    // Above the default cap of 8 running jobs (gossipper ui --max-running-jobs).
    let m = Master::start_with("jobs-twenty", &["--max-running-jobs", "20"], &[]);
    let tk = m.admin_token();
    let tk = tk.as_str();
    let port = free_udp_port();
    let server = start_server(&m, tk, port);
    client_profile(&m, tk, "uac1", port, 20.0);
    let ids: Vec<String> = (0..19)
        .map(|i| {
            let r = m.json(
                "POST",
                "/api/v2/jobs",
                Some(tk),
                &json!({"id": format!("c{i:02}"), "profile_id": "uac1", "profile_kind": "client",
                        "engine": {"total_calls": 20, "rate": 20, "shards": 1}}),
            );
            assert_eq!(r.status, 201, "{}", r.text());
            r.json()["id"].as_str().unwrap().to_string()
        })
        .collect();
    let live = m.get("/api/v2/live", Some(tk)).json();
    let active = live["counts"]["running"].as_u64().unwrap_or(0)
        + live["counts"]["pending"].as_u64().unwrap_or(0);
    assert!(active >= 2, "jobs run side by side: {}", live["counts"]);
    for id in &ids {
        let j = wait_job(&m, tk, id, Duration::from_secs(120), finished);
        assert_eq!(j["status"], "succeeded", "{j}");
        let s = m
            .get(&format!("/api/v2/jobs/{id}/artifacts/summary"), Some(tk))
            .json();
        assert_eq!(s["success_calls"], 20, "{id}: {s}");
    }
    m.req(
        "POST",
        &format!("/api/v2/jobs/{server}/stop"),
        Some(tk),
        None,
    );
    let j = wait_job(&m, tk, &server, Duration::from_secs(20), finished);
    assert_eq!(j["status"], "stopped");
    assert_eq!(
        m.get("/api/v2/jobs?status=succeeded", Some(tk)).json()["total"],
        19
    );
}

#[test]
fn a_load_test_against_a_running_uas_succeeds_and_a_soak_runs_until_stopped() {
    let m = Master::start("jobs-load");
    let tk = m.admin_token();
    let tk = tk.as_str();
    let port = free_udp_port();
    let server = start_server(&m, tk, port);

    let info = m.get("/api/v2/load-test", Some(tk));
    assert_eq!(info.status, 200);
    let info = info.json();
    assert_eq!(info["defaults"]["scenario_id"], "invite_media");
    assert!(
        info["scenarios"]
            .as_array()
            .unwrap()
            .contains(&json!("invite_media"))
    );

    let r = m.json(
        "POST",
        "/api/v2/load-test/run",
        Some(tk),
        &json!({"director": format!("sip:service@127.0.0.1:{port}"), "total_calls": 50, "rate": 50,
                "max_concurrent": 10, "sip_from": "sip:alice@example.com",
                "sip_pai": "\"Alice\" <sip:+15550100@example.com>", "sip_provider": "carrier-a",
                "health_min_success_ratio": 1.0}),
    );
    assert_eq!(r.status, 202, "{}", r.text());
    let v = r.json();
    assert_eq!(v["async"], true);
    let id = v["job"]["id"].as_str().unwrap().to_string();
    assert_eq!(v["job"]["profile_id"], "_load_wizard");
    let j = wait_job(&m, tk, &id, Duration::from_secs(60), finished);
    assert_eq!(j["status"], "succeeded", "{j}");
    let s = m
        .get(&format!("/api/v2/jobs/{id}/artifacts/summary"), Some(tk))
        .json();
    assert_eq!(s["success_calls"], 50, "{s}");
    assert_eq!(s["health"]["active"], true);
    assert_eq!(s["health"]["pass"], true);
    assert_eq!(
        m.get("/api/v2/clients/_load_wizard", Some(tk)).status,
        200,
        "the wizard profile exists"
    );

    // Bad wizard input is a 400.
    for bad in [
        json!({"director": "", "total_calls": 1, "rate": 1, "max_concurrent": 1}),
        json!({"director": "127.0.0.1", "total_calls": 1, "rate": 0, "max_concurrent": 1}),
        json!({"director": "127.0.0.1", "total_calls": 1, "rate": 1, "max_concurrent": 1, "sip_pai": "a\r\nVia: x"}),
        json!({"director": "127.0.0.1", "total_calls": 1, "rate": 1, "max_concurrent": 1, "speed": 3}),
    ] {
        let r = m.json("POST", "/api/v2/load-test/run", Some(tk), &bad);
        assert_eq!(r.status, 400, "{bad}: {}", r.text());
    }

    // Soak: total_calls 0 runs until stopped.
    let r = m.json(
        "POST",
        "/api/v2/load-test/run",
        Some(tk),
        &json!({"director": format!("127.0.0.1:{port}"), "total_calls": 0, "rate": 20, "max_concurrent": 5, "health_enabled": false}),
    );
    assert_eq!(r.status, 202, "{}", r.text());
    let soak = r.json()["job"]["id"].as_str().unwrap().to_string();
    // Three stats periods in, it still runs: nothing ends a soak but a stop.
    wait_stats_lines(&m, &soak, 3);
    assert_eq!(
        job(&m, tk, &soak)["status"],
        "running",
        "a soak keeps running"
    );
    let r = m.req("POST", &format!("/api/v2/jobs/{soak}/stop"), Some(tk), None);
    assert_eq!(r.status, 200);
    let j = wait_job(&m, tk, &soak, Duration::from_secs(20), finished);
    assert_eq!(j["status"], "stopped");
    let s = m
        .get(&format!("/api/v2/jobs/{soak}/artifacts/summary"), Some(tk))
        .json();
    assert!(
        s["success_calls"].as_u64().unwrap() >= 10,
        "summary written after a stop: {s}"
    );

    // The report-html tool rebuilds a report from a summary.
    let tools = m.get("/api/v2/tools", Some(tk)).json();
    assert!(
        tools["tools"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["id"] == "report-html" && t["available"] == true)
    );
    let r = m.json(
        "POST",
        "/api/v2/tools/report-html/run",
        Some(tk),
        &json!({"args": {"in": format!("artifacts/jobs/{id}/summary.json")}}),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let tool = r.json()["job"]["id"].as_str().unwrap().to_string();
    let j = wait_job(&m, tk, &tool, Duration::from_secs(20), finished);
    assert_eq!(j["status"], "succeeded", "{j}");
    let page = m.get(
        &format!("/api/v2/jobs/{tool}/artifacts/report_html"),
        Some(tk),
    );
    assert_eq!(page.status, 200);
    assert!(page.text().contains(">50<"));
    let r = m.json(
        "POST",
        "/api/v2/tools/report-html/run",
        Some(tk),
        &json!({"args": {"in": "../../etc/passwd"}}),
    );
    // A tool reads only a job's summary: anything else is refused for what it is (a
    // path, not a job id), and no job is made.
    assert_eq!(r.status, 400, "{}", r.text());
    assert_eq!(
        r.error(),
        "args.in: \"../../etc/passwd\": expected a job id or artifacts/jobs/JOB_ID/summary.json \
         (name contains '/'; allowed are A-Z a-z 0-9 . _ -)"
    );

    m.req(
        "POST",
        &format!("/api/v2/jobs/{server}/stop"),
        Some(tk),
        None,
    );
    wait_job(&m, tk, &server, Duration::from_secs(20), finished);
}
