//! A `gossipper ui` stopped with SIGTERM (systemd, Kubernetes, `kill`) stops its jobs
//! first: a server job and a client job sending calls to it are running; after SIGTERM
//! the master exits 0 within the stop grace, both workers are gone, and a master started
//! again on the same data dir lists both jobs `stopped` with their summaries, not
//! `failed` ("master restarted") as a crash leaves them.

#![allow(clippy::unwrap_used)] // helpers outside #[test] fns: a failed unwrap is a failed test

mod api_support;
mod jobs_support;

use std::time::Duration;

use api_support::Master;
use jobs_support::*;
use serde_json::json;

#[test]
fn sigterm_to_the_master_stops_its_running_jobs_before_it_exits() {
    let mut m = Master::start("jobs-shutdown");
    let tk = m.admin_token();
    let port = free_udp_port();
    server_profile(&m, &tk, "uas1", port);
    client_profile(&m, &tk, "uac1", port, 50.0);

    let r = m.req("POST", "/api/v2/servers/uas1/start", Some(&tk), None);
    assert_eq!(r.status, 201, "{}", r.text());
    let server_id = r.json()["id"].as_str().unwrap().to_string();
    wait_job(&m, &tk, &server_id, Duration::from_secs(30), running);
    // Bounded: 10,000 calls at 50/s would take 200 s; the SIGTERM comes long before.
    let r = m.json(
        "POST",
        "/api/v2/clients/uac1/start",
        Some(&tk),
        &json!({"engine": {"total_calls": 10000, "max_concurrent": 50}}),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let client_id = r.json()["id"].as_str().unwrap().to_string();
    wait_job(&m, &tk, &client_id, Duration::from_secs(30), running);
    wait_stats_lines(&m, &client_id, 2);
    let pids: Vec<u64> = [&server_id, &client_id]
        .iter()
        .map(|id| job(&m, &tk, id)["pid"].as_u64().unwrap())
        .collect();
    assert!(pids.iter().all(|p| alive(*p)), "{pids:?}");

    let status = m.terminate(Duration::from_secs(30));
    assert!(status.success(), "{status:?}; log:\n{}", m.log_text());
    for pid in &pids {
        assert!(!alive(*pid), "worker {pid} outlived its master");
    }
    let log = m.log_text();
    assert!(log.contains("stopping running jobs"), "{log}");
    assert!(log.contains("every job has stopped"), "{log}");

    m.start_again();
    let tk = m.admin_token();
    assert!(
        !m.log_text().contains("left unfinished by a previous run"),
        "nothing was left for the restart to settle:\n{}",
        m.log_text()
    );
    for id in [&server_id, &client_id] {
        let j = job(&m, &tk, id);
        assert_eq!(j["status"], "stopped", "{j}");
        let s = m.get(&format!("/api/v2/jobs/{id}/artifacts/summary"), Some(&tk));
        assert_eq!(s.status, 200, "{id}: {}", s.text());
    }
    // The client had placed calls before it was stopped, and says so.
    let s = m
        .get(
            &format!("/api/v2/jobs/{client_id}/artifacts/summary"),
            Some(&tk),
        )
        .json();
    assert!(s["total_calls"].as_u64().unwrap() >= 50, "{s}");
}
