//! A server profile with several enabled SIP rows runs one listener per row in one job
//! (issue 18): SIPp's uac calls the UDP row and, over TCP, the t1 row; every call
//! succeeds, and the job's summary counts both listeners' calls as one run's.

#![allow(clippy::unwrap_used)] // helpers outside #[test] fns: a failed unwrap is a failed test

mod api_support;
mod jobs_support;

use std::process::Command;
use std::time::Duration;

use api_support::Master;
use gossipper_e2e::{free_port, run, sipp_bin, tail};
use jobs_support::*;
use serde_json::json;

/// SIPp's uac, `n` calls to 127.0.0.1:`port` over `transport` (u1 or t1).
fn sipp_calls(dir: &std::path::Path, transport: &str, port: u16, n: u32) {
    let (status, out, err) = run(
        "sipp uac",
        Command::new(sipp_bin()).current_dir(dir).args([
            "-sn",
            "uac",
            "-t",
            transport,
            "-i",
            "127.0.0.1",
            "-p",
            &free_port().to_string(),
            "-m",
            &n.to_string(),
            "-r",
            "10",
            "-timeout",
            "20s",
            "-nostdin",
            &format!("127.0.0.1:{port}"),
        ]),
        Duration::from_secs(30),
    );
    assert_eq!(
        status.code(),
        Some(0),
        "sipp -t {transport} to {port}:\n{}\n{}",
        tail(&out),
        tail(&err)
    );
}

#[test]
fn every_enabled_sip_row_of_a_server_profile_is_a_listener_of_its_job() {
    let m = Master::start("jobs-listeners");
    let tk = m.admin_token();
    let tk = tk.as_str();
    let (udp, tcp) = (free_udp_port(), free_port());
    let r = m.json(
        "POST",
        "/api/v2/servers",
        Some(tk),
        &json!({"id": "multi", "scenario_ref": "uas", "transports": [
            {"transport": "u1", "local_ip": "127.0.0.1", "local_port": udp, "enabled": true},
            {"transport": "t1", "local_ip": "127.0.0.1", "local_port": free_port(), "enabled": false},
            {"transport": "t1", "local_ip": "127.0.0.1", "local_port": tcp, "enabled": true}]}),
    );
    assert_eq!(r.status, 201, "{}", r.text());

    // Overriding one listener's address would be ambiguous: refused, no job.
    let r = m.json(
        "POST",
        "/api/v2/servers/multi/start",
        Some(tk),
        &json!({"engine": {"local_port": 5999}}),
    );
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(r.error().starts_with("engine.local_port:"), "{}", r.error());
    assert_eq!(m.get("/api/v2/jobs", Some(tk)).json()["total"], 0);

    let r = m.json("POST", "/api/v2/servers/multi/start", Some(tk), &json!({}));
    assert_eq!(r.status, 201, "{}", r.text());
    let id = r.json()["id"].as_str().unwrap().to_string();
    wait_job(&m, tk, &id, Duration::from_secs(30), running);
    wait_stats_line(&m, &id);

    sipp_calls(&m.data_dir, "u1", udp, 3);
    sipp_calls(&m.data_dir, "t1", tcp, 2);

    let j = stop_job(&m, tk, &id, Duration::from_secs(30));
    assert_eq!(j["status"], "stopped", "{j}");
    let summary: serde_json::Value = serde_json::from_slice(
        &std::fs::read(m.data_dir.join(format!("artifacts/jobs/{id}/summary.json"))).unwrap(),
    )
    .unwrap();
    assert_eq!(
        summary["success_calls"], 5,
        "both listeners' calls: {summary}"
    );
    assert_eq!(summary["failed_calls"], 0, "{summary}");
    // One worker per listener, each in its own folder.
    for i in 0..2 {
        let spec: serde_json::Value = serde_json::from_slice(
            &std::fs::read(
                m.data_dir
                    .join(format!("artifacts/jobs/{id}/workers/{i}/spec.json")),
            )
            .unwrap(),
        )
        .unwrap();
        let port = spec["run"]["engine"]["local_port"].as_u64().unwrap();
        assert_eq!(port, u64::from([udp, tcp][i]), "{spec}");
    }
}
