//! `gossipper worker --spec` run by hand, without a master (perf labs): a spec written
//! by hand runs exactly what it says against a real SIPp uas, prints the line protocol
//! and writes the job's artifacts; a spec the worker cannot run is refused at once,
//! naming what is wrong, before any call.

use std::process::Command;
use std::time::{Duration, Instant};

use gossipper_e2e::{Proc, gossipper_bin, run, scratch_dir, sipp_server, tail};

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
    let (_server, sport) = sipp_server("sipp uas", &dir, "60s", &["-sn", "uas"]);
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

/// A spec whose engine (`engine` JSON members) registers `user` at a silent registrar.
fn gateway_spec(engine: &str, user: &str) -> String {
    format!(
        r#"{{"kind":"gossipper_job_spec","version":1,"job_id":"j","artifacts_dir":"/tmp/x","run":{{"engine":{{{engine},"local_ip":"127.0.0.1","register":{{"registrar":"127.0.0.1:9","domain":"d.test","user":"{user}","auth_user":"a","password":"p","contact":"0.0.0.0:0","expires_s":60,"keepalive_s":0,"retry_s":15}}}}}}}}"#
    )
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
        // The REGISTER gateway: UDP only, a UAS scenario, header-safe names.
        (
            &gateway_spec(r#""transport":"t1","scenario":{"builtin":"uas"}"#, "alice"),
            "transport: the REGISTER gateway runs over UDP only",
        ),
        (
            &gateway_spec(r#""scenario":{"builtin":"uac"}"#, "alice"),
            "needs a UAS scenario",
        ),
        (
            &gateway_spec(r#""scenario":{"builtin":"uas"}"#, "al<ice"),
            "register.user: must be non-empty",
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

/// `GET /metrics` on `addr`: the status line and the body.
fn scrape(addr: &str) -> Option<(String, String)> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        .ok()?;
    let mut text = String::new();
    s.read_to_string(&mut text).ok()?;
    let (head, body) = text.split_once("\r\n\r\n")?;
    Some((head.to_string(), body.to_string()))
}

#[test]
fn a_spec_with_a_metrics_addr_serves_the_runs_prometheus_metrics() {
    let dir = scratch_dir("worker-metrics");
    let (_server, sport) = sipp_server("sipp uas", &dir, "60s", &["-sn", "uas"]);
    let metrics = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().to_string()
    };
    let spec = |id: &str| {
        serde_json::json!({
            "kind": "gossipper_job_spec", "version": 1, "job_id": id,
            "artifacts_dir": dir.join(id), "stats_interval_ms": 200,
            "run": {"engine": {
                "scenario": {"builtin": "uac"}, "remote": format!("127.0.0.1:{sport}"),
                "local_ip": "127.0.0.1", "rate": 20, "max_calls": 60, "shards": 1,
                "trace": {"metrics_addr": metrics}
            }}
        })
    };
    let path = dir.join("spec.json");
    std::fs::write(&path, spec("lab-m").to_string()).unwrap();
    let mut worker = Command::new(gossipper_bin());
    worker.args(["worker", "--spec", path.to_str().unwrap()]);
    let worker = Proc::spawn("gossipper worker", &mut worker);
    // Scrapes until the run's created calls show (3 s of calls at 20/s at most).
    let deadline = Instant::now() + Duration::from_secs(20);
    let (head, body) = loop {
        if let Some((head, body)) = scrape(&metrics)
            && body
                .lines()
                .filter_map(|l| l.strip_prefix("gossipper_calls_created_total{"))
                .filter_map(|l| l.rsplit_once(' ')?.1.parse::<u64>().ok())
                .any(|n| n > 0)
        {
            break (head, body);
        }
        assert!(Instant::now() < deadline, "no calls in {metrics}/metrics");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(head.starts_with("HTTP/1.1 200 OK"), "{head}");
    assert!(
        head.contains("Content-Type: text/plain; version=0.0.4; charset=utf-8"),
        "{head}"
    );
    assert!(
        body.contains("gossipper_calls_active{job_id=\"lab-m\",kind=\"\",scenario=\""),
        "samples carry the job id: {body}"
    );
    assert!(
        body.contains("# TYPE gossipper_response_time_seconds histogram"),
        "{body}"
    );

    // A second worker asking for the same address: bind exit code, named in its lines.
    let taken = dir.join("spec-taken.json");
    std::fs::write(&taken, spec("lab-taken").to_string()).unwrap();
    let (status, out, err) = run(
        "gossipper worker (taken port)",
        Command::new(gossipper_bin()).args(["worker", "--spec", taken.to_str().unwrap()]),
        Duration::from_secs(20),
    );
    assert_eq!(status.code(), Some(254), "{err}");
    let last: serde_json::Value = serde_json::from_str(out.lines().last().unwrap()).unwrap();
    assert!(
        last["error"]
            .as_str()
            .is_some_and(|e| e.contains("trace.metrics_addr")),
        "{out}"
    );

    let (status, _, err) = worker.wait(Duration::from_secs(60));
    assert_eq!(status.code(), Some(0), "{}", tail(&err));
}
