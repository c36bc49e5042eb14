//! One job on N worker processes (issue 20): the spec's `"workers": {"count": N}` makes
//! this worker a fan-out that starts N workers, each running segment `i/N` of the run
//! (`gossipper_engine::segment`), and reports them as one job. A server with several
//! listeners (`"workers": {"listeners": […]}`, a profile's enabled SIP rows, issue 18)
//! fans out the same way: worker `i` runs the whole run on listener `i`.
//!
//! Owns: the workers' folders (`workers/<i>/`: spec.json, stats.jsonl, worker.log and
//! the worker's own artifacts), their processes (each in its own process group, in
//! network namespace `netns[i]` through `ip netns exec` when the spec names one; a stop
//! signal to the fan-out is passed on to each), and the merge: each worker sends its
//! whole counts (`state` lines) before each stats line; every `stats_interval_ms` the
//! fan-out merges the newest state of each worker as the runner merges shards
//! (`ShardStats::merge`: counters added, histograms added bucket by bucket) and prints
//! one stats line, so percentiles are those of one histogram of every call, never an
//! average of percentiles. At the end it writes the job's summary.json and report.html
//! from the merged counts and the whole run's spec (its target, its thresholds), and
//! call_records.jsonl as the workers' records one after another. The peak of calls
//! alive at once is the largest single worker's (a lower bound, as for shards).
//!
//! A worker that cannot run (exit 254 or 255) stops the others, and its code and message
//! are the job's. The workers start together: each spec names the same `start_at_unix_ms`, a second
//! ahead (plus 100 ms a worker) unless the spec names one. Must not: run SIP itself.

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime};

use gossipper_engine::config::JobSpec;
use gossipper_engine::files::FileAccess;
use gossipper_engine::output::run_info::RunInfo;
use gossipper_engine::output::stats_line::PlanLine;
use gossipper_engine::output::summary;
use gossipper_engine::runner;
use gossipper_engine::segment::Segment;
use gossipper_engine::stats::ShardStats;

use super::observer::{JobObserver, Lines};
use super::{fail, note, now_ms, outcome, run_error, write_artifact};
use crate::job::line::WorkerLine;
use crate::job::spec::{JobFile, Run, Workers};
use crate::job::{exit, files};
use crate::report::{self, ReportHead};
use crate::signals::SignalCounts;

/// The folder of the workers' own files, inside the job's.
pub(crate) const WORKERS_DIR: &str = "workers";

/// What a worker's reader thread hands to the fan-out.
enum Event {
    Line(usize, WorkerLine),
    Closed,
}

/// One worker's end.
#[derive(Default, Clone)]
pub(super) struct End {
    pub(super) code: Option<u8>,
    pub(super) stopped: bool,
    pub(super) error: Option<String>,
}

impl End {
    /// The worker could not run (spec, configuration, scenario or socket).
    pub(super) fn broken(&self) -> bool {
        self.code
            .is_some_and(|c| c == exit::FATAL || c == exit::BIND)
    }
}

/// The spec of worker `i`: segment `i/N` of `spec`'s run, its files under `dir`.
fn worker_spec(spec: &JobFile, job: &JobSpec, i: u32, dir: &Path, start_at: u64) -> JobFile {
    let mut job = job.clone();
    match spec.workers.listeners.get(i as usize) {
        // A multi-listener server: the whole run on listener `i`.
        Some(l) => l.apply(&mut job),
        None => {
            job.segment = Some(Segment {
                index: i,
                count: spec.workers.count,
            });
        }
    }
    job.start_at_unix_ms = Some(start_at);
    if let FileAccess::Confined(roots) = &mut job.file_access {
        roots.job_dir = dir.to_path_buf();
    }
    if let Some(rec) = &job.record_dir
        && let Ok(rel) = rec.strip_prefix(&spec.artifacts_dir)
    {
        job.record_dir = Some(dir.join(rel));
    }
    let mut out = spec.clone();
    out.workers = Workers {
        listener_of_fanout: !spec.workers.listeners.is_empty(),
        ..Workers::default()
    };
    out.artifacts_dir = dir.to_path_buf();
    out.run = Run::Engine(Box::new(job));
    out
}

/// Starts worker `i` on `spec_path`, stderr into its `worker.log`.
fn spawn(
    exe: &Path,
    netns: Option<&str>,
    spec_path: &Path,
    log: File,
    quiet: bool,
) -> std::io::Result<Child> {
    use std::os::unix::process::CommandExt;
    let mut cmd = match netns {
        Some(ns) => {
            let mut c = Command::new("ip");
            c.args(["netns", "exec", ns]).arg(exe);
            c
        }
        None => Command::new(exe),
    };
    cmd.arg("worker").arg("--spec").arg(spec_path);
    if quiet {
        cmd.arg("--quiet");
    }
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(log)
        // Its own group: a stop reaches it once, passed on by the fan-out.
        .process_group(0)
        .spawn()
}

/// Sends SIGTERM to one worker.
#[allow(unsafe_code)]
fn terminate(pid: u32) {
    if let Ok(pid) = libc::pid_t::try_from(pid)
        && pid > 1
    {
        // SAFETY: kill(2) with a pid of our own child and a constant signal touches no
        // memory of ours.
        unsafe {
            libc::kill(pid, libc::SIGTERM);
        }
    }
}

/// Reads worker `i`'s stdout: each line copied into its `stats.jsonl` and handed on.
fn read_worker(i: usize, out: impl std::io::Read, mut copy: File, tx: mpsc::Sender<Event>) {
    let mut reader = BufReader::new(out);
    let mut buf = Vec::new();
    loop {
        buf.clear();
        match reader.by_ref().take(1 << 22).read_until(b'\n', &mut buf) {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        let _ = copy.write_all(&buf);
        if !buf.ends_with(b"\n") {
            let _ = copy.write_all(b"\n");
        }
        let text = String::from_utf8_lossy(&buf);
        if let Some(line) = WorkerLine::parse(text.trim_end())
            && tx.send(Event::Line(i, line)).is_err()
        {
            break;
        }
    }
    let _ = tx.send(Event::Closed);
}

/// The merged counts of the workers' newest states (`empty` when none has one yet).
pub(super) fn merged(states: &[Option<ShardStats>], empty: &ShardStats) -> ShardStats {
    let mut m = empty.clone();
    for s in states.iter().flatten() {
        m.merge(s);
    }
    m
}

/// Runs the job on `spec.workers.count` workers; the exit code.
pub(super) fn run(spec: &JobFile, mut lines: Lines, quiet: bool) -> u8 {
    let job_id = spec.job_id.as_str();
    let signals = SignalCounts::install("worker");
    lines.send(&WorkerLine::Started {
        job_id: job_id.into(),
        pid: std::process::id(),
        ts: now_ms(),
    });
    let Run::Engine(job) = &spec.run else {
        return fail(
            &mut lines,
            job_id,
            "workers: a tool runs in one worker",
            exit::FATAL,
        );
    };
    let n = spec.workers.count;
    // The scenario, for the plan and the merged summary (each worker loads it too).
    let scenario = match runner::load_scenario(job) {
        Ok(s) => s,
        Err(e) => {
            let (msg, code) = run_error(&e);
            eprintln!("worker: {msg}");
            return fail(&mut lines, job_id, &msg, code);
        }
    };
    let start_at = job
        .start_at_unix_ms
        .unwrap_or_else(|| now_ms() + 1000 + 100 * u64::from(n));
    let Some(start_wall) = SystemTime::UNIX_EPOCH.checked_add(Duration::from_millis(start_at))
    else {
        let msg = format!("run.engine.start_at_unix_ms {start_at} is out of range");
        return fail(&mut lines, job_id, &msg, exit::FATAL);
    };
    let info = RunInfo::of_run(
        &scenario,
        job,
        job.local_port.unwrap_or(0),
        start_wall,
        std::process::id(),
    );
    lines.send(&WorkerLine::Plan {
        job_id: job_id.into(),
        ts: now_ms(),
        plan: Box::new(PlanLine::of(&info)),
    });
    let exe = match std::env::current_exe() {
        Ok(e) => e,
        Err(e) => {
            let msg = format!("cannot find this executable to start the workers: {e}");
            return fail(&mut lines, job_id, &msg, exit::FATAL);
        }
    };
    let (tx, rx) = mpsc::channel();
    let mut children: Vec<Child> = Vec::new();
    let mut dirs: Vec<PathBuf> = Vec::new();
    for i in 0..n {
        let dir = spec.artifacts_dir.join(WORKERS_DIR).join(i.to_string());
        let started = start_worker(spec, job, i, &dir, start_at, &exe, quiet, tx.clone());
        match started {
            Ok(child) => {
                children.push(child);
                dirs.push(dir);
            }
            Err(msg) => {
                eprintln!("worker: {msg}");
                for c in &children {
                    terminate(c.id());
                }
                for c in &mut children {
                    let _ = c.wait();
                }
                return fail(&mut lines, job_id, &msg, exit::FATAL);
            }
        }
    }
    drop(tx);
    note(format_args!(
        "worker: job {job_id}: {n} workers (pids {}), calls from {start_at} (Unix ms)",
        children
            .iter()
            .map(|c| c.id().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    ));

    let empty = info.empty_stats();
    let interval = Duration::from_millis(spec.stats_interval_ms);
    let mut obs = JobObserver::new(job_id, interval, lines, None, empty.clone(), signals, None);
    let now = Instant::now();
    let start_instant = now
        + start_wall
            .duration_since(SystemTime::now())
            .unwrap_or_default();
    obs.start_at(start_instant);
    let mut states: Vec<Option<ShardStats>> = vec![None; n as usize];
    let mut ends: Vec<End> = vec![End::default(); n as usize];
    let mut open = n as usize;
    let mut next_line = start_instant + interval;
    let mut stops_passed = 0;
    let mut broken = false;
    while open > 0 {
        let wait = next_line.saturating_duration_since(Instant::now());
        match rx.recv_timeout(wait.min(Duration::from_millis(100))) {
            Ok(Event::Line(i, line)) => take_line(i, line, &mut states, &mut ends, &mut obs),
            Ok(Event::Closed) => open -= 1,
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
        // A worker that cannot run stops the others: the job cannot add up.
        if !broken && ends.iter().any(End::broken) {
            broken = true;
            note(format_args!(
                "worker: a worker cannot run; stopping the others"
            ));
            for c in &children {
                terminate(c.id());
            }
        }
        let stops = obs.stops();
        if stops > stops_passed {
            stops_passed = stops;
            obs.stopped = true;
            note(format_args!(
                "worker: stop requested; passing it on to the workers"
            ));
            for c in &children {
                terminate(c.id());
            }
        }
        let now = Instant::now();
        if now >= next_line {
            while next_line <= now {
                next_line += interval;
            }
            if states.iter().any(Option::is_some) {
                obs.emit_stats(&merged(&states, &empty), now, SystemTime::now());
            }
        }
    }
    for (i, c) in children.iter_mut().enumerate() {
        let status = c.wait();
        let end = &mut ends[i];
        if end.code.is_none() {
            let code = match status.ok().and_then(|s| s.code()) {
                Some(c) => u8::try_from(c).unwrap_or(exit::FATAL),
                None => exit::FATAL,
            };
            end.code = Some(code);
            let said = last_line(&dirs[i].join(files::LOG));
            end.error.get_or_insert_with(|| {
                format!("worker {i} ended without an exit line (exit {code}): {said}")
            });
        }
    }
    let finished_at = SystemTime::now();
    let total = merged(&states, &empty);
    obs.emit_stats(&total, Instant::now(), finished_at);
    obs.finish();
    finish(
        spec,
        job,
        &info,
        &total,
        &dirs,
        None,
        &ends,
        obs,
        finished_at,
    )
}

/// Creates worker `i`'s folder and spec and starts it, with a thread reading its lines.
#[allow(clippy::too_many_arguments)]
fn start_worker(
    spec: &JobFile,
    job: &JobSpec,
    i: u32,
    dir: &Path,
    start_at: u64,
    exe: &Path,
    quiet: bool,
    tx: mpsc::Sender<Event>,
) -> Result<Child, String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let wspec = worker_spec(spec, job, i, dir, start_at);
    let spec_path = dir.join("spec.json");
    let text = wspec
        .to_json()
        .map_err(|e| format!("worker {i}: cannot encode its spec: {e}"))?;
    std::fs::write(&spec_path, text).map_err(|e| format!("{}: {e}", spec_path.display()))?;
    let log_path = dir.join(files::LOG);
    let log = File::create(&log_path).map_err(|e| format!("{}: {e}", log_path.display()))?;
    let stats_path = dir.join(files::STATS);
    let copy = File::create(&stats_path).map_err(|e| format!("{}: {e}", stats_path.display()))?;
    let netns = spec.workers.netns.get(i as usize).map(String::as_str);
    let mut child = spawn(exe, netns, &spec_path, log, quiet).map_err(|e| match netns {
        Some(ns) => format!("worker {i}: cannot run `ip netns exec {ns}`: {e}"),
        None => format!("worker {i}: cannot start {}: {e}", exe.display()),
    })?;
    let Some(stdout) = child.stdout.take() else {
        let _ = child.kill();
        let _ = child.wait();
        return Err(format!("worker {i}: no stdout pipe"));
    };
    let idx = i as usize;
    std::thread::Builder::new()
        .name(format!("worker-{i}"))
        .spawn(move || read_worker(idx, stdout, copy, tx))
        .map_err(|e| {
            let _ = child.kill();
            format!("worker {i}: cannot start its reader thread: {e}")
        })?;
    Ok(child)
}

/// Takes one line of worker `i`.
pub(super) fn take_line(
    i: usize,
    line: WorkerLine,
    states: &mut [Option<ShardStats>],
    ends: &mut [End],
    obs: &mut JobObserver,
) {
    match line {
        WorkerLine::State { state, .. } => match serde_json::from_value::<ShardStats>(state) {
            Ok(s) => states[i] = Some(s),
            Err(e) => eprintln!("worker: worker {i}: unreadable state line: {e}"),
        },
        WorkerLine::Error { error, .. } => {
            let text = format!("worker {i}: {error}");
            eprintln!("worker: {text}");
            obs.lines.send(&WorkerLine::Error {
                job_id: String::new(),
                error: text.clone(),
                ts: now_ms(),
            });
            obs.last_error = Some(text);
        }
        WorkerLine::Exit {
            code,
            stopped,
            error,
            ..
        } => {
            ends[i] = End {
                code: Some(code),
                stopped,
                error: error.map(|e| format!("worker {i}: {e}")),
            };
        }
        WorkerLine::Started { .. } | WorkerLine::Plan { .. } | WorkerLine::Stats { .. } => {}
    }
}

/// The merged artifacts and the exit line; the exit code. `per_worker`: each worker's
/// calls (`None`: read from the summary.json in its folder).
#[allow(clippy::too_many_arguments)]
pub(super) fn finish(
    spec: &JobFile,
    job: &JobSpec,
    info: &RunInfo,
    total: &ShardStats,
    dirs: &[PathBuf],
    per_worker: Option<&[u64]>,
    ends: &[End],
    mut obs: JobObserver,
    finished_at: SystemTime,
) -> u8 {
    let per_worker: Vec<u64> = match per_worker {
        Some(calls) => calls.to_vec(),
        None => dirs
            .iter()
            .map(|d| read_calls(&d.join(files::SUMMARY)))
            .collect(),
    };
    let s = summary::of_run(info, job, total, finished_at, &per_worker);
    write_artifact(
        &spec.artifacts_dir.join(files::SUMMARY),
        summary::to_json(&s).as_bytes(),
    );
    let facts = match spec.about.scenario_id.as_str() {
        "" => vec![("workers", dirs.len().to_string())],
        id => vec![
            ("scenario id", id.to_string()),
            ("workers", dirs.len().to_string()),
        ],
    };
    let head = ReportHead {
        title: &spec.about.title,
        name: &spec.about.name,
        notes: &spec.about.notes,
        request: &facts,
    };
    let html = report::render_with(&head, &s, &obs.series);
    write_artifact(
        &spec.artifacts_dir.join(files::REPORT_HTML),
        html.as_bytes(),
    );
    concat_records(&spec.artifacts_dir.join(files::CALL_RECORDS), dirs);
    let stopped = obs.stopped || ends.iter().any(|e| e.stopped);
    // A worker that could not run decides the job's code; else the merged numbers do.
    let broken = ends.iter().find(|e| e.broken());
    let (code, error) = match broken {
        Some(e) => (e.code.unwrap_or(exit::FATAL), e.error.clone()),
        None => outcome(&s, stopped),
    };
    let error = error
        .or_else(|| obs.last_error.clone())
        .or_else(|| ends.iter().find_map(|e| e.error.clone()));
    note(format_args!(
        "worker: done: {} workers, {} calls, {} succeeded, {} failed, exit {code}{}",
        dirs.len(),
        s.total_calls,
        s.success_calls,
        s.failed_calls,
        if stopped { " (stopped)" } else { "" }
    ));
    obs.lines.send(&WorkerLine::Exit {
        job_id: spec.job_id.clone(),
        code,
        stopped,
        error,
        ts: now_ms(),
    });
    code
}

/// The last line of a worker's log (what a worker that could not start said), cut to
/// 300 characters.
fn last_line(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let line = text
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("");
    line.chars().take(300).collect()
}

/// A worker summary's `total_calls` (0 when it wrote none).
fn read_calls(path: &Path) -> u64 {
    std::fs::read(path)
        .ok()
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        .and_then(|v| v.get("total_calls").and_then(serde_json::Value::as_u64))
        .unwrap_or(0)
}

/// The job's call_records.jsonl: each worker's, one after another.
fn concat_records(out: &Path, dirs: &[PathBuf]) {
    let Ok(mut f) = File::create(out) else {
        eprintln!("worker: cannot write {}", out.display());
        return;
    };
    for d in dirs {
        if let Ok(mut r) = File::open(d.join(files::CALL_RECORDS))
            && let Err(e) = std::io::copy(&mut r, &mut f)
        {
            eprintln!("worker: {}: {e}", out.display());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::job::spec::About;
    use gossipper_engine::files::JobRoots;

    #[test]
    fn each_worker_runs_its_segment_in_its_own_folder() {
        let job = JobSpec {
            max_calls: Some(10),
            record_dir: Some("/d/artifacts/jobs/j/recordings".into()),
            file_access: FileAccess::Confined(JobRoots {
                data_dir: "/d".into(),
                job_dir: "/d/artifacts/jobs/j".into(),
            }),
            ..JobSpec::default()
        };
        let mut spec = JobFile::new(
            "j",
            Path::new("/d/artifacts/jobs/j"),
            About::default(),
            Run::Engine(Box::new(job.clone())),
        );
        spec.workers.count = 3;
        let dir = Path::new("/d/artifacts/jobs/j/workers/2");
        let w = worker_spec(&spec, &job, 2, dir, 1234);
        assert_eq!(w.workers, Workers::default());
        assert_eq!(w.artifacts_dir, dir);
        let Run::Engine(wj) = &w.run else {
            panic!("an engine run")
        };
        assert_eq!(wj.segment, Some(Segment { index: 2, count: 3 }));
        assert_eq!(wj.start_at_unix_ms, Some(1234));
        assert_eq!(
            wj.max_calls,
            Some(10),
            "the worker divides the whole itself"
        );
        assert_eq!(
            wj.record_dir.as_deref(),
            Some(dir.join("recordings").as_path())
        );
        assert!(w.check().is_ok(), "confined to its own folder");
    }
}
