//! `gossipper worker --spec <path>`: runs one job for the master (or headless).
//!
//! Reads the resolved spec (`job::spec`: the master resolved the job once and wrote it
//! into the job's folder; a perf lab may write one by hand), runs exactly that (the
//! engine in this process, or a tool) and reports on stdout in the line protocol of
//! `job::line` (started, plan, stats every `stats_interval_ms` and once at the end,
//! error, exit).
//!
//! At the end it writes `summary.json`, `call_records.jsonl` and `report.html` into the
//! job's artifacts folder, even when stopped. Exit codes: [`exit`]. stderr is the
//! human-readable log (`worker.log`). Flow: `main` → `run` → exit code. Must not: open
//! the master's data dir beyond what the spec names (no store, no profiles).

mod observer;
pub(crate) mod tools;

use std::sync::atomic::{AtomicBool, Ordering};

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use gossipper_engine::config::JobSpec;
use std::time::{Duration, SystemTime};

use crate::report::{self, ReportHead};
use gossipper_engine::output::format::unix_ms;
use gossipper_engine::output::run_info::RunInfo;
use gossipper_engine::output::stats_line::PlanLine;
use gossipper_engine::output::summary;
use gossipper_engine::output::verdict::VerdictStatus;
use gossipper_engine::runner::{self, RunError};

use crate::exporter::Exporter;
use crate::job::line::WorkerLine;
use crate::job::spec::{JobFile, Run, ToolRun};
use crate::job::{exit, files};
use crate::signals::SignalCounts;
use observer::{JobObserver, Lines};

fn now_ms() -> u64 {
    unix_ms(SystemTime::now())
}

fn usage() -> &'static str {
    "usage: gossipper worker --spec <path> [--quiet]"
}

/// `--quiet`: set once by `main` before anything is logged.
static QUIET: AtomicBool = AtomicBool::new(false);

/// A progress line on stderr (the job started, a file written, a stop asked, a warning
/// or `<log>` text from the engine): left out under `--quiet`. Errors are always printed.
fn note(args: std::fmt::Arguments<'_>) {
    if !QUIET.load(Ordering::Relaxed) {
        eprintln!("{args}");
    }
}

/// `gossipper worker --help`.
const HELP: &str = r#"usage: gossipper worker --spec <path> [--quiet]

Runs one job described by a resolved JSON spec: the master (`gossipper ui`) resolves
each job once and writes artifacts/jobs/<id>/spec.json; a spec may be written by hand
too (headless runs):

  {"kind": "gossipper_job_spec", "version": 1, "job_id": "lab-1",
   "artifacts_dir": "/tmp/lab-1", "stats_interval_ms": 1000,
   "run": {"engine": {"scenario": {"builtin": "uac"}, "remote": "10.0.0.5:5060",
                      "rate": 200, "max_calls": 10000, "file_access": "cwd",
                      "thresholds": ["p99(response_time)<50ms"]}}}

"run.engine" is the engine's whole run configuration (every field optional, with
SIPp's defaults); an unknown key, another kind or version, or a setting only the SIPp
command line acts on (screen, keys, control socket, -bg, trace files) is refused.
"run.engine.trace.metrics_addr": "127.0.0.1:9100" serves the run's Prometheus
metrics at GET /metrics on that address, refreshed with each stats line (no
authentication: keep it on loopback or a private network).
The worker prints JSON lines on stdout (started, plan, stats every second, exit),
writes summary.json, call_records.jsonl and report.html into the job's artifacts
folder, and logs to stderr (with --quiet, only errors: no progress lines, warnings or
<log> text; stdout's JSON lines are the same). SIGTERM or SIGINT stops it: no new calls, open calls
finish (a second signal, or 4.5 s, aborts them), and the artifacts are written.

Exit codes: 0 every call succeeded, 1 a call failed, 2 a threshold or health gate
failed or the run missed its target, 254 a socket could not be bound, 255 the spec,
the configuration or the scenario is unusable.
"#;

/// The spec's path and whether `--quiet` (or `-quiet`) was given, in any position.
fn parse_args(args: &[String]) -> Option<(PathBuf, bool)> {
    let quiet = |a: &String| a == "--quiet" || a == "-quiet";
    let rest: Vec<String> = args.iter().filter(|a| !quiet(a)).cloned().collect();
    spec_path(&rest).map(|p| (p, rest.len() < args.len()))
}

fn spec_path(args: &[String]) -> Option<PathBuf> {
    match args {
        [flag, path] if flag == "--spec" || flag == "-spec" => Some(PathBuf::from(path)),
        [one] => one.strip_prefix("--spec=").map(PathBuf::from),
        _ => None,
    }
}

pub(crate) fn main(args: &[String]) -> ExitCode {
    if matches!(args, [a] if a == "--help" || a == "-h") {
        print!("{HELP}");
        return ExitCode::SUCCESS;
    }
    let Some((path, quiet)) = parse_args(args) else {
        eprintln!("{}", usage());
        return ExitCode::from(exit::FATAL);
    };
    QUIET.store(quiet, Ordering::Relaxed);
    let mut lines = Lines::stdout();
    let spec = match read_spec(&path) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("gossipper worker: {e}");
            return ExitCode::from(fail(&mut lines, "", &e, exit::FATAL));
        }
    };
    ExitCode::from(run(&spec, lines))
}

fn read_spec(path: &Path) -> Result<JobFile, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    JobFile::parse(&bytes).map_err(|e| format!("{}: {e}", path.display()))
}

/// Reports a job that cannot run: an error line, then the exit line.
fn fail(lines: &mut Lines, job_id: &str, error: &str, code: u8) -> u8 {
    lines.send(&WorkerLine::Error {
        job_id: job_id.into(),
        error: error.into(),
        ts: now_ms(),
    });
    lines.send(&WorkerLine::Exit {
        job_id: job_id.into(),
        code,
        stopped: false,
        error: Some(error.into()),
        ts: now_ms(),
    });
    code
}

fn run(spec: &JobFile, mut lines: Lines) -> u8 {
    let signals = SignalCounts::install("worker");
    lines.send(&WorkerLine::Started {
        job_id: spec.job_id.clone(),
        pid: std::process::id(),
        ts: now_ms(),
    });
    if let Err(e) = std::fs::create_dir_all(&spec.artifacts_dir) {
        let msg = format!("{}: {e}", spec.artifacts_dir.display());
        eprintln!("gossipper worker: {msg}");
        return fail(&mut lines, &spec.job_id, &msg, exit::FATAL);
    }
    match &spec.run {
        Run::Tool(tool) => run_tool(spec, tool, lines),
        Run::Engine(job) => run_engine(spec, job, lines, signals),
    }
}

fn run_tool(spec: &JobFile, tool: &ToolRun, mut lines: Lines) -> u8 {
    note(format_args!(
        "worker: job {}: {}",
        spec.job_id, spec.about.title
    ));
    match tools::run(tool, &spec.about.title, &spec.artifacts_dir) {
        Ok(written) => {
            for p in &written {
                note(format_args!("worker: wrote {}", p.display()));
            }
            lines.send(&WorkerLine::Exit {
                job_id: spec.job_id.clone(),
                code: exit::OK,
                stopped: false,
                error: None,
                ts: now_ms(),
            });
            exit::OK
        }
        Err(e) => {
            let msg = e.to_string();
            eprintln!("worker: {msg}");
            fail(&mut lines, &spec.job_id, &msg, exit::FATAL)
        }
    }
}

fn run_error(e: &RunError) -> (String, u8) {
    match e {
        RunError::Scenario(errs) => {
            let text: Vec<String> = errs.0.iter().map(ToString::to_string).collect();
            let text = if text.is_empty() {
                "the scenario could not be loaded".to_string()
            } else {
                text.join("; ")
            };
            (text, exit::FATAL)
        }
        RunError::Bind(m) => (m.clone(), exit::BIND),
        RunError::Config(_) | RunError::Refused(_) | RunError::Threshold(_) | RunError::Io(_) => {
            (e.to_string(), exit::FATAL)
        }
    }
}

fn run_engine(spec: &JobFile, job: &JobSpec, mut lines: Lines, signals: SignalCounts) -> u8 {
    let job_id = spec.job_id.as_str();
    let prepared = match runner::prepare(job) {
        Ok(p) => p,
        Err(e) => {
            let (msg, code) = run_error(&e);
            eprintln!("worker: {msg}");
            return fail(&mut lines, job_id, &msg, code);
        }
    };
    let about = &spec.about;
    let scenario = match about.scenario_id.as_str() {
        "" => prepared.scenario.name.as_str(),
        id => id,
    };
    note(format_args!(
        "worker: job {job_id}: {} scenario \"{scenario}\" on {} ({} shard(s)), remote {}, seed {}",
        about.profile_kind,
        prepared.local,
        prepared.shards,
        job.remote
            .map_or_else(|| "-".to_string(), |r| r.to_string()),
        job.seed
    ));
    if let Some(dir) = &job.record_dir {
        // The engine writes <call-id>.wav here as each call ends.
        if let Err(e) = std::fs::create_dir_all(dir) {
            eprintln!("worker: {}: {e}", dir.display());
        }
    }
    let start = SystemTime::now();
    let info = RunInfo::of_run(
        &prepared.scenario,
        job,
        prepared.local.port(),
        start,
        std::process::id(),
    );
    // The run's plan first: the console draws the per-message table and the target
    // from it before the first stats line.
    lines.send(&WorkerLine::Plan {
        job_id: job_id.into(),
        ts: now_ms(),
        plan: Box::new(PlanLine::of(&info)),
    });
    let exporter = match job.trace.metrics_addr {
        Some(addr) => {
            let labels = vec![
                ("job_id", job_id.to_string()),
                ("kind", about.profile_kind.clone()),
                ("scenario", scenario.to_string()),
            ];
            match Exporter::start(addr, labels) {
                Ok(e) => {
                    eprintln!("worker: metrics at http://{}/metrics", e.local_addr());
                    Some(e)
                }
                Err(e) => {
                    let msg = format!("trace.metrics_addr {addr}: cannot listen: {e}");
                    eprintln!("worker: {msg}");
                    return fail(&mut lines, job_id, &msg, exit::BIND);
                }
            }
        }
        None => None,
    };
    let empty = info.empty_stats();
    let records_path = spec.artifacts_dir.join(files::CALL_RECORDS);
    let records = match std::fs::File::create(&records_path) {
        Ok(f) => Some(f),
        Err(e) => {
            eprintln!("worker: {}: {e}; no call records", records_path.display());
            None
        }
    };
    let interval = Duration::from_millis(spec.stats_interval_ms);
    let mut obs = JobObserver::new(job_id, interval, lines, records, empty, signals, exporter);
    let report = match prepared.run(&mut obs) {
        Ok(r) => r,
        Err(e) => {
            let (msg, code) = run_error(&e);
            eprintln!("worker: {msg}");
            return fail(&mut obs.lines, job_id, &msg, code);
        }
    };
    obs.emit_stats(&report.stats, std::time::Instant::now(), report.finished_at);
    obs.finish();

    let s = summary::of_run(
        &info,
        job,
        &report.stats,
        report.finished_at,
        &report.shard_calls,
    );
    write_artifact(
        &spec.artifacts_dir.join(files::SUMMARY),
        summary::to_json(&s).as_bytes(),
    );
    let facts = match about.scenario_id.as_str() {
        "" => Vec::new(),
        id => vec![("scenario id", id.to_string())],
    };
    let head = ReportHead {
        title: &about.title,
        name: &about.name,
        notes: &about.notes,
        request: &facts,
    };
    let html = report::render_with(&head, &s, &obs.series);
    write_artifact(
        &spec.artifacts_dir.join(files::REPORT_HTML),
        html.as_bytes(),
    );

    let (code, error) = outcome(&s, obs.stopped);
    let error = error.or_else(|| obs.last_error.clone());
    note(format_args!(
        "worker: done: {} calls, {} succeeded, {} failed, exit {code}{}",
        s.total_calls,
        s.success_calls,
        s.failed_calls,
        if obs.stopped { " (stopped)" } else { "" }
    ));
    let stopped = obs.stopped;
    obs.lines.send(&WorkerLine::Exit {
        job_id: job_id.into(),
        code,
        stopped,
        error,
        ts: now_ms(),
    });
    code
}

/// The exit code and the sentence for the job's `error`: a failed threshold (or gate)
/// first, then failed calls, then a target the run did not reach (not when stopped: a
/// stop is expected to leave the target unreached).
fn outcome(s: &summary::Summary, stopped: bool) -> (u8, Option<String>) {
    let failed: Vec<&str> = s
        .thresholds
        .iter()
        .filter(|t| !t.pass)
        .map(|t| t.text.as_str())
        .collect();
    if !failed.is_empty() {
        return (
            exit::HEALTH_GATE_FAILED,
            Some(format!("threshold failed: {}", failed.join("; "))),
        );
    }
    if s.failed_calls > 0 {
        return (
            exit::SOME_FAILED,
            Some(format!(
                "{} of {} calls failed",
                s.failed_calls, s.total_calls
            )),
        );
    }
    if s.verdict.status == VerdictStatus::Fail && !stopped {
        return (exit::HEALTH_GATE_FAILED, Some(s.verdict.reasons.join("; ")));
    }
    (exit::OK, None)
}

fn write_artifact(path: &Path, bytes: &[u8]) {
    if let Err(e) = std::fs::write(path, bytes) {
        eprintln!("worker: cannot write {}: {e}", path.display());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_spec_flag_is_required() {
        assert_eq!(
            spec_path(&["--spec".into(), "/t/s.json".into()]),
            Some("/t/s.json".into())
        );
        assert_eq!(
            spec_path(&["--spec=/t/s.json".into()]),
            Some("/t/s.json".into())
        );
        assert_eq!(spec_path(&[]), None);
        assert_eq!(spec_path(&["--spec".into()]), None);
    }

    #[test]
    fn a_spec_the_worker_cannot_run_is_refused_naming_the_problem() {
        let dir = std::env::temp_dir().join(format!("gossipper-wspec-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("spec.json");
        // The spec of a master that left resolving to its workers.
        std::fs::write(
            &p,
            r#"{"job_id":"j1","data_dir":"/d","profile_kind":"server","artifacts_dir":"/d/artifacts/jobs/j1"}"#,
        )
        .unwrap();
        assert!(read_spec(&p).unwrap_err().contains("\"kind\" is missing"));
        std::fs::write(
            &p,
            r#"{"kind":"gossipper_job_spec","version":1,"job_id":"j1","artifacts_dir":"/a","stats_interval_ms":1,"run":{"engine":{}}}"#,
        )
        .unwrap();
        assert!(read_spec(&p).unwrap_err().contains("stats_interval_ms"));
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(read_spec(&p).is_err(), "a missing file");
    }
}
