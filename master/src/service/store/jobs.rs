//! The `jobs` and `job_artifacts` tables (gossipper-reference.md §5.3).
//!
//! Owns: every SQL statement on jobs and their artifacts: the supervisor creates rows
//! and moves them pending → running → (stopping →) succeeded / failed / stopped. A stop
//! request marks the row `stopping`; only the final write, made once the worker has
//! exited, turns it into `stopped` (whatever the exit code). The API reads them
//! (paged lists, reports, per-profile runtime). Must not: start processes or touch
//! artifact files (the supervisor does).

use rusqlite::types::{FromSql, FromSqlError, FromSqlResult, ToSql, ToSqlOutput, ValueRef};
use rusqlite::{Connection, OptionalExtension};
use serde::{Deserialize, Serialize};

use super::StoreError;

/// Text enums of the jobs table: each is its word in SQLite (where a CHECK constraint
/// holds the column to these words, migration v4) and in the API.
macro_rules! text_enum {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident = $word:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(rename_all = "lowercase")]
        pub(crate) enum $name {
            $($(#[$vdoc])* $variant),+
        }

        impl $name {
            /// Every value, in declaration order.
            pub(crate) const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The value's word.
            pub(crate) fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $word),+
                }
            }

            /// The value a word names.
            pub(crate) fn parse(word: &str) -> Option<$name> {
                $name::ALL.iter().copied().find(|v| v.as_str() == word)
            }

            /// The words, for messages (`a, b or c`).
            pub(crate) fn words() -> String {
                let words: Vec<&str> = $name::ALL.iter().map(|v| v.as_str()).collect();
                match words.split_last() {
                    Some((last, [])) => last.to_string(),
                    Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
                    None => String::new(),
                }
            }
        }

        impl ToSql for $name {
            fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
                Ok(ToSqlOutput::from(self.as_str()))
            }
        }

        impl FromSql for $name {
            fn column_result(v: ValueRef<'_>) -> FromSqlResult<Self> {
                let word = v.as_str()?;
                $name::parse(word).ok_or_else(|| {
                    FromSqlError::Other(format!("\"{word}\" is not a {}", stringify!($name)).into())
                })
            }
        }
    };
}

text_enum!(
    /// A job's state: pending → running → (stopping →) succeeded / failed / stopped.
    JobStatus {
        /// The row exists; no worker yet.
        Pending = "pending",
        /// Its worker runs.
        Running = "running",
        /// A stop was asked; the worker has not exited yet (not final).
        Stopping = "stopping",
        /// Stopped, and the worker has exited.
        Stopped = "stopped",
        /// The worker exited 0.
        Succeeded = "succeeded",
        /// The job could not run, or its worker failed.
        Failed = "failed",
    }
);

text_enum!(
    /// What a job was started from.
    ProfileKind {
        /// A server profile (a UAS).
        Server = "server",
        /// A client profile (a UAC).
        Client = "client",
        /// A tool (`report-html`, …).
        Tool = "tool",
        /// A gateway (not in this build).
        Gateway = "gateway",
    }
);

/// A job row, shaped as the §5.5 `Job`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct Job {
    pub(crate) id: String,
    pub(crate) profile_id: String,
    pub(crate) profile_kind: ProfileKind,
    pub(crate) scenario_id: String,
    pub(crate) status: JobStatus,
    pub(crate) args_json: String,
    pub(crate) artifacts_dir: String,
    pub(crate) created_at: String,
    pub(crate) started_at: Option<String>,
    pub(crate) finished_at: Option<String>,
    pub(crate) exit_code: Option<i64>,
    pub(crate) error: String,
    pub(crate) created_by: String,
    pub(crate) pid: Option<i64>,
    /// What the tester calls this run (may be empty), and notes about it; both editable.
    pub(crate) name: String,
    pub(crate) notes: String,
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
                    started_at, finished_at, exit_code, error, created_by, pid, name, notes";

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
        name: r.get(14)?,
        notes: r.get(15)?,
    })
}

/// A page of jobs, newest first (insertion order: RFC 3339 text with a trimmed fraction
/// does not sort), optionally of one status.
pub(crate) fn page(
    c: &Connection,
    limit: u32,
    offset: u32,
    status: Option<JobStatus>,
) -> Result<Vec<Job>, StoreError> {
    let mut st = c.prepare_cached(&format!(
        "SELECT {COLS} FROM jobs WHERE (?3 IS NULL OR status = ?3) ORDER BY rowid DESC LIMIT ?1 OFFSET ?2"
    ))?;
    let rows = st.query_map(rusqlite::params![limit, offset, status], row_to_job)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// How many jobs (of one status). Two statements on purpose: a `(?1 IS NULL OR …)`
/// filter makes SQLite read every row (≈ 1 ms at 10,000 jobs, on each `GET /jobs`),
/// while a bare `COUNT(*)` walks the smallest index (≈ 10 µs).
pub(crate) fn count(c: &Connection, status: Option<JobStatus>) -> Result<u64, StoreError> {
    let n: i64 = match status {
        None => c.query_row("SELECT COUNT(*) FROM jobs", [], |r| r.get(0))?,
        Some(s) => c.query_row("SELECT COUNT(*) FROM jobs WHERE status = ?1", [s], |r| {
            r.get(0)
        })?,
    };
    Ok(u64::try_from(n).unwrap_or(0))
}

/// Jobs per status.
pub(crate) fn counts(c: &Connection) -> Result<Vec<(JobStatus, u64)>, StoreError> {
    let mut st =
        c.prepare_cached("SELECT status, COUNT(*) FROM jobs GROUP BY status ORDER BY status")?;
    let rows = st.query_map([], |r| {
        Ok((
            r.get::<_, JobStatus>(0)?,
            u64::try_from(r.get::<_, i64>(1)?).unwrap_or(0),
        ))
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// A new row, `pending`.
pub(crate) struct NewJob<'a> {
    pub(crate) id: &'a str,
    pub(crate) profile_id: &'a str,
    pub(crate) profile_kind: ProfileKind,
    pub(crate) scenario_id: &'a str,
    pub(crate) args_json: &'a str,
    pub(crate) artifacts_dir: &'a str,
    pub(crate) created_at: &'a str,
    pub(crate) created_by: &'a str,
    pub(crate) name: &'a str,
    pub(crate) notes: &'a str,
}

/// Inserts a pending job; `Conflict` if the id exists.
pub(crate) fn insert(c: &Connection, j: &NewJob<'_>) -> Result<(), StoreError> {
    let r = c.execute(
        "INSERT INTO jobs (id, profile_id, profile_kind, scenario_id, status, args_json, artifacts_dir, created_at, created_by, name, notes)
         VALUES (?1, ?2, ?3, ?4, 'pending', ?5, ?6, ?7, ?8, ?9, ?10)",
        rusqlite::params![
            j.id,
            j.profile_id,
            j.profile_kind,
            j.scenario_id,
            j.args_json,
            j.artifacts_dir,
            j.created_at,
            j.created_by,
            j.name,
            j.notes
        ],
    );
    match r {
        Ok(_) => Ok(()),
        Err(rusqlite::Error::SqliteFailure(e, _))
            if e.code == rusqlite::ErrorCode::ConstraintViolation =>
        {
            Err(StoreError::Conflict(format!("job \"{}\"", j.id)))
        }
        Err(e) => Err(e.into()),
    }
}

/// Renames a job and rewrites its notes; false when it does not exist.
pub(crate) fn set_label(
    c: &Connection,
    id: &str,
    name: &str,
    notes: &str,
) -> Result<bool, StoreError> {
    Ok(c.execute(
        "UPDATE jobs SET name = ?2, notes = ?3 WHERE id = ?1",
        rusqlite::params![id, name, notes],
    )? > 0)
}

/// pending → running, with the worker's pid. `false` when the row is no longer pending
/// (a stop came while the worker was being started: it is `stopping`); `pid` and
/// `started_at` are recorded either way.
pub(crate) fn set_running(
    c: &Connection,
    id: &str,
    pid: u32,
    started_at: &str,
) -> Result<bool, StoreError> {
    let n = c.execute(
        "UPDATE jobs SET status = CASE WHEN status = 'pending' THEN 'running' ELSE status END,
                         pid = ?2, started_at = ?3
         WHERE id = ?1 AND status IN ('pending', 'stopping')",
        rusqlite::params![id, pid, started_at],
    )?;
    let now: Option<JobStatus> = c
        .query_row("SELECT status FROM jobs WHERE id = ?1", [id], |r| r.get(0))
        .optional()?;
    Ok(n > 0 && now == Some(JobStatus::Running))
}

/// Marks a stop request: pending / running → stopping (not final: the worker may still
/// be writing its artifacts).
pub(crate) fn set_stopping(c: &Connection, id: &str) -> Result<(), StoreError> {
    c.execute(
        "UPDATE jobs SET status = 'stopping' WHERE id = ?1 AND status IN ('pending', 'running')",
        [id],
    )?;
    Ok(())
}

/// The final state. A row marked `stopping` (or `stopped`, by an older binary) ends
/// `stopped`.
pub(crate) fn finish(
    c: &Connection,
    id: &str,
    status: JobStatus,
    exit_code: Option<i64>,
    error: &str,
    finished_at: &str,
) -> Result<(), StoreError> {
    c.execute(
        "UPDATE jobs SET status = CASE WHEN status IN ('stopping', 'stopped') THEN 'stopped' ELSE ?2 END,
                         exit_code = ?3, error = ?4, finished_at = ?5
         WHERE id = ?1",
        rusqlite::params![id, status, exit_code, error, finished_at],
    )?;
    Ok(())
}

/// Settles a job that has no worker (none was ever forked) as `stopped`; a row already
/// final is left alone.
pub(crate) fn stop_without_worker(
    c: &Connection,
    id: &str,
    finished_at: &str,
) -> Result<(), StoreError> {
    c.execute(
        "UPDATE jobs SET status = 'stopped', finished_at = ?2
         WHERE id = ?1 AND status IN ('pending', 'running', 'stopping')",
        [id, finished_at],
    )?;
    Ok(())
}

/// Jobs that have not finished (pending, running, stopping, or stopped without a finish
/// time, as an older binary left them).
pub(crate) fn unfinished(c: &Connection) -> Result<Vec<Job>, StoreError> {
    let mut st = c.prepare_cached(&format!(
        "SELECT {COLS} FROM jobs WHERE status IN ('pending', 'running', 'stopping') OR (status = 'stopped' AND finished_at IS NULL) ORDER BY rowid"
    ))?;
    let rows = st.query_map([], row_to_job)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// The newest job of a profile in one of `statuses`.
pub(crate) fn newest_for_profile(
    c: &Connection,
    kind: ProfileKind,
    profile_id: &str,
    statuses: &[JobStatus],
) -> Result<Option<Job>, StoreError> {
    let mut st = c.prepare_cached(&format!(
        "SELECT {COLS} FROM jobs WHERE profile_kind = ?1 AND profile_id = ?2 ORDER BY rowid DESC LIMIT 50"
    ))?;
    let rows = st.query_map(rusqlite::params![kind, profile_id], row_to_job)?;
    for row in rows {
        let job = row?;
        if statuses.is_empty() || statuses.contains(&job.status) {
            return Ok(Some(job));
        }
    }
    Ok(None)
}

pub(crate) fn delete(c: &Connection, id: &str) -> Result<bool, StoreError> {
    Ok(c.execute("DELETE FROM jobs WHERE id = ?1", [id])? > 0)
}

/// Records an artifact (replacing an earlier row of the same kind and path).
pub(crate) fn add_artifact(
    c: &Connection,
    job_id: &str,
    kind: &str,
    path: &str,
    size_bytes: u64,
    created_at: &str,
) -> Result<(), StoreError> {
    c.execute(
        "DELETE FROM job_artifacts WHERE job_id = ?1 AND kind = ?2 AND path = ?3",
        [job_id, kind, path],
    )?;
    c.execute(
        "INSERT INTO job_artifacts (job_id, kind, path, size_bytes, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
        rusqlite::params![job_id, kind, path, i64::try_from(size_bytes).unwrap_or(i64::MAX), created_at],
    )?;
    Ok(())
}

/// The newest artifact of a kind.
pub(crate) fn newest_artifact(
    c: &Connection,
    job_id: &str,
    kind: &str,
) -> Result<Option<Artifact>, StoreError> {
    Ok(c.query_row(
        "SELECT id, job_id, kind, path, size_bytes, created_at FROM job_artifacts WHERE job_id = ?1 AND kind = ?2 ORDER BY id DESC LIMIT 1",
        [job_id, kind],
        row_to_artifact,
    )
    .optional()?)
}

/// One entry of `GET /reports`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct Report {
    pub(crate) job_id: String,
    pub(crate) profile_kind: ProfileKind,
    pub(crate) profile_id: String,
    pub(crate) job_status: JobStatus,
    pub(crate) finished_at: Option<String>,
    pub(crate) artifact: Artifact,
    /// The job's name, so reports can be told apart.
    pub(crate) name: String,
}

/// Summary, report_html and report_pdf artifacts, newest first.
pub(crate) fn reports(c: &Connection, limit: u32) -> Result<Vec<Report>, StoreError> {
    let mut st = c.prepare_cached(
        "SELECT a.id, a.job_id, a.kind, a.path, a.size_bytes, a.created_at, j.profile_kind, j.profile_id, j.status, j.finished_at, j.name
         FROM job_artifacts a JOIN jobs j ON j.id = a.job_id
         WHERE a.kind IN ('summary', 'report_html', 'report_pdf')
         ORDER BY a.id DESC LIMIT ?1",
    )?;
    let rows = st.query_map([limit], |r| {
        Ok(Report {
            artifact: row_to_artifact(r)?,
            job_id: r.get(1)?,
            profile_kind: r.get(6)?,
            profile_id: r.get(7)?,
            job_status: r.get(8)?,
            finished_at: r.get(9)?,
            name: r.get(10)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

fn row_to_artifact(r: &rusqlite::Row<'_>) -> rusqlite::Result<Artifact> {
    Ok(Artifact {
        id: r.get(0)?,
        job_id: r.get(1)?,
        kind: r.get(2)?,
        path: r.get(3)?,
        size_bytes: r.get(4)?,
        created_at: r.get(5)?,
    })
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
    let rows = st.query_map([job_id], row_to_artifact)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::service::store::db::Db;

    #[test]
    fn statuses_and_kinds_are_their_words_in_sql_and_json() {
        for s in JobStatus::ALL {
            assert_eq!(JobStatus::parse(s.as_str()), Some(*s));
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
        }
        for k in ProfileKind::ALL {
            assert_eq!(ProfileKind::parse(k.as_str()), Some(*k));
            assert_eq!(serde_json::to_value(k).unwrap(), k.as_str());
        }
        assert_eq!(JobStatus::parse("done"), None);
        assert_eq!(ProfileKind::words(), "server, client, tool or gateway");
        let db = Db::open_in_memory().unwrap();
        // The schema holds both columns to these words.
        let bad = db.tx(|c| {
            c.execute_batch(
                "INSERT INTO jobs (id, profile_kind, status, created_at) VALUES ('x', 'client', 'done', 't')",
            )?;
            Ok(())
        });
        assert!(bad.is_err());
        let bad = db.tx(|c| {
            c.execute_batch(
                "INSERT INTO jobs (id, profile_kind, status, created_at) VALUES ('x', 'robot', 'pending', 't')",
            )?;
            Ok(())
        });
        assert!(bad.is_err());
    }

    #[test]
    fn lists_newest_first_with_artifacts_cascading_on_delete() {
        let db = Db::open_in_memory().unwrap();
        db.tx(|c| {
            c.execute_batch(
                "INSERT INTO jobs (id, profile_kind, status, created_at) VALUES ('a', 'client', 'succeeded', '2025-01-01T00:00:00Z');
                 INSERT INTO jobs (id, profile_kind, status, created_at) VALUES ('b', 'server', 'running', '2025-01-02T00:00:00Z');
                 INSERT INTO job_artifacts (job_id, kind, path, size_bytes, created_at) VALUES ('a', 'summary', 'x', 3, 't');",
            )?;
            let ids: Vec<String> = page(c, 10, 0, None)?.into_iter().map(|j| j.id).collect();
            assert_eq!(ids, ["b", "a"]);
            assert_eq!(artifacts(c, "a")?.len(), 1);
            assert!(delete(c, "a")?);
            assert!(artifacts(c, "a")?.is_empty());
            assert!(by_id(c, "a")?.is_none());
            Ok(())
        })
        .unwrap();
    }

    fn new_job<'a>(id: &'a str, kind: ProfileKind, profile: &'a str) -> NewJob<'a> {
        NewJob {
            id,
            profile_id: profile,
            profile_kind: kind,
            scenario_id: "",
            args_json: "{}",
            artifacts_dir: "",
            created_at: "2025-01-01T00:00:00Z",
            created_by: "admin",
            name: "",
            notes: "",
        }
    }

    #[test]
    fn a_job_keeps_its_name_and_notes_and_they_can_be_edited() {
        let db = Db::open_in_memory().unwrap();
        db.tx(|c| {
            let mut j = new_job("j1", ProfileKind::Client, "c1");
            j.name = "baseline 100 cps";
            insert(c, &j)?;
            let got = by_id(c, "j1")?.unwrap();
            assert_eq!(
                (got.name.as_str(), got.notes.as_str()),
                ("baseline 100 cps", "")
            );
            assert!(set_label(c, "j1", "baseline", "SBC 4.2, TLS off")?);
            let got = page(c, 10, 0, None)?.remove(0);
            assert_eq!(
                (got.name.as_str(), got.notes.as_str()),
                ("baseline", "SBC 4.2, TLS off")
            );
            assert!(!set_label(c, "nope", "x", "")?);
            Ok(())
        })
        .unwrap();
    }

    #[test]
    fn a_job_moves_through_its_states_and_stopped_wins_over_the_exit_code() {
        let db = Db::open_in_memory().unwrap();
        db.tx(|c| {
            insert(c, &new_job("j1", ProfileKind::Server, "s1"))?;
            assert!(matches!(
                insert(c, &new_job("j1", ProfileKind::Server, "s1")),
                Err(StoreError::Conflict(_))
            ));
            set_running(c, "j1", 42, "t1")?;
            let j = by_id(c, "j1")?.unwrap();
            assert_eq!((j.status.as_str(), j.pid), ("running", Some(42)));
            assert_eq!(unfinished(c)?.len(), 1);
            set_stopping(c, "j1")?;
            let j = by_id(c, "j1")?.unwrap();
            assert_eq!(
                j.status,
                JobStatus::Stopping,
                "not final until the worker has exited"
            );
            assert!(j.finished_at.is_none());
            assert_eq!(unfinished(c)?.len(), 1);
            finish(c, "j1", JobStatus::Failed, Some(143), "", "t2")?;
            let j = by_id(c, "j1")?.unwrap();
            assert_eq!((j.status.as_str(), j.exit_code), ("stopped", Some(143)));
            assert!(unfinished(c)?.is_empty());
            set_stopping(c, "j1")?;
            assert_eq!(
                by_id(c, "j1")?.unwrap().status,
                JobStatus::Stopped,
                "final stays final"
            );
            insert(c, &new_job("j2", ProfileKind::Client, "c1"))?;
            assert!(set_running(c, "j2", 43, "t3")?);
            finish(c, "j2", JobStatus::Succeeded, Some(0), "", "t4")?;
            assert_eq!(by_id(c, "j2")?.unwrap().status, JobStatus::Succeeded);
            // A stop that came while the worker was being forked: the row stays
            // `stopping` and the supervisor is told to stop the worker it just made.
            insert(c, &new_job("j3", ProfileKind::Client, "c1"))?;
            set_stopping(c, "j3")?;
            assert!(!set_running(c, "j3", 44, "t5")?);
            let j = by_id(c, "j3")?.unwrap();
            assert_eq!((j.status.as_str(), j.pid), ("stopping", Some(44)));
            Ok(())
        })
        .unwrap();
    }

    #[test]
    fn pages_counts_profile_lookup_artifacts_and_reports() {
        let db = Db::open_in_memory().unwrap();
        db.tx(|c| {
            for i in 0..5 {
                insert(c, &new_job(&format!("j{i}"), ProfileKind::Client, "c1"))?;
            }
            set_running(c, "j3", 1, "t")?;
            let ids: Vec<String> = page(c, 2, 1, None)?.into_iter().map(|j| j.id).collect();
            assert_eq!(ids, ["j3", "j2"]);
            assert_eq!(count(c, None)?, 5);
            assert_eq!(count(c, Some(JobStatus::Running))?, 1);
            assert_eq!(
                counts(c)?,
                [(JobStatus::Pending, 4), (JobStatus::Running, 1)]
            );
            assert_eq!(
                newest_for_profile(
                    c,
                    ProfileKind::Client,
                    "c1",
                    &[JobStatus::Running, JobStatus::Pending]
                )?
                .unwrap()
                .id,
                "j4"
            );
            assert_eq!(
                newest_for_profile(c, ProfileKind::Client, "c1", &[JobStatus::Running])?
                    .unwrap()
                    .id,
                "j3"
            );
            assert!(newest_for_profile(c, ProfileKind::Server, "c1", &[])?.is_none());
            add_artifact(c, "j3", "summary", "/a/summary.json", 10, "t")?;
            add_artifact(c, "j3", "summary", "/a/summary.json", 12, "t")?;
            add_artifact(c, "j3", "stats", "/a/stats.jsonl", 1, "t")?;
            assert_eq!(artifacts(c, "j3")?.len(), 2);
            assert_eq!(newest_artifact(c, "j3", "summary")?.unwrap().size_bytes, 12);
            let reps = reports(c, 10)?;
            assert_eq!(reps.len(), 1);
            assert_eq!(
                (reps[0].job_id.as_str(), reps[0].job_status.as_str()),
                ("j3", "running")
            );
            Ok(())
        })
        .unwrap();
    }
}
