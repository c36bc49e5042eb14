//! `GET /audit?limit=&offset=` (admin): the audit log, newest first, paged. Must not:
//! write (every other handler appends its own rows).

use serde::Serialize;

use super::{ApiError, Call, Ctx, Reply};
use crate::service::store::audit::{self, AuditEntry};

#[derive(Serialize)]
struct AuditPage {
    audit: Vec<AuditEntry>,
    limit: u32,
    offset: u32,
    total: i64,
}

pub(super) fn list(ctx: &Ctx, call: &mut Call<'_, '_>) -> Result<Reply, ApiError> {
    let limit = call.query_u32("limit", 100, 1000)?;
    let offset = call.query_u32("offset", 0, u32::MAX)?;
    let (entries, total) = ctx
        .store
        .db
        .read(|c| audit::page(c, limit, u64::from(offset)))?;
    Reply::ok(&AuditPage {
        audit: entries,
        limit,
        offset,
        total,
    })
}
