//! `GET /reports?limit=`: summary, report_html and report_pdf artifacts of every job,
//! newest first, with the job's kind, profile, status and finish time. Must not: read
//! the artifacts themselves (`jobs` serves them).

use serde::Serialize;

use super::{ApiError, Call, Ctx, Reply};
use crate::service::store::jobs::{self, Report};

#[derive(Serialize)]
struct Reports {
    reports: Vec<Report>,
}

pub(super) fn list(ctx: &Ctx, call: &mut Call<'_, '_>) -> Result<Reply, ApiError> {
    let limit = call.query_u32("limit", 100, 1000)?;
    let reports = ctx.store.db.read(|c| jobs::reports(c, limit))?;
    Reply::ok(&Reports { reports })
}
