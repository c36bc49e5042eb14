//! `GET /reports?limit=`: summary, report_html and report_pdf artifacts of every job,
//! newest first, with the job's kind, profile, status and finish time; and
//! `GET /reports/export.zip?ids=a,b`: those files of the jobs named, one folder per job,
//! in one ZIP. Must not: serve one artifact (`jobs` does) or lay out ZIP (`crate::zip`).
//!
//! The export is built in memory: at most [`EXPORT_MAX_JOBS`] jobs and
//! [`EXPORT_MAX_BYTES`] of files together (measured before anything is read); past
//! either it is refused with 413 naming the cap.

use std::time::SystemTime;

use serde::Serialize;

use super::{ApiError, Call, Ctx, Reply, jobs as job_routes};
use crate::service::paths::check_name;
use crate::service::store::jobs::{self, Report};
use crate::zip::{Zip, size};

/// Jobs one export takes.
pub(crate) const EXPORT_MAX_JOBS: usize = 50;
/// Bytes of the exported files together.
pub(crate) const EXPORT_MAX_BYTES: u64 = 64 << 20;
/// Room for the ZIP's own headers past the files (a few hundred bytes per entry).
const ZIP_OVERHEAD: u64 = 1 << 20;
/// The artifact kinds exported, and their names in the job's folder.
const EXPORTED: [(&str, &str); 3] = [
    ("summary", "summary.json"),
    ("report_html", "report.html"),
    ("report_pdf", "report.pdf"),
];

#[derive(Serialize)]
struct Reports {
    reports: Vec<Report>,
}

pub(super) fn list(ctx: &Ctx, call: &mut Call<'_, '_>) -> Result<Reply, ApiError> {
    let limit = call.query_u32("limit", 100, 1000)?;
    let reports = ctx.store.db.read(|c| jobs::reports(c, limit))?;
    Reply::ok(&Reports { reports })
}

/// `GET /reports/export.zip?ids=a,b,c`: `a/summary.json`, `a/report.html` (and
/// `a/report.pdf` when there is one), then `b/…`, in the order asked. A job that does
/// not exist or has none of these files is a 404 naming it; nothing is half-exported.
pub(super) fn export(ctx: &Ctx, call: &mut Call<'_, '_>) -> Result<Reply, ApiError> {
    let raw = call.query("ids").unwrap_or_default();
    let ids: Vec<&str> = raw
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    if ids.is_empty() {
        return Err(ApiError::field(
            "ids",
            "name the jobs to export, comma-separated (?ids=a,b)",
        ));
    }
    if ids.len() > EXPORT_MAX_JOBS {
        return Err(ApiError::OverQuota(format!(
            "ids: {} jobs asked; an export takes at most {EXPORT_MAX_JOBS}",
            ids.len()
        )));
    }
    let mut files = Vec::new();
    let mut total = 0u64;
    for (i, id) in ids.iter().enumerate() {
        if ids[..i].contains(id) {
            return Err(ApiError::field("ids", format!("\"{id}\" is named twice")));
        }
        check_name(id).map_err(|e| ApiError::field("ids", format!("\"{id}\": {e}")))?;
        job_routes::existing(ctx, id)?;
        let before = files.len();
        for (kind, name) in EXPORTED {
            let Some(path) = job_routes::artifact_path(ctx, id, kind)? else {
                continue;
            };
            total += std::fs::metadata(&path).map_or(0, |m| m.len());
            if total > EXPORT_MAX_BYTES {
                return Err(ApiError::OverQuota(format!(
                    "the reports of these jobs are larger than the export's cap of {} (reached at job \"{id}\"); export fewer jobs",
                    size(EXPORT_MAX_BYTES)
                )));
            }
            files.push((format!("{id}/{name}"), path));
        }
        if files.len() == before {
            return Err(ApiError::NotFound(format!(
                "job \"{id}\" has no report (summary.json, report.html or report.pdf)"
            )));
        }
    }
    let mut zip = Zip::new(EXPORT_MAX_BYTES + ZIP_OVERHEAD, SystemTime::now());
    for (name, path) in files {
        let data = std::fs::read(&path)
            .map_err(|e| ApiError::Internal(format!("{}: {e}", path.display())))?;
        // A file that grew since it was measured can still pass the cap: the ZIP's own.
        zip.add(&name, &data)
            .map_err(|e| ApiError::OverQuota(e.to_string()))?;
    }
    Ok(Reply::Download {
        content_type: "application/zip",
        file_name: format!("reports-{}.zip", ids.len()),
        body: zip.finish(),
    })
}
