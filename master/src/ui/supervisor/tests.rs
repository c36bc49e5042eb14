//! Supervisor tests with stand-in workers: small shell scripts that print the worker's
//! lines, crash, or wait for SIGTERM, so the process handling is tested without the
//! engine. (The real worker is exercised by tests/tests/jobs_*.rs.)

use super::*;
use crate::ui::store::files::testdir::TestDir;

struct Fixture {
    sup: Arc<Supervisor>,
    _dir: TestDir,
}

fn fixture(script: &str) -> Fixture {
    let dir = TestDir::new("supervisor");
    let exe = dir.layout.root().join("fake-worker.sh");
    std::fs::write(&exe, format!("#!/bin/sh\n{script}\n")).unwrap();
    let mut perm = std::fs::metadata(&exe).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perm, 0o755);
    std::fs::set_permissions(&exe, perm).unwrap();
    let sup = Arc::new(Supervisor::new(Layout::new(dir.layout.root()), exe).unwrap());
    Fixture { sup, _dir: dir }
}

fn tool_job(id: &str) -> StartRequest {
    StartRequest {
        id: Some(id.into()),
        profile_id: "report-html".into(),
        profile_kind: "tool".into(),
        tool_args: serde_json::json!({"in": "x.json"})
            .as_object()
            .unwrap()
            .clone(),
        created_by: "t".into(),
        ..Default::default()
    }
}

fn wait_final(sup: &Supervisor, id: &str) -> Job {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let job = sup.db.read(|c| jobs::by_id(c, id)).unwrap().unwrap();
        if job.finished_at.is_some() && sup.running(id).is_none() {
            return job;
        }
        assert!(
            Instant::now() < deadline,
            "job {id} did not finish: {job:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_crashing_worker_leaves_a_failed_job_with_its_error_lines_and_log() {
    let f = fixture(
        r#"echo '{"kind":"started","job_id":"j1","ts":1}'
echo 'engine exploded' >&2
echo '{"kind":"error","job_id":"j1","error":"boom at line 3","ts":2}'
exit 3"#,
    );
    let started = f.sup.start(tool_job("j1")).unwrap();
    assert!(
        matches!(started.status.as_str(), "running" | "failed"),
        "{started:?}"
    );
    let job = wait_final(&f.sup, "j1");
    assert_eq!(job.status, "failed");
    assert_eq!(job.exit_code, Some(3));
    assert_eq!(job.error, "boom at line 3");
    let dir = f.sup.artifacts_dir("j1").unwrap();
    let stats = std::fs::read_to_string(dir.join("stats.jsonl")).unwrap();
    assert_eq!(stats.lines().count(), 2);
    assert!(
        std::fs::read_to_string(dir.join("worker.log"))
            .unwrap()
            .contains("engine exploded")
    );
    let kinds: Vec<String> = f
        .sup
        .db
        .read(|c| jobs::artifacts(c, "j1"))
        .unwrap()
        .into_iter()
        .map(|a| a.kind)
        .collect();
    assert_eq!(kinds, ["stats", "log"]);
    assert!(
        !f.sup.spec_path("j1").unwrap().exists(),
        "the spec file is removed"
    );
}

#[test]
fn a_clean_exit_succeeds_and_a_signal_death_says_so() {
    let f = fixture(r#"echo '{"kind":"exit","job_id":"a","code":0,"ts":1}'"#);
    f.sup.start(tool_job("ok")).unwrap();
    let job = wait_final(&f.sup, "ok");
    assert_eq!(
        (job.status.as_str(), job.exit_code, job.error.as_str()),
        ("succeeded", Some(0), "")
    );

    let f = fixture("kill -9 $$");
    f.sup.start(tool_job("k")).unwrap();
    let job = wait_final(&f.sup, "k");
    assert_eq!(job.status, "failed");
    assert_eq!(job.error, "worker killed by signal 9");
}

#[test]
fn stop_sends_sigterm_to_the_group_and_the_job_ends_stopped() {
    let f = fixture(
        r#"trap 'echo "{\"kind\":\"exit\",\"job_id\":\"s\",\"code\":0,\"stopped\":true,\"ts\":3}"; exit 0' TERM
echo '{"kind":"started","job_id":"s","ts":1}'
while :; do sleep 0.05; done"#,
    );
    f.sup.start(tool_job("s")).unwrap();
    // Wait for the started line so the trap is installed.
    let sub = f.sup.subscribe("s").unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::fs::read_to_string(f.sup.artifacts_dir("s").unwrap().join("stats.jsonl"))
        .unwrap_or_default()
        .is_empty()
    {
        assert!(Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(10));
    }
    let stopped = f.sup.stop("s").unwrap().unwrap();
    assert_eq!(stopped.status, "stopped");
    let job = wait_final(&f.sup, "s");
    assert_eq!((job.status.as_str(), job.exit_code), ("stopped", Some(0)));
    let lines: Vec<Arc<str>> = sub.lines.iter().collect();
    assert!(
        lines.last().is_some_and(|l| l.contains("\"exit\"")),
        "{lines:?}"
    );
    // Stopping a finished job changes nothing.
    assert_eq!(f.sup.stop("s").unwrap().unwrap().status, "stopped");
    assert!(f.sup.stop("nope").unwrap().is_none());
}

#[test]
fn a_job_that_cannot_run_fails_at_once_without_a_process() {
    let f = fixture("exit 0");
    let mut req = tool_job("bad");
    req.profile_id = "pcap2scenario".into();
    let job = f.sup.start(req).unwrap();
    assert_eq!(job.status, "failed");
    assert!(job.error.contains("not available"), "{}", job.error);
    assert!(job.pid.is_none());
    let job = f
        .sup
        .start(StartRequest {
            id: Some("srv".into()),
            profile_id: "missing".into(),
            profile_kind: "server".into(),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(job.status, "failed");
    assert!(
        job.error.contains("server profile \"missing\" not found"),
        "{}",
        job.error
    );
    assert!(matches!(
        f.sup.start(tool_job("bad")),
        Err(StartError::Store(StoreError::Conflict(_)))
    ));
    assert!(matches!(
        f.sup.start(StartRequest {
            id: Some("../x".into()),
            ..tool_job("")
        }),
        Err(StartError::BadRequest(_))
    ));
}

#[test]
fn a_restart_marks_jobs_left_running_as_failed_and_keeps_their_artifacts() {
    let f = fixture("exit 0");
    f.sup
        .db
        .tx(|c| {
            jobs::insert(
                c,
                &NewJob {
                    id: "old",
                    profile_id: "c1",
                    profile_kind: "client",
                    scenario_id: "",
                    args_json: "{}",
                    artifacts_dir: "",
                    created_at: "t",
                    created_by: "t",
                },
            )?;
            // A pid that is certainly not our worker (this test process).
            jobs::set_running(c, "old", std::process::id(), "t")
        })
        .unwrap();
    let dir = f.sup.artifacts_dir("old").unwrap();
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("stats.jsonl"), "{}\n").unwrap();
    assert_eq!(f.sup.recover().unwrap(), 1);
    let job = f.sup.db.read(|c| jobs::by_id(c, "old")).unwrap().unwrap();
    assert_eq!(
        (job.status.as_str(), job.error.as_str()),
        ("failed", "master restarted")
    );
    assert!(job.finished_at.is_some());
    assert_eq!(
        f.sup.db.read(|c| jobs::artifacts(c, "old")).unwrap().len(),
        1
    );
    assert_eq!(f.sup.recover().unwrap(), 0, "settled once");
}

#[test]
fn the_live_frame_counts_jobs_and_is_cached() {
    let f = fixture("exit 0");
    f.sup.start(tool_job("l1")).unwrap();
    wait_final(&f.sup, "l1");
    let a = f.sup.live_frame(Duration::from_secs(60)).unwrap();
    let v: serde_json::Value = serde_json::from_str(&a).unwrap();
    assert_eq!(v["counts"]["succeeded"], 1);
    assert_eq!(v["jobs"][0]["id"], "l1");
    let b = f.sup.live_frame(Duration::from_secs(60)).unwrap();
    assert!(Arc::ptr_eq(&a, &b), "cached");
    assert_eq!(f.sup.delete("l1").unwrap(), Deleted::Done);
    assert_eq!(f.sup.delete("l1").unwrap(), Deleted::NotFound);
    let c = f.sup.live_frame(Duration::from_secs(60)).unwrap();
    assert!(!Arc::ptr_eq(&a, &c), "a change invalidates the cache");
}
