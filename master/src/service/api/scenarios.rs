//! `/scenarios`: CRUD of stored scenarios (XML + metadata), their history and forks, and
//! `POST /scenarios/check`, which runs the same check on XML without storing anything
//! (the console's editor checks as you type, with the engine's own words and positions).
//!
//! Every XML body is checked by the engine's own scenario loader before anything is
//! written; its errors carry `scenario.xml:line:column`. An empty error list from the
//! loader counts as valid (the loader reports at least one error for every bad file).
//! Must not: write files (the store does) or parse XML itself (the engine does).

use std::time::SystemTime;

use serde::de::IgnoredAny;
use serde::{Deserialize, Serialize};

use super::{ApiError, Call, Ctx, Reply};
use crate::service::paths::check_name;
use crate::service::store::scenarios::{HistoryEntry, Save, ScenarioMeta};
use gossipper_engine::files::NAMES_ONLY;
use gossipper_engine::scenario::{self, LoadOptions};

/// How errors name the file.
const FILE_NAME: &str = "scenario.xml";
/// How many loader errors go into one reply.
const MAX_ERRORS_SHOWN: usize = 5;

/// POST/PUT body: ScenarioMeta + `xml`. Read-only fields from a GET are accepted and ignored.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ScenarioRequest {
    #[serde(default)]
    id: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    role: String,
    #[serde(default)]
    tags: Vec<String>,
    xml: String,
    #[serde(default, rename = "size_bytes")]
    _size_bytes: Option<IgnoredAny>,
    #[serde(default, rename = "created_at")]
    _created_at: Option<IgnoredAny>,
    #[serde(default, rename = "updated_at")]
    _updated_at: Option<IgnoredAny>,
}

#[derive(Serialize)]
struct ScenarioReply<'a> {
    meta: &'a ScenarioMeta,
    xml: &'a str,
}

/// Checks the metadata fields; fills a missing name from the id.
fn check_meta(meta: &mut ScenarioMeta) -> Result<(), ApiError> {
    check_name(&meta.id).map_err(|e| ApiError::field("id", e))?;
    if meta.name.is_empty() {
        meta.name = meta.id.clone();
    }
    for (field, value, max) in [
        ("name", &meta.name, 200),
        ("description", &meta.description, 4096),
        ("role", &meta.role, 32),
    ] {
        if value.len() > max {
            return Err(ApiError::field(
                field,
                format!("must be at most {max} bytes"),
            ));
        }
    }
    if meta.tags.len() > 64 || meta.tags.iter().any(|t| t.is_empty() || t.len() > 64) {
        return Err(ApiError::field(
            "tags",
            "at most 64 tags of 1 to 64 bytes each",
        ));
    }
    Ok(())
}

/// Asks the engine's loader; its errors become one 400 that says where.
pub(crate) fn check_xml(xml: &str) -> Result<(), ApiError> {
    if xml.trim().is_empty() {
        return Err(ApiError::field("xml", "is empty"));
    }
    // File names are checked against a job's rule now (relative, no `..`); the files
    // themselves are read when a job runs, under that rule.
    let opts = LoadOptions {
        files: &NAMES_ONLY,
        ..LoadOptions::default()
    };
    match scenario::load(xml.as_bytes(), FILE_NAME, &opts) {
        Ok(_) => Ok(()),
        Err(errors) if errors.0.is_empty() => Ok(()),
        Err(errors) => {
            let mut lines: Vec<String> = errors
                .0
                .iter()
                .take(MAX_ERRORS_SHOWN)
                .map(|e| e.to_string())
                .collect();
            if errors.0.len() > MAX_ERRORS_SHOWN {
                lines.push(format!("… and {} more", errors.0.len() - MAX_ERRORS_SHOWN));
            }
            Err(ApiError::BadRequest(lines.join("\n")))
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CheckRequest {
    xml: String,
}

#[derive(Serialize)]
struct CheckReply {
    ok: bool,
}

/// `POST /scenarios/check`: 200 `{"ok": true}`, or the 400 a save would get.
pub(super) fn check(_ctx: &Ctx, call: &mut Call<'_, '_>) -> Result<Reply, ApiError> {
    let req: CheckRequest = call.json()?;
    check_xml(&req.xml)?;
    Reply::ok(&CheckReply { ok: true })
}

fn into_meta(req: &ScenarioRequest) -> ScenarioMeta {
    ScenarioMeta {
        id: req.id.clone(),
        name: req.name.clone(),
        description: req.description.clone(),
        role: req.role.clone(),
        tags: req.tags.clone(),
        ..Default::default()
    }
}

/// `{"scenarios": [...]}` around the store's cached array (no per-request serialization).
pub(super) fn list(ctx: &Ctx, _call: &mut Call<'_, '_>) -> Result<Reply, ApiError> {
    let metas = ctx.store.scenarios.list_json()?;
    let mut body = Vec::with_capacity(metas.len() + 16);
    body.extend_from_slice(b"{\"scenarios\":");
    body.extend_from_slice(&metas);
    body.push(b'}');
    Ok(Reply::Json { status: 200, body })
}

pub(super) fn get(ctx: &Ctx, call: &mut Call<'_, '_>) -> Result<Reply, ApiError> {
    let id = call.param("id");
    check_name(id).map_err(|e| ApiError::field("id", e))?;
    let (meta, xml) = ctx.store.scenarios.get(id)?;
    Reply::ok(&ScenarioReply {
        meta: &meta,
        xml: &xml,
    })
}

/// Checks and stores a scenario (new or replacing one), audits it, and answers with it.
fn save(
    ctx: &Ctx,
    call: &Call<'_, '_>,
    mut meta: ScenarioMeta,
    xml: &str,
    how: Save,
) -> Result<Reply, ApiError> {
    check_meta(&mut meta)?;
    check_xml(xml)?;
    let meta = ctx
        .store
        .scenarios
        .save(meta, xml, SystemTime::now(), how)?;
    let (action, status) = match how {
        Save::New => ("scenario.create", 201),
        Save::Replace => ("scenario.update", 200),
    };
    ctx.audit(
        call.who()?,
        action,
        &meta.id,
        serde_json::json!({"size_bytes": meta.size_bytes}),
    )?;
    Reply::json(status, &ScenarioReply { meta: &meta, xml })
}

pub(super) fn create(ctx: &Ctx, call: &mut Call<'_, '_>) -> Result<Reply, ApiError> {
    let req: ScenarioRequest = call.json()?;
    save(ctx, call, into_meta(&req), &req.xml, Save::New)
}

pub(super) fn update(ctx: &Ctx, call: &mut Call<'_, '_>) -> Result<Reply, ApiError> {
    let id = call.param("id").to_string();
    let req: ScenarioRequest = call.json()?;
    if !req.id.is_empty() && req.id != id {
        return Err(ApiError::field(
            "id",
            format!("\"{}\" does not match the path id \"{id}\"", req.id),
        ));
    }
    let meta = ScenarioMeta {
        id,
        ..into_meta(&req)
    };
    save(ctx, call, meta, &req.xml, Save::Replace)
}

pub(super) fn delete(ctx: &Ctx, call: &mut Call<'_, '_>) -> Result<Reply, ApiError> {
    let id = call.param("id").to_string();
    ctx.store.scenarios.delete(&id)?;
    ctx.audit(call.who()?, "scenario.delete", &id, serde_json::json!({}))?;
    Ok(Reply::Empty(204))
}

#[derive(Serialize)]
struct History {
    history: Vec<HistoryEntry>,
}

pub(super) fn history(ctx: &Ctx, call: &mut Call<'_, '_>) -> Result<Reply, ApiError> {
    Reply::ok(&History {
        history: ctx.store.scenarios.history(call.param("id"))?,
    })
}

pub(super) fn history_get(ctx: &Ctx, call: &mut Call<'_, '_>) -> Result<Reply, ApiError> {
    let (meta, xml) = ctx
        .store
        .scenarios
        .history_get(call.param("id"), call.param("ts"))?;
    Reply::ok(&ScenarioReply {
        meta: &meta,
        xml: &xml,
    })
}

pub(super) fn history_delete(ctx: &Ctx, call: &mut Call<'_, '_>) -> Result<Reply, ApiError> {
    let (id, ts) = (call.param("id").to_string(), call.param("ts").to_string());
    ctx.store.scenarios.history_delete(&id, &ts)?;
    ctx.audit(
        call.who()?,
        "scenario.history_delete",
        &id,
        serde_json::json!({"ts": ts}),
    )?;
    Ok(Reply::Empty(204))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ForkRequest {
    id: String,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    role: Option<String>,
}

/// Creates a new scenario from an archived version.
pub(super) fn fork(ctx: &Ctx, call: &mut Call<'_, '_>) -> Result<Reply, ApiError> {
    let (id, ts) = (call.param("id").to_string(), call.param("ts").to_string());
    let req: ForkRequest = call.json()?;
    let (old, xml) = ctx.store.scenarios.history_get(&id, &ts)?;
    let mut meta = ScenarioMeta {
        id: req.id,
        name: req.name.unwrap_or_default(),
        description: req.description.unwrap_or(old.description),
        role: req.role.unwrap_or(old.role),
        tags: old.tags,
        ..Default::default()
    };
    check_meta(&mut meta)?;
    let meta = ctx
        .store
        .scenarios
        .save(meta, &xml, SystemTime::now(), Save::New)?;
    ctx.audit(
        call.who()?,
        "scenario.create",
        &meta.id,
        serde_json::json!({"forked_from": id, "ts": ts}),
    )?;
    Reply::json(
        201,
        &ScenarioReply {
            meta: &meta,
            xml: &xml,
        },
    )
}
