//! `POST /jobs/{id}/worker-lines?index=i`: a worker pod of a cluster job (issue 20,
//! item 3) posts its stdout lines here, with the job's own token as bearer (the spec's
//! `kubernetes.token`; no user's token opens this route, and this token opens nothing
//! else).
//!
//! Owns: the checks (the job runs on a cluster, the token, `index` under the job's
//! `parallelism`, every line a worker line, the body at most [`LINES_BODY`]) and the
//! append to `workers/<i>/stats.jsonl` in the job's folder, which the job's driver
//! (`worker::cluster`) reads and merges. Must not: merge (the driver does, with the
//! local fan-out's code).

use std::io::Write;

use super::{ApiError, Call, Ctx, Reply};
use crate::job::line::WorkerLine;
use crate::service::auth;

/// The largest body of lines (a pod posts every quarter second).
pub(crate) const LINES_BODY: u64 = 8 << 20;

/// The job's token and pod count, from its spec file (`None`: not a cluster job).
fn cluster_of(spec: &[u8]) -> Option<(String, u64)> {
    let v: serde_json::Value = serde_json::from_slice(spec).ok()?;
    let k = v.get("kubernetes")?;
    let token = k.get("token")?.as_str()?.to_string();
    let n = k.get("parallelism")?.as_u64()?;
    Some((token, n))
}

pub(super) fn post(ctx: &Ctx, call: &mut Call<'_, '_>) -> Result<Reply, ApiError> {
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
    let body = call.body_bytes()?;
    let text = std::str::from_utf8(&body)
        .map_err(|e| ApiError::field("body", format!("not UTF-8: {e}")))?;
    let mut out = String::with_capacity(text.len() + 1);
    let mut count = 0u64;
    for (no, line) in text.lines().enumerate() {
        let line = line.trim_end();
        if line.is_empty() {
            continue;
        }
        if WorkerLine::parse(line).is_none() {
            return Err(ApiError::field(
                &format!("line {}", no + 1),
                "not a worker line (one JSON object with a known \"kind\")",
            ));
        }
        out.push_str(line);
        out.push('\n');
        count += 1;
    }
    let dir = ctx
        .supervisor
        .artifacts_dir(&id)?
        .join(crate::worker::WORKERS_DIR)
        .join(i.to_string());
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
