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

mod cluster;
mod fanout;
pub(crate) use fanout::WORKERS_DIR;
mod observer;
mod post;
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
use gossipper_engine::segment::Segment;

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
    "usage: gossipper worker --spec <path> [--segment I/N | --segments N] [--start-at UNIX_MS] [--quiet]"
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
const HELP: &str = r#"usage: gossipper worker --spec <path> [--segment I/N | --segments N]
                        [--start-at UNIX_MS] [--quiet]

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

Segments (one run split over N workers, on one host or many): --segment I/N runs
segment I (0-based) of N: the rate, -rate_increase and -rate_max divided by N (the
first call I/rate after the start, so the N workers' calls interleave as one run's),
max_calls, call_limit, users and max_sockets shared (10 over 3: 4, 3, 3; each must be
at least N), call numbers interleaved (the worker's k-th call is number (k-1)*N+I+1,
so [call_number], Call-IDs and sequential -inf rows are one run's), user ids in
blocks. --segments N takes I from $JOB_COMPLETION_INDEX (a Kubernetes Indexed Job).
--start-at UNIX_MS starts the calls at that instant (at most an hour away), so N
workers begin on the same millisecond. The spec may say the same with
"run.engine.segment": {"index": I, "count": N} and "run.engine.start_at_unix_ms".
A segment's worker also prints a {"kind":"state",…} line before each stats line: its
whole counts and histograms, which a fan-out merges exactly.
With $GOSSIPPER_LINES_URL and $GOSSIPPER_LINES_TOKEN set (a cluster job's pods), every
line is also posted there (?index=$JOB_COMPLETION_INDEX, the token as bearer) for the
master to merge.

"workers": {"count": N, "netns": ["ns0", …]} (top level, 2 to 64) makes this worker a
fan-out: it starts N workers (segments 0..N-1 of the run, one process each, a common
start 1 s ahead; each in network namespace netns[i] through `ip netns exec` when netns
is given), keeps each one's files under workers/<i>/ (spec.json, stats.jsonl with its
state lines, worker.log, summary.json, call_records.jsonl, report.html), and prints one
merged line stream: counters added and histograms added bucket by bucket (percentiles
are those of the merged histogram, never averages), and writes the merged
summary.json, report.html and call_records.jsonl (the workers' records, concatenated).

Exit codes: 0 every call succeeded, 1 a call failed, 2 a threshold or health gate
failed or the run missed its target, 254 a socket could not be bound, 255 the spec,
the configuration or the scenario is unusable.
"#;

/// What the command line asks besides the spec.
#[derive(Debug, Default, PartialEq)]
struct Options {
    quiet: bool,
    /// `--segment I/N`, or `--segments N` with `$JOB_COMPLETION_INDEX`.
    segment: Option<Segment>,
    /// `--start-at UNIX_MS`.
    start_at_unix_ms: Option<u64>,
}

/// The spec's path and the options, in any order; an error names the flag.
/// `completion_index` is `$JOB_COMPLETION_INDEX`.
fn parse_args(
    args: &[String],
    completion_index: Option<&str>,
) -> Result<(PathBuf, Options), String> {
    let mut opts = Options::default();
    let mut rest = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let (flag, inline) = match a.split_once('=') {
            Some((f, v)) if f.starts_with('-') => (f, Some(v.to_string())),
            _ => (a.as_str(), None),
        };
        let flag = flag.trim_start_matches('-');
        let mut value = |name: &str| {
            inline
                .clone()
                .or_else(|| it.next().cloned())
                .ok_or_else(|| format!("--{name} needs a value"))
        };
        match flag {
            "quiet" => opts.quiet = true,
            "segment" => {
                let v = value("segment")?;
                opts.segment = Some(Segment::parse(&v).map_err(|e| format!("--segment: {e}"))?);
            }
            "segments" => {
                let v = value("segments")?;
                let n: u32 = v
                    .parse()
                    .map_err(|_| format!("--segments \"{v}\": expected a count"))?;
                let i = completion_index
                    .ok_or("--segments needs $JOB_COMPLETION_INDEX (or give --segment I/N)")?;
                let i: u32 = i
                    .trim()
                    .parse()
                    .map_err(|_| format!("$JOB_COMPLETION_INDEX \"{i}\": expected an index"))?;
                opts.segment = Some(Segment::new(i, n).map_err(|e| format!("--segments: {e}"))?);
            }
            "start-at" | "start_at" => {
                let v = value("start-at")?;
                opts.start_at_unix_ms = Some(
                    v.parse()
                        .map_err(|_| format!("--start-at \"{v}\": expected Unix ms"))?,
                );
            }
            _ => rest.push(a.clone()),
        }
    }
    let path = spec_path(&rest).ok_or_else(|| usage().to_string())?;
    Ok((path, opts))
}

/// Puts the command line's segment and start into the spec (a tool has neither).
fn apply_options(spec: &mut JobFile, opts: &Options) -> Result<(), String> {
    if opts.segment.is_none() && opts.start_at_unix_ms.is_none() {
        return Ok(());
    }
    let Run::Engine(job) = &mut spec.run else {
        return Err("--segment and --start-at apply to an engine run, not a tool".into());
    };
    if opts.segment.is_some() && spec.workers.count > 1 {
        return Err("--segment: this spec fans out over workers itself (\"workers\")".into());
    }
    if let Some(s) = opts.segment {
        job.segment = Some(s);
    }
    if let Some(at) = opts.start_at_unix_ms {
        job.start_at_unix_ms = Some(at);
    }
    Ok(())
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
    let index = std::env::var("JOB_COMPLETION_INDEX").ok();
    let (path, opts) = match parse_args(args, index.as_deref()) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("gossipper worker: {e}");
            return ExitCode::from(exit::FATAL);
        }
    };
    QUIET.store(opts.quiet, Ordering::Relaxed);
    // A worker pod of a cluster job also posts its lines to the master.
    let poster = match post::Poster::from_env(index.as_deref()) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("gossipper worker: {e}");
            return ExitCode::from(exit::FATAL);
        }
    };
    let mut lines = Lines::stdout().posting(poster);
    let spec = match read_spec(&path).and_then(|mut s| {
        apply_options(&mut s, &opts)?;
        s.check().map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(s)
    }) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("gossipper worker: {e}");
            return ExitCode::from(fail(&mut lines, "", &e, exit::FATAL));
        }
    };
    if let Some(k) = &spec.kubernetes {
        return ExitCode::from(cluster::run(&spec, k, lines));
    }
    if spec.workers.count > 1 {
        return ExitCode::from(fanout::run(&spec, lines, opts.quiet));
    }
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
        Run::Tool(tool) => run_tool(spec, tool, lines, &signals),
        Run::Engine(job) => run_engine(spec, job, lines, signals),
    }
}

fn run_tool(spec: &JobFile, tool: &ToolRun, mut lines: Lines, signals: &SignalCounts) -> u8 {
    note(format_args!(
        "worker: job {}: {}",
        spec.job_id, spec.about.title
    ));
    let stop = || signals.stops() > 0;
    match tools::run(tool, &spec.about.title, &spec.artifacts_dir, &stop) {
        Ok(written) => {
            for p in &written {
                note(format_args!("worker: wrote {}", p.display()));
            }
            lines.send(&WorkerLine::Exit {
                job_id: spec.job_id.clone(),
                code: exit::OK,
                // A tool that lasts (rtp_send) ends early when stopped.
                stopped: signals.stops() > 0,
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
    // A segment's worker reports its own share (its target, its -m).
    let whole_job = job;
    let seg_job = prepared.spec().clone();
    let job = &seg_job;
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
    obs.send_state = whole_job.segment.is_some() || spec.workers.listener_of_fanout;
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
    // A cluster job's pod: the master gets the records before it learns the pod ended.
    obs.lines.post_records(&records_path);
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
    fn segment_flags_read_from_the_line_or_the_completion_index() {
        let args = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let (p, o) = parse_args(
            &args(&[
                "--quiet",
                "--spec",
                "/s.json",
                "--segment",
                "1/3",
                "--start-at=77",
            ]),
            None,
        )
        .unwrap();
        assert_eq!(p, PathBuf::from("/s.json"));
        assert_eq!(
            o,
            Options {
                quiet: true,
                segment: Some(Segment { index: 1, count: 3 }),
                start_at_unix_ms: Some(77),
            }
        );
        let (_, o) = parse_args(&args(&["--spec=/s.json", "--segments", "4"]), Some("3")).unwrap();
        assert_eq!(o.segment, Some(Segment { index: 3, count: 4 }));
        for (bad, index, names) in [
            (
                &["--spec", "/s", "--segments", "4"][..],
                None,
                "JOB_COMPLETION_INDEX",
            ),
            (
                &["--spec", "/s", "--segments", "4"][..],
                Some("4"),
                "--segments",
            ),
            (&["--spec", "/s", "--segment", "3/3"][..], None, "--segment"),
            (
                &["--spec", "/s", "--start-at", "soon"][..],
                None,
                "--start-at",
            ),
            (
                &["--spec", "/s", "--segment"][..],
                None,
                "--segment needs a value",
            ),
        ] {
            let e = parse_args(&args(bad), index).unwrap_err();
            assert!(e.contains(names), "{e} lacks {names}");
        }
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
