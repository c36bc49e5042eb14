//! `POST /scenarios/import-from-pcap-job`: stores the scenario pair a succeeded
//! `pcap2scenario` tool job wrote as stored scenarios.
//!
//! Body `{job_id, which: uac|uas|both (default uac), scenario_id, uas_scenario_id?}` (the
//! UAS id defaults to `<scenario_id>_uas` with `both`) → 201 `{imported:[{id, role,
//! file}], out_dir, job_id}`. 404 for an unknown job, 400 for a job of another kind,
//! 409 when the job has not succeeded or an id is taken. Nothing is stored unless every
//! file reads (the job's own folder only, regular files, no link out) and checks as a
//! scenario. Must not: write files itself (the store does).

use std::path::Path;
use std::time::SystemTime;

use gossipper_engine::files::{Disk, FileAccess, JobRoots, MAX_FILE_BYTES, ReadFiles};
use serde::{Deserialize, Serialize};

use super::scenarios::check_xml;
use super::{ApiError, Call, Ctx, Reply};
use crate::service::paths::check_name;
use crate::service::store::jobs::{self, JobStatus, ProfileKind};
use crate::service::store::scenarios::{Save, ScenarioMeta};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ImportRequest {
    job_id: String,
    #[serde(default)]
    which: Option<String>,
    scenario_id: String,
    #[serde(default)]
    uas_scenario_id: Option<String>,
}

#[derive(Serialize)]
struct Imported {
    id: String,
    role: &'static str,
    file: String,
}

#[derive(Serialize)]
struct ImportReply {
    imported: Vec<Imported>,
    out_dir: String,
    job_id: String,
}

pub(super) fn import(ctx: &Ctx, call: &mut Call<'_, '_>) -> Result<Reply, ApiError> {
    let req: ImportRequest = call.json()?;
    check_name(&req.job_id).map_err(|e| ApiError::field("job_id", e))?;
    check_name(&req.scenario_id).map_err(|e| ApiError::field("scenario_id", e))?;
    let job = ctx
        .store
        .db
        .read(|c| jobs::by_id(c, &req.job_id))?
        .ok_or_else(|| ApiError::NotFound(format!("job \"{}\" not found", req.job_id)))?;
    if job.profile_kind != ProfileKind::Tool || job.profile_id != "pcap2scenario" {
        return Err(ApiError::field(
            "job_id",
            format!(
                "job \"{}\" is a {} {} job, not a pcap2scenario tool job",
                job.id,
                job.profile_kind.as_str(),
                job.profile_id
            ),
        ));
    }
    if job.status != JobStatus::Succeeded {
        return Err(ApiError::Conflict(format!(
            "job \"{}\" has not succeeded (it is {})",
            job.id,
            job.status.as_str()
        )));
    }
    let uas_id = req
        .uas_scenario_id
        .clone()
        .unwrap_or_else(|| format!("{}_uas", req.scenario_id));
    let wanted: Vec<(String, &'static str, &'static str)> =
        match req.which.as_deref().unwrap_or("uac") {
            "uac" => vec![(req.scenario_id.clone(), "uac", "scenario_uac")],
            "uas" => vec![(req.scenario_id.clone(), "uas", "scenario_uas")],
            "both" => {
                check_name(&uas_id).map_err(|e| ApiError::field("uas_scenario_id", e))?;
                if uas_id == req.scenario_id {
                    return Err(ApiError::field(
                        "uas_scenario_id",
                        "must differ from scenario_id",
                    ));
                }
                vec![
                    (req.scenario_id.clone(), "uac", "scenario_uac"),
                    (uas_id, "uas", "scenario_uas"),
                ]
            }
            other => {
                return Err(ApiError::field(
                    "which",
                    format!("\"{other}\": expected uac, uas or both"),
                ));
            }
        };
    let job_dir = ctx.supervisor.artifacts_dir(&job.id)?;
    let data_dir = ctx.store.layout.root().to_path_buf();
    let rule = FileAccess::Confined(JobRoots {
        data_dir: data_dir.clone(),
        job_dir: job_dir.clone(),
    });
    // Read and check everything before storing anything.
    let mut ready = Vec::new();
    let mut out_dir = String::new();
    for (id, role, kind) in wanted {
        let row = ctx
            .store
            .db
            .read(|c| jobs::newest_artifact(c, &job.id, kind))?
            .ok_or_else(|| {
                ApiError::Conflict(format!("job \"{}\" has no {kind} artifact", job.id))
            })?;
        let rel = Path::new(&row.path)
            .strip_prefix(&job_dir)
            .map_err(|_| {
                ApiError::Conflict(format!("job \"{}\": {kind} is not in its folder", job.id))
            })?
            .to_path_buf();
        let bytes = Disk(&rule)
            .read(&rel, MAX_FILE_BYTES)
            .map_err(|e| ApiError::Conflict(format!("{}: {e}", row.path)))?;
        let xml = String::from_utf8(bytes)
            .map_err(|_| ApiError::Conflict(format!("{}: not UTF-8", row.path)))?;
        check_xml(&xml)?;
        if ctx.store.scenarios.get(&id).is_ok() {
            return Err(ApiError::Conflict(format!(
                "scenario \"{id}\" already exists"
            )));
        }
        let file = Path::new(&row.path)
            .strip_prefix(&data_dir)
            .map_or_else(|_| row.path.clone(), |p| p.display().to_string());
        if let Some(parent) = Path::new(&file).parent() {
            out_dir = parent.display().to_string();
        }
        ready.push((id, role, file, xml));
    }
    let mut imported = Vec::new();
    for (id, role, file, xml) in ready {
        let meta = ScenarioMeta {
            id: id.clone(),
            name: id.clone(),
            description: format!("pcap2scenario job {} ({role})", job.id),
            role: role.to_string(),
            tags: vec!["pcap2scenario".into()],
            ..Default::default()
        };
        let meta = ctx
            .store
            .scenarios
            .save(meta, &xml, SystemTime::now(), Save::New)?;
        ctx.audit(
            call.who()?,
            "scenario.import_pcap",
            &meta.id,
            serde_json::json!({"job_id": job.id, "role": role, "file": file}),
        )?;
        imported.push(Imported {
            id: meta.id,
            role,
            file,
        });
    }
    Reply::json(
        201,
        &ImportReply {
            imported,
            out_dir,
            job_id: job.id,
        },
    )
}
