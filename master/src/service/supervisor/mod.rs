//! The supervisor: forks one `gossipper worker --spec` per job, owns its process group,
//! tees its stdout into `stats.jsonl` and live subscribers, and records the final state.
//!
//! Owns: job rows from `pending` to `succeeded` / `failed` / `stopped`, the spec files in
//! `tmp/`, the cap on jobs running at once (`admission`), and one reader thread per
//! running job (STYLE.md §9), which reads the worker's JSON lines, publishes them
//! through the job's [`hub::Hub`], copies its stderr into `worker.log` up to a cap
//! (`log`), and, once both pipes have ended, reaps the worker, registers the artifacts
//! and writes the final row, in one transaction. So a final status (`stopped` included)
//! is only ever seen after the worker process is gone and with its artifacts listed. A
//! stop marks the row `stopping` and sends SIGTERM to the group, then SIGKILL after
//! [`STOP_GRACE`]. On start ([`Supervisor::recover`]), jobs a previous master left
//! running are stopped if their worker survived and marked failed ("master restarted");
//! their artifacts are kept and registered.
//!
//! A job is resolved once: the master resolves the request into the job's spec file
//! (`resolve`), checks that very configuration (`precheck`), writes it into the job's
//! folder (`artifacts/jobs/<id>/spec.json`, 0600, atomically, kept with the artifacts)
//! and forks `gossipper worker --spec` on it. A job that cannot run fails at once with
//! the reason in its row; a request the rules refuse creates no job at all. Starting is
//! two steps, [`Supervisor::prepare`] (admit, resolve, check) and
//! [`Supervisor::launch`] (create the row, write the spec, fork), so a caller may refuse
//! a checked job before it exists (the load-test wizard). Must not: parse HTTP or decide
//! access (the api does).

pub(crate) mod admission;
pub(crate) mod hub;
mod log;
mod precheck;
mod process;
mod reader;

pub(crate) use admission::JobLimits;
pub(crate) use log::DEFAULT_MAX_LOG_BYTES;
pub(crate) use precheck::{CheckError, Checked};

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

use serde::Serialize;

use crate::job::files;
use crate::job::line::WorkerLine;
use crate::job::spec::JobFile;
use crate::service::paths::{Layout, Place, check_name};
use crate::service::resolve::JobPlace;
use crate::service::resolve::request::StartRequest;
use crate::service::store::db::Db;
use crate::service::store::files::{create_private, create_private_dir, write_atomic};
use crate::service::store::jobs::{self, Job, JobStatus, NewJob, ProfileKind};
use crate::service::store::{Store, StoreError};
use crate::service::timefmt;
use admission::{Places, Refusal};
use hub::{Hub, Subscription};
use precheck::precheck;

use crate::job::kube::{self, Cluster};

/// A cluster job's token for its pods' lines: 32 random bytes, hex.
fn job_token() -> String {
    let mut b = [0u8; 32];
    if getrandom::getrandom(&mut b).is_err() {
        // No OS randomness: a token no one can guess cannot be made; an empty one
        // opens nothing (the route refuses an empty bearer).
        return String::new();
    }
    b.iter().map(|x| format!("{x:02x}")).collect()
}
use process::Sig;
use reader::{Found, Pipes, collect_artifacts, outcome, read_lines};

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
    /// The check refused the request ([`CheckError::refuses`]).
    #[error(transparent)]
    Rejected(CheckError),
    /// Not admitted: too many jobs running (or this id is already starting).
    #[error(transparent)]
    Refused(#[from] Refusal),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The supervisor's limits (`gossipper ui` flags).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Limits {
    pub(crate) jobs: JobLimits,
    /// Bytes of a worker's stderr kept in `worker.log`.
    pub(crate) max_log_bytes: u64,
    /// How long a stopped worker may take before SIGKILL ([`STOP_GRACE`]; tests shorten
    /// it).
    pub(crate) stop_grace: Duration,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            jobs: JobLimits::default(),
            max_log_bytes: DEFAULT_MAX_LOG_BYTES,
            stop_grace: STOP_GRACE,
        }
    }
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
    latest_stats: Mutex<Option<Arc<WorkerLine>>>,
    error: Mutex<Option<String>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Plain data behind each lock; a panic elsewhere cannot leave it torn.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl RunningJob {
    /// The newest `stats` line.
    pub(crate) fn latest_stats(&self) -> Option<Arc<WorkerLine>> {
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
    max_log_bytes: u64,
    stop_grace: Duration,
    /// Starting and running jobs. Held while a job's row moves to running, to stopping,
    /// or to its final state, so those moves and the places agree.
    places: Mutex<Places<RunningJob>>,
    live_cache: Mutex<Option<(Instant, Arc<String>)>>,
    /// The cluster jobs may run on (`gossipper ui --kubernetes…`, issue 20).
    kube: Option<Cluster>,
}

/// A job's place, from admission until its worker runs (then the reader thread owns the
/// place) or until it is settled without one. Dropped unsettled (an early error), it
/// frees the place.
struct Admitted<'a> {
    sup: &'a Supervisor,
    id: String,
    armed: bool,
}

impl Admitted<'_> {
    /// The place now belongs to a running worker or was freed by a settle.
    fn disarm(mut self) {
        self.armed = false;
    }
}

impl Drop for Admitted<'_> {
    fn drop(&mut self) {
        if self.armed {
            lock(&self.sup.places).release(&self.id);
        }
    }
}

/// A fresh seed for a job whose request names none (written into its spec, so a run
/// can be replayed).
fn random_seed() -> u64 {
    let mut b = [0u8; 8];
    match getrandom::getrandom(&mut b) {
        Ok(()) => u64::from_le_bytes(b),
        Err(_) => SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64),
    }
}

fn now_text() -> String {
    timefmt::rfc3339(SystemTime::now())
}

/// A job admitted, resolved and checked, not yet created: [`Supervisor::launch`] creates
/// it (and forks its worker when the check passed). Dropped, it frees its place and
/// leaves nothing behind.
pub(crate) struct Pending<'a> {
    admitted: Admitted<'a>,
    req: StartRequest,
    artifacts: PathBuf,
    /// The resolved spec and what the check found, or why the job may not start.
    pub(crate) checked: Result<Checked, CheckError>,
}

/// A fresh job id: sortable time plus randomness.
fn new_job_id() -> String {
    let rand = crate::service::auth::random_hex(3)
        .unwrap_or_else(|_| format!("{:06x}", std::process::id()));
    format!("j-{}-{rand}", timefmt::compact(SystemTime::now()))
}

/// The jobs as `/metrics` shows them ([`Supervisor::metrics_view`]).
pub(crate) struct MetricsView {
    /// Every state's word and how many jobs are in it.
    pub(crate) by_status: Vec<(&'static str, u64)>,
    /// Each job with a worker and a stats line: its row and that line.
    pub(crate) running: Vec<(Job, Arc<WorkerLine>)>,
}

/// One job in a `/live` frame.
#[derive(Serialize)]
struct LiveJob<'a> {
    id: &'a str,
    status: JobStatus,
    profile_id: &'a str,
    profile_kind: ProfileKind,
    scenario_id: &'a str,
    pid: Option<i64>,
    started_at: Option<&'a str>,
    finished_at: Option<&'a str>,
    exit_code: Option<i64>,
    error: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    stats: Option<&'a WorkerLine>,
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
    pub(crate) fn new(
        layout: Layout,
        exe: PathBuf,
        limits: Limits,
    ) -> Result<Supervisor, StoreError> {
        let db = Db::open(&layout)?;
        Ok(Supervisor {
            layout,
            db,
            exe,
            stats_interval_ms: 1000,
            max_log_bytes: limits.max_log_bytes,
            stop_grace: limits.stop_grace,
            places: Mutex::new(Places::new(limits.jobs)),
            live_cache: Mutex::new(None),
            kube: None,
        })
    }

    /// Lets jobs run on `cluster` (`"kubernetes"` in a start request).
    pub(crate) fn set_kubernetes(&mut self, cluster: Option<Cluster>) {
        self.kube = cluster;
    }

    pub(crate) fn running(&self, id: &str) -> Option<Arc<RunningJob>> {
        lock(&self.places).running(id)
    }

    /// `artifacts/jobs/<id>/`.
    pub(crate) fn artifacts_dir(&self, id: &str) -> Result<PathBuf, StoreError> {
        Ok(self.layout.path(Place::JobArtifacts(id))?)
    }

    /// `artifacts/jobs/<id>/spec.json`: the resolved job the worker runs.
    pub(crate) fn spec_path(&self, id: &str) -> Result<PathBuf, StoreError> {
        Ok(self.layout.path(Place::JobSpec(id))?)
    }

    /// Creates the job and starts its worker. A job that cannot run is returned
    /// `failed`, with the reason in `error`. Over the cap on running jobs it is refused
    /// ([`StartError::Refused`]) before anything is created, and so is a request the
    /// rules refuse ([`StartError::Rejected`]).
    pub(crate) fn start(
        self: &Arc<Self>,
        store: &Store,
        req: StartRequest,
    ) -> Result<Job, StartError> {
        let pending = self.prepare(store, req)?;
        match pending.checked {
            Err(e) if e.refuses() => Err(StartError::Rejected(e)),
            _ => self.launch(pending),
        }
    }

    /// Admits a job and resolves and checks it, creating nothing: a taken or bad id is
    /// refused, then a start over the cap, then the request is resolved once with a
    /// fresh seed (unless it names one) and checked.
    pub(crate) fn prepare(
        &self,
        store: &Store,
        req: StartRequest,
    ) -> Result<Pending<'_>, StartError> {
        let id = match req.id.as_deref().filter(|s| !s.is_empty()) {
            Some(id) => {
                check_name(id).map_err(|e| StartError::BadRequest(format!("id: {e}")))?;
                id.to_string()
            }
            None => new_job_id(),
        };
        let artifacts = self.artifacts_dir(&id)?;
        // A taken id is refused first, so the check never reads another job's folder as
        // this job's own.
        if matches!(self.db.read(|c| jobs::by_id(c, &id)), Ok(Some(_))) {
            return Err(StoreError::Conflict(format!("job \"{id}\"")).into());
        }
        lock(&self.places).admit(&id, &req.created_by)?;
        let admitted = Admitted {
            sup: self,
            id,
            armed: true,
        };
        let place = JobPlace {
            id: admitted.id.clone(),
            artifacts_dir: artifacts.clone(),
        };
        let checked = precheck(store, &req, &place, random_seed()).and_then(|mut c| {
            c.file.stats_interval_ms = self.stats_interval_ms;
            if let Some(k) = &req.kubernetes {
                let root = self.layout.root().to_path_buf();
                // Only names media_refs found ([A-Za-z0-9._-], never . or ..) under
                // media/wav or media/pcap: no path leaves the library.
                let size_of = |rel: &str| {
                    std::fs::metadata(root.join(rel))
                        .ok()
                        .filter(std::fs::Metadata::is_file)
                        .map(|m| m.len())
                };
                let spec = kube::plan(self.kube.as_ref(), k, &c.file, job_token(), &size_of)
                    .map_err(CheckError::Workers)?;
                c.file.kubernetes = Some(spec);
            }
            Ok(c)
        });
        Ok(Pending {
            admitted,
            req,
            artifacts,
            checked,
        })
    }

    /// Creates a prepared job: its row, then (when its check passed) its spec file and
    /// its worker; otherwise the row fails at once with the reason.
    pub(crate) fn launch(self: &Arc<Self>, pending: Pending<'_>) -> Result<Job, StartError> {
        let Pending {
            admitted,
            req,
            artifacts,
            checked,
        } = pending;
        let id = admitted.id.clone();
        let args_json = if req.profile_kind == ProfileKind::Tool {
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
                    profile_kind: req.profile_kind,
                    scenario_id: &req.scenario_id,
                    args_json: &args_json,
                    artifacts_dir: &artifacts.display().to_string(),
                    created_at: &now,
                    created_by: &req.created_by,
                    name: &req.name,
                    notes: &req.notes,
                },
            )
        })?;
        let started = checked
            .map_err(|e| e.to_string())
            .and_then(|c| self.spawn(&c.file));
        match started {
            // The reader thread owns the place now.
            Ok(()) => admitted.disarm(),
            Err(reason) => {
                let settled = self.settle(&id, JobStatus::Failed, None, &reason, &[]);
                admitted.disarm();
                settled?;
            }
        }
        self.job(&id)
    }

    fn job(&self, id: &str) -> Result<Job, StartError> {
        self.db
            .read(|c| jobs::by_id(c, id))?
            .ok_or_else(|| StartError::Store(StoreError::NotFound(format!("job \"{id}\""))))
    }

    /// Writes a job's final row (with its artifacts) and frees its place, both under the
    /// places lock: a caller who has seen the final state finds the place free.
    fn settle(
        &self,
        id: &str,
        state: JobStatus,
        code: Option<i64>,
        error: &str,
        artifacts: &[Found],
    ) -> Result<(), StoreError> {
        let now = now_text();
        let result = {
            let mut places = lock(&self.places);
            let result = self.db.tx(|c| {
                for a in artifacts {
                    jobs::add_artifact(c, id, a.kind, &a.path, a.size_bytes, &now)?;
                }
                jobs::finish(c, id, state, code, error, &now)
            });
            places.release(id);
            result
        };
        self.invalidate_live();
        result
    }

    /// Creates the artifacts folder, writes the spec into it and forks the worker.
    fn spawn(self: &Arc<Self>, spec: &JobFile) -> Result<(), String> {
        let id = spec.job_id.as_str();
        let dir = &spec.artifacts_dir;
        create_private_dir(dir).map_err(|e| format!("cannot create the artifacts folder: {e}"))?;
        let spec_path = self.spec_path(id).map_err(|e| e.to_string())?;
        let text = spec
            .to_json()
            .map_err(|e| format!("cannot encode the spec: {e}"))?;
        write_atomic(&self.layout, &spec_path, &text)
            .map_err(|e| format!("cannot write the spec: {e}"))?;
        let stats = create_private(&dir.join(files::STATS))
            .map_err(|e| format!("cannot create stats.jsonl: {e}"))?;
        let log = create_private(&dir.join(files::LOG))
            .map_err(|e| format!("cannot create worker.log: {e}"))?;
        let mut child = match process::spawn_worker(&self.exe, &spec_path) {
            Ok(c) => c,
            Err(e) => {
                return Err(format!(
                    "cannot start the worker ({}): {e}",
                    self.exe.display()
                ));
            }
        };
        let pid = child.id();
        let (Some(stdout), Some(stderr)) = (child.stdout.take(), child.stderr.take()) else {
            let _ = child.kill();
            let _ = child.wait();
            return Err("the worker has no stdout or stderr pipe".into());
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
        let started = now_text();
        let running = {
            let mut places = lock(&self.places);
            places.launch(id, Arc::clone(&job));
            self.db.tx(|c| jobs::set_running(c, id, pid, &started))
        };
        match running {
            Ok(true) => {}
            // A stop came while the worker was being started.
            Ok(false) => self.terminate(&job),
            Err(e) => eprintln!("gossipper ui: job {id}: {e}"),
        }
        self.invalidate_live();
        let sup = Arc::clone(self);
        let pipes = Pipes {
            child,
            stdout,
            stderr,
            log,
        };
        let spawned = std::thread::Builder::new()
            .name(format!("job-{id}"))
            .spawn(move || sup.read_worker(job, pipes));
        if let Err(e) = spawned {
            // Without a reader nobody would reap it: stop it now.
            process::signal_group(pid, Sig::Kill);
            return Err(format!("cannot start the reader thread: {e}"));
        }
        Ok(())
    }

    /// The reader thread: the worker's lines until end of stream (its stderr copied into
    /// `worker.log` beside), then, with the worker reaped and both pipes ended, the
    /// artifacts and the final state in one write.
    fn read_worker(&self, job: Arc<RunningJob>, pipes: Pipes) {
        let Pipes {
            mut child,
            stdout,
            stderr,
            log,
        } = pipes;
        let cap = self.max_log_bytes;
        let (status, error) = std::thread::scope(|s| {
            let copier = std::thread::Builder::new()
                .name(format!("log-{}", job.id))
                .spawn_scoped(s, move || log::copy_capped(stderr, log, cap));
            let mut failure = None;
            if copier.is_err() {
                // Its stderr is closed: stop it rather than let it run without a log.
                job.signal(Sig::Kill);
                failure = Some("cannot start the worker.log thread; the worker was killed".into());
            }
            let exit_error = read_lines(&job, stdout);
            let status = {
                let mut exited = lock(&job.exited);
                let status = child.wait();
                *exited = true;
                job.exited_cv.notify_all();
                status
            };
            let error = failure.or_else(|| lock(&job.error).clone()).or(exit_error);
            (status, error)
            // The scope joins the copier here: worker.log is complete.
        });
        let stopped = job.stop_requested.load(Ordering::Relaxed);
        let (state, code, text) = outcome(&status, error, stopped);
        let found = self
            .artifacts_dir(&job.id)
            .map(|d| collect_artifacts(&d))
            .unwrap_or_default();
        if let Err(e) = self.settle(&job.id, state, code, &text, &found) {
            eprintln!(
                "gossipper ui: job {}: recording the final state: {e}",
                job.id
            );
        }
        job.hub.close();
    }

    /// Asks a running job's worker to stop: SIGTERM to its group now, SIGKILL after
    /// the stop grace ([`STOP_GRACE`]) if it has not exited by then.
    fn terminate(&self, job: &Arc<RunningJob>) {
        job.stop_requested.store(true, Ordering::Relaxed);
        job.signal(Sig::Term);
        let grace = self.stop_grace;
        let killer = Arc::clone(job);
        let spawned = std::thread::Builder::new()
            .name(format!("stop-{}", job.id))
            .spawn(move || {
                let exited = lock(&killer.exited);
                let (exited, _) = killer
                    .exited_cv
                    .wait_timeout_while(exited, grace, |e| !*e)
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

    /// Stops a job: marks it `stopping` and sends SIGTERM to its group (SIGKILL after
    /// [`STOP_GRACE`]). The row turns `stopped` only when the worker has exited and its
    /// artifacts are registered. Returns the row; `None` if the job does not exist.
    pub(crate) fn stop(&self, id: &str) -> Result<Option<Job>, StoreError> {
        let Some(row) = self.db.read(|c| jobs::by_id(c, id))? else {
            return Ok(None);
        };
        if !matches!(row.status, JobStatus::Pending | JobStatus::Running) {
            return Ok(Some(row));
        }
        let job = {
            let places = lock(&self.places);
            if let Some(job) = places.running(id) {
                self.db.tx(|c| jobs::set_stopping(c, id))?;
                Some(job)
            } else if places.is_starting(id) {
                // Its start sees the mark when it records the worker, and stops it then.
                self.db.tx(|c| jobs::set_stopping(c, id))?;
                None
            } else {
                // No worker and none coming: the stop is final now.
                let now = now_text();
                self.db.tx(|c| jobs::stop_without_worker(c, id, &now))?;
                None
            }
        };
        // The reply is read before the signal goes out: a worker that exits at once
        // would otherwise race this read, and the reply would say `stopped` one time
        // and `stopping` the next. A stop's reply says `stopping` while a worker runs;
        // the final status follows when it has exited.
        let reply = self.db.read(|c| jobs::by_id(c, id));
        if let Some(job) = job {
            self.terminate(&job);
        }
        self.invalidate_live();
        reply
    }

    /// Ends every job before the master exits (SIGTERM or SIGINT): no new job is
    /// admitted, each starting or running job is stopped as `POST /jobs/{id}/stop` would
    /// (SIGTERM to its worker's group, SIGKILL after the stop grace), and this waits
    /// until every worker has exited and its row and artifacts are final, or `wait` has
    /// passed. Without it a master stopped by systemd or Kubernetes would leave its
    /// workers sending load to the system under test with no one left to stop them
    /// ([`recover`](Self::recover) only reaches them at the next start). Returns the
    /// jobs still unsettled at the end (0 when all ended in time).
    pub(crate) fn shutdown(&self) -> usize {
        // The grace, then time for the reader threads to reap and record.
        let wait = self.stop_grace + Duration::from_secs(5);
        let ids: Vec<String> = {
            let mut places = lock(&self.places);
            places.close();
            let mut ids: Vec<String> = places.running_jobs().into_keys().collect();
            ids.extend(places.starting_ids());
            ids
        };
        for id in &ids {
            if let Err(e) = self.stop(id) {
                eprintln!("gossipper ui: job {id}: stopping at shutdown: {e}");
            }
        }
        let deadline = Instant::now() + wait;
        loop {
            let left = lock(&self.places).occupied();
            if left == 0 || Instant::now() >= deadline {
                return left;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
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
            let (state, error) = if matches!(row.status, JobStatus::Stopped | JobStatus::Stopping) {
                (JobStatus::Stopped, row.error.clone())
            } else {
                (JobStatus::Failed, "master restarted".to_string())
            };
            let found = dir.map(|d| collect_artifacts(&d)).unwrap_or_default();
            self.db.tx(|c| {
                for a in &found {
                    jobs::add_artifact(c, &row.id, a.kind, &a.path, a.size_bytes, &now)?;
                }
                jobs::finish(c, &row.id, state, row.exit_code, &error, &now)
            })?;
            // A master before the spec moved into the job's folder left it in tmp/.
            if let Ok(p) = self
                .layout
                .path(Place::Tmp(&format!("spec-{}.json", row.id)))
            {
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
        let running = lock(&self.places).running_jobs();
        let stats: Vec<Option<Arc<WorkerLine>>> = rows
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
                    status: j.status,
                    profile_id: &j.profile_id,
                    profile_kind: j.profile_kind,
                    scenario_id: &j.scenario_id,
                    pid: j.pid,
                    started_at: j.started_at.as_deref(),
                    finished_at: j.finished_at.as_deref(),
                    exit_code: j.exit_code,
                    error: &j.error,
                    stats: stats.as_deref(),
                })
                .collect(),
            counts: counts
                .into_iter()
                .map(|(s, n)| (s.as_str().to_string(), n))
                .collect(),
            running: running.len(),
        };
        let text = Arc::new(serde_json::to_string(&frame).unwrap_or_else(|_| "{}".into()));
        *cache = Some((Instant::now(), Arc::clone(&text)));
        Ok(text)
    }

    /// What `/metrics` shows: how many jobs are in each state (every state, zeros
    /// included), and each job that has a worker with its row and newest stats line
    /// (jobs that have written none yet are left out), ordered by id.
    pub(crate) fn metrics_view(&self) -> Result<MetricsView, StoreError> {
        let mut running: Vec<(String, Arc<RunningJob>)> =
            lock(&self.places).running_jobs().into_iter().collect();
        running.sort_by(|a, b| a.0.cmp(&b.0));
        let (counts, rows) = self.db.read(|c| {
            let counts = jobs::counts(c)?;
            let mut rows = Vec::with_capacity(running.len());
            for (id, job) in &running {
                if let (Some(row), Some(stats)) = (jobs::by_id(c, id)?, job.latest_stats()) {
                    rows.push((row, stats));
                }
            }
            Ok((counts, rows))
        })?;
        let by_status = JobStatus::ALL
            .iter()
            .map(|s| {
                let n = counts.iter().find(|(c, _)| c == s).map_or(0, |(_, n)| *n);
                (s.as_str(), n)
            })
            .collect();
        Ok(MetricsView {
            by_status,
            running: rows,
        })
    }

    /// Deletes a finished job and its artifacts folder.
    pub(crate) fn delete(&self, id: &str) -> Result<Deleted, StoreError> {
        {
            let places = lock(&self.places);
            if places.running(id).is_some() || places.is_starting(id) {
                return Ok(Deleted::Running);
            }
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

#[cfg(test)]
mod tests;
