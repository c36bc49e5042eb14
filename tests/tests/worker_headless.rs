//! `gossipper worker --spec` run by hand, without a master (perf labs): a spec written
//! by hand runs exactly what it says against a real SIPp uas, prints the line protocol
//! and writes the job's artifacts; a spec the worker cannot run is refused at once,
//! naming what is wrong, before any call.

use std::net::UdpSocket;
use std::process::Command;
use std::time::{Duration, Instant};

use gossipper_e2e::{Proc, free_port, gossipper_bin, run, scratch_dir, sipp_bin, tail};

/// Waits until something is bound to UDP `port` on 127.0.0.1 (a bind of ours fails).
fn wait_bound(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while UdpSocket::bind(("127.0.0.1", port)).is_ok() {
        assert!(Instant::now() < deadline, "nothing bound UDP port {port}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn kinds(stdout: &str) -> Vec<String> {
    stdout
        .lines()
        .map(|l| {
            let v: serde_json::Value =
                serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"));
            v["kind"].as_str().unwrap_or("").to_string()
        })
        .collect()
}

#[test]
fn a_hand_written_spec_runs_headless_against_sipp() {
    let dir = scratch_dir("worker-headless");
    let sport = free_port();
    let mut uas = Command::new(sipp_bin());
    uas.current_dir(&dir).args([
        "-sn",
        "uas",
        "-i",
        "127.0.0.1",
        "-p",
        &sport.to_string(),
        "-nostdin",
        "-timeout",
        "60s",
        "-cp",
        &free_port().to_string(),
    ]);
    let _server = Proc::spawn("sipp uas", &mut uas);
    wait_bound(sport);
    let artifacts = dir.join("out");
    let spec = serde_json::json!({
        "kind": "gossipper_job_spec",
        "version": 1,
        "job_id": "lab-1",
        "artifacts_dir": artifacts,
        "stats_interval_ms": 200,
        "run": {"engine": {
            "scenario": {"builtin": "uac"},
            "remote": format!("127.0.0.1:{sport}"),
            "local_ip": "127.0.0.1",
            "rate": 20,
            "max_calls": 5,
            "shards": 1,
            "seed": 42,
            "thresholds": ["failed_calls==0"]
        }}
    });
    let path = dir.join("spec.json");
    std::fs::write(&path, spec.to_string()).unwrap();
    let (status, out, err) = run(
        "gossipper worker",
        Command::new(gossipper_bin()).args(["worker", "--spec", path.to_str().unwrap()]),
        Duration::from_secs(60),
    );
    assert_eq!(
        status.code(),
        Some(0),
        "stdout:\n{}\nstderr:\n{}",
        tail(&out),
        tail(&err)
    );
    let kinds = kinds(&out);
    assert_eq!(
        kinds.first().map(String::as_str),
        Some("started"),
        "{kinds:?}"
    );
    assert_eq!(kinds.get(1).map(String::as_str), Some("plan"), "{kinds:?}");
    assert!(kinds.iter().any(|k| k == "stats"), "{kinds:?}");
    assert_eq!(kinds.last().map(String::as_str), Some("exit"), "{kinds:?}");
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(artifacts.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["success_calls"], 5, "{summary}");
    assert_eq!(summary["seed"], 42, "the spec's seed, exactly");
    assert_eq!(summary["verdict"]["status"], "pass", "{summary}");
    for name in ["call_records.jsonl", "report.html"] {
        assert!(artifacts.join(name).is_file(), "{name}");
    }
}

#[test]
fn a_spec_the_worker_cannot_run_is_refused_naming_what_is_wrong() {
    let dir = scratch_dir("worker-refused");
    let cases = [
        (
            r#"{"kind":"gossipper_job_spec","version":7}"#,
            "version 7 is not supported",
        ),
        (
            r#"{"kind":"gossipper_job_spec","version":1,"job_id":"j","artifacts_dir":"/tmp/x","run":{"engine":{"rtae":10}}}"#,
            "unknown field `rtae`",
        ),
        (
            r#"{"kind":"gossipper_job_spec","version":1,"job_id":"j","artifacts_dir":"/tmp/x","run":{"engine":{"background":true}}}"#,
            "background",
        ),
        (
            r#"{"job_id":"j1","data_dir":"/d","profile_id":"s1","profile_kind":"server","artifacts_dir":"/d/artifacts/jobs/j1"}"#,
            "\"kind\" is missing",
        ),
    ];
    for (i, (text, needle)) in cases.iter().enumerate() {
        let path = dir.join(format!("spec-{i}.json"));
        std::fs::write(&path, text).unwrap();
        let (status, out, err) = run(
            "gossipper worker",
            Command::new(gossipper_bin()).args(["worker", "--spec", path.to_str().unwrap()]),
            Duration::from_secs(20),
        );
        assert_eq!(status.code(), Some(255), "{text}\n{err}");
        assert!(err.contains(needle), "{text}: stderr {err}");
        let last: serde_json::Value =
            serde_json::from_str(out.lines().last().unwrap_or("{}")).unwrap();
        assert_eq!(last["kind"], "exit", "{out}");
        assert!(
            last["error"].as_str().is_some_and(|e| e.contains(needle)),
            "{out}"
        );
    }
}
