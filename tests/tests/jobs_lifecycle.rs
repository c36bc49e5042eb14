//! Jobs end to end against a real `gossipper ui`: a server job (built-in uas, u1 on
//! 127.0.0.1) and a client job (built-in uac at it) started through the API; the client
//! completes 500 calls; summary.json, stats.jsonl, call_records.jsonl and report.html are
//! there; /live and /jobs/{id}/events deliver frames; stopping the server ends its
//! process.

#![allow(clippy::unwrap_used)] // helpers outside #[test] fns: a failed unwrap is a failed test

mod api_support;
mod jobs_support;

use std::time::Duration;

use api_support::Master;
use jobs_support::*;
use serde_json::json;

#[test]
fn a_client_job_completes_500_calls_against_a_server_job_with_live_stats_and_artifacts() {
    let m = Master::start("jobs-life");
    let tk = m.admin_token();
    let tk = tk.as_str();
    let port = free_udp_port();
    server_profile(&m, tk, "uas1", port);
    client_profile(&m, tk, "uac1", port, 250.0);

    // Server job through the profile shortcut.
    let r = m.req("POST", "/api/v2/servers/uas1/start", Some(tk), None);
    assert_eq!(r.status, 201, "{}", r.text());
    let server = r.json();
    let server_id = server["id"].as_str().unwrap().to_string();
    assert_eq!(server["profile_kind"], "server");
    let server = wait_job(&m, tk, &server_id, Duration::from_secs(30), running);
    let server_pid = server["pid"].as_u64().unwrap();
    assert!(alive(server_pid));
    wait_stats_line(&m, &server_id);

    // The profile list shows the running job as the profile's runtime.
    let servers = m.get("/api/v2/servers", Some(tk)).json();
    let row = &servers["servers"][0];
    assert_eq!(row["runtime"]["status"], "running", "{row}");
    assert_eq!(row["runtime"]["job_id"], server_id.as_str());

    // /live while the server runs: counts and its latest stats.
    let mut live = ws_connect(&m, "/api/v2/live?interval_ms=250", tk);
    let frame = ws_next(&mut live).expect("a /live frame");
    assert_eq!(frame["counts"]["running"], 1, "{frame}");
    let listed = frame["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|j| j["id"] == server_id.as_str())
        .unwrap();
    assert_eq!(listed["status"], "running");
    assert_eq!(
        listed["stats"]["kind"], "stats",
        "running jobs carry their latest stats: {listed}"
    );
    assert!(ws_next(&mut live).is_some(), "frames keep coming");
    drop(live);

    // Client job: 500 calls.
    let r = m.json(
        "POST",
        "/api/v2/clients/uac1/start",
        Some(tk),
        &json!({"engine": {"total_calls": 500, "max_concurrent": 50}}),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let client_id = r.json()["id"].as_str().unwrap().to_string();
    // Follow its events over a WebSocket from the start while it runs.
    let mut events = ws_connect(&m, &format!("/api/v2/jobs/{client_id}/events?since=0"), tk);
    let mut kinds = Vec::new();
    while let Some(line) = ws_next(&mut events) {
        kinds.push(line["kind"].as_str().unwrap_or("").to_string());
        assert_eq!(line["job_id"], client_id.as_str());
        assert!(
            line["ts"].as_u64().unwrap() > 1_600_000_000_000,
            "ts is Unix ms"
        );
    }
    assert_eq!(
        kinds.first().map(String::as_str),
        Some("started"),
        "{kinds:?}"
    );
    assert_eq!(kinds.last().map(String::as_str), Some("exit"), "{kinds:?}");
    assert!(kinds.iter().any(|k| k == "stats"), "{kinds:?}");

    let client = wait_job(&m, tk, &client_id, Duration::from_secs(60), finished);
    assert_eq!(client["status"], "succeeded", "{client}");
    assert_eq!(client["exit_code"], 0);

    // summary.json says 500 succeeded.
    let s = m.get(
        &format!("/api/v2/jobs/{client_id}/artifacts/summary"),
        Some(tk),
    );
    assert_eq!(s.status, 200);
    let s = s.json();
    assert_eq!(s["schema_version"], "gossipper_summary_v1");
    assert_eq!(s["total_calls"], 500);
    assert_eq!(s["success_calls"], 500, "{s}");
    assert_eq!(s["failed_calls"], 0);

    // stats.jsonl: started, per-second stats lines with real counters, exit.
    let lines = stats_lines(&m, &client_id);
    assert_eq!(lines.first().unwrap()["kind"], "started");
    assert_eq!(lines.last().unwrap()["kind"], "exit");
    let stats: Vec<_> = lines.iter().filter(|l| l["kind"] == "stats").collect();
    assert!(stats.len() >= 2, "{lines:?}");
    let periodic = &stats[..stats.len() - 1];
    for l in periodic {
        let ms = l["interval_ms"].as_u64().unwrap();
        assert!((900..=1500).contains(&ms), "per-second lines: {l}");
    }
    let last = stats.last().unwrap();
    assert_eq!(last["calls_created"], 500);
    assert_eq!(last["calls_succeeded"], 500);
    assert!(
        last["response_time_p99_ms"].as_f64().unwrap() > 0.0,
        "{last}"
    );
    // On loopback nothing is lost or late: no retransmission, no timeout, no unexpected
    // message; the built-in uac has no media; every call has ended.
    for key in [
        "retransmissions",
        "timeouts",
        "unexpected",
        "rtp_packets_sent",
        "calls_active",
    ] {
        assert_eq!(last[key].as_u64(), Some(0), "{key} in {last}");
    }
    assert_eq!(last["jitter_ms"].as_f64(), Some(0.0), "{last}");
    assert!(last["cps"].as_f64().is_some(), "{last}");
    let created: Vec<u64> = stats
        .iter()
        .map(|l| l["calls_created"].as_u64().unwrap())
        .collect();
    assert!(created.windows(2).all(|w| w[0] <= w[1]), "{created:?}");

    // call_records.jsonl: one line per call.
    let cr = m.get(
        &format!("/api/v2/jobs/{client_id}/artifacts/call_records"),
        Some(tk),
    );
    assert_eq!(cr.status, 200);
    assert_eq!(cr.text().lines().count(), 500);

    // report.html: self-contained, served inline with a strict CSP.
    let rep = m.get(
        &format!("/api/v2/jobs/{client_id}/artifacts/report_html"),
        Some(tk),
    );
    assert_eq!(rep.status, 200);
    assert!(
        rep.header("content-security-policy")
            .unwrap()
            .contains("default-src 'none'")
    );
    let html = rep.text();
    assert!(html.contains("<svg") && html.contains(">500<"));
    assert!(!html.contains("<script") && !html.contains("http://") && !html.contains("https://"));

    // Artifacts registered, and listed as reports.
    let detail = m.get(&format!("/api/v2/jobs/{client_id}"), Some(tk)).json();
    let kinds: Vec<&str> = detail["artifacts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["kind"].as_str().unwrap())
        .collect();
    for k in ["stats", "log", "summary", "call_records", "report_html"] {
        assert!(kinds.contains(&k), "{kinds:?}");
    }
    let reports = m.get("/api/v2/reports", Some(tk)).json();
    assert!(
        reports["reports"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["job_id"] == client_id.as_str() && r["artifact"]["kind"] == "summary")
    );

    // The events stream for curl users: a finished job reads once and ends.
    let ev = m.get(&format!("/api/v2/jobs/{client_id}/events"), Some(tk));
    assert_eq!(ev.status, 200);
    assert_eq!(ev.header("content-type"), Some("application/x-ndjson"));
    assert_eq!(ev.text().lines().count(), lines.len());
    let tail = m.get(&format!("/api/v2/jobs/{client_id}/events?tail=1"), Some(tk));
    assert!(tail.text().contains("\"kind\":\"exit\"") && tail.text().lines().count() == 1);

    // Stopping the server ends its process; the job is stopped with its artifacts.
    let r = m.req("POST", "/api/v2/servers/uas1/stop", Some(tk), None);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        r.json()["status"],
        "stopping",
        "final only once the worker has exited"
    );
    let server = wait_job(&m, tk, &server_id, Duration::from_secs(20), finished);
    assert_eq!(server["status"], "stopped");
    assert!(!alive(server_pid), "the worker process is gone");
    let s = m
        .get(
            &format!("/api/v2/jobs/{server_id}/artifacts/summary"),
            Some(tk),
        )
        .json();
    assert_eq!(s["total_calls"], 500, "the server saw every call: {s}");
    assert_eq!(
        m.req("POST", "/api/v2/servers/uas1/stop", Some(tk), None)
            .status,
        409
    );

    // Paged list and delete.
    let page = m.get("/api/v2/jobs?limit=1&offset=0", Some(tk)).json();
    assert_eq!(page["total"], 2);
    assert_eq!(page["jobs"].as_array().unwrap().len(), 1);
    assert_eq!(page["jobs"][0]["id"], client_id.as_str(), "newest first");
    assert_eq!(
        m.req(
            "DELETE",
            &format!("/api/v2/jobs/{client_id}"),
            Some(tk),
            None
        )
        .status,
        204
    );
    assert_eq!(
        m.get(&format!("/api/v2/jobs/{client_id}"), Some(tk)).status,
        404
    );
    assert!(
        !m.data_dir
            .join(format!("artifacts/jobs/{client_id}"))
            .exists()
    );
}
