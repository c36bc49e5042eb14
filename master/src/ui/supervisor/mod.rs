//! The supervisor: forks one `gossipper worker --spec` per job, owns its process group,
//! tees its stdout into `stats.jsonl` and live subscribers, and records the final state.
//!
//! Owns: job rows from `pending` to `succeeded` / `failed` / `stopped`, the spec files in
//! `tmp/`, and one reader thread per running job (STYLE.md §9), which reads the worker's
//! JSON lines, publishes them through the job's [`hub::Hub`], and, at end of stream,
//! reaps the worker, registers the artifacts and writes the final row. A stop is SIGTERM
//! to the group, then SIGKILL after [`STOP_GRACE`]. On start ([`Supervisor::recover`]),
//! jobs a previous master left running are stopped if their worker survived and marked
//! failed ("master restarted"); their artifacts are kept and registered.
//!
//! A job that cannot run fails at once: the master builds the engine configuration (the
//! worker's own `config::build`) and loads the scenario before it forks, and writes the
//! error into the row. Must not: parse HTTP or decide access (the api does).

pub(crate) mod hub;
mod process;

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, ExitStatus};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

use serde::Serialize;

use crate::ui::paths::{Layout, Place, check_name};
use crate::ui::store::StoreError;
use crate::ui::store::db::Db;
use crate::ui::store::files::write_atomic;
use crate::ui::store::jobs::{self, Job, NewJob};
use crate::ui::timefmt;
use crate::worker::files;
use crate::worker::spec::{EngineOverrides, WorkerSpec};
use hub::{Hub, Subscription};
use process::Sig;

/// How long a stopped worker may take before SIGKILL. The worker itself turns a soft
/// quit into a hard one after a few seconds and then writes its artifacts.
pub(crate) const STOP_GRACE: Duration = Duration::from_secs(10);

/// Longest stdout line kept whole (longer ones are cut).
const MAX_LINE: u64 = 1 << 20;

/// Why a job could not be created (request errors; a job that cannot *run* is created
/// and fails instead).
#[derive(Debug, thiserror::Error)]
pub(crate) enum StartError {
    #[error("{0}")]
    BadRequest(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What to start.
#[derive(Debug, Clone, Default)]
pub(crate) struct StartRequest {
    pub(crate) id: Option<String>,
    pub(crate) profile_id: String,
    /// `server`, `client`, `tool` or `gateway`.
    pub(crate) profile_kind: String,
    pub(crate) scenario_id: String,
    pub(crate) record_wav: bool,
    pub(crate) record_wav_duplex: bool,
    pub(crate) engine: EngineOverrides,
    pub(crate) tool_args: serde_json::Map<String, serde_json::Value>,
    pub(crate) created_by: String,
}

/// What `delete` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Deleted {
    Done,
    NotFound,
    Running,
}

/// A job whose worker is alive.
pub(crate) struct RunningJob {
    pub(crate) id: String,
    pgid: u32,
    pub(crate) hub: Hub,
    stop_requested: AtomicBool,
    exited: Mutex<bool>,
    exited_cv: Condvar,
    latest_stats: Mutex<Option<Arc<serde_json::Value>>>,
    error: Mutex<Option<String>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Plain data behind each lock; a panic elsewhere cannot leave it torn.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl RunningJob {
    /// The newest `stats` line, parsed.
    pub(crate) fn latest_stats(&self) -> Option<Arc<serde_json::Value>> {
        lock(&self.latest_stats).clone()
    }

    /// Signals the group unless the worker has been reaped (so a recycled pid is never
    /// signalled).
    fn signal(&self, sig: Sig) -> bool {
        let exited = lock(&self.exited);
        !*exited && process::signal_group(self.pgid, sig)
    }
}

/// The supervisor. Shared by the request threads and the reader threads.
pub(crate) struct Supervisor {
    layout: Layout,
    db: Db,
    exe: PathBuf,
    stats_interval_ms: u64,
    running: Mutex<HashMap<String, Arc<RunningJob>>>,
    live_cache: Mutex<Option<(Instant, Arc<String>)>>,
}

fn now_text() -> String {
    timefmt::rfc3339(SystemTime::now())
}

/// A fresh job id: sortable time plus randomness.
fn new_job_id() -> String {
    let rand =
        crate::ui::auth::random_hex(3).unwrap_or_else(|_| format!("{:06x}", std::process::id()));
    format!("j-{}-{rand}", timefmt::compact(SystemTime::now()))
}

/// One job in a `/live` frame.
#[derive(Serialize)]
struct LiveJob<'a> {
    id: &'a str,
    status: &'a str,
    profile_id: &'a str,
    profile_kind: &'a str,
    scenario_id: &'a str,
    pid: Option<i64>,
    started_at: Option<&'a str>,
    finished_at: Option<&'a str>,
    exit_code: Option<i64>,
    error: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    stats: Option<&'a serde_json::Value>,
}

#[derive(Serialize)]
struct LiveFrame<'a> {
    ts: String,
    jobs: Vec<LiveJob<'a>>,
    counts: std::collections::BTreeMap<String, u64>,
    running: usize,
}

impl Supervisor {
    /// A supervisor with its own connection to `settings.sqlite`, forking `exe`.
    pub(crate) fn new(layout: Layout, exe: PathBuf) -> Result<Supervisor, StoreError> {
        let db = Db::open(&layout)?;
        Ok(Supervisor {
            layout,
            db,
            exe,
            stats_interval_ms: 1000,
            running: Mutex::new(HashMap::new()),
            live_cache: Mutex::new(None),
        })
    }

    pub(crate) fn running(&self, id: &str) -> Option<Arc<RunningJob>> {
        lock(&self.running).get(id).cloned()
    }

    /// `artifacts/jobs/<id>/`.
    pub(crate) fn artifacts_dir(&self, id: &str) -> Result<PathBuf, StoreError> {
        Ok(self.layout.path(Place::JobArtifacts(id))?)
    }

    fn spec_path(&self, id: &str) -> Result<PathBuf, StoreError> {
        Ok(self.layout.path(Place::Tmp(&format!("spec-{id}.json")))?)
    }

    /// Creates the job and starts its worker. A job that cannot run is returned
    /// `failed`, with the reason in `error`.
    pub(crate) fn start(self: &Arc<Self>, req: StartRequest) -> Result<Job, StartError> {
        let id = match req.id.as_deref().filter(|s| !s.is_empty()) {
            Some(id) => {
                check_name(id).map_err(|e| StartError::BadRequest(format!("id: {e}")))?;
                id.to_string()
            }
            None => new_job_id(),
        };
        let artifacts = self.artifacts_dir(&id)?;
        let args_json = if req.profile_kind == "tool" {
            serde_json::Value::Object(req.tool_args.clone()).to_string()
        } else {
            serde_json::to_string(&req.engine.redacted()).unwrap_or_else(|_| "{}".into())
        };
        let now = now_text();
        self.db.tx(|c| {
            jobs::insert(
                c,
                &NewJob {
                    id: &id,
                    profile_id: &req.profile_id,
                    profile_kind: &req.profile_kind,
                    scenario_id: &req.scenario_id,
                    args_json: &args_json,
                    artifacts_dir: &artifacts.display().to_string(),
                    created_at: &now,
                    created_by: &req.created_by,
                },
            )
        })?;
        let spec = WorkerSpec {
            job_id: id.clone(),
            data_dir: self.layout.root().to_path_buf(),
            profile_id: req.profile_id.clone(),
            profile_kind: req.profile_kind.clone(),
            scenario_id: req.scenario_id.clone(),
            tool_args: req.tool_args.clone(),
            artifacts_dir: artifacts.clone(),
            stats_interval_ms: self.stats_interval_ms,
            record_wav: req.record_wav,
            record_wav_duplex: req.record_wav_duplex,
            engine: req.engine.clone(),
        };
        if let Err(reason) = precheck(&spec) {
            self.fail_now(&id, &reason)?;
            return self.job(&id);
        }
        match self.spawn(&spec) {
            Ok(()) => {}
            Err(reason) => self.fail_now(&id, &reason)?,
        }
        self.job(&id)
    }

    fn job(&self, id: &str) -> Result<Job, StartError> {
        self.db
            .read(|c| jobs::by_id(c, id))?
            .ok_or_else(|| StartError::Store(StoreError::NotFound(format!("job \"{id}\""))))
    }

    fn fail_now(&self, id: &str, reason: &str) -> Result<(), StoreError> {
        let now = now_text();
        self.db
            .tx(|c| jobs::finish(c, id, "failed", None, reason, &now))?;
        self.invalidate_live();
        Ok(())
    }

    /// Writes the spec, creates the artifacts folder and forks the worker.
    fn spawn(self: &Arc<Self>, spec: &WorkerSpec) -> Result<(), String> {
        let id = spec.job_id.as_str();
        let dir = &spec.artifacts_dir;
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create the artifacts folder: {e}"))?;
        let spec_path = self.spec_path(id).map_err(|e| e.to_string())?;
        let text =
            serde_json::to_vec_pretty(spec).map_err(|e| format!("cannot encode the spec: {e}"))?;
        write_atomic(&self.layout, &spec_path, &text)
            .map_err(|e| format!("cannot write the spec: {e}"))?;
        let stats = std::fs::File::create(dir.join(files::STATS))
            .map_err(|e| format!("cannot create stats.jsonl: {e}"))?;
        let log = std::fs::File::create(dir.join(files::LOG))
            .map_err(|e| format!("cannot create worker.log: {e}"))?;
        let mut child = match process::spawn_worker(&self.exe, &spec_path, log) {
            Ok(c) => c,
            Err(e) => {
                let _ = std::fs::remove_file(&spec_path);
                return Err(format!(
                    "cannot start the worker ({}): {e}",
                    self.exe.display()
                ));
            }
        };
        let pid = child.id();
        let Some(stdout) = child.stdout.take() else {
            let _ = child.kill();
            let _ = child.wait();
            return Err("the worker has no stdout pipe".into());
        };
        let job = Arc::new(RunningJob {
            id: id.to_string(),
            pgid: pid,
            hub: Hub::new(Some(stats), 0),
            stop_requested: AtomicBool::new(false),
            exited: Mutex::new(false),
            exited_cv: Condvar::new(),
            latest_stats: Mutex::new(None),
            error: Mutex::new(None),
        });
        lock(&self.running).insert(id.to_string(), Arc::clone(&job));
        let started = now_text();
        if let Err(e) = self.db.tx(|c| jobs::set_running(c, id, pid, &started)) {
            eprintln!("gossipper ui: job {id}: {e}");
        }
        self.invalidate_live();
        let sup = Arc::clone(self);
        let spawned = std::thread::Builder::new()
            .name(format!("job-{id}"))
            .spawn(move || sup.read_worker(job, child, stdout, spec_path));
        if let Err(e) = spawned {
            // Without a reader nobody would reap it: stop it now.
            process::signal_group(pid, Sig::Kill);
            lock(&self.running).remove(id);
            return Err(format!("cannot start the reader thread: {e}"));
        }
        Ok(())
    }

    /// The reader thread: lines until end of stream, then the final state.
    fn read_worker(
        &self,
        job: Arc<RunningJob>,
        mut child: Child,
        stdout: std::process::ChildStdout,
        spec_path: PathBuf,
    ) {
        let mut reader = BufReader::new(stdout);
        let mut buf = Vec::with_capacity(4096);
        let mut exit_error: Option<String> = None;
        loop {
            buf.clear();
            match (&mut reader).take(MAX_LINE).read_until(b'\n', &mut buf) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) => {
                    eprintln!("gossipper ui: job {}: reading the worker: {e}", job.id);
                    break;
                }
            }
            if buf.last() != Some(&b'\n') && buf.len() as u64 >= MAX_LINE {
                // Skip the rest of an over-long line.
                let mut sink = Vec::new();
                let _ = (&mut reader)
                    .take(MAX_LINE * 64)
                    .read_until(b'\n', &mut sink);
            }
            let line = String::from_utf8_lossy(&buf);
            let line = line.trim_end_matches(['\n', '\r']);
            if line.is_empty() {
                continue;
            }
            job.hub.publish(line);
            if let Ok(v) = serde_json::from_str::<serde_json::Value>(line) {
                match v.get("kind").and_then(serde_json::Value::as_str) {
                    Some("stats") => *lock(&job.latest_stats) = Some(Arc::new(v)),
                    Some("error") => {
                        if let Some(e) = v.get("error").and_then(serde_json::Value::as_str) {
                            *lock(&job.error) = Some(e.to_string());
                        }
                    }
                    Some("exit") => {
                        exit_error = v
                            .get("error")
                            .and_then(serde_json::Value::as_str)
                            .map(str::to_string);
                    }
                    _ => {}
                }
            }
        }
        let status = {
            let mut exited = lock(&job.exited);
            let status = child.wait();
            *exited = true;
            job.exited_cv.notify_all();
            status
        };
        let error = lock(&job.error).clone().or(exit_error);
        self.finalize(&job, status, error);
        let _ = std::fs::remove_file(&spec_path);
    }

    fn finalize(
        &self,
        job: &RunningJob,
        status: std::io::Result<ExitStatus>,
        error: Option<String>,
    ) {
        use std::os::unix::process::ExitStatusExt;
        let (state, code, mut text) = match &status {
            Ok(s) if s.success() => ("succeeded", Some(0), String::new()),
            Ok(s) => match (s.code(), s.signal()) {
                (Some(c), _) => (
                    "failed",
                    Some(i64::from(c)),
                    format!("worker exited with code {c}"),
                ),
                (None, Some(sig)) => ("failed", None, format!("worker killed by signal {sig}")),
                _ => ("failed", None, "worker ended".to_string()),
            },
            Err(e) => ("failed", None, format!("cannot reap the worker: {e}")),
        };
        if let Some(e) = error {
            text = e;
        }
        let stopped = job.stop_requested.load(Ordering::Relaxed);
        if stopped && state == "failed" && text.starts_with("worker killed") {
            text = format!("stopped; {text} after the grace period");
        }
        if state == "succeeded" {
            text.clear();
        }
        let dir = self.artifacts_dir(&job.id).ok();
        let now = now_text();
        let result = self.db.tx(|c| {
            if let Some(dir) = &dir {
                register_artifacts(c, &job.id, dir, &now)?;
            }
            jobs::finish(c, &job.id, state, code, &text, &now)
        });
        if let Err(e) = result {
            eprintln!(
                "gossipper ui: job {}: recording the final state: {e}",
                job.id
            );
        }
        job.hub.close();
        lock(&self.running).remove(&job.id);
        self.invalidate_live();
    }

    /// Stops a job: SIGTERM to its group now, SIGKILL after [`STOP_GRACE`]. Returns the
    /// row (marked `stopped`); `None` if the job does not exist.
    pub(crate) fn stop(&self, id: &str) -> Result<Option<Job>, StoreError> {
        let Some(row) = self.db.read(|c| jobs::by_id(c, id))? else {
            return Ok(None);
        };
        if !matches!(row.status.as_str(), "pending" | "running") {
            return Ok(Some(row));
        }
        self.db.tx(|c| jobs::set_stopped(c, id))?;
        match self.running(id) {
            Some(job) => {
                job.stop_requested.store(true, Ordering::Relaxed);
                job.signal(Sig::Term);
                let killer = Arc::clone(&job);
                let spawned = std::thread::Builder::new()
                    .name(format!("stop-{id}"))
                    .spawn(move || {
                        let exited = lock(&killer.exited);
                        let (exited, _) = killer
                            .exited_cv
                            .wait_timeout_while(exited, STOP_GRACE, |e| !*e)
                            .unwrap_or_else(|p| p.into_inner());
                        if !*exited {
                            drop(exited);
                            eprintln!(
                                "gossipper ui: job {}: no exit after SIGTERM; sending SIGKILL",
                                killer.id
                            );
                            killer.signal(Sig::Kill);
                        }
                    });
                if spawned.is_err() {
                    job.signal(Sig::Kill);
                }
            }
            None => {
                // No worker (it never started): the stop is final now.
                let now = now_text();
                self.db
                    .tx(|c| jobs::finish(c, id, "stopped", None, "", &now))?;
            }
        }
        self.invalidate_live();
        self.db.read(|c| jobs::by_id(c, id))
    }

    /// Subscribes to a running job's lines.
    pub(crate) fn subscribe(&self, id: &str) -> Option<Subscription> {
        self.running(id)?.hub.subscribe()
    }

    /// Called once at start: settles jobs a previous master left unfinished.
    pub(crate) fn recover(&self) -> Result<usize, StoreError> {
        let rows = self.db.read(jobs::unfinished)?;
        for row in &rows {
            let pid = row.pid.and_then(|p| u32::try_from(p).ok());
            if let Some(pid) = pid
                && process::is_worker_for(pid, &row.id)
            {
                eprintln!(
                    "gossipper ui: job {}: stopping worker {pid} left by the previous master",
                    row.id
                );
                process::signal_group(pid, Sig::Term);
                let deadline = Instant::now() + Duration::from_secs(6);
                while process::is_worker_for(pid, &row.id) && Instant::now() < deadline {
                    std::thread::sleep(Duration::from_millis(50));
                }
                if process::is_worker_for(pid, &row.id) {
                    process::signal_group(pid, Sig::Kill);
                }
            }
            let dir = self.artifacts_dir(&row.id).ok();
            let now = now_text();
            let (state, error) = if row.status == "stopped" {
                ("stopped", row.error.clone())
            } else {
                ("failed", "master restarted".to_string())
            };
            self.db.tx(|c| {
                if let Some(dir) = &dir {
                    register_artifacts(c, &row.id, dir, &now)?;
                }
                jobs::finish(c, &row.id, state, row.exit_code, &error, &now)
            })?;
            if let Ok(p) = self.spec_path(&row.id) {
                let _ = std::fs::remove_file(p);
            }
        }
        Ok(rows.len())
    }

    fn invalidate_live(&self) {
        *lock(&self.live_cache) = None;
    }

    /// The `/live` frame: job counts, the newest 200 jobs, and each running job's latest
    /// stats. Built at most every `max_age`, so many subscribers cost one query.
    pub(crate) fn live_frame(&self, max_age: Duration) -> Result<Arc<String>, StoreError> {
        let mut cache = lock(&self.live_cache);
        if let Some((at, frame)) = cache.as_ref()
            && at.elapsed() < max_age
        {
            return Ok(Arc::clone(frame));
        }
        let (rows, counts) = self
            .db
            .read(|c| Ok((jobs::page(c, 200, 0, None)?, jobs::counts(c)?)))?;
        let running = lock(&self.running).clone();
        let stats: Vec<Option<Arc<serde_json::Value>>> = rows
            .iter()
            .map(|j| running.get(&j.id).and_then(|r| r.latest_stats()))
            .collect();
        let frame = LiveFrame {
            ts: now_text(),
            jobs: rows
                .iter()
                .zip(&stats)
                .map(|(j, stats)| LiveJob {
                    id: &j.id,
                    status: &j.status,
                    profile_id: &j.profile_id,
                    profile_kind: &j.profile_kind,
                    scenario_id: &j.scenario_id,
                    pid: j.pid,
                    started_at: j.started_at.as_deref(),
                    finished_at: j.finished_at.as_deref(),
                    exit_code: j.exit_code,
                    error: &j.error,
                    stats: stats.as_deref(),
                })
                .collect(),
            counts: counts.into_iter().collect(),
            running: running.len(),
        };
        let text = Arc::new(serde_json::to_string(&frame).unwrap_or_else(|_| "{}".into()));
        *cache = Some((Instant::now(), Arc::clone(&text)));
        Ok(text)
    }

    /// Deletes a finished job and its artifacts folder.
    pub(crate) fn delete(&self, id: &str) -> Result<Deleted, StoreError> {
        if self.running(id).is_some() {
            return Ok(Deleted::Running);
        }
        if !self.db.tx(|c| jobs::delete(c, id))? {
            return Ok(Deleted::NotFound);
        }
        if let Ok(dir) = self.artifacts_dir(id) {
            let _ = std::fs::remove_dir_all(dir);
        }
        self.invalidate_live();
        Ok(Deleted::Done)
    }
}

/// The engine configuration and the scenario must load before a worker is forked.
fn precheck(spec: &WorkerSpec) -> Result<(), String> {
    match spec.profile_kind.as_str() {
        "tool" => crate::worker::tools::check(&spec.profile_id, &spec.tool_args)
            .map_err(|e| e.to_string()),
        _ => {
            let built = crate::worker::build_config(spec, 0).map_err(|e| e.to_string())?;
            gossipper_engine::runner::load_scenario(&built.job)
                .map(drop)
                .map_err(|e| match e {
                    gossipper_engine::runner::RunError::Scenario(errs) => errs
                        .0
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join("; "),
                    other => other.to_string(),
                })
        }
    }
}

/// Registers the files a job left: stats, log, summary, call records, report, recordings.
fn register_artifacts(
    c: &rusqlite::Connection,
    id: &str,
    dir: &Path,
    now: &str,
) -> Result<(), StoreError> {
    let fixed = [
        ("stats", files::STATS),
        ("log", files::LOG),
        ("summary", files::SUMMARY),
        ("call_records", files::CALL_RECORDS),
        ("report_html", files::REPORT_HTML),
    ];
    for (kind, name) in fixed {
        let p = dir.join(name);
        if let Ok(m) = std::fs::metadata(&p)
            && m.is_file()
        {
            jobs::add_artifact(c, id, kind, &p.display().to_string(), m.len(), now)?;
        }
    }
    if let Ok(entries) = std::fs::read_dir(dir.join(files::RECORDINGS)) {
        for e in entries.flatten() {
            let p = e.path();
            if p.extension().is_some_and(|x| x == "wav")
                && let Ok(m) = e.metadata()
            {
                jobs::add_artifact(c, id, "recording", &p.display().to_string(), m.len(), now)?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
