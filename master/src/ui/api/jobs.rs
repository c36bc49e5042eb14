//! `GET /jobs`, `GET /jobs/{id}`: read-only views of the jobs table. Starting, stopping
//! and streaming jobs arrive with the supervisor.

use serde::Serialize;

use super::{ApiError, Call, Ctx, Reply};
use crate::ui::store::jobs::{self, Artifact, Job};

#[derive(Serialize)]
struct JobList {
    jobs: Vec<Job>,
}

pub(super) fn list(ctx: &Ctx, call: &mut Call<'_, '_>) -> Result<Reply, ApiError> {
    let limit = call.query_u32("limit", 100, 1000)?;
    let jobs = ctx.store.db.read(|c| jobs::list(c, limit))?;
    Reply::ok(&JobList { jobs })
}

#[derive(Serialize)]
struct JobDetail {
    job: Job,
    artifacts: Vec<Artifact>,
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
