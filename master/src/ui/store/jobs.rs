//! The `jobs` and `job_artifacts` tables (gossipper-reference.md §5.3).
//!
//! Owns: reading job rows for the API. The supervisor (a later issue) will create and
//! update them; until then the table only exists and lists. Must not: start processes.

use rusqlite::{Connection, OptionalExtension};
use serde::Serialize;

use super::StoreError;

/// A job row, shaped as the §5.5 `Job`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct Job {
    pub(crate) id: String,
    pub(crate) profile_id: String,
    pub(crate) profile_kind: String,
    pub(crate) scenario_id: String,
    pub(crate) status: String,
    pub(crate) args_json: String,
    pub(crate) artifacts_dir: String,
    pub(crate) created_at: String,
    pub(crate) started_at: Option<String>,
    pub(crate) finished_at: Option<String>,
    pub(crate) exit_code: Option<i64>,
    pub(crate) error: String,
    pub(crate) created_by: String,
    pub(crate) pid: Option<i64>,
}

/// One artifact row of a job.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct Artifact {
    pub(crate) id: i64,
    pub(crate) job_id: String,
    pub(crate) kind: String,
    pub(crate) path: String,
    pub(crate) size_bytes: i64,
    pub(crate) created_at: String,
}

const COLS: &str = "id, profile_id, profile_kind, scenario_id, status, args_json, artifacts_dir, created_at, \
                    started_at, finished_at, exit_code, error, created_by, pid";

fn row_to_job(r: &rusqlite::Row<'_>) -> rusqlite::Result<Job> {
    Ok(Job {
        id: r.get(0)?,
        profile_id: r.get(1)?,
        profile_kind: r.get(2)?,
        scenario_id: r.get(3)?,
        status: r.get(4)?,
        args_json: r.get(5)?,
        artifacts_dir: r.get(6)?,
        created_at: r.get(7)?,
        started_at: r.get(8)?,
        finished_at: r.get(9)?,
        exit_code: r.get(10)?,
        error: r.get(11)?,
        created_by: r.get(12)?,
        pid: r.get(13)?,
    })
}

/// The newest `limit` jobs (uses the `jobs_created_at` index).
pub(crate) fn list(c: &Connection, limit: u32) -> Result<Vec<Job>, StoreError> {
    let mut st = c.prepare_cached(&format!(
        "SELECT {COLS} FROM jobs ORDER BY created_at DESC, id DESC LIMIT ?1"
    ))?;
    let rows = st.query_map([limit], row_to_job)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub(crate) fn by_id(c: &Connection, id: &str) -> Result<Option<Job>, StoreError> {
    Ok(c.query_row(
        &format!("SELECT {COLS} FROM jobs WHERE id = ?1"),
        [id],
        row_to_job,
    )
    .optional()?)
}

pub(crate) fn artifacts(c: &Connection, job_id: &str) -> Result<Vec<Artifact>, StoreError> {
    let mut st = c.prepare_cached(
        "SELECT id, job_id, kind, path, size_bytes, created_at FROM job_artifacts WHERE job_id = ?1 ORDER BY id",
    )?;
    let rows = st.query_map([job_id], |r| {
        Ok(Artifact {
            id: r.get(0)?,
            job_id: r.get(1)?,
            kind: r.get(2)?,
            path: r.get(3)?,
            size_bytes: r.get(4)?,
            created_at: r.get(5)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ui::store::db::Db;

    #[test]
    fn lists_newest_first_with_artifacts_cascading_on_delete() {
        let db = Db::open_in_memory().unwrap();
        db.tx(|c| {
            c.execute_batch(
                "INSERT INTO jobs (id, profile_kind, status, created_at) VALUES ('a', 'client', 'succeeded', '2025-01-01T00:00:00Z');
                 INSERT INTO jobs (id, profile_kind, status, created_at) VALUES ('b', 'server', 'running', '2025-01-02T00:00:00Z');
                 INSERT INTO job_artifacts (job_id, kind, path, size_bytes, created_at) VALUES ('a', 'summary', 'x', 3, 't');",
            )?;
            let ids: Vec<String> = list(c, 10)?.into_iter().map(|j| j.id).collect();
            assert_eq!(ids, ["b", "a"]);
            assert_eq!(artifacts(c, "a")?.len(), 1);
            c.execute("DELETE FROM jobs WHERE id = 'a'", [])?;
            assert!(artifacts(c, "a")?.is_empty());
            assert!(by_id(c, "a")?.is_none());
            Ok(())
        })
        .unwrap();
    }
}
