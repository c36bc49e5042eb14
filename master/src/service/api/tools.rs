//! `GET /tools` (the catalogue) and `POST /tools/{id}/run` (a `tool` job). The table and
//! the tools' arguments live in `resolve::tools`, and the worker runs them; a tool this
//! build cannot run is listed with `available: false` and refused (400, no job), as are
//! bad arguments. Must not: check tool arguments itself (the job's resolution does).

use serde::{Deserialize, Serialize};

use super::{ApiError, Call, Ctx, Reply};
use crate::service::resolve::request::StartRequest;
use crate::service::resolve::tools::{Tool, catalogue};
use crate::service::store::jobs::{Job, ProfileKind};

#[derive(Serialize)]
struct Tools {
    tools: Vec<Tool>,
}

pub(super) fn list(_ctx: &Ctx, _call: &mut Call<'_, '_>) -> Result<Reply, ApiError> {
    Reply::ok(&Tools { tools: catalogue() })
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct RunBody {
    id: Option<String>,
    args: serde_json::Map<String, serde_json::Value>,
}

#[derive(Serialize)]
struct Started {
    job: Job,
}

pub(super) fn run(ctx: &Ctx, call: &mut Call<'_, '_>) -> Result<Reply, ApiError> {
    let tool = call.param("id").to_string();
    if !catalogue().iter().any(|t| t.id == tool) {
        return Err(ApiError::NotFound(format!("tool \"{tool}\" not found")));
    }
    let body: RunBody = call.json()?;
    let who = call.who()?.username.clone();
    let job = super::jobs::start_job(
        ctx,
        StartRequest {
            id: body.id,
            profile_id: tool.clone(),
            profile_kind: ProfileKind::Tool,
            tool_args: body.args,
            created_by: who,
            ..Default::default()
        },
    )?;
    ctx.audit(
        call.who()?,
        "tool.run",
        &tool,
        serde_json::json!({"job_id": job.id}),
    )?;
    Reply::json(201, &Started { job })
}
