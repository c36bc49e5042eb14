//! `settings.sqlite`: one connection (WAL, foreign keys, busy timeout) and the migrations.
//!
//! Owns: opening the database and the schema. Migrations are versioned in code with
//! `PRAGMA user_version`; each runs once, in order, inside a transaction. Requests reach
//! the database through [`Db::read`] and [`Db::tx`] (one transaction per request). Writes
//! go through the one read-write connection; reads use a few read-only connections that
//! WAL lets run beside it and each other, so a read does not queue behind another
//! request's lock (perf/api_latency.py, 16 clients: with one shared connection the
//! database-backed endpoints showed 2-3× the p99 of the others).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};

use rusqlite::{Connection, OpenFlags, OptionalExtension, Transaction};

use super::{StoreError, files};
use crate::service::paths::{Layout, Place};

/// The schema, one entry per version. Never edit a shipped entry: append a new one.
pub(crate) const MIGRATIONS: &[&str] = &[
    // v1: the tables of gossipper-reference.md §5.3.
    "CREATE TABLE users (
        id            INTEGER PRIMARY KEY AUTOINCREMENT,
        username      TEXT NOT NULL UNIQUE COLLATE NOCASE,
        password_hash TEXT NOT NULL,
        role          TEXT NOT NULL CHECK (role IN ('admin', 'operator')),
        created_at    TEXT NOT NULL,
        updated_at    TEXT NOT NULL
     );
     CREATE TABLE settings (
        key   TEXT PRIMARY KEY,
        value TEXT NOT NULL
     );
     CREATE TABLE jobs (
        id            TEXT PRIMARY KEY,
        profile_id    TEXT NOT NULL DEFAULT '',
        profile_kind  TEXT NOT NULL CHECK (profile_kind IN ('server', 'client', 'tool', 'gateway')),
        scenario_id   TEXT NOT NULL DEFAULT '',
        status        TEXT NOT NULL,
        args_json     TEXT NOT NULL DEFAULT '{}',
        artifacts_dir TEXT NOT NULL DEFAULT '',
        created_at    TEXT NOT NULL,
        started_at    TEXT,
        finished_at   TEXT,
        exit_code     INTEGER,
        error         TEXT NOT NULL DEFAULT '',
        created_by    TEXT NOT NULL DEFAULT '',
        pid           INTEGER
     );
     CREATE INDEX jobs_created_at ON jobs (created_at);
     CREATE INDEX jobs_profile ON jobs (profile_kind, profile_id);
     CREATE TABLE job_artifacts (
        id         INTEGER PRIMARY KEY AUTOINCREMENT,
        job_id     TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
        kind       TEXT NOT NULL,
        path       TEXT NOT NULL,
        size_bytes INTEGER NOT NULL DEFAULT 0,
        created_at TEXT NOT NULL
     );
     CREATE INDEX job_artifacts_job ON job_artifacts (job_id);
     CREATE TABLE audit_log (
        id           INTEGER PRIMARY KEY AUTOINCREMENT,
        ts           TEXT NOT NULL,
        user_id      INTEGER,
        username     TEXT NOT NULL DEFAULT '',
        action       TEXT NOT NULL,
        target       TEXT NOT NULL DEFAULT '',
        payload_json TEXT NOT NULL DEFAULT '{}'
     );",
    // v2: a per-user token version for revocation (issue #14). Existing users start at
    // 0; tokens of the v1 binary carry no version and are refused, so everyone signs in
    // once after the upgrade.
    "ALTER TABLE users ADD COLUMN token_version INTEGER NOT NULL DEFAULT 0;",
    // v3: a name and notes per job, so runs can be told apart (issue #17).
    "ALTER TABLE jobs ADD COLUMN name TEXT NOT NULL DEFAULT '';
     ALTER TABLE jobs ADD COLUMN notes TEXT NOT NULL DEFAULT '';",
    // v4: a job's status is one of its six words, as its profile kind already was
    // (`jobs::JobStatus`, `jobs::ProfileKind`; issue #15). SQLite cannot add a CHECK to a
    // column, so the table is rebuilt, every row kept with its rowid (the list's order)
    // and its artifacts (foreign keys are off while migrating); a status no binary wrote
    // reads as failed.
    "CREATE TABLE jobs_v4 (
        id            TEXT PRIMARY KEY,
        profile_id    TEXT NOT NULL DEFAULT '',
        profile_kind  TEXT NOT NULL CHECK (profile_kind IN ('server', 'client', 'tool', 'gateway')),
        scenario_id   TEXT NOT NULL DEFAULT '',
        status        TEXT NOT NULL
                      CHECK (status IN ('pending', 'running', 'stopping', 'stopped', 'succeeded', 'failed')),
        args_json     TEXT NOT NULL DEFAULT '{}',
        artifacts_dir TEXT NOT NULL DEFAULT '',
        created_at    TEXT NOT NULL,
        started_at    TEXT,
        finished_at   TEXT,
        exit_code     INTEGER,
        error         TEXT NOT NULL DEFAULT '',
        created_by    TEXT NOT NULL DEFAULT '',
        pid           INTEGER,
        name          TEXT NOT NULL DEFAULT '',
        notes         TEXT NOT NULL DEFAULT ''
     );
     INSERT INTO jobs_v4 (rowid, id, profile_id, profile_kind, scenario_id, status, args_json,
                          artifacts_dir, created_at, started_at, finished_at, exit_code, error,
                          created_by, pid, name, notes)
        SELECT rowid, id, profile_id, profile_kind, scenario_id,
               CASE WHEN status IN ('pending', 'running', 'stopping', 'stopped', 'succeeded', 'failed')
                    THEN status ELSE 'failed' END,
               args_json, artifacts_dir, created_at, started_at, finished_at, exit_code, error,
               created_by, pid, name, notes
        FROM jobs;
     DROP TABLE jobs;
     ALTER TABLE jobs_v4 RENAME TO jobs;
     CREATE INDEX jobs_created_at ON jobs (created_at);
     CREATE INDEX jobs_profile ON jobs (profile_kind, profile_id);",
];

/// Read-only connections opened beside the read-write one.
const READERS: usize = 4;

/// The connections, shared by the request threads.
pub(crate) struct Db {
    conn: Mutex<Connection>,
    /// Read-only connections; empty for an in-memory database (its connections would
    /// each see a database of their own), where reads use `conn`.
    readers: Vec<Mutex<Connection>>,
    next_reader: AtomicUsize,
}

impl Db {
    /// Opens `settings.sqlite` (creating it, mode 0600, before SQLite does: SQLite gives
    /// its `-wal` and `-shm` files the database's mode) and brings the schema up to date.
    pub(crate) fn open(layout: &Layout) -> Result<Db, StoreError> {
        let path = layout.path(Place::SettingsDb)?;
        {
            use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
            let f = std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(false)
                .mode(files::FILE_MODE)
                .open(&path)
                .map_err(|e| StoreError::io(&path, e))?;
            // An existing file keeps its mode on open: narrow it (it holds the secrets).
            let loose = f
                .metadata()
                .map_err(|e| StoreError::io(&path, e))?
                .permissions()
                .mode()
                & 0o077
                != 0;
            if loose {
                f.set_permissions(std::fs::Permissions::from_mode(files::FILE_MODE))
                    .map_err(|e| StoreError::io(&path, e))?;
            }
        }
        let conn = Connection::open(&path)?;
        let mut db = Self::configure(conn)?;
        // Opened after the migrations, so they see the current schema.
        for _ in 0..READERS {
            let r = Connection::open_with_flags(
                &path,
                OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
            )?;
            r.busy_timeout(std::time::Duration::from_secs(5))?;
            db.readers.push(Mutex::new(r));
        }
        Ok(db)
    }

    /// An in-memory database with the full schema (tests).
    #[cfg(test)]
    pub(crate) fn open_in_memory() -> Result<Db, StoreError> {
        Self::configure(Connection::open_in_memory()?)
    }

    fn configure(mut conn: Connection) -> Result<Db, StoreError> {
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        // WAL on a file database; an in-memory one answers "memory", which is fine too.
        let _mode: String = conn.query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))?;
        conn.execute_batch("PRAGMA foreign_keys=ON; PRAGMA synchronous=NORMAL;")?;
        migrate(&mut conn)?;
        Ok(Db {
            conn: Mutex::new(conn),
            readers: Vec::new(),
            next_reader: AtomicUsize::new(0),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock leaves the connection usable (SQLite rolls back
        // the open transaction when it is dropped), so a poisoned lock is safe to reuse.
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs read-only queries (on a read-only connection: a write fails), seeing every
    /// transaction committed before the call.
    pub(crate) fn read<T>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        if self.readers.is_empty() {
            return f(&self.lock());
        }
        // A free reader if there is one (round robin start), else wait for the next one.
        let start = self.next_reader.fetch_add(1, Ordering::Relaxed);
        let n = self.readers.len();
        let free = (0..n).find_map(|i| self.readers[(start + i) % n].try_lock().ok());
        // Poisoned: a panic mid-read leaves nothing half-done on a read-only connection.
        let conn = match free {
            Some(c) => c,
            None => self.readers[start % n]
                .lock()
                .unwrap_or_else(|p| p.into_inner()),
        };
        f(&conn)
    }

    /// Runs `f` in one transaction: committed when `f` returns `Ok`, rolled back otherwise.
    pub(crate) fn tx<T>(
        &self,
        f: impl FnOnce(&Transaction<'_>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut conn = self.lock();
        let tx = conn.transaction()?;
        let out = f(&tx)?;
        tx.commit()?;
        Ok(out)
    }
}

/// The schema version this binary writes.
pub(crate) fn schema_version() -> i64 {
    i64::try_from(MIGRATIONS.len()).unwrap_or(i64::MAX)
}

fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    let found: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    let known = schema_version();
    if found > known {
        return Err(StoreError::SchemaTooNew { found, known });
    }
    if found == known {
        return Ok(());
    }
    // A migration that rebuilds a table must not cascade its drop into the rows that
    // refer to it; the pragma is a no-op inside a transaction, so it is set around them,
    // and each migration checks the references before it commits.
    let fk: bool = conn.query_row("PRAGMA foreign_keys", [], |r| r.get(0))?;
    conn.execute_batch("PRAGMA foreign_keys=OFF")?;
    let result = (|| {
        for (i, sql) in MIGRATIONS
            .iter()
            .enumerate()
            .skip(usize::try_from(found).unwrap_or(0))
        {
            let tx = conn.transaction()?;
            tx.execute_batch(sql)?;
            let broken: Option<String> = tx
                .query_row("PRAGMA foreign_key_check", [], |r| r.get(0))
                .optional()?;
            if let Some(table) = broken {
                return Err(StoreError::Sqlite(rusqlite::Error::SqliteFailure(
                    rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_CONSTRAINT_FOREIGNKEY),
                    Some(format!(
                        "migration v{}: a row of {table} lost its reference",
                        i + 1
                    )),
                )));
            }
            tx.pragma_update(
                None,
                "user_version",
                i64::try_from(i + 1).unwrap_or(i64::MAX),
            )?;
            tx.commit()?;
        }
        Ok(())
    })();
    if fk {
        conn.execute_batch("PRAGMA foreign_keys=ON")?;
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tables(conn: &Connection) -> Vec<String> {
        let mut st = conn
            .prepare("SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%' ORDER BY name")
            .unwrap();
        st.query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    }

    #[test]
    fn fresh_database_gets_every_table_and_the_latest_version() {
        let db = Db::open_in_memory().unwrap();
        db.read(|c| {
            assert_eq!(
                tables(c),
                ["audit_log", "job_artifacts", "jobs", "settings", "users"]
            );
            let v: i64 = c
                .query_row("PRAGMA user_version", [], |r| r.get(0))
                .unwrap();
            assert_eq!(v, schema_version());
            Ok(())
        })
        .unwrap();
    }

    #[test]
    fn a_v1_database_keeps_its_users_and_gets_token_versions() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(MIGRATIONS[0]).unwrap();
        conn.pragma_update(None, "user_version", 1).unwrap();
        conn.execute(
            "INSERT INTO users (username, password_hash, role, created_at, updated_at) VALUES ('admin', 'h', 'admin', 't', 't')",
            [],
        )
        .unwrap();
        migrate(&mut conn).unwrap();
        let (name, hash, version): (String, String, i64) = conn
            .query_row(
                "SELECT username, password_hash, token_version FROM users",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .unwrap();
        assert_eq!((name.as_str(), hash.as_str(), version), ("admin", "h", 0));
    }

    #[test]
    fn a_v3_database_keeps_its_jobs_in_order_with_their_artifacts_and_gets_status_checks() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.execute_batch("PRAGMA foreign_keys=ON").unwrap();
        for sql in &MIGRATIONS[..3] {
            conn.execute_batch(sql).unwrap();
        }
        conn.pragma_update(None, "user_version", 3).unwrap();
        conn.execute_batch(
            "INSERT INTO jobs (id, profile_kind, status, created_at, name) VALUES ('z', 'client', 'succeeded', 't1', 'first');
             INSERT INTO jobs (id, profile_kind, status, created_at, pid) VALUES ('a', 'server', 'running', 't2', 42);
             INSERT INTO jobs (id, profile_kind, status, created_at) VALUES ('m', 'tool', 'exploded', 't3');
             INSERT INTO job_artifacts (job_id, kind, path, created_at) VALUES ('z', 'summary', '/s', 't');",
        )
        .unwrap();
        migrate(&mut conn).unwrap();
        let rows: Vec<(String, String, Option<i64>, String)> = conn
            .prepare("SELECT id, status, pid, name FROM jobs ORDER BY rowid")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        let ids: Vec<&str> = rows.iter().map(|r| r.0.as_str()).collect();
        assert_eq!(ids, ["z", "a", "m"], "insertion order kept");
        assert_eq!(rows[0].3, "first");
        assert_eq!((rows[1].1.as_str(), rows[1].2), ("running", Some(42)));
        assert_eq!(rows[2].1, "failed", "an unknown status reads as failed");
        let artifacts: i64 = conn
            .query_row("SELECT COUNT(*) FROM job_artifacts", [], |r| r.get(0))
            .unwrap();
        assert_eq!(artifacts, 1, "the rebuild did not cascade");
        let fk: bool = conn
            .query_row("PRAGMA foreign_keys", [], |r| r.get(0))
            .unwrap();
        assert!(fk, "foreign keys are on again");
        // The constraint holds, and the artifacts still follow their job.
        assert!(
            conn.execute(
                "INSERT INTO jobs (id, profile_kind, status, created_at) VALUES ('x', 'client', 'done', 't')",
                [],
            )
            .is_err()
        );
        conn.execute("DELETE FROM jobs WHERE id = 'z'", []).unwrap();
        let artifacts: i64 = conn
            .query_row("SELECT COUNT(*) FROM job_artifacts", [], |r| r.get(0))
            .unwrap();
        assert_eq!(artifacts, 0);
    }

    #[test]
    fn migrating_twice_changes_nothing() {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate(&mut conn).unwrap();
        conn.execute("INSERT INTO settings (key, value) VALUES ('k', 'v')", [])
            .unwrap();
        migrate(&mut conn).unwrap();
        let v: String = conn
            .query_row("SELECT value FROM settings WHERE key='k'", [], |r| r.get(0))
            .unwrap();
        assert_eq!(v, "v");
    }

    #[test]
    fn refuses_a_database_from_a_newer_binary() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.pragma_update(None, "user_version", schema_version() + 1)
            .unwrap();
        assert!(matches!(
            migrate(&mut conn),
            Err(StoreError::SchemaTooNew { .. })
        ));
    }

    #[test]
    fn reads_on_a_file_database_see_every_commit_and_cannot_write() {
        let dir = std::env::temp_dir().join(format!("gossipper-db-readers-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let db = Db::open(&Layout::new(&dir)).unwrap();
        assert_eq!(db.readers.len(), READERS);
        for i in 0..(2 * READERS) {
            db.tx(|t| {
                t.execute(
                    "INSERT INTO settings (key, value) VALUES (?1, 'v')",
                    [format!("k{i}")],
                )?;
                Ok(())
            })
            .unwrap();
            // Each read may land on another reader: all of them see the row just committed.
            let n: i64 = db
                .read(|c| Ok(c.query_row("SELECT COUNT(*) FROM settings", [], |r| r.get(0))?))
                .unwrap();
            assert_eq!(n, i64::try_from(i + 1).unwrap());
        }
        let write = db.read(|c| {
            c.execute("DELETE FROM settings", [])?;
            Ok(())
        });
        assert!(write.is_err(), "a read connection accepted a write");
        drop(db);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn file_database_uses_wal_and_survives_reopen() {
        let dir = std::env::temp_dir().join(format!("gossipper-db-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let layout = Layout::new(&dir);
        {
            let db = Db::open(&layout).unwrap();
            db.tx(|t| {
                t.execute("INSERT INTO settings (key, value) VALUES ('a', 'b')", [])?;
                Ok(())
            })
            .unwrap();
            let mode: String = db
                .read(|c| Ok(c.query_row("PRAGMA journal_mode", [], |r| r.get(0))?))
                .unwrap();
            assert_eq!(mode, "wal");
            // The database and the files SQLite made beside it are the owner's alone.
            use std::os::unix::fs::PermissionsExt;
            for name in [
                "settings.sqlite",
                "settings.sqlite-wal",
                "settings.sqlite-shm",
            ] {
                let m = std::fs::metadata(dir.join(name))
                    .unwrap()
                    .permissions()
                    .mode();
                assert_eq!(m & 0o777, 0o600, "{name}");
            }
        }
        let db = Db::open(&layout).unwrap();
        let v: String = db
            .read(
                |c| Ok(c.query_row("SELECT value FROM settings WHERE key='a'", [], |r| r.get(0))?),
            )
            .unwrap();
        assert_eq!(v, "b");
        drop(db);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
