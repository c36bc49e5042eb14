//! A cluster job's worker pods report to the master (issue 20, item 3), each with the
//! job's own token as bearer (the spec's `kubernetes.token`; no user's token opens these
//! routes, and this token opens nothing else):
//! - `POST /jobs/{id}/worker-lines?index=i`: its stdout lines, appended to
//!   `workers/<i>/stats.jsonl`, which the job's driver (`worker::cluster`) reads and merges;
//! - `POST /jobs/{id}/worker-records?index=i`: its call records at the end (before its exit
//!   line), appended to `workers/<i>/call_records.jsonl`, which the driver concatenates into
//!   the job's `call_records.jsonl` as the local fan-out does.
//!
//! Owns: the checks (the job runs on a cluster, the token, `index` under the job's
//! `parallelism`, every line a worker line or a JSON object, a body at most
//! [`LINES_BODY`], a pod's records at most [`RECORDS_MAX`]) and the appends. Must not:
//! merge (the driver does, with the local fan-out's code).

use std::io::Write;
use std::path::PathBuf;

use super::{ApiError, Call, Ctx, Reply};
use crate::job::line::WorkerLine;
use crate::service::auth;

/// The largest body of lines or records (a pod posts every quarter second, and its
/// records in pieces of at most 4 MiB).
pub(crate) const LINES_BODY: u64 = 8 << 20;
/// The most call records one pod may leave in the job's folder (1 GiB: about 2.5
/// million calls); past it a post is refused and the pod says so in its log.
pub(crate) const RECORDS_MAX: u64 = 1 << 30;

/// The job's token and pod count, from its spec file (`None`: not a cluster job).
fn cluster_of(spec: &[u8]) -> Option<(String, u64)> {
    let v: serde_json::Value = serde_json::from_slice(spec).ok()?;
    let k = v.get("kubernetes")?;
    let token = k.get("token")?.as_str()?.to_string();
    let n = k.get("parallelism")?.as_u64()?;
    Some((token, n))
}

/// The folder of the pod that posts `call` (`workers/<index>` of a running cluster job),
/// after checking the job, its token and the index.
fn pod_dir(ctx: &Ctx, call: &Call<'_, '_>) -> Result<(String, u64, PathBuf), ApiError> {
    let id = call.param("id").to_string();
    let spec_path = ctx
        .supervisor
        .spec_path(&id)
        .map_err(|_| ApiError::NotFound(format!("job \"{id}\" not found")))?;
    let spec = std::fs::read(&spec_path)
        .map_err(|_| ApiError::NotFound(format!("job \"{id}\" not found")))?;
    let Some((token, n)) = cluster_of(&spec) else {
        return Err(ApiError::NotFound(format!(
            "job \"{id}\" does not run on a cluster"
        )));
    };
    let bearer = call
        .header("authorization")
        .and_then(|h| h.split_once(' '))
        .filter(|(s, _)| s.eq_ignore_ascii_case("bearer"))
        .map(|(_, t)| t.trim().to_string());
    let given = bearer.filter(|b| !b.is_empty() && !token.is_empty());
    if !given.is_some_and(|b| auth::same_secret(b.as_bytes(), token.as_bytes())) {
        return Err(ApiError::Unauthorized);
    }
    let index = call
        .query("index")
        .ok_or_else(|| ApiError::field("index", "missing"))?;
    let i: u64 = index.parse().ok().filter(|i| *i < n).ok_or_else(|| {
        ApiError::field(
            "index",
            format!(
                "\"{}\" is not a pod index from 0 to {}",
                index.chars().take(20).collect::<String>(),
                n - 1
            ),
        )
    })?;
    if ctx.supervisor.running(&id).is_none() {
        return Err(ApiError::Conflict(format!("job \"{id}\" is not running")));
    }
    let dir = ctx
        .supervisor
        .artifacts_dir(&id)?
        .join(crate::worker::WORKERS_DIR)
        .join(i.to_string());
    Ok((id, i, dir))
}

/// The body's non-empty lines, each checked by `valid` (its error names the line), joined
/// with a newline after each; and how many there were.
fn checked_lines(
    body: &[u8],
    what: &str,
    valid: impl Fn(&str) -> bool,
) -> Result<(String, u64), ApiError> {
    let text = std::str::from_utf8(body)
        .map_err(|e| ApiError::field("body", format!("not UTF-8: {e}")))?;
    let mut out = String::with_capacity(text.len() + 1);
    let mut count = 0u64;
    for (no, line) in text.lines().enumerate() {
        let line = line.trim_end();
        if line.is_empty() {
            continue;
        }
        if !valid(line) {
            return Err(ApiError::field(&format!("line {}", no + 1), what));
        }
        out.push_str(line);
        out.push('\n');
        count += 1;
    }
    Ok((out, count))
}

pub(super) fn post(ctx: &Ctx, call: &mut Call<'_, '_>) -> Result<Reply, ApiError> {
    let (id, i, dir) = pod_dir(ctx, call)?;
    let body = call.body_bytes()?;
    let (out, count) = checked_lines(
        &body,
        "not a worker line (one JSON object with a known \"kind\")",
        |l| WorkerLine::parse(l).is_some(),
    )?;
    let path = dir.join(crate::job::files::STATS);
    // The driver created the file before the Job: a missing one is no pod of ours.
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .map_err(|_| ApiError::Conflict(format!("job \"{id}\" has no worker {i}")))?;
    f.write_all(out.as_bytes())
        .map_err(|e| ApiError::Internal(format!("{}: {e}", path.display())))?;
    Reply::ok(&serde_json::json!({"lines": count}))
}

/// `POST /jobs/{id}/worker-records?index=i`: a piece of the pod's call records.
pub(super) fn post_records(ctx: &Ctx, call: &mut Call<'_, '_>) -> Result<Reply, ApiError> {
    let (id, i, dir) = pod_dir(ctx, call)?;
    let body = call.body_bytes()?;
    let (out, count) = checked_lines(&body, "not a call record (one JSON object)", |l| {
        serde_json::from_str::<serde_json::Value>(l).is_ok_and(|v| v.is_object())
    })?;
    if !dir.join(crate::job::files::STATS).is_file() {
        return Err(ApiError::Conflict(format!(
            "job \"{id}\" has no worker {i}"
        )));
    }
    let path = dir.join(crate::job::files::CALL_RECORDS);
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .map_err(|e| ApiError::Internal(format!("{}: {e}", path.display())))?;
    let held = f.metadata().map(|m| m.len()).unwrap_or(0);
    if held + out.len() as u64 > RECORDS_MAX {
        return Err(ApiError::field(
            "body",
            format!("worker {i} would hold more than {RECORDS_MAX} bytes of call records"),
        ));
    }
    f.write_all(out.as_bytes())
        .map_err(|e| ApiError::Internal(format!("{}: {e}", path.display())))?;
    Reply::ok(&serde_json::json!({"records": count}))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_and_count_come_from_the_spec() {
        let spec = br#"{"kubernetes": {"token": "abc", "parallelism": 3}}"#;
        assert_eq!(cluster_of(spec), Some(("abc".into(), 3)));
        assert_eq!(cluster_of(br#"{"run": {}}"#), None);
        assert_eq!(cluster_of(b"not json"), None);
    }
}
