//! Supervisor tests with stand-in workers: small shell scripts that print the worker's
//! lines, crash, or wait for SIGTERM, so the process handling is tested without the
//! engine. (The real worker is exercised by tests/tests/jobs_*.rs.)

use std::os::unix::process::CommandExt;

use super::*;
use crate::service::store::files::testdir::TestDir;

struct Fixture {
    sup: Arc<Supervisor>,
    store: Store,
    _dir: TestDir,
}

impl Drop for Fixture {
    /// A failed test leaves no stand-in worker behind (some ignore SIGTERM).
    fn drop(&mut self) {
        for job in lock(&self.sup.places).running_jobs().values() {
            job.signal(Sig::Kill);
        }
    }
}

/// A process group started by a test, killed when dropped.
struct Group(std::process::Child);

impl Drop for Group {
    fn drop(&mut self) {
        process::signal_group(self.0.id(), Sig::Kill);
        let _ = self.0.wait();
    }
}

impl Fixture {
    fn start(&self, req: StartRequest) -> Result<Job, StartError> {
        self.sup.start(&self.store, req)
    }
}

fn fixture(script: &str) -> Fixture {
    fixture_with(script, Limits::default())
}

fn fixture_with(script: &str, limits: Limits) -> Fixture {
    let dir = TestDir::new("supervisor");
    let exe = dir.layout.root().join("fake-worker.sh");
    std::fs::write(&exe, format!("#!/bin/sh\n{script}\n")).unwrap();
    let mut perm = std::fs::metadata(&exe).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perm, 0o755);
    std::fs::set_permissions(&exe, perm).unwrap();
    let store = Store::open(Layout::new(dir.layout.root()), 5).unwrap();
    let sup = Arc::new(Supervisor::new(Layout::new(dir.layout.root()), exe, limits).unwrap());
    // The job whose summary the tool jobs below read (`in` must name an existing job).
    sup.db
        .tx(|c| {
            jobs::insert(
                c,
                &NewJob {
                    id: "src",
                    profile_id: "uac",
                    profile_kind: ProfileKind::Client,
                    scenario_id: "",
                    args_json: "{}",
                    artifacts_dir: "",
                    created_at: "2025-01-01T00:00:00Z",
                    created_by: "t",
                    name: "",
                    notes: "",
                },
            )?;
            jobs::finish(
                c,
                "src",
                JobStatus::Succeeded,
                Some(0),
                "",
                "2025-01-01T00:00:01Z",
            )
        })
        .unwrap();
    Fixture {
        sup,
        store,
        _dir: dir,
    }
}

fn tool_job(id: &str) -> StartRequest {
    StartRequest {
        id: Some(id.into()),
        profile_id: "report-html".into(),
        profile_kind: ProfileKind::Tool,
        tool_args: serde_json::json!({"in": "src"})
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
    let started = f.start(tool_job("j1")).unwrap();
    assert!(
        matches!(started.status, JobStatus::Running | JobStatus::Failed),
        "{started:?}"
    );
    let job = wait_final(&f.sup, "j1");
    assert_eq!(job.status, JobStatus::Failed);
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
    // The job's resolved spec stays in its folder (it is not an artifact to serve).
    let spec = std::fs::read(f.sup.spec_path("j1").unwrap()).unwrap();
    let spec = JobFile::parse(&spec).unwrap();
    assert_eq!(spec.job_id, "j1");
    assert!(
        matches!(&spec.run, crate::job::spec::Run::Tool(crate::job::spec::ToolRun::ReportHtml { source, out })
            if source.job_dir.ends_with("artifacts/jobs/src") && out == "report.html"),
        "{spec:?}"
    );
}

/// Waits for the worker's first stdout line (so a TERM trap in the script is installed).
fn wait_started(f: &Fixture, id: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::fs::read_to_string(f.sup.artifacts_dir(id).unwrap().join("stats.jsonl"))
        .unwrap_or_default()
        .is_empty()
    {
        assert!(Instant::now() < deadline, "job {id} printed nothing");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A worker that runs until SIGTERM, then takes a while to write `summary.json` and exit.
const SLOW_TO_STOP: &str = r#"D="$(dirname "$3")"
trap 'sleep 0.3; echo "{}" > "$D/summary.json"; echo "{\"kind\":\"exit\",\"code\":0,\"ts\":3}"; exit 0' TERM
echo '{"kind":"started","ts":1}'
while :; do sleep 0.05; done"#;

#[test]
fn stopped_is_written_only_after_the_worker_has_exited_with_its_artifacts_listed() {
    let f = fixture(SLOW_TO_STOP);
    let started = f.start(tool_job("slow")).unwrap();
    let pid = started.pid.unwrap();
    wait_started(&f, "slow");
    assert_eq!(
        f.sup.stop("slow").unwrap().unwrap().status,
        JobStatus::Stopping
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    let job = loop {
        let job = f.sup.db.read(|c| jobs::by_id(c, "slow")).unwrap().unwrap();
        if job.status != JobStatus::Stopping {
            break job;
        }
        assert!(job.finished_at.is_none(), "{job:?}");
        assert!(Instant::now() < deadline, "never settled: {job:?}");
        std::thread::sleep(Duration::from_millis(5));
    };
    // The first time the row reads final, the worker is reaped and its summary listed.
    assert_eq!(job.status, JobStatus::Stopped);
    assert!(
        !std::path::Path::new(&format!("/proc/{pid}")).exists(),
        "worker {pid} still exists while the job reads stopped"
    );
    let kinds: Vec<String> = f
        .sup
        .db
        .read(|c| jobs::artifacts(c, "slow"))
        .unwrap()
        .into_iter()
        .map(|a| a.kind)
        .collect();
    assert!(kinds.contains(&"summary".to_string()), "{kinds:?}");
}

#[test]
fn a_worker_flooding_stderr_is_capped_in_worker_log_and_never_blocks() {
    let limits = Limits {
        max_log_bytes: 10_000,
        ..Limits::default()
    };
    // 4 MB on stderr: far more than a pipe holds, so a reader that stopped reading at
    // the cap would leave the worker blocked forever.
    let f = fixture_with(
        r#"head -c 4000000 /dev/zero | tr '\0' x >&2
echo '{"kind":"exit","code":0,"ts":1}'"#,
        limits,
    );
    f.start(tool_job("noisy")).unwrap();
    let job = wait_final(&f.sup, "noisy");
    assert_eq!(job.status, JobStatus::Succeeded, "{job:?}");
    let log = f.sup.artifacts_dir("noisy").unwrap().join("worker.log");
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(
        text.starts_with(&"x".repeat(10_000)),
        "the first 10,000 bytes are kept"
    );
    assert!(text.len() < 10_000 + 200, "{} bytes", text.len());
    assert!(text.trim_end().ends_with("dropped]"), "{}", &text[10_000..]);
    let row = f
        .sup
        .db
        .read(|c| jobs::newest_artifact(c, "noisy", "log"))
        .unwrap()
        .unwrap();
    assert_eq!(
        row.size_bytes as usize,
        text.len(),
        "registered once complete"
    );
}

#[test]
fn jobs_over_the_cap_are_refused_without_a_row_and_a_settled_job_frees_its_place_at_once() {
    let limits = Limits {
        jobs: JobLimits {
            max_running: 2,
            max_per_user: 0,
        },
        ..Limits::default()
    };
    let f = fixture_with(SLOW_TO_STOP, limits);
    f.start(tool_job("a")).unwrap();
    f.start(tool_job("b")).unwrap();
    assert!(matches!(
        f.start(tool_job("c")),
        Err(StartError::Refused(Refusal::Full { running: 2, max: 2 }))
    ));
    assert!(f.sup.db.read(|c| jobs::by_id(c, "c")).unwrap().is_none());
    assert!(!f.sup.artifacts_dir("c").unwrap().exists());
    wait_started(&f, "a");
    f.sup.stop("a").unwrap();
    assert!(
        matches!(f.start(tool_job("c")), Err(StartError::Refused(_))),
        "a stopping job keeps its place"
    );
    wait_final(&f.sup, "a");
    // Final means the place is free: no window where the next start is refused.
    f.start(tool_job("c")).unwrap();
    for id in ["b", "c"] {
        wait_started(&f, id);
        f.sup.stop(id).unwrap();
        wait_final(&f.sup, id);
    }
}

#[test]
fn a_clean_exit_succeeds_and_a_signal_death_says_so() {
    let f = fixture(r#"echo '{"kind":"exit","job_id":"a","code":0,"ts":1}'"#);
    f.start(tool_job("ok")).unwrap();
    let job = wait_final(&f.sup, "ok");
    assert_eq!(
        (job.status, job.exit_code, job.error.as_str()),
        (JobStatus::Succeeded, Some(0), "")
    );

    let f = fixture("kill -9 $$");
    f.start(tool_job("k")).unwrap();
    let job = wait_final(&f.sup, "k");
    assert_eq!(job.status, JobStatus::Failed);
    assert_eq!(job.error, "worker killed by signal 9");
}

#[test]
fn stop_sends_sigterm_to_the_group_and_the_job_ends_stopped() {
    let f = fixture(
        r#"trap 'echo "{\"kind\":\"exit\",\"job_id\":\"s\",\"code\":0,\"stopped\":true,\"ts\":3}"; exit 0' TERM
echo '{"kind":"started","job_id":"s","ts":1}'
while :; do sleep 0.05; done"#,
    );
    f.start(tool_job("s")).unwrap();
    let sub = f.sup.subscribe("s").unwrap();
    wait_started(&f, "s");
    let stopped = f.sup.stop("s").unwrap().unwrap();
    assert_eq!(stopped.status, JobStatus::Stopping);
    let job = wait_final(&f.sup, "s");
    assert_eq!((job.status, job.exit_code), (JobStatus::Stopped, Some(0)));
    let lines: Vec<Arc<str>> = sub.lines.iter().collect();
    assert!(
        lines.last().is_some_and(|l| l.contains("\"exit\"")),
        "{lines:?}"
    );
    // Stopping a finished job changes nothing.
    assert_eq!(f.sup.stop("s").unwrap().unwrap().status, JobStatus::Stopped);
    assert!(f.sup.stop("nope").unwrap().is_none());
}

#[test]
fn a_job_that_cannot_run_fails_at_once_without_a_process() {
    let f = fixture("exit 0");
    // A tool job that could not end is refused before any job exists (a tool this
    // machine cannot run is too: tests/tests/tools_jobs.rs, without Chromium).
    let mut req = tool_job("rtp");
    req.profile_id = "rtp_send".into();
    req.tool_args = serde_json::json!({"rtp_addr": "127.0.0.1:4000"})
        .as_object()
        .unwrap()
        .clone();
    let e = f.start(req).unwrap_err();
    assert!(matches!(e, StartError::Rejected(_)), "{e}");
    assert!(
        e.to_string().contains("args.duration_ms: is required"),
        "{e}"
    );
    assert!(f.sup.db.read(|c| jobs::by_id(c, "rtp")).unwrap().is_none());
    // So is a pcap2scenario whose capture is not in the media library.
    let mut req = tool_job("p2s");
    req.profile_id = "pcap2scenario".into();
    req.tool_args = serde_json::json!({"pcap": "missing"})
        .as_object()
        .unwrap()
        .clone();
    let e = f.start(req).unwrap_err();
    assert!(e.to_string().contains("media/pcap/missing.pcap"), "{e}");
    let job = f
        .start(StartRequest {
            id: Some("bad".into()),
            profile_id: "missing".into(),
            profile_kind: ProfileKind::Server,
            ..Default::default()
        })
        .unwrap();
    assert_eq!(job.status, JobStatus::Failed);
    assert!(
        job.error.contains("server profile \"missing\" not found"),
        "{}",
        job.error
    );
    assert!(matches!(
        f.start(tool_job("bad")),
        Err(StartError::Store(StoreError::Conflict(_)))
    ));
    assert!(matches!(
        f.start(StartRequest {
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
                    profile_kind: ProfileKind::Client,
                    scenario_id: "",
                    args_json: "{}",
                    artifacts_dir: "",
                    created_at: "t",
                    created_by: "t",
                    name: "",
                    notes: "",
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
        (job.status, job.error.as_str()),
        (JobStatus::Failed, "master restarted")
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
    f.start(tool_job("l1")).unwrap();
    wait_final(&f.sup, "l1");
    let a = f.sup.live_frame(Duration::from_secs(60)).unwrap();
    let v: serde_json::Value = serde_json::from_str(&a).unwrap();
    // l1 and the fixture's source job.
    assert_eq!(v["counts"]["succeeded"], 2);
    assert_eq!(v["jobs"][0]["id"], "l1");
    let b = f.sup.live_frame(Duration::from_secs(60)).unwrap();
    assert!(Arc::ptr_eq(&a, &b), "cached");
    assert_eq!(f.sup.delete("l1").unwrap(), Deleted::Done);
    assert_eq!(f.sup.delete("l1").unwrap(), Deleted::NotFound);
    let c = f.sup.live_frame(Duration::from_secs(60)).unwrap();
    assert!(!Arc::ptr_eq(&a, &c), "a change invalidates the cache");
}

#[test]
fn the_metrics_view_counts_every_state_and_shows_running_jobs_with_their_newest_stats() {
    let f = fixture(
        r#"trap 'echo "{\"kind\":\"exit\",\"code\":0,\"ts\":3}"; exit 0' TERM
echo '{"kind":"started","ts":1}'
echo '{"kind":"stats","ts":2,"calls_created":5}'
echo '{"kind":"stats","ts":3,"calls_created":9}'
while :; do sleep 0.05; done"#,
    );
    f.start(tool_job("m1")).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let view = loop {
        let view = f.sup.metrics_view().unwrap();
        let newest = view.running.first().map(|(_, l)| (**l).clone());
        if matches!(&newest, Some(WorkerLine::Stats { stats, .. }) if stats.calls_created == 9) {
            break view;
        }
        assert!(Instant::now() < deadline, "no stats line seen");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(view.running.len(), 1);
    assert_eq!(view.running[0].0.id, "m1");
    let words: Vec<&str> = view.by_status.iter().map(|(w, _)| *w).collect();
    assert_eq!(
        words,
        [
            "pending",
            "running",
            "stopping",
            "stopped",
            "succeeded",
            "failed"
        ]
    );
    let n = |w: &str| view.by_status.iter().find(|(s, _)| *s == w).unwrap().1;
    assert_eq!((n("running"), n("succeeded"), n("failed")), (1, 1, 0));
    f.sup.stop("m1").unwrap();
    wait_final(&f.sup, "m1");
    assert!(f.sup.metrics_view().unwrap().running.is_empty());
}

#[test]
fn a_worker_deaf_to_sigterm_is_killed_after_the_grace_and_the_job_ends_stopped() {
    let limits = Limits {
        stop_grace: Duration::from_millis(300),
        ..Limits::default()
    };
    // TERM is ignored by the script and by every `sleep` it starts (an ignored signal
    // stays ignored across exec): only the SIGKILL after the grace ends it.
    let f = fixture_with(
        r#"trap '' TERM
echo '{"kind":"started","ts":1}'
while :; do sleep 0.05; done"#,
        limits,
    );
    let pid = f.start(tool_job("deaf")).unwrap().pid.unwrap();
    wait_started(&f, "deaf");
    assert_eq!(
        f.sup.stop("deaf").unwrap().unwrap().status,
        JobStatus::Stopping
    );
    let job = wait_final(&f.sup, "deaf");
    assert_eq!(
        (job.status.as_str(), job.exit_code, job.error.as_str()),
        (
            "stopped",
            None,
            "stopped; worker killed by signal 9 after the grace period"
        )
    );
    assert!(
        !std::path::Path::new(&format!("/proc/{pid}")).exists(),
        "worker {pid} outlived its job"
    );
}

#[test]
fn a_worker_exiting_0_after_an_error_line_fails_with_that_error() {
    let f = fixture(
        r#"echo '{"kind":"started","ts":1}'
echo '{"kind":"error","error":"shard 0: the socket went away","ts":2}'
exit 0"#,
    );
    f.start(tool_job("quiet")).unwrap();
    let job = wait_final(&f.sup, "quiet");
    assert_eq!(
        (job.status.as_str(), job.exit_code, job.error.as_str()),
        ("failed", Some(0), "shard 0: the socket went away")
    );
}

#[test]
fn an_over_long_output_line_is_dropped_whole_and_the_lines_after_it_still_count() {
    // Three times the longest line kept, then an error line and a failing exit.
    let f = fixture(&format!(
        r#"echo '{{"kind":"started","ts":1}}'
head -c {} /dev/zero | tr '\0' x
echo
echo '{{"kind":"error","error":"after the long line","ts":2}}'
exit 3"#,
        MAX_LINE * 3
    ));
    f.start(tool_job("long")).unwrap();
    let job = wait_final(&f.sup, "long");
    assert_eq!(
        (job.status.as_str(), job.exit_code, job.error.as_str()),
        ("failed", Some(3), "after the long line")
    );
    let stats =
        std::fs::read_to_string(f.sup.artifacts_dir("long").unwrap().join("stats.jsonl")).unwrap();
    let kinds: Vec<String> = stats
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l)
                .unwrap_or_else(|e| panic!("stats.jsonl holds a line that is not JSON: {e}"));
            v["kind"].as_str().unwrap_or("").to_string()
        })
        .collect();
    assert_eq!(kinds, ["started", "error"]);
}

#[test]
fn a_restart_settles_rows_a_stop_had_marked_as_stopped_and_stops_their_workers() {
    let f = fixture("exit 0");
    // "gone": stopping, its worker already dead (this pid is not a worker). "old": marked
    // stopped by an older binary but never finished. "alive": stopping, and its worker
    // (a stand-in with a worker's command line) survived the old master.
    let mut survivor = Group(
        std::process::Command::new("sh")
            .args(["-c", "while :; do sleep 0.05; done", "worker"])
            .arg(f.sup.spec_path("alive").unwrap())
            .process_group(0)
            .spawn()
            .unwrap(),
    );
    let pid = survivor.0.id();
    // Its command line is the test's own until `sh` has been exec'd.
    let deadline = Instant::now() + Duration::from_secs(10);
    while !process::is_worker_for(pid, "alive") {
        assert!(Instant::now() < deadline, "the stand-in worker never ran");
        std::thread::sleep(Duration::from_millis(10));
    }
    let rows = [
        ("gone", std::process::id(), "stopping"),
        ("old", std::process::id(), "stopped"),
        ("alive", pid, "stopping"),
    ];
    f.sup
        .db
        .tx(|c| {
            for (id, pid, status) in rows {
                jobs::insert(
                    c,
                    &NewJob {
                        id,
                        profile_id: "c1",
                        profile_kind: ProfileKind::Client,
                        scenario_id: "",
                        args_json: "{}",
                        artifacts_dir: "",
                        created_at: "t",
                        created_by: "t",
                        name: "",
                        notes: "",
                    },
                )?;
                jobs::set_running(c, id, pid, "t")?;
                c.execute("UPDATE jobs SET status = ?2 WHERE id = ?1", [id, status])?;
            }
            Ok(())
        })
        .unwrap();
    assert_eq!(f.sup.recover().unwrap(), 3);
    for (id, _, _) in rows {
        let job = f.sup.db.read(|c| jobs::by_id(c, id)).unwrap().unwrap();
        assert_eq!(
            (job.status.as_str(), job.error.as_str()),
            ("stopped", ""),
            "{id}: a stopped job is not 'failed: master restarted'"
        );
        assert!(job.finished_at.is_some(), "{id}");
    }
    let status = survivor.0.wait().unwrap();
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&status),
        Some(15),
        "the surviving worker was stopped with SIGTERM"
    );
    assert_eq!(f.sup.recover().unwrap(), 0, "settled once");
}

#[test]
fn shutdown_stops_every_running_job_waits_for_their_final_rows_and_admits_no_new_one() {
    let f = fixture(SLOW_TO_STOP);
    for id in ["a", "b"] {
        f.start(tool_job(id)).unwrap();
    }
    for id in ["a", "b"] {
        wait_started(&f, id);
    }
    let pids: Vec<u32> = ["a", "b"]
        .iter()
        .map(|id| f.sup.running(id).unwrap().pgid)
        .collect();
    let left = f.sup.shutdown();
    assert_eq!(left, 0, "every job settled before shutdown returned");
    for id in ["a", "b"] {
        // Final at return, not later: shutdown waited for the rows.
        let job = f.sup.db.read(|c| jobs::by_id(c, id)).unwrap().unwrap();
        assert_eq!(job.status, JobStatus::Stopped, "{job:?}");
        assert!(job.finished_at.is_some(), "{job:?}");
        let files: Vec<String> = f
            .sup
            .db
            .read(|c| jobs::artifacts(c, id))
            .unwrap()
            .into_iter()
            .map(|a| a.path)
            .collect();
        assert!(
            files.iter().any(|p| p.ends_with("summary.json")),
            "{id}: {files:?}"
        );
    }
    for pid in pids {
        // Reaped, not merely signalled.
        assert!(
            !std::path::Path::new(&format!("/proc/{pid}")).exists(),
            "worker {pid} still alive"
        );
    }
    let refused = f.start(tool_job("c"));
    assert!(
        matches!(refused, Err(StartError::Refused(Refusal::ShuttingDown))),
        "{:?}",
        refused.map(|j| j.status)
    );
    assert!(f.sup.db.read(|c| jobs::by_id(c, "c")).unwrap().is_none());
}
