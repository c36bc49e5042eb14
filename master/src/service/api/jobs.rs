//! Jobs: `GET /jobs` (paged), `POST /jobs`, `GET/PATCH/DELETE /jobs/{id}` (PATCH sets
//! the job's `name` and `notes`), `POST /jobs/{id}/stop`, `GET /jobs/{id}/artifacts/{kind}`,
//! `GET /jobs/{id}/recordings[/{name}]`, and the profile shortcuts
//! `POST /servers|clients/{id}/start|stop`.
//!
//! Owns: the request shapes of gossipper-reference.md §5.5 (unknown fields, including
//! unknown `engine` override keys, are a 400). Handlers check the request and the
//! profile, then hand the job to the supervisor; a job that cannot run comes back
//! `failed` with its reason in `error`. Must not: fork or signal (the supervisor does).

use serde::{Deserialize, Serialize};

use super::{ApiError, Call, Ctx, Reply, job_request};
use crate::job::files;
use crate::job::kube::KubeRequest;
use crate::service::auth::Principal;
use crate::service::paths::check_name;
use crate::service::resolve::request::EngineOverrides;
use crate::service::resolve::request::StartRequest;
use crate::service::store::jobs::{self, Artifact, Job, JobStatus, ProfileKind};
use crate::service::store::users::Role;
use crate::service::supervisor::admission::Refusal;
use crate::service::supervisor::{Deleted, StartError};

impl From<StartError> for ApiError {
    fn from(e: StartError) -> Self {
        match e {
            StartError::BadRequest(m) => ApiError::BadRequest(m),
            StartError::Rejected(e) => ApiError::BadRequest(e.to_string()),
            StartError::Refused(r @ Refusal::Duplicate(_)) => ApiError::Conflict(r.to_string()),
            StartError::Refused(r @ Refusal::ShuttingDown) => ApiError::Unavailable(r.to_string()),
            StartError::Refused(r) => ApiError::TooMany {
                message: r.to_string(),
                retry_after_s: None,
            },
            StartError::Store(s) => s.into(),
        }
    }
}

#[derive(Serialize)]
struct JobList {
    jobs: Vec<Job>,
    total: u64,
    limit: u32,
    offset: u32,
}

pub(super) fn list(ctx: &Ctx, call: &mut Call<'_, '_>) -> Result<Reply, ApiError> {
    let limit = call.query_u32("limit", 100, 1000)?;
    let offset = call.query_u32("offset", 0, u32::MAX)?;
    let status = match call.query("status").filter(|s| !s.is_empty()) {
        None => None,
        Some(s) => Some(JobStatus::parse(&s).ok_or_else(|| {
            ApiError::field(
                "status",
                format!("\"{s}\" is not a job status ({})", JobStatus::words()),
            )
        })?),
    };
    let (jobs, total) = ctx.store.db.read(|c| {
        Ok((
            jobs::page(c, limit, offset, status)?,
            jobs::count(c, status)?,
        ))
    })?;
    Reply::ok(&JobList {
        jobs,
        total,
        limit,
        offset,
    })
}

#[derive(Serialize)]
struct JobDetail {
    job: Job,
    artifacts: Vec<Artifact>,
}

fn find(ctx: &Ctx, id: &str) -> Result<Job, ApiError> {
    ctx.store
        .db
        .read(|c| jobs::by_id(c, id))?
        .ok_or_else(|| ApiError::NotFound(format!("job \"{id}\" not found")))
}

pub(super) fn get(ctx: &Ctx, call: &mut Call<'_, '_>) -> Result<Reply, ApiError> {
    let id = call.param("id").to_string();
    let (job, artifacts) = ctx
        .store
        .db
        .read(|c| Ok((jobs::by_id(c, &id)?, jobs::artifacts(c, &id)?)))?;
    let job = job.ok_or_else(|| ApiError::NotFound(format!("job \"{id}\" not found")))?;
    Reply::ok(&JobDetail { job, artifacts })
}

/// `POST /jobs`.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(super) struct CreateJob {
    id: Option<String>,
    profile_id: String,
    profile_kind: String,
    scenario_id: Option<String>,
    record_wav: bool,
    record_wav_duplex: bool,
    engine: EngineOverrides,
    tool_args: serde_json::Map<String, serde_json::Value>,
    name: String,
    notes: String,
    workers: Option<u32>,
    worker_netns: Vec<String>,
    kubernetes: Option<KubeRequest>,
}

/// The body of the profile start shortcuts (and what `POST /jobs` adds the profile to).
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct StartBody {
    id: Option<String>,
    scenario_id: Option<String>,
    record_wav: bool,
    record_wav_duplex: bool,
    engine: EngineOverrides,
    name: String,
    notes: String,
    /// issue 20: worker processes for the job (1 to [`job_request::max_workers`]).
    workers: Option<u32>,
    /// issue 20: each worker's network namespace (`ip netns exec`), one per worker.
    worker_netns: Vec<String>,
    /// issue 20: run on the master's Kubernetes cluster, one pod a segment.
    kubernetes: Option<KubeRequest>,
}

impl StartBody {
    /// The request to start `profile_id` of `kind`, its name, notes and thresholds
    /// checked (400 naming the field).
    fn request(
        self,
        profile_id: String,
        kind: ProfileKind,
        tool_args: serde_json::Map<String, serde_json::Value>,
        created_by: String,
    ) -> Result<StartRequest, ApiError> {
        let name = job_request::name(&self.name)?;
        let notes = job_request::notes(&self.notes)?;
        job_request::check_thresholds(self.engine.thresholds.as_deref(), "engine.thresholds")?;
        let workers = job_request::workers(self.workers, self.worker_netns, kind)?;
        job_request::kubernetes(self.kubernetes.as_ref(), &workers, kind)?;
        Ok(StartRequest {
            id: self.id,
            profile_id,
            profile_kind: kind,
            scenario_id: self.scenario_id.unwrap_or_default(),
            record_wav: self.record_wav,
            record_wav_duplex: self.record_wav_duplex,
            engine: self.engine,
            tool_args,
            created_by,
            name,
            notes,
            workers,
            kubernetes: self.kubernetes,
            gateway_intent: None,
        })
    }
}

impl CreateJob {
    /// The profile, the tool arguments and the rest, which a start shortcut takes too.
    fn split(
        self,
    ) -> (
        String,
        String,
        serde_json::Map<String, serde_json::Value>,
        StartBody,
    ) {
        let rest = StartBody {
            id: self.id,
            scenario_id: self.scenario_id,
            record_wav: self.record_wav,
            record_wav_duplex: self.record_wav_duplex,
            engine: self.engine,
            name: self.name,
            notes: self.notes,
            workers: self.workers,
            worker_netns: self.worker_netns,
            kubernetes: self.kubernetes,
        };
        (self.profile_id, self.profile_kind, self.tool_args, rest)
    }
}

/// `PATCH /jobs/{id}`: fields left out keep their value.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct LabelBody {
    name: Option<String>,
    notes: Option<String>,
}

/// Checks that a server or client profile exists and may be started.
fn check_profile(ctx: &Ctx, kind: ProfileKind, id: &str) -> Result<(), ApiError> {
    let source = match kind {
        ProfileKind::Server => ctx.store.servers.get(id).map(|p| p.source),
        ProfileKind::Client => ctx.store.clients.get(id).map(|p| p.source),
        ProfileKind::Gateway => ctx.store.gateways.get(id).map(|_| String::from("user")),
        ProfileKind::Tool => return Ok(()),
    };
    let kind = kind.as_str();
    match source {
        None => Err(ApiError::NotFound(format!(
            "{kind} profile \"{id}\" not found"
        ))),
        Some(s) if s == "built-in" => Err(ApiError::Conflict(format!(
            "{kind} profile \"{id}\" is built-in and cannot be started as a job"
        ))),
        Some(_) => Ok(()),
    }
}

pub(super) fn start_job(ctx: &Ctx, req: StartRequest) -> Result<Job, ApiError> {
    Ok(ctx.supervisor.start(&ctx.store, req)?)
}

/// `worker_netns` runs workers with `ip netns exec` as the master's user (root, for it to
/// work): a choice of network for the machine's operator, so only an admin may make it.
fn netns_by_admin(netns: &[String], who: &Principal) -> Result<(), ApiError> {
    if !netns.is_empty() && who.role != Role::Admin {
        return Err(ApiError::Forbidden(
            "worker_netns: only an admin may run workers in network namespaces",
        ));
    }
    Ok(())
}

pub(super) fn create(ctx: &Ctx, call: &mut Call<'_, '_>) -> Result<Reply, ApiError> {
    let (profile_id, profile_kind, tool_args, body) = call.json::<CreateJob>()?.split();
    let kind = ProfileKind::parse(&profile_kind).ok_or_else(|| {
        ApiError::field(
            "profile_kind",
            format!("\"{profile_kind}\" is not {}", ProfileKind::words()),
        )
    })?;
    let who = call.who()?;
    netns_by_admin(&body.worker_netns, who)?;
    let who = who.username.clone();
    let req = body.request(profile_id, kind, tool_args, who)?;
    match kind {
        ProfileKind::Server | ProfileKind::Client => {
            check_name(&req.profile_id).map_err(|e| ApiError::field("profile_id", e))?;
            check_profile(ctx, kind, &req.profile_id)?;
            if !req.tool_args.is_empty() {
                return Err(ApiError::field("tool_args", "only for tool jobs"));
            }
        }
        ProfileKind::Tool => {
            if !crate::service::resolve::tools::catalogue()
                .iter()
                .any(|t| t.id == req.profile_id)
            {
                return Err(ApiError::NotFound(format!(
                    "tool \"{}\" not found",
                    req.profile_id
                )));
            }
        }
        ProfileKind::Gateway => {
            check_name(&req.profile_id).map_err(|e| ApiError::field("profile_id", e))?;
            check_profile(ctx, kind, &req.profile_id)?;
            if req.scenario_id.is_empty() {
                return Err(ApiError::field(
                    "scenario_id",
                    "a gateway job needs a scenario",
                ));
            }
        }
    }
    let job = start_job(ctx, req)?;
    ctx.audit(
        call.who()?,
        "job.start",
        &job.id,
        serde_json::json!({"profile_kind": job.profile_kind, "profile_id": job.profile_id}),
    )?;
    Reply::json(201, &job)
}

fn start_profile(ctx: &Ctx, call: &mut Call<'_, '_>, kind: ProfileKind) -> Result<Reply, ApiError> {
    let profile_id = call.param("id").to_string();
    check_profile(ctx, kind, &profile_id)?;
    let body: StartBody = if call
        .header("content-length")
        .is_some_and(|l| l.trim() != "0")
    {
        call.json()?
    } else {
        StartBody::default()
    };
    let who = call.who()?;
    netns_by_admin(&body.worker_netns, who)?;
    let who = who.username.clone();
    let req = body.request(profile_id.clone(), kind, Default::default(), who)?;
    let job = start_job(ctx, req)?;
    ctx.audit(
        call.who()?,
        &format!("{}.start", kind.as_str()),
        &profile_id,
        serde_json::json!({"job_id": job.id}),
    )?;
    Reply::json(201, &job)
}

fn stop_profile(ctx: &Ctx, call: &mut Call<'_, '_>, kind: ProfileKind) -> Result<Reply, ApiError> {
    let profile_id = call.param("id").to_string();
    check_profile(ctx, kind, &profile_id)?;
    let newest = ctx
        .store
        .db
        .read(|c| {
            let live = [JobStatus::Running, JobStatus::Pending, JobStatus::Stopping];
            jobs::newest_for_profile(c, kind, &profile_id, &live)
        })?
        .ok_or_else(|| {
            ApiError::Conflict(format!(
                "{} profile \"{profile_id}\" has no running job",
                kind.as_str()
            ))
        })?;
    let job = ctx
        .supervisor
        .stop(&newest.id)?
        .ok_or_else(|| ApiError::NotFound(format!("job \"{}\" not found", newest.id)))?;
    ctx.audit(
        call.who()?,
        &format!("{}.stop", kind.as_str()),
        &profile_id,
        serde_json::json!({"job_id": job.id}),
    )?;
    Reply::ok(&job)
}

pub(super) fn start_server(ctx: &Ctx, call: &mut Call<'_, '_>) -> Result<Reply, ApiError> {
    start_profile(ctx, call, ProfileKind::Server)
}

pub(super) fn stop_server(ctx: &Ctx, call: &mut Call<'_, '_>) -> Result<Reply, ApiError> {
    stop_profile(ctx, call, ProfileKind::Server)
}

pub(super) fn start_client(ctx: &Ctx, call: &mut Call<'_, '_>) -> Result<Reply, ApiError> {
    start_profile(ctx, call, ProfileKind::Client)
}

pub(super) fn stop_client(ctx: &Ctx, call: &mut Call<'_, '_>) -> Result<Reply, ApiError> {
    stop_profile(ctx, call, ProfileKind::Client)
}

pub(super) fn stop(ctx: &Ctx, call: &mut Call<'_, '_>) -> Result<Reply, ApiError> {
    let id = call.param("id").to_string();
    let job = ctx
        .supervisor
        .stop(&id)?
        .ok_or_else(|| ApiError::NotFound(format!("job \"{id}\" not found")))?;
    ctx.audit(call.who()?, "job.stop", &id, serde_json::json!({}))?;
    Reply::ok(&job)
}

/// `PATCH /jobs/{id}`: renames a job or rewrites its notes (running or finished).
pub(super) fn update(ctx: &Ctx, call: &mut Call<'_, '_>) -> Result<Reply, ApiError> {
    let id = call.param("id").to_string();
    let body: LabelBody = call.json()?;
    let job = find(ctx, &id)?;
    let name = match &body.name {
        Some(n) => job_request::name(n)?,
        None => job.name,
    };
    let notes = match &body.notes {
        Some(n) => job_request::notes(n)?,
        None => job.notes,
    };
    ctx.store
        .db
        .tx(|c| jobs::set_label(c, &id, &name, &notes))?;
    ctx.audit(
        call.who()?,
        "job.update",
        &id,
        serde_json::json!({"name": name}),
    )?;
    Reply::ok(&find(ctx, &id)?)
}

pub(super) fn delete(ctx: &Ctx, call: &mut Call<'_, '_>) -> Result<Reply, ApiError> {
    let id = call.param("id").to_string();
    check_name(&id).map_err(|e| ApiError::field("id", e))?;
    match ctx.supervisor.delete(&id)? {
        Deleted::Done => {
            ctx.audit(call.who()?, "job.delete", &id, serde_json::json!({}))?;
            Ok(Reply::Empty(204))
        }
        Deleted::NotFound => Err(ApiError::NotFound(format!("job \"{id}\" not found"))),
        Deleted::Running => Err(ApiError::Conflict(format!(
            "job \"{id}\" is running; stop it first"
        ))),
    }
}

/// The fixed file and content type of an artifact kind.
fn kind_file(kind: &str) -> Option<(&'static str, &'static str)> {
    Some(match kind {
        "summary" => (files::SUMMARY, "application/json"),
        "report_html" => (files::REPORT_HTML, "text/html; charset=utf-8"),
        "report_pdf" => (files::REPORT_PDF, "application/pdf"),
        "rtp_send" => (files::RTP_SEND, "application/json"),
        "log" => (files::LOG, "text/plain; charset=utf-8"),
        "stats" => (files::STATS, "application/x-ndjson"),
        "call_records" => (files::CALL_RECORDS, "application/x-ndjson"),
        _ => return None,
    })
}

/// The file of a job's artifact of `kind`: the newest artifact row of that kind, else
/// the kind's fixed file name; `None` when there is no such file. The job must exist
/// (`find`) and `id` be a checked name.
pub(super) fn artifact_path(
    ctx: &Ctx,
    id: &str,
    kind: &str,
) -> Result<Option<std::path::PathBuf>, ApiError> {
    let dir = ctx.supervisor.artifacts_dir(id)?;
    let row = ctx.store.db.read(|c| jobs::newest_artifact(c, id, kind))?;
    let path = match (&row, kind_file(kind)) {
        // Rows are written by the supervisor; still, never serve outside the job folder.
        (Some(a), _) if std::path::Path::new(&a.path).starts_with(&dir) => {
            std::path::PathBuf::from(&a.path)
        }
        (_, Some((name, _))) => dir.join(name),
        _ => return Ok(None),
    };
    Ok(path.is_file().then_some(path))
}

/// A job that must exist, by a checked `id`.
pub(super) fn existing(ctx: &Ctx, id: &str) -> Result<Job, ApiError> {
    check_name(id).map_err(|e| ApiError::field("id", e))?;
    find(ctx, id)
}

pub(super) fn artifact(ctx: &Ctx, call: &mut Call<'_, '_>) -> Result<Reply, ApiError> {
    let id = call.param("id").to_string();
    let kind = call.param("kind").to_string();
    existing(ctx, &id)?;
    let Some(path) = artifact_path(ctx, &id, &kind)? else {
        return Err(ApiError::NotFound(format!(
            "job \"{id}\" has no {kind} artifact"
        )));
    };
    let content_type = kind_file(&kind).map_or("application/octet-stream", |(_, ct)| ct);
    let file_name = path
        .file_name()
        .map_or_else(|| kind.clone(), |n| n.to_string_lossy().into_owned());
    if kind == "report_html" {
        return Ok(Reply::Page { path, content_type });
    }
    Ok(Reply::File {
        path,
        content_type,
        file_name: format!("{id}-{file_name}"),
    })
}

#[derive(Serialize)]
struct Recording {
    name: String,
    size_bytes: u64,
    mod_time: String,
}

#[derive(Serialize)]
struct Recordings {
    recordings: Vec<Recording>,
}

pub(super) fn recordings(ctx: &Ctx, call: &mut Call<'_, '_>) -> Result<Reply, ApiError> {
    let id = call.param("id").to_string();
    check_name(&id).map_err(|e| ApiError::field("id", e))?;
    find(ctx, &id)?;
    let dir = ctx.supervisor.artifacts_dir(&id)?.join(files::RECORDINGS);
    let mut out = Vec::new();
    for e in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Ok(m) = e.metadata() else { continue };
        if !m.is_file() || !name.ends_with(".wav") || check_recording_name(&name).is_err() {
            continue;
        }
        out.push(Recording {
            name,
            size_bytes: m.len(),
            mod_time: m
                .modified()
                .map(crate::service::timefmt::rfc3339)
                .unwrap_or_default(),
        });
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Reply::ok(&Recordings { recordings: out })
}

/// Recordings are named after their Call-ID, which usually holds an `@`: allowed here on
/// top of the safe file-name characters (it cannot climb out of the folder).
fn check_recording_name(name: &str) -> Result<(), crate::service::paths::PathError> {
    check_name(&name.replace('@', "_"))
}

pub(super) fn recording(ctx: &Ctx, call: &mut Call<'_, '_>) -> Result<Reply, ApiError> {
    let id = call.param("id").to_string();
    let name = call.param("name").to_string();
    check_name(&id).map_err(|e| ApiError::field("id", e))?;
    check_recording_name(&name).map_err(|e| ApiError::field("name", e))?;
    let file = if name.ends_with(".wav") {
        name.clone()
    } else {
        format!("{name}.wav")
    };
    let path = ctx
        .supervisor
        .artifacts_dir(&id)?
        .join(files::RECORDINGS)
        .join(&file);
    if !path.is_file() {
        return Err(ApiError::NotFound(format!(
            "recording \"{name}\" not found"
        )));
    }
    Ok(Reply::File {
        path,
        content_type: "audio/wav",
        file_name: file,
    })
}
